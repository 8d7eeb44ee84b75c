//! `synth gan`: a class-conditional DCGAN that learns the train split of a dataset and writes new labelled images
//! as an expanded dataset, with its quality measured by CAS and FID.
//!
//! - [`config`]: every setting (configs/gan.toml holds the defaults);
//! - [`model`]: the generator and discriminator, sized by the image;
//! - [`diffaug`]: DiffAugment for small training sets;
//! - [`train`]: the loop, the EMA, checkpoints and resume;
//! - [`sample`]: latents, generation, grids, writing a dataset;
//! - [`filter`]: class-consistency filtering of the written images by a classifier fitted on the training images;
//! - [`metrics`]: CAS and FID with the project's own classifier.

pub mod config;
pub mod diffaug;
pub mod filter;
pub mod metrics;
pub mod model;
pub mod run;
pub mod sample;
pub mod train;

pub use config::{DiffAugmentMode, GanConfig, GanLoss};
pub use model::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, Plan};
pub use train::{GanMeta, Outcome, TrainMonitor, Trainer};
