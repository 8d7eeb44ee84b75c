//! synth: expand small image datasets with synthetic data (classic augmentation, GANs, style transfer and
//! adversarial examples) and measure, honestly, whether that data helps.
//!
//! The one currency between commands is the [`dataset`] module's [`dataset::Dataset`] and the expanded dataset it
//! writes (ImageFolder tree + manifest.jsonl + origin.json).

pub mod adversarial;
pub mod attack;
pub mod augment;
pub mod backend;
pub mod classifier;
pub mod config;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod gan;
pub mod interrupt;
pub mod limits;
pub mod policy;
pub mod report;
pub mod seed;
pub mod style;
pub mod telemetry;

pub use error::{Result, SynthError};

/// mimalloc instead of the system allocator, for every program that links synth (the binary, tests, benchmarks).
/// burn's CPU backend allocates and frees a large buffer for nearly every tensor op; glibc serves those with
/// mmap/munmap, and each munmap costs page faults and TLB shoot-downs across the worker threads. Measured on the
/// PGD-step benchmark: 165 ms with glibc, 120 ms with glibc told to keep freed memory; see the README's speed section.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
