//! `synth eval-gain` through the real binary: reproducibility on a tiny setting, and the leakage guard.
//!
//! The default run (bundled mnist, 20 per class, 5 seeds, all four sources; about half an hour on 2 cores) is the
//! README's main command; its numbers are in the README.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// report.json without the wall times (the only numbers that may differ between identical runs).
fn report(out: &Path) -> Value {
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for c in r["conditions"].as_array_mut().unwrap() {
        for s in c["seeds"].as_array_mut().unwrap() {
            s.as_object_mut().unwrap().remove("seconds");
        }
    }
    r
}

/// Same seeds, same numbers: two runs (each making its own augment set) give identical report.json results.
#[test]
fn same_seeds_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let only = ["--synthetic-only", "true"];
    let o = tiny_eval_gain(&a, &dir.path().join("cache-a"), &only);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("| real + augment |"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("| digits acc % | digits gain (pp) | mnist-m acc % | mnist-m gain (pp) |"),
        "one column pair per default shift: {}",
        stdout(&o)
    );
    let o = tiny_eval_gain(&b, &dir.path().join("cache-b"), &only);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ra, rb) = (report(&a), report(&b));
    assert_eq!(ra["conditions"], rb["conditions"]);
    // The default pipeline's sets see the subset alone, so the clean accuracy also counts the train split's other
    // images: 3,500 train images less the 50 of the subset, beside the 750 of the test split.
    assert_eq!(
        (ra["test_images"].as_u64(), ra["unused_train_images"].as_u64()),
        (Some(750), Some(3450))
    );
    let md = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(
        md.contains("the train split's 3450 images outside the subset (4200 in all)"),
        "{md}"
    );
    let names: Vec<&str> = ra["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["real", "real + augment", "augment only"]);
    for c in ra["conditions"].as_array().unwrap() {
        assert_eq!(c["seeds"].as_array().unwrap().len(), 2);
        for s in c["seeds"].as_array().unwrap() {
            let clean = s["clean"].as_f64().unwrap();
            assert!(clean > 0.1 && clean <= 1.0, "a trained model beats chance: {s}");
            assert!(s["robust"].as_f64().is_some(), "{s}");
            for shift in ["digits", "mnist-m"] {
                let a = s["shifted"][shift].as_f64().unwrap_or(-1.0);
                assert!((0.0..=1.0).contains(&a), "each default shift is scored: {s}");
            }
        }
    }
    let real_plus = &ra["conditions"][1]["seeds"][0];
    assert_eq!(
        (
            real_plus["real_images"].as_u64(),
            real_plus["synthetic_images"].as_u64()
        ),
        (Some(50), Some(50))
    );
    for f in ["report.md", "gain.png", "config.toml"] {
        assert!(a.join(f).is_file(), "{f} is written");
    }
}

/// The robust column under AutoAttack's APGD part, white-box against each cnn: it runs, the report says which
/// attack made the number, and the effective config records it.
#[test]
fn robust_accuracy_under_auto_white_box_with_the_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("auto");
    let o = tiny_eval_gain(
        &out,
        &dir.path().join("cache"),
        &["--robust-mode", "white-box", "--robust-attack", "auto"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = report(&out);
    for c in r["conditions"].as_array().unwrap() {
        for s in c["seeds"].as_array().unwrap() {
            let (clean, robust) = (s["clean"].as_f64().unwrap(), s["robust"].as_f64().unwrap());
            assert!((0.0..=1.0).contains(&robust) && clean > 0.1, "{s}");
        }
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("white-box auto (apgd-ce, then apgd-t"), "{md}");
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("attack = \"auto\""), "{config}");
}

