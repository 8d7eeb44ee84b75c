//! CIFAR-10 binary batches: records of 1 label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, 32x32).

use super::Image;
use crate::error::{Result, SynthError};

const SIDE: usize = 32;
const RECORD: usize = 1 + 3 * SIDE * SIDE;

/// The CIFAR-10 class names, used when no `batches.meta.txt` sits beside the batch files.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Reads one batch file's records.
pub fn read_cifar_batch(bytes: &[u8], what: &str) -> Result<(Vec<Image>, Vec<usize>)> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(SynthError::bad_input(format!(
            "{what}: {} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated?)",
            bytes.len()
        )));
    }
    let mut images = Vec::with_capacity(bytes.len() / RECORD);
    let mut labels = Vec::with_capacity(bytes.len() / RECORD);
    for record in bytes.chunks_exact(RECORD) {
        labels.push(record[0] as usize);
        let data = record[1..].iter().map(|&v| v as f32 / 255.0).collect();
        images.push(Image::from_planar(3, SIDE, SIDE, data)?);
    }
    Ok((images, labels))
}

/// Encodes one record; the inverse of [`read_cifar_batch`], used to build test fixtures.
pub fn encode_cifar_record(image: &Image, label: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD);
    out.push(label);
    out.extend(image.data.iter().map(|&v| super::quantize(v)));
    out
}
