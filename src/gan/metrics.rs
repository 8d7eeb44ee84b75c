//! How good the generated images are, measured with the project's own classifier:
//!
//! - **CAS** (Classification Accuracy Score, Ravuri & Vinyals 2019): the small `cnn` classifier trained on
//!   synthetic images only, then tested on the real test split. It is trained exactly as the real-data classifier
//!   it is compared with (same settings, early stopping on the real validation split, which only picks the epoch:
//!   the weights never see a real image), so the two accuracies differ only by the training images. It asks whether
//!   the images carry their class and cover the real variety, which is what an expanded dataset is for.
//! - **FID** (Fréchet distance, Heusel et al. 2017) between Gaussians fitted to the penultimate features (the
//!   128-unit ReLU layer of the head) of a `cnn` classifier trained on the real train split, for the generated
//!   images and the real test split. Inception features do not suit 28x28 digits and are not bundled, so FID here
//!   is comparable between synth runs on one dataset, not with published Inception FIDs; the FID between the real
//!   train and real test splits is reported beside it as the floor.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::report::Evaluation;
use crate::classifier::run::{evaluate, prepare_experiment, train_and_test};
use crate::classifier::{BackboneKind, Checkpoint, Classifier, ClassifierConfig, FitMonitor, PreparedSet, fit};
use crate::dataset::tensor::tensor_values;
use crate::dataset::{Dataset, Image, Split, SplitName};
use crate::error::{Result, SynthError};

/// The classifier settings behind CAS and FID: the small CNN from scratch, `epochs` at most, patience 3.
pub fn metric_classifier_config(dataset: &str, split: &Split, epochs: usize, seed: u64) -> ClassifierConfig {
    ClassifierConfig {
        dataset: dataset.to_string(),
        split: split.config.clone(),
        backbone: BackboneKind::Cnn,
        head_epochs: epochs.max(1),
        finetune_epochs: 0,
        patience: 3,
        seed,
        ..ClassifierConfig::default().with_pre_sweep_cnn()
    }
}

/// Mean and covariance of feature vectors.
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub dim: usize,
    pub mean: Vec<f64>,
    /// Row-major `dim x dim`, normalised by `n - 1`.
    pub cov: Vec<f64>,
}

impl FeatureStats {
    /// Statistics of `n x dim` row-major features.
    pub fn new(features: &[f32], dim: usize) -> FeatureStats {
        let n = features.len() / dim.max(1);
        let mut mean = vec![0.0; dim];
        for row in features.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut cov = vec![0.0; dim * dim];
        for row in features.chunks_exact(dim) {
            let c: Vec<f64> = row.iter().zip(&mean).map(|(&v, m)| v as f64 - m).collect();
            for i in 0..dim {
                for j in i..dim {
                    cov[i * dim + j] += c[i] * c[j];
                }
            }
        }
        let denom = n.saturating_sub(1).max(1) as f64;
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / denom;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        FeatureStats { dim, mean, cov }
    }
}

/// Eigenvalues and eigenvectors (columns, row-major) of a symmetric matrix, by cyclic Jacobi rotations.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum::<f64>().max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The symmetric square root of a symmetric positive semi-definite matrix (negative rounding noise clipped).
fn symmetric_sqrt(a: &[f64], n: usize) -> Vec<f64> {
    let (values, vectors) = symmetric_eigen(a.to_vec(), n);
    let roots: Vec<f64> = values.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| vectors[i * n + k] * roots[k] * vectors[j * n + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                out[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    out
}

/// The Fréchet distance between two Gaussians: |m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with
/// tr((S1 S2)^(1/2)) computed as tr((S1^(1/2) S2 S1^(1/2))^(1/2)), a symmetric matrix with the same eigenvalues.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    let n = a.dim;
    let mean_term: f64 = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).powi(2)).sum();
    let root_a = symmetric_sqrt(&a.cov, n);
    let middle = matmul(&matmul(&root_a, &b.cov, n), &root_a, n);
    let (values, _) = symmetric_eigen(middle, n);
    let cross: f64 = values.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let trace = |m: &[f64]| (0..n).map(|i| m[i * n + i]).sum::<f64>();
    (mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * cross).max(0.0)
}

