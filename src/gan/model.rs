//! The class-conditional DCGAN (Radford et al. 2016, conditioned as in Mirza & Osindero 2014): a generator that
//! joins a learned label embedding to the latent vector and upsamples with transposed convolutions and batch norm,
//! and a discriminator that sees the image with one constant map per class (the one-hot label) and downsamples with
//! strided convolutions and LeakyReLU. Both work on images in [-1, 1].
//!
//! The size of the networks follows the image: `stages` stride-2 layers take a `base x base` map to the image side
//! (`side = base * 2^stages`, base 3..=8), the channel count doubling at each stage away from the image. For 28x28
//! MNIST this is the reference network of issue 4 (G: z100 + 10-d embedding -> Linear 128x7x7 -> BN -> ReLU ->
//! ConvT 64 -> BN -> ReLU -> ConvT 1 -> tanh; D: image + 10 label maps -> Conv 64 s2 -> LeakyReLU -> Conv 128 s2 ->
//! BN -> LeakyReLU -> Linear 1).

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::error::SynthError;

/// The library's result (spelled out: burn's `Config` derive expands to code that names `Result` unqualified).
type GanResult<T> = crate::error::Result<T>;

/// Largest image side the GAN makes (larger images cost more than a CPU run can afford, and DCGAN's plain
/// stack becomes unstable).
pub const MAX_SIDE: usize = 64;

/// The DCGAN initialisation: weights ~ N(0, 0.02).
fn dcgan_init() -> Initializer {
    Initializer::Normal { mean: 0.0, std: 0.02 }
}

/// Slope of the discriminator's LeakyReLU.
const LEAK: f64 = 0.2;

/// How the networks reach an image side: `stages` stride-2 layers from a `base x base` map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub stages: usize,
    pub base: usize,
}

impl Plan {
    /// The fewest stride-2 stages that reach `height x width` from a 3..=8 map, or a bad-input error that says
    /// which sizes work.
    pub fn for_size(height: usize, width: usize) -> GanResult<Plan> {
        let refuse = || {
            SynthError::bad_input(format!(
                "the GAN cannot make {width}x{height} images: it makes square images whose side is 3-8 times a \
                 power of two, up to {MAX_SIDE} (e.g. 8, 16, 28, 32, 48, 64); pass --resize 32"
            ))
        };
        if height != width || width > MAX_SIDE {
            return Err(refuse());
        }
        (1..=4)
            .filter(|&s| width.is_multiple_of(1 << s))
            .map(|s| Plan {
                stages: s,
                base: width >> s,
            })
            .find(|p| (3..=8).contains(&p.base))
            .ok_or_else(refuse)
    }

    /// The image side.
    pub fn side(&self) -> usize {
        self.base << self.stages
    }
}

/// Builds a [`Generator`].
#[derive(Config, Debug)]
pub struct GeneratorConfig {
    /// Number of classes (rows of the label embedding).
    pub classes: usize,
    /// Image channels (1 grey, 3 RGB).
    pub channels: usize,
    /// Image side (see [`Plan::for_size`]).
    pub side: usize,
    #[config(default = 100)]
    pub latent_dim: usize,
    #[config(default = 10)]
    pub embed_dim: usize,
    /// Channels of the last hidden layer; doubled at each earlier stage.
    #[config(default = 64)]
    pub width: usize,
}

/// The generator: (z, label) -> image in [-1, 1].
#[derive(Module, Debug)]
pub struct Generator {
    pub embed: Embedding,
    pub project: Linear,
    pub norm0: BatchNorm,
    /// One transposed convolution per stage; the last one makes the image.
    pub ups: Vec<ConvTranspose2d>,
    /// Batch norms after every transposed convolution but the last.
    pub norms: Vec<BatchNorm>,
    pub latent_dim: usize,
    pub top_channels: usize,
    pub base: usize,
}

