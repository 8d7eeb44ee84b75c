//! One eval-gain experiment: the real N-per-class subset, the sources, every condition fitted once per seed on
//! features from the bank, and each fit scored on the real test split (clean), under a white-box PGD attack
//! (robust) and on each test domain of `shifts` (shifted: mnist-m, a second real dataset of the same classes).

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Module;
use burn::prelude::Device;
use serde::Serialize;

use super::bank::FeatureBank;
use super::config::{AllShare, EvalGainConfig, RobustMode, ScoreSplit};
use super::shifts::Shift;
use crate::adversarial::{AttackOptions, attack_set};
use crate::backend::Lanes;
use crate::classifier::report::Evaluation;
use crate::classifier::{
    BackboneKind, CachedPart, Classifier, ClassifierConfig, FitMonitor, FitReport, PreparedSet, build_model,
    cache_layer, fit_cached, predict_from,
};
use crate::dataset::{Dataset, Image, SourceKind, Split, SplitName};
use crate::error::{Result, SynthError};
use crate::report::stats::{PairedGain, Summary, paired_gain, summarise_accuracy};

/// Feature-bank group of the real training subset and the validation and test splits (each shift's group is
/// [`super::shifts::group`]).
pub const REAL: &str = "real";
pub const VAL: &str = "val";
pub const TEST: &str = "test";
const ROBUST: &str = "robust";

/// The surrogate of the transfer robust accuracy: what it is and how the attack did on it.
#[derive(Clone, Debug, Serialize)]
pub struct SurrogateInfo {
    pub backbone: BackboneKind,
    pub seed: u64,
    pub images: usize,
    pub clean_accuracy: f32,
    /// Its accuracy on its own (white-box) adversarial images.
    pub adversarial_accuracy: f32,
}

/// A synthetic set entering the experiment.
pub struct Source {
    /// Short unique name (`gan`, `style`, or a folder name for a `--synthetic` set).
    pub name: String,
    pub kind: SourceKind,
    pub root: PathBuf,
    pub dataset: Dataset,
    pub role: SourceRole,
}

/// How a set takes part in the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRole {
    /// A synthetic set: `mix` images per real image in `real + X`, its share of `real + all`, and its own fit.
    Set,
    /// A searched policy's set, made at the run's synthetic amount (`mix` images per real one, the count of
    /// `real + augment`) in the policy's own proportions: its condition takes every image, and it stays out of
    /// `real + all` and of the synthetic-only fits.
    Policy,
    /// The pipeline's classic augmentation set: a set like any other, and also the practitioner's baseline: every
    /// other set X gets the condition `real + augment + X`, whose gain over `real + augment` says whether X adds
    /// anything beyond the augmentation one already uses.
    Augment,
}

impl Source {
    /// Whether this is a searched policy's set.
    pub fn is_policy(&self) -> bool {
        self.role == SourceRole::Policy
    }
}

/// The augment baseline among `sources` (the first with [`SourceRole::Augment`]), if any.
pub fn augment_source(sources: &[Source]) -> Option<usize> {
    sources.iter().position(|s| s.role == SourceRole::Augment)
}

/// An image converted to `channels` and resized to `side` x `side` ([`Image::conform`]).
pub fn conform(image: &Image, channels: usize, side: usize) -> Image {
    image.conform(channels, side)
}

/// The shift set's images framed like the real ones: resized to `side - 2 * margin` and padded with black.
fn framed(image: &Image, channels: usize, side: usize, margin: usize) -> Image {
    let inner = side.saturating_sub(2 * margin).max(1);
    let small = conform(image, channels, inner);
    let mut out = Image::zeros(channels, side, side);
    for c in 0..channels {
        for y in 0..inner {
            for x in 0..inner {
                out.set(c, y + margin, x + margin, small.get(c, y, x));
            }
        }
    }
    out
}

/// What a condition trains on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// The real subset alone: the baseline every gain is measured against.
    Real,
    /// The real subset plus one source.
    RealPlus,
    /// The real subset plus every source (equal shares of one draw's total, or each set's own draw: `all_share`).
    RealPlusAll,
    /// The real subset, the augment set's draw of `real + augment` and another source's draw of `real + X` (same
    /// seed, same draws): the practitioner's baseline plus X, so its paired gain over `real + augment` isolates X.
    AugmentPlus,
    /// One source's images alone (its classification accuracy score).
    SyntheticOnly,
}

/// A condition: its name and the sources it draws from.
#[derive(Clone, Debug, Serialize)]
pub struct Condition {
    pub name: String,
    pub kind: ConditionKind,
    /// Indices into the experiment's sources.
    #[serde(skip)]
    pub sources: Vec<usize>,
    pub source_names: Vec<String>,
}

/// One fit's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub clean: f64,
    pub robust: Option<f64>,
    /// Accuracy on each shift, by shift name (empty without shifts).
    pub shifted: BTreeMap<String, f64>,
    pub real_images: usize,
    pub synthetic_images: usize,
    pub best_val_accuracy: f32,
    pub epochs: usize,
    /// Gradient steps of the fit (both phases).
    pub steps: usize,
    /// Why this seed's model has not learned the task (at chance on the test split, or one class for every image);
    /// absent when it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_learned: Option<String>,
    /// Wall time of the fit and its scoring.
    pub seconds: f64,
}

/// A condition's results over seeds, summarised, with its paired gains over `real`.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionResult {
    #[serde(flatten)]
    pub condition: Condition,
    pub seeds: Vec<SeedResult>,
    pub clean: Summary,
    pub robust: Option<Summary>,
    /// By shift name.
    pub shifted: BTreeMap<String, Summary>,
    /// Gains over the real-only condition, paired by seed (absent, or empty, for `real` itself).
    pub gain_clean: Option<PairedGain>,
    pub gain_robust: Option<PairedGain>,
    pub gain_shifted: BTreeMap<String, PairedGain>,
    /// Gains of `real + augment + X` over `real + augment`, paired by seed: what X adds beyond classic
    /// augmentation (absent for every other condition).
    pub gain_clean_vs_augment: Option<PairedGain>,
    pub gain_robust_vs_augment: Option<PairedGain>,
    pub gain_shifted_vs_augment: BTreeMap<String, PairedGain>,
    /// Seeds whose model has not learned the task: a condition with any is flagged, and its numbers are noise.
    pub seeds_not_learned: usize,
}

/// Everything an experiment needs, prepared once: the data, the feature bank, the attack set.
pub struct Experiment {
    pub config: EvalGainConfig,
    pub dataset: Dataset,
    pub split: Split,
    /// Dataset indices of the real training subset.
    pub subset: Vec<usize>,
    pub classifier: ClassifierConfig,
    pub input: (usize, usize),
    pub bank: FeatureBank,
    /// The names of the shifts in the bank, in the config's order.
    pub shifts: Vec<String>,
    /// White-box mode: test images for the robust accuracy (pixels at the network's input size) and their keys.
    robust: Option<(PreparedSet, Vec<u64>)>,
    /// Transfer mode: the surrogate's own clean and white-box adversarial accuracy on the attacked test images.
    pub surrogate: Option<SurrogateInfo>,
    /// Which synthetic images of each source are already in the bank (row per source index).
    banked: BTreeMap<String, BTreeMap<usize, usize>>,
    /// The cnn fitted on the subset with the subset seed, fitted once for the style judge and the adversarial
    /// source's target.
    subset_cnn: std::sync::OnceLock<Classifier>,
    /// With `equal_steps`: the largest training set of the run, whose epoch budget every fit gets in steps.
    step_reference: Option<usize>,
}

