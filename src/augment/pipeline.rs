//! Augmentation as values: an [`OpSpec`] is what the user asks for ("rotate up to 15 degrees, half the time"), a
//! [`Transform`] is one concrete draw from it ("rotate 7.3 degrees"), recorded in the manifest so every image can be
//! reproduced exactly. A [`Pipeline`] is a list of specs, written and read as `flip-h,rotate:15@0.5,noise:0.05`.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use super::ops::{self, Fill};
use crate::dataset::Image;
use crate::error::{Result, SynthError};

/// What one op draws from, before its probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpKind {
    /// Mirror left-right.
    FlipH,
    /// Mirror top-bottom.
    FlipV,
    /// A random multiple of 90 degrees (0, 90, 180 or 270; only 0 or 180 on non-square images).
    Rot90,
    /// Any angle in [-max_degrees, max_degrees].
    Rotate { max_degrees: f32, fill: Fill },
    /// Zoom factor in [1 - max_change, 1 + max_change].
    Scale { max_change: f32 },
    /// A random window with each side a fraction in [min_fraction, 1] of the image, resized back.
    Crop { min_fraction: f32 },
    /// Whole-pixel shifts in [-max_pixels, max_pixels] on each axis.
    Translate { max_pixels: u32 },
    /// Gaussian noise of this standard deviation.
    Noise { std: f32 },
}

/// One op of a pipeline: a kind and the probability it is applied to an image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpSpec {
    pub kind: OpKind,
    pub p: f32,
}

/// The op names and their argument forms, for help and error messages.
pub const OP_HELP: &str = "flip-h, flip-v, rot90, rotate:DEG[:reflect|constant], scale:FRAC, crop:MINFRAC, translate:PX, \
noise:STD; append @P to apply with probability P (flips default to @0.5, others to @1)";

impl std::str::FromStr for OpSpec {
    type Err = SynthError;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| SynthError::bad_input(format!("op '{text}': {why} (ops: {OP_HELP})"));
        let (body, p) = match text.split_once('@') {
            Some((body, p)) => {
                let p: f32 = p.parse().map_err(|_| bad("probability after @ is not a number"))?;
                (body, Some(p))
            }
            None => (text, None),
        };
        let mut parts = body.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let args: Vec<&str> = parts.collect();
        let number = |i: usize, what: &str| -> Result<f32> {
            let raw = args.get(i).ok_or_else(|| bad(&format!("needs {what}")))?;
            let v: f32 = raw
                .parse()
                .map_err(|_| bad(&format!("{what} '{raw}' is not a number")))?;
            if !v.is_finite() || v < 0.0 {
                Err(bad(&format!("{what} must be a finite number >= 0")))
            } else {
                Ok(v)
            }
        };
        let max_args = |n: usize| {
            if args.len() > n {
                Err(bad("too many ':' arguments"))
            } else {
                Ok(())
            }
        };
        let kind = match name {
            "flip-h" => max_args(0).map(|_| OpKind::FlipH)?,
            "flip-v" => max_args(0).map(|_| OpKind::FlipV)?,
            "rot90" => max_args(0).map(|_| OpKind::Rot90)?,
            "rotate" => {
                max_args(2)?;
                let fill = match args.get(1) {
                    Some(f) => f.parse().map_err(|e: String| bad(&e))?,
                    None => Fill::Constant,
                };
                let max_degrees = number(0, "the maximum angle in degrees")?;
                if max_degrees > 180.0 {
                    return Err(bad("the maximum angle must be at most 180 degrees"));
                }
                OpKind::Rotate { max_degrees, fill }
            }
            "scale" => {
                max_args(1)?;
                let max_change = number(0, "the maximum zoom change")?;
                if max_change >= 1.0 {
                    return Err(bad("the zoom change must be below 1"));
                }
                OpKind::Scale { max_change }
            }
            "crop" => {
                max_args(1)?;
                let min_fraction = number(0, "the minimum crop fraction")?;
                if !(min_fraction > 0.0 && min_fraction <= 1.0) {
                    return Err(bad("the crop fraction must be in (0, 1]"));
                }
                OpKind::Crop { min_fraction }
            }
            "translate" => {
                max_args(1)?;
                let px = number(0, "the maximum shift in pixels")?;
                if px.fract() != 0.0 {
                    return Err(bad("the shift must be a whole number of pixels"));
                }
                if px > crate::limits::MAX_SIDE as f32 {
                    return Err(bad(&format!(
                        "the shift must be at most {} pixels",
                        crate::limits::MAX_SIDE
                    )));
                }
                OpKind::Translate { max_pixels: px as u32 }
            }
            "noise" => {
                max_args(1)?;
                let std = number(0, "the noise standard deviation")?;
                if std > 1.0 {
                    return Err(bad(
                        "the noise standard deviation must be at most 1 (pixels are in [0, 1])",
                    ));
                }
                OpKind::Noise { std }
            }
            "" => return Err(bad("empty op")),
            _ => return Err(bad("unknown op")),
        };
        let p = p.unwrap_or(match kind {
            OpKind::FlipH | OpKind::FlipV => 0.5,
            _ => 1.0,
        });
        if !(0.0..=1.0).contains(&p) {
            return Err(bad("probability must be in [0, 1]"));
        }
        Ok(OpSpec { kind, p })
    }
}

