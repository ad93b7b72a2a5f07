//! Inside a real LLM (issue 23): the sentiment direction of SmolLM2-135M-Instruct's
//! residual stream per layer, and the logit lens on a factual prompt.
//!
//! ```text
//! scripts/fetch-smollm2.sh   # once
//! cargo run --release --example inside_llm -- [--model FILE.gguf] [--data DIR] [--minilm DIR]
//! cargo run --release --features plots --example inside_llm -- --plots docs
//! ```
//!
//! **The sentiment direction.** Each sentence of `data/sentiment/` runs through the model
//! once; the residual stream leaving every layer is pooled two ways, both printed: the mean
//! over the sentence's tokens (sees the sentiment word wherever the frame puts it) and the
//! last token (a full stop, which in a causal model has read the whole sentence). In our
//! run the mean is swamped in layers 11–27 (PC1 holds 99.9% of the variance and the
//! held-out accuracy is 50%), the last token is not (up to 100%): use the last token. Odd lines fit, even lines are held out
//! (`data/sentiment/README.md`). Per layer: the explained variance of PC1 of the fitted
//! sentences pooled, `|cos|` between PC1 and the mean difference, and the held-out accuracy
//! of the nearest-centroid classifier along the mean difference.
//!
//! **The logit lens.** Every layer's residual stream at the last position of "The capital
//! of France is" through the final norm and the (tied) unembedding: the top tokens per layer.
//!
//! **Activation patching.** "The capital of France is" (clean) against "The capital of
//! Italy is" (corrupted), the logit difference " Paris" − " Rome" at the last position:
//! the clean residual stream entering each layer at each position, patched into the
//! corrupted run; the fraction of the clean − corrupted difference it restores. Then each
//! head's output (`hook_z`, before the output projection) of each layer patched alone: the
//! heads that restore the most.
//!
//! **Steering (ActAdd).** `c ·` the sentiment direction (the unnormalised mean difference,
//! positive − negative, of the last token's stream leaving layer `L − 1`, fitted on the odd
//! lines) added to the stream entering layer `L` from the prompt's second token on, while
//! generating greedily from three neutral prompts (`Steered`, a `CausalLm`). Two judges,
//! neither by hand: (a) the model's own log-probability of a fixed list of positive words
//! minus that of negative words, averaged over the generated positions; (b) the sentiment
//! of the generated text by all-MiniLM-L6-v2 (`--minilm DIR`): its cosine to the centroid of
//! the held-out (even-line) positive sentences minus that to the negative ones. With
//! `--features plots` and `--plots DIR` the table is drawn as `DIR/inside-llm-steering.png`.

#[path = "common/llm.rs"]
mod llm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use shapecheck::inspect::{restored, Contrast, HeadSite, Intervention, ResidSite, Selection, Site};
use shapecheck::models::decoder::presets::SmolLm2_135m;
use shapecheck::models::decoder::{Decoder, Steered};
use shapecheck::models::generate::CausalLm;
use shapecheck::models::minilm::MiniLm;
use shapecheck::prelude::*;
use shapecheck::text::Tokenizer;

dim!(
    /// Sentences of one set (runtime).
    pub Sentences;
    /// One sequence (batch of one).
    pub Batch;
    /// Its tokens.
    pub Len
);

type Model = Decoder<SmolLm2_135m>;
type Width = <SmolLm2_135m as shapecheck::models::decoder::DecoderDims>::Model;
type Heads = <SmolLm2_135m as shapecheck::models::decoder::DecoderDims>::Heads;

struct Args {
    model: PathBuf,
    data: PathBuf,
    minilm: PathBuf,
    plots: Option<PathBuf>,
}

const HELP: &str = "inside_llm: the sentiment direction and the logit lens of SmolLM2-135M-Instruct

usage: inside_llm [--model FILE.gguf] [--data DIR] [--minilm DIR] [--plots DIR]

  --model FILE   the GGUF (models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf)
  --data DIR     positive.txt and negative.txt (data/sentiment)
  --minilm DIR   the steering judge, all-MiniLM-L6-v2 (models/all-MiniLM-L6-v2)
  --plots DIR    draw the steering table there (built with --features plots)
  -h, --help     this text";

fn parse() -> Result<Option<Args>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        model: PathBuf::from(llm::DEFAULT_GGUF),
        data: PathBuf::from("data/sentiment"),
        minilm: PathBuf::from("models/all-MiniLM-L6-v2"),
        plots: None,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("model") => args.model = p.value()?.into(),
            Long("data") => args.data = p.value()?.into(),
            Long("minilm") => args.minilm = p.value()?.into(),
            Long("plots") if cfg!(feature = "plots") => args.plots = Some(p.value()?.into()),
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(args))
}

