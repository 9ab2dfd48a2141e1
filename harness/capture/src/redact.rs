//! Credentials never reach the disk.
//!
//! A credential-bearing header keeps its scheme and gains a short fingerprint of the secret, so that two captures
//! can tell whether the same key was used without either holding it:
//!
//! ```text
//! authorization: Bearer sk-live-abc...   ->   Bearer <redacted:5e8f0c1a>
//! cookie: a=1; b=2                       ->   a=<redacted:...>; b=<redacted:...>
//! ```

use sha2::{Digest, Sha256};

use crate::HeaderList;

/// Header names that always carry credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "chatgpt-account-id",
    "openai-organization",
    "openai-project",
];

/// Substrings of header or query names that mark a credential wherever they appear.
const SECRET_NAME_PARTS: &[&str] = &[
    "api-key",
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "signature",
    "attestation",
];

/// Words of a name (split at `-`, `_`, `.` and lower-to-upper case changes) that mark a credential:
/// `ocp-apim-subscription-key`, `x-custom-auth`, `?key=`, `X-Amz-Security-Token`, `sessionKey`.
const SECRET_NAME_WORDS: &[&str] =
    &["key", "auth", "authorization", "authentication", "pwd", "sig", "jwt", "bearer", "cookie", "credentials"];

/// Whether a header (or query parameter) of this name holds a credential, by the built-in rules.
pub fn is_secret_name(name: &str) -> bool {
    Redactor::builtin().is_secret_name(name)
}

/// The words of a name, lowercase: `subscriptionKey` and `subscription-key` both give `subscription`, `key`.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.' | ' ') {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.retain(|w| !w.is_empty());
    words
}

/// Which names are credentials: the built-in rules, and the names a user adds (`parity serve --redact NAME`); and
/// what a user asked to redact in request bodies (`parity serve --redact-body PATTERN`), which are otherwise kept as
/// sent.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Lowercase names redacted on top of the built-in rules, compared whole.
    extra_names: Vec<String>,
    /// Matches redacted wherever they occur in a request body's strings.
    body_patterns: Vec<regex::Regex>,
}

impl Redactor {
    /// The built-in rules alone.
    pub fn builtin() -> Redactor {
        Redactor::default()
    }

    /// The built-in rules, plus these header or query parameter names (matched whole, ignoring case).
    pub fn with_names(names: impl IntoIterator<Item = impl AsRef<str>>) -> Redactor {
        Redactor {
            extra_names: names.into_iter().map(|n| n.as_ref().trim().to_ascii_lowercase()).collect(),
            body_patterns: Vec::new(),
        }
    }

    /// Also redacts every match of these regular expressions in request bodies (in each string of a JSON body, else
    /// in the raw body). A pattern that does not compile is an error naming it.
    pub fn with_body_patterns(mut self, patterns: &[String]) -> Result<Redactor, String> {
        for pattern in patterns {
            let regex = regex::Regex::new(pattern).map_err(|e| format!("--redact-body {pattern:?}: {e}"))?;
            self.body_patterns.push(regex);
        }
        Ok(self)
    }

    /// Redacts a request body's credential members ([`SECRET_MEMBERS`]) and what the body patterns match in it.
    /// Returns how many values or matches.
    pub fn redact_body(&self, request: &mut crate::model::CapturedRequest) -> usize {
        let mut count = redact_members(&mut request.body);
        if self.body_patterns.is_empty() {
            return count;
        }
        let mut redact = |text: &mut String| {
            for pattern in &self.body_patterns {
                let mut found = 0;
                let replaced = pattern.replace_all(text, |m: &regex::Captures| {
                    found += 1;
                    redacted(&m[0])
                });
                if found > 0 {
                    *text = replaced.into_owned();
                    count += found;
                }
            }
        };
        visit_strings(&mut request.body, &mut redact);
        if let Some(text) = request.raw_body.as_mut().and_then(|raw| raw.text.as_mut()) {
            redact(text);
        }
        count
    }

