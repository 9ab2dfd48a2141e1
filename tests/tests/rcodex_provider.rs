//! rcodex's `[model_providers.<id>]` as a user writes it, and how rcodex retries what the provider answers: a bad
//! table is refused before anything is sent, upstream's keys are taken and unknown ones warned about, and a retried
//! status waits what the server said before giving upstream's message.

use parity_e2e::{Run, scripted};
use parity_server::Step;

/// The run's config.toml with its provider's `base_url` line replaced.
fn set_base_url(run: &Run, url: &str) -> String {
    let path = run.home.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let replaced: Vec<String> = text
        .lines()
        .map(|l| if l.starts_with("base_url =") { format!("base_url = \"{url}\"") } else { l.to_string() })
        .collect();
    std::fs::write(&path, replaced.join("\n")).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_base_url_or_header_is_refused_when_the_configuration_is_read() {
    let s = scripted([Step::message("never")]).await;
    let run = Run::new(&s.base_url(), "", "");
    let file = set_base_url(&run, "not a url");
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    assert!(out.events.is_empty(), "refused before the session starts: {}", out.explain());
    let expected = format!("{file}: model_providers.parity.base_url: `not a url` is not a URL");
    assert!(out.stderr.contains(&expected), "names the file and the key: {}", out.explain());
    assert!(!out.stderr.contains("builder error"), "{}", out.explain());

    for (lines, key, what) in [
        ("http_headers = { \"bad name\" = \"x\" }", "http_headers", "`bad name` is not a valid HTTP header name"),
        ("http_headers = { \"x-team\" = \"a\\nb\" }", "http_headers", "the value of `x-team`"),
        ("env_http_headers = { \"bad name\" = \"PATH\" }", "env_http_headers", "`bad name`"),
    ] {
        let run = Run::new(&s.base_url(), "", lines);
        let out = run.exec(&["go"]).await;
        assert_eq!(out.code, Some(1), "{lines}: {}", out.explain());
        assert!(out.stderr.contains(&format!("config.toml: model_providers.parity.{key}")), "{}", out.explain());
        assert!(out.stderr.contains(what), "{}", out.explain());
    }
    assert!(s.model_requests().await.is_empty(), "nothing was sent, let alone retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_provider_keys_are_taken_and_unknown_ones_are_warnings() {
    let s = scripted([Step::message("ok")]).await;
    // What the SDKs write: upstream's keys; and one nobody knows.
    let run = Run::new(
        &s.base_url(),
        "",
        "supports_websockets = false\nwebsocket_connect_timeout_ms = 1000\nrequires_openai_auth = false\n\
         env_key_instructions = \"set it\"\nexperimental_bearer_token = \"tok-from-config\"\nfoo_bar = 1",
    );
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let warnings: Vec<String> = out
        .of_type("item.completed")
        .iter()
        .filter(|e| e["item"]["type"] == "error")
        .map(|e| e["item"]["message"].as_str().unwrap().to_string())
        .collect();
    // Upstream's words for a key it does not know, told twice as upstream 0.169.0 tells its startup warnings.
    let told = format!(
        "Codex is ignoring 1 unrecognized configuration setting. Check for typos or deprecated settings.\n  user ({}): \
         `model_providers.parity.foo_bar` is ignored.",
        run.home.join("config.toml").display()
    );
    assert_eq!(warnings, [told.clone(), told]);
    let request = &s.model_requests().await[0].request;
    let env_key = format!("Bearer <redacted:{}>", parity_capture::redact::fingerprint("sk-e2e-dummy"));
    assert_eq!(request.header("authorization"), Some(env_key.as_str()), "env_key wins over the token, as upstream");

    // Without env_key, the token in the file is the bearer (upstream 0.169.0 sends it so).
    let s = scripted([Step::message("ok")]).await;
    let run = Run::new(&s.base_url(), "", "experimental_bearer_token = \"tok-from-config\"");
    let path = run.home.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.lines().filter(|l| !l.starts_with("env_key")).collect::<Vec<_>>().join("\n")).unwrap();
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());
    let token = format!("Bearer <redacted:{}>", parity_capture::redact::fingerprint("tok-from-config"));
    assert_eq!(s.model_requests().await[0].request.header("authorization"), Some(token.as_str()));
}

/// Seconds since midnight of a capture's `received_at` (`2026-12-05T14:19:59.85Z`).
fn time_of_day(received_at: &str) -> f64 {
    let time = received_at.split('T').nth(1).unwrap().trim_end_matches('Z');
    let parts: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_500_waits_its_retry_after_and_ends_with_upstream_s_message() {
    // Upstream 0.169.0, against this script with the default budget, sent 30 requests one second apart, each retry
    // (quiet ones and `Reconnecting...` ones alike) waiting the `Retry-After: 1` it was given; and it ended with its
    // own words for a 500, not the body.
    let s = scripted(std::iter::repeat_with(|| Step::http_error(500).retry_after(1)).take(4).collect::<Vec<_>>()).await;
    let run = Run::new(&s.base_url(), "", "request_max_retries = 1\nstream_max_retries = 1");
    let out = run.exec(&["go"]).await;
    assert_eq!(out.code, Some(1), "{}", out.explain());
    let requests = s.model_requests().await;
    assert_eq!(requests.len(), 4, "two attempts (one request retry), twice (one stream retry)");
    let times: Vec<f64> = requests.iter().map(|c| time_of_day(&c.received_at)).collect();
    for (i, pair) in times.windows(2).enumerate() {
        let gap = (pair[1] - pair[0]).rem_euclid(86_400.0);
        assert!(gap >= 0.9, "retry {} came after {gap:.2} s, not the 1 s Retry-After: {times:?}", i + 1);
        assert!(gap < 5.0, "retry {} came after {gap:.2} s: {times:?}", i + 1);
    }
    let high_demand = "We\u{2019}re currently experiencing high demand, which may cause temporary errors.";
    assert_eq!(out.errors(), [format!("Reconnecting... 1/1 ({high_demand})"), high_demand.to_string()]);
    assert_eq!(out.of_type("turn.failed")[0]["error"]["message"], high_demand);
}
