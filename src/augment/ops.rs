//! The classic augmentations as pure image functions. Randomness is decided before these run (see
//! [`super::Transform`]), so each function is a deterministic map that tests can check exactly.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::Image;

/// How pixels that come from outside the image are filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fill {
    /// Black (0), the MNIST background.
    #[default]
    Constant,
    /// Mirror at the border without repeating the edge pixel (OpenCV's BORDER_REFLECT_101).
    Reflect,
}

impl std::str::FromStr for Fill {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Fill::Constant),
            "reflect" => Ok(Fill::Reflect),
            _ => Err(format!("unknown fill '{s}' (constant or reflect)")),
        }
    }
}

/// Mirrors columns.
pub fn flip_horizontal(img: &Image) -> Image {
    remap(img, img.height, img.width, |c, y, x| img.get(c, y, img.width - 1 - x))
}

/// Mirrors rows.
pub fn flip_vertical(img: &Image) -> Image {
    remap(img, img.height, img.width, |c, y, x| img.get(c, img.height - 1 - y, x))
}

/// Rotates by `quarter_turns` x 90 degrees clockwise; exact (no resampling). Width and height swap on odd turns.
pub fn rotate90(img: &Image, quarter_turns: u8) -> Image {
    match quarter_turns % 4 {
        0 => img.clone(),
        1 => remap(img, img.width, img.height, |c, y, x| img.get(c, img.height - 1 - x, y)),
        2 => remap(img, img.height, img.width, |c, y, x| {
            img.get(c, img.height - 1 - y, img.width - 1 - x)
        }),
        _ => remap(img, img.width, img.height, |c, y, x| img.get(c, x, img.width - 1 - y)),
    }
}

/// Rotates by any angle (degrees, counter-clockwise) about the centre, bilinear, same size.
pub fn rotate(img: &Image, degrees: f32, fill: Fill) -> Image {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cy, cx) = centre(img);
    remap(img, img.height, img.width, |c, y, x| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        // Inverse rotation maps each output pixel back to its source.
        sample_bilinear(img, c, cx + cos * dx - sin * dy, cy + sin * dx + cos * dy, fill)
    })
}

/// Zooms about the centre by `factor` (> 1 in, < 1 out), bilinear, same size.
pub fn scale(img: &Image, factor: f32, fill: Fill) -> Image {
    let (cy, cx) = centre(img);
    remap(img, img.height, img.width, |c, y, x| {
        sample_bilinear(
            img,
            c,
            cx + (x as f32 - cx) / factor,
            cy + (y as f32 - cy) / factor,
            fill,
        )
    })
}

/// Crops the `width x height` window at (`x`, `y`) and resizes it back to the image's size.
pub fn crop_resize(img: &Image, x: usize, y: usize, width: usize, height: usize) -> Image {
    let cropped = remap(img, height, width, |c, yy, xx| img.get(c, y + yy, x + xx));
    cropped.resize(img.width, img.height)
}

/// Shifts by whole pixels (right and down for positive offsets), filling with black: pad, then crop.
pub fn translate(img: &Image, dx: i32, dy: i32) -> Image {
    remap(img, img.height, img.width, |c, y, x| {
        let (sx, sy) = (x as i64 - dx as i64, y as i64 - dy as i64);
        if sx < 0 || sy < 0 || sx >= img.width as i64 || sy >= img.height as i64 {
            0.0
        } else {
            img.get(c, sy as usize, sx as usize)
        }
    })
}

/// Adds zero-mean Gaussian noise with standard deviation `std`, then clamps to [0, 1].
pub fn gaussian_noise(img: &Image, std: f32, rng: &mut impl Rng) -> Image {
    let mut out = img.clone();
    for v in &mut out.data {
        *v = (*v + std * standard_normal(rng)).clamp(0.0, 1.0);
    }
    out
}

pub use crate::seed::standard_normal;

fn centre(img: &Image) -> (f32, f32) {
    ((img.height as f32 - 1.0) / 2.0, (img.width as f32 - 1.0) / 2.0)
}

fn remap(img: &Image, height: usize, width: usize, f: impl Fn(usize, usize, usize) -> f32) -> Image {
    let mut out = Image::zeros(img.channels, height, width);
    for c in 0..img.channels {
        for y in 0..height {
            for x in 0..width {
                out.set(c, y, x, f(c, y, x));
            }
        }
    }
    out
}

fn reflect(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = i.rem_euclid(period);
    (if m < n as i64 { m } else { period - m }) as usize
}

