//! Inside the model: concentration of measure, PCA of MiniLM's residual stream layer by
//! layer, steering vectors, and which heads of the trained decoder reverse the digits —
//! with pictures when built with `--features plots`.
//!
//! ```text
//! scripts/fetch-minilm.sh                                   # once: the model
//! cargo run --release --example train_decoder               # once: the decoder (section 5)
//! cargo run --release --example inside
//! cargo run --release --features plots --example inside -- --plots docs/inside
//! cargo run --release --features plots --example inside -- --plots out --losses target/lr-sweep/losses.csv
//! cargo run --release --example inside -- --decoder-only    # section 5 alone
//! ```
//!
//! Prints (1) the max/min pairwise-distance ratio and the cosine statistics of random
//! Gaussian points for d = 2 … 4096 beside MiniLM's embeddings of 36 sentences in three
//! topics (tests/fixtures/inside/topics.tsv); (2) the seed's warning: a 2-D PCA of points
//! with no cluster structure (and of the same points rotated) against their real distance
//! statistics; (3) per layer, the explained-variance ratios of the top components of the
//! sentences' mean residual states and how well the topics separate along the top two;
//! (4) steering: held-out football sentences moved toward the space topic by adding the
//! difference of the topics' mean states at layer 3, coefficient by coefficient; (5) if
//! `train_decoder` has saved its model (`--decoder PATH`, by default in the temp dir), the
//! held-out exact match and answer loss with each head ablated in turn, and the attention
//! pattern of the head the reversal needs most. With `--plots DIR` it writes PNGs there (PCA
//! scatters, attention heatmaps, the concentration curves, explained variance per layer,
//! and the losses of `--losses CSV` on a log scale if given).

use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;

use shapecheck::inspect::{
    cosine_stats, distance_stats, mean_difference, pca_summary, predicted_ratio, separation,
    top_difference_component, Intervention, PcaSummary, Selection, Site,
};
use shapecheck::models::minilm::{Batch, Hidden, MiniLm, Tokens};
use shapecheck::prelude::*;
use shapecheck::Error;

mod common;

dim!(pub Points; pub Width);

const TOPICS: &str = include_str!("../tests/fixtures/inside/topics.tsv");
const STEER_LAYER: usize = 3;

/// A curve's `(x, y)` points.
type Curve<'a> = &'a [(f64, f64)];

/// Where `--plots` writes its pictures: a directory with the `plots` feature; without it
/// a type with no value, since the command line refuses `--plots` then, so that the
/// drawing functions' stand-ins need no body.
#[cfg(feature = "plots")]
type PlotDir = PathBuf;
/// See the `plots` build's `PlotDir`.
#[cfg(not(feature = "plots"))]
enum PlotDir {}

struct Args {
    model: PathBuf,
    decoder: PathBuf,
    decoder_only: bool,
    plots: Option<PlotDir>,
    losses: Option<PathBuf>,
}

const USAGE: &str =
    "usage: inside [--model DIR] [--decoder PATH] [--decoder-only] [--plots DIR [--losses CSV]]";

const HELP: &str = "\
inside: looking inside MiniLM and the trained reversal decoder

usage: inside [--model DIR] [--decoder PATH] [--decoder-only] [--plots DIR [--losses CSV]]

Prints (1) distance and cosine statistics of random points and of MiniLM's embeddings,
(2) the warning of a 2-D PCA of points with no clusters, (3) the PCA of MiniLM's residual
stream layer by layer, (4) steering sentences between topics, and (5) head ablations and
an attention pattern of the decoder that train_decoder saves.

      --model DIR       the MiniLM model (default: $SHAPECHECK_MINILM_DIR, else
                        models/all-MiniLM-L6-v2, where scripts/fetch-minilm.sh puts it)
      --decoder PATH    the decoder of section 5 (default: where train_decoder saves it,
                        shapecheck-train-decoder/decoder.safetensors in the temp dir)
      --decoder-only    section 5 alone
      --plots DIR       write PNG pictures into DIR (needs --features plots)
      --losses CSV      with --plots, also draw the losses of train_decoder --lr-sweep
                        (target/lr-sweep/losses.csv)
  -h, --help            this help
";

