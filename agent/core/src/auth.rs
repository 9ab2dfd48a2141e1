//! The OpenAI credentials of a provider that requires them (`requires_openai_auth`: the built-in `openai` one) and
//! has no key of its own (`env_key`, `experimental_bearer_token`), in upstream 0.169.0's order (as recorded):
//! ChatGPT tokens a frontend handed over for the process (`chatgptAuthTokens`: upstream keeps them in memory), then
//! `CODEX_API_KEY` in the environment, then `CODEX_HOME/auth.json`: an API key as `codex login --with-api-key` and
//! the app server's `account/login/start` write it (`{"auth_mode": "apikey", "OPENAI_API_KEY": KEY}`, mode 0600), or
//! the ChatGPT tokens of a sign-in (`tokens.access_token`, `tokens.account_id`). `OPENAI_API_KEY` in the environment
//! is not a credential here: upstream's exec sends no `Authorization` with it alone. A ChatGPT sign-in whose access
//! token has expired is refreshed as upstream refreshes it ([`refresh_if_expired`]). Signing in to ChatGPT itself
//! (browser, device code) is not here.

use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Credentials to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenAiAuth {
    ApiKey(String),
    ChatgptTokens { access_token: String, account_id: String },
}

impl OpenAiAuth {
    /// The headers they are sent as: the bearer, and ChatGPT's account id.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            OpenAiAuth::ApiKey(key) => vec![("authorization", format!("Bearer {key}"))],
            OpenAiAuth::ChatgptTokens { access_token, account_id } => {
                vec![("authorization", format!("Bearer {access_token}")), ("chatgpt-account-id", account_id.clone())]
            }
        }
    }
}

/// ChatGPT tokens handed over for this process.
static PROCESS_TOKENS: Mutex<Option<OpenAiAuth>> = Mutex::new(None);

/// The variable whose API key wins over `auth.json`.
pub const CODEX_API_KEY_VAR: &str = "CODEX_API_KEY";

/// The credentials in force: the process's ChatGPT tokens, else `CODEX_API_KEY`, else `codex_home`'s `auth.json`.
pub fn current(codex_home: &Path) -> Option<OpenAiAuth> {
    if let Some(tokens) = PROCESS_TOKENS.lock().expect("tokens").clone() {
        return Some(tokens);
    }
    if let Some(key) = std::env::var(CODEX_API_KEY_VAR).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()) {
        return Some(OpenAiAuth::ApiKey(key));
    }
    saved(codex_home)
}

/// What `codex_home`'s `auth.json` holds: its API key, else its ChatGPT tokens.
pub fn saved(codex_home: &Path) -> Option<OpenAiAuth> {
    let text = std::fs::read_to_string(codex_home.join("auth.json")).ok()?;
    let saved: Value = serde_json::from_str(&text).ok()?;
    if let Some(key) = saved.get("OPENAI_API_KEY").and_then(Value::as_str).filter(|k| !k.is_empty()) {
        return Some(OpenAiAuth::ApiKey(key.to_string()));
    }
    let tokens = saved.get("tokens")?;
    let access_token = tokens.get("access_token")?.as_str().filter(|t| !t.is_empty())?.to_string();
    let account_id = tokens.get("account_id")?.as_str()?.to_string();
    Some(OpenAiAuth::ChatgptTokens { access_token, account_id })
}

/// Removes `codex_home`'s `auth.json`; whether there was one.
pub fn logout(codex_home: &Path) -> std::io::Result<bool> {
    *PROCESS_TOKENS.lock().expect("tokens") = None;
    match std::fs::remove_file(codex_home.join("auth.json")) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// An API key as upstream's `login status` shows it: its first 8 and last 5 characters, `***` for a short one.
pub fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 13 {
        return "***".into();
    }
    let prefix: String = chars[..8].iter().collect();
    let suffix: String = chars[chars.len() - 5..].iter().collect();
    format!("{prefix}***{suffix}")
}

/// Where a refresh goes unless `CODEX_REFRESH_TOKEN_URL_OVERRIDE` says otherwise.
const REFRESH_URL: &str = "https://auth.openai.com/oauth/token";
/// The OAuth client upstream 0.169.0 refreshes as (seen in its refresh requests, `openai-chatgpt-refresh`).
const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// The `exp` claim of a JWT (Unix seconds), unverified.
fn expiry(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let claims = token.split('.').nth(1)?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&claims).ok()?.get("exp")?.as_i64()
}

