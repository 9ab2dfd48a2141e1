//! The prompt pack: what rcodex says to the model that must be upstream's word for word.
//!
//! Upstream Codex's instructions, context sections and tool definitions enter rcodex only as recorded data: the
//! harness records upstream on the scenario suite, and `parity pack` extracts from those captures (and from the model
//! catalog upstream prints with `codex debug models`) this pack, which rcodex embeds. Regenerating it from a new
//! upstream release is one command; nothing in it is typed by hand.
//!
//! A pack holds:
//! - per recorded model ([`Family`]): the recipe of the context items that precede the user's prompt (which
//!   sections, in which items, with which id scheme), the tool definitions with and without network access, the
//!   deferred tools `tool_search` finds, the order of body keys, headers and metadata keys;
//! - [`Pack::texts`]: the texts of those sections, with `{{placeholders}}` where a run's values go;
//! - [`Pack::models`]: the model catalog.
//!
//! [`render`] fills placeholders; a template that names one the caller does not give is an error, so a pack and an
//! agent that disagree fail loudly instead of sending `{{cwd}}` to a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The versioned format name in every pack.
pub const FORMAT: &str = "rcodex.pack/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    pub format: String,
    /// The upstream release the pack was extracted from, e.g. `0.169.0`.
    pub upstream_version: String,
    /// The `originator` header (and user-agent prefix) upstream sends on the exec path.
    pub originator: String,
    /// The `x-codex-beta-features` header, when upstream sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_features: Option<String>,
    /// By model slug: the models whose requests were recorded.
    pub families: BTreeMap<String, Family>,
    /// Section texts by key (see [`keys`]).
    pub texts: BTreeMap<String, String>,
    /// The model catalog, in upstream's order.
    pub models: Vec<ModelInfo>,
    /// By input item type: the order in which upstream writes the keys of such items (it re-serializes what the
    /// model sent, so the order is its own, not the server's).
    pub item_keys: BTreeMap<String, Vec<String>>,
    /// What upstream assumes of a model its catalog does not know (its fallback metadata), as far as a recorded
    /// request of such a model shows it. Its `slug` is that recorded model's: the family every unknown model uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<ModelInfo>,
    /// What upstream's interactive interface sends differently, learned from the `tui` scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tui: Option<Tui>,
    /// What upstream's review sub-agent sends (`exec review`), learned from the review scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

/// Upstream's code review: a sub-agent session of its own whose requests name their parent thread and turn. By model
/// slug, its recipe: the context of exec's with the review's instructions (under [`keys::REVIEW_INSTRUCTIONS`]) in
/// place of the model's, its own tools, headers and metadata keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub families: BTreeMap<String, Family>,
}

/// Upstream's interactive interface: its name and, by model slug, its own recipe (its context has more texts, and
/// it offers more tools than exec). The texts of its recipes are under `tui/` keys (see [`keys::tui_text`]), or
/// shared with exec's (instructions, permissions, environment context, skills).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tui {
    /// The `originator` header (and user-agent prefix and client) the interface sends.
    pub originator: String,
    pub families: BTreeMap<String, Family>,
    /// By model slug: the recipe of the request that asks for a thread's title, in a session of its own.
    pub title_families: BTreeMap<String, Family>,
    /// By model slug: the recipe of the review sub-agent `/review` runs (the interface's tools, the review's
    /// instructions).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub review_families: BTreeMap<String, Family>,
}

/// How upstream builds requests for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// The scenarios this was learned from.
    pub learned_from: Vec<String>,
    /// The request body's keys, in upstream's order.
    pub body_keys: Vec<String>,
    /// The request headers upstream sets itself, in its order (`host` and `content-length` excluded).
    pub headers: Vec<String>,
    /// The keys of the `x-codex-turn-metadata` JSON, in order (`workspaces` among them when the workspace is a git
    /// repository).
    pub turn_metadata_keys: Vec<String>,
    /// The keys of `client_metadata` (a hash map upstream: their order means nothing).
    pub client_metadata_keys: Vec<String>,
    /// The items before the user's prompt in a new session's first request.
    pub context: Vec<ContextItem>,
    /// The `tools` of the body, by network access (`restricted`, `enabled`); empty for models that send their tools
    /// in an `additional_tools` item instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, Value>,
    /// The deferred tools upstream offers through `tool_search`, as the `tools` of its `tool_search_output` items
    /// carried them: namespaces (`{"type": "namespace", "name", "description", "tools": [...]}`) and tools outside
    /// any namespace, each once, united over every recorded search of this model. Sorted by name, and a namespace's
    /// tools by name too (upstream's own order is its ranking, which depends on the query). Empty when no recorded
    /// search of this model returned anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred_tools: Vec<Value>,
}

