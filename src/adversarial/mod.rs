//! `synth adversarial`: attacking a whole split of a dataset with a saved or freshly trained classifier and
//! summarising it ([`run`]), with its settings ([`config`]). The attacks themselves live in [`crate::attack`] (they
//! are re-exported here), below the classifier, whose adversarial training uses them too.

pub mod config;
pub mod run;

pub use crate::attack::*;
pub use config::AdversarialConfig;
pub use run::{AttackOptions, AttackRun, AttackSummary, ImageOutcome, attack_set, images_to_attack};