/// Penultimate features of `images` (`[n, c, h, w]` in [0, 1]) under an inference classifier, row-major.
pub fn embed(model: &Classifier, images: &Tensor<4>, batch: usize) -> Result<(Vec<f32>, usize)> {
    let n = images.dims()[0];
    let mut out = Vec::new();
    let mut dim = 0;
    for start in (0..n).step_by(batch.max(1)) {
        let f = model.embed(images.clone().slice(start..(start + batch).min(n)));
        dim = f.dims()[1];
        out.extend(tensor_values(f)?);
    }
    Ok((out, dim))
}

/// The feature network behind FID: a cnn classifier trained on the real train split.
pub struct FeatureNet {
    pub model: Classifier,
    pub test_accuracy: f32,
    /// Stats of the real test split's features (the FID reference) and of the real train split's.
    pub test_stats: FeatureStats,
    pub train_stats: FeatureStats,
}

/// One part of the real split, prepared for the network; refuses an empty part (the metrics need val and test).
pub fn real_part(dataset: &Dataset, split: &Split, part: SplitName, device: &Device) -> Result<PreparedSet> {
    let idx = split.indices(dataset, part)?;
    if idx.is_empty() {
        return Err(SynthError::bad_input(format!(
            "the {part} split is empty, so CAS and FID cannot be measured; pass --{part} > 0 or --metrics false"
        )));
    }
    let images: Vec<&Image> = idx.iter().map(|&i| &dataset.samples[i].image).collect();
    PreparedSet::new(
        &images,
        idx.iter().map(|&i| dataset.samples[i].label).collect(),
        None,
        device,
    )
}

/// Loads the feature network saved in `dir`, or trains one on the real train split and saves it there, so
/// `synth gan sample` measures with the same instrument as the training run.
pub fn feature_net(
    dataset: &Dataset,
    split: &Split,
    config: &ClassifierConfig,
    dir: &Path,
    quiet: bool,
) -> Result<FeatureNet> {
    let device = crate::backend::device();
    let data = prepare_experiment(
        dataset,
        split,
        &split.indices(dataset, SplitName::Train)?,
        &[],
        config,
        &device,
    )?;
    let (model, test_accuracy) = match Checkpoint::load(dir, &device) {
        Ok((meta, model)) if meta.config == *config && meta.classes == dataset.classes => {
            let acc = evaluate(&model, &data.test, data.classes.len(), config.batch_size)?.accuracy;
            (model, acc)
        }
        _ => {
            let mut monitor = FitMonitor { quiet, log: None };
            let (model, _, test) = train_and_test(config, &data, &mut monitor)?;
            let meta = Checkpoint::of_fit(config, &data, dataset, split, test.accuracy);
            let staging = crate::dataset::writer::stage_dir(dir)?;
            meta.save(&model, &staging)?;
            crate::dataset::writer::commit_dir(&staging, dir)?;
            (model.valid(), test.accuracy)
        }
    };
    let model = model.valid();
    let (test_features, dim) = embed(&model, &data.test.images, config.batch_size)?;
    let (train_features, _) = embed(&model, &data.train.images, config.batch_size)?;
    Ok(FeatureNet {
        test_stats: FeatureStats::new(&test_features, dim),
        train_stats: FeatureStats::new(&train_features, dim),
        model,
        test_accuracy,
    })
}

/// CAS and FID of one set of generated images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Quality {
    /// Accuracy on the real test split of the cnn trained on synthetic images only.
    pub cas: f32,
    pub cas_per_class: Vec<f32>,
    /// Validation CAS: the same classifier's accuracy on the real validation split (the split that picked its epoch,
    /// so slightly optimistic, alike for every set). Sweeps choose defaults by this, never by the test split.
    #[serde(default)]
    pub cas_val: f32,
    /// Synthetic images the CAS classifier trained on, and the real validation images that picked its epoch.
    pub cas_train_images: usize,
    pub real_val_images: usize,
    /// Epochs the CAS classifier trained, and the (1-based) epoch whose weights it kept (0: none beat the
    /// untrained network).
    pub cas_epochs: usize,
    pub cas_best_epoch: usize,
    /// Real test images both metrics use.
    pub real_test_images: usize,
    /// FID between the generated images and the real test split.
    pub fid: f64,
    /// FID between the real train and real test splits (what a perfect generator would score, about).
    pub fid_real_train_vs_test: f64,
    /// Which features FID uses.
    pub fid_features: String,
    /// Test accuracy of that feature classifier on real data.
    pub feature_net_test_accuracy: f32,
    /// Accuracy of that real-data classifier on the generated images: whether each image shows its class (the
    /// converse of CAS, which also asks whether the images cover the real variety).
    pub real_classifier_on_synthetic: f32,
}

