//! `synth policy`: searches the augmentation mix (classic ops with magnitudes and probabilities, the amount of
//! augmented data, the share of each synthetic set) with reinforcement learning, rewarded by the measured
//! validation accuracy of a child classifier, against random search and a RandAugment grid at the same budget.

pub mod config;
pub mod controller;
pub mod report;
pub mod run;
pub mod search;
pub mod space;

pub use config::PolicyConfig;
pub use space::{Policy, SearchSpace};
