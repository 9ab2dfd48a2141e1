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

/// Whether a header (or query parameter) of this name holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&lower.as_str()) || SECRET_NAME_PARTS.iter().any(|part| lower.contains(part))
}

/// Whether a value looks like a credential whatever its header's name: an auth scheme or an API key.
fn looks_like_secret(value: &str) -> bool {
    let v = value.trim_start();
    ["Bearer ", "Basic ", "Token ", "Digest "].iter().any(|s| v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s))
        || v.starts_with("sk-") && v.len() > 12
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

/// Redacts every header that holds a credential, by name or by the look of its value. Returns how many.
pub fn redact_headers(headers: &mut HeaderList) -> usize {
    let mut count = 0;
    for (name, value) in headers.0.iter_mut() {
        if (is_secret_name(name) || looks_like_secret(value)) && !is_redacted(value) {
            *value = redact_value(name, value);
            count += 1;
        }
    }
    count
}

/// Redacts the values of credential-named parameters in a raw query string (`api-key=...` for Azure, say).
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if is_secret_name(k) && !is_redacted(v) => format!("{k}={}", redacted(v)),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Removes anything that looks like `user:password@` from a URL before it is recorded.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = authority.rsplit_once('@').map(|(_, host)| host).unwrap_or(authority);
            let (path, query) = match tail.split_once('?') {
                Some((p, q)) => (p, Some(redact_query(q))),
                None => (tail, None),
            };
            match query {
                Some(q) => format!("{scheme}://{authority}{path}?{q}"),
                None => format!("{scheme}://{authority}{path}"),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            format!("https://example.com/v1?key=1&token=<redacted:{}>", fingerprint("t"))
        );
    }
}
