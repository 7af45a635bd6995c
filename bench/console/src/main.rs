//! The ordinary `select!`/sleep loop of 10,000 tasks three ways: bare tokio, under taskmon's
//! `Supervisor` (poll accounting on) and under tokio-console's `console-subscriber`, each in a
//! process of its own (a subscriber is for the whole process), alternated, three rounds.
//! Prints ticks per CPU-second, then the time to spawn the tasks, to stop and join them all, and
//! each process's peak memory, with the ratios to bare tokio: `cargo run --release` here.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const TASKS: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
const SIDES: [&str; 3] = ["bare", "taskmon", "console"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, side, every] = &args[..] {
        let every = Duration::from_millis(every.parse().expect("a period in ms"));
        let m = child(side, every);
        println!(
            "{} {} {} {} {}",
            m.ticks,
            m.cpu.as_secs_f64(),
            m.spawn.as_secs_f64(),
            m.stop.as_secs_f64(),
            peak_kib()
        );
        return;
    }
    println!(
        "{:<36} {:>12} {:>12} {:>12}  {:>20}",
        "ticks/CPU-s, 10k tasks", "bare tokio", "taskmon", "console", "console / bare min/med/max"
    );
    // Per figure, per side, per round; the 10 ms rounds' spawn, stop and memory figures too.
    let mut others: [[Vec<f64>; 3]; 3] = Default::default();
    for every in [1, 10] {
        let mut per_cpu: [Vec<f64>; 3] = Default::default();
        for round in 0..ROUNDS {
            for i in 0..SIDES.len() {
                let side = (round + i) % SIDES.len();
                let m = measure(SIDES[side], every);
                per_cpu[side].push(m[0] / m[1]);
                if every == 10 {
                    for (figure, value) in m[2..].iter().enumerate() {
                        others[figure][side].push(*value);
                    }
                }
            }
        }
        print_row(&format!("sleep {every}ms loop"), &per_cpu, |v| {
            format!("{v:.0}")
        });
    }
    println!();
    println!(
        "{:<36} {:>12} {:>12} {:>12}  {:>20}",
        "10k tasks, the 10 ms rounds",
        "bare tokio",
        "taskmon",
        "console",
        "console / bare min/med/max"
    );
    let ms = |v: f64| format!("{:.1} ms", v * 1000.0);
    print_row("spawn all", &others[0], ms);
    print_row("stop all + join", &others[1], ms);
    print_row("peak RSS", &others[2], |kib| {
        format!("{:.1} MiB", kib / 1024.0)
    });
}

/// A figure's medians per side, console's ratios to bare tokio, and under them taskmon's.
fn print_row(name: &str, figures: &[Vec<f64>; 3], show: impl Fn(f64) -> String) {
    let ratios = |side: usize| -> Vec<f64> {
        let mut r: Vec<f64> = (0..ROUNDS)
            .map(|i| figures[side][i] / figures[0][i])
            .collect();
        r.sort_by(f64::total_cmp);
        r
    };
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ours, theirs) = (ratios(1), ratios(2));
    println!(
        "{:<36} {:>12} {:>12} {:>12}  {:>6.2} / {:.2} / {:.2}",
        name,
        show(median(&figures[0])),
        show(median(&figures[1])),
        show(median(&figures[2])),
        theirs[0],
        theirs[1],
        theirs[2],
    );
    println!(
        "{:<36} {:>12} {:>12} {:>12}  {:>6.2} / {:.2} / {:.2}  (taskmon / bare)",
        "", "", "", "", ours[0], ours[1], ours[2]
    );
}

/// Runs one side in a child process: its ticks, CPU seconds, seconds to spawn, seconds to stop
/// and join, peak KiB.
fn measure(side: &str, every: u64) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([side, &every.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{side}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect()
}

/// What one side's process measured.
struct Measured {
    ticks: u64,
    cpu: Duration,
    spawn: Duration,
    stop: Duration,
}

fn child(side: &str, every: Duration) -> Measured {
    if side == "console" {
        // Its server listens on 127.0.0.1:6669, as `tokio-console` expects.
        console_subscriber::init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let start = Arc::new(Notify::new());
        let counters: Vec<_> = (0..TASKS).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let sup = Supervisor::builder().build().unwrap();
        let mut tokens = Vec::new();
        let mut handles = Vec::new();
        let spawning = Instant::now();
        for counter in &counters {
            let (counter, start, token) =
                (counter.clone(), start.clone(), CancellationToken::new());
            if side == "taskmon" {
                let def = TaskDef::new("t", move |mut ctx| async move {
                    let token = ctx.token().clone();
                    run_loop(every, token, start, || {
                        ctx.tick();
                    })
                    .await;
                })
                .journal(JournalConfig::OFF);
                sup.spawn(def).unwrap();
            } else {
                tokens.push(token.clone());
                handles.push(tokio::spawn(run_loop(every, token, start, move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                })));
            }
        }
        let spawn = spawning.elapsed();
        let total = || -> u64 {
            if side == "taskmon" {
                sup.tick_counts().iter().sum()
            } else {
                counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
            }
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        start.notify_waiters();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (ticks, cpu) = (total(), process_cpu());
        tokio::time::sleep(WINDOW).await;
        let (ticks, cpu) = (total() - ticks, process_cpu() - cpu);
        let stopping = Instant::now();
        for token in tokens {
            token.cancel();
        }
        for handle in handles {
            handle.await.unwrap();
        }
        sup.shutdown(Duration::from_secs(5)).await;
        Measured {
            ticks,
            cpu,
            spawn,
            stop: stopping.elapsed(),
        }
    })
}

/// This process's peak resident memory, from /proc.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The loop people write: `select!` on the token and a fresh `sleep` each tick.
async fn run_loop(
    every: Duration,
    token: CancellationToken,
    start: Arc<Notify>,
    mut tick: impl FnMut(),
) {
    start.notified().await;
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(every) => tick(),
        }
    }
}

/// CPU time of the whole process, every thread (console's own included).
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes only the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}
