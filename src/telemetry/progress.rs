use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// How often a plain progress line may be printed when stderr is not a terminal: often enough that a log shows a
/// long run is alive and how far it got, rarely enough that a 30-minute run writes about 60 lines, not thousands.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(30);

/// A bar over `len` steps on stderr. On a terminal it is an indicatif bar; when stderr is not a terminal (CI, a log
/// file, `2> run.log`) it prints one plain line `<label> <stage>: <done>/<total> elapsed <t> ETA <t>` at most every
/// [`PLAIN_INTERVAL`] (nothing for runs shorter than that), so a long run is not silent for minutes. `quiet` hides
/// both.
pub fn progress_bar(len: u64, label: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    if !std::io::stderr().is_terminal() {
        return plain_progress(len, label, PLAIN_INTERVAL, Box::new(std::io::stderr()));
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar
}

/// A bar that writes plain lines to `sink`, at most one per `interval` (the first one `interval` after it starts).
/// A steady tick redraws it every few seconds, so a line appears even while one long step runs.
pub fn plain_progress(len: u64, label: &str, interval: Duration, sink: Box<dyn Write + Send>) -> ProgressBar {
    let lines = PlainLines {
        interval,
        state: Mutex::new(PlainState {
            line: String::new(),
            last: Instant::now(),
            sink,
        }),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::term_like(Box::new(lines)));
    let style = ProgressStyle::with_template("{prefix} {msg}: {pos}/{len} elapsed {elapsed_precise} ETA {eta_known}")
        .map(|s| s.with_key("eta_known", eta_known))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(interval.min(Duration::from_secs(5)).max(Duration::from_millis(100)));
    bar
}

/// The ETA once a step has finished, from the mean time per finished step; before that there is no rate to
/// extrapolate from (indicatif would print an ETA of millions of days while a long first stage, such as eval-gain's
/// frozen features, runs). indicatif's own estimate weights recent time, so between two slow steps of a few-step
/// bar (eval-gain's fits) it swung from minutes to hours.
fn eta_known(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = if state.pos() == 0 {
        write!(w, "unknown")
    } else {
        let secs = mean_rate_eta(state.elapsed(), state.pos(), state.len().unwrap_or(0));
        write!(w, "{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    };
}

/// Seconds left at the mean time per finished step: `elapsed * (total - done) / done` (0 once done >= total).
fn mean_rate_eta(elapsed: Duration, done: u64, total: u64) -> u64 {
    if done == 0 || done >= total {
        return 0;
    }
    (elapsed.as_secs_f64() * (total - done) as f64 / done as f64).round() as u64
}

/// indicatif's drawing, reduced to plain lines: cursor moves and clears are ignored, the text of one draw is
/// collected, and on flush it is printed as one line when `interval` has passed since the last line.
struct PlainLines {
    interval: Duration,
    state: Mutex<PlainState>,
}

struct PlainState {
    /// The text of the draw in progress.
    line: String,
    /// When the last line was printed (or the bar created).
    last: Instant,
    sink: Box<dyn Write + Send>,
}

impl std::fmt::Debug for PlainLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainLines").field("interval", &self.interval).finish()
    }
}

impl PlainLines {
    fn with_state(&self, f: impl FnOnce(&mut PlainState) -> std::io::Result<()>) -> std::io::Result<()> {
        match self.state.lock() {
            Ok(mut state) => f(&mut state),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        // Wide enough that no line wraps; the padding indicatif adds is trimmed.
        400
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(s)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.with_state(|state| {
            state.line.push_str(s);
            Ok(())
        })
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        let interval = self.interval;
        self.with_state(|state| {
            let line = std::mem::take(&mut state.line);
            let line = line.trim();
            if line.is_empty() || state.last.elapsed() < interval {
                return Ok(());
            }
            state.last = Instant::now();
            writeln!(state.sink, "{line}")?;
            state.sink.flush()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Each printed line is one plain line with the stage, done/total, elapsed and ETA, and no bar or escape codes.
    #[test]
    fn plain_lines_say_stage_count_and_times() {
        let sink = Shared::default();
        let bar = plain_progress(5, "eval-gain", Duration::ZERO, Box::new(sink.clone()));
        bar.set_message("fitted real + gan");
        bar.inc(2);
        bar.finish();
        let text = sink.text();
        let last = text.lines().last().expect("a line was printed");
        assert!(last.starts_with("eval-gain fitted real + gan: 5/5 elapsed "), "{text}");
        assert!(last.contains(" ETA "), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('['),
            "no escape codes, no bar: {text}"
        );
    }

    /// The ETA extrapolates the mean time per step: 3 of 7 steps in 90 s leaves 120 s.
    #[test]
    fn the_eta_is_the_mean_time_per_step_times_the_steps_left() {
        assert_eq!(mean_rate_eta(Duration::from_secs(90), 3, 7), 120);
        assert_eq!(mean_rate_eta(Duration::from_secs(90), 7, 7), 0);
        assert_eq!(mean_rate_eta(Duration::from_secs(90), 0, 7), 0);
    }

    /// Before the first step the ETA is unknown (not an extrapolation from a zero rate).
    #[test]
    fn the_eta_is_unknown_until_a_step_is_done() {
        let sink = Shared::default();
        let bar = plain_progress(5, "eval-gain", Duration::ZERO, Box::new(sink.clone()));
        bar.set_message("frozen features of the real images");
        bar.tick();
        let text = sink.text();
        let first = text.lines().next().expect("a line was printed");
        assert!(first.ends_with("ETA unknown"), "{text}");
        bar.finish();
    }

    /// Within the interval nothing is printed, so short runs leave stderr empty.
    #[test]
    fn nothing_is_printed_within_the_interval() {
        let sink = Shared::default();
        let bar = plain_progress(3, "augment", Duration::from_secs(3600), Box::new(sink.clone()));
        bar.inc(1);
        bar.finish();
        assert_eq!(sink.text(), "");
    }
}
