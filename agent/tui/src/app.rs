//! The interface's state and its loop: keys from the terminal, events from the thread, a redraw after each.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use rcodex_core::events::{Event, EventSink, ItemDetails, Status, TurnUsage, UserInput};
use rcodex_core::interaction::{Answer, ApprovalDecision, ApprovalKind};
use rcodex_core::request::Surface;
use rcodex_core::review::ReviewTarget;
use rcodex_core::session::{Fork, SessionOptions};
use rcodex_core::thread::{SteerError, ThreadHandle};
use rcodex_prompt_pack::keys;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::Options;
use crate::diff::FilePatch;
use rcodex_core::events::TodoItem;

/// One block of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    User(String),
    /// An agent message, by its item id while it streams.
    Agent {
        id: String,
        text: String,
    },
    Command {
        command: String,
        output: String,
        exit_code: Option<i32>,
        running: bool,
    },
    Info(String),
    Error(String),
    /// A turn's end: how long it worked.
    Worked(String),
    /// The summary of the model's reasoning.
    Reasoning(String),
    /// The files a patch changed.
    Patch(Vec<FilePatch>),
    /// The model's plan, as it last updated it.
    Plan(Vec<TodoItem>),
    /// `/status`: each line's label and value.
    Status(Vec<(String, String)>),
    /// A line that opens or closes a review (`/review`), as upstream's transcript shows them.
    Banner(String),
}

/// What a picker's choice does.
#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    /// Chooses a model, then its effort.
    Model,
    /// Chooses the effort of this model, for the next turns.
    Effort(String),
    /// Resumes the session file chosen.
    Resume,
    /// Starts the review of the preset chosen (one of `keys::TUI_REVIEW_PRESETS`).
    Review,
    /// Reviews the current branch against the branch chosen.
    ReviewBranch,
    /// Reviews the commit chosen (its value is its hash, its label its subject).
    ReviewCommit,
}

/// A full-screen text over the transcript (`/diff`), scrolled with the arrows and pages, closed with q or Esc.
pub struct Pager {
    pub title: String,
    pub lines: Vec<String>,
    /// The first line shown.
    pub scroll: usize,
}

/// A list to choose from (`/model`: the model, then its reasoning effort).
pub struct Picker {
    pub title: String,
    /// A dim line under the title.
    pub subtitle: Option<String>,
    /// Each choice: its label, its description, its value.
    pub items: Vec<(String, String, String)>,
    /// The choice selected, by its place among those shown ([`Picker::shown`]).
    pub selected: usize,
    pub purpose: Purpose,
    pub footer: &'static str,
    /// A list searched by typing; its choices are not numbered (digits are searched for).
    pub search: Option<Search>,
}

/// What a searchable list finds its choices by.
pub struct Search {
    /// What the search field shows while nothing is typed.
    pub placeholder: String,
    pub query: String,
    /// What each choice is found by, in the order of the items: a text that holds the query, whatever its case.
    pub values: Vec<String>,
    /// The first choice shown, when there are more than the list shows at once.
    pub top: usize,
}

/// How many choices a searchable list shows at once (upstream's popups show as many).
pub const LIST_ROWS: usize = 8;

impl Picker {
    /// The items shown, by their index: all of them, or those the search finds.
    pub fn shown(&self) -> Vec<usize> {
        match &self.search {
            Some(search) if !search.query.is_empty() => {
                let query = search.query.to_lowercase();
                (0..self.items.len())
                    .filter(|i| search.values.get(*i).is_some_and(|v| v.to_lowercase().contains(&query)))
                    .collect()
            }
            _ => (0..self.items.len()).collect(),
        }
    }

    /// The index of the item selected, if any is shown.
    pub fn chosen(&self) -> Option<usize> {
        self.shown().get(self.selected).copied()
    }

    /// Types into the search field (or, with `None`, erases its last character): the selection keeps its place
    /// while the list is that long, else follows its item, else goes to the first.
    fn search_for(&mut self, typed: Option<char>) {
        let before = self.chosen();
        let Some(search) = &mut self.search else { return };
        match typed {
            Some(c) => search.query.push(c),
            None => {
                search.query.pop();
            }
        }
        let shown = self.shown();
        if self.selected >= shown.len() {
            self.selected = before.and_then(|item| shown.iter().position(|i| *i == item)).unwrap_or(0);
        }
        self.scroll_to_selected();
    }

    /// Up (`-1`) or Down (`1`): a searchable list wraps around, the others stop at their ends.
    fn step(&mut self, by: isize) {
        let len = self.shown().len();
        if len == 0 {
            return;
        }
        self.selected = match (&self.search, by) {
            (Some(_), -1) if self.selected == 0 => len - 1,
            (Some(_), 1) if self.selected + 1 >= len => 0,
            (_, -1) => self.selected.saturating_sub(1),
            _ => (self.selected + 1).min(len - 1),
        };
        self.scroll_to_selected();
    }

    /// Moves a searchable list's window of rows as little as it takes to show the selection.
    fn scroll_to_selected(&mut self) {
        let len = self.shown().len();
        let selected = self.selected;
        let Some(search) = &mut self.search else { return };
        if selected < search.top {
            search.top = selected;
        } else if selected >= search.top + LIST_ROWS {
            search.top = selected + 1 - LIST_ROWS;
        }
        search.top = search.top.min(len.saturating_sub(LIST_ROWS));
    }
}

/// An approval the running turn waits for.
pub struct Approval {
    pub request_id: String,
    pub title: String,
    pub reason: Option<String>,
    pub command: String,
    /// The choices, each with its label and key.
    pub choices: Vec<(ApprovalDecision, String, char)>,
    pub selected: usize,
    /// What an MCP tool's dialog shows besides (`title` is its question): the line over the question, the call's
    /// arguments, each choice's dim words, its line of keys.
    pub mcp: Option<McpDialog>,
}

/// The parts of upstream's dialog for an MCP tool's approval that a command's prompt does not have.
pub struct McpDialog {
    pub header: String,
    /// `name: value`, one per argument.
    pub arguments: Vec<String>,
    pub descriptions: Vec<String>,
    pub footer: String,
}

pub struct App {
    pub config: rcodex_core::config::Config,
    pub cells: Vec<Cell>,
    pub composer: crate::composer::Composer,
    pub history: Vec<String>,
    history_at: Option<usize>,
    pub queued: VecDeque<String>,
    /// A turn is running (or was asked for and has not ended).
    pub running: bool,
    pub turn_started: Option<Instant>,
    pub approval: Option<Approval>,
    pub picker: Option<Picker>,
    pub pager: Option<Pager>,
    /// The size of the context the last response used, in tokens.
    pub context_tokens: u64,
    /// How many rows above its end the transcript is scrolled back (PgUp, PgDn); 0 follows the end.
    pub scrolled_back: usize,
    /// How far back the transcript can be scrolled, as the last drawing found it.
    pub scroll_limit: std::cell::Cell<usize>,
    /// What the next turn changes of the thread's settings (`/model`).
    overrides: rcodex_core::config::TurnOverrides,
    /// Messages that entered the conversation and wait for their request to go out before their title is asked
    /// for (upstream's title sessions come after the thread's request).
    titles: Vec<String>,
    pub usage: TurnUsage,
    thread: ThreadHandle,
    thread_task: tokio::task::JoinHandle<()>,
    events: mpsc::UnboundedSender<Event>,
    sandbox_launcher: std::path::PathBuf,
    /// A review (`/review`) runs: its turn's events come from the reviewer, told as the thread's.
    reviewing: bool,
    /// The composer takes a review's custom instructions (`/review`'s custom preset).
    pub review_prompt: bool,
    quit: bool,
}

