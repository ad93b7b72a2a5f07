//! Timing shared by every section of the perf example.

use std::time::{Duration, Instant};

/// Rounds per case; each round times both sides for about `ROUND` each.
pub const ROUNDS: usize = 21;
const ROUND: Duration = Duration::from_millis(20);

/// Calls per second of `ours` and `theirs` (medians over rounds), and the median of the
/// per-round ratios ours/theirs: adjacent rounds see the same machine state, so their ratio
/// cancels the drift of a shared machine better than a ratio of medians would.
pub fn interleave(mut ours: impl FnMut(), mut theirs: impl FnMut()) -> (f64, f64, f64) {
    // Calibrate the number of calls per round on the slower side, after a warm-up of both.
    ours();
    theirs();
    let per_call = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        let mut n = 0u32;
        while t.elapsed() < ROUND / 4 {
            f();
            n += 1;
        }
        t.elapsed().as_secs_f64() / n as f64
    };
    let slowest = per_call(&mut ours).max(per_call(&mut theirs));
    let calls = ((ROUND.as_secs_f64() / slowest) as u32).max(1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        calls as f64 / t.elapsed().as_secs_f64()
    };
    for round in 0..ROUNDS {
        // ABBA order: neither side always runs first, so warm-up and drift cancel.
        if round % 2 == 0 {
            a.push(time(&mut ours));
            b.push(time(&mut theirs));
        } else {
            b.push(time(&mut theirs));
            a.push(time(&mut ours));
        }
    }
    let ratios = a.iter().zip(&b).map(|(x, y)| x / y).collect();
    (median(a), median(b), median(ratios))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn line(case: &str, flops: f64, (ours, theirs, ratio): (f64, f64, f64)) {
    println!(
        "{case} shapecheck={:.2} raw={:.2} ratio={ratio:.3}",
        ours * flops / 1e9,
        theirs * flops / 1e9,
    );
}
