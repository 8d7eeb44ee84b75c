//! Writes an expanded dataset so that an interrupted or failed run leaves nothing behind: everything goes to a
//! hidden staging folder beside the target, which is renamed into place only when the run succeeds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::manifest::{MANIFEST_FILE, ManifestEntry, ORIGIN_FILE, Origin, SourceKind};
use super::{Image, Split};
use crate::config::pretty_json;
use crate::error::{IoContext, Result, SynthError};

/// File name of an expanded dataset's preview grid.
pub const PREVIEW_FILE: &str = "preview.png";

/// A sample id as part of a file name: ids of nested datasets carry `/` and extensions carry `.`, neither of which
/// may appear in the stem of a derived image's file.
pub fn id_file_stem(id: &str) -> String {
    id.replace(['/', '.'], "_")
}

/// Refuses an output folder that exists and is not empty, unless `force` (then it is replaced at the end of a
/// successful run, never before).
pub fn check_out_dir(root: &Path, force: bool) -> Result<()> {
    if root.file_name().is_none() {
        return Err(SynthError::bad_input(format!(
            "--out {} does not name a folder",
            root.display()
        )));
    }
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

/// Test hook: `SYNTH_FAULT=<name>` aborts the process at the named point, so tests can prove that a run killed
/// there is recovered by the next one.
fn fault_point(name: &str) {
    if std::env::var("SYNTH_FAULT").is_ok_and(|v| v == name) {
        eprintln!("SYNTH_FAULT={name}: aborting here");
        std::process::abort();
    }
}

/// Commits a folder staged beside `root` to `root`, replacing what was there. The old content is moved aside to
/// `.<name>.old` first, so `root` is never half-written; a death between the two renames is repaired by
/// [`recover_replacement`].
pub fn commit_dir(staging: &Path, root: &Path) -> Result<()> {
    let old = sibling(root, "old");
    if root.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).at(&old, "removing")?;
        }
        std::fs::rename(root, &old).at(root, "moving aside")?;
        fault_point("between-renames");
    }
    std::fs::rename(staging, root).at(root, "creating")?;
    if old.exists() {
        std::fs::remove_dir_all(&old).at(&old, "removing")?;
    }
    Ok(())
}

/// Repairs a replacement of `root` that died between its two renames: `root` is missing and `.<name>.old` holds
/// the previous content, which is put back. An `.old` left beside a present `root` (death after the second rename)
/// is removed. Returns whether anything was repaired.
pub fn recover_replacement(root: &Path) -> Result<bool> {
    let old = sibling(root, "old");
    if !old.is_dir() {
        return Ok(false);
    }
    if root.exists() {
        std::fs::remove_dir_all(&old).at(&old, "removing")?;
        return Ok(false);
    }
    std::fs::rename(&old, root).at(root, "restoring")?;
    eprintln!(
        "synth: restored {} from {} (an earlier replacement of it was interrupted)",
        root.display(),
        old.display()
    );
    Ok(true)
}

/// Creates a fresh hidden staging folder `.<name>.partial` beside `root`, for replacing a folder inside a run the
/// caller already owns (a checkpoint inside a locked run folder). Whole outputs use [`OutDir::claim`].
pub fn stage_dir(root: &Path) -> Result<PathBuf> {
    recover_replacement(root)?;
    let staging = sibling(root, "partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).at(&staging, "removing")?;
    }
    std::fs::create_dir_all(&staging).at(&staging, "creating")?;
    Ok(staging)
}

/// A lock on an output folder: the file `.<name>.lock` beside it holds the owner's pid. Created with a hard link
/// from a complete temporary file, so another run never reads a half-written pid. A lock whose process is gone is
/// stale and is removed (with its staging folder) by the next run, which says so. Released on drop.
pub struct OutLock {
    path: PathBuf,
}

impl OutLock {
    /// Locks `root` (which need not exist; its parent must) for this process, or refuses with the holder's pid.
    pub fn acquire(root: &Path) -> Result<OutLock> {
        let path = sibling(root, "lock");
        let pid = std::process::id();
        let tmp = sibling(root, &format!("lock.{pid}"));
        std::fs::write(&tmp, pid.to_string()).at(&tmp, "creating")?;
        let result = Self::link(root, &path, &tmp);
        let _ = std::fs::remove_file(&tmp);
        result?;
        crate::interrupt::remove_on_interrupt(&path);
        Ok(OutLock { path })
    }

