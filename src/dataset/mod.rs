//! The currency every command trades in: a labelled image dataset, how to load one (bundled names, ImageFolder
//! trees, IDX, CSV, CIFAR-10 binaries), how to split it, and how to write an expanded dataset.

mod builtin;
mod cifar;
mod csv;
pub mod expanded;
#[cfg(test)]
mod fuzz_tests;
mod idx;
mod image;
mod imagefolder;
mod load;
pub mod manifest;
pub mod mnist_m;
pub mod split;
pub mod tensor;
pub mod writer;

pub use self::image::{Image, image_grid, quantize};
pub use builtin::{BUNDLED, BundledInfo, bundled};
pub use cifar::{encode_cifar_record, read_cifar_batch};
pub use csv::read_csv;
pub use idx::{read_idx_images, read_idx_labels};
pub use imagefolder::read_image_folder;
pub use load::{LoadOptions, ResizePolicy, dataset_slug, load_dataset, load_named};
pub use manifest::{ManifestEntry, Origin, SourceKind};
pub use split::{Split, SplitConfig, SplitName};
pub use writer::{ExpandedWriter, OutDir, OutFile, Provenance, id_file_stem};

use crate::error::{Result, SynthError};

/// One labelled image. `id` is stable for a given dataset (an index like `00042`, or a path relative to an
/// ImageFolder root), so splits and manifests can name images.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub id: String,
    pub image: Image,
    pub label: usize,
}

/// A labelled image dataset: samples plus the class names their labels index.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// How the user named it (`mnist`, or the path they gave); recorded in origin.json.
    pub name: String,
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Images per class, indexed like `classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for s in &self.samples {
            counts[s.label] += 1;
        }
        counts
    }

    /// The common `(channels, height, width)`, or `None` when images differ.
    pub fn uniform_shape(&self) -> Option<(usize, usize, usize)> {
        let first = self.samples.first()?.image.shape();
        self.samples.iter().all(|s| s.image.shape() == first).then_some(first)
    }

    /// The common shape, or a bad-input error that names two differing images and the way out.
    pub fn require_uniform_shape(&self) -> Result<(usize, usize, usize)> {
        let first = self
            .samples
            .first()
            .ok_or_else(|| SynthError::bad_input(format!("dataset {} has no images", self.name)))?;
        match self.samples.iter().find(|s| s.image.shape() != first.image.shape()) {
            None => Ok(first.image.shape()),
            Some(other) => Err(SynthError::bad_input(format!(
                "dataset {} has mixed image sizes ({} is {}, {} is {}); pass --resize WxH",
                self.name,
                first.id,
                shape_text(first.image.shape()),
                other.id,
                shape_text(other.image.shape())
            ))),
        }
    }

    /// A dataset of images and labels stored by position (IDX, CSV, CIFAR, the bundled sets): ids are the
    /// zero-padded positions, and classes are `classes` or, without them, the numbers up to the largest label.
    pub fn indexed(name: &str, images: Vec<Image>, labels: Vec<usize>, classes: Option<Vec<String>>) -> Dataset {
        let n_classes = labels.iter().max().map_or(0, |m| m + 1);
        let classes = classes.unwrap_or_else(|| numbered_classes(n_classes));
        let samples = images
            .into_iter()
            .zip(labels)
            .enumerate()
            .map(|(i, (image, label))| Sample {
                id: format!("{i:05}"),
                image,
                label,
            })
            .collect();
        Dataset {
            name: name.to_string(),
            classes,
            samples,
        }
    }

    /// A dataset with only the given sample indices, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            classes: self.classes.clone(),
            samples: indices.iter().map(|&i| self.samples[i].clone()).collect(),
        }
    }
}

/// `28x28x1`-style text for a `(channels, height, width)` shape.
pub fn shape_text((c, h, w): (usize, usize, usize)) -> String {
    format!("{w}x{h}x{c}")
}

/// Decompresses gzip data when it starts with the gzip magic, so every loader takes plain or `.gz` files.
pub fn maybe_gunzip(bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Refuses a class name that is not one safe path component: a writer joins it to its output folder, so `../x`,
/// `/abs`, `a\\b`, `..`, `.`, an empty name or a NUL would write outside `--out` (or fail half-way). Names are
/// refused rather than rewritten so that a class keeps the one name the user knows it by.
pub fn check_class_name(name: &str) -> Result<()> {
    let unsafe_char = name.chars().find(|&c| c == '/' || c == '\\' || c.is_control());
    let why = if name.is_empty() {
        Some("is empty".to_string())
    } else if name == "." || name == ".." {
        Some("is a relative folder reference".to_string())
    } else if let Some(c) = unsafe_char {
        Some(format!("contains {c:?}"))
    } else if name.len() > 200 {
        Some("is longer than 200 bytes".to_string())
    } else if name.starts_with('.') {
        Some("starts with '.' (a hidden folder, skipped when the set is read back)".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(SynthError::bad_input(format!(
            "class name {name:?} {why}: a class name must be one plain folder name"
        ))),
        None => Ok(()),
    }
}

/// Class names `0`..`n-1`, for formats that only store label numbers.
pub fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}
