//! A fixed workload to profile spawning or stopping under a supervisor or bare tokio, repeated
//! so a sampling profiler sees enough of it. `PERF_CTL` names perf's control fifo: only the
//! measured part is sampled.
//!
//!     stop-profile [spawn|stop] [ours|bare] [tasks] [rounds]

use std::io::Write;
use std::time::{Duration, Instant};

use taskmon::kinds::{Kind, Params};
use taskmon::{JournalConfig, Supervisor, TaskDef};
use tokio_util::sync::CancellationToken;

/// CPU time of the whole process so far (every thread's).
fn cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is handed.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn perf(cmd: &str) {
    if let Ok(path) = std::env::var("PERF_CTL") {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        writeln!(f, "{cmd}").unwrap();
        f.flush().unwrap();
    }
    CPU.with(|c| {
        if cmd == "enable" {
            c.set(c.get().wrapping_sub(cpu().as_nanos() as u64));
        } else {
            c.set(c.get().wrapping_add(cpu().as_nanos() as u64));
        }
    });
}

thread_local! {
    /// CPU time inside the measured parts.
    static CPU: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i);
    let what = arg(1).unwrap_or("stop".into());
    let which = arg(2).unwrap_or("ours".into());
    let n: usize = arg(3).map(|s| s.parse().unwrap()).unwrap_or(10_000);
    let rounds: usize = arg(4).map(|s| s.parse().unwrap()).unwrap_or(20);
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        total += rt.block_on(async {
            match (what.as_str(), which.as_str()) {
                ("spawn", "bare") => {
                    let names: Vec<String> = (0..n).map(|i| format!("task-{i}")).collect();
                    let mut tasks = Vec::with_capacity(n);
                    perf("enable");
                    let s = Instant::now();
                    for name in names {
                        let token = CancellationToken::new();
                        let c = token.clone();
                        let task = tokio::spawn(async move { c.cancelled().await });
                        tasks.push((name, token, task));
                    }
                    let e = s.elapsed();
                    perf("disable");
                    for (_, t, _) in &tasks {
                        t.cancel();
                    }
                    for (_, _, t) in tasks {
                        t.await.unwrap();
                    }
                    e
                }
                ("spawn", _) => {
                    let sup = Supervisor::new().unwrap();
                    let names: Vec<String> = (0..n).map(|i| format!("task-{i}")).collect();
                    perf("enable");
                    let s = Instant::now();
                    for name in names {
                        let def = TaskDef::new(name, |ctx| async move {
                            ctx.token().clone().cancelled().await;
                        })
                        .journal(JournalConfig::OFF);
                        sup.spawn(def).unwrap();
                    }
                    let e = s.elapsed();
                    perf("disable");
                    sup.shutdown(Duration::from_secs(5)).await;
                    e
                }
                (_, "bare") => {
                    let tasks: Vec<_> = (0..n)
                        .map(|_| {
                            let token = CancellationToken::new();
                            let c = token.clone();
                            let t = tokio::spawn(async move {
                                let mut timer = tokio::time::interval(Duration::from_millis(100));
                                loop {
                                    tokio::select! { biased; _ = c.cancelled() => break, _ = timer.tick() => {} }
                                }
                            });
                            (token, t)
                        })
                        .collect();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    perf("enable");
                    let s = Instant::now();
                    for (t, _) in &tasks {
                        t.cancel();
                    }
                    for (_, t) in tasks {
                        t.await.unwrap();
                    }
                    let e = s.elapsed();
                    perf("disable");
                    e
                }
                _ => {
                    let sup = Supervisor::new().unwrap();
                    let p = Params {
                        journal: false,
                        ..Params::default()
                    };
                    for i in 0..n {
                        sup.spawn(Kind::Select.task(format!("t{i}"), &p)).unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    perf("enable");
                    let s = Instant::now();
                    sup.shutdown(Duration::from_secs(30)).await;
                    let e = s.elapsed();
                    perf("disable");
                    e
                }
            }
        });
    }
    let cpu = Duration::from_nanos(CPU.with(|c| c.get()));
    println!(
        "{which} {what} {n}: {:?} a round, {:?} CPU",
        total / rounds as u32,
        cpu / rounds as u32
    );
}
