//! The policy: what a sandbox mode lets commands write, and where the network is open.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

/// `sandbox_mode` in config.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Commands may read everything and write nothing; no network.
    ReadOnly,
    /// Commands may write the working directory and the writable roots; no network unless allowed.
    WorkspaceWrite,
    /// No sandbox at all.
    DangerFullAccess,
}

impl SandboxMode {
    /// The config spelling: `read-only`, `workspace-write`, `danger-full-access`.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::DangerFullAccess => "danger-full-access",
        }
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`SandboxMode`]: the text that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSandboxMode(pub String);

impl fmt::Display for UnknownSandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown sandbox mode `{}`: expected read-only, workspace-write or danger-full-access", self.0)
    }
}

impl std::error::Error for UnknownSandboxMode {}

impl FromStr for SandboxMode {
    type Err = UnknownSandboxMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SandboxMode::ReadOnly, SandboxMode::WorkspaceWrite, SandboxMode::DangerFullAccess]
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| UnknownSandboxMode(s.to_string()))
    }
}

/// `[sandbox_workspace_write]` in config.toml; only `workspace-write` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WorkspaceWriteOptions {
    /// More writable directories besides the working directory. Relative ones are taken from the working
    /// directory. Upstream treats them as workspace roots: they get the same read-only carve-outs.
    pub writable_roots: Vec<PathBuf>,
    /// Let commands use the network.
    pub network_access: bool,
    /// Do not make `$TMPDIR` writable.
    pub exclude_tmpdir_env_var: bool,
    /// Do not make `/tmp` writable.
    pub exclude_slash_tmp: bool,
}

/// A sandbox mode with its options: what the agent enforces on every command and patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxPolicy {
    /// `read-only`.
    ReadOnly,
    /// `workspace-write` with its `[sandbox_workspace_write]` options.
    WorkspaceWrite(WorkspaceWriteOptions),
    /// `danger-full-access`.
    DangerFullAccess,
}

/// Directory names that stay read-only at the top of every writable root, whether they exist or not (Codex
/// 0.169.0 also shows a missing one to commands as an empty read-only directory).
pub const PROTECTED_NAMES: [&str; 4] = [".git", ".agents", ".codex", ".aws"];

/// A directory commands may write, and the paths in it they may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritableRoot {
    /// The directory, absolute and lexically normalized (not resolved through symlinks).
    pub root: PathBuf,
    /// Read-only carve-outs: `root/.git`, the git directory it points to when it is a `gitdir:` file,
    /// `root/.agents`, `root/.codex` and `root/.aws`, in that order.
    pub read_only_subpaths: Vec<PathBuf>,
}

impl WritableRoot {
    fn new(root: PathBuf) -> Self {
        let mut read_only_subpaths = Vec::with_capacity(PROTECTED_NAMES.len() + 1);
        for name in PROTECTED_NAMES {
            let path = root.join(name);
            let gitdir = if name == ".git" { gitdir_of(&path) } else { None };
            read_only_subpaths.push(path);
            read_only_subpaths.extend(gitdir);
        }
        WritableRoot { root, read_only_subpaths }
    }
}

/// The git directory a worktree-style `.git` file points to (`gitdir: <path>`), when it exists.
fn gitdir_of(dot_git: &Path) -> Option<PathBuf> {
    if !dot_git.symlink_metadata().ok()?.is_file() {
        return None;
    }
    let contents = std::fs::read_to_string(dot_git).ok()?;
    let target = contents.trim().strip_prefix("gitdir:")?.trim();
    if target.is_empty() {
        return None;
    }
    let path = normalize(&dot_git.parent()?.join(target));
    path.exists().then_some(path)
}

/// Whether a permission-profile entry lets its path be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `access="read"`.
    Read,
    /// `access="write"`.
    Write,
}

