//! The default pipeline's synthetic sets, each made from the experiment's real N-per-class subset only (never a
//! validation or test image) with its command's default configuration, and cached: a later run with the same
//! data, subset and classifier settings reuses them.

use std::path::{Path, PathBuf};

use super::experiment::{Experiment, Source};
use crate::adversarial::{AdversarialConfig, AttackOptions, attack_set};
use crate::augment::{AugmentConfig, pipeline::Pipeline};
use crate::classifier::{Vgg16, checkpoint::bundled_weights};
use crate::dataset::{ExpandedWriter, Image, Origin, Provenance, SourceKind, SplitName, image_grid};
use crate::error::{Result, SynthError};
use crate::style::StyleConfig;

pub use crate::dataset::expanded::{SetSpec, name_sets};

/// The folder the default sets of this experiment are cached in: one per dataset, split, subset and classifier
/// setting and the default GAN settings of this build (a short hash of them, with the version),
/// so changing any of them makes new sets rather than reusing stale ones.
pub fn cache_root(exp: &Experiment) -> PathBuf {
    let c = &exp.config;
    let key = serde_json::json!({
        "dataset": c.dataset, "resize": c.resize, "split": c.split, "per_class": c.per_class,
        "subset_seed": c.subset_seed, "classifier": exp.classifier, "styles": c.styles,
        "version": env!("CARGO_PKG_VERSION"), "sources": source_defaults(),
    })
    .to_string();
    Path::new(&c.cache_dir).join(format!(
        "{}-pc{}-s{}-{:08x}",
        crate::dataset::dataset_slug(&c.dataset),
        c.per_class,
        c.subset_seed,
        stable_hash(&key)
    ))
}

/// The settings each default source is made with: a changed default (a new style strength, GAN schedule) makes new
/// sets instead of reusing ones made under the old default.
fn source_defaults() -> serde_json::Value {
    use crate::config::to_json;
    serde_json::json!({
        "augment": to_json(&AugmentConfig::default()),
        "style": to_json(&StyleConfig::default()),
        "gan": to_json(&crate::gan::GanConfig::default()),
        "adversarial": to_json(&AdversarialConfig::default()),
    })
}

/// The cache folder of a searched policy's set made with `per_class` images per class: one per policy and amount
/// (a hash of both), inside the experiment's cache.
pub fn policy_dir(cache: &Path, policy: &crate::augment::Policy, per_class: usize) -> Result<PathBuf> {
    let key = format!("{}\nper_class {per_class}", policy.to_toml()?);
    Ok(cache.join(format!("policy-{:08x}", stable_hash(&key))))
}

/// How a policy's `per_class` synthetic images per class split between its parts, in its own proportions: its
/// augmented images (weight `mix`) and each synthetic set (weight `share`), by largest remainder so the parts sum
/// to exactly `per_class` (ties to the earlier part). Refused when every weight is 0: such a policy adds nothing.
pub fn policy_parts(policy: &crate::augment::Policy, per_class: usize) -> Result<Vec<usize>> {
    let weights: Vec<f64> = std::iter::once(policy.mix)
        .chain(policy.synthetic.iter().map(|s| s.share))
        .collect();
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(SynthError::bad_input(
            "a policy's mix and shares must be finite numbers >= 0",
        ));
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return Err(SynthError::bad_input(
            "the policy adds no image (its mix and every share are 0)",
        ));
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * per_class as f64).collect();
    let mut parts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let missing = per_class - parts.iter().sum::<usize>();
    for &k in order.iter().take(missing) {
        parts[k] += 1;
    }
    Ok(parts)
}

/// FNV-1a of a text, folded to 32 bits: stable across runs and platforms (std's hasher is not), for cache keys.
fn stable_hash(text: &str) -> u32 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) as u32
}

/// Provenance of a set the pipeline made: the real dataset's train split, and the subset it was limited to.
fn origin(exp: &Experiment, kind: SourceKind, config: serde_json::Value) -> Origin {
    let mut value = serde_json::json!({
        "made_by": "synth eval-gain (default pipeline)",
        "per_class": exp.config.per_class,
        "subset_seed": exp.config.subset_seed,
        "subset_images": exp.subset.len(),
    });
    value[kind.to_string()] = config;
    Origin::describe(&exp.dataset, &exp.split, SplitName::Train, kind, value)
}

