//! The exec policy: the `.rules` files of `CODEX_HOME/rules` (read in name order), whose `prefix_rule()` calls say
//! which commands are `allow`ed, which need a person's approval (`prompt`) and which are `forbidden`, as upstream
//! Codex 0.169.0 reads and enforces them (scenarios `exec-policy-*` and `app-exec-policy`).
//!
//! The files are Starlark; rcodex reads the subset the rules are written in: calls of `prefix_rule(pattern, decision,
//! match, not_match, justification)` and `host_executable(name, paths)` with strings and lists of strings as
//! arguments (positional or by name), names bound to such values (`GIT = "git"`), `None`, comments, trailing commas.
//!
//! A command is judged by its plain commands (`bash -lc 'a && b'` is `a` and `b`; a script that is not plain is one
//! command, its argv): each plain command takes the rules whose pattern starts it (an absolute program path also
//! takes the rules of its file name, unless a `host_executable` of that name lists other paths); the strictest
//! decision wins (`forbidden`, then `prompt`, then `allow`). A plain command no rule matches takes the decision the
//! approval policy gives an unmatched command. Where no rule matches at all, the policy has nothing to say and the
//! command goes the usual way.
//!
//! What the model and the person read comes from upstream's own recorded words (the prompt pack): a forbidden
//! command's rejection names the rule's justification, else the prefix it forbids; a `prompt` rule under a policy
//! that never asks is refused; under one that asks, the request says why.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rcodex_prompt_pack::keys;
use serde_json::Value as Json;

use crate::config::ApprovalPolicy;

/// What a rule decides, from the mildest to the strictest (the order of [`Ord`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    Allow,
    Prompt,
    Forbidden,
}

impl Decision {
    fn parse(word: &str) -> Option<Decision> {
        match word {
            "allow" => Some(Decision::Allow),
            "prompt" => Some(Decision::Prompt),
            "forbidden" => Some(Decision::Forbidden),
            _ => None,
        }
    }
}

/// One token of a pattern: a word, or any of several.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    One(String),
    AnyOf(Vec<String>),
}

impl Token {
    fn matches(&self, word: &str) -> bool {
        match self {
            Token::One(expected) => expected == word,
            Token::AnyOf(alternatives) => alternatives.iter().any(|a| a == word),
        }
    }
}

/// A prefix rule for one program (a pattern whose first token has alternatives is one rule per alternative).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PrefixRule {
    program: String,
    rest: Vec<Token>,
    decision: Decision,
    justification: Option<String>,
}

impl PrefixRule {
    fn matches(&self, command: &[String]) -> Option<RuleMatch> {
        let length = self.rest.len() + 1;
        if command.len() < length || command[0] != self.program {
            return None;
        }
        if !self.rest.iter().zip(&command[1..length]).all(|(token, word)| token.matches(word)) {
            return None;
        }
        Some(RuleMatch {
            prefix: command[..length].to_vec(),
            decision: self.decision,
            justification: self.justification.clone(),
        })
    }
}

/// A rule that matched a command: the words it matched, its decision and its justification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    pub prefix: Vec<String>,
    pub decision: Decision,
    pub justification: Option<String>,
}

/// The rules of every `.rules` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<PrefixRule>,
    /// `host_executable(name, paths)`: the only absolute paths whose file name takes the rules of `name`.
    host_executables: HashMap<String, Vec<PathBuf>>,
}

/// A `.rules` file rcodex could not read or use: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub path: PathBuf,
    /// 1-based; 0 when the fault is the file's as a whole (it could not be read).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display().to_string();
        if self.line == 0 {
            return write!(f, "{path}: {}", self.message);
        }
        let line = self.line.to_string();
        // Upstream's frame for the error, from the prompt pack (`exec_policy/load_error`).
        let pack = rcodex_prompt_pack::embedded();
        let rendered = pack.text(keys::EXEC_POLICY_LOAD_ERROR).and_then(|template| {
            let values = [("path", path.as_str()), ("line", line.as_str()), ("message", self.message.as_str())];
            rcodex_prompt_pack::render(template, &values).ok()
        });
        match rendered {
            Some(text) => f.write_str(text.trim_end()),
            None => write!(f, "{path}:{line}: {}", self.message),
        }
    }
}

