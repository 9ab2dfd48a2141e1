//! The built-in provider's set-up (`[agent] provider = "openai"`): where it points and the credentials it finds,
//! as a user has them after `codex login` (an `auth.json`) or in CI (`CODEX_API_KEY`). Every credential is a dummy:
//! captures hold only its redacted fingerprint, which is the same on every run.

use std::path::Path;

use serde_json::json;

use crate::isolate::{API_KEY_VAR, DUMMY_KEY};
use crate::scenario::{Auth, Provider, Scenario};

/// The variable `codex exec` reads an API key from (0.169.0 reads `OPENAI_API_KEY` only to offer it at login).
pub const CODEX_API_KEY_VAR: &str = "CODEX_API_KEY";
/// The ChatGPT account the fake tokens name; agents send it as `chatgpt-account-id` (redacted in captures).
pub const ACCOUNT_ID: &str = parity_server::oauth::ACCOUNT_ID;
/// Where upstream sends a token refresh instead of its issuer: a ChatGPT sign-in points it at the server.
pub const REFRESH_URL_VAR: &str = "CODEX_REFRESH_TOKEN_URL_OVERRIDE";
/// When `chatgpt-expired`'s tokens were last refreshed.
const EXPIRED_REFRESH: &str = "2026-01-01T00:00:00Z";
/// The fake refresh token (a credential too: it never reaches a capture).
pub const REFRESH_TOKEN: &str = "parity-dummy-refresh-token";

/// Points the built-in provider at the server: `openai_base_url`, and no `model_provider` (it defaults to `openai`).
pub fn point_builtin_at(config: &mut toml::Table, base_url: &str) {
    config.remove("model_provider");
    config.insert("openai_base_url".into(), base_url.into());
}

/// Writes the scenario's `auth.json` into `codex_home` (when its credentials are kept there) and returns the
/// credential variables of the agent's environment.
pub fn lay_out(scenario: &Scenario, codex_home: &Path, base_url: &str) -> std::io::Result<Vec<(String, String)>> {
    let options = &scenario.agent;
    if options.provider == Provider::Parity {
        return Ok(vec![(API_KEY_VAR.into(), DUMMY_KEY.into())]);
    }
    let auth = options.auth.unwrap_or_default();
    let saved = match auth {
        Auth::Env => return Ok(vec![(CODEX_API_KEY_VAR.into(), DUMMY_KEY.into())]),
        Auth::ApiKey => json!({"auth_mode": "apikey", "OPENAI_API_KEY": DUMMY_KEY}),
        Auth::Chatgpt | Auth::ChatgptExpired => {
            // Upstream 0.169.0 refreshes an access token that has expired, whatever `last_refresh` says.
            let (last_refresh, exp) = match auth {
                Auth::ChatgptExpired => (EXPIRED_REFRESH.to_string(), parity_server::oauth::PAST_EXPIRY),
                _ => (jiff::Timestamp::now().to_string(), parity_server::oauth::FAR_EXPIRY),
            };
            json!({
                "auth_mode": "chatgpt",
                "OPENAI_API_KEY": null,
                "tokens": {
                    "id_token": parity_server::oauth::id_token(),
                    "access_token": parity_server::oauth::access_token(exp),
                    "refresh_token": REFRESH_TOKEN,
                    "account_id": ACCOUNT_ID,
                },
                "last_refresh": last_refresh,
            })
        }
    };
    write_private(&codex_home.join("auth.json"), &serde_json::to_string_pretty(&saved)?)?;
    // Any refresh a signed-in agent attempts reaches the server (and the capture), never the real issuer.
    if matches!(auth, Auth::Chatgpt | Auth::ChatgptExpired) {
        let root = base_url.strip_suffix("/v1").unwrap_or(base_url);
        return Ok(vec![(REFRESH_URL_VAR.into(), format!("{root}/oauth/token"))]);
    }
    Ok(Vec::new())
}

