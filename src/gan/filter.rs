//! Class-consistency filtering of generated images (the agreement filter of synthetic-data pipelines, He et al.
//! 2023): a judge, the small `cnn` classifier fitted on the GAN's own training images (early-stopped on the real
//! validation split), gives each generated image the softmax probability of its conditioning class; sampling draws
//! latents `i = 0, 1, ...` of a class until `per_class` images reach `tau`, or until `oversample * per_class` were
//! drawn. At that cap the class is filled with the best-scoring rejected images (highest probability first), each
//! marked `passed_filter: false` in its manifest params, so a set is always complete and the shortfall is recorded.
//! Every draw comes from the per-image latent seeds, and the judge from a seed derived from the run's, so a filtered
//! set is as reproducible as an unfiltered one.

use burn::prelude::*;
use serde::Serialize;

use super::metrics::metric_classifier_config;
use super::sample::SAMPLE_BATCH;
use crate::classifier::run::prepare_experiment;
use crate::classifier::{Classifier, FitMonitor, fit};
use crate::dataset::tensor::{images_to_tensor, tensor_values};
use crate::dataset::{Dataset, Image, Split};
use crate::error::{Result, SynthError};

/// Stream tag of the judge's seed.
const JUDGE_STREAM: u64 = 0x4A_5544;

/// Scores generated images: for each image, the probability that it shows its conditioning class.
pub trait Judge {
    fn probabilities(&self, images: &[Image], labels: &[usize]) -> Result<Vec<f32>>;
}

/// Any function of (images, labels) is a judge (the tests pass stubs).
impl<F: Fn(&[Image], &[usize]) -> Result<Vec<f32>>> Judge for F {
    fn probabilities(&self, images: &[Image], labels: &[usize]) -> Result<Vec<f32>> {
        self(images, labels)
    }
}

/// The filter's settings.
#[derive(Clone, Copy, Debug)]
pub struct FilterPolicy {
    /// Keep images whose conditioning-class probability is at least this.
    pub tau: f32,
    /// Draw at most `oversample * per_class` latents per class.
    pub oversample: usize,
}

/// One generated image the filter looked at.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Latent index within its class (the `i` of its latent seed and file name).
    pub index: usize,
    pub image: Image,
    /// The judge's probability of the conditioning class.
    pub probability: f32,
    /// Whether it reached tau (false: kept at the cap as one of the best-scoring rejects).
    pub passed: bool,
}

/// What the filter did for one class.
#[derive(Clone, Debug)]
pub struct ClassSelection {
    /// The kept images, in latent-index order.
    pub kept: Vec<Candidate>,
    /// Latents drawn and judged.
    pub drawn: usize,
    /// Drawn images that reached tau.
    pub passed: usize,
}

/// Draws latents `0, 1, ...` of class `label` in batches of [`SAMPLE_BATCH`] (`draw(start, n)` generates images
/// `start..start + n`) until `per_class` reach `policy.tau` or `policy.oversample * per_class` were drawn; at the cap
/// the best-scoring rejects (highest probability, then lowest index) fill the class.
pub fn select_class(
    label: usize,
    per_class: usize,
    policy: FilterPolicy,
    judge: &dyn Judge,
    mut draw: impl FnMut(usize, usize) -> Result<Vec<Image>>,
) -> Result<ClassSelection> {
    let cap = per_class.saturating_mul(policy.oversample.max(1));
    let mut kept = Vec::with_capacity(per_class);
    let mut rejected = Vec::new();
    let mut drawn = 0;
    while kept.len() < per_class && drawn < cap {
        let n = SAMPLE_BATCH.min(cap - drawn);
        let images = draw(drawn, n)?;
        let probabilities = judge.probabilities(&images, &vec![label; images.len()])?;
        if probabilities.len() != images.len() {
            return Err(SynthError::internal("the judge scored a different number of images"));
        }
        for (image, probability) in images.into_iter().zip(probabilities) {
            if kept.len() == per_class {
                break;
            }
            let passed = probability >= policy.tau;
            let candidate = Candidate {
                index: drawn,
                image,
                probability,
                passed,
            };
            drawn += 1;
            if passed {
                kept.push(candidate);
            } else {
                rejected.push(candidate);
            }
        }
    }
    let passed = kept.len();
    if kept.len() < per_class {
        rejected.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(a.index.cmp(&b.index)));
        kept.extend(rejected.into_iter().take(per_class - passed));
        kept.sort_by_key(|c| c.index);
    }
    Ok(ClassSelection { kept, drawn, passed })
}