impl std::error::Error for RulesError {}

/// The directory of the rules files under CODEX_HOME.
pub fn rules_dir(codex_home: &Path) -> PathBuf {
    codex_home.join("rules")
}

impl Policy {
    /// The rules of `CODEX_HOME/rules/*.rules`, the files read in name order; no directory is no rules.
    pub fn load(codex_home: &Path) -> Result<Policy, RulesError> {
        let dir = rules_dir(codex_home);
        let whole = |path: &Path, message: String| RulesError { path: path.to_path_buf(), line: 0, message };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Policy::default()),
            Err(e) => return Err(whole(&dir, format!("could not read the rules directory: {e}"))),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| whole(&dir, format!("could not read the rules directory: {e}")))?;
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && path.extension().is_some_and(|ext| ext == "rules") {
                files.push(path);
            }
        }
        files.sort();
        let mut policy = Policy::default();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| whole(&path, format!("could not read it: {e}")))?;
            policy.parse(&path, &text)?;
        }
        Ok(policy)
    }

    /// Adds the rules of `text` (the file `path`, for errors).
    pub fn parse(&mut self, path: &Path, text: &str) -> Result<(), RulesError> {
        let error = |line: usize, message: String| RulesError { path: path.to_path_buf(), line, message };
        let tokens = lex(text).map_err(|(line, message)| error(line, message))?;
        let mut parser = Parser { tokens, at: 0, names: HashMap::new() };
        while let Some(statement) = parser.statement().map_err(|(line, message)| error(line, message))? {
            let Statement::Call { name, line, args } = statement else { continue };
            match name.as_str() {
                "prefix_rule" => self.prefix_rule(args).map_err(|message| error(line, message))?,
                "host_executable" => self.host_executable(args).map_err(|message| error(line, message))?,
                other => return Err(error(line, format!("`{other}` is not a function of the rules language"))),
            }
        }
        Ok(())
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The prefixes the `allow` rules approve, as upstream lists them in the permissions under `on-request`: a
    /// token's alternatives as `[a|b]`, the shortest prefixes first (then the fewest letters, then in order), each
    /// once.
    pub fn approved_prefixes(&self) -> Vec<Vec<String>> {
        let mut prefixes: Vec<Vec<String>> = self
            .rules
            .iter()
            .filter(|rule| rule.decision == Decision::Allow)
            .map(|rule| {
                let rest = rule.rest.iter().map(|token| match token {
                    Token::One(word) => word.clone(),
                    Token::AnyOf(words) => format!("[{}]", words.join("|")),
                });
                std::iter::once(rule.program.clone()).chain(rest).collect()
            })
            .collect();
        let letters = |prefix: &Vec<String>| prefix.iter().map(String::len).sum::<usize>();
        prefixes.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| letters(a).cmp(&letters(b))).then_with(|| a.cmp(b)));
        prefixes.dedup();
        prefixes
    }

    fn prefix_rule(&mut self, args: Vec<(Option<String>, Value)>) -> Result<(), String> {
        let mut args = bind(args, &["pattern", "decision", "match", "not_match", "justification"], "prefix_rule")?;
        let pattern = args.remove("pattern").ok_or("prefix_rule() needs a `pattern`")?;
        let decision = match args.remove("decision") {
            None | Some(Value::None) => Decision::Allow,
            Some(Value::Str(word)) => Decision::parse(&word).ok_or_else(|| invalid_decision(&word))?,
            Some(_) => return Err("`decision` must be a string".into()),
        };
        let justification = match args.remove("justification") {
            None | Some(Value::None) => None,
            Some(Value::Str(text)) if text.trim().is_empty() => return Err("`justification` cannot be empty".into()),
            Some(Value::Str(text)) => Some(text),
            Some(_) => return Err("`justification` must be a string".into()),
        };
        let Value::List(items) = pattern else { return Err("`pattern` must be a list".into()) };
        let mut tokens = Vec::new();
        for item in items {
            tokens.push(match item {
                Value::Str(word) => Token::One(word),
                Value::List(words) => {
                    let mut words: Vec<String> = words
                        .into_iter()
                        .map(|w| match w {
                            Value::Str(word) => Ok(word),
                            _ => Err("a pattern's alternatives must be strings".to_string()),
                        })
                        .collect::<Result<_, _>>()?;
                    match words.len() {
                        0 => return Err("a pattern's alternatives cannot be empty".into()),
                        1 => Token::One(words.remove(0)),
                        _ => Token::AnyOf(words),
                    }
                }
                Value::None => return Err("a pattern's element must be a string or a list of strings".into()),
            });
        }
        let Some((first, rest)) = tokens.split_first() else { return Err("`pattern` cannot be empty".into()) };
        let programs = match first {
            Token::One(word) => vec![word.clone()],
            Token::AnyOf(words) => words.clone(),
        };
        let rules: Vec<PrefixRule> = programs
            .into_iter()
            .map(|program| PrefixRule { program, rest: rest.to_vec(), decision, justification: justification.clone() })
            .collect();
        // The examples are checked against this call's rules, as upstream checks them when it loads the file.
        let own = Policy { rules: rules.clone(), host_executables: self.host_executables.clone() };
        for (key, must_match) in [("not_match", false), ("match", true)] {
            let Some(examples) = args.remove(key) else { continue };
            for example in examples_of(examples, key)? {
                let matched = !own.rule_matches(&example).is_empty();
                if matched != must_match {
                    let verb = if must_match { "does not match" } else { "matches" };
                    return Err(format!("the `{key}` example `{}` {verb} the rule", example.join(" ")));
                }
            }
        }
        self.rules.extend(rules);
        Ok(())
    }

    fn host_executable(&mut self, args: Vec<(Option<String>, Value)>) -> Result<(), String> {
        let mut args = bind(args, &["name", "paths"], "host_executable")?;
        let Some(Value::Str(name)) = args.remove("name") else { return Err("host_executable() needs a `name`".into()) };
        if name.is_empty() || name.contains('/') {
            return Err(format!("host_executable's name must be a bare executable name (got `{name}`)"));
        }
        let Some(Value::List(paths)) = args.remove("paths") else {
            return Err("host_executable() needs `paths`, a list".into());
        };
        let mut absolute = Vec::new();
        for path in paths {
            let Value::Str(path) = path else { return Err("host_executable's paths must be strings".into()) };
            if !Path::new(&path).is_absolute() {
                return Err(format!("host_executable's paths must be absolute (got `{path}`)"));
            }
            absolute.push(PathBuf::from(path));
        }
        self.host_executables.insert(name, absolute);
        Ok(())
    }

    /// The rules that match `command`: those of its program, else (an absolute program path) those of its file
    /// name, unless a `host_executable` of that name lists other paths.
    pub fn rule_matches(&self, command: &[String]) -> Vec<RuleMatch> {
        let exact: Vec<RuleMatch> = self.rules.iter().filter_map(|rule| rule.matches(command)).collect();
        if !exact.is_empty() {
            return exact;
        }
        let Some(program) = command.first().filter(|p| p.starts_with('/')) else { return exact };
        let Some(name) = Path::new(program).file_name().and_then(|n| n.to_str()) else { return exact };
        if let Some(paths) = self.host_executables.get(name)
            && !paths.iter().any(|p| p == Path::new(program))
        {
            return exact;
        }
        let renamed: Vec<String> = std::iter::once(name.to_string()).chain(command[1..].iter().cloned()).collect();
        self.rules.iter().filter_map(|rule| rule.matches(&renamed)).collect()
    }

    /// The policy's verdict on a command (`argv`, shown as `display`), run under `approval` in a sandbox that
    /// restricts it or not, asking for escalated permissions or not.
    pub fn judge(&self, argv: &[String], display: &str, situation: Situation) -> Verdict {
        let commands = rcodex_exec::plain_commands(argv).unwrap_or_else(|| vec![argv.to_vec()]);
        let mut matches = Vec::new();
        let mut decision = Decision::Allow;
        let mut every_command_allowed_by_a_rule = true;
        // The first plain command the heuristics send for approval as dangerous (a forced `rm`).
        let mut dangerous: Option<&Vec<String>> = None;
        for command in &commands {
            let found = self.rule_matches(command);
            let command_decision = match found.iter().map(|m| m.decision).max() {
                Some(strictest) => {
                    every_command_allowed_by_a_rule &= found.iter().any(|m| m.decision == Decision::Allow);
                    strictest
                }
                None => {
                    every_command_allowed_by_a_rule = false;
                    if is_forced_rm(command, 0) {
                        dangerous = dangerous.or(Some(command));
                        // Upstream prefers asking to refusing, unless nobody may be asked.
                        if situation.approval == ApprovalPolicy::Never { Decision::Forbidden } else { Decision::Prompt }
                    } else {
                        situation.unmatched_decision()
                    }
                }
            };
            decision = decision.max(command_decision);
            matches.extend(found);
        }
        if matches.is_empty() && dangerous.is_none() {
            return Verdict::Unmatched;
        }
        let most_specific = |wanted: Decision| {
            matches.iter().filter(|m| m.decision == wanted).fold(None::<&RuleMatch>, |best, m| match best {
                Some(b) if b.prefix.len() > m.prefix.len() => Some(b),
                _ => Some(m),
            })
        };
        match decision {
            Decision::Forbidden => match most_specific(Decision::Forbidden) {
                Some(rule) => Verdict::Forbidden(forbidden_text(display, rule)),
                None => Verdict::Forbidden(pack_text(
                    keys::EXEC_POLICY_FORBIDDEN_DANGEROUS,
                    &[("command", &escaped(display))],
                )),
            },
            Decision::Prompt => {
                let Some(rule) = most_specific(Decision::Prompt) else {
                    // Only the heuristics ask: a dangerous command asks, proposing to allow it from then on, unless
                    // an escalation asks anyway (the usual way); an escalation or `untrusted` alone, the usual way.
                    return match dangerous {
                        Some(command) if !situation.escalated && situation.approval == ApprovalPolicy::OnRequest => {
                            Verdict::Ask { proposed: command.clone() }
                        }
                        _ => Verdict::Unmatched,
                    };
                };
                if situation.approval == ApprovalPolicy::Never {
                    Verdict::Forbidden(pack_text(keys::EXEC_POLICY_PROMPT_REJECTED, &[]))
                } else {
                    Verdict::Prompt { reason: prompt_reason(display, rule) }
                }
            }
            Decision::Allow => Verdict::Allowed { outside_sandbox: every_command_allowed_by_a_rule },
        }
    }
}

