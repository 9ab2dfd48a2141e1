//! A process in a pseudo-terminal of a fixed size (portable-pty) with a terminal emulator (`vt100`) reading what it
//! draws: what the tui frontend drives, and what the interface benchmark measures.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The screen a terminal of this size shows after this output.
pub fn screen_of(output: &[u8], cols: u16, rows: u16) -> String {
    let mut parser = new_parser(cols, rows);
    parser.process(output);
    screen_text(parser.screen())
}

fn new_parser(cols: u16, rows: u16) -> vt100::Parser<Replies> {
    let nonzero = |n: u16| std::num::NonZeroU16::new(n.max(1)).expect("not zero");
    vt100::Parser::new_with_callbacks(nonzero(rows), nonzero(cols), 0, Replies::default())
}

/// The screen's rows, their trailing spaces cut, trailing empty rows left out, ending with a newline.
fn screen_text(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen.rows(0, cols.get()).map(|r| r.trim_end().to_string()).collect();
    let used = rows.iter().rposition(|r| !r.is_empty()).map_or(0, |i| i + 1);
    let mut text = rows[..used].join("\n");
    text.push('\n');
    text
}

/// What the emulated terminal answers: the queries an application blocks on.
#[derive(Default)]
struct Replies {
    out: Vec<u8>,
}

impl vt100::Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        match (i1, c, params) {
            // DSR 6: the cursor position, 1-based.
            (None, 'n', [[6]]) => {
                let (row, col) = screen.cursor_position();
                self.out.extend(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
            // DA1: a VT220-level terminal with no extensions (which tells crossterm there is no keyboard
            // enhancement either).
            (None, 'c', [] | [[0]]) => self.out.extend(b"\x1b[?62;22c"),
            _ => {}
        }
    }
}

/// A process in a pseudo-terminal, and the emulator reading it.
pub struct Terminal {
    pub started: Instant,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    pub pid: Option<i32>,
    /// Kept open for the life of the process: dropping it would hang the terminal up.
    _master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    output: mpsc::UnboundedReceiver<Vec<u8>>,
    pub eof: bool,
    parser: vt100::Parser<Replies>,
    pub raw: Vec<u8>,
    /// How the process ended: its exit code, or the signal that killed it.
    pub exit: Option<(Option<i32>, Option<String>)>,
}

