//! Optimising images so their VGG16 features keep a content image's layout and take on style images' Gram
//! statistics (Gatys et al. 2016), one image or a batch at a time.

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, LBFGSConfig};
use burn::prelude::*;

use super::config::{StyleConfig, StyleInit, StyleOptimizer};
use super::loss::{content_loss, gram_matrix, style_loss, total_variation};
use crate::classifier::vgg::{Tap, Vgg16, preprocess};
use crate::dataset::Image;
use crate::dataset::tensor::{images_to_tensor, tensor_to_images, tensor_values};
use crate::error::{Result, SynthError};
use crate::optim::FusedAdam;

/// VGG16 with the taps a transfer reads: the style layers, then the content layer.
pub struct StyleNet {
    vgg: Vgg16,
    style_taps: Vec<Tap>,
    content_tap: Tap,
    layer_weights: Vec<f64>,
}

/// What the optimised images are pulled towards: per-image content features and per-image Gram matrices.
#[derive(Clone)]
pub struct Targets {
    /// `[batch, c, h, w]` at the content layer.
    pub content: Tensor<4>,
    /// Per style layer, `[batch, c, c]`.
    pub grams: Vec<Tensor<3>>,
}

/// The loss terms of one evaluation (summed over the batch, weights applied).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LossTerms {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

/// The image being optimised, as a module so burn's optimisers (L-BFGS included) can update it.
#[derive(Module, Debug)]
pub struct Canvas {
    pub pixels: Param<Tensor<4>>,
}

impl StyleNet {
    /// Reads the tap names of the config; `vgg` should live on the inference device (its weights stay constant).
    pub fn new(vgg: Vgg16, config: &StyleConfig) -> Result<StyleNet> {
        let style_taps = config
            .style_layers
            .iter()
            .map(|l| l.parse())
            .collect::<Result<Vec<Tap>>>()?;
        let total: f64 = config.style_layer_weights.iter().sum();
        if total <= 0.0 {
            return Err(SynthError::bad_input("style layer weights must sum to more than 0"));
        }
        Ok(StyleNet {
            vgg,
            style_taps,
            content_tap: config.content_layer.parse()?,
            layer_weights: config.style_layer_weights.iter().map(|w| w / total).collect(),
        })
    }

    /// Style-layer activations and the content-layer activation of [0, 1] images.
    fn activations(&self, images: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<4>) {
        let mut taps = self.style_taps.clone();
        taps.push(self.content_tap);
        let mut out = self.vgg.forward_taps(preprocess(images), &taps);
        let content = out.pop().expect("content tap requested");
        (out, content)
    }

    /// Per-layer Gram matrices of [0, 1] images, `[batch, c, c]` each.
    pub fn grams(&self, images: Tensor<4>) -> Vec<Tensor<3>> {
        self.activations(images).0.into_iter().map(gram_matrix).collect()
    }

    /// Content features of [0, 1] images.
    pub fn content(&self, images: Tensor<4>) -> Tensor<4> {
        self.activations(images).1
    }

    /// Weighted loss of `images` against `targets`; returns the scalar to differentiate and its terms.
    pub fn loss(&self, images: Tensor<4>, targets: &Targets, config: &StyleConfig) -> Result<(Tensor<1>, LossTerms)> {
        let (style_acts, content_act) = self.activations(images.clone());
        let content = content_loss(content_act, targets.content.clone()).sum() * config.content_weight;
        let mut style = Tensor::<1>::zeros([1], &images.device());
        for ((act, target), w) in style_acts.into_iter().zip(&targets.grams).zip(&self.layer_weights) {
            style = style + style_loss(gram_matrix(act), target.clone()).sum() * *w;
        }
        let style = style * config.style_weight;
        let tv = total_variation(images).sum() * config.tv_weight;
        let scalar = |t: &Tensor<1>| -> Result<f64> { Ok(tensor_values(t.clone().inner())?[0] as f64) };
        let terms = LossTerms {
            content: scalar(&content)?,
            style: scalar(&style)?,
            tv: scalar(&tv)?,
            total: 0.0,
        };
        let total = content + style + tv;
        Ok((
            total,
            LossTerms {
                total: terms.content + terms.style + terms.tv,
                ..terms
            },
        ))
    }
}

