//! `synth classifier train --backbone vgg19|resnet50` through the real binary, on the reduced-width torchvision
//! fixtures of tests/fixtures/make_backbone_fixtures.py (random weights: the accuracy means nothing; what is checked
//! is that the two-phase fit runs end to end and leaves the frozen blocks bit-identical).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::ModuleSnapshot;
use common::*;
use synth::classifier::{Backbone, Checkpoint, ResNet};

/// tests/fixtures/`name` gunzipped into `dir`.
fn unpack(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let out = dir.join(name.trim_end_matches(".gz"));
    let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap());
    std::io::copy(&mut gz, &mut std::fs::File::create(&out).unwrap()).unwrap();
    out
}

/// Every tensor of a module (parameters and batch-norm statistics), by path, as raw bytes.
fn tensors(m: &ResNet) -> BTreeMap<String, Vec<u8>> {
    m.collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect()
}

/// ResNet-50 trains end to end on bundled mnist (head, then layer4 fine-tuned): the stem and layer1..3 (frozen,
/// cached) stay bit-identical to the weight file, every batch-norm statistic is unchanged (batch norm runs in
/// inference mode), and layer4's convs do change.
#[test]
fn resnet50_trains_with_frozen_blocks_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let weights = unpack("resnet50_w8_random.pth.gz", dir.path());
    let out = dir.path().join("run");
    let tb = dir.path().join("tb");
    let o = synth(&[
        "classifier",
        "train",
        "--dataset",
        "mnist",
        "--backbone",
        "resnet50",
        "--backbone-weights",
        weights.to_str().unwrap(),
        "--per-class",
        "10",
        "--input-size",
        "32",
        "--head-epochs",
        "2",
        "--finetune-epochs",
        "2",
        "--min-steps",
        "0",
        "--json",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["backbone"], "resnet50");
    assert_eq!(summary["fit"]["cache_block"], 4, "{summary}");
    let history = summary["fit"]["history"].as_array().unwrap();
    assert!(
        history.iter().any(|e| e["phase"] == 1) && history.iter().any(|e| e["phase"] == 2),
        "{summary}"
    );
    assert!(history.iter().all(|e| e["train_loss"].as_f64().unwrap().is_finite()));
    eprintln!("resnet50 fixture on mnist: {summary}");

    let device = synth::backend::device();
    let (_, trained) = Checkpoint::load(&out, &device).unwrap();
    let Backbone::Resnet50(after) = &trained.backbone else {
        panic!("a resnet50 checkpoint")
    };
    let (before, after) = (tensors(&ResNet::load(&weights, &device).unwrap()), tensors(after));
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    let mut changed = Vec::new();
    for (name, bytes) in &before {
        let frozen = !name.starts_with("layer4.") || name.contains("running_");
        if frozen {
            assert!(after[name] == *bytes, "{name} is frozen and must stay bit-identical");
        } else if after[name] != *bytes {
            changed.push(name.clone());
        }
    }
    assert!(
        changed.iter().any(|n| n.ends_with("conv2.weight")),
        "layer4 is fine-tuned: {changed:?}"
    );
    // The export carries torchvision's own key names.
    let keys = burn::store::ModuleStore::keys(&mut burn::store::SafetensorsStore::from_file(
        out.join("model.safetensors"),
    ))
    .unwrap();
    for key in [
        "conv1.weight",
        "bn1.running_var",
        "layer4.0.downsample.0.weight",
        "layer4.0.downsample.1.bias",
        "head.output.weight",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }
}

/// VGG19 trains end to end from its torchvision-layout fixture, and its run folder scores the same test accuracy
/// after the weight file is gone.
#[test]
fn vgg19_trains_from_a_torchvision_file() {
    let dir = tempfile::tempdir().unwrap();
    let weights = unpack("vgg19_w8_random.pth.gz", dir.path());
    let out = dir.path().join("run");
    let tb = dir.path().join("tb");
    let o = synth(&[
        "classifier",
        "train",
        "--backbone",
        "vgg19",
        "--backbone-weights",
        weights.to_str().unwrap(),
        "--per-class",
        "10",
        "--input-size",
        "32",
        "--head-epochs",
        "1",
        "--finetune-epochs",
        "1",
        "--min-steps",
        "0",
        "--json",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["backbone"], "vgg19");
    let keys = burn::store::ModuleStore::keys(&mut burn::store::SafetensorsStore::from_file(
        out.join("model.safetensors"),
    ))
    .unwrap();
    assert!(keys.iter().any(|k| k == "features.34.weight"), "{keys:?}");
    // The run folder is self-contained: it loads after the weight file it was trained from is gone.
    std::fs::remove_file(&weights).unwrap();
    let o = synth(&["classifier", "eval", "--model", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        eval["accuracy"], summary["test_accuracy"],
        "the saved model scores what training reported"
    );
}

/// Without a weight file, vgg19 and resnet50 say where torchvision keeps theirs and exit 2; nothing is downloaded
/// or written. A wrong-shaped file is refused naming the tensor.
#[test]
fn missing_or_bad_weights_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let tb = dir.path().join("tb");
    for (backbone, url) in [
        ("resnet50", "https://download.pytorch.org/models/resnet50-0676ba61.pth"),
        ("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
    ] {
        let o = synth(&[
            "classifier",
            "train",
            "--backbone",
            backbone,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_bad_input(&o, "needs --backbone-weights FILE");
        assert!(stderr(&o).contains(url), "{}", stderr(&o));
    }
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet50_wrong_shape.pth");
    let o = synth(&[
        "classifier",
        "train",
        "--backbone",
        "resnet50",
        "--backbone-weights",
        bad.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "tensor layer3.1.conv2.weight has shape [32, 32, 1, 1]");
    assert!(!out.exists(), "no run folder");
}
