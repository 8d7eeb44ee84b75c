//! Seeded, stratified train/validation/test splits. Every generator reads the train split only, and the split is
//! saved beside each run so eval-gain can prove a set never saw a test image.

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::error::{IoContext, Result, SynthError};

/// File name of a saved split.
pub const SPLIT_FILE: &str = "split.json";

/// The three parts of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Val,
    Test,
}

impl std::fmt::Display for SplitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        })
    }
}

/// How to split: fractions per part (each class is split in these proportions) and the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Fraction of each class for validation.
    pub val: f64,
    /// Fraction of each class for test.
    pub test: f64,
    /// Seed of the shuffle; the same seed gives the same split.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            val: 0.15,
            test: 0.15,
            seed: 0,
        }
    }
}

impl SplitConfig {
    /// Rejects fractions that leave no training data.
    pub fn validate(&self) -> Result<()> {
        let ok = |f: f64| (0.0..1.0).contains(&f);
        if !ok(self.val) || !ok(self.test) || self.val + self.test >= 1.0 {
            return Err(SynthError::bad_input(format!(
                "split fractions val {} and test {} must each be in [0, 1) and sum to less than 1",
                self.val, self.test
            )));
        }
        Ok(())
    }
}

/// A split of one dataset, by image id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub dataset: String,
    pub config: SplitConfig,
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

impl Split {
    /// Shuffles each class with its own seeded stream and cuts it by the configured fractions (rounded), so every
    /// part keeps the class balance of the whole.
    pub fn stratified(dataset: &Dataset, config: &SplitConfig) -> Result<Split> {
        config.validate()?;
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); dataset.classes.len()];
        for (i, s) in dataset.samples.iter().enumerate() {
            by_class[s.label].push(i);
        }
        let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for (class, mut members) in by_class.into_iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ (class as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            members.shuffle(&mut rng);
            let n = members.len();
            let n_test = (n as f64 * config.test).round() as usize;
            let n_val = ((n as f64 * config.val).round() as usize).min(n - n_test);
            test.extend_from_slice(&members[..n_test]);
            val.extend_from_slice(&members[n_test..n_test + n_val]);
            train.extend_from_slice(&members[n_test + n_val..]);
        }
        let ids = |mut v: Vec<usize>| {
            v.sort_unstable();
            v.into_iter().map(|i| dataset.samples[i].id.clone()).collect()
        };
        Ok(Split {
            dataset: dataset.name.clone(),
            config: config.clone(),
            train: ids(train),
            val: ids(val),
            test: ids(test),
        })
    }

    /// The ids of one part.
    pub fn ids(&self, part: SplitName) -> &[String] {
        match part {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }

    /// Sample indices of one part, in dataset order.
    pub fn indices(&self, dataset: &Dataset, part: SplitName) -> Result<Vec<usize>> {
        let index: HashMap<&str, usize> = dataset
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        self.ids(part)
            .iter()
            .map(|id| {
                index.get(id.as_str()).copied().ok_or_else(|| {
                    SynthError::bad_input(format!(
                        "split names image '{id}', which dataset {} does not have",
                        dataset.name
                    ))
                })
            })
            .collect()
    }

    /// Writes split.json.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, crate::config::pretty_json(self)?).at(path, "writing")
    }

    /// Reads a split.json.
    pub fn load(path: &Path) -> Result<Split> {
        let text = std::fs::read_to_string(path).at(path, "reading")?;
        serde_json::from_str(&text).map_err(|e| SynthError::bad_input(format!("{}: {e}", path.display())))
    }
}

/// The one class-balanced draw: up to `per_class` of the `(index, label)` members of each of `classes` classes, each
/// class shuffled by its own seeded stream `class_seed(class)`. Returned class-major (callers that want dataset
/// order sort it); a class with fewer members gives all it has.
pub fn class_balanced_draw(
    members: impl IntoIterator<Item = (usize, usize)>,
    classes: usize,
    per_class: usize,
    class_seed: impl Fn(usize) -> u64,
) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (index, label) in members {
        if let Some(list) = by_class.get_mut(label) {
            list.push(index);
        }
    }
    let mut chosen = Vec::new();
    for (class, mut list) in by_class.into_iter().enumerate() {
        list.shuffle(&mut crate::seed::rng(class_seed(class)));
        chosen.extend(list.into_iter().take(per_class));
    }
    chosen
}

/// `take` of `n` positions spread evenly (all when `take` is 0 or >= n): the splits are stratified and the bundled
/// sets ordered by class, so a regular stride keeps the classes balanced without a random draw.
pub fn spread(n: usize, take: usize) -> Vec<usize> {
    let take = if take == 0 { n } else { take.min(n) };
    (0..take).map(|i| i * n / take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{LoadOptions, load_dataset};

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let ds = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let config = SplitConfig::default();
        let a = Split::stratified(&ds, &config).unwrap();
        assert_eq!(a, Split::stratified(&ds, &config).unwrap());
        assert_ne!(
            a,
            Split::stratified(
                &ds,
                &SplitConfig {
                    seed: 1,
                    ..config.clone()
                }
            )
            .unwrap()
        );
        assert_eq!((a.train.len(), a.val.len(), a.test.len()), (3500, 750, 750));
        let mut all: Vec<&String> = a.train.iter().chain(&a.val).chain(&a.test).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5000);
        let test = ds.subset(&a.indices(&ds, SplitName::Test).unwrap());
        assert_eq!(test.class_counts(), vec![75; 10]);
    }

    #[test]
    fn balanced_draw_takes_per_class_and_spread_strides() {
        let members = (0..30).map(|i| (i, i % 3));
        let chosen = class_balanced_draw(members, 3, 4, |c| c as u64);
        assert_eq!(chosen.len(), 12);
        for (k, &i) in chosen.iter().enumerate() {
            assert_eq!(i % 3, k / 4, "class-major");
        }
        let again = class_balanced_draw((0..30).map(|i| (i, i % 3)), 3, 4, |c| c as u64);
        assert_eq!(chosen, again, "seeded");
        assert_eq!(
            class_balanced_draw([(0, 0), (1, 1)], 2, 5, |_| 0).len(),
            2,
            "fewer when a class has fewer"
        );
        assert_eq!(spread(10, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(3, 0), vec![0, 1, 2]);
        assert_eq!(spread(3, 7), vec![0, 1, 2]);
    }

    #[test]
    fn bad_fractions_are_refused() {
        assert!(
            SplitConfig {
                val: 0.6,
                test: 0.5,
                seed: 0
            }
            .validate()
            .unwrap_err()
            .is_bad_input()
        );
        assert!(
            SplitConfig {
                val: -0.1,
                test: 0.1,
                seed: 0
            }
            .validate()
            .is_err()
        );
    }
}
