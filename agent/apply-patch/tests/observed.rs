//! Replays every case recorded from upstream Codex 0.169.0 (`tests/observed/cases/`) through the engine: the
//! model-visible output, the `file_change` item and the resulting files must be what upstream produced, except
//! where a case's `engine` entry records a deliberate difference.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rcodex_apply_patch::{
    ApplyError, BARE_PATCH_ERROR, FileChange, ReadOnly, ShellPatch, Unrestricted, WritableRoots, WritePolicy,
    apply_patch, shell_patch,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    sandbox: String,
    #[serde(default)]
    workspace: Tree,
    #[serde(default)]
    dirs: Vec<String>,
    #[serde(default)]
    symlinks: BTreeMap<String, String>,
    #[serde(default)]
    outside: Tree,
    call: Call,
    output: String,
    file_change: Option<FileChangeItem>,
    workspace_after: Tree,
    #[serde(default)]
    outside_after: Tree,
    #[serde(default)]
    engine: Engine,
}

type Tree = BTreeMap<String, Entry>;

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged, deny_unknown_fields)]
enum Entry {
    Text(String),
    Bytes { bytes: Vec<u8> },
    Symlink { symlink: String },
    EmptyDir { dir: bool },
}

#[derive(Deserialize)]
struct Call {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    input: Option<String>,
    arguments: Option<serde_json::Value>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct FileChangeItem {
    changes: Vec<ChangeItem>,
    status: String,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct ChangeItem {
    path: String,
    kind: String,
}

/// Where and why the engine is not run as upstream's apply_patch tool was, or ends differently.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Engine {
    /// Not an engine case at all: the call never reaches apply_patch.
    skip: Option<String>,
    why: Option<String>,
    /// The patch, when the call carried it inside something else (an `exec_command` heredoc).
    input: Option<String>,
    /// The directory the patch applies in, relative to the workspace.
    cwd: Option<String>,
    /// What the carrying tool puts before the engine's output.
    output_prefix: Option<String>,
    workspace_after: Option<Tree>,
    outside_after: Option<Tree>,
}

struct Sandbox {
    workspace: PathBuf,
    outside: PathBuf,
    _root: tempfile::TempDir,
}

impl Sandbox {
    fn new(case: &Case) -> Self {
        let root = tempfile::tempdir().unwrap();
        let (workspace, outside) = (root.path().join("ws"), root.path().join("outside"));
        fs::create_dir(&workspace).unwrap();
        fs::create_dir(&outside).unwrap();
        write_tree(&workspace, &case.workspace);
        for dir in &case.dirs {
            fs::create_dir_all(workspace.join(dir)).unwrap();
        }
        for (link, target) in &case.symlinks {
            std::os::unix::fs::symlink(target, workspace.join(link)).unwrap();
        }
        write_tree(&outside, &case.outside);
        Sandbox { workspace, outside, _root: root }
    }

    fn place(&self, text: &str) -> String {
        text.replace("{WS}", self.workspace.to_str().unwrap()).replace("{OUT}", self.outside.to_str().unwrap())
    }

    fn policy(&self, sandbox: &str) -> Box<dyn WritePolicy> {
        match sandbox {
            // Every test directory is in the temporary directory, writable under workspace-write unless excluded.
            "workspace-write" => Box::new(WritableRoots::new([self.workspace.clone(), std::env::temp_dir()])),
            "workspace-write-no-tmp" => Box::new(WritableRoots::new([self.workspace.clone()])),
            "read-only" => Box::new(ReadOnly),
            "danger-full-access" => Box::new(Unrestricted),
            other => panic!("unknown sandbox {other}"),
        }
    }
}

fn write_tree(root: &Path, tree: &Tree) {
    for (path, entry) in tree {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        match entry {
            Entry::Text(text) => fs::write(&path, text).unwrap(),
            Entry::Bytes { bytes } => fs::write(&path, bytes).unwrap(),
            other => panic!("cannot set up {other:?}"),
        }
    }
}

/// The tree as the recording script describes trees: files, symlinks, and empty directories with a `/`.
fn read_tree(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let metadata = fs::symlink_metadata(&path).unwrap();
            if metadata.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap().to_str().unwrap().to_string();
                tree.insert(relative, Entry::Symlink { symlink: target });
            } else if metadata.is_dir() {
                if fs::read_dir(&path).unwrap().next().is_none() {
                    tree.insert(format!("{relative}/"), Entry::EmptyDir { dir: true });
                }
                pending.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                let entry = match String::from_utf8(bytes) {
                    Ok(text) => Entry::Text(text),
                    Err(err) => Entry::Bytes { bytes: err.into_bytes() },
                };
                tree.insert(relative, entry);
            }
        }
    }
    tree
}