/// How a thread begins: new, or from a session file, continued or forked.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub resume: Option<std::path::PathBuf>,
    /// A new thread whose history is the session's.
    pub fork: Option<Fork>,
}

fn spawn_thread(
    config: &rcodex_core::config::Config,
    origin: &Origin,
    sandbox_launcher: &std::path::Path,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(ThreadHandle, tokio::task::JoinHandle<()>), String> {
    let sender = events.clone();
    let sink = EventSink::new(move |event| {
        let _ = sender.send(event);
    });
    let options = SessionOptions {
        config: config.clone(),
        resume: origin.resume.clone(),
        ephemeral: false,
        output_schema: None,
        sandbox_launcher: sandbox_launcher.to_path_buf(),
        fork: origin.fork,
        client: None,
        surface: Surface::Tui,
        interaction: rcodex_core::interaction::Interaction {
            answered: true,
            mcp_approvals: true,
            ..Default::default()
        },
        spawned: None,
        child_events: None,
    };
    ThreadHandle::spawn(options, sink).map_err(|e| e.to_string())
}

/// Restores the terminal however the loop ends.
struct TerminalGuard {
    alt_screen: bool,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let mut out = std::io::stdout();
        if self.alt_screen {
            let _ = crossterm::execute!(out, crossterm::terminal::LeaveAlternateScreen);
        }
        let _ = crossterm::execute!(out, crossterm::cursor::Show);
        let _ = crossterm::terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

pub async fn run(options: Options) -> Result<String, String> {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let (thread, thread_task) = spawn_thread(&options.config, &options.origin, &options.sandbox_launcher, &events_tx)?;
    let cells = opening_cells(&options.origin);
    let mut app = App {
        config: options.config.clone(),
        cells,
        composer: Default::default(),
        history: Vec::new(),
        history_at: None,
        queued: VecDeque::new(),
        running: false,
        turn_started: None,
        approval: None,
        picker: None,
        pager: None,
        context_tokens: 0,
        scrolled_back: 0,
        scroll_limit: std::cell::Cell::new(0),
        overrides: Default::default(),
        titles: Vec::new(),
        usage: TurnUsage::default(),
        thread,
        thread_task,
        events: events_tx,
        sandbox_launcher: options.sandbox_launcher.clone(),
        reviewing: false,
        review_prompt: false,
        quit: false,
    };

    crossterm::terminal::enable_raw_mode().map_err(|e| format!("the terminal: {e}"))?;
    let _guard = TerminalGuard { alt_screen: options.alt_screen };
    if options.alt_screen {
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)
            .map_err(|e| format!("the terminal: {e}"))?;
    }
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend).map_err(|e| format!("the terminal: {e}"))?;
    terminal.clear().map_err(|e| format!("the terminal: {e}"))?;

    // Keys come from a thread of their own: crossterm's reads block.
    let (keys_tx, mut keys_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if keys_tx.send(event).is_err() {
                break;
            }
        }
    });

    if let Some(prompt) = options.prompt.clone().filter(|p| !p.trim().is_empty()) {
        let mut input: Vec<UserInput> =
            options.images.iter().map(|p| UserInput::LocalImage { path: p.clone() }).collect();
        input.push(UserInput::Text { text: prompt.clone() });
        app.start_turn(prompt, input);
    }

    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        terminal.draw(|frame| crate::view::draw(frame, &app)).map_err(|e| format!("the terminal: {e}"))?;
        if app.quit {
            break;
        }
        tokio::select! {
            Some(event) = events_rx.recv() => {
                app.on_event(event);
                // Take what else is there before drawing again.
                while let Ok(event) = events_rx.try_recv() {
                    app.on_event(event);
                }
            }
            key = keys_rx.recv() => match key {
                Some(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => app.on_key(key).await,
                Some(TermEvent::Paste(text)) => app.composer.insert_str(&text),
                Some(_) => {}
                // The terminal is gone.
                None => app.quit = true,
            },
            _ = tick.tick() => {}
        }
    }
    drop(terminal);
    app.thread.shutdown().await;
    let _ = (&mut app.thread_task).await;
    drop(_guard);
    let usage = app.usage;
    let input = usage.input_tokens.saturating_sub(usage.cached_input_tokens);
    let mut goodbye = format!(
        "Token usage: total={} input={} output={}\r\n",
        thousands(input + usage.output_tokens),
        thousands(input),
        thousands(usage.output_tokens)
    );
    goodbye.push_str(&format!("To continue this session, run:\r\n  rcodex resume {}\r\n", app.thread.thread_id()));
    Ok(goodbye)
}

/// The models pickers offer (the catalog's `list` ones, by priority), the current one marked and selected.
pub fn model_picker(current: &str) -> Picker {
    let pack = rcodex_prompt_pack::embedded();
    let mut models: Vec<_> = pack.models.iter().filter(|m| m.visibility.as_deref() == Some("list")).collect();
    models.sort_by_key(|m| m.priority.unwrap_or(i64::MAX));
    let items: Vec<(String, String, String)> = models
        .iter()
        .map(|m| {
            let name = m.display_name.clone().unwrap_or_else(|| m.slug.clone());
            let name = if m.slug == current { format!("{name} (current)") } else { name };
            (name, m.description.clone().unwrap_or_default(), m.slug.clone())
        })
        .collect();
    let selected = items.iter().position(|i| i.2 == current).unwrap_or(0);
    Picker {
        title: "Select Model and Effort".into(),
        items,
        selected,
        purpose: Purpose::Model,
        footer: "enter select · esc back",
        subtitle: None,
        search: None,
    }
}

/// The reasoning efforts of `slug`, its default marked and selected.
pub fn effort_picker(slug: &str) -> Picker {
    let info = rcodex_prompt_pack::embedded().model(slug);
    let default = info.and_then(|m| m.default_reasoning_level.clone());
    let items: Vec<(String, String, String)> = info
        .map(|m| m.supported_reasoning_levels.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|level| {
            let effort = level.get("effort")?.as_str()?.to_string();
            let description = level.get("description").and_then(|d| d.as_str()).unwrap_or_default().to_string();
            let mut label = effort.clone();
            if default.as_deref() == Some(effort.as_str()) {
                label.push_str(" (default)");
            }
            Some((label, description, effort))
        })
        .collect();
    let selected = items.iter().position(|i| Some(&i.2) == default.as_ref()).unwrap_or(0);
    let name = info.and_then(|m| m.display_name.clone()).unwrap_or_else(|| slug.to_string());
    Picker {
        title: format!("Select Reasoning Level for {name}"),
        items,
        selected,
        purpose: Purpose::Effort(slug.to_string()),
        footer: "enter select · esc back",
        subtitle: None,
        search: None,
    }
}