/// Whether a plain command is an `rm` with its force option (`-f` among its short options, or `--force`, before
/// `--`), also behind `sudo`, `env` (its assignments and `-i` skipped), in a `trap` action and among the literal
/// commands of an `sh -c` script, wherever they stand in it; wrappers nested too deep count as dangerous. As upstream's heuristics judge a command no rule matches.
pub fn is_forced_rm(command: &[String], depth: usize) -> bool {
    if depth > 8 {
        return true;
    }
    let Some(program) = command.first() else { return false };
    let name = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program);
    let args = &command[1..];
    match name {
        "rm" => args.iter().take_while(|a| a.as_str() != "--").any(|arg| {
            arg == "--force"
                || arg.strip_prefix('-').is_some_and(|flags| !flags.starts_with('-') && flags.contains('f'))
        }),
        "sudo" => is_forced_rm(args, depth + 1),
        "env" => {
            let mut at = 0;
            while let Some(arg) = args.get(at) {
                if arg == "--" {
                    at += 1;
                    break;
                }
                let assignment = arg.split_once('=').is_some_and(|(k, _)| !k.is_empty() && !k.starts_with('-'));
                if arg == "-i" || arg == "--ignore-environment" || assignment {
                    at += 1;
                    continue;
                }
                break;
            }
            is_forced_rm(&args[at..], depth + 1)
        }
        "trap" => {
            let rest = if args.first().is_some_and(|a| a == "--") { &args[1..] } else { args };
            let action = rest.first().filter(|a| !a.starts_with('-'));
            action.is_some_and(|action| script_has_forced_rm(action, depth + 1))
        }
        _ => rcodex_exec::literal_commands(command)
            .is_some_and(|commands| commands.iter().any(|command| is_forced_rm(command, depth + 1))),
    }
}

