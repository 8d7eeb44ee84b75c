//! VGG16's and VGG19's conv feature stacks, one implementation for the classifier backbones and for style
//! transfer's feature taps (VGG16). Weights load by key remapping from torchvision names (`features.N.*`), never by
//! hand-copying tensors. Which of the two a module is follows from its number of convs (13 or 16), so the layout
//! needs no field of its own.

use std::path::Path;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use super::weights::{TorchvisionFile, stem_width};
use crate::error::{Result, SynthError};

pub use super::weights::CastToF32;

/// ImageNet channel means (RGB, 0..255) the bundled (Keras/Caffe) VGG16 weights were trained with.
pub const VGG_MEAN_RGB: [f32; 3] = [123.68, 116.779, 103.939];

/// One conv: (name, block, input channels, output channels, torchvision `features` index), channels at
/// torchvision's widths (stem width 64; a reduced-width file scales them all by `width / 64`).
pub type ConvSpec = (&'static str, usize, usize, usize, usize);

/// VGG16's 13 conv layers.
pub const VGG16_CONVS: [ConvSpec; 13] = [
    ("conv1_1", 0, 3, 64, 0),
    ("conv1_2", 0, 64, 64, 2),
    ("conv2_1", 1, 64, 128, 5),
    ("conv2_2", 1, 128, 128, 7),
    ("conv3_1", 2, 128, 256, 10),
    ("conv3_2", 2, 256, 256, 12),
    ("conv3_3", 2, 256, 256, 14),
    ("conv4_1", 3, 256, 512, 17),
    ("conv4_2", 3, 512, 512, 19),
    ("conv4_3", 3, 512, 512, 21),
    ("conv5_1", 4, 512, 512, 24),
    ("conv5_2", 4, 512, 512, 26),
    ("conv5_3", 4, 512, 512, 28),
];

/// VGG19's 16 conv layers (torchvision configuration "E": blocks 3 to 5 have four convs).
pub const VGG19_CONVS: [ConvSpec; 16] = [
    ("conv1_1", 0, 3, 64, 0),
    ("conv1_2", 0, 64, 64, 2),
    ("conv2_1", 1, 64, 128, 5),
    ("conv2_2", 1, 128, 128, 7),
    ("conv3_1", 2, 128, 256, 10),
    ("conv3_2", 2, 256, 256, 12),
    ("conv3_3", 2, 256, 256, 14),
    ("conv3_4", 2, 256, 256, 16),
    ("conv4_1", 3, 256, 512, 19),
    ("conv4_2", 3, 512, 512, 21),
    ("conv4_3", 3, 512, 512, 23),
    ("conv4_4", 3, 512, 512, 25),
    ("conv5_1", 4, 512, 512, 28),
    ("conv5_2", 4, 512, 512, 30),
    ("conv5_3", 4, 512, 512, 32),
    ("conv5_4", 4, 512, 512, 34),
];

/// Number of blocks (each a run of convs closed by a 2x2 max-pool), VGG16 and VGG19 alike.
pub const VGG16_BLOCKS: usize = 5;

/// Where torchvision's ImageNet weights for VGG19 are (IMAGENET1K_V1); nothing is downloaded by synth.
pub const VGG19_URL: &str = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth";

/// The bundled ImageNet weights, relative to the repository root.
pub const BUNDLED_WEIGHTS: &str = "models/vgg16_features_f16.safetensors";

/// Which VGG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VggDepth {
    Vgg16,
    Vgg19,
}

impl VggDepth {
    /// The conv table.
    pub fn convs(self) -> &'static [ConvSpec] {
        match self {
            VggDepth::Vgg16 => &VGG16_CONVS,
            VggDepth::Vgg19 => &VGG19_CONVS,
        }
    }

    fn name(self) -> &'static str {
        match self {
            VggDepth::Vgg16 => "VGG16",
            VggDepth::Vgg19 => "VGG19",
        }
    }
}

/// A feature tap: the ReLU output of a named conv (`relu4_2`), as style transfer and the fixture name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap(pub usize);

