//! The text report: compact, for a terminal.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use super::{
    Options, Repeat, Repeats, by_category, category_counts, label, location, plain_diff_lines, plural, same_in, short,
    verdict_phrase,
};
use crate::compare::{Category, Comparison, Divergence, Kind};
use crate::normalize::Touch;
use crate::textdiff::{LineTag, TextDiff};

const VALUE_LIMIT: usize = 160;

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: impl std::fmt::Display) -> String {
        if self.color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_string() }
    }

    fn category(&self, category: Category) -> String {
        let style = match category {
            Category::Schema => AnsiColor::Magenta.on_default().bold(),
            Category::Relation => AnsiColor::Yellow.on_default().bold(),
            Category::Value => AnsiColor::Cyan.on_default().bold(),
            Category::Prompt => AnsiColor::Blue.on_default().bold(),
            Category::Events => AnsiColor::Green.on_default().bold(),
            Category::Protocol => AnsiColor::Red.on_default().bold(),
            Category::Files => AnsiColor::BrightBlack.on_default().bold(),
        };
        self.paint(style, format!("{:<8}", category.as_str()))
    }
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
const LEFT: Style = AnsiColor::Red.on_default();
const RIGHT: Style = AnsiColor::Green.on_default();

pub fn render(c: &Comparison, options: &Options) -> String {
    let p = Painter { color: options.color };
    let repeats = Repeats::of(c);
    let mut out = String::new();
    for (label, side) in [("left: ", &c.left), ("right:", &c.right)] {
        let _ =
            writeln!(out, "{} {} ({})", p.paint(BOLD, label), side.root, plural(side.requests, "request", "requests"));
    }
    for pair in &c.pairs {
        let has_explain = options.explain && !(pair.explain_left.is_empty() && pair.explain_right.is_empty());
        if pair.divergences.is_empty() && pair.accepted.is_empty() && !has_explain {
            continue;
        }
        let _ = writeln!(out);
        let status = if pair.divergences.is_empty() {
            p.paint(RIGHT, "no divergence")
        } else {
            p.paint(
                LEFT,
                format!(
                    "{} ({})",
                    plural(pair.divergences.len(), "divergence", "divergences"),
                    category_counts(&pair.divergences)
                ),
            )
        };
        let _ = writeln!(out, "{}  {}  {}", p.paint(BOLD, &pair.id), label(pair), status);
        for d in by_category(pair) {
            divergence(&mut out, &p, d, None, repeats.of_divergence(pair, d));
        }
        for a in &pair.accepted {
            divergence(&mut out, &p, &a.divergence, Some(&a.reason), Repeat::Once);
        }
        if options.explain {
            explain(&mut out, &p, "left ", &pair.explain_left);
            explain(&mut out, &p, "right", &pair.explain_right);
        }
    }
    if !c.stale.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            p.paint(
                AnsiColor::Yellow.on_default(),
                format!("stale: {} matched nothing:", plural(c.stale.len(), "accept entry", "accept entries"))
            )
        );
        for e in &c.stale {
            let request = e.request.as_deref().map(|r| format!(" in {r}")).unwrap_or_default();
            let _ = writeln!(out, "  line {}: {} {}{request}  ({})", e.line, e.category, e.path, e.reason);
        }
    }
    let s = c.summary();
    let _ = writeln!(out);
    let counts = super::counted_categories(&s)
        .iter()
        .map(|cat| format!("{} {cat}", s.count(*cat)))
        .collect::<Vec<_>>()
        .join(", ");
    let colour = if s.divergences == 0 { RIGHT.bold() } else { LEFT.bold() };
    let phrase = verdict_phrase(&s);
    let (head, rest) = phrase.split_once(" in ").unwrap_or((&phrase, ""));
    let _ = write!(out, "{} in {rest} ({counts})", p.paint(colour, head.to_lowercase()));
    if s.accepted > 0 || s.stale > 0 {
        let _ = write!(out, "; {} accepted, {} stale", s.accepted, s.stale);
    }
    let _ = writeln!(out);
    out
}