/// Whether a script (a trap's action) has a forced `rm` among its literal commands.
fn script_has_forced_rm(script: &str, depth: usize) -> bool {
    let argv = ["sh".to_string(), "-c".to_string(), script.to_string()];
    is_forced_rm(&argv, depth)
}

/// Where a command is judged.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    /// The policy tools follow (`never` where nobody answers).
    pub approval: ApprovalPolicy,
    /// Whether the sandbox restricts commands (not `danger-full-access`).
    pub restricted: bool,
    /// Whether the call asks to run outside the sandbox.
    pub escalated: bool,
}

impl Situation {
    /// What upstream decides for a plain command no rule matches and that is not dangerous (its heuristics, less
    /// the list of known safe commands): under `never` the sandbox is the protection; under `on-request` a restricted sandbox asks
    /// for an escalation only; `untrusted` asks.
    fn unmatched_decision(&self) -> Decision {
        match self.approval {
            ApprovalPolicy::Never | ApprovalPolicy::OnFailure => Decision::Allow,
            ApprovalPolicy::OnRequest if self.restricted && self.escalated => Decision::Prompt,
            ApprovalPolicy::OnRequest => Decision::Allow,
            ApprovalPolicy::Untrusted => Decision::Prompt,
        }
    }
}

/// The policy's verdict on a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matched: the command goes the usual way.
    Unmatched,
    /// Allowed without asking; outside the sandbox when a rule allows each of its plain commands.
    Allowed { outside_sandbox: bool },
    /// Refused without running: what the model reads.
    Forbidden(String),
    /// A `prompt` rule: a person must approve it, for this reason. Approved, it runs in the sandbox as usual.
    Prompt { reason: String },
    /// A dangerous command no rule matches (a forced `rm`) under a policy that asks: a person must approve it,
    /// without a reason; the request proposes to allow that plain command from then on.
    Ask { proposed: Vec<String> },
}

