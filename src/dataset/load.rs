//! One entry point that turns whatever the user typed after `--dataset` into a [`Dataset`].

use std::path::Path;

use super::cifar::CIFAR10_CLASSES;
use super::{Dataset, bundled, read_cifar_batch, read_csv, read_idx_images, read_idx_labels};
use crate::error::{IoContext, Result, SynthError};

/// What to do with image sizes. Mixed sizes are only accepted with an explicit policy, because silently resizing
/// changes what a classifier sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResizePolicy {
    /// Keep sizes; refuse a dataset whose images differ.
    #[default]
    Keep,
    /// Resize every image to exactly `width x height`.
    Exact { width: usize, height: usize },
}

impl std::str::FromStr for ResizePolicy {
    type Err = String;

    /// `keep`, `N` (square) or `WxH`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "keep" {
            return Ok(ResizePolicy::Keep);
        }
        let parse = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0 && n <= crate::limits::MAX_SIDE)
        };
        let (w, h) = match s.split_once('x') {
            Some((w, h)) => (parse(w), parse(h)),
            None => (parse(s), parse(s)),
        };
        match (w, h) {
            (Some(width), Some(height)) => Ok(ResizePolicy::Exact { width, height }),
            _ => Err(format!(
                "'{s}' is not a size: use keep, N or WxH with integers in 1..={}",
                crate::limits::MAX_SIDE
            )),
        }
    }
}

/// How to load a dataset.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub resize: ResizePolicy,
}

/// Loads a bundled dataset by name (`mnist`, `digits`) or a path: an ImageFolder directory (or an expanded dataset),
/// an IDX image file (its labels file is found by name), a CSV file, or CIFAR-10 binary batches (a `.bin` file or a
/// directory of them). Grey and RGB images in one ImageFolder are all made RGB.
pub fn load_dataset(spec: &str, options: &LoadOptions) -> Result<Dataset> {
    let mut dataset = match bundled(spec) {
        Some(ds) => ds?,
        None => load_path(spec)?,
    };
    if dataset.is_empty() {
        return Err(SynthError::bad_input(format!("dataset {spec} has no images")));
    }
    check_labels(&dataset)?;
    check_class_names(&dataset)?;
    unify_channels(&mut dataset);
    if let ResizePolicy::Exact { width, height } = options.resize {
        for s in &mut dataset.samples {
            s.image = s.image.resize(width, height);
        }
    }
    dataset.require_uniform_shape()?;
    Ok(dataset)
}

/// Loads the dataset a command names, with its `--resize` text (`keep`, `N` or `WxH`).
pub fn load_named(spec: &str, resize: &str) -> Result<Dataset> {
    let resize: ResizePolicy = resize
        .parse()
        .map_err(|e: String| SynthError::bad_input(format!("--resize: {e}")))?;
    load_dataset(spec, &LoadOptions { resize })
}

/// A file-name-safe short name for a dataset spec (its last path component without extensions), for default
/// output folder names.
pub fn dataset_slug(spec: &str) -> String {
    let last = Path::new(spec)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| spec.into());
    let stem = last.split('.').next().unwrap_or("data");
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if slug.is_empty() { "data".into() } else { slug }
}

fn load_path(spec: &str) -> Result<Dataset> {
    let path = Path::new(spec);
    if !path.exists() {
        let names: Vec<&str> = super::BUNDLED.iter().map(|b| b.name).collect();
        return Err(SynthError::bad_input(format!(
            "dataset '{spec}': no such file or folder, and not a bundled dataset ({})",
            names.join(", ")
        )));
    }
    if path.is_dir() {
        if has_cifar_batches(path)? {
            return load_cifar_dir(path, spec);
        }
        return super::read_image_folder(path, spec);
    }
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if file.ends_with(".csv") || file.ends_with(".csv.gz") {
        let (images, labels) = read_csv(std::fs::read(path).at(path, "reading")?, 255.0, spec)?;
        return Ok(Dataset::indexed(spec, images, labels, None));
    }
    if file.contains("idx3") {
        return load_idx(path, spec);
    }
    if file.ends_with(".bin") {
        let (images, labels) = read_cifar_batch(&std::fs::read(path).at(path, "reading")?, spec)?;
        return Ok(Dataset::indexed(spec, images, labels, cifar_classes(path.parent())));
    }
    Err(SynthError::bad_input(format!(
        "dataset '{spec}': unknown format (expected a folder, .csv[.gz], *idx3-ubyte[.gz] or CIFAR-10 .bin)"
    )))
}

