//! The control API under `/_parity`: what it answers, and that none of it is ever taken for agent traffic.

mod common;

use std::time::Duration;

use common::{client, codex_body, post, read};
use parity_server::{ParityServer, Step};
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
