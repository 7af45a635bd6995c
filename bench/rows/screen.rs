//! The dashboard's own costs: a frame, idle CPU, memory, and a key answered while every task
//! worker is blocked.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use taskmon::Supervisor;
use taskmon::app::App;
use taskmon::kinds::{Kind, Params};
use taskmon::ui;

use super::{TASKMON, TASKS, fmt_ms, pty, row, runtime};

/// One 200x50 frame of the dashboard over 10,000 tasks, and the per-frame snapshot it renders
/// from (`App::refresh`: counts per state and the visible rows). A full `snapshot()` of every task
/// is shown for comparison; the dashboard never takes one per frame.
pub fn frame() {
    let rt = runtime();
    let _guard = rt.enter();
    let sup = ticking(TASKS);
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
        "-".into(),
        "< 2 ms",
    );
    let per_frame = fmt_ms(refresh / frames);
    row(
        "frame: per-frame snapshot",
        per_frame,
        "-".into(),
        "-".into(),
        "< 1 ms",
    );
    let full = fmt_ms(snapshot / frames);
    row(
        "snapshot() of all 10k",
        full,
        "-".into(),
        "-".into(),
        "not per frame",
    );
    rt.block_on(sup.shutdown(Duration::from_secs(3)));
}

/// A supervisor with `n` `select` tasks without journals, ticking every 100 ms, settled; on the
/// runtime entered.
fn ticking(n: usize) -> Supervisor {
    ticking_every(n, Duration::from_millis(100))
}

fn ticking_every(n: usize, interval: Duration) -> Supervisor {
    let sup = Supervisor::new().unwrap();
    let p = Params {
        journal: false,
        interval,
        ..Params::default()
    };
    for i in 0..n {
        sup.spawn(Kind::Select.task(format!("task-{i}"), &p))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300 + n as u64 / 500));
    sup
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
pub fn idle_cpu() {
    let (ours, baseline) = dashboard_and_run_cpu(&[], "tasks 1-", Duration::from_secs(1));
    row(
        "idle dashboard CPU, 10s",
        format!("{:.2}% core", ours * 100.0),
        format!("{:.2}% core", baseline * 100.0),
        if baseline > 0.0 {
            format!("{:.2}", ours / baseline)
        } else {
            "-".into()
        },
        "< 1% of one core",
    );
}

/// The share of a core the dashboard takes over `args`' tasks, nobody pressing a key, once
/// `shown` is on screen and `settle` has passed; then `taskmon run` of the same tasks: 10 s
/// each, from each process's own CPU time.
fn dashboard_and_run_cpu(args: &[&std::ffi::OsStr], shown: &str, settle: Duration) -> (f64, f64) {
    let window = Duration::from_secs(10);
    let mut dashboard = pty::Session::start(args, &[]);
    dashboard.wait_until("the dashboard is up", |s| s.screen().contains(shown));
    std::thread::sleep(settle);
    let pid = dashboard.child.process_id().unwrap();
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    let ours = (cpu_seconds(pid) - before) / window.as_secs_f64();
    dashboard.keys("K");
    dashboard.keys("q");
    dashboard.wait_for_exit();

    let run_for = format!("{}s", (settle + window).as_secs() + 2);
    let mut headless = std::process::Command::new(TASKMON)
        .args([
            "run".as_ref(),
            "--for".as_ref(),
            std::ffi::OsStr::new(&run_for),
        ])
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(settle);
    let before = cpu_seconds(headless.id());
    std::thread::sleep(window);
    let baseline = (cpu_seconds(headless.id()) - before) / window.as_secs_f64();
    let _ = headless.kill();
    let _ = headless.wait();
    (ours, baseline)
}

/// Peak resident memory of `taskmon run --scenario assets/load.toml`, from /proc.
pub fn memory() {
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
        "-".into(),
        "< 25 MiB",
    );
}

/// Key to screen with every task worker blocked: six `blocking` tasks with busy = 2s, `n` opens
/// the kind picker and `Esc` closes it; the time until the screen shows it.
pub fn key_latency() {
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
        "-".into(),
        "< 100 ms",
    );
}

/// Tasks in the dashboard's 100,000-task rows.
const MANY: usize = 100_000;
/// Tasks in its million-task rows (`assets/million.toml`'s count).
const MILLION: usize = 1_000_000;

/// A scenario of `count` `select` tasks without journals, ticking every `interval`.
fn many_tasks_scenario(dir: &std::path::Path, count: usize, interval: &str) -> std::path::PathBuf {
    let scenario = dir.join("many.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[task]]\nname = \"load\"\nkind = \"select\"\ncount = {count}\n\
             interval = \"{interval}\"\njournal = false\n"
        ),
    )
    .unwrap();
    scenario
}

/// The dashboard's worst frame at 100,000 tasks: a filter and a sort by ticks applied again
/// (as after a key that changes them, or the once-a-second re-sort of a live column), then the
/// window's snapshots and the draw, at 120x40.
pub fn frame_100k() {
    frame_many(MANY, "100k", Duration::from_millis(100), 10.0);
}

/// The same frames over a million tasks ticking every 10 s (`assets/million.toml`).
pub fn frame_million() {
    frame_many(MILLION, "1M", Duration::from_secs(10), 50.0);
}

