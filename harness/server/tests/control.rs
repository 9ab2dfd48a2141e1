//! The control API under `/_parity`: what it answers, and that none of it is ever taken for agent traffic.

mod common;

use std::time::Duration;

use common::{client, codex_body, post, read};
use parity_server::{ParityServer, Script, Step};
use serde_json::Value;

async fn start(steps: impl IntoIterator<Item = Step>) -> ParityServer {
    ParityServer::scripted(steps.into_iter().collect::<Vec<_>>()).start().await.expect("server starts")
}

fn routes_listed(body: &Value) -> Vec<String> {
    body["routes"]
        .as_array()
        .unwrap_or_else(|| panic!("no routes in {body}"))
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn an_unknown_control_path_is_a_404_listing_the_api_and_is_never_captured() {
    let server = start([Step::message("only")]).await;
    let url = server.url();
    for (method, path) in [
        ("POST", "/_parity/nope"),
        ("GET", "/_parity/captures/1/body/extra"),
        ("GET", "/_parity"),
        ("GET", "/_parity/"),
        ("DELETE", "/_parity/holds/steer/release/now"),
    ] {
        let request = client().request(method.parse().unwrap(), format!("{url}{path}")).body("{}");
        let reply = read(request).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
        let body = reply.json();
        assert!(body["error"]["message"].as_str().unwrap().contains(path), "{body}");
        let routes = routes_listed(&body);
        for route in ["GET /_parity/health", "GET /_parity/captures", "POST /_parity/holds/{name}/release"] {
            assert!(routes.iter().any(|r| r == route), "{route} missing from {routes:?}");
        }
    }
    // A known path with the wrong method is refused the same way, not served as agent traffic.
    let wrong = read(client().get(format!("{url}/_parity/holds/release"))).await;
    assert_eq!(wrong.status, 405, "{}", wrong.body);
    assert!(!routes_listed(&wrong.json()).is_empty());

    assert!(server.settle(Duration::from_secs(5)).await);
    assert!(server.captures().await.is_empty(), "control paths never enter the captures");
    let health = common::get_json(&format!("{url}/_parity/health")).await;
    assert_eq!((health["sessions"].as_u64(), health["requests"].as_u64()), (Some(0), Some(0)), "{health}");
    // The script was not touched either: the agent's first request still gets step 1.
    let reply = post(&server.base_url(), &codex_body("x"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_capture_is_served_whole_as_on_disk_and_a_missing_one_names_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        ParityServer::scripted([Step::message("hello")]).captures_dir(dir.path()).start().await.expect("starts");
    let secret = "sk-live-0123456789abcdefghij";
    let auth = format!("Bearer {secret}");
    post(&server.base_url(), &codex_body("x"), &[("authorization", auth.as_str())]).await;
    assert!(server.settle(Duration::from_secs(5)).await);

    let reply = read(client().get(format!("{}/_parity/captures/1", server.url()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let on_disk = std::fs::read_to_string(dir.path().join("session-01/0001-post-responses.json")).unwrap();
    assert_eq!(reply.body, on_disk, "the control API serves the very document on disk");
    assert!(!reply.body.contains(secret) && reply.body.contains("Bearer <redacted:"));
    let capture = server.capture(1).await.unwrap();
    assert_eq!(serde_json::to_value(&capture).unwrap(), reply.json());

    for (path, words) in [("2", "no capture 2: this run has capture 1 only"), ("first", "\"first\" is not a capture")] {
        let missing = read(client().get(format!("{}/_parity/captures/{path}", server.url()))).await;
        assert_eq!(missing.status, 404, "{}", missing.body);
        assert!(missing.error_message().contains(words), "{words:?} in {}", missing.body);
    }
    assert_eq!(server.capture(0).await.unwrap_err().message, "no capture 0: this run has capture 1 only");
    assert_eq!(server.captures().await.len(), 1, "reading captures is not captured");
}

#[tokio::test]
async fn reset_forgets_the_run_restarts_the_script_and_removes_only_this_runs_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let script = [Step::message("first"), Step::message("second").hold(parity_server::Hold::named("h"))];
    let server = ParityServer::scripted(script).captures_dir(dir.path()).start().await.expect("starts");
    let base = server.base_url();
    post(&base, &codex_body("x"), &[("thread-id", "a")]).await;
    post(&base, &codex_body("x"), &[("thread-id", "b")]).await;
    let held_base = base.clone();
    let held = tokio::spawn(async move { post(&held_base, &codex_body("y"), &[("thread-id", "a")]).await });
    server.wait_for_hold("h", Duration::from_secs(5)).await.expect("held");
    std::fs::write(dir.path().join("session-01/notes.txt"), "also mine").unwrap();

    let reply = read(client().post(format!("{}/_parity/reset", server.url()))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cleared = &reply.json()["cleared"];
    assert_eq!((cleared["captures_cleared"].as_u64(), cleared["holds_released"].as_u64()), (Some(3), Some(1)));
    let held = tokio::time::timeout(Duration::from_secs(5), held).await.expect("a reset lets held streams end");
    assert_eq!(held.unwrap().status, 200);
    assert!(server.settle(Duration::from_secs(5)).await);
    assert!(server.captures().await.is_empty(), "the stream held across the reset belongs to the cleared run");
    let health = common::get_json(&format!("{}/_parity/health", server.url())).await;
    assert_eq!((health["sessions"].as_u64(), health["requests"].as_u64()), (Some(0), Some(0)), "{health}");

    let mut left = walk(dir.path());
    left.sort();
    assert_eq!(left, [".parity-captures", "notes.txt", "session-01/notes.txt"], "only this run's captures go");

    // Session b comes first now: it is session 1, and the script starts again at step 1.
    let again = post(&base, &codex_body("x"), &[("thread-id", "b")]).await;
    let text = &again.last_data()["response"]["output"][0]["content"][0]["text"];
    assert_eq!(text, "first");
    let captures = server.captures().await;
    assert_eq!(captures.len(), 1);
    assert_eq!((captures[0].arrival, captures[0].session.index, captures[0].seq), (1, 1, 1));
    assert_eq!(captures[0].session.key, "b");
    assert!(dir.path().join("session-01/0001-post-responses.json").exists());
    assert_eq!(server.reset().captures_cleared, 1, "the library resets the same way");
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() {
                dirs.push(entry.path());
            } else {
                found.push(entry.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn a_script_posted_at_run_time_replaces_the_running_one_or_is_refused_naming_line_and_field() {
    let server = start([Step::message("old one"), Step::message("old two")]).await;
    let url = format!("{}/_parity/script", server.url());
    let text = |r: &common::Reply| r.last_data()["response"]["output"][0]["content"][0]["text"].clone();
    assert_eq!(text(&post(&server.base_url(), &codex_body("x"), &[]).await), "old one");

    let toml = "[[steps]]\noutput = [{ message = \"new one\" }]\n";
    let reply = read(client().post(&url).header("content-type", "application/toml").body(toml)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["steps"], 1);
    assert_eq!(text(&post(&server.base_url(), &codex_body("x"), &[]).await), "new one", "the new script, from step 1");

    let broken = "{\"steps\": [{\"output\": []},\n {\"output\": [{\"function_call\": {\"arguments\": {}}}]}]}";
    let reply = read(client().post(&url).header("content-type", "application/json").body(broken)).await;
    assert_eq!(reply.status, 400);
    let message = reply.error_message();
    assert!(message.starts_with("POST /_parity/script:2:"), "{message}");
    assert!(message.contains("step 2: output[0].function_call: missing field `name`"), "{message}");
    let as_at_load = Script::parse(broken, parity_server::script::Syntax::Json, "POST /_parity/script").unwrap_err();
    assert_eq!(message, as_at_load.to_string(), "the same text as when a script file is loaded");

    // ?format= wins over the content type.
    let reply =
        read(client().post(format!("{url}?format=toml")).header("content-type", "application/json").body(toml)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = read(client().post(format!("{url}?format=yaml")).body(toml)).await;
    assert_eq!(reply.status, 400);
    assert!(reply.error_message().contains("json or toml"), "{}", reply.body);

    let refused = server.set_script([Step::message("m").hold_before("response.nope")]).unwrap_err().to_string();
    assert!(refused.contains("step 1: hold.before \"response.nope\" matches no event"), "{refused}");
    server.set_script([Step::message("from the library")]).unwrap();
    assert_eq!(text(&post(&server.base_url(), &codex_body("x"), &[]).await), "from the library");
    assert_eq!(server.captures().await.len(), 3, "posting scripts is not captured; earlier captures stay");

    let config = parity_server::ProxyConfig { origin: "http://127.0.0.1:9/v1".into(), credential: None };
    let proxy = ParityServer::proxy(config).start().await.unwrap();
    let reply = read(client().post(format!("{}/_parity/script", proxy.url())).body(toml)).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.error_message().contains("proxy mode; only a scripted server takes a script"), "{}", reply.body);
    assert!(proxy.captures().await.is_empty());
}
