//! The search space of `synth policy`, AutoAugment-style: a policy is a few sub-policies, each a short list of
//! classic ops with a magnitude and a probability; an augmented image is made by one sub-policy drawn at random.
//! The policy also sets how many augmented images join each real one (the mix) and what share of each available
//! synthetic set joins them.

use serde::{Deserialize, Serialize};

use crate::augment::Pipeline;
use crate::error::{Result, SynthError};

/// The classic ops the search chooses from, each with its magnitude scale (bin 0..MAGNITUDES-1).
pub const OPS: [&str; 7] = ["rotate", "scale", "crop", "translate", "noise", "flip-h", "rot90"];
/// Magnitude bins (AutoAugment uses 10).
pub const MAGNITUDES: usize = 10;
/// Probability bins: 0, 0.2, ..., 1.
pub const PROBABILITIES: usize = 6;
/// Augmented images per real image the search chooses from.
pub const MIXES: [f64; 3] = [0.5, 1.0, 2.0];
/// Share of a synthetic set, as synthetic images per real image.
pub const SHARES: [f64; 4] = [0.0, 0.25, 0.5, 1.0];

/// The op string (`--ops` grammar) of op `op` at magnitude bin `m` with probability bin `p`.
pub fn op_string(op: usize, m: usize, p: usize) -> String {
    let level = (m + 1) as f64 / MAGNITUDES as f64; // 0.1 ..= 1
    let prob = p as f64 / (PROBABILITIES - 1) as f64;
    let body = match OPS[op % OPS.len()] {
        "rotate" => format!("rotate:{}", (30.0 * level).round()),
        "scale" => format!("scale:{:.2}", 0.3 * level),
        "crop" => format!("crop:{:.2}", 1.0 - 0.4 * level),
        "translate" => format!("translate:{}", (5.0 * level).round().max(1.0)),
        "noise" => format!("noise:{:.2}", 0.2 * level),
        other => other.to_string(),
    };
    format!("{body}@{prob:.1}")
}

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

/// The shape of the search: how many sub-policies, ops per sub-policy, and which synthetic sets are available.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpace {
    pub sub_policies: usize,
    pub ops_per_sub_policy: usize,
    pub synthetic: Vec<String>,
}

impl SearchSpace {
    /// Number of choices of each decision, in order: for each sub-policy and op (op, magnitude, probability), then
    /// the mix, then one share per synthetic set.
    pub fn decisions(&self) -> Vec<usize> {
        let mut d = Vec::new();
        for _ in 0..self.sub_policies * self.ops_per_sub_policy {
            d.extend([OPS.len(), MAGNITUDES, PROBABILITIES]);
        }
        d.push(MIXES.len());
        d.extend(std::iter::repeat_n(SHARES.len(), self.synthetic.len()));
        d
    }

    /// The policy a list of choices (one per decision) stands for.
    pub fn decode(&self, choices: &[usize]) -> Policy {
        let mut it = choices.iter().copied();
        let mut next = || it.next().unwrap_or(0);
        let sub_policies = (0..self.sub_policies)
            .map(|_| {
                (0..self.ops_per_sub_policy)
                    .map(|_| {
                        let (op, m, p) = (next(), next(), next());
                        op_string(op, m, p)
                    })
                    .collect()
            })
            .collect();
        let mix = MIXES[next().min(MIXES.len() - 1)];
        let synthetic = self
            .synthetic
            .iter()
            .map(|name| SyntheticShare {
                source: name.clone(),
                share: SHARES[next().min(SHARES.len() - 1)],
            })
            .collect();
        Policy {
            mix,
            sub_policies,
            synthetic,
        }
    }

    /// RandAugment's policy for `n` ops at magnitude bin `m`: every op equally likely, each applied with
    /// probability 1 (one sub-policy per op sequence would explode, so each sub-policy is one op chain drawn from
    /// a cycle of the op list, offset by the sub-policy's index).
    pub fn rand_augment(&self, n: usize, m: usize, mix_bin: usize) -> Policy {
        let sub_policies = (0..OPS.len())
            .map(|start| {
                (0..n)
                    .map(|k| op_string((start + k) % OPS.len(), m, PROBABILITIES - 1))
                    .collect()
            })
            .collect();
        Policy {
            mix: MIXES[mix_bin.min(MIXES.len() - 1)],
            sub_policies,
            synthetic: self
                .synthetic
                .iter()
                .map(|name| SyntheticShare {
                    source: name.clone(),
                    share: 0.0,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoded_policy_parses() {
        let space = SearchSpace {
            sub_policies: 2,
            ops_per_sub_policy: 2,
            synthetic: vec!["gan".into()],
        };
        let d = space.decisions();
        assert_eq!(d.len(), 2 * 2 * 3 + 1 + 1);
        for choice in 0..10 {
            let choices: Vec<usize> = d.iter().map(|&n| (choice * 7 + 3) % n).collect();
            let p = space.decode(&choices);
            assert_eq!(p.sub_policies.len(), 2);
            p.pipelines().unwrap();
            let back: Policy = toml::from_str(&p.to_toml().unwrap()).unwrap();
            assert_eq!(back, p);
        }
        assert_eq!(op_string(0, 9, 5), "rotate:30@1.0");
        assert_eq!(op_string(5, 0, 0), "flip-h@0.0");
        space.rand_augment(2, 4, 1).pipelines().unwrap();
    }
}