fn finish(
    exp: &Experiment,
    writer: ExpandedWriter,
    kind: SourceKind,
    config: serde_json::Value,
    preview: Option<Image>,
) -> Result<PathBuf> {
    let origin = origin(exp, kind, config);
    writer.finish(Provenance {
        origin: &origin,
        split: &exp.split,
        config_toml: None,
        preview,
    })
}

/// A grid of the first 64 images.
fn grid_of(images: &[Image]) -> Option<Image> {
    image_grid(&images[..images.len().min(64)], 8)
}

/// Classic augmentation of the subset with `synth augment`'s defaults.
pub fn make_augment(exp: &Experiment, out: &Path) -> Result<PathBuf> {
    let config = AugmentConfig::default();
    let pipeline = Pipeline::parse(&config.ops)?;
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Augment)?;
    let mut preview = Vec::new();
    crate::augment::run::augment_images(
        &exp.dataset,
        &exp.subset,
        std::slice::from_ref(&pipeline),
        config.copies,
        config.seed,
        &mut writer,
        |i| {
            if preview.len() < 64 {
                preview.push(i.clone());
            }
        },
    )?;
    finish(
        exp,
        writer,
        SourceKind::Augment,
        crate::config::to_json(&config),
        grid_of(&preview),
    )
}

/// Style transfer of the subset with `synth style`'s dataset-mode defaults and the configured style images. Its
/// label agreement (the share of its images that the small cnn fitted on the subset still labels correctly) goes
/// into origin.json: a style that buries the digit shows there before any fit.
pub fn make_style(exp: &Experiment, out: &Path) -> Result<PathBuf> {
    let config = exp.config.style_source();
    let styles = crate::style::run::load_styles(&exp.config.styles)?;
    let vgg = Vgg16::load(&bundled_weights(), &crate::backend::device())?;
    let net = crate::style::StyleNet::new(vgg, &config)?;
    let judge_model = exp.subset_cnn()?;
    let judge = crate::style::run::Judge {
        model: judge_model,
        input: {
            let (channels, side, _) = exp.dataset.require_uniform_shape()?;
            (channels, side)
        },
    };
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Style)?;
    let agreement = crate::style::run::stylise_dataset(
        &net,
        &exp.dataset,
        &exp.subset,
        &styles,
        &config,
        &mut writer,
        Some(&judge),
        |_| {},
    )?;
    let mut json = crate::config::to_json(&config);
    json["styles"] = serde_json::json!(exp.config.styles);
    if let Some(a) = agreement {
        json["label_agreement"] = serde_json::json!({"share": a.share(), "agreed": a.agreed, "images": a.images,
            "judge": "the cnn fitted on the real subset (subset seed)"});
    }
    let preview = writer.preview_from_disk(64)?;
    finish(exp, writer, SourceKind::Style, json, preview)
}

/// PGD examples of the subset with their true labels (the configured `adversarial_attack`), crafted against
/// `synth adversarial`'s default classifier (the small cnn) fitted on the subset alone with the subset seed.
pub fn make_adversarial(exp: &Experiment, out: &Path) -> Result<PathBuf> {
    let defaults = AdversarialConfig::default();
    let (model, side) = match defaults.backbone {
        crate::classifier::BackboneKind::Cnn => (exp.subset_cnn()?.clone(), exp.dataset.require_uniform_shape()?.1),
        _ => (exp.fit_real(exp.config.subset_seed)?, exp.input.1),
    };
    let images: Vec<Image> = exp
        .subset
        .iter()
        .map(|&i| {
            let img = &exp.dataset.samples[i].image;
            if img.height == side && img.width == side {
                img.clone()
            } else {
                img.resize(side, side)
            }
        })
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let labels = exp.subset.iter().map(|&i| exp.dataset.samples[i].label).collect();
    let set = crate::classifier::PreparedSet::new(&refs, labels, None, &crate::backend::device())?;
    let keys: Vec<u64> = exp.subset.iter().map(|&i| i as u64).collect();
    let options = AttackOptions {
        batch_size: defaults.batch_size,
        seed: defaults.seed,
        quantize: true,
    };
    let attack = &exp.config.adversarial_attack;
    let run = attack_set(&model, &set, &keys, exp.classes(), attack, options, |_| {})?;
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Adversarial)?;
    crate::adversarial::run::add_attacked(&mut writer, &exp.dataset, &exp.subset, &run, attack)?;
    let mut json = crate::config::to_json(&AdversarialConfig {
        attack: attack.clone(),
        ..defaults.clone()
    });
    json["classifier"] = serde_json::json!({
        "trained_on": "the real subset", "seed": exp.config.subset_seed, "backbone": defaults.backbone,
    });
    json["summary"] = serde_json::to_value(run.summary()).unwrap_or_default();
    finish(exp, writer, SourceKind::Adversarial, json, grid_of(&run.images))
}

