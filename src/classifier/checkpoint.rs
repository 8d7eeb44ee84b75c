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
use super::resnet::ResNet;
use super::vgg::{BUNDLED_WEIGHTS, Vgg, VggDepth};
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

impl Checkpoint {
    /// The metadata of a model fitted with `config` on `data` (drawn from `dataset` under `split`).
    pub fn of_fit(
        config: &ClassifierConfig,
        data: &super::run::ExperimentData,
        dataset: &crate::dataset::Dataset,
        split: &crate::dataset::Split,
        test_accuracy: f32,
    ) -> Checkpoint {
        Checkpoint {
            config: config.clone(),
            classes: data.classes.clone(),
            input: data.input,
            dataset: dataset.name.clone(),
            split_seed: split.config.seed,
            test_accuracy: Some(test_accuracy),
        }
    }
}

/// Builds an untrained network for `classes` and `(channels, side)` inputs; a pretrained backbone gets its weights
/// (VGG16: the bundled ImageNet file unless the config names another; VGG19 and ResNet-50: the config's file, which
/// they cannot do without).
pub fn build_model(
    config: &ClassifierConfig,
    classes: usize,
    input: (usize, usize),
    device: &Device,
) -> Result<Classifier> {
    crate::backend::seeded(device, config.seed, || unseeded_model(config, classes, input, device))
}