/// `Wall time: 0.1 seconds` with the number replaced, if the number is shaped as upstream shapes it (whole
/// seconds, or one decimal); any other shape is left for the comparison to catch.
fn mask_wall_times(output: &str) -> String {
    const LABEL: &str = "Wall time: ";
    let mut masked = String::new();
    let mut rest = output;
    while let Some(at) = rest.find(LABEL) {
        let after = &rest[at + LABEL.len()..];
        let number = after.split(' ').next().unwrap_or("");
        let well_formed = match number.split_once('.') {
            None => is_digits(number),
            Some((whole, tenth)) => is_digits(whole) && tenth.len() == 1 && is_digits(tenth),
        };
        masked.push_str(&rest[..at + LABEL.len()]);
        if well_formed && after[number.len()..].starts_with(" seconds") {
            masked.push_str("<T>");
            rest = &after[number.len()..];
        } else {
            rest = after;
        }
    }
    masked + rest
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn file_change_item(changes: &[FileChange], status: &str) -> FileChangeItem {
    FileChangeItem {
        changes: changes
            .iter()
            .map(|change| ChangeItem {
                path: change.path.to_str().unwrap().to_string(),
                kind: change.kind.as_str().to_string(),
            })
            .collect(),
        status: status.to_string(),
    }
}

/// Runs one case; describes each way the engine differs from the record.
fn check(case: &Case) -> Vec<String> {
    let sandbox = Sandbox::new(case);
    let patch = match (&case.engine.input, &case.call) {
        (Some(input), _) => input.clone(),
        (None, call) if call.kind == "custom_tool_call" && call.name == "apply_patch" => {
            call.input.clone().expect("a custom tool call has an input")
        }
        (None, call) => panic!("{}: a {} call needs an engine input", case.name, call.kind),
    };
    let cwd = match &case.engine.cwd {
        Some(dir) => sandbox.workspace.join(dir),
        None => sandbox.workspace.clone(),
    };
    let policy = sandbox.policy(&case.sandbox);

    let started = Instant::now();
    let outcome = apply_patch(&sandbox.place(&patch), &cwd, policy.as_ref());
    let output = match &outcome {
        Ok(applied) => applied.model_output(started.elapsed()),
        Err(err) => err.model_output(started.elapsed()),
    };
    let file_change = match &outcome {
        Ok(applied) => Some(file_change_item(applied.changes(), "completed")),
        Err(err) => err.attempted_changes().map(|changes| file_change_item(changes, "failed")),
    };

    let mut problems = Vec::new();
    let expected_output = sandbox.place(&case.output);
    let expected_output = match &case.engine.output_prefix {
        Some(prefix) => expected_output
            .strip_prefix(prefix.as_str())
            .expect("the recorded output starts with the prefix")
            .to_string(),
        None => expected_output,
    };
    if mask_wall_times(&output) != mask_wall_times(&expected_output) {
        problems.push(format!("output\n   got: {output:?}\n  want: {expected_output:?}"));
    }
    let expected_item = case.file_change.as_ref().map(|item| FileChangeItem {
        changes: item
            .changes
            .iter()
            .map(|change| ChangeItem { path: sandbox.place(&change.path), kind: change.kind.clone() })
            .collect(),
        status: item.status.clone(),
    });
    if file_change != expected_item {
        problems.push(format!("file_change\n   got: {file_change:?}\n  want: {expected_item:?}"));
    }
    let trees = [
        ("workspace", &sandbox.workspace, case.engine.workspace_after.as_ref().unwrap_or(&case.workspace_after)),
        ("outside", &sandbox.outside, case.engine.outside_after.as_ref().unwrap_or(&case.outside_after)),
    ];
    for (label, root, expected) in trees {
        let actual = read_tree(root);
        if &actual != expected {
            problems.push(format!("{label} after\n   got: {actual:?}\n  want: {expected:?}"));
        }
    }
    problems
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/observed/cases");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).unwrap();
            let case: Case = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            assert_eq!(
                path.file_stem().unwrap().to_str(),
                Some(case.name.as_str()),
                "a case file is named after its case"
            );
            case
        })
        .collect()
}

