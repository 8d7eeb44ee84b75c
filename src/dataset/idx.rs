//! MNIST IDX files (LeCun's format): big-endian magic, dimensions, then u8 data. Plain or gzip.

use super::{Image, maybe_gunzip};
use crate::error::{Result, SynthError};

fn header(bytes: &[u8], expected_magic: u32, what: &str) -> Result<Vec<usize>> {
    let bad = |m: &str| SynthError::bad_input(format!("{what}: {m}"));
    if bytes.len() < 4 {
        return Err(bad("file is too short for an IDX header"));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(bad(&format!(
            "IDX magic is {magic:#010x}, expected {expected_magic:#010x}"
        )));
    }
    let ndim = (magic & 0xff) as usize;
    if bytes.len() < 4 + 4 * ndim {
        return Err(bad("file is too short for its IDX dimensions"));
    }
    let dims: Vec<usize> = bytes[4..4 + 4 * ndim]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    // Checked: a crafted header (2^31 x 2^31 x 4) must not wrap to a small number and pass the length check.
    let expected = crate::limits::checked_product(what, &dims)?
        .checked_add(4 + 4 * ndim)
        .ok_or_else(|| bad("IDX sizes overflow"))?;
    if bytes.len() != expected {
        return Err(bad(&format!(
            "file has {} bytes, its header promises {expected} (truncated?)",
            bytes.len()
        )));
    }
    Ok(dims)
}

/// Reads an IDX3 image file (`n x rows x cols`, u8, 0 = background) into grey images.
pub fn read_idx_images(raw: Vec<u8>, what: &str) -> Result<Vec<Image>> {
    let bytes = maybe_gunzip(raw).map_err(|e| SynthError::bad_input(format!("{what}: {e}")))?;
    let dims = header(&bytes, 0x0000_0803, what)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if h == 0 || w == 0 || h > crate::limits::MAX_SIDE || w > crate::limits::MAX_SIDE {
        return Err(SynthError::bad_input(format!(
            "{what}: images of {w}x{h} pixels (each side must be in 1..={})",
            crate::limits::MAX_SIDE
        )));
    }
    if n > crate::limits::MAX_IMAGES {
        return Err(SynthError::bad_input(format!(
            "{what}: {n} images is above the limit of {}",
            crate::limits::MAX_IMAGES
        )));
    }
    // The header matched the byte count, so every chunk is whole.
    Ok(bytes[16..]
        .chunks_exact(h * w)
        .map(|pixels| Image::from_interleaved_u8(1, h, w, pixels, 255.0))
        .collect())
}

/// Reads an IDX1 label file.
pub fn read_idx_labels(raw: Vec<u8>, what: &str) -> Result<Vec<usize>> {
    let bytes = maybe_gunzip(raw).map_err(|e| SynthError::bad_input(format!("{what}: {e}")))?;
    header(&bytes, 0x0000_0801, what)?;
    Ok(bytes[8..].iter().map(|&l| l as usize).collect())
}
