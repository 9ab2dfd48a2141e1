//! Drawing the interface: the transcript above, the composer (or an approval prompt) and the status below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Cell, Pager};
use crate::diff::FilePatch;

/// What the empty composer shows.
pub const PLACEHOLDER: &str = "Ask Codex to do anything";

/// How many lines of a command's output a command cell shows.
const OUTPUT_LINES: usize = 5;

pub fn draw(frame: &mut Frame, app: &App) {
    if let Some(pager) = &app.pager {
        return draw_pager(frame, pager);
    }
    let bottom = bottom_lines(app);
    let height = (bottom.len() as u16).min(frame.area().height);
    let [top, below] = Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(frame.area());
    let transcript = transcript_lines(app);
    // The transcript's end stays in view unless scrolled back: scroll past what does not fit (wrapped lines counted
    // by width).
    let width = top.width.max(1) as usize;
    let rows: usize = transcript.iter().map(|line| line.width().max(1).div_ceil(width)).sum();
    let (scroll, limit) = transcript_scroll(rows, top.height as usize, app.scrolled_back);
    app.scroll_limit.set(limit);
    frame.render_widget(Paragraph::new(transcript).wrap(Wrap { trim: false }).scroll((scroll, 0)), top);
    frame.render_widget(Paragraph::new(bottom).wrap(Wrap { trim: false }), below);
}

/// The first row of the transcript to show, `back` rows above its end (at most to its top), and how far back it can
/// go.
fn transcript_scroll(rows: usize, height: usize, back: usize) -> (u16, usize) {
    let end = rows.saturating_sub(height);
    (end.saturating_sub(back) as u16, end)
}

fn dim() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

fn transcript_lines(app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(""),
        Line::from(vec![
            Span::raw("  "),
            Span::styled(">_ ", dim()),
            Span::styled("rcodex", Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(format!(" (Codex CLI {} compatible)", rcodex_prompt_pack::embedded().upstream_version), dim()),
        ]),
        Line::from(format!("     {}", app.config.cwd.display())),
        Line::from(""),
    ];
    for cell in &app.cells {
        lines.push(Line::from(""));
        cell_lines(cell, &mut lines);
    }
    lines
}

