//! The seccomp filter of sandboxed commands, the one Codex 0.169.0 installs (observed call by call in
//! `tests/observed`): denied calls fail with EPERM.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// Always denied: io_uring would bypass the other rules.
const ALWAYS: [libc::c_long; 3] = [libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register];

/// Denied when the network is closed. `recvfrom`, `recvmsg` and `sendmsg` stay allowed, as upstream allows them,
/// so that local socket pairs keep working.
const CLOSED_NETWORK: [libc::c_long; 16] = [
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_getpeername,
    libc::SYS_getsockname,
    libc::SYS_shutdown,
    libc::SYS_sendto,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
];

/// The filter for a command with the network open or closed. With it closed, `socket` and `socketpair` are
/// allowed for `AF_UNIX` only.
pub(crate) fn filter(network: bool) -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALWAYS.iter().map(|nr| (*nr, Vec::new())).collect();
    if !network {
        rules.extend(CLOSED_NETWORK.iter().map(|nr| (*nr, Vec::new())));
        let not_unix = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, libc::AF_UNIX as u64)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(|e| e.to_string())?;
        rules.insert(libc::SYS_socket, vec![not_unix.clone()]);
        rules.insert(libc::SYS_socketpair, vec![not_unix]);
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filters_build_and_the_closed_one_is_larger() {
        let open = filter(true).unwrap();
        let closed = filter(false).unwrap();
        assert!(!open.is_empty());
        assert!(closed.len() > open.len(), "{} <= {}", closed.len(), open.len());
    }
}