/// Per layer, the residual stream leaving it pooled two ways: (mean over tokens, last token).
type Pooled = Vec<(Vec<f32>, Vec<f32>)>;

/// Sentences run through the model together: a batch of prompts of different lengths.
const BATCH: usize = 32;

/// The pooled streams of each of `texts`, run [`BATCH`] at a time
/// ([`Decoder::run_ragged`]: each sentence's rows of the cache are its own positions).
fn pooled_streams(
    model: &Model,
    tok: &Tokenizer,
    texts: &[String],
) -> Result<Vec<Pooled>, Box<dyn std::error::Error>> {
    let layers = model.blocks.len();
    let sel = Selection::new().with(Site::ResidPost, 0..layers);
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(BATCH) {
        let ids = batch
            .iter()
            .map(|t| tok.encode(t, false))
            .collect::<Result<Vec<_>, _>>()?;
        let prompts: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let (_, cache) = model.run_ragged(&prompts, &sel, &[], &[], &[])?;
        for i in 0..batch.len() {
            let rows = cache.rows(i).ok_or("a sentence missing from the cache")?;
            let mut pooled = Vec::with_capacity(layers);
            for l in 0..layers {
                let r = cache.resid_post(l).ok_or("resid_post not cached")?;
                let w = r.dims()[1];
                let own = &r.as_slice()[rows.start * w..rows.end * w];
                let mut mean = vec![0.0f32; w];
                for row in own.chunks_exact(w) {
                    mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v);
                }
                let n = rows.len() as f32;
                mean.iter_mut().for_each(|m| *m /= n);
                pooled.push((mean, own[own.len() - w..].to_vec()));
            }
            out.push(pooled);
        }
    }
    Ok(out)
}

fn rows(v: &[Vec<f32>]) -> Result<Tensor<(Sentences, Width)>, shapecheck::Error> {
    Ok(Tensor::from_vec_with(
        (Sentences::new(v.len()), Width::default()),
        v.concat(),
    )?)
}

/// The held-out sentences of each set (even lines) and, per layer, the mean difference
/// (positive − negative) of the fitted sentences' last-token streams leaving it.
struct Sentiment {
    held_out: [Vec<String>; 2],
    directions: Vec<Vec<f32>>,
}

fn sentiment(
    model: &Model,
    tok: &Tokenizer,
    data: &std::path::Path,
) -> Result<Sentiment, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let read = |name: &str| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let text = std::fs::read_to_string(data.join(name))?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect())
    };
    let (pos, neg) = (read("positive.txt")?, read("negative.txt")?);
    let layers = model.blocks.len();
    // [set][split] -> per layer, per sentence: (mean, last)
    let mut acts: Vec<Vec<Vec<Pooled>>> = vec![vec![Vec::new(), Vec::new()]; 2];
    for (s, set) in [&pos, &neg].into_iter().enumerate() {
        for (i, pooled) in pooled_streams(model, tok, set)?.into_iter().enumerate() {
            // Line i + 1 counting from 1: odd lines fit (split 0), even lines are held out.
            acts[s][i % 2].push(pooled);
        }
    }
    println!(
        "\n## The sentiment direction ({} + {} sentences, {} fit / {} held out per set; {:.1} s)\n",
        pos.len(),
        neg.len(),
        acts[0][0].len(),
        acts[0][1].len(),
        t.elapsed().as_secs_f64()
    );
    println!("| layer | PC1 var (mean) | cos(PC1, Δμ) (mean) | held-out acc (mean) | PC1 var (last) | cos(PC1, Δμ) (last) | held-out acc (last) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut directions = Vec::with_capacity(layers);
    for l in 0..layers {
        let mut cells = Vec::new();
        for pick in 0..2 {
            let get = |s: usize, split: usize| -> Vec<Vec<f32>> {
                acts[s][split]
                    .iter()
                    .map(|p| {
                        if pick == 0 {
                            p[l].0.clone()
                        } else {
                            p[l].1.clone()
                        }
                    })
                    .collect()
            };
            let c = Contrast::fit(&rows(&get(0, 0))?, &rows(&get(1, 0))?)?;
            let acc = c
                .direction
                .accuracy(&rows(&get(0, 1))?, &rows(&get(1, 1))?)?;
            cells.push(format!(
                "{:.3} | {:.3} | {:.1}%",
                c.pc1_ratio,
                c.cosine,
                100.0 * acc
            ));
        }
        println!("| {l} | {} | {} |", cells[0], cells[1]);
        let mean = |s: usize| -> Vec<f32> {
            let set = &acts[s][0];
            let mut m = vec![0.0f32; set[0][l].1.len()];
            for p in set {
                m.iter_mut().zip(&p[l].1).for_each(|(m, &v)| *m += v);
            }
            m.iter().map(|v| v / set.len() as f32).collect()
        };
        let (p, n) = (mean(0), mean(1));
        directions.push(p.iter().zip(&n).map(|(a, b)| a - b).collect());
    }
    let held = |set: &[String]| set.iter().skip(1).step_by(2).cloned().collect();
    Ok(Sentiment {
        held_out: [held(&pos), held(&neg)],
        directions,
    })
}

