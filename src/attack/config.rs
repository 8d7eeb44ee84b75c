//! The settings of one attack (which, which norm, how far, how many steps, toward whom) and of adversarial
//! training. Shared by `synth adversarial`, `synth classifier eval --attack`, eval-gain's robust accuracy and
//! the classifier's adversarial training, so it sits below all of them.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SynthError};

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// Fast gradient sign method (Goodfellow et al. 2015): one step of size eps along the gradient's sign (L-inf),
    /// or along the L2-normalised gradient (L2, the "fast gradient method").
    Fgsm,
    /// Projected gradient descent (Madry et al. 2018): `steps` steps of size `alpha`, each projected back onto the
    /// eps-ball and [0, 1].
    Pgd,
    /// APGD-CE (Croce & Hein 2020): PGD on the cross-entropy with a step size it adapts itself (no alpha), momentum
    /// and the best point kept; `steps` iterations (AutoAttack uses 100), `restarts` restarts.
    ApgdCe,
    /// APGD-T (Croce & Hein 2020): APGD on the targeted DLR loss toward each of the 9 most likely wrong classes in
    /// turn, `steps` iterations each; picks its own targets.
    ApgdT,
    /// AutoAttack's APGD part: APGD-CE, then APGD-T on the images still classified correctly, each image keeping
    /// its worst case (AutoAttack's FAB-T and Square are not run).
    Auto,
}

impl AttackKind {
    /// Whether the attack is one of the APGD family (adaptive step, untargeted evaluation, its own targets).
    pub fn is_apgd(&self) -> bool {
        matches!(self, AttackKind::ApgdCe | AttackKind::ApgdT | AttackKind::Auto)
    }

    /// Whether the attack uses the targeted DLR loss (which needs at least four classes).
    pub fn uses_dlr(&self) -> bool {
        matches!(self, AttackKind::ApgdT | AttackKind::Auto)
    }
}

impl std::fmt::Display for AttackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::ApgdCe => "apgd-ce",
            AttackKind::ApgdT => "apgd-t",
            AttackKind::Auto => "auto",
        })
    }
}

/// The norm whose ball bounds the perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Every pixel moves by at most eps (the MNIST benchmark threat model).
    Linf,
    /// The whole perturbation has Euclidean length at most eps.
    L2,
}

impl std::fmt::Display for Norm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        })
    }
}

/// Whom the attack pushes each image toward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// Away from the true label (maximise its cross-entropy).
    Untargeted,
    /// Toward this class index for every image.
    Class(usize),
    /// Toward a class drawn per image (seeded) among the classes other than its label.
    Random,
}

impl std::str::FromStr for Target {
    type Err = SynthError;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "none" | "" => Ok(Target::Untargeted),
            "random" => Ok(Target::Random),
            n => n.parse().map(Target::Class).map_err(|_| {
                SynthError::bad_input(format!("target '{text}' is not a class index, 'random' or 'none'"))
            }),
        }
    }
}

impl TryFrom<String> for Target {
    type Error = SynthError;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Untargeted => f.write_str("none"),
            Target::Class(k) => write!(f, "{k}"),
            Target::Random => f.write_str("random"),
        }
    }
}

/// One attack, fully specified. Shared by `synth adversarial` and `synth classifier eval --attack`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttackConfig {
    /// fgsm, pgd, apgd-ce, apgd-t or auto.
    pub attack: AttackKind,
    /// linf or l2.
    pub norm: Norm,
    /// Radius of the perturbation ball, in [0, 1] pixel units (at most 1 for L-inf).
    pub eps: f64,
    /// PGD step size; 0 means 2.5 * eps / steps (Madry et al.). APGD adapts its own and ignores it.
    pub alpha: f64,
    /// PGD steps; APGD iterations (per target for APGD-T; for each of the two attacks of auto).
    pub steps: usize,
    /// PGD and APGD start from a uniformly drawn point of the ball instead of the image itself.
    pub random_start: bool,
    /// PGD and APGD run from this many random starts and keep, per image, the strongest result (APGD restarts only
    /// the images not yet misclassified).
    pub restarts: usize,
    /// `none` (untargeted), a class index, or `random` (a seeded wrong class per image). fgsm and pgd only: APGD-T
    /// picks its own targets.
    pub target: Target,
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            attack: AttackKind::Pgd,
            norm: Norm::Linf,
            eps: 0.3,
            alpha: 0.01,
            steps: 40,
            random_start: true,
            restarts: 1,
            target: Target::Untargeted,
        }
    }
}

/// Largest L2 radius: sqrt of the pixel count of a 256x256 RGB image is 443; 1000 covers any image up to 1,000,000
/// values, so a larger radius is a typo.
pub const MAX_L2_EPS: f64 = 1000.0;
/// Most random restarts of one attack.
pub const MAX_RESTARTS: usize = 1000;

