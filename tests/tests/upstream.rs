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

    let check = |only: &[String]| {
        let mut args = vec!["check", "--agent", "codex", "--upstream-bin", &codex];
        args.extend(only.iter().flat_map(|name| ["--only", name.as_str()]));
        let output = Command::new(bin("parity")).current_dir(repo()).args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stdout, stderr) = check(&[]);
    let verdicts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  ") && !l.starts_with("    ")).collect();
    assert!(verdicts.len() >= 15, "{stdout}");
    if code == Some(0) {
        let n = verdicts.len();
        assert!(stdout.contains(&format!("{n} of {n} scenarios clean")), "{stdout}");
        return;
    }
    // Upstream's own timing shows through a few scenarios under load (a command judged by how soon it exited, a
    // Ctrl-C racing the end of a turn): one that diverges is recorded once more, alone, and must then be clean.
    let diverged: Vec<String> = verdicts
        .iter()
        .filter(|l| l.split_whitespace().nth(1).is_none_or(|v| v != "clean"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(!diverged.is_empty() && diverged.len() <= 3, "{stdout}\n{stderr}");
    eprintln!("diverged on the first recording, recorded again: {diverged:?}\n{stdout}");
    let (code, again, stderr) = check(&diverged);
    assert_eq!(code, Some(0), "diverged twice: {again}\n{stderr}\n(first run: {stdout})");
}