fn logit_lens(model: &Model, tok: &Tokenizer) -> Result<(), Box<dyn std::error::Error>> {
    let prompt = "The capital of France is";
    let ids = tok.encode(prompt, false)?;
    let layers = model.blocks.len();
    let sel = Selection::new().with(Site::ResidPost, 0..layers);
    let shape = (Batch::new(1), Len::new(ids.len()));
    let (logits, cache) = model.run_with_cache(shape, &ids, &sel, &[])?;
    println!(
        "\n## The logit lens: \"{prompt}\" ({} tokens), the last position's top 5 per layer\n",
        ids.len()
    );
    println!("| layer | top tokens (logit) |");
    println!("|---:|---|");
    let top = |row: &[f32]| -> Result<String, Box<dyn std::error::Error>> {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let cells: Result<Vec<String>, Box<dyn std::error::Error>> = order[..5]
            .iter()
            .map(|&i| Ok(format!("{:?} ({:.1})", tok.decode(&[i as u32])?, row[i])))
            .collect();
        Ok(cells?.join(", "))
    };
    for l in 0..layers {
        let lens = model.logit_lens(cache.resid_post(l).ok_or("resid_post not cached")?)?;
        let v = lens.dims()[1];
        println!(
            "| {l} | {} |",
            top(&lens.as_slice()[lens.as_slice().len() - v..])?
        );
    }
    let v = logits.dims()[2];
    println!(
        "| model | {} |",
        top(&logits.as_slice()[logits.as_slice().len() - v..])?
    );
    Ok(())
}

fn patching(model: &Model, tok: &Tokenizer) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let (clean, corrupt) = (
        tok.encode("The capital of France is", false)?,
        tok.encode("The capital of Italy is", false)?,
    );
    let (paris, rome) = (tok.encode(" Paris", false)?, tok.encode(" Rome", false)?);
    if clean.len() != corrupt.len() || paris.len() != 1 || rome.len() != 1 {
        return Err("the prompts must have as many tokens, the answers one each".into());
    }
    let (n, layers) = (clean.len(), model.blocks.len());
    let shape = (Batch::new(1), Len::new(n));
    let sel = Selection::new().with(Site::ResidPre, 0..layers);
    let (clean_logits, cache) = model.run_with_cache(shape, &clean, &sel, &[])?;
    let (corrupt_logits, _) = model.run_with_cache(shape, &corrupt, &Selection::new(), &[])?;
    let v = clean_logits.dims()[2];
    let diff = |l: &[f32]| l[(n - 1) * v + paris[0] as usize] - l[(n - 1) * v + rome[0] as usize];
    let (c, k) = (
        diff(clean_logits.as_slice()),
        diff(corrupt_logits.as_slice()),
    );
    let mut table = Vec::new();
    for layer in 0..layers {
        let mut row = Vec::new();
        for position in 0..n {
            let patch = ResidSite { layer, position }.patch(&cache, 0)?;
            let (l, _) = model.run_with_cache(shape, &corrupt, &Selection::new(), &[patch])?;
            row.push(restored(c, k, diff(l.as_slice())));
        }
        table.push(row);
    }
    println!(
        "\n## Activation patching: resid_pre, clean \"France\" into corrupted \"Italy\" ({:.1} s)\n",
        t.elapsed().as_secs_f64()
    );
    println!("logit(\" Paris\") − logit(\" Rome\") at the last position: clean {c:.3}, corrupted {k:.3}\n");
    let heads: Vec<String> = clean
        .iter()
        .map(|&id| tok.decode(&[id]).map(|s| format!("{s:?}")))
        .collect::<Result<_, _>>()?;
    println!("| layer | {} |", heads.join(" | "));
    println!("|---:|{}", "---:|".repeat(n));
    for (layer, row) in table.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|r| format!("{:.2}", r)).collect();
        println!("| {layer} | {} |", cells.join(" | "));
    }
    // Each head of each layer, patched alone at every position.
    let t = Instant::now();
    let sel = Selection::new().with(Site::Z, 0..layers);
    let (_, cache) = model.run_with_cache(shape, &clean, &sel, &[])?;
    let heads = cache.heads();
    let mut scores = Vec::new();
    for layer in 0..layers {
        for head in 0..heads {
            let patch = HeadSite::<Heads>::new(layer, head).patch(&cache, 0)?;
            let (l, _) =
                model.run_with_patches(shape, &corrupt, &Selection::new(), &[], &[patch])?;
            scores.push((restored(c, k, diff(l.as_slice())), layer, head));
        }
    }
    scores.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "\n## Head patching: each head's output (hook_z) alone, clean into corrupted ({} heads, {:.1} s)\n",
        scores.len(),
        t.elapsed().as_secs_f64()
    );
    println!("| layer.head | restored |");
    println!("|---|---:|");
    for (r, layer, head) in scores.iter().take(8) {
        println!("| {layer}.{head} | {r:.3} |");
    }
    if let Some((r, layer, head)) = scores.last() {
        println!("| … lowest {layer}.{head} | {r:.3} |");
    }
    Ok(())
}