/// `permissions` (the permissions text under `on-request`) with the section upstream adds for `prefixes` (see
/// [`Policy::approved_prefixes`]): upstream's words from the prompt pack, after the approval policy's text. As it is
/// without prefixes, or with a pack that lacks the section.
pub fn with_approved_prefixes(permissions: String, prefixes: &[Vec<String>]) -> String {
    let pack = rcodex_prompt_pack::embedded();
    let texts = [
        keys::EXEC_POLICY_APPROVED_PREFIXES,
        keys::EXEC_POLICY_APPROVED_PREFIXES_SEPARATOR,
        keys::EXEC_POLICY_APPROVED_PREFIXES_AFTER,
    ]
    .map(|key| pack.text(key));
    let [Some(section), Some(separator), Some(after)] = texts else { return permissions };
    let Some(at) = permissions.find(after).map(|at| at + after.len()).filter(|_| !prefixes.is_empty()) else {
        return permissions;
    };
    let rendered: Vec<String> = prefixes
        .iter()
        .map(|prefix| {
            let words: Vec<String> = prefix.iter().map(|word| Json::String(word.clone()).to_string()).collect();
            format!("[{}]", words.join(", "))
        })
        .collect();
    let joined = rendered.join(separator);
    match rcodex_prompt_pack::render(section, &[("prefixes", joined.as_str())]) {
        Ok(section) => format!("{}{section}{}", &permissions[..at], &permissions[at..]),
        Err(_) => permissions,
    }
}