impl std::str::FromStr for Tap {
    type Err = SynthError;
    fn from_str(s: &str) -> Result<Tap> {
        let conv = s.strip_prefix("relu").map(|rest| format!("conv{rest}"));
        VGG16_CONVS
            .iter()
            .position(|(name, ..)| Some(*name) == conv.as_deref())
            .map(Tap)
            .ok_or_else(|| SynthError::bad_input(format!("unknown VGG16 layer '{s}' (relu1_1 ... relu5_3)")))
    }
}

/// A VGG feature stack (no classifier layers): VGG16 (13 convs) or VGG19 (16).
#[derive(Module, Debug)]
pub struct Vgg {
    pub convs: Vec<Conv2d>,
    relu: Relu,
}

/// The VGG16 stack: style transfer's feature extractor and the bundled classifier backbone.
pub type Vgg16 = Vgg;

impl Vgg {
    /// Randomly initialised (Kaiming) VGG16; use [`Vgg::load`] for ImageNet weights.
    pub fn new(device: &Device) -> Vgg {
        Vgg::with_depth(VggDepth::Vgg16, 64, device)
    }

    /// Randomly initialised, stem width `width` (torchvision: 64; every block scales with it).
    pub fn with_depth(depth: VggDepth, width: usize, device: &Device) -> Vgg {
        let scale = |c: usize| if c == 3 { 3 } else { c * width / 64 };
        let convs = depth
            .convs()
            .iter()
            .map(|&(_, _, cin, cout, _)| {
                Conv2dConfig::new([scale(cin), scale(cout)], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Vgg {
            convs,
            relu: Relu::new(),
        }
    }

    /// Loads torchvision-layout VGG16 weights (`features.N.weight|bias`, OIHW); see [`Vgg::load_depth`].
    pub fn load(path: &Path, device: &Device) -> Result<Vgg> {
        Vgg::load_depth(path, VggDepth::Vgg16, device)
    }

    /// Loads torchvision-layout weights (`features.N.weight|bias`, OIHW) from a .safetensors file, or a PyTorch
    /// state dict (.pth/.pt). The stem width is read from `features.0.weight` (64 in torchvision's files; the
    /// fixtures are narrower). Half-precision files are widened to f32. A missing or wrong-shaped tensor is a
    /// bad-input error that names it; `classifier.*` keys are ignored.
    pub fn load_depth(path: &Path, depth: VggDepth, device: &Device) -> Result<Vgg> {
        let file = TorchvisionFile {
            path,
            what: depth.name(),
            remap: depth
                .convs()
                .iter()
                .enumerate()
                .map(|(i, &(.., torch))| (format!(r"^features\.{torch}\."), format!("convs.{i}.")))
                .collect(),
        };
        file.check_exists()?;
        let width = stem_width(&file, "features.0.weight")?;
        file.load_into(Vgg::with_depth(depth, width, device), |ours| torch_name(depth, ours))
    }

    /// VGG16 or VGG19, from the number of convs.
    pub fn depth(&self) -> VggDepth {
        if self.convs.len() == VGG19_CONVS.len() {
            VggDepth::Vgg19
        } else {
            VggDepth::Vgg16
        }
    }

    /// Output channels of the last conv (512 at torchvision's widths).
    pub fn out_channels(&self) -> usize {
        self.convs.last().map_or(3, |c| c.weight.dims()[0])
    }

    /// Layers (a conv with its ReLU) before block `block`: where a block starts in [`Vgg::forward_layers`]' count.
    pub fn block_start(&self, block: usize) -> usize {
        self.depth().convs().iter().filter(|c| c.1 < block).count()
    }

    /// Runs blocks `from..to` (0-based; each block's convs with ReLU, then the 2x2 max-pool).
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> `[batch, c', h / 2^(to-from), w / 2^(to-from)]`
    pub fn forward_blocks(&self, x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        self.forward_layers(x, self.block_start(from), self.block_start(to))
    }

    /// Runs layers `from..to` (0-based over all convs): conv `i` with its ReLU, then the 2x2 max-pool when conv `i`
    /// closes its block. A cut inside a block is what lets a fit train only a block's last convs and cache the rest.
    pub fn forward_layers(&self, mut x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        let layout = self.depth().convs();
        for i in from..to.min(layout.len()) {
            x = self.relu.forward(self.convs[i].forward(x));
            if layout.get(i + 1).is_none_or(|next| next.1 != layout[i].1) {
                x = max_pool_2x2(x);
            }
        }
        x
    }

    /// The ReLU activations at the given taps, computing only as deep as the deepest tap.
    pub fn forward_taps(&self, mut x: Tensor<4>, taps: &[Tap]) -> Vec<Tensor<4>> {
        let layout = self.depth().convs();
        let deepest = taps.iter().map(|t| t.0).max().unwrap_or(0);
        let mut out: Vec<Option<Tensor<4>>> = vec![None; taps.len()];
        for i in 0..=deepest {
            if i > 0 && layout[i].1 != layout[i - 1].1 {
                x = max_pool_2x2(x);
            }
            x = self.relu.forward(self.convs[i].forward(x));
            for (slot, tap) in out.iter_mut().zip(taps) {
                if tap.0 == i {
                    *slot = Some(x.clone());
                }
            }
        }
        out.into_iter()
            .map(|t| t.expect("every tap is at or above the deepest"))
            .collect()
    }
}

/// 2x2 max-pool with stride 2 (odd edges dropped, as in VGG).
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// [0, 1] images (grey or RGB) to what the ImageNet weights expect: RGB, 0..255, minus the channel means.
///
/// # Shapes
/// `[batch, 1 | 3, h, w]` -> `[batch, 3, h, w]`
pub fn preprocess(images: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let rgb = if c == 1 { images.expand([n, 3, h, w]) } else { images };
    let mean = Tensor::<1>::from_floats(VGG_MEAN_RGB, &rgb.device()).reshape([1, 3, 1, 1]);
    rgb * 255.0 - mean
}

/// Our field names -> torchvision's `features.N`.
fn torch_name(depth: VggDepth, path: &str) -> String {
    for (i, &(.., torch)) in depth.convs().iter().enumerate() {
        if let Some(rest) = path.strip_prefix(&format!("convs.{i}.")) {
            return format!("features.{torch}.{rest}");
        }
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Image;
    use crate::dataset::tensor::{images_to_tensor, tensor_values};
    use burn::store::{ModuleSnapshot, SafetensorsStore};

    fn rel_close(got: f64, want: f64, what: &str) {
        let rel = (got - want).abs() / want.abs().max(1e-6);
        assert!(
            rel < 1e-3,
            "{what}: got {got}, reference {want} (relative error {rel:.2e})"
        );
    }

    /// Every tap of the bundled weights on a pixel-exact 64x64 crop of chelsea.png matches the reference statistics
    /// (computed independently with numpy from the same file) within 1e-3 relative.
    #[test]
    fn bundled_weights_match_the_reference_activations() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("tests/fixtures/vgg16_chelsea64_reference.json")).unwrap(),
        )
        .unwrap();
        let cat = Image::load(&root.join("data/images/chelsea.png")).unwrap();
        let mut crop = Image::zeros(3, 64, 64);
        for c in 0..3 {
            for y in 0..64 {
                for x in 0..64 {
                    crop.set(c, y, x, cat.get(c, 100 + y, 200 + x));
                }
            }
        }
        let device = crate::backend::device();
        let vgg = Vgg16::load(&root.join(BUNDLED_WEIGHTS), &device).unwrap();
        let input = preprocess(images_to_tensor(&[&crop], &device).unwrap());
        let layers = reference["layers"].as_object().unwrap();
        let taps: Vec<Tap> = layers.keys().map(|k| k.parse().unwrap()).collect();
        let outputs = vgg.forward_taps(input, &taps);
        for ((name, want), out) in layers.iter().zip(outputs) {
            let shape: Vec<usize> = want["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(out.dims().to_vec(), shape, "{name} shape");
            let (c, hw) = (shape[1], shape[2] * shape[3]);
            let features = out.clone().reshape([c, hw]);
            let gram = features.clone().matmul(features.transpose());
            let gram_values = tensor_values(gram).unwrap();
            let trace: f64 = (0..c).map(|i| gram_values[i * c + i] as f64).sum::<f64>() / hw as f64;
            let sum: f64 = gram_values.iter().map(|v| *v as f64).sum::<f64>() / hw as f64;
            let v: Vec<f64> = tensor_values(out).unwrap().into_iter().map(f64::from).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            let max = v.iter().cloned().fold(f64::MIN, f64::max);
            rel_close(mean, want["mean"].as_f64().unwrap(), &format!("{name} mean"));
            rel_close(std, want["std"].as_f64().unwrap(), &format!("{name} std"));
            rel_close(max, want["max"].as_f64().unwrap(), &format!("{name} max"));
            rel_close(
                trace,
                want["gram_trace_over_hw"].as_f64().unwrap(),
                &format!("{name} gram trace"),
            );
            rel_close(
                sum,
                want["gram_sum_over_hw"].as_f64().unwrap(),
                &format!("{name} gram sum"),
            );
            for (k, w) in want["first8_channel0_row0"].as_array().unwrap().iter().enumerate() {
                let w = w.as_f64().unwrap();
                assert!(
                    (v[k] - w).abs() <= 1e-3 * w.abs().max(1.0),
                    "{name} value {k}: {} vs {w}",
                    v[k]
                );
            }
        }
    }

    /// A torchvision-layout state dict saved by PyTorch 2.15's `torch.save` (tests/fixtures/make_vgg16_pth.py: exact
    /// VGG16 shapes, a periodic weight pattern so it gzips small) loads into the backbone, and the backbone computes
    /// what PyTorch's own `features` stack computed from it: the layout (names, OIHW order), padding and pooling agree.
    #[test]
    fn pytorch_state_dict_loads_and_matches_pytorch_outputs() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("vgg16_pattern_reference.json")).unwrap())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pth = dir.path().join("vgg16_pattern.pth");
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(fixtures.join("vgg16_pattern.pth.gz")).unwrap());
        std::io::copy(&mut gz, &mut std::fs::File::create(&pth).unwrap()).unwrap();
        let device = crate::backend::device();
        let vgg = Vgg16::load(&pth, &device).unwrap();

        let weight = |conv: usize, index: [usize; 4]| {
            let w = vgg.convs[conv].weight.val();
            let [o, i, h, k] = index;
            tensor_values(w.slice([o..o + 1, i..i + 1, h..h + 1, k..k + 1])).unwrap()[0]
        };
        let raw = &reference["weights"];
        assert_eq!(
            weight(0, [1, 2, 0, 1]),
            raw["features.0.weight[1, 2, 0, 1]"].as_f64().unwrap() as f32
        );
        assert_eq!(
            weight(12, [511, 100, 2, 0]),
            raw["features.28.weight[511, 100, 2, 0]"].as_f64().unwrap() as f32
        );
        let bias = tensor_values(vgg.convs[12].bias.as_ref().unwrap().val()).unwrap()[7];
        assert_eq!(bias, raw["features.28.bias[7]"].as_f64().unwrap() as f32);

        let input: Vec<f32> = (0..3 * 32 * 32).map(|i| (i % 17) as f32 / 16.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(input, [1, 3, 32, 32]), &device);
        let ours = tensor_values(vgg.forward_blocks(x, 0, 5)).unwrap();
        let theirs = reference["features_output"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len());
        let scale = theirs.iter().map(|v| v.as_f64().unwrap().abs()).fold(0.0, f64::max);
        for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let b = b.as_f64().unwrap();
            assert!(
                (*a as f64 - b).abs() <= 1e-4 * scale,
                "output {k}: ours {a}, PyTorch {b}"
            );
        }
    }

    #[test]
    fn wrong_shaped_pytorch_weights_name_the_tensor() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vgg16_wrong_shape.pth");
        let err = Vgg16::load(&path, &crate::backend::device()).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(
            msg.contains("tensor features.0.weight has shape [64, 3, 5, 5], VGG16 needs [64, 3, 3, 3]"),
            "{msg}"
        );
    }

    #[test]
    fn taps_parse_by_relu_name() {
        assert_eq!("relu1_1".parse::<Tap>().unwrap(), Tap(0));
        assert_eq!("relu4_2".parse::<Tap>().unwrap(), Tap(8));
        assert!("relu6_1".parse::<Tap>().unwrap_err().is_bad_input());
    }

    #[test]
    fn missing_or_wrong_shaped_weights_name_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let device = crate::backend::device();
        let err = Vgg16::load(&dir.path().join("none.safetensors"), &device).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("no such file"), "{err}");
        // A file whose conv1_1 has the wrong shape: build it by exporting a module with a 4-channel first conv.
        #[derive(Module, Debug)]
        struct Wrong {
            features: Vec<Conv2d>,
        }
        let wrong = Wrong {
            features: vec![Conv2dConfig::new([4, 64], [3, 3]).init(&device)],
        };
        let path = dir.path().join("wrong.safetensors");
        let mut store = SafetensorsStore::from_file(&path);
        wrong.save_into(&mut store).unwrap();
        let err = Vgg16::load(&path, &device).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(
            msg.contains("tensor features.0.weight has shape [64, 4, 3, 3], VGG16 needs [64, 3, 3, 3]"),
            "{msg}"
        );
    }
}

