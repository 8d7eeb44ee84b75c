//! ResNet-50 (He et al. 2016, torchvision's "v1.5": the stride sits on each bottleneck's 3x3 conv) as a classifier
//! backbone, loaded from the user's torchvision weight file. Laid out like tracel-ai/models' resnet-burn: the
//! bottleneck, the network and the weight loading are separate pieces, and our field names are torchvision's
//! (`conv1`, `bn1`, `layerK.M.{convN,bnN}`), so a state dict maps onto the module by key remapping alone
//! (only `downsample.0|1` becomes `downsample.conv|bn`, because a field cannot be named `0`).
//!
//! Five blocks for freezing and caching: the stem (conv 7x7/2, batch norm, ReLU, max-pool 3x3/2), then layer1..4.
//! Batch norm always runs in inference mode with the file's running statistics: frozen blocks never see a
//! gradient, and a fine-tuned block trains its convs and its batch-norm scale and shift but not the statistics,
//! as Keras' transfer-learning guide advises (small batches of a few images per class give noisy batch statistics
//! that would wash out the pretrained ones).

use std::path::Path;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use super::weights::{TorchvisionFile, stem_width};
use crate::error::Result;

/// Bottlenecks per stage of ResNet-50.
pub const RESNET50_LAYERS: [usize; 4] = [3, 4, 6, 3];
/// Blocks for freezing and caching: the stem and the four stages.
pub const RESNET_BLOCKS: usize = 5;
/// A bottleneck's output channels over its inner width.
pub const EXPANSION: usize = 4;
/// Where torchvision's ImageNet weights for ResNet-50 are (IMAGENET1K_V1); nothing is downloaded by synth.
pub const RESNET50_URL: &str = "https://download.pytorch.org/models/resnet50-0676ba61.pth";

/// The shape of a ResNet: bottlenecks per stage and the stem width (64 in torchvision; smaller in the fixtures).
/// Stage `k` has inner width `width * 2^k` and outputs `EXPANSION` times that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    pub layers: [usize; 4],
    pub width: usize,
}

impl ResNetConfig {
    /// ResNet-50 with stem width `width`.
    pub fn resnet50(width: usize) -> ResNetConfig {
        ResNetConfig {
            layers: RESNET50_LAYERS,
            width,
        }
    }