/// The first token of each word, as the model would continue with it after a space.
fn first_tokens(tok: &Tokenizer, words: &[&str]) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    words
        .iter()
        .map(|w| Ok(tok.encode(&format!(" {w}"), false)?[0]))
        .collect()
}

/// `log Σ exp(logits[ids]) − log Σ exp(logits)`: the log-probability of any of `ids`.
fn log_prob(logits: &[f32], ids: &[u32]) -> f64 {
    let lse = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let all = lse(&mut logits.iter().map(|&x| f64::from(x)));
    lse(&mut ids.iter().map(|&i| f64::from(logits[i as usize]))) - all
}

/// Greedy generation of `n` tokens with the steered model; the text and the mean over the
/// generated positions of log P(positive words) − log P(negative words).
fn steered_generation(
    model: &Steered<'_, SmolLm2_135m>,
    tok: &Tokenizer,
    prompt: &[u32],
    n: usize,
    words: &[Vec<u32>; 2],
) -> Result<(String, f64), Box<dyn std::error::Error>> {
    let mut cache = model.new_cache();
    let (mut fed, mut out, mut lp) = (prompt.to_vec(), Vec::new(), 0.0);
    for _ in 0..n {
        let logits = model.step(&mut cache, &fed)?;
        lp += log_prob(&logits, &words[0]) - log_prob(&logits, &words[1]);
        let next = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .ok_or("no logits")? as u32;
        out.push(next);
        fed = vec![next];
    }
    Ok((tok.decode(&out)?, lp / n as f64))
}

/// Rows of a steering table: per layer, per coefficient, (log-prob difference, MiniLM
/// score), each the mean over the prompts.
type SteeringTable = Vec<(usize, Vec<(f32, f64, f64)>)>;

