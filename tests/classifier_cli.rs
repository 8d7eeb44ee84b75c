//! `synth classifier train` / `eval` through the real binary on bundled MNIST (small, fast settings).

mod common;

use common::*;

fn train(out: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let tb = out.with_extension("tb");
    let mut args = vec![
        "classifier",
        "train",
        "--backbone",
        "cnn",
        "--per-class",
        "30",
        "--head-epochs",
        "3",
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(&["--out", out.to_str().unwrap(), "--tb-dir", tb.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let o = synth(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

#[test]
fn eval_of_a_saved_model_reproduces_the_training_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    let summary = train(&out, &[]);
    for file in [
        "model.bpk",
        "classifier.json",
        "model.safetensors",
        "split.json",
        "config.toml",
        "fit.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let o = synth(&["classifier", "eval", "--model", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(eval["accuracy"], summary["test_accuracy"], "bit-identical accuracy");
    assert_eq!(eval["images"], 750);
    assert!(out.join("confusion-test.png").is_file());
    assert!(
        summary["test_accuracy"].as_f64().unwrap() > 0.5,
        "30 images per class learn something: {summary}"
    );
}

#[test]
fn eval_refuses_a_dataset_with_other_classes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    train(&out, &[]);
    let data = dir.path().join("ab");
    for k in 0..6 {
        write_png(&data.join(format!("a/{k}.png")), 28, 28, 10);
        write_png(&data.join(format!("b/{k}.png")), 28, 28, 200);
    }
    let o = synth(&[
        "classifier",
        "eval",
        "--model",
        out.to_str().unwrap(),
        "--dataset",
        data.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "trained on classes");
}

#[test]
fn bad_backbone_and_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = synth(&[
        "classifier",
        "train",
        "--backbone",
        "resnet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = synth(&[
        "classifier",
        "train",
        "--backbone-weights",
        "no/such.safetensors",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_bad_input(&o, "no such file");
    assert!(files_below(dir.path()).is_empty(), "nothing written");
}
