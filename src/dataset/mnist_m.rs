//! MNIST-M (Ganin & Lempitsky 2015, "Unsupervised domain adaptation by backpropagation"): each digit blended with a
//! patch of a colour photograph, per channel `|digit - patch|`, the patch cut from a randomly chosen photo at a
//! random position. synth builds it from the real dataset's **test split** only (it is evaluation data: a test
//! domain; a validation-split sweep blends its held-out validation images the same way, [`mnist_m_of`]), from the
//! bundled photographs of `data/images/` (CC0 / public domain, credits in `data/images/CREDITS.md`; none of them is a
//! style image), deterministically from each image's id and a seed.

use super::{Dataset, Image, Sample, Split, SplitName};
use crate::error::Result;

/// The shift's name (`--shift mnist-m`).
pub const MNIST_M: &str = "mnist-m";

/// The photographs patches are cut from: `data/images/`, inside the binary like the bundled datasets, so the shift
/// works from a fresh clone and from any working directory. Never a style image (`styles/`): a test checks it.
pub const PHOTOS: [(&str, &[u8]); 5] = [
    ("astronaut.png", include_bytes!("../../data/images/astronaut.png")),
    ("camera.png", include_bytes!("../../data/images/camera.png")),
    ("chelsea.png", include_bytes!("../../data/images/chelsea.png")),
    ("coffee.png", include_bytes!("../../data/images/coffee.png")),
    ("rocket.jpg", include_bytes!("../../data/images/rocket.jpg")),
];

/// The bundled photographs, decoded, as RGB (the grey `camera.png` is replicated to three channels).
pub fn photos() -> Result<Vec<Image>> {
    PHOTOS
        .iter()
        .map(|(name, bytes)| Ok(Image::decode(bytes, &format!("bundled data/images/{name}"))?.to_rgb()))
        .collect()
}

/// The seed of one image's blend: from the run's `seed` and the image's id (not its position), so an image gets the
/// same patch whatever else is in the split.
fn image_seed(seed: u64, id: &str) -> u64 {
    let path: Vec<u64> = id.bytes().map(u64::from).collect();
    crate::seed::derive(crate::seed::derive(seed, &[0x4D_4E_49_53_54_2D_4D]), &path)
}

/// One MNIST-M image: the image (grey digits are replicated to RGB) blended per channel as `|image - patch|` with
/// a patch of the image's size cut from `photos[k]` at `(y, x)`, where `k`, `y` and `x` are drawn from `seed`.
/// A photo smaller than the image is first enlarged to cover it. Returns the blend (RGB) and the draw.
pub fn blend(image: &Image, photos: &[Image], seed: u64) -> (Image, Patch) {
    use rand::RngExt;
    let mut rng = crate::seed::rng(seed);
    let digit = image.to_rgb();
    let (h, w) = (digit.height, digit.width);
    let photo = rng.random_range(0..photos.len());
    let source = &photos[photo];
    let covered;
    let source = if source.height < h || source.width < w {
        covered = source.resize(source.width.max(w), source.height.max(h));
        &covered
    } else {
        source
    };
    let y = rng.random_range(0..=source.height - h);
    let x = rng.random_range(0..=source.width - w);
    let mut out = Image::zeros(3, h, w);
    for c in 0..3 {
        for r in 0..h {
            for col in 0..w {
                out.set(c, r, col, (digit.get(c, r, col) - source.get(c, y + r, x + col)).abs());
            }
        }
    }
    (out, Patch { photo, y, x })
}

/// Where one blend's patch came from: the photo's index in [`PHOTOS`] and the patch's top-left corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    pub photo: usize,
    pub y: usize,
    pub x: usize,
}

/// The MNIST-M version of `dataset`'s test split under `split`: every test image blended with a patch of one of
/// `photos` ([`blend`]), same ids, same labels, same classes, RGB. Deterministic in (`seed`, image id); no image
/// of the train or validation split is read.
pub fn mnist_m(dataset: &Dataset, split: &Split, photos: &[Image], seed: u64) -> Result<Dataset> {
    mnist_m_of(dataset, &split.indices(dataset, SplitName::Test)?, photos, seed)
}