/// The counts of one class's selection.
#[derive(Clone, Copy, Debug)]
pub struct ClassCount {
    pub drawn: usize,
    pub passed: usize,
    pub kept: usize,
}

impl ClassSelection {
    /// Its counts.
    pub fn count(&self) -> ClassCount {
        ClassCount {
            drawn: self.drawn,
            passed: self.passed,
            kept: self.kept.len(),
        }
    }
}

/// What a filtered sampling pass records in origin.json.
#[derive(Clone, Debug, Serialize)]
pub struct FilterReport {
    pub tau: f32,
    pub oversample: usize,
    /// Latents drawn and judged, images kept, and kept / drawn.
    pub drawn: usize,
    pub kept: usize,
    pub kept_share: f64,
    /// Kept images below tau (classes that hit the cap were filled with their best-scoring rejects).
    pub kept_below_tau: usize,
    /// Per class: drawn, and kept that reached tau.
    pub drawn_per_class: Vec<usize>,
    pub passed_per_class: Vec<usize>,
    /// The judge: what it is, and its accuracy on the real validation split.
    pub judge: String,
    pub judge_val_accuracy: f32,
    pub judge_train_images: usize,
}

impl FilterReport {
    /// The report of per-class counts.
    pub fn of(policy: FilterPolicy, counts: &[ClassCount], judge: &CnnJudge) -> FilterReport {
        let drawn: usize = counts.iter().map(|s| s.drawn).sum();
        let kept: usize = counts.iter().map(|s| s.kept).sum();
        let passed: usize = counts.iter().map(|s| s.passed).sum();
        FilterReport {
            tau: policy.tau,
            oversample: policy.oversample,
            drawn,
            kept,
            kept_share: if drawn == 0 { 0.0 } else { kept as f64 / drawn as f64 },
            kept_below_tau: kept - passed,
            drawn_per_class: counts.iter().map(|s| s.drawn).collect(),
            passed_per_class: counts.iter().map(|s| s.passed).collect(),
            judge: "cnn classifier fitted on the GAN's training images, early-stopped on the real validation split"
                .into(),
            judge_val_accuracy: judge.val_accuracy,
            judge_train_images: judge.train_images,
        }
    }
}

/// The judge of a run: the small cnn fitted on the real training images.
pub struct CnnJudge {
    pub model: Classifier,
    pub val_accuracy: f32,
    pub train_images: usize,
    batch: usize,
}

impl CnnJudge {
    /// Fits the cnn on `train` (the GAN's training images), early-stopped on the real validation split, with the
    /// CAS classifier's settings (at most `epochs` epochs, patience 3) and a seed derived from `seed`.
    pub fn fit(
        dataset: &Dataset,
        split: &Split,
        train: &[usize],
        epochs: usize,
        seed: u64,
        quiet: bool,
    ) -> Result<CnnJudge> {
        let config = metric_classifier_config(&dataset.name, split, epochs, crate::seed::derive(seed, &[JUDGE_STREAM]));
        let data = prepare_experiment(dataset, split, train, &[], &config, &crate::backend::device())?;
        let model = crate::classifier::build_model(
            &config,
            data.classes.len(),
            data.input,
            &crate::backend::autodiff_device(),
        )?;
        let mut monitor = FitMonitor { quiet, log: None };
        let (model, report) = fit(model, &data.train, &data.val, &config, false, &mut monitor)?;
        Ok(CnnJudge {
            model: model.valid(),
            val_accuracy: report.best_val_accuracy,
            train_images: train.len(),
            batch: config.batch_size,
        })
    }
}

