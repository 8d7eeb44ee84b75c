//! The search space of `synth policy`, AutoAugment-style: a policy is a few sub-policies, each a short list of
//! classic ops with a magnitude and a probability; an augmented image is made by one sub-policy drawn at random.
//! The policy also sets how many augmented images join each real one (the mix) and what share of each available
//! synthetic set joins them.

pub use crate::augment::policy::{Policy, SyntheticShare};

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

/// TrivialAugment (Muller & Hutter 2021) in this space, with no parameter to search: each augmented image applies
/// one op drawn uniformly at a magnitude bin drawn uniformly, always (probability 1). As a policy, one single-op
/// sub-policy per (op, magnitude bin) pair, one drawn uniformly per image; flip-h and rot90, which have no
/// magnitude, repeat once per bin so that every op is equally likely. The op then draws its transform within its
/// bin's range as every op of this space does (rotate at bin 3 turns by an angle in [-12, 12] degrees). One augmented
/// image per real one, no synthetic share: `synth augment --preset trivial` and the search's `trivial` method.
pub fn trivial_augment() -> Policy {
    Policy {
        mix: MIXES[1],
        sub_policies: (0..OPS.len())
            .flat_map(|op| (0..MAGNITUDES).map(move |m| vec![op_string(op, m, PROBABILITIES - 1)]))
            .collect(),
        synthetic: Vec::new(),
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

    /// [`trivial_augment`] with a share of 0 for every synthetic set of the space.
    pub fn trivial_augment(&self) -> Policy {
        Policy {
            synthetic: self.zero_shares(),
            ..trivial_augment()
        }
    }

    fn zero_shares(&self) -> Vec<SyntheticShare> {
        self.synthetic
            .iter()
            .map(|name| SyntheticShare {
                source: name.clone(),
                share: 0.0,
            })
            .collect()
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
            synthetic: self.zero_shares(),
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

    /// TrivialAugment draws exactly one op per image, every op equally often, at a magnitude drawn uniformly: over
    /// 14,000 seeded draws the op counts and the noise op's 10 magnitude levels pass a chi-square test of
    /// uniformity (p > 0.001), and rotate's angles fill their whole range symmetrically.
    #[test]
    fn trivial_augment_draws_one_op_at_a_uniform_magnitude() {
        use crate::augment::Transform;
        let policy = trivial_augment();
        assert_eq!(policy.sub_policies.len(), OPS.len() * MAGNITUDES);
        assert!(policy.synthetic.is_empty());
        let pipelines = policy.pipelines().unwrap();
        let n = 14_000;
        let mut ops = std::collections::BTreeMap::<String, usize>::new();
        let mut noise_levels = [0usize; MAGNITUDES];
        let (mut angles, mut applied) = (Vec::new(), 0);
        for k in 0..n {
            let mut rng = crate::seed::rng(crate::seed::derive(7, &[k as u64]));
            let (_, transforms) = crate::augment::policy::draw_sub_policy(&pipelines, &mut rng, 28, 28);
            assert_eq!(transforms.len(), 1, "one op per image: {transforms:?}");
            applied += transforms.len();
            let t = &transforms[0];
            let name = serde_json::to_value(t).unwrap()["op"].as_str().unwrap().to_string();
            *ops.entry(name).or_default() += 1;
            match *t {
                Transform::Noise { std, .. } => {
                    let level = (std / 0.02).round() as usize;
                    assert!(
                        (1..=MAGNITUDES).contains(&level),
                        "noise std {std} is one of the 10 levels"
                    );
                    noise_levels[level - 1] += 1;
                }
                Transform::Rotate { degrees, .. } => angles.push(degrees),
                _ => {}
            }
        }
        assert_eq!(applied, n);
        assert_eq!(ops.len(), OPS.len(), "every op is drawn: {ops:?}");
        let chi2 = |counts: &[usize]| {
            let expected = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
            counts
                .iter()
                .map(|&c| (c as f64 - expected).powi(2) / expected)
                .sum::<f64>()
        };
        // Chi-square critical values at p = 0.001: 22.46 (6 degrees of freedom), 27.88 (9).
        let op_counts: Vec<usize> = ops.values().copied().collect();
        assert!(chi2(&op_counts) < 22.46, "ops uniform: {ops:?}");
        assert!(
            chi2(&noise_levels) < 27.88,
            "noise magnitudes uniform: {noise_levels:?}"
        );
        let max = angles.iter().fold(0f32, |m, a| m.max(a.abs()));
        assert!(max > 29.0 && max <= 30.0, "rotate reaches its largest bin: {max}");
        let positive = angles.iter().filter(|&&a| a > 0.0).count() as f64 / angles.len() as f64;
        assert!((positive - 0.5).abs() < 0.05, "rotate is symmetric: {positive}");
    }
}