/// Writes a file readable by its owner only, as upstream writes `auth.json`.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isolate::{RunDirs, config_toml};
    use base64::Engine as _;

    fn scenario(agent: &str) -> Scenario {
        let text = format!("prompt = \"p\"\n[agent]\n{agent}\n[[script.steps]]\noutput = [{{ message = \"m\" }}]\n");
        Scenario::parse(&text, Path::new("/s/demo.toml")).unwrap()
    }

    fn env_of(dirs: &RunDirs) -> std::collections::BTreeMap<String, String> {
        dirs.env("http://127.0.0.1:9/v1", 1).into_iter().collect()
    }

    #[test]
    fn the_builtin_provider_has_no_provider_table_and_points_by_openai_base_url() {
        let s = scenario("provider = \"openai\"\nconfig = { model_reasoning_effort = \"high\" }");
        let config: toml::Table = toml::from_str(&config_toml(&s, "http://127.0.0.1:9/v1")).unwrap();
        assert_eq!(config["openai_base_url"].as_str(), Some("http://127.0.0.1:9/v1"));
        assert!(config.get("model_providers").is_none() && config.get("model_provider").is_none(), "{config}");
        assert_eq!(config["model_reasoning_effort"].as_str(), Some("high"));
    }

    #[test]
    fn each_kind_of_credentials_is_laid_out_where_upstream_reads_it() {
        let work = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let read = |dirs: &RunDirs| -> serde_json::Value {
            let path = dirs.codex_home.join("auth.json");
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };

        let dirs = RunDirs::create(work.path(), &scenario("provider = \"openai\""), "http://x/v1").unwrap();
        assert_eq!(read(&dirs), json!({"auth_mode": "apikey", "OPENAI_API_KEY": DUMMY_KEY}), "api-key by default");
        let env = env_of(&dirs);
        assert!(!env.contains_key(API_KEY_VAR) && !env.contains_key(CODEX_API_KEY_VAR), "{env:?}");

        let dirs =
            RunDirs::create(work.path(), &scenario("provider = \"openai\"\nauth = \"env\""), "http://x/v1").unwrap();
        assert!(!dirs.codex_home.join("auth.json").exists());
        assert_eq!(env_of(&dirs)[CODEX_API_KEY_VAR], DUMMY_KEY);

        let dirs = RunDirs::create(work.path(), &scenario("provider = \"openai\"\nauth = \"chatgpt\""), "http://x/v1")
            .unwrap();
        let saved = read(&dirs);
        assert_eq!(saved["auth_mode"], "chatgpt");
        assert_eq!(saved["tokens"]["account_id"], ACCOUNT_ID);
        let claims = saved["tokens"]["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
        let claims: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["https://api.openai.com/auth"]["chatgpt_account_id"], ACCOUNT_ID);
        let refreshed: jiff::Timestamp = saved["last_refresh"].as_str().unwrap().parse().unwrap();
        assert!(jiff::Timestamp::now().duration_since(refreshed).as_secs() < 60, "refreshed just now");
        assert_eq!(env_of(&dirs)[REFRESH_URL_VAR], "http://x/oauth/token");

        let dirs =
            RunDirs::create(work.path(), &scenario("provider = \"openai\"\nauth = \"chatgpt-expired\""), "http://x/v1")
                .unwrap();
        let saved = read(&dirs);
        assert_eq!(saved["last_refresh"], EXPIRED_REFRESH);
        let access = saved["tokens"]["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
        let access: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(access).unwrap()).unwrap();
        assert_eq!(access["exp"], parity_server::oauth::PAST_EXPIRY, "an access token that has expired");
        assert_eq!(env_of(&dirs)[REFRESH_URL_VAR], "http://x/oauth/token");

        let dirs = RunDirs::create(work.path(), &scenario(""), "http://x/v1").unwrap();
        assert_eq!(env_of(&dirs)[API_KEY_VAR], DUMMY_KEY, "the custom provider keeps its key variable");
        assert!(!dirs.codex_home.join("auth.json").exists());
    }

    #[test]
    fn credentials_without_the_builtin_provider_and_a_provider_table_with_it_are_refused() {
        let parse = |agent: &str| {
            let text =
                format!("prompt = \"p\"\n[agent]\n{agent}\n[[script.steps]]\noutput = [{{ message = \"m\" }}]\n");
            Scenario::parse(&text, Path::new("/s/demo.toml")).unwrap_err().to_string()
        };
        assert!(parse("auth = \"env\"").contains("agent.auth: only the built-in provider"));
        let e = parse("provider = \"openai\"\nconfig = { model_providers = { x = { name = \"x\" } } }");
        assert!(e.contains("agent.config.model_providers"), "{e}");
        assert!(parse("provider = \"openai\"\nauth = \"oauth\"").contains("auth"));
        assert!(parse("provider = \"azure\"").contains("provider"));
    }
}