impl Judge for CnnJudge {
    fn probabilities(&self, images: &[Image], labels: &[usize]) -> Result<Vec<f32>> {
        let device = crate::backend::device();
        let mut out = Vec::with_capacity(images.len());
        for (chunk, labs) in images.chunks(self.batch.max(1)).zip(labels.chunks(self.batch.max(1))) {
            let refs: Vec<&Image> = chunk.iter().collect();
            let logits = self.model.forward(images_to_tensor(&refs, &device)?);
            let classes = logits.dims()[1];
            let p = tensor_values(burn::tensor::activation::softmax(logits, 1))?;
            out.extend(labs.iter().enumerate().map(|(k, &l)| p[k * classes + l]));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stub generator whose image `i` truly shows class `i % 10` (written into its first pixel), whatever class
    /// it was asked for, and a stub judge that reads that pixel: probability 1 for the shown class, 0 otherwise.
    fn stub_draw(start: usize, n: usize) -> Result<Vec<Image>> {
        Ok((start..start + n)
            .map(|i| {
                let mut image = Image::zeros(1, 4, 4);
                image.data[0] = (i % 10) as f32 / 10.0;
                image
            })
            .collect())
    }

    fn stub_judge(images: &[Image], labels: &[usize]) -> Result<Vec<f32>> {
        Ok(images
            .iter()
            .zip(labels)
            .map(|(image, &l)| {
                if (image.data[0] * 10.0).round() as usize == l {
                    1.0
                } else {
                    0.0
                }
            })
            .collect())
    }

    fn policy(tau: f32) -> FilterPolicy {
        FilterPolicy { tau, oversample: 10 }
    }

    #[test]
    fn the_filter_keeps_only_images_of_the_conditioning_class() {
        for label in [0, 3, 9] {
            let s = select_class(label, 7, policy(0.5), &stub_judge, stub_draw).unwrap();
            assert_eq!(s.kept.len(), 7);
            assert_eq!(s.passed, 7);
            assert!(s.kept.iter().all(|c| c.passed && c.probability == 1.0));
            assert!(
                s.kept.iter().all(|c| c.index % 10 == label),
                "{label}: {:?}",
                indices(&s)
            );
            // Latents are drawn in order and the class stops at its 7th hit.
            assert_eq!(s.drawn, label + 6 * 10 + 1);
            // The same draw again gives the same selection.
            let again = select_class(label, 7, policy(0.5), &stub_judge, stub_draw).unwrap();
            assert_eq!(indices(&s), indices(&again));
        }
    }

    #[test]
    fn tau_zero_keeps_the_first_draws() {
        let s = select_class(4, 5, policy(0.0), &stub_judge, stub_draw).unwrap();
        assert_eq!(indices(&s), vec![0, 1, 2, 3, 4]);
        assert_eq!(s.drawn, 5);
    }

    /// A judge that accepts only even classes: an odd class hits the cap and is filled with its best-scoring
    /// rejects, which are recorded as not passed.
    #[test]
    fn at_the_cap_the_best_scoring_rejects_fill_the_class() {
        let only_even = |images: &[Image], labels: &[usize]| -> Result<Vec<f32>> {
            Ok(images
                .iter()
                .zip(labels)
                .map(|(image, &l)| if l % 2 == 0 { 0.9 } else { 0.1 + image.data[0] * 0.1 })
                .collect())
        };
        let even = select_class(2, 3, policy(0.5), &only_even, stub_draw).unwrap();
        assert_eq!((even.drawn, even.passed), (3, 3));
        let odd = select_class(1, 3, policy(0.5), &only_even, stub_draw).unwrap();
        assert_eq!((odd.drawn, odd.passed, odd.kept.len()), (30, 0, 3));
        assert!(odd.kept.iter().all(|c| !c.passed));
        // The highest scores are the images whose first pixel is 0.9: indices 9, 19, 29.
        assert_eq!(indices(&odd), vec![9, 19, 29]);
    }

    fn indices(s: &ClassSelection) -> Vec<usize> {
        s.kept.iter().map(|c| c.index).collect()
    }
}