impl std::fmt::Display for OpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            OpKind::FlipH => write!(f, "flip-h"),
            OpKind::FlipV => write!(f, "flip-v"),
            OpKind::Rot90 => write!(f, "rot90"),
            OpKind::Rotate {
                max_degrees,
                fill: Fill::Constant,
            } => write!(f, "rotate:{max_degrees}"),
            OpKind::Rotate {
                max_degrees,
                fill: Fill::Reflect,
            } => write!(f, "rotate:{max_degrees}:reflect"),
            OpKind::Scale { max_change } => write!(f, "scale:{max_change}"),
            OpKind::Crop { min_fraction } => write!(f, "crop:{min_fraction}"),
            OpKind::Translate { max_pixels } => write!(f, "translate:{max_pixels}"),
            OpKind::Noise { std } => write!(f, "noise:{std}"),
        }?;
        write!(f, "@{}", self.p)
    }
}

/// One concrete, fully determined transform, as stored in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Transform {
    FlipH,
    FlipV,
    Rot90 {
        quarter_turns: u8,
    },
    Rotate {
        degrees: f32,
        fill: Fill,
    },
    Scale {
        factor: f32,
    },
    Crop {
        x: usize,
        y: usize,
        width: usize,
        height: usize,
    },
    Translate {
        dx: i32,
        dy: i32,
    },
    Noise {
        std: f32,
        seed: u64,
    },
}

impl Transform {
    /// Applies the transform.
    pub fn apply(&self, img: &Image) -> Image {
        match *self {
            Transform::FlipH => ops::flip_horizontal(img),
            Transform::FlipV => ops::flip_vertical(img),
            Transform::Rot90 { quarter_turns } => ops::rotate90(img, quarter_turns),
            Transform::Rotate { degrees, fill } => ops::rotate(img, degrees, fill),
            Transform::Scale { factor } => ops::scale(img, factor, Fill::Constant),
            Transform::Crop { x, y, width, height } => ops::crop_resize(img, x, y, width, height),
            Transform::Translate { dx, dy } => ops::translate(img, dx, dy),
            Transform::Noise { std, seed } => ops::gaussian_noise(img, std, &mut crate::seed::rng(seed)),
        }
    }
}

impl OpSpec {
    /// Draws this op's concrete transform for an image of `height x width`, or `None` when the probability says skip.
    pub fn sample(&self, rng: &mut impl Rng, height: usize, width: usize) -> Option<Transform> {
        if self.p < 1.0 && !rng.random_bool(self.p as f64) {
            return None;
        }
        let symmetric = |rng: &mut dyn FnMut() -> f32, m: f32| (2.0 * rng() - 1.0) * m;
        let mut unit = || rng.random::<f32>();
        Some(match self.kind {
            OpKind::FlipH => Transform::FlipH,
            OpKind::FlipV => Transform::FlipV,
            OpKind::Rot90 => {
                let k = (unit() * 4.0) as u8 % 4;
                Transform::Rot90 {
                    quarter_turns: if height == width { k } else { k / 2 * 2 },
                }
            }
            OpKind::Rotate { max_degrees, fill } => Transform::Rotate {
                degrees: symmetric(&mut unit, max_degrees),
                fill,
            },
            OpKind::Scale { max_change } => Transform::Scale {
                factor: 1.0 + symmetric(&mut unit, max_change),
            },
            OpKind::Crop { min_fraction } => {
                let side = |n: usize, u: f32| {
                    ((n as f32 * (min_fraction + (1.0 - min_fraction) * u)).round() as usize).clamp(1, n)
                };
                let (cw, ch) = (side(width, unit()), side(height, unit()));
                let x = ((width - cw + 1) as f32 * unit()) as usize;
                let y = ((height - ch + 1) as f32 * unit()) as usize;
                Transform::Crop {
                    x: x.min(width - cw),
                    y: y.min(height - ch),
                    width: cw,
                    height: ch,
                }
            }
            OpKind::Translate { max_pixels } => {
                let m = max_pixels as i32;
                let mut shift = || ((unit() * (2 * m + 1) as f32) as i32).min(2 * m) - m;
                Transform::Translate {
                    dx: shift(),
                    dy: shift(),
                }
            }
            OpKind::Noise { std } => Transform::Noise {
                std,
                seed: rng.random(),
            },
        })
    }
}

