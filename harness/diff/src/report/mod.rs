//! Reports: a [`Comparison`] in, text out. Every renderer is a pure function of the comparison.
//!
//! - [`Format::Text`]: compact, grouped by request, schema before relation, value and prompt, counts at the end;
//!   ANSI colours when [`Options::color`] is set (the CLI strips them when stdout is not a terminal);
//! - [`Format::Json`]: stable, for programs: `divergences`, `accepted`, `stale`, `summary`, per-request RFC 6902
//!   `patch`;
//! - [`Format::Markdown`]: for pull requests and issues;
//! - [`Format::Junit`]: one test case per request pair, for CI;
//! - [`Format::Html`]: one self-contained page, side by side, foldable per request.

mod html;
mod json;
mod junit;
mod markdown;
mod suite;
mod text;

pub use suite::{SUITE_FORMAT, render_suite, scenario_verdict, suite_totals};

use serde_json::Value;

use crate::compare::{Category, Comparison, Divergence, RequestPair};
use crate::textdiff::{LineTag, TextDiff};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Junit,
    Html,
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// ANSI colours in the text report.
    pub color: bool,
    /// Include what each rule changed, per request and side.
    pub explain: bool,
    /// The directory the HTML report will be written to: its links to capture files are made relative to it, so
    /// that they keep working when the report and the recordings move together. Absolute links when absent.
    pub links_from: Option<std::path::PathBuf>,
}

/// Renders a comparison.
pub fn render(comparison: &Comparison, format: Format, options: &Options) -> String {
    match format {
        Format::Text => text::render(comparison, options),
        Format::Json => json::render(comparison, options),
        Format::Markdown => markdown::render(comparison, options),
        Format::Junit => junit::render(comparison),
        Format::Html => html::render(comparison, options),
    }
}

/// A pair's divergences, schema first, then relation, value and prompt, each in the order found.
fn by_category(pair: &RequestPair) -> Vec<&Divergence> {
    let mut list: Vec<&Divergence> = pair.divergences.iter().collect();
    list.sort_by_key(|d| d.category);
    list
}

/// The categories whose counts a report lists: all of them, but `events` only when event streams were compared and
/// `protocol` and `files` only when a message broke the protocol or a kept file diverged, so that a comparison of captures alone does not count what it
/// never looked at.
pub fn counted_categories(s: &crate::compare::Summary) -> Vec<Category> {
    Category::ALL
        .into_iter()
        .filter(|c| match c {
            Category::Events => s.streams > 0 || s.events > 0,
            Category::Protocol => s.protocol > 0,
            Category::Files => s.files > 0,
            _ => true,
        })
        .collect()
}

