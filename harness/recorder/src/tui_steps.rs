//! The tui frontend's part of a scenario: the terminal's size and the steps, keystrokes and waits, that drive the
//! agent's interactive interface.
//!
//! ```toml
//! [agent]
//! frontend = "tui"
//!
//! [tui]
//! size = { cols = 120, rows = 40 }          # the default
//!
//! [[tui.steps]]
//! wait_screen = "Ask Codex to do anything"  # or { text = "...", timeout_ms = 5000, count = 2 }
//!
//! [[tui.steps]]
//! type = "Write a poem."                    # typed, then the keys
//! key = "enter"                             # or a list: ["down", "enter"]
//!
//! [[tui.steps]]
//! at = "answer"                             # when the script's hold is reached: type, press, then release it
//! type = "Make it a haiku."
//! key = "enter"
//!
//! [[tui.steps]]
//! wait_ms = 500
//!
//! [[tui.steps]]
//! wait_exit = true                          # or { timeout_ms = 5000 }
//!
//! [[tui.steps]]
//! start = ["resume", "--last"]              # a new process: AGENT resume --last
//! ```

use std::time::Duration;

use serde::Deserialize;

/// The terminal's size when the scenario gives none.
pub const DEFAULT_COLS: u16 = 120;
pub const DEFAULT_ROWS: u16 = 40;

/// The terminal and what is done in it.
#[derive(Debug, Clone, PartialEq)]
pub struct TuiSpec {
    pub cols: u16,
    pub rows: u16,
    /// In order. A run starts the agent (`AGENT`, no arguments) before the first step unless that step is a
    /// [`TuiAction::Start`].
    pub steps: Vec<TuiStep>,
}

/// One step of a tui scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct TuiStep {
    /// The step's place in the file, from 1: what errors and the recording name it by.
    pub number: usize,
    pub action: TuiAction,
    /// A hold of the model script: the step waits until the server reaches it, does its input, then releases it
    /// (after giving the agent a moment to close the held stream itself). Input steps only.
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TuiAction {
    /// `type` (the text, as typed), then `key` (each key, in order).
    Input { text: Option<String>, keys: Vec<Key> },
    /// Waits until the screen shows the text (anywhere, on one line) `count` times at least (a line of the
    /// transcript each turn writes, such as upstream's "Worked for", tells the second turn's end from the first's),
    /// or fails when the time runs out.
    WaitScreen { text: String, timeout: Option<Duration>, count: usize },
    /// Waits this long, reading the screen meanwhile.
    Wait(Duration),
    /// Waits for the agent's process to exit.
    WaitExit { timeout: Option<Duration> },
    /// Starts the agent with these arguments (after the frontend's own), ending the one that runs, if any.
    Start { args: Vec<String> },
}

impl TuiStep {
    /// `step 3 (type "hello", key enter)`: what the step does, for messages and the transcript.
    pub fn label(&self) -> String {
        let what = match &self.action {
            TuiAction::Input { text, keys } => {
                let mut parts = Vec::new();
                if let Some(text) = text {
                    parts.push(format!("type {text:?}"));
                }
                if !keys.is_empty() {
                    let names: Vec<&str> = keys.iter().map(|k| k.name()).collect();
                    parts.push(format!("key {}", names.join(" ")));
                }
                parts.join(", ")
            }
            TuiAction::WaitScreen { text, .. } => format!("wait_screen {text:?}"),
            TuiAction::Wait(d) => format!("wait_ms {}", d.as_millis()),
            TuiAction::WaitExit { .. } => "wait_exit".to_string(),
            TuiAction::Start { args } => format!("start {args:?}"),
        };
        match &self.at {
            Some(at) => format!("step {} (at \"{at}\": {what})", self.number),
            None => format!("step {} ({what})", self.number),
        }
    }

    /// The step's kind, as the file names it: `input`, `wait_screen`, `wait_ms`, `wait_exit`, `start`.
    pub fn kind(&self) -> &'static str {
        match self.action {
            TuiAction::Input { .. } => "input",
            TuiAction::WaitScreen { .. } => "wait_screen",
            TuiAction::Wait(_) => "wait_ms",
            TuiAction::WaitExit { .. } => "wait_exit",
            TuiAction::Start { .. } => "start",
        }
    }
}

/// A key the recorder can press, encoded as an xterm sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Enter,
    Tab,
    BackTab,
    Esc,
    Backspace,
    Delete,
    Space,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    /// Ctrl and a letter: `ctrl-c`.
    Ctrl(u8),
}

