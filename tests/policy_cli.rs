//! `synth policy` through the real binary on a tiny budget: the same seed gives the same search trajectory, and
//! the best policy it writes is accepted by `synth augment --policy` and `synth eval-gain --policy`.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn tiny_search(out: &Path) -> Value {
    let o = synth(&[
        "policy",
        "--quiet",
        "--per-class",
        "5",
        "--budget",
        "4",
        "--search-seeds",
        "2",
        // Classic ops only: the default pipeline's gan and style sets take minutes to make.
        "--sources",
        "none",
        "--child-steps",
        "10",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        out.with_extension("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn same_seed_same_trajectory_and_the_policy_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (tiny_search(&dir.path().join("a")), tiny_search(&dir.path().join("b")));
    assert_eq!(a["episodes"], b["episodes"], "same seeds, same policies and rewards");
    let episodes = a["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 4 * 4, "4 methods x 2 seeds x 2 fits");
    for e in episodes {
        let r = e["reward"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&r), "{e}");
        assert_eq!(e["steps"], 10, "every child takes the step budget: {e}");
    }
    assert!(episodes.iter().any(|e| e["method"] == "trivial"));
    let best = dir.path().join("a/best.toml");
    for f in ["report.md", "curves.png", "config.toml"] {
        assert!(dir.path().join("a").join(f).is_file(), "{f}");
    }

    let aug = dir.path().join("aug");
    let o = synth(&[
        "augment",
        "--quiet",
        "--policy",
        best.to_str().unwrap(),
        "--copies",
        "1",
        "--out",
        aug.to_str().unwrap(),
        "--tb-dir",
        aug.with_extension("tb").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        files_below(&aug)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .count(),
        3500 + 1
    );

    let eval = dir.path().join("eval");
    let o = tiny_eval_gain(
        &eval,
        &dir.path().join("cache"),
        &["--eps", "0", "--shift", "none", "--policy", best.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("| real + policy |"), "{}", stdout(&o));
}