fn parse_args() -> Result<Args, lexopt::Error> {
    let mut a = Args {
        model: common::default_minilm_dir(),
        decoder: std::env::temp_dir()
            .join("shapecheck-train-decoder")
            .join("decoder.safetensors"),
        decoder_only: false,
        plots: None,
        losses: None,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("decoder-only") => a.decoder_only = true,
            Long("model") => a.model = p.value()?.into(),
            Long("decoder") => a.decoder = p.value()?.into(),
            #[cfg(feature = "plots")]
            Long("plots") => a.plots = Some(p.value()?.into()),
            #[cfg(not(feature = "plots"))]
            Long("plots") => {
                return Err("--plots needs the `plots` feature: cargo run --release \
                            --features plots --example inside -- --plots DIR"
                    .into())
            }
            Long("losses") => a.losses = Some(p.value()?.into()),
            Short('h') | Long("help") => common::print_help(HELP),
            _ => return Err(arg.unexpected()),
        }
    }
    if a.losses.is_some() && a.plots.is_none() {
        return Err("--losses goes with --plots".into());
    }
    Ok(a)
}

/// The mean residual state of each sentence: `(Batch, Hidden)`.
fn sentence_means(
    x: &Tensor<(Tokens, Hidden)>,
    rows: &[std::ops::Range<usize>],
) -> Tensor<(Batch, Hidden)> {
    let h = Hidden::SIZE;
    let s = x.as_slice();
    let data = rows
        .iter()
        .flat_map(|r| {
            (0..h).map(move |j| r.clone().map(|t| s[t * h + j]).sum::<f32>() / r.len() as f32)
        })
        .collect();
    Tensor::from_vec_with((Batch::new(rows.len()), Hidden), data).expect("one row per sentence")
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return common::usage_error(USAGE, e),
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Error> {
    if !args.decoder_only {
        minilm(args)?;
    }
    reversal::section(args)?;
    if let (Some(dir), Some(csv)) = (&args.plots, &args.losses) {
        loss_curves(dir, csv)?;
    }
    Ok(())
}

/// The training losses of a CSV such as `train_decoder --lr-sweep`'s, on a log scale.
#[cfg(feature = "plots")]
fn loss_curves(dir: &std::path::Path, csv: &std::path::Path) -> Result<(), Error> {
    use shapecheck::plot::{read_loss_csv, Curves, Picture, Row};
    std::fs::create_dir_all(dir)?;
    // One panel per optimizer (the first column of the CSV), one colour per rate.
    let mut panels: Vec<(String, Curves)> = Vec::new();
    for (name, pts) in read_loss_csv(csv)? {
        let (opt, rest) = name.split_once(' ').unwrap_or((&name, ""));
        let i = match panels.iter().position(|(o, _)| o == opt) {
            Some(i) => i,
            None => {
                let title = format!("{opt}: training loss");
                panels.push((opt.to_string(), Curves::new(title, "step", "loss").log_y()));
                panels.len() - 1
            }
        };
        let c = panels[i].1.clone().series(rest, pts);
        panels[i].1 = c;
    }
    let file = dir.join("losses.png");
    Row::new(panels.into_iter().map(|(_, c)| c).collect()).save_png(&file, 900, 400)?;
    println!("loss curves written to {}", file.display());
    Ok(())
}

#[cfg(not(feature = "plots"))]
fn loss_curves(dir: &PlotDir, _: &std::path::Path) -> Result<(), Error> {
    match *dir {}
}

/// Sections 1 to 4 (MiniLM and random points), and their pictures.
fn minilm(args: &Args) -> Result<(), Error> {
    let rows: Vec<(&str, &str)> = TOPICS.lines().filter_map(|l| l.split_once('\t')).collect();
    let mut names: Vec<&str> = Vec::new();
    for (t, _) in &rows {
        if !names.contains(t) {
            names.push(t);
        }
    }
    let labels: Vec<usize> = rows
        .iter()
        .map(|(t, _)| names.iter().position(|n| n == t).unwrap())
        .collect();
    let sentences: Vec<&str> = rows.iter().map(|(_, s)| *s).collect();
    let model = MiniLm::load(&args.model).inspect_err(|_| {
        eprintln!(
            "cannot load the model from {} (run scripts/fetch-minilm.sh first):",
            args.model.display()
        )
    })?;
    let emb = model.embed(&sentences)?;

    // 1. Concentration of measure.
    println!("# 1. Concentration of measure: n = 100 standard Gaussian points in d dims\n");
    println!(
        "{:>6} {:>9} {:>10} {:>10} {:>11} {:>10}",
        "d", "max/min", "1+2√(ln m/d)", "mean cos", "d·mean cos²", "sd cos·√d"
    );
    let dims = [2usize, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
    let mut ratio_curve = Vec::new();
    let mut predicted_curve = Vec::new();
    for (k, &d) in dims.iter().enumerate() {
        let x =
            Tensor::<(Points, Width), f64>::randn_with((Points::new(100), Width::new(d)), k as u64);
        let dist = distance_stats(&x)?;
        let cos = cosine_stats(&x.normalize())?;
        println!(
            "{d:>6} {:>9.3} {:>10.3} {:>10.4} {:>11.3} {:>10.3}",
            dist.ratio,
            predicted_ratio(100, d),
            cos.mean,
            d as f64 * cos.mean_sq,
            (cos.variance * d as f64).sqrt()
        );
        ratio_curve.push(((d as f64).log2(), dist.ratio.ln()));
        predicted_curve.push(((d as f64).log2(), predicted_ratio(100, d).ln()));
    }
    let real_dist = distance_stats(emb.as_tensor())?;
    let real_cos = cosine_stats(&emb)?;
    let random = Tensor::<(Points, Width), f64>::randn_with(
        (Points::new(sentences.len()), Width::new(384)),
        99,
    );
    let (rand_dist, rand_cos) = (distance_stats(&random)?, cosine_stats(&random.normalize())?);
    println!(
        "\nMiniLM embeddings of the {} sentences (d = 384) beside as many random directions:",
        sentences.len()
    );
    println!(
        "  {:<22} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "", "max/min", "mean cos", "sd cos", "min cos", "max cos"
    );
    for (name, d, c) in [
        ("MiniLM embeddings", &real_dist, &real_cos),
        ("random unit vectors", &rand_dist, &rand_cos),
    ] {
        println!(
            "  {name:<22} {:>9.3} {:>10.4} {:>9.4} {:>9.4} {:>9.4}",
            d.ratio,
            c.mean,
            c.variance.sqrt(),
            c.min,
            c.max
        );
    }

    // 2. The warning: structureless points through a 2-D PCA.
    println!("\n# 2. A 2-D PCA of 200 Gaussian points in 256 dims (no clusters at all)\n");
    let (n, d) = (200, 256);
    let x = Tensor::<(Points, Width)>::randn_with((Points::new(n), Width::new(d)), 7);
    let g = Tensor::<(Width, Width)>::randn_with((Width::new(d), Width::new(d)), 8).svd();
    let rotation = g.u.matmul(&g.vt); // orthogonal: a random rotation (or reflection)
    let rotated = x.matmul(&rotation);
    let mut warning_scatters = Vec::new();
    for (name, pts) in [("original", &x), ("rotated", &rotated)] {
        let p = pca_summary(pts, 2)?;
        let flat: Vec<f64> = p.coords.iter().flatten().copied().collect();
        let plane =
            Tensor::<(Points, Width), f64>::from_vec_with((Points::new(n), Width::new(2)), flat)?;
        println!(
            "  {name:<9} top-2 explained variance {:.3} + {:.3}; distance max/min in 2-D {:>8.1}, in {d}-D {:.3}",
            p.ratios[0],
            p.ratios[1],
            distance_stats(&plane)?.ratio,
            distance_stats(pts)?.ratio
        );
        warning_scatters.push((name, p));
    }
    println!("  The 2-D pictures show clumps and gaps; the points they come from are all nearly equidistant.");

    // 3. PCA of the residual stream, layer by layer.
    println!(
        "\n# 3. PCA of the sentences' mean residual states, layer by layer ({} topics)\n",
        names.len()
    );
    let ids: Vec<Vec<u32>> = sentences.iter().map(|s| model.tokenize(s).0).collect();
    let sel = Selection::new()
        .with(Site::ResidPre, [0])
        .with(Site::ResidPost, 0..6)
        .with(Site::Attention, [2]);
    let (_, cache) = model.run_with_cache(&ids, &sel, &[])?;
    let spans: Vec<_> = (0..ids.len()).map(|i| cache.rows(i).unwrap()).collect();
    println!(
        "{:<10} {:>40} {:>9} {:>9}",
        "state", "explained variance of PC1..PC5", "Fisher", "centroid"
    );
    let mut layer_pcas: Vec<(String, PcaSummary)> = Vec::new();
    let states = std::iter::once(("embeddings".to_string(), cache.resid_pre(0).unwrap()))
        .chain((0..6).map(|l| (format!("layer {l}"), cache.resid_post(l).unwrap())));
    for (name, x) in states {
        let p = pca_summary(&sentence_means(x, &spans), 5)?;
        let s = separation(&p.coords, &labels)?;
        let r: Vec<String> = p.ratios.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "{name:<10} {:>40} {:>9.2} {:>8.0}%",
            r.join(" "),
            s.fisher,
            100.0 * s.centroid_accuracy
        );
        layer_pcas.push((name, p));
    }
    let final_pca = pca_summary(emb.as_tensor(), 5)?;
    let s = separation(&final_pca.coords, &labels)?;
    let r: Vec<String> = final_pca.ratios.iter().map(|v| format!("{v:.3}")).collect();
    println!(
        "{:<10} {:>40} {:>9.2} {:>8.0}%",
        "embedding",
        r.join(" "),
        s.fisher,
        100.0 * s.centroid_accuracy
    );
    println!("(Fisher: between-topic over within-topic variance along PC1-PC2; centroid: share of sentences nearest their own topic's centroid there)");

    // 4. Steering.
    println!("\n# 4. Steering held-out football sentences toward space at layer {STEER_LAYER}\n");
    let pick =
        |topic: &str| -> Vec<usize> { (0..rows.len()).filter(|&i| rows[i].0 == topic).collect() };
    let (space, football) = (pick("space"), pick("football"));
    let sel = Selection::new().with(Site::ResidPre, [STEER_LAYER]);
    let means_of = |idx: &[usize]| -> Result<Tensor<(Batch, Hidden)>, Error> {
        let ids: Vec<Vec<u32>> = idx
            .iter()
            .map(|&i| model.tokenize(sentences[i]).0)
            .collect();
        let (_, c) = model.run_with_cache(&ids, &sel, &[])?;
        let spans: Vec<_> = (0..ids.len()).map(|i| c.rows(i).unwrap()).collect();
        Ok(sentence_means(c.resid_pre(STEER_LAYER).unwrap(), &spans))
    };
    let (a, b) = (means_of(&space[..8])?, means_of(&football[..8])?);
    let held_out: Vec<&str> = football[8..].iter().map(|&i| sentences[i]).collect();
    let centroid = Tensor::<(Hidden,)>::from_fn(|[j]| {
        space[..8].iter().map(|&i| emb.as_tensor()[[i, j]]).sum()
    })
    .normalize();
    let football_centroid = Tensor::<(Hidden,)>::from_fn(|[j]| {
        football[..8].iter().map(|&i| emb.as_tensor()[[i, j]]).sum()
    })
    .normalize();
    println!(
        "{:<16} {:>6} {:>14} {:>17}",
        "direction", "coef", "cos to space", "cos to football"
    );
    for (name, dir) in [
        ("mean difference", mean_difference(&a, &b)?),
        ("top component", top_difference_component(&a, &b)?),
    ] {
        for c in [0.0f32, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0] {
            let e = model
                .encode_with(&held_out, &[Intervention::add(STEER_LAYER, dir.clone(), c)])?
                .embeddings;
            let mean = |to: &Unit<(Hidden,)>| {
                (0..held_out.len())
                    .map(|i| cosine_similarity(&e.row(i), to))
                    .sum::<f32>()
                    / held_out.len() as f32
            };
            println!(
                "{name:<16} {c:>6.2} {:>14.3} {:>17.3}",
                mean(&centroid),
                mean(&football_centroid)
            );
        }
    }

    if let Some(dir) = &args.plots {
        pictures(
            dir,
            &names,
            &labels,
            &layer_pcas,
            &final_pca,
            &warning_scatters,
            &cache_pattern(&model, sentences[0])?,
            (&ratio_curve, &predicted_curve),
        )?;
    }
    Ok(())
}

/// One head's attention over the first sentence at layer 2: the tokens and the weights.
fn cache_pattern(model: &MiniLm, sentence: &str) -> Result<(Vec<String>, Vec<f64>), Error> {
    let ids = vec![model.tokenize(sentence).0];
    let (_, cache) =
        model.run_with_cache(&ids, &Selection::new().with(Site::Attention, [2]), &[])?;
    let p = cache.attention(2, 0).unwrap();
    let n = ids[0].len();
    let tokens = ids[0]
        .iter()
        .map(|&id| model.tokenizer().id_token(id).unwrap_or("?").to_string())
        .collect();
    Ok((
        tokens,
        p.as_slice()[..n * n]
            .iter()
            .map(|&v| f64::from(v))
            .collect(),
    ))
}

#[cfg(not(feature = "plots"))]
#[allow(clippy::too_many_arguments)]
fn pictures(
    dir: &PlotDir,
    _: &[&str],
    _: &[usize],
    _: &[(String, PcaSummary)],
    _: &PcaSummary,
    _: &[(&str, PcaSummary)],
    _: &(Vec<String>, Vec<f64>),
    _: (Curve<'_>, Curve<'_>),
) -> Result<(), Error> {
    match *dir {}
}

#[cfg(feature = "plots")]
#[allow(clippy::too_many_arguments)]
fn pictures(
    dir: &std::path::Path,
    names: &[&str],
    labels: &[usize],
    layers: &[(String, PcaSummary)],
    final_pca: &PcaSummary,
    warning: &[(&str, PcaSummary)],
    (tokens, pattern): &(Vec<String>, Vec<f64>),
    (ratio, predicted): (Curve<'_>, Curve<'_>),
) -> Result<(), Error> {
    use shapecheck::plot::{Curves, Heatmap, Picture, Scatter};
    std::fs::create_dir_all(dir)?;
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let (w, h) = (640, 480);
    Scatter::new(
        "MiniLM sentence embeddings: PC1 vs PC2",
        final_pca.coords.clone(),
        labels.to_vec(),
        names.clone(),
    )
    .save_png(&dir.join("pca_sentence_embeddings.png"), w, h)?;
    for (name, p) in layers {
        let file = format!("pca_{}.png", name.replace(' ', "_"));
        Scatter::new(
            format!("{name}: mean residual state, PC1 vs PC2"),
            p.coords.clone(),
            labels.to_vec(),
            names.clone(),
        )
        .save_png(&dir.join(file), w, h)?;
    }
    for (name, p) in warning {
        Scatter::new(
            format!("Gaussian points ({name}): PC1 vs PC2"),
            p.coords.clone(),
            vec![0; p.coords.len()],
            vec!["no clusters".into()],
        )
        .save_png(&dir.join(format!("pca_gaussian_{name}.png")), w, h)?;
    }
    let head = 0;
    let n = tokens.len();
    Heatmap::new(
        format!("layer 2, head {head}: attention (query rows, key columns)"),
        pattern[head * n * n..(head + 1) * n * n].to_vec(),
        tokens.clone(),
        tokens.clone(),
    )
    .save_png(&dir.join("attention_layer2_head0.png"), w, h)?;
    Curves::new(
        "Gaussian points, n = 100: ln(max/min distance)",
        "log2 d",
        "ln ratio",
    )
    .series("measured", ratio.to_vec())
    .series("1 + 2√(ln m / d)", predicted.to_vec())
    .save_png(&dir.join("concentration.png"), w, h)?;
    let mut ev = Curves::new(
        "Cumulative explained variance by layer",
        "components",
        "share of variance",
    );
    for (name, p) in layers {
        let mut acc = 0.0;
        ev = ev.series(
            name.clone(),
            p.ratios
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    acc += r;
                    ((k + 1) as f64, acc)
                })
                .collect(),
        );
    }
    ev.save_png(&dir.join("explained_variance.png"), w, h)?;
    println!("\npictures written to {}", dir.display());
    Ok(())
}

