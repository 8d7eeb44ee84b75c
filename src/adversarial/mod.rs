//! Adversarial examples: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018) in the L-inf and L2 norms, with
//! random starts, restarts and targets, against any of our classifiers ([`attack`]); APGD-CE, APGD-T and their
//! AutoAttack sequence (Croce & Hein 2020, [`apgd`]); attacking a whole split and
//! summarising it ([`run`]); and the settings of `synth adversarial`, `synth classifier eval --attack` and adversarial
//! training ([`config`]).

pub mod apgd;
pub mod attack;
pub mod config;
pub mod run;

pub use apgd::{APGD_T_TARGETS, apgd_ce, apgd_checkpoints, apgd_t, auto_attack, dlr_loss_targeted};
pub use attack::{
    AttackModel, Goal, attack, fgsm, perturbation_norms, pgd, pgd_step, project, project_l2, project_linf,
    quantize_within, random_start,
};
pub use config::{AdversarialConfig, AdversarialTraining, AttackConfig, AttackKind, Norm, Target, TrainingAttack};
pub use run::{AttackOptions, AttackRun, AttackSummary, ImageOutcome, attack_set, images_to_attack};