/// The names `key` takes, besides `ctrl-a` to `ctrl-z`.
pub const KEY_NAMES: &[(&str, Key)] = &[
    ("enter", Key::Enter),
    ("tab", Key::Tab),
    ("shift-tab", Key::BackTab),
    ("esc", Key::Esc),
    ("backspace", Key::Backspace),
    ("delete", Key::Delete),
    ("space", Key::Space),
    ("up", Key::Up),
    ("down", Key::Down),
    ("left", Key::Left),
    ("right", Key::Right),
    ("home", Key::Home),
    ("end", Key::End),
    ("pageup", Key::PageUp),
    ("pagedown", Key::PageDown),
];

impl Key {
    pub fn parse(name: &str) -> Option<Key> {
        let lower = name.to_ascii_lowercase();
        if let Some(letter) = lower.strip_prefix("ctrl-")
            && let [c @ b'a'..=b'z'] = letter.as_bytes()
        {
            return Some(Key::Ctrl(*c));
        }
        KEY_NAMES.iter().find(|(n, _)| *n == lower).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        const CTRL: [&str; 26] = [
            "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h", "ctrl-i", "ctrl-j",
            "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q", "ctrl-r", "ctrl-s", "ctrl-t",
            "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
        ];
        match self {
            Key::Ctrl(c) => CTRL[(c - b'a') as usize],
            key => KEY_NAMES.iter().find(|(_, k)| *k == key).map(|(n, _)| *n).expect("every key is named"),
        }
    }

    /// The bytes an xterm sends for the key; arrows, Home and End depend on whether the application asked for
    /// application cursor keys (DECCKM).
    pub fn bytes(self, application_cursor: bool) -> Vec<u8> {
        let cursor = |c: u8| if application_cursor { vec![0x1b, b'O', c] } else { vec![0x1b, b'[', c] };
        match self {
            Key::Enter => b"\r".to_vec(),
            Key::Tab => b"\t".to_vec(),
            Key::BackTab => b"\x1b[Z".to_vec(),
            Key::Esc => b"\x1b".to_vec(),
            Key::Backspace => b"\x7f".to_vec(),
            Key::Delete => b"\x1b[3~".to_vec(),
            Key::Space => b" ".to_vec(),
            Key::Up => cursor(b'A'),
            Key::Down => cursor(b'B'),
            Key::Right => cursor(b'C'),
            Key::Left => cursor(b'D'),
            Key::Home => cursor(b'H'),
            Key::End => cursor(b'F'),
            Key::PageUp => b"\x1b[5~".to_vec(),
            Key::PageDown => b"\x1b[6~".to_vec(),
            Key::Ctrl(c) => vec![c & 0x1f],
        }
    }
}

