//! The test domains of the shifted accuracy (`shifts`): each is its own bank group, column and MDE entry. A shift is
//! either `mnist-m` (the real test split blended with the bundled photographs, [`crate::dataset::mnist_m`]) or a
//! second real dataset with the same classes (bundled name or path, e.g. `digits`).

use super::config::{EvalGainConfig, MNIST_M};
use crate::dataset::{Dataset, Split};
use crate::error::Result;

/// One test domain, loaded.
pub struct Shift {
    /// As the config names it (`digits`, `mnist-m`, a path): its column, bank group and report key.
    pub name: String,
    pub dataset: Dataset,
    /// Whether its images are framed like the real ones (another dataset: resized into the real side minus
    /// `shift_margin`, padded with black) or already in the real images' frame (`mnist-m`, made from them).
    pub framed: bool,
    /// Images at the end of `dataset` scored whatever `shift_images` says: `mnist-m`'s blends of the unused train
    /// images (`unused_train`), which no source or fit saw. `shift_images` spreads over the images before them.
    pub held_out: usize,
}

/// The bank group of a shift.
pub fn group(name: &str) -> String {
    format!("shift:{name}")
}

/// The seed mnist-m is blended with: derived from the split seed, since the shift belongs to the test split (every
/// run on this split, whatever its subset or training seeds, is scored on the same images).
pub fn mnist_m_seed(config: &EvalGainConfig) -> u64 {
    crate::seed::derive(config.split.seed, &[0x5_41F7])
}

/// Loads every shift of `config` for the real `dataset` under `split`. `mnist-m` blends the images the run scores:
/// the test split and any unused train images (`unused_train`), or with `score_split = "val"` the held-out
/// validation images (a sweep's shifted accuracy, so no default is chosen on the test split; config validation
/// allows only `mnist-m` there).
pub fn load(config: &EvalGainConfig, dataset: &Dataset, split: &Split) -> Result<Vec<Shift>> {
    config
        .shifts
        .iter()
        .map(|name| {
            let (dataset, framed, held_out) = if name == MNIST_M {
                let photos = crate::dataset::mnist_m::photos()?;
                let (_, scored) = super::experiment::early_stopping_and_scored(config, dataset, split)?;
                let unused = super::experiment::unused_train_images(config, dataset, split)?;
                let blended = [scored, unused.clone()].concat();
                (
                    crate::dataset::mnist_m::mnist_m_of(dataset, &blended, &photos, mnist_m_seed(config))?,
                    false,
                    unused.len(),
                )
            } else {
                (crate::dataset::load_named(name, "keep")?, true, 0)
            };
            Ok(Shift {
                name: name.clone(),
                dataset,
                framed,
                held_out,
            })
        })
        .collect()
}

