//! The in-memory image: planar f32 in [0, 1], the layout burn tensors want (NCHW), so batching is a copy.

use std::path::Path;

use crate::error::{IoContext, Result, SynthError};

/// One image, planar (channel, row, column), values in [0, 1]. 1 channel (grey) or 3 (RGB).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Image {
    /// A black image.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Image {
            channels,
            height,
            width,
            data: vec![0.0; channels * height * width],
        }
    }

    /// Wraps planar data; the length must match the shape.
    pub fn from_planar(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != channels * height * width {
            return Err(SynthError::internal(format!(
                "image data has {} values, shape {channels}x{height}x{width} needs {}",
                data.len(),
                channels * height * width
            )));
        }
        Ok(Image {
            channels,
            height,
            width,
            data,
        })
    }

    /// Builds an image from 8-bit interleaved (HWC) pixels, scaled by `max_value` (255 for PNG, 16 for UCI digits).
    pub fn from_interleaved_u8(channels: usize, height: usize, width: usize, pixels: &[u8], max_value: f32) -> Self {
        let mut img = Image::zeros(channels, height, width);
        for (i, px) in pixels.iter().enumerate().take(channels * height * width) {
            let (pixel, c) = (i / channels, i % channels);
            img.data[c * height * width + pixel] = *px as f32 / max_value;
        }
        img
    }

    /// Luminance (ITU-R 601 weights) of an RGB image as one grey channel; a grey image is returned as it is.
    pub fn luminance(&self) -> Image {
        if self.channels == 1 {
            return self.clone();
        }
        let mut out = Image::zeros(1, self.height, self.width);
        for y in 0..self.height {
            for x in 0..self.width {
                out.set(
                    0,
                    y,
                    x,
                    0.299 * self.get(0, y, x) + 0.587 * self.get(1, y, x) + 0.114 * self.get(2, y, x),
                );
            }
        }
        out
    }

    /// This image converted to `channels` (grey <-> RGB) and resized to `side` x `side`: what a set of other
    /// images needs to join a model's input (synthetic sets may differ from the real images in both).
    pub fn conform(&self, channels: usize, side: usize) -> Image {
        let converted = match (self.channels, channels) {
            (3, 1) => self.luminance(),
            (1, 3) => self.to_rgb(),
            _ => self.clone(),
        };
        if converted.height == side && converted.width == side {
            converted
        } else {
            converted.resize(side, side)
        }
    }

    /// `(channels, height, width)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    /// The value at channel `c`, row `y`, column `x`.
    #[inline]
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Sets the value at channel `c`, row `y`, column `x`.
    #[inline]
    pub fn set(&mut self, c: usize, y: usize, x: usize, v: f32) {
        self.data[(c * self.height + y) * self.width + x] = v;
    }

    /// 8-bit interleaved pixels, rounded; values outside [0, 1] are clamped. This is the only quantisation step,
    /// so a u8 image read and written again is bit-identical.
    pub fn to_interleaved_u8(&self) -> Vec<u8> {
        let plane = self.height * self.width;
        let mut out = vec![0u8; plane * self.channels];
        for c in 0..self.channels {
            for p in 0..plane {
                out[p * self.channels + c] = quantize(self.data[c * plane + p]);
            }
        }
        out
    }

    /// The same image with 3 channels (grey is replicated), as RGB networks expect.
    pub fn to_rgb(&self) -> Image {
        if self.channels == 3 {
            return self.clone();
        }
        let mut data = Vec::with_capacity(self.data.len() * 3);
        for _ in 0..3 {
            data.extend_from_slice(&self.data[..self.height * self.width]);
        }
        Image {
            channels: 3,
            height: self.height,
            width: self.width,
            data,
        }
    }

    /// Converts a decoded image: grey (with or without alpha) stays 1 channel, everything else becomes RGB.
    pub fn from_dynamic(img: &image::DynamicImage) -> Image {
        use image::DynamicImage::*;
        let (w, h) = (img.width() as usize, img.height() as usize);
        match img {
            ImageLuma8(_) | ImageLumaA8(_) => Image::from_interleaved_u8(1, h, w, img.to_luma8().as_raw(), 255.0),
            ImageLuma16(_) | ImageLumaA16(_) => {
                let raw = img.to_luma16();
                let data = raw.as_raw().iter().map(|v| *v as f32 / 65535.0).collect();
                Image {
                    channels: 1,
                    height: h,
                    width: w,
                    data,
                }
            }
            _ => Image::from_interleaved_u8(3, h, w, img.to_rgb8().as_raw(), 255.0),
        }
    }

    /// Decodes a PNG or JPEG file.
    pub fn load(path: &Path) -> Result<Image> {
        let bytes = std::fs::read(path).at(path, "reading")?;
        Image::decode(&bytes, &path.display().to_string())
    }

    /// Decodes PNG or JPEG bytes; `what` names them in an error (a path, or a bundled file's name).
    pub fn decode(bytes: &[u8], what: &str) -> Result<Image> {
        let bad = |e: image::ImageError| SynthError::bad_input(format!("reading {what}: {e}"));
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| SynthError::bad_input(format!("reading {what}: {e}")))?;
        // A header may promise any size: refuse one beyond MAX_SIDE before the decoder allocates for it.
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(crate::limits::MAX_SIDE as u32);
        limits.max_image_height = Some(crate::limits::MAX_SIDE as u32);
        reader.limits(limits);
        Ok(Image::from_dynamic(&reader.decode().map_err(bad)?))
    }

    /// Encodes as PNG (8-bit grey or RGB).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let color = match self.channels {
            1 => image::ExtendedColorType::L8,
            3 => image::ExtendedColorType::Rgb8,
            c => {
                return Err(SynthError::internal(format!(
                    "cannot encode a {c}-channel image as PNG"
                )));
            }
        };
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(
            encoder,
            &self.to_interleaved_u8(),
            self.width as u32,
            self.height as u32,
            color,
        )
        .map_err(|e| SynthError::internal(format!("encoding PNG: {e}")))?;
        Ok(out)
    }

    /// Resizes with a triangle (bilinear, antialiased when shrinking) filter.
    pub fn resize(&self, width: usize, height: usize) -> Image {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let plane = self.height * self.width;
        let mut data = Vec::with_capacity(self.channels * width * height);
        for c in 0..self.channels {
            let buf: image::ImageBuffer<image::Luma<f32>, Vec<f32>> = image::ImageBuffer::from_raw(
                self.width as u32,
                self.height as u32,
                self.data[c * plane..(c + 1) * plane].to_vec(),
            )
            .expect("plane length matches the image shape");
            let resized =
                image::imageops::resize(&buf, width as u32, height as u32, image::imageops::FilterType::Triangle);
            data.extend(resized.into_raw());
        }
        Image {
            channels: self.channels,
            height,
            width,
            data,
        }
    }
}

