//! `--clean` as a careless user runs it: on the working directory, on a folder of their own notes, on an earlier
//! recording with their files beside it. Each test plants files, runs the command, and finds every one still there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use parity_e2e::bin;

/// Plants files under `root` and returns each with its contents.
fn plant(root: &Path, files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(name, text)| {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            (path, text.to_string())
        })
        .collect()
}

fn assert_all_there(files: &[(PathBuf, String)]) {
    for (path, text) in files {
        let now = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{} is gone: {e}", path.display()));
        assert_eq!(&now, text, "{} changed", path.display());
    }
}

/// `parity record` of a one-step scenario with the fake agent, run in `cwd`.
fn record(cwd: &Path, out: &str, clean: bool) -> Output {
    let scenario = cwd.join("../demo.toml");
    std::fs::write(&scenario, "prompt = \"hi\"\n[[script.steps]]\noutput = [{ message = \"done\" }]\n").unwrap();
    let mut command = Command::new(bin("parity"));
    command
        .current_dir(cwd)
        .args(["record", "--agent", "codex", "--upstream-bin"])
        .arg(bin("parity-fake-agent"))
        .arg("--scenario")
        .arg(&scenario)
        .args(["--out", out, "--work-dir"])
        .arg(cwd.join("../work"));
    if clean {
        command.arg("--clean");
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn record_clean_on_the_working_directory_removes_nothing_and_says_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("thesis");
    let files = plant(&cwd, &[("thesis.txt", "chapter one"), ("sub/figure.txt", "a figure")]);
    for clean in [true, false] {
        let output = record(&cwd, ".", clean);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("is not a parity recording"), "{message}");
        assert!(message.contains("sub/, thesis.txt") && message.contains("nothing was removed"), "{message}");
        assert!(!message.contains("already holds a recording"), "{message}");
        assert_all_there(&files);
    }
}

#[test]
fn record_clean_replaces_an_earlier_recording_and_keeps_the_user_s_files_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    let first = record(&cwd, "out", false);
    assert!(first.status.success(), "{}", stderr(&first));
    // Two runs in the same second can write the same run.json: the earlier one is marked to be told apart.
    let run_json = cwd.join("out/run.json");
    let mut earlier: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    earlier["earlier_run"] = serde_json::json!(true);
    std::fs::write(&run_json, earlier.to_string()).unwrap();
    let files = plant(&cwd.join("out"), &[("notes.md", "my notes"), ("captures/notes/0001-meeting.json", "{}")]);

    let refused = record(&cwd, "out", false);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("already holds a recording (scenario demo, run.json)"), "{}", stderr(&refused));

    let again = record(&cwd, "out", true);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_all_there(&files);
    assert!(!std::fs::read_to_string(&run_json).unwrap().contains("earlier_run"), "run.json was replaced");
    assert!(cwd.join("out/captures/session-01/0001-post-responses.json").is_file());

    // The working directory is never emptied, even when it is a recording.
    let inside = record(&cwd.join("out"), ".", true);
    assert_eq!(inside.status.code(), Some(2));
    assert!(stderr(&inside).contains("it is the working directory"), "{}", stderr(&inside));
    assert_all_there(&files);
}