/// Real images at `idx`, conformed to the network input `(channels, side)`.
fn prepared_real(dataset: &Dataset, idx: &[usize], input: (usize, usize), device: &Device) -> Result<PreparedSet> {
    let images: Vec<Image> = idx
        .iter()
        .map(|&i| conform(&dataset.samples[i].image, input.0, input.1))
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let labels = idx.iter().map(|&i| dataset.samples[i].label).collect();
    PreparedSet::new(&refs, labels, None, device)
}

/// A shift (`shift_images` of it, evenly spread, and every held-out image at its end), framed like the real images
/// when it is another dataset and conformed to the input (`mnist-m`'s RGB blends become luminance for a grey
/// classifier); refused when its classes are not the real dataset's.
fn prepared_shift(
    config: &EvalGainConfig,
    dataset: &Dataset,
    shift: &Shift,
    input: (usize, usize),
    device: &Device,
) -> Result<(Vec<String>, PreparedSet)> {
    let (name, framing, held_out) = (&shift.name, shift.framed, shift.held_out);
    let shift = &shift.dataset;
    if shift.classes != dataset.classes {
        return Err(SynthError::bad_input(format!(
            "shift {name} has classes [{}], not the real dataset's [{}]",
            shift.classes.join(", "),
            dataset.classes.join(", ")
        )));
    }
    let side = dataset.require_uniform_shape()?.1;
    let spread_over = shift.len().saturating_sub(held_out);
    let mut chosen = crate::dataset::split::spread(spread_over, config.shift_images);
    chosen.extend(spread_over..shift.len());
    let images: Vec<Image> = chosen
        .iter()
        .map(|&i| &shift.samples[i])
        .map(|s| {
            if framing {
                framed(&conform(&s.image, input.0, side), input.0, side, config.shift_margin)
            } else {
                conform(&s.image, input.0, side)
            }
        })
        .map(|i| conform(&i, input.0, input.1))
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let labels = chosen.iter().map(|&i| shift.samples[i].label).collect();
    let set = PreparedSet::new(&refs, labels, None, device)?;
    let keys = chosen
        .iter()
        .map(|&i| format!("shift:{name}:{}", shift.samples[i].id))
        .collect();
    Ok((keys, set))
}

/// The train split's images outside the subset that `config` scores beside the test split (`unused_train` with
/// `score_split = "test"`; none otherwise), in dataset order: held out as the test split is, since every set of the
/// default pipeline is made from the subset alone.
pub(super) fn unused_train_images(config: &EvalGainConfig, dataset: &Dataset, split: &Split) -> Result<Vec<usize>> {
    if !(config.unused_train && config.score_split == ScoreSplit::Test) {
        return Ok(Vec::new());
    }
    let train = split.indices(dataset, SplitName::Train)?;
    let mut subset = crate::classifier::run::per_class_subset(dataset, &train, config.per_class, config.subset_seed);
    subset.sort_unstable();
    Ok(train.into_iter().filter(|i| subset.binary_search(i).is_err()).collect())
}

/// The validation images that early-stop every fit, and the images every accuracy is measured on: the test split,
/// or with `score_split = "val"` the validation images left after the early-stopping ones.
pub(super) fn early_stopping_and_scored(
    config: &EvalGainConfig,
    dataset: &Dataset,
    split: &Split,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let val = split.indices(dataset, SplitName::Val)?;
    let test = split.indices(dataset, SplitName::Test)?;
    if val.is_empty() || test.is_empty() {
        return Err(SynthError::bad_input(
            "the validation and test splits must not be empty",
        ));
    }
    let rows = crate::dataset::split::spread(val.len(), config.val_images);
    let early: Vec<usize> = rows.iter().map(|&r| val[r]).collect();
    let scored = match config.score_split {
        ScoreSplit::Test => test,
        ScoreSplit::Val => {
            let held: Vec<usize> = (0..val.len())
                .filter(|r| rows.binary_search(r).is_err())
                .map(|r| val[r])
                .collect();
            if held.is_empty() {
                return Err(SynthError::bad_input(format!(
                    "score_split val scores the validation images that do not early-stop the fits, but val_images \
                     {} takes all {} of them: lower val_images",
                    config.val_images,
                    val.len()
                )));
            }
            held
        }
    };
    Ok((early, scored))
}

impl Experiment {
    /// Draws the subset, builds the bank and computes the real subset's, validation, test and shifts' features.
    pub fn prepare(config: &EvalGainConfig, dataset: Dataset, split: Split, shifts: &[Shift]) -> Result<Self> {
        let mut exp = Self::for_sources(config, dataset, split)?;
        exp.bank_scored(shifts)?;
        Ok(exp)
    }

    /// Fills the bank of an experiment made by [`Experiment::for_sources`]: the real subset, the validation and test
    /// images, each shift, and the transfer attack's images.
    pub fn bank_scored(&mut self, shifts: &[Shift]) -> Result<()> {
        self.bank_real_and_val()?;
        let config = &self.config;
        let device = crate::backend::device();
        let (_, test) = early_stopping_and_scored(config, &self.dataset, &self.split)?;
        // The clean images: the test split first (robust rows index into it), then any unused train images.
        let clean = [test.clone(), self.unused_train()?].concat();
        let test_set = prepared_real(&self.dataset, &clean, self.input, &device)?;
        let keys: Vec<String> = clean
            .iter()
            .map(|&i| format!("real:{}", self.dataset.samples[i].id))
            .collect();
        self.bank.add(TEST, keys, &test_set)?;
        for shift in shifts {
            let (keys, set) = prepared_shift(config, &self.dataset, shift, self.input, &device)?;
            self.bank.add(&super::shifts::group(&shift.name), keys, &set)?;
        }
        self.shifts = shifts.iter().map(|s| s.name.clone()).collect();
        let robust_rows = crate::dataset::split::spread(test.len(), config.robust_images);
        self.robust = match config.robust_mode {
            RobustMode::WhiteBox if config.robust_attack.eps > 0.0 => Some(rows_of(&test_set, &robust_rows, &test)),
            _ => None,
        };
        if config.robust_mode == RobustMode::Transfer && config.robust_attack.eps > 0.0 {
            let robust_test: Vec<usize> = robust_rows.iter().map(|&r| test[r]).collect();
            self.bank_transfer_attack(&robust_test)?;
        }
        Ok(())
    }

    /// The train split's images outside the subset that the clean accuracy also counts (`unused_train` with
    /// `score_split = "test"`; none otherwise), in dataset order.
    pub fn unused_train(&self) -> Result<Vec<usize>> {
        unused_train_images(&self.config, &self.dataset, &self.split)
    }

