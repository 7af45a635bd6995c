//! taskmon's performance against its targets, each measured against a baseline taken in the same
//! run. Prints a table; asserts nothing (these machines are shared and noisy).
//!
//!     cargo bench                         # everything (about a minute)
//!     cargo bench -- tick                 # only the benchmarks whose name contains `tick`

#[path = "../tests/support/pty.rs"]
mod pty;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use taskmon::app::App;
use taskmon::kinds::{Kind, Params};
use taskmon::{JournalConfig, Supervisor, TaskDef, ui};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

const TASKS: usize = 10_000;

/// `taskmon` as built for this package: without tokio's test-util.
const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon-measured");

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!(
        "{:<28} {:>14} {:>14} {:>9}  target",
        "benchmark", "taskmon", "baseline", "ratio"
    );
    if wanted("tick") {
        ticking();
    }
    if wanted("stop_all") {
        stop_all();
    }
    if wanted("frame") {
        frame();
    }
    if wanted("idle_cpu") {
        idle_cpu();
    }
    if wanted("memory") {
        memory();
    }
    if wanted("key_latency") {
        key_latency();
    }
}

fn row(name: &str, ours: String, baseline: String, ratio: Option<f64>, target: &str) {
    let ratio = ratio.map_or("-".to_string(), |r| format!("{r:.3}"));
    println!("{name:<28} {ours:>14} {baseline:>14} {ratio:>9}  {target}");
}

/// The loop both sides run: tick every millisecond until cancelled.
async fn tick_loop(
    token: CancellationToken,
    start: Arc<tokio::sync::Notify>,
    mut tick: impl FnMut(),
) {
    start.notified().await;
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    loop {
        tokio::select! {
            biased;
            _ = token.cancelled() => break,
            _ = timer.tick() => tick(),
        }
    }
}

/// 10,000 tasks ticking every millisecond for 5 s: total ticks, bare tokio vs supervised.
fn ticking() {
    // Alternate the two sides so neither always runs on a cold or warm process.
    let (mut bare, mut supervised) = (0, 0);
    for _ in 0..2 {
        bare += bare_ticks();
        supervised += supervised_ticks();
    }
    row(
        "ticking 10k tasks @1ms 5s",
        format!("{} ticks", supervised / 2),
        format!("{} ticks", bare / 2),
        Some(supervised as f64 / bare as f64),
        ">= 0.95 of bare",
    );
}

const TICK_FOR: Duration = Duration::from_secs(5);

