//! taskmon's performance against its targets, each measured against a baseline taken in the same
//! run: bare tokio doing the same work, alternated with taskmon round by round so neither side
//! always runs on a cold or a warm machine. Prints a table with the min / median / max of the
//! per-round ratios; asserts nothing (these machines are shared and noisy).
//!
//!     cargo bench                         # everything (a few minutes)
//!     cargo bench -- tick                 # only the benchmarks whose name contains `tick`

#[path = "../tests/support/pty.rs"]
mod pty;
#[path = "rows/record.rs"]
mod record;
#[path = "rows/reporting.rs"]
mod reporting;
#[path = "rows/scale.rs"]
mod scale;
#[path = "rows/screen.rs"]
mod screen;
#[path = "rows/serve.rs"]
mod serve;
#[path = "rows/spawn.rs"]
mod spawn;
#[path = "rows/stop.rs"]
mod stop;
#[path = "rows/ticks.rs"]
mod ticks;

use std::time::Duration;

use tokio::runtime::Runtime;

/// `taskmon` as built for this package: without tokio's test-util.
const TASKMON: &str = env!("CARGO_BIN_EXE_taskmon-measured");

/// Tasks in the 10,000-task rows.
const TASKS: usize = 10_000;

/// The runtime both sides of an in-process row run on: two workers, as this machine has cores.
fn runtime() -> Runtime {
    runtime_with(2)
}

fn runtime_with(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    if let Some(mode) = std::env::var_os(scale::CHILD) {
        scale::child(&mode.to_string_lossy());
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // The million-task rows take minutes and gigabytes: only when asked for (`-- 1m`).
    let asked = |name: &str| filter.as_deref().is_some_and(|f| name.contains(f));
    println!(
        "{:<34} {:>16} {:>16} {:>22}  target",
        "benchmark", "taskmon", "bare tokio", "ratio min/med/max"
    );
    if wanted("tick") {
        ticks::rows();
    }
    if wanted("spawn") {
        spawn::rows();
        reporting::spawn_rows();
    }
    if wanted("stop_all") {
        stop::rows();
    }
    if wanted("100k") {
        scale::rows();
    }
    if wanted("frame") {
        screen::frame();
    }
    if wanted("idle_cpu") {
        screen::idle_cpu();
    }
    if wanted("memory") {
        screen::memory();
    }
    if wanted("key_latency") {
        screen::key_latency();
    }
    if wanted("serve") {
        serve::rows();
    }
    if wanted("dashboard_frame_100k") {
        screen::frame_100k();
    }
    if wanted("dashboard_keys_100k") {
        screen::key_latency_100k();
    }
    if asked("scale_1m") {
        scale::million_rows();
    }
    if asked("dashboard_frame_1m") {
        screen::frame_million();
    }
    if asked("dashboard_keys_1m") {
        screen::key_latency_million();
    }
    if wanted("dashboard_cpu_100k") {
        screen::cpu_100k();
    }
    if wanted("record_cost") {
        record::cost_rows();
    }
    if wanted("record_hour") {
        record::hour();
    }
    // Last: it installs a metrics recorder for the rest of the process.
    if wanted("prometheus") {
        reporting::prometheus_rows();
    }
}

/// One line of the table.
fn row(name: &str, ours: String, baseline: String, ratio: String, target: &str) {
    println!("{name:<34} {ours:>16} {baseline:>16} {ratio:>22}  {target}");
}

/// Paired measurements, one pair per round: taskmon's and bare tokio's.
#[derive(Default)]
struct Rounds {
    ours: Vec<f64>,
    bare: Vec<f64>,
}

impl Rounds {
    fn push(&mut self, ours: f64, bare: f64) {
        self.ours.push(ours);
        self.bare.push(bare);
    }

    /// `min / median / max` of the per-round ratios `ours / bare`.
    fn ratios(&self) -> String {
        let ratios: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.bare)
            .map(|(o, b)| o / b)
            .collect();
        let (min, med, max) = spread(ratios);
        format!("{min:.2} / {med:.2} / {max:.2}")
    }

    fn median_ours(&self) -> f64 {
        spread(self.ours.clone()).1
    }

    fn median_bare(&self) -> f64 {
        spread(self.bare.clone()).1
    }

    /// A row whose figures are durations in seconds.
    fn time_row(&self, name: &str, target: &str) {
        row(
            name,
            fmt_ms(Duration::from_secs_f64(self.median_ours())),
            fmt_ms(Duration::from_secs_f64(self.median_bare())),
            self.ratios(),
            target,
        );
    }
}

fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// CPU time of this whole process so far, every thread included.
fn process_cpu() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The time of one of the kernel's CPU clocks.
fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct it is given.
    unsafe { libc::clock_gettime(clock, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
