//! The cases of `tests/observed/cases` (recorded from Codex CLI 0.169.0, see its README) replayed: the model
//! must be told the same roots and permission profile, and each command run through the launcher, in order in
//! a workspace set up as the recording's was, must print the same output and exit with the same status.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::Run;
use rcodex_sandbox::{Access, PermissionProfile, ProfilePath, SandboxMode, SandboxPolicy, WorkspaceWriteOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Recording {
    config: String,
    sandbox_mode: SandboxMode,
    config_toml: ConfigToml,
    env: Env,
    wrapper: Option<String>,
    workspace: std::collections::BTreeMap<String, String>,
    git: bool,
    cwd: Option<String>,
    turn_metadata_sandbox: Option<String>,
    permissions_instructions: String,
    filesystem_context: String,
    cases: Vec<Case>,
}

#[derive(Deserialize, Default)]
struct ConfigToml {
    #[serde(default)]
    sandbox_workspace_write: WorkspaceWriteOptions,
}

#[derive(Deserialize)]
struct Env {
    #[serde(rename = "TMPDIR")]
    tmpdir: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    cmd: String,
    exit_code: i32,
    output: String,
}

/// Cases whose output describes this machine rather than the sandbox; only their exit status is compared.
fn host_dependent(config: &str, case: &str) -> Option<&'static str> {
    match (config, case) {
        (_, "tmp_metadata") if host_tmp_has_protected_names() => {
            Some("the host's /tmp already holds .git, .codex, .agents or .aws (upstream's app server leaves them)")
        }
        (_, "proc_mounts") => Some("the mount table lists the host's mounts, and upstream's own (its daemon socket)"),
        ("danger-full-access", "proc_ps" | "ls_dev") => Some("unsandboxed: the host's processes and devices"),
        _ => None,
    }
}

/// Whether the host's `/tmp` holds a protected name before any sandbox runs: `tmp_metadata` checks that a sandbox
/// leaves none behind, which says nothing when the host had them already.
fn host_tmp_has_protected_names() -> bool {
    [".git", ".codex", ".agents", ".aws"].iter().any(|name| Path::new("/tmp").join(name).exists())
}

fn recordings() -> Vec<Recording> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/observed/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    let recordings: Vec<Recording> = files
        .iter()
        .map(|file| {
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap_or_else(|e| panic!("{file:?}: {e}"))
        })
        .collect();
    assert!(recordings.len() >= 8, "the recordings are missing");
    recordings
}

fn policy(recording: &Recording) -> SandboxPolicy {
    SandboxPolicy::new(recording.sandbox_mode, recording.config_toml.sandbox_workspace_write.clone())
}

/// Where the recorder's workspace was: what the sorted roots were sorted against.
fn recorded_cwd(recording: &Recording) -> PathBuf {
    let ws = PathBuf::from(format!("/var/tmp/parity-runs/sandbox-probes-{}-XXXXXX/workspace", recording.config));
    recording.cwd.as_ref().map_or(ws.clone(), |sub| ws.join(sub))
}