/// The rejection of a command a rule forbids: its justification, else the prefix it forbids.
fn forbidden_text(display: &str, rule: &RuleMatch) -> String {
    let command = escaped(display);
    match &rule.justification {
        Some(justification) => {
            pack_text(keys::EXEC_POLICY_FORBIDDEN, &[("command", &command), ("justification", &escaped(justification))])
        }
        None => {
            let prefix = escaped(&rcodex_exec::display_command(&rule.prefix));
            pack_text(keys::EXEC_POLICY_FORBIDDEN_PREFIX, &[("command", &command), ("prefix", &prefix)])
        }
    }
}

/// Why a `prompt` rule asks, as the approval request says it.
fn prompt_reason(display: &str, rule: &RuleMatch) -> String {
    match &rule.justification {
        Some(justification) => {
            pack_text(keys::EXEC_POLICY_APPROVAL_REASON, &[("command", display), ("justification", justification)])
        }
        None => pack_text(keys::EXEC_POLICY_APPROVAL_REASON_BARE, &[("command", display)]),
    }
}

/// A text of the prompt pack, filled; the key and the values when the pack lacks it (never with the embedded one).
fn pack_text(key: &str, values: &[(&str, &str)]) -> String {
    let pack = rcodex_prompt_pack::embedded();
    pack.text(key)
        .and_then(|template| rcodex_prompt_pack::render(template, values).ok())
        .unwrap_or_else(|| format!("{key}: {values:?}"))
}

/// A value as it stands in upstream's error text for the model: within the text of a rejection that is itself
/// quoted, so escaped twice as Rust's `Debug` escapes a string.
fn escaped(value: &str) -> String {
    let once = format!("{value:?}");
    let twice = format!("{:?}", &once[1..once.len() - 1]);
    twice[1..twice.len() - 1].to_string()
}

/// The message for an unknown decision: upstream's words from the prompt pack, learned from its recorded error.
fn invalid_decision(word: &str) -> String {
    let pack = rcodex_prompt_pack::embedded();
    pack.text(keys::EXEC_POLICY_INVALID_DECISION)
        .and_then(|template| rcodex_prompt_pack::render(template, &[("decision", word)]).ok())
        .unwrap_or_else(|| format!("`{word}` is not a decision (allow, prompt or forbidden)"))
}

/// Binds a call's arguments (positional in `order`, or by name) to their names.
fn bind(args: Vec<(Option<String>, Value)>, order: &[&str], function: &str) -> Result<HashMap<String, Value>, String> {
    let mut bound = HashMap::new();
    for (index, (name, value)) in args.into_iter().enumerate() {
        let name = match name {
            Some(name) if order.contains(&name.as_str()) => name,
            Some(name) => return Err(format!("{function}() has no parameter `{name}`")),
            None => order
                .get(index)
                .ok_or_else(|| format!("{function}() takes at most {} arguments", order.len()))?
                .to_string(),
        };
        if bound.insert(name.clone(), value).is_some() {
            return Err(format!("{function}() got `{name}` twice"));
        }
    }
    Ok(bound)
}

