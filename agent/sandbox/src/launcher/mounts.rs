//! The file system the command sees, built the way Codex 0.169.0's bubblewrap builds it (its mount table is in
//! `tests/observed`): everything read-only, `nosuid` and `nodev`; a fresh `/dev` with the usual device nodes
//! and a writable `/dev/shm`; the writable roots mounted read-write over that; their carve-outs read-only again
//! (a missing one as an empty read-only directory); a fresh `/proc`.
//!
//! Because read-only mounts are what refuses writes, the command gets EROFS ("Read-only file system") as under
//! upstream, and a rename or hard link from a writable root to anywhere else gets EXDEV, mounts being distinct.
//! Root is no exception: mount flags bind every user, and the command has no capability to remount.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::mount::{
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags, mount, mount_change, move_mount, open_tree,
};

use super::placeholders::registry_dir;
use crate::policy::{SandboxPolicy, normalize};

/// How a carve-out is made read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Protect {
    /// It exists: mounted read-only over itself.
    Existing(PathBuf),
    /// It is missing: an empty read-only directory is mounted on a placeholder created for it.
    Missing(PathBuf),
    /// It is a symlink, which the command could replace: an empty read-only file is mounted on the link itself.
    Symlink(PathBuf),
}

impl Protect {
    fn path(&self) -> &Path {
        match self {
            Protect::Existing(path) | Protect::Missing(path) | Protect::Symlink(path) => path,
        }
    }
}

/// The mounts of one sandbox, computed on the host before entering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Existing writable roots, resolved through symlinks, shallowest first.
    pub writable: Vec<PathBuf>,
    /// Carve-outs inside the writable roots (and the placeholder registry when it is in one), shallowest first.
    pub protect: Vec<Protect>,
}

impl Plan {
    pub(crate) fn new(policy: &SandboxPolicy, cwd: &Path, tmpdir: Option<&std::ffi::OsStr>) -> Plan {
        let roots = policy.writable_roots_with_tmpdir(cwd, tmpdir);
        let mut writable = Vec::new();
        let mut candidates = Vec::new();
        for root in &roots {
            let Ok(real) = root.root.canonicalize() else { continue };
            if !real.is_dir() {
                continue;
            }
            for sub in &root.read_only_subpaths {
                // Carve-outs are named through the root as given; mount them where the root really is.
                candidates.push(match sub.strip_prefix(&root.root) {
                    Ok(rest) => real.join(rest),
                    Err(_) => sub.canonicalize().unwrap_or_else(|_| sub.clone()),
                });
            }
            writable.push(real);
        }
        candidates.push(registry_dir());
        let mut protect: Vec<Protect> = candidates
            .into_iter()
            .map(|path| normalize(&path))
            .filter(|path| writable.iter().any(|root| path.starts_with(root) && path != root))
            .map(|path| match path.symlink_metadata() {
                Err(_) => Protect::Missing(path),
                Ok(meta) if meta.file_type().is_symlink() => Protect::Symlink(path),
                Ok(_) => Protect::Existing(path),
            })
            .collect();
        writable.sort_by_key(|path| path.components().count());
        writable.dedup();
        protect.sort_by_key(|p| p.path().components().count());
        protect.dedup();
        Plan { writable, protect }
    }

    /// The carve-outs that may need a placeholder on the host: the missing ones, and the existing ones, which may be
    /// another sandbox's placeholder that this one must also hold (see [`super::placeholders`]).
    pub(crate) fn placeholder_candidates(&self) -> Vec<PathBuf> {
        let candidates = self.protect.iter().filter_map(|p| match p {
            Protect::Missing(path) | Protect::Existing(path) => Some(path),
            Protect::Symlink(_) => None,
        });
        candidates.cloned().collect()
    }

    /// Builds the file system view. Runs inside the new user and mount namespaces, as PID 1 of the new PID
    /// namespace (for `/proc`), with the placeholders created.
    pub(crate) fn apply(&self) -> Result<(), String> {
        let step = |what: &str, path: &Path, err: io::Error| format!("{what} {}: {err}", path.display());
        make_private().map_err(|e| step("making private", Path::new("/"), e))?;

        // Copies of what must stay writable (and the device nodes) are taken before the tree turns read-only.
        let clone = |path: &Path| clone_tree(path).map_err(|e| step("cloning", path, e));
        let writable = self.writable.iter().map(|root| Ok((clone(root)?, root))).collect::<Result<Vec<_>, String>>()?;
        let mut protect = Vec::new();
        for target in &self.protect {
            let source = match target {
                Protect::Existing(path) => Some(clone(path)?),
                Protect::Symlink(_) => Some(clone(Path::new("/dev/null"))?),
                Protect::Missing(_) => None,
            };
            protect.push((source, target));
        }
        let devices = DEVICES
            .iter()
            .filter(|name| Path::new("/dev").join(name).exists())
            .map(|name| Ok((clone(&Path::new("/dev").join(name))?, *name)))
            .collect::<Result<Vec<_>, String>>()?;

        make_root_read_only().map_err(|e| step("making read-only", Path::new("/"), e))?;
        make_dev(devices).map_err(|e| step("setting up", Path::new("/dev"), e))?;
        for (tree, root) in writable {
            set_attributes(tree.as_fd(), Path::new(""), libc::AT_EMPTY_PATH | libc::AT_RECURSIVE, NOSUID | NODEV)
                .and_then(|()| attach(&tree, root))
                .map_err(|e| step("mounting", root, e))?;
        }
        for (source, target) in protect {
            let path = target.path();
            match source {
                Some(tree) => read_only(&tree).and_then(|()| attach(&tree, path)),
                None => empty_read_only_dir(path),
            }
            .map_err(|e| step("protecting", path, e))?;
        }
        make_proc();
        Ok(())
    }
}

