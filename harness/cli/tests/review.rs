//! `parity review` and `parity normalize` as a user runs them: suites recorded by `parity record --all` with the fake
//! agent from tiny scenarios in a temporary directory, a re-recording reviewed against its baseline (with flags,
//! without a terminal, and in a real pseudo-terminal), and the normalized views of two recordings compared.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rexpect::process::WaitStatus;

/// The fake agent puts its run directory and the server's port into its first message; these rules make them
/// placeholders, as a user's rules file would for an agent of theirs.
const FAKE_AGENT_RULES: &str = r#"
[[rule]]
name = "fake-agent-run-dir"
regex = '/[^"]*/[a-z0-9-]+-[A-Za-z0-9]{6}/'
placeholder = "run_dir"

[[rule]]
name = "fake-agent-port"
regex = '127\.0\.0\.1:(\d+)'
placeholder = "port"
"#;

/// The baseline's scenarios: (name, prompt).
const BASELINE: &[(&str, &str)] = &[("gone", "bye"), ("hello", "hi"), ("plain", "hello"), ("tweak", "tweak")];
/// The re-recording: `gone` dropped, `extra` added, `plain` and `tweak` with other prompts, `hello` unchanged.
const RERECORDED: &[(&str, &str)] =
    &[("extra", "more"), ("hello", "hi"), ("plain", "hello again"), ("tweak", "tweaked")];

fn parity_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_parity"))
}