fn bare_ticks() -> u64 {
    let run_for = TICK_FOR;
    runtime().block_on(async {
        let start = Arc::new(tokio::sync::Notify::new());
        // One token per task, as the supervisor gives each task its own.
        let tokens: Vec<_> = (0..TASKS).map(|_| CancellationToken::new()).collect();
        let counters: Vec<_> = (0..TASKS).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let handles: Vec<_> = counters
            .iter()
            .zip(&tokens)
            .map(|(c, token)| {
                let c = c.clone();
                tokio::spawn(tick_loop(token.clone(), start.clone(), move || {
                    c.fetch_add(1, Ordering::Relaxed);
                }))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        start.notify_waiters();
        tokio::time::sleep(run_for).await;
        let total: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        tokens.iter().for_each(CancellationToken::cancel);
        for h in handles {
            h.await.unwrap();
        }
        total
    })
}

fn supervised_ticks() -> u64 {
    let run_for = TICK_FOR;
    runtime().block_on(async {
        let sup = Supervisor::new().unwrap();
        let start = Arc::new(tokio::sync::Notify::new());
        for i in 0..TASKS {
            let start = start.clone();
            let def = TaskDef::new(format!("t{i}"), move |mut ctx| async move {
                let token = ctx.token().clone();
                tick_loop(token, start, || {
                    ctx.tick();
                })
                .await;
            })
            .journal(JournalConfig::OFF);
            sup.spawn(def).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        start.notify_waiters();
        tokio::time::sleep(run_for).await;
        let total: u64 = sup.snapshot().iter().map(|s| s.ledger.ticks).sum();
        sup.shutdown(Duration::from_secs(5)).await;
        total
    })
}

/// Stop 10,000 idle `select` tasks and join them: cancel-and-join on bare tokio vs the
/// supervisor's `shutdown` (stop all, escalation armed, every join recorded).
fn stop_all() {
    let rounds = 9;
    let mut bare = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..rounds {
        bare.push(runtime().block_on(async {
            let tokens: Vec<_> = (0..TASKS).map(|_| CancellationToken::new()).collect();
            let handles: Vec<_> = tokens
                .iter()
                .map(|token| {
                    let token = token.clone();
                    tokio::spawn(async move {
                        let mut timer = tokio::time::interval(Duration::from_millis(100));
                        loop {
                            tokio::select! {
                                _ = token.cancelled() => break,
                                _ = timer.tick() => { black_box(()); }
                            }
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let t = Instant::now();
            for token in &tokens {
                token.cancel();
            }
            for h in handles {
                h.await.unwrap();
            }
            t.elapsed()
        }));
        ours.push(runtime().block_on(async {
            let sup = Supervisor::new().unwrap();
            let p = Params {
                journal: false,
                ..Params::default()
            };
            for i in 0..TASKS {
                sup.spawn(Kind::Select.task(format!("t{i}"), &p)).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let t = Instant::now();
            sup.shutdown(Duration::from_secs(3)).await;
            t.elapsed()
        }));
    }
    let (bare, ours) = (median(bare), median(ours));
    row(
        "stop all 10k + join",
        fmt_ms(ours),
        fmt_ms(bare),
        Some(ours.as_secs_f64() / bare.as_secs_f64()),
        "<= 1.5x bare",
    );
}

/// One 200x50 frame of the dashboard over 10,000 tasks, and the per-frame snapshot it renders
/// from (`App::refresh`: counts per state and the visible rows). A full `snapshot()` of every task
/// is shown for comparison; the dashboard never takes one per frame.
fn frame() {
    let rt = runtime();
    let _guard = rt.enter();
    let sup = Supervisor::new().unwrap();
    let p = Params {
        journal: false,
        interval: Duration::from_millis(100),
        ..Params::default()
    };
    for i in 0..TASKS {
        sup.spawn(Kind::Select.task(format!("task-{i}"), &p))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 200, 50));
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let frames = 300;
    let mut refresh = Duration::ZERO;
    let mut draw = Duration::ZERO;
    let mut snapshot = Duration::ZERO;
    for i in 0..frames {
        let t = Instant::now();
        black_box(sup.snapshot());
        snapshot += t.elapsed();
        let t = Instant::now();
        app.refresh();
        refresh += t.elapsed();
        if i % 50 == 0 {
            app.update(taskmon::input::Action::PageDown);
        }
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app)).unwrap();
        draw += t.elapsed();
    }
    row(
        "frame: draw 200x50, 10k",
        fmt_ms(draw / frames),
        "-".into(),
        None,
        "< 2 ms",
    );
    let per_frame = fmt_ms(refresh / frames);
    row(
        "frame: per-frame snapshot",
        per_frame,
        "-".into(),
        None,
        "< 1 ms",
    );
    let full = fmt_ms(snapshot / frames);
    row(
        "snapshot() of all 10k",
        full,
        "-".into(),
        None,
        "not per frame",
    );
    rt.block_on(sup.shutdown(Duration::from_secs(3)));
}

/// CPU time of a process, from /proc, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks as f64 / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The dashboard on the default scenario, nobody pressing a key, 10 s, from the process's own CPU
/// time; the baseline is `taskmon run` on the same scenario (the tasks without the dashboard).
fn idle_cpu() {
    let window = Duration::from_secs(10);
    let mut dashboard = pty::Session::start(&[], &[]);
    dashboard.wait_until("the dashboard is up", |s| {
        s.screen().contains("tasks 1-10 of 10")
    });
    std::thread::sleep(Duration::from_secs(1));
    let pid = dashboard.child.process_id().unwrap();
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    let ours = (cpu_seconds(pid) - before) / window.as_secs_f64();
    dashboard.keys("K");
    dashboard.keys("q");
    dashboard.wait_for_exit();

    let mut headless = std::process::Command::new(TASKMON)
        .args(["run", "--for", "12s"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let before = cpu_seconds(headless.id());
    std::thread::sleep(window);
    let baseline = (cpu_seconds(headless.id()) - before) / window.as_secs_f64();
    let _ = headless.kill();
    let _ = headless.wait();
    row(
        "idle dashboard CPU, 10s",
        format!("{:.2}% core", ours * 100.0),
        format!("{:.2}% core", baseline * 100.0),
        (baseline > 0.0).then(|| ours / baseline),
        "< 1% of one core",
    );
}

/// Peak resident memory of `taskmon run --scenario assets/load.toml`, from /proc.
fn memory() {
    let mut child = std::process::Command::new(TASKMON)
        .args(["run", "--scenario", "../assets/load.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak_kib = 0u64;
    while child.try_wait().unwrap().is_none() {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmHWM:") || l.starts_with("VmRSS:"))
        {
            let kib = line
                .split_whitespace()
                .nth(1)
                .and_then(|k| k.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    row(
        "memory, load.toml (10k)",
        format!("{:.1} MiB", peak_kib as f64 / 1024.0),
        "-".into(),
        None,
        "< 40 MiB",
    );
}

/// Key to screen with every task worker blocked: six `blocking` tasks with busy = 2s, `n` opens
/// the kind picker and `Esc` closes it; the time until the screen shows it.
fn key_latency() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("six.toml");
    std::fs::write(
        &scenario,
        "[[task]]\nname = \"hog\"\nkind = \"blocking\"\ncount = 6\nbusy = \"2s\"\ninterval = \"10ms\"\n",
    )
    .unwrap();
    let mut s = pty::Session::start(&["--scenario".as_ref(), scenario.as_os_str()], &[]);
    s.wait_until("the dashboard is up", |s| {
        s.screen().contains("tasks 1-6 of 6")
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        s.keys("n");
        s.wait_until("the picker opens", |s| s.screen().contains("spawn a task"));
        samples.push(t.elapsed());
        let t = Instant::now();
        s.keys("\x1b");
        s.wait_until("the picker closes", |s| {
            !s.screen().contains("spawn a task")
        });
        samples.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(97));
    }
    s.keys("K");
    s.keys("q");
    s.wait_for_exit();
    samples.sort();
    let max = *samples.last().unwrap();
    row(
        "key to screen, workers blocked",
        format!("max {}", fmt_ms(max)),
        format!("median {}", fmt_ms(samples[samples.len() / 2])),
        None,
        "< 100 ms",
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
