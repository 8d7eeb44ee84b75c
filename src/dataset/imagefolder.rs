//! ImageFolder trees (`root/<class>/<file>.png|jpg`), the layout torchvision and Keras read, and the layout synth
//! writes. A tree with a `manifest.jsonl` (an expanded dataset) is read through its manifest, so labels and class
//! indices come from the record rather than from folder names.

use std::path::{Path, PathBuf};

use super::manifest::read_origin;
use super::{Dataset, Image, Sample};
use crate::error::{IoContext, Result, SynthError};

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .at(dir, "listing")?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .at(dir, "listing")?;
    entries.sort();
    Ok(entries)
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Reads an ImageFolder tree, or an expanded dataset through its manifest.
pub fn read_image_folder(root: &Path, name: &str) -> Result<Dataset> {
    if root.join(super::manifest::MANIFEST_FILE).is_file() {
        return read_expanded(root, name);
    }
    let class_dirs: Vec<PathBuf> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir() && !hidden(p))
        .collect();
    if class_dirs.len() > crate::limits::MAX_CLASSES {
        return Err(SynthError::bad_input(format!(
            "{}: {} class folders is above the limit of {}",
            root.display(),
            class_dirs.len(),
            crate::limits::MAX_CLASSES
        )));
    }
    if class_dirs.is_empty() {
        return Err(SynthError::bad_input(format!(
            "{}: no class folders (expected an ImageFolder tree root/<class>/<image>.png)",
            root.display()
        )));
    }
    let mut classes = Vec::new();
    let mut samples = Vec::new();
    for (label, dir) in class_dirs.iter().enumerate() {
        let class = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let files: Vec<PathBuf> = sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(SynthError::bad_input(format!(
                "{}: class folder '{class}' has no PNG or JPEG images",
                root.display()
            )));
        }
        for file in files {
            let id = format!(
                "{class}/{}",
                file.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            samples.push(Sample {
                id,
                image: Image::load(&file)?,
                label,
            });
        }
        classes.push(class);
    }
    Ok(Dataset {
        name: name.to_string(),
        classes,
        samples,
    })
}

/// Reads an expanded dataset: every manifest line names an image file and its label. Class names come from
/// origin.json (a corrupt one is refused, not skipped: it would silently rename classes) or, without one, from the
/// lines themselves. Every image path must resolve inside `root`, symlinks included.
fn read_expanded(root: &Path, name: &str) -> Result<Dataset> {
    let entries = super::manifest::read_manifest_lines(root)?;
    let mut classes: Vec<String> = if root.join(super::manifest::ORIGIN_FILE).exists() {
        read_origin(root)?.classes
    } else {
        Vec::new()
    };
    let real_root = root.canonicalize().at(root, "resolving")?;
    let mut samples = Vec::with_capacity(entries.len());
    for (line, entry) in entries {
        if entry.label >= classes.len() {
            classes.resize(entry.label + 1, String::new());
        }
        if classes[entry.label].is_empty() {
            classes[entry.label] = entry.class.clone();
        }
        let file = contained(&real_root, &entry.path).ok_or_else(|| {
            SynthError::bad_input(format!(
                "{} line {line}: path {:?} resolves outside the dataset root",
                root.join(super::manifest::MANIFEST_FILE).display(),
                entry.path
            ))
        })?;
        let image = Image::load(&file)?;
        samples.push(Sample {
            id: entry.path,
            image,
            label: entry.label,
        });
    }
    if samples.is_empty() {
        return Err(SynthError::bad_input(format!(
            "{}: manifest.jsonl lists no images",
            root.display()
        )));
    }
    for (label, class) in classes.iter_mut().enumerate() {
        if class.is_empty() {
            *class = label.to_string();
        }
    }
    Ok(Dataset {
        name: name.to_string(),
        classes,
        samples,
    })
}

/// `root/rel` with symlinks resolved, when it exists and stays under `real_root` (itself canonical); `None` when it
/// leaves the root. A missing file is returned as joined, so the loader reports it as missing.
fn contained(real_root: &Path, rel: &str) -> Option<PathBuf> {
    let joined = real_root.join(rel);
    match joined.canonicalize() {
        Ok(real) => real.starts_with(real_root).then_some(real),
        Err(_) => {
            // Missing: check the deepest existing ancestor, so a symlinked folder cannot lead out either.
            let existing = joined.ancestors().find(|a| a.exists())?.canonicalize().ok()?;
            existing.starts_with(real_root).then_some(joined)
        }
    }
}
