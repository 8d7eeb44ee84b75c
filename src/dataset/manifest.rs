//! The record that travels with every expanded dataset: one manifest line per image (what made it, from what, with
//! which seed) and one origin.json (which real data and split it derives from), so a set can be audited, reproduced
//! and refused when it leaks test images.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, SynthError};

/// File name of the per-image record.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// File name of the provenance record.
pub const ORIGIN_FILE: &str = "origin.json";

/// Which generator made an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Real,
    Gan,
    Style,
    Adversarial,
    Augment,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One line of manifest.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the dataset root, `<class>/<file>.png`.
    pub path: String,
    /// Class index into origin.json's `classes`.
    pub label: usize,
    /// Class name.
    pub class: String,
    pub source: SourceKind,
    /// Id of the real image this one was made from, in the dataset origin.json names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The exact parameters that made the image (ops and magnitudes, eps and steps, latent seed...).
    pub params: serde_json::Value,
    /// The seed of the random stream that made this image.
    pub seed: u64,
}

/// origin.json: where an expanded dataset comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// The real dataset, as named on the command line (`mnist` or a path).
    pub dataset: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Which split the parents came from (`train` for every generator unless the user asked otherwise).
    pub source_split: super::SplitName,
    /// The split file saved beside the set, relative to the set's root.
    pub split_file: String,
    /// Seed of that split.
    pub split_seed: u64,
    pub source: SourceKind,
    /// The command line that made the set.
    pub command: Vec<String>,
    /// The effective configuration of that run.
    pub config: serde_json::Value,
    pub synth_version: String,
}

/// `params` with every number that is exactly an f32 written as that f32's shortest decimal: parameters drawn or
/// parsed as f32 (an op's `noise:0.05`, a rotation angle) reach JSON widened to f64 and would read
/// `0.05000000074505806`; this writes `0.05`, which parses back to the same f32, so reproducing an image from its
/// manifest line gives the same bytes. Integers and f64 values that are not f32s are left as they are.
pub fn shortest_floats(params: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match params {
        Value::Number(n) if n.is_f64() => {
            let shorter = n
                .as_f64()
                .filter(|&v| v.is_finite() && (v as f32) as f64 == v)
                .and_then(|v| (v as f32).to_string().parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64);
            Value::Number(shorter.unwrap_or(n))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(shortest_floats).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, shortest_floats(v))).collect()),
        other => other,
    }
}

/// Reads every manifest line of an expanded dataset.
pub fn read_manifest(root: &Path) -> Result<Vec<ManifestEntry>> {
    Ok(read_manifest_lines(root)?.into_iter().map(|(_, e)| e).collect())
}

/// Reads every manifest line with its 1-based line number, refusing a line whose path could leave the dataset
/// root (absolute, `..`, a drive prefix) or whose label is beyond [`crate::limits::MAX_CLASSES`]: a manifest is
/// untrusted input, and its paths are joined to the root.
pub fn read_manifest_lines(root: &Path) -> Result<Vec<(usize, ManifestEntry)>> {
    let path = root.join(MANIFEST_FILE);
    let file = std::fs::File::open(&path).at(&path, "reading")?;
    let mut entries = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.at(&path, "reading")?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| SynthError::bad_input(format!("{} line {}: {m}", path.display(), i + 1));
        let entry: ManifestEntry = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if !is_plain_relative(&entry.path) {
            return Err(bad(format!("path {:?} leaves the dataset root", entry.path)));
        }
        if entry.label >= crate::limits::MAX_CLASSES {
            return Err(bad(format!(
                "label {} is above the limit of {} classes",
                entry.label,
                crate::limits::MAX_CLASSES
            )));
        }
        entries.push((i + 1, entry));
    }
    Ok(entries)
}

/// Whether `path` is a relative path of plain components only (no root, prefix, `.` or `..`).
pub fn is_plain_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && !path.contains('\\') && p.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Reads origin.json of an expanded dataset.
pub fn read_origin(root: &Path) -> Result<Origin> {
    let path = root.join(ORIGIN_FILE);
    let text = std::fs::read_to_string(&path).at(&path, "reading")?;
    serde_json::from_str(&text).map_err(|e| SynthError::bad_input(format!("{}: {e}", path.display())))
}

impl Origin {
    /// The origin of a set made now, by this process, from `source_split` of `dataset` under `split`.
    pub fn describe(
        dataset: &super::Dataset,
        split: &super::Split,
        source_split: super::SplitName,
        source: SourceKind,
        config: serde_json::Value,
    ) -> Origin {
        Origin {
            dataset: dataset.name.clone(),
            classes: dataset.classes.clone(),
            source_split,
            split_file: super::split::SPLIT_FILE.to_string(),
            split_seed: split.config.seed,
            source,
            command: std::env::args().collect(),
            config,
            synth_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f32 parameters are written as typed (`0.05`, not `0.05000000074505806`) and read back to the same f32.
    #[test]
    fn f32_parameters_are_written_by_their_shortest_form() {
        let params = serde_json::json!({
            "ops": [{"op": "noise", "std": 0.05f32, "seed": 8410349u64}, {"op": "rotate", "degrees": -7.31f32}],
            "eps": 0.1f64,
            "p": 0.5f32,
        });
        let text = serde_json::to_string(&shortest_floats(params)).unwrap();
        assert_eq!(
            text,
            r#"{"eps":0.1,"ops":[{"op":"noise","seed":8410349,"std":0.05},{"degrees":-7.31,"op":"rotate"}],"p":0.5}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["ops"][0]["std"].as_f64().unwrap() as f32, 0.05f32);
        assert_eq!(back["ops"][1]["degrees"].as_f64().unwrap() as f32, -7.31f32);
        // An f64 that is not an f32 keeps all its digits.
        let third = shortest_floats(serde_json::json!(1.0f64 / 3.0));
        assert_eq!(third.as_f64(), Some(1.0 / 3.0));
    }
}
