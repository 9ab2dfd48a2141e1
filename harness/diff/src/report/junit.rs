//! The JUnit XML report: one test case per request pair, failing when the pair diverges.

use std::fmt::Write;

use super::{Options, category_counts, escape_markup, plural, request_label};
use crate::compare::Comparison;

pub fn render(c: &Comparison) -> String {
    let failures = failures(c);
    let tests = c.pairs.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"parity diff\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">");
    testsuite(&mut out, &format!("{} vs {}", c.left.root, c.right.root), "parity.diff", c);
    let _ = writeln!(out, "</testsuites>");
    out
}

/// Pairs that diverge.
pub(super) fn failures(c: &Comparison) -> usize {
    c.pairs.iter().filter(|p| !p.divergences.is_empty()).count()
}

/// One `<testsuite>`: a test case per request pair, classnames `<class_prefix>.session-NN`.
pub(super) fn testsuite(out: &mut String, name: &str, class_prefix: &str, c: &Comparison) {
    let (tests, failures) = (c.pairs.len(), failures(c));
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        escape_markup(name)
    );
    for pair in &c.pairs {
        let session = match pair.events {
            // Event streams are not in a session; they get a class of their own.
            true => "events".to_string(),
            false => parity_capture::store::session_dir_name(pair.session),
        };
        let _ = write!(
            out,
            "    <testcase classname=\"{}.{}\" name=\"{}\"",
            escape_markup(class_prefix),
            escape_markup(&session),
            // The request alone, not its step's name: test case names stay stable in a CI's history.
            escape_markup(&format!("{} {}", pair.id, request_label(pair)))
        );
        if pair.divergences.is_empty() && pair.accepted.is_empty() {
            let _ = writeln!(out, "/>");
            continue;
        }
        let _ = writeln!(out, ">");
        if !pair.divergences.is_empty() {
            // The body is the text report of this pair alone.
            let mut one = c.clone();
            one.pairs = vec![pair.clone()];
            one.stale.clear();
            let body = super::text::render(&one, &Options::default());
            let _ = writeln!(
                out,
                "      <failure type=\"divergence\" message=\"{}\">{}</failure>",
                escape_markup(&format!(
                    "{} ({})",
                    plural(pair.divergences.len(), "divergence", "divergences"),
                    category_counts(&pair.divergences)
                )),
                escape_markup(&body)
            );
        }
        if !pair.accepted.is_empty() {
            let lines: Vec<String> = pair
                .accepted
                .iter()
                .map(|a| {
                    format!(
                        "accepted {} {} {}: {}",
                        a.divergence.category,
                        a.divergence.path,
                        a.divergence.kind.describe(),
                        a.reason
                    )
                })
                .collect();
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape_markup(&lines.join("\n")));
        }
        let _ = writeln!(out, "    </testcase>");
    }
    if !c.stale.is_empty() {
        let lines: Vec<String> = c
            .stale
            .iter()
            .map(|e| format!("stale accept entry, line {}: {} {} ({})", e.line, e.category, e.path, e.reason))
            .collect();
        let _ = writeln!(out, "    <system-err>{}</system-err>", escape_markup(&lines.join("\n")));
    }
    let _ = writeln!(out, "  </testsuite>");
}