    /// A network with random conv weights and identity batch norms (mean 0, variance 1, scale 1, shift 0); use
    /// [`ResNet::load`] for pretrained weights.
    pub fn init(&self, device: &Device) -> ResNet {
        let mut inplanes = self.width;
        let mut stage = |k: usize| -> Vec<Bottleneck> {
            let planes = self.width << k;
            let stride = if k == 0 { 1 } else { 2 };
            (0..self.layers[k])
                .map(|i| {
                    let block = Bottleneck::new(inplanes, planes, if i == 0 { stride } else { 1 }, device);
                    inplanes = planes * EXPANSION;
                    block
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        ResNet {
            conv1: conv(3, self.width, 7, 2, device),
            bn1: batch_norm(self.width, device),
            relu: Relu::new(),
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }
}

/// A bias-free conv with "same"-style padding `kernel / 2`, as every ResNet conv is.
fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// A batch norm fixed in inference mode (see the module docs): its training flag is off, so it normalises with the
/// running statistics even on the autodiff device, while its scale and shift stay trainable parameters.
fn batch_norm(features: usize, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(features).init(device);
    bn.training = bn.training.with_value(false);
    bn
}

/// The projection shortcut of a stage's first bottleneck: conv 1x1 with the stage's stride, then batch norm
/// (torchvision's `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

/// 1x1 reduce, 3x3 (carrying the stride), 1x1 expand, each with batch norm; ReLU after the residual sum.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub downsample: Option<Downsample>,
    relu: Relu,
}

impl Bottleneck {
    fn new(inplanes: usize, planes: usize, stride: usize, device: &Device) -> Bottleneck {
        let out = planes * EXPANSION;
        let downsample = (stride != 1 || inplanes != out).then(|| Downsample {
            conv: conv(inplanes, out, 1, stride, device),
            bn: batch_norm(out, device),
        });
        Bottleneck {
            conv1: conv(inplanes, planes, 1, 1, device),
            bn1: batch_norm(planes, device),
            conv2: conv(planes, planes, 3, stride, device),
            bn2: batch_norm(planes, device),
            conv3: conv(planes, out, 1, 1, device),
            bn3: batch_norm(out, device),
            downsample,
            relu: Relu::new(),
        }
    }

    /// # Shapes
    /// `[batch, inplanes, h, w]` -> `[batch, 4 * planes, h / stride, w / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let y = self.relu.forward(self.bn1.forward(self.conv1.forward(x)));
        let y = self.relu.forward(self.bn2.forward(self.conv2.forward(y))); // [batch, planes, h / s, w / s]
        let y = self.bn3.forward(self.conv3.forward(y)); // [batch, 4 * planes, h / s, w / s]
        self.relu.forward(y + identity)
    }
}

/// ResNet's feature stack (no `fc`): the stem and four stages of bottlenecks.
#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    relu: Relu,
    pub layer1: Vec<Bottleneck>,
    pub layer2: Vec<Bottleneck>,
    pub layer3: Vec<Bottleneck>,
    pub layer4: Vec<Bottleneck>,
}

impl ResNet {
    /// Loads torchvision-layout ResNet-50 weights (.pth state dict or .safetensors). The stem width is read from
    /// `conv1.weight` (64 in torchvision's file), everything else must match the ResNet-50 of that width: a
    /// missing or wrong-shaped tensor is a bad-input error naming it. `fc.*` and `num_batches_tracked` are ignored.
    pub fn load(path: &Path, device: &Device) -> Result<ResNet> {
        let file = TorchvisionFile {
            path,
            what: "ResNet-50",
            remap: vec![
                (r"\.downsample\.0\.".into(), ".downsample.conv.".into()),
                (r"\.downsample\.1\.".into(), ".downsample.bn.".into()),
            ],
        };
        file.check_exists()?;
        let width = stem_width(&file, "conv1.weight")?;
        file.load_into(ResNetConfig::resnet50(width).init(device), torch_name)
    }

    /// The stages' bottlenecks, `k` in 0..4.
    fn stage(&self, k: usize) -> &[Bottleneck] {
        match k {
            0 => &self.layer1,
            1 => &self.layer2,
            2 => &self.layer3,
            _ => &self.layer4,
        }
    }

    /// Output channels of the last stage (2048 for torchvision's ResNet-50).
    pub fn out_channels(&self) -> usize {
        self.layer4
            .last()
            .map_or(self.conv1.weight.dims()[0], |b| b.conv3.weight.dims()[0])
    }

    /// The stem: conv 7x7/2, batch norm, ReLU, max-pool 3x3/2 (padding 1).
    ///
    /// # Shapes
    /// `[batch, 3, h, w]` -> `[batch, width, h / 4, w / 4]` (rounded as PyTorch rounds)
    pub fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.relu.forward(self.bn1.forward(self.conv1.forward(x))); // [batch, width, h / 2, w / 2]
        max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]))
    }

    /// Runs blocks `from..to` (0 = the stem, 1..=4 = layer1..layer4).
    ///
    /// # Shapes
    /// `[batch, c, h, w]` -> `[batch, c', h', w']`; after all five, `[batch, 32 * width, h / 32, w / 32]`
    pub fn forward_blocks(&self, x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        self.forward_layers(x, self.block_start(from), self.block_start(to))
    }

    /// Layers (the stem, then each bottleneck) before block `block`.
    pub fn block_start(&self, block: usize) -> usize {
        match block {
            0 => 0,
            b => 1 + (0..(b - 1).min(4)).map(|k| self.stage(k).len()).sum::<usize>(),
        }
    }

    /// Layers in all: the stem and every bottleneck (17 for ResNet-50).
    pub fn num_layers(&self) -> usize {
        self.block_start(RESNET_BLOCKS)
    }

    /// Runs layers `from..to` (0 = the stem, then layer1..layer4's bottlenecks in order).
    pub fn forward_layers(&self, mut x: Tensor<4>, from: usize, to: usize) -> Tensor<4> {
        let bottlenecks: Vec<&Bottleneck> = (0..4).flat_map(|k| self.stage(k)).collect();
        for layer in from..to {
            x = match layer {
                0 => self.stem(x),
                l => match bottlenecks.get(l - 1) {
                    Some(b) => b.forward(x),
                    None => break,
                },
            };
        }
        x
    }
}

