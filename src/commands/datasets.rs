use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::cli::DatasetsArgs;
use synth::dataset::manifest::{MANIFEST_FILE, read_manifest};
use synth::dataset::{BUNDLED, shape_text};

use super::Ui;

#[derive(Serialize)]
struct Listed {
    name: &'static str,
    images: usize,
    classes: usize,
    size: String,
    description: &'static str,
}

#[derive(Serialize)]
struct Inspection {
    dataset: String,
    images: usize,
    classes: Vec<String>,
    class_counts: Vec<usize>,
    size: String,
    channels: usize,
    /// Images per source kind, from the manifest (absent for plain datasets).
    sources: BTreeMap<String, usize>,
    /// How many manifest lines use each parameter value (e.g. `op=rotate`, `attack=pgd`).
    parameters: BTreeMap<String, usize>,
}

pub fn run(args: DatasetsArgs, ui: Ui) -> anyhow::Result<()> {
    match &args.dataset {
        None => list(ui),
        Some(spec) => inspect(spec, args.resize.as_deref().unwrap_or("keep"), ui),
    }
}

fn list(ui: Ui) -> anyhow::Result<()> {
    let listed: Vec<Listed> = BUNDLED
        .iter()
        .map(|b| Listed {
            name: b.name,
            images: b.images,
            classes: b.classes,
            size: shape_text(b.shape),
            description: b.description,
        })
        .collect();
    let mut human = format!(
        "{:<8} {:>7} {:>7}  {:<8} description\n",
        "name", "images", "classes", "size"
    );
    for l in &listed {
        human += &format!(
            "{:<8} {:>7} {:>7}  {:<8} {}\n",
            l.name, l.images, l.classes, l.size, l.description
        );
    }
    ui.summary(&listed, human.trim_end())
}

fn inspect(spec: &str, resize: &str, ui: Ui) -> anyhow::Result<()> {
    let dataset = super::load(spec, resize)?;
    let shape = dataset.require_uniform_shape()?;
    let (sources, parameters) = manifest_counts(Path::new(spec))?;
    let report = Inspection {
        dataset: spec.to_string(),
        images: dataset.len(),
        classes: dataset.classes.clone(),
        class_counts: dataset.class_counts(),
        size: shape_text(shape),
        channels: shape.0,
        sources,
        parameters,
    };
    let mut human = format!(
        "{spec}: {} images, {} classes, {} ({} channel(s))\n",
        report.images,
        report.classes.len(),
        report.size,
        report.channels
    );
    for (class, n) in report.classes.iter().zip(&report.class_counts) {
        human += &format!("  class {class:<12} {n}\n");
    }
    for (source, n) in &report.sources {
        human += &format!("  source {source:<11} {n}\n");
    }
    for (param, n) in &report.parameters {
        human += &format!("  param {param:<12} {n}\n");
    }
    ui.summary(&report, human.trim_end())
}

/// Counts sources, and parameter values that name a method (op, attack, norm, style...), over a manifest.
fn manifest_counts(root: &Path) -> anyhow::Result<(BTreeMap<String, usize>, BTreeMap<String, usize>)> {
    let (mut sources, mut params) = (BTreeMap::new(), BTreeMap::new());
    if !root.join(MANIFEST_FILE).is_file() {
        return Ok((sources, params));
    }
    for entry in read_manifest(root)? {
        *sources.entry(entry.source.to_string()).or_insert(0) += 1;
        count_named_values(&entry.params, &mut params);
    }
    Ok((sources, params))
}

/// Adds `key=value` for every string-valued field, at any depth (e.g. each op of an augment pipeline).
fn count_named_values(value: &serde_json::Value, counts: &mut BTreeMap<String, usize>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => *counts.entry(format!("{k}={s}")).or_insert(0) += 1,
                    other => count_named_values(other, counts),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| count_named_values(v, counts)),
        _ => {}
    }
}