impl GeneratorConfig {
    /// A freshly initialised generator (weights from the device's seeded generator). Errors on a size the
    /// architecture cannot make.
    pub fn init(&self, device: &Device) -> GanResult<Generator> {
        let plan = Plan::for_size(self.side, self.side)?;
        let top = self.width << (plan.stages - 1);
        let mut ups = Vec::new();
        let mut norms = Vec::new();
        for stage in 0..plan.stages {
            let cin = top >> stage;
            let last = stage + 1 == plan.stages;
            let cout = if last { self.channels } else { cin / 2 };
            ups.push(
                ConvTranspose2dConfig::new([cin, cout], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_initializer(dcgan_init())
                    .init(device),
            );
            if !last {
                norms.push(BatchNormConfig::new(cout).init(device));
            }
        }
        Ok(Generator {
            embed: EmbeddingConfig::new(self.classes, self.embed_dim).init(device),
            project: LinearConfig::new(self.latent_dim + self.embed_dim, top * plan.base * plan.base)
                .with_initializer(dcgan_init())
                .init(device),
            norm0: BatchNormConfig::new(top).init(device),
            ups,
            norms,
            latent_dim: self.latent_dim,
            top_channels: top,
            base: plan.base,
        })
    }
}

impl Generator {
    /// Images for latent vectors and class labels, in [-1, 1].
    ///
    /// # Shapes
    /// `z`: `[batch, latent_dim]`, `labels`: `[batch]` -> `[batch, channels, side, side]`
    pub fn forward(&self, z: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let embedded = self.embed.forward(labels.reshape([batch, 1])).flatten::<2>(1, 2); // [batch, embed]
        let x = self.project.forward(Tensor::cat(vec![z, embedded], 1)); // [batch, top * base * base]
        let mut x = relu(
            self.norm0
                .forward(x.reshape([batch, self.top_channels, self.base, self.base])),
        ); // [batch, 128, 7, 7]
        for (i, up) in self.ups.iter().enumerate() {
            x = up.forward(x); // channels halve, side doubles: [batch, 64, 14, 14], then [batch, 1, 28, 28]
            x = match self.norms.get(i) {
                Some(norm) => relu(norm.forward(x)),
                None => tanh(x),
            };
        }
        x
    }
}

/// Builds a [`Discriminator`].
#[derive(Config, Debug)]
pub struct DiscriminatorConfig {
    /// Number of classes (one-hot label maps joined to the image).
    pub classes: usize,
    /// Image channels.
    pub channels: usize,
    /// Image side (see [`Plan::for_size`]).
    pub side: usize,
    /// Channels of the first convolution; doubled at each later stage.
    #[config(default = 64)]
    pub width: usize,
}

/// The discriminator: (image in [-1, 1], label) -> real/fake logit.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// One 4x4 stride-2 convolution per stage.
    pub convs: Vec<Conv2d>,
    /// Batch norms after every convolution but the first.
    pub norms: Vec<BatchNorm>,
    pub head: Linear,
    pub classes: usize,
}

impl DiscriminatorConfig {
    /// A freshly initialised discriminator. Errors on a size the architecture cannot take.
    pub fn init(&self, device: &Device) -> GanResult<Discriminator> {
        let plan = Plan::for_size(self.side, self.side)?;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut cin = self.channels + self.classes;
        for stage in 0..plan.stages {
            let cout = self.width << stage;
            convs.push(
                Conv2dConfig::new([cin, cout], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_initializer(dcgan_init())
                    .init(device),
            );
            if stage > 0 {
                norms.push(BatchNormConfig::new(cout).init(device));
            }
            cin = cout;
        }
        Ok(Discriminator {
            convs,
            norms,
            head: LinearConfig::new(cin * plan.base * plan.base, 1)
                .with_initializer(dcgan_init())
                .init(device),
            classes: self.classes,
        })
    }
}

impl Discriminator {
    /// The real/fake logit of each image given its label.
    ///
    /// The first convolution sees the image and one constant map per class (1 for the image's class, 0 for the
    /// others). Convolution is linear in its input, so it is computed as the convolution of the image channels plus,
    /// for the label maps, the convolution of the image's one-hot maps, which is one of `classes` fixed patterns:
    /// those are computed once per call (on `classes` maps instead of `batch`) and picked by label. The weights and
    /// the function are exactly those of the convolution over the concatenated channels; only the cost differs
    /// (the label channels are 10 of the first layer's 11 inputs for MNIST).
    ///
    /// # Shapes
    /// `images`: `[batch, channels, side, side]`, `labels`: `[batch]` -> `[batch]`
    pub fn forward(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        let [batch, channels, h, w] = images.dims();
        let device = images.device();
        let first = &self.convs[0];
        let weight = first.weight.val(); // [64, channels + classes, 4, 4]
        let [out, inputs, _, _] = weight.dims();
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let image_part = conv2d(
            images,
            weight.clone().slice([0..out, 0..channels]),
            first.bias.as_ref().map(|b| b.val()),
            options.clone(),
        ); // [batch, 64, 14, 14]
        let one_hot_maps = Tensor::<2>::eye(self.classes, &device)
            .reshape([self.classes, self.classes, 1, 1])
            .expand([self.classes, self.classes, h, w]); // [classes, classes, side, side]
        let label_patterns = conv2d(one_hot_maps, weight.slice([0..out, channels..inputs]), None, options); // [classes, 64, 14, 14]
        let mut x = leaky_relu(image_part + label_patterns.select(0, labels), LEAK); // [batch, 64, 14, 14]
        for (conv, norm) in self.convs.iter().skip(1).zip(&self.norms) {
            x = leaky_relu(norm.forward(conv.forward(x)), LEAK); // side halves: [batch, 128, 7, 7]
        }
        self.head.forward(x.flatten::<2>(1, 3)).reshape([batch]) // [batch]
    }

