//! Running commands in the sandbox: rcodex re-executes itself as a launcher that sets the sandbox up and then
//! becomes the command, as upstream's `codex-linux-sandbox` does.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::policy::SandboxPolicy;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod mounts;
#[cfg(target_os = "linux")]
mod placeholders;
#[cfg(target_os = "linux")]
mod seccomp;

#[cfg(target_os = "linux")]
pub use linux::{Unsupported, check_support};

/// The argument after the executable that selects the launcher: rcodex's CLI must hand everything after it to
/// [`run_launcher`], before starting any thread.
pub const LAUNCHER_SUBCOMMAND: &str = "sandbox-launcher";

/// The command line that runs `argv` under `policy`, for a session whose policy is relative to `cwd`.
///
/// Under `danger-full-access` this is `argv` itself: upstream runs such commands without any sandbox. Otherwise
/// it is `launcher_exe sandbox-launcher --cwd CWD <policy> -- argv...`; spawn it with the command's working
/// directory and environment (add [`SandboxPolicy::command_env`]). `$TMPDIR` is read by the launcher from that
/// environment, as upstream's helper reads it.
pub fn command_argv(policy: &SandboxPolicy, cwd: &Path, launcher_exe: &Path, argv: &[OsString]) -> Vec<OsString> {
    if policy.is_unrestricted() {
        return argv.to_vec();
    }
    let mut out = vec![launcher_exe.as_os_str().to_owned(), LAUNCHER_SUBCOMMAND.into(), "--cwd".into()];
    out.push(cwd.as_os_str().to_owned());
    out.extend(policy.to_args());
    out.push("--".into());
    out.extend(argv.iter().cloned());
    out
}

/// The launcher's entry point: `args` are what follows [`LAUNCHER_SUBCOMMAND`] on the command line that
/// [`command_argv`] made. Sets up the sandbox in this process and its children and runs the command; exits
/// with the command's exit status (128 + N when a signal N ended it), or 1 after saying on stderr why the
/// sandbox could not be set up. Never returns.
///
/// On Linux: a child in new user, mount and PID namespaces (and a network namespace unless the network is
/// open) sees the whole file system read-only except the writable roots, with their carve-outs read-only
/// again, a private `/dev` and `/proc`; it runs the command as PID 2 without capabilities, with
/// `no_new_privs` and a seccomp filter. See the crate documentation.
pub fn run_launcher(args: impl IntoIterator<Item = OsString>) -> ! {
    let mut args = args.into_iter().peekable();
    #[cfg(target_os = "linux")]
    if args.next_if(|arg| arg == linux::CHECK_SUPPORT).is_some() {
        linux::check_support_and_exit()
    }
    match Request::parse(args) {
        Ok(request) => launch(request),
        Err(err) => {
            eprintln!("rcodex sandbox: {err}");
            std::process::exit(2)
        }
    }
}

#[cfg(target_os = "linux")]
fn launch(request: Request) -> ! {
    linux::launch(request)
}

#[cfg(not(target_os = "linux"))]
fn launch(request: Request) -> ! {
    if request.policy.is_unrestricted() {
        exec_or_exit(&request.argv)
    }
    eprintln!("rcodex sandbox: sandboxing commands is only supported on Linux");
    std::process::exit(1)
}

/// What the launcher was asked to run.
#[derive(Debug, PartialEq)]
pub(crate) struct Request {
    pub cwd: PathBuf,
    pub policy: SandboxPolicy,
    pub argv: Vec<OsString>,
}

impl Request {
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut args = args.into_iter().peekable();
        if args.next().as_deref() != Some(OsStr::new("--cwd")) {
            return Err("expected --cwd".into());
        }
        let cwd = PathBuf::from(args.next().ok_or("--cwd needs a value")?);
        if !cwd.is_absolute() {
            return Err(format!("--cwd must be absolute: {}", cwd.display()));
        }
        let policy = SandboxPolicy::from_args(&mut args)?;
        match args.next() {
            Some(separator) if separator == "--" => {}
            Some(other) => return Err(format!("unexpected argument {}", other.to_string_lossy())),
            None => return Err("expected -- and a command".into()),
        }
        let argv: Vec<OsString> = args.collect();
        if argv.is_empty() {
            return Err("no command to run".into());
        }
        Ok(Request { cwd, policy, argv })
    }
}

/// Replaces this process with `argv`, or exits as a shell would when it cannot (127: not found, else 126).
pub(crate) fn exec_or_exit(argv: &[OsString]) -> ! {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    eprintln!("rcodex sandbox: cannot run {}: {err}", argv[0].to_string_lossy());
    std::process::exit(if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::WorkspaceWriteOptions;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn danger_full_access_runs_commands_as_they_are() {
        let argv = os(&["bash", "-lc", "ls"]);
        assert_eq!(command_argv(&SandboxPolicy::DangerFullAccess, Path::new("/w"), Path::new("/rc"), &argv), argv);
    }

    #[test]
    fn other_modes_go_through_the_launcher_and_parse_back() {
        let policy = SandboxPolicy::WorkspaceWrite(WorkspaceWriteOptions {
            writable_roots: vec!["/data".into()],
            network_access: true,
            ..Default::default()
        });
        let argv = os(&["bash", "-lc", "echo -- hi"]);
        let line = command_argv(&policy, Path::new("/w"), Path::new("/bin/rcodex"), &argv);
        assert_eq!(
            line,
            os(&[
                "/bin/rcodex",
                "sandbox-launcher",
                "--cwd",
                "/w",
                "--mode",
                "workspace-write",
                "--writable-root",
                "/data",
                "--network-access",
                "--",
                "bash",
                "-lc",
                "echo -- hi",
            ])
        );
        let request = Request::parse(line.into_iter().skip(2)).unwrap();
        assert_eq!(request, Request { cwd: "/w".into(), policy, argv });
    }

    #[test]
    fn malformed_launcher_arguments_are_refused() {
        let cases = [
            (vec![], "expected --cwd"),
            (os(&["--cwd", "rel", "--mode", "read-only", "--", "true"]), "must be absolute"),
            (os(&["--cwd", "/w", "--mode", "read-only", "true"]), "unexpected argument true"),
            (os(&["--cwd", "/w", "--mode", "read-only", "--"]), "no command"),
            (os(&["--cwd", "/w", "--mode", "read-only"]), "expected --"),
        ];
        for (args, expected) in cases {
            let err = Request::parse(args.clone()).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
}
