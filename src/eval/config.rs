//! `synth eval-gain`'s configuration: configs/eval-gain.toml holds exactly these defaults.

use serde::{Deserialize, Deserializer, Serialize};

use crate::adversarial::{AttackConfig, AttackKind, Norm, Target};
use crate::classifier::ClassifierConfig;
use crate::dataset::SplitConfig;
pub use crate::dataset::mnist_m::MNIST_M;
use crate::error::{Result, SynthError};

/// How the robust accuracy attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum RobustMode {
    /// The attack is crafted once, white-box against a surrogate cnn fitted on the real subset, and every model is
    /// scored on those images (a transfer, black-box attack: affordable for dozens of VGG16 models on a CPU).
    Transfer,
    /// The attack runs against each fitted model itself (the strongest test; a PGD-10 on 200 images through
    /// VGG16 at 64 px costs minutes per model on 2 cores).
    WhiteBox,
}

/// Which real images every accuracy is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ScoreSplit {
    /// The test split (the verdict).
    Test,
    /// The validation images that do not early-stop the fits (for choosing defaults: a sweep that read the test
    /// split would tune on it). Shifts are built from the test split, so none may be listed.
    Val,
}

/// How `real + all` composes its synthetic images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AllShare {
    /// `mix` images per real image in all, shared equally between the sets: as many synthetic images as each
    /// `real + X`, so it asks whether variety beats one set at the same count.
    Equal,
    /// Each set's own draw, the images of its `real + X`: the union of the single-set conditions (`mix` images per
    /// real image from every set), so it asks whether the sets add up. Fixed step budgets keep its fits as long.
    Each,
}

/// The synthetic sources the default pipeline can make.
pub const SOURCES: [&str; 4] = ["augment", "gan", "style", "adversarial"];

