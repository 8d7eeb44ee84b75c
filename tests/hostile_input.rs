//! Crafted and careless inputs against the real binary: every one ends with exit 2 and one line, no panic, nothing
//! written outside the temp dir, and no staging folder or lock left behind. Plus the fault-injection cases: a
//! writer killed mid-run, one that dies between the two renames of a replacement, and Ctrl-C.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// Every path below `dir`, folders included.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.insert(p.clone());
            if p.is_dir() && !p.is_symlink() {
                out.extend(tree(&p));
            }
        }
    }
    out
}

/// Runs synth on a crafted input in `tmp` and checks the bad-input contract: exit 2, one line naming `needle`, and
/// the temp tree exactly as before (nothing written, no staging or lock left) — and nothing outside it either,
/// since every escape route a test builds points into its own `escape` folder under the same temp dir.
fn refused(tmp: &Path, args: &[&str], needle: &str) {
    let before = tree(tmp);
    let o = synth(args);
    assert_bad_input(&o, needle);
    let after = tree(tmp);
    assert_eq!(
        before,
        after,
        "the temp tree changed: {:?}",
        after.symmetric_difference(&before)
    );
}

/// Runs each `(args, needle)` case with `--quiet --out <t>/out --tb-dir <t>/tb` appended, through [`refused`].
fn refused_cases(t: &Path, cases: Vec<(Vec<&str>, &str)>) {
    let (out, tb) = (t.join("out"), t.join("tb"));
    for (mut args, needle) in cases {
        args.extend(["--quiet", "--out", s(&out), "--tb-dir", s(&tb)]);
        refused(t, &args, needle);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An expanded dataset at `root` whose manifest lines are `lines` (JSON objects), with two real PNGs in a/ and b/.
fn crafted_set(root: &Path, lines: &[String]) {
    write_png(&root.join("a/1.png"), 8, 8, 10);
    write_png(&root.join("b/1.png"), 8, 8, 200);
    std::fs::write(root.join("manifest.jsonl"), lines.join("\n")).unwrap();
}

fn line(path: &str, label: usize, class: &str) -> String {
    serde_json::json!({"path": path, "label": label, "class": class, "source": "augment", "params": {}, "seed": 0})
        .to_string()
}

fn augment(data: &Path, out: &Path) -> Vec<String> {
    [
        "augment",
        "--quiet",
        "--dataset",
        s(data),
        "--out",
        s(out),
        "--tb-dir",
        s(&out.with_extension("tb")),
    ]
    .map(String::from)
    .to_vec()
}

fn refused_augment(tmp: &Path, data: &Path, extra: &[&str], needle: &str) {
    let out = tmp.join("out");
    let mut args = augment(data, &out);
    args.extend(extra.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(tmp, &refs, needle);
}

#[test]
fn class_names_that_leave_the_output_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir_all(t.join("escape")).unwrap();
    let data = t.join("manifest-class");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("b/1.png", 1, "../../escape/X")]);
    refused_augment(t, &data, &[], "class name");

    let data = t.join("absolute-class");
    crafted_set(
        &data,
        &[line("a/1.png", 0, "a"), line("b/1.png", 1, s(&t.join("escape/abs")))],
    );
    refused_augment(t, &data, &[], "class name");

    // origin.json supplies the class names when present.
    let data = t.join("origin-class");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("b/1.png", 1, "b")]);
    let origin = serde_json::json!({"dataset": "x", "classes": ["a", "../escape"], "source_split": "train",
        "split_file": "split.json", "split_seed": 0, "source": "augment", "command": [], "config": null,
        "synth_version": "0"});
    std::fs::write(data.join("origin.json"), origin.to_string()).unwrap();
    refused_augment(t, &data, &[], "class name");

    // CIFAR-10 class names come from batches.meta.txt.
    let cifar = t.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    let mut bytes = Vec::new();
    for k in 0..4u8 {
        bytes.push(k % 2);
        bytes.extend(std::iter::repeat_n(k * 40, 3072));
    }
    std::fs::write(cifar.join("data_batch_1.bin"), &bytes).unwrap();
    std::fs::write(cifar.join("batches.meta.txt"), "plane\n../../escape/car\n").unwrap();
    refused_augment(t, &cifar, &[], "class name");
    assert!(tree(&t.join("escape")).is_empty(), "nothing was written outside --out");
}

#[test]
fn manifest_paths_that_leave_the_dataset_root_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    write_png(&t.join("outside/secret.png"), 8, 8, 99);
    std::fs::write(t.join("outside/secret.txt"), "not an image").unwrap();
    for (name, path) in [
        ("dotdot", "../outside/secret.png".to_string()),
        ("dotdot-txt", "../outside/secret.txt".to_string()),
        ("absolute", s(&t.join("outside/secret.png")).to_string()),
    ] {
        let data = t.join(name);
        crafted_set(&data, &[line("a/1.png", 0, "a"), line(&path, 1, "b")]);
        refused_augment(t, &data, &[], "leaves the dataset root");
    }
    // A symlink inside the root that points out of it.
    let data = t.join("symlink");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("b/link.png", 1, "b")]);
    std::os::unix::fs::symlink(t.join("outside/secret.png"), data.join("b/link.png")).unwrap();
    refused_augment(t, &data, &[], "resolves outside the dataset root");
    // A symlinked folder inside the root that leads out of it.
    let data = t.join("symlinked-folder");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("c/secret.png", 1, "b")]);
    std::os::unix::fs::symlink(t.join("outside"), data.join("c")).unwrap();
    refused_augment(t, &data, &[], "resolves outside the dataset root");
}