/// One item of the context recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextItem {
    /// `message` or `additional_tools`.
    #[serde(rename = "type")]
    pub item_type: String,
    pub role: String,
    /// How the item's id is made.
    pub id: IdScheme,
    /// For messages: the content parts, in order. For `additional_tools`: empty (the tools come by network access
    /// from [`keys::additional_tools`], or [`keys::tui_title_additional_tools`] for a title request).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// An item id: `<prefix>_<UUID of this version>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdScheme {
    pub prefix: String,
    /// 5: name-based, the same for the whole thread (across resumes); 7: time-based, new each time.
    pub version: u8,
}

/// A content part of a context message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// The model's base instructions ([`keys::model_instructions`], else the catalog's template).
    ModelInstructions,
    /// The skills listing ([`keys::skills`]); placeholders `codex_home`, or, once a workspace skill was recorded,
    /// `skill_roots` (the root table's lines), `system_alias` (the system skills' root alias) and `more_skills` (the
    /// other skills' lines, each after a newline).
    Skills,
    /// The sandbox and approval instructions ([`keys::permissions`]); placeholders `writable_roots`.
    Permissions,
    /// The `<environment_context>` block ([`keys::environment_context`]); placeholders `cwd`, `shell`,
    /// `current_date`, `timezone`.
    EnvironmentContext,
    /// AGENTS.md instructions, present only when the workspace has them ([`keys::AGENTS_MD`]); placeholders
    /// `directory`, `contents`.
    AgentsMd,
    /// A fixed text, by key.
    Text(String),
}

/// The catalog entry of a model: what upstream prints with `codex debug models`, the fields rcodex uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub slug: String,
    /// How pickers name it (`GPT-5.6-Sol`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `list` for a model pickers offer, `hide` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Pickers' order, lowest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default)]
    pub default_reasoning_level: Option<String>,
    #[serde(default)]
    pub supported_reasoning_levels: Vec<Value>,
    #[serde(default)]
    pub default_reasoning_summary: Option<String>,
    #[serde(default)]
    pub support_verbosity: bool,
    #[serde(default)]
    pub default_verbosity: Option<String>,
    #[serde(default)]
    pub use_responses_lite: bool,
    #[serde(default)]
    pub apply_patch_tool_type: Option<String>,
    #[serde(default)]
    pub shell_type: Option<String>,
    #[serde(default)]
    pub truncation_policy: Option<Value>,
    #[serde(default)]
    pub context_window: Option<u64>,
    /// Which compaction the model's history is made for: a turn switching to a model of another hash compacts
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comp_hash: Option<String>,
    #[serde(default)]
    pub input_modalities: Vec<String>,
    /// Images go out at their original detail, else at high.
    #[serde(default)]
    pub supports_image_detail_original: bool,
    /// `code_mode_only` for the models whose tools are JavaScript functions run by one `exec` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_mode: Option<String>,
    /// Which multi-agent tools and texts the model is given (`v1`, `v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_agent_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experimental_supported_tools: Vec<String>,
    #[serde(default)]
    pub node_repl_auto_review_required: bool,
    #[serde(default)]
    pub node_repl_disabled: bool,
    /// The instructions template, for models whose requests were not recorded.
    #[serde(default)]
    pub instructions_template: Option<String>,
}