    fn link(root: &Path, path: &Path, tmp: &Path) -> Result<()> {
        for _ in 0..2 {
            match std::fs::hard_link(tmp, path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(SynthError::io(path, "creating", e)),
            }
            let holder = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok());
            if let Some(pid) = holder.filter(|&p| process_alive(p)) {
                return Err(SynthError::bad_input(format!(
                    "--out {} is in use by pid {pid} (lock file {}); wait for that run or stop it",
                    root.display(),
                    path.display()
                )));
            }
            std::fs::remove_file(path).at(path, "removing")?;
            let staging = sibling(root, "partial");
            if staging.exists() {
                std::fs::remove_dir_all(&staging).at(&staging, "removing")?;
            }
            eprintln!(
                "synth: removed the stale lock {} and staging folder of a run that no longer exists{}",
                path.display(),
                holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
            );
        }
        Err(SynthError::bad_input(format!(
            "--out {}: another run keeps taking its lock {}",
            root.display(),
            path.display()
        )))
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        crate::interrupt::forget(&self.path);
    }
}

/// Whether a process with this pid is running (not a zombie). Where /proc is missing every other process counts
/// as gone, so a stale lock never blocks a run forever.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    match stat {
        Ok(text) => text
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// An output folder claimed by one run: locked against a second run, any interrupted replacement repaired, stale
/// staging of dead runs removed, and a fresh staging folder created, all before the run's work starts, so an
/// unwritable or busy `--out` is found in the first second rather than after an hour of training. Everything is
/// written into [`OutDir::path`] and appears at the root with one rename in [`OutDir::commit`]; dropped
/// uncommitted (an error, Ctrl-C) it leaves nothing.
pub struct OutDir {
    root: PathBuf,
    staging: PathBuf,
    committed: bool,
    _lock: OutLock,
}

impl OutDir {
    /// Claims `root`; a non-empty one needs `force` (and is replaced only by [`OutDir::commit`]).
    pub fn claim(root: &Path, force: bool) -> Result<OutDir> {
        if root.file_name().is_none() || root.is_file() {
            check_out_dir(root, force)?;
        }
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).at(parent, "creating")?;
        }
        let lock = OutLock::acquire(root)?;
        recover_replacement(root)?;
        check_out_dir(root, force)?;
        let staging = sibling(root, "partial");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).at(&staging, "removing")?;
            eprintln!("synth: removed the stale staging folder {}", staging.display());
        }
        std::fs::create_dir(&staging).at(&staging, "creating")?;
        crate::interrupt::remove_on_interrupt(&staging);
        Ok(OutDir {
            root: root.to_path_buf(),
            staging,
            committed: false,
            _lock: lock,
        })
    }

    /// The staging folder everything is written into.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where the output appears once committed.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Moves the staged output into place (replacing an old one) and releases the lock.
    pub fn commit(mut self) -> Result<PathBuf> {
        commit_dir(&self.staging, &self.root)?;
        self.committed = true;
        crate::interrupt::forget(&self.staging);
        Ok(self.root.clone())
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            crate::interrupt::forget(&self.staging);
        }
    }
}

/// One output file (`synth style`'s single-image mode), claimed like [`OutDir`]: before the work, a non-empty
/// `<file>.partial` beside it proves the folder is writable; [`OutFile::commit`] writes and renames it into place,
/// and dropped uncommitted (an error, Ctrl-C) it leaves nothing.
pub struct OutFile {
    path: PathBuf,
    partial: PathBuf,
    committed: bool,
}

