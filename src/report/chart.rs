//! Chart plumbing shared by every report: the bundled font and writing a plotters RGB buffer as PNG.

use std::path::Path;

use crate::error::{Result, SynthError};

/// The bundled font charts are drawn with (DejaVu Sans, free licence: src/report/DejaVuSans.LICENSE).
pub static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Writes a plotters RGB buffer of `w x h` pixels as a PNG file.
pub fn save_rgb_png(buffer: Vec<u8>, (w, h): (u32, u32), path: &Path) -> Result<()> {
    let fail = |e: String| SynthError::internal(format!("writing {}: {e}", path.display()));
    let image = image::RgbImage::from_raw(w, h, buffer).ok_or_else(|| fail("bad buffer".into()))?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))
}
