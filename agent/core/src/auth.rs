//! The OpenAI credentials of a provider that requires them (`requires_openai_auth`) and has no key of its own
//! (`env_key`, `experimental_bearer_token`): an API key kept in `CODEX_HOME/auth.json`, as upstream 0.169.0's app
//! server writes it on `account/login/start` (`{"auth_mode": "apikey", "OPENAI_API_KEY": KEY}`, mode 0600), or
//! ChatGPT tokens a frontend hands over for the process (`chatgptAuthTokens`: upstream keeps them in memory, a new
//! process does not have them). The last login wins. Signing in to ChatGPT itself (browser, device code), refreshing
//! tokens and upstream's precedence between `auth.json` and `OPENAI_API_KEY` for the built-in provider are not here.

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

/// The credentials in force: the process's ChatGPT tokens, else the API key of `codex_home`'s `auth.json`.
pub fn current(codex_home: &Path) -> Option<OpenAiAuth> {
    if let Some(tokens) = PROCESS_TOKENS.lock().expect("tokens").clone() {
        return Some(tokens);
    }
    let text = std::fs::read_to_string(codex_home.join("auth.json")).ok()?;
    let saved: Value = serde_json::from_str(&text).ok()?;
    let key = saved.get("OPENAI_API_KEY")?.as_str().filter(|k| !k.is_empty())?;
    Some(OpenAiAuth::ApiKey(key.to_string()))
}

/// Keeps `key` in `codex_home`'s `auth.json` (readable by its owner only) and makes it the credentials in force.
pub fn login_api_key(codex_home: &Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(codex_home)?;
    let path = codex_home.join("auth.json");
    let text = serde_json::to_string_pretty(&json!({"auth_mode": "apikey", "OPENAI_API_KEY": key}))?;
    let temporary = codex_home.join(format!(".auth.json.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
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
    }
}
