//! `parity sweep` and `parity timeline` as a user runs them, on the project's fake agent speaking the app-server
//! protocol: one steer scenario run once per hold point, and the table of where the steer landed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn parity_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_parity"))
}

fn fake_agent() -> PathBuf {
    let path = parity_bin().with_file_name("parity-fake-agent");
    assert!(path.is_file(), "{} is not built: run `cargo build --workspace --bins` first", path.display());
    path
}

const SCENARIO: &str = r#"
serial = true
[agent]
frontend = "app-server"
timeout_secs = 20

[[turns]]
prompt = "Write a poem."
steer = { at = "answer", text = "Make it short." }

[[script.steps]]
name = "answer"
hold = { before = "response.completed", until = "release", timeout_ms = 10000 }
output = [{ message = "The sea is wide" }]

[[script.steps]]
output = [{ message = "Short." }]
"#;

#[test]
fn a_sweep_runs_each_point_and_tells_where_the_steer_landed_and_the_timeline_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("sweep.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("runs");
    let output = Command::new(parity_bin())
        .args(["sweep", "--agent", "codex", "--upstream-bin"])
        .arg(fake_agent())
        .arg("--scenario")
        .arg(&scenario)
        .args(["--point", "early=response.created", "--point", "late=response.completed"])
        .args(["--point", "never=response.function_call_arguments.delta", "--format", "json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in &rows[..2] {
        let landing = &row["landing"]["Ok"];
        assert_eq!(landing["request"], "session-01/0002", "{row}");
        assert_eq!(landing["role"], "user", "{row}");
        assert!(landing["pointer"].as_str().unwrap().starts_with("/body/input/"), "{row}");
    }
    assert_eq!(rows[2]["skipped"], true, "a point the step never reaches is skipped: {}", rows[2]);

    // The recording of a point is there, and its time line finds the same landing.
    let timeline =
        Command::new(parity_bin()).args(["timeline", "--format", "json"]).arg(out.join("late/codex")).output().unwrap();
    assert!(timeline.status.success());
    let timeline: serde_json::Value = serde_json::from_slice(&timeline.stdout).unwrap();
    let steer = &timeline["timelines"][0]["steers"][0];
    assert_eq!(steer["request"], rows[1]["landing"]["Ok"]["request"]);
    assert_eq!(steer["pointer"], rows[1]["landing"]["Ok"]["pointer"]);
    let kinds: Vec<&str> =
        timeline["timelines"][0]["entries"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["request", "hold_reached", "action", "from_agent", "from_client"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}