/// What a shift is, in words for report.md; `split` names the images mnist-m blends ("test", "held-out
/// validation").
pub fn describe(name: &str, images: usize, split: &str) -> String {
    if name == MNIST_M {
        format!(
            "`mnist-m`: {images} real {split} images, each blended with a patch of a bundled photograph (per channel \
             |image - patch|, the MNIST-M recipe of Ganin & Lempitsky 2015; photos from data/images, never style \
             images), converted to the classifier's channels"
        )
    } else {
        format!("`{name}`: {images} images of the same classes from another source, framed like the real images")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{BackboneKind, ClassifierConfig, FitMonitor, PreparedSet, build_model};
    use crate::dataset::{Image, LoadOptions, SplitName, load_dataset};

    /// The real-only classifier reads mnist-m's digits well above chance: a small cnn fitted on 100 real MNIST
    /// images per class (train split, early-stopped on the validation split) scores the clean test split and its
    /// mnist-m blends (luminance, the classifier's one channel). Measured: 95.2% clean, 40.4% on mnist-m's 750
    /// images (chance is 10%; the README's eval-gain section quotes it).
    #[test]
    fn mnist_m_digits_stay_recognisable_by_the_real_only_classifier() {
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        // The test split alone: this cnn trains on 100 per class, train images the 20-per-class default leaves unused.
        let config = EvalGainConfig {
            unused_train: false,
            ..EvalGainConfig::default()
        };
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let shifts = load(&config, &mnist, &split).unwrap();
        let m = shifts.iter().find(|s| s.name == MNIST_M).unwrap();
        assert!(!m.framed);
        assert!(m.dataset.samples.iter().all(|s| s.image.channels == 3), "RGB blends");
        let classifier = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            ..ClassifierConfig::default()
        };
        let device = crate::backend::device();
        let prepared = |d: &Dataset, idx: &[usize]| {
            let images: Vec<Image> = idx.iter().map(|&i| d.samples[i].image.conform(1, 28)).collect();
            let refs: Vec<&Image> = images.iter().collect();
            PreparedSet::new(&refs, idx.iter().map(|&i| d.samples[i].label).collect(), None, &device).unwrap()
        };
        let train = split.indices(&mnist, SplitName::Train).unwrap();
        let subset = crate::classifier::run::per_class_subset(&mnist, &train, 100, 0);
        let val = split.indices(&mnist, SplitName::Val).unwrap();
        let model = build_model(&classifier, 10, (1, 28), &crate::backend::autodiff_device()).unwrap();
        let mut monitor = FitMonitor { quiet: true, log: None };
        let (model, _) = crate::classifier::fit(
            model,
            &prepared(&mnist, &subset),
            &prepared(&mnist, &val),
            &classifier,
            false,
            &mut monitor,
        )
        .unwrap();
        let score = |d: &Dataset, idx: &[usize]| {
            crate::classifier::run::evaluate(&model, &prepared(d, idx), 10, 256)
                .unwrap()
                .accuracy
        };
        let clean = score(&mnist, &split.indices(&mnist, SplitName::Test).unwrap());
        let blended = score(&m.dataset, &(0..m.dataset.len()).collect::<Vec<_>>());
        eprintln!(
            "real-only cnn (100 per class): clean test {:.1}%, mnist-m {:.1}% of {} images",
            100.0 * clean,
            100.0 * blended,
            m.dataset.len()
        );
        assert!(clean > 0.85, "the real-only cnn learned MNIST: {clean}");
        assert!(blended >= MNIST_M_FLOOR, "mnist-m accuracy {blended} (chance 0.10)");
        assert!(blended < clean, "mnist-m is a harder domain than the clean test split");
    }

    /// Under `score_split = "val"` mnist-m blends exactly the held-out validation images the run scores: none of
    /// the test split, none of the images that pick the fits' weights; with the test split, exactly the test split,
    /// and with `unused_train` also every train image outside the subset (none of the subset, none of validation).
    #[test]
    fn mnist_m_blends_the_scored_split() {
        use super::super::config::ScoreSplit;
        use std::collections::HashSet;
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let val_config = EvalGainConfig {
            score_split: ScoreSplit::Val,
            shifts: vec![MNIST_M.into()],
            ..EvalGainConfig::default()
        };
        val_config.validate().unwrap();
        let split = Split::stratified(&mnist, &val_config.split).unwrap();
        let ids = |config: &EvalGainConfig| -> HashSet<String> {
            let shifts = load(config, &mnist, &split).unwrap();
            shifts[0].dataset.samples.iter().map(|s| s.id.clone()).collect()
        };
        let id_set = |idx: &[usize]| -> HashSet<String> { idx.iter().map(|&i| mnist.samples[i].id.clone()).collect() };
        let (early, scored) = super::super::experiment::early_stopping_and_scored(&val_config, &mnist, &split).unwrap();
        let blended = ids(&val_config);
        assert_eq!(blended, id_set(&scored));
        assert!(blended.is_disjoint(&id_set(&early)));
        let test = id_set(&split.indices(&mnist, SplitName::Test).unwrap());
        assert!(blended.is_disjoint(&test));
        let test_config = EvalGainConfig {
            shifts: vec![MNIST_M.into()],
            unused_train: false,
            ..EvalGainConfig::default()
        };
        assert_eq!(ids(&test_config), test);
        let unused_config = EvalGainConfig {
            unused_train: true,
            ..test_config
        };
        let shifts = load(&unused_config, &mnist, &split).unwrap();
        let unused = super::super::experiment::unused_train_images(&unused_config, &mnist, &split).unwrap();
        assert_eq!(shifts[0].held_out, unused.len());
        let blended = ids(&unused_config);
        assert_eq!(blended, test.union(&id_set(&unused)).cloned().collect());
        let train = split.indices(&mnist, SplitName::Train).unwrap();
        let subset = crate::classifier::run::per_class_subset(
            &mnist,
            &train,
            unused_config.per_class,
            unused_config.subset_seed,
        );
        assert_eq!(unused.len() + subset.len(), train.len());
        assert!(blended.is_disjoint(&id_set(&subset)));
        assert!(blended.is_disjoint(&id_set(&split.indices(&mnist, SplitName::Val).unwrap())));
    }

    /// The floor the recognisability test asserts (chance is 0.10).
    const MNIST_M_FLOOR: f32 = 0.30;

    /// Writes docs/mnist-m.png, the README's grid: mnist-m images of the default split (RGB, before the
    /// classifier's conversion), one column per class (its first four test images), enlarged 3x. `cargo test --lib write_mnist_m_grid -- --ignored`.
    #[test]
    #[ignore = "writes docs/mnist-m.png"]
    fn write_mnist_m_grid() {
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let config = EvalGainConfig::default();
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let photos = crate::dataset::mnist_m::photos().unwrap();
        let m = crate::dataset::mnist_m::mnist_m(&mnist, &split, &photos, mnist_m_seed(&config)).unwrap();
        let mut tiles = Vec::new();
        for row in 0..4 {
            for class in 0..10 {
                let s = m.samples.iter().filter(|s| s.label == class).nth(row).unwrap();
                tiles.push(s.image.resize(84, 84));
            }
        }
        let grid = crate::dataset::image_grid(&tiles, 10).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mnist-m.png");
        std::fs::write(&path, grid.to_png().unwrap()).unwrap();
    }
}