/// Every setting of an eval-gain experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalGainConfig {
    /// Bundled dataset name or path: the real data.
    pub dataset: String,
    /// `keep`, `N` or `WxH`.
    pub resize: String,
    pub split: SplitConfig,
    /// Labelled real images per class the user has (drawn from the train split with `subset_seed`).
    pub per_class: usize,
    /// The data-efficiency curve: when not empty, the experiment runs at each of these per-class sizes in turn (same
    /// seeds, the default pipeline's generators retrained per size) and `per_class` is not used; curve.png and
    /// curve.md put the sizes side by side, because a source that helps at 5 images per class may not at 50.
    pub curve: Vec<usize>,
    /// Which images those are; also the seed of every generator the default pipeline runs on them.
    pub subset_seed: u64,
    /// Training seeds 0..seeds: each condition is fitted once per seed, and gains are paired by seed.
    pub seeds: usize,
    /// Sources the default pipeline makes from the subset when no `--synthetic` set is given (`augment` is always
    /// made: classic augmentation is the baseline every synthetic source must beat).
    pub sources: Vec<String>,
    /// Synthetic images added per real training image (a class-balanced draw per seed).
    pub mix: f64,
    /// What `real + all` adds: the same total shared equally between the sets, or each set's own draw.
    pub all_share: AllShare,
    /// Validation images that pick every fit's weights (evenly spread over the validation split; 0 = all). Each
    /// validation point scores them through the unfrozen block, so fewer make the dozens of fits affordable.
    pub val_images: usize,
    /// Also fit each source's images alone (no real image): its CAS with the bundled classifier. Off by default: four
    /// more fits per seed (a fifth of the default run's fitting time) for a question the verdict does not ask.
    pub synthetic_only: bool,
    /// Equal footing: every fit gets the epoch budget (head, fine-tuning, patience) of the run's largest training
    /// set, scaled to its own size, so a condition with more images cannot win by getting more gradient steps
    /// (early stopping on the real validation split still picks the weights).
    pub equal_steps: bool,
    /// Transfer (crafted once against a surrogate) or white-box (against each model).
    pub robust_mode: RobustMode,
    /// The attack of the robust accuracy.
    pub robust_attack: AttackConfig,
    /// Test images the robust accuracy is measured on (evenly spread over the test split; 0 = all).
    pub robust_images: usize,
    /// The attack that makes the default adversarial source: PGD examples of the real subset, with their true labels,
    /// crafted against the small cnn fitted on the subset (what adversarial training feeds a model).
    pub adversarial_attack: AttackConfig,
    /// Which images the accuracies are measured on: `test` (the verdict) or `val` (the validation images that do
    /// not early-stop the fits; for sweeps choosing defaults).
    pub score_split: ScoreSplit,
    /// With `score_split = "test"`, the clean accuracy also counts the train split's images outside the subset: no
    /// source and no fit ever sees them, so they are held out as the test split is, and they are most of the
    /// dataset. Every seed's fits are scored on the same images, so the seeds' interval leaves out how far those
    /// images' own draw moves a gain: on 750 test images that error is about as large as the clean gains themselves
    /// (README, "Power"); on the bundled mnist these images make 4,050 with the test split. `mnist-m` blends them
    /// too, beside its `shift_images` of the test split; robust accuracy and other shifts stay on the test split;
    /// validation sweeps (`score_split = "val"`) never read these images.
    pub unused_train: bool,
    /// The test domains of the shifted accuracy, each its own column: [`MNIST_M`] (the real test split blended with
    /// the bundled photographs, see [`crate::dataset::mnist_m`]) or a second real dataset with the same classes
    /// (bundled name or path). Empty = none. The old key `shift = "digits"` (one comma-separated string, `"none"` =
    /// none) is read as an alias.
    #[serde(alias = "shift", deserialize_with = "shift_list")]
    pub shifts: Vec<String>,
    /// Images of each shift used (evenly spread over the set; 0 = all); `mnist-m` adds every blend of an unused
    /// train image (`unused_train`) to its share of the test split.
    pub shift_images: usize,
    /// A shift dataset's images are resized to the real images' side minus twice this margin, then padded with
    /// black to that side: MNIST centres its digits in a 20x20 box of a 28x28 frame, so the UCI digits (which
    /// fill their 8x8 frame) get the same framing. Not applied to `mnist-m`, which is the real images' own frame.
    pub shift_margin: usize,
    /// Style images of the default style source (files or folders).
    pub styles: Vec<String>,
    /// The default style source's strength range `[min, max]` (`synth style`'s `strength_min` and `strength_max`:
    /// each image's strength is drawn from it, 0 the content image, 1 the full transfer), here so a sweep can
    /// re-choose it on the validation split's mnist-m without editing `synth style`'s defaults.
    pub style_strength: [f64; 2],
    /// The default style source writes grey datasets in the stylised colours (`synth style`'s `colour`), here so a
    /// sweep can measure it on the validation split's mnist-m (a colour domain).
    pub style_colour: bool,
    /// Where the default style source's optimisation starts (`synth style`'s `dataset_init`), here so a sweep can
    /// measure each start (a texture start puts the style's texture behind the digit) on the validation mnist-m.
    pub style_init: crate::style::StyleInit,
    /// Where the default pipeline caches the sets it makes (reused by later runs with the same settings).
    pub cache_dir: String,
    /// Lanes: jobs run side by side, the cores shared between them (0 = one per core): the fits, and the GAN beside
    /// everything that does not need its set. Every number is the same whatever the lanes (a job's kernels sum in
    /// the same order on any thread count, and each thread draws from its own seeded generator); only the wall time
    /// changes.
    pub jobs: usize,
    /// The classifier fitted in every condition; eval-gain sets its dataset, split, per-class and seed.
    pub classifier: ClassifierConfig,
}

/// A list of shift names as the user wrote it (`--shift digits,mnist-m`, TOML `shifts = [...]` or the old
/// `shift = "digits"`): blanks dropped, and `none` alone meaning no shift.
pub fn shift_names<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    let names: Vec<String> = items
        .iter()
        .flat_map(|s| s.as_ref().split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if names == ["none"] { Vec::new() } else { names }
}