/// A path as a permission profile names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfilePath {
    /// A symbolic path, resolved by the sandbox: `:root`, `:slash_tmp` or `:tmpdir`.
    Special(&'static str),
    /// A concrete path.
    Path(PathBuf),
}

/// One `<entry>` of the permission profile the model is shown in its environment context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    /// Read or write.
    pub access: Access,
    /// Which path.
    pub path: ProfilePath,
}

/// The permission profile of the environment context, as Codex 0.169.0 words it: entries in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionProfile {
    /// `danger-full-access`: `<permission_profile type="disabled"><file_system type="unrestricted" />`.
    Disabled,
    /// The other modes: `<permission_profile type="managed"><file_system type="restricted">` and the entries.
    Managed(Vec<ProfileEntry>),
}

impl SandboxPolicy {
    /// The policy of a `sandbox_mode` (`[sandbox_workspace_write]` counts only for `workspace-write`).
    pub fn new(mode: SandboxMode, options: WorkspaceWriteOptions) -> Self {
        match mode {
            SandboxMode::ReadOnly => SandboxPolicy::ReadOnly,
            SandboxMode::WorkspaceWrite => SandboxPolicy::WorkspaceWrite(options),
            SandboxMode::DangerFullAccess => SandboxPolicy::DangerFullAccess,
        }
    }

    /// The mode.
    pub fn mode(&self) -> SandboxMode {
        match self {
            SandboxPolicy::ReadOnly => SandboxMode::ReadOnly,
            SandboxPolicy::WorkspaceWrite(_) => SandboxMode::WorkspaceWrite,
            SandboxPolicy::DangerFullAccess => SandboxMode::DangerFullAccess,
        }
    }

    /// Whether commands may use the network: never under `read-only`, always under `danger-full-access`, and
    /// under `workspace-write` when `network_access` is set.
    pub fn network_access(&self) -> bool {
        match self {
            SandboxPolicy::ReadOnly => false,
            SandboxPolicy::WorkspaceWrite(options) => options.network_access,
            SandboxPolicy::DangerFullAccess => true,
        }
    }

    /// Whether nothing is enforced (`danger-full-access`): commands run as they are.
    pub fn is_unrestricted(&self) -> bool {
        matches!(self, SandboxPolicy::DangerFullAccess)
    }