/// The MNIST-M version of the images `indices` of `dataset`, as [`mnist_m`] makes it for the test split: what a
/// validation-split sweep scores its shifted accuracy on (the held-out validation images blended the same way), so
/// a default chosen for the shift is never chosen on test images. Indices outside the dataset are refused.
pub fn mnist_m_of(dataset: &Dataset, indices: &[usize], photos: &[Image], seed: u64) -> Result<Dataset> {
    if photos.is_empty() {
        return Err(crate::error::SynthError::internal("mnist-m needs at least one photo"));
    }
    let samples = indices
        .iter()
        .map(|&i| {
            let s = dataset.samples.get(i).ok_or_else(|| {
                crate::error::SynthError::internal(format!("mnist-m: image {i} is not in the dataset"))
            })?;
            Ok(Sample {
                id: s.id.clone(),
                image: blend(&s.image, photos, image_seed(seed, &s.id)).0,
                label: s.label,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset {
        name: MNIST_M.to_string(),
        classes: dataset.classes.clone(),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{LoadOptions, SplitConfig, load_dataset};
    use std::collections::HashSet;
    use std::path::Path;

    fn mnist_and_split() -> (Dataset, Split) {
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&mnist, &SplitConfig::default()).unwrap();
        (mnist, split)
    }

    /// Same seed, same bytes; another seed, other patches.
    #[test]
    fn mnist_m_is_deterministic_in_its_seed() {
        let (mnist, split) = mnist_and_split();
        let photos = photos().unwrap();
        let a = mnist_m(&mnist, &split, &photos, 0).unwrap();
        let b = mnist_m(&mnist, &split, &photos, 0).unwrap();
        let bytes = |d: &Dataset| -> Vec<u8> { d.samples.iter().flat_map(|s| s.image.to_interleaved_u8()).collect() };
        assert_eq!(bytes(&a), bytes(&b), "same seed, same bytes");
        let c = mnist_m(&mnist, &split, &photos, 1).unwrap();
        let same = a
            .samples
            .iter()
            .zip(&c.samples)
            .filter(|(x, y)| x.image == y.image)
            .count();
        assert!(
            same < a.len() / 20,
            "another seed draws other patches ({same} of {} equal)",
            a.len()
        );
        // By id, not by position: the blend of an image does not depend on which other images are blended.
        let one = split.indices(&mnist, SplitName::Test).unwrap()[7];
        let s = &mnist.samples[one];
        assert_eq!(blend(&s.image, &photos, image_seed(0, &s.id)).0, a.samples[7].image);
    }

    /// Only test-split images, every one of them, with their labels; RGB blends `|digit - patch|` of the size of the
    /// digits, which are really coloured (not grey) and differ from the plain digits.
    #[test]
    fn mnist_m_blends_exactly_the_test_split() {
        let (mnist, split) = mnist_and_split();
        let photos = photos().unwrap();
        let m = mnist_m(&mnist, &split, &photos, 3).unwrap();
        let test: HashSet<&str> = split.ids(SplitName::Test).iter().map(String::as_str).collect();
        assert_eq!(m.len(), test.len());
        assert!(
            m.samples.iter().all(|s| test.contains(s.id.as_str())),
            "only test-split ids"
        );
        for other in [SplitName::Train, SplitName::Val] {
            assert!(split.ids(other).iter().all(|id| !m.samples.iter().any(|s| &s.id == id)));
        }
        let by_id: std::collections::HashMap<&str, &Sample> =
            mnist.samples.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut coloured = 0;
        for s in &m.samples {
            let real = by_id[s.id.as_str()];
            assert_eq!(s.label, real.label);
            assert_eq!(s.image.shape(), (3, 28, 28));
            let (_, patch) = blend(&real.image, &photos, image_seed(3, &s.id));
            let p = &photos[patch.photo];
            for (c, y, x) in [(0, 14, 14), (1, 3, 20), (2, 27, 0)] {
                let want = (real.image.get(0, y, x) - p.get(c, patch.y + y, patch.x + x)).abs();
                assert!((s.image.get(c, y, x) - want).abs() < 1e-6);
            }
            let (r, g) = (&s.image.data[..784], &s.image.data[784..1568]);
            coloured += usize::from(r.iter().zip(g).any(|(a, b)| (a - b).abs() > 0.05));
        }
        assert!(
            coloured > m.len() * 3 / 4,
            "{coloured} of {} blends are coloured",
            m.len()
        );
        assert_eq!(m.classes, mnist.classes);
    }

    /// The photos come from data/images and none of them is a style image: no file of styles/ has a photo's name
    /// or bytes, and eval-gain's default style source does not point into data/.
    #[test]
    fn mnist_m_photos_are_never_style_images() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let styles: Vec<(String, Vec<u8>)> = std::fs::read_dir(root.join("styles"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        assert!(styles.len() >= 6);
        for (name, bytes) in PHOTOS {
            assert_eq!(
                std::fs::read(root.join("data/images").join(name)).unwrap(),
                bytes,
                "{name}"
            );
            assert!(
                styles.iter().all(|(n, b)| n != name && b != bytes),
                "{name} is in styles/"
            );
        }
        let credits = std::fs::read_to_string(root.join("data/images/CREDITS.md")).unwrap();
        assert!(
            PHOTOS.iter().all(|(name, _)| credits.contains(name)),
            "every photo is credited"
        );
        for path in &crate::eval::EvalGainConfig::default().styles {
            assert!(!path.contains("data/images") && !path.contains("data"), "{path}");
        }
    }

    /// A photo smaller than the image is enlarged to cover it; a grey image becomes an RGB blend.
    #[test]
    fn small_photos_are_enlarged_to_cover_the_image() {
        let photo = Image::from_planar(3, 2, 2, vec![0.5; 12]).unwrap();
        let digit = Image::zeros(1, 5, 5);
        let (out, patch) = blend(&digit, &[photo], 9);
        assert_eq!(out.shape(), (3, 5, 5));
        assert_eq!((patch.y, patch.x), (0, 0));
        assert!(out.data.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
