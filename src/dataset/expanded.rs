//! The leakage guard: an expanded dataset may join a model's training data only when it was made from the train
//! split of the same dataset under the same split, so no validation or test image (or anything derived from one)
//! reaches a model that is then scored on them. Every command that trains on a set (classifier `--extra`,
//! eval-gain and policy `--synthetic`) opens it through [`open_for_training`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::manifest::{ORIGIN_FILE, read_manifest, read_origin};
use super::{Dataset, LoadOptions, Origin, SourceKind, Split, SplitName, load_dataset};
use crate::error::{IoContext, Result, SynthError};

/// A set accepted for training on `dataset` under `split`, with its provenance.
pub struct TrainingSet {
    pub origin: Origin,
    pub dataset: Dataset,
}

/// Opens the expanded dataset at `root` for training alongside `dataset` under `split`: the leakage guard
/// ([`check_set`]) first, then the images, which must carry the same classes and be at least one.
pub fn open_for_training(root: &Path, dataset: &Dataset, split: &Split) -> Result<TrainingSet> {
    let origin = check_set(root, &dataset.name, split)?;
    let set = load_dataset(&root.display().to_string(), &LoadOptions::default())?;
    if set.classes != dataset.classes {
        return Err(SynthError::bad_input(format!(
            "{}: classes [{}] are not the real dataset's [{}]",
            root.display(),
            set.classes.join(", "),
            dataset.classes.join(", ")
        )));
    }
    Ok(TrainingSet { origin, dataset: set })
}

/// Reads a set's origin.json and refuses the set, naming the file and the reason, when it was made from another
/// dataset, another split, or the validation or test part; and when any manifest line names a parent image that
/// is not in the train part.
pub fn check_set(root: &Path, dataset: &str, split: &Split) -> Result<Origin> {
    let origin_path = root.join(ORIGIN_FILE);
    if !origin_path.is_file() {
        return Err(SynthError::bad_input(format!(
            "{}: missing; only expanded datasets written by synth (with their provenance) can join an experiment{}",
            origin_path.display(),
            unnamed_set_hint(root)
        )));
    }
    let origin = read_origin(root)?;
    let refuse = |why: String| Err(SynthError::bad_input(format!("{}: {why}", origin_path.display())));
    if origin.dataset != dataset {
        return refuse(format!(
            "made from dataset {}, but this experiment is on {dataset}",
            origin.dataset
        ));
    }
    if origin.source_split != SplitName::Train {
        return refuse(format!(
            "made from the {} split; training on it would leak the images the models are scored on",
            origin.source_split
        ));
    }
    let split_path = root.join(&origin.split_file);
    let text = std::fs::read_to_string(&split_path).at(&split_path, "reading the split of")?;
    let theirs: Split =
        serde_json::from_str(&text).map_err(|e| SynthError::bad_input(format!("{}: {e}", split_path.display())))?;
    // The whole split must match, seed and fractions included: a set made under another split seed has train
    // images that are this split's val or test images, even when the id lists happen to be compared loosely.
    if theirs.dataset != split.dataset
        || theirs.config != split.config
        || theirs.train != split.train
        || theirs.val != split.val
        || theirs.test != split.test
    {
        return refuse(format!(
            "made under another split (seed {}, val {}, test {}) than this experiment's (seed {}, val {}, test {}), so \
             its train images may be this experiment's validation or test images",
            theirs.config.seed,
            theirs.config.val,
            theirs.config.test,
            split.config.seed,
            split.config.val,
            split.config.test
        ));
    }
    let train: HashSet<&str> = split.train.iter().map(String::as_str).collect();
    for entry in read_manifest(root)? {
        if let Some(parent) = &entry.parent
            && !train.contains(parent.as_str())
        {
            return refuse(format!(
                "{} was made from image {parent}, which is not in the train split",
                entry.path
            ));
        }
    }
    Ok(origin)
}

/// Names a set's conditions cannot take: `real` (the baseline), `all` (`real + all`), `policy` (`--policy`).
const RESERVED_NAMES: [&str; 3] = ["real", "all", "policy"];

