//! Reading a script from JSON or TOML, and refusing a malformed one with the file, the place, the step and what is
//! wrong.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::compile::{StepContext, compile};
use super::model::{OutputItem, Script, Step};

/// A script that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{location}: {message}")]
pub struct ScriptError {
    /// The file (or `<inline script>`).
    pub origin: String,
    /// `:line:column` when known, else empty.
    pub location: String,
    /// What is wrong, starting with the step (`step 3: ...`) when one is at fault.
    pub message: String,
}

impl ScriptError {
    fn new(origin: &str, line_col: Option<(usize, usize)>, message: String) -> Self {
        let location = line_col.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
        ScriptError { origin: origin.to_string(), location, message }
    }
}

/// The text format of a script file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Toml,
}

impl Syntax {
    /// `.toml` is TOML; anything else is JSON.
    pub fn of(path: &Path) -> Syntax {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Syntax::Toml,
            _ => Syntax::Json,
        }
    }
}

impl Script {
    /// Reads and checks a script file.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError::new(&origin, None, e.to_string()))?;
        Script::parse(&text, Syntax::of(path), &origin)
    }

    /// Parses and checks a script; `origin` names it in errors.
    pub fn parse(text: &str, syntax: Syntax, origin: &str) -> Result<Script, ScriptError> {
        let script: Script = deserialize_located(text, syntax, origin)?;
        script.validate().map_err(|e| ScriptError { origin: origin.to_string(), ..e })?;
        Ok(script)
    }

    /// Checks what the types alone cannot: that each step is coherent and would compile. Scripts built in code are
    /// checked with this too, when a server starts.
    pub fn validate(&self) -> Result<(), ScriptError> {
        let all = self.sessions.iter().enumerate().flat_map(|(s, script)| {
            script.steps.iter().enumerate().map(move |(i, step)| (format!("sessions[{s}] step {}", i + 1), step))
        });
        let labelled: Vec<(String, &Step)> =
            self.steps.iter().enumerate().map(|(i, s)| (format!("step {}", i + 1), s)).chain(all).collect();
        for (label, step) in &labelled {
            let fail = |m: String| ScriptError::new("<inline script>", None, format!("{label}: {m}"));
            validate_step(step).map_err(fail)?;
            // A value holds only in the step that extracts it: a later step that uses it must extract it again.
            for (name, extracted_by) in extracted_elsewhere(&labelled, step) {
                if super::extract::uses(step, &name) {
                    return Err(fail(format!(
                        "uses {{{{{name}}}}}, which only {extracted_by} extracts; a value holds in the step that \
                         extracts it, so extract it here too (extract = {{ {name} = \"...\" }})"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The values other steps extract and `step` does not, each with the first step extracting it.
fn extracted_elsewhere(steps: &[(String, &Step)], step: &Step) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (label, other) in steps {
        for name in other.extract.keys() {
            if !step.extract.contains_key(name) && !found.iter().any(|(known, _)| known == name) {
                found.push((name.clone(), label.clone()));
            }
        }
    }
    found
}

/// The longest delay or hold a step may ask for: ten minutes. Longer would look like a hang to any agent and any
/// CI job; a value near `u64::MAX` would hang the request for ever.
pub const MAX_DELAY_MS: u64 = 600_000;

fn validate_step(step: &Step) -> Result<(), String> {
    super::extract::validate(&step.extract)?;
    match &step.matching {
        Some(m) if m.is_empty() => {
            return Err("`match` is empty, so it would claim every request; give a condition, or remove `match` to \
                        answer in order"
                .into());
        }
        Some(m) => validate_headers("match.header", &m.header)?,
        None if step.repeat => {
            return Err("`repeat` needs `match`: only a step that says which requests it answers can answer them \
                        any number of times"
                .into());
        }
        None => {}
    }
    if step.events.is_some() && !step.output.is_empty() {
        return Err("has both `events` (raw) and `output` (shorthand); give one".into());
    }
    if step.events.as_ref().is_some_and(Vec::is_empty) {
        return Err("`events` is empty: a response needs at least response.created and response.completed (to cut \
                    the connection on purpose, use fail = { disconnect = { before = \"response.created\" } })"
            .into());
    }
    validate_delays(step)?;
    validate_headers("headers", &step.headers)?;
    if let Some(usage) = &step.usage {
        validate_usage(usage)?;
    }
    if let Some(events) = &step.events {
        for (i, event) in events.iter().enumerate() {
            if event.get("type").and_then(|t| t.as_str()).is_none() {
                return Err(format!("events[{i}] has no string `type`: {event}"));
            }
        }
    }
    for (i, item) in step.output.iter().enumerate() {
        match item {
            OutputItem::Hold(h) if h.before.is_some() => {
                return Err(format!("output[{i}].hold has `before`, but a hold in `output` holds where it stands"));
            }
            OutputItem::Item(v) if v.get("type").and_then(|t| t.as_str()).is_none() => {
                return Err(format!("output[{i}].item has no string `type`"));
            }
            OutputItem::Event(v) if v.get("type").and_then(|t| t.as_str()).is_none() => {
                return Err(format!("output[{i}].event has no string `type`"));
            }
            _ => {}
        }
    }
    if let Some(super::model::Failure::Http(h)) = &step.fail {
        if !(100..=599).contains(&h.status) {
            return Err(format!("fail.http.status {} is not an HTTP status", h.status));
        }
        validate_headers("fail.http.headers", &h.headers)?;
        if let Some(retry_after) = &h.retry_after {
            validate_retry_after(retry_after)?;
        }
        if !step.output.is_empty() || step.events.is_some() || step.hold.is_some() {
            return Err(
                "fail.http answers with an error instead of a stream, so it takes no output, events or hold".into()
            );
        }
    }
    if let Some(super::model::Failure::RefuseUpgrade(r)) = &step.fail {
        if !(200..=599).contains(&r.status) || r.status == 101 {
            return Err(format!(
                "fail.refuse_upgrade.status {} is not a status that refuses an upgrade (200 to 599)",
                r.status
            ));
        }
        validate_headers("fail.refuse_upgrade.headers", &r.headers)?;
        if !step.output.is_empty() || step.events.is_some() || step.hold.is_some() {
            return Err("fail.refuse_upgrade answers the WebSocket upgrade with an HTTP status, so it takes no \
                        output, events or hold"
                .into());
        }
        if step.matching.is_some() {
            return Err("fail.refuse_upgrade answers the upgrade request, which has no body to match: it takes no \
                        `match`, and is used in order"
                .into());
        }
    }
    if let Some(super::model::Failure::Close(c)) = &step.fail {
        let sendable = matches!(c.code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        if !sendable {
            return Err(format!(
                "fail.close.code {} is not a close code a server may send (1000 to 1003, 1007 to 1014, 3000 to 4999)",
                c.code
            ));
        }
        if c.reason.len() > 123 {
            return Err(format!("fail.close.reason is {} bytes long; a close frame holds at most 123", c.reason.len()));
        }
    }
    compile(step, &StepContext { session: 1, step: 1, round: 0, model: "model" }).map(|_| ())
}

fn validate_delays(step: &Step) -> Result<(), String> {
    let mut delays: Vec<(String, u64)> = Vec::new();
    delays.extend(step.delay_ms.map(|ms| ("delay_ms".to_string(), ms)));
    delays.extend(step.start_delay_ms.map(|ms| ("start_delay_ms".to_string(), ms)));
    delays.extend(step.hold.as_ref().and_then(|h| h.timeout_ms).map(|ms| ("hold.timeout_ms".to_string(), ms)));
    for (i, item) in step.output.iter().enumerate() {
        match item {
            OutputItem::DelayMs(ms) => delays.push((format!("output[{i}].delay_ms"), *ms)),
            OutputItem::Hold(h) => delays.extend(h.timeout_ms.map(|ms| (format!("output[{i}].hold.timeout_ms"), ms))),
            _ => {}
        }
    }
    match delays.into_iter().find(|(_, ms)| *ms > MAX_DELAY_MS) {
        Some((field, ms)) => Err(format!("{field} {ms} is longer than the maximum of {MAX_DELAY_MS} ms (ten minutes)")),
        None => Ok(()),
    }
}

/// A header the server could not send is refused rather than silently dropped.
fn validate_headers(field: &str, headers: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in headers {
        if axum::http::HeaderName::try_from(name.as_str()).is_err() {
            return Err(format!("{field}: \"{name}\" is not a valid header name"));
        }
        if axum::http::HeaderValue::from_bytes(value.as_bytes()).is_err() {
            return Err(format!(
                "{field}.{name}: the value {value:?} cannot be sent in a header (no CR, LF or other control characters)"
            ));
        }
    }
    Ok(())
}

fn validate_retry_after(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::Number(n) if n.as_f64().is_some_and(|s| s >= 0.0) => Ok(()),
        serde_json::Value::Number(n) => Err(format!("fail.http.retry_after {n} is negative; give seconds from 0 up")),
        serde_json::Value::String(s) if axum::http::HeaderValue::from_bytes(s.as_bytes()).is_ok() => Ok(()),
        serde_json::Value::String(s) => Err(format!(
            "fail.http.retry_after {s:?} cannot be sent in a header (no CR, LF or other control characters)"
        )),
        other => Err(format!("fail.http.retry_after: seconds or a string, not {other}")),
    }
}

/// Token counts stay within what clients read them into (signed 64-bit), their total included.
fn validate_usage(usage: &super::model::Usage) -> Result<(), String> {
    let max = i64::MAX as u64;
    let counts = [
        ("input_tokens", usage.input_tokens),
        ("cached_tokens", usage.cached_tokens),
        ("output_tokens", usage.output_tokens),
        ("reasoning_tokens", usage.reasoning_tokens),
    ];
    if let Some((name, n)) = counts.iter().find(|(_, n)| *n > max) {
        return Err(format!("usage.{name} {n} is more than {max}, the most a client can read"));
    }
    if usage.input_tokens + usage.output_tokens > max {
        return Err(format!(
            "usage: input_tokens + output_tokens is more than {max}, so total_tokens would not fit what a client reads"
        ));
    }
    Ok(())
}

/// Deserializes with the path of the failing field and its line, and turns `steps[2].output[0]` into `step 3:
/// output[0]` so that a person finds the step at once.
fn deserialize_located<T: DeserializeOwned>(text: &str, syntax: Syntax, origin: &str) -> Result<T, ScriptError> {
    match syntax {
        Syntax::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let inner = e.inner();
                let message = inner.to_string();
                let message = message.split(" at line ").next().unwrap_or_default().to_string();
                let at = (inner.line() > 0).then(|| (inner.line(), inner.column()));
                ScriptError::new(origin, at, describe(&e.path().to_string(), &message))
            })
        }
        Syntax::Toml => {
            let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, origin, "", &e))?;
            serde_path_to_error::deserialize(de).map_err(|e| toml_error(text, origin, &e.path().to_string(), e.inner()))
        }
    }
}

fn toml_error(text: &str, origin: &str, path: &str, e: &toml::de::Error) -> ScriptError {
    let at = e.span().map(|span| line_col(text, span.start));
    ScriptError::new(origin, at, describe(path, e.message().trim()))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

/// `steps[2].output[0].function_call` + message -> `step 3: output[0].function_call: message`.
fn describe(path: &str, message: &str) -> String {
    if path.is_empty() || path == "." {
        return message.to_string();
    }
    let (label, rest) = split_step(path);
    match (label, rest.is_empty()) {
        (Some(label), true) => format!("{label}: {message}"),
        (Some(label), false) => format!("{label}: {rest}: {message}"),
        (None, _) => format!("{path}: {message}"),
    }
}

fn tail(s: &str, used: usize) -> &str {
    s[used..].trim_start_matches('.')
}

fn split_step(path: &str) -> (Option<String>, &str) {
    // `[N]` at the start of `s`: N, and the length of `[N]`. A key of the file may hold brackets of its own.
    let index_at = |s: &str| -> Option<(usize, usize)> {
        let inside = s.strip_prefix('[')?;
        let close = inside.find(']')?;
        Some((inside[..close].parse().ok()?, close + 2))
    };
    if let Some(rest) = path.strip_prefix("steps")
        && let Some((i, used)) = index_at(rest)
    {
        return (Some(format!("step {}", i + 1)), tail(rest, used));
    }
    if let Some(rest) = path.strip_prefix("sessions")
        && let Some((s, used)) = index_at(rest)
        && let Some(rest) = tail(rest, used).strip_prefix("steps")
        && let Some((i, used)) = index_at(rest)
    {
        return (Some(format!("sessions[{s}] step {}", i + 1)), tail(rest, used));
    }
    if path.starts_with('[')
        && let Some((i, used)) = index_at(path)
    {
        return (Some(format!("step {}", i + 1)), tail(path, used));
    }
    (None, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_err(text: &str) -> String {
        Script::parse(text, Syntax::Json, "s.json").unwrap_err().to_string()
    }

    fn toml_err(text: &str) -> String {
        Script::parse(text, Syntax::Toml, "s.toml").unwrap_err().to_string()
    }

    #[test]
    fn raw_form_and_readable_form_both_parse() {
        let raw = r#"[[{"type":"response.created","response":{"id":"r"}},{"type":"response.completed","response":{"id":"r"}}]]"#;
        let s = Script::parse(raw, Syntax::Json, "raw.json").unwrap();
        assert_eq!(s.steps.len(), 1);
        assert_eq!(s.steps[0].events.as_ref().unwrap().len(), 2);

        let readable = r#"
            [[steps]]
            output = [
              { message = "hello" },
              { function_call = { name = "exec_command", arguments = { cmd = "ls" }, call_id = "c1" } },
              { reasoning = { summary = ["a", "b"] } },
              { delay_ms = 5 },
            ]
            expect = { last_input_contains = "hi", function_call_output = "c0", headers = { originator = "codex_exec" } }
            [[steps]]
            fail = { http = { status = 500, retry_after = 2 } }
        "#;
        let s = Script::parse(readable, Syntax::Toml, "r.toml").unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].output.len(), 4);
        assert_eq!(s.steps[0].expect.function_call_output, vec!["c0".to_string()]);
        assert_eq!(s, Script::parse(&serde_json::to_string(&s).unwrap(), Syntax::Json, "round-trip").unwrap());
    }

    /// Found by the `script` fuzz target (fuzz/regressions/script): a key with a bracket of its own (`steps]`) in the
    /// error's path made the step label slice backwards and panic.
    #[test]
    fn a_key_with_brackets_is_named_as_it_is() {
        let found =
            include_bytes!("../../../../fuzz/regressions/script/crash-5783162f9bd898bd5cc131baaf37c51a8b322e84");
        // The target's first byte chose JSON.
        let e = json_err(std::str::from_utf8(&found[1..]).unwrap());
        assert!(e.starts_with("s.json:1:"), "{e}");
        assert_eq!(split_step("steps]: [{"), (None, "steps]: [{"));
        assert_eq!(split_step("steps[x]"), (None, "steps[x]"));
        assert_eq!(split_step("steps[2].output"), (Some("step 3".to_string()), "output"));
    }

    #[test]
    fn errors_name_file_line_step_and_field() {
        let e = json_err("{\"steps\": [{\"output\": []},\n {\"output\": [{\"function_call\": {\"arguments\": {}}}]}]}");
        assert!(e.starts_with("s.json:2:"), "{e}");
        assert!(e.contains("step 2: output[0].function_call: missing field `name`"), "{e}");

        let e = json_err(r#"{"steps": [{"output": [{"mesage": "hi"}]}]}"#);
        assert!(e.contains("step 1: output[0]") && e.contains("unknown variant `mesage`"), "{e}");

        let e = toml_err("[[steps]]\noutput = [{ message = \"a\" }]\n\n[[steps]]\ndelay_ms = \"slow\"\n");
        assert!(e.starts_with("s.toml:5:"), "{e}");
        assert!(e.contains("step 2: delay_ms:"), "{e}");

        let e = json_err("[[{\"type\": \"response.created\"}], [{\"no_type\": 1}]]");
        assert!(e.contains("step 2: events[0] has no string `type`"), "{e}");

        let e = json_err("{\"stesp\": []}");
        assert!(e.contains("unknown field `stesp`"), "{e}");

        let e = json_err("{\"steps\": [}");
        assert!(e.starts_with("s.json:1:12:"), "{e}");
    }

    #[test]
    fn incoherent_steps_are_refused() {
        let e = json_err(r#"{"steps": [{"output": [{"message": "a"}], "hold": {"before": "response.complete"}}]}"#);
        assert!(e.contains("step 1: hold.before \"response.complete\" matches no event"), "{e}");
        let e = json_err(r#"{"steps": [{"fail": {"http": {"status": 700}}}]}"#);
        assert!(e.contains("step 1: fail.http.status 700"), "{e}");
        let e = json_err(r#"{"steps": [{"output": [{"message": "a"}], "fail": {"http": {"status": 500}}}]}"#);
        assert!(e.contains("takes no output"), "{e}");
        let e = json_err(r#"{"steps": [{"output": [{"message": "a"}], "events": []}]}"#);
        assert!(e.contains("both `events`"), "{e}");
        let e = json_err(r#"{"sessions": [{"steps": [{}, {"fail": {"disconnect": {"before": "nope"}}}]}]}"#);
        assert!(e.contains("sessions[0] step 2: fail.disconnect.before \"nope\" matches no event"), "{e}");
    }

    #[test]
    fn a_value_used_by_a_step_that_does_not_extract_it_is_refused() {
        let first = r#"
            [[steps]]
            extract = { id = 'id (\d+)' }
            output = [{ message = "{{id}}" }]
        "#;
        let second = r#"
            [[steps]]
            output = [{ function_call = { name = "f", arguments = { n = "{{id}}" } } }]
        "#;
        let e = toml_err(&format!("{first}{second}"));
        assert!(e.contains("step 2: uses {{id}}, which only step 1 extracts"), "{e}");
        let again = second.replace("[[steps]]", "[[steps]]\nextract = { id = 'id (\\d+)' }");
        Script::parse(&format!("{first}{again}"), Syntax::Toml, "s.toml").unwrap();
        // Braces in a script that extracts nothing by that name are text.
        Script::parse(second, Syntax::Toml, "s.toml").unwrap();
    }

    #[test]
    fn a_value_may_come_from_one_call_s_output() {
        let script = Script::parse(
            "[[steps]]\nextract = { a = { pattern = 'id \"(\\w+)', call_id = \"call_a\" } }\noutput = [{ message = \"{{a}}\" }]\n",
            Syntax::Toml,
            "s.toml",
        )
        .unwrap();
        assert_eq!(script.steps[0].extract["a"].call_id.as_deref(), Some("call_a"));
        assert_eq!(script.steps[0].extract["a"].pattern, r#"id "(\w+)"#);
        let e = toml_err("[[steps]]\nextract = { a = { pattern = 'x', call = 'c' } }\n");
        assert!(e.contains("unknown field `call`"), "{e}");
        let e = toml_err("[[steps]]\nextract = { a = { pattern = '(' , call_id = 'c' } }\n");
        assert!(e.contains("extract.a: not a valid regular expression"), "{e}");
    }

    #[test]
    fn what_the_server_could_not_send_or_would_hang_on_is_refused_naming_the_step() {
        let e = toml_err("[[steps]]\n[[steps]]\nheaders = { \"x bad\" = \"v\" }\n");
        assert!(e.contains("step 2: headers: \"x bad\" is not a valid header name"), "{e}");
        let e = toml_err("[[steps]]\nheaders = { x-ok = \"a\\r\\nx-injected: 1\" }\n");
        assert!(e.contains("step 1: headers.x-ok: the value") && e.contains("cannot be sent in a header"), "{e}");
        let e = toml_err("[[steps]]\nfail = { http = { status = 500, headers = { \"x:y\" = \"v\" } } }\n");
        assert!(e.contains("step 1: fail.http.headers: \"x:y\" is not a valid header name"), "{e}");
        let e = toml_err("[[steps]]\nfail = { http = { status = 429, retry_after = -1 } }\n");
        assert!(e.contains("step 1: fail.http.retry_after -1 is negative"), "{e}");
        Script::parse("[[steps]]\nfail = { http = { status = 429, retry_after = 0.5 } }\n", Syntax::Toml, "s").unwrap();
        let e = json_err(r#"{"steps": [{"usage": {"input_tokens": 18446744073709551615, "output_tokens": 2}}]}"#);
        assert!(e.contains("step 1: usage.input_tokens 18446744073709551615 is more than"), "{e}");
        let e = json_err(r#"{"steps": [{"usage": {"input_tokens": 9223372036854775807, "output_tokens": 1}}]}"#);
        assert!(e.contains("step 1: usage: input_tokens + output_tokens is more than"), "{e}");
        let e = json_err(r#"[[]]"#);
        assert!(e.contains("step 1: `events` is empty"), "{e}");
        let e = json_err(r#"{"steps": [{"events": []}]}"#);
        assert!(e.contains("step 1: `events` is empty"), "{e}");
        for (step, field) in [
            (r#"{"delay_ms": 18446744073709551615}"#, "delay_ms 18446744073709551615"),
            (r#"{"start_delay_ms": 600001}"#, "start_delay_ms 600001"),
            (r#"{"output": [{"delay_ms": 18446744073709551615}]}"#, "output[0].delay_ms"),
            (r#"{"hold": {"timeout_ms": 18446744073709551615}}"#, "hold.timeout_ms"),
            (r#"{"output": [{"hold": {"timeout_ms": 700000}}, {"message": "m"}]}"#, "output[0].hold.timeout_ms"),
        ] {
            let e = json_err(&format!(r#"{{"steps": [{step}]}}"#));
            assert!(
                e.contains(&format!("step 1: {field}")) && e.contains("longer than the maximum of 600000 ms"),
                "{e}"
            );
        }
        Script::parse(r#"{"steps": [{"delay_ms": 600000}]}"#, Syntax::Json, "s").unwrap();
    }
}
