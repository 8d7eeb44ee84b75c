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

/// On-the-fly augmentation (`--augment`) is seeded: the same command twice trains the same weights.
#[test]
fn on_the_fly_augmentation_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<serde_json::Value> = ["a", "b"]
        .iter()
        .map(|name| train(&dir.path().join(name), &["--augment", "rotate:15,translate:2"]))
        .collect();
    assert_eq!(runs[0]["test_accuracy"], runs[1]["test_accuracy"]);
    let weights = |name: &str| safetensors_tensors(&dir.path().join(name).join("model.safetensors"));
    assert_eq!(weights("a"), weights("b"), "bit-identical weights");
    let config: toml::Table = std::fs::read_to_string(dir.path().join("a/config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        config["augment"],
        toml::Value::from(vec!["rotate:15", "translate:2"]),
        "{config}"
    );
}

/// Each tensor's name and raw bytes in a safetensors file (its header's metadata map is written in no fixed order).
fn safetensors_tensors(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .map(|(name, info)| {
            let range = &info["data_offsets"];
            let (a, b) = (range[0].as_u64().unwrap() as usize, range[1].as_u64().unwrap() as usize);
            (name.clone(), data[a..b].to_vec())
        })
        .collect()
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
