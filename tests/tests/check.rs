//! `parity check` as CI runs it: rcodex against the reference captures of upstream Codex.

use std::process::Command;

use parity_e2e::{bin, repo};

/// The scenarios that need no tool: rcodex's core must match upstream on all of them.
const TOOL_LESS: &[&str] =
    &["plain-reply", "agents-md", "other-model", "reasoning", "resume", "retry-http-500", "retry-stream-cut"];

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

#[test]
fn rcodex_matches_upstream_on_every_scenario_that_needs_no_tool() {
    let only: Vec<&str> = TOOL_LESS.iter().flat_map(|s| ["--only", s]).collect();
    let (code, stdout, stderr) = check(&only);
    for scenario in TOOL_LESS {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(scenario))
            .unwrap_or_else(|| panic!("{scenario}: {stdout}"));
        assert!(line.contains("clean"), "{line}\n{stdout}\n{stderr}");
    }
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{} of {} scenarios clean", TOOL_LESS.len(), TOOL_LESS.len())), "{stdout}");
}

#[test]
fn accepted_divergences_are_set_apart_by_scenario_and_stale_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let accept = dir.path().join("accept.toml");
    // rcodex has no view_image yet in this test's eyes: accept that scenario's output type, and an entry for a
    // scenario where nothing diverges, which must come out stale.
    std::fs::write(
        &accept,
        r#"
[[accept]]
category = "schema"
path = "/body/input/*/output"
scenario = "view-image"
reason = "an example of an accepted divergence, scoped to one scenario"

[[accept]]
category = "prompt"
path = "/body/instructions"
scenario = "plain-reply"
reason = "never needed: plain-reply is clean"
"#,
    )
    .unwrap();
    let (code, stdout, stderr) =
        check(&["--only", "view-image", "--only", "plain-reply", "--accept", accept.to_str().unwrap()]);
    let view = stdout.lines().find(|l| l.contains("view-image")).unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    if view.contains("accepted") {
        assert!(view.contains("clean (1 accepted)"), "{view}");
        assert_eq!(code, Some(0), "only accepted divergences remain: {stdout}");
    } else {
        // view_image is implemented: the first entry is stale too.
        assert!(view.contains("clean"), "{view}");
    }
    assert!(stdout.contains("stale: accept entry at line 10"), "{stdout}");

    let (code, _, stderr) = check(&["--only", "no-such-scenario"]);
    assert_eq!(code, Some(2), "bad input");
    assert!(stderr.contains("--only no-such-scenario"), "{stderr}");
}