/// The lines of one cell of the transcript.
fn cell_lines(cell: &Cell, lines: &mut Vec<Line<'static>>) {
    match cell {
        Cell::User(text) => {
            for (i, line) in text.lines().enumerate() {
                let lead = if i == 0 { "› " } else { "  " };
                lines.push(Line::from(vec![Span::styled(lead, dim()), Span::raw(line.to_string())]));
            }
        }
        Cell::Agent { text, .. } => {
            for (i, line) in text.lines().enumerate() {
                let lead = if i == 0 { "• " } else { "  " };
                lines.push(markdown_line(lead, line));
            }
        }
        Cell::Command { command, output, exit_code, running } => {
            let verb = if *running { "Running" } else { "Ran" };
            let mark = match (running, exit_code) {
                (true, _) => Style::default().add_modifier(Modifier::DIM),
                (false, Some(0)) => Style::default().fg(Color::Green),
                _ => Style::default().fg(Color::Red),
            };
            lines.push(Line::from(vec![
                Span::styled("• ", mark),
                Span::styled(verb, Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(format!(" {command}")),
            ]));
            let output: Vec<&str> = output.lines().collect();
            for (i, line) in output.iter().take(OUTPUT_LINES).enumerate() {
                let lead = if i == 0 { "  └ " } else { "    " };
                lines.push(Line::from(Span::styled(format!("{lead}{line}"), dim())));
            }
            if output.len() > OUTPUT_LINES {
                lines.push(Line::from(Span::styled(format!("    … +{} lines", output.len() - OUTPUT_LINES), dim())));
            }
        }
        Cell::Worked(text) => lines.push(Line::from(Span::styled(format!("  {text}"), dim()))),
        Cell::Info(text) => lines.push(Line::from(Span::styled(format!("• {text}"), dim()))),
        Cell::Banner(text) => {
            lines.push(Line::from(Span::styled(text.clone(), Style::default().add_modifier(Modifier::BOLD))))
        }
        Cell::Error(text) => lines.push(Line::from(Span::styled(format!("■ {text}"), Style::default().fg(Color::Red)))),
        Cell::Reasoning(text) => {
            let style = dim().add_modifier(Modifier::ITALIC);
            for (i, line) in text.lines().enumerate() {
                let lead = if i == 0 { "• " } else { "  " };
                lines.push(Line::from(vec![Span::styled(lead, dim()), Span::styled(line.replace("**", ""), style)]));
            }
        }
        Cell::Patch(files) => patch_lines(files, lines),
        Cell::Plan(items) => {
            lines.push(Line::from(vec![
                Span::styled("• ", dim()),
                Span::styled("Updated Plan", Style::default().add_modifier(Modifier::BOLD)),
            ]));
            for (i, item) in items.iter().enumerate() {
                let lead = if i == 0 { "  └ " } else { "    " };
                let (mark, style) = if item.completed {
                    ("✔ ", dim().add_modifier(Modifier::CROSSED_OUT))
                } else {
                    ("□ ", Style::default())
                };
                lines.push(Line::from(vec![
                    Span::styled(lead, dim()),
                    Span::raw(mark),
                    Span::styled(item.text.clone(), style),
                ]));
            }
        }
        Cell::Status(fields) => {
            lines.push(Line::from(Span::styled("/status", dim())));
            lines.push(Line::from(""));
            for (label, value) in fields {
                let label = format!("{label}:");
                lines.push(Line::from(vec![Span::styled(format!("  {label:<21}"), dim()), Span::raw(value.clone())]));
            }
        }
    }
}

/// A patch's files: a heading with the lines added and removed, then each file's changed lines, numbered and
/// coloured.
fn patch_lines(files: &[FilePatch], lines: &mut Vec<Line<'static>>) {
    let (added, removed) = files.iter().map(FilePatch::counts).fold((0, 0), |(a, r), (x, y)| (a + x, r + y));
    let counts = |added: usize, removed: usize| {
        vec![
            Span::raw(" ("),
            Span::styled(format!("+{added}"), Style::default().fg(Color::Green)),
            Span::raw(" "),
            Span::styled(format!("-{removed}"), Style::default().fg(Color::Red)),
            Span::raw(")"),
        ]
    };
    let mut heading = vec![Span::styled("• ", dim())];
    match files {
        [file] => {
            let verb = match file.kind.as_str() {
                "add" => "Added",
                "delete" => "Deleted",
                _ => "Edited",
            };
            heading.push(Span::styled(verb, Style::default().add_modifier(Modifier::BOLD)));
            heading.push(Span::raw(format!(" {}", file.path)));
        }
        _ => {
            heading.push(Span::styled("Edited", Style::default().add_modifier(Modifier::BOLD)));
            heading.push(Span::raw(format!(" {} files", files.len())));
        }
    }
    heading.extend(counts(added, removed));
    lines.push(Line::from(heading));
    let width = files.iter().flat_map(|f| &f.lines).map(|l| l.number.to_string().len()).max().unwrap_or(1);
    for (i, file) in files.iter().enumerate() {
        let indent = if files.len() > 1 {
            if i > 0 {
                lines.push(Line::from(""));
            }
            let (added, removed) = file.counts();
            let mut spans = vec![Span::styled("  └ ", dim()), Span::raw(file.path.clone())];
            spans.extend(counts(added, removed));
            lines.push(Line::from(spans));
            "    "
        } else {
            "  "
        };
        for line in file.lines.iter().filter(|l| l.sign != ' ') {
            let style = Style::default().fg(if line.sign == '+' { Color::Green } else { Color::Red });
            lines.push(Line::from(vec![
                Span::raw(indent),
                Span::styled(format!("{:>width$} ", line.number), dim()),
                Span::styled(format!("{}{}", line.sign, line.text), style),
            ]));
        }
    }
}

/// How many of the pager's lines a screen of `rows` shows: all but its title, rule and two lines of keys.
pub fn pager_body(rows: u16) -> usize {
    (rows as usize).saturating_sub(4)
}

/// The pager over the whole screen: its title, a screenful of its lines (diff lines coloured), where it stands and
/// its keys.
fn draw_pager(frame: &mut Frame, pager: &Pager) {
    let area = frame.area();
    let body = pager_body(area.height);
    let title: String = pager.title.chars().flat_map(|c| [c, ' ']).collect();
    let rule_width = (area.width as usize).saturating_sub(title.chars().count() + 2);
    let mut lines = vec![Line::from(Span::styled(format!("/ {title}{}", "/ ".repeat(rule_width / 2)), dim()))];
    for line in pager.lines.iter().skip(pager.scroll).take(body) {
        let style = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") {
            Style::default().add_modifier(Modifier::BOLD)
        } else if line.starts_with('+') {
            Style::default().fg(Color::Green)
        } else if line.starts_with('-') {
            Style::default().fg(Color::Red)
        } else if line.starts_with("@@") {
            Style::default().fg(Color::Cyan)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(line.clone(), style)));
    }
    while lines.len() < body + 1 {
        lines.push(Line::from(Span::styled("~", dim())));
    }
    let shown = (pager.scroll + body).min(pager.lines.len());
    let percent = if pager.lines.is_empty() { 100 } else { shown * 100 / pager.lines.len() };
    let label = format!(" {percent}% ");
    let rule = "─".repeat((area.width as usize).saturating_sub(label.len() + 1));
    lines.push(Line::from(Span::styled(format!("{rule}{label}─"), dim())));
    lines.push(Line::from(Span::styled(" ↑/↓ to scroll · pgup/pgdn to page · home/end to jump", dim())));
    lines.push(Line::from(Span::styled(" q close", dim())));
    frame.render_widget(Paragraph::new(lines), area);
}

