//! Drawing the interface: the transcript above, the composer (or an approval prompt) and the status below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{App, Cell};

/// What the empty composer shows.
pub const PLACEHOLDER: &str = "Ask Codex to do anything";

/// How many lines of a command's output a command cell shows.
const OUTPUT_LINES: usize = 5;

pub fn draw(frame: &mut Frame, app: &App) {
    let bottom = bottom_lines(app);
    let height = (bottom.len() as u16).min(frame.area().height);
    let [top, below] = Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(frame.area());
    let transcript = transcript_lines(app);
    // The transcript's end stays in view: scroll past what does not fit (wrapped lines counted by width).
    let width = top.width.max(1) as usize;
    let rows: usize = transcript.iter().map(|line| line.width().max(1).div_ceil(width)).sum();
    let scroll = rows.saturating_sub(top.height as usize) as u16;
    frame.render_widget(Paragraph::new(transcript).wrap(Wrap { trim: false }).scroll((scroll, 0)), top);
    frame.render_widget(Paragraph::new(bottom).wrap(Wrap { trim: false }), below);
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
                    lines
                        .push(Line::from(Span::styled(format!("    … +{} lines", output.len() - OUTPUT_LINES), dim())));
                }
            }
            Cell::Worked(text) => lines.push(Line::from(Span::styled(format!("  {text}"), dim()))),
            Cell::Info(text) => lines.push(Line::from(Span::styled(format!("• {text}"), dim()))),
            Cell::Error(text) => {
                lines.push(Line::from(Span::styled(format!("■ {text}"), Style::default().fg(Color::Red))))
            }
        }
    }
    lines
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
        lines.push(Line::from(""));
        let width = picker.items.iter().map(|i| i.0.chars().count()).max().unwrap_or_default();
        for (i, (label, description, _)) in picker.items.iter().enumerate() {
            let lead = if i == picker.selected { "› " } else { "  " };
            let style = if i == picker.selected { Style::default().fg(Color::Cyan) } else { Style::default() };
            lines.push(Line::from(vec![
                Span::styled(format!("{lead}{}. {label:width$}  ", i + 1), style),
                Span::styled(description.clone(), dim()),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(format!("  {}", picker.footer), dim())));
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
        for (i, line) in app.composer.split('\n').enumerate() {
            let lead = if i == 0 { "› " } else { "  " };
            lines.push(Line::from(format!("{lead}{line}")));
        }
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