#[test]
fn the_engine_answers_every_observed_case_as_upstream_did() {
    let cases = cases();
    assert!(cases.len() > 150, "the recorded cases are missing");
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        if let Some(reason) = &case.engine.skip {
            assert!(
                case.call.kind != "custom_tool_call" || case.call.name != "apply_patch",
                "{}: an apply_patch call is skipped ({reason})",
                case.name
            );
            continue;
        }
        assert!(
            case.engine.why.is_some()
                || (case.engine.input.is_none()
                    && case.engine.workspace_after.is_none()
                    && case.engine.outside_after.is_none()),
            "{}: an engine override says why",
            case.name
        );
        ran += 1;
        for problem in check(case) {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {ran} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// Upstream applied the patch of an `exec_command` itself (its output is the patch tool's), refused a bare patch,
/// or ran the command in the shell (its output is a command's, with a chunk id); `shell_patch` must tell the same.
#[test]
fn exec_commands_carrying_patches_are_recognized_as_upstream_recognized_them() {
    let cases: Vec<Case> = cases().into_iter().filter(|case| case.call.name == "exec_command").collect();
    assert!(cases.len() >= 8, "the recorded exec_command cases are missing");
    for case in &cases {
        let arguments = case.call.arguments.as_ref().expect("a function call has arguments");
        let cmd = arguments["cmd"].as_str().expect("exec_command has a cmd").to_string();
        let expected = if case.output.starts_with("Chunk ID: ") {
            None
        } else if case.output == BARE_PATCH_ERROR {
            Some(ShellPatch::Bare)
        } else {
            let input = case.engine.input.as_deref().unwrap_or_else(|| panic!("{}: no engine input", case.name));
            let workdir = case.engine.cwd.clone();
            Some(ShellPatch::Heredoc { patch: input.trim_end_matches('\n').to_string(), workdir })
        };
        assert_eq!(shell_patch(&["/bin/bash".into(), "-lc".into(), cmd]), expected, "{}", case.name);
    }
}

#[test]
fn wall_time_masking_only_accepts_upstreams_shape() {
    assert_eq!(
        mask_wall_times("Exit code: 0\nWall time: 0.1 seconds\nOutput:\n"),
        "Exit code: 0\nWall time: <T> seconds\nOutput:\n"
    );
    assert_eq!(mask_wall_times("Wall time: 12 seconds"), "Wall time: <T> seconds");
    for malformed in ["Wall time: 0.10 seconds", "Wall time: .1 seconds", "Wall time: 1s"] {
        assert_eq!(mask_wall_times(malformed), malformed);
    }
}

/// The one failure kind upstream reports with a file_change item carries the attempted changes.
#[test]
fn only_apply_failures_report_attempted_changes() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("adir")).unwrap();
    let err =
        apply_patch("*** Begin Patch\n*** Add File: adir\n+x\n*** End Patch", dir.path(), &Unrestricted).unwrap_err();
    assert!(matches!(err, ApplyError::Failed { .. }));
    assert_eq!(err.attempted_changes().map(<[_]>::len), Some(1));
    let err = apply_patch("*** Begin Patch\n*** End Patch", dir.path(), &Unrestricted).unwrap_err();
    assert!(err.attempted_changes().is_none());
}

/// A preview says what applying would do and writes nothing; it fails as applying would before any policy is asked.
#[test]
fn a_preview_changes_nothing_and_fails_as_applying_would() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    fs::create_dir(&ws).unwrap();
    fs::write(ws.join("a.txt"), "one\n").unwrap();
    let patch = rcodex_apply_patch::parse(
        "*** Begin Patch\n*** Add File: ../out.txt\n+hello\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch",
    )
    .unwrap();
    let changes = patch.preview(&ws).unwrap();
    let paths: Vec<&Path> = changes.iter().map(|c| c.path.as_path()).collect();
    assert_eq!(paths, [dir.path().join("out.txt").as_path(), ws.join("a.txt").as_path()]);
    assert_eq!(changes[0].after.as_deref(), Some("hello\n"));
    assert_eq!((changes[1].before.as_deref(), changes[1].after.as_deref()), (Some("one\n"), Some("two\n")));
    assert!(!dir.path().join("out.txt").exists() && fs::read_to_string(ws.join("a.txt")).unwrap() == "one\n");

    let misfit =
        rcodex_apply_patch::parse("*** Begin Patch\n*** Update File: a.txt\n@@\n-nine\n+ten\n*** End Patch").unwrap();
    let previewed = misfit.preview(&ws).unwrap_err().to_string();
    let applied = misfit.apply(&ws, &rcodex_apply_patch::ReadOnly).unwrap_err().to_string();
    assert_eq!(previewed, applied, "the hunk's misfit, not the policy's refusal");
}