impl AttackConfig {
    /// Refuses settings that cannot describe an attack, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if !self.eps.is_finite() || self.eps < 0.0 {
            return bad(format!("eps {} must be a finite number >= 0", self.eps));
        }
        if self.norm == Norm::Linf && self.eps > 1.0 {
            return bad(format!(
                "eps {} is above 1: an L-inf ball of radius 1 already covers every [0, 1] image",
                self.eps
            ));
        }
        if self.norm == Norm::L2 && self.eps > MAX_L2_EPS {
            return bad(format!(
                "eps {} is above {MAX_L2_EPS}: an L2 ball that large covers every [0, 1] image of up to {} pixels",
                self.eps,
                MAX_L2_EPS * MAX_L2_EPS
            ));
        }
        if !self.alpha.is_finite() || self.alpha < 0.0 || self.alpha > self.eps.max(1.0) {
            return bad(format!(
                "alpha {} must be a finite number in [0, max(eps, 1)]",
                self.alpha
            ));
        }
        crate::limits::check_count("steps", self.steps, crate::limits::MAX_COUNT)?;
        crate::limits::check_count("restarts", self.restarts, MAX_RESTARTS)?;
        if self.attack.is_apgd() && self.target != Target::Untargeted {
            return bad(format!(
                "target {} cannot be combined with {}: APGD attacks are untargeted evaluations (apgd-t picks its own \
                 targets, the most likely wrong classes); --target applies to fgsm and pgd",
                self.target, self.attack
            ));
        }
        if self.attack != AttackKind::Fgsm {
            if self.steps == 0 {
                return bad(format!("steps must be at least 1 for {}", self.attack));
            }
            if self.restarts == 0 {
                return bad("restarts must be at least 1".into());
            }
            if self.restarts > 1 && !self.random_start {
                return bad(format!(
                    "restarts {} needs random_start: without it every restart is the same",
                    self.restarts
                ));
            }
        }
        Ok(())
    }

    /// Refuses a target class the model does not have.
    pub fn validate_for_classes(&self, classes: usize) -> Result<()> {
        match self.target {
            Target::Class(k) if k >= classes => Err(SynthError::bad_input(format!(
                "target class {k} is outside the model's {classes} classes (0-{})",
                classes.saturating_sub(1)
            ))),
            Target::Random if classes < 2 => Err(SynthError::bad_input(
                "target random needs a model with at least 2 classes",
            )),
            _ if self.attack.uses_dlr() && classes < super::apgd::DLR_MIN_CLASSES => {
                Err(SynthError::bad_input(format!(
                    "{} needs a model with at least {} classes (its targeted DLR loss ranks four logits); this one \
                     has {classes}: use apgd-ce",
                    self.attack,
                    super::apgd::DLR_MIN_CLASSES
                )))
            }
            _ => Ok(()),
        }
    }

    /// The PGD step size: `alpha`, or 2.5 * eps / steps when alpha is 0.
    pub fn step_size(&self) -> f64 {
        if self.alpha > 0.0 {
            self.alpha
        } else {
            2.5 * self.eps / self.steps.max(1) as f64
        }
    }

    /// Whether the attack aims at chosen classes.
    pub fn targeted(&self) -> bool {
        self.target != Target::Untargeted
    }

    /// One line for summaries: `pgd linf eps 0.3, 40 steps of 0.01, random start, untargeted`.
    pub fn describe(&self) -> String {
        let goal = match self.target {
            Target::Untargeted => "untargeted".to_string(),
            Target::Class(k) => format!("target class {k}"),
            Target::Random => "random wrong target".to_string(),
        };
        let restarts = if self.restarts > 1 {
            format!(", best of {} restarts", self.restarts)
        } else {
            String::new()
        };
        let start = if self.random_start { ", random start" } else { "" };
        match self.attack {
            AttackKind::Fgsm => format!("fgsm {} eps {}, {goal}", self.norm, self.eps),
            AttackKind::Pgd => format!(
                "pgd {} eps {}, {} steps of {}{}{}, {goal}",
                self.norm,
                self.eps,
                self.steps,
                self.step_size(),
                if self.random_start { ", random start" } else { "" },
                restarts
            ),
            AttackKind::ApgdCe => format!(
                "apgd-ce {} eps {}, {} steps{}{restarts}, untargeted",
                self.norm, self.eps, self.steps, start
            ),
            AttackKind::ApgdT => format!(
                "apgd-t {} eps {}, {} steps per target on the {} most likely wrong classes{}{restarts}",
                self.norm,
                self.eps,
                self.steps,
                super::apgd::APGD_T_TARGETS,
                start
            ),
            AttackKind::Auto => format!(
                "auto (apgd-ce, then apgd-t on the {} most likely wrong classes of the images left correct) {} eps {}, \
                 {} steps each{}{restarts}",
                super::apgd::APGD_T_TARGETS,
                self.norm,
                self.eps,
                self.steps,
                start
            ),
        }
    }
}