    /// The experiment as far as the default pipeline's sources need it (the subset, the classifier settings that
    /// key the cache, the input shape), with an empty feature bank: [`Experiment::prepare`] fills the bank, and
    /// [`super::sources::default_sets`] uses this alone to make or find the sets without computing any feature.
    pub fn for_sources(config: &EvalGainConfig, dataset: Dataset, split: Split) -> Result<Self> {
        config.validate()?;
        let shape = dataset.require_uniform_shape()?;
        let mut classifier = config.classifier.clone();
        classifier.dataset = dataset.name.clone();
        classifier.resize = config.resize.clone();
        classifier.split = config.split.clone();
        classifier.per_class = config.per_class;
        classifier.validate()?;
        let input = crate::classifier::run::input_shape(&classifier, shape)?;
        let train = split.indices(&dataset, SplitName::Train)?;
        let subset = crate::classifier::run::per_class_subset(&dataset, &train, config.per_class, config.subset_seed);
        crate::classifier::run::check_trainable(&dataset, &split, subset.len())?;
        let device = crate::backend::device();
        let frozen = build_model(&classifier, dataset.classes.len(), input, &device)?;
        let pretrained = classifier.backbone.pretrained();
        let cut = cache_layer(&classifier, pretrained, &frozen.backbone);
        let bank = FeatureBank::new(&frozen, cut, classifier.batch_size);
        Ok(Experiment {
            config: config.clone(),
            dataset,
            split,
            subset,
            classifier,
            input,
            bank,
            shifts: Vec::new(),
            robust: None,
            surrogate: None,
            banked: BTreeMap::new(),
            subset_cnn: std::sync::OnceLock::new(),
            step_reference: None,
        })
    }

    /// Banks the real subset (group `real`) and the validation images (`val_images` of them, evenly spread): what
    /// every fit trains and validates on.
    pub fn bank_real_and_val(&mut self) -> Result<()> {
        let device = crate::backend::device();
        let (val, _) = early_stopping_and_scored(&self.config, &self.dataset, &self.split)?;
        let keys = |idx: &[usize]| -> Vec<String> {
            idx.iter()
                .map(|&i| format!("real:{}", self.dataset.samples[i].id))
                .collect()
        };
        let (real_keys, val_keys) = (keys(&self.subset), keys(&val));
        let real = prepared_real(&self.dataset, &self.subset, self.input, &device)?;
        let val_set = prepared_real(&self.dataset, &val, self.input, &device)?;
        self.bank.add(REAL, real_keys, &real)?;
        self.bank.add(VAL, val_keys, &val_set)
    }

    /// The small cnn fitted on the real subset at the images' own size (early-stopped on the real validation
    /// split): the target of the adversarial source and the surrogate of the transfer attack.
    pub fn fit_cnn(&self, seed: u64) -> Result<Classifier> {
        let device = crate::backend::device();
        let config = ClassifierConfig {
            backbone: BackboneKind::Cnn,
            seed,
            ..ClassifierConfig::default().with_pre_sweep_cnn()
        };
        let shape = self.dataset.require_uniform_shape()?;
        let input = crate::classifier::run::input_shape(&config, shape)?;
        let part = |idx: &[usize]| -> Result<PreparedSet> {
            let images: Vec<&Image> = idx.iter().map(|&i| &self.dataset.samples[i].image).collect();
            PreparedSet::new(
                &images,
                idx.iter().map(|&i| self.dataset.samples[i].label).collect(),
                None,
                &device,
            )
        };
        let val = self.split.indices(&self.dataset, SplitName::Val)?;
        let model = build_model(&config, self.classes(), input, &crate::backend::autodiff_device())?;
        let mut monitor = FitMonitor { quiet: true, log: None };
        let (model, _) =
            crate::classifier::fit(model, &part(&self.subset)?, &part(&val)?, &config, false, &mut monitor)?;
        Ok(model.valid())
    }

    /// The cnn fitted on the subset with the subset seed (`fit_cnn(subset_seed)`), fitted on first use and shared by
    /// every source that needs a classifier of the subset (the style set's label judge, the adversarial set's target).
    pub fn subset_cnn(&self) -> Result<&Classifier> {
        if let Some(model) = self.subset_cnn.get() {
            return Ok(model);
        }
        let model = self.fit_cnn(self.config.subset_seed)?;
        Ok(self.subset_cnn.get_or_init(|| model))
    }

    /// Transfer mode: crafts the robust test images once, white-box against a surrogate cnn fitted on the subset
    /// (its own seed, so it is none of the evaluated models), and banks them; every model is then scored on them.
    fn bank_transfer_attack(&mut self, test: &[usize]) -> Result<()> {
        let seed = crate::seed::derive(self.config.subset_seed, &[0x5_0220]);
        let surrogate = self.fit_cnn(seed)?;
        let images: Vec<&Image> = test.iter().map(|&i| &self.dataset.samples[i].image).collect();
        let labels: Vec<usize> = test.iter().map(|&i| self.dataset.samples[i].label).collect();
        let set = PreparedSet::new(&images, labels.clone(), None, &crate::backend::device())?;
        let keys: Vec<u64> = test.iter().map(|&i| i as u64).collect();
        let options = AttackOptions {
            batch_size: 100,
            seed,
            quantize: false,
        };
        let run = attack_set(
            &surrogate,
            &set,
            &keys,
            self.classes(),
            &self.config.robust_attack,
            options,
            |_| {},
        )?;
        let summary = run.summary();
        let conformed: Vec<Image> = run
            .images
            .iter()
            .map(|i| conform(i, self.input.0, self.input.1))
            .collect();
        let refs: Vec<&Image> = conformed.iter().collect();
        let adversarial = PreparedSet::new(&refs, labels, None, &crate::backend::device())?;
        let keys = test
            .iter()
            .map(|&i| format!("robust:{}", self.dataset.samples[i].id))
            .collect();
        self.bank.add(ROBUST, keys, &adversarial)?;
        self.surrogate = Some(SurrogateInfo {
            backbone: BackboneKind::Cnn,
            seed,
            images: test.len(),
            clean_accuracy: summary.clean_accuracy,
            adversarial_accuracy: summary.adversarial_accuracy,
        });
        Ok(())
    }

    /// Images in a bank group (0 when the group was not computed, e.g. no shift set).
    pub fn scored_images(&self, group: &str) -> usize {
        self.bank.group(group).map_or(0, |g| g.labels.len())
    }

    /// Test images the robust accuracy is measured on (0 when it is skipped).
    pub fn robust_images(&self) -> usize {
        self.robust
            .as_ref()
            .map_or(self.scored_images(ROBUST), |(set, _)| set.len())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.dataset.classes.len()
    }

    /// Fits the classifier with `seed` on the given bank rows, validating on the real validation split.
    pub fn fit(&self, parts: &[(&str, &[usize])], seed: u64) -> Result<(Classifier, FitReport, usize)> {
        let (features, labels) = self.bank.gather(parts)?;
        let val = self.bank.group(VAL)?;
        let config = ClassifierConfig {
            seed,
            ..self.classifier.clone()
        };
        let config = match self.step_reference {
            Some(largest) => equal_step_config(config, labels.len(), largest),
            None => config,
        };
        let model = build_model(&config, self.classes(), self.input, &crate::backend::autodiff_device())?;
        let pretrained = config.backbone.pretrained();
        let train = CachedPart {
            features: &features,
            labels: &labels,
            images: None,
            real: leading_real_rows(parts),
        };
        let val_part = CachedPart {
            features: &val.features,
            labels: &val.labels,
            images: None,
            real: val.labels.len(),
        };
        let mut monitor = FitMonitor { quiet: true, log: None };
        let (model, report) = fit_cached(model, &train, &val_part, &config, pretrained, &mut monitor)?;
        Ok((model, report, labels.len()))
    }