/// `/review`'s presets, as upstream's picker shows them (its texts from the pack, learned from its screens), or
/// `None` when the pack has none.
pub fn review_picker() -> Option<Picker> {
    let pack = rcodex_prompt_pack::embedded();
    let items = keys::TUI_REVIEW_PRESETS
        .iter()
        .map(|preset| {
            let label = pack.text(&keys::tui_review_preset(preset))?;
            let description = pack.text(&keys::tui_review_preset_description(preset)).unwrap_or_default();
            Some((label.to_string(), description.to_string(), preset.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Picker {
        title: pack.text(keys::TUI_REVIEW_PICKER_TITLE)?.to_string(),
        items,
        selected: 0,
        purpose: Purpose::Review,
        footer: pack.text(keys::TUI_REVIEW_PICKER_FOOTER)?,
        subtitle: None,
        search: None,
    })
}

/// The second picker of the base-branch preset: the local branches to review the current one against, under a line
/// that names the current one; or why there is none to show.
pub fn branch_picker(cwd: &std::path::Path) -> Result<Picker, String> {
    let branches = crate::git::local_branches(cwd);
    if branches.is_empty() {
        return Err(format!("/review: no local branch in {}", cwd.display()));
    }
    let items = branches.iter().map(|b| (b.clone(), String::new(), b.clone())).collect();
    let mut picker = review_list("base_branch", Purpose::ReviewBranch, items, branches)?;
    // A detached HEAD names no branch: upstream's words for it are not recorded, so the line is left out.
    picker.subtitle = crate::git::current_branch(cwd).and_then(|branch| {
        let template = rcodex_prompt_pack::embedded().text(&keys::tui_review_list("base_branch", "subtitle"))?;
        rcodex_prompt_pack::render(template, &[("branch", &branch)]).ok()
    });
    Ok(picker)
}

/// The second picker of the commit preset: the recent commits by their subjects (their hashes as values), found by
/// subject or hash; or why there is none to show.
pub fn commit_picker(cwd: &std::path::Path) -> Result<Picker, String> {
    let commits = crate::git::recent_commits(cwd, crate::git::RECENT_COMMITS);
    if commits.is_empty() {
        return Err(format!("/review: no commit in {}", cwd.display()));
    }
    let values = commits.iter().map(|c| format!("{} {}", c.subject, c.sha)).collect();
    let items = commits.into_iter().map(|c| (c.subject, String::new(), c.sha)).collect();
    review_list("commit", Purpose::ReviewCommit, items, values)
}

/// A searchable picker of `items` found by `values`, with the texts the pack learned for `preset`'s list.
fn review_list(
    preset: &str,
    purpose: Purpose,
    items: Vec<(String, String, String)>,
    values: Vec<String>,
) -> Result<Picker, String> {
    let pack = rcodex_prompt_pack::embedded();
    let text = |part: &str| {
        pack.text(&keys::tui_review_list(preset, part))
            .ok_or_else(|| format!("/review: the prompt pack has no {part} for the {preset} list"))
    };
    Ok(Picker {
        title: text("title")?.to_string(),
        subtitle: None,
        items,
        selected: 0,
        purpose,
        footer: text("footer")?,
        search: Some(Search { placeholder: text("placeholder")?.to_string(), query: String::new(), values, top: 0 }),
    })
}

/// What Esc leaves a picker for: the presets, their choice selected, from a preset's list; nothing from the others.
fn back_from(purpose: &Purpose) -> Option<Picker> {
    let preset = match purpose {
        Purpose::ReviewBranch => "base_branch",
        Purpose::ReviewCommit => "commit",
        _ => return None,
    };
    let mut presets = review_picker()?;
    presets.selected = presets.items.iter().position(|item| item.2 == preset).unwrap_or_default();
    Some(presets)
}

/// The saved sessions of `cwd`, newest first, to resume: each named by its first message, with its thread id.
pub fn resume_picker(codex_home: &std::path::Path, cwd: &std::path::Path) -> Picker {
    let items: Vec<(String, String, String)> = rcodex_core::rollout::session_files(codex_home)
        .into_iter()
        .filter_map(|path| {
            let saved = rcodex_core::rollout::load(&path).ok()?;
            if saved.meta.cwd != cwd {
                return None;
            }
            let first = replay(&path).into_iter().find_map(|cell| match cell {
                Cell::User(text) => Some(text.lines().next().unwrap_or_default().to_string()),
                _ => None,
            })?;
            Some((first, saved.meta.thread_id.clone(), path.display().to_string()))
        })
        .take(20)
        .collect();
    Picker {
        title: if items.is_empty() { "No saved session to resume".into() } else { "Resume a previous session".into() },
        items,
        selected: 0,
        purpose: Purpose::Resume,
        footer: "enter resume · esc back",
        subtitle: None,
        search: None,
    }
}

/// What the transcript shows of a thread as it opens: a continued or forked session's conversation so far.
fn opening_cells(origin: &Origin) -> Vec<Cell> {
    let Some(path) = &origin.resume else { return Vec::new() };
    let mut cells = replay(path);
    if origin.fork.is_some()
        && let Ok(saved) = rcodex_core::rollout::load(path)
    {
        cells.insert(0, Cell::Info(format!("Thread forked from {}", saved.meta.thread_id)));
    }
    cells
}

/// A resumed thread's conversation as the transcript shows it: the user's messages (not the context's), the agent's,
/// and each turn's end, from its session file.
pub fn replay(path: &std::path::Path) -> Vec<Cell> {
    let Ok(records) = rcodex_core::rollout::records(path) else { return Vec::new() };
    let text = |item: &serde_json::Value| -> String {
        item["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut cells = Vec::new();
    for record in records {
        let payload = record.payload();
        match (record.kind(), payload["type"].as_str().unwrap_or_default()) {
            ("response_item", "message") => {
                let body = text(payload);
                match payload["role"].as_str() {
                    // Context (environment, AGENTS.md, markers) is tagged or headed; the user's words are not.
                    Some("user") if !body.starts_with('<') && !body.starts_with("# AGENTS.md") => {
                        cells.push(Cell::User(body))
                    }
                    Some("assistant") => cells.push(Cell::Agent { id: String::new(), text: body }),
                    _ => {}
                }
            }
            // A failed turn ends with its error, as it was shown when it failed.
            ("event_msg", "task_complete") if payload["error"]["message"].is_string() => {
                cells.push(Cell::Error(payload["error"]["message"].as_str().unwrap_or_default().to_string()))
            }
            ("event_msg", "task_complete") => {
                let seconds = payload["duration_ms"].as_u64().unwrap_or_default() / 1000;
                let took = if seconds == 0 { "<1s".to_string() } else { format!("{seconds}s") };
                cells.push(Cell::Worked(format!("Worked for {took}")));
            }
            ("event_msg", "turn_aborted") => cells.push(Cell::Error(INTERRUPTED.into())),
            _ => {}
        }
    }
    cells
}

/// How many rows PgUp and PgDn scroll the transcript.
const PAGE: usize = 10;

/// What the transcript says of an interrupted turn.
const INTERRUPTED: &str = "Conversation interrupted - tell the model what to do differently.";

/// `2460` as `2.46K`, `1230000` as `1.23M`: three significant digits.
pub fn compact(n: u64) -> String {
    let (value, unit) = match n {
        0..1_000 => return n.to_string(),
        1_000..1_000_000 => (n as f64 / 1e3, "K"),
        _ => (n as f64 / 1e6, "M"),
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    // `2.40K` reads `2.4K`.
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    format!("{text}{unit}")
}

/// `2460` as `2,460`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl App {
    fn start_turn(&mut self, text: String, input: Vec<UserInput>) {
        self.cells.push(Cell::User(text));
        self.running = true;
        self.turn_started = Some(Instant::now());
        let thread = self.thread.clone();
        let overrides = std::mem::take(&mut self.overrides);
        tokio::spawn(async move {
            let _ = thread.start_turn_with(input, None, overrides, None).await;
        });
    }

    /// Runs a review as a turn of this thread: the core's reviewer, a sub-agent of the thread, whose events come as
    /// the turn's. The transcript opens it with the preset's line and closes it with the review's.
    fn start_review(&mut self, preset: &str, target: ReviewTarget) {
        let pack = rcodex_prompt_pack::embedded();
        let (instructions, branch, sha, title) = match &target {
            ReviewTarget::Custom { instructions } => (instructions.trim(), "", "", ""),
            ReviewTarget::BaseBranch { branch } => ("", branch.as_str(), "", ""),
            ReviewTarget::Commit { sha, title } => ("", "", sha.as_str(), title.as_deref().unwrap_or_default()),
            ReviewTarget::Uncommitted => ("", "", "", ""),
        };
        // Upstream names a commit by its hash's first 7 characters.
        let short_sha: String = sha.chars().take(7).collect();
        let values =
            [("instructions", instructions), ("branch", branch), ("short_sha", short_sha.as_str()), ("title", title)];
        if let Some(line) = pack.text(&keys::tui_review_started(preset))
            && let Ok(line) = rcodex_prompt_pack::render(line, &values)
        {
            self.cells.push(Cell::Banner(line));
        }
        self.running = true;
        self.reviewing = true;
        self.turn_started = Some(Instant::now());
        let sender = self.events.clone();
        // Whether the review's turn has been told to end: a review that fails after its reviewer started has told
        // its failure already, one that fails before has not.
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let told = ended.clone();
        let sink = EventSink::new(move |event| {
            if matches!(event, Event::TurnCompleted { .. } | Event::TurnFailed { .. } | Event::TurnAborted { .. }) {
                told.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let _ = sender.send(event);
        });
        let options = SessionOptions {
            config: self.config.clone(),
            resume: None,
            ephemeral: false,
            output_schema: None,
            sandbox_launcher: self.sandbox_launcher.clone(),
            fork: None,
            client: None,
            surface: Surface::Tui,
            interaction: Default::default(),
            spawned: None,
            child_events: None,
        };
        let thread = self.thread.clone();
        tokio::spawn(async move {
            let outcome = rcodex_core::review::run_in_thread(options, &thread, &target, sink.clone()).await;
            if let Err(message) = outcome
                && !ended.load(std::sync::atomic::Ordering::SeqCst)
            {
                let error = rcodex_core::events::ErrorMessage { message };
                sink.emit(Event::TurnFailed { error, turn_id: String::new(), error_info: None });
            }
        });
    }

    /// Enter while a turn runs: the message joins it; if it has just ended, it starts the next one.
    fn steer(&mut self, text: String) {
        self.cells.push(Cell::User(text.clone()));
        let thread = self.thread.clone();
        tokio::spawn(async move {
            let input = vec![UserInput::Text { text }];
            if let Err(SteerError::NoActiveTurn) = thread.steer(input.clone(), None).await {
                let _ = thread.start_turn(input, None).await;
            }
        });
    }

    fn submit(&mut self, queue: bool) {
        self.scrolled_back = 0;
        let text = self.composer.take();
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        self.history.push(text.clone());
        self.history_at = None;
        if let Some(command) = trimmed.strip_prefix('/')
            && !command.contains(char::is_whitespace)
        {
            self.slash(command);
            return;
        }
        if self.running {
            if queue {
                self.queued.push_back(text);
            } else {
                self.steer(text);
            }
        } else {
            self.start_turn(text.clone(), vec![UserInput::Text { text }]);
        }
    }

    fn slash(&mut self, command: &str) {
        match command {
            "quit" | "exit" => self.quit = true,
            "new" => self.switch_thread(Origin::default()),
            "fork" => match self.thread.rollout_path().filter(|path| path.exists()) {
                Some(path) => {
                    self.switch_thread(Origin { resume: Some(path.to_path_buf()), fork: Some(Fork::Warm) });
                    self.cells.push(Cell::Info("Fork created. You can continue here.".into()));
                }
                None => self.cells.push(Cell::Info("Nothing to fork yet: send a message first".into())),
            },
            "resume" => self.picker = Some(resume_picker(&self.config.codex_home, &self.config.cwd)),
            "status" => self.cells.push(Cell::Status(self.status())),
            "diff" => match crate::diff::workspace_diff(&self.config.cwd) {
                Ok(diff) if diff.is_empty() => self.cells.push(Cell::Info("No changes".into())),
                Ok(diff) => {
                    self.pager = Some(Pager {
                        title: "DIFF".into(),
                        lines: diff.lines().map(str::to_string).collect(),
                        scroll: 0,
                    })
                }
                Err(why) => self.cells.push(Cell::Info(format!("/diff: {why}"))),
            },
            "compact" => {
                self.running = true;
                self.turn_started = Some(Instant::now());
                if self.thread.compact(None, None).is_err() {
                    self.cells.push(Cell::Error("the thread has stopped".into()));
                }
            }
            "model" => self.picker = Some(model_picker(&self.config.model)),
            "review" if !self.running => match review_picker() {
                Some(picker) => self.picker = Some(picker),
                None => self.cells.push(Cell::Info("/review is not available in rcodex yet".into())),
            },
            "review" => self.cells.push(Cell::Info("/review waits for the running turn to end".into())),
            other => self.cells.push(Cell::Info(format!("/{other} is not available in rcodex yet"))),
        }
    }

    /// Leaves this thread for another (`/new`, `/fork`, `/resume`): the transcript shows the new one's.
    fn switch_thread(&mut self, origin: Origin) {
        let old = self.thread.clone();
        tokio::spawn(async move { old.shutdown().await });
        match spawn_thread(&self.config, &origin, &self.sandbox_launcher, &self.events) {
            Ok((thread, task)) => {
                self.thread = thread;
                self.thread_task = task;
                self.cells = opening_cells(&origin);
                self.usage = TurnUsage::default();
                self.context_tokens = 0;
                self.running = false;
                self.queued.clear();
            }
            Err(e) => self.cells.push(Cell::Error(e)),
        }
    }

    /// What `/status` tells: the settings in force, the thread and its usage.
    fn status(&self) -> Vec<(String, String)> {
        let config = &self.config;
        let info = rcodex_prompt_pack::embedded().model(&config.model);
        let name = info.and_then(|m| m.display_name.clone()).unwrap_or_else(|| config.model.clone());
        let effort = config
            .model_reasoning_effort
            .clone()
            .or_else(|| info.and_then(|m| m.default_reasoning_level.clone()))
            .unwrap_or_else(|| "default".into());
        let summaries = config.model_reasoning_summary.clone().unwrap_or_else(|| "auto".into());
        let sandbox = match config.sandbox_mode {
            rcodex_core::config::SandboxMode::ReadOnly => "Read Only",
            rcodex_core::config::SandboxMode::WorkspaceWrite => "Workspace",
            rcodex_core::config::SandboxMode::DangerFullAccess => "Full Access",
        };
        let agents_md = config.cwd.join("AGENTS.md");
        let usage = &self.usage;
        let input = usage.input_tokens.saturating_sub(usage.cached_input_tokens);
        let mut lines = vec![
            ("Model".into(), format!("{name} (reasoning {effort}, summaries {summaries})")),
            ("Model provider".into(), config.model_provider_id.clone()),
            ("Directory".into(), config.cwd.display().to_string()),
            ("Permissions".into(), format!("{sandbox} ({})", config.approval_policy.as_str())),
            ("Agents.md".into(), if agents_md.is_file() { "AGENTS.md".into() } else { "<none>".into() }),
            ("Session".into(), self.thread.thread_id().to_string()),
            (
                "Token usage".into(),
                format!(
                    "{} total  ({} input + {} output)",
                    compact(input + usage.output_tokens),
                    compact(input),
                    compact(usage.output_tokens)
                ),
            ),
        ];
        // The share of the window the model may fill, as upstream counts it.
        if let Some(window) = info.and_then(|m| m.context_window).map(|w| w * 95 / 100).filter(|w| *w > 0) {
            let left = 100 - (self.context_tokens * 100 / window).min(100);
            lines.push((
                "Context window".into(),
                format!("{left}% left ({} used / {})", compact(self.context_tokens), compact(window)),
            ));
        }
        lines
    }

    /// A key while the pager is open: arrows and pages scroll, q or Esc closes.
    fn on_pager_key(&mut self, key: KeyEvent, height: usize) {
        let Some(pager) = &mut self.pager else { return };
        // Scrolled to the end, the last screen is full.
        let last = pager.lines.len().saturating_sub(height);
        pager.scroll = match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                self.pager = None;
                return;
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.pager = None;
                return;
            }
            KeyCode::Up | KeyCode::Char('k') => pager.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => pager.scroll + 1,
            KeyCode::PageUp => pager.scroll.saturating_sub(height),
            KeyCode::PageDown | KeyCode::Char(' ') => pager.scroll + height,
            KeyCode::Home => 0,
            KeyCode::End => last,
            _ => pager.scroll,
        }
        .min(last);
    }

    /// A key while a picker is open: digits choose, Up and Down move, Enter chooses, Esc closes. In a searchable
    /// list, typing searches (Backspace erases) and Esc goes back to the picker that opened it.
    fn on_picker_key(&mut self, key: KeyEvent) {
        let Some(picker) = &mut self.picker else { return };
        let typing = !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let searchable = picker.search.is_some();
        let chosen = match key.code {
            KeyCode::Esc => {
                self.picker = back_from(&picker.purpose);
                return;
            }
            KeyCode::Up => {
                picker.step(-1);
                None
            }
            KeyCode::Down => {
                picker.step(1);
                None
            }
            KeyCode::Backspace if searchable => {
                picker.search_for(None);
                None
            }
            // A search that finds nothing: Enter leaves the list, as upstream's.
            KeyCode::Enter if picker.chosen().is_none() => {
                self.picker = back_from(&picker.purpose);
                return;
            }
            KeyCode::Enter => picker.chosen(),
            KeyCode::Char(c) if searchable && typing => {
                picker.search_for(Some(c));
                None
            }
            KeyCode::Char(c) if !searchable => {
                c.to_digit(10).map(|d| d as usize).filter(|d| (1..=picker.items.len()).contains(d)).map(|d| d - 1)
            }
            _ => None,
        };
        let Some(index) = chosen else { return };
        let Some((label, value)) = picker.items.get(index).map(|item| (item.0.clone(), item.2.clone())) else {
            return;
        };
        match picker.purpose.clone() {
            Purpose::Model => self.picker = Some(effort_picker(&value)),
            Purpose::Resume => {
                self.picker = None;
                self.switch_thread(Origin { resume: Some(value.into()), fork: None });
            }
            Purpose::Review => {
                self.picker = None;
                let pack = rcodex_prompt_pack::embedded();
                let prompt = pack.text(keys::TUI_REVIEW_CUSTOM_PLACEHOLDER).is_some();
                let cwd = self.config.cwd.clone();
                let list = match value.as_str() {
                    "base_branch" => Some(branch_picker(&cwd)),
                    "commit" => Some(commit_picker(&cwd)),
                    _ => None,
                };
                match (value.as_str(), list) {
                    (_, Some(Ok(list))) => self.picker = Some(list),
                    (_, Some(Err(why))) => self.cells.push(Cell::Info(why)),
                    ("uncommitted", _) => self.start_review(&value, ReviewTarget::Uncommitted),
                    ("custom", _) if prompt => {
                        self.review_prompt = true;
                        self.composer.clear();
                    }
                    _ => {
                        let label = rcodex_prompt_pack::embedded().text(&keys::tui_review_preset(&value));
                        let label = label.unwrap_or(value.as_str());
                        self.cells.push(Cell::Info(format!("/review: \"{label}\" is not available in rcodex yet")))
                    }
                }
            }
            Purpose::ReviewBranch => {
                self.picker = None;
                self.start_review("base_branch", ReviewTarget::BaseBranch { branch: value });
            }
            Purpose::ReviewCommit => {
                self.picker = None;
                self.start_review("commit", ReviewTarget::Commit { sha: value, title: Some(label) });
            }
            Purpose::Effort(model) => {
                self.picker = None;
                self.overrides.model = Some(model.clone());
                self.overrides.effort = Some(value.clone());
                self.config.model = model.clone();
                self.config.model_reasoning_effort = Some(value.clone());
                self.cells.push(Cell::Info(format!("Model changed to {model} {value}")));
            }
        }
    }

    async fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if self.pager.is_some() {
            let height = crossterm::terminal::size().map(|(_, rows)| crate::view::pager_body(rows)).unwrap_or(20);
            return self.on_pager_key(key, height);
        }
        if self.picker.is_some() {
            return self.on_picker_key(key);
        }
        // The review's custom instructions: Enter starts it, Esc leaves; the other keys edit as in the composer.
        if self.review_prompt {
            match key.code {
                KeyCode::Esc => {
                    self.review_prompt = false;
                    self.composer.clear();
                    return;
                }
                KeyCode::Char('c') if ctrl => {
                    self.review_prompt = false;
                    self.composer.clear();
                    return;
                }
                KeyCode::Enter if !key.modifiers.intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) => {
                    let instructions = self.composer.take();
                    if !instructions.trim().is_empty() {
                        self.review_prompt = false;
                        self.start_review("custom", ReviewTarget::Custom { instructions });
                    }
                    return;
                }
                _ => {}
            }
        }
        if let Some(approval) = &mut self.approval {
            let decision = match key.code {
                KeyCode::Esc => Some(ApprovalDecision::Cancel),
                KeyCode::Up => {
                    approval.selected = approval.selected.saturating_sub(1);
                    None
                }
                KeyCode::Down => {
                    approval.selected = (approval.selected + 1).min(approval.choices.len().saturating_sub(1));
                    None
                }
                KeyCode::Enter => approval.choices.get(approval.selected).map(|c| c.0.clone()),
                KeyCode::Char('c') if ctrl => Some(ApprovalDecision::Cancel),
                KeyCode::Char(c) => approval.choices.iter().find(|choice| choice.2 == c).map(|c| c.0.clone()),
                _ => None,
            };
            if let Some(decision) = decision {
                let Some(approval) = self.approval.take() else { return };
                let thread = self.thread.clone();
                tokio::spawn(async move {
                    let _ = thread.resolve(&approval.request_id, Answer::Approval(decision)).await;
                });
            }
            return;
        }
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if !self.composer.is_empty() {
                    self.composer.clear();
                } else if self.running {
                    self.interrupt();
                } else {
                    self.quit = true;
                }
            }
            KeyCode::Char('d') if ctrl && self.composer.is_empty() => self.quit = true,
            KeyCode::Char('j') if ctrl => self.composer.insert('\n'),
            KeyCode::Enter if key.modifiers.intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) => {
                self.composer.insert('\n')
            }
            KeyCode::Enter => self.submit(false),
            KeyCode::Tab => self.submit(true),
            KeyCode::Esc if self.running => self.interrupt(),
            KeyCode::PageUp => self.scrolled_back = (self.scrolled_back + PAGE).min(self.scroll_limit.get()),
            KeyCode::PageDown => self.scrolled_back = self.scrolled_back.saturating_sub(PAGE),
            KeyCode::Backspace if alt || ctrl => self.composer.kill_word_back(),
            KeyCode::Backspace => self.composer.backspace(),
            KeyCode::Delete => self.composer.delete(),
            KeyCode::Left if alt || ctrl => self.composer.word_back(),
            KeyCode::Right if alt || ctrl => self.composer.word_forward(),
            KeyCode::Left => self.composer.left(),
            KeyCode::Right => self.composer.right(),
            KeyCode::Home => self.composer.line_start(),
            KeyCode::End => self.composer.line_end(),
            KeyCode::Char('a') if ctrl => self.composer.line_start(),
            KeyCode::Char('e') if ctrl => self.composer.line_end(),
            KeyCode::Char('b') if alt => self.composer.word_back(),
            KeyCode::Char('f') if alt => self.composer.word_forward(),
            KeyCode::Char('u') if ctrl => self.composer.kill_to_line_start(),
            KeyCode::Char('k') if ctrl => self.composer.kill_to_line_end(),
            KeyCode::Char('w') if ctrl => self.composer.kill_word_back(),
            KeyCode::Up if !self.history.is_empty() && !self.composer.is_multiline() => {
                let at = match self.history_at {
                    None => self.history.len() - 1,
                    Some(at) => at.saturating_sub(1),
                };
                self.history_at = Some(at);
                self.composer.set(self.history[at].clone());
            }
            KeyCode::Down if self.history_at.is_some() => {
                let at = self.history_at.unwrap_or_default() + 1;
                if at < self.history.len() {
                    self.history_at = Some(at);
                    self.composer.set(self.history[at].clone());
                } else {
                    self.history_at = None;
                    self.composer.clear();
                }
            }
            KeyCode::Char(c) if !ctrl && !alt => self.composer.insert(c),
            _ => {}
        }
    }

    fn interrupt(&mut self) {
        let thread = self.thread.clone();
        tokio::spawn(async move {
            thread.interrupt().await;
        });
    }

    fn turn_ended(&mut self) {
        self.running = false;
        self.reviewing = false;
        self.approval = None;
        if let Some(started) = self.turn_started.take() {
            let seconds = started.elapsed().as_secs();
            let took = if seconds == 0 { "<1s".to_string() } else { format!("{seconds}s") };
            self.cells.push(Cell::Worked(format!("Worked for {took}")));
        }
        if let Some(next) = self.queued.pop_front() {
            self.start_turn(next.clone(), vec![UserInput::Text { text: next }]);
        }
    }

    pub fn on_event(&mut self, event: Event) {
        if let Event::UserMessage { input, .. } = &event {
            let texts: Vec<&str> = input
                .iter()
                .filter_map(|i| match i {
                    UserInput::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            if !texts.is_empty() {
                self.titles.push(texts.join("\n"));
            }
            return;
        }
        // The thread's request is out once anything else happens.
        for text in std::mem::take(&mut self.titles) {
            crate::title::request(&self.config, &self.sandbox_launcher, &text);
        }
        let finished = matches!(event, Event::ItemCompleted { .. });
        match event {
            Event::TurnStarted { .. } => {
                self.running = true;
                if self.turn_started.is_none() {
                    self.turn_started = Some(Instant::now());
                }
            }
            Event::AgentMessageStarted { id, .. } => self.cells.push(Cell::Agent { id, text: String::new() }),
            Event::AgentMessageDelta { id, delta, .. } => {
                if let Some(Cell::Agent { text, .. }) =
                    self.cells.iter_mut().rev().find(|c| matches!(c, Cell::Agent { id: i, .. } if *i == id))
                {
                    text.push_str(&delta);
                }
            }
            Event::ItemStarted { item } | Event::ItemUpdated { item } | Event::ItemCompleted { item } => {
                let completed = matches!(item.details, ItemDetails::CommandExecution { .. })
                    && !matches!(&item.details, ItemDetails::CommandExecution { status, .. } if *status == Status::InProgress);
                match item.details {
                    // The review's findings, after the line that closes it.
                    ItemDetails::AgentMessage { text, .. } if self.reviewing && finished => {
                        if let Some(line) = rcodex_prompt_pack::embedded().text(keys::TUI_REVIEW_FINISHED) {
                            self.cells.push(Cell::Banner(line.to_string()));
                        }
                        self.cells.push(Cell::Agent { id: String::new(), text });
                    }
                    ItemDetails::AgentMessage { text: full, .. } => {
                        let id = item.source_id.clone().unwrap_or_default();
                        match self.cells.iter_mut().rev().find(|c| matches!(c, Cell::Agent { id: i, .. } if *i == id)) {
                            Some(Cell::Agent { text, .. }) => *text = full,
                            _ => self.cells.push(Cell::Agent { id, text: full }),
                        }
                    }
                    ItemDetails::CommandExecution { command, aggregated_output, exit_code, .. } => {
                        let command = script_of(&command);
                        let cell = Cell::Command {
                            command: command.clone(),
                            output: aggregated_output,
                            exit_code,
                            running: !completed,
                        };
                        match self
                            .cells
                            .iter_mut()
                            .rev()
                            .find(|c| matches!(c, Cell::Command { command: c, running: true, .. } if *c == command))
                        {
                            Some(existing) => *existing = cell,
                            None => self.cells.push(cell),
                        }
                    }
                    ItemDetails::Error { message } => self.cells.push(Cell::Error(message)),
                    ItemDetails::FileChange { changes, status } => match status {
                        Status::InProgress => {}
                        Status::Completed => {
                            let cwd = &self.config.cwd;
                            let files =
                                changes.iter().map(|c| FilePatch::new(&c.path, &c.kind, &c.diff, cwd)).collect();
                            self.cells.push(Cell::Patch(files));
                        }
                        Status::Failed | Status::Declined => {
                            self.cells.push(Cell::Error("The patch was not applied".into()))
                        }
                    },
                    ItemDetails::Reasoning { text } if finished && !text.trim().is_empty() => {
                        self.cells.push(Cell::Reasoning(text))
                    }
                    ItemDetails::TodoList { items } => show_plan(&mut self.cells, items),
                    _ => {}
                }
            }
            Event::TokenUsage { total, last_tokens, .. } => {
                self.usage = total;
                self.context_tokens = last_tokens;
            }
            // A review's usage is not the thread's: its reviewer's requests do not add to it.
            Event::TurnCompleted { .. } if self.reviewing => self.turn_ended(),
            Event::TurnCompleted { usage, .. } => {
                self.usage = usage;
                self.turn_ended();
            }
            Event::TurnFailed { error, .. } => {
                self.cells.push(Cell::Error(error.message));
                self.turn_ended();
            }
            Event::TurnAborted { .. } => {
                self.cells.push(Cell::Error(INTERRUPTED.into()));
                self.turn_ended();
            }
            // The error that ends the turn is shown with its end.
            Event::Error { ends_turn: true, .. } => {}
            Event::Error { message, .. } => self.cells.push(Cell::Error(message)),
            Event::CompactionCompleted { .. } => self.cells.push(Cell::Info("Context compacted".into())),
            Event::ApprovalRequested { request_id, kind, .. } => self.approval = Some(approval(request_id, kind)),
            _ => {}
        }
    }
}

/// Shows the model's plan: one per turn (since the user's last message), as it was last updated.
fn show_plan(cells: &mut Vec<Cell>, items: Vec<TodoItem>) {
    let since_user = cells.iter().rposition(|c| matches!(c, Cell::User(_))).unwrap_or(0);
    match cells[since_user..].iter_mut().rev().find(|c| matches!(c, Cell::Plan(_))) {
        Some(plan) => *plan = Cell::Plan(items),
        None => cells.push(Cell::Plan(items)),
    }
}

/// The script of a shell's `-lc` (`/bin/bash -lc 'echo hi'` -> `echo hi`), as the model wrote it; any other command
/// as it is.
pub fn script_of(command: &str) -> String {
    let script = ["/bin/bash -lc ", "bash -lc ", "/bin/zsh -lc ", "zsh -lc ", "/bin/sh -c ", "sh -c "]
        .iter()
        .find_map(|shell| command.strip_prefix(shell));
    match script {
        Some(script) => match script.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            Some(quoted) if !quoted.contains('\'') => quoted.to_string(),
            _ => script.to_string(),
        },
        None => command.to_string(),
    }
}

