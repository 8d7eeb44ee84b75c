//! Every bad input gives one line on stderr, exit code 2, no panic, and nothing in --out.

mod common;

use std::path::Path;

use common::*;

fn augment_into(out: &Path, extra: &[&str]) -> std::process::Output {
    let tb = out.with_extension("tb");
    let mut args = vec![
        "augment",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tb-dir",
        tb.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = synth(&args);
    if !o.status.success() {
        assert!(!tb.exists(), "no TensorBoard log for a failed run");
    }
    o
}

fn assert_nothing_written(dir: &Path) {
    let left = files_below(dir);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn missing_dataset_path() {
    let dir = tempfile::tempdir().unwrap();
    let o = augment_into(&dir.path().join("out"), &["--dataset", "no/such/folder"]);
    assert_bad_input(&o, "no such file or folder");
    assert_nothing_written(dir.path());
}

#[test]
fn truncated_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_png(&data.join("a/1.png"), 8, 8, 10);
    write_png(&data.join("b/1.png"), 8, 8, 200);
    let bytes = std::fs::read(data.join("b/1.png")).unwrap();
    std::fs::write(data.join("b/2.png"), &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let o = augment_into(&out, &["--dataset", data.to_str().unwrap()]);
    assert_bad_input(&o, "2.png");
    assert_nothing_written(&out);
}

#[test]
fn unreadable_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_png(&data.join("a/1.png"), 8, 8, 10);
    std::fs::write(data.join("a/2.png"), b"this is not a png").unwrap();
    let out = dir.path().join("out");
    assert_bad_input(&augment_into(&out, &["--dataset", data.to_str().unwrap()]), "2.png");
    assert_nothing_written(&out);
}

#[test]
fn empty_class_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_png(&data.join("a/1.png"), 8, 8, 10);
    std::fs::create_dir_all(data.join("b")).unwrap();
    let out = dir.path().join("out");
    assert_bad_input(
        &augment_into(&out, &["--dataset", data.to_str().unwrap()]),
        "class folder 'b' has no",
    );
    assert_nothing_written(&out);
}

#[test]
fn mixed_sizes_need_a_resize_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for k in 0..4 {
        write_png(&data.join(format!("a/{k}.png")), 8, 8, 10);
        write_png(&data.join(format!("b/{k}.png")), 12, 10, 200);
    }
    let out = dir.path().join("out");
    assert_bad_input(
        &augment_into(&out, &["--dataset", data.to_str().unwrap()]),
        "mixed image sizes",
    );
    assert_nothing_written(&out);
    // With a policy the same data works.
    let o = augment_into(
        &out,
        &[
            "--dataset",
            data.to_str().unwrap(),
            "--resize",
            "8",
            "--copies",
            "1",
            "--val",
            "0",
            "--test",
            "0.25",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("manifest.jsonl"))
            .unwrap()
            .lines()
            .count(),
        6
    );
    let o = synth(&["datasets", out.to_str().unwrap(), "--json"]);
    assert!(stdout(&o).contains("\"size\":\"8x8x1\""), "{}", stdout(&o));
}

#[test]
fn unknown_op() {
    let dir = tempfile::tempdir().unwrap();
    assert_bad_input(
        &augment_into(&dir.path().join("out"), &["--ops", "rotate:10,blur:3"]),
        "unknown op",
    );
    assert_nothing_written(dir.path());
}

#[test]
fn bad_op_parameter() {
    let dir = tempfile::tempdir().unwrap();
    for (ops, needle) in [
        ("rotate:ten", "not a number"),
        ("noise:-0.1", ">= 0"),
        ("flip-h@1.5", "probability"),
    ] {
        assert_bad_input(&augment_into(&dir.path().join("out"), &["--ops", ops]), needle);
    }
    assert_nothing_written(dir.path());
}

#[test]
fn non_empty_out_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("precious.txt"), "keep me").unwrap();
    assert_bad_input(&augment_into(&out, &["--dataset", "digits"]), "--force");
    assert_eq!(
        files_below(&out),
        vec![out.join("precious.txt")],
        "the folder is untouched"
    );
}

#[test]
fn bad_flag_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_bad_input(&augment_into(&out, &["--copies", "0"]), "copies must be at least 1");
    assert_bad_input(&augment_into(&out, &["--resize", "huge"]), "--resize");
    assert_bad_input(
        &augment_into(&out, &["--val", "0.7", "--test", "0.5"]),
        "split fractions",
    );
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "copies = \"many\"\n").unwrap();
    assert_bad_input(&augment_into(&out, &["--config", config.to_str().unwrap()]), "bad.toml");
    assert_eq!(files_below(dir.path()), vec![config]);
}
