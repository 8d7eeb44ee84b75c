//! Attacks on a classifier's input: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018) in the L-inf and L2
//! norms, with random starts, restarts and targets ([`gradient`]); APGD-CE, APGD-T and their AutoAttack sequence
//! (Croce & Hein 2020, [`apgd`]); and the settings of one attack and of adversarial training ([`config`]). They work
//! on any [`AttackModel`] (the classifier implements it), so the classifier's adversarial training and the
//! `synth adversarial` capability both stand on this module.

pub mod apgd;
pub mod config;
pub mod gradient;

pub use apgd::{APGD_T_TARGETS, apgd_ce, apgd_checkpoints, apgd_t, auto_attack, dlr_loss_targeted};
pub use config::{AdversarialTraining, AttackConfig, AttackKind, Norm, Target, TrainingAttack};
pub use gradient::{
    AttackModel, Goal, attack, fgsm, perturbation_norms, pgd, pgd_step, project, project_l2, project_linf,
    quantize_within, random_start,
};