/// Loads a set for the experiment after the leakage guard has accepted it.
pub fn load_source(exp: &Experiment, name: &str, root: &Path) -> Result<Source> {
    let crate::dataset::expanded::TrainingSet { origin, dataset } =
        crate::dataset::expanded::open_for_training(root, &exp.dataset, &exp.split)?;
    Ok(Source {
        name: name.to_string(),
        kind: origin.source,
        root: root.to_path_buf(),
        dataset,
        role: super::experiment::SourceRole::Set,
    })
}

/// The set of a searched policy (`synth policy`'s best.toml) made from the subset with `per_class` images per
/// class, eval-gain's synthetic amount (the same count as `real + augment`'s), split between the policy's parts in
/// its own proportions ([`policy_parts`]): augmented images through its sub-policies, and images drawn
/// class-balanced from each synthetic set it takes a share of (`sets`, by name: the default pipeline's or the
/// given ones). A set the policy names and `sets` lacks is refused.
pub fn make_policy(
    exp: &Experiment,
    policy: &crate::augment::Policy,
    sets: &[(&str, &crate::dataset::Dataset)],
    per_class: usize,
    out: &Path,
) -> Result<PathBuf> {
    let pipelines = policy.pipelines()?;
    let parts = policy_parts(policy, per_class)?;
    let real_per_class = exp.config.per_class;
    let augmented = crate::augment::Policy {
        mix: parts[0] as f64 / real_per_class as f64,
        ..policy.clone()
    };
    let images = crate::augment::policy::policy_images(
        &exp.dataset,
        &exp.subset,
        real_per_class,
        &augmented,
        &pipelines,
        exp.config.subset_seed,
    );
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Augment)?;
    let mut preview = Vec::new();
    for (i, j, image) in &images {
        let sample = &exp.dataset.samples[*i];
        let stem = format!("policy-{}-{j}", crate::dataset::id_file_stem(&sample.id));
        let params = serde_json::json!({ "policy": policy.describe(), "copy": j });
        let seed = crate::seed::derive(exp.config.subset_seed, &[*i as u64, *j as u64]);
        writer.add_derived(image, sample, &stem, params, seed)?;
        if preview.len() < 64 {
            preview.push(image.clone());
        }
    }
    let (channels, side, _) = exp.dataset.require_uniform_shape()?;
    for (k, (share, &n)) in policy.synthetic.iter().zip(&parts[1..]).enumerate() {
        if n == 0 {
            continue;
        }
        let Some((_, set)) = sets.iter().find(|(name, _)| *name == share.source) else {
            return Err(SynthError::bad_input(format!(
                "the policy takes a {} share of set {}, which is neither given (--synthetic) nor a default source",
                share.share, share.source
            )));
        };
        let seed = crate::seed::derive(exp.config.subset_seed, &[0x5E7, k as u64]);
        let members = set.samples.iter().enumerate().map(|(i, s)| (i, s.label));
        for i in crate::dataset::split::class_balanced_draw(members, exp.classes(), n, |c| {
            crate::seed::derive(seed, &[c as u64])
        }) {
            let sample = &set.samples[i];
            let image = crate::dataset::Image::conform(&sample.image, channels, side);
            let stem = format!("policy-{}-{}", share.source, crate::dataset::id_file_stem(&sample.id));
            let params = serde_json::json!({ "policy": policy.describe(), "from": share.source, "id": sample.id });
            writer.add(&image, sample.label, &stem, None, params, seed)?;
            if preview.len() < 64 {
                preview.push(image);
            }
        }
    }
    let mut json = serde_json::to_value(policy).unwrap_or_default();
    json["per_class"] = serde_json::json!(per_class);
    json["parts_per_class"] = serde_json::json!(parts);
    finish(exp, writer, SourceKind::Augment, json, grid_of(&preview))
}

