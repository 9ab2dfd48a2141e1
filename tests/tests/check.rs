//! `parity check` as CI runs it: rcodex against the reference captures of upstream Codex.

use std::process::Command;

use parity_e2e::{bin, repo};

/// The project's accepted divergences of rcodex.
const ACCEPTED: &str = "fixtures/accepted/rcodex.toml";

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(bin("parity"))
        .current_dir(repo())
        .args(["check", "--agent", "rcodex", "--rcodex-bin"])
        .arg(bin("rcodex"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn verdict<'a>(stdout: &'a str, scenario: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(scenario) && !l.contains("request(s)"))
        .unwrap_or_else(|| panic!("no verdict for {scenario}: {stdout}"))
}

/// The CI path of the README: the suite split in two shards (as two CI machines run it), each writing JUnit, the
/// reports merged into one. Together the shards cover every scenario (exec and app server, event streams
/// included, and the tui scenarios), and every one is clean.
#[test]
fn rcodex_matches_upstream_on_every_scenario_in_two_shards_merged_into_one_junit_report() {
    let scenarios = std::fs::read_dir(repo().join("fixtures/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    let mut checked = Vec::new();
    for shard in ["1/2", "2/2"] {
        let report = dir.path().join(format!("shard-{}.xml", &shard[..1]));
        let (code, stdout, stderr) = check(&[
            "--accept",
            ACCEPTED,
            "--strict",
            "--shard",
            shard,
            "--format",
            "junit",
            "--output",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "shard {shard}\n{stdout}\n{stderr}");
        for scenario in scenarios.iter().filter(|s| stdout.lines().any(|l| l.split_whitespace().next() == Some(s))) {
            assert!(verdict(&stdout, scenario).contains("clean"), "{scenario}\n{stdout}\n{stderr}");
            checked.push(scenario.clone());
        }
        assert!(!stdout.contains("stale"), "an entry for another shard's scenario is not judged here: {stdout}");
        reports.push(report);
    }
    checked.sort();
    let mut all = scenarios.clone();
    all.sort();
    assert_eq!(checked, all, "the two shards together are the whole suite, each scenario once");

    let merged = dir.path().join("merged.xml");
    let status = Command::new(bin("parity"))
        .args(["merge-junit", "--output", merged.to_str().unwrap()])
        .args(&reports)
        .status()
        .unwrap();
    assert!(status.success());
    let xml = std::fs::read_to_string(&merged).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), scenarios.len(), "{xml}");
    assert!(xml.contains("failures=\"0\" errors=\"0\">"), "{xml}");
    for scenario in &scenarios {
        // A scenario whose agent was refused before any request (an unsupported setting) has no request to list.
        assert!(xml.contains(&format!("<testsuite name=\"{scenario}\" ")), "{scenario}: {xml}");
    }
}

/// A scenario file with no recording in the baseline fails the check, named, instead of being skipped.
#[test]
fn a_scenario_without_a_baseline_recording_fails_the_check_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [("plain-reply", "plain-reply"), ("plain-reply", "brand-new")] {
        std::fs::copy(repo().join(format!("fixtures/scenarios/{from}.toml")), dir.path().join(format!("{to}.toml")))
            .unwrap();
    }
    let (code, stdout, stderr) = check(&["--scenarios", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(verdict(&stdout, "plain-reply").contains("clean"), "{stdout}");
    let missing = verdict(&stdout, "brand-new");
    assert!(missing.contains("no baseline") && missing.contains("brand-new.toml"), "{stdout}");
    assert!(stdout.contains("1 of 2 scenarios clean"), "{stdout}");
}

/// The per-scenario pages and the index agree with the console, and their links lead to files that exist.
#[test]
fn the_report_directory_has_an_index_and_pages_whose_stale_counts_and_paths_hold() {
    let dir = tempfile::tempdir().unwrap();
    let accept = dir.path().join("accept.toml");
    std::fs::write(
        &accept,
        r#"
[[accept]]
category = "prompt"
path = "/body/instructions"
scenario = "plain-reply"
reason = "never needed"

[[accept]]
category = "schema"
path = "/body/nothing"
scenario = "plain-reply"
reason = "never needed either"
"#,
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let (code, stdout, stderr) = check(&[
        "--only",
        "plain-reply",
        "--accept",
        accept.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("stale:").count(), 2, "{stdout}");
    let index = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(index.contains("<a href=\"plain-reply.html\">plain-reply</a>"), "{index}");
    let page = std::fs::read_to_string(reports.join("plain-reply.html")).unwrap();
    assert!(page.contains("No divergence in 1 request pair"), "a clean page says so plainly");
    assert!(page.contains("id=\"count-stale\">2</span>stale"), "the page counts the 2 stale entries");
    // The right-hand side's recording is kept beside the reports, so the paths the page shows exist.
    let right = reports.join("recordings/plain-reply/captures/session-01/0001-post-responses.json");
    assert!(right.is_file(), "{}", right.display());
}

/// Two whole suites compare scenario by scenario.
#[test]
fn two_suite_directories_diff_scenario_by_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (dir.path().join("left"), dir.path().join("right"));
    let baseline = repo().join("captures/codex-0.169.0");
    for (side, resume_from) in [(&left, "resume"), (&right, "plain-reply")] {
        copy_dir(&baseline.join("plain-reply"), &side.join("plain-reply"));
        copy_dir(&baseline.join(resume_from), &side.join("resume"));
    }
    let output = Command::new(bin("parity")).args(["diff"]).arg(&left).arg(&right).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("== plain-reply: clean"), "{stdout}");
    assert!(stdout.contains("== resume: ") && !stdout.contains("== resume: clean"), "{stdout}");
    assert!(stdout.contains("1 of 2 scenarios clean"), "{stdout}");
    assert!(!stdout.contains("both claim to be request"), "{stdout}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An accepted divergence passes the check, the same divergence without the accept file fails it, and an entry that
/// matches nothing is called stale. rcodex diverges nowhere on the suite, so the divergence is made: a copy of the
/// plain-reply baseline whose recorded instructions (the first developer message) say one word more.
#[test]
fn without_the_accept_file_the_accepted_divergence_fails_the_check_and_unused_entries_are_stale() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline");
    for scenario in ["plain-reply", "tool-search"] {
        copy_dir(&repo().join("captures/codex-0.169.0").join(scenario), &baseline.join(scenario));
    }
    let capture = baseline.join("plain-reply/captures/session-01/0001-post-responses.json");
    let mut recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&capture).unwrap()).unwrap();
    let text = &mut recorded["request"]["body"]["input"][0]["content"][0]["text"];
    *text = format!("{} Changed.", text.as_str().unwrap()).into();
    std::fs::write(&capture, serde_json::to_vec(&recorded).unwrap()).unwrap();
    let accept = dir.path().join("accept.toml");
    std::fs::write(
        &accept,
        r#"
[[accept]]
category = "prompt"
path = "/body/input/0/content/0/text"
scenario = "plain-reply"
reason = "the baseline's instructions were changed for this test"

[[accept]]
category = "schema"
path = "/body/tools"
scenario = "tool-search"
reason = "never needed: tool-search is clean"
"#,
    )
    .unwrap();
    let base = baseline.to_str().unwrap();
    let only = ["--baseline", base, "--only", "tool-search", "--only", "plain-reply"];
    let (code, stdout, stderr) = check(&[&only[..], &["--accept", accept.to_str().unwrap()]].concat());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(verdict(&stdout, "plain-reply").contains("clean") && stdout.contains("1 accepted"), "{stdout}");
    assert!(stdout.contains("stale: accept entry at line 10 (schema /body/tools)"), "{stdout}");

    let (code, stdout, stderr) = check(&only);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(verdict(&stdout, "plain-reply").contains("prompt"), "{stdout}");
    assert!(verdict(&stdout, "tool-search").contains("clean"), "{stdout}");

    let (code, _, stderr) = check(&["--only", "no-such-scenario"]);
    assert_eq!(code, Some(2), "bad input");
    assert!(stderr.contains("--only no-such-scenario"), "{stderr}");
}

/// A JSON-RPC message that breaks the recorded app-server protocol is a divergence of its own, named.
#[test]
fn a_transcript_message_that_breaks_the_protocol_is_a_protocol_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (dir.path().join("left"), dir.path().join("right"));
    let baseline = repo().join("captures/codex-0.169.0");
    for side in [&left, &right] {
        copy_dir(&baseline.join("app-three-turns"), &side.join("app-three-turns"));
    }
    copy_dir(&baseline.join("app-server-schema"), &left.join("app-server-schema"));
    // The agent's first turn/started, its thread id made a number.
    let transcript = right.join("app-three-turns/frontend.jsonl");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let mut broken = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if !broken && value.pointer("/message/method").and_then(|m| m.as_str()) == Some("turn/started") {
                value["message"]["params"]["threadId"] = serde_json::json!(5);
                broken = true;
            }
            value.to_string()
        })
        .collect();
    assert!(broken, "the transcript has a turn/started");
    std::fs::write(&transcript, lines.join("\n") + "\n").unwrap();

    let output = Command::new(bin("parity")).args(["diff"]).arg(&left).arg(&right).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("protocol/right"), "{stdout}");
    assert!(stdout.contains("turn/started: /params/threadId"), "{stdout}");
    assert!(stdout.contains("1 protocol"), "{stdout}");
}