/// `shifts` from TOML: a list, or one comma-separated string (the old `shift` key's form).
fn shift_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of shift names, e.g. [\"digits\", \"mnist-m\"] ([] = none)")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(shift_names(&[v]))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
            let mut items: Vec<String> = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(shift_names(&items))
        }
    }
    d.deserialize_any(Names)
}

/// PGD-10 in L-inf at eps 0.1 (MNIST's usual small radius), with a random start.
fn robust_attack() -> AttackConfig {
    AttackConfig {
        attack: AttackKind::Pgd,
        norm: Norm::Linf,
        eps: 0.1,
        alpha: 0.0,
        steps: 10,
        random_start: true,
        restarts: 1,
        target: Target::Untargeted,
    }
}

/// The default adversarial source's attack (chosen by scripts/sweep_adversarial.sh on the validation split).
fn adversarial_source_attack() -> AttackConfig {
    AttackConfig {
        attack: AttackKind::Pgd,
        norm: Norm::Linf,
        eps: 0.2,
        alpha: 0.01,
        steps: 40,
        random_start: true,
        restarts: 1,
        target: Target::Untargeted,
    }
}

impl Default for EvalGainConfig {
    fn default() -> Self {
        // The style source's settings start as `synth style`'s dataset-mode defaults.
        let style = crate::style::StyleConfig::default();
        EvalGainConfig {
            dataset: "mnist".into(),
            resize: "keep".into(),
            split: SplitConfig::default(),
            per_class: 20,
            curve: Vec::new(),
            subset_seed: 0,
            seeds: 12,
            sources: SOURCES.map(String::from).to_vec(),
            mix: 1.0,
            all_share: AllShare::Each,
            val_images: 300,
            synthetic_only: false,
            equal_steps: false,
            robust_mode: RobustMode::Transfer,
            robust_attack: robust_attack(),
            robust_images: 0,
            adversarial_attack: adversarial_source_attack(),
            score_split: ScoreSplit::Test,
            unused_train: true,
            shifts: vec!["digits".into(), MNIST_M.into()],
            shift_images: 500,
            shift_margin: 4,
            styles: vec!["styles".into()],
            style_strength: [style.strength_min, style.strength_max],
            style_colour: style.colour,
            style_init: style.dataset_init,
            cache_dir: "outputs/eval-gain/cache".into(),
            jobs: 0,
            // Block 5's last two convs fine-tune at 3x the classifier's learning rate, every fit runs fixed step
            // budgets and returns the average of each phase's late weights, and at least half of every batch is real
            // images (configs/eval-gain.toml says why).
            classifier: ClassifierConfig {
                finetune_layers: 2,
                finetune_lr: 3e-4,
                steps: 120,
                finetune_steps: 60,
                weights: crate::classifier::WeightChoice::Swa,
                dropout: 0.2,
                real_share: 0.5,
                ..ClassifierConfig::default()
            },
        }
    }
}

/// Most sizes of a data-efficiency curve.
pub const MAX_CURVE_POINTS: usize = 16;

/// The name of eval-gain's default report folder (under `outputs/eval-gain/`), as `--help` shows it;
/// [`EvalGainConfig::out_name`] fills it in, so the help and the code cannot disagree.
pub const OUT_NAME: &str = "<dataset>-pc<N>-seeds<K>";

impl EvalGainConfig {
    /// The settings the default style source is made with: `synth style`'s dataset-mode defaults with this
    /// experiment's strength range.
    pub fn style_source(&self) -> crate::style::StyleConfig {
        crate::style::StyleConfig {
            strength_min: self.style_strength[0],
            strength_max: self.style_strength[1],
            colour: self.style_colour,
            dataset_init: self.style_init,
            ..crate::style::StyleConfig::default()
        }
    }

    /// [`OUT_NAME`] for this experiment (`mnist-pc20-seeds12`; a curve names its sizes, `mnist-pc5-10-20-seeds12`),
    /// given the dataset's file-name-safe short name.
    pub fn out_name(&self, dataset_slug: &str) -> String {
        let sizes = if self.curve.is_empty() {
            self.per_class.to_string()
        } else {
            self.curve.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("-")
        };
        OUT_NAME
            .replace("<dataset>", dataset_slug)
            .replace("<N>", &sizes)
            .replace("<K>", &self.seeds.to_string())
    }