    /// The real-only model of `seed` (what the adversarial source attacks).
    pub fn fit_real(&self, seed: u64) -> Result<Classifier> {
        let rows: Vec<usize> = (0..self.subset.len()).collect();
        Ok(self.fit(&[(REAL, &rows)], seed)?.0)
    }

    /// Accuracy of `model` on a bank group.
    fn group_accuracy(&self, model: &Classifier, group: &str) -> Result<f64> {
        Ok(self.group_evaluation(model, group)?.accuracy as f64)
    }

    /// Accuracy and confusion of a model on one banked group.
    fn group_evaluation(&self, model: &Classifier, group: &str) -> Result<Evaluation> {
        let g = self.bank.group(group)?;
        let predicted = predict_from(
            &model.valid(),
            &g.features,
            self.bank.layer(),
            self.classifier.batch_size,
        )?;
        Ok(Evaluation::new(&predicted, &g.labels, self.classes()))
    }

    /// Accuracy under the configured attack: on the banked transfer images, or white-box against `model`.
    fn robust_accuracy(&self, model: &Classifier, seed: u64) -> Result<Option<f64>> {
        if self.bank.group(ROBUST).is_ok() {
            return Ok(Some(self.group_accuracy(model, ROBUST)?));
        }
        let Some((set, keys)) = &self.robust else {
            return Ok(None);
        };
        let options = AttackOptions {
            batch_size: 100,
            seed,
            quantize: false,
        };
        let run = attack_set(
            model,
            set,
            keys,
            self.classes(),
            &self.config.robust_attack,
            options,
            |_| {},
        )?;
        Ok(Some(run.summary().adversarial_accuracy as f64))
    }

    /// Class-balanced draw of `per_class` images of each class of a source (fewer when a class has fewer).
    fn draw(&self, source: &Source, per_class: usize, seed: u64, stream: u64) -> Vec<usize> {
        let members = source.dataset.samples.iter().enumerate().map(|(i, s)| (i, s.label));
        let mut chosen = crate::dataset::split::class_balanced_draw(members, self.classes(), per_class, |class| {
            crate::seed::derive(seed, &[stream, class as u64])
        });
        chosen.sort_unstable();
        chosen
    }

    /// Synthetic images per class a source contributes to `real + source` (and alone), and to an equal-share
    /// `real + all` (`all_share = "equal"`).
    ///
    /// That `real + all` takes exactly as many synthetic images as `real + X` (`one` per class): `one` split over the
    /// sets, the remainder going one each to the first sets, so rounding never adds or drops images.
    fn shares(&self, sources: usize) -> (usize, Vec<usize>) {
        synthetic_shares(self.config.mix, self.config.per_class, sources)
    }

    /// One warning per set that holds fewer images of some class than `--mix` asks for: its conditions then train
    /// on fewer synthetic images than promised (the class-balanced draw takes what there is), and the report's
    /// train-images column shows the counts actually used.
    pub fn shortfalls(&self, sources: &[Source]) -> Vec<String> {
        let regular = sources.iter().filter(|x| !x.is_policy()).count();
        let (one, shares) = self.shares(regular);
        let mut warnings = Vec::new();
        for (source, &all) in sources.iter().filter(|s| !s.is_policy()).zip(&shares) {
            let mut per_class = vec![0usize; self.classes()];
            for s in &source.dataset.samples {
                if let Some(n) = per_class.get_mut(s.label) {
                    *n += 1;
                }
            }
            let short = per_class.iter().filter(|&&n| n < one).count();
            if short == 0 {
                continue;
            }
            let used: usize = per_class.iter().map(|&n| n.min(one)).sum();
            let fewest = per_class.iter().min().copied().unwrap_or(0);
            let mut text = format!(
                "warning: set {} has fewer images than --mix {} asks for ({one} per class; {short} of {} classes \
                 short, the fewest {fewest}): real + {} trains on {} + {used}, not {} + {}",
                source.name,
                self.config.mix,
                self.classes(),
                source.name,
                self.subset.len(),
                self.subset.len(),
                one * self.classes()
            );
            if regular > 1 && self.config.all_share == AllShare::Equal && per_class.iter().any(|&n| n < all) {
                let used_all: usize = per_class.iter().map(|&n| n.min(all)).sum();
                text.push_str(&format!(
                    "; its share of real + all is {used_all}, not {}",
                    all * self.classes()
                ));
            }
            warnings.push(text);
        }
        warnings
    }

    /// The draws of source `s` for each seed: for its own conditions and for `real + all`.
    fn draws(&self, sources: &[Source], s: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
        let regular = sources.iter().filter(|x| !x.is_policy()).count();
        let (one, shares) = self.shares(regular);
        let stream = crate::seed::derive(0x5_0C, &[s as u64]);
        if sources[s].is_policy() {
            let every: Vec<usize> = (0..sources[s].dataset.len()).collect();
            return (0..self.config.seeds).map(|_| (every.clone(), Vec::new())).collect();
        }
        let all = shares[sources[..s].iter().filter(|x| !x.is_policy()).count()];
        (0..self.config.seeds as u64)
            .map(|seed| {
                let own = self.draw(&sources[s], one, seed, stream);
                let for_all = match self.config.all_share {
                    AllShare::Equal => self.draw(&sources[s], all, seed, stream ^ 0xA11),
                    AllShare::Each => own.clone(),
                };
                (own, for_all)
            })
            .collect()
    }

    /// Puts every image of source `s` that some condition draws into the bank (once each).
    fn bank_source(&mut self, sources: &[Source], s: usize) -> Result<()> {
        let source = &sources[s];
        let mut wanted: Vec<usize> = self
            .draws(sources, s)
            .into_iter()
            .flat_map(|(a, b)| a.into_iter().chain(b))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let banked = self.banked.entry(source.name.clone()).or_default();
        wanted.retain(|i| !banked.contains_key(i));
        if wanted.is_empty() {
            return Ok(());
        }
        let images: Vec<Image> = wanted
            .iter()
            .map(|&i| conform(&source.dataset.samples[i].image, self.input.0, self.input.1))
            .collect();
        let refs: Vec<&Image> = images.iter().collect();
        let labels = wanted.iter().map(|&i| source.dataset.samples[i].label).collect();
        let set = PreparedSet::new(&refs, labels, None, &crate::backend::device())?;
        let keys = wanted
            .iter()
            .map(|&i| format!("{}:{}", source.name, source.dataset.samples[i].id))
            .collect();
        let group = format!("source:{}", source.name);
        if self.bank.group(&group).is_ok() {
            return Err(SynthError::internal(format!("source {} was banked twice", source.name)));
        }
        self.bank.add(&group, keys, &set)?;
        for (row, &i) in wanted.iter().enumerate() {
            banked.insert(i, row);
        }
        Ok(())
    }

