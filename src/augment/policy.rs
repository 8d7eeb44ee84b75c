//! A searched augmentation policy (`synth policy`'s best.toml), as the augmentation it is: sub-policies of classic
//! ops, one drawn per augmented image, the amount of augmented data, and shares of synthetic sets. It lives here,
//! below both `policy` (which searches it) and `eval` (which measures it and makes the synthetic sets the search
//! draws from), so that neither has to import the other sideways.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::{Pipeline, Transform, apply_all};
use crate::dataset::{Dataset, Image};
use crate::error::{Result, SynthError};

/// A searched policy, as saved in best.toml and read by `synth augment --policy` and `synth eval-gain --policy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Augmented images made per real image.
    pub mix: f64,
    /// Each augmented image applies one of these, drawn uniformly; each is a list of ops in the `--ops` grammar.
    pub sub_policies: Vec<Vec<String>>,
    /// Synthetic images per real image taken from each named set (absent = none).
    #[serde(default)]
    pub synthetic: Vec<SyntheticShare>,
}

/// The share of one synthetic set in a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticShare {
    /// The set's name (its folder name).
    pub source: String,
    pub share: f64,
}

impl Policy {
    /// The sub-policies as pipelines (checked).
    pub fn pipelines(&self) -> Result<Vec<Pipeline>> {
        if self.sub_policies.is_empty() {
            return Err(SynthError::bad_input("a policy needs at least one sub-policy"));
        }
        if !(self.mix >= 0.0 && self.mix.is_finite()) {
            return Err(SynthError::bad_input(format!("policy mix {} must be >= 0", self.mix)));
        }
        self.sub_policies.iter().map(|s| Pipeline::parse(s)).collect()
    }

    /// Reads a policy TOML file.
    pub fn load(path: &std::path::Path) -> Result<Policy> {
        use crate::error::IoContext;
        let text = std::fs::read_to_string(path).at(path, "reading policy")?;
        let p: Policy = toml::from_str(&text)
            .map_err(|e| SynthError::bad_input(format!("policy {}: {}", path.display(), e.message())))?;
        p.pipelines()?;
        Ok(p)
    }

    /// The policy as TOML.
    pub fn to_toml(&self) -> Result<String> {
        crate::config::to_toml(self)
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        let subs: Vec<String> = self
            .sub_policies
            .iter()
            .map(|s| format!("[{}]", s.join(", ")))
            .collect();
        let mut text = format!("mix {} | {}", self.mix, subs.join(" "));
        for s in &self.synthetic {
            text.push_str(&format!(" | {} {}", s.source, s.share));
        }
        text
    }
}

/// One augmented image's draw: a sub-policy chosen uniformly from `pipelines` with `rng`, then its transforms for
/// an image of `height x width`. Returns the chosen index and the transforms.
pub fn draw_sub_policy(
    pipelines: &[Pipeline],
    rng: &mut impl Rng,
    height: usize,
    width: usize,
) -> (usize, Vec<Transform>) {
    let chosen = rng.random_range(0..pipelines.len());
    (chosen, pipelines[chosen].sample(rng, height, width))
}

/// The augmented images a policy makes from the real subset: `round(mix * per_class)` per class, each from a real
/// image of that class (in turn) through one sub-policy drawn at random, with its own seed.
pub fn policy_images(
    dataset: &Dataset,
    subset: &[usize],
    per_class: usize,
    policy: &Policy,
    pipelines: &[Pipeline],
    seed: u64,
) -> Vec<(usize, usize, Image)> {
    let classes = dataset.classes.len();
    let per = (policy.mix * per_class as f64).round() as usize;
    let mut out = Vec::new();
    for class in 0..classes {
        let members: Vec<usize> = subset
            .iter()
            .copied()
            .filter(|&i| dataset.samples[i].label == class)
            .collect();
        if members.is_empty() {
            continue;
        }
        for j in 0..per {
            let i = members[j % members.len()];
            let image_seed = crate::seed::derive(seed, &[i as u64, j as u64]);
            let mut r = crate::seed::rng(image_seed);
            let (_, h, w) = dataset.samples[i].image.shape();
            let (_, transforms) = draw_sub_policy(pipelines, &mut r, h, w);
            out.push((i, j, apply_all(&dataset.samples[i].image, &transforms)));
        }
    }
    out
}