/// The keys of [`Pack::texts`].
pub mod keys {
    pub const AGENTS_MD: &str = "agents_md";
    /// What comes between the global `CODEX_HOME/AGENTS.md` (trimmed) and the project's AGENTS.md files.
    pub const AGENTS_MD_GLOBAL_SEPARATOR: &str = "agents_md/global_separator";
    /// exec's prompt argument with piped stdin: `{{prompt}}` and `{{stdin}}` (ending with a newline).
    pub const STDIN_PROMPT: &str = "exec/stdin_prompt";
    /// The heading of the section of a model's instructions that `personality = "none"` leaves out (up to the next
    /// heading of its level).
    pub const PERSONALITY_HEADING: &str = "personality/heading";
    /// The warning exec gives (as an `error` item, with the startup warnings) for `--dangerously-bypass-hook-trust`.
    pub const BYPASS_HOOK_TRUST_WARNING: &str = "exec/bypass_hook_trust_warning";
    /// What the model reads for a command a `forbidden` rule of the exec policy refuses, with the rule's
    /// justification (`{{command}}`: the command as items show it, `{{justification}}`; both escaped as the text
    /// escapes them: twice as Rust's `Debug` escapes a string).
    pub const EXEC_POLICY_FORBIDDEN: &str = "exec_policy/forbidden";
    /// The same for a rule without a justification (`{{command}}`, `{{prefix}}`: the words the rule matched).
    pub const EXEC_POLICY_FORBIDDEN_PREFIX: &str = "exec_policy/forbidden_prefix";
    /// What the model reads for a dangerous command (a forced `rm`) no rule matches, where nobody may approve it
    /// (`{{command}}`, escaped the same way).
    pub const EXEC_POLICY_FORBIDDEN_DANGEROUS: &str = "exec_policy/forbidden_dangerous";
    /// What the model reads for a command a `prompt` rule sends for approval under a policy that never asks.
    pub const EXEC_POLICY_PROMPT_REJECTED: &str = "exec_policy/prompt_rejected";
    /// The reason of the approval request for a command a `prompt` rule sends for approval (`{{command}}`,
    /// `{{justification}}`).
    pub const EXEC_POLICY_APPROVAL_REASON: &str = "exec_policy/approval_reason";
    /// The same for a rule without a justification (`{{command}}`).
    pub const EXEC_POLICY_APPROVAL_REASON_BARE: &str = "exec_policy/approval_reason_bare";
    /// The error for a rules file that cannot be used (`{{path}}`, `{{line}}`, `{{message}}`).
    pub const EXEC_POLICY_LOAD_ERROR: &str = "exec_policy/load_error";
    /// The message of that error for a decision the language does not know (`{{decision}}`).
    pub const EXEC_POLICY_INVALID_DECISION: &str = "exec_policy/invalid_decision";
    /// The section the permissions under `on-request` add for the prefixes the exec policy's `allow` rules approve
    /// (`{{prefixes}}`: each prefix as a JSON list of its words, joined by the separator below).
    pub const EXEC_POLICY_APPROVED_PREFIXES: &str = "exec_policy/approved_prefixes";
    /// What comes between two approved prefixes in that section.
    pub const EXEC_POLICY_APPROVED_PREFIXES_SEPARATOR: &str = "exec_policy/approved_prefixes/separator";
    /// The text (the end of the approval policy's) that the section follows.
    pub const EXEC_POLICY_APPROVED_PREFIXES_AFTER: &str = "exec_policy/approved_prefixes/after";
    /// The user message recorded after an interrupted turn.
    pub const TURN_ABORTED: &str = "turn_aborted";
    /// The user message that keeps a review run beside a thread's turns in its history: `{{results}}`, the
    /// findings as the review's frontend showed them.
    pub const REVIEW_USER_ACTION: &str = "review/user_action";
    /// The developer message that ends a forked sub-agent's history: `{{namespaces}}`, the deferred namespaces it
    /// no longer has (one `- NAME: DESCRIPTION` line each, as the parent's context lists them).
    pub const FORK_REMOVED_NAMESPACES: &str = "subagent/fork_removed_namespaces";
    /// The warning about enabled features under development (`{{features}}`, `{{config_path}}`).
    pub const UNDER_DEVELOPMENT_FEATURES: &str = "under_development_features";
    /// The app server's `deprecationNotice` after a `thread/resume` or `thread/fork` answer that carries the whole
    /// history, pointing to `excludeTurns` and the paging methods.
    pub const FULL_HISTORY_DEPRECATED: &str = "app_server/full_history_deprecated";
    /// The warning for a model the catalog does not know (`{{model}}`).
    pub const FALLBACK_MODEL_WARNING: &str = "fallback_model/warning";
    /// The description of the `request_user_input` tool when Default mode offers it
    /// (`features.default_mode_request_user_input`).
    pub const REQUEST_USER_INPUT_DEFAULT_MODE: &str = "tools/request_user_input/default_mode";
    /// The user message that asks the model for a summary of the thread, ending a compaction request.
    pub const COMPACT_PROMPT: &str = "compact/prompt";
    /// What precedes the model's summary in the user message that stands for the history after a compaction (the
    /// summary follows it directly).
    pub const COMPACT_SUMMARY_PREFIX: &str = "compact/summary_prefix";
    /// The user message a `skill` input item becomes (`{{name}}`, `{{path}}` of its SKILL.md, `{{contents}}`: the
    /// file whole).
    pub const SKILL_MESSAGE: &str = "skill_message";
    /// A line of the skills listing's root table (`{{alias}}`, `{{root}}`).
    pub const SKILLS_ROOT_LINE: &str = "skills_listing/root_line";
    /// A line of the skills listing for one skill (`{{name}}`, `{{description}}`, `{{path}}`: the root's alias, a
    /// slash and the path of its SKILL.md under the root).
    pub const SKILLS_SKILL_LINE: &str = "skills_listing/skill_line";
    /// What a root's alias is made of before its index (`r` for `r0`, `r1`...).
    pub const SKILLS_ALIAS_PREFIX: &str = "skills_listing/alias_prefix";
    /// The system skills' root as the listing names it (`{{codex_home}}`).
    pub const SKILLS_SYSTEM_ROOT: &str = "skills_listing/system_root";

