//! The README and `--help` agree with the code: every `cargo run -- ...` command of the README uses only flags its
//! subcommand's `--help` lists, and the default `--out` that `--help` shows is the folder the code uses.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::*;

/// `synth <path> --help`, whitespace collapsed (clap wraps long help lines).
fn help(path: &[String]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_synth"))
        .args(path)
        .arg("--help")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the synth binary runs");
    assert!(o.status.success(), "synth {} --help: {}", path.join(" "), stderr(&o));
    stdout(&o).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The subcommand names a help text lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Commands: ") else {
        return Vec::new();
    };
    let section = rest.split(" Options: ").next().unwrap_or("");
    // After collapsing, each entry reads `name Description...`; names are the words that `synth <x> --help` knows,
    // so take every lowercase word and let the caller match the README's next word against them.
    section
        .split(' ')
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(String::from)
        .collect()
}

/// Every `cargo run -- ...` command of README.md: lines of code blocks (joined over a trailing `\`) and inline code
/// spans of the prose (which may wrap over lines of a paragraph).
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut commands = Vec::new();
    let mut prose = String::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            prose.push('\n');
            continue;
        }
        if !in_block {
            prose.push_str(line);
            prose.push('\n');
            continue;
        }
        prose.push('\n');
        let joined = format!("{pending}{}", line.trim());
        if let Some(head) = joined.strip_suffix('\\') {
            pending = format!("{head} ");
            continue;
        }
        pending.clear();
        if let Some(at) = joined.find("cargo run -- ") {
            commands.push(joined[at..].to_string());
        }
    }
    for paragraph in prose.split("\n\n") {
        let joined = paragraph.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        for (i, span) in joined.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("cargo run -- ") {
                commands.push(span.to_string());
            }
        }
    }
    commands
}

/// Each README command's flags appear in its subcommand's `--help`, so the README cannot drift from the CLI.
#[test]
fn readme_commands_use_only_flags_their_help_lists() {
    let commands = readme_commands();
    assert!(commands.len() >= 20, "the README's commands are found: {commands:#?}");
    let mut helps: HashMap<Vec<String>, String> = HashMap::new();
    let mut missing = Vec::new();
    for command in &commands {
        let words: Vec<&str> = command["cargo run -- ".len()..].split_whitespace().collect();
        if !words
            .first()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_lowercase()))
        {
            continue; // prose about commands (`cargo run -- ...`), not a command
        }
        // The subcommand path: the first word, then each next word its help lists as a subcommand.
        let mut path = vec![words[0].to_string()];
        for w in &words[1..] {
            if w.starts_with('-') {
                break;
            }
            let h = helps.entry(path.clone()).or_insert_with(|| help(&path));
            if subcommands(h).iter().any(|s| s == w) {
                path.push(w.to_string());
            } else {
                break;
            }
        }
        let h = helps.entry(path.clone()).or_insert_with(|| help(&path)).clone();
        for flag in words.iter().filter(|w| w.starts_with("--") && w.len() > 2) {
            let flag = flag.split('=').next().unwrap_or(flag);
            let listed = h.match_indices(flag).any(|(at, _)| {
                let next = h[at + flag.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !listed {
                missing.push(format!(
                    "{flag} (in `{command}`, not in `synth {} --help`)",
                    path.join(" ")
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README flags that --help does not list:\n{}",
        missing.join("\n")
    );
}

/// The default `--out` that `--help` shows for eval-gain and policy is the folder the code uses: a run from a
/// folder where that default already holds an earlier run is refused naming it (and saying how to go on).
#[test]
fn help_default_out_is_the_folder_the_code_uses() {
    for (command, flags, values) in [
        (
            "eval-gain",
            ["--per-class", "5", "--seeds", "2"],
            [("<dataset>", "mnist"), ("<N>", "5"), ("<K>", "2")],
        ),
        (
            "policy",
            ["--per-class", "5", "--budget", "6"],
            [("<dataset>", "mnist"), ("<N>", "5"), ("<B>", "6")],
        ),
    ] {
        let h = help(&[command.to_string()]);
        let out = h
            .find("--out <OUT>")
            .unwrap_or_else(|| panic!("{command} --help lists --out: {h}"));
        let start = out
            + h[out..]
                .find("[default: ")
                .unwrap_or_else(|| panic!("{command} --help shows a default --out: {h}"))
            + "[default: ".len();
        let template = &h[start..start + h[start..].find(']').unwrap()];
        assert!(
            template.starts_with(&format!("outputs/{command}/")) && template.contains('<'),
            "{command}: the help shows a template, {template}"
        );
        let expected = values.iter().fold(template.to_string(), |t, (k, v)| t.replace(k, v));

        let dir = tempfile::tempdir().unwrap();
        let earlier = dir.path().join(&expected);
        std::fs::create_dir_all(&earlier).unwrap();
        std::fs::write(earlier.join("report.md"), "an earlier run").unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_synth"))
            .arg(command)
            .args(flags)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_bad_input(&o, &format!("{expected} (the default --out) holds an earlier run"));
        assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(earlier.join("report.md")).unwrap(),
            "an earlier run",
            "nothing is replaced"
        );
    }
}

/// The README's sample manifest line is a real line of the set its own augment demo command writes.
#[test]
fn readme_manifest_line_is_what_the_demo_writes() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = text
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("the README shows a manifest line");
    let demo = readme_commands()
        .into_iter()
        .find(|c| c.contains("augment --dataset mnist") && c.contains("--out outputs/augment/demo"))
        .expect("the README's augment demo command");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let mut args: Vec<String> = demo["cargo run -- ".len()..]
        .split_whitespace()
        .map(String::from)
        .collect();
    let at = args.iter().position(|a| a == "--out").unwrap();
    args[at + 1] = out.display().to_string();
    args.extend([
        "--quiet".into(),
        "--tb-dir".into(),
        dir.path().join("tb").display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = synth(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    assert!(
        manifest.lines().any(|l| l == line),
        "the README's line is not in the demo's manifest: {line}"
    );
}
