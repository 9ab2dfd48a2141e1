//! A ChatGPT sign-in's tokens, faked: what the recorder writes into an agent's `auth.json` and what the scripted
//! server answers to a token refresh (`POST .../oauth/token`, where `CODEX_REFRESH_TOKEN_URL_OVERRIDE` sends
//! upstream's). The tokens are unsigned JWTs (`alg: none`): agents read an id token's claims, never verify it.

use base64::Engine as _;
use serde_json::{Value, json};

/// The ChatGPT account the fake tokens name; agents send it as `chatgpt-account-id` (redacted in captures).
pub const ACCOUNT_ID: &str = "acct-parity-0001";
/// When the fake tokens were issued (2026-01-01).
const ISSUED: i64 = 1_767_225_600;
/// When the fake tokens expire (2100-01-01): never during a run.
pub const FAR_EXPIRY: i64 = 4_102_444_800;
/// An expiry already past (an hour after issue): an agent refreshes such an access token before using it.
pub const PAST_EXPIRY: i64 = ISSUED + 3600;

fn jwt(claims: Value) -> String {
    let encode = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", encode(&json!({"alg": "none", "typ": "JWT"})), encode(&claims), "cGFyaXR5")
}

/// The id token of a sign-in: the account id and plan under OpenAI's auth claim, an email.
pub fn id_token() -> String {
    jwt(json!({
        "email": "parity@example.invalid",
        "https://api.openai.com/auth": {
            "chatgpt_account_id": ACCOUNT_ID,
            "chatgpt_plan_type": "pro",
            "chatgpt_user_id": "user-parity",
        },
        "iat": ISSUED,
        "exp": FAR_EXPIRY,
    }))
}

/// The access token sent as the bearer, expiring at `exp` (Unix seconds).
pub fn access_token(exp: i64) -> String {
    jwt(json!({"https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID}, "iat": ISSUED, "exp": exp}))
}

/// The scripted server's answer to a token refresh: new tokens, the access token valid until 2100.
pub fn refreshed() -> Value {
    json!({
        "id_token": id_token(),
        "access_token": access_token(FAR_EXPIRY),
        "refresh_token": "parity-refreshed-refresh-token",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token: &str) -> Value {
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_tokens_name_the_account_and_expire_as_said() {
        assert_eq!(claims(&id_token())["https://api.openai.com/auth"]["chatgpt_account_id"], ACCOUNT_ID);
        assert_eq!(claims(&access_token(PAST_EXPIRY))["exp"], PAST_EXPIRY);
        let answer = refreshed();
        assert_eq!(claims(answer["access_token"].as_str().unwrap())["exp"], FAR_EXPIRY);
        assert!(answer["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
    }
}
