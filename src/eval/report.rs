//! The experiment's report: report.json (every number, every seed), report.md (the table, the settings, each
//! source's sample grid) and gain.png (each condition's accuracy with its 95% interval, clean / robust / each shift).

use crate::classifier::WeightChoice;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::config::EvalGainConfig;
use super::experiment::{ConditionKind, ConditionResult};
use crate::error::{IoContext, Result, SynthError};
use crate::report::chart::{FONT, save_rgb_png};
use crate::report::stats::{MinimumDetectableEffect, PairedGain, Summary, minimum_detectable_effect};

/// A source as the report lists it.
#[derive(Clone, Debug, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub images: usize,
    /// Whether the default pipeline made it in this run (false: cached from an earlier run, or given).
    pub made_now: bool,
    pub seconds: f64,
}

/// report.json.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub config: EvalGainConfig,
    pub dataset: String,
    pub real_train_images: usize,
    pub val_images: usize,
    pub test_images: usize,
    /// Train-split images outside the subset that the clean accuracy also counts (`unused_train`; 0 = none).
    pub unused_train_images: usize,
    pub robust_images: usize,
    /// Images scored of each shift, by name.
    pub shift_images: BTreeMap<String, usize>,
    pub sources: Vec<SourceInfo>,
    pub conditions: Vec<ConditionResult>,
    /// Transfer robust mode: the surrogate the attack was crafted against.
    pub surrogate: Option<super::experiment::SurrogateInfo>,
    /// The run's minimum detectable effect per metric (see [`power`]): a gain smaller than this is one the seeds
    /// cannot resolve, so "no gain" reads as "none above this".
    pub mde: Power,
    /// Images passed through the frozen backbone prefix, and the most passes of any one image (1: each once).
    pub frozen_passes: usize,
    pub max_passes_per_image: usize,
    pub seconds: f64,
}

/// The minimum detectable effect of each metric (absent when the metric was not measured or with one seed); the
/// shifted accuracy has one per shift.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Power {
    pub clean: Option<MinimumDetectableEffect>,
    pub robust: Option<MinimumDetectableEffect>,
    pub shifted: BTreeMap<String, MinimumDetectableEffect>,
}

