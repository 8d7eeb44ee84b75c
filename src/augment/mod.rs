//! Classic augmentation: the baseline every synthetic source must beat. Pure, seeded image functions ([`ops`]),
//! ops as printable values ([`pipeline`]), searched policies of them ([`policy`]), and the run that writes an expanded dataset ([`run`]).

pub mod config;
pub mod ops;
pub mod pipeline;
pub mod policy;
pub mod run;

pub use config::AugmentConfig;
pub use ops::Fill;
pub use pipeline::{OP_HELP, OpKind, OpSpec, Pipeline, Transform, apply_all, augment_tensor};
pub use policy::{Policy, SyntheticShare};
pub use run::{AugmentSummary, augment_images};
