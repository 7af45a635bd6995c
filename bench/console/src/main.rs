//! The ordinary `select!`/sleep loop of 10,000 tasks three ways: bare tokio, under taskmon's
//! `Supervisor` (poll accounting on) and under tokio-console's `console-subscriber`, each in a
//! process of its own (a subscriber is for the whole process), alternated, three rounds.
//! Prints ticks per CPU-second and the ratio to bare tokio: `cargo run --release` here.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
        let (ticks, cpu) = child(side, every);
        println!("{ticks} {}", cpu.as_secs_f64());
        return;
    }
    println!(
        "{:<36} {:>12} {:>12} {:>12}  {:>20}",
        "ticks/CPU-s, 10k tasks", "bare tokio", "taskmon", "console", "console / bare min/med/max"
    );
    for every in [1, 10] {
        let mut per_cpu: [Vec<f64>; 3] = Default::default();
        for round in 0..ROUNDS {
            for i in 0..SIDES.len() {
                let side = (round + i) % SIDES.len();
                per_cpu[side].push(measure(SIDES[side], every));
            }
        }
        let ratios = |side: usize| -> Vec<f64> {
            let mut r: Vec<f64> = (0..ROUNDS)
                .map(|i| per_cpu[side][i] / per_cpu[0][i])
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
            "{:<36} {:>12.0} {:>12.0} {:>12.0}  {:>6.2} / {:.2} / {:.2}",
            format!("sleep {every}ms loop"),
            median(&per_cpu[0]),
            median(&per_cpu[1]),
            median(&per_cpu[2]),
            theirs[0],
            theirs[1],
            theirs[2],
        );
        println!(
            "{:<36} {:>12} {:>12} {:>12}  {:>6.2} / {:.2} / {:.2}  (taskmon / bare)",
            "", "", "", "", ours[0], ours[1], ours[2]
        );
    }
}

/// Runs one side in a child process; its ticks per CPU-second.
fn measure(side: &str, every: u64) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([side, &every.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{side}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (ticks, cpu) = text.trim().split_once(' ').unwrap();
    ticks.parse::<f64>().unwrap() / cpu.parse::<f64>().unwrap()
}

fn child(side: &str, every: Duration) -> (u64, Duration) {
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
        let measured = (total() - ticks, process_cpu() - cpu);
        for token in tokens {
            token.cancel();
        }
        for handle in handles {
            handle.await.unwrap();
        }
        sup.shutdown(Duration::from_secs(5)).await;
        measured
    })
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