    /// The `sandbox` field of the turn metadata header: `none` for `danger-full-access`, else `seccomp`.
    pub fn metadata_tag(&self) -> &'static str {
        if self.is_unrestricted() { "none" } else { "seccomp" }
    }

    /// Environment variables Codex sets for sandboxed commands: `CODEX_SANDBOX_NETWORK_DISABLED=1` when the
    /// network is closed.
    pub fn command_env(&self) -> Vec<(&'static str, &'static str)> {
        if self.network_access() { Vec::new() } else { vec![("CODEX_SANDBOX_NETWORK_DISABLED", "1")] }
    }

    /// The workspace roots: `cwd`, then, under `workspace-write`, the configured writable roots.
    pub fn workspace_roots(&self, cwd: &Path) -> Vec<PathBuf> {
        let cwd = normalize(cwd);
        let mut roots = vec![cwd.clone()];
        if let SandboxPolicy::WorkspaceWrite(options) = self {
            for root in &options.writable_roots {
                push_unique(&mut roots, normalize(&cwd.join(root)));
            }
        }
        roots
    }

    /// The directories commands may write with their carve-outs, with `$TMPDIR` read from the environment.
    /// See [`SandboxPolicy::writable_roots_with_tmpdir`].
    pub fn writable_roots(&self, cwd: &Path) -> Vec<WritableRoot> {
        self.writable_roots_with_tmpdir(cwd, std::env::var_os("TMPDIR").as_deref())
    }

    /// The directories commands may write, sorted by path as Codex lists them to the model ("The writable
    /// roots are ..."): none under `read-only` and `danger-full-access` (where everything is writable); under
    /// `workspace-write`, the workspace roots, `/tmp` unless `exclude_slash_tmp` or it is not a directory, and
    /// `tmpdir` unless `exclude_tmpdir_env_var` or it is unset, empty or relative. Configured roots that do not
    /// exist are listed (upstream lists them) but cannot be written.
    pub fn writable_roots_with_tmpdir(&self, cwd: &Path, tmpdir: Option<&OsStr>) -> Vec<WritableRoot> {
        let SandboxPolicy::WorkspaceWrite(options) = self else {
            return Vec::new();
        };
        let mut roots = self.workspace_roots(cwd);
        if !options.exclude_slash_tmp && Path::new("/tmp").is_dir() {
            push_unique(&mut roots, PathBuf::from("/tmp"));
        }
        if !options.exclude_tmpdir_env_var
            && let Some(tmpdir) = tmpdir.map(Path::new).filter(|dir| dir.is_absolute())
        {
            push_unique(&mut roots, normalize(tmpdir));
        }
        roots.sort();
        roots.into_iter().map(WritableRoot::new).collect()
    }

    /// The permission profile of the environment context: under `read-only`, reading `:root`; under
    /// `workspace-write`, reading `:root`, writing each workspace root, `:slash_tmp` and `:tmpdir` (each unless
    /// excluded; `:tmpdir` even when `$TMPDIR` is unset), then reading `.git`, `.agents`, `.codex` and `.aws`
    /// of each workspace root, name by name.
    pub fn permission_profile(&self, cwd: &Path) -> PermissionProfile {
        let read = |path| ProfileEntry { access: Access::Read, path };
        let write = |path| ProfileEntry { access: Access::Write, path };
        let mut entries = vec![read(ProfilePath::Special(":root"))];
        match self {
            SandboxPolicy::DangerFullAccess => return PermissionProfile::Disabled,
            SandboxPolicy::ReadOnly => {}
            SandboxPolicy::WorkspaceWrite(options) => {
                let roots = self.workspace_roots(cwd);
                entries.extend(roots.iter().cloned().map(|root| write(ProfilePath::Path(root))));
                if !options.exclude_slash_tmp {
                    entries.push(write(ProfilePath::Special(":slash_tmp")));
                }
                if !options.exclude_tmpdir_env_var {
                    entries.push(write(ProfilePath::Special(":tmpdir")));
                }
                for name in PROTECTED_NAMES {
                    entries.extend(roots.iter().map(|root| read(ProfilePath::Path(root.join(name)))));
                }
            }
        }
        PermissionProfile::Managed(entries)
    }
}

fn push_unique(paths: &mut Vec<PathBuf>, path: PathBuf) {
    if !paths.contains(&path) {
        paths.push(path);
    }
}