/// Our field path -> torchvision's key (`layer1.0.downsample.conv.weight` -> `layer1.0.downsample.0.weight`,
/// batch norm `gamma`/`beta` -> `weight`/`bias`).
fn torch_name(path: &str) -> String {
    let name = path
        .replace(".downsample.conv.", ".downsample.0.")
        .replace(".downsample.bn.", ".downsample.1.");
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_names_round_trip() {
        assert_eq!(
            torch_name("layer2.0.downsample.bn.gamma"),
            "layer2.0.downsample.1.weight"
        );
        assert_eq!(torch_name("layer4.2.conv3.weight"), "layer4.2.conv3.weight");
        assert_eq!(torch_name("bn1.beta"), "bn1.bias");
        assert_eq!(torch_name("bn1.running_var"), "bn1.running_var");
    }

    /// The module's parameter paths are torchvision's keys (after the documented downsample rename): what makes
    /// loading a state dict a remapping, not a copy.
    #[test]
    fn parameter_paths_are_torchvision_keys() {
        use burn::store::{ModuleSnapshot, SafetensorsStore};
        let device = crate::backend::device();
        let net = ResNetConfig::resnet50(4).init(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.safetensors");
        let mut store = SafetensorsStore::from_file(&path).with_to_adapter(burn::store::BurnToPyTorchAdapter);
        net.save_into(&mut store).unwrap();
        let mut keys = burn::store::ModuleStore::keys(&mut SafetensorsStore::from_file(&path)).unwrap();
        keys.sort();
        for key in [
            "conv1.weight",
            "bn1.weight",
            "bn1.running_mean",
            "layer1.0.downsample.conv.weight",
            "layer1.0.downsample.bn.running_var",
            "layer3.5.bn3.bias",
            "layer4.2.conv3.weight",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        // 1 stem conv + 16 bottlenecks x 3 convs + 4 downsample convs = 53 convs; as many batch norms x 4 tensors.
        assert_eq!(keys.len(), 53 + 53 * 4, "{keys:?}");
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;
    use crate::classifier::weights::fixture;
    use crate::dataset::tensor::tensor_values;

    fn value<const D: usize>(t: Tensor<D>, index: &[usize]) -> f32 {
        let dims = t.dims();
        let flat = index.iter().zip(dims.iter()).fold(0, |acc, (i, d)| acc * d + i);
        tensor_values(t.reshape([-1])).unwrap()[flat]
    }

    /// A torchvision ResNet-50 at 1/8 width with seeded random weights and batch-norm statistics, saved by
    /// PyTorch's `torch.save` (tests/fixtures/make_backbone_fixtures.py: torchvision's own Bottleneck and
    /// _make_layer, torchvision's exact key names), loads through synth, and synth's preprocessing and five blocks
    /// compute what PyTorch computed, block by block, within 1e-4 of each block's largest value.
    #[test]
    fn torchvision_resnet50_fixture_matches_pytorch() {
        let reference = fixture::reference("resnet50_w8_reference.json");
        let (_dir, pth) = fixture::unpack("resnet50_w8_random.pth.gz");
        let device = crate::backend::device();
        let net = ResNet::load(&pth, &device).unwrap();
        let w = &reference["weights"];
        let raw = |key: &str| w[key].as_f64().unwrap() as f32;
        assert_eq!(
            value(net.conv1.weight.val(), &[1, 2, 3, 4]),
            raw("conv1.weight[1, 2, 3, 4]")
        );
        assert_eq!(value(net.bn1.running_var.value(), &[3]), raw("bn1.running_var[3]"));
        let down = net.layer2[0].downsample.as_ref().unwrap();
        assert_eq!(value(down.bn.gamma.val(), &[5]), raw("layer2.0.downsample.1.weight[5]"));
        assert_eq!(
            value(net.layer4[2].conv3.weight.val(), &[255, 63, 0, 0]),
            raw("layer4.2.conv3.weight[255, 63, 0, 0]")
        );
        assert_eq!(net.out_channels(), 256);
        let worst = fixture::check_blocks(&reference, fixture::input(&device), |x, k| {
            net.forward_blocks(x, k, k + 1)
        });
        eprintln!("resnet50 fixture: largest error {worst:.2e} of each block's max |value|");
    }

    /// The fixture written back as .safetensors with torchvision's names (burn's PyTorch adapter, the downsample
    /// rename undone) loads to the same network; the same file without one tensor is refused naming exactly it.
    #[test]
    fn safetensors_file_loads_and_a_single_missing_tensor_is_named() {
        use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
        let (dir, pth) = fixture::unpack("resnet50_w8_random.pth.gz");
        let device = crate::backend::device();
        let net = ResNet::load(&pth, &device).unwrap();
        let save = |name: &str, keep: fn(&str, &str) -> bool| {
            let path = dir.path().join(name);
            let mut store = SafetensorsStore::from_file(&path)
                .with_to_adapter(BurnToPyTorchAdapter)
                .with_key_remapping(r"\.downsample\.conv\.", ".downsample.0.")
                .with_key_remapping(r"\.downsample\.bn\.", ".downsample.1.")
                .with_predicate(keep);
            net.save_into(&mut store).unwrap();
            path
        };
        let full = save("full.safetensors", |_, _| true);
        let again = ResNet::load(&full, &device).unwrap();
        let x = fixture::input(&device);
        assert_eq!(
            tensor_values(again.forward_blocks(x.clone(), 0, RESNET_BLOCKS)).unwrap(),
            tensor_values(net.forward_blocks(x, 0, RESNET_BLOCKS)).unwrap()
        );
        let missing = save("missing.safetensors", |path, _| path != "layer4.2.bn3.running_var");
        let err = ResNet::load(&missing, &device).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(msg.ends_with("tensor layer4.2.bn3.running_var is missing"), "{msg}");
    }

    /// The stem width comes from an untrusted header, so it is bounded before any network is built.
    #[test]
    fn an_oversized_stem_width_is_refused_before_building() {
        use burn::nn::conv::Conv2dConfig;
        use burn::store::{ModuleSnapshot, SafetensorsStore};
        #[derive(Module, Debug)]
        struct Stem {
            conv1: Conv2d,
        }
        let device = crate::backend::device();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.safetensors");
        let stem = Stem {
            conv1: Conv2dConfig::new([3, 1000], [7, 7]).with_bias(false).init(&device),
        };
        stem.save_into(&mut SafetensorsStore::from_file(&path)).unwrap();
        let err = ResNet::load(&path, &device).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        assert!(
            err.to_string()
                .contains("tensor conv1.weight has shape [1000, 3, 7, 7]"),
            "{err}"
        );
    }

    #[test]
    fn wrong_shaped_resnet_weights_name_the_tensor() {
        let err = ResNet::load(&fixture::path("resnet50_wrong_shape.pth"), &crate::backend::device()).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(
            msg.contains("tensor layer3.1.conv2.weight has shape [32, 32, 1, 1], ResNet-50 needs [32, 32, 3, 3]"),
            "{msg}"
        );
    }

    #[test]
    fn missing_resnet_weights_name_the_tensor() {
        let device = crate::backend::device();
        let err = ResNet::load(&fixture::path("resnet50_missing_key.pth"), &device).unwrap_err();
        let msg = err.to_string();
        assert!(err.is_bad_input(), "{msg}");
        assert!(msg.contains("tensor bn1.running_var is missing"), "{msg}");
        let err = ResNet::load(&fixture::path("vgg19_missing_key.pth"), &device).unwrap_err();
        assert!(err.to_string().contains("tensor conv1.weight is missing"), "{err}");
        let err = ResNet::load(Path::new("no/such.pth"), &device).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("no such file"), "{err}");
    }
}