    /// The description of an MCP server's tool namespace in `tool_search` answers (`{{namespace}}`: `mcp__<server>`).
    pub const MCP_NAMESPACE_DESCRIPTION: &str = "mcp/namespace_description";
    /// The line that names one MCP server's namespace among the deferred namespaces of the context
    /// (`{{namespace}}`).
    pub const MCP_NAMESPACE_LINE: &str = "mcp/namespace_line";
    /// The resource tools offered when MCP servers are configured, as JSON: `{"after": <the tool they follow>,
    /// "tools": [...]}`.
    pub const MCP_RESOURCE_TOOLS: &str = "mcp/resource_tools";
    /// The tools the built-in provider's requests offer besides the recipe's when signed in with ChatGPT (the
    /// `image_gen` namespace), as JSON: `{"after": <the tool they follow>, "tools": [...]}`.
    pub const CHATGPT_TOOLS: &str = "chatgpt/tools";

    /// A fixed text of a recipe (by its key) as it reads when MCP servers are configured: `{{mcp_namespaces}}`
    /// where their lines ([`MCP_NAMESPACE_LINE`]) go.
    pub fn mcp_text(text_key: &str) -> String {
        format!("mcp/{text_key}")
    }

    /// The interface's title request: the user message (`{{prompt}}`: what the user typed).
    pub const TUI_TITLE_PROMPT: &str = "tui/title/prompt";
    /// The title request's `text.format.schema`, as JSON.
    pub const TUI_TITLE_SCHEMA: &str = "tui/title/schema";
    /// The title request's environment context (`{{current_date}}`, `{{timezone}}`).
    pub const TUI_TITLE_ENVIRONMENT: &str = "tui/title/environment_context";

    /// A fixed text of the interface's recipe for a model, by its position.
    pub fn tui_text(model: &str, index: usize) -> String {
        format!("tui/text/{model}/{index}")
    }

    /// The review sub-agent's instructions, in place of the model's.
    pub const REVIEW_INSTRUCTIONS: &str = "review/instructions";
    /// The review's request for `--uncommitted`.
    pub const REVIEW_PROMPT_UNCOMMITTED: &str = "review/prompt/uncommitted";
    /// The review's request for `--base` (`{{branch}}`, `{{merge_base}}`: the merge base's hash).
    pub const REVIEW_PROMPT_BASE: &str = "review/prompt/base";
    /// The review's request for `--commit` (`{{sha}}`).
    pub const REVIEW_PROMPT_COMMIT: &str = "review/prompt/commit";
    /// The review's request for `--commit` with `--title` (`{{sha}}`, `{{title}}`).
    pub const REVIEW_PROMPT_COMMIT_TITLED: &str = "review/prompt/commit_titled";
    /// The line that heads the findings of a review that has one finding.
    pub const REVIEW_FINDINGS_HEADER_ONE: &str = "review/findings_header/one";
    /// The line that heads the findings of a review that has more than one.
    pub const REVIEW_FINDINGS_HEADER_MANY: &str = "review/findings_header/many";