/// Measures CAS and FID for generated `train` images (FID over these), the CAS classifier early-stopped on the real
/// `val` images and tested on the real `test` images.
pub fn measure(
    train: &[(Image, usize)],
    val: &PreparedSet,
    test: &PreparedSet,
    net: &FeatureNet,
    config: &ClassifierConfig,
    classes: usize,
    quiet: bool,
) -> Result<Quality> {
    let device = crate::backend::device();
    let images: Vec<&Image> = train.iter().map(|(i, _)| i).collect();
    let train_set = PreparedSet::new(&images, train.iter().map(|(_, l)| *l).collect(), None, &device)?;
    let side = train.first().map_or(0, |(i, _)| i.height);
    let channels = train.first().map_or(0, |(i, _)| i.channels);
    let model = crate::classifier::build_model(config, classes, (channels, side), &crate::backend::autodiff_device())?;
    let mut monitor = FitMonitor { quiet, log: None };
    let (model, report) = fit(model, &train_set, val, config, false, &mut monitor)?;
    let cas: Evaluation = evaluate(&model, test, classes, config.batch_size)?;
    let fidelity = evaluate(&net.model, &train_set, classes, config.batch_size)?.accuracy;
    let (features, dim) = embed(&net.model, &train_set.images, config.batch_size)?;
    let fid = frechet_distance(&FeatureStats::new(&features, dim), &net.test_stats);
    Ok(Quality {
        cas: cas.accuracy,
        cas_per_class: cas.per_class_accuracy,
        cas_val: report.best_val_accuracy,
        cas_train_images: train.len(),
        real_val_images: val.len(),
        cas_epochs: report.history.len(),
        cas_best_epoch: if report.best_epoch.0 == 0 {
            0
        } else {
            report.best_epoch.1 + 1
        },
        real_test_images: test.len(),
        fid,
        fid_real_train_vs_test: frechet_distance(&net.train_stats, &net.test_stats),
        fid_features: format!(
            "{dim}-d penultimate features (ReLU hidden layer) of the cnn classifier trained on the real train split"
        ),
        feature_net_test_accuracy: net.test_accuracy,
        real_classifier_on_synthetic: fidelity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(n: usize, dim: usize, scale: &[f64], shift: f64, seed: u64) -> Vec<f32> {
        let mut rng = crate::seed::rng(seed);
        (0..n)
            .flat_map(|_| {
                super::super::sample::latent_from(&mut rng, dim, 0.0)
                    .into_iter()
                    .enumerate()
                    .map(|(k, v)| (v as f64 * scale[k] + shift) as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// For diagonal covariances FID has the closed form |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    #[test]
    fn frechet_distance_matches_the_closed_form() {
        let dim = 6;
        let a = FeatureStats::new(&gaussian(20000, dim, &[1.0, 2.0, 0.5, 1.0, 3.0, 1.0], 0.0, 1), dim);
        let b = FeatureStats::new(&gaussian(20000, dim, &[2.0, 1.0, 0.5, 1.0, 1.0, 1.0], 0.5, 2), dim);
        let expected: f64 = (0..dim)
            .map(|i| {
                let (va, vb) = (a.cov[i * dim + i], b.cov[i * dim + i]);
                (a.mean[i] - b.mean[i]).powi(2) + (va.sqrt() - vb.sqrt()).powi(2)
            })
            .sum();
        let fid = frechet_distance(&a, &b);
        // Off-diagonal sample covariances are ~1e-2, so the closed form holds to about that.
        assert!(
            (fid - expected).abs() < 0.05 * expected,
            "fid {fid} expected {expected}"
        );
        assert!(frechet_distance(&a, &a) < 1e-6);
    }

    #[test]
    fn symmetric_sqrt_squares_back() {
        let n = 3;
        let m = vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let r = symmetric_sqrt(&m, n);
        let back = matmul(&r, &r, n);
        for (x, y) in back.iter().zip(&m) {
            assert!((x - y).abs() < 1e-9, "{back:?}");
        }
    }
}