fn idx(dims: &[u32], magic: u32, payload: usize) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, payload));
    b
}

#[test]
fn headers_and_labels_that_would_overflow_or_over_allocate_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // 2^31 x 2^31 x 4 bytes overflows u64.
    let images = t.join("big-images-idx3-ubyte");
    std::fs::write(&images, idx(&[1 << 31, 1 << 31, 4], 0x803, 64)).unwrap();
    std::fs::write(t.join("big-labels-idx1-ubyte"), idx(&[1], 0x801, 1)).unwrap();
    refused_augment(t, &images, &[], "overflow");
    // 0x0 images.
    let images = t.join("empty-images-idx3-ubyte");
    std::fs::write(&images, idx(&[5, 0, 0], 0x803, 0)).unwrap();
    std::fs::write(t.join("empty-labels-idx1-ubyte"), idx(&[5], 0x801, 5)).unwrap();
    refused_augment(t, &images, &[], "0x0 pixels");
    // CSV labels far beyond any sane class count.
    for label in ["100000", "4000000000", "18446744073709551615"] {
        let csv = t.join(format!("labels-{label}.csv"));
        std::fs::write(&csv, format!("0,0,0,0,0\n0,0,0,0,{label}\n")).unwrap();
        refused_augment(t, &csv, &[], label);
    }
    // A manifest label beyond the limit.
    let data = t.join("manifest-label");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("b/1.png", 4_000_000_000, "b")]);
    refused_augment(t, &data, &[], "above the limit");
    // A PNG whose header promises 100000 x 100000 pixels is refused before decoding.
    let data = t.join("huge-png");
    write_png(&data.join("a/1.png"), 8, 8, 10);
    let mut png = std::fs::read(data.join("a/1.png")).unwrap();
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    std::fs::create_dir_all(data.join("b")).unwrap();
    std::fs::write(data.join("b/2.png"), &png).unwrap();
    refused_augment(t, &data, &[], "2.png");
}

#[test]
fn size_count_and_float_flags_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["augment", "--resize", "100000"], "--resize"),
        (vec!["augment", "--ops", "translate:2147483647"], "at most 2048"),
        (vec!["augment", "--copies", "18446744073709551615"], "copies"),
        (vec!["augment", "--val", "nan"], "split fractions"),
        (vec!["classifier", "train", "--input-size", "100000"], "input_size"),
        (vec!["classifier", "train", "--head-lr", "inf"], "head_lr"),
        (vec!["classifier", "train", "--cnn-lr", "0"], "cnn_lr"),
        (vec!["classifier", "train", "--cnn-hidden", "0"], "cnn_hidden"),
        (vec!["classifier", "train", "--cnn-hidden", "100000"], "cnn_hidden"),
        (vec!["gan", "--epochs", "18446744073709551615"], "epochs"),
        (vec!["gan", "--per-class", "100000000"], "per_class"),
        (
            vec!["style", "--content", "mnist", "--style", "styles", "--size", "100000"],
            "size 100000",
        ),
        (
            vec![
                "style",
                "--content",
                "mnist",
                "--style",
                "styles",
                "--dataset-size",
                "100000",
            ],
            "dataset_size",
        ),
        (vec!["eval-gain", "--eps", "nan"], "eps"),
        (vec!["eval-gain", "--eps", "-1"], "eps"),
        (vec!["eval-gain", "--seeds", "100000"], "seeds"),
        (vec!["eval-gain", "--mix", "1e9"], "mix"),
        (vec!["policy", "--minutes", "-1"], "minutes"),
        (vec!["policy", "--minutes", "nan"], "minutes"),
        (vec!["adversarial", "--norm", "l2", "--eps", "1e9"], "eps"),
        (vec!["adversarial", "--steps", "18446744073709551615"], "steps"),
    ];
    refused_cases(t, cases);
    // clap's own refusal of an unknown flag: exit 2 and no panic (a usage block follows the error line).
    let o = synth(&["classifier", "train", "--epochs-that-do-not-exist"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn empty_splits_and_single_class_data_are_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Two images per class with val 0.3 and test 0.3 leave no train image.
    let two = t.join("two-per-class");
    for c in ["a", "b"] {
        for i in 0..2 {
            write_png(&two.join(format!("{c}/{i}.png")), 8, 8, 50 * i as u8);
        }
    }
    let one_class = t.join("one-class");
    for i in 0..6 {
        write_png(&one_class.join(format!("only/{i}.png")), 8, 8, 40 * i as u8);
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["augment", "--dataset", s(&two), "--val", "0.3", "--test", "0.3"],
            "train split",
        ),
        (
            vec!["classifier", "train", "--backbone", "cnn", "--val", "0", "--test", "0"],
            "--val",
        ),
        (
            vec![
                "classifier",
                "train",
                "--backbone",
                "cnn",
                "--val",
                "0.1",
                "--test",
                "0",
            ],
            "--test",
        ),
        (vec!["adversarial", "--val", "0", "--test", "0"], "--val"),
        (vec!["policy", "--val", "0", "--test", "0.1"], "val"),
        (
            vec!["classifier", "train", "--backbone", "cnn", "--dataset", s(&one_class)],
            "at least two",
        ),
    ];
    refused_cases(t, cases);
}

