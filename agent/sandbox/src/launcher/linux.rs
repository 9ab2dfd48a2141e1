//! The launcher's processes on Linux.
//!
//! - The launcher (on the host) plans the mounts, creates placeholders, then clones a child into new user,
//!   mount and PID namespaces (and a new network namespace when the network is closed). It forwards SIGHUP,
//!   SIGINT, SIGQUIT and SIGTERM to it, waits, removes the placeholders and exits as the child did.
//! - The child, PID 1 of the new namespace, maps its user and group to themselves, builds the file system view,
//!   starts a new session and forks the command; it reaps every process and exits with the command's status.
//!   Named `codex`, as upstream's is in `ps`. It dies with the launcher, and the whole namespace with it.
//! - The command, PID 2, drops every capability (bounding set included, so that running as root does not
//!   bring them back at exec), sets `no_new_privs`, installs the seccomp filter and executes.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::Request;
use super::mounts::Plan;
use super::placeholders::Placeholders;

/// Why this kernel cannot run sandboxed commands: [`check_support`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

/// Whether sandboxed commands can run here: runs `launcher_exe sandbox-launcher --check-support`, which tries
/// what the launcher needs (user, mount, PID and network namespaces, a read-only remount of the whole tree,
/// seccomp) in a short-lived child. For a warning at startup; the launcher itself refuses each command when this
/// fails, with bubblewrap's words as upstream does. Being a separate process, it is safe to call from any thread.
pub fn check_support(launcher_exe: &Path) -> Result<(), Unsupported> {
    let output = std::process::Command::new(launcher_exe)
        .args([super::LAUNCHER_SUBCOMMAND, CHECK_SUPPORT])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| Unsupported(format!("cannot run the sandbox launcher {}: {err}", launcher_exe.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let said = if output.stdout.is_empty() { &output.stderr } else { &output.stdout };
    Err(Unsupported(String::from_utf8_lossy(said).trim().to_string()))
}

/// The launcher argument that checks support instead of running a command.
pub(crate) const CHECK_SUPPORT: &str = "--check-support";

/// The launcher's side of [`check_support`]: prints the reason and exits 1 when something is missing.
pub(crate) fn check_support_and_exit() -> ! {
    let ids = HostIds::current();
    let pid = match clone_into_namespaces(true) {
        Ok(pid) => pid,
        Err(err) => {
            println!("{}", namespace_failure(err));
            std::process::exit(1)
        }
    };
    if pid == 0 {
        let code = match ids.map_self() {
            Err(_) => 2,
            Ok(()) => match super::mounts::probe() {
                Err(_) => 3,
                Ok(()) if super::seccomp::filter(false).is_err() => 4,
                Ok(()) => 0,
            },
        };
        std::process::exit(code)
    }
    let status = wait_for(pid);
    let reason = match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => std::process::exit(0),
        Some(2) => "the sandbox cannot map its user and group ids in a new user namespace",
        Some(3) => "the sandbox cannot remount the file system read-only (mount_setattr needs Linux 5.12 or later)",
        Some(4) => "seccomp filters are not supported for this architecture",
        _ => "the sandbox probe ended abnormally",
    };
    println!("{reason}");
    std::process::exit(1)
}

pub(crate) fn launch(request: Request) -> ! {
    if request.policy.is_unrestricted() {
        super::exec_or_exit(&request.argv)
    }
    let registry = match Placeholders::open_registry() {
        Ok(registry) => registry,
        Err(err) => fail(&format!("rcodex sandbox: placeholder registry: {err}")),
    };
    let plan = Plan::new(&request.policy, &request.cwd, std::env::var_os("TMPDIR").as_deref());
    let placeholders = match Placeholders::acquire(registry, &plan.placeholder_candidates()) {
        Ok(placeholders) => placeholders,
        Err(err) => fail(&format!("rcodex sandbox: creating placeholders: {err}")),
    };
    let signals = Signals::block();
    let (alive_read, alive_write) = match rustix::pipe::pipe() {
        Ok(pipe) => pipe,
        Err(err) => fail(&format!("rcodex sandbox: pipe: {err}")),
    };
    let ids = HostIds::current();
    let child = match clone_into_namespaces(!request.policy.network_access()) {
        Ok(child) => child,
        Err(err) => {
            placeholders.release();
            fail(&format!("bwrap: {}", namespace_failure(err)))
        }
    };
    if child == 0 {
        drop(alive_write);
        sandbox_init(&request, &plan, ids, alive_read, &signals)
    }
    drop(alive_read);
    let status = signals.supervise(child);
    drop(alive_write);
    placeholders.release();
    exit_like(status)
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

/// PID 1 of the sandbox. Errors end it with status 1 after a line on stderr, which the launcher passes on.
fn sandbox_init(request: &Request, plan: &Plan, ids: HostIds, alive: OwnedFd, signals: &Signals) -> ! {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // The launcher may have died before the line above: its end of the pipe is then closed.
    let mut fds = [PollFd::new(&alive, PollFlags::IN)];
    if poll(&mut fds, Some(&rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 })).is_ok_and(|n| n > 0) {
        std::process::exit(1)
    }
    if let Err(err) = ids.map_self() {
        fail(&format!("bwrap: setting up uid map: {}", strerror(&err)))
    }
    let here = std::env::current_dir().unwrap_or_else(|_| request.cwd.clone());
    if let Err(err) = plan.apply() {
        fail(&format!("rcodex sandbox: {err}"))
    }
    // The working directory was entered through the old mounts; enter it again through the new ones.
    if let Err(err) = std::env::set_current_dir(&here) {
        fail(&format!("rcodex sandbox: entering {}: {err}", here.display()))
    }
    let _ = rustix::process::setsid();
    let _ = rustix::thread::set_name(c"codex");
    let filter = super::seccomp::filter(request.policy.network_access())
        .unwrap_or_else(|err| fail(&format!("rcodex sandbox: seccomp: {err}")));
    // SAFETY: this process has a single thread (the launcher starts none), so the child may do anything.
    match unsafe { libc::fork() } {
        -1 => fail(&format!("rcodex sandbox: fork: {}", io::Error::last_os_error())),
        0 => {
            Signals::unblock_all();
            if let Err(err) =
                drop_privileges().and_then(|()| seccompiler::apply_filter(&filter).map_err(|e| e.to_string()))
            {
                fail(&format!("rcodex sandbox: {err}"))
            }
            super::exec_or_exit(&request.argv)
        }
        command => {
            let status = signals.supervise(command);
            std::process::exit(if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            })
        }
    }
}

