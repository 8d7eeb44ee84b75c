//! A tiny benchmark harness: warm up, time each run, report the median (the machine is noisy, so medians, not
//! means) and the spread. No criterion: it would add a large dependency for what is a loop and a sort.
#![allow(dead_code)]

use std::time::Instant;

/// Whether the benchmark `name` should run: every one when the command line names none (`cargo bench --bench vgg`),
/// else those whose name contains one of the words given after `--` (`cargo bench --bench vgg -- gatys`), so a
/// profiler can record one benchmark alone. Flags (cargo passes `--bench`) are not words.
pub fn wanted(name: &str) -> bool {
    let words: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    words.is_empty() || words.iter().any(|w| name.contains(w.as_str()))
}

/// Times `f` `runs` times after `warmup` untimed runs; returns the per-run milliseconds, sorted.
pub fn time_ms(warmup: usize, runs: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// Prints one result line: name, median, min, max, and the ratio to a reference figure when one is given.
pub fn report(name: &str, times: &[f64], reference_ms: Option<f64>) {
    let median = times[times.len() / 2];
    let ratio = reference_ms
        .map(|r| format!("  ratio to PyTorch 2 threads ({r} ms): {:.2}x", median / r))
        .unwrap_or_default();
    println!(
        "{name:<40} median {median:>9.1} ms  min {:>9.1}  max {:>9.1}  (n={}){ratio}",
        times[0],
        times[times.len() - 1],
        times.len()
    );
}