    /// The curve's sizes: at most [`MAX_CURVE_POINTS`], each a valid per-class size, increasing (so the chart's x
    /// axis and the table read in order, and no size runs twice).
    fn validate_curve(&self) -> Result<()> {
        if self.curve.len() > MAX_CURVE_POINTS {
            return Err(SynthError::bad_input(format!(
                "curve has {} sizes; at most {MAX_CURVE_POINTS} (each is a whole experiment)",
                self.curve.len()
            )));
        }
        for (i, &n) in self.curve.iter().enumerate() {
            if n == 0 {
                return Err(SynthError::bad_input("curve sizes must be at least 1 image per class"));
            }
            crate::limits::check_count("curve size", n, crate::limits::MAX_COUNT)?;
            if i > 0 && n <= self.curve[i - 1] {
                return Err(SynthError::bad_input(format!(
                    "curve sizes must increase: {} follows {}",
                    n,
                    self.curve[i - 1]
                )));
            }
        }
        Ok(())
    }

    /// The config of one point of the curve: this one at `per_class`, with no curve.
    pub fn at_size(&self, per_class: usize) -> EvalGainConfig {
        EvalGainConfig {
            per_class,
            curve: Vec::new(),
            ..self.clone()
        }
    }

    /// Refuses settings that cannot work, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SynthError::bad_input(m));
        if self.per_class == 0 {
            return bad("per_class must be at least 1 (the low-data setting: labelled images per class)".into());
        }
        if self.seeds == 0 {
            return bad("seeds must be at least 1".into());
        }
        if !(self.mix > 0.0 && self.mix.is_finite()) {
            return bad(format!("mix {} must be a positive number", self.mix));
        }
        use crate::limits::{MAX_COUNT, MAX_IMAGES, check_count};
        check_count("per_class", self.per_class, MAX_COUNT)?;
        self.validate_curve()?;
        check_count("seeds", self.seeds, crate::limits::MAX_SEEDS)?;
        crate::limits::check_range("mix", self.mix, 0.0, 1000.0)?;
        check_count("val_images", self.val_images, MAX_IMAGES)?;
        check_count("jobs", self.jobs, crate::limits::MAX_JOBS)?;
        check_count("robust_images", self.robust_images, MAX_IMAGES)?;
        check_count("shift_images", self.shift_images, MAX_IMAGES)?;
        check_count("shift_margin", self.shift_margin, crate::limits::MAX_SIDE)?;
        for (i, name) in self.shifts.iter().enumerate() {
            if name == "none" {
                return bad("shift \"none\" means no shift and cannot be listed with others".into());
            }
            if self.shifts[..i].contains(name) {
                return bad(format!("shift {name} is listed twice"));
            }
        }
        if !self.robust_attack.eps.is_finite() {
            return bad(format!(
                "robust eps {} must be a finite number (0 skips the robust accuracy)",
                self.robust_attack.eps
            ));
        }
        if let Some(s) = self.sources.iter().find(|s| !SOURCES.contains(&s.as_str())) {
            return bad(format!("unknown source {s:?}; the sources are {}", SOURCES.join(", ")));
        }
        if self.split.val <= 0.0 || self.split.test <= 0.0 {
            return bad("eval-gain needs a validation part (early stopping) and a test part (the score)".into());
        }
        if self.robust_attack.eps < 0.0 {
            return bad(format!(
                "robust eps {} must be >= 0 (0 skips the robust accuracy)",
                self.robust_attack.eps
            ));
        }
        self.adversarial_attack.validate()?;
        self.style_source().validate()?;
        if self.score_split == ScoreSplit::Val
            && let Some(other) = self.shifts.iter().find(|s| s.as_str() != MNIST_M)
        {
            return bad(format!(
                "score_split val measures on validation images, but shift {other:?} is a dataset of its own with \
                 no validation part: pass --shift none or --shift {MNIST_M} (blended from the validation images)"
            ));
        }
        if self.robust_attack.eps > 0.0 {
            self.robust_attack.validate()?;
        }
        self.classifier.validate()?;
        self.split.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EvalGainConfig> {
        toml::from_str(text).map_err(|e| SynthError::bad_input(e.message().to_string()))
    }