/// Empties every capability set, the bounding set first (it needs CAP_SETPCAP), and checks they are empty.
fn drop_privileges() -> Result<(), String> {
    for cap in 0.. {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(format!("dropping capability {cap} from the bounding set: {err}"));
        }
    }
    rustix::thread::clear_ambient_capability_set().map_err(|e| format!("clearing ambient capabilities: {e}"))?;
    let empty = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    rustix::thread::set_capabilities(None, empty).map_err(|e| format!("dropping capabilities: {e}"))?;
    match rustix::thread::capabilities(None) {
        Ok(sets) if sets == empty => Ok(()),
        _ => Err("capabilities remain after dropping them".into()),
    }
}

/// The user and group the launcher runs as, which the sandbox maps to themselves.
#[derive(Clone, Copy)]
struct HostIds {
    uid: u32,
    gid: u32,
}

impl HostIds {
    fn current() -> Self {
        HostIds { uid: rustix::process::geteuid().as_raw(), gid: rustix::process::getegid().as_raw() }
    }

    /// Writes this process's own maps, as a process may in the user namespace it just entered.
    fn map_self(self) -> io::Result<()> {
        std::fs::write("/proc/self/setgroups", "deny")?;
        std::fs::write("/proc/self/uid_map", format!("{0} {0} 1", self.uid))?;
        std::fs::write("/proc/self/gid_map", format!("{0} {0} 1", self.gid))
    }
}

/// Forks a child into new user, mount and PID namespaces (and network, if asked); 0 in the child.
fn clone_into_namespaces(new_network: bool) -> io::Result<libc::pid_t> {
    let mut flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::SIGCHLD;
    if new_network {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: without CLONE_VM this is fork with namespace flags; the launcher is single-threaded.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 { Err(io::Error::last_os_error()) } else { Ok(pid as libc::pid_t) }
}

/// What bubblewrap says when it cannot create its namespaces; upstream shows the model these words.
fn namespace_failure(err: io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EINVAL) => "Creating new namespace failed, likely because the kernel does not support user \
                               namespaces.  bwrap must be installed setuid on such systems."
            .to_string(),
        Some(libc::EPERM) if rustix::process::geteuid().as_raw() != 0 => {
            "No permissions to create a new namespace, likely because the kernel does not allow non-privileged \
             user namespaces. On e.g. debian this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'."
                .to_string()
        }
        Some(libc::ENOSPC) => {
            "Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)"
                .to_string()
        }
        _ => format!("Creating new namespace failed: {}", strerror(&err)),
    }
}

/// The C library's text for an error, without Rust's " (os error N)".
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// The signals a supervisor forwards, and SIGCHLD, blocked so that it can wait for them one at a time.
struct Signals(libc::sigset_t);

const FORWARDED: [libc::c_int; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

impl Signals {
    fn block() -> Self {
        // SAFETY: sigset_t is plain data, initialized by sigemptyset before use.
        unsafe {
            let mut set = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in FORWARDED.into_iter().chain([libc::SIGCHLD]) {
                libc::sigaddset(&mut set, signal);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Signals(set)
        }
    }

    /// Clears the signal mask, which `exec` keeps, for the command.
    fn unblock_all() {
        // SAFETY: sigset_t is plain data, initialized by sigemptyset before use.
        unsafe {
            let mut set = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        }
    }

    /// Forwards signals to `child` and reaps every child until `child` ends; its wait status.
    fn supervise(&self, child: libc::pid_t) -> libc::c_int {
        loop {
            let mut signal = 0;
            // SAFETY: a valid, initialized set and an out parameter.
            if unsafe { libc::sigwait(&self.0, &mut signal) } != 0 {
                continue;
            }
            if signal != libc::SIGCHLD {
                // SAFETY: kill with integer arguments.
                unsafe { libc::kill(child, signal) };
                continue;
            }
            loop {
                let mut status = 0;
                // SAFETY: an out parameter.
                match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
                    pid if pid == child => return status,
                    pid if pid > 0 => {}
                    _ => break,
                }
            }
        }
    }
}

fn wait_for(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    // SAFETY: an out parameter.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    status
}

/// Ends this process as the wait `status` says its child ended: the same exit code, or the same signal.
fn exit_like(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: restoring the default action, unblocking and raising a signal on this process.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            let mut set = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(signal);
        }
        std::process::exit(128 + signal)
    }
    std::process::exit(libc::WEXITSTATUS(status))
}
