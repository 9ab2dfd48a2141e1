//! `parity serve` as a user runs it: a process, its first line, its exit status, its files.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn parity() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parity"))
}

/// Starts `parity serve` with these arguments and returns the child and its URL, read from the first line.
fn serve(args: &[&str]) -> (Child, String) {
    serve_logging(&[&["--quiet"], args].concat())
}

/// As [`serve`], with a line per exchange on stderr unless `--quiet` is among the arguments.
fn serve_logging(args: &[&str]) -> (Child, String) {
    let mut child = parity()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).to_string();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    (child, url)
}

fn run_fail(args: &[&str]) -> (i32, String) {
    let out = parity().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn post(url: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/responses"))
        .header("content-type", "application/json")
        .header("thread-id", "t1")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

fn terminate(child: &mut Child) -> i32 {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "parity serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_bundled_example_is_served_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("caps");
    let (mut child, url) = serve(&["--captures", captures.to_str().unwrap()]);
    let (status, body) = runtime().block_on(post(&url, r#"{"model":"m","input":[]}"#));
    assert_eq!(status, 200);
    assert!(body.contains("\"call_id\":\"call_ls\""), "the example's first step asks for ls");
    assert_eq!(terminate(&mut child), 0);
    let recording = parity_capture::Recording::load(&captures).unwrap();
    assert_eq!(recording.len(), 1);
}

#[test]
fn a_malformed_script_is_refused_naming_file_step_and_fault() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken.toml");
    std::fs::write(
        &script,
        "[[steps]]\noutput = [{ message = \"ok\" }]\n\n[[steps]]\noutput = [{ function_call = { arguments = {} } }]\n",
    )
    .unwrap();
    let (code, stderr) = run_fail(&["serve", "--script", script.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("broken.toml:5:"), "{stderr}");
    assert!(stderr.contains("step 2: output[0].function_call: missing field `name`"), "{stderr}");

    let (code, stderr) = run_fail(&["serve", "--script", dir.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.json"), "{stderr}");
}

#[test]
fn a_used_captures_directory_and_a_missing_origin_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("session-01")).unwrap();
    std::fs::write(dir.path().join("session-01/0001-post-responses.json"), r#"{"format": "parity.capture/v1"}"#)
        .unwrap();
    let (code, stderr) = run_fail(&["serve", "--listen", "127.0.0.1:0", "--captures", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("already holds 1 capture(s)") && stderr.contains("--clean"), "{stderr}");

    let (code, stderr) =
        run_fail(&["serve", "--proxy", "http://127.0.0.1:9/v1", "--origin-key-env", "PARITY_TEST_UNSET_VAR"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("PARITY_TEST_UNSET_VAR is not set"), "{stderr}");
}

/// Plants files, returns them with their contents.
fn plant(root: &Path, files: &[(&str, &str)]) -> Vec<(std::path::PathBuf, String)> {
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

fn assert_all_there(files: &[(std::path::PathBuf, String)]) {
    for (path, text) in files {
        let now = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{} is gone: {e}", path.display()));
        assert_eq!(&now, text, "{} changed", path.display());
    }
}

#[test]
fn clean_removes_only_the_captures_parity_wrote_and_refuses_a_directory_that_is_not_parity_s() {
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("caps");
    // A first run leaves a capture of its own.
    let (mut child, url) = serve(&["--captures", captures.to_str().unwrap()]);
    runtime().block_on(post(&url, r#"{"model":"m","input":[]}"#));
    assert_eq!(terminate(&mut child), 0);
    let earlier = captures.join("session-01/0001-post-responses.json");
    let reference = std::fs::read_to_string(&earlier).unwrap();
    // The user keeps files of their own beside it, some named like captures, and a reference recording deeper.
    let user_files = plant(
        &captures,
        &[
            ("notes/0001-meeting.json", "{\"agenda\": 1}"),
            ("notes/2024-budget.json", "{}"),
            ("0002-notes.json", "{}"),
            ("reference/session-01/0001-post-responses.json", &reference),
            ("session-01/0009-mine.json", "{\"not\": \"a capture\"}"),
        ],
    );
    let (mut child, url) = serve(&["--captures", captures.to_str().unwrap(), "--clean"]);
    runtime().block_on(post(&url, r#"{"model":"m","input":[{"role":"user","content":"second run"}]}"#));
    assert_eq!(terminate(&mut child), 0);
    assert_all_there(&user_files);
    let now = std::fs::read_to_string(&earlier).unwrap();
    assert!(now.contains("second run"), "the earlier run's capture was replaced by the new run's");

    // A directory parity never wrote into is refused with --clean, naming what is there, and left as it was.
    let notes = dir.path().join("notes");
    let user_files = plant(&notes, &[("0001-meeting.json", "{}"), ("session-01/0001-post-responses.json", "{}")]);
    let (code, stderr) =
        run_fail(&["serve", "--listen", "127.0.0.1:0", "--captures", notes.to_str().unwrap(), "--clean"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a parity captures directory"), "{stderr}");
    assert!(stderr.contains("0001-meeting.json") && stderr.contains("session-01/0001-post-responses.json"), "{stderr}");
    assert_all_there(&user_files);
}

#[test]
fn a_killed_server_leaves_only_complete_captures() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hold.json");
    std::fs::write(&script, r#"{"steps": [{"output": [{"message": "held"}], "hold": {"until": "release"}}]}"#).unwrap();
    let captures = dir.path().join("caps");
    let (mut child, url) = serve(&["--script", script.to_str().unwrap(), "--captures", captures.to_str().unwrap()]);
    let rt = runtime();
    let held_url = url.clone();
    let request = std::thread::spawn(move || runtime().block_on(post(&held_url, r#"{"model":"m","input":[]}"#)));
    let file = captures.join("session-01/0001-post-responses.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the held exchange was never written");
        std::thread::sleep(Duration::from_millis(10));
    }
    let holds: serde_json::Value = serde_json::from_str(
        &rt.block_on(async { reqwest::get(format!("{url}/_parity/holds")).await.unwrap().text().await.unwrap() }),
    )
    .unwrap();
    assert_eq!(holds["holds"].as_array().unwrap().len(), 1);

    child.kill().unwrap();
    child.wait().unwrap();
    let _ = request.join();
    assert_every_capture_is_complete(&captures);
    let capture = parity_capture::store::load_capture(&file).unwrap();
    assert_eq!(capture.response.outcome, parity_capture::Outcome::Pending);
    assert_eq!(capture.request.body["model"], "m", "the request survived the kill");
}

fn assert_every_capture_is_complete(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a temporary file: never read, and swept at the next start
        }
        parity_capture::store::load_capture(&entry).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn credentials_never_reach_the_log_the_start_up_line_or_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("expect.toml");
    std::fs::write(
        &script,
        "[[steps]]\noutput = [{ message = \"m\" }]\nexpect = { headers = { authorization = \"Bearer sk-expected-0123456789\" } }\n",
    )
    .unwrap();
    let (mut child, url) = serve_logging(&["--script", script.to_str().unwrap()]);
    let answer = runtime().block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/v1/responses"))
            .header("authorization", "Bearer sk-received-9876543210")
            .body(r#"{"model":"m","input":[]}"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    terminate(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("does not meet step 1's expectations"), "the failure is logged: {log}");
    for text in [&answer, &log] {
        assert!(!text.contains("sk-expected") && !text.contains("sk-received"), "a key leaked: {text}");
    }

    // A proxy URL's password is not printed at start-up.
    let (mut child, _) = serve_logging(&["--proxy", "http://puser:hunter2@127.0.0.1:9/v1?api-key=k3y"]);
    // The start-up line comes on stderr after the address on stdout: read up to it before stopping the server.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("proxy mode") && stderr.read_line(&mut log).unwrap() > 0 {}
    terminate(&mut child);
    assert!(log.contains("proxy mode to http://127.0.0.1:9/v1?api-key=<redacted:"), "{log}");
    assert!(!log.contains("hunter2") && !log.contains("k3y"), "{log}");
}

#[test]
fn an_empty_script_is_warned_of_and_every_request_gets_the_past_the_end_400() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("empty.toml");
    std::fs::write(&script, "").unwrap();
    let (mut child, url) = serve(&["--script", script.to_str().unwrap()]);
    let (status, body) = runtime().block_on(post(&url, r#"{"model":"m","input":[]}"#));
    assert_eq!(status, 400, "{body}");
    assert_eq!(terminate(&mut child), 0);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("empty.toml has no steps: every request will be answered with the past-the-end 400"),
        "{stderr}"
    );
}

#[test]
fn a_key_pasted_into_a_prompt_is_warned_of_and_redact_body_keeps_it_off_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("sk-proj-{}", "Zq9x".repeat(8));
    let body = format!(r#"{{"model":"m","input":[{{"role":"user","content":"my key is {key}"}}]}}"#);
    for redact in [false, true] {
        let captures = dir.path().join(format!("caps-{redact}"));
        let mut args = vec!["--captures", captures.to_str().unwrap()];
        if redact {
            args.extend(["--redact-body", r"sk-[A-Za-z0-9_-]{20,}"]);
        }
        let (mut child, url) = serve(&args);
        runtime().block_on(post(&url, &body));
        assert_eq!(terminate(&mut child), 0);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let on_disk: String = walk(&captures).iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        assert_eq!(on_disk.contains(&key), !redact, "{on_disk}");
        assert_eq!(on_disk.contains("my key is <redacted:"), redact);
        let warned = stderr.contains("holds what looks like an OpenAI API key; it is written as sent");
        assert_eq!(warned, !redact, "{stderr}");
    }
    let (code, stderr) = run_fail(&["serve", "--listen", "127.0.0.1:0", "--redact-body", "(unclosed"]);
    assert_eq!(code, 2, "bad input: {stderr}");
    assert!(stderr.contains("--redact-body \"(unclosed\": regex parse error"), "{stderr}");
}

#[test]
fn chaos_injects_the_faults_its_seed_draws_records_them_and_lets_the_retry_take_the_step() {
    use parity_server::chaos::{Chaos, Fault};
    const REQUESTS: u64 = 12;
    // A seed whose first requests draw faults of several kinds, none a stall (which would hold the test for
    // seconds).
    let seed = (1..10_000u64)
        .find(|&seed| {
            let draws: Vec<Option<Fault>> = (1..=REQUESTS).map(|n| Chaos { seed, rate: 0.5 }.draw(n)).collect();
            let faults = draws.iter().flatten().count();
            let kinds: std::collections::HashSet<std::mem::Discriminant<Fault>> =
                draws.iter().flatten().map(std::mem::discriminant).collect();
            !draws.iter().flatten().any(|f| matches!(f, Fault::Stall { .. }))
                && (4..=8).contains(&faults)
                && kinds.len() >= 3
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("steps.toml");
    let steps: String =
        (1..=REQUESTS).map(|n| format!("[[steps]]\noutput = [{{ message = \"step {n}\" }}]\n\n")).collect();
    std::fs::write(&script, steps).unwrap();
    let mut runs = Vec::new();
    for run in 0..2 {
        let captures = dir.path().join(format!("caps-{run}"));
        let chaos = format!("{seed}:0.5");
        let (mut child, url) =
            serve(&["--script", script.to_str().unwrap(), "--captures", captures.to_str().unwrap(), "--chaos", &chaos]);
        let answers: Vec<(u16, String)> = runtime().block_on(async {
            let mut answers = Vec::new();
            for _ in 0..REQUESTS {
                answers.push(post(&url, r#"{"model":"m","input":[]}"#).await);
            }
            answers
        });
        assert_eq!(terminate(&mut child), 0);
        let recording = parity_capture::Recording::load(&captures).unwrap();
        let mut seen = Vec::new();
        let mut next_step = 1;
        for (exchange, (status, body)) in recording.exchanges().zip(&answers) {
            let capture = &exchange.capture;
            let drawn = Chaos { seed, rate: 0.5 }.draw(capture.arrival);
            let recorded: Option<Fault> =
                capture.chaos.as_ref().map(|c| serde_json::from_value(c["fault"].clone()).unwrap());
            assert_eq!(recorded, drawn, "request {}", capture.arrival);
            match &recorded {
                Some(Fault::Http { status: code, retry_after }) => {
                    assert_eq!(status, code);
                    assert_eq!(capture.response.headers.get("retry-after").is_some(), retry_after.is_some());
                }
                Some(fault) if fault.replaces_answer() => {
                    assert_eq!(*status, 200);
                    assert!(!body.contains("step "), "a replaced answer takes no step: {body}");
                }
                _ => {
                    // No fault, or a trickle: the next step of the script, whole.
                    assert!(body.contains(&format!("step {next_step}")), "request {}: {body}", capture.arrival);
                    next_step += 1;
                }
            }
            seen.push(recorded);
        }
        assert!(seen.iter().flatten().count() >= 4, "{seen:?}");
        runs.push(seen);
    }
    assert_eq!(runs[0], runs[1], "the same seed, the same faults");
}