/// The shifts a report measured, in the config's order (then any other, by name).
pub fn shift_names(report: &Report) -> Vec<String> {
    let measured: Vec<&String> = report
        .conditions
        .first()
        .map_or(Vec::new(), |c| c.shifted.keys().collect());
    let mut names: Vec<String> = report
        .config
        .shifts
        .iter()
        .filter(|n| measured.contains(n))
        .cloned()
        .collect();
    for n in measured {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// The run's minimum detectable effect per metric: the paired gain a two-sided paired t-test at alpha 0.05 with
/// 80% power resolves at this run's seeds, at the spread of its gains (the root-mean-square of the standard
/// deviations of the per-seed differences). It pools every gain the report reads, over `real` and over
/// `real + augment`, of the conditions that train on the real images; synthetic-only fits are left out, since a
/// model that never saw a real image varies in another regime and would inflate the spread of the gains that matter.
pub fn power(conditions: &[ConditionResult]) -> Power {
    let pooled = |f: &dyn Fn(&ConditionResult) -> [Option<&PairedGain>; 2]| {
        let gains: Vec<&PairedGain> = conditions
            .iter()
            .filter(|c| c.condition.kind != ConditionKind::SyntheticOnly)
            .flat_map(f)
            .flatten()
            .collect();
        let n = gains.first().map_or(0, |g| g.gain.n);
        let stds: Vec<f64> = gains.iter().map(|g| g.gain.std).collect();
        minimum_detectable_effect(&stds, n)
    };
    let shifts: Vec<&String> = conditions.first().map_or(Vec::new(), |c| c.shifted.keys().collect());
    Power {
        clean: pooled(&|c| [c.gain_clean.as_ref(), c.gain_clean_vs_augment.as_ref()]),
        robust: pooled(&|c| [c.gain_robust.as_ref(), c.gain_robust_vs_augment.as_ref()]),
        shifted: shifts
            .into_iter()
            .filter_map(|n| {
                let mde = pooled(&|c| [c.gain_shifted.get(n), c.gain_shifted_vs_augment.get(n)])?;
                Some((n.clone(), mde))
            })
            .collect(),
    }
}

/// The MDE in one line (report.md and the printed summary), e.g. `MDE (...): clean 1.83 pp, robust 5.10 pp`.
pub fn mde_line(report: &Report) -> String {
    let m = &report.mde;
    let shifted: Vec<(String, Option<&MinimumDetectableEffect>)> = shift_names(report)
        .into_iter()
        .map(|n| {
            let e = m.shifted.get(&n);
            (format!("shifted {n}"), e)
        })
        .collect();
    let parts: Vec<String> = [
        ("clean".to_string(), m.clean.as_ref()),
        ("robust".to_string(), m.robust.as_ref()),
    ]
    .into_iter()
    .chain(shifted)
    .filter_map(|(what, e)| e.map(|e| format!("{what} {:.2} pp (s_d {:.2} pp)", 100.0 * e.effect, 100.0 * e.spread)))
    .collect();
    if parts.is_empty() {
        return "MDE: not computed (it needs at least two seeds and one gain)".into();
    }
    format!(
        "MDE (the smallest paired gain a two-sided t-test at alpha 0.05 resolves with 80% power at {} seeds and \
         this run's spread): {}",
        report.config.seeds,
        parts.join(", ")
    )
}

fn pct(v: f64) -> String {
    format!("{:.2}", 100.0 * v)
}

pub(super) fn interval(s: &Summary) -> String {
    format!("{} [{}, {}]", pct(s.mean), pct(s.ci_low), pct(s.ci_high))
}

pub(super) fn gain_text(g: &Option<PairedGain>) -> String {
    match g {
        None => "".into(),
        Some(g) => {
            format!(
                "{}{:+.2} [{:+.2}, {:+.2}] p={:.3}",
                if g.significant { "**" } else { "" },
                100.0 * g.gain.mean,
                100.0 * g.gain.ci_low,
                100.0 * g.gain.ci_high,
                g.p_value
            ) + if g.significant { "**" } else { "" }
        }
    }
}

/// The results table in Markdown (accuracies in %, mean [95% CI]; gains paired by seed; significant in bold). When
/// the run has `real + augment + X` conditions it leads with their clean gain over `real + augment`: the
/// practitioner's question is whether X adds anything beyond the classic augmentation they already use.
pub fn table(report: &Report) -> String {
    let robust = report.conditions.first().is_some_and(|c| c.robust.is_some());
    let shifts = shift_names(report);
    let beyond = report.conditions.iter().any(|c| c.gain_clean_vs_augment.is_some());
    let mut head: Vec<String> = vec!["condition".into(), "train images (real + synthetic)".into()];
    if beyond {
        head.push("gain vs real + augment (pp)".into());
    }
    head.extend(["clean acc %".into(), "gain vs real (pp)".into()]);
    if robust {
        head.extend(["robust acc %".into(), "robust gain (pp)".into()]);
    }
    for n in &shifts {
        head.extend([format!("{n} acc %"), format!("{n} gain (pp)")]);
    }
    let mut out = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for c in &report.conditions {
        let first = c.seeds.first();
        let images = first.map_or(String::new(), |s| format!("{} + {}", s.real_images, s.synthetic_images));
        let name = if c.seeds_not_learned > 0 {
            format!(
                "{} (NOT LEARNED: {} of {} seeds)",
                c.condition.name,
                c.seeds_not_learned,
                c.seeds.len()
            )
        } else {
            c.condition.name.clone()
        };
        let mut row = vec![name, images];
        if beyond {
            row.push(gain_text(&c.gain_clean_vs_augment));
        }
        row.extend([interval(&c.clean), gain_text(&c.gain_clean)]);
        if robust {
            row.push(c.robust.as_ref().map_or(String::new(), interval));
            row.push(gain_text(&c.gain_robust));
        }
        for n in &shifts {
            row.push(c.shifted.get(n).map_or(String::new(), interval));
            row.push(gain_text(&c.gain_shifted.get(n).cloned()));
        }
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// How a gain reads: unresolved, positive, negative.
type GainWords = [&'static str; 3];
const BEYOND_AUGMENT: GainWords = ["adds nothing the seeds can resolve", "adds", "takes away"];
const OVER_REAL: GainWords = ["no gain the seeds can resolve", "helps", "hurts"];

/// The clean, robust and each shift's gains that were measured, each as `<what> <word> (+g +- h pp)`.
fn gain_words(
    clean: &Option<PairedGain>,
    robust: &Option<PairedGain>,
    shifted: &BTreeMap<String, PairedGain>,
    shifts: &[String],
    words: GainWords,
) -> Vec<String> {
    let [unresolved, up, down] = words;
    [
        ("clean:".to_string(), clean.as_ref()),
        ("robust:".to_string(), robust.as_ref()),
    ]
    .into_iter()
    .chain(shifts.iter().map(|n| (format!("{n}:"), shifted.get(n))))
    .filter_map(|(what, g)| {
        let g = g?;
        let word = match (g.significant, g.gain.mean > 0.0) {
            (false, _) => unresolved,
            (true, true) => up,
            (true, false) => down,
        };
        Some(format!(
            "{what} {word} ({:+.2} +- {:.2} pp)",
            100.0 * g.gain.mean,
            100.0 * g.half_width
        ))
    })
    .collect()
}

/// A plain-words reading of the gains: which conditions helped, hurt, or showed nothing the seeds can resolve.
pub fn reading(report: &Report) -> String {
    let mut out = String::new();
    if let Some(why) = baseline_not_learned(report) {
        let _ = writeln!(
            out,
            "- **The `real` baseline has not learned this task** ({why}). Every gain below compares noise with \
             noise, so none is a finding. Try more images per class (--per-class), another --backbone, or check \
             that the labels mean something."
        );
        return out;
    }
    let shifts = shift_names(report);
    // The practitioner's question first: does X add anything to the classic augmentation they already use?
    for c in report
        .conditions
        .iter()
        .filter(|c| c.condition.kind == ConditionKind::AugmentPlus && c.seeds_not_learned == 0)
    {
        let x = c.condition.source_names.last().map_or("", String::as_str);
        let augment = c.condition.source_names.first().map_or("", String::as_str);
        let parts = gain_words(
            &c.gain_clean_vs_augment,
            &c.gain_robust_vs_augment,
            &c.gain_shifted_vs_augment,
            &shifts,
            BEYOND_AUGMENT,
        );
        let _ = writeln!(
            out,
            "- **{x} beyond classic augmentation** ({} against real + {augment}): {}",
            c.condition.name,
            parts.join("; ")
        );
    }
    for c in report
        .conditions
        .iter()
        .filter(|c| c.condition.kind != ConditionKind::Real)
    {
        let parts = gain_words(&c.gain_clean, &c.gain_robust, &c.gain_shifted, &shifts, OVER_REAL);
        if c.seeds_not_learned > 0 {
            let _ = writeln!(
                out,
                "- **{}**: not read: {} of {} seeds did not learn the task (at chance or one class for every image)",
                c.condition.name,
                c.seeds_not_learned,
                c.seeds.len()
            );
            continue;
        }
        let _ = writeln!(out, "- **{}**: {}", c.condition.name, parts.join("; "));
    }
    out
}

/// What a reader must know before reading the table: a `real` baseline that has not learned (then no gain is a
/// finding), conditions whose seeds did not learn, and an `augment only` far below `real` (the classic ops may
/// destroy the label on this data: an ImageFolder of digits that fill the frame loses them to `translate:3`).
/// The run still succeeds (exit 0): its report is what one needs to see why.
pub fn warnings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = baseline_not_learned(report) {
        out.push(format!(
            "the real-only baseline has NOT LEARNED this task ({why}); no gain in this report is a finding"
        ));
    }
    for c in report.conditions.iter().filter(|c| c.seeds_not_learned > 0) {
        if c.condition.kind != ConditionKind::Real {
            out.push(format!(
                "{}: {} of {} seeds did not learn the task; its numbers are noise",
                c.condition.name,
                c.seeds_not_learned,
                c.seeds.len()
            ));
        }
    }
    let real = report
        .conditions
        .iter()
        .find(|c| c.condition.kind == ConditionKind::Real);
    let augment_only = report.conditions.iter().find(|c| {
        c.condition.kind == ConditionKind::SyntheticOnly && c.condition.source_names.iter().any(|n| n == "augment")
    });
    if let (Some(real), Some(aug)) = (real, augment_only)
        && aug.clean.mean < real.clean.mean - AUGMENT_ONLY_GAP
    {
        out.push(format!(
            "augment only reaches {:.1}% against {:.1}% for real: the classic ops ({}) may destroy the label on this \
             data; measure your own ops with synth augment --ops and --synthetic",
            100.0 * aug.clean.mean,
            100.0 * real.clean.mean,
            crate::augment::AugmentConfig::default().ops.join(",")
        ));
    }
    out
}

/// How far (as a fraction) `augment only` may fall below `real` before the ops are suspected of destroying labels.
const AUGMENT_ONLY_GAP: f64 = 0.25;

/// Why the `real` baseline has not learned, when any of its seeds has not: then no gain is a finding.
pub fn baseline_not_learned(report: &Report) -> Option<String> {
    let real = report
        .conditions
        .iter()
        .find(|c| c.condition.kind == ConditionKind::Real)?;
    let why = real.seeds.iter().find_map(|s| s.not_learned.clone())?;
    Some(format!(
        "{} of {} seeds; e.g. seed {}: {why}",
        real.seeds_not_learned,
        real.seeds.len(),
        real.seeds
            .iter()
            .find(|s| s.not_learned.is_some())
            .map_or(0, |s| s.seed)
    ))
}

/// How the robust accuracy was measured, in words.
fn robust_text(report: &Report) -> String {
    let attack = report.config.robust_attack.describe();
    match &report.surrogate {
        Some(s) => format!(
            "{attack}, crafted once, white-box against a surrogate {} fitted on the real subset (seed {}; its own \
             accuracy {:.2}% clean, {:.2}% on these images), and transferred to every model",
            s.backbone,
            s.seed,
            100.0 * s.clean_accuracy,
            100.0 * s.adversarial_accuracy
        ),
        None => format!("white-box {attack} against each model"),
    }
}

/// The shifts in words (`none` without any).
fn shift_text(report: &Report) -> String {
    let names = shift_names(report);
    if names.is_empty() {
        return "none".into();
    }
    let split = match (report.config.score_split, report.unused_train_images) {
        (super::config::ScoreSplit::Test, 0) => "test",
        (super::config::ScoreSplit::Test, _) => "test-split and unused train-split",
        (super::config::ScoreSplit::Val, _) => "held-out validation",
    };
    names
        .iter()
        .map(|n| super::shifts::describe(n, report.shift_images.get(n).copied().unwrap_or(0), split))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a fit does with the validation images, for report.md's first line: what they decide depends on the schedule.
fn validation_role(c: &crate::classifier::ClassifierConfig) -> &'static str {
    match (c.fixed_steps_per_fit(), c.weights) {
        (None, _) => "early stopping only",
        (Some(_), WeightChoice::Best) => "they pick each phase's best weights, nothing else",
        (Some(_), WeightChoice::Swa | WeightChoice::Last) => "they score the weights each fit returns and pick nothing",
    }
}

/// How a fit's synthetic images are composed, for report.md's first line.
fn mix_text(c: &EvalGainConfig) -> String {
    let all = match c.all_share {
        super::config::AllShare::Equal => "real + all shares it equally between the sets",
        super::config::AllShare::Each => "real + all takes each set's own draw, the images of its real + X",
    };
    match c.classifier.real_share {
        0.0 => all.to_string(),
        share => format!(
            "{all}; at least {:.0}% of every batch are real images (real_share)",
            100.0 * share
        ),
    }
}

/// Which images the accuracies are measured on, for report.md's first line.
fn scored_images_text(report: &Report) -> String {
    let (split, n) = (report.config.score_split, report.test_images);
    match (split, report.unused_train_images) {
        (super::config::ScoreSplit::Val, _) => {
            format!("held-out validation (score_split val: a sweep's numbers, not the verdict) {n} images")
        }
        (super::config::ScoreSplit::Test, 0) => format!("test {n} images"),
        (super::config::ScoreSplit::Test, unused) => format!(
            "test {n} images, and for the clean accuracy also the train split's {unused} images outside the subset \
             ({} in all)",
            n + unused
        ),
    }
}

/// report.md.
pub fn markdown(report: &Report, run_dir: &Path) -> String {
    let c = &report.config;
    let mut out = String::from("# synth eval-gain report\n\n");
    let _ = writeln!(
        out,
        "Real data: **{}**, {} labelled images per class ({} images, subset seed {}), validation {} images ({}), {} \
         (every accuracy below). Classifier: {} (input {} px, {} frozen blocks, {} fine-tuned{}). {} seeds \
         per condition; synthetic:real mix {} ({}).\n",
        report.dataset,
        c.per_class,
        report.real_train_images,
        c.subset_seed,
        report.val_images,
        validation_role(&c.classifier),
        scored_images_text(report),
        c.classifier.backbone,
        c.classifier.input_size,
        c.classifier.freeze_blocks,
        c.classifier.finetune_blocks,
        match c.classifier.finetune_layers {
            0 => String::new(),
            k => format!(", of which only the last {k} layers train"),
        },
        c.seeds,
        c.mix,
        mix_text(c)
    );
    let _ = writeln!(
        out,
        "Accuracies are % on those images, mean over seeds with the 95% Student-t interval, clamped to \
         [0, 100] (with few seeds the t-interval can reach past what an accuracy can be). Gains are in percentage \
         points over `real`, paired by seed, with their 95% interval (not clamped: a gain is a difference) and paired \
         t-test p-value; bold = the interval excludes 0. `real + augment + X` trains on the real subset, the same \
         augment images as `real + augment` and the same X images as `real + X` at each seed; its gain vs \
         `real + augment` is what X adds beyond classic augmentation. The train-images column counts the real and \
         synthetic images each fit used. Robust: {} on {} test images. Shifted (one column each): {}.\n",
        robust_text(report),
        report.robust_images,
        shift_text(report)
    );
    out.push_str(&table(report));
    let _ = writeln!(out, "\n{}.", mde_line(report));
    let _ = writeln!(out, "\n{}", steps_line(report));
    out.push_str("\n![gain](gain.png)\n\n## Reading\n\n");
    out.push_str(&reading(report));
    out.push_str("\n## Sources\n\n");
    for s in &report.sources {
        let _ = writeln!(
            out,
            "- **{}** ({}): {} images in `{}`{}",
            s.name,
            s.kind,
            s.images,
            s.path,
            if s.made_now {
                format!(", made in {:.0} s", s.seconds)
            } else {
                ", reused".into()
            }
        );
        let preview = Path::new(&s.path).join("preview.png");
        if preview.is_file() {
            let rel = relative(&preview, run_dir);
            let _ = writeln!(out, "\n  ![{}]({})\n", s.name, rel);
        }
    }
    let _ = writeln!(
        out,
        "\nFrozen-feature cache: {} images through the frozen backbone prefix, at most {} time(s) each. Total time {:.0} s.",
        report.frozen_passes, report.max_passes_per_image, report.seconds
    );
    out
}

/// Equal footing in one line: the mean gradient steps per fit of each condition, and whether every fit had the same
/// step budget (`equal_steps`) or each its epochs' worth.
pub fn steps_line(report: &Report) -> String {
    let steps: Vec<String> = report
        .conditions
        .iter()
        .map(|c| {
            let mean = c.seeds.iter().map(|s| s.steps as f64).sum::<f64>() / c.seeds.len().max(1) as f64;
            format!("{} {:.0}", c.condition.name, mean)
        })
        .collect();
    let c = &report.config.classifier;
    let budget = if let Some(steps) = c.fixed_steps_per_fit() {
        let kept = match c.weights {
            WeightChoice::Best => "keeping each phase's best weights on the real validation split",
            WeightChoice::Last => "keeping each phase's last weights",
            WeightChoice::Swa => {
                "keeping the average of each phase's weights at its validation points in the phase's second half \
                 (`weights = \"swa\"`)"
            }
        };
        format!(
            "Every fit ran exactly {steps} optimiser steps whatever its number of images (the fixed budgets `steps` \
             and `finetune_steps`), {kept}."
        )
    } else if report.config.equal_steps {
        "Every fit had the step budget of the largest training set (`equal_steps`).".to_string()
    } else {
        "Each fit had its configured epochs, so a larger training set gets more steps; `--equal-steps true` gives \
         every fit the largest set's step budget."
            .to_string()
    };
    format!(
        "Gradient steps per fit (mean over seeds; early stopping on the real validation split ends epoch-based fits \
         early): {}. {budget}",
        steps.join(", ")
    )
}

/// `path` as seen from `from` (both made absolute), for links in the report.
fn relative(path: &Path, from: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, f) = (abs(path), abs(from));
    let pc: Vec<_> = p.components().collect();
    let fc: Vec<_> = f.components().collect();
    let common = pc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    let mut rel = std::path::PathBuf::new();
    for _ in common..fc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}

/// A condition's bar colour: grey the baseline, orange a set alone, green real + augment + X, blue the rest.
fn condition_colour(kind: &ConditionKind) -> RGBColor {
    match kind {
        ConditionKind::Real => RGBColor(120, 120, 120),
        ConditionKind::SyntheticOnly => RGBColor(230, 160, 60),
        ConditionKind::AugmentPlus => RGBColor(60, 150, 110),
        _ => RGBColor(70, 130, 180),
    }
}

/// One condition's mean accuracy as a bar from the axis at `lo`, with its 95% interval as a whisker, at height `y`.
fn interval_bar<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    lo: f64,
    y: f64,
    s: &Summary,
    colour: RGBColor,
) -> std::result::Result<(), String> {
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(lo, y - 0.3), (100.0 * s.mean, y + 0.3)],
            colour.filled(),
        )))
        .map_err(|e| e.to_string())?;
    let (a, b) = ((100.0 * s.ci_low).max(lo), (100.0 * s.ci_high).min(100.0));
    chart
        .draw_series([
            PathElement::new(vec![(a, y), (b, y)], BLACK.stroke_width(2)),
            PathElement::new(vec![(a, y - 0.15), (a, y + 0.15)], BLACK.stroke_width(2)),
            PathElement::new(vec![(b, y - 0.15), (b, y + 0.15)], BLACK.stroke_width(2)),
        ])
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// gain.png: one panel per metric, a horizontal bar per condition at its mean with the 95% interval.
pub fn gain_chart(report: &Report, path: &Path) -> Result<()> {
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    let shifted = shift_names(report).into_iter().map(|n| {
        let values: Vec<Option<&Summary>> = report.conditions.iter().map(|c| c.shifted.get(&n)).collect();
        (format!("shifted: {n} accuracy (%)"), values)
    });
    let panels: Vec<(String, Vec<Option<&Summary>>)> = [
        (
            "clean accuracy (%)".to_string(),
            report.conditions.iter().map(|c| Some(&c.clean)).collect::<Vec<_>>(),
        ),
        (
            "robust accuracy (%)".to_string(),
            report.conditions.iter().map(|c| c.robust.as_ref()).collect(),
        ),
    ]
    .into_iter()
    .chain(shifted)
    .filter(|(_, v)| v.iter().any(Option::is_some))
    .collect();
    let names: Vec<String> = report.conditions.iter().map(|c| c.condition.name.clone()).collect();
    // Room for the longest condition name at the labels' 14 px font (about 8 px a character).
    let label_width = names
        .iter()
        .map(|n| 8 * n.chars().count() as u32 + 16)
        .max()
        .unwrap_or(0)
        .max(150);
    let (w, h) = (
        420 * panels.len() as u32 + label_width + 10,
        60 + 34 * names.len() as u32,
    );
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    let draw_err = |e: String| SynthError::internal(format!("drawing {}: {e}", path.display()));
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        let areas = root.split_evenly((1, panels.len()));
        for (i, (area, (title, values))) in areas.iter().zip(&panels).enumerate() {
            let lo = values.iter().flatten().map(|s| s.ci_low).fold(1.0f64, f64::min);
            let lo = ((lo * 100.0 - 5.0) / 5.0).floor().max(0.0) * 5.0;
            let n = names.len();
            let mut chart = ChartBuilder::on(area)
                .caption(title.as_str(), ("sans-serif", 18))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(if i == 0 { label_width } else { 0 })
                .build_cartesian_2d(lo..100.0f64, 0f64..n as f64)
                .map_err(|e| draw_err(e.to_string()))?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(8)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(|e| draw_err(e.to_string()))?;
            if i == 0 {
                let style = ("sans-serif", 14)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center));
                for (k, name) in names.iter().enumerate() {
                    let (px, py) = chart.backend_coord(&(lo, n as f64 - k as f64 - 0.5));
                    root.draw(&Text::new(name.clone(), (px - 8, py), style.clone()))
                        .map_err(|e| draw_err(e.to_string()))?;
                }
            }
            for (k, s) in values.iter().enumerate() {
                let Some(s) = s else { continue };
                let y = n as f64 - k as f64 - 0.5;
                let colour = condition_colour(&report.conditions[k].condition.kind);
                interval_bar(&mut chart, lo, y, s, colour).map_err(draw_err)?;
            }
            if let Some(base) = values.first().copied().flatten() {
                let x = 100.0 * base.mean;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, 0.0), (x, n as f64)],
                        RED.stroke_width(1),
                    )))
                    .map_err(|e| draw_err(e.to_string()))?;
            }
        }
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    save_rgb_png(buffer, (w, h), path)
}

