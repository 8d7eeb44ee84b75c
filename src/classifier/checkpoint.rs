//! Saving and loading a trained classifier: burn's record for the weights, JSON for what the weights mean (config,
//! class names, input shape, split), and a safetensors export with PyTorch names (`features.N.*`, `head.*`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, ModuleRecord, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use serde::{Deserialize, Serialize};

use super::cnn::SmallCnn;
use super::config::ClassifierConfig;
use super::model::{Backbone, BackboneKind, Classifier, Head};
use super::vgg::{BUNDLED_WEIGHTS, VGG16_CONVS, Vgg16};
use crate::error::{IoContext, Result, SynthError};

/// File names inside a classifier run folder.
pub const MODEL_FILE: &str = "model.bpk";
pub const META_FILE: &str = "classifier.json";
pub const EXPORT_FILE: &str = "model.safetensors";

/// What a saved classifier is: enough to rebuild the network and to refuse a dataset it was not trained for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: ClassifierConfig,
    pub classes: Vec<String>,
    /// `(channels, side)` of the network input.
    pub input: (usize, usize),
    /// Dataset and split the model was trained on.
    pub dataset: String,
    pub split_seed: u64,
    /// Test accuracy printed at the end of training.
    pub test_accuracy: Option<f32>,
}

/// Builds an untrained network for `classes` and `(channels, side)` inputs; VGG16 gets its weights (the bundled
/// ImageNet file unless the config names another).
pub fn build_model(
    config: &ClassifierConfig,
    classes: usize,
    input: (usize, usize),
    device: &Device,
) -> Result<Classifier> {
    device.seed(config.seed);
    let (channels, side) = input;
    let (backbone, features, hidden) = match config.backbone {
        BackboneKind::Vgg16 => {
            let path = if config.backbone_weights.is_empty() {
                bundled_weights()
            } else {
                PathBuf::from(&config.backbone_weights)
            };
            (Backbone::Vgg16(Vgg16::load(&path, device)?), 512, None)
        }
        BackboneKind::Cnn => {
            let reduced = side / 4;
            (
                Backbone::Cnn(SmallCnn::new(channels, device)),
                64 * reduced * reduced,
                Some(config.cnn_hidden),
            )
        }
    };
    Ok(Classifier {
        head: Head::new(features, hidden, classes, config.dropout, device),
        backbone,
    })
}

/// The bundled VGG16 weights: beside the working directory's `models/`, else the crate's own.
pub fn bundled_weights() -> PathBuf {
    let local = PathBuf::from(BUNDLED_WEIGHTS);
    if local.is_file() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(BUNDLED_WEIGHTS)
    }
}

fn export_store(path: &Path) -> SafetensorsStore {
    let mut store = SafetensorsStore::from_file(path);
    for (i, &(.., torch)) in VGG16_CONVS.iter().enumerate() {
        store = store.with_key_remapping(format!(r"^backbone\.Vgg16\.convs\.{i}\."), format!("features.{torch}."));
    }
    store
        .with_key_remapping(r"^backbone\.Cnn\.conv1\.", "features.0.")
        .with_key_remapping(r"^backbone\.Cnn\.conv2\.", "features.3.")
}

fn import_store(path: &Path) -> SafetensorsStore {
    let mut store = SafetensorsStore::from_file(path);
    for (i, &(.., torch)) in VGG16_CONVS.iter().enumerate() {
        store = store.with_key_remapping(
            format!(r"^features\.{torch}\.(weight|bias)$"),
            format!("backbone.Vgg16.convs.{i}.$1"),
        );
    }
    store
}

impl Checkpoint {
    /// Writes model.bpk, classifier.json and model.safetensors into `dir` (which must exist).
    pub fn save(&self, model: &Classifier, dir: &Path) -> Result<()> {
        let bpk = dir.join(MODEL_FILE);
        model
            .clone()
            .save_file(&bpk)
            .map_err(|e| SynthError::internal(format!("saving {}: {e}", bpk.display())))?;
        let meta = dir.join(META_FILE);
        std::fs::write(&meta, crate::dataset::manifest::pretty_json(self)?).at(&meta, "writing")?;
        let export = dir.join(EXPORT_FILE);
        let mut store = export_store(&export)
            .with_to_adapter(BurnToPyTorchAdapter)
            .overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| SynthError::internal(format!("exporting {}: {e}", export.display())))
    }

    /// Reads a classifier run folder.
    pub fn load(dir: &Path, device: &Device) -> Result<(Checkpoint, Classifier)> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).at(&meta_path, "reading classifier")?;
        let meta: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| SynthError::bad_input(format!("{}: not a synth classifier ({e})", meta_path.display())))?;
        let model = build_model(&meta.config, meta.classes.len(), meta.input, device)?;
        let bpk = dir.join(MODEL_FILE);
        let record =
            ModuleRecord::load(&bpk).map_err(|e| SynthError::bad_input(format!("reading {}: {e}", bpk.display())))?;
        let model = model.try_load_record(record).map_err(|e| {
            SynthError::bad_input(format!(
                "{}: does not fit the classifier it describes ({e})",
                bpk.display()
            ))
        })?;
        Ok((meta, model))
    }

    /// Loads a safetensors export (PyTorch names) into a freshly built model with this checkpoint's shape.
    pub fn load_export(&self, path: &Path, device: &Device) -> Result<Classifier> {
        let mut model = build_model(&self.config, self.classes.len(), self.input, device)?;
        let mut store = import_store(path).with_from_adapter(PyTorchToBurnAdapter);
        let _ = &mut store;
        let result = model
            .load_from(&mut store)
            .map_err(|e| SynthError::bad_input(format!("{}: {e}", path.display())))?;
        if let Some(err) = result.errors.first() {
            return Err(SynthError::bad_input(format!("{}: {err}", path.display())));
        }
        Ok(model)
    }
}