#[test]
fn the_model_is_told_the_roots_and_profile_upstream_tells_it() {
    for recording in recordings() {
        let policy = policy(&recording);
        let cwd = recorded_cwd(&recording);
        let name = &recording.config;
        let show = |path: &Path| {
            let text = path.display().to_string();
            text.replace(&cwd.display().to_string(), "{WS}").replace(&recording.env.tmpdir, "{TMPDIR}")
        };

        let roots = policy.writable_roots_with_tmpdir(&cwd, Some(recording.env.tmpdir.as_ref()));
        let told =
            recording.permissions_instructions.lines().find_map(|line| line.strip_prefix(" The writable roots are "));
        let mine = (!roots.is_empty())
            .then(|| roots.iter().map(|root| format!("`{}`", show(&root.root))).collect::<Vec<_>>().join(", ") + ".");
        assert_eq!(mine.as_deref(), told, "{name}: writable roots");

        let workspace_roots: String =
            policy.workspace_roots(&cwd).iter().map(|root| format!("<root>{}</root>", show(root))).collect();
        let profile = match policy.permission_profile(&cwd) {
            PermissionProfile::Disabled => {
                r#"<permission_profile type="disabled"><file_system type="unrestricted" /></permission_profile>"#
                    .to_string()
            }
            PermissionProfile::Managed(entries) => {
                let entries: String = entries
                    .iter()
                    .map(|entry| {
                        let access = if entry.access == Access::Read { "read" } else { "write" };
                        let path = match &entry.path {
                            ProfilePath::Special(special) => format!("<special>{special}</special>"),
                            ProfilePath::Path(path) => format!("<path>{}</path>", show(path)),
                        };
                        format!(r#"<entry access="{access}">{path}</entry>"#)
                    })
                    .collect();
                format!(
                    r#"<permission_profile type="managed"><file_system type="restricted">{entries}</file_system></permission_profile>"#
                )
            }
        };
        let rendered =
            format!("<filesystem><workspace_roots>{workspace_roots}</workspace_roots>{profile}</filesystem>");
        assert_eq!(rendered, recording.filesystem_context, "{name}: permission profile");
        assert_eq!(Some(policy.metadata_tag()), recording.turn_metadata_sandbox.as_deref().or(Some("none")), "{name}");
    }
}

/// Answers 200 to any request on a loopback port: the recordings' `PARITY_BASE_URL`.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

/// The fixed scratch paths the probes use, moved under this test's own directories so that runs do not meet.
struct Relocation {
    var_tmp: PathBuf,
    tmp_prefix: String,
}

impl Relocation {
    fn apply(&self, text: &str) -> String {
        const MARK: &str = "\u{0}var-tmp\u{0}";
        text.replace("/var/tmp/parity-", MARK)
            .replace("/tmp/parity-sbx-", &format!("{}parity-sbx-", self.tmp_prefix))
            .replace(MARK, &format!("{}/parity-", self.var_tmp.display()))
    }
}

fn git(workspace: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "init.defaultBranch=main", "-c", "user.name=parity", "-c", "user.email=parity@example.invalid"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(workspace)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn commands_see_what_they_saw_under_upstream() {
    let port = http_server();
    let mut failures = Vec::new();
    let mut compared = 0;
    for recording in recordings() {
        let base = common::scratch();
        let unique = base.path().file_name().unwrap().to_str().unwrap().to_string();
        let relocation = Relocation { var_tmp: base.path().to_path_buf(), tmp_prefix: format!("/tmp/{unique}-") };
        let run_dir = base.path().join("run");
        let workspace = run_dir.join("workspace");
        let home = run_dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&workspace).unwrap();
        for (name, contents) in &recording.workspace {
            let path = workspace.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, relocation.apply(contents)).unwrap();
        }
        if recording.git {
            git(&workspace, &["init", "-q"]);
            git(&workspace, &["add", "-A"]);
            git(&workspace, &["commit", "-q", "--allow-empty", "-m", "scenario workspace"]);
        }
        // What the recording script made before each run (observe.py's prepare_host).
        let tmpdir = PathBuf::from(relocation.apply(&recording.env.tmpdir));
        let extra = PathBuf::from(relocation.apply("/var/tmp/parity-sbx-extra"));
        let gitdir = PathBuf::from(relocation.apply("/tmp/parity-sbx-gitdir"));
        for dir in [&tmpdir, &extra.join(".git"), &extra.join(".codex"), &gitdir] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for dir in ["/var/tmp/parity-a-sbx-root", "/var/tmp/parity-sbx-linkdir"] {
            std::fs::create_dir_all(relocation.apply(dir)).unwrap();
        }
        std::fs::write(extra.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(gitdir.join("HEAD"), "ref: refs/heads/main\n").unwrap();

        let mut options = recording.config_toml.sandbox_workspace_write.clone();
        for root in &mut options.writable_roots {
            *root = relocation.apply(&root.display().to_string()).into();
        }
        let policy = SandboxPolicy::new(recording.sandbox_mode, options);
        let cwd = recording.cwd.as_ref().map_or(workspace.clone(), |sub| workspace.join(sub));
        let mut run = Run::new(&policy, &cwd)
            .env("HOME", home.display().to_string())
            .env("TMPDIR", tmpdir.display().to_string())
            .env("PARITY_BASE_URL", format!("http://127.0.0.1:{port}/v1"));
        if let Some(wrapper) = &recording.wrapper {
            run.wrapper = vec!["sh".into(), "-c".into(), format!("exec {wrapper} \"$@\""), "sh".into()];
        }
        let placeholders = [
            ("{WS}", cwd.display().to_string()),
            ("{HOME}", home.display().to_string()),
            ("{RUN}", run_dir.display().to_string()),
            ("{TMPDIR}", tmpdir.display().to_string()),
            ("{PORT}", port.to_string()),
        ];
        let fill = |text: &str| {
            let text = placeholders.iter().fold(text.to_string(), |text, (name, value)| text.replace(name, value));
            relocation.apply(&text)
        };

        for case in &recording.cases {
            let outcome = run.run(&fill(&case.cmd));
            let expected = fill(&case.output);
            let label = format!("{}/{}", recording.config, case.name);
            compared += 1;
            if outcome.code != case.exit_code {
                failures
                    .push(format!("{label}: exit {} instead of {}\n{}", outcome.code, case.exit_code, outcome.output));
            } else if host_dependent(&recording.config, &case.name).is_none() && outcome.output != expected {
                failures.push(format!("{label}:\n--- upstream\n{expected}--- here\n{}", outcome.output));
            }
        }
        for leftover in std::fs::read_dir("/tmp").unwrap().flatten() {
            if leftover.file_name().to_string_lossy().starts_with(&format!("{unique}-")) {
                let _ = std::fs::remove_dir_all(leftover.path()).or_else(|_| std::fs::remove_file(leftover.path()));
            }
        }
    }
    assert!(compared > 250, "only {compared} cases");
    assert!(failures.is_empty(), "{} of {compared} cases differ:\n\n{}", failures.len(), failures.join("\n\n"));
}