#[test]
fn corrupt_origin_and_busy_or_unwritable_out_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("corrupt-origin");
    crafted_set(&data, &[line("a/1.png", 0, "a"), line("b/1.png", 1, "b")]);
    std::fs::write(data.join("origin.json"), "{ not json").unwrap();
    refused_augment(t, &data, &[], "origin.json");

    // --out under a regular file cannot be created: found before any work.
    std::fs::write(t.join("file"), "x").unwrap();
    let out = t.join("file/out");
    let args = augment(Path::new("mnist"), &out);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(t, &refs, "creating");

    // A live lock (this test process holds it) makes a second run exit 2 naming the pid.
    let out = t.join("busy");
    std::fs::write(t.join(".busy.lock"), std::process::id().to_string()).unwrap();
    let args = augment(Path::new("digits"), &out);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(t, &refs, &format!("in use by pid {}", std::process::id()));
}

/// The files of an expanded dataset with their bytes, except origin.json (it records the command line, whose --out
/// differs between the runs compared).
fn set_bytes(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = files_below(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "origin.json"))
        .map(|p| (p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// `synth augment --force` of `dataset` with `copies` copies into `out`, output captured.
fn augment_cmd(out: &Path, dataset: &str, copies: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_synth"));
    c.args([
        "augment",
        "--quiet",
        "--dataset",
        dataset,
        "--copies",
        copies,
        "--force",
    ])
    .args(["--out", s(out), "--tb-dir", s(&out.with_extension("tb"))])
    .args(extra)
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

fn digits_augment(out: &Path, extra: &[&str]) -> Command {
    augment_cmd(out, "digits", "3", extra)
}

/// Hidden entries (staging folders, locks, `.old` copies) directly in `dir`.
fn hidden_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect()
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

#[test]
fn a_death_between_the_two_renames_is_recovered_and_the_rerun_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let reference = t.join("reference");
    assert!(run(&mut digits_augment(&reference, &[])).status.success());

    let out = t.join("out");
    assert!(run(&mut digits_augment(&out, &["--seed", "5"])).status.success());
    // The replacement dies after moving the old set aside and before moving the new one in.
    let o = run(digits_augment(&out, &[]).env("SYNTH_FAULT", "between-renames"));
    assert!(!o.status.success(), "the fault hook aborts");
    assert!(
        !out.exists() && t.join(".out.old").is_dir(),
        "the state a death there leaves"
    );
    // The next run restores the old set, says so, and replaces it as asked.
    let o = run(&mut digits_augment(&out, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("restored"), "{}", stderr(&o));
    assert_eq!(set_bytes(&out), set_bytes(&reference));
    assert!(
        hidden_in(t).is_empty(),
        "no staging, lock or old folder left: {:?}",
        hidden_in(t)
    );
}

#[test]
fn a_killed_writer_is_cleaned_by_the_next_run_which_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let reference = t.join("reference");
    assert!(run(&mut digits_augment(&reference, &[])).status.success());
    let out = t.join("out");
    // SIGKILL mid-run (mnist x 8 copies takes several seconds): staging and lock stay, --out never appears.
    let mut child = augment_cmd(&out, "mnist", "8", &[]).spawn().unwrap();
    wait_for(&t.join(".out.partial"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "a killed run leaves --out untouched");
    assert!(t.join(".out.partial").exists() && t.join(".out.lock").exists());
    let o = run(&mut digits_augment(&out, &[]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("removed the stale lock"), "{}", stderr(&o));
    assert_eq!(set_bytes(&out), set_bytes(&reference));
    assert!(!t.join(".out.partial").exists() && !t.join(".out.lock").exists());
}

#[test]
fn ctrl_c_removes_the_staging_folder_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("out");
    let mut child = augment_cmd(&out, "mnist", "8", &[]).spawn().unwrap();
    wait_for(&t.join(".out.partial"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!out.exists() && !t.join(".out.partial").exists() && !t.join(".out.lock").exists());
}

/// Waits (up to a minute) until `path` exists: the child has claimed its output and started writing.
fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{} never appeared", path.display());
}