#[cfg(test)]
mod vgg19_tests {
    use super::*;
    use crate::classifier::weights::{fixture, torchvision_preprocess};
    use crate::dataset::tensor::tensor_values;

    /// A torchvision VGG19 at 1/8 width with seeded random weights (tests/fixtures/make_backbone_fixtures.py:
    /// torchvision's own make_layers, its exact `features.N` keys) loads through synth, and the five blocks compute
    /// what PyTorch computed within 1e-4 of each block's largest value.
    #[test]
    fn torchvision_vgg19_fixture_matches_pytorch() {
        let reference = fixture::reference("vgg19_w8_reference.json");
        let (_dir, pth) = fixture::unpack("vgg19_w8_random.pth.gz");
        let device = crate::backend::device();
        let vgg = Vgg::load_depth(&pth, VggDepth::Vgg19, &device).unwrap();
        assert_eq!(
            (vgg.depth(), vgg.convs.len(), vgg.out_channels()),
            (VggDepth::Vgg19, 16, 64)
        );
        let w = &reference["weights"];
        let at = |conv: usize, index: [usize; 4]| {
            let [o, i, h, k] = index;
            tensor_values(
                vgg.convs[conv]
                    .weight
                    .val()
                    .slice([o..o + 1, i..i + 1, h..h + 1, k..k + 1]),
            )
            .unwrap()[0]
        };
        assert_eq!(
            at(0, [1, 2, 0, 1]),
            w["features.0.weight[1, 2, 0, 1]"].as_f64().unwrap() as f32
        );
        assert_eq!(
            at(15, [63, 10, 2, 0]),
            w["features.34.weight[63, 10, 2, 0]"].as_f64().unwrap() as f32
        );
        let bias = tensor_values(vgg.convs[15].bias.as_ref().unwrap().val()).unwrap()[7];
        assert_eq!(bias, w["features.34.bias[7]"].as_f64().unwrap() as f32);
        let worst = fixture::check_blocks(&reference, fixture::input(&device), |x, k| {
            vgg.forward_blocks(x, k, k + 1)
        });
        eprintln!("vgg19 fixture: largest error {worst:.2e} of each block's max |value|");
        // The preprocessing is torchvision's Normalize: grey 0.5 maps to (0.5 - mean) / std in each channel.
        let grey = Tensor::<4>::full([1, 1, 1, 1], 0.5, &device);
        let v = tensor_values(torchvision_preprocess(grey)).unwrap();
        assert!((v[0] - (0.5 - 0.485) / 0.229).abs() < 1e-6 && (v[2] - (0.5 - 0.406) / 0.225).abs() < 1e-6);
    }

    #[test]
    fn wrong_shaped_or_missing_vgg19_weights_name_the_tensor() {
        let device = crate::backend::device();
        let err = Vgg::load_depth(&fixture::path("vgg19_wrong_shape.pth"), VggDepth::Vgg19, &device).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(
            msg.contains("tensor features.16.weight has shape [32, 32, 1, 1], VGG19 needs [32, 32, 3, 3]"),
            "{msg}"
        );
        let err = Vgg::load_depth(&fixture::path("vgg19_missing_key.pth"), VggDepth::Vgg19, &device).unwrap_err();
        assert!(
            err.is_bad_input()
                && err
                    .to_string()
                    .contains("tensor features.2.bias is missing (and 29 more)"),
            "{err}"
        );
    }
}