fn divergence(out: &mut String, p: &Painter, d: &Divergence, accepted: Option<&str>, repeat: Repeat) {
    let tag = match accepted {
        Some(_) => p.paint(DIM, format!("{:<8}", "accepted")),
        None => p.category(d.category),
    };
    let kind = match accepted {
        Some(_) => format!("{} {}", d.category, d.kind.describe()),
        None => d.kind.describe().to_string(),
    };
    let _ = writeln!(out, "  {tag} {}  {}", location(d), p.paint(DIM, kind));
    let indent = "           ";
    if let Some(reason) = accepted {
        let _ = writeln!(out, "{indent}{}", p.paint(DIM, format!("reason: {reason}")));
        return;
    }
    match repeat {
        Repeat::Once => {}
        Repeat::First(ids) => {
            let _ = writeln!(out, "{indent}{}", p.paint(DIM, same_in(ids)));
        }
        Repeat::Again(first) => {
            let _ = writeln!(out, "{indent}{}", p.paint(DIM, format!("the same as in {first}")));
            return;
        }
    }
    if let Some(note) = &d.note {
        let _ = writeln!(out, "{indent}{}", p.paint(DIM, note));
    }
    match (&d.text_diff, d.kind) {
        (Some(diff), _) => text_diff(out, p, diff, indent),
        (None, Kind::OnlyLeft) => {
            let _ =
                writeln!(out, "{indent}{}", p.paint(LEFT, format!("left:  {}", short(d.left.as_ref(), VALUE_LIMIT))));
        }
        (None, Kind::OnlyRight) => {
            let _ =
                writeln!(out, "{indent}{}", p.paint(RIGHT, format!("right: {}", short(d.right.as_ref(), VALUE_LIMIT))));
        }
        (None, Kind::Moved) => {
            let _ =
                writeln!(out, "{indent}{}", p.paint(DIM, format!("value: {}", short(d.left.as_ref(), VALUE_LIMIT))));
        }
        (None, _) => {
            let _ =
                writeln!(out, "{indent}{}", p.paint(LEFT, format!("left:  {}", short(d.left.as_ref(), VALUE_LIMIT))));
            let _ =
                writeln!(out, "{indent}{}", p.paint(RIGHT, format!("right: {}", short(d.right.as_ref(), VALUE_LIMIT))));
        }
    }
}

fn text_diff(out: &mut String, p: &Painter, diff: &TextDiff, indent: &str) {
    if !p.color {
        for line in plain_diff_lines(diff) {
            let _ = writeln!(out, "{indent}{line}");
        }
        return;
    }
    for hunk in &diff.hunks {
        let _ = writeln!(
            out,
            "{indent}{}",
            p.paint(DIM, format!("@@ left line {}, right line {} @@", hunk.left_line, hunk.right_line))
        );
        for line in &hunk.lines {
            let (sign, style) = match line.tag {
                LineTag::Equal => (' ', DIM),
                LineTag::Left => ('-', LEFT),
                LineTag::Right => ('+', RIGHT),
            };
            let mut text = p.paint(style, format!("{sign} "));
            for part in &line.parts {
                let style = if part.changed { style.bold().underline() } else { style };
                text.push_str(&p.paint(style, &part.text));
            }
            let _ = writeln!(out, "{indent}{text}");
        }
    }
}

fn explain(out: &mut String, p: &Painter, side: &str, touches: &[Touch]) {
    for t in touches {
        let _ = writeln!(
            out,
            "  {} {:<22} {}  {} → {}",
            p.paint(DIM, format!("explain {side}")),
            t.rule,
            t.path,
            super::cut(&t.before.replace('\n', "⏎"), 70),
            super::cut(&t.after.replace('\n', "⏎"), 70),
        );
    }
}