impl OutFile {
    /// Claims `path`: a folder there is refused (`what` names the mode that writes one), an existing file needs
    /// `force`.
    pub fn claim(path: &Path, force: bool, what: &str) -> Result<OutFile> {
        if path.is_dir() {
            return Err(SynthError::bad_input(format!(
                "--out {} is a folder; {what}",
                path.display()
            )));
        }
        if path.exists() && !force {
            return Err(SynthError::bad_input(format!(
                "--out {} exists; pass --force to replace it",
                path.display()
            )));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).at(parent, "creating")?;
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, b"").at(&partial, "writing")?;
        crate::interrupt::remove_on_interrupt(&partial);
        Ok(OutFile {
            path: path.to_path_buf(),
            partial,
            committed: false,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` and renames them into place; returns the final path.
    pub fn commit(mut self, bytes: &[u8]) -> Result<PathBuf> {
        std::fs::write(&self.partial, bytes).at(&self.partial, "writing")?;
        std::fs::rename(&self.partial, &self.path).at(&self.path, "writing")?;
        self.committed = true;
        crate::interrupt::forget(&self.partial);
        Ok(self.path.clone())
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
            crate::interrupt::forget(&self.partial);
        }
    }
}

/// File name of the Hugging Face `datasets` imagefolder metadata beside the manifest.
pub const METADATA_FILE: &str = "metadata.jsonl";

/// One metadata.jsonl row: what `datasets.load_dataset("imagefolder", data_dir=...)` reads as columns next to each
/// image (`file_name` relative to the root is how it finds the image). The seed is a string, since seeds use all 64
/// bits and Arrow's JSON reader takes integers as signed 64-bit; `params` is the manifest's JSON as a string, so every
/// row has one type whatever its ops.
fn metadata_row(entry: &ManifestEntry) -> serde_json::Value {
    serde_json::json!({
        "file_name": entry.path,
        "label": entry.label,
        "class": entry.class,
        "source": entry.source,
        "parent": entry.parent,
        "seed": entry.seed.to_string(),
        "params": entry.params.to_string(),
    })
}

/// What a finished expanded dataset must carry besides its images: where it comes from (origin.json), the split it
/// derives from (split.json), the effective config (config.toml) and a preview grid. [`ExpandedWriter::finish`]
/// takes it, so a set cannot appear without its provenance.
pub struct Provenance<'a> {
    pub origin: &'a Origin,
    pub split: &'a Split,
    /// The effective configuration as TOML text.
    pub config_toml: Option<String>,
    /// A grid of example images for preview.png.
    pub preview: Option<Image>,
}

/// Writer of one expanded dataset (`root/<class>/<file>.png` + manifest.jsonl + side files).
pub struct ExpandedWriter {
    out: OutDir,
    manifest: BufWriter<File>,
    metadata: BufWriter<File>,
    classes: Vec<String>,
    source: SourceKind,
    count: usize,
}

impl ExpandedWriter {
    /// Claims `root` and starts writing an expanded dataset of `source` images with these classes.
    pub fn create(root: &Path, force: bool, classes: &[String], source: SourceKind) -> Result<Self> {
        Self::new(OutDir::claim(root, force)?, classes, source)
    }

    /// Starts writing into an output folder claimed earlier (before the run's work).
    pub fn new(out: OutDir, classes: &[String], source: SourceKind) -> Result<Self> {
        for class in classes {
            super::check_class_name(class)?;
            let dir = out.path().join(class);
            std::fs::create_dir_all(&dir).at(&dir, "creating")?;
        }
        let manifest_path = out.path().join(MANIFEST_FILE);
        let manifest = BufWriter::new(File::create(&manifest_path).at(&manifest_path, "creating")?);
        let metadata_path = out.path().join(METADATA_FILE);
        let metadata = BufWriter::new(File::create(&metadata_path).at(&metadata_path, "creating")?);
        Ok(ExpandedWriter {
            out,
            manifest,
            metadata,
            classes: classes.to_vec(),
            source,
            count: 0,
        })
    }

    /// Writes an image made from a real `parent` sample, with the parent's label and id (the manifest's `parent`,
    /// which the leakage guard checks against the train split).
    pub fn add_derived(
        &mut self,
        image: &Image,
        parent: &super::Sample,
        file_stem: &str,
        params: serde_json::Value,
        seed: u64,
    ) -> Result<()> {
        self.add(image, parent.label, file_stem, Some(parent.id.clone()), params, seed)
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
        if file_stem.is_empty() || file_stem.contains(['/', '\\']) || file_stem.starts_with('.') {
            return Err(SynthError::internal(format!("{file_stem:?} is not a file stem")));
        }
        let rel = format!("{class}/{file_stem}.png");
        let path = self.out.path().join(&rel);
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
        writeln!(self.manifest, "{line}").at(&self.out.path().join(MANIFEST_FILE), "writing")?;
        let meta = serde_json::to_string(&metadata_row(&entry)).map_err(|e| SynthError::internal(e.to_string()))?;
        writeln!(self.metadata, "{meta}").at(&self.out.path().join(METADATA_FILE), "writing")?;
        self.count += 1;
        Ok(())
    }

    /// Writes an extra side file (e.g. quality.json) at the dataset root.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.out.path().join(name);
        std::fs::write(&path, bytes).at(&path, "writing")
    }

    /// Images written so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Where the dataset will be once committed.
    pub fn root(&self) -> &Path {
        self.out.root()
    }

    /// The staging folder, for reading back what was written before the set is finished.
    pub fn staging(&self) -> &Path {
        self.out.path()
    }

    /// A preview grid of the first `n` images written, read back from the staging folder (for writers that hand
    /// their images straight to the writer, like style transfer's batches).
    pub fn preview_from_disk(&mut self, n: usize) -> Result<Option<Image>> {
        let manifest_path = self.out.path().join(MANIFEST_FILE);
        self.manifest.flush().at(&manifest_path, "writing")?;
        let images = super::manifest::read_manifest(self.out.path())?
            .into_iter()
            .take(n)
            .map(|e| Image::load(&self.out.path().join(&e.path)))
            .collect::<Result<Vec<_>>>()?;
        Ok(super::image_grid(&images, 8))
    }

    /// Writes the provenance beside the images, flushes, and moves the whole set into place with one rename.
    pub fn finish(mut self, provenance: Provenance) -> Result<PathBuf> {
        let manifest_path = self.out.path().join(MANIFEST_FILE);
        self.manifest.flush().at(&manifest_path, "writing")?;
        let metadata_path = self.out.path().join(METADATA_FILE);
        self.metadata.flush().at(&metadata_path, "writing")?;
        self.write_file(ORIGIN_FILE, pretty_json(provenance.origin)?.as_bytes())?;
        self.write_file(super::split::SPLIT_FILE, pretty_json(provenance.split)?.as_bytes())?;
        if let Some(config) = &provenance.config_toml {
            self.write_file("config.toml", config.as_bytes())?;
        }
        if let Some(grid) = &provenance.preview {
            self.write_file(PREVIEW_FILE, &grid.to_png()?)?;
        }
        self.out.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Dataset, LoadOptions, Sample, SplitConfig, SplitName, load_dataset};

    fn classes() -> Vec<String> {
        vec!["cat".into(), "dog".into()]
    }

    /// A real origin and split for a two-class toy dataset, so finish() has what it demands.
    fn provenance_parts() -> (Origin, Split) {
        let dataset = Dataset {
            name: "toy".into(),
            classes: classes(),
            samples: (0..8)
                .map(|i| Sample {
                    id: format!("{i:05}"),
                    image: Image::zeros(1, 2, 2),
                    label: i % 2,
                })
                .collect(),
        };
        let split = Split::stratified(&dataset, &SplitConfig::default()).unwrap();
        let origin = Origin::describe(
            &dataset,
            &split,
            SplitName::Train,
            SourceKind::Augment,
            serde_json::Value::Null,
        );
        (origin, split)
    }

    fn finish(w: ExpandedWriter) -> PathBuf {
        let (origin, split) = provenance_parts();
        w.finish(Provenance {
            origin: &origin,
            split: &split,
            config_toml: Some("seed = 0\n".into()),
            preview: Some(Image::zeros(1, 4, 4)),
        })
        .unwrap()
    }

    #[test]
    fn image_folder_round_trip_is_lossless_and_provenance_lands_with_the_images() {
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
        finish(w);
        for side in [ORIGIN_FILE, "split.json", "config.toml", PREVIEW_FILE, METADATA_FILE] {
            assert!(root.join(side).is_file(), "{side} is written with the set");
        }
        // metadata.jsonl: one row per image, in manifest order, with the columns the HF imagefolder loader reads.
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(root.join(METADATA_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let manifest = super::super::manifest::read_manifest(&root).unwrap();
        assert_eq!(rows.len(), manifest.len());
        for (row, entry) in rows.iter().zip(&manifest) {
            assert_eq!(row["file_name"], entry.path.as_str());
            assert!(root.join(row["file_name"].as_str().unwrap()).is_file());
            assert_eq!(row["label"], entry.label);
            assert_eq!(row["class"], entry.class.as_str());
            assert_eq!(row["source"], "augment");
            assert_eq!(row["seed"], entry.seed.to_string().as_str());
            let params: serde_json::Value = serde_json::from_str(row["params"].as_str().unwrap()).unwrap();
            assert_eq!(params, entry.params);
            let keys: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 7, "{keys:?}");
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("set")],
            "no lock or staging left"
        );
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
        finish(w);
        assert!(!root.join("keep.txt").exists());
    }

    #[test]
    fn unsafe_class_names_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        for bad in ["../escape", "/abs", "a\\b", "..", "", ".hidden", "nul\0"] {
            let err = ExpandedWriter::create(&root, false, &[bad.to_string()], SourceKind::Augment)
                .err()
                .unwrap();
            assert!(err.is_bad_input(), "{bad:?}: {err}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
    }

    #[test]
    fn a_live_lock_refuses_a_second_run_and_a_dead_ones_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        let first = OutDir::claim(&root, false).unwrap();
        let err = OutDir::claim(&root, false).err().unwrap();
        assert!(err.is_bad_input() && err.to_string().contains("in use by pid"), "{err}");
        drop(first);
        // A lock and staging folder left by a process that no longer exists (pid beyond the kernel's maximum).
        std::fs::write(sibling(&root, "lock"), "4294967295").unwrap();
        std::fs::create_dir_all(sibling(&root, "partial").join("0")).unwrap();
        let out = OutDir::claim(&root, false).unwrap();
        assert!(out.path().is_dir() && std::fs::read_dir(out.path()).unwrap().count() == 0);
        out.commit().unwrap();
        assert!(root.is_dir() && !sibling(&root, "lock").exists());
    }

    #[test]
    fn a_replacement_interrupted_between_its_renames_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("old.txt"), "previous run").unwrap();
        // What a death between the two renames of commit_dir leaves: root moved aside, nothing in its place.
        std::fs::rename(&root, sibling(&root, "old")).unwrap();
        let out = OutDir::claim(&root, true).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("old.txt")).unwrap(), "previous run");
        drop(out);
        assert!(
            root.join("old.txt").exists(),
            "an uncommitted run keeps the restored folder"
        );
    }
}
