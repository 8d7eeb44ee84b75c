//! The one leakage guard at every entry point that trains on an expanded dataset: a set made from the same dataset
//! under another split seed has train images that are this split's validation or test images, so classifier
//! `--extra`, eval-gain `--synthetic` and policy `--synthetic` each refuse it before any work.

mod common;

use std::path::Path;

use common::*;

/// An augment set of bundled digits made under split seed 1 (the entry points below use the default seed 0).
fn set_under_split_seed_1(dir: &Path) -> std::path::PathBuf {
    let set = dir.join("seed1-set");
    let o = synth(&[
        "augment",
        "--quiet",
        "--dataset",
        "digits",
        "--split-seed",
        "1",
        "--copies",
        "1",
        "--out",
        set.to_str().unwrap(),
        "--tb-dir",
        dir.join("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    set
}

#[test]
fn every_entry_point_refuses_a_set_made_under_another_split_seed() {
    let dir = tempfile::tempdir().unwrap();
    let set = set_under_split_seed_1(dir.path());
    let set = set.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let tb = dir.path().join("tb2");
    let tb = tb.to_str().unwrap();
    let cache = dir.path().join("cache");
    let cases: [Vec<&str>; 3] = [
        vec![
            "classifier",
            "train",
            "--dataset",
            "digits",
            "--backbone",
            "cnn",
            "--extra",
            set,
        ],
        vec![
            "eval-gain",
            "--dataset",
            "digits",
            "--backbone",
            "cnn",
            "--shift",
            "none",
            "--synthetic",
            set,
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        vec!["policy", "--dataset", "digits", "--synthetic", set],
    ];
    for mut args in cases {
        args.extend(["--quiet", "--out", out, "--tb-dir", tb]);
        let o = synth(&args);
        assert_bad_input(&o, "made under another split");
        assert!(!Path::new(out).exists(), "{args:?} wrote --out");
    }
}