    /// What the app server's `enteredReviewMode` item names a review of `target` by (`uncommitted`: the
    /// uncommitted changes; `commit_titled`: a commit with its title, `{{short_sha}}` and `{{title}}`; `commit`:
    /// without one; `base_branch`: `{{branch}}`; `custom`: `{{instructions}}`), learned from the app-server scenarios
    /// that start one.
    pub fn app_review_hint(target: &str) -> String {
        format!("app_review/hint/{target}")
    }
    /// The `exitedReviewMode` text of a review interrupted before its reviewer answered.
    pub const APP_REVIEW_INTERRUPTED_EXITED: &str = "app_review/interrupted/exited";
    /// The message an interrupted review's turn ends with.
    pub const APP_REVIEW_INTERRUPTED_MESSAGE: &str = "app_review/interrupted/message";

    /// The interface's `/review` picker: its title, as its screen showed it.
    pub const TUI_REVIEW_PICKER_TITLE: &str = "tui/review/picker/title";
    /// The picker's line of keys, under its choices.
    pub const TUI_REVIEW_PICKER_FOOTER: &str = "tui/review/picker/footer";
    /// The kinds of review the picker offers, in upstream 0.169.0's order of its presets.
    pub const TUI_REVIEW_PRESETS: [&str; 4] = ["base_branch", "uncommitted", "commit", "custom"];

    /// A preset's label in the `/review` picker (`preset`: one of [`TUI_REVIEW_PRESETS`]).
    pub fn tui_review_preset(preset: &str) -> String {
        format!("tui/review/preset/{preset}")
    }

    /// The dim words beside a preset's label, when the picker shows some.
    pub fn tui_review_preset_description(preset: &str) -> String {
        format!("tui/review/preset/{preset}/description")
    }

    /// The interface's dialog asking for an MCP tool's approval, learned from tui-mcp-approval's screens: `header`
    /// (the line over the question), `question` (`{{server}}`, `{{tool}}`), `footer` (its line of keys).
    pub fn tui_mcp_approval(part: &str) -> String {
        format!("tui/mcp_approval/{part}")
    }

    /// The dialog's choices, in upstream 0.169.0's order: run once, for the session, always, cancel.
    pub const TUI_MCP_APPROVAL_CHOICES: [&str; 4] = ["allow", "allow_session", "allow_always", "cancel"];

    /// A choice's label in the MCP approval dialog (`choice`: one of [`TUI_MCP_APPROVAL_CHOICES`]).
    pub fn tui_mcp_approval_choice(choice: &str) -> String {
        format!("tui/mcp_approval/choice/{choice}")
    }

    /// The dim words beside a choice's label.
    pub fn tui_mcp_approval_choice_description(choice: &str) -> String {
        format!("tui/mcp_approval/choice/{choice}/description")
    }

    /// The presets that open a second, searchable picker (of the local branches, of the recent commits).
    pub const TUI_REVIEW_LISTS: [&str; 2] = ["base_branch", "commit"];

    /// A text of the second picker of `preset` (one of [`TUI_REVIEW_LISTS`]): `title`, `subtitle` (the branch
    /// picker's line under its title, `{{branch}}`: the current branch), `placeholder` (its search field's, while
    /// nothing is typed), `footer` (its line of keys).
    pub fn tui_review_list(preset: &str, part: &str) -> String {
        format!("tui/review/list/{preset}/{part}")
    }

    /// The line the transcript shows as the review of `preset` starts (`{{instructions}}` for custom ones,
    /// `{{branch}}` for a base branch, `{{short_sha}}` and `{{title}}` for a commit).
    pub fn tui_review_started(preset: &str) -> String {
        format!("tui/review/started/{preset}")
    }