    /// The conditions for these sources, baseline first.
    pub fn conditions(&self, sources: &[Source]) -> Vec<Condition> {
        let mut out = vec![Condition {
            name: "real".into(),
            kind: ConditionKind::Real,
            sources: vec![],
            source_names: vec![],
        }];
        for (i, s) in sources.iter().enumerate() {
            out.push(Condition {
                name: format!("real + {}", s.name),
                kind: ConditionKind::RealPlus,
                sources: vec![i],
                source_names: vec![s.name.clone()],
            });
        }
        let regular: Vec<usize> = (0..sources.len()).filter(|&i| !sources[i].is_policy()).collect();
        if let Some(a) = augment_source(sources) {
            for &i in regular.iter().filter(|&&i| i != a) {
                out.push(Condition {
                    name: format!("real + {} + {}", sources[a].name, sources[i].name),
                    kind: ConditionKind::AugmentPlus,
                    sources: vec![a, i],
                    source_names: vec![sources[a].name.clone(), sources[i].name.clone()],
                });
            }
        }
        if regular.len() > 1 {
            out.push(Condition {
                name: "real + all".into(),
                kind: ConditionKind::RealPlusAll,
                source_names: regular.iter().map(|&i| sources[i].name.clone()).collect(),
                sources: regular.clone(),
            });
        }
        if self.config.synthetic_only {
            for &i in &regular {
                let s = &sources[i];
                out.push(Condition {
                    name: format!("{} only", s.name),
                    kind: ConditionKind::SyntheticOnly,
                    sources: vec![i],
                    source_names: vec![s.name.clone()],
                });
            }
        }
        out
    }

    /// What a condition trains on for one seed: (bank group, rows) for the real subset and each of its sources,
    /// from the sources' per-seed `draws` (every condition that takes a source at a seed takes the same draw of it,
    /// so `real + augment + X` holds exactly the augment images of `real + augment` and the X images of `real + X`).
    fn training_rows(
        &self,
        sources: &[Source],
        draws: &[Vec<(Vec<usize>, Vec<usize>)>],
        condition: &Condition,
        seed: usize,
    ) -> Vec<(String, Vec<usize>)> {
        let mut parts = Vec::new();
        if condition.kind != ConditionKind::SyntheticOnly {
            parts.push((REAL.to_string(), (0..self.subset.len()).collect()));
        }
        for &s in &condition.sources {
            let banked = &self.banked[&sources[s].name];
            let (one, every) = &draws[s][seed];
            let drawn = if condition.kind == ConditionKind::RealPlusAll {
                every
            } else {
                one
            };
            parts.push((
                format!("source:{}", sources[s].name),
                drawn.iter().map(|i| banked[i]).collect(),
            ));
        }
        parts
    }

