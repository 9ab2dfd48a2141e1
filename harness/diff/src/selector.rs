//! Selectors: which values of a request document a rule applies to, and which divergences an accept entry covers.
//!
//! Two spellings of the same patterns:
//!
//! - insta-redaction style, for rules: `.body.input[*].id`, `.**.call_id`, `.headers.x-codex-window-id`,
//!   `.body.client_metadata["x-codex-turn-metadata"]`, `.body.tools[0].*`;
//! - JSON-pointer globs, for accept entries, so that a path copied from a report works as is:
//!   `/body/input/3/content/0/text`, `/body/tools/*/description`, `/headers/**`.
//!
//! `*` (`.*`, `/*/`) matches one key or index, `[*]` (or `[]`) one array index, `**` any number of levels,
//! none included. Both are matched incrementally while a document is walked: [`Selector::start`] gives the states at
//! the root and [`Selector::step`] the states one level down, so a walk never re-matches whole paths.

use std::borrow::Cow;
use std::fmt;

/// One level of a path in a document: an object key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pat {
    Key(String),
    Index(usize),
    /// A pointer token that is a number: an index, or a key spelled with digits.
    KeyOrIndex(String, usize),
    AnyIndex,
    Any,
    Deep,
}

impl Pat {
    fn matches(&self, step: Step<'_>) -> bool {
        match (self, step) {
            (Pat::Key(k), Step::Key(s)) => k == s,
            (Pat::Index(i), Step::Index(j)) => *i == j,
            (Pat::KeyOrIndex(k, _), Step::Key(s)) => k == s,
            (Pat::KeyOrIndex(_, i), Step::Index(j)) => *i == j,
            (Pat::AnyIndex, Step::Index(_)) => true,
            (Pat::Any, _) => true,
            _ => false,
        }
    }
}

/// The longest selector, in levels: states are the bits of a `u64`.
const MAX_LEVELS: usize = 62;

/// The set of positions a selector can be at after some path: bit `i` means "the first `i` levels matched".
pub type States = u64;

/// A compiled selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    source: String,
    pats: Vec<Pat>,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Selector {
    /// Parses an insta-style selector. The leading `.` may be left out; header names are matched in lowercase.
    pub fn parse(source: &str) -> Result<Selector, String> {
        let mut pats = Vec::new();
        let bytes = source.as_bytes();
        let mut i = 0;
        if source.trim().is_empty() {
            return Err("an empty selector selects nothing; use `.**` for everything".into());
        }
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    i += 1;
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
                        i += 1;
                    }
                    pats.push(name_pat(&source[start..i], start)?);
                }
                b'[' => {
                    let close = source[i..]
                        .find(']')
                        .map(|c| i + c)
                        .ok_or_else(|| format!("`[` at column {} is never closed", i + 1))?;
                    let inner = source[i + 1..close].trim();
                    pats.push(bracket_pat(inner, i)?);
                    i = close + 1;
                }
                _ if i == 0 => {
                    let start = i;
                    while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
                        i += 1;
                    }
                    pats.push(name_pat(&source[start..i], start)?);
                }
                c => {
                    return Err(format!(
                        "unexpected `{}` at column {}; levels are `.key`, `[\"key\"]`, `[N]`, `[*]`, `.*` or `.**`",
                        c as char,
                        i + 1
                    ));
                }
            }
        }
        Selector::new(source, pats)
    }

    /// Parses a JSON-pointer glob: `/body/tools/*/description`, `/headers/**`. `~1` and `~0` escape `/` and `~`.
    pub fn parse_pointer(source: &str) -> Result<Selector, String> {
        if !(source.is_empty() || source.starts_with('/')) {
            return Err(format!(
                "`{source}` is not a JSON pointer: it must start with `/` (or be empty, for a whole request)"
            ));
        }
        let pats = if source.is_empty() {
            Vec::new()
        } else {
            source[1..]
                .split('/')
                .map(|token| match token {
                    "*" => Pat::Any,
                    "**" => Pat::Deep,
                    _ => {
                        let key = token.replace("~1", "/").replace("~0", "~");
                        match key.parse::<usize>() {
                            Ok(i) if !key.starts_with('+') => Pat::KeyOrIndex(key, i),
                            _ => Pat::Key(key),
                        }
                    }
                })
                .collect()
        };
        Selector::new(source, pats)
    }

    fn new(source: &str, mut pats: Vec<Pat>) -> Result<Selector, String> {
        if pats.len() > MAX_LEVELS {
            return Err(format!("more than {MAX_LEVELS} levels"));
        }
        // Header names are case-insensitive, and the document holds them in lowercase.
        if let [Pat::Key(root), Pat::Key(name), ..] = pats.as_mut_slice()
            && root == "headers"
        {
            *name = name.to_ascii_lowercase();
        }
        Ok(Selector { source: source.to_string(), pats })
    }

    /// The selector as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The states at the root of a document.
    pub fn start(&self) -> States {
        self.closure(1)
    }

    /// The states one level below, after `step`. Zero means nothing below can match.
    pub fn step(&self, states: States, step: Step<'_>) -> States {
        let mut next = 0;
        let mut rest = states;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            match self.pats.get(i) {
                Some(Pat::Deep) => next |= 1 << i,
                Some(p) if p.matches(step) => next |= 1 << (i + 1),
                _ => {}
            }
        }
        self.closure(next)
    }

    /// Whether the path that led to `states` is selected.
    pub fn accepts(&self, states: States) -> bool {
        states & (1 << self.pats.len()) != 0
    }

    /// Whether a whole path is selected.
    pub fn matches(&self, path: &[Step<'_>]) -> bool {
        let states = path.iter().fold(self.start(), |s, step| self.step(s, *step));
        self.accepts(states)
    }

    /// `**` also matches no level at all: from a `**` position, the next position is reachable too.
    fn closure(&self, mut states: States) -> States {
        for (i, pat) in self.pats.iter().enumerate() {
            if *pat == Pat::Deep && states & (1 << i) != 0 {
                states |= 1 << (i + 1);
            }
        }
        states
    }
}