    /// A fixed text of the recipe of `/review`'s reviewer for a model, by its position (the interface's deferred
    /// namespaces, which are not its thread's).
    pub fn tui_review_text(model: &str, index: usize) -> String {
        format!("tui/review/text/{model}/{index}")
    }

    /// The prompt for custom instructions (the "custom" preset): its placeholder, and its line of keys (its title is
    /// the preset's label).
    pub const TUI_REVIEW_CUSTOM_PLACEHOLDER: &str = "tui/review/custom/placeholder";
    pub const TUI_REVIEW_CUSTOM_FOOTER: &str = "tui/review/custom/footer";

    /// The line the transcript shows as a review ends, before its findings.
    pub const TUI_REVIEW_FINISHED: &str = "tui/review/finished";

    /// The `additional_tools` JSON (serialized) of the interface's title request for a model, by network access:
    /// a session of its own, whose tools are not the thread's (see [`additional_tools`]).
    pub fn tui_title_additional_tools(model: &str, network: &str) -> String {
        format!("tui/title/additional_tools/{model}/{network}")
    }

    /// Upstream's message for a turn the model server failed with this `response.failed` error code.
    pub fn failure(code: &str) -> String {
        format!("failure/{code}")
    }

    pub fn model_instructions(model: &str) -> String {
        format!("model_instructions/{model}")
    }

    pub fn skills(model: &str) -> String {
        format!("skills/{model}")
    }

    /// `sandbox_mode` and `approval_policy`, as upstream spells them.
    pub fn permissions(sandbox_mode: &str, approval_policy: &str) -> String {
        format!("permissions/{sandbox_mode}/{approval_policy}")
    }

    /// The permissions of a sandbox whose network access is on though its mode restricts it (workspace-write with
    /// `[sandbox_workspace_write] network_access = true`).
    pub fn permissions_with_network(sandbox_mode: &str, approval_policy: &str) -> String {
        format!("permissions/{sandbox_mode}/{approval_policy}/network")
    }

    pub fn environment_context(sandbox_mode: &str) -> String {
        format!("environment_context/{sandbox_mode}")
    }

    /// A fixed text of a model's recipe, by its position.
    pub fn text(model: &str, index: usize) -> String {
        format!("text/{model}/{index}")
    }

    /// The `additional_tools` JSON (serialized) of a model, by network access (`restricted`, `enabled`).
    pub fn additional_tools(model: &str, network: &str) -> String {
        format!("additional_tools/{model}/{network}")
    }
}

impl Pack {
    /// Parses and checks a pack.
    pub fn from_json(text: &str) -> Result<Pack, String> {
        let pack: Pack = serde_json::from_str(text).map_err(|e| format!("the prompt pack is not valid: {e}"))?;
        if pack.format != FORMAT {
            return Err(format!("the prompt pack's format is {}, not {FORMAT}", pack.format));
        }
        Ok(pack)
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    pub fn model(&self, slug: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.slug == slug)
    }
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the template needs {{{{{0}}}}}, which was not given")]
pub struct MissingValue(pub String);

/// Fills `{{name}}` placeholders from `values`. Every placeholder must be given.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, MissingValue> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else { break };
        let name = &rest[open + 2..close];
        let value = values.iter().find(|(k, _)| *k == name).ok_or_else(|| MissingValue(name.to_string()))?;
        out.push_str(&rest[..open]);
        out.push_str(value.1);
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The placeholders a template names, in order of first appearance.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}").map(|c| open + c) else { break };
        let name = &rest[open + 2..close];
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &rest[close + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_placeholder_or_say_which_is_missing() {
        let t = "<cwd>{{cwd}}</cwd> and {{cwd}} on {{current_date}}";
        assert_eq!(placeholders(t), ["cwd", "current_date"]);
        assert_eq!(render(t, &[("cwd", "/w"), ("current_date", "d")]).unwrap(), "<cwd>/w</cwd> and /w on d");
        assert_eq!(render(t, &[("cwd", "/w")]).unwrap_err(), MissingValue("current_date".into()));
        assert_eq!(render("no placeholders {", &[]).unwrap(), "no placeholders {");
    }

    #[test]
    fn a_pack_of_another_format_is_refused() {
        let text = r#"{"format": "rcodex.pack/v9", "upstream_version": "x", "originator": "o", "families": {}, "texts": {}, "models": [], "item_keys": {}}"#;
        assert!(Pack::from_json(text).unwrap_err().contains("rcodex.pack/v9"));
    }
}