fn frame_many(count: usize, label: &str, interval: Duration, target_ms: f64) {
    use taskmon::input::Action;
    let rt = runtime();
    let _guard = rt.enter();
    let sup = ticking_every(count, interval);
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    app.update(Action::OpenFilter);
    for c in "state:run 9".chars() {
        app.update(Action::Type(c));
    }
    app.update(Action::Accept);
    while app.sort.column != taskmon::layout::Column::Ticks {
        app.update(Action::SortNext);
    }
    app.refresh();
    let frames = 50;
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..frames {
        let (t, c) = (Instant::now(), thread_cpu());
        app.update(Action::SortInvert);
        app.refresh();
        terminal.draw(|f| ui::draw(f, &app)).unwrap();
        wall.push(t.elapsed().as_secs_f64());
        cpu.push((thread_cpu() - c).as_secs_f64());
    }
    let shown = app.shown();
    // Frames between keys and re-sorts: counts, the window's snapshots, the draw.
    let mut ordinary = Vec::new();
    for _ in 0..frames {
        let c = thread_cpu();
        app.refresh();
        terminal.draw(|f| ui::draw(f, &app)).unwrap();
        ordinary.push((thread_cpu() - c).as_secs_f64());
    }
    let ms = |s: f64| fmt_ms(Duration::from_secs_f64(s));
    let (_, median, max) = super::spread(cpu);
    row(
        &format!("frame CPU: filter+sort+draw, {label}"),
        format!("max {}", ms(max)),
        format!("median {}", ms(median)),
        "-".into(),
        &format!("< {target_ms} ms"),
    );
    let (_, median, max) = super::spread(wall);
    row(
        &format!("frame wall: same, {shown} shown"),
        format!("max {}", ms(max)),
        format!("median {}", ms(median)),
        "-".into(),
        &format!("< {target_ms} ms"),
    );
    let (_, median, max) = super::spread(ordinary);
    row(
        &format!("frame CPU: no re-sort, {label}"),
        format!("max {}", ms(max)),
        format!("median {}", ms(median)),
        "-".into(),
        &format!("< {target_ms} ms"),
    );
    rt.block_on(sup.shutdown(Duration::from_secs(3)));
}

/// Keys typed into the filter and sort keys on a dashboard over 100,000 ticking tasks, in a real
/// terminal: the time until the screen shows each answer.
pub fn key_latency_100k() {
    key_latency_many(MANY, "100k", "100ms", 100);
}

/// The same keys over a million tasks ticking every 10 s (`assets/million.toml`).
pub fn key_latency_million() {
    key_latency_many(MILLION, "1M", "10s", 150);
}

fn key_latency_many(count: usize, label: &str, interval: &str, target_ms: u64) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = many_tasks_scenario(dir.path(), count, interval);
    let mut s = pty::Session::start(&["--scenario".as_ref(), scenario.as_os_str()], &[]);
    let up = format!("of {count}");
    s.wait_until("the dashboard is up", |s| s.screen().contains(&up));
    std::thread::sleep(Duration::from_secs(1));
    let mut samples = Vec::new();
    let mut timed = |s: &mut pty::Session, keys: &str, what: &str, shown: &dyn Fn(&str) -> bool| {
        let t = Instant::now();
        s.keys(keys);
        s.wait_until(what, |s| shown(&s.screen()));
        samples.push(t.elapsed());
    };
    for _ in 0..5 {
        timed(&mut s, "/", "the filter opens", &|screen| {
            screen.lines().last().is_some_and(|l| l.starts_with(" /"))
        });
        timed(&mut s, "9", "one digit filters", &|screen| {
            screen.contains("filter `9`")
        });
        timed(&mut s, "9", "two digits filter", &|screen| {
            screen.contains("filter `99`")
        });
        timed(&mut s, "\r", "the filter is kept", &|screen| {
            screen.contains("shown")
        });
        timed(&mut s, ">", "sorted by name", &|screen| {
            screen.contains("sorted by name")
        });
        timed(&mut s, "<", "sorted by id", &|screen| {
            screen.contains("sorted by id")
        });
        timed(&mut s, "\x1b", "the filter is cleared", &|screen| {
            screen.contains("filter cleared")
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    s.keys("K");
    s.keys("q");
    s.wait_for_exit();
    samples.sort();
    row(
        &format!("key to screen, {label} tasks"),
        format!("max {}", fmt_ms(*samples.last().unwrap())),
        format!("median {}", fmt_ms(samples[samples.len() / 2])),
        "-".into(),
        &format!("< {target_ms} ms"),
    );
}

/// The dashboard's own CPU while 100,000 tasks tick once a second: the dashboard process's CPU
/// less that of `taskmon run` of the same tasks (the tasks without the dashboard), 10 s each.
pub fn cpu_100k() {
    let dir = tempfile::tempdir().unwrap();
    // Every second, not every 100 ms: 1,000,000 ticks a second would take both cores and
    // leave nothing to tell the dashboard's share apart.
    let scenario = many_tasks_scenario(dir.path(), MANY, "1s");
    let args = ["--scenario".as_ref(), scenario.as_os_str()];
    let (ours, baseline) = dashboard_and_run_cpu(&args, "of 100000", Duration::from_secs(2));
    row(
        "dashboard CPU over 100k ticking",
        format!("{:.1}% core", ours * 100.0),
        format!("{:.1}% core", baseline * 100.0),
        format!("{:+.1}% core", (ours - baseline) * 100.0),
        "< +10% of one core",
    );
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    super::cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}