/// A `--synthetic` argument: a set's folder, optionally named by the user (`NAME=DIR`). Without a name the set is
/// named by the source kind its origin.json records (see [`name_sets`]), so the report says `real + gan`, not the
/// folder's name (`real + samples`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    pub name: Option<String>,
    pub dir: PathBuf,
}

/// Whether `name` can name a set: letters, digits, `-` and `_` (it appears in condition names, TensorBoard tags
/// and a policy's TOML).
fn is_set_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Why a `NAME=DIR` argument may have been read as one folder: a NAME that is not a set name (`tau0.9=...`) leaves
/// the `=` in the path, and the user would otherwise see only a folder that does not exist. Empty when that is not
/// the case.
fn unnamed_set_hint(root: &Path) -> String {
    match root.to_str().and_then(|text| text.split_once('=')) {
        Some((name, _)) if !root.exists() && !is_set_name(name) => format!(
            " ('{name}' before '=' is not a set name, so the whole text was read as a folder: names take only \
             letters, digits, '-' and '_')"
        ),
        _ => String::new(),
    }
}

impl std::str::FromStr for SetSpec {
    type Err = String;

    /// `NAME=DIR` when the text before the first `=` is a valid name (so `outputs/a=b` is a plain folder; write
    /// `./x=y` for a folder whose whole name looks like a name), otherwise the whole text is the folder.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.split_once('=') {
            Some((name, dir)) if is_set_name(name) => {
                if dir.is_empty() {
                    return Err(format!("'{text}': no folder after {name}="));
                }
                Ok(SetSpec {
                    name: Some(name.to_string()),
                    dir: PathBuf::from(dir),
                })
            }
            _ if text.is_empty() => Err("an empty set folder".into()),
            _ => Ok(SetSpec {
                name: None,
                dir: PathBuf::from(text),
            }),
        }
    }
}

/// Names for the given sets, in order: a user's `NAME=` as given (refused when reserved or already taken), otherwise
/// the set's source kind from its origin.json (`gan`, `style`, `adversarial`, `augment`), with `-2`, `-3` for a
/// second and third set of one kind. `taken` holds the names already in use (eval-gain's own `augment` set).
pub fn name_sets(sets: &[(Option<String>, SourceKind)], taken: &[String]) -> Result<Vec<String>> {
    let mut used: Vec<String> = taken.to_vec();
    for name in sets.iter().filter_map(|(n, _)| n.as_ref()) {
        if RESERVED_NAMES.contains(&name.as_str()) {
            return Err(SynthError::bad_input(format!(
                "--synthetic {name}=...: {name} is reserved (it names a condition); choose another name"
            )));
        }
        if used.contains(name) {
            return Err(SynthError::bad_input(format!(
                "--synthetic {name}=...: two sets are named {name}; choose another name"
            )));
        }
        used.push(name.clone());
    }
    let mut names = Vec::new();
    for (name, kind) in sets {
        let name = match name {
            Some(n) => n.clone(),
            None => {
                let base = kind.to_string();
                let free = |n: &String| !used.contains(n) && !RESERVED_NAMES.contains(&n.as_str());
                let name = std::iter::once(base.clone())
                    .chain((2..).map(|k| format!("{base}-{k}")))
                    .find(free)
                    .unwrap_or(base);
                used.push(name.clone());
                name
            }
        };
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NAME with a dot makes `NAME=DIR` one folder; the missing-origin error then says why.
    #[test]
    fn a_name_that_is_not_a_set_name_is_explained() {
        let spec: SetSpec = "tau0.9=/no/such/set".parse().unwrap();
        assert_eq!(spec.name, None);
        assert!(unnamed_set_hint(&spec.dir).contains("'tau0.9' before '=' is not a set name"));
        let named: SetSpec = "tau-90=/no/such/set".parse().unwrap();
        assert_eq!(named.name.as_deref(), Some("tau-90"));
        assert_eq!(unnamed_set_hint(&named.dir), "");
        assert_eq!(unnamed_set_hint(Path::new("/no/such/set")), "");
    }
}