/// Counts per category, as `2 schema, 1 prompt` (categories with none left out).
fn category_counts(divergences: &[Divergence]) -> String {
    Category::ALL
        .iter()
        .filter_map(|c| {
            let n = divergences.iter().filter(|d| d.category == *c).count();
            (n > 0).then(|| format!("{n} {c}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `No divergence`, `1 divergence`, `3 divergences`.
fn verdict(divergences: usize) -> String {
    match divergences {
        0 => "No divergence".to_string(),
        n => plural(n, "divergence", "divergences"),
    }
}

/// The whole verdict, the same in every report: `No divergence in 2 request pairs`, `3 divergences in 1 of 2
/// request pairs`, `No divergence in 2 request pairs and 1 event stream` (when the agent's events were compared).
fn verdict_phrase(s: &crate::compare::Summary) -> String {
    let mut pairs = plural(s.pairs, "request pair", "request pairs");
    if s.streams > 0 {
        pairs.push_str(&format!(" and {}", plural(s.streams, "event stream", "event streams")));
    }
    match s.divergences {
        0 => format!("{} in {pairs}", verdict(0)),
        n => format!("{} in {} of {pairs}", verdict(n), s.divergent_pairs),
    }
}

/// A value on one line, cut to `limit` characters: `(absent)`, `"text"`, `{"a":1,…}`.
fn short(value: Option<&Value>, limit: usize) -> String {
    let text = match value {
        None => return "(absent)".to_string(),
        Some(v) => v.to_string(),
    };
    cut(&text, limit)
}

fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The pair's request, as `POST /v1/responses`, from whichever side has it, with the scripted step that answered it
/// (`POST /v1/responses · step 2 "steer"`).
fn label(pair: &RequestPair) -> String {
    let label = request_label(pair);
    let steps: Vec<&str> = [&pair.left, &pair.right].iter().filter_map(|s| s.as_ref()?.step.as_deref()).collect();
    match steps.as_slice() {
        [] => label.to_string(),
        [one] => format!("{label} · {one}"),
        [left, right] if left == right => format!("{label} · {left}"),
        [left, right] => format!("{label} · {left} / {right}"),
        _ => unreachable!("two sides at most"),
    }
}

/// The pair's request alone, as `POST /v1/responses`.
fn request_label(pair: &RequestPair) -> &str {
    pair.left.as_ref().or(pair.right.as_ref()).map(|r| r.label.as_str()).unwrap_or("")
}

/// Where a capture file is, as a link: relative to `links_from` when given, else absolute.
fn capture_href(path: &std::path::Path, links_from: Option<&std::path::Path>) -> Option<String> {
    let target = std::path::absolute(path).ok()?;
    let href = match links_from.and_then(|base| std::path::absolute(base).ok()) {
        Some(base) => pathdiff::diff_paths(&target, base)?,
        None => target,
    };
    Some(href.to_string_lossy().replace('\\', "/"))
}

/// Divergences that recur with one cause: the same category, kind, place and values in several request pairs.
/// Reports show the first in full and say where else it recurs; the others point back to it.
struct Repeats {
    /// Pair ids in which each divergence (by key) occurs, in order.
    groups: std::collections::HashMap<String, Vec<String>>,
}

enum Repeat<'a> {
    Once,
    /// The first of these pairs (this one included).
    First(&'a [String]),
    /// Shown in full in this pair.
    Again(&'a str),
}

impl Repeats {
    fn of(c: &Comparison) -> Repeats {
        let mut groups: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for (pair, d) in c.divergences() {
            let ids = groups.entry(repeat_key(d)).or_default();
            if ids.last() != Some(&pair.id) {
                ids.push(pair.id.clone());
            }
        }
        Repeats { groups }
    }

    fn of_divergence(&self, pair: &RequestPair, d: &Divergence) -> Repeat<'_> {
        match self.groups.get(&repeat_key(d)) {
            Some(ids) if ids.len() > 1 && ids[0] == pair.id => Repeat::First(ids),
            Some(ids) if ids.len() > 1 => Repeat::Again(&ids[0]),
            _ => Repeat::Once,
        }
    }
}

fn repeat_key(d: &Divergence) -> String {
    let value = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
    format!(
        "{:?}\u{0}{:?}\u{0}{}\u{0}{:?}\u{0}{}\u{0}{}",
        d.category,
        d.kind,
        d.path,
        d.right_path,
        value(&d.left),
        value(&d.right)
    )
}

/// `the same in 6 requests (session-01/0002, session-01/0003, …)`.
fn same_in(ids: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut list = ids.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > SHOWN {
        list.push_str(", …");
    }
    format!("the same in {} requests ({list})", ids.len())
}

/// Where a divergence is: `/path`, or `/path → /right_path` when the right's differs.
fn location(d: &Divergence) -> String {
    let path = if d.path.is_empty() { "(whole request)" } else { &d.path };
    match &d.right_path {
        Some(right) => format!("{path} → {right}"),
        None => path.to_string(),
    }
}

/// A text diff as unified-style lines, changed words marked `[-…-]` / `{+…+}` (for plain-text formats).
fn plain_diff_lines(diff: &TextDiff) -> Vec<String> {
    let mut out = Vec::new();
    for hunk in &diff.hunks {
        out.push(format!("@@ left line {}, right line {} @@", hunk.left_line, hunk.right_line));
        for line in &hunk.lines {
            let (sign, open, close) = match line.tag {
                LineTag::Equal => (' ', "", ""),
                LineTag::Left => ('-', "[-", "-]"),
                LineTag::Right => ('+', "{+", "+}"),
            };
            let mut text = String::new();
            for part in &line.parts {
                if part.changed {
                    text.push_str(open);
                    text.push_str(&part.text);
                    text.push_str(close);
                } else {
                    text.push_str(&part.text);
                }
            }
            out.push(format!("{sign} {text}"));
        }
    }
    out
}

/// Escapes text for the content and attribute values of HTML and XML, replacing the control characters XML 1.0
/// cannot hold (a capture may carry any).
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_values_are_cut() {
        assert_eq!(short(None, 10), "(absent)");
        assert_eq!(short(Some(&json!("abc")), 10), "\"abc\"");
        assert_eq!(short(Some(&json!({"a": "bcdefghijk"})), 10), "{\"a\":\"bcd…");
    }

    #[test]
    fn plain_diffs_mark_words() {
        let diff = TextDiff::new("a b c\n", "a B c\n");
        assert_eq!(plain_diff_lines(&diff), ["@@ left line 1, right line 1 @@", "- a [-b-] c", "+ a {+B+} c"]);
    }

    #[test]
    fn markup_is_escaped_and_control_characters_xml_cannot_hold_replaced() {
        assert_eq!(super::escape_markup("<a href=\"x\">&'\u{1}\t"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u{FFFD}\t");
    }

    #[test]
    fn a_clean_comparison_says_so_the_same_way_in_every_report() {
        use crate::testing::{capture, recording};
        let rec = recording(vec![capture(1, 1, &[], json!({"a": 1})), capture(1, 2, &[], json!({"a": 2}))]);
        let c = crate::diff_recordings(&rec, &rec, &crate::RuleSet::builtin(), Default::default());
        let options = Options::default();
        for format in [Format::Text, Format::Markdown, Format::Html] {
            let report = render(&c, format, &options);
            assert!(report.contains("in 2 request pairs"), "{format:?}: {report}");
            assert!(!report.contains("0 of 2"), "{format:?} says \"0 of 2\": {report}");
        }
    }

    #[test]
    fn a_divergence_repeated_across_requests_is_shown_once_and_counted() {
        use crate::testing::{capture, recording};
        let side = |v: &str| {
            recording((1..=3).map(|seq| capture(1, seq, &[], json!({"instructions": v, "n": seq}))).collect())
        };
        let c = crate::diff_recordings(&side("old"), &side("new"), &crate::RuleSet::builtin(), Default::default());
        let text = render(&c, Format::Text, &Options::default());
        assert_eq!(
            text.matches("the same in 3 requests (session-01/0001, session-01/0002, session-01/0003)").count(),
            1,
            "{text}"
        );
        assert_eq!(text.matches("the same as in session-01/0001").count(), 2, "{text}");
        assert_eq!(text.matches("right: \"new\"").count(), 1, "the values are shown once: {text}");
        let markdown = render(&c, Format::Markdown, &Options::default());
        assert_eq!(markdown.matches("the same as in session-01/0001").count(), 2, "{markdown}");
        let html = render(&c, Format::Html, &Options::default());
        assert_eq!(html.matches("href=\"#pair-session-01-0001\"").count(), 2, "{html}");
        assert!(html.contains("the same in 3 requests"), "{html}");
    }
}
