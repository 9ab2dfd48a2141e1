//! The cost of running `true` through the engine, from the call to the formatted output, against spawning it bare.
//!
//!     cargo bench -p rcodex-exec [-- ITERATIONS]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rcodex_exec::tool::{self, ToolContext};
use rcodex_exec::{ExecManager, ExecRequest};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!("{name:<48} median {:>7.3} ms   p10 {:>7.3} ms   p90 {:>7.3} ms", at(0.5), at(0.1), at(0.9));
}

async fn measure<F: std::future::Future<Output = ()>>(iterations: usize, mut run: impl FnMut() -> F) -> Vec<Duration> {
    // A few runs first, so that caches and the runtime's threads are warm.
    for _ in 0..5 {
        run().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        run().await;
        samples.push(start.elapsed());
    }
    samples
}

fn main() {
    let iterations = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cwd = std::env::temp_dir();
    let env = HashMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    let manager = ExecManager::new();
    let context = ToolContext::new(&cwd, env.clone());
    println!("{iterations} iterations each");
    runtime.block_on(async {
        let bare = measure(iterations, || async {
            let status = std::process::Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        })
        .await;
        report("spawn and wait /bin/true (no engine)", bare);

        let direct = measure(iterations, || async {
            let request = ExecRequest::new(vec!["/bin/true".into()], &cwd);
            let output = manager.exec_command(request).await.unwrap();
            assert_eq!(output.exit_code, Some(0));
            std::hint::black_box(output.to_model_text());
        })
        .await;
        report("engine: argv [/bin/true], pipes", direct);

        let mut pty_request = ExecRequest::new(vec!["/bin/true".into()], &cwd);
        pty_request.tty = true;
        let pty = measure(iterations, || async {
            let output = manager.exec_command(pty_request.clone()).await.unwrap();
            assert_eq!(output.exit_code, Some(0));
            std::hint::black_box(output.to_model_text());
        })
        .await;
        report("engine: argv [/bin/true], PTY", pty);

        for (name, arguments) in [
            ("tool: exec_command {cmd: true, login: false}", r#"{"cmd":"true","login":false}"#),
            ("tool: exec_command {cmd: true} (bash -lc)", r#"{"cmd":"true"}"#),
        ] {
            let samples = measure(iterations, || async {
                let output = tool::exec_command(&manager, arguments, &context, "bench").await.unwrap();
                assert_eq!(output.exit_code, Some(0));
                std::hint::black_box(output.to_model_text());
            })
            .await;
            report(name, samples);
        }
    });
}
