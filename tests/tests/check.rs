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

#[test]
fn rcodex_matches_upstream_on_every_scenario_of_the_suite() {
    let scenarios = std::fs::read_dir(repo().join("fixtures/scenarios"))
        .unwrap()
        .filter_map(|e| e.unwrap().path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|name| repo().join("fixtures/scenarios").join(format!("{name}.toml")).is_file())
        .collect::<Vec<_>>();
    let (code, stdout, stderr) = check(&["--accept", ACCEPTED]);
    for scenario in &scenarios {
        assert!(verdict(&stdout, scenario).contains("clean"), "{scenario}\n{stdout}\n{stderr}");
    }
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let n = scenarios.len();
    assert!(stdout.contains(&format!("{n} of {n} scenarios clean; 0 divergence(s)")), "{stdout}");
    assert!(verdict(&stdout, "tool-search").contains("accepted"), "the one accepted divergence: {stdout}");
}

#[test]
fn without_the_accept_file_the_accepted_divergence_fails_the_check_and_unused_entries_are_stale() {
    let dir = tempfile::tempdir().unwrap();
    let accept = dir.path().join("accept.toml");
    std::fs::write(
        &accept,
        r#"
[[accept]]
category = "prompt"
path = "/body/instructions"
scenario = "plain-reply"
reason = "never needed: plain-reply is clean"
"#,
    )
    .unwrap();
    let (code, stdout, stderr) =
        check(&["--only", "tool-search", "--only", "plain-reply", "--accept", accept.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(verdict(&stdout, "tool-search").contains("schema"), "{stdout}");
    assert!(verdict(&stdout, "plain-reply").contains("clean"), "{stdout}");
    assert!(stdout.contains("stale: accept entry at line 4 (prompt /body/instructions)"), "{stdout}");

    let (code, _, stderr) = check(&["--only", "no-such-scenario"]);
    assert_eq!(code, Some(2), "bad input");
    assert!(stderr.contains("--only no-such-scenario"), "{stderr}");
}
