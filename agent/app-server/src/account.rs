//! The account: `account/login/start` with an API key or with ChatGPT tokens handed over by the client, and
//! `account/read`. The credentials are rcodex-core's ([`rcodex_core::auth`]): a provider that requires OpenAI's
//! credentials and names none of its own sends them.
//!
//! As upstream 0.169.0 was seen: an API key is kept in `CODEX_HOME/auth.json`, answered `{"type": "apiKey"}`, then
//! `account/login/completed` (success) and `account/updated` (`authMode: "apikey"`) are sent, and `account/read`
//! answers `{"type": "apiKey"}` from then on, in this process and the next. ChatGPT tokens need the client's
//! `experimentalApi` capability (refused otherwise in upstream's words), are answered `{"type":
//! "chatgptAuthTokens"}` and last as long as the process. Upstream then looks up the account's workspace routing at
//! ChatGPT (offline it said `workspace routing discovery failed` in `account/login/completed` and on
//! `account/read`); rcodex makes no such look-up: it reports the login completed and reads the account from the
//! token's claims. Signing in to ChatGPT (browser, device code) and Amazon Bedrock are refused: they need a real
//! sign-in flow, which belongs to the built-in provider's work (issue 16).

use std::sync::Arc;

use base64::Engine;
use rcodex_core::auth::{self, OpenAiAuth};
use serde_json::{Value, json};

use crate::rpc::{Reply, RpcError};
use crate::server::Server;

/// `account/login/start`; the notifications that follow its answer go to `after`.
pub fn login_start(server: &Arc<Server>, params: Value, after: &mut Vec<(&'static str, Value)>) -> Reply {
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_string);
    let required =
        |key: &str| text(key).ok_or_else(|| RpcError::invalid(format!("Invalid request: missing field `{key}`")));
    let (answer, auth_mode, plan_type) = match text("type").as_deref() {
        Some("apiKey") => {
            let key = required("apiKey")?;
            auth::login_api_key(&server.options.codex_home, &key)
                .map_err(|e| RpcError::internal(format!("could not save the API key: {e}")))?;
            (json!({"type": "apiKey"}), "apikey", Value::Null)
        }
        Some("chatgptAuthTokens") => {
            if !server.experimental_api() {
                return Err(RpcError::invalid(
                    "account/login/start.chatgptAuthTokens requires experimentalApi capability",
                ));
            }
            let (token, account) = (required("accessToken")?, required("chatgptAccountId")?);
            auth::login_chatgpt_tokens(&token, &account);
            let plan = text("chatgptPlanType").map_or(Value::Null, Value::String);
            (json!({"type": "chatgptAuthTokens"}), "chatgptAuthTokens", plan)
        }
        Some(other @ ("chatgpt" | "chatgptDeviceCode" | "amazonBedrock" | "amazonBedrockAccessKeys")) => {
            return Err(RpcError::invalid(format!(
                "rcodex does not sign in with `{other}`: log in with an API key (`apiKey`) or hand over ChatGPT tokens \
                 (`chatgptAuthTokens`)"
            )));
        }
        Some(other) => return Err(RpcError::invalid(format!("Invalid request: unknown variant `{other}`"))),
        None => return Err(RpcError::invalid("Invalid request: missing field `type`")),
    };
    after.push((
        "account/login/completed",
        json!({"loginId": null, "success": true, "error": null, "onboardingEntrypoint": null}),
    ));
    after.push(("account/updated", json!({"authMode": auth_mode, "planType": plan_type})));
    Ok(answer)
}

/// `account/read`: the account whose credentials are in force, if any.
pub fn read(server: &Arc<Server>, requires_openai_auth: bool) -> Reply {
    let account = match auth::current(&server.options.codex_home) {
        None => Value::Null,
        Some(OpenAiAuth::ApiKey(_)) => json!({"type": "apiKey"}),
        Some(OpenAiAuth::ChatgptTokens { access_token, .. }) => {
            let claims = token_claims(&access_token);
            let plan = claims.pointer("/https:~1~1api.openai.com~1auth/chatgpt_plan_type").cloned();
            json!({"type": "chatgpt", "email": claims.get("email").cloned().unwrap_or(Value::Null),
                "planType": plan.unwrap_or(json!("unknown")), "workspaceName": null})
        }
    };
    Ok(
        json!({"account": account, "userId": null, "requiresOpenaiAuth": requires_openai_auth, "workspaceRouting": null}),
    )
}

/// The claims of a JWT (its middle part), or `null` when it has none readable.
fn token_claims(token: &str) -> Value {
    let Some(payload) = token.split('.').nth(1) else { return Value::Null };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}