    /// Whether a header (or query parameter) of this name holds a credential.
    pub fn is_secret_name(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        SECRET_HEADERS.contains(&lower.as_str())
            || SECRET_NAME_PARTS.iter().any(|part| lower.contains(part))
            || name_words(name).iter().any(|w| SECRET_NAME_WORDS.contains(&w.as_str()))
            || self.extra_names.contains(&lower)
    }

    /// Redacts every header that holds a credential, by name or by the look of its value. Returns how many.
    pub fn redact_headers(&self, headers: &mut HeaderList) -> usize {
        let mut count = 0;
        for (name, value) in headers.0.iter_mut() {
            if (self.is_secret_name(name) || looks_like_secret(value)) && !is_redacted(value) {
                *value = redact_value(name, value);
                count += 1;
            }
        }
        count
    }

    /// Redacts the values of credential-named parameters in a raw query string (`api-key=...` for Azure, say).
    pub fn redact_query(&self, query: &str) -> String {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if self.is_secret_name(k) && !is_redacted(v) => format!("{k}={}", redacted(v)),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Redacts a text that was built from a header's value, such as a message naming what a request sent: the
    /// value is redacted when the header's name or the value itself says it is a credential.
    pub fn redact_header_text(&self, name: &str, value: &str) -> String {
        if (self.is_secret_name(name) || looks_like_secret(value)) && !is_redacted(value) {
            redact_value(name, value)
        } else {
            value.to_string()
        }
    }
}

/// JSON members whose string value is a credential wherever they appear in a body: the tokens of a token refresh
/// (an agent signed in with ChatGPT sends its refresh token, and gets new tokens back) and keys.
pub const SECRET_MEMBERS: &[&str] =
    &["access_token", "refresh_token", "id_token", "client_secret", "api_key", "OPENAI_API_KEY"];

/// Redacts the string values of [`SECRET_MEMBERS`] in a JSON value; how many.
fn redact_members(value: &mut serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => items.iter_mut().map(redact_members).sum(),
        serde_json::Value::Object(map) => map
            .iter_mut()
            .map(|(key, value)| match value {
                serde_json::Value::String(secret) if SECRET_MEMBERS.contains(&key.as_str()) => {
                    if is_redacted(secret) {
                        0
                    } else {
                        *secret = redacted(secret);
                        1
                    }
                }
                other => redact_members(other),
            })
            .sum(),
        _ => 0,
    }
}

/// Redacts the credential members ([`SECRET_MEMBERS`]) of a response's JSON body (a token endpoint's answer, say);
/// how many.
pub fn redact_response_body(response: &mut crate::model::CapturedResponse) -> usize {
    response.body.as_mut().map_or(0, redact_members)
}

/// Calls `f` on every string of a JSON value (not on object keys).
fn visit_strings(value: &mut serde_json::Value, f: &mut impl FnMut(&mut String)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| visit_strings(v, f)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

/// Calls `f` on every string of a JSON value, read only.
fn for_each_string(value: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| for_each_string(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| for_each_string(v, f)),
        _ => {}
    }
}

/// Common shapes of credentials, by what a warning calls them.
const CREDENTIAL_SHAPES: [(&str, &str); 5] = [
    ("an OpenAI API key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    ("a Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    ("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
];

/// What common credential shapes a request's body holds (a key pasted into a prompt), by name; redacted values are
/// not counted. Bodies are kept faithful, so this is what a recorder warns of.
pub fn credentials_in_body(request: &crate::model::CapturedRequest) -> Vec<&'static str> {
    static SHAPES: std::sync::OnceLock<regex::RegexSet> = std::sync::OnceLock::new();
    let set = SHAPES.get_or_init(|| {
        regex::RegexSet::new(CREDENTIAL_SHAPES.iter().map(|(_, p)| p)).expect("the credential shapes compile")
    });
    let mut found = std::collections::BTreeSet::new();
    let mut look = |text: &str| found.extend(set.matches(text).iter());
    for_each_string(&request.body, &mut look);
    if let Some(text) = request.raw_body.as_ref().and_then(|raw| raw.text.as_deref()) {
        look(text);
    }
    found.into_iter().map(|i| CREDENTIAL_SHAPES[i].0).collect()
}

/// Whether a value looks like a credential whatever its header's name: an auth scheme or an API key.
fn looks_like_secret(value: &str) -> bool {
    let v = value.trim_start().as_bytes();
    // Bytes, not characters: a value may hold any UTF-8, and a scheme is ASCII.
    ["Bearer ", "Basic ", "Token ", "Digest "]
        .iter()
        .any(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s.as_bytes()))
        || v.starts_with(b"sk-") && v.len() > 12
}

