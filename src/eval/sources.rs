//! The default pipeline's synthetic sets, each made from the experiment's real N-per-class subset only (never a
//! validation or test image) with its command's default configuration, and cached: a later run with the same
//! data, subset and classifier settings reuses them.

use std::path::{Path, PathBuf};

use super::experiment::{Experiment, Source};
use crate::adversarial::{AdversarialConfig, AttackOptions, attack_set};
use crate::augment::{AugmentConfig, pipeline::Pipeline};
use crate::classifier::{Vgg16, checkpoint::bundled_weights};
use crate::dataset::{ExpandedWriter, Image, LoadOptions, Origin, SourceKind, SplitName, image_grid, load_dataset};
use crate::error::{IoContext, Result, SynthError};
use crate::style::StyleConfig;

/// Preview grid written into every set.
const PREVIEW: &str = "preview.png";

/// Names a set's conditions cannot take: `real` (the baseline), `all` (`real + all`), `policy` (`--policy`).
const RESERVED_NAMES: [&str; 3] = ["real", "all", "policy"];

/// A `--synthetic` argument: a set's folder, optionally named by the user (`NAME=DIR`). Without a name the set is
/// named by the source kind its origin.json records (see [`name_sets`]), so the report says `real + gan`, not the
/// folder's name (`real + samples`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    pub name: Option<String>,
    pub dir: PathBuf,
}

/// Whether `name` can name a set: letters, digits, `-` and `_` (it appears in condition names, TensorBoard tags
/// and a policy's TOML).
fn is_set_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl std::str::FromStr for SetSpec {
    type Err = String;

    /// `NAME=DIR` when the text before the first `=` is a valid name (so `outputs/a=b` is a plain folder; write
    /// `./x=y` for a folder whose whole name looks like a name), otherwise the whole text is the folder.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.split_once('=') {
            Some((name, dir)) if is_set_name(name) => {
                if dir.is_empty() {
                    return Err(format!("'{text}': no folder after {name}="));
                }
                Ok(SetSpec {
                    name: Some(name.to_string()),
                    dir: PathBuf::from(dir),
                })
            }
            _ if text.is_empty() => Err("an empty set folder".into()),
            _ => Ok(SetSpec {
                name: None,
                dir: PathBuf::from(text),
            }),
        }
    }
}

/// Names for the given sets, in order: a user's `NAME=` as given (refused when reserved or already taken), otherwise
/// the set's source kind from its origin.json (`gan`, `style`, `adversarial`, `augment`), with `-2`, `-3` for a
/// second and third set of one kind. `taken` holds the names already in use (eval-gain's own `augment` set).
pub fn name_sets(sets: &[(Option<String>, SourceKind)], taken: &[String]) -> Result<Vec<String>> {
    let mut used: Vec<String> = taken.to_vec();
    for name in sets.iter().filter_map(|(n, _)| n.as_ref()) {
        if RESERVED_NAMES.contains(&name.as_str()) {
            return Err(SynthError::bad_input(format!(
                "--synthetic {name}=...: {name} is reserved (it names a condition); choose another name"
            )));
        }
        if used.contains(name) {
            return Err(SynthError::bad_input(format!(
                "--synthetic {name}=...: two sets are named {name}; choose another name"
            )));
        }
        used.push(name.clone());
    }
    let mut names = Vec::new();
    for (name, kind) in sets {
        let name = match name {
            Some(n) => n.clone(),
            None => {
                let base = kind.to_string();
                let free = |n: &String| !used.contains(n) && !RESERVED_NAMES.contains(&n.as_str());
                let name = std::iter::once(base.clone())
                    .chain((2..).map(|k| format!("{base}-{k}")))
                    .find(free)
                    .unwrap_or(base);
                used.push(name.clone());
                name
            }
        };
        names.push(name);
    }
    Ok(names)
}

/// The folder the default sets of this experiment are cached in: one per dataset, split, subset and classifier
/// setting (a short hash of them), so changing any of them makes new sets rather than reusing stale ones.
pub fn cache_root(exp: &Experiment) -> PathBuf {
    let c = &exp.config;
    let key = serde_json::json!({
        "dataset": c.dataset, "resize": c.resize, "split": c.split, "per_class": c.per_class,
        "subset_seed": c.subset_seed, "classifier": exp.classifier, "styles": c.styles,
        "version": env!("CARGO_PKG_VERSION"),
    })
    .to_string();
    Path::new(&c.cache_dir).join(format!(
        "{}-pc{}-s{}-{:08x}",
        crate::commands::dataset_slug(&c.dataset),
        c.per_class,
        c.subset_seed,
        stable_hash(&key)
    ))
}

/// The cache folder of a searched policy's set: one per policy (a hash of its TOML), inside the experiment's cache.
pub fn policy_dir(cache: &Path, policy: &crate::policy::Policy) -> Result<PathBuf> {
    Ok(cache.join(format!("policy-{:08x}", stable_hash(&policy.to_toml()?))))
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
    preview: &[Image],
) -> Result<PathBuf> {
    origin(exp, kind, config).write_with_split(&exp.split, &writer)?;
    if let Some(grid) = image_grid(&preview[..preview.len().min(64)], 8) {
        writer.write_file(PREVIEW, &grid.to_png()?)?;
    }
    writer.finish()
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
        &preview,
    )
}