    /// The same logits computed the plain way, over the concatenated image and label channels (the definition
    /// [`forward`](Self::forward) factorises; kept to test that they agree).
    ///
    /// # Shapes
    /// `images`: `[batch, channels, side, side]`, `labels`: `[batch]` -> `[batch]`
    pub fn forward_concatenated(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<1> {
        let [batch, _, h, w] = images.dims();
        let maps = labels
            .one_hot::<2>(self.classes)
            .float()
            .reshape([batch, self.classes, 1, 1])
            .expand([batch, self.classes, h, w]); // [batch, classes, side, side]
        let mut x = Tensor::cat(vec![images, maps], 1); // [batch, channels + classes, 28, 28]
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if i > 0 {
                x = self.norms[i - 1].forward(x);
            }
            x = leaky_relu(x, LEAK);
        }
        self.head.forward(x.flatten::<2>(1, 3)).reshape([batch])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_the_common_sizes_and_refuse_the_rest() {
        let plan = |s| Plan::for_size(s, s).map(|p| (p.stages, p.base)).ok();
        assert_eq!(plan(28), Some((2, 7)));
        assert_eq!(plan(32), Some((2, 8)));
        assert_eq!(plan(64), Some((3, 8)));
        assert_eq!(plan(8), Some((1, 4)));
        assert_eq!(plan(48), Some((3, 6)));
        for s in [5, 30, 100, 128] {
            assert_eq!(plan(s), None, "{s}");
        }
        let err = Plan::for_size(28, 32).unwrap_err();
        assert!(err.is_bad_input() && err.to_string().contains("32x28"), "{err}");
    }

    /// The reference network: shapes through both models, and its size counted layer by layer (burn counts the
    /// batch-norm running statistics too: 2 per channel).
    #[test]
    fn reference_shapes_and_sizes() {
        let device = crate::backend::device();
        let g = GeneratorConfig::new(10, 1, 28).init(&device).unwrap();
        let d = DiscriminatorConfig::new(10, 1, 28).init(&device).unwrap();
        let z = Tensor::<2>::zeros([3, 100], &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 4, 9], [3]), &device);
        let images = g.forward(z, labels.clone());
        assert_eq!(images.dims(), [3, 1, 28, 28]);
        assert_eq!(d.forward(images, labels).dims(), [3]);
        let embedding = 10 * 10;
        let linear = 110 * 6272 + 6272;
        let (bn128, bn64) = (4 * 128, 4 * 64);
        let (convt1, convt2) = (128 * 64 * 16 + 64, 64 * 16 + 1);
        assert_eq!(g.num_params(), embedding + linear + bn128 + convt1 + bn64 + convt2);
        let (conv1, conv2, head) = (11 * 64 * 16 + 64, 64 * 128 * 16 + 128, 128 * 49 + 1);
        assert_eq!(d.num_params(), conv1 + conv2 + bn128 + head);
    }

    /// The factorised label conditioning computes the convolution over concatenated label maps, values and
    /// gradients (to rounding).
    #[test]
    fn factorised_conditioning_equals_concatenation() {
        let device = crate::backend::autodiff_device();
        let d = crate::backend::seeded(&device, 4, || {
            DiscriminatorConfig::new(10, 1, 28).init(&device).unwrap()
        });
        let x =
            Tensor::<4>::random([6, 1, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device).require_grad();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 3, 3, 9, 5, 1], [6]), &device);
        let fast = d.forward(x.clone(), labels.clone());
        let plain = d.forward_concatenated(x.clone(), labels);
        let values = |t: Tensor<1>| crate::dataset::tensor::tensor_values(t.inner()).unwrap();
        for (a, b) in values(fast.clone()).iter().zip(values(plain.clone())) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let g_fast = fast.sum().backward();
        let g_plain = plain.sum().backward();
        let grad = |g: &burn::tensor::Gradients| {
            crate::dataset::tensor::tensor_values(d.convs[0].weight.grad(g).unwrap()).unwrap()
        };
        for (a, b) in grad(&g_fast).iter().zip(grad(&g_plain)) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn rgb_64_has_three_stages() {
        let device = crate::backend::device();
        let g = GeneratorConfig::new(3, 3, 64).with_width(8).init(&device).unwrap();
        let d = DiscriminatorConfig::new(3, 3, 64).with_width(8).init(&device).unwrap();
        assert_eq!((g.ups.len(), g.top_channels, g.base), (3, 32, 8));
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &device);
        let images = g.forward(Tensor::zeros([2, 100], &device), labels.clone());
        assert_eq!(images.dims(), [2, 3, 64, 64]);
        assert_eq!(d.forward(images, labels).dims(), [2]);
    }
}
