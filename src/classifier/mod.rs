//! The bundled transfer-learning classifier, the instrument that measures every augmentation gain: a pretrained
//! VGG16 (bundled), VGG19 or ResNet-50 (the user's torchvision weights), or a small CNN from scratch; early blocks
//! frozen and cached, a new head, two-phase fine-tuning with early stopping.

pub mod average;
pub mod checkpoint;
pub mod cnn;
pub mod config;
pub mod fit;
pub mod model;
pub mod report;
pub mod resnet;
pub mod run;
pub mod vgg;
pub mod weights;

pub use average::{WeightAverage, WeightChoice};
pub use checkpoint::{Checkpoint, build_model};
pub use config::ClassifierConfig;
pub use fit::{
    CachedPart, FitMonitor, FitReport, PreparedSet, accuracy, argmax_rows, cache_layer, fit, fit_cached,
    frozen_prefix_features, predict, predict_from,
};
pub use model::{Backbone, BackboneKind, Classifier, Head};
pub use resnet::ResNet;
pub use vgg::{Tap, Vgg, Vgg16, VggDepth};
