use std::path::{Path, PathBuf};

use tensorboard_rs::summary_writer::SummaryWriter;

use crate::dataset::Image;
use crate::error::{IoContext, Result};

/// A TensorBoard event file (scalars and images) under one log folder. `tensorboard --logdir outputs/tb` shows
/// every run.
pub struct EventLog {
    writer: SummaryWriter,
    dir: PathBuf,
}

impl EventLog {
    /// Creates the log folder and an event file in it.
    pub fn create(dir: &Path) -> Result<EventLog> {
        std::fs::create_dir_all(dir).at(dir, "creating")?;
        Ok(EventLog {
            writer: SummaryWriter::new(dir),
            dir: dir.to_path_buf(),
        })
    }

    /// The log folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Logs a scalar at a step.
    pub fn scalar(&mut self, tag: &str, value: f32, step: usize) {
        self.writer.add_scalar(tag, value, step);
    }

    /// Logs an image at a step. tensorboard-rs takes square RGB only (it swaps width and height otherwise), so the
    /// image is made RGB and padded to a square with black.
    pub fn image(&mut self, tag: &str, image: &Image, step: usize) {
        let side = image.height.max(image.width);
        let rgb = image.to_rgb();
        let mut square = Image::zeros(3, side, side);
        for c in 0..3 {
            for y in 0..rgb.height {
                for x in 0..rgb.width {
                    square.set(c, y, x, rgb.get(c, y, x));
                }
            }
        }
        self.writer
            .add_image(tag, &square.to_interleaved_u8(), &[3, side, side], step);
    }

    /// Writes pending events to disk.
    pub fn flush(&mut self) {
        self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event file is a valid TFRecord stream: each record is a length, its masked CRC, data and data CRC.
    #[test]
    fn event_file_holds_valid_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::create(dir.path()).unwrap();
        log.scalar("loss", 0.5, 1);
        log.image("grid", &Image::zeros(1, 4, 6), 1);
        log.flush();
        drop(log); // joins the writer thread, so the file is complete
        let file = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let bytes = std::fs::read(file).unwrap();
        let (mut pos, mut records) = (0, 0);
        while pos + 12 <= bytes.len() {
            let len = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap()) as usize;
            pos += 12 + len + 4;
            records += 1;
        }
        assert_eq!(pos, bytes.len());
        assert_eq!(records, 3, "file version, scalar, image");
    }
}