/// `path` without `.` and `..` components, resolved lexically (a `..` above `/` stays at `/`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The policy's spelling on the launcher's command line (`--mode M [--writable-root P]... [flags]`), read back by
/// [`SandboxPolicy::from_args`].
impl SandboxPolicy {
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args = vec![OsString::from("--mode"), OsString::from(self.mode().as_str())];
        if let SandboxPolicy::WorkspaceWrite(options) = self {
            for root in &options.writable_roots {
                args.extend([OsString::from("--writable-root"), root.clone().into_os_string()]);
            }
            let flags = [
                (options.network_access, "--network-access"),
                (options.exclude_tmpdir_env_var, "--exclude-tmpdir-env-var"),
                (options.exclude_slash_tmp, "--exclude-slash-tmp"),
            ];
            args.extend(flags.into_iter().filter(|(set, _)| *set).map(|(_, flag)| OsString::from(flag)));
        }
        args
    }

    /// Reads what [`SandboxPolicy::to_args`] wrote from the front of `args`, up to the first argument that is
    /// not one of its options.
    pub(crate) fn from_args(args: &mut std::iter::Peekable<impl Iterator<Item = OsString>>) -> Result<Self, String> {
        if args.next().as_deref() != Some(OsStr::new("--mode")) {
            return Err("expected --mode".into());
        }
        let mode = args.next().ok_or("--mode needs a value")?;
        let mode: SandboxMode = mode.to_str().ok_or("--mode is not UTF-8")?.parse().map_err(|e| format!("{e}"))?;
        let mut options = WorkspaceWriteOptions::default();
        let is_option = |arg: &OsString| {
            ["--writable-root", "--network-access", "--exclude-tmpdir-env-var", "--exclude-slash-tmp"]
                .contains(&arg.to_str().unwrap_or_default())
        };
        while let Some(option) = args.next_if(is_option) {
            match option.to_str() {
                Some("--writable-root") => {
                    options.writable_roots.push(args.next().ok_or("--writable-root needs a value")?.into())
                }
                Some("--network-access") => options.network_access = true,
                Some("--exclude-tmpdir-env-var") => options.exclude_tmpdir_env_var = true,
                _ => options.exclude_slash_tmp = true,
            }
        }
        Ok(SandboxPolicy::new(mode, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ww(options: WorkspaceWriteOptions) -> SandboxPolicy {
        SandboxPolicy::WorkspaceWrite(options)
    }

    fn roots(policy: &SandboxPolicy, cwd: &str, tmpdir: Option<&str>) -> Vec<PathBuf> {
        policy.writable_roots_with_tmpdir(Path::new(cwd), tmpdir.map(OsStr::new)).into_iter().map(|r| r.root).collect()
    }

    #[test]
    fn modes_parse_and_print_their_config_spelling() {
        for mode in ["read-only", "workspace-write", "danger-full-access"] {
            assert_eq!(mode.parse::<SandboxMode>().unwrap().to_string(), mode);
        }
        assert_eq!("full".parse::<SandboxMode>().unwrap_err().0, "full");
    }

    #[test]
    fn config_tables_deserialize_with_upstream_keys() {
        #[derive(Deserialize)]
        struct Config {
            sandbox_mode: SandboxMode,
            sandbox_workspace_write: WorkspaceWriteOptions,
        }
        let config: Config = toml::from_str(
            "sandbox_mode = \"workspace-write\"\n[sandbox_workspace_write]\nwritable_roots = [\"/data\"]\n\
             network_access = true\nexclude_slash_tmp = true\n",
        )
        .unwrap();
        let policy = SandboxPolicy::new(config.sandbox_mode, config.sandbox_workspace_write);
        let SandboxPolicy::WorkspaceWrite(options) = &policy else { panic!("{policy:?}") };
        assert_eq!(options.writable_roots, [PathBuf::from("/data")]);
        assert!(options.network_access && options.exclude_slash_tmp && !options.exclude_tmpdir_env_var);
        assert_eq!(SandboxPolicy::new(SandboxMode::ReadOnly, options.clone()), SandboxPolicy::ReadOnly);
    }

    #[test]
    fn only_workspace_write_has_writable_roots() {
        assert!(roots(&SandboxPolicy::ReadOnly, "/w", Some("/t")).is_empty());
        assert!(roots(&SandboxPolicy::DangerFullAccess, "/w", Some("/t")).is_empty());
    }

    #[test]
    fn workspace_write_roots_are_sorted_and_follow_the_tmp_rules() {
        let default = ww(WorkspaceWriteOptions::default());
        assert_eq!(roots(&default, "/w/ws", None), [PathBuf::from("/tmp"), PathBuf::from("/w/ws")]);
        assert_eq!(roots(&default, "/w/ws", Some("")), [PathBuf::from("/tmp"), PathBuf::from("/w/ws")]);
        assert_eq!(roots(&default, "/w/ws", Some("relative")), [PathBuf::from("/tmp"), PathBuf::from("/w/ws")]);
        assert_eq!(roots(&default, "/w/ws", Some("/a/tmp/")), ["/a/tmp", "/tmp", "/w/ws"].map(PathBuf::from));
        // The working directory under /tmp is one root, not two.
        assert_eq!(roots(&default, "/tmp/./x/..", Some("/tmp")), [PathBuf::from("/tmp")]);

        let excluded = ww(WorkspaceWriteOptions {
            writable_roots: vec!["/b".into(), "rel".into(), "/w/ws".into()],
            exclude_slash_tmp: true,
            exclude_tmpdir_env_var: true,
            ..Default::default()
        });
        assert_eq!(roots(&excluded, "/w/ws", Some("/a")), ["/b", "/w/ws", "/w/ws/rel"].map(PathBuf::from));
    }

    #[test]
    fn every_root_protects_the_same_names_existing_or_not() {
        let root = tempfile::tempdir().unwrap();
        let policy = ww(WorkspaceWriteOptions { exclude_slash_tmp: true, ..Default::default() });
        let found = policy.writable_roots_with_tmpdir(root.path(), None);
        assert_eq!(found.len(), 1);
        let expected: Vec<PathBuf> = PROTECTED_NAMES.iter().map(|name| root.path().join(name)).collect();
        assert_eq!(found[0].read_only_subpaths, expected);
    }

    #[test]
    fn a_gitdir_file_protects_the_directory_it_points_to() {
        let base = tempfile::tempdir().unwrap();
        let ws = base.path().join("ws");
        std::fs::create_dir_all(base.path().join("repo/.git/worktrees/ws")).unwrap();
        std::fs::create_dir(&ws).unwrap();
        std::fs::write(ws.join(".git"), "gitdir: ../repo/.git/worktrees/ws\n").unwrap();
        let policy = ww(WorkspaceWriteOptions { exclude_slash_tmp: true, ..Default::default() });
        let subpaths = &policy.writable_roots_with_tmpdir(&ws, None)[0].read_only_subpaths;
        assert_eq!(subpaths[..2], [ws.join(".git"), base.path().join("repo/.git/worktrees/ws")]);

        std::fs::write(ws.join(".git"), "gitdir: ../missing\n").unwrap();
        assert_eq!(policy.writable_roots_with_tmpdir(&ws, None)[0].read_only_subpaths.len(), PROTECTED_NAMES.len());
    }

    #[test]
    fn network_and_command_environment() {
        assert!(!SandboxPolicy::ReadOnly.network_access());
        assert!(SandboxPolicy::DangerFullAccess.network_access());
        assert!(!ww(WorkspaceWriteOptions::default()).network_access());
        let open = ww(WorkspaceWriteOptions { network_access: true, ..Default::default() });
        assert!(open.network_access());
        assert!(open.command_env().is_empty());
        assert_eq!(SandboxPolicy::ReadOnly.command_env(), [("CODEX_SANDBOX_NETWORK_DISABLED", "1")]);
        assert_eq!(SandboxPolicy::DangerFullAccess.metadata_tag(), "none");
        assert_eq!(open.metadata_tag(), "seccomp");
    }

    #[test]
    fn launcher_arguments_round_trip() {
        let policies = [
            SandboxPolicy::ReadOnly,
            SandboxPolicy::DangerFullAccess,
            ww(WorkspaceWriteOptions::default()),
            ww(WorkspaceWriteOptions {
                writable_roots: vec!["/a".into(), "--network-access".into()],
                network_access: true,
                exclude_tmpdir_env_var: true,
                exclude_slash_tmp: true,
            }),
        ];
        for policy in policies {
            let mut args = policy.to_args();
            args.push("--".into());
            let mut args = args.into_iter().peekable();
            assert_eq!(SandboxPolicy::from_args(&mut args).unwrap(), policy);
            assert_eq!(args.next().as_deref(), Some(OsStr::new("--")));
        }
        let mut bad = [OsString::from("--mode"), OsString::from("yolo")].into_iter().peekable();
        assert!(SandboxPolicy::from_args(&mut bad).unwrap_err().contains("unknown sandbox mode"));
    }
}