fn steering(
    model: &Model,
    tok: &Tokenizer,
    s: &Sentiment,
    args: &Args,
) -> Result<SteeringTable, Box<dyn std::error::Error>> {
    let t = Instant::now();
    let judge = MiniLm::load(&args.minilm)?;
    let centroid = |set: &[String]| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let e = judge.embed(set)?.into_tensor();
        let w = e.dims()[1];
        let mut c = vec![0.0f32; w];
        for row in e.as_slice().chunks_exact(w) {
            c.iter_mut().zip(row).for_each(|(c, &v)| *c += v);
        }
        let norm = c.iter().map(|v| v * v).sum::<f32>().sqrt();
        Ok(c.iter().map(|v| v / norm).collect())
    };
    let centroids = [centroid(&s.held_out[0])?, centroid(&s.held_out[1])?];
    let judge_text = |text: &str| -> Result<f64, Box<dyn std::error::Error>> {
        let e = judge.embed(&[text])?.into_tensor();
        let cos = |c: &[f32]| {
            e.as_slice()
                .iter()
                .zip(c)
                .map(|(a, b)| f64::from(a * b))
                .sum::<f64>()
        };
        Ok(cos(&centroids[0]) - cos(&centroids[1]))
    };
    let words = [
        first_tokens(
            tok,
            &[
                "good",
                "great",
                "happy",
                "wonderful",
                "love",
                "best",
                "beautiful",
                "excellent",
            ],
        )?,
        first_tokens(
            tok,
            &[
                "bad", "terrible", "sad", "awful", "hate", "worst", "ugly", "horrible",
            ],
        )?,
    ];
    let prompts = [
        "I think that the weather",
        "Yesterday I went to the",
        "The new restaurant on the corner",
    ];
    let prompts: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| tok.encode(p, false))
        .collect::<Result<_, _>>()?;
    let (coefficients, layers, n) = (
        [-8.0f32, -4.0, -2.0, 0.0, 2.0, 4.0, 8.0],
        [6usize, 12, 18],
        12,
    );
    let mut table = Vec::new();
    let mut samples = Vec::new();
    for &layer in &layers {
        let v = Tensor::<(Width,)>::from_vec_with(
            (Width::default(),),
            s.directions[layer - 1].clone(),
        )?;
        let mut row = Vec::new();
        for &c in &coefficients {
            let steered = Steered::new(
                model,
                vec![Intervention::add(layer, v.clone(), c).from_position(1)],
            );
            let (mut lp, mut mini) = (0.0, 0.0);
            for (i, p) in prompts.iter().enumerate() {
                let (text, l) = steered_generation(&steered, tok, p, n, &words)?;
                lp += l;
                mini += judge_text(&text)?;
                if layer == layers[1] && i == 0 && [-8.0, 0.0, 8.0].contains(&c) {
                    samples.push((c, text));
                }
            }
            row.push((c, lp / prompts.len() as f64, mini / prompts.len() as f64));
        }
        table.push((layer, row));
    }
    println!(
        "\n## Steering: c · (positive − negative mean difference) entering layer L, {} neutral prompts × {n} greedy tokens ({:.1} s)\n",
        prompts.len(),
        t.elapsed().as_secs_f64()
    );
    println!("Each cell: log P(positive words) − log P(negative words) at the generated positions / MiniLM cos(positive) − cos(negative) of the generated text; means over the prompts.\n");
    let head: Vec<String> = coefficients.iter().map(|c| format!("c = {c}")).collect();
    println!("| layer | {} |", head.join(" | "));
    println!("|---:|{}", "---:|".repeat(coefficients.len()));
    for (layer, row) in &table {
        let cells: Vec<String> = row
            .iter()
            .map(|(_, a, b)| format!("{a:+.2} / {b:+.3}"))
            .collect();
        println!("| {layer} | {} |", cells.join(" | "));
    }
    println!(
        "\nLayer {}, \"{}\" + 12 tokens:\n",
        layers[1],
        tok.decode(&prompts[0])?
    );
    println!("| c | generated |");
    println!("|---:|---|");
    for (c, text) in &samples {
        println!("| {c} | {:?} |", text);
    }
    Ok(table)
}

#[cfg(feature = "plots")]
fn plot_steering(
    dir: &std::path::Path,
    table: &SteeringTable,
) -> Result<(), Box<dyn std::error::Error>> {
    use shapecheck::plot::{Curves, Picture, Row};
    let curves = |title: &str, y: &str, pick: fn(&(f32, f64, f64)) -> f64| {
        table
            .iter()
            .fold(Curves::new(title, "coefficient c", y), |c, (layer, row)| {
                c.series(
                    format!("layer {layer}"),
                    row.iter().map(|p| (f64::from(p.0), pick(p))).collect(),
                )
            })
    };
    let row = Row::new(vec![
        curves("the model's own words", "log P(pos) − log P(neg)", |p| {
            p.1
        }),
        curves("MiniLM judge", "cos(pos) − cos(neg)", |p| p.2),
    ]);
    std::fs::create_dir_all(dir)?;
    let path = dir.join("inside-llm-steering.png");
    row.save_png(&path, 1100, 420)?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let (model, tok) = llm::load_gguf::<SmolLm2_135m>(&args.model, true)?;
    let tok = tok.ok_or("the GGUF carries no tokenizer")?;
    let s = sentiment(&model, &tok, &args.data)?;
    logit_lens(&model, &tok)?;
    patching(&model, &tok)?;
    let table = steering(&model, &tok, &s, args)?;
    #[cfg(feature = "plots")]
    if let Some(dir) = &args.plots {
        plot_steering(dir, &table)?;
    }
    #[cfg(not(feature = "plots"))]
    let _ = (table, &args.plots);
    println!("\ntotal {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("inside_llm: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inside_llm: {e}");
            ExitCode::FAILURE
        }
    }
}
