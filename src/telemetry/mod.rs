//! What long runs show and leave behind: indicatif progress bars (plain periodic lines when stderr is not a
//! terminal) and TensorBoard event files.

mod progress;
mod tensorboard;

pub use progress::{PLAIN_INTERVAL, plain_progress, progress_bar};
pub use tensorboard::EventLog;
