//! Upstream Codex itself, installed by the project's script: recorded afresh, it must diff clean against the
//! committed reference captures. That proves both that two recordings of a scenario come out identical under the
//! default rules and that the baseline still describes the pinned release.

use std::process::Command;

use parity_e2e::{bin, repo};

/// The pinned upstream binary, or `None` (said out loud) when the npm registry cannot be reached.
fn upstream() -> Option<String> {
    let output = Command::new(repo().join("scripts/install-upstream.sh")).output().expect("the install script runs");
    match output.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&output.stdout).trim().to_string()),
        Some(3) => {
            eprintln!(
                "SKIPPED: upstream Codex could not be installed, so this test did not run. The install script said:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            None
        }
        other => panic!("scripts/install-upstream.sh failed ({other:?}): {}", String::from_utf8_lossy(&output.stderr)),
    }
}

#[test]
fn upstream_recorded_afresh_diffs_clean_against_the_baseline() {
    let Some(codex) = upstream() else { return };
    let started = std::time::Instant::now();
    let again = Command::new(repo().join("scripts/install-upstream.sh")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), codex, "the script is idempotent");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "and quick when the release is installed");

    let output = Command::new(bin("parity"))
        .current_dir(repo())
        .args(["check", "--agent", "codex", "--upstream-bin", &codex])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let scenarios = stdout.lines().filter(|l| l.starts_with("  ")).count();
    assert!(scenarios >= 15, "{stdout}");
    assert!(stdout.contains(&format!("{scenarios} of {scenarios} scenarios clean")), "{stdout}");
}