/// A line of Markdown, simply: headings and `**bold**` in bold, `code` in cyan.
fn markdown_line(lead: &'static str, line: &str) -> Line<'static> {
    let mut spans = vec![Span::styled(lead, dim())];
    if let Some(heading) = line.strip_prefix("# ").or_else(|| line.strip_prefix("## ")) {
        spans.push(Span::styled(heading.to_string(), Style::default().add_modifier(Modifier::BOLD)));
        return Line::from(spans);
    }
    let mut code = false;
    for (i, piece) in line.split('`').enumerate() {
        if i > 0 {
            code = !code;
        }
        if piece.is_empty() {
            continue;
        }
        if code {
            spans.push(Span::styled(piece.to_string(), Style::default().fg(Color::Cyan)));
            continue;
        }
        for (j, part) in piece.split("**").enumerate() {
            if part.is_empty() {
                continue;
            }
            let style = if j % 2 == 1 { Style::default().add_modifier(Modifier::BOLD) } else { Style::default() };
            spans.push(Span::styled(part.to_string(), style));
        }
    }
    Line::from(spans)
}

fn bottom_lines(app: &App) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(picker) = &app.picker {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("  {}", picker.title),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        if let Some(subtitle) = &picker.subtitle {
            lines.push(Line::from(Span::styled(format!("  {subtitle}"), dim())));
        }
        lines.push(Line::from(""));
        // A searchable list: its search field, then the rows it finds, unnumbered, a window of them at a time.
        let shown = picker.shown();
        let (first, count) = match &picker.search {
            Some(search) => {
                match search.query.as_str() {
                    "" => lines.push(Line::from(Span::styled(format!("  {}", search.placeholder), dim()))),
                    query => lines.push(Line::from(format!("  {query}"))),
                }
                lines.push(Line::from(""));
                (search.top, crate::app::LIST_ROWS)
            }
            None => (0, shown.len()),
        };
        let width = picker.items.iter().map(|i| i.0.chars().count()).max().unwrap_or_default();
        for (at, index) in shown.iter().enumerate().skip(first).take(count) {
            let (label, description, _) = &picker.items[*index];
            let lead = if at == picker.selected { "› " } else { "  " };
            let style = if at == picker.selected { Style::default().fg(Color::Cyan) } else { Style::default() };
            let row = match picker.search {
                Some(_) => format!("{lead}{label}"),
                None => format!("{lead}{}. {label:width$}  ", at + 1),
            };
            lines.push(Line::from(vec![Span::styled(row, style), Span::styled(description.clone(), dim())]));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(format!("  {}", picker.footer), dim())));
        return lines;
    }
    if let Some(approval) = &app.approval
        && let Some(mcp) = &approval.mcp
    {
        // Upstream's dialog: the line over the question, the question, the arguments, the choices with their dim
        // words in a column, the line of keys.
        lines.push(Line::from(""));
        lines.push(Line::from(format!("  {}", mcp.header)));
        lines.push(Line::from(Span::styled(
            format!("  {}", approval.title),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        lines.push(Line::from(""));
        for argument in &mcp.arguments {
            lines.push(Line::from(format!("  {argument}")));
        }
        lines.push(Line::from(""));
        let width = approval.choices.iter().map(|(_, label, _)| label.chars().count()).max().unwrap_or(0);
        for (i, ((_, label, _), words)) in approval.choices.iter().zip(&mcp.descriptions).enumerate() {
            let lead = if i == approval.selected { "  › " } else { "    " };
            let style = if i == approval.selected { Style::default().fg(Color::Cyan) } else { Style::default() };
            let row = format!("{lead}{}. {label:width$}  ", i + 1);
            lines.push(Line::from(vec![Span::styled(row, style), Span::styled(words.clone(), dim())]));
        }
        lines.push(Line::from(Span::styled(format!("  {}", mcp.footer), dim())));
        return lines;
    }
    if let Some(approval) = &app.approval {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("  {}", approval.title),
            Style::default().add_modifier(Modifier::BOLD),
        )));
        lines.push(Line::from(""));
        if let Some(reason) = &approval.reason {
            lines.push(Line::from(format!("  Reason: {reason}")));
            lines.push(Line::from(""));
        }
        lines.push(Line::from(format!("  $ {}", approval.command)));
        lines.push(Line::from(""));
        for (i, (_, label, key)) in approval.choices.iter().enumerate() {
            let lead = if i == approval.selected { "› " } else { "  " };
            let key = if *key == '\u{1b}' { "esc".to_string() } else { key.to_string() };
            let style = if i == approval.selected { Style::default().fg(Color::Cyan) } else { Style::default() };
            lines.push(Line::from(Span::styled(format!("{lead}{}. {label} ({key})", i + 1), style)));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("  Press enter to confirm or esc to cancel", dim())));
        return lines;
    }
    if app.review_prompt {
        let pack = rcodex_prompt_pack::embedded();
        let text = |key: &str| pack.text(key).unwrap_or_default().to_string();
        lines.push(Line::from(""));
        let title = text(&rcodex_prompt_pack::keys::tui_review_preset("custom"));
        lines.push(Line::from(Span::styled(format!("  {title}"), Style::default().add_modifier(Modifier::BOLD))));
        lines.push(Line::from(""));
        if app.composer.is_empty() {
            let placeholder = text(rcodex_prompt_pack::keys::TUI_REVIEW_CUSTOM_PLACEHOLDER);
            lines.push(Line::from(vec![Span::raw("› "), Span::styled(placeholder, dim())]));
        } else {
            lines.extend(composer_lines(&app.composer));
        }
        lines.push(Line::from(""));
        let footer = text(rcodex_prompt_pack::keys::TUI_REVIEW_CUSTOM_FOOTER);
        lines.push(Line::from(Span::styled(format!("  {footer}"), dim())));
        return lines;
    }
    if app.scrolled_back > 0 {
        lines.push(Line::from(Span::styled(format!("  ↑ {} rows back · PgDn returns", app.scrolled_back), dim())));
    }
    if app.running {
        let seconds = app.turn_started.map(|t| t.elapsed().as_secs()).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled("• ", dim()),
            Span::styled("Working", Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(format!(" ({seconds}s • esc to interrupt)"), dim()),
        ]));
    }
    for queued in &app.queued {
        lines.push(Line::from(Span::styled(format!("  ↳ {queued}"), dim())));
    }
    lines.push(Line::from(""));
    if app.composer.is_empty() {
        lines.push(Line::from(vec![Span::raw("› "), Span::styled(PLACEHOLDER, dim())]));
    } else {
        lines.extend(composer_lines(&app.composer));
    }
    lines.push(Line::from(""));
    let effort = app.config.model_reasoning_effort.clone().unwrap_or_else(|| "default".into());
    let mut status = format!("  {} {effort} · {}", app.config.model, app.config.cwd.display());
    let usage = &app.usage;
    if usage.input_tokens + usage.output_tokens > 0 {
        let used = usage.input_tokens.saturating_sub(usage.cached_input_tokens) + usage.output_tokens;
        status.push_str(&format!(" · {} tokens used", crate::app::thousands(used)));
    }
    lines.push(Line::from(Span::styled(status, dim())));
    lines.push(Line::from(Span::styled("  enter sends · tab queues · esc interrupts · ctrl-c quits", dim())));
    lines
}