/// Section 5: the decoder `train_decoder` trained to reverse 8 digits, head by head.
mod reversal {
    use super::Args;
    use shapecheck::inspect::{HeadAblation, Selection, Site};
    use shapecheck::models::decoder::{Decoder, Dims};
    use shapecheck::prelude::*;

    // The sizes of examples/train_decoder.rs (its model file is checked against them).
    dim!(pub Vocab = 11; pub DModel = 64; pub Heads = 4; pub HeadDim = 16; pub Ffn = 128);
    dim!(pub Batch; pub Len);

    type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;
    use shapecheck::Error;

    /// Digits per sequence, the separator, and the model input length: as in train_decoder.
    const N: usize = 8;
    const SEP: u32 = 10;
    const LEN: usize = 2 * N;

    /// train_decoder's held-out eighth of all prompts (the same FNV hash), drawn with its
    /// SplitMix64 generator from `seed`.
    fn held_out_prompts(count: usize, seed: u64) -> Vec<[u32; N]> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let held_out = |p: &[u32; N]| {
            let h = p.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &d| {
                (h ^ u64::from(d)).wrapping_mul(0x0100_0000_01b3)
            });
            (h >> 32) % 8 == 0
        };
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let p: [u32; N] = std::array::from_fn(|_| (next() % 10) as u32);
            if held_out(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The model input of a prompt: the digits, the separator, the answer but its last.
    fn input(p: &[u32; N]) -> Vec<u32> {
        let mut s = p.to_vec();
        s.push(SEP);
        s.extend(p.iter().rev().take(N - 1));
        s
    }

    /// Teacher-forced exact match and mean answer cross-entropy over `prompts`, with
    /// `ablations` applied.
    fn score(
        model: &Model,
        prompts: &[[u32; N]],
        ablations: &[HeadAblation<Heads>],
    ) -> Result<(f64, f64), Error> {
        let ids: Vec<u32> = prompts.iter().flat_map(input).collect();
        let shape = (Batch::new(prompts.len()), Len::new(LEN));
        let (logits, _) = model.run_with_hooks(shape, &ids, &Selection::new(), &[], ablations)?;
        let v = Vocab::SIZE;
        let (mut exact, mut loss) = (0usize, 0.0f64);
        for (b, p) in prompts.iter().enumerate() {
            let mut all = true;
            for j in 0..N {
                let row = &logits.as_slice()[(b * LEN + N + j) * v..][..v];
                let target = p[N - 1 - j] as usize;
                let top = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let lse = row
                    .iter()
                    .map(|&x| f64::from(x - top).exp())
                    .sum::<f64>()
                    .ln();
                loss += lse - f64::from(row[target] - top);
                let best = (0..v).fold(0, |b, i| if row[i] > row[b] { i } else { b });
                all &= best == target;
            }
            exact += usize::from(all);
        }
        Ok((
            exact as f64 / prompts.len() as f64,
            loss / (prompts.len() * N) as f64,
        ))
    }

    pub(super) fn section(args: &Args) -> Result<(), Error> {
        println!("\n# 5. The trained decoder: which heads reverse the digits\n");
        if !args.decoder.is_file() {
            println!(
                "no model at {}: run `cargo run --release --example train_decoder` first (it saves \
                 its model there), or pass --decoder PATH; skipped",
                args.decoder.display()
            );
            return Ok(());
        }
        let model = Model::load(&args.decoder)?;
        let prompts = held_out_prompts(512, 11);
        let (base_acc, base_loss) = score(&model, &prompts, &[])?;
        println!(
            "{} held-out prompts, teacher-forced; nothing ablated: exact match {:.1}%, answer loss {:.4}\n",
            prompts.len(),
            100.0 * base_acc,
            base_loss
        );
        let mirror = mirror_weights(&model, &prompts[..64])?;
        println!(
            "{:<7} {:<6} {:>12} {:>12} {:>16}",
            "layer", "head", "exact match", "answer loss", "mirrored weight"
        );
        let (mut worst, mut mirroring) = ((0, 0, f64::NEG_INFINITY), (0, 0, f64::NEG_INFINITY));
        for (layer, row) in mirror.iter().enumerate() {
            for (head, &m) in row.iter().enumerate() {
                let (acc, loss) = score(&model, &prompts, &[HeadAblation::zero(layer, head)])?;
                println!(
                    "{layer:<7} {head:<6} {:>11.1}% {loss:>12.4} {m:>16.2}",
                    100.0 * acc
                );
                if loss > worst.2 {
                    worst = (layer, head, loss);
                }
                if m > mirroring.2 {
                    mirroring = (layer, head, m);
                }
            }
        }
        println!(
            "(each row: that one head's output zeroed before the output projection; mirrored \
             weight: the attention an answer position pays to the prompt digit it must copy, \
             mean over 64 prompts)"
        );
        let mut shown = vec![(worst.0, worst.1, "the largest loss when ablated")];
        if (mirroring.0, mirroring.1) != (worst.0, worst.1) {
            shown.push((
                mirroring.0,
                mirroring.1,
                "the most weight on the mirrored digit",
            ));
        }
        for (layer, head, why) in shown {
            pattern_of(&model, args, &prompts[0], layer, head, why)?;
        }
        Ok(())
    }

    /// Per layer and head, the mean weight an answer position puts on the prompt digit it
    /// must output (position `q` predicts the prompt's digit at `2N − 1 − q`).
    fn mirror_weights(model: &Model, prompts: &[[u32; N]]) -> Result<Vec<Vec<f64>>, Error> {
        let layers = model.blocks.len();
        let ids: Vec<u32> = prompts.iter().flat_map(input).collect();
        let sel = Selection::new().with(Site::Attention, 0..layers);
        let shape = (Batch::new(prompts.len()), Len::new(LEN));
        let (_, cache) = model.run_with_cache(shape, &ids, &sel, &[])?;
        let mut out = vec![vec![0.0; Heads::SIZE]; layers];
        for (l, row) in out.iter_mut().enumerate() {
            for (h, m) in row.iter_mut().enumerate() {
                for b in 0..prompts.len() {
                    let p = cache.attention(l, b).expect("selected");
                    *m += (N..LEN)
                        .map(|q| f64::from(p[[h, q, 2 * N - 1 - q]]))
                        .sum::<f64>();
                }
                *m /= (prompts.len() * N) as f64;
            }
        }
        Ok(out)
    }

    /// Prints (and with `--plots`, draws) head `head` of layer `layer` over prompt `p`.
    fn pattern_of(
        model: &Model,
        args: &Args,
        p: &[u32; N],
        layer: usize,
        head: usize,
        why: &str,
    ) -> Result<(), Error> {
        let ids = input(p);
        let sel = Selection::new().with(Site::Attention, [layer]);
        let (_, cache) = model.run_with_cache((Batch::new(1), Len::new(LEN)), &ids, &sel, &[])?;
        let pattern = cache.attention(layer, 0).expect("selected");
        let tokens: Vec<String> = ids
            .iter()
            .map(|&t| {
                if t == SEP {
                    "|".to_string()
                } else {
                    t.to_string()
                }
            })
            .collect();
        println!(
            "\nlayer {layer}, head {head} ({why}) over `{}`:",
            tokens.join(" ")
        );
        println!("query → the key it weighs most (weight); answer rows should point at the mirrored digit");
        let mut mirrored = 0.0;
        for q in N..LEN {
            let row: Vec<f32> = (0..LEN).map(|k| pattern[[head, q, k]]).collect();
            let best = (0..=q).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            // Position q predicts answer digit q − N, the prompt's digit at 2N − 1 − q.
            let want = 2 * N - 1 - q;
            mirrored += f64::from(row[want]);
            println!(
                "  position {q:>2} ({:>1}) → position {best:>2} ({:>1}) weight {:.2}{}",
                tokens[q],
                tokens[best],
                row[best],
                if best == want { "  mirrored" } else { "" }
            );
        }
        println!(
            "mean weight on the mirrored position {:.2} (uniform over the causal prefix would give about {:.2})",
            mirrored / N as f64,
            (N..LEN).map(|q| 1.0 / (q + 1) as f64).sum::<f64>() / N as f64
        );
        if let Some(dir) = &args.plots {
            let n = LEN;
            let values: Vec<f64> = pattern.as_slice()[head * n * n..(head + 1) * n * n]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            heatmap(dir, layer, head, values, tokens)?;
        }
        Ok(())
    }

    #[cfg(feature = "plots")]
    fn heatmap(
        dir: &std::path::Path,
        layer: usize,
        head: usize,
        values: Vec<f64>,
        tokens: Vec<String>,
    ) -> Result<(), Error> {
        use shapecheck::plot::{Heatmap, Picture};
        std::fs::create_dir_all(dir)?;
        let file = dir.join(format!("decoder_attention_layer{layer}_head{head}.png"));
        Heatmap::new(
            format!("reversal decoder, layer {layer}, head {head}: attention"),
            values,
            tokens.clone(),
            tokens,
        )
        .save_png(&file, 560, 560)?;
        println!("heatmap written to {}", file.display());
        Ok(())
    }

    #[cfg(not(feature = "plots"))]
    fn heatmap(
        dir: &super::PlotDir,
        _: usize,
        _: usize,
        _: Vec<f64>,
        _: Vec<String>,
    ) -> Result<(), Error> {
        match *dir {}
    }
}