fn fetch(img: &Image, c: usize, x: i64, y: i64, fill: Fill) -> f32 {
    let inside = x >= 0 && y >= 0 && x < img.width as i64 && y < img.height as i64;
    match (inside, fill) {
        (true, _) => img.get(c, y as usize, x as usize),
        (false, Fill::Constant) => 0.0,
        (false, Fill::Reflect) => img.get(c, reflect(y, img.height), reflect(x, img.width)),
    }
}

/// Bilinear interpolation at a fractional position (pixel centres at integer coordinates).
fn sample_bilinear(img: &Image, c: usize, x: f32, y: f32, fill: Fill) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let top = fetch(img, c, x0, y0, fill) * (1.0 - fx) + fetch(img, c, x0 + 1, y0, fill) * fx;
    let bottom = fetch(img, c, x0, y0 + 1, fill) * (1.0 - fx) + fetch(img, c, x0 + 1, y0 + 1, fill) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Image {
        Image::from_planar(c, h, w, (0..c * h * w).map(|i| (i % 251) as f32 / 250.0).collect()).unwrap()
    }

    #[test]
    fn flip_twice_is_identity() {
        let img = ramp(3, 5, 7);
        assert_eq!(flip_horizontal(&flip_horizontal(&img)), img);
        assert_eq!(flip_vertical(&flip_vertical(&img)), img);
        assert_ne!(flip_horizontal(&img), img);
    }

    #[test]
    fn four_quarter_turns_are_identity() {
        for img in [ramp(1, 6, 6), ramp(3, 4, 9)] {
            let mut r = img.clone();
            for k in 1..=4 {
                r = rotate90(&r, 1);
                assert_eq!(r == img, k == 4, "after {k} turns");
            }
            assert_eq!(rotate90(&rotate90(&img, 3), 1), img);
        }
    }

    #[test]
    fn quarter_turn_moves_corner_clockwise() {
        let mut img = Image::zeros(1, 3, 3);
        img.set(0, 0, 0, 1.0);
        assert_eq!(rotate90(&img, 1).get(0, 0, 2), 1.0);
    }

    #[test]
    fn translate_moves_a_lit_pixel_by_the_offset() {
        let mut img = Image::zeros(1, 28, 28);
        img.set(0, 10, 12, 1.0);
        for (dx, dy) in [(3, -2), (-5, 4), (0, 0)] {
            let out = translate(&img, dx, dy);
            let lit: Vec<usize> = out
                .data
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(lit, vec![((10 + dy) * 28 + 12 + dx) as usize]);
        }
        assert!(
            translate(&img, 20, 0).data.iter().all(|v| *v == 0.0),
            "shifted off the edge"
        );
    }

    #[test]
    fn noise_has_the_requested_std() {
        let img = Image {
            data: vec![0.5; 512 * 512],
            ..Image::zeros(1, 512, 512)
        };
        let mut rng = crate::seed::rng(3);
        for std in [0.02f32, 0.1] {
            let out = gaussian_noise(&img, std, &mut rng);
            let n = out.data.len() as f64;
            let mean = out.data.iter().map(|v| *v as f64).sum::<f64>() / n;
            let measured = (out.data.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
            assert!(
                (measured / std as f64 - 1.0).abs() < 0.05,
                "std {std}: measured {measured}"
            );
            assert!((mean - 0.5).abs() < 0.01);
        }
    }

    #[test]
    fn crop_resize_of_a_constant_image_stays_constant() {
        let img = Image {
            data: vec![0.6; 3 * 32 * 32],
            ..Image::zeros(3, 32, 32)
        };
        let out = crop_resize(&img, 5, 3, 20, 17);
        assert_eq!(out.shape(), img.shape());
        assert!(out.data.iter().all(|v| (v - 0.6).abs() < 1e-6));
        assert_eq!(out.to_interleaved_u8(), img.to_interleaved_u8());
    }

    #[test]
    fn rotate_and_scale_keep_size_and_identity_at_zero() {
        let img = ramp(1, 9, 9);
        let same = rotate(&img, 0.0, Fill::Constant);
        assert!(same.data.iter().zip(&img.data).all(|(a, b)| (a - b).abs() < 1e-6));
        let quarter = rotate(&img, -90.0, Fill::Constant);
        let exact = rotate90(&img, 1);
        assert!(
            quarter.data.iter().zip(&exact.data).all(|(a, b)| (a - b).abs() < 1e-4),
            "-90 degrees is a clockwise quarter turn"
        );
        let unit = scale(&img, 1.0, Fill::Reflect);
        assert!(unit.data.iter().zip(&img.data).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn reflect_fill_mirrors_without_repeating_the_edge() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(2, 5), 2);
        let img = ramp(1, 8, 8);
        let out = rotate(&img, 30.0, Fill::Reflect);
        assert!(out.data.iter().all(|v| *v > 0.0 || img.data.contains(&0.0)));
    }
}