/// Trains `synth gan` with [`gan_config`] into `run`, and returns its samples folder.
pub fn make_gan(config: &super::EvalGainConfig, subset_images: usize, run: &Path) -> Result<PathBuf> {
    let plan = crate::gan::run::RunPlan {
        out: run.to_path_buf(),
        force: true,
        resume: false,
        tb_dir: run.join("tb"),
        quiet: true,
    };
    crate::gan::run::train(&gan_config(config, subset_images), &plan)?;
    Ok(run.join(crate::gan::run::SAMPLES_DIR))
}

/// The default pipeline's GAN: `synth gan`'s defaults on the subset (same draw: `train_per_class` with the subset
/// seed). A subset smaller than the default batch (5 per class of 10 classes is 50 images) trains on batches of the
/// whole subset, so the data-efficiency curve reaches its smallest sizes.
pub fn gan_config(config: &super::EvalGainConfig, subset_images: usize) -> crate::gan::GanConfig {
    let defaults = crate::gan::GanConfig::default();
    crate::gan::GanConfig {
        batch_size: defaults.batch_size.min(subset_images),
        dataset: config.dataset.clone(),
        resize: config.resize.clone(),
        split: config.split.clone(),
        train_per_class: config.per_class,
        metrics: false,
        seed: config.subset_seed,
        ..defaults
    }
}

/// One default source, made now or found in the cache.
pub struct MadeSource {
    pub root: PathBuf,
    pub made_now: bool,
    pub seconds: f64,
}

/// A default source's cache folder: its name, and for the adversarial source also a hash of its attack (a sweep
/// over eps and steps keeps one set per setting beside the other sources), for the style source a hash of its
/// settings when they are not the defaults (a strength sweep, likewise).
fn set_folder(config: &super::EvalGainConfig, name: &str) -> String {
    let hashed = |settings: serde_json::Value| format!("{name}-{:08x}", stable_hash(&settings.to_string()));
    match name {
        "adversarial" => hashed(crate::config::to_json(&config.adversarial_attack)),
        "style" => match config.style_source() {
            style if style == StyleConfig::default() => name.to_string(),
            style => hashed(crate::config::to_json(&style)),
        },
        _ => name.to_string(),
    }
}

/// Where the default source `name`'s set is, made or to be made, under `cache`.
fn set_root(config: &super::EvalGainConfig, name: &str, cache: &Path) -> (PathBuf, PathBuf) {
    let dir = cache.join(set_folder(config, name));
    let root = if name == "gan" {
        dir.join(crate::gan::run::SAMPLES_DIR)
    } else {
        dir.clone()
    };
    (dir, root)
}

/// Whether the default source `name`'s set is already in `cache` (a finished set has its origin.json).
pub fn is_cached(config: &super::EvalGainConfig, name: &str, cache: &Path) -> bool {
    let (_, root) = set_root(config, name, cache);
    root.join(crate::dataset::manifest::ORIGIN_FILE).is_file()
}

/// Makes (or reuses from the cache) the default source `name` (augment, gan, style or adversarial).
pub fn default_source(exp: &Experiment, name: &str, cache: &Path) -> Result<MadeSource> {
    if name == "gan" {
        return default_gan(&exp.config, exp.subset.len(), cache);
    }
    made_or_cached(&exp.config, name, cache, |dir| match name {
        "augment" => make_augment(exp, dir),
        "style" => make_style(exp, dir),
        "adversarial" => make_adversarial(exp, dir),
        other => Err(SynthError::bad_input(format!("unknown source {other}"))),
    })
}

