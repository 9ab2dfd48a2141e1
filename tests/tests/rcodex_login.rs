//! rcodex on the built-in OpenAI provider's credentials: `rcodex login --with-api-key`, `login status` and `logout`
//! as upstream 0.169.0's `codex login` writes and prints them (observed by running it), and credentials that never
//! reach a file: a key and ChatGPT tokens are planted, a turn runs, and every file the run wrote is searched.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use parity_e2e::Run;
use parity_server::Step;

/// Runs `rcodex ARGS` in the run's isolated environment with `stdin` piped in; (exit code, stderr).
fn rcodex(run: &Run, args: &[&str], stdin: &str) -> (Option<i32>, String) {
    let mut child =
        run.rcodex(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "upstream prints nothing on stdout: {}", String::from_utf8_lossy(&out.stdout));
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn login_with_an_api_key_is_kept_shown_and_removed_as_upstream_does() {
    let run = Run::new("http://127.0.0.1:9/v1", "", "");
    let auth = run.home.join("auth.json");

    let (code, stderr) = rcodex(&run, &["login", "--with-api-key"], "  sk-test-login-1  \n");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "Reading API key from stdin...\nAPI key saved. Authentication is checked when you send a request.\n"
    );
    assert_eq!(
        std::fs::read_to_string(&auth).unwrap(),
        "{\n  \"auth_mode\": \"apikey\",\n  \"OPENAI_API_KEY\": \"sk-test-login-1\"\n}"
    );
    assert_eq!(std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777, 0o600, "readable by its owner only");

    let (code, stderr) = rcodex(&run, &["login", "status"], "");
    assert_eq!(
        (code, stderr.as_str()),
        (Some(0), "API key configured - sk-test-***gin-1\nAuthentication is checked when you send a request.\n")
    );

    let (code, stderr) = rcodex(&run, &["logout"], "");
    assert_eq!((code, stderr.as_str()), (Some(0), "Successfully logged out\n"));
    assert!(!auth.exists());
    let (code, stderr) = rcodex(&run, &["logout"], "");
    assert_eq!((code, stderr.as_str()), (Some(0), "Not logged in\n"));
    let (code, stderr) = rcodex(&run, &["login", "status"], "");
    assert_eq!((code, stderr.as_str()), (Some(1), "Not logged in\n"));

    let (code, stderr) = rcodex(&run, &["login", "--with-api-key"], " \n");
    assert_eq!((code, stderr.as_str()), (Some(1), "Reading API key from stdin...\nNo API key provided via stdin.\n"));
    assert!(!auth.exists(), "nothing written for an empty key");
}

/// Everything under `dir`, as (path, bytes).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    walk(dir).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap_or_default())).collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn planted_keys_and_tokens_reach_no_capture_rollout_or_log() {
    let key = "sk-planted-api-key-7f3a9c";
    let access = "planted-access-token-51be";
    let refresh = "planted-refresh-token-c0d2";
    let account = "acct-planted-88e1";
    for (name, saved, secrets) in [
        ("api key", serde_json::json!({"auth_mode": "apikey", "OPENAI_API_KEY": key}), vec![key]),
        (
            "chatgpt",
            serde_json::json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null, "tokens": {
                "id_token": "e30.e30.c2ln", "access_token": access, "refresh_token": refresh, "account_id": account},
                "last_refresh": "2026-12-01T00:00:00Z"}),
            vec![access, refresh, account],
        ),
    ] {
        let captures = tempfile::tempdir().unwrap();
        let s = parity_server::ParityServer::scripted([Step::message("Hello!")])
            .captures_dir(captures.path())
            .start()
            .await
            .unwrap();
        let config = format!("model_provider = \"openai\"\nopenai_base_url = \"{}\"", s.base_url());
        let run = Run::new(&s.base_url(), &config, "");
        std::fs::write(run.home.join("auth.json"), saved.to_string()).unwrap();
        let out = run.exec(&["Say hello."]).await;
        assert_eq!(out.code, Some(0), "{name}: {}", out.explain());
        let requests = s.model_requests().await;
        assert!(!requests.is_empty(), "{name}: the turn reached the server");
        let auth = requests.last().unwrap().request.header("authorization").unwrap_or_default().to_string();
        assert!(auth.starts_with("Bearer <redacted:"), "{name}: the credential was sent, and redacted: {auth}");
        s.shutdown(std::time::Duration::from_secs(5)).await;

        let mut written = files_under(captures.path());
        written.extend(files_under(run.dir()).into_iter().filter(|(p, _)| !p.ends_with("auth.json")));
        assert!(written.iter().any(|(p, _)| p.to_string_lossy().contains("rollout-")), "{name}: a rollout was written");
        assert!(written.iter().any(|(p, _)| p.to_string_lossy().contains("captures")), "{name}: captures were written");
        written.push(("stdout".into(), out.stdout.clone().into_bytes()));
        written.push(("stderr".into(), out.stderr.clone().into_bytes()));
        for secret in &secrets {
            for (path, bytes) in &written {
                assert!(!contains(bytes, secret), "{name}: {secret} is in {}", path.display());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_chatgpt_access_token_is_refreshed_first_and_the_new_tokens_are_kept() {
    use parity_server::oauth;
    let s = parity_server::ParityServer::scripted([Step::message("Hello!")]).start().await.unwrap();
    let config =
        format!("model_provider = \"openai\"\nopenai_base_url = \"{}\"\n[features]\napps = false", s.base_url());
    let run = Run::new(&s.base_url(), &config, "");
    let saved = serde_json::json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null, "tokens": {
        "id_token": oauth::id_token(), "access_token": oauth::access_token(oauth::PAST_EXPIRY),
        "refresh_token": "rt-before", "account_id": oauth::ACCOUNT_ID}, "last_refresh": "2026-01-01T00:00:00Z"});
    std::fs::write(run.home.join("auth.json"), saved.to_string()).unwrap();
    let refresh_url = format!("{}/oauth/token", s.url());
    let mut command = run.rcodex(&["exec", "--skip-git-repo-check", "--json", "Say hello."]);
    command.env("CODEX_REFRESH_TOKEN_URL_OVERRIDE", &refresh_url);
    let out = parity_e2e::outcome(command).await;
    assert_eq!(out.code, Some(0), "{}", out.explain());

    let captures = s.captures().await;
    let refresh = captures.iter().find(|c| c.request.path == "/oauth/token").expect("a refresh was sent");
    assert_eq!(refresh.request.body["grant_type"], "refresh_token");
    let redacted = format!("<redacted:{}>", parity_capture::redact::fingerprint("rt-before"));
    assert_eq!(refresh.request.body["refresh_token"], redacted.as_str(), "sent, and redacted in the capture");
    let first_model = captures.iter().position(|c| c.request.path.ends_with("/responses")).unwrap();
    assert!(captures.iter().position(|c| c.request.path == "/oauth/token").unwrap() < first_model, "refreshed first");
    let sent = captures[first_model].request.header("authorization").unwrap().to_string();
    let new_access = oauth::refreshed()["access_token"].as_str().unwrap().to_string();
    assert_eq!(sent, format!("Bearer <redacted:{}>", parity_capture::redact::fingerprint(&new_access)));

    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.home.join("auth.json")).unwrap()).unwrap();
    assert_eq!(kept["tokens"]["access_token"], new_access.as_str());
    assert_eq!(kept["tokens"]["refresh_token"], oauth::refreshed()["refresh_token"]);
    assert_eq!(kept["tokens"]["account_id"], oauth::ACCOUNT_ID);
    assert_ne!(kept["last_refresh"], "2026-01-01T00:00:00Z");
}