/// The first 8 hex digits of the SHA-256 of a secret.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn redacted(secret: &str) -> String {
    format!("<redacted:{}>", fingerprint(secret))
}

/// Whether a value was already redacted by this module (redaction is idempotent).
pub fn is_redacted(value: &str) -> bool {
    value.contains("<redacted:")
}

/// Redacts one header value: keeps an auth scheme, redacts each cookie's value, else the whole value.
pub fn redact_value(name: &str, value: &str) -> String {
    if is_redacted(value) {
        return value.to_string();
    }
    let lower = name.to_ascii_lowercase();
    if lower == "cookie" || lower == "set-cookie" {
        // Every pair of a cookie header is a secret; in set-cookie only the first is, the rest are attributes.
        return value
            .split(';')
            .map(str::trim)
            .enumerate()
            .map(|(i, part)| match part.split_once('=') {
                Some((k, v)) if lower == "cookie" || i == 0 => format!("{k}={}", redacted(v)),
                _ => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    match value.split_once(' ') {
        Some((scheme, secret)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) => {
            format!("{scheme} {}", redacted(secret.trim()))
        }
        _ => redacted(value),
    }
}

/// Redacts every credential header by the built-in rules (see [`Redactor::redact_headers`]).
pub fn redact_headers(headers: &mut HeaderList) -> usize {
    Redactor::builtin().redact_headers(headers)
}

/// Redacts credential-named query parameters by the built-in rules (see [`Redactor::redact_query`]).
pub fn redact_query(query: &str) -> String {
    Redactor::builtin().redact_query(query)
}

/// Removes `user:password@` from a URL and redacts its credential query parameters, by the built-in rules.
pub fn redact_url(url: &str) -> String {
    Redactor::builtin().redact_url(url)
}

impl Redactor {
    /// Removes anything that looks like `user:password@` from a URL, and redacts its credential query parameters.
    pub fn redact_url(&self, url: &str) -> String {
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
                let authority = authority.rsplit_once('@').map(|(_, host)| host).unwrap_or(authority);
                match tail.split_once('?') {
                    Some((path, query)) => format!("{scheme}://{authority}{path}?{}", self.redact_query(query)),
                    None => format!("{scheme}://{authority}{tail}"),
                }
            }
            None => url.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> crate::model::CapturedRequest {
        crate::model::CapturedRequest {
            method: "POST".into(),
            path: "/v1/responses".into(),
            query: None,
            headers: HeaderList::default(),
            body,
            raw_body: None,
        }
    }

    #[test]
    fn body_patterns_redact_matches_in_every_string_and_nothing_else() {
        let redactor = Redactor::builtin().with_body_patterns(&["hunter[0-9]+".into()]).unwrap();
        let mut r = request(serde_json::json!({"input": [{"text": "my password is hunter42, not hunter"}], "n": 42}));
        assert_eq!(redactor.redact_body(&mut r), 1);
        let text = r.body["input"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("my password is <redacted:") && text.ends_with(">, not hunter"), "{text}");
        assert_eq!(r.body["n"], 42);
        let e = Redactor::builtin().with_body_patterns(&["(".into()]).unwrap_err();
        assert!(e.starts_with("--redact-body \"(\": "), "{e}");
    }

    #[test]
    fn token_members_are_redacted_in_request_and_response_bodies() {
        let mut r = request(serde_json::json!({"grant_type": "refresh_token", "refresh_token": "rt-secret",
            "client_id": "app_1", "nested": [{"access_token": "at-secret", "max_output_tokens": 5}]}));
        assert_eq!(Redactor::builtin().redact_body(&mut r), 2);
        assert_eq!(r.body["refresh_token"], format!("<redacted:{}>", fingerprint("rt-secret")));
        assert!(r.body["nested"][0]["access_token"].as_str().unwrap().starts_with("<redacted:"));
        assert_eq!(
            (&r.body["grant_type"], &r.body["client_id"]),
            (&serde_json::json!("refresh_token"), &serde_json::json!("app_1"))
        );
        assert_eq!(r.body["nested"][0]["max_output_tokens"], 5, "a member named like a token count is not one");
        assert_eq!(Redactor::builtin().redact_body(&mut r), 0, "idempotent");
        assert!(!r.body.to_string().contains("secret"));

        let mut response = crate::model::CapturedResponse::pending();
        response.body = Some(
            serde_json::json!({"id_token": "a.b.c", "access_token": "x", "refresh_token": "y", "expires_in": 3600}),
        );
        assert_eq!(redact_response_body(&mut response), 3);
        assert_eq!(response.body.as_ref().unwrap()["expires_in"], 3600);
    }

    #[test]
    fn credentials_pasted_into_a_body_are_found_by_their_shape() {
        let key = format!("sk-proj-{}", "a1B2".repeat(8));
        let r = request(serde_json::json!({"input": [format!("use {key}"), "AKIAABCDEFGHIJKLMNOP and sketch-me"]}));
        assert_eq!(credentials_in_body(&r), ["an OpenAI API key", "an AWS access key id"]);
        assert!(credentials_in_body(&request(serde_json::json!({"input": "sk-short, ask-anything"}))).is_empty());
        let redactor = Redactor::builtin().with_body_patterns(&["sk-[A-Za-z0-9_-]+".into()]).unwrap();
        let mut r = request(serde_json::json!({"input": format!("use {key}")}));
        redactor.redact_body(&mut r);
        assert!(credentials_in_body(&r).is_empty(), "redacted, no longer found: {}", r.body);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderList {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn bearer_keeps_scheme_and_fingerprint_distinguishes_keys() {
        let mut h = headers(&[("authorization", "Bearer sk-one"), ("Authorization", "Bearer sk-two")]);
        assert_eq!(redact_headers(&mut h), 2);
        let (a, b) = (&h.0[0].1, &h.0[1].1);
        assert!(a.starts_with("Bearer <redacted:") && !a.contains("sk-one"), "{a}");
        assert_ne!(a, b, "different keys get different fingerprints");
        let mut again = headers(&[("authorization", "Bearer sk-one")]);
        redact_headers(&mut again);
        assert_eq!(&again.0[0].1, a, "the same key gets the same fingerprint");
    }

    #[test]
    fn api_key_style_names_and_key_looking_values_are_redacted() {
        let mut h = headers(&[
            ("x-api-key", "abc123"),
            ("api-key", "def"),
            ("x-goog-api-key", "ghi"),
            ("x-custom", "sk-proj-0123456789abcdef"),
            ("x-other", "Basic dXNlcjpwYXNz"),
            ("originator", "codex_exec"),
            ("x-codex-turn-metadata", "{\"turn_id\":\"t\"}"),
        ]);
        assert_eq!(redact_headers(&mut h), 5);
        for (name, value) in h.iter().take(5) {
            assert!(is_redacted(value), "{name}: {value}");
        }
        assert_eq!(h.get("originator"), Some("codex_exec"));
        assert_eq!(h.get("x-codex-turn-metadata"), Some("{\"turn_id\":\"t\"}"));
    }

    #[test]
    fn cookies_keep_names_and_set_cookie_keeps_attributes() {
        assert_eq!(
            redact_value("cookie", "a=1; b=2"),
            format!("a=<redacted:{}>; b=<redacted:{}>", fingerprint("1"), fingerprint("2"))
        );
        let v = redact_value("set-cookie", "sid=xyz; Path=/; HttpOnly");
        assert!(v.starts_with("sid=<redacted:") && v.ends_with("; Path=/; HttpOnly"), "{v}");
    }

    #[test]
    fn redaction_is_idempotent() {
        let once = redact_value("authorization", "Bearer k");
        assert_eq!(redact_value("authorization", &once), once);
    }

    #[test]
    fn query_and_url_credentials_are_redacted() {
        assert_eq!(
            redact_query("api-version=1&api-key=s3"),
            format!("api-version=1&api-key=<redacted:{}>", fingerprint("s3"))
        );
        assert_eq!(
            redact_url("https://user:pw@example.com/v1?key=1&token=t"),
            format!("https://example.com/v1?key=<redacted:{}>&token=<redacted:{}>", fingerprint("1"), fingerprint("t"))
        );
    }

    /// Every header, query and URL the server records goes through these: no value may panic them, whatever
    /// characters it holds or wherever a multi-byte character falls.
    #[test]
    fn no_value_panics_redaction_wherever_multi_byte_characters_fall() {
        let seeds =
            ["x-user: 山田太郎", "abcdef€", "Bearer€€€€", "Basic é", "sk-ü0123456789", "a=€; b=山", "€ ", " Token x"];
        let names = ["x-user", "x-note", "authorization", "cookie", "set-cookie", "x-api-key", "x-custom-auth", "€"];
        let check = |value: &str| {
            for name in names {
                let mut h = headers(&[(name, value)]);
                Redactor::with_names(["x-note"]).redact_headers(&mut h);
                let _ = redact_value(name, value);
            }
            let _ = redact_query(&format!("key={value}&{value}={value}"));
            let _ = redact_url(&format!("https://{value}@h€st/{value}?token={value}"));
        };
        for seed in seeds {
            for (i, _) in seed.char_indices() {
                check(&seed[..i]);
                check(&seed[i..]);
            }
        }
        // And a few thousand reproducible random mixes of ASCII, separators and 2-, 3- and 4-byte characters.
        let pool: Vec<char> = "aB0 ;=-_@/?&:Bearer sk-é€山𝄞\t".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..4000 {
            let len = (state % 24) as usize;
            let value: String = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    pool[(state >> 33) as usize % pool.len()]
                })
                .collect();
            check(&value);
        }
    }

    #[test]
    fn a_multi_byte_value_in_an_ordinary_header_is_kept_as_it_is() {
        let mut h = headers(&[("x-user", "山田太郎"), ("x-note", "abcdef€")]);
        assert_eq!(redact_headers(&mut h), 0);
        assert_eq!(h.get("x-user"), Some("山田太郎"));
        assert_eq!(h.get("x-note"), Some("abcdef€"));
    }

    #[test]
    fn any_name_whose_words_suggest_a_credential_is_redacted_and_users_add_their_own() {
        for name in [
            "ocp-apim-subscription-key",
            "x-custom-auth",
            "key",
            "accessToken",
            "sessionKey",
            "X-Amz-Security-Token",
            "client_secret",
            "sig",
            "x-jwt",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        // What Codex sends and the diff depends on stays readable.
        for name in [
            "session-id",
            "thread-id",
            "x-client-request-id",
            "x-codex-turn-metadata",
            "x-codex-window-id",
            "x-codex-beta-features",
            "x-codex-parent-thread-id",
            "x-openai-subagent",
            "originator",
            "user-agent",
            "openai-beta",
            "version",
            "content-type",
            "accept",
            "keyword",
            "author",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
        assert!(redact_query("api-version=1&key=abc").starts_with("api-version=1&key=<redacted:"));
        let mine = Redactor::with_names(["X-Tenant"]);
        let mut h = headers(&[("x-tenant", "acme"), ("x-other", "acme")]);
        assert_eq!(mine.redact_headers(&mut h), 1);
        assert!(is_redacted(h.get("x-tenant").unwrap()) && h.get("x-other") == Some("acme"));
        assert!(mine.redact_query("x-tenant=acme").starts_with("x-tenant=<redacted:"));
        assert_eq!(mine.redact_url("http://u:p@h/v1?x-tenant=a").split('?').next(), Some("http://h/v1"));
    }
}
