//! `synth eval-gain`: the product's verdict. For a low-data setting (N labelled images per class) it fits the
//! bundled classifier on the real images alone and with each synthetic set, over several seeds, and reports each
//! set's gain on the real test split (clean, under attack, under each domain shift) with its uncertainty.

pub mod bank;
pub mod config;
pub mod curve;
pub mod experiment;
pub mod report;
pub mod run;
pub mod shifts;
pub mod sources;

pub use config::EvalGainConfig;
pub use experiment::{ConditionKind, ConditionResult, Experiment, Source};
pub use report::Report;