    /// A curve's sizes must increase, be at least 1 and at most 16; each point is the config at that size without
    /// a curve, and the folder name lists the sizes.
    #[test]
    fn curve_sizes_are_checked_and_name_the_run() {
        let at = |curve: Vec<usize>| EvalGainConfig {
            curve,
            ..EvalGainConfig::default()
        };
        assert!(at(vec![5, 10, 20, 50]).validate().is_ok());
        for bad in [vec![10, 5], vec![5, 5], vec![0, 5], (1..=17).collect::<Vec<_>>()] {
            assert!(at(bad.clone()).validate().is_err(), "{bad:?}");
        }
        let curve = at(vec![5, 20]);
        assert_eq!(curve.out_name("mnist"), "mnist-pc5-20-seeds12");
        let point = curve.at_size(20);
        assert_eq!((point.per_class, point.curve.len()), (20, 0));
        assert_eq!(point.out_name("mnist"), "mnist-pc20-seeds12");
    }

    /// Scoring on validation images takes no second dataset as a shift (it has no validation part), only mnist-m
    /// (then blended from the validation images) or none.
    #[test]
    fn score_split_val_refuses_dataset_shifts() {
        let val = EvalGainConfig {
            score_split: ScoreSplit::Val,
            ..EvalGainConfig::default()
        };
        let error = val.validate().unwrap_err().to_string();
        assert!(error.contains("\"digits\""), "{error}");
        let mnist_m = EvalGainConfig {
            shifts: vec![MNIST_M.into()],
            ..val.clone()
        };
        assert!(mnist_m.validate().is_ok());
        assert!(EvalGainConfig { shifts: vec![], ..val }.validate().is_ok());
    }

    /// `shifts` is a list; the old `shift` key (one name, a comma list, or "none") still reads; saving writes the
    /// list and reads back the same.
    #[test]
    fn shifts_read_as_a_list_or_the_old_shift_key() {
        assert_eq!(
            parse("shifts = [\"digits\", \"mnist-m\"]").unwrap().shifts,
            ["digits", "mnist-m"]
        );
        assert!(parse("shifts = []").unwrap().shifts.is_empty());
        assert!(parse("shifts = [\"none\"]").unwrap().shifts.is_empty());
        assert_eq!(parse("shift = \"digits\"").unwrap().shifts, ["digits"]);
        assert_eq!(
            parse("shift = \"mnist-m, digits\"").unwrap().shifts,
            ["mnist-m", "digits"]
        );
        assert!(parse("shift = \"none\"").unwrap().shifts.is_empty());
        assert!(parse("shifts = 3").is_err());
        let saved = crate::config::to_toml(&EvalGainConfig::default()).unwrap();
        assert!(
            saved.contains("shifts = [\n    \"digits\",\n    \"mnist-m\",\n]")
                || saved.contains("shifts = [\"digits\", \"mnist-m\"]"),
            "{saved}"
        );
        assert_eq!(parse(&saved).unwrap(), EvalGainConfig::default());
        let none = EvalGainConfig {
            shifts: vec![],
            ..Default::default()
        };
        assert_eq!(parse(&crate::config::to_toml(&none).unwrap()).unwrap(), none);
        for (shifts, why) in [
            (vec!["digits", "digits"], "twice"),
            (vec!["none", "digits"], "cannot be listed"),
        ] {
            let c = EvalGainConfig {
                shifts: shifts.into_iter().map(String::from).collect(),
                ..Default::default()
            };
            let err = c.validate().unwrap_err();
            assert!(err.is_bad_input() && err.to_string().contains(why), "{err}");
        }
    }
}
