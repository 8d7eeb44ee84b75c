//! Loading a pretrained backbone from the user's torchvision weight file (.pth state dict or .safetensors), shared
//! by every backbone: the file's keys are remapped to our field names (never hand-copied tensor by tensor), and a
//! missing or wrong-shaped tensor is refused by its torchvision name, so the user can find it in their file.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::{ApplyError, ApplyResult, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::{DType, FloatDType};

use crate::error::{Result, SynthError};

/// A backbone's weight file and how its keys map to our fields.
pub struct TorchvisionFile<'a> {
    pub path: &'a Path,
    /// "VGG19", "ResNet-50": named in every error.
    pub what: &'a str,
    /// (regex over the file's keys, replacement) applied in order: torchvision names -> our field paths.
    pub remap: Vec<(String, String)>,
}

impl TorchvisionFile<'_> {
    fn is_torch(&self) -> bool {
        self.path.extension().is_some_and(|e| e == "pth" || e == "pt")
    }

    /// A bad-input error about this file.
    pub fn error(&self, msg: impl std::fmt::Display) -> SynthError {
        SynthError::bad_input(format!("{} weights {}: {msg}", self.what, self.path.display()))
    }

    /// Refuses a path that is not a file, before anything is parsed.
    pub fn check_exists(&self) -> Result<()> {
        if self.path.is_file() {
            Ok(())
        } else {
            Err(self.error("no such file"))
        }
    }

    /// The shape of the tensor stored under torchvision name `key`, without reading its data. The backbones read
    /// their widths from it (the stem's output channels), so a reduced-width variant with the same key layout (the
    /// test fixtures) loads as well as the full torchvision file.
    pub fn shape_of(&self, key: &str) -> Result<Vec<usize>> {
        let shape = if self.is_torch() {
            let mut store = burn::store::PytorchStore::from_file(self.path);
            store
                .get_tensor(key)
                .map_err(|e| self.error(e))?
                .map(|t| t.shape.as_slice().to_vec())
        } else {
            let mut store = SafetensorsStore::from_file(self.path);
            store
                .get_tensor(key)
                .map_err(|e| self.error(e))?
                .map(|t| t.shape.as_slice().to_vec())
        };
        shape.ok_or_else(|| self.error(format!("tensor {key} is missing")))
    }

    /// Loads the file into `model` (built with the widths the file implies) and widens every float to f32. The
    /// first wrong-shaped tensor, else the first missing one, is refused by its torchvision name (`torch_name`
    /// maps our paths back). Keys the backbone does not use (a classifier's `fc.*`, `num_batches_tracked`) are
    /// ignored.
    pub fn load_into<M: Module>(&self, mut model: M, torch_name: impl Fn(&str) -> String) -> Result<M> {
        let result: ApplyResult = if self.is_torch() {
            // PytorchStore always adapts PyTorch names (batch norm weight/bias -> gamma/beta).
            let mut store = burn::store::PytorchStore::from_file(self.path)
                .map_indices_contiguous(false)
                .allow_partial(true)
                .validate(false);
            for (from, to) in &self.remap {
                store = store.with_key_remapping(from, to);
            }
            model.load_from(&mut store).map_err(|e| self.error(e))?
        } else {
            let mut store = SafetensorsStore::from_file(self.path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .allow_partial(true)
                .validate(false);
            for (from, to) in &self.remap {
                store = store.with_key_remapping(from, to);
            }
            model.load_from(&mut store).map_err(|e| self.error(e))?
        };
        if let Some(err) = result.errors.first() {
            let msg = match err {
                ApplyError::ShapeMismatch {
                    path: ours,
                    expected,
                    found,
                } => format!(
                    "tensor {} has shape {:?}, {} needs {:?}",
                    torch_name(ours),
                    found.as_slice(),
                    self.what,
                    expected.as_slice()
                ),
                other => other.to_string(),
            };
            return Err(self.error(msg));
        }
        if let Some((missing, _)) = result.missing.first() {
            let more = match result.missing.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            return Err(self.error(format!("tensor {} is missing{more}", torch_name(missing))));
        }
        Ok(model.map(&mut CastToF32))
    }
}

/// The stem width (output channels of the first conv) a file implies, bounded so an untrusted header cannot ask
/// for a giant model: torchvision's files have 64; the fixtures fewer.
/// Only the width is read here; the other dimensions are checked with every other tensor when the file loads.
pub fn stem_width(file: &TorchvisionFile, key: &str) -> Result<usize> {
    let shape = file.shape_of(key)?;
    match *shape.as_slice() {
        [width, _, _, _] if (1..=MAX_STEM_WIDTH).contains(&width) => Ok(width),
        _ => Err(file.error(format!(
            "tensor {key} has shape {shape:?}, {} needs [width, 3, k, k] with width 1..={MAX_STEM_WIDTH} (64 in \
             torchvision's files)",
            file.what
        ))),
    }
}