/// The composer's lines, the character under the cursor (a space at a line's end) in reverse video.
fn composer_lines(composer: &crate::composer::Composer) -> Vec<Line<'static>> {
    let (text, cursor) = (composer.text(), composer.cursor());
    let mut start = 0;
    text.split('\n')
        .enumerate()
        .map(|(i, line)| {
            let lead = if i == 0 { "› " } else { "  " };
            let (begin, end) = (start, start + line.len());
            start = end + 1;
            if !(begin..=end).contains(&cursor) {
                return Line::from(format!("{lead}{line}"));
            }
            let at = cursor - begin;
            let under = line[at..].chars().next();
            let after = at + under.map_or(0, char::len_utf8);
            Line::from(vec![
                Span::raw(format!("{lead}{}", &line[..at])),
                Span::styled(under.unwrap_or(' ').to_string(), Style::default().add_modifier(Modifier::REVERSED)),
                Span::raw(line[after..].to_string()),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcodex_core::events::TodoItem;

    #[test]
    fn the_cursor_is_shown_reversed_on_its_line_only() {
        let mut composer = crate::composer::Composer::default();
        composer.insert_str("ab\ncd");
        composer.left();
        let lines = composer_lines(&composer);
        let text = |line: &Line| line.spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        assert_eq!(lines.iter().map(text).collect::<Vec<_>>(), ["› ab", "  cd"]);
        assert_eq!(lines[0].spans.len(), 1, "no cursor on the first line");
        let cursor = lines[1].spans.iter().find(|s| s.style.add_modifier.contains(Modifier::REVERSED)).unwrap();
        assert_eq!(cursor.content, "d");
        composer.line_end();
        let last = composer_lines(&composer).pop().unwrap();
        assert_eq!(last.spans[1].content, " ", "at the end, a space");
    }

    #[test]
    fn a_patch_is_green_where_it_adds_and_red_where_it_removes_and_counts_both() {
        let file = FilePatch::new("/w/a.txt", "update", "@@ -1,2 +1,2 @@\n keep\n-old\n+new\n", "/w".as_ref());
        let mut lines = Vec::new();
        patch_lines(&[file], &mut lines);
        let text = |line: &Line| line.spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        let shown: Vec<String> = lines.iter().map(text).collect();
        // One file: named in the heading; the context line is not shown.
        assert_eq!(shown, ["• Edited a.txt (+1 -1)", "  2 -old", "  2 +new"]);
        let colour =
            |line: &Line, content: &str| line.spans.iter().find(|s| s.content == content).and_then(|s| s.style.fg);
        assert_eq!(colour(&lines[1], "-old"), Some(Color::Red));
        assert_eq!(colour(&lines[2], "+new"), Some(Color::Green));
        assert_eq!(colour(&lines[0], "+1"), Some(Color::Green));
    }

    #[test]
    fn a_plan_is_a_checklist_its_done_steps_ticked() {
        let items = vec![
            TodoItem { text: "Reproduce the bug".into(), completed: true },
            TodoItem { text: "Write the fix".into(), completed: false },
        ];
        let mut lines = Vec::new();
        cell_lines(&Cell::Plan(items), &mut lines);
        let text = |line: &Line| line.spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        let shown: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(shown, ["• Updated Plan", "  └ ✔ Reproduce the bug", "    □ Write the fix"]);
    }

    #[test]
    fn the_transcript_follows_its_end_unless_scrolled_back_and_stops_at_its_top() {
        assert_eq!(transcript_scroll(100, 30, 0), (70, 70));
        assert_eq!(transcript_scroll(100, 30, 20), (50, 70));
        assert_eq!(transcript_scroll(100, 30, 500), (0, 70));
        // All of it fits: nothing to scroll.
        assert_eq!(transcript_scroll(10, 30, 5), (0, 0));
    }

    #[test]
    fn the_pager_shows_a_screenful_from_where_it_is_scrolled_and_how_far_that_is() {
        let pager = Pager { title: "DIFF".into(), lines: (1..=30).map(|i| format!("+line {i}")).collect(), scroll: 10 };
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(40, 12)).unwrap();
        terminal.draw(|frame| draw_pager(frame, &pager)).unwrap();
        let buffer = terminal.backend().buffer();
        let row = |y: u16| (0..40).map(|x| buffer[(x, y)].symbol().to_string()).collect::<String>();
        assert!(row(0).starts_with("/ D I F F /"), "{}", row(0));
        assert!(row(1).starts_with("+line 11"), "{}", row(1));
        assert!(row(8).starts_with("+line 18"), "{}", row(8));
        // 18 of 30 lines seen.
        assert!(row(9).contains(" 60% "), "{}", row(9));
        assert_eq!(buffer[(0, 1)].fg, Color::Green);
    }
}