/// An ordered list of ops, applied one after the other.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pipeline {
    pub ops: Vec<OpSpec>,
}

impl Pipeline {
    /// Parses a list of op strings (each in the `--ops` grammar).
    pub fn parse<S: AsRef<str>>(ops: &[S]) -> Result<Pipeline> {
        let ops = ops
            .iter()
            .flat_map(|s| {
                s.as_ref()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .map(|s| s.parse())
            .collect::<Result<Vec<_>>>()?;
        if ops.is_empty() {
            return Err(SynthError::bad_input(format!(
                "no augmentation ops given (ops: {OP_HELP})"
            )));
        }
        Ok(Pipeline { ops })
    }

    /// Draws the concrete transforms for one image.
    pub fn sample(&self, rng: &mut impl Rng, height: usize, width: usize) -> Vec<Transform> {
        self.ops.iter().filter_map(|op| op.sample(rng, height, width)).collect()
    }

    /// The canonical op strings (each with its probability).
    pub fn to_strings(&self) -> Vec<String> {
        self.ops.iter().map(|o| o.to_string()).collect()
    }
}

/// Applies transforms in order.
pub fn apply_all(img: &Image, transforms: &[Transform]) -> Image {
    transforms.iter().fold(img.clone(), |acc, t| t.apply(&acc))
}

/// Classic augmentation of a training batch on the fly (the classifier's `augment`, the GAN's `real_augment`): image
/// `i` draws its transforms from `seeds[i]`, so a caller that derives the seeds from its step gets a fresh, reproducible
/// draw every time an image comes round.
///
/// # Shapes
/// `images`: `[batch, c, h, w]` in [0, 1] -> the same shape, on the same device
pub fn augment_tensor(
    images: burn::tensor::Tensor<4>,
    pipeline: &Pipeline,
    seeds: &[u64],
) -> Result<burn::tensor::Tensor<4>> {
    let device = images.device();
    let augmented: Vec<Image> = crate::dataset::tensor::tensor_to_images(images)?
        .iter()
        .zip(seeds)
        .map(|(image, &seed)| {
            let (_, h, w) = image.shape();
            apply_all(image, &pipeline.sample(&mut crate::seed::rng(seed), h, w))
        })
        .collect();
    crate::dataset::tensor::images_to_tensor(&augmented.iter().collect::<Vec<_>>(), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_strings_round_trip() {
        let p = Pipeline::parse(&[
            "flip-h,rotate:15:reflect@0.3",
            "translate:3, noise:0.05,crop:0.8,scale:0.1,rot90,flip-v@1",
        ])
        .unwrap();
        assert_eq!(p.ops.len(), 8);
        assert_eq!(p.ops[0].p, 0.5);
        let again = Pipeline::parse(&p.to_strings()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn bad_ops_are_refused_with_the_reason() {
        for (text, why) in [
            ("blur:3", "unknown op"),
            ("rotate", "needs"),
            ("rotate:abc", "not a number"),
            ("noise:-1", ">= 0"),
            ("translate:1.5", "whole number"),
            ("flip-h@2", "probability"),
            ("crop:0", "(0, 1]"),
            ("rotate:10:wrap", "unknown fill"),
            ("flip-h:3", "too many"),
        ] {
            let err = Pipeline::parse(&[text]).unwrap_err();
            assert!(err.is_bad_input() && err.to_string().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let p = Pipeline::parse(&["flip-h,rotate:15,crop:0.8,translate:3,noise:0.05,scale:0.2"]).unwrap();
        let img = Image::from_planar(1, 28, 28, (0..784).map(|i| (i % 17) as f32 / 16.0).collect()).unwrap();
        let run = |seed| {
            let t = p.sample(&mut crate::seed::rng(seed), 28, 28);
            (t.clone(), apply_all(&img, &t).to_png().unwrap())
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).1, run(6).1);
    }

    #[test]
    fn sampled_parameters_stay_in_range() {
        let p = Pipeline::parse(&["rotate:15,translate:3,crop:0.5,scale:0.2"]).unwrap();
        let mut rng = crate::seed::rng(1);
        for _ in 0..500 {
            for t in p.sample(&mut rng, 20, 30) {
                match t {
                    Transform::Rotate { degrees, .. } => assert!(degrees.abs() <= 15.0),
                    Transform::Translate { dx, dy } => assert!(dx.abs() <= 3 && dy.abs() <= 3),
                    Transform::Crop { x, y, width, height } => {
                        assert!(x + width <= 30 && y + height <= 20 && width >= 15 && height >= 10)
                    }
                    Transform::Scale { factor } => assert!((0.8..=1.2).contains(&factor)),
                    _ => unreachable!(),
                }
            }
        }
    }
}