/// Writes report.json, report.md and gain.png into `dir` (the staging folder of `final_dir`, which report.md's
/// links are relative to).
pub fn write(report: &Report, dir: &Path, final_dir: &Path) -> Result<()> {
    let json = crate::config::pretty_json(report)?;
    let path = dir.join("report.json");
    std::fs::write(&path, json).at(&path, "writing")?;
    gain_chart(report, &dir.join("gain.png"))?;
    let path = dir.join("report.md");
    std::fs::write(&path, markdown(report, final_dir)).at(&path, "writing")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::ClassifierConfig;

    /// report.md's first line must not call the validation images "early stopping only" where they stop nothing.
    #[test]
    fn the_validation_role_follows_the_schedule() {
        let epochs = ClassifierConfig {
            steps: 0,
            finetune_steps: 0,
            ..ClassifierConfig::default()
        };
        assert_eq!(validation_role(&epochs), "early stopping only");
        let budget = |weights| ClassifierConfig {
            steps: 120,
            finetune_steps: 60,
            weights,
            ..ClassifierConfig::default()
        };
        assert!(validation_role(&budget(WeightChoice::Best)).contains("best weights"));
        for weights in [WeightChoice::Swa, WeightChoice::Last] {
            assert!(validation_role(&budget(weights)).contains("pick nothing"));
        }
    }
}
