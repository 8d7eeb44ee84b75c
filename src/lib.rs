//! synth: expand small image datasets with synthetic data (classic augmentation, and soon GANs, style transfer and
//! adversarial examples) and measure, honestly, whether that data helps.
//!
//! The one currency between commands is the [`dataset`] module's [`dataset::Dataset`] and the expanded dataset it
//! writes (ImageFolder tree + manifest.jsonl + origin.json).

pub mod adversarial;
pub mod augment;
pub mod backend;
pub mod classifier;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod gan;
pub mod policy;
pub mod seed;
pub mod style;
pub mod telemetry;

pub use error::{Result, SynthError};