/// Largest stem width accepted (torchvision: 64; twice that bounds what an untrusted header can make us allocate).
pub const MAX_STEM_WIDTH: usize = 128;

/// Widens every float parameter to f32 (the bundled file is f16, and burn keeps a loaded tensor's dtype).
pub struct CastToF32;

impl ModuleMapper for CastToF32 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if param.val().dtype() == DType::F32 {
            return param;
        }
        // The cast is an op; detaching makes the widened tensor a leaf again, so training sees a plain parameter.
        param.map(|t| {
            let tracked = t.is_require_grad();
            let widened = t.cast(FloatDType::F32).detach();
            if tracked { widened.require_grad() } else { widened }
        })
    }
}

/// ImageNet channel mean and standard deviation (RGB, [0, 1] pixels): torchvision's preprocessing for its
/// pretrained weights (`transforms.Normalize(mean, std)` after `ToTensor`).
pub const TORCHVISION_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const TORCHVISION_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// [0, 1] images (grey or RGB) to what torchvision's ImageNet weights expect: RGB, minus the mean, over the std.
///
/// # Shapes
/// `[batch, 1 | 3, h, w]` -> `[batch, 3, h, w]`
pub fn torchvision_preprocess(images: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let rgb = if c == 1 { images.expand([n, 3, h, w]) } else { images };
    let device = rgb.device();
    let mean = Tensor::<1>::from_floats(TORCHVISION_MEAN, &device).reshape([1, 3, 1, 1]);
    let std = Tensor::<1>::from_floats(TORCHVISION_STD, &device).reshape([1, 3, 1, 1]);
    (rgb - mean) / std
}

/// What the backbone fixture tests share: unpacking a gzipped state dict and comparing block outputs with PyTorch's.
#[cfg(test)]
pub mod fixture {
    use std::path::{Path, PathBuf};

    use burn::prelude::*;

    use crate::dataset::tensor::tensor_values;

    /// tests/fixtures/`name`.
    pub fn path(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// The reference JSON written by tests/fixtures/make_backbone_fixtures.py.
    pub fn reference(name: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path(name)).unwrap()).unwrap()
    }

    /// `name`.pth.gz unpacked into a temporary folder (kept alive by the returned guard).
    pub fn unpack(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let pth = dir.path().join(name.trim_end_matches(".gz"));
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(path(name)).unwrap());
        std::io::copy(&mut gz, &mut std::fs::File::create(&pth).unwrap()).unwrap();
        (dir, pth)
    }

    /// The fixture's fixed input after torchvision's normalisation, through our preprocessing.
    pub fn input(device: &Device) -> Tensor<4> {
        let side = 64;
        let x: Vec<f32> = (0..3 * side * side).map(|i| (i % 17) as f32 / 16.0).collect();
        super::torchvision_preprocess(Tensor::<4>::from_data(TensorData::new(x, [1, 3, side, side]), device))
    }

    /// Runs `forward(x, block)` block by block and checks each block's shape, sum and first values, and the last
    /// block's every value, against PyTorch's within 1e-4 of the block's largest |value|. Returns the largest
    /// error seen relative to that scale.
    pub fn check_blocks(
        reference: &serde_json::Value,
        mut x: Tensor<4>,
        forward: impl Fn(Tensor<4>, usize) -> Tensor<4>,
    ) -> f64 {
        let mut worst = 0.0f64;
        let blocks = reference["blocks"].as_array().unwrap();
        for (k, want) in blocks.iter().enumerate() {
            x = forward(x, k);
            let shape: Vec<usize> = want["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(x.dims().to_vec(), shape, "block {k} shape");
            let ours: Vec<f64> = tensor_values(x.clone()).unwrap().into_iter().map(f64::from).collect();
            let scale = want["max_abs"].as_f64().unwrap();
            let mut close = |a: f64, b: f64, what: String| {
                let rel = (a - b).abs() / scale;
                worst = worst.max(rel);
                assert!(
                    rel <= 1e-4,
                    "block {k} {what}: ours {a}, PyTorch {b} (error {rel:.2e} of max |.| {scale})"
                );
            };
            let sum: f64 = ours.iter().sum();
            // A sum of n values carries n times the per-value tolerance.
            let n = ours.len() as f64;
            let rel = (sum - want["sum"].as_f64().unwrap()).abs() / (scale * n);
            assert!(rel <= 1e-4, "block {k} sum: ours {sum}, PyTorch {}", want["sum"]);
            for (i, b) in want["first16"].as_array().unwrap().iter().enumerate() {
                close(ours[i], b.as_f64().unwrap(), format!("value {i}"));
            }
            if k + 1 == blocks.len() {
                let all = reference["output"].as_array().unwrap();
                assert_eq!(all.len(), ours.len());
                for (i, b) in all.iter().enumerate() {
                    close(ours[i], b.as_f64().unwrap(), format!("output {i}"));
                }
            }
        }
        worst
    }
}