/// Gram targets of several style images mixed by weight (weights need not sum to 1), `[1, c, c]` per layer.
pub fn blended_grams(net: &StyleNet, styles: &[(Image, f64)], device: &Device) -> Result<Vec<Tensor<3>>> {
    let total: f64 = styles.iter().map(|(_, w)| w).sum();
    if styles.is_empty() || total <= 0.0 || total.is_nan() {
        return Err(SynthError::bad_input("style weights must sum to more than 0"));
    }
    let mut mixed: Option<Vec<Tensor<3>>> = None;
    for (image, w) in styles {
        let grams = net.grams(images_to_tensor(&[&image.to_rgb()], device)?);
        let scaled: Vec<Tensor<3>> = grams.into_iter().map(|g| g * (w / total)).collect();
        mixed = Some(match mixed {
            None => scaled,
            Some(acc) => acc.into_iter().zip(scaled).map(|(a, b)| a + b).collect(),
        });
    }
    Ok(mixed.expect("at least one style"))
}

/// Optimises `init` (`[batch, 3, h, w]` in [0, 1]) towards `targets` for `iterations` loss evaluations.
/// `on_eval` sees each evaluation's terms (progress, logging). Returns the clamped result and the loss history.
pub fn optimise(
    net: &StyleNet,
    init: Tensor<4>,
    targets: &Targets,
    config: &StyleConfig,
    iterations: usize,
    mut on_eval: impl FnMut(&LossTerms),
) -> Result<(Tensor<4>, Vec<LossTerms>)> {
    let device = crate::backend::autodiff_device();
    let mut canvas = Canvas {
        pixels: Param::from_tensor(init.inner().autodiff().detach().require_grad()),
    };
    let _ = &device;
    let mut history: Vec<LossTerms> = Vec::new();
    let mut failure: Option<SynthError> = None;
    match config.optimizer {
        StyleOptimizer::Adam => {
            let mut optim = FusedAdam::new().init();
            for _ in 0..iterations {
                let (loss, terms) = net.loss(canvas.pixels.val(), targets, config)?;
                check_finite(&terms)?;
                history.push(terms);
                on_eval(&terms);
                let grads = GradientsParams::from_grads(loss.backward(), &canvas);
                canvas = optim.step(config.adam_lr, canvas, grads);
                canvas = clamp_canvas(canvas);
            }
        }
        StyleOptimizer::Lbfgs => {
            let inner_iterations = 20.min(iterations);
            let mut optim = LBFGSConfig::new().with_max_iter(inner_iterations).init();
            while history.len() < iterations && failure.is_none() {
                let before = history.len();
                let mut closure = |c: Canvas| -> (f64, GradientsParams) {
                    match net.loss(c.pixels.val(), targets, config) {
                        Ok((loss, terms)) => {
                            if check_finite(&terms).is_err() {
                                failure.get_or_insert(SynthError::internal("style loss became NaN or infinite"));
                            }
                            history.push(terms);
                            on_eval(&terms);
                            (terms.total, GradientsParams::from_grads(loss.backward(), &c))
                        }
                        Err(e) => {
                            failure.get_or_insert(e);
                            (f64::NAN, GradientsParams::new())
                        }
                    }
                };
                let (next, _) = optim.step(1.0, canvas, &mut closure);
                canvas = clamp_canvas(next);
                if history.len() == before {
                    break;
                }
                if history.len() - before < inner_iterations / 2 {
                    // L-BFGS stopped early (converged); more steps would not move.
                    break;
                }
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((canvas.pixels.val().inner(), history))
}

fn check_finite(terms: &LossTerms) -> Result<()> {
    if terms.total.is_finite() {
        Ok(())
    } else {
        Err(SynthError::internal("style loss became NaN or infinite"))
    }
}

fn clamp_canvas(canvas: Canvas) -> Canvas {
    let pixels = canvas.pixels.map(|t| t.clamp(0.0, 1.0).detach().require_grad());
    Canvas { pixels }
}

/// Where the optimisation starts: the content itself, or seeded uniform noise (a texture start is made as an image,
/// [`texture_start`], and passed in as the content).
pub fn initial_canvas(content: &Tensor<4>, init: StyleInit, seed: u64) -> Tensor<4> {
    match init {
        StyleInit::Content | StyleInit::Texture => content.clone(),
        StyleInit::Noise => {
            let device = content.device();
            crate::backend::seeded(&device, seed, || {
                Tensor::random(content.dims(), burn::tensor::Distribution::Uniform(0.0, 1.0), &device)
            })
        }
    }
}

/// [`StyleInit::Texture`]'s start: `content` cut out of a crop of `texture` drawn from `seed`, `|content - crop|`
/// per channel (RGB; the blend mnist-m makes with photographs, here with a style image), so a white digit on black
/// becomes the texture with the digit in its negative.
pub fn texture_start(content: &Image, texture: &Image, seed: u64) -> Image {
    crate::dataset::mnist_m::blend(content, std::slice::from_ref(texture), seed).0
}

/// Keeps the content's colours: the stylised image's luminance with the content's chrominance (YIQ).
pub fn preserve_color(stylised: &Image, content: &Image) -> Image {
    let content = content.to_rgb().resize(stylised.width, stylised.height);
    let stylised = stylised.to_rgb();
    let mut out = stylised.clone();
    for y in 0..out.height {
        for x in 0..out.width {
            let rgb = |img: &Image| [img.get(0, y, x), img.get(1, y, x), img.get(2, y, x)];
            let [sr, sg, sb] = rgb(&stylised);
            let [cr, cg, cb] = rgb(&content);
            let luma = 0.299 * sr + 0.587 * sg + 0.114 * sb;
            let i = 0.596 * cr - 0.274 * cg - 0.322 * cb;
            let q = 0.211 * cr - 0.523 * cg + 0.312 * cb;
            let back = [
                luma + 0.956 * i + 0.621 * q,
                luma - 0.272 * i - 0.647 * q,
                luma - 1.106 * i + 1.703 * q,
            ];
            for (c, v) in back.iter().enumerate() {
                out.set(c, y, x, v.clamp(0.0, 1.0));
            }
        }
    }
    out
}

/// Luminance of an RGB image as one grey channel (for grey datasets, so outputs keep their shape).
pub fn luminance(img: &Image) -> Image {
    img.luminance()
}

/// `(width, height)` with the longest side `size`, keeping the aspect ratio.
pub fn fit_longest(width: usize, height: usize, size: usize) -> (usize, usize) {
    let scale = size as f64 / width.max(height) as f64;
    (
        ((width as f64 * scale).round() as usize).max(1),
        ((height as f64 * scale).round() as usize).max(1),
    )
}

/// The result of stylising one image.
pub struct Stylised {
    pub image: Image,
    pub history: Vec<LossTerms>,
}

/// Single-image mode: stylise `content` with the blended `styles`, coarse-to-fine when configured.
pub fn stylise_image(
    net: &StyleNet,
    content: &Image,
    styles: &[(Image, f64)],
    config: &StyleConfig,
    mut on_eval: impl FnMut(&LossTerms),
) -> Result<Stylised> {
    let device = crate::backend::device();
    let (w, h) = fit_longest(content.width, content.height, config.size);
    let levels: Vec<(usize, usize, usize)> = if config.coarse_to_fine && w.min(h) >= 64 {
        vec![
            (w / 2, h / 2, config.iterations / 2),
            (w, h, config.iterations - config.iterations / 2),
        ]
    } else {
        vec![(w, h, config.iterations)]
    };
    let mut current: Option<Image> = None;
    let mut history = Vec::new();
    for (lw, lh, iterations) in levels {
        if lw.min(lh) < 32 {
            return Err(SynthError::bad_input(format!(
                "--size {}: the image would be {lw}x{lh}, below VGG16's 32 pixels",
                config.size
            )));
        }
        let content_level = content.to_rgb().resize(lw, lh);
        let content_tensor = images_to_tensor(&[&content_level], &device)?;
        let scaled_styles: Vec<(Image, f64)> = styles
            .iter()
            .map(|(s, wt)| {
                let (sw, sh) = fit_longest(s.width, s.height, lw.max(lh));
                (s.to_rgb().resize(sw, sh), *wt)
            })
            .collect();
        let targets = Targets {
            content: net.content(content_tensor.clone()),
            grams: blended_grams(net, &scaled_styles, &device)?,
        };
        let init = match (&current, config.init) {
            (Some(prev), _) => images_to_tensor(&[&prev.resize(lw, lh)], &device)?,
            (None, StyleInit::Texture) => {
                let texture = scaled_styles
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .ok_or_else(|| SynthError::bad_input("a texture start needs a style image"))?;
                images_to_tensor(&[&texture_start(&content_level, &texture.0, config.seed)], &device)?
            }
            (None, init) => initial_canvas(&content_tensor, init, config.seed),
        };
        let (result, level_history) = optimise(net, init, &targets, config, iterations, &mut on_eval)?;
        history.extend(level_history);
        current = tensor_to_images(result)?.into_iter().next();
    }
    let mut image = current.ok_or_else(|| SynthError::internal("no style level ran"))?;
    if config.preserve_color {
        image = preserve_color(&image, content);
    }
    Ok(Stylised { image, history })
}

/// Dataset mode: stylises a batch of images together, image `i` towards style `style_of[i]` of `style_grams`
/// (per style, per layer `[1, c, c]`), starting from `starts[i]` when given (the dataset run makes them for a
/// [`StyleInit::Texture`] start, which needs each image's style image) and from [`initial_canvas`] otherwise.
/// Images are stylised at `dataset_size` and returned at their own size and channel count (grey ones in colour with
/// `config.colour`).
pub fn stylise_batch(
    net: &StyleNet,
    images: &[&Image],
    starts: Option<&[Image]>,
    style_of: &[usize],
    style_grams: &[Vec<Tensor<3>>],
    config: &StyleConfig,
    on_eval: impl FnMut(&LossTerms),
) -> Result<Vec<Image>> {
    let device = crate::backend::device();
    let side = config.dataset_size;
    // The content and a texture start enter VGG16 alike: RGB at `side`.
    let at_side = |images: Vec<&Image>| {
        let rgb: Vec<Image> = images.into_iter().map(|i| i.to_rgb().resize(side, side)).collect();
        images_to_tensor(&rgb.iter().collect::<Vec<_>>(), &device)
    };
    let content_tensor = at_side(images.to_vec())?;
    let layers = style_grams.first().map_or(0, |g| g.len());
    let grams = (0..layers)
        .map(|l| Tensor::cat(style_of.iter().map(|&s| style_grams[s][l].clone()).collect(), 0))
        .collect();
    let targets = Targets {
        content: net.content(content_tensor.clone()),
        grams,
    };
    let init = match starts {
        Some(starts) if starts.len() == images.len() => at_side(starts.iter().collect())?,
        Some(_) => return Err(SynthError::internal("one start per image")),
        None => initial_canvas(&content_tensor, config.dataset_init, config.seed),
    };
    let (result, _) = optimise(net, init, &targets, config, config.dataset_iterations, on_eval)?;
    Ok(tensor_to_images(result)?
        .into_iter()
        .zip(images)
        .map(|(out, original)| {
            let out = out.resize(original.width, original.height);
            if original.channels == 1 && !config.colour {
                luminance(&out)
            } else {
                out
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::checkpoint::bundled_weights;

    fn net(config: &StyleConfig) -> StyleNet {
        StyleNet::new(
            Vgg16::load(&bundled_weights(), &crate::backend::device()).unwrap(),
            config,
        )
        .unwrap()
    }

    fn photo_crop(side: usize) -> Image {
        let cat =
            Image::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/images/chelsea.png")).unwrap();
        cat.resize(side * 2, side * 2).resize(side, side)
    }

    /// A texture start gives a black background the texture and a white stroke its negative, in colour, from a crop
    /// the seed draws (another seed, another crop).
    #[test]
    fn a_texture_start_cuts_the_content_out_of_the_texture() {
        let mut digit = Image::zeros(1, 28, 28);
        for y in 8..20 {
            digit.set(0, y, 14, 1.0);
        }
        let texture = photo_crop(96);
        let start = texture_start(&digit, &texture, 3);
        let (_, patch) = crate::dataset::mnist_m::blend(&digit, std::slice::from_ref(&texture), 3);
        assert_eq!((start.channels, start.height, start.width), (3, 28, 28));
        for c in 0..3 {
            for (y, x) in [(0, 0), (27, 27), (10, 14), (19, 14)] {
                let t = texture.get(c, patch.y + y, patch.x + x);
                let want = if digit.get(0, y, x) > 0.5 { 1.0 - t } else { t };
                assert!((start.get(c, y, x) - want).abs() < 1e-6, "channel {c} at ({y}, {x})");
            }
        }
        assert_ne!(start.data, texture_start(&digit, &texture, 4).data);
    }

    #[test]
    fn without_style_the_content_image_stays_put() {
        let config = StyleConfig {
            style_weight: 0.0,
            tv_weight: 0.0,
            iterations: 10,
            size: 32,
            ..Default::default()
        };
        let net = net(&config);
        let content = photo_crop(32);
        let style =
            Image::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("styles/starry_night.jpg")).unwrap();
        let out = stylise_image(&net, &content, &[(style.resize(48, 32), 1.0)], &config, |_| {}).unwrap();
        let max_change = out
            .image
            .data
            .iter()
            .zip(&content.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_change < 1e-6, "moved by {max_change}");
        assert_eq!(out.history.first().unwrap().total, 0.0);
    }

    #[test]
    fn lbfgs_lowers_the_total_loss_on_a_small_case() {
        let config = StyleConfig {
            iterations: 20,
            size: 32,
            coarse_to_fine: false,
            ..Default::default()
        };
        let net = net(&config);
        let style = Image::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("styles/brick.png")).unwrap();
        let out = stylise_image(&net, &photo_crop(32), &[(style.resize(48, 48), 1.0)], &config, |_| {}).unwrap();
        let (first, last) = (out.history.first().unwrap().total, out.history.last().unwrap().total);
        assert!(last < first / 2.0, "loss {first} -> {last}");
        assert!(out.image.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    /// A grey image comes back grey by default and in the styles' colours with `colour`; the two are one optimisation,
    /// so the grey one is the colour one's luminance.
    #[test]
    fn grey_images_come_back_in_colour_only_when_asked() {
        let grey = StyleConfig::default();
        let colour = StyleConfig {
            colour: true,
            ..grey.clone()
        };
        let net = net(&grey);
        let style =
            Image::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("styles/starry_night.jpg")).unwrap();
        let grams = vec![blended_grams(&net, &[(style.resize(48, 32), 1.0)], &crate::backend::device()).unwrap()];
        let digit = luminance(&photo_crop(28));
        let run = |config: &StyleConfig| stylise_batch(&net, &[&digit, &digit], None, &[0, 0], &grams, config, |_| {});
        let (as_grey, as_colour) = (run(&grey).unwrap(), run(&colour).unwrap());
        assert_eq!(as_grey[0].shape(), (1, 28, 28));
        assert_eq!(as_colour[0].shape(), (3, 28, 28));
        let chroma = as_colour[0].data[..784]
            .iter()
            .zip(&as_colour[0].data[784 * 2..])
            .map(|(r, b)| (r - b).abs())
            .fold(0.0f32, f32::max);
        assert!(chroma > 0.01, "the colour output has colour ({chroma})");
        for (g, c) in as_grey[0].data.iter().zip(&luminance(&as_colour[0]).data) {
            assert!((g - c).abs() < 1e-6);
        }
    }

    #[test]
    fn colour_preservation_keeps_the_content_chrominance() {
        let content = photo_crop(16);
        let grey = luminance(&content).to_rgb();
        let restored = preserve_color(&grey, &content);
        let err = restored
            .data
            .iter()
            .zip(&content.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.02, "a grey copy recoloured from its source matches it ({err})");
    }
}