/// Refreshes `codex_home`'s ChatGPT sign-in when its access token has expired, as upstream 0.169.0 does before a
/// session's first request (whatever `last_refresh` says): `POST` of the refresh token to the issuer, the new tokens
/// kept in `auth.json`. `headers` are the request's `originator` and `user-agent`. The new access token, when there
/// was a refresh; a refused one is not the turn's (the expired token is sent, and the server says what it thinks).
pub async fn refresh_if_expired(
    codex_home: &Path,
    http: &reqwest::Client,
    headers: &[(&str, String)],
) -> Option<String> {
    let path = codex_home.join("auth.json");
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    let tokens = saved.get("tokens")?;
    let access = tokens.get("access_token")?.as_str()?;
    if expiry(access)? > jiff::Timestamp::now().as_second() {
        return None;
    }
    let refresh_token = tokens.get("refresh_token")?.as_str()?.to_string();
    let url = std::env::var("CODEX_REFRESH_TOKEN_URL_OVERRIDE").unwrap_or_else(|_| REFRESH_URL.to_string());
    let body = json!({"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_reason": "proactive_expiry",
        "refresh_token": refresh_token});
    let mut request = http.post(&url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.header("accept", "*/*").body(body.to_string()).send().await.ok()?;
    let answer: Value = response.error_for_status().ok()?.json().await.ok()?;
    let tokens = saved.get_mut("tokens")?.as_object_mut()?;
    for key in ["id_token", "access_token", "refresh_token"] {
        if let Some(value) = answer.get(key).and_then(Value::as_str) {
            tokens.insert(key.into(), json!(value));
        }
    }
    let access = tokens.get("access_token")?.as_str()?.to_string();
    saved["last_refresh"] = json!(jiff::Timestamp::now().to_string());
    write_private(&path, &serde_json::to_string_pretty(&saved).ok()?).ok()?;
    Some(access)
}

/// Writes `text` to `path` readable by its owner only, through a temporary file renamed over it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_file_name(format!(".auth.json.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Keeps `key` in `codex_home`'s `auth.json` (readable by its owner only) and makes it the credentials in force.
pub fn login_api_key(codex_home: &Path, key: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(codex_home)?;
    let text = serde_json::to_string_pretty(&json!({"auth_mode": "apikey", "OPENAI_API_KEY": key}))?;
    write_private(&codex_home.join("auth.json"), &text)?;
    *PROCESS_TOKENS.lock().expect("tokens") = None;
    Ok(())
}

/// Makes ChatGPT tokens the credentials in force for this process (nothing is written).
pub fn login_chatgpt_tokens(access_token: &str, account_id: &str) {
    let tokens = OpenAiAuth::ChatgptTokens { access_token: access_token.into(), account_id: account_id.into() };
    *PROCESS_TOKENS.lock().expect("tokens") = Some(tokens);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_login_is_kept_as_upstream_keeps_it_and_the_last_login_wins() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(current(home.path()), None);
        login_api_key(home.path(), "sk-one").unwrap();
        let path = home.path().join("auth.json");
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved, json!({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-one"}));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(current(home.path()), Some(OpenAiAuth::ApiKey("sk-one".into())));
        login_chatgpt_tokens("tok", "ws-1");
        let tokens = current(home.path()).unwrap();
        assert_eq!(tokens.headers()[1], ("chatgpt-account-id", "ws-1".to_string()));
        login_api_key(home.path(), "sk-two").unwrap();
        assert_eq!(current(home.path()), Some(OpenAiAuth::ApiKey("sk-two".into())));
        assert!(logout(home.path()).unwrap());
        assert!(!path.exists() && current(home.path()).is_none());
        assert!(!logout(home.path()).unwrap(), "nothing left to remove");
    }

    #[test]
    fn a_chatgpt_sign_in_is_read_from_auth_json() {
        let home = tempfile::tempdir().unwrap();
        let saved = json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null,
            "tokens": {"id_token": "a.b.c", "access_token": "acc", "refresh_token": "r", "account_id": "acct-1"}});
        std::fs::write(home.path().join("auth.json"), saved.to_string()).unwrap();
        assert_eq!(
            super::saved(home.path()),
            Some(OpenAiAuth::ChatgptTokens { access_token: "acc".into(), account_id: "acct-1".into() })
        );
        std::fs::write(home.path().join("auth.json"), "{\"tokens\": {}}").unwrap();
        assert_eq!(super::saved(home.path()), None, "no access token, no credentials");
    }

    #[test]
    fn keys_are_masked_as_upstream_masks_them() {
        assert_eq!(masked("sk-proj-1234567890ABCDE"), "sk-proj-***ABCDE");
        assert_eq!(masked("sk-test-login-1"), "sk-test-***gin-1");
        assert_eq!(masked("sk-proj-12345"), "***");
    }
}
