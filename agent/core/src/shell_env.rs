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

/// An invalid pattern in the policy.
#[derive(Debug, thiserror::Error)]
#[error("shell_environment_policy: invalid pattern `{pattern}`: {source}")]
pub struct PatternError {
    pattern: String,
    source: globset::Error,
}

/// Case-insensitive glob patterns over variable names.
struct Patterns(Vec<GlobMatcher>);

impl Patterns {
    fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Patterns, PatternError> {
        patterns
            .iter()
            .map(|pattern| {
                let pattern = pattern.as_ref();
                GlobBuilder::new(pattern)
                    .case_insensitive(true)
                    .build()
                    .map(|glob| glob.compile_matcher())
                    .map_err(|source| PatternError { pattern: pattern.to_string(), source })
            })
            .collect::<Result<_, _>>()
            .map(Patterns)
    }

    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|glob| glob.is_match(name))
    }
}

/// The environment for commands of thread `thread_id`, from the agent's own variables `vars`.
pub fn command_env(
    vars: impl IntoIterator<Item = (String, String)>,
    policy: &ShellEnvironmentPolicy,
    thread_id: &str,
) -> Result<HashMap<String, String>, PatternError> {
    let mut env: HashMap<String, String> = match policy.inherit {
        Inherit::All => vars.into_iter().collect(),
        Inherit::None => HashMap::new(),
        Inherit::Core => {
            vars.into_iter().filter(|(name, _)| CORE_VARIABLES.iter().any(|c| c.eq_ignore_ascii_case(name))).collect()
        }
    };
    if !policy.ignore_default_excludes {
        let defaults = Patterns::new(&DEFAULT_EXCLUDES)?;
        env.retain(|name, _| !defaults.matches(name));
    }
    let exclude = Patterns::new(&policy.exclude)?;
    env.retain(|name, _| !exclude.matches(name));
    env.extend(policy.set.iter().map(|(name, value)| (name.clone(), value.clone())));
    if !policy.include_only.is_empty() {
        let include = Patterns::new(&policy.include_only)?;
        env.retain(|name, _| include.matches(name));
    }
    env.insert("CODEX_THREAD_ID".to_string(), thread_id.to_string());
    env.retain(|name, _| !NEVER_INHERITED.iter().any(|n| n.eq_ignore_ascii_case(name)));
    Ok(env)
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
        let env = command_env(vars(), &ShellEnvironmentPolicy::default(), "t-1").unwrap();
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "EDITOR", "HOME", "MY_TOKEN", "OPENAI_API_KEY", "PATH"]);
        assert_eq!(env["CODEX_THREAD_ID"], "t-1");
    }

    #[test]
    fn core_inheritance_default_excludes_exclude_set_and_include_only_apply_in_order() {
        let policy = ShellEnvironmentPolicy { inherit: Inherit::Core, ..ShellEnvironmentPolicy::default() };
        assert_eq!(names(&command_env(vars(), &policy, "t").unwrap()), ["CODEX_THREAD_ID", "HOME", "PATH"]);

        let policy = ShellEnvironmentPolicy {
            ignore_default_excludes: false,
            exclude: vec!["ed*".into()],
            set: [("SECRET_SAUCE".to_string(), "set wins over excludes".to_string())].into(),
            ..ShellEnvironmentPolicy::default()
        };
        let env = command_env(vars(), &policy, "t").unwrap();
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "HOME", "PATH", "SECRET_SAUCE"]);

        let policy = ShellEnvironmentPolicy { include_only: vec!["p?th".into()], ..ShellEnvironmentPolicy::default() };
        let env = command_env(vars(), &policy, "t").unwrap();
        assert_eq!(names(&env), ["CODEX_THREAD_ID", "PATH"], "the thread id is set even with include_only");
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let policy = ShellEnvironmentPolicy { exclude: vec!["[".into()], ..ShellEnvironmentPolicy::default() };
        let error = command_env(vars(), &policy, "t").unwrap_err().to_string();
        assert!(error.starts_with("shell_environment_policy: invalid pattern `[`"), "{error}");
    }
}