/// Which attack adversarial training runs on each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TrainingAttack {
    /// Natural training.
    None,
    /// One FGSM step per batch: cheap, weaker (Goodfellow et al. 2015).
    Fgsm,
    /// PGD per batch: `steps` times the cost, the robust recipe (Madry et al. 2018).
    Pgd,
}

/// Adversarial training (Madry et al. 2018): part of every training batch is replaced by adversarial versions of its
/// images, crafted against the current weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialTraining {
    /// none, fgsm or pgd.
    pub attack: TrainingAttack,
    pub norm: Norm,
    pub eps: f64,
    /// PGD step size; 0 means 2.5 * eps / steps.
    pub alpha: f64,
    pub steps: usize,
    pub random_start: bool,
    /// Fraction of each batch replaced by adversarial images (1 = all, as in Madry et al.).
    pub ratio: f64,
}

impl Default for AdversarialTraining {
    fn default() -> Self {
        AdversarialTraining {
            attack: TrainingAttack::None,
            norm: Norm::Linf,
            eps: 0.1,
            alpha: 0.0,
            steps: 10,
            random_start: true,
            ratio: 0.5,
        }
    }
}

impl AdversarialTraining {
    /// The attack each batch runs, or `None` for natural training.
    pub fn attack_config(&self) -> Option<AttackConfig> {
        let attack = match self.attack {
            TrainingAttack::None => return None,
            TrainingAttack::Fgsm => AttackKind::Fgsm,
            TrainingAttack::Pgd => AttackKind::Pgd,
        };
        Some(AttackConfig {
            attack,
            norm: self.norm,
            eps: self.eps,
            alpha: self.alpha,
            steps: self.steps,
            random_start: self.random_start,
            restarts: 1,
            target: Target::Untargeted,
        })
    }

    /// Refuses settings that cannot work (only when adversarial training is on).
    pub fn validate(&self) -> Result<()> {
        let Some(attack) = self.attack_config() else {
            return Ok(());
        };
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            return Err(SynthError::bad_input(format!(
                "adversarial ratio {} must be in (0, 1]",
                self.ratio
            )));
        }
        attack.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pgd(eps: f64) -> AttackConfig {
        AttackConfig {
            eps,
            ..Default::default()
        }
    }

    #[test]
    fn bad_eps_steps_and_restarts_are_bad_input() {
        for (config, needle) in [
            (pgd(-0.1), "eps -0.1"),
            (pgd(f64::NAN), "eps NaN"),
            (pgd(1.5), "above 1"),
            (
                AttackConfig {
                    steps: 0,
                    ..Default::default()
                },
                "steps",
            ),
            (
                AttackConfig {
                    restarts: 3,
                    random_start: false,
                    ..Default::default()
                },
                "random_start",
            ),
        ] {
            let err = config.validate().unwrap_err();
            assert!(err.is_bad_input() && err.to_string().contains(needle), "{err}");
        }
        let l2 = AttackConfig {
            norm: Norm::L2,
            eps: 2.0,
            ..Default::default()
        };
        assert!(l2.validate().is_ok(), "an L2 radius above 1 is a real threat model");
        let fgsm = AttackConfig {
            attack: AttackKind::Fgsm,
            steps: 0,
            ..Default::default()
        };
        assert!(fgsm.validate().is_ok(), "fgsm has no steps");
    }

    #[test]
    fn targets_parse_print_and_are_checked_against_the_classes() {
        for text in ["none", "random", "7"] {
            assert_eq!(text.parse::<Target>().unwrap().to_string(), text);
        }
        assert!("seven".parse::<Target>().unwrap_err().is_bad_input());
        let config = AttackConfig {
            target: Target::Class(10),
            ..Default::default()
        };
        let err = config.validate_for_classes(10).unwrap_err();
        assert!(err.to_string().contains("outside the model's 10 classes"), "{err}");
        assert!(config.validate_for_classes(11).is_ok());
    }

    #[test]
    fn zero_alpha_means_madry_step() {
        let config = AttackConfig {
            alpha: 0.0,
            eps: 0.1,
            steps: 10,
            ..Default::default()
        };
        assert!((config.step_size() - 0.025).abs() < 1e-12);
        assert_eq!(pgd(0.3).step_size(), 0.01);
    }
}
