//! Writes an expanded dataset so that an interrupted or failed run leaves nothing behind: everything goes to a
//! hidden staging folder beside the target, which is renamed into place only when the run succeeds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Image;
use super::manifest::{MANIFEST_FILE, ManifestEntry, SourceKind};
use crate::error::{IoContext, Result, SynthError};

/// A sample id as part of a file name: ids of nested datasets carry `/` and extensions carry `.`, neither of which
/// may appear in the stem of a derived image's file.
pub fn id_file_stem(id: &str) -> String {
    id.replace(['/', '.'], "_")
}

/// Refuses an output folder that exists and is not empty, unless `force` (then it is replaced at the end of a
/// successful run, never before). Commands call this before long work so a bad `--out` fails fast.
pub fn check_out_dir(root: &Path, force: bool) -> Result<()> {
    if root.is_file() {
        return Err(SynthError::bad_input(format!(
            "--out {} is a file, not a folder",
            root.display()
        )));
    }
    if root.is_dir() && !force && std::fs::read_dir(root).at(root, "listing")?.next().is_some() {
        return Err(SynthError::bad_input(format!(
            "--out {} exists and is not empty; pass --force to replace it",
            root.display()
        )));
    }
    if root.file_name().is_none() {
        return Err(SynthError::bad_input(format!(
            "--out {} does not name a folder",
            root.display()
        )));
    }
    Ok(())
}

/// A sibling path `.<name>.<suffix>` of `root`.
fn sibling(root: &Path, suffix: &str) -> PathBuf {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    root.with_file_name(format!(".{name}.{suffix}"))
}

/// Commits a folder staged by [`stage_dir`] to `root`, replacing what was there (the old content is moved aside first,
/// so `root` is never half-written).
pub fn commit_dir(staging: &Path, root: &Path) -> Result<()> {
    let old = sibling(root, "old");
    if root.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).at(&old, "removing")?;
        }
        std::fs::rename(root, &old).at(root, "moving aside")?;
    }
    std::fs::rename(staging, root).at(root, "creating")?;
    if old.exists() {
        std::fs::remove_dir_all(&old).at(&old, "removing")?;
    }
    Ok(())
}

/// Creates a fresh hidden staging folder beside `root` (removing one a killed run left).
pub fn stage_dir(root: &Path, force: bool) -> Result<PathBuf> {
    check_out_dir(root, force)?;
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).at(parent, "creating")?;
    }
    let staging = sibling(root, "partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).at(&staging, "removing")?;
    }
    std::fs::create_dir_all(&staging).at(&staging, "creating")?;
    Ok(staging)
}

/// Writer of one expanded dataset (`root/<class>/<file>.png` + manifest.jsonl + side files).
pub struct ExpandedWriter {
    root: PathBuf,
    staging: PathBuf,
    manifest: BufWriter<File>,
    classes: Vec<String>,
    source: SourceKind,
    count: usize,
    committed: bool,
}

impl ExpandedWriter {
    /// Starts writing an expanded dataset of `source` images with these classes to `root`.
    pub fn create(root: &Path, force: bool, classes: &[String], source: SourceKind) -> Result<Self> {
        let staging = stage_dir(root, force)?;
        for class in classes {
            let dir = staging.join(class);
            std::fs::create_dir_all(&dir).at(&dir, "creating")?;
        }
        let manifest_path = staging.join(MANIFEST_FILE);
        let manifest = BufWriter::new(File::create(&manifest_path).at(&manifest_path, "creating")?);
        Ok(ExpandedWriter {
            root: root.to_path_buf(),
            staging,
            manifest,
            classes: classes.to_vec(),
            source,
            count: 0,
            committed: false,
        })
    }

    /// Writes one image as `<class>/<file_stem>.png` and its manifest line (image first, so a line never names a
    /// missing file).
    pub fn add(
        &mut self,
        image: &Image,
        label: usize,
        file_stem: &str,
        parent: Option<String>,
        params: serde_json::Value,
        seed: u64,
    ) -> Result<()> {
        let class = self
            .classes
            .get(label)
            .ok_or_else(|| SynthError::internal(format!("label {label} has no class name")))?
            .clone();
        let rel = format!("{class}/{file_stem}.png");
        let path = self.staging.join(&rel);
        std::fs::write(&path, image.to_png()?).at(&path, "writing")?;
        let entry = ManifestEntry {
            path: rel,
            label,
            class,
            source: self.source,
            parent,
            params: super::manifest::shortest_floats(params),
            seed,
        };
        let line = serde_json::to_string(&entry).map_err(|e| SynthError::internal(e.to_string()))?;
        writeln!(self.manifest, "{line}").at(&self.staging.join(MANIFEST_FILE), "writing")?;
        self.count += 1;
        Ok(())
    }

    /// Writes a side file (origin.json, split.json, config.toml, preview.png) at the dataset root.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staging.join(name);
        std::fs::write(&path, bytes).at(&path, "writing")
    }

    /// Images written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Where the dataset will be once committed.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Flushes and moves the dataset into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        let manifest_path = self.staging.join(MANIFEST_FILE);
        self.manifest.flush().at(&manifest_path, "writing")?;
        commit_dir(&self.staging, &self.root)?;
        self.committed = true;
        Ok(self.root.clone())
    }
}

impl Drop for ExpandedWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{LoadOptions, load_dataset};

    fn classes() -> Vec<String> {
        vec!["cat".into(), "dog".into()]
    }

    #[test]
    fn image_folder_round_trip_is_lossless() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        let mut w = ExpandedWriter::create(&root, false, &classes(), SourceKind::Augment).unwrap();
        let mut images = Vec::new();
        for k in 0..6usize {
            let pixels: Vec<u8> = (0..3 * 9 * 5).map(|i| ((i * 31 + k * 7) % 256) as u8).collect();
            let img = Image::from_interleaved_u8(3, 9, 5, &pixels, 255.0);
            w.add(
                &img,
                k % 2,
                &format!("img{k}"),
                Some(format!("{k:05}")),
                serde_json::json!({"k": k}),
                k as u64,
            )
            .unwrap();
            images.push((img, k % 2));
        }
        assert!(!root.exists(), "nothing appears before finish");
        w.finish().unwrap();
        let ds = load_dataset(root.to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(ds.classes, classes());
        for (s, (img, label)) in ds.samples.iter().zip(&images) {
            assert_eq!(&s.image, img);
            assert_eq!(s.label, *label);
        }
        // The same tree read as a plain ImageFolder (without the manifest) gives the same images.
        std::fs::remove_file(root.join(MANIFEST_FILE)).unwrap();
        let plain = load_dataset(root.to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(plain.len(), 6);
        assert_eq!(plain.samples[0].image, images[0].0);
    }

    #[test]
    fn dropped_writer_leaves_nothing_and_non_empty_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        {
            let mut w = ExpandedWriter::create(&root, false, &classes(), SourceKind::Augment).unwrap();
            w.add(&Image::zeros(1, 2, 2), 0, "a", None, serde_json::Value::Null, 0)
                .unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("keep.txt"), "x").unwrap();
        let err = ExpandedWriter::create(&root, false, &classes(), SourceKind::Augment)
            .err()
            .unwrap();
        assert!(err.is_bad_input() && err.to_string().contains("--force"));
        let w = ExpandedWriter::create(&root, true, &classes(), SourceKind::Augment).unwrap();
        assert!(root.join("keep.txt").exists(), "--force replaces only on success");
        w.finish().unwrap();
        assert!(!root.join("keep.txt").exists());
    }
}