fn name_pat(name: &str, column: usize) -> Result<Pat, String> {
    match name {
        "" => Err(format!("empty key after `.` at column {column}; quote unusual keys as [\"key\"]")),
        "*" => Ok(Pat::Any),
        "**" => Ok(Pat::Deep),
        _ => Ok(Pat::Key(name.to_string())),
    }
}

fn bracket_pat(inner: &str, column: usize) -> Result<Pat, String> {
    if inner.is_empty() || inner == "*" {
        return Ok(Pat::AnyIndex);
    }
    if let Some(quoted) = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
    {
        return Ok(Pat::Key(quoted.to_string()));
    }
    inner.parse::<usize>().map(Pat::Index).map_err(|_| {
        format!(
            "`[{inner}]` at column {}: expected an index, `*` or a quoted key (ranges are not supported)",
            column + 1
        )
    })
}

/// One JSON-pointer token, escaped (`~` as `~0`, `/` as `~1`).
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Splits a JSON pointer into its unescaped tokens.
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer.trim_start_matches('/').split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index as I, Key as K};

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn insta_style_levels() {
        let id = sel(".body.input[*].id");
        assert!(id.matches(&[K("body"), K("input"), I(3), K("id")]));
        assert!(!id.matches(&[K("body"), K("input"), K("x"), K("id")]));
        assert!(!id.matches(&[K("body"), K("input"), I(3), K("id"), K("more")]));
        assert!(sel("body.input[2]").matches(&[K("body"), K("input"), I(2)]));
        assert!(!sel("body.input[2]").matches(&[K("body"), K("input"), I(1)]));
        let quoted = sel(r#".body.client_metadata["x-codex-turn-metadata"]"#);
        assert!(quoted.matches(&[K("body"), K("client_metadata"), K("x-codex-turn-metadata")]));
        let star = sel(".body.tools[0].*");
        assert!(star.matches(&[K("body"), K("tools"), I(0), K("name")]));
        assert!(!star.matches(&[K("body"), K("tools"), I(0)]));
    }

    #[test]
    fn deep_matches_any_number_of_levels_including_none() {
        let deep = sel(".**.call_id");
        assert!(deep.matches(&[K("call_id")]));
        assert!(deep.matches(&[K("body"), K("input"), I(5), K("call_id")]));
        assert!(!deep.matches(&[K("body"), K("input"), I(5), K("call_id2")]));
        let mid = sel(".body.**.description");
        assert!(mid.matches(&[K("body"), K("description")]));
        assert!(mid.matches(&[K("body"), K("tools"), I(0), K("parameters"), K("x"), K("description")]));
        assert!(!mid.matches(&[K("headers"), K("description")]));
        let tail = sel(".headers.**");
        assert!(tail.matches(&[K("headers")]));
        assert!(tail.matches(&[K("headers"), K("a"), K("b")]));
    }

    #[test]
    fn stepping_prunes_dead_branches() {
        let s = sel(".body.input[*].id");
        let at_headers = s.step(s.start(), K("headers"));
        assert_eq!(at_headers, 0);
        assert_eq!(s.step(at_headers, K("input")), 0);
    }

    #[test]
    fn header_names_are_lowercased() {
        assert!(sel(".headers.X-Codex-Window-Id").matches(&[K("headers"), K("x-codex-window-id")]));
        assert!(sel("headers.User-Agent").matches(&[K("headers"), K("user-agent")]));
    }

    #[test]
    fn pointer_globs() {
        let p = Selector::parse_pointer("/body/input/3/content/0/text").unwrap();
        assert!(p.matches(&[K("body"), K("input"), I(3), K("content"), I(0), K("text")]));
        assert!(!p.matches(&[K("body"), K("input"), I(2), K("content"), I(0), K("text")]));
        let g = Selector::parse_pointer("/body/tools/*/description").unwrap();
        assert!(g.matches(&[K("body"), K("tools"), I(7), K("description")]));
        let d = Selector::parse_pointer("/headers/**").unwrap();
        assert!(d.matches(&[K("headers"), K("x-a")]));
        let escaped = Selector::parse_pointer("/body/a~1b/c~0d").unwrap();
        assert!(escaped.matches(&[K("body"), K("a/b"), K("c~d")]));
        let whole = Selector::parse_pointer("").unwrap();
        assert!(whole.matches(&[]));
        assert!(!whole.matches(&[K("body")]));
        assert!(Selector::parse_pointer("body/x").is_err());
    }

    #[test]
    fn bad_selectors_say_what_and_where() {
        for (s, want) in [
            ("", "empty selector"),
            (".body..x", "empty key after `.` at column 6"),
            (".body[1:3]", "ranges are not supported"),
            (".body[0", "never closed"),
        ] {
            let err = Selector::parse(s).unwrap_err();
            assert!(err.contains(want), "{s}: {err}");
        }
    }

    #[test]
    fn pointer_tokens_round_trip() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(pointer_tokens("/a~1b/c~0d/0"), ["a/b", "c~d", "0"]);
        assert!(pointer_tokens("").is_empty());
    }
}