/// `[tui]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TuiFile {
    size: Option<SizeFile>,
    #[serde(default)]
    steps: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeFile {
    cols: u16,
    rows: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    #[serde(rename = "type")]
    text: Option<String>,
    key: Option<OneOrMany>,
    wait_screen: Option<WaitScreenFile>,
    wait_ms: Option<u64>,
    wait_exit: Option<WaitExitFile>,
    start: Option<Vec<String>>,
    at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WaitScreenFile {
    Text(String),
    Full(WaitScreenTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitScreenTable {
    text: String,
    timeout_ms: Option<u64>,
    count: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WaitExitFile {
    Flag(bool),
    Full(WaitExitTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitExitTable {
    timeout_ms: Option<u64>,
}

impl TuiFile {
    /// Checks every step; errors name the step (`tui.steps[2]`, 0-based as the other lists' errors are). `holds`
    /// are the script's named holds.
    pub(crate) fn resolve(self, holds: &[String]) -> Result<TuiSpec, String> {
        let (cols, rows) = match self.size {
            None => (DEFAULT_COLS, DEFAULT_ROWS),
            Some(SizeFile { cols, rows }) => {
                if !(20..=500).contains(&cols) || !(5..=200).contains(&rows) {
                    return Err(format!("tui.size: {cols}x{rows} is out of range (cols 20 to 500, rows 5 to 200)"));
                }
                (cols, rows)
            }
        };
        if self.steps.is_empty() {
            return Err("tui.steps: no steps: give at least one ([[tui.steps]])".into());
        }
        let mut steps = Vec::new();
        for (i, step) in self.steps.into_iter().enumerate() {
            let here = format!("tui.steps[{i}]");
            let input = step.text.is_some() || step.key.is_some();
            let kinds = [
                (input, "type/key"),
                (step.wait_screen.is_some(), "wait_screen"),
                (step.wait_ms.is_some(), "wait_ms"),
                (step.wait_exit.is_some(), "wait_exit"),
                (step.start.is_some(), "start"),
            ];
            let given: Vec<&str> = kinds.iter().filter(|(has, _)| *has).map(|(_, name)| *name).collect();
            match given.len() {
                0 => {
                    return Err(format!("{here}: needs one of type/key, wait_screen, wait_ms, wait_exit or start"));
                }
                1 => {}
                _ => return Err(format!("{here}: one thing per step, not {}", given.join(" and "))),
            }
            let action = if input {
                let names = match step.key {
                    None => Vec::new(),
                    Some(OneOrMany::One(name)) => vec![name],
                    Some(OneOrMany::Many(names)) => names,
                };
                let mut keys = Vec::new();
                for name in names {
                    let key = Key::parse(&name).ok_or_else(|| {
                        let known: Vec<&str> = KEY_NAMES.iter().map(|(n, _)| *n).collect();
                        format!("{here}.key: \"{name}\" is not a key ({}, ctrl-a to ctrl-z)", known.join(", "))
                    })?;
                    keys.push(key);
                }
                if step.text.as_deref() == Some("") && keys.is_empty() {
                    return Err(format!("{here}.type: empty, and no key: the step would do nothing"));
                }
                TuiAction::Input { text: step.text, keys }
            } else if let Some(wait) = step.wait_screen {
                let (text, timeout_ms, count) = match wait {
                    WaitScreenFile::Text(text) => (text, None, None),
                    WaitScreenFile::Full(WaitScreenTable { text, timeout_ms, count }) => (text, timeout_ms, count),
                };
                if count == Some(0) {
                    return Err(format!("{here}.wait_screen.count: 0 would not wait; give 1 or more"));
                }
                if text.trim().is_empty() {
                    return Err(format!("{here}.wait_screen: the text to wait for is empty"));
                }
                if text.contains('\n') {
                    return Err(format!("{here}.wait_screen: the text is found on one line: no newline"));
                }
                TuiAction::WaitScreen {
                    text,
                    timeout: timeout_ms.map(Duration::from_millis),
                    count: count.unwrap_or(1),
                }
            } else if let Some(ms) = step.wait_ms {
                TuiAction::Wait(Duration::from_millis(ms))
            } else if let Some(wait) = step.wait_exit {
                match wait {
                    WaitExitFile::Flag(false) => {
                        return Err(format!("{here}.wait_exit: false does nothing; leave the step out"));
                    }
                    WaitExitFile::Flag(true) => TuiAction::WaitExit { timeout: None },
                    WaitExitFile::Full(WaitExitTable { timeout_ms }) => {
                        TuiAction::WaitExit { timeout: timeout_ms.map(Duration::from_millis) }
                    }
                }
            } else {
                TuiAction::Start { args: step.start.unwrap_or_default() }
            };
            if let Some(at) = &step.at {
                if !matches!(action, TuiAction::Input { .. }) {
                    return Err(format!("{here}.at: only a step that types or presses keys waits for a hold"));
                }
                if !crate::scenario::is_script_hold(holds, at) {
                    let list = if holds.is_empty() { "it has none".to_string() } else { holds.join(", ") };
                    return Err(format!("{here}.at: \"{at}\" is no hold of the script ({list})"));
                }
            }
            steps.push(TuiStep { number: i + 1, action, at: step.at });
        }
        Ok(TuiSpec { cols, rows, steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_as_an_xterm_sends_them() {
        assert_eq!(Key::parse("enter").unwrap().bytes(false), b"\r");
        assert_eq!(Key::parse("Tab").unwrap().bytes(false), b"\t");
        assert_eq!(Key::parse("esc").unwrap().bytes(false), b"\x1b");
        assert_eq!(Key::parse("ctrl-c").unwrap().bytes(false), [3]);
        assert_eq!(Key::parse("ctrl-d").unwrap().bytes(false), [4]);
        assert_eq!(Key::parse("up").unwrap().bytes(false), b"\x1b[A");
        assert_eq!(Key::parse("up").unwrap().bytes(true), b"\x1bOA");
        assert_eq!(Key::parse("shift-tab").unwrap().bytes(true), b"\x1b[Z");
        assert_eq!(Key::parse("backspace").unwrap().bytes(false), [0x7f]);
        assert_eq!(Key::parse("pagedown").unwrap().bytes(false), b"\x1b[6~");
        for bad in ["ctrl-", "ctrl-1", "ctrl-ab", "f13", "return"] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
        for (name, key) in KEY_NAMES {
            assert_eq!(Key::parse(name), Some(*key));
            assert_eq!(key.name(), *name);
        }
        assert_eq!(Key::Ctrl(b'z').name(), "ctrl-z");
    }
}