fn approval(request_id: String, kind: ApprovalKind) -> Approval {
    match kind {
        ApprovalKind::Command { command, argv, reason, available_decisions, .. } => {
            // The script a shell runs, as the model wrote it.
            let shown = match argv.as_slice() {
                [_, flag, script] if flag == "-lc" || flag == "-c" => script.clone(),
                _ => command,
            };
            let choices = available_decisions
                .into_iter()
                .filter_map(|decision| {
                    let (label, key) = match &decision {
                        ApprovalDecision::Accept => ("Yes, proceed".to_string(), 'y'),
                        ApprovalDecision::AcceptForSession => {
                            ("Yes, and don't ask again this session".to_string(), 'a')
                        }
                        ApprovalDecision::AcceptWithExecpolicyAmendment { execpolicy_amendment } => (
                            format!(
                                "Yes, and don't ask again for commands that start with `{}`",
                                execpolicy_amendment.join(" ")
                            ),
                            'p',
                        ),
                        ApprovalDecision::Decline => return None,
                        ApprovalDecision::Cancel => ("No, and tell Codex what to do differently".to_string(), '\u{1b}'),
                    };
                    Some((decision, label, key))
                })
                .collect();
            Approval {
                request_id,
                title: "Would you like to run the following command?".into(),
                reason,
                command: shown,
                choices,
                selected: 0,
                mcp: None,
            }
        }
        ApprovalKind::Patch { changes, reason, .. } => Approval {
            request_id,
            title: "Would you like to make the following edits?".into(),
            reason,
            command: changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>().join(", "),
            choices: vec![
                (ApprovalDecision::Accept, "Yes, proceed".into(), 'y'),
                (ApprovalDecision::AcceptForSession, "Yes, and don't ask again for these files".into(), 'a'),
                (ApprovalDecision::Cancel, "No, and tell Codex what to do differently".into(), '\u{1b}'),
            ],
            selected: 0,
            mcp: None,
        },
        ApprovalKind::McpTool { server, tool, arguments, .. } => mcp_approval(request_id, &server, &tool, &arguments),
    }
}