/// Whether this kernel can build the view: the steps of [`Plan::apply`] that need its newer interfaces, in a
/// throwaway namespace.
pub(crate) fn probe() -> io::Result<()> {
    make_private()?;
    make_root_read_only()
}

/// Keeps this namespace's mounts from propagating to or from the host's.
fn make_private() -> io::Result<()> {
    Ok(mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?)
}

fn make_root_read_only() -> io::Result<()> {
    set_attributes(CWD, Path::new("/"), libc::AT_RECURSIVE, READ_ONLY)
}

/// `MOUNT_ATTR_*` flags. Every mount bubblewrap makes is `nosuid`, and `nodev` but for the device nodes.
const RDONLY: u64 = 0x1;
const NOSUID: u64 = 0x2;
const NODEV: u64 = 0x4;
const READ_ONLY: u64 = RDONLY | NOSUID | NODEV;

/// The device nodes of a bubblewrap `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

fn clone_tree(path: &Path) -> io::Result<OwnedFd> {
    Ok(open_tree(
        CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_RECURSIVE,
    )?)
}

/// Makes a detached tree read-only, `nosuid` and `nodev`, all of it.
fn read_only(tree: &OwnedFd) -> io::Result<()> {
    set_attributes(tree.as_fd(), Path::new(""), libc::AT_EMPTY_PATH | libc::AT_RECURSIVE, READ_ONLY)
}

/// Mounts a detached tree at `path`. A symlink at `path` is not followed: the mount covers the link itself.
fn attach(tree: &OwnedFd, path: &Path) -> io::Result<()> {
    Ok(move_mount(tree, "", CWD, path, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?)
}

/// `mount_setattr(2)`, which no crate wraps: sets mount attributes, recursively with `AT_RECURSIVE`.
fn set_attributes(dir: BorrowedFd<'_>, path: &Path, flags: libc::c_int, attr_set: u64) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let path = CString::new(path.as_os_str().as_bytes())?;
    let attr = MountAttr { attr_set, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: a valid descriptor, a NUL-terminated path and an attribute struct of the size passed, all alive
    // for the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&dir),
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn empty_read_only_dir(path: &Path) -> io::Result<()> {
    mount("tmpfs", path, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, c"mode=555")?;
    set_attributes(CWD, path, 0, READ_ONLY)
}

/// A `/dev` like bubblewrap's `--dev`: a tmpfs with the usual nodes, `shm`, a private `pts` and the symlinks.
fn make_dev(devices: Vec<(OwnedFd, &str)>) -> io::Result<()> {
    let dev = Path::new("/dev");
    mount("tmpfs", dev, "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, c"mode=755")?;
    for (tree, name) in devices {
        let node = dev.join(name);
        std::fs::File::create(&node)?;
        set_attributes(tree.as_fd(), Path::new(""), libc::AT_EMPTY_PATH, NOSUID)?;
        attach(&tree, &node)?;
    }
    std::fs::DirBuilder::new().mode(0o755).create(dev.join("pts"))?;
    let shm = dev.join("shm");
    std::fs::create_dir(&shm)?;
    std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o1777))?;
    mount(
        "devpts",
        dev.join("pts"),
        "devpts",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        c"newinstance,ptmxmode=0666,mode=620",
    )?;
    let links = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ];
    for (name, target) in links {
        symlink(target, dev.join(name))?;
    }
    Ok(())
}

/// A fresh `/proc` for the new PID namespace, with bubblewrap's read-only covers over what a namespaced root
/// could still write. Some kernels refuse the mount (a `/proc` with locked mounts over parts of it); the host's,
/// read-only, then stays, as upstream falls back to.
fn make_proc() {
    if mount("proc", "/proc", "proc", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, None).is_err() {
        return;
    }
    for name in ["sys", "sysrq-trigger", "irq", "bus"] {
        let path = Path::new("/proc").join(name);
        if rustix::fs::access(&path, rustix::fs::Access::WRITE_OK).is_ok() {
            let _ = clone_tree(&path).and_then(|tree| read_only(&tree).and_then(|()| attach(&tree, &path)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::WorkspaceWriteOptions;

    #[test]
    fn the_plan_resolves_roots_and_classifies_carve_outs() {
        let base = tempfile::tempdir().unwrap();
        let real = base.path().canonicalize().unwrap().join("real");
        std::fs::create_dir_all(real.join(".git")).unwrap();
        std::fs::create_dir(base.path().join("elsewhere")).unwrap();
        symlink(base.path().join("elsewhere"), real.join(".codex")).unwrap();
        symlink(&real, base.path().join("alias")).unwrap();
        let policy = SandboxPolicy::WorkspaceWrite(WorkspaceWriteOptions {
            writable_roots: vec![base.path().join("missing-root")],
            exclude_slash_tmp: true,
            ..Default::default()
        });

        let plan = Plan::new(&policy, &base.path().join("alias"), None);
        assert_eq!(plan.writable, std::slice::from_ref(&real), "the missing root is skipped, the alias resolved");
        assert_eq!(
            plan.protect,
            [
                Protect::Existing(real.join(".git")),
                Protect::Missing(real.join(".agents")),
                Protect::Symlink(real.join(".codex")),
                Protect::Missing(real.join(".aws")),
            ]
        );
        assert_eq!(plan.placeholder_candidates(), [real.join(".git"), real.join(".agents"), real.join(".aws")]);
    }

    #[test]
    fn read_only_has_nothing_to_mount_writable() {
        let plan = Plan::new(&SandboxPolicy::ReadOnly, Path::new("/"), None);
        assert!(plan.writable.is_empty() && plan.protect.is_empty());
    }
}
