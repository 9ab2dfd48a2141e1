//! The Markdown report: for pull requests and issues.

use std::fmt::Write;

use super::{
    Options, Repeat, Repeats, by_category, label, location, plain_diff_lines, plural, same_in, short, verdict_phrase,
};
use crate::compare::{Category, Comparison, Divergence};

const VALUE_LIMIT: usize = 120;

pub fn render(c: &Comparison, options: &Options) -> String {
    let s = c.summary();
    let repeats = Repeats::of(c);
    let mut out = String::new();
    let _ = writeln!(out, "# parity diff\n");
    let _ = writeln!(out, "- **left:** `{}` ({})", code(&c.left.root), plural(c.left.requests, "request", "requests"));
    let _ =
        writeln!(out, "- **right:** `{}` ({})\n", code(&c.right.root), plural(c.right.requests, "request", "requests"));
    let phrase = verdict_phrase(&s);
    let (head, rest) = phrase.split_once(" in ").unwrap_or((&phrase, ""));
    let _ = writeln!(out, "**{head}** in {rest}.\n");
    let categories = super::counted_categories(&s);
    let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    let counts: Vec<String> = categories.iter().map(|c| s.count(*c).to_string()).collect();
    let _ = writeln!(out, "| {} | accepted | stale |", names.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(names.len() + 2));
    let _ = writeln!(out, "| {} | {} | {} |", counts.join(" | "), s.accepted, s.stale);
    for pair in &c.pairs {
        if pair.divergences.is_empty() && pair.accepted.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {} — `{}`\n", pair.id, label(pair));
        let files = [("left", &pair.left), ("right", &pair.right)]
            .iter()
            .map(|(side, r)| {
                format!("{side}: {}", r.as_ref().map(|r| format!("`{}`", code(&r.file))).unwrap_or("(none)".into()))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let _ = writeln!(out, "{files}\n");
        if !pair.divergences.is_empty() {
            let _ = writeln!(out, "| category | what | path | left | right |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for d in by_category(pair) {
                row(&mut out, d, repeats.of_divergence(pair, d));
            }
            let again = |d: &&Divergence| matches!(repeats.of_divergence(pair, d), Repeat::Again(_));
            for d in by_category(pair).into_iter().filter(|d| d.text_diff.is_some() && !again(d)) {
                diff_block(&mut out, d);
            }
        }
        if !pair.accepted.is_empty() {
            let _ = writeln!(out, "\n**Accepted:**\n");
            for a in &pair.accepted {
                let d = &a.divergence;
                let _ = writeln!(
                    out,
                    "- {} `{}` {} — {}",
                    d.category,
                    code(&location(d)),
                    d.kind.describe(),
                    cell(&a.reason)
                );
            }
        }
        if options.explain {
            for (side, touches) in [("left", &pair.explain_left), ("right", &pair.explain_right)] {
                if touches.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "\n<details><summary>Rules applied on the {side}</summary>\n");
                let _ = writeln!(out, "| rule | path | before | after |\n|---|---|---|---|");
                for t in touches {
                    let _ = writeln!(
                        out,
                        "| {} | `{}` | {} | {} |",
                        t.rule,
                        code(&t.path),
                        cell(&super::cut(&t.before, 60)),
                        cell(&super::cut(&t.after, 60))
                    );
                }
                let _ = writeln!(out, "\n</details>");
            }
        }
    }
    if !c.stale.is_empty() {
        let _ = writeln!(out, "\n## Stale accept entries\n");
        for e in &c.stale {
            let _ = writeln!(out, "- line {}: {} `{}` — {}", e.line, e.category, code(&e.path), cell(&e.reason));
        }
    }
    out
}

fn row(out: &mut String, d: &Divergence, repeat: Repeat) {
    let (left, right) = if let Repeat::Again(first) = repeat {
        (format!("the same as in {first}"), String::new())
    } else if d.text_diff.is_some() {
        ("see the diff below".to_string(), String::new())
    } else {
        (
            format!("`{}`", code(&short(d.left.as_ref(), VALUE_LIMIT))),
            format!("`{}`", code(&short(d.right.as_ref(), VALUE_LIMIT))),
        )
    };
    let mut what = match &d.note {
        Some(note) => format!("{}: {}", d.kind.describe(), note),
        None => d.kind.describe().to_string(),
    };
    if let Repeat::First(ids) = repeat {
        what = format!("{what} ({})", same_in(ids));
    }
    let _ = writeln!(
        out,
        "| {} | {} | `{}` | {} | {} |",
        category_badge(d.category),
        cell(&what),
        code(&location(d)),
        cell(&left),
        cell(&right)
    );
}

fn diff_block(out: &mut String, d: &Divergence) {
    let Some(diff) = &d.text_diff else { return };
    let _ = writeln!(out, "\n<details><summary>{} <code>{}</code></summary>\n", d.category, html_escape(&location(d)));
    let fence = if plain_diff_lines(diff).iter().any(|l| l.contains("```")) { "````" } else { "```" };
    let _ = writeln!(out, "{fence}diff");
    for line in plain_diff_lines(diff) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{fence}\n\n</details>");
}

fn category_badge(c: Category) -> String {
    format!("**{c}**")
}

/// Text inside a table cell: no pipes or newlines.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Text inside inline code: backticks would end it.
fn code(text: &str) -> String {
    text.replace('`', "'")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
