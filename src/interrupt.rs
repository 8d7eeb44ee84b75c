//! Ctrl-C. A run that is interrupted must leave nothing half-written: every staging folder and lock file a run
//! holds is registered here, and the handler removes them before the process exits with 130 (the shell's code
//! for SIGINT). A loop that can stop cleanly (GAN training, which saves a checkpoint) asks for a first Ctrl-C to
//! become a stop request instead; a second one still exits at once.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Exit code of a run ended by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static STOP: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (the binary calls this once; a library user keeps its own signal handling).
pub fn install() {
    let _ = ctrlc::set_handler(on_interrupt);
}

fn on_interrupt() {
    if GRACEFUL.load(Ordering::SeqCst) > 0 && !STOP.swap(true, Ordering::SeqCst) {
        eprintln!("\nCtrl-C: stopping at the end of this step (Ctrl-C again to quit at once)");
        return;
    }
    INTERRUPTED.store(true, Ordering::SeqCst);
    remove_registered();
    std::process::exit(i32::from(EXIT_INTERRUPTED));
}

/// Whether Ctrl-C is ending the process: a failure seen by the main thread meanwhile (its staging folder vanished)
/// is a consequence, not an error to report.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Removes every registered path (staging folders, lock files).
fn remove_registered() {
    remove_paths(&registered());
}

/// The paths the handler would remove now.
fn registered() -> Vec<PathBuf> {
    CLEANUP.lock().map(|p| p.clone()).unwrap_or_default()
}

/// Removes files and folders. A folder is first renamed to a unique name, so the main thread, still writing by
/// path into it, can no longer add entries while it is deleted.
fn remove_paths(paths: &[PathBuf]) {
    for path in paths {
        if !path.is_dir() {
            let _ = std::fs::remove_file(path);
            continue;
        }
        let trash = path.with_extension(format!("interrupted-{}", std::process::id()));
        let target = if std::fs::rename(path, &trash).is_ok() {
            trash
        } else {
            path.clone()
        };
        for _ in 0..5 {
            if std::fs::remove_dir_all(&target).is_ok() || !target.exists() {
                break;
            }
        }
    }
}

/// Asks the handler to remove `path` if the process is interrupted.
pub fn remove_on_interrupt(path: &Path) {
    if let Ok(mut paths) = CLEANUP.lock() {
        paths.push(path.to_path_buf());
    }
}

/// Forgets a path registered with [`remove_on_interrupt`] (it was committed or already removed).
pub fn forget(path: &Path) {
    if let Ok(mut paths) = CLEANUP.lock() {
        paths.retain(|p| p != path);
    }
}

/// The flag a stoppable loop polls: set by the first Ctrl-C while a [`StopScope`] is alive.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// While alive, the first Ctrl-C sets [`stop_flag`] instead of ending the process.
pub struct StopScope(());

impl StopScope {
    /// Enters a stoppable section.
    pub fn enter() -> StopScope {
        GRACEFUL.fetch_add(1, Ordering::SeqCst);
        StopScope(())
    }
}

impl Drop for StopScope {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_paths_are_removed_and_forgotten_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b.lock"));
        std::fs::create_dir_all(a.join("x")).unwrap();
        std::fs::write(&b, "1").unwrap();
        remove_on_interrupt(&a);
        remove_on_interrupt(&b);
        assert!(registered().contains(&a) && registered().contains(&b));
        forget(&b);
        assert!(registered().contains(&a) && !registered().contains(&b));
        forget(&a);
        // Only this test's paths: other tests register their own staging folders concurrently.
        remove_paths(&[a.clone(), b.clone()]);
        assert!(!a.exists() && !b.exists());
    }
}
