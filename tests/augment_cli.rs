//! `synth augment` and `synth datasets` driven through the real binary on bundled data.

mod common;

use common::*;

#[test]
fn augment_mnist_writes_copies_times_train_images_with_one_manifest_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let tb = dir.path().join("tb");
    let o = synth(&[
        "augment",
        "--dataset",
        "mnist",
        "--ops",
        "flip-h,rotate:15,translate:3,noise:0.05",
        "--copies",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let train = summary["train_images"].as_u64().unwrap() as usize;
    assert_eq!(train, 3500, "70% of 5,000");
    assert_eq!(summary["images"].as_u64().unwrap() as usize, 4 * train);

    let pngs: Vec<_> = files_below(&out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png") && p.parent() != Some(&out))
        .collect();
    assert_eq!(pngs.len(), 4 * train);
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = manifest.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4 * train);
    let mut paths = std::collections::HashSet::new();
    for line in &lines {
        assert_eq!(line["source"], "augment");
        assert!(line["parent"].as_str().is_some_and(|p| !p.is_empty()));
        assert!(line["params"]["ops"].is_array());
        assert!(
            line["params"]["ops"]
                .as_array()
                .unwrap()
                .iter()
                .any(|op| op["op"] == "rotate" && op["degrees"].is_number())
        );
        assert!(out.join(line["path"].as_str().unwrap()).is_file());
        assert!(
            paths.insert(line["path"].as_str().unwrap().to_string()),
            "paths are unique"
        );
    }
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("split.json")).unwrap()).unwrap();
    let train_ids: std::collections::HashSet<&str> = split["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        lines.iter().all(|l| train_ids.contains(l["parent"].as_str().unwrap())),
        "parents come from the train split only"
    );
    let origin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("origin.json")).unwrap()).unwrap();
    assert_eq!(origin["source_split"], "train");
    assert_eq!(origin["dataset"], "mnist");
    assert!(out.join("config.toml").is_file() && out.join("preview.png").is_file());
    assert!(
        files_below(&tb)
            .iter()
            .any(|p| p.to_string_lossy().contains("tfevents"))
    );

    // The set reads back through the dataset loader with the same count and inspects by source.
    let o = synth(&["datasets", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(report["images"].as_u64().unwrap() as usize, 4 * train);
    assert_eq!(report["sources"]["augment"].as_u64().unwrap() as usize, 4 * train);
    assert_eq!(report["parameters"]["op=rotate"].as_u64().unwrap() as usize, 4 * train);
}

#[test]
fn same_seed_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = synth(&[
            "augment",
            "--dataset",
            "digits",
            "--copies",
            "1",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
            "--tb-dir",
            dir.path().join("tb").join(name).to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
        let first = manifest.lines().next().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        (manifest, std::fs::read(out.join(v["path"].as_str().unwrap())).unwrap())
    };
    let (a, b, c) = (run("a", "7"), run("b", "7"), run("c", "8"));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn datasets_lists_the_bundled_sets() {
    let o = synth(&["datasets"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("mnist") && text.contains("5000") && text.contains("28x28x1"),
        "{text}"
    );
    assert!(
        text.contains("digits") && text.contains("1797") && text.contains("8x8x1"),
        "{text}"
    );
}

#[test]
fn help_names_every_default() {
    let o = synth(&["augment", "--help"]);
    let text = stdout(&o);
    for needle in [
        "[default: 4]",
        "[default: mnist]",
        "[default: rotate:15,translate:3,scale:0.1,noise:0.05]",
        "--force",
        "--quiet",
        "--json",
    ] {
        assert!(text.contains(needle), "help lacks {needle}");
    }
}

/// `--preset trivial` (TrivialAugment): every copy records exactly one op, drawn from the search space's ops.
#[test]
fn augment_preset_trivial_applies_one_op_per_copy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trivial");
    let o = synth(&[
        "augment",
        "--preset",
        "trivial",
        "--copies",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        dir.path().join("tb").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let mut ops = std::collections::BTreeSet::new();
    for line in manifest.lines() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let applied = line["params"]["ops"].as_array().unwrap();
        assert_eq!(applied.len(), 1, "one op per copy: {line}");
        ops.insert(applied[0]["op"].as_str().unwrap().to_string());
    }
    assert_eq!(ops.len(), 7, "all seven ops are drawn over 3,500 copies: {ops:?}");
    let o = synth(&[
        "augment",
        "--preset",
        "auto",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