impl Terminal {
    pub fn spawn(
        program: &str,
        args: &[String],
        env: Vec<(String, String)>,
        cwd: &Path,
        cols: u16,
        rows: u16,
    ) -> std::io::Result<Terminal> {
        let size = PtySize { rows, cols, pixel_width: 0, pixel_height: 0 };
        let pair = native_pty_system().openpty(size).map_err(std::io::Error::other)?;
        let mut builder = CommandBuilder::new(program);
        builder.args(args);
        builder.env_clear();
        for (key, value) in env {
            builder.env(key, value);
        }
        builder.cwd(cwd);
        // portable-pty makes the child a session leader, so its process group is its pid.
        let child = pair.slave.spawn_command(builder).map_err(std::io::Error::other)?;
        // The parent's copy of the terminal's other side would keep it open after the child has gone.
        drop(pair.slave);
        let pid = child.process_id().and_then(|p| i32::try_from(p).ok());
        let mut reader = pair.master.try_clone_reader().map_err(std::io::Error::other)?;
        let writer = pair.master.take_writer().map_err(std::io::Error::other)?;
        let (tx, output) = mpsc::unbounded_channel();
        std::thread::Builder::new().name("parity-tui-reader".into()).spawn(move || {
            let mut chunk = [0u8; 16384];
            loop {
                match reader.read(&mut chunk) {
                    // EIO once nothing holds the terminal any more: its end of file.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(chunk[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        })?;
        Ok(Terminal {
            started: Instant::now(),
            child,
            pid,
            _master: pair.master,
            writer,
            output,
            eof: false,
            parser: new_parser(cols, rows),
            raw: Vec::new(),
            exit: None,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.raw.extend_from_slice(chunk);
        self.parser.process(chunk);
        let replies = std::mem::take(&mut self.parser.callbacks_mut().out);
        if !replies.is_empty() {
            let _ = self.write(&replies);
        }
    }

    /// Reads what comes until `until`, or until the output pauses after something came; false when nothing came
    /// (the time ran out, or the terminal closed).
    pub async fn read_until(&mut self, until: Instant) -> bool {
        if self.eof {
            return false;
        }
        match tokio::time::timeout_at(until, self.output.recv()).await {
            Ok(Some(chunk)) => {
                self.feed(&chunk);
                // Whatever is already there too, so that a screen is read whole.
                while let Ok(chunk) = self.output.try_recv() {
                    self.feed(&chunk);
                }
                true
            }
            Ok(None) => {
                self.eof = true;
                false
            }
            Err(_) => false,
        }
    }

    /// Whatever output is left, without waiting.
    pub fn drain(&mut self) {
        while let Ok(chunk) = self.output.try_recv() {
            self.feed(&chunk);
        }
    }

    /// Whether the application asked for the cursor keys' application mode (arrows then send `ESC O A`).
    pub fn application_cursor(&self) -> bool {
        self.parser.screen().application_cursor()
    }

    /// The screen as an SVG image ([`screen_svg`]).
    pub fn screen_svg(&self) -> String {
        screen_svg(self.parser.screen())
    }

    pub fn screen_text(&self) -> String {
        screen_text(self.parser.screen())
    }

    pub fn poll_exit(&mut self) -> bool {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            let signal = status.signal().map(str::to_string);
            let code = if signal.is_some() { None } else { i32::try_from(status.exit_code()).ok() };
            self.exit = Some((code, signal));
        }
        self.exit.is_some()
    }

    /// Waits for the process to exit, reading its output meanwhile; false when it has not by `deadline`.
    pub async fn wait_exit(&mut self, deadline: Instant) -> bool {
        loop {
            if self.poll_exit() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let tick = (Instant::now() + Duration::from_millis(20)).min(deadline);
            if !self.read_until(tick).await {
                tokio::time::sleep_until(tick).await;
            }
        }
    }

    pub async fn exit_words(&mut self, wait: Duration) -> String {
        self.wait_exit(Instant::now() + wait).await;
        match &self.exit {
            Some((Some(code), _)) => format!("it exited {code}"),
            Some((None, Some(signal))) => format!("it was killed by {signal}"),
            Some(_) => "it ended".to_string(),
            None => "it is still running".to_string(),
        }
    }
}

/// A screen as an SVG image: each run of cells with the same colours and weight as one text, on a dark background
/// (a picture of a session for a README or a report; the text stays selectable).
pub fn screen_svg(screen: &vt100::Screen) -> String {
    const CELL_W: f64 = 8.4;
    const CELL_H: f64 = 18.0;
    let (rows, cols) = screen.size();
    let (rows, cols) = (rows.get(), cols.get());
    let (width, height) = (cols as f64 * CELL_W + 24.0, rows as f64 * CELL_H + 24.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" \
         font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" rx=\"8\" fill=\"#1e1e1e\"/>\n"
    );
    for row in 0..rows {
        let mut col = 0;
        while col < cols {
            let Some(cell) = screen.cell(row, col) else { break };
            let style = CellStyle::of(cell);
            let start = col;
            let mut text = String::new();
            while col < cols {
                let Some(cell) = screen.cell(row, col) else { break };
                if CellStyle::of(cell) != style {
                    break;
                }
                text.push_str(if cell.has_contents() { cell.contents() } else { " " });
                col += if cell.is_wide() { 2 } else { 1 };
            }
            let text = text.trim_end();
            if text.is_empty() {
                continue;
            }
            let (x, y) = (12.0 + start as f64 * CELL_W, 12.0 + (row as f64 + 0.78) * CELL_H);
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{y:.1}\" fill=\"{}\"{}{}{} xml:space=\"preserve\">{}</text>\n",
                style.fill,
                if style.bold { " font-weight=\"bold\"" } else { "" },
                if style.italic { " font-style=\"italic\"" } else { "" },
                if style.dim { " fill-opacity=\"0.6\"" } else { "" },
                escape_xml(text),
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[derive(PartialEq)]
struct CellStyle {
    fill: String,
    bold: bool,
    italic: bool,
    dim: bool,
}

impl CellStyle {
    fn of(cell: &vt100::Cell) -> CellStyle {
        let color = if cell.inverse() { cell.bgcolor() } else { cell.fgcolor() };
        CellStyle { fill: css_color(color), bold: cell.bold(), italic: cell.italic(), dim: cell.dim() }
    }
}

/// A terminal colour as the dark theme shows it: the 16 ANSI colours, the 256-colour cube and greys, or RGB.
fn css_color(color: vt100::Color) -> String {
    const ANSI: [&str; 16] = [
        "#1e1e1e", "#f14c4c", "#23d18b", "#e5e510", "#3b8eea", "#bc3fbc", "#29b8db", "#cccccc", "#666666", "#f14c4c",
        "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5",
    ];
    match color {
        vt100::Color::Default => "#d4d4d4".into(),
        vt100::Color::Idx(i) if i < 16 => ANSI[i as usize].into(),
        vt100::Color::Idx(i) if i < 232 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            let i = i - 16;
            format!("#{:02x}{:02x}{:02x}", level(i / 36), level(i / 6 % 6), level(i % 6))
        }
        vt100::Color::Idx(i) => {
            let grey = 8 + (i - 232) * 10;
            format!("#{grey:02x}{grey:02x}{grey:02x}")
        }
        vt100::Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
    }
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_answers_the_cursor_position_and_device_attributes() {
        let mut parser = new_parser(20, 5);
        parser.process(b"ab\r\ncd\x1b[6n\x1b[c\x1b[?u\x1b]11;?\x07");
        assert_eq!(parser.callbacks().out, b"\x1b[2;3R\x1b[?62;22c");
        assert_eq!(screen_text(parser.screen()), "ab\ncd\n");
    }

    #[test]
    fn a_screen_becomes_an_svg_with_its_colours_and_weights() {
        let mut parser = new_parser(20, 3);
        parser.process(b"\x1b[32m+new\x1b[0m <b>\r\n\x1b[1;31m-old\x1b[0m");
        let svg = screen_svg(parser.screen());
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("fill=\"#23d18b\" xml:space=\"preserve\">+new</text>"), "{svg}");
        assert!(svg.contains("fill=\"#d4d4d4\" xml:space=\"preserve\"> &lt;b&gt;</text>"), "{svg}");
        assert!(svg.contains("fill=\"#f14c4c\" font-weight=\"bold\" xml:space=\"preserve\">-old</text>"), "{svg}");
        assert_eq!(css_color(vt100::Color::Idx(196)), "#ff0000");
        assert_eq!(css_color(vt100::Color::Rgb(1, 2, 3)), "#010203");
    }
}
