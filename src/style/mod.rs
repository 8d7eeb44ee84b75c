//! Neural style transfer on VGG16 features (Gatys et al. 2016): content, Gram-matrix style and total-variation
//! losses, optimised with L-BFGS or Adam, for one image or a whole dataset (style augmentation).

pub mod config;
pub mod loss;
pub mod run;
pub mod transfer;

pub use config::{StyleConfig, StyleInit, StyleOptimizer};
pub use transfer::{LossTerms, StyleNet, Stylised, Targets, blended_grams, optimise, stylise_batch, stylise_image};