/// The default GAN's set (made now, or found in the cache) for a subset of `subset_images`: it needs nothing of the
/// experiment but its settings, so it can be made on a lane of its own while the experiment banks its features.
pub fn default_gan(config: &super::EvalGainConfig, subset_images: usize, cache: &Path) -> Result<MadeSource> {
    made_or_cached(config, "gan", cache, |dir| make_gan(config, subset_images, dir))
}

/// The set `name` from the cache, or made by `make` into its folder.
fn made_or_cached(
    config: &super::EvalGainConfig,
    name: &str,
    cache: &Path,
    make: impl FnOnce(&Path) -> Result<PathBuf>,
) -> Result<MadeSource> {
    let started = std::time::Instant::now();
    let (dir, root) = set_root(config, name, cache);
    if is_cached(config, name, cache) {
        return Ok(MadeSource {
            root,
            made_now: false,
            seconds: 0.0,
        });
    }
    std::fs::create_dir_all(cache).map_err(|e| SynthError::internal(format!("{}: {e}", cache.display())))?;
    let root = make(&dir)?;
    Ok(MadeSource {
        root,
        made_now: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The default pipeline's sets `names` (of [`super::config::SOURCES`]) for the low-data setting of `config` (its
/// dataset, split, subset), each made now or found in eval-gain's cache by [`default_source`], exactly as
/// `synth eval-gain` without `--synthetic` makes them: how another command (`synth policy`) reuses them. No feature is
/// computed unless a source needs a fitted VGG16 (the adversarial source when its default backbone is vgg16).
/// `on_source` hears each name before its set is made or found. Returns each name with its set.
pub fn default_sets(
    config: &super::EvalGainConfig,
    names: &[String],
    mut on_source: impl FnMut(&str),
) -> Result<Vec<(String, MadeSource)>> {
    config.validate()?;
    if let Some(bad) = names.iter().find(|n| !super::config::SOURCES.contains(&n.as_str())) {
        return Err(SynthError::bad_input(format!(
            "unknown source {bad:?}; the sources are {}",
            super::config::SOURCES.join(", ")
        )));
    }
    let dataset = crate::dataset::load_named(&config.dataset, &config.resize)?;
    let split = crate::dataset::Split::stratified(&dataset, &config.split)?;
    let mut exp = Experiment::for_sources(config, dataset, split)?;
    if names.iter().any(|n| n == "adversarial")
        && AdversarialConfig::default().backbone == crate::classifier::BackboneKind::Vgg16
    {
        exp.bank_real_and_val()?;
    }
    let cache = cache_root(&exp);
    names
        .iter()
        .map(|name| {
            on_source(name);
            Ok((name.clone(), default_source(&exp, name, &cache)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SetSpec {
        text.parse().unwrap()
    }

    /// The curve's smallest size trains its GAN on batches of the whole subset (the GAN refuses a subset smaller
    /// than its batch); larger subsets keep `synth gan`'s batch.
    #[test]
    fn a_subset_smaller_than_a_batch_trains_the_gan_on_all_of_it() {
        let config = super::super::EvalGainConfig {
            per_class: 5,
            ..Default::default()
        };
        let gan = gan_config(&config, 50);
        assert_eq!((gan.batch_size, gan.train_per_class), (50, 5));
        gan.validate().unwrap();
        let default_batch = crate::gan::GanConfig::default().batch_size;
        assert_eq!(gan_config(&config, 200).batch_size, default_batch);
    }

    /// The style source is made at the experiment's strength range; a range other than the default gets its own
    /// cache folder (a sweep keeps each set), the default keeps `style`; a range outside [0, 1] is bad input.
    #[test]
    fn style_strength_reaches_the_style_source_and_its_cache_folder() {
        let defaults = super::super::EvalGainConfig::default();
        assert_eq!(defaults.style_source(), StyleConfig::default());
        assert_eq!(set_folder(&defaults, "style"), "style");
        let strong = super::super::EvalGainConfig {
            style_strength: [0.3, 0.7],
            ..Default::default()
        };
        let style = strong.style_source();
        assert_eq!((style.strength_min, style.strength_max), (0.3, 0.7));
        let folder = set_folder(&strong, "style");
        assert!(
            folder.starts_with("style-") && folder != set_folder(&defaults, "style"),
            "{folder}"
        );
        let reversed = super::super::EvalGainConfig {
            style_strength: [0.7, 0.3],
            ..Default::default()
        };
        assert!(reversed.validate().unwrap_err().is_bad_input());
    }

    /// A policy's images split between its parts in its own proportions, summing to exactly the asked count.
    #[test]
    fn policy_parts_keep_the_proportions_and_the_count() {
        let policy = |mix: f64, shares: &[f64]| crate::augment::Policy {
            mix,
            sub_policies: vec![vec!["rotate:10".into()]],
            synthetic: shares
                .iter()
                .enumerate()
                .map(|(k, &share)| crate::augment::SyntheticShare {
                    source: format!("s{k}"),
                    share,
                })
                .collect(),
        };
        assert_eq!(policy_parts(&policy(2.0, &[]), 20).unwrap(), [20]);
        assert_eq!(policy_parts(&policy(2.0, &[1.0, 0.0, 1.0]), 20).unwrap(), [10, 5, 0, 5]);
        assert_eq!(policy_parts(&policy(1.0, &[0.5, 0.25]), 20).unwrap(), [11, 6, 3]);
        assert_eq!(
            policy_parts(&policy(1.0, &[1.0, 1.0]), 20)
                .unwrap()
                .iter()
                .sum::<usize>(),
            20
        );
        assert!(policy_parts(&policy(0.0, &[0.0]), 20).unwrap_err().is_bad_input());
    }

    #[test]
    fn set_specs_parse_name_and_folder() {
        assert_eq!(
            spec("gan=outputs/gan/mnist-seed0/samples"),
            SetSpec {
                name: Some("gan".into()),
                dir: "outputs/gan/mnist-seed0/samples".into()
            }
        );
        assert_eq!(spec("outputs/style/mnist").name, None);
        // A folder whose path has an '=' after a '/' is a folder, not a name.
        assert_eq!(spec("outputs/a=b").dir, PathBuf::from("outputs/a=b"));
        assert_eq!(spec("./x=y").name, None);
        assert!("gan=".parse::<SetSpec>().is_err());
    }

    /// Sets are named by their origin.json kind, a second one of a kind gets `-2`, and an explicit name wins.
    #[test]
    fn sets_are_named_by_source_kind() {
        let names = name_sets(
            &[
                (None, SourceKind::Gan),
                (None, SourceKind::Style),
                (None, SourceKind::Gan),
                (None, SourceKind::Augment),
                (Some("mine".into()), SourceKind::Style),
            ],
            &["augment".into()],
        )
        .unwrap();
        assert_eq!(names, ["gan", "style", "gan-2", "augment-2", "mine"]);
        // An explicit name is reserved before the automatic ones, which step around it.
        let names = name_sets(&[(None, SourceKind::Gan), (Some("gan".into()), SourceKind::Gan)], &[]).unwrap();
        assert_eq!(names, ["gan-2", "gan"]);
    }

    #[test]
    fn reserved_and_repeated_names_are_refused() {
        for (sets, why) in [
            (vec![(Some("all".to_string()), SourceKind::Gan)], "reserved"),
            (vec![(Some("real".to_string()), SourceKind::Gan)], "reserved"),
            (
                vec![
                    (Some("g".to_string()), SourceKind::Gan),
                    (Some("g".to_string()), SourceKind::Style),
                ],
                "two sets are named g",
            ),
        ] {
            let err = name_sets(&sets, &[]).unwrap_err();
            assert!(err.is_bad_input() && err.to_string().contains(why), "{err}");
        }
        let err = name_sets(&[(Some("augment".into()), SourceKind::Augment)], &["augment".into()]).unwrap_err();
        assert!(err.to_string().contains("two sets are named augment"), "{err}");
    }
}
