//! The repository's scenarios, answered again: each reference capture's request, sent to a server running the
//! scenario's script, gets the very events and script account it got when the reference was recorded. This is what
//! keeps scripts without `match` answering exactly as they always did.

use std::path::{Path, PathBuf};

use parity_capture::{Capture, Recording};
use parity_server::script::{OutputItem, Syntax};
use parity_server::{ParityServer, Script};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scenario_script(path: &Path) -> Script {
    let text = std::fs::read_to_string(path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    match &table["script"] {
        toml::Value::Table(t) => Script::parse(&toml::to_string(t).unwrap(), Syntax::Toml, &path.display().to_string()),
        toml::Value::String(file) => Script::load(&path.parent().unwrap().join(file)),
        other => panic!("{}: script is {other}", path.display()),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Headers that describe the recorded transport rather than the request: the body is kept decoded.
const NOT_RESENT: &[&str] = &["host", "content-length", "content-encoding", "transfer-encoding", "connection"];

async fn resend(client: &reqwest::Client, url: &str, capture: &Capture) {
    let request = &capture.request;
    let mut builder = client.request(request.method.parse().unwrap(), format!("{url}{}", request.path));
    for (name, value) in request.headers.iter() {
        if !NOT_RESENT.contains(&name) {
            builder = builder.header(name, value);
        }
    }
    if !request.body.is_null() {
        builder = builder.body(serde_json::to_vec(&request.body).unwrap());
    }
    // A step may cut the connection on purpose; what the server did is read from its capture.
    if let Ok(response) = builder.send().await {
        let _ = response.bytes().await;
    }
}

/// Whether the script stops a stream anywhere: what follows a hold depends on the client (its steer, its interrupt, its
/// closing the stream), which a request sent again cannot reproduce.
fn holds_anywhere(script: &Script) -> bool {
    let steps = script.steps.iter().chain(script.sessions.iter().flat_map(|s| &s.steps));
    steps.into_iter().any(|s| s.hold.is_some() || s.output.iter().any(|o| matches!(o, OutputItem::Hold(_))))
}

fn answer_of(capture: &Capture) -> Value {
    // Over the WebSocket an HTTP error is sent as an `error` frame, which the capture keeps as an event; sent again
    // over HTTP, the same answer is its status and body alone.
    let websocket = capture.transport == Some(parity_capture::Transport::Websocket);
    let wraps_status =
        |event: &Value| websocket && event["type"] == "error" && event["status"] == capture.response.status;
    let events: Vec<&Value> = capture.response.events.iter().map(|e| &e.data).filter(|e| !wraps_status(e)).collect();
    serde_json::json!({
        "status": capture.response.status,
        "outcome": capture.response.outcome,
        "events": events,
        "body": capture.response.body,
        "script": capture.script,
    })
}

#[tokio::test]
async fn every_reference_scenario_is_answered_exactly_as_when_it_was_recorded() {
    let references = root().join("captures/codex-0.169.0");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
    let mut compared = 0;
    for entry in std::fs::read_dir(&references).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let scenario = root().join("fixtures/scenarios").join(format!("{name}.toml"));
        let captures_dir = entry.path().join("captures");
        if !scenario.exists() || !captures_dir.exists() {
            continue;
        }
        let recording = Recording::load(&captures_dir).unwrap();
        let mut recorded: Vec<&Capture> = recording.exchanges().map(|e| &e.capture).collect();
        recorded.sort_by_key(|c| c.arrival);
        let script = scenario_script(&scenario);
        if holds_anywhere(&script) {
            continue;
        }
        let server = ParityServer::scripted(script).start().await.unwrap();
        for capture in &recorded {
            resend(&client, &server.url(), capture).await;
            server.settle(std::time::Duration::from_secs(30)).await;
        }
        let answered = server.captures().await;
        assert_eq!(answered.len(), recorded.len(), "{name}");
        for (new, old) in answered.iter().zip(&recorded) {
            assert_eq!(
                answer_of(new),
                answer_of(old),
                "{name}: session {} request {} is answered differently from the reference",
                old.session.index,
                old.seq
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} reference requests were found under {}", references.display());
}
