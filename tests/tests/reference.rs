//! The committed reference captures of upstream Codex: complete, consistent, and served back by replay mode, so
//! that CI needs neither npm nor upstream to check the harness on real traffic.

use std::path::{Path, PathBuf};

use parity_capture::{Capture, Outcome, Recording};
use parity_server::ParityServer;

fn baseline() -> PathBuf {
    parity_e2e::repo().join("captures/codex-0.169.0")
}

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(baseline())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("run.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_baseline_covers_every_scenario_with_upstream_0_169_0() {
    let recorded: Vec<String> =
        scenarios().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut defined: Vec<String> = std::fs::read_dir(parity_e2e::repo().join("fixtures/scenarios"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    defined.sort();
    assert_eq!(recorded, defined, "every scenario has a reference recording (scripts/record-reference.sh)");
    assert!(recorded.len() >= 15);
    for dir in scenarios() {
        let run = parity_recorder::RunRecord::load(&dir.join("run.json")).unwrap();
        assert_eq!(run.agent_version.as_deref(), Some("codex-cli 0.169.0"), "{}", dir.display());
        if run.requests == 0 {
            // Refused before any request: permissions-*-untrusted (0.169.0 no longer takes that setting: it exits
            // 1), exec-policy-malformed (a rules file it cannot read: it exits 1), app-permissions-read-only-on-failure
            // (its app server refuses the policy in thread/start).
            let refused = |turn: &parity_recorder::run::TurnRecord| {
                turn.exit_code == Some(1) || turn.error.as_deref().is_some_and(|e| e.contains("refused thread/start"))
            };
            assert!(run.turns.iter().all(refused), "{}: {:?}", dir.display(), run.failure());
            continue;
        }
        let recording = Recording::load(&dir.join("captures")).unwrap();
        if !run.succeeded() {
            // A turn may fail only where the script made the model fail it (context-length-exceeded, the
            // retry-429-fails pair): the last answer is that failure, and the turn exited 1 (exec) or ended failed
            // (the app server).
            let last = recording.exchanges().last().map(|e| &e.capture.response);
            let failed_answer = last.is_some_and(|r| {
                r.status >= 400 || r.events.iter().any(|e| e.data.get("type") == Some(&"response.failed".into()))
            });
            let turn_failed = run
                .turns
                .iter()
                .any(|t| t.exit_code == Some(1) || t.error.as_deref().is_some_and(|e| e.contains("the turn failed")));
            assert!(failed_answer && turn_failed, "{}: {:?}", dir.display(), run.failure());
        }
        assert_eq!(recording.len(), run.requests, "{}", dir.display());
        assert!(recording.exchanges().all(|e| e.capture.response.outcome != Outcome::Pending));
    }
    assert!(baseline().join("models.json").is_file(), "the catalog is recorded beside the scenarios");
}

/// Sends a recorded request as it was sent (its body, and the headers that identify its session): a model request
/// (over HTTP, whatever its transport was) to `base`'s `/responses`, any other (the model catalog, a token refresh, a
/// refused WebSocket upgrade) with its own method and path to `root`.
async fn resend(root: &str, base: &str, capture: &Capture) -> (u16, Vec<serde_json::Value>) {
    // A refused WebSocket upgrade is a GET with the upgrade's headers: sent again as it was, it is refused again.
    let other = capture.request.method != "POST" || !capture.request.path.ends_with("/responses");
    let client = reqwest::Client::new();
    let mut request = if other {
        let query = capture.request.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
        let method = reqwest::Method::from_bytes(capture.request.method.as_bytes()).unwrap();
        client.request(method, format!("{root}{}{query}", capture.request.path))
    } else {
        client.post(format!("{base}/responses"))
    };
    if !capture.request.body.is_null() {
        request = request.body(serde_json::to_vec(&capture.request.body).unwrap());
    }
    for (name, value) in capture.request.headers.iter() {
        if !["host", "content-length", "authorization"].contains(&name) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    // Chunk by chunk: a recorded cut is replayed as a cut, and the events before it must still count.
    let mut parser = parity_capture::sse::SseParser::new();
    let mut events = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut chunks).await {
        events.extend(parser.push(&chunk).iter().map(|f| f.data_value()));
    }
    (status, events)
}

#[tokio::test]
async fn every_reference_scenario_replays_exactly() {
    for dir in scenarios() {
        let captures = dir.join("captures");
        let recording = Recording::load(&captures).unwrap();
        if recording.exchanges().next().is_none() {
            continue; // a run refused before any request recorded nothing to replay
        }
        let server = ParityServer::replay(recording.clone()).start().await.unwrap();
        for exchange in recording.exchanges() {
            let recorded = &exchange.capture;
            let (status, events) = resend(&server.url(), &server.base_url(), recorded).await;
            let name = display(&dir, &exchange.path);
            assert_eq!(status, recorded.response.status, "{name}");
            let expected: Vec<serde_json::Value> = recorded.response.events.iter().map(|e| e.data.clone()).collect();
            assert_eq!(events, expected, "{name}: the replay sends what upstream was sent");
        }
        let replayed = server.captures().await;
        assert!(
            replayed.iter().all(|c| c.replay.as_ref().is_some_and(|r| r.mismatches.is_empty())),
            "{}",
            dir.display()
        );
    }
}

fn display(dir: &Path, file: &Path) -> String {
    format!("{}/{}", dir.file_name().unwrap().to_string_lossy(), file.strip_prefix(dir).unwrap_or(file).display())
}