pub use include_dir;

/// The system skills upstream 0.169.0 installs into `CODEX_HOME/skills/.system`, recorded from its home by
/// `parity pack` (scenario config-system-skills), with its marker file.
pub static SYSTEM_SKILLS: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/data/system-skills");

/// The file beside the system skills that names their version: while it holds [`SYSTEM_SKILLS`]'s, they stay as
/// they are; otherwise they are written anew.
pub const SYSTEM_SKILLS_MARKER: &str = ".codex-system-skills.marker";

/// The pack rcodex embeds: `data/pack.json`, as `parity pack` wrote it. Parsed once, on first use; the JSON's
/// pages are then given back ([`release_embedded`]): nothing reads them again.
pub fn embedded() -> &'static Pack {
    static JSON: &str = include_str!("../data/pack.json");
    static PACK: std::sync::OnceLock<Pack> = std::sync::OnceLock::new();
    PACK.get_or_init(|| {
        let pack = Pack::from_json(JSON).expect("the embedded pack was checked when it was built");
        release_embedded(JSON.as_bytes());
        pack
    })
}

/// Drops the whole pages of embedded data (a static byte string of the binary) from the process's resident set,
/// once the data has been read: the pack's JSON once parsed, the system skills once written. Such pages are the
/// binary's own, mapped read-only from its file, so the kernel only forgets them, and a later read would fault them
/// in from the file again. About 1.3 MB of a plain reply's peak resident set, which is mostly the binary's pages.
pub fn release_embedded(data: &'static [u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        let (from, to) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        let (start, end) = (from.div_ceil(page) * page, to / page * page);
        if end > start {
            // SAFETY: [start, end) lies within `data`, a static in the binary's read-only data (no relocation
            // writes into it), so its pages are clean private pages of the file: MADV_DONTNEED only unmaps them,
            // and their contents, read again, are the file's. A failure leaves them resident, which is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
}

/// The keyword lists upstream's `tool_search` indexes some deferred tools by instead of their definitions (the
/// multi-agent tools), by tool name: `data/tool-search-keywords.json`, which `parity pack --upstream-bin` reads out of
/// the pinned release. Parsed once, on first use.
pub fn search_keywords() -> &'static BTreeMap<String, String> {
    static KEYWORDS: std::sync::OnceLock<BTreeMap<String, String>> = std::sync::OnceLock::new();
    KEYWORDS.get_or_init(|| {
        serde_json::from_str(include_str!("../data/tool-search-keywords.json"))
            .expect("data/tool-search-keywords.json maps tool names to texts")
    })
}

#[cfg(test)]
mod embedded_tests {
    #[test]
    fn the_embedded_pack_parses_and_knows_the_default_model() {
        let pack = super::embedded();
        assert!(pack.families.contains_key("gpt-5.5"));
        assert!(pack.model("gpt-5.5").is_some());
        assert!(!pack.item_keys.is_empty());
        assert!(super::search_keywords()["wait_agent"].starts_with("wait_agent wait "));
    }

    #[test]
    fn embedded_data_given_back_reads_the_same_afterwards() {
        static DATA: [u8; 5 * 4096] = {
            let mut data = [0u8; 5 * 4096];
            let mut i = 0;
            while i < data.len() {
                data[i] = (i % 251) as u8 + 1;
                i += 1;
            }
            data
        };
        let sum = |data: &[u8]| data.iter().enumerate().map(|(i, b)| i as u64 * u64::from(*b)).sum::<u64>();
        let before = sum(&DATA);
        super::release_embedded(&DATA);
        assert_eq!(sum(&DATA), before);
        assert!(DATA.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8 + 1));
        // The pack's JSON, given back once parsed, still reads as it was built.
        let json: &str = include_str!("../data/pack.json");
        let before = sum(json.as_bytes());
        super::embedded();
        super::release_embedded(json.as_bytes());
        assert_eq!(sum(json.as_bytes()), before);
    }
}
