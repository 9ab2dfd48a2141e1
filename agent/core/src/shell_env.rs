//! The environment of the commands the model runs, from `[shell_environment_policy]`, in upstream's order of steps:
//! inherit (all, core or none), drop the default excludes (unless ignored), drop `exclude`, apply `set`, keep only
//! `include_only`; then the thread id, and never the variables no child may inherit. The exec engine's fixed overrides
//! (`NO_COLOR`, `TERM`, pagers...) and the session's own `CODEX_*` variables go on top, last.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobMatcher};

use crate::config::{Inherit, ShellEnvironmentPolicy};

/// What `inherit = "core"` keeps.
const CORE_VARIABLES: [&str; 11] =
    ["PATH", "SHELL", "TMPDIR", "TEMP", "TMP", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "LOGNAME", "USER"];

/// Names dropped unless `ignore_default_excludes` (which is the default).
const DEFAULT_EXCLUDES: [&str; 3] = ["*KEY*", "*SECRET*", "*TOKEN*"];

/// Credentials of the agent's own services, never passed on to commands.
const NEVER_INHERITED: [&str; 5] = [
    "CODEX_EXEC_SERVER_NOISE_AUTH_TOKEN",
    "NODE_REPL_AUTH_TOKEN",
    "OPENAI_FEDERATION_RULE_ID",
    "OPENAI_IDENTITY_TOKEN_FILE",
    "OPENAI_WORKLOAD_IDENTITY_CONTEXT",
];

/// A case-insensitive glob over variable names (`*` and `?`, `[...]` classes), checked when the configuration is read.
#[derive(Clone)]
pub struct EnvPattern {
    text: String,
    glob: GlobMatcher,
}

impl EnvPattern {
    pub fn new(text: &str) -> Result<EnvPattern, globset::Error> {
        let glob = GlobBuilder::new(text).case_insensitive(true).build()?.compile_matcher();
        Ok(EnvPattern { text: text.to_string(), glob })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.glob.is_match(name)
    }
}

impl std::fmt::Debug for EnvPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for EnvPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for EnvPattern {}

impl PartialEq<&str> for EnvPattern {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl<'de> serde::Deserialize<'de> for EnvPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        EnvPattern::new(&text).map_err(|e| serde::de::Error::custom(format!("invalid pattern `{text}`: {}", e.kind())))
    }
}

fn matches_any(patterns: &[EnvPattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

/// The environment for commands of thread `thread_id`, from the agent's own variables `vars`.
pub fn command_env(
    vars: impl IntoIterator<Item = (String, String)>,
    policy: &ShellEnvironmentPolicy,
    thread_id: &str,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = match policy.inherit {
        Inherit::All => vars.into_iter().collect(),
        Inherit::None => HashMap::new(),
        Inherit::Core => {
            vars.into_iter().filter(|(name, _)| CORE_VARIABLES.iter().any(|c| c.eq_ignore_ascii_case(name))).collect()
        }
    };
    if !policy.ignore_default_excludes {
        let defaults: Vec<EnvPattern> =
            DEFAULT_EXCLUDES.iter().map(|p| EnvPattern::new(p).expect("a valid pattern")).collect();
        env.retain(|name, _| !matches_any(&defaults, name));
    }
    env.retain(|name, _| !matches_any(&policy.exclude, name));
    env.extend(policy.set.iter().map(|(name, value)| (name.clone(), value.clone())));
    if !policy.include_only.is_empty() {
        env.retain(|name, _| matches_any(&policy.include_only, name));
    }
    env.insert("CODEX_THREAD_ID".to_string(), thread_id.to_string());
    env.retain(|name, _| !NEVER_INHERITED.iter().any(|n| n.eq_ignore_ascii_case(name)));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        [("PATH", "/bin"), ("HOME", "/h"), ("OPENAI_API_KEY", "k"), ("MY_TOKEN", "t"), ("EDITOR", "vi")]
            .into_iter()
            .chain([("NODE_REPL_AUTH_TOKEN", "x")])
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(env: &HashMap<String, String>) -> Vec<&str> {
        let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
        names.sort();
        names
    }

    #[test]
    fn by_default_everything_is_inherited_but_the_agents_own_credentials() {
        let env = command_env(vars(), &ShellEnvironmentPolicy::default(), "t-1");
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "EDITOR", "HOME", "MY_TOKEN", "OPENAI_API_KEY", "PATH"]);
        assert_eq!(env["CODEX_THREAD_ID"], "t-1");
    }

    #[test]
    fn core_inheritance_default_excludes_exclude_set_and_include_only_apply_in_order() {
        let policy = ShellEnvironmentPolicy { inherit: Inherit::Core, ..ShellEnvironmentPolicy::default() };
        assert_eq!(names(&command_env(vars(), &policy, "t")), ["CODEX_THREAD_ID", "HOME", "PATH"]);

        let policy = ShellEnvironmentPolicy {
            ignore_default_excludes: false,
            exclude: vec![EnvPattern::new("ed*").unwrap()],
            set: [("SECRET_SAUCE".to_string(), "set wins over excludes".to_string())].into(),
            ..ShellEnvironmentPolicy::default()
        };
        let env = command_env(vars(), &policy, "t");
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "HOME", "PATH", "SECRET_SAUCE"]);

        let policy = ShellEnvironmentPolicy {
            include_only: vec![EnvPattern::new("p?th").unwrap()],
            ..ShellEnvironmentPolicy::default()
        };
        let env = command_env(vars(), &policy, "t");
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "PATH"], "the thread id is set even with include_only");
    }
}