/// The examples of `match` or `not_match`: each a list of words, or a string split as a shell splits it.
fn examples_of(value: Value, key: &str) -> Result<Vec<Vec<String>>, String> {
    let Value::List(items) = value else { return Err(format!("`{key}` must be a list")) };
    items
        .into_iter()
        .map(|item| {
            let words = match item {
                Value::Str(text) => {
                    shell_words(&text).ok_or_else(|| format!("the `{key}` example `{text}` is not valid shell"))?
                }
                Value::List(words) => words
                    .into_iter()
                    .map(|w| match w {
                        Value::Str(word) => Ok(word),
                        _ => Err(format!("the words of a `{key}` example must be strings")),
                    })
                    .collect::<Result<_, _>>()?,
                Value::None => return Err(format!("a `{key}` example must be a string or a list of strings")),
            };
            if words.is_empty() { Err(format!("a `{key}` example cannot be empty")) } else { Ok(words) }
        })
        .collect()
}

/// Splits a string into words as a POSIX shell does (quotes and backslashes), without expansions.
fn shell_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            '\n' => {}
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => match chars.next()? {
                '\n' => {}
                c => word.get_or_insert_with(String::new).push(c),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// A value of the rules language's subset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    List(Vec<Value>),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    Str(String),
    Punct(char),
    /// The end of a logical line (not inside brackets).
    Newline,
}

/// The file's tokens, each with its line.
fn lex(text: &str) -> Result<Vec<(usize, Tok)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                if depth == 0 {
                    tokens.push((line, Tok::Newline));
                }
                line += 1;
            }
            ' ' | '\t' | '\r' => {}
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
            }
            '(' | '[' => {
                depth += 1;
                tokens.push((line, Tok::Punct(c)));
            }
            ')' | ']' => {
                depth = depth.saturating_sub(1);
                tokens.push((line, Tok::Punct(c)));
            }
            ',' | '=' | ';' => tokens.push((line, Tok::Punct(c))),
            '"' | '\'' => {
                let start = line;
                let triple = chars.peek() == Some(&c) && {
                    let mut ahead = chars.clone();
                    ahead.next();
                    ahead.peek() == Some(&c)
                };
                if triple {
                    chars.next();
                    chars.next();
                }
                let mut value = String::new();
                loop {
                    let Some(next) = chars.next() else {
                        return Err((start, "a string is not closed".into()));
                    };
                    match next {
                        '\n' if !triple => return Err((start, "a string is not closed on its line".into())),
                        '\n' => {
                            line += 1;
                            value.push('\n');
                        }
                        '\\' => {
                            let Some(escaped) = chars.next() else {
                                return Err((start, "a string is not closed".into()));
                            };
                            match escaped {
                                'n' => value.push('\n'),
                                't' => value.push('\t'),
                                'r' => value.push('\r'),
                                '0' => value.push('\0'),
                                '\\' | '"' | '\'' => value.push(escaped),
                                '\n' => line += 1,
                                other => {
                                    value.push('\\');
                                    value.push(other);
                                }
                            }
                        }
                        q if q == c && !triple => break,
                        q if q == c && triple => {
                            let mut ahead = chars.clone();
                            if ahead.next() == Some(c) && ahead.next() == Some(c) {
                                chars.next();
                                chars.next();
                                break;
                            }
                            value.push(q);
                        }
                        other => value.push(other),
                    }
                }
                tokens.push((start, Tok::Str(value)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = c.to_string();
                while let Some(&next) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                    name.push(next);
                    chars.next();
                }
                tokens.push((line, Tok::Name(name)));
            }
            other => return Err((line, format!("unexpected `{other}`"))),
        }
    }
    tokens.push((line, Tok::Newline));
    Ok(tokens)
}

enum Statement {
    Call { name: String, line: usize, args: Vec<(Option<String>, Value)> },
    Other,
}

struct Parser {
    tokens: Vec<(usize, Tok)>,
    at: usize,
    /// Names bound at the top level.
    names: HashMap<String, Value>,
}