    /// Fits `condition` with `seed` and scores the model on every banked group.
    fn fit_condition(
        &self,
        sources: &[Source],
        draws: &[Vec<(Vec<usize>, Vec<usize>)>],
        condition: &Condition,
        seed: u64,
    ) -> Result<SeedResult> {
        let rows = self.training_rows(sources, draws, condition, seed as usize);
        let parts: Vec<(&str, &[usize])> = rows.iter().map(|(g, r)| (g.as_str(), r.as_slice())).collect();
        let started = std::time::Instant::now();
        let (model, report, images) = self.fit(&parts, seed)?;
        let real_images = if condition.kind == ConditionKind::SyntheticOnly {
            0
        } else {
            self.subset.len()
        };
        let test = self.group_evaluation(&model, TEST)?;
        Ok(SeedResult {
            seed,
            clean: test.accuracy as f64,
            not_learned: test.not_learned(),
            robust: self.robust_accuracy(&model, seed)?,
            shifted: self
                .shifts
                .iter()
                .map(|name| Ok((name.clone(), self.group_accuracy(&model, &super::shifts::group(name))?)))
                .collect::<Result<_>>()?,
            real_images,
            synthetic_images: images - real_images,
            best_val_accuracy: report.best_val_accuracy,
            epochs: report.history.len(),
            steps: report.steps,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Fits and scores every condition for every seed, on every lane. `progress` hears each finished fit's
    /// condition name.
    pub fn run(
        &mut self,
        sources: &[Source],
        lanes: &Lanes,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<ConditionResult>> {
        let mut plan = self.plan(sources)?;
        self.fit_planned(sources, &mut plan, lanes.pools(), &|_| true, &|| false, progress)?;
        self.summarise(plan)
    }

    /// Banks every source (a source whose set is still being made, an empty placeholder, banks nothing until
    /// [`Experiment::source_ready`]) and plans the fits: the conditions, each source's draws per seed, one empty
    /// slot per (condition, seed).
    pub fn plan(&mut self, sources: &[Source]) -> Result<FitPlan> {
        for s in 0..sources.len() {
            self.bank_source(sources, s)?;
        }
        let draws: Vec<Vec<(Vec<usize>, Vec<usize>)>> = (0..sources.len()).map(|s| self.draws(sources, s)).collect();
        if self.config.equal_steps {
            self.step_reference = self
                .conditions(sources)
                .iter()
                .map(|c| {
                    self.training_rows(sources, &draws, c, 0)
                        .iter()
                        .map(|(_, r)| r.len())
                        .sum()
                })
                .max();
        }
        let conditions = self.conditions(sources);
        let fitted = (0..conditions.len() * self.config.seeds).map(|_| None).collect();
        Ok(FitPlan {
            conditions,
            draws,
            fitted,
        })
    }

    /// Source `s`'s set has been made (it replaced its placeholder in `sources`): banks it and draws from it.
    pub fn source_ready(&mut self, sources: &[Source], s: usize, plan: &mut FitPlan) -> Result<()> {
        self.bank_source(sources, s)?;
        plan.draws[s] = self.draws(sources, s);
        Ok(())
    }

    /// Fits every planned (condition, seed) not fitted yet whose condition is `wanted`, side by side on `pools`
    /// (one job per pool at a time), until `stop` says so between jobs. Each result lands in its slot, so the
    /// order of the report never depends on which lane finished first.
    pub fn fit_planned(
        &self,
        sources: &[Source],
        plan: &mut FitPlan,
        pools: &[rayon::ThreadPool],
        wanted: &(dyn Fn(&Condition) -> bool + Sync),
        stop: &(dyn Fn() -> bool + Sync),
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<()> {
        let seeds = self.config.seeds;
        let jobs: Vec<usize> = (0..plan.fitted.len())
            .filter(|&j| plan.fitted[j].is_none() && wanted(&plan.conditions[j / seeds]))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let done: std::sync::Mutex<Vec<(usize, Result<SeedResult>)>> = std::sync::Mutex::new(Vec::new());
        let (conditions, draws) = (&plan.conditions, &plan.draws);
        let lane = |pool: &rayon::ThreadPool| {
            use std::sync::atomic::Ordering;
            while !stop() && !failed.load(Ordering::SeqCst) {
                let Some(&j) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    break;
                };
                let condition = &conditions[j / seeds];
                let result = pool.install(|| self.fit_condition(sources, draws, condition, (j % seeds) as u64));
                if result.is_err() {
                    failed.store(true, Ordering::SeqCst);
                } else {
                    progress(&condition.name);
                }
                done.lock().unwrap_or_else(|p| p.into_inner()).push((j, result));
            }
        };
        match pools {
            [] => return Err(SynthError::internal("no lane to fit on")),
            [one] => lane(one),
            many => std::thread::scope(|scope| {
                for pool in many {
                    scope.spawn(|| lane(pool));
                }
            }),
        }
        let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
        done.sort_by_key(|(j, _)| *j);
        for (j, result) in done {
            plan.fitted[j] = Some(result?);
        }
        Ok(())
    }

    /// Every condition's summary and paired gains, once every planned fit is done.
    pub fn summarise(&self, plan: FitPlan) -> Result<Vec<ConditionResult>> {
        let seeds = self.config.seeds;
        let mut fitted = plan.fitted.into_iter();
        let mut results: Vec<ConditionResult> = Vec::new();
        for condition in plan.conditions {
            let seeds: Vec<SeedResult> = fitted
                .by_ref()
                .take(seeds)
                .collect::<Option<_>>()
                .ok_or_else(|| SynthError::internal(format!("{} was not fitted on every seed", condition.name)))?;
            // `real + augment + X` is paired with `real + augment` (its augment source alone, added to real).
            let augment = (condition.kind == ConditionKind::AugmentPlus)
                .then(|| {
                    results.iter().find(|r| {
                        r.condition.kind == ConditionKind::RealPlus && r.condition.sources == condition.sources[..1]
                    })
                })
                .flatten();
            let result = summarise_condition(condition, seeds, results.first(), augment);
            results.push(result);
        }
        Ok(results)
    }
}

/// The fits of a run: its conditions, each source's draws per seed, and a slot per (condition, seed), condition
/// major, filled as the fits finish on whichever lane.
pub struct FitPlan {
    pub conditions: Vec<Condition>,
    draws: Vec<Vec<(Vec<usize>, Vec<usize>)>>,
    fitted: Vec<Option<SeedResult>>,
}

/// `config` with its epoch budget (head and fine-tuning epochs, patience) scaled from a training set of `largest`
/// images to one of `images`, so both take the same number of gradient steps before early stopping (to within one
/// epoch). The step floor `min_steps` is already in steps.
pub fn equal_step_config(config: ClassifierConfig, images: usize, largest: usize) -> ClassifierConfig {
    let steps = |n: usize| n.div_ceil(config.batch_size.max(1)).max(1);
    let factor = steps(largest.max(images)) as f64 / steps(images) as f64;
    let scale = |epochs: usize| (epochs as f64 * factor).ceil() as usize;
    ClassifierConfig {
        head_epochs: scale(config.head_epochs),
        finetune_epochs: scale(config.finetune_epochs),
        patience: scale(config.patience),
        ..config
    }
}

/// The rows a fit's gathered training part starts with from the real subset (the parts of [`Experiment::fit`] are
/// gathered in order, real first): what the classifier's `real_share` tells apart from the synthetic rows.
fn leading_real_rows(parts: &[(&str, &[usize])]) -> usize {
    parts
        .iter()
        .take_while(|(group, _)| *group == REAL)
        .map(|(_, rows)| rows.len())
        .sum()
}

/// Synthetic images per class for `real + X` (`mix * per_class`, at least 1) and each of `sources` sets' exact share
/// of the same number in `real + all`.
pub fn synthetic_shares(mix: f64, per_class: usize, sources: usize) -> (usize, Vec<usize>) {
    let one = (mix * per_class as f64).round().max(1.0) as usize;
    let k = sources.max(1);
    let all = (0..k).map(|i| one / k + usize::from(i < one % k)).collect();
    (one, all)
}

/// The given rows of a prepared set, with the dataset indices of those rows as keys.
fn rows_of(set: &PreparedSet, rows: &[usize], indices: &[usize]) -> (PreparedSet, Vec<u64>) {
    let idx = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [rows.len()]),
        &set.images.device(),
    );
    let picked = PreparedSet {
        images: set.images.clone().select(0, idx),
        labels: rows.iter().map(|&r| set.labels[r]).collect(),
    };
    (picked, rows.iter().map(|&r| indices[r] as u64).collect())
}

/// A condition's summaries and its gains over `baseline` (`real`) and, for `real + augment + X`, over `augment`
/// (`real + augment`), each paired by seed.
fn summarise_condition(
    condition: Condition,
    seeds: Vec<SeedResult>,
    baseline: Option<&ConditionResult>,
    augment: Option<&ConditionResult>,
) -> ConditionResult {
    let clean: Vec<f64> = seeds.iter().map(|s| s.clean).collect();
    let robust: Option<Vec<f64>> = seeds.iter().map(|s| s.robust).collect();
    let names: Vec<String> = seeds
        .first()
        .map_or(Vec::new(), |s| s.shifted.keys().cloned().collect());
    let shifted: BTreeMap<String, Vec<f64>> = names
        .iter()
        .filter_map(|n| {
            Some((
                n.clone(),
                seeds.iter().map(|s| s.shifted.get(n).copied()).collect::<Option<_>>()?,
            ))
        })
        .collect();
    let gain = |mine: Option<&Vec<f64>>, theirs: Option<Vec<f64>>| match (mine, theirs) {
        (Some(m), Some(t)) => Some(paired_gain(m, &t)),
        _ => None,
    };
    let over = |b: Option<&ConditionResult>, f: &dyn Fn(&SeedResult) -> Option<f64>| -> Option<Vec<f64>> {
        b.and_then(|b| b.seeds.iter().map(f).collect())
    };
    let shifted_gains = |b: Option<&ConditionResult>| -> BTreeMap<String, PairedGain> {
        shifted
            .iter()
            .filter_map(|(n, mine)| Some((n.clone(), gain(Some(mine), over(b, &|s| s.shifted.get(n).copied()))?)))
            .collect()
    };
    ConditionResult {
        gain_clean: gain(Some(&clean), over(baseline, &|s| Some(s.clean))),
        gain_robust: gain(robust.as_ref(), over(baseline, &|s| s.robust)),
        gain_shifted: shifted_gains(baseline),
        gain_clean_vs_augment: gain(Some(&clean), over(augment, &|s| Some(s.clean))),
        gain_robust_vs_augment: gain(robust.as_ref(), over(augment, &|s| s.robust)),
        gain_shifted_vs_augment: shifted_gains(augment),
        clean: summarise_accuracy(&clean),
        robust: robust.as_deref().map(summarise_accuracy),
        shifted: shifted
            .iter()
            .map(|(n, v)| (n.clone(), summarise_accuracy(v)))
            .collect(),
        seeds_not_learned: seeds.iter().filter(|s| s.not_learned.is_some()).count(),
        condition,
        seeds,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn real_plus_all_takes_exactly_the_stated_number_of_synthetic_images() {
        for (mix, per_class, sources) in [(1.0, 10, 4), (1.0, 20, 3), (0.5, 7, 2), (2.0, 5, 3), (1.0, 2, 4)] {
            let (one, all) = super::synthetic_shares(mix, per_class, sources);
            assert_eq!(one, (mix * per_class as f64).round() as usize);
            assert_eq!(all.iter().sum::<usize>(), one, "{mix} {per_class} {sources}: {all:?}");
            assert!(all.iter().max().unwrap() - all.iter().min().unwrap() <= 1, "{all:?}");
        }
    }

    use super::*;
    use crate::dataset::{LoadOptions, SplitConfig, load_dataset};
    use crate::eval::sources::{load_source, make_augment};

    /// Every image any fit or evaluation needs goes through the frozen VGG prefix exactly once in a run, however
    /// many conditions and seeds reuse it.
    /// `score_split = "val"` scores the validation images that do not early-stop the fits: disjoint from those, all
    /// in the validation split, and none from test; a val_images that takes them all is refused.
    #[test]
    fn val_scoring_uses_only_the_held_out_validation_images() {
        let dataset = crate::dataset::load_named("digits", "keep").unwrap();
        let config = EvalGainConfig {
            dataset: "digits".into(),
            score_split: ScoreSplit::Val,
            shifts: vec![],
            val_images: 100,
            ..EvalGainConfig::default()
        };
        let split = Split::stratified(&dataset, &config.split).unwrap();
        let (early, scored) = super::early_stopping_and_scored(&config, &dataset, &split).unwrap();
        let val = split.indices(&dataset, SplitName::Val).unwrap();
        assert_eq!(early.len(), 100);
        assert_eq!(early.len() + scored.len(), val.len());
        assert!(scored.iter().all(|i| val.contains(i) && !early.contains(i)));
        let test_config = EvalGainConfig {
            score_split: ScoreSplit::Test,
            ..config.clone()
        };
        let (_, test) = super::early_stopping_and_scored(&test_config, &dataset, &split).unwrap();
        assert_eq!(test, split.indices(&dataset, SplitName::Test).unwrap());
        let all = EvalGainConfig {
            val_images: 0,
            ..config
        };
        assert!(super::early_stopping_and_scored(&all, &dataset, &split).is_err());
    }

    /// Equal footing: a 200-image fit gets the epochs that give it the steps of a 600-image one (4 vs 10 steps per
    /// epoch at batch 64), and the largest set keeps its own budget.
    #[test]
    fn equal_steps_scale_the_epoch_budget_to_the_largest_set() {
        let base = ClassifierConfig::default();
        let small = super::equal_step_config(base.clone(), 200, 600);
        let steps = |n: usize, epochs: usize| n.div_ceil(base.batch_size) * epochs;
        assert_eq!(small.finetune_epochs, 25);
        assert!(steps(200, small.finetune_epochs) >= steps(600, base.finetune_epochs));
        assert!(steps(200, small.finetune_epochs) < steps(600, base.finetune_epochs) + steps(200, 1));
        assert!(steps(200, small.head_epochs) >= steps(600, base.head_epochs));
        assert_eq!(small.patience, (base.patience as f64 * 2.5).ceil() as usize);
        assert_eq!(super::equal_step_config(base.clone(), 600, 600), base);
    }

    /// The unused train images the clean accuracy also counts are the train split less the subset (held out from
    /// every fit and scored nowhere else), and none when sweeping on validation images or when switched off.
    #[test]
    fn unused_train_images_are_the_train_split_outside_the_subset() {
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let config = small_config(3, 1);
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let on = EvalGainConfig {
            unused_train: true,
            ..config.clone()
        };
        let exp = Experiment::for_sources(&on, mnist.clone(), split.clone()).unwrap();
        let unused = exp.unused_train().unwrap();
        let train = split.indices(&mnist, SplitName::Train).unwrap();
        assert_eq!(unused.len() + exp.subset.len(), train.len());
        assert!(unused.iter().all(|i| train.contains(i) && !exp.subset.contains(i)));
        for off in [
            EvalGainConfig {
                score_split: ScoreSplit::Val,
                shifts: vec![],
                ..on.clone()
            },
            config,
        ] {
            let exp = Experiment::for_sources(&off, mnist.clone(), split.clone()).unwrap();
            assert!(exp.unused_train().unwrap().is_empty(), "{:?}", off.score_split);
        }
    }

    /// The defaults at `per_class` images per class and `seeds` seeds, with 2% validation and test splits, no
    /// attack and the test split alone scored: an experiment small enough for a unit test.
    fn small_config(per_class: usize, seeds: usize) -> EvalGainConfig {
        let mut config = EvalGainConfig {
            per_class,
            seeds,
            split: SplitConfig {
                val: 0.02,
                test: 0.02,
                seed: 0,
            },
            unused_train: false,
            ..Default::default()
        };
        config.robust_attack.eps = 0.0;
        config
    }

    /// A VGG16 experiment small enough for a unit test: 2 images per class, 2 seeds, 2% validation and test
    /// splits, 32 px, no attack, `steps` head and `finetune_steps` fine-tuning steps per fit.
    fn tiny_vgg_config(steps: usize, finetune_steps: usize) -> EvalGainConfig {
        let mut config = small_config(2, 2);
        config.classifier.input_size = 32;
        config.classifier.steps = steps;
        config.classifier.finetune_steps = finetune_steps;
        config
    }

    #[test]
    fn every_image_passes_the_frozen_prefix_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = EvalGainConfig {
            synthetic_only: true,
            ..tiny_vgg_config(1, 1)
        };
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let digits = load_dataset("digits", &LoadOptions::default()).unwrap();
        let photos = crate::dataset::mnist_m::photos().unwrap();
        let shifts = [
            Shift {
                name: "digits".into(),
                dataset: digits.subset(&(0..40).collect::<Vec<_>>()),
                framed: true,
                held_out: 0,
            },
            Shift {
                name: "mnist-m".into(),
                dataset: crate::dataset::mnist_m::mnist_m(&mnist, &split, &photos, 0).unwrap(),
                framed: false,
                held_out: 0,
            },
        ];
        let mnist_m = shifts[1].dataset.len().min(config.shift_images);
        let mut exp = Experiment::prepare(&config, mnist, split, &shifts).unwrap();
        let (val, test) = (
            exp.bank.group(VAL).unwrap().labels.len(),
            exp.bank.group(TEST).unwrap().labels.len(),
        );
        let mut sources = Vec::new();
        for name in ["augment", "augment-again"] {
            let root = make_augment(&exp, &dir.path().join(name)).unwrap();
            sources.push(load_source(&exp, name, &root).unwrap());
        }
        sources[0].role = SourceRole::Augment;
        let results = exp.run(&sources, &Lanes::new(1).unwrap(), &|_| {}).unwrap();
        let names: Vec<&str> = results.iter().map(|r| r.condition.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "real",
                "real + augment",
                "real + augment-again",
                "real + augment + augment-again",
                "real + all",
                "augment only",
                "augment-again only"
            ]
        );
        assert!(results.iter().all(|r| r.seeds.len() == 2 && r.clean.n == 2));
        for r in &results {
            let beside = r.condition.kind == ConditionKind::AugmentPlus;
            assert_eq!(r.gain_clean_vs_augment.is_some(), beside, "{}", r.condition.name);
            assert_eq!(
                r.gain_shifted_vs_augment.len(),
                if beside { 2 } else { 0 },
                "{}",
                r.condition.name
            );
            let over_real = if r.condition.kind == ConditionKind::Real { 0 } else { 2 };
            assert_eq!(r.gain_shifted.len(), over_real, "{}", r.condition.name);
            assert_eq!(r.shifted.keys().collect::<Vec<_>>(), ["digits", "mnist-m"]);
            assert!(r.seeds.iter().all(|s| s.shifted.len() == 2));
        }
        // Paired with `real + augment` seed by seed: the gain's mean is the difference of the two means.
        let (augment, plus) = (&results[1], &results[3]);
        let gain = plus.gain_clean_vs_augment.as_ref().unwrap();
        assert!((gain.gain.mean - (plus.clean.mean - augment.clean.mean)).abs() < 1e-12);
        let (sa, sp) = (&augment.seeds[0], &plus.seeds[0]);
        assert_eq!(
            sp.synthetic_images,
            2 * sa.synthetic_images,
            "augment's draw plus X's draw of the same size"
        );
        let synthetic: usize = exp.banked.values().map(|b| b.len()).sum();
        let (passes, most) = exp.bank.pass_counts();
        assert_eq!(most, 1, "no image went through the frozen prefix twice");
        assert_eq!(exp.scored_images("shift:mnist-m"), mnist_m);
        assert_eq!(passes, 20 + val + test + 40 + mnist_m + synthetic);
    }

    /// A run's numbers do not depend on its lanes: every fit on one lane, and the same fits on two lanes with one set
    /// arriving late (a placeholder while the conditions without it fit on one lane, as eval-gain does while its GAN
    /// trains on the other), give the same results to the bit, dropout draws included.
    #[test]
    fn lanes_and_a_late_set_change_no_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EvalGainConfig {
            shifts: vec![],
            ..tiny_vgg_config(3, 2)
        };
        config.classifier.dropout = 0.5;
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let prepare = || Experiment::prepare(&config, mnist.clone(), split.clone(), &[]).unwrap();
        let mut exp = prepare();
        let mut sources = Vec::new();
        for name in ["augment", "late"] {
            let root = make_augment(&exp, &dir.path().join(name)).unwrap();
            sources.push(load_source(&exp, name, &root).unwrap());
        }
        sources[0].role = SourceRole::Augment;
        let one_lane = exp.run(&sources, &Lanes::new(1).unwrap(), &|_| {}).unwrap();

        let mut exp = prepare();
        let late = std::mem::replace(
            &mut sources[1],
            Source {
                name: "late".into(),
                kind: SourceKind::Gan,
                root: dir.path().join("late"),
                dataset: Dataset {
                    name: "mnist".into(),
                    classes: exp.dataset.classes.clone(),
                    samples: Vec::new(),
                },
                role: SourceRole::Set,
            },
        );
        let lanes = Lanes::new(2).unwrap();
        let mut plan = exp.plan(&sources).unwrap();
        let without_late = |c: &Condition| !c.sources.contains(&1);
        exp.fit_planned(
            &sources,
            &mut plan,
            &lanes.pools()[..1],
            &without_late,
            &|| false,
            &|_| {},
        )
        .unwrap();
        sources[1] = late;
        exp.source_ready(&sources, 1, &mut plan).unwrap();
        exp.fit_planned(&sources, &mut plan, lanes.pools(), &|_| true, &|| false, &|_| {})
            .unwrap();
        let two_lanes = exp.summarise(plan).unwrap();

        let numbers = |results: &[ConditionResult]| -> Vec<(String, u64, f64, f32, usize, usize)> {
            results
                .iter()
                .flat_map(|r| {
                    r.seeds.iter().map(|s| {
                        (
                            r.condition.name.clone(),
                            s.seed,
                            s.clean,
                            s.best_val_accuracy,
                            s.steps,
                            s.synthetic_images,
                        )
                    })
                })
                .collect()
        };
        assert_eq!(
            numbers(&one_lane).len(),
            5 * 2,
            "real, + augment, + late, + augment + late, + all"
        );
        assert_eq!(numbers(&one_lane), numbers(&two_lanes));
    }

