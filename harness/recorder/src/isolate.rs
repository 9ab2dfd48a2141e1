//! Isolation: every run gets a fresh HOME, CODEX_HOME and workspace, and a cleared environment, so that nothing of
//! the host leaks into what the agent sends.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::agent::TurnSpec;
use crate::scenario::Scenario;

/// The only PATH an agent sees.
pub const AGENT_PATH: &str = "/usr/bin:/bin";
/// The environment variable holding the dummy key; the config's provider names it as its `env_key`.
pub const API_KEY_VAR: &str = "PARITY_API_KEY";
pub const DUMMY_KEY: &str = "parity-dummy-key";
/// Git dates and identity are fixed, so a scenario's commit hash is the same on every run.
const GIT_DATE: &str = "2026-01-01T00:00:00Z";

/// The directories of one run. Removed on drop unless kept.
#[derive(Debug)]
pub struct RunDirs {
    root: Option<tempfile::TempDir>,
    kept: Option<PathBuf>,
    pub home: PathBuf,
    pub codex_home: PathBuf,
    pub workspace: PathBuf,
}

impl RunDirs {
    /// The turns of `scenario` run in these directories against `base_url`: one per prompt, numbered from 1.
    pub fn turns<'a>(&'a self, scenario: &'a Scenario, base_url: &'a str) -> impl Iterator<Item = TurnSpec<'a>> {
        scenario.prompts().enumerate().map(move |(i, prompt)| TurnSpec {
            turn: i + 1,
            prompt,
            workspace: &self.workspace,
            home: &self.home,
            codex_home: &self.codex_home,
            base_url,
            model: scenario.agent.model(),
            args: &scenario.agent.args,
        })
    }

    /// Lays out a run under `work_root`: HOME, CODEX_HOME (`HOME/.codex`, holding a config.toml that points the agent
    /// at `base_url`) and the scenario's workspace.
    pub fn create(work_root: &Path, scenario: &Scenario, base_url: &str) -> std::io::Result<RunDirs> {
        std::fs::create_dir_all(work_root)?;
        let root = tempfile::Builder::new().prefix(&format!("{}-", scenario.name)).tempdir_in(work_root)?;
        let home = root.path().join("home");
        let codex_home = home.join(".codex");
        let workspace = root.path().join("workspace");
        std::fs::create_dir_all(&codex_home)?;
        std::fs::create_dir_all(&workspace)?;
        std::fs::write(codex_home.join("config.toml"), config_toml(scenario, base_url))?;
        for (name, contents) in &scenario.workspace.files {
            let path = workspace.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, contents)?;
        }
        if let Some(agents_md) = &scenario.workspace.agents_md {
            std::fs::write(workspace.join("AGENTS.md"), agents_md)?;
        }
        if scenario.workspace.git {
            git_init(&workspace, &home)?;
        }
        Ok(RunDirs { root: Some(root), kept: None, home, codex_home, workspace })
    }

    pub fn root(&self) -> &Path {
        self.root.as_ref().map(|r| r.path()).or(self.kept.as_deref()).expect("a run has a root")
    }

    /// Keeps the directories on disk after the run (for debugging); returns where they are.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(root) = self.root.take() {
            self.kept = Some(root.keep());
        }
        self.kept.clone().expect("kept")
    }

    /// The agent's whole environment: nothing else from the host.
    pub fn env(&self, base_url: &str, turn: usize) -> Vec<(String, String)> {
        [
            ("PATH", AGENT_PATH.to_string()),
            ("HOME", self.home.display().to_string()),
            ("CODEX_HOME", self.codex_home.display().to_string()),
            ("TERM", "dumb".to_string()),
            ("LANG", "C.UTF-8".to_string()),
            ("LC_ALL", "C.UTF-8".to_string()),
            ("TZ", "UTC".to_string()),
            ("SHELL", "/bin/bash".to_string()),
            ("USER", "parity".to_string()),
            ("LOGNAME", "parity".to_string()),
            (API_KEY_VAR, DUMMY_KEY.to_string()),
            ("PARITY_BASE_URL", base_url.to_string()),
            ("PARITY_TURN", turn.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The agent's config.toml: the scenario's options, and a model provider pointing at the server.
pub fn config_toml(scenario: &Scenario, base_url: &str) -> String {
    let options = &scenario.agent;
    let mut config = toml::Table::new();
    config.insert("model".into(), options.model().into());
    config.insert("model_provider".into(), "parity".into());
    config.insert("approval_policy".into(), options.approval().into());
    if let Some(sandbox) = &options.sandbox {
        config.insert("sandbox_mode".into(), sandbox.clone().into());
    }
    merge(&mut config, &options.config);
    // The scenario may tune the provider (retries, timeouts); where it points and how it authenticates are the
    // recorder's.
    let providers = table_at(&mut config, "model_providers");
    let provider = table_at(providers, "parity");
    provider.insert("name".into(), "parity".into());
    provider.insert("base_url".into(), base_url.into());
    provider.insert("wire_api".into(), "responses".into());
    provider.insert("env_key".into(), API_KEY_VAR.into());
    toml::to_string(&config).expect("a TOML table serializes")
}

/// The table under `key`, made one if it is absent or something else.
fn table_at<'a>(table: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    if !table.get(key).is_some_and(toml::Value::is_table) {
        table.insert(key.to_string(), toml::Table::new().into());
    }
    table.get_mut(key).and_then(toml::Value::as_table_mut).expect("just made a table")
}

/// Deep merge: tables merge key by key, anything else replaces.
fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

fn git_init(workspace: &Path, home: &Path) -> std::io::Result<()> {
    let git = |args: &[&str]| -> std::io::Result<()> {
        let output = Command::new("git")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "user.name=parity",
                "-c",
                "user.email=parity@example.invalid",
            ])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", AGENT_PATH)
            .env("HOME", home)
            .env("GIT_AUTHOR_DATE", GIT_DATE)
            .env("GIT_COMMITTER_DATE", GIT_DATE)
            .output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    };
    git(&["init", "-q"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "--allow-empty", "-m", "scenario workspace"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        let text = format!("prompt = \"p\"\n{extra}\n[[script.steps]]\noutput = [{{ message = \"m\" }}]\n");
        Scenario::parse(&text, Path::new("/s/demo.toml")).unwrap()
    }

    #[test]
    fn config_points_at_the_server_and_carries_the_options() {
        let s = scenario(
            "[agent]\nsandbox = \"workspace-write\"\nconfig = { model_reasoning_effort = \"high\", model_providers = { parity = { stream_max_retries = 0, base_url = \"http://elsewhere\" } } }",
        );
        let config: toml::Table = toml::from_str(&config_toml(&s, "http://127.0.0.1:9/v1")).unwrap();
        assert_eq!(config["model"].as_str(), Some("gpt-5.5"));
        assert_eq!(config["sandbox_mode"].as_str(), Some("workspace-write"));
        assert_eq!(config["approval_policy"].as_str(), Some("never"));
        assert_eq!(config["model_reasoning_effort"].as_str(), Some("high"));
        let provider = &config["model_providers"]["parity"];
        assert_eq!(provider["base_url"].as_str(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(provider["env_key"].as_str(), Some(API_KEY_VAR));
        assert_eq!(provider["stream_max_retries"].as_integer(), Some(0), "the scenario tunes the provider");
        assert_ne!(provider["base_url"].as_str(), Some("http://elsewhere"), "but the recorder says where it points");
    }

    #[test]
    fn workspaces_are_laid_out_and_git_commits_are_reproducible() {
        let work = tempfile::tempdir().unwrap();
        let s = scenario("[workspace]\ngit = true\nagents_md = \"Be brief.\"\nfiles = { \"src/a.txt\" = \"a\" }");
        let heads: Vec<String> = (0..2)
            .map(|_| {
                let dirs = RunDirs::create(work.path(), &s, "http://x/v1").unwrap();
                assert_eq!(std::fs::read_to_string(dirs.workspace.join("src/a.txt")).unwrap(), "a");
                assert_eq!(std::fs::read_to_string(dirs.workspace.join("AGENTS.md")).unwrap(), "Be brief.");
                assert!(dirs.codex_home.join("config.toml").is_file());
                let out =
                    Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&dirs.workspace).output().unwrap();
                String::from_utf8(out.stdout).unwrap()
            })
            .collect();
        assert_eq!(heads[0], heads[1], "fixed dates and identity give the same commit");
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "run directories are removed on drop");
    }
}