/// [`build_model`]'s body, drawing from whatever state the device's generator is in.
fn unseeded_model(
    config: &ClassifierConfig,
    classes: usize,
    input: (usize, usize),
    device: &Device,
) -> Result<Classifier> {
    let (channels, side) = input;
    let (backbone, features, hidden) = match config.backbone {
        BackboneKind::Vgg16 => {
            // An empty path is how runs before the Option recorded "the bundled weights".
            let path = config
                .backbone_weights
                .as_ref()
                .filter(|p| !p.is_empty())
                .map_or_else(bundled_weights, PathBuf::from);
            let vgg = Vgg::load(&path, device)?;
            let features = vgg.out_channels();
            (Backbone::Vgg16(vgg), features, None)
        }
        BackboneKind::Vgg19 => {
            let vgg = Vgg::load_depth(&required_weights(config)?, VggDepth::Vgg19, device)?;
            let features = vgg.out_channels();
            (Backbone::Vgg19(vgg), features, None)
        }
        BackboneKind::Resnet50 => {
            let resnet = ResNet::load(&required_weights(config)?, device)?;
            let features = resnet.out_channels();
            (Backbone::Resnet50(resnet), features, None)
        }
        BackboneKind::Cnn => {
            let reduced = side / 4;
            (
                Backbone::Cnn(SmallCnn::new(channels, config.cnn_standardize, device)),
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

/// The weight file of a backbone that has no bundled weights: its absence is bad input that says where torchvision
/// keeps them (synth downloads nothing).
pub fn required_weights(config: &ClassifierConfig) -> Result<PathBuf> {
    match config.backbone_weights.as_ref().filter(|p| !p.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => Err(missing_weights(config.backbone)),
    }
}

/// "--backbone X needs --backbone-weights FILE", with torchvision's URL for X.
pub fn missing_weights(backbone: BackboneKind) -> SynthError {
    SynthError::bad_input(format!(
        "--backbone {backbone} needs --backbone-weights FILE (torchvision's {backbone} state dict, .pth or \
         .safetensors): synth bundles no {backbone} weights and downloads nothing; get torchvision's ImageNet \
         weights from {}",
        backbone.weights_url().unwrap_or("torchvision")
    ))
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

/// Our module paths -> PyTorch names: VGG `features.N.*` (torchvision's indices), ResNet-50 torchvision's own keys
/// (`conv1.*`, `bn1.*`, `layerK.M.*`, `downsample.0|1.*`), the cnn `features.0|3.*`, and `head.*` as it is.
fn export_store(path: &Path) -> SafetensorsStore {
    let mut store = SafetensorsStore::from_file(path);
    for (variant, depth) in [("Vgg16", VggDepth::Vgg16), ("Vgg19", VggDepth::Vgg19)] {
        for (i, &(.., torch)) in depth.convs().iter().enumerate() {
            store = store.with_key_remapping(
                format!(r"^backbone\.{variant}\.convs\.{i}\."),
                format!("features.{torch}."),
            );
        }
    }
    store
        .with_key_remapping(
            r"^backbone\.Resnet50\.(.*)\.downsample\.conv\.",
            "backbone.Resnet50.$1.downsample.0.",
        )
        .with_key_remapping(
            r"^backbone\.Resnet50\.(.*)\.downsample\.bn\.",
            "backbone.Resnet50.$1.downsample.1.",
        )
        .with_key_remapping(r"^backbone\.Resnet50\.", "")
        .with_key_remapping(r"^backbone\.Cnn\.conv1\.", "features.0.")
        .with_key_remapping(r"^backbone\.Cnn\.conv2\.", "features.3.")
}

/// `features.N` means a different layer for each backbone, so the import mapping depends on it.
fn import_store(path: &Path, backbone: BackboneKind) -> SafetensorsStore {
    let mut store = SafetensorsStore::from_file(path);
    let vgg = |mut store: SafetensorsStore, variant: &str, depth: VggDepth| {
        for (i, &(.., torch)) in depth.convs().iter().enumerate() {
            store = store.with_key_remapping(
                format!(r"^features\.{torch}\.(weight|bias)$"),
                format!("backbone.{variant}.convs.{i}.$1"),
            );
        }
        store
    };
    match backbone {
        BackboneKind::Vgg16 => vgg(store, "Vgg16", VggDepth::Vgg16),
        BackboneKind::Vgg19 => vgg(store, "Vgg19", VggDepth::Vgg19),
        BackboneKind::Resnet50 => {
            store = store
                .with_key_remapping(r"^(conv1|bn1|layer[1-4])\.", "backbone.Resnet50.$1.")
                .with_key_remapping(r"\.downsample\.0\.", ".downsample.conv.")
                .with_key_remapping(r"\.downsample\.1\.", ".downsample.bn.");
            store
        }
        BackboneKind::Cnn => store
            .with_key_remapping(r"^features\.0\.(weight|bias)$", "backbone.Cnn.conv1.$1")
            .with_key_remapping(r"^features\.3\.(weight|bias)$", "backbone.Cnn.conv2.$1"),
    }
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
        std::fs::write(&meta, crate::config::pretty_json(self)?).at(&meta, "writing")?;
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
        // A pretrained backbone is built from the run's own export, whose backbone keys are torchvision's (its `head.*`
        // keys are ignored), rather than from the weight file it was trained from: the run folder stays loadable
        // when that file has moved. The record then sets every value.
        let export = dir.join(EXPORT_FILE);
        let mut config = meta.config.clone();
        if config.backbone.pretrained() && export.is_file() {
            config.backbone_weights = Some(export.display().to_string());
        }
        let model = build_model(&config, meta.classes.len(), meta.input, device)?;
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
        let mut store = import_store(path, self.config.backbone).with_from_adapter(PyTorchToBurnAdapter);
        let result = model
            .load_from(&mut store)
            .map_err(|e| SynthError::bad_input(format!("{}: {e}", path.display())))?;
        if let Some(err) = result.errors.first() {
            return Err(SynthError::bad_input(format!("{}: {err}", path.display())));
        }
        // Every tensor must come from the export: a backbone built from its weight file would otherwise hide a
        // key the import mapping failed to match.
        if let Some((missing, _)) = result.missing.first() {
            return Err(SynthError::bad_input(format!(
                "{}: tensor {missing} is missing",
                path.display()
            )));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::store::ModuleStore;
    use burn::tensor::Distribution;

    fn outputs(model: &Classifier, x: &Tensor<4>) -> Vec<f32> {
        crate::dataset::tensor::tensor_values(model.valid().forward(x.clone())).unwrap()
    }

    /// The PyTorch-named export loads back into a freshly built model (different init) with identical outputs.
    #[test]
    fn safetensors_export_round_trips_with_pytorch_names() {
        let dir = tempfile::tempdir().unwrap();
        let device = crate::backend::device();
        let (_resnet_dir, resnet) = crate::classifier::weights::fixture::unpack("resnet50_w8_random.pth.gz");
        let (_vgg_dir, vgg19) = crate::classifier::weights::fixture::unpack("vgg19_w8_random.pth.gz");
        for (backbone, side, weights) in [
            (BackboneKind::Cnn, 28, None),
            (BackboneKind::Vgg16, 32, None),
            (BackboneKind::Vgg19, 32, Some(&vgg19)),
            (BackboneKind::Resnet50, 32, Some(&resnet)),
        ] {
            let exported_config = ClassifierConfig {
                backbone,
                backbone_weights: weights.map(|p| p.display().to_string()),
                seed: 1,
                ..Default::default()
            };
            let model = build_model(&exported_config, 10, (1, side), &device).unwrap();
            let meta = Checkpoint {
                config: ClassifierConfig {
                    seed: 0,
                    ..exported_config.clone()
                },
                classes: crate::dataset::numbered_classes(10),
                input: (1, side),
                dataset: "mnist".into(),
                split_seed: 0,
                test_accuracy: None,
            };
            let run = dir.path().join(backbone.to_string());
            std::fs::create_dir_all(&run).unwrap();
            meta.save(&model, &run).unwrap();
            let x = Tensor::<4>::random([2, 1, side, side], Distribution::Default, &device);
            let fresh = build_model(&meta.config, 10, (1, side), &device).unwrap();
            assert_ne!(
                outputs(&fresh, &x),
                outputs(&model, &x),
                "a fresh model differs before loading"
            );
            let loaded = meta.load_export(&run.join(EXPORT_FILE), &device).unwrap();
            assert_eq!(outputs(&loaded, &x), outputs(&model, &x));
            let (_, from_record) = Checkpoint::load(&run, &device).unwrap();
            assert_eq!(outputs(&from_record, &x), outputs(&model, &x));
            let keys = SafetensorsStore::from_file(run.join(EXPORT_FILE)).keys().unwrap();
            assert!(
                keys.iter().any(|k| k == "features.0.weight" || k == "conv1.weight")
                    && keys.iter().any(|k| k == "head.output.weight"),
                "{keys:?}"
            );
            let expected = match backbone {
                BackboneKind::Cnn => "features.3.bias",
                BackboneKind::Vgg16 => "features.28.bias",
                BackboneKind::Vgg19 => "features.34.bias",
                BackboneKind::Resnet50 => "layer4.0.downsample.1.running_var",
            };
            assert!(keys.iter().any(|k| k == expected), "{keys:?}");
        }
    }
}