    /// `real + augment + X` trains, at every seed, on exactly the augment images `real + augment` draws and the X
    /// images `real + X` draws (so its paired gain over `real + augment` isolates X); the draws differ between
    /// seeds. No fit: only the draws and bank rows are compared.
    #[test]
    fn real_plus_augment_plus_x_reuses_the_draws_of_its_two_parents() {
        let (_dir, exp, sources) = three_banked_sets(AllShare::Equal);
        let conditions = exp.conditions(&sources);
        let names: Vec<&str> = conditions.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "real",
                "real + augment",
                "real + other",
                "real + more",
                "real + augment + other",
                "real + all",
                "augment only",
                "other only"
            ],
            "no `real + augment + X` for the augment set itself nor for a policy set"
        );
        let draws: Vec<_> = (0..sources.len()).map(|s| exp.draws(&sources, s)).collect();
        let named = |name: &str| conditions.iter().find(|c| c.name == name).unwrap();
        let mut augment_rows = Vec::new();
        for seed in 0..3 {
            let rows = |name: &str| exp.training_rows(&sources, &draws, named(name), seed);
            let (augment, other, both) = (
                rows("real + augment"),
                rows("real + other"),
                rows("real + augment + other"),
            );
            assert_eq!(both.len(), 3, "real, augment, other: {both:?}");
            assert_eq!(both[0], augment[0], "the same real subset");
            assert_eq!(both[1], augment[1], "seed {seed}: the augment images of real + augment");
            assert_eq!(both[2], other[1], "seed {seed}: the other images of real + other");
            assert_eq!(both[1].1.len(), 3 * 10, "mix 1: one augment image per real image");
            augment_rows.push(both[1].1.clone());
        }
        assert_ne!(
            augment_rows[0], augment_rows[1],
            "each seed draws its own augment images"
        );
    }

    /// `real + all` with `all_share = equal` adds one image per real image in all (the 3 per class of mix 1 split
    /// 2 + 1 between the two regular sets: 20 + 10); with `each` it holds exactly the images of `real + augment`
    /// and `real + other`. The policy set stays out of it either way.
    #[test]
    fn real_plus_all_takes_equal_shares_or_each_sets_own_draw() {
        for share in [AllShare::Equal, AllShare::Each] {
            let (_dir, exp, sources) = three_banked_sets(share);
            let conditions = exp.conditions(&sources);
            let draws: Vec<_> = (0..sources.len()).map(|s| exp.draws(&sources, s)).collect();
            let named = |name: &str| conditions.iter().find(|c| c.name == name).unwrap();
            for seed in 0..3 {
                let rows = |name: &str| exp.training_rows(&sources, &draws, named(name), seed);
                let all = rows("real + all");
                assert_eq!(all.len(), 3, "real, augment, other: {all:?}");
                let synthetic: Vec<usize> = all[1..].iter().map(|(_, r)| r.len()).collect();
                match share {
                    AllShare::Equal => assert_eq!(synthetic, [20, 10], "{share:?} seed {seed}"),
                    AllShare::Each => {
                        assert_eq!(all[1], rows("real + augment")[1], "seed {seed}");
                        assert_eq!(all[2], rows("real + other")[1], "seed {seed}");
                    }
                }
            }
        }
    }

    /// An experiment on a 3-per-class mnist subset (cnn, no attack, 3 seeds) with three banked sets of classic
    /// augmentations: `augment` (the augment role), `other` (a regular set) and `more` (a policy set).
    fn three_banked_sets(all_share: AllShare) -> (tempfile::TempDir, Experiment, Vec<Source>) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EvalGainConfig {
            synthetic_only: true,
            all_share,
            ..small_config(3, 3)
        };
        config.classifier.backbone = BackboneKind::Cnn;
        let mnist = load_dataset("mnist", &LoadOptions::default()).unwrap();
        let split = Split::stratified(&mnist, &config.split).unwrap();
        let mut exp = Experiment::prepare(&config, mnist, split, &[]).unwrap();
        let mut sources = Vec::new();
        for name in ["augment", "other", "more"] {
            let root = make_augment(&exp, &dir.path().join(name)).unwrap();
            sources.push(load_source(&exp, name, &root).unwrap());
        }
        sources[0].role = SourceRole::Augment;
        sources[2].role = SourceRole::Policy;
        for s in 0..sources.len() {
            exp.bank_source(&sources, s).unwrap();
        }
        (dir, exp, sources)
    }
}