type ParseResult<T> = Result<T, (usize, String)>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn line(&self) -> usize {
        self.tokens.get(self.at).or(self.tokens.last()).map_or(1, |(l, _)| *l)
    }

    fn next(&mut self) -> Option<Tok> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn expect(&mut self, punct: char, after: &str) -> ParseResult<()> {
        let line = self.line();
        match self.next() {
            Some(Tok::Punct(p)) if p == punct => Ok(()),
            found => Err((line, format!("expected `{punct}` {after}, found {}", describe(found.as_ref())))),
        }
    }

    /// The next statement; `None` at the end of the file.
    fn statement(&mut self) -> ParseResult<Option<Statement>> {
        while matches!(self.peek(), Some(Tok::Newline | Tok::Punct(';'))) {
            self.next();
        }
        let line = self.line();
        let Some(token) = self.next() else { return Ok(None) };
        let Tok::Name(name) = token else {
            return Err((
                line,
                format!("expected a call such as `prefix_rule(...)`, found {}", describe(Some(&token))),
            ));
        };
        let statement = match self.peek() {
            Some(Tok::Punct('(')) => {
                self.next();
                let args = self.arguments(&name)?;
                Statement::Call { name, line, args }
            }
            Some(Tok::Punct('=')) => {
                self.next();
                let value = self.value()?;
                self.names.insert(name, value);
                Statement::Other
            }
            found => {
                let found = describe(found);
                return Err((line, format!("expected `(` or `=` after `{name}`, found {found}")));
            }
        };
        match self.peek() {
            None | Some(Tok::Newline | Tok::Punct(';')) => Ok(Some(statement)),
            found => Err((self.line(), format!("expected the end of the line, found {}", describe(found)))),
        }
    }

    /// The arguments of a call, after its `(`, through its `)`.
    fn arguments(&mut self, function: &str) -> ParseResult<Vec<(Option<String>, Value)>> {
        let mut args = Vec::new();
        loop {
            if self.peek() == Some(&Tok::Punct(')')) {
                self.next();
                return Ok(args);
            }
            let named = match (self.tokens.get(self.at), self.tokens.get(self.at + 1)) {
                (Some((_, Tok::Name(name))), Some((_, Tok::Punct('=')))) => Some(name.clone()),
                _ => None,
            };
            if named.is_some() {
                self.at += 2;
            } else if args.iter().any(|(name, _)| name.is_some()) {
                return Err((self.line(), format!("a positional argument of {function}() follows a named one")));
            }
            args.push((named, self.value()?));
            if self.peek() == Some(&Tok::Punct(',')) {
                self.next();
            } else {
                self.expect(')', &format!("after the arguments of {function}()"))?;
                return Ok(args);
            }
        }
    }

    fn value(&mut self) -> ParseResult<Value> {
        let line = self.line();
        match self.next() {
            Some(Tok::Str(text)) => Ok(Value::Str(text)),
            Some(Tok::Name(name)) if name == "None" => Ok(Value::None),
            Some(Tok::Name(name)) => {
                self.names.get(&name).cloned().ok_or_else(|| (line, format!("`{name}` is not defined")))
            }
            Some(Tok::Punct('[')) => {
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(&Tok::Punct(']')) {
                        self.next();
                        return Ok(Value::List(items));
                    }
                    items.push(self.value()?);
                    if self.peek() == Some(&Tok::Punct(',')) {
                        self.next();
                    } else {
                        self.expect(']', "to close the list")?;
                        return Ok(Value::List(items));
                    }
                }
            }
            found => Err((line, format!("expected a string or a list, found {}", describe(found.as_ref())))),
        }
    }
}

fn describe(token: Option<&Tok>) -> String {
    match token {
        None => "the end of the file".into(),
        Some(Tok::Newline) => "the end of the line".into(),
        Some(Tok::Name(name)) => format!("`{name}`"),
        Some(Tok::Str(text)) => format!("the string {text:?}"),
        Some(Tok::Punct(p)) => format!("`{p}`"),
    }
}

#[cfg(test)]
mod tests;