fn load_idx(path: &Path, spec: &str) -> Result<Dataset> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let labels_name = name.replace("images-idx3", "labels-idx1").replace("idx3", "idx1");
    let labels_path = path.with_file_name(&labels_name);
    if !labels_path.is_file() {
        return Err(SynthError::bad_input(format!(
            "dataset '{spec}': its labels file {} is missing",
            labels_path.display()
        )));
    }
    let images = read_idx_images(std::fs::read(path).at(path, "reading")?, spec)?;
    let labels = read_idx_labels(std::fs::read(&labels_path).at(&labels_path, "reading")?, &labels_name)?;
    if images.len() != labels.len() {
        return Err(SynthError::bad_input(format!(
            "dataset '{spec}': {} images but {} labels in {labels_name}",
            images.len(),
            labels.len()
        )));
    }
    Ok(Dataset::indexed(spec, images, labels, None))
}

fn has_cifar_batches(dir: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(dir).at(dir, "listing")?.flatten().any(|e| {
        let n = e.file_name().to_string_lossy().to_string();
        n.ends_with(".bin") && (n.starts_with("data_batch") || n.starts_with("test_batch"))
    }))
}

/// All `data_batch_*.bin` then `test_batch.bin` in a directory, in name order.
fn load_cifar_dir(dir: &Path, spec: &str) -> Result<Dataset> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .at(dir, "listing")?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let (i, l) = read_cifar_batch(&std::fs::read(&f).at(&f, "reading")?, &f.display().to_string())?;
        images.extend(i);
        labels.extend(l);
    }
    Ok(Dataset::indexed(spec, images, labels, cifar_classes(Some(dir))))
}

/// Class names from `batches.meta.txt` beside the batches, or the CIFAR-10 names.
fn cifar_classes(dir: Option<&Path>) -> Option<Vec<String>> {
    let from_meta = dir
        .and_then(|d| std::fs::read_to_string(d.join("batches.meta.txt")).ok())
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        });
    Some(
        from_meta
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()),
    )
}

fn check_labels(ds: &Dataset) -> Result<()> {
    match ds.samples.iter().find(|s| s.label >= ds.classes.len()) {
        Some(s) => Err(SynthError::bad_input(format!(
            "dataset {}: image {} has label {} but there are only {} classes",
            ds.name,
            s.id,
            s.label,
            ds.classes.len()
        ))),
        None => Ok(()),
    }
}

/// Every class name becomes a folder name when a set is written, so each must be one safe path component, and no
/// two may share a folder.
fn check_class_names(ds: &Dataset) -> Result<()> {
    if ds.classes.len() > crate::limits::MAX_CLASSES {
        return Err(SynthError::bad_input(format!(
            "dataset {}: {} classes is above the limit of {}",
            ds.name,
            ds.classes.len(),
            crate::limits::MAX_CLASSES
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for name in &ds.classes {
        super::check_class_name(name).map_err(|e| SynthError::bad_input(format!("dataset {}: {e}", ds.name)))?;
        if !seen.insert(name.as_str()) {
            return Err(SynthError::bad_input(format!(
                "dataset {}: two classes are named '{name}'",
                ds.name
            )));
        }
    }
    Ok(())
}

fn unify_channels(ds: &mut Dataset) {
    if ds.samples.iter().any(|s| s.image.channels == 3) {
        for s in ds.samples.iter_mut().filter(|s| s.image.channels != 3) {
            s.image = s.image.to_rgb();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Image;

    #[test]
    fn resize_policy_parses() {
        assert_eq!("keep".parse(), Ok(ResizePolicy::Keep));
        assert_eq!("32".parse(), Ok(ResizePolicy::Exact { width: 32, height: 32 }));
        assert_eq!("64x48".parse(), Ok(ResizePolicy::Exact { width: 64, height: 48 }));
        assert!("0x3".parse::<ResizePolicy>().is_err());
        assert!("big".parse::<ResizePolicy>().is_err());
    }

    #[test]
    fn cifar_batch_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for k in 0..4u8 {
            let data: Vec<f32> = (0..3 * 32 * 32)
                .map(|i| ((i * 7 + k as usize * 13) % 256) as f32 / 255.0)
                .collect();
            let img = Image::from_planar(3, 32, 32, data).unwrap();
            bytes.extend(super::super::encode_cifar_record(&img, k * 2));
            expected.push((img, (k * 2) as usize));
        }
        std::fs::write(dir.path().join("data_batch_1.bin"), &bytes).unwrap();
        let ds = load_dataset(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(ds.classes[2], "bird");
        assert_eq!(ds.len(), 4);
        for (s, (img, label)) in ds.samples.iter().zip(&expected) {
            assert_eq!(&s.image, img);
            assert_eq!(s.label, *label);
        }
        std::fs::write(dir.path().join("data_batch_1.bin"), &bytes[..100]).unwrap();
        let err = load_dataset(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn idx_file_path_loads_like_bundled() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist5k/mnist5k-images-idx3-ubyte.gz");
        let ds = load_dataset(root.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let bundled = load_dataset("mnist", &LoadOptions::default()).unwrap();
        assert_eq!(ds.samples, bundled.samples);
    }
}