/// Upstream's dialog for an MCP tool's approval, in the texts the pack learned from its screens. The core owns the
/// call: the dialog only answers it. "Always allow" lasts for the session here (upstream also writes it to the
/// config).
fn mcp_approval(request_id: String, server: &str, tool: &str, arguments: &Value) -> Approval {
    let pack = rcodex_prompt_pack::embedded();
    let text = |key: &str| pack.text(key).unwrap_or_default().to_string();
    let question =
        rcodex_prompt_pack::render(&text(&keys::tui_mcp_approval("question")), &[("server", server), ("tool", tool)])
            .unwrap_or_default();
    let decisions = [
        ApprovalDecision::Accept,
        ApprovalDecision::AcceptForSession,
        ApprovalDecision::AcceptForSession,
        ApprovalDecision::Cancel,
    ];
    let choices = keys::TUI_MCP_APPROVAL_CHOICES
        .iter()
        .zip(decisions)
        .zip('1'..)
        .map(|((choice, decision), key)| (decision, text(&keys::tui_mcp_approval_choice(choice)), key))
        .collect();
    let descriptions = keys::TUI_MCP_APPROVAL_CHOICES
        .iter()
        .map(|choice| text(&keys::tui_mcp_approval_choice_description(choice)))
        .collect();
    let arguments = arguments
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| match value {
            Value::String(value) => format!("{name}: {value}"),
            value => format!("{name}: {value}"),
        })
        .collect();
    Approval {
        request_id,
        title: question,
        reason: None,
        command: String::new(),
        choices,
        selected: 0,
        mcp: Some(McpDialog {
            header: text(&keys::tui_mcp_approval("header")),
            arguments,
            descriptions,
            footer: text(&keys::tui_mcp_approval("footer")),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_updated_in_place_within_a_turn_and_shown_anew_in_the_next() {
        let todo = |text: &str, completed| TodoItem { text: text.into(), completed };
        let mut cells = vec![Cell::User("Fix the bug.".into())];
        show_plan(&mut cells, vec![todo("Reproduce", false), todo("Fix", false)]);
        cells.push(Cell::Agent { id: "m".into(), text: "Reproducing.".into() });
        show_plan(&mut cells, vec![todo("Reproduce", true), todo("Fix", false)]);
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[1], Cell::Plan(vec![todo("Reproduce", true), todo("Fix", false)]));
        cells.push(Cell::User("And the docs?".into()));
        show_plan(&mut cells, vec![todo("Docs", false)]);
        assert_eq!(cells.len(), 5);
        assert_eq!(cells[1], Cell::Plan(vec![todo("Reproduce", true), todo("Fix", false)]));
    }

    #[test]
    fn sizes_are_told_in_three_significant_digits() {
        let told: Vec<String> = [60, 2_400, 2_460, 258_400, 1_230_000].into_iter().map(compact).collect();
        assert_eq!(told, ["60", "2.4K", "2.46K", "258K", "1.23M"]);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2460), "2,460");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn the_model_picker_lists_the_catalog_s_listed_models_by_priority_then_their_efforts() {
        let picker = model_picker("gpt-5.5");
        let slugs: Vec<&str> = picker.items.iter().map(|i| i.2.as_str()).collect();
        assert_eq!(slugs[0], "gpt-6.1-sol");
        assert_eq!(slugs[4], "gpt-5.6-sol", "upstream's fifth (tui-model types 5)");
        assert!(!slugs.contains(&"codex-auto-review"), "hidden models are not offered");
        assert_eq!(picker.items[picker.selected].0, "GPT-5.5 (current)");
        let efforts = effort_picker("gpt-5.6-sol");
        assert_eq!(efforts.title, "Select Reasoning Level for GPT-5.6-Sol");
        assert_eq!(efforts.items[efforts.selected].0, "low (default)");
        assert_eq!(efforts.purpose, Purpose::Effort("gpt-5.6-sol".into()));
    }

    fn list_of(labels: &[&str]) -> Picker {
        Picker {
            title: "Pick".into(),
            subtitle: None,
            items: labels.iter().map(|l| (l.to_string(), String::new(), l.to_string())).collect(),
            selected: 0,
            purpose: Purpose::ReviewBranch,
            footer: "keys",
            search: Some(Search {
                placeholder: "Type".into(),
                query: String::new(),
                values: labels.iter().map(|l| l.to_string()).collect(),
                top: 0,
            }),
        }
    }

    #[test]
    fn a_searchable_list_finds_what_holds_the_query_whatever_its_case_and_keeps_its_selection_where_it_can() {
        let mut list = list_of(&["main", "alpha", "feature", "maint"]);
        list.step(1);
        list.step(1);
        assert_eq!(list.chosen(), Some(2), "feature");
        // "a" finds all four: the selection keeps its place.
        list.search_for(Some('A'));
        assert_eq!((list.shown().len(), list.chosen()), (4, Some(2)));
        // "ai" finds main and maint: the third place is gone, and so is feature: the first.
        list.search_for(Some('i'));
        assert_eq!((list.shown(), list.chosen()), (vec![0, 3], Some(0)));
        list.step(1);
        assert_eq!(list.chosen(), Some(3));
        list.search_for(Some('x'));
        assert_eq!((list.shown().len(), list.chosen()), (0, None), "nothing found, nothing to choose");
        list.search_for(None);
        assert_eq!(list.search.as_ref().unwrap().query, "Ai");
        assert_eq!(list.chosen(), Some(0), "the selection, lost with nothing found, is at the first again");
    }

    #[test]
    fn a_searchable_list_wraps_around_and_moves_its_window_to_show_the_selection() {
        let labels: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let mut list = list_of(&labels.iter().map(String::as_str).collect::<Vec<_>>());
        list.step(-1);
        assert_eq!(list.chosen(), Some(11), "Up from the first is the last");
        assert_eq!(list.search.as_ref().unwrap().top, 12 - LIST_ROWS);
        list.step(1);
        assert_eq!((list.chosen(), list.search.as_ref().unwrap().top), (Some(0), 0), "Down from the last");
        for _ in 0..LIST_ROWS {
            list.step(1);
        }
        assert_eq!(list.search.as_ref().unwrap().top, 1, "the window moved a row to show the ninth");
        // The other pickers stop at their ends.
        let mut efforts = effort_picker("gpt-5.5");
        efforts.selected = 0;
        efforts.step(-1);
        assert_eq!(efforts.selected, 0);
    }

    #[test]
    fn esc_from_a_preset_s_list_goes_back_to_the_presets_with_that_preset_selected() {
        let Some(presets) = back_from(&Purpose::ReviewCommit) else { panic!("the pack has the presets") };
        assert_eq!(presets.purpose, Purpose::Review);
        assert_eq!(presets.items[presets.selected].2, "commit");
        assert!(back_from(&Purpose::Review).is_none() && back_from(&Purpose::Model).is_none());
    }

    #[test]
    fn a_shell_s_script_is_shown_as_the_model_wrote_it() {
        assert_eq!(script_of("/bin/bash -lc 'echo hooks configured'"), "echo hooks configured");
        assert_eq!(script_of("bash -lc ls"), "ls");
        assert_eq!(script_of("/bin/bash -lc 'echo '\\''a'\\'''"), "'echo '\\''a'\\'''");
        assert_eq!(script_of("git status"), "git status");
    }

    #[test]
    fn a_resumed_thread_replays_the_user_s_and_the_agent_s_messages_and_each_turn_s_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        let line = |ordinal: u64, kind: &str, payload: serde_json::Value| {
            serde_json::json!({"timestamp": "2026-12-05T00:00:00.000Z", "ordinal": ordinal, "type": kind, "payload": payload})
                .to_string()
        };
        let message = |role: &str, text: &str| {
            let part = if role == "user" { "input_text" } else { "output_text" };
            serde_json::json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
        };
        let lines = [
            line(
                0,
                "session_meta",
                serde_json::json!({"id": "t", "cwd": "/w", "originator": "codex-tui", "cli_version": "0.169.0"}),
            ),
            line(1, "response_item", message("user", "<environment_context>\n</environment_context>")),
            line(2, "response_item", message("user", "Remember 42.")),
            line(3, "response_item", message("assistant", "Noted.")),
            line(4, "event_msg", serde_json::json!({"type": "task_complete", "duration_ms": 2500})),
            line(5, "response_item", message("user", "Again.")),
            line(
                6,
                "event_msg",
                serde_json::json!({"type": "task_complete", "error": {"message": "exceeded retry limit"}}),
            ),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert_eq!(
            replay(&path),
            [
                Cell::User("Remember 42.".into()),
                Cell::Agent { id: String::new(), text: "Noted.".into() },
                Cell::Worked("Worked for 2s".into()),
                Cell::User("Again.".into()),
                Cell::Error("exceeded retry limit".into()),
            ]
        );
    }
}
