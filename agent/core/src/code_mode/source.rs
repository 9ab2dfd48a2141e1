//! The input of an `exec` call: JavaScript, optionally after a first-line pragma
//! `// @exec: {"yield_time_ms": N, "max_output_tokens": N}`, checked with upstream's texts (code-mode-errors).

use serde_json::Value;

const PRAGMA_PREFIX: &str = "// @exec:";
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
const FIELDS: &str = "supported fields `yield_time_ms` and `max_output_tokens`";

/// An `exec` call's script and its options.
#[derive(Debug, PartialEq, Eq)]
pub struct ExecSource {
    /// The script, without the pragma line.
    pub code: String,
    pub yield_time_ms: Option<u64>,
    pub max_output_tokens: Option<usize>,
}

/// Reads an `exec` input; the error is the text the model gets.
pub fn parse(input: &str) -> Result<ExecSource, String> {
    if input.trim().is_empty() {
        return Err(format!(
            "exec expects raw JavaScript source text (non-empty). Provide JS only, optionally with first-line `{PRAGMA_PREFIX} {{\"yield_time_ms\": 10000, \"max_output_tokens\": 1000}}`."
        ));
    }
    let (first_line, rest) = input.split_once('\n').unwrap_or((input, ""));
    let Some(pragma) = first_line.trim_start().strip_prefix(PRAGMA_PREFIX) else {
        return Ok(ExecSource { code: input.to_string(), yield_time_ms: None, max_output_tokens: None });
    };
    if rest.trim().is_empty() {
        return Err("exec pragma must be followed by JavaScript source on subsequent lines".to_string());
    }
    let not_an_object = || format!("exec pragma must be a JSON object with {FIELDS}");
    let directive = pragma.trim();
    if directive.is_empty() {
        return Err(not_an_object());
    }
    let value: Value =
        serde_json::from_str(directive).map_err(|e| format!("exec pragma must be valid JSON with {FIELDS}: {e}"))?;
    let fields = value.as_object().ok_or_else(not_an_object)?;
    if let Some(key) = fields.keys().find(|k| !matches!(k.as_str(), "yield_time_ms" | "max_output_tokens")) {
        return Err(format!("exec pragma only supports `yield_time_ms` and `max_output_tokens`; got `{key}`"));
    }
    let field = |name: &str| -> Result<Option<u64>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .filter(|n| *n <= MAX_SAFE_INTEGER)
                .map(Some)
                .ok_or_else(|| format!("exec pragma field `{name}` must be a non-negative safe integer")),
        }
    };
    Ok(ExecSource {
        code: rest.to_string(),
        yield_time_ms: field("yield_time_ms")?,
        max_output_tokens: field("max_output_tokens")?.map(|n| n as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_script_is_kept_whole() {
        let parsed = parse("text(1);\n").unwrap();
        assert_eq!(parsed, ExecSource { code: "text(1);\n".into(), yield_time_ms: None, max_output_tokens: None });
    }

    #[test]
    fn the_pragma_line_is_read_and_dropped() {
        let parsed = parse("  // @exec: {\"yield_time_ms\": 300, \"max_output_tokens\": 20}\ntext(1);\n").unwrap();
        assert_eq!(parsed.code, "text(1);\n");
        assert_eq!((parsed.yield_time_ms, parsed.max_output_tokens), (Some(300), Some(20)));
    }

    #[test]
    fn bad_pragmas_are_explained_as_upstream_explains_them() {
        assert_eq!(
            parse("// @exec: {\"yield\": 5}\ntext(1);").unwrap_err(),
            "exec pragma only supports `yield_time_ms` and `max_output_tokens`; got `yield`"
        );
        assert_eq!(
            parse("// @exec: {yield_time_ms: 5}\ntext(1);").unwrap_err(),
            "exec pragma must be valid JSON with supported fields `yield_time_ms` and `max_output_tokens`: key must be a string at line 1 column 2"
        );
        assert_eq!(
            parse("// @exec: {\"yield_time_ms\": -1}\ntext(1);").unwrap_err(),
            "exec pragma field `yield_time_ms` must be a non-negative safe integer"
        );
        assert!(parse("// @exec: {}\n  ").unwrap_err().contains("followed by JavaScript source"));
        assert!(parse(" \n ").unwrap_err().starts_with("exec expects raw JavaScript source text (non-empty)."));
    }
}