fn fake_agent() -> PathBuf {
    let path = parity_bin().with_file_name("parity-fake-agent");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A temporary directory holding suites, their scenarios and the rules file.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab { dir: tempfile::tempdir().unwrap() };
        std::fs::write(lab.path("rules.toml"), FAKE_AGENT_RULES).unwrap();
        lab
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `parity record --all` of these scenarios (one scripted answer each) into `out`.
    fn record(&self, out: &str, scenarios: &[(&str, &str)]) {
        let dir = self.path(&format!("scenarios-{out}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, prompt) in scenarios {
            let toml = format!("prompt = {prompt:?}\n[[script.steps]]\noutput = [{{ message = \"done\" }}]\n");
            std::fs::write(dir.join(format!("{name}.toml")), toml).unwrap();
        }
        let output = self.parity(&[
            "record",
            "--all",
            "--scenarios",
            dir.to_str().unwrap(),
            "--agent",
            "codex",
            "--upstream-bin",
            fake_agent().to_str().unwrap(),
            "--out",
            out,
            "--work-dir",
            self.path("work").to_str().unwrap(),
        ]);
        assert!(output.status.success(), "recording {out}: {}", text(&output.stderr));
    }

    /// Runs parity in the lab, stdin closed (not a terminal).
    fn parity(&self, args: &[&str]) -> Output {
        Command::new(parity_bin()).current_dir(self.dir.path()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn review(&self, extra: &[&str]) -> Output {
        let mut args = vec!["review", "base", "new", "--rules", "rules.toml"];
        args.extend(extra);
        self.parity(&args)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every file under `rel`, relative, with its bytes.
    fn tree(&self, rel: &str) -> Vec<(String, Vec<u8>)> {
        let root = self.path(rel);
        let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(&root)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
                (rel, std::fs::read(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("new/.parity-review.json")).unwrap()
    }

    /// A baseline and a re-recording of it, a file of the user's in the baseline's `plain`.
    fn baseline_and_rerecording() -> Lab {
        let lab = Lab::new();
        lab.record("base", BASELINE);
        lab.record("new", RERECORDED);
        std::fs::write(lab.path("base/plain/notes.md"), "my notes").unwrap();
        lab
    }
}

/// Types into the terminal; rexpect's writer only flushes at a newline, and keys come without one.
fn press(session: &mut rexpect::session::PtySession, keys: &str) {
    session.send(keys).unwrap();
    session.flush().unwrap();
}

/// Text as rexpect hands it over: each byte of the UTF-8 a char of its own.
fn as_received(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn two_recordings_of_unchanged_scenarios_normalize_to_identical_files_and_a_real_change_shows() {
    let lab = Lab::new();
    lab.record("a", BASELINE);
    lab.record("b", BASELINE);
    lab.record("c", RERECORDED);
    let raw_a = lab.read("a/hello/captures/session-01/0001-post-responses.json");
    assert_ne!(raw_a, lab.read("b/hello/captures/session-01/0001-post-responses.json"), "raw captures vary");

    for suite in ["a", "b", "c"] {
        let output = lab.parity(&["normalize", suite, "--rules", "rules.toml"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(text(&output.stdout).contains("hello                        1 written"), "{}", text(&output.stdout));
    }
    let views = |suite: &str, scenario: &str| lab.tree(&format!("{suite}/{scenario}/normalized"));
    for (scenario, _) in BASELINE {
        let a = views("a", scenario);
        assert_eq!(a.len(), 1, "{scenario}: one view per capture");
        assert_eq!(a, views("b", scenario), "{scenario}: unchanged, so byte-identical views");
    }
    assert_eq!(views("a", "hello"), views("c", "hello"));
    let (a, c) = (views("a", "plain"), views("c", "plain"));
    assert_eq!(a[0].0, "session-01/request-0001-post-responses.json");
    assert_ne!(a[0].1, c[0].1, "a changed prompt changes the view");
    assert!(text(&c[0].1).contains("\"text\": \"hello again\""), "{}", text(&c[0].1));

    // The views are never taken for captures: the suites still diff, and clean.
    let diff = lab.parity(&["diff", "a", "b", "--rules", "rules.toml"]);
    assert_eq!(diff.status.code(), Some(0), "{}{}", text(&diff.stdout), text(&diff.stderr));

    // --check finds a missing view, writes nothing, and passes again once the views are brought up to date.
    std::fs::remove_file(lab.path("a/plain/normalized/session-01/request-0001-post-responses.json")).unwrap();
    std::fs::write(lab.path("a/plain/normalized/session-01/mine.txt"), "mine").unwrap();
    let check = lab.parity(&["normalize", "a", "--rules", "rules.toml", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check.stdout).contains("plain                        out of date"), "{}", text(&check.stdout));
    assert!(text(&check.stderr).contains("run `parity normalize a`"), "{}", text(&check.stderr));
    assert!(!lab.path("a/plain/normalized/session-01/request-0001-post-responses.json").exists());
    assert!(lab.parity(&["normalize", "a", "--rules", "rules.toml"]).status.success());
    assert!(lab.parity(&["normalize", "a", "--rules", "rules.toml", "--check"]).status.success());
    assert_eq!(views("a", "plain").len(), 2, "the user's file in the view directory stays");
}

#[test]
fn accept_all_replaces_what_differs_adds_and_removes_scenarios_and_keeps_the_user_s_files() {
    let lab = Lab::baseline_and_rerecording();
    let output = lab.review(&["--accept-all"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("accepted 4, rejected 0, known 0, skipped 0; 1 clean; 0 pending"), "{stdout}");

    for scenario in ["extra", "plain", "tweak"] {
        assert_eq!(lab.read(&format!("base/{scenario}/run.json")), lab.read(&format!("new/{scenario}/run.json")));
        assert_eq!(lab.tree(&format!("base/{scenario}/captures")), lab.tree(&format!("new/{scenario}/captures")));
    }
    assert!(!lab.path("base/gone").exists(), "a scenario the re-recording dropped leaves the baseline");
    assert_eq!(lab.read("base/plain/notes.md"), "my notes");
    let names: Vec<String> =
        std::fs::read_dir(lab.path("base")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.starts_with('.')), "nothing of the swap is left: {names:?}");

    let status = lab.review(&["--status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
    let stdout = text(&status.stdout);
    assert!(stdout.contains("plain                        accepted"), "{stdout}");
    assert!(stdout.contains("hello                        clean"), "{stdout}");
}

#[test]
fn reject_all_keeps_the_baseline_and_the_decisions_hold_until_the_scenario_is_re_recorded() {
    let lab = Lab::baseline_and_rerecording();
    let before = lab.tree("base");
    let output = lab.review(&["--reject-all"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("accepted 0, rejected 4"), "{}", text(&output.stdout));
    assert_eq!(lab.tree("base"), before, "nothing in the baseline changed");
    assert_eq!(lab.state()["scenarios"]["plain"]["decision"], "rejected");

    // Decided: a later review without a terminal has nothing to ask.
    let again = lab.review(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("4 decided earlier; 0 pending"), "{}", text(&again.stdout));

    // A new recording of plain is another recording: undecided again.
    let scenarios = lab.path("scenarios-new");
    let output = lab.parity(&[
        "record",
        "--scenario",
        scenarios.join("plain.toml").to_str().unwrap(),
        "--agent",
        "codex",
        "--upstream-bin",
        fake_agent().to_str().unwrap(),
        "--out",
        "new/plain",
        "--clean",
        "--work-dir",
        lab.path("work").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let status = lab.review(&["--status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(
        text(&status.stdout).contains("plain                        pending   1 prompt"),
        "{}",
        text(&status.stdout)
    );
    assert!(text(&status.stdout).contains("tweak                        rejected"), "{}", text(&status.stdout));
}

#[test]
fn without_a_terminal_or_a_flag_everything_stays_pending_on_disk_and_a_later_review_resumes() {
    let lab = Lab::baseline_and_rerecording();
    let before = lab.tree("base");
    let output = lab.review(&[]);
    assert_eq!(output.status.code(), Some(1));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(stdout.contains("plain                        pending   1 prompt"), "{stdout}");
    assert!(stdout.contains("gone                         pending   gone: only the baseline has it"), "{stdout}");
    assert!(stdout.contains("extra                        pending   added: only the new suite has it"), "{stdout}");
    assert!(!stdout.contains("hello "), "a clean scenario needs no decision: {stdout}");
    assert!(stderr.contains("4 scenario(s) await a decision (extra, gone, plain, tweak)"), "{stderr}");
    assert!(stderr.contains("in a terminal") && stderr.contains("--accept-all or --reject-all"), "{stderr}");
    assert_eq!(lab.tree("base"), before);
    let state = lab.state();
    assert_eq!(state["format"], "parity.review/v1");
    for scenario in ["extra", "gone", "plain", "tweak"] {
        assert_eq!(state["scenarios"][scenario]["decision"], "pending", "{state}");
    }

    // Part of it decided now, the rest later.
    let output = lab.review(&["--only", "plain", "--accept-all"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(lab.read("base/plain/run.json"), lab.read("new/plain/run.json"));
    let output = lab.review(&["--only", "tweak", "--reject-all"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let state = lab.state();
    assert_eq!(state["scenarios"]["plain"]["decision"], "accepted", "{state}");
    assert_eq!(state["scenarios"]["tweak"]["decision"], "rejected", "{state}");
    assert_eq!(state["scenarios"]["gone"]["decision"], "pending", "{state}");

    let resumed = lab.review(&[]);
    assert_eq!(resumed.status.code(), Some(1));
    let stderr = text(&resumed.stderr);
    assert!(stderr.contains("2 scenario(s) await a decision (extra, gone)"), "only the undecided ones: {stderr}");

    let wrong = lab.review(&["--only", "nope"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("--only nope: neither base nor new has such a scenario"));
}

#[test]
fn an_interactive_review_in_a_terminal_shows_each_scenario_and_takes_keys() {
    let lab = Lab::baseline_and_rerecording();
    let mut command = Command::new(parity_bin());
    command
        .current_dir(lab.dir.path())
        .args(["review", "base", "new", "--rules", "rules.toml", "--accept-file", "accepted.toml"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR");
    let mut session = rexpect::session::spawn_command(command, Some(20_000)).unwrap();

    // Scenarios come in name order: extra (added), gone (dropped), plain and tweak (changed).
    assert!(session.exp_string("(1 of 4 to review)").unwrap().contains(&as_received(" extra ━━")));
    let screen = session.exp_string("decision [a/r/s/q]>").unwrap();
    assert!(screen.contains("added: only the new suite has it"), "{screen}");
    assert!(!screen.contains("known"), "no known choice for a one-sided scenario: {screen}");
    press(&mut session, "x");
    session.exp_string("press a, r, s or q").unwrap();
    press(&mut session, "a");

    assert!(session.exp_string("(2 of 4 to review)").unwrap().contains(&as_received(" gone ━━")));
    session.exp_string("decision [a/r/s/q]>").unwrap();
    press(&mut session, "s");

    assert!(session.exp_string("(3 of 4 to review)").unwrap().contains(&as_received(" plain ━━")));
    let screen = session.exp_string("decision [a/r/k/s/q]>").unwrap();
    assert!(screen.contains("/body/input/1/content/0/text"), "the divergence's path is shown: {screen}");
    assert!(screen.contains("\u{1b}["), "coloured in a terminal: {screen:?}");
    assert!(screen.contains("write these divergences to accepted.toml"), "{screen}");
    press(&mut session, "k");
    session.exp_string("reason").unwrap();
    press(&mut session, "upstream now greets twice\r");

    assert!(session.exp_string("(4 of 4 to review)").unwrap().contains(&as_received(" tweak ━━")));
    session.exp_string("decision [a/r/k/s/q]>").unwrap();
    press(&mut session, "r");

    session.exp_string("accepted 1, rejected 1, known 1, skipped 1; 1 clean; 1 pending").unwrap();
    session.exp_eof().unwrap();
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 1, "gone is still pending"),
        other => panic!("parity review did not exit: {other:?}"),
    }

    assert_eq!(lab.read("base/extra/run.json"), lab.read("new/extra/run.json"), "accepted: added to the baseline");
    assert!(lab.path("base/gone/run.json").is_file(), "skipped: still in the baseline");
    assert_ne!(lab.read("base/plain/run.json"), lab.read("new/plain/run.json"), "known: the baseline stays");
    assert_ne!(lab.read("base/tweak/run.json"), lab.read("new/tweak/run.json"), "rejected: the baseline stays");
    let accepted = lab.read("accepted.toml");
    assert!(
        accepted.contains(
            "[[accept]]\nscenario = \"plain\"\ncategory = \"prompt\"\npath = \"/body/input/1/content/0/text\"\n\
             reason = \"upstream now greets twice\"\n"
        ),
        "{accepted}"
    );
    let state = lab.state();
    assert_eq!(state["scenarios"]["plain"]["decision"], "known", "{state}");
    assert_eq!(state["scenarios"]["gone"]["decision"], "pending", "{state}");

    // With the accept file, plain compares clean even with no decision on record; only gone is left to decide.
    std::fs::remove_file(lab.path("new/.parity-review.json")).unwrap();
    let status = lab.review(&["--accept-file", "accepted.toml", "--status"]);
    assert_eq!(status.status.code(), Some(1));
    let stdout = text(&status.stdout);
    assert!(stdout.contains("plain                        clean"), "{stdout}");
    assert!(stdout.contains("gone                         pending"), "{stdout}");
    assert!(stdout.contains("tweak                        pending"), "{stdout}");
}
