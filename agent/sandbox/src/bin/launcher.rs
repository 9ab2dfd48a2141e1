//! The sandbox launcher as a program of its own, for the tests: `rcodex-sandbox-launcher sandbox-launcher ...` is
//! the command line [`rcodex_sandbox::command_argv`] makes with this program as the launcher; rcodex reaches the
//! same entry point through its hidden subcommand.

fn main() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(rcodex_sandbox::LAUNCHER_SUBCOMMAND)) {
        eprintln!("usage: rcodex-sandbox-launcher {} ARGS...", rcodex_sandbox::LAUNCHER_SUBCOMMAND);
        std::process::exit(2)
    }
    rcodex_sandbox::run_launcher(args)
}
