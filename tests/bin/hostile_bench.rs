//! What hostile plugins cost the host, measured rather than asserted (tests only check
//! that limits hold):
//!
//! 1. Deadline overrun: each way of waiting or spinning (busy loop, sleeps, clock polling,
//!    host-call spins) rendered `runs` times under a 100 ms deadline; the time past the
//!    deadline until the render returned, median and worst.
//! 2. Memory: `threads` renders at once, each filling memory a megabyte at a time (every
//!    page written) until refused, then each trying to take 1 GiB at once, then to build a
//!    100 MiB output, under a 64 MiB cap; the process's peak RSS (VmHWM) over its baseline
//!    after loading, against threads × cap.
//!
//! `make bench-hostile`, or `cargo run -p berth-tests --bin hostile-bench -- [runs] [threads]`
//! (the dev profile builds dependencies optimised, so wasmtime runs at full speed).

use std::time::{Duration, Instant};

use berth::contract::RenderInput;
use berth::sandbox::{EngineSettings, Limits, Sandbox};

fn input(cluster: &str) -> RenderInput {
    berth_tests::hostile_input(cluster)
}

/// Peak and current resident set size of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let wasm_path = berth_tests::workspace().join("target/test-plugins/berth_test_hostile.wasm");
    let wasm = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e} (run `make test-plugins`)", wasm_path.display()));
    let sandbox = Sandbox::new(EngineSettings::default(), None).unwrap_or_else(|e| panic!("{e}"));

    let deadline = Duration::from_millis(100);
    let plugin = sandbox.load("hostile", &wasm, None, Limits { deadline, ..Limits::default() }).unwrap_or_else(|e| panic!("{e}"));
    println!("deadline overrun ({runs} renders each, deadline {deadline:?}):");
    let mut worst_overall = Duration::ZERO;
    for case in ["loop", "sleep-forever", "sleep-loop", "busy-wait", "spin-stdin", "spin-stderr", "spin-clock"] {
        let mut overruns = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let result = plugin.render(&input(case));
            assert!(result.is_err(), "{case} rendered");
            overruns.push(started.elapsed().saturating_sub(deadline));
        }
        let worst = overruns.iter().max().copied().unwrap_or_default();
        worst_overall = worst_overall.max(worst);
        println!("  {case:<14} median {:>8.1?}  worst {:>8.1?}", median(overruns), worst);
    }
    println!("  worst overrun of all: {worst_overall:?}");

    let cap: u64 = 64 << 20;
    let limits = Limits { memory_bytes: cap, deadline: Duration::from_secs(10), ..Limits::default() };
    let plugin = sandbox.load("hostile", &wasm, None, limits).unwrap_or_else(|e| panic!("{e}"));
    // Warm up once so the baseline includes the code and the first pool slot.
    let _ = plugin.render(&input("good"));
    let (_, baseline) = rss_kib();
    for case in ["fill", "alloc", "huge"] {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let result = plugin.render(&input(case));
                    assert!(result.is_err(), "{case} rendered under a {cap}-byte cap");
                });
            }
        });
    }
    let (peak, now) = rss_kib();
    let over = peak.saturating_sub(baseline);
    let budget = threads as u64 * cap / 1024;
    println!("memory ({threads} concurrent renders of fill, then alloc, then huge, cap {} MiB each):", cap >> 20);
    println!("  baseline RSS {} MiB, peak RSS {} MiB, after {} MiB", baseline / 1024, peak / 1024, now / 1024);
    println!("  peak over baseline {} MiB = {:.2} x ({threads} x cap = {} MiB)", over / 1024, over as f64 / budget as f64, budget / 1024);
}
