//! What long runs show and leave behind: indicatif progress bars and TensorBoard event files.

mod progress;
mod tensorboard;

pub use progress::progress_bar;
pub use tensorboard::EventLog;