/// [0, 1] to 0..=255, rounding to nearest.
#[inline]
pub fn quantize(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Tiles equally sized images into a grid, `cols` per row, with a 1-pixel black gutter, so a page of samples can be
/// looked at (TensorBoard, README). Mixed grey and RGB tiles are shown as RGB.
pub fn image_grid(images: &[Image], cols: usize) -> Option<Image> {
    let first = images.first()?;
    let cols = cols.max(1).min(images.len());
    let rows = images.len().div_ceil(cols);
    let channels = images.iter().map(|i| i.channels).max().unwrap_or(1);
    let (th, tw) = (first.height, first.width);
    let (gh, gw) = (rows * (th + 1) + 1, cols * (tw + 1) + 1);
    let mut grid = Image::zeros(channels, gh, gw);
    for (k, tile) in images.iter().enumerate() {
        let tile = if tile.channels == channels {
            tile.clone()
        } else {
            tile.to_rgb()
        };
        let tile = tile.resize(tw, th);
        let (oy, ox) = ((k / cols) * (th + 1) + 1, (k % cols) * (tw + 1) + 1);
        for c in 0..channels {
            for y in 0..th {
                for x in 0..tw {
                    grid.set(c, oy + y, ox + x, tile.get(c, y, x));
                }
            }
        }
    }
    Some(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_round_trip_is_lossless() {
        let pixels: Vec<u8> = (0..=255u8).chain(0..=255u8).chain(0..=255u8).collect();
        let img = Image::from_interleaved_u8(3, 16, 16, &pixels, 255.0);
        assert_eq!(img.to_interleaved_u8(), pixels);
    }

    #[test]
    fn png_round_trip_is_lossless_for_grey_and_rgb() {
        for channels in [1, 3] {
            let pixels: Vec<u8> = (0..channels * 5 * 7).map(|i| (i * 37 % 256) as u8).collect();
            let img = Image::from_interleaved_u8(channels, 5, 7, &pixels, 255.0);
            let decoded = Image::from_dynamic(&image::load_from_memory(&img.to_png().unwrap()).unwrap());
            assert_eq!(decoded, img);
        }
    }

    #[test]
    fn grid_places_tiles_row_major() {
        let tiles: Vec<Image> = (0..3)
            .map(|k| Image {
                data: vec![k as f32 / 2.0; 4],
                ..Image::zeros(1, 2, 2)
            })
            .collect();
        let grid = image_grid(&tiles, 2).unwrap();
        assert_eq!((grid.height, grid.width), (7, 7));
        assert_eq!(grid.get(0, 1, 1), 0.0);
        assert_eq!(grid.get(0, 1, 4), 0.5);
        assert_eq!(grid.get(0, 4, 1), 1.0);
    }
}