/// Style transfer of the subset with `synth style`'s dataset-mode defaults and the configured style images.
pub fn make_style(exp: &Experiment, out: &Path) -> Result<PathBuf> {
    let config = StyleConfig::default();
    let styles = crate::style::run::load_styles(&exp.config.styles)?;
    let vgg = Vgg16::load(&bundled_weights(), &crate::backend::device())?;
    let net = crate::style::StyleNet::new(vgg, &config)?;
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Style)?;
    crate::style::run::stylise_dataset(&net, &exp.dataset, &exp.subset, &styles, &config, &mut writer, |_| {})?;
    let mut json = crate::config::to_json(&config);
    json["styles"] = serde_json::json!(exp.config.styles);
    let path = finish(exp, writer, SourceKind::Style, json, &[])?;
    write_preview(&path)?;
    Ok(path)
}

/// A preview grid of a finished set, read back from disk (stylise_dataset hands its images to the writer only).
fn write_preview(root: &Path) -> Result<()> {
    let set = crate::dataset::read_image_folder(root, "preview")?;
    let images: Vec<Image> = set.samples.into_iter().take(64).map(|s| s.image).collect();
    if let Some(grid) = image_grid(&images, 8) {
        let path = root.join(PREVIEW);
        std::fs::write(&path, grid.to_png()?).at(&path, "writing")?;
    }
    Ok(())
}

/// `synth adversarial`'s default attack on the subset, against its default classifier (the small cnn) fitted on
/// the subset alone with the subset seed.
pub fn make_adversarial(exp: &Experiment, out: &Path) -> Result<PathBuf> {
    let defaults = AdversarialConfig::default();
    let (model, side) = match defaults.backbone {
        crate::classifier::BackboneKind::Cnn => (
            exp.fit_cnn(exp.config.subset_seed)?,
            exp.dataset.require_uniform_shape()?.1,
        ),
        crate::classifier::BackboneKind::Vgg16 => (exp.fit_real(exp.config.subset_seed)?, exp.input.1),
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
    let run = attack_set(&model, &set, &keys, exp.classes(), &defaults.attack, options, |_| {})?;
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Adversarial)?;
    for ((&i, image), outcome) in exp.subset.iter().zip(&run.images).zip(&run.outcomes) {
        let sample = &exp.dataset.samples[i];
        let stem = format!("adv-{}", crate::dataset::id_file_stem(&sample.id));
        let params = crate::adversarial::run::manifest_params(&defaults.attack, outcome);
        writer.add(
            image,
            sample.label,
            &stem,
            Some(sample.id.clone()),
            params,
            outcome.seed,
        )?;
    }
    let mut json = crate::config::to_json(&defaults);
    json["classifier"] = serde_json::json!({
        "trained_on": "the real subset", "seed": exp.config.subset_seed, "backbone": defaults.backbone,
    });
    json["summary"] = serde_json::to_value(run.summary()).unwrap_or_default();
    finish(exp, writer, SourceKind::Adversarial, json, &run.images)
}

/// Loads a set for the experiment after the leakage guard has accepted it.
pub fn load_source(exp: &Experiment, name: &str, root: &Path) -> Result<Source> {
    let origin = super::leakage::check_set(root, &exp.dataset.name, &exp.split)?;
    let dataset = load_dataset(&root.display().to_string(), &LoadOptions::default())?;
    if dataset.classes != exp.dataset.classes {
        return Err(SynthError::bad_input(format!(
            "{}: classes [{}] are not the real dataset's [{}]",
            root.display(),
            dataset.classes.join(", "),
            exp.dataset.classes.join(", ")
        )));
    }
    if dataset.is_empty() {
        return Err(SynthError::bad_input(format!(
            "{}: the set holds no images",
            root.display()
        )));
    }
    Ok(Source {
        name: name.to_string(),
        kind: origin.source,
        root: root.to_path_buf(),
        dataset,
        policy: false,
    })
}

/// The augmented images of a searched policy (`synth policy`'s best.toml) made from the subset: `mix` images per
/// real image, each through one of its sub-policies. Policies with synthetic shares are refused: eval-gain
/// measures their classic part only when the shares are 0.
pub fn make_policy(exp: &Experiment, policy: &crate::policy::Policy, out: &Path) -> Result<PathBuf> {
    if let Some(s) = policy.synthetic.iter().find(|s| s.share > 0.0) {
        return Err(SynthError::bad_input(format!(
            "the policy takes a {} share of set {}; eval-gain --policy supports policies of classic ops only (search \
             without --synthetic)",
            s.share, s.source
        )));
    }
    let pipelines = policy.pipelines()?;
    let images = crate::policy::search::policy_images(
        &exp.dataset,
        &exp.subset,
        exp.config.per_class,
        policy,
        &pipelines,
        exp.config.subset_seed,
    );
    let mut writer = ExpandedWriter::create(out, true, &exp.dataset.classes, SourceKind::Augment)?;
    let mut preview = Vec::new();
    for (i, j, image) in &images {
        let sample = &exp.dataset.samples[*i];
        let stem = format!("policy-{}-{j}", crate::dataset::id_file_stem(&sample.id));
        let params = serde_json::json!({ "policy": policy.describe(), "copy": j });
        writer.add(
            image,
            sample.label,
            &stem,
            Some(sample.id.clone()),
            params,
            crate::seed::derive(exp.config.subset_seed, &[*i as u64, *j as u64]),
        )?;
        if preview.len() < 64 {
            preview.push(image.clone());
        }
    }
    let json = serde_json::to_value(policy).unwrap_or_default();
    finish(exp, writer, SourceKind::Augment, json, &preview)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SetSpec {
        text.parse().unwrap()
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