/// Trains a tiny cnn classifier (for the attacks below).
fn tiny_classifier(out: &Path) {
    let o = synth(&[
        "classifier",
        "train",
        "--backbone",
        "cnn",
        "--per-class",
        "10",
        "--head-epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        out.with_extension("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The leakage guard: a set made from the test split, or from another dataset, is refused before any work.
#[test]
fn leakage_guard_refuses_test_split_and_foreign_sets() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    tiny_classifier(&model);
    let adv = dir.path().join("adv-test");
    let o = synth(&[
        "adversarial",
        "--quiet",
        "--model",
        model.to_str().unwrap(),
        "--split",
        "test",
        "--attack",
        "fgsm",
        "--limit",
        "10",
        "--out",
        adv.to_str().unwrap(),
        "--tb-dir",
        adv.with_extension("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("eval");
    let o = tiny_eval_gain(&out, &dir.path().join("cache"), &["--synthetic", adv.to_str().unwrap()]);
    assert_bad_input(&o, "origin.json: made from the test split");
    assert!(files_below(&out).is_empty(), "nothing is written");

    let digits = dir.path().join("digits-aug");
    let o = synth(&[
        "augment",
        "--quiet",
        "--dataset",
        "digits",
        "--copies",
        "1",
        "--out",
        digits.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tiny_eval_gain(
        &out,
        &dir.path().join("cache"),
        &["--synthetic", digits.to_str().unwrap()],
    );
    assert_bad_input(&o, "made from dataset digits");
}

/// The folder in `cache` whose origin.json records `source` (the default pipeline's cached set of that kind).
fn cached_set(cache: &Path, source: &str) -> std::path::PathBuf {
    files_below(cache)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "origin.json"))
        .find(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains(&format!("\"source\": \"{source}\""))
        })
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("a cached {source} set in {}", cache.display()))
}

/// A set smaller than `--mix` asks for is used as it is, with a one-line warning, and the table's train-images
/// column shows the counts used; given sets are named by their origin.json source kind (a second one of a kind
/// gets `-2`) or by `NAME=DIR`; report.md says accuracy intervals are clamped. Each given set also gets
/// `real + augment + X`, whose gain over `real + augment` the table leads with, and the run states its MDE.
#[test]
fn set_names_mix_shortfall_and_clamped_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // 5 real images per class; the default augment set holds 4 copies of each (20 per class); --mix 5 asks for 25.
    let out = dir.path().join("short");
    let o = tiny_eval_gain(&out, &cache, &["--mix", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let warnings: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(String::from)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&o));
    assert!(
        warnings[0].contains("set augment has fewer images than --mix 5 asks for (25 per class")
            && warnings[0].contains("real + augment trains on 50 + 200, not 50 + 250"),
        "{}",
        warnings[0]
    );
    assert!(stdout(&o).contains("| real + augment | 50 + 200 |"), "{}", stdout(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("clamped to [0, 100]"), "{md}");

    let augment = cached_set(&cache, "augment");
    let out = dir.path().join("named");
    let mine = format!("mine={}", augment.display());
    let o = tiny_eval_gain(
        &out,
        &cache,
        &[
            "--synthetic",
            augment.to_str().unwrap(),
            "--synthetic",
            &mine,
            "--synthetic-only",
            "false",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning:"), "{}", stderr(&o));
    // Given sets may come from generators that saw any train image: the clean accuracy is the test split's alone.
    let (r, config) = (report(&out), std::fs::read_to_string(out.join("config.toml")).unwrap());
    assert_eq!(
        (r["test_images"].as_u64(), r["unused_train_images"].as_u64()),
        (Some(750), Some(0))
    );
    assert!(config.contains("unused_train = false"), "{config}");
    let names: Vec<String> = r["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "real",
            "real + augment",
            "real + augment-2",
            "real + mine",
            "real + augment + augment-2",
            "real + augment + mine",
            "real + all"
        ]
    );
    // What each given set adds beyond the pipeline's augment set: a table column the table leads with, the gain
    // with its half-width in report.json, and the run's MDE per metric.
    let out_text = stdout(&o);
    assert!(
        out_text
            .contains("| condition | train images (real + synthetic) | gain vs real + augment (pp) | clean acc % |"),
        "{out_text}"
    );
    assert!(out_text.contains("| real + augment + mine | 50 + 100 | "), "{out_text}");
    assert!(
        out_text.contains("\nMDE (") && out_text.contains("at 2 seeds"),
        "{out_text}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("gain vs real + augment (pp)") && md.contains("\nMDE ("),
        "{md}"
    );
    assert!(md.contains("**mine beyond classic augmentation**"), "{md}");
    let r = report(&out);
    for c in r["conditions"].as_array().unwrap() {
        let beside = c["name"].as_str().unwrap().starts_with("real + augment + ");
        let vs = &c["gain_clean_vs_augment"];
        assert_eq!(vs.is_object(), beside, "{c}");
        if beside {
            let (low, high, half) = (
                vs["gain"]["ci_low"].as_f64().unwrap(),
                vs["gain"]["ci_high"].as_f64().unwrap(),
                vs["half_width"].as_f64().unwrap(),
            );
            assert!((high - low - 2.0 * half).abs() < 1e-9, "{vs}");
        }
    }
    for mde in [
        &r["mde"]["clean"],
        &r["mde"]["robust"],
        &r["mde"]["shifted"]["digits"],
        &r["mde"]["shifted"]["mnist-m"],
    ] {
        assert_eq!(mde["n"].as_u64(), Some(2), "{mde}");
        assert!(mde["effect"].as_f64().is_some_and(|e| e >= 0.0), "{mde}");
    }
}

/// `--per-class 3,5` runs the data-efficiency curve: a complete report per size, curve.json / curve.md / curve.png
/// beside them, and each size's numbers equal to a run at that size alone (same seeds, generators per size).
#[test]
fn per_class_list_runs_the_curve() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = |out: &Path, sizes: &str| {
        synth(&[
            "eval-gain",
            "--quiet",
            "--backbone",
            "cnn",
            "--per-class",
            sizes,
            "--seeds",
            "2",
            "--sources",
            "augment",
            "--synthetic-only",
            "false",
            "--shift",
            "none",
            "--eps",
            "0",
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--tb-dir",
            out.with_extension("tb").to_str().unwrap(),
        ])
    };
    let curve = dir.path().join("curve");
    let o = run(&curve, "3,5");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3 per class: clean acc %"), "{}", stdout(&o));
    for f in [
        "curve.md",
        "curve.json",
        "curve.png",
        "config.toml",
        "pc3/report.json",
        "pc5/report.md",
    ] {
        assert!(curve.join(f).is_file(), "{f} is written");
    }
    let json: Value = serde_json::from_str(&std::fs::read_to_string(curve.join("curve.json")).unwrap()).unwrap();
    let sizes: Vec<u64> = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["per_class"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [3, 5]);
    let alone = dir.path().join("alone");
    let o = run(&alone, "5");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(report(&curve.join("pc5"))["conditions"], report(&alone)["conditions"]);
    let o = run(&dir.path().join("bad"), "5,3");
    assert_eq!(o.status.code(), Some(2), "decreasing sizes are refused: {}", stderr(&o));
}
