//! The command line.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::dashboard;
use crate::format;
use crate::headless::{self, Output, RunOptions, RunOutcome};
use crate::kinds::{Kind, Params};
use crate::scenario::{Scenario, ScenarioError, parse_duration};
use crate::serve::Endpoint;
use crate::signals;
use crate::supervisor::{DEFAULT_GRACE, FileLimits, Supervisor, TaskReport};
use crate::telemetry::{self, LogTo};
use crate::text::{escape, escape_lines};

#[derive(Parser, Debug)]
#[command(
    name = "taskmon",
    version,
    about = "Watch what a graceful stop and an abort do to tokio tasks",
    long_about = "taskmon spawns real tokio tasks, shows them ticking live, and lets you stop one \
gracefully (`s`: cancel its token, then await it while it cleans up) or abort it (`k`: \
JoinHandle::abort), so you can see how long the stop took, whether cleanup ran, what reached \
disk and what was lost.\n\nWithout a subcommand it opens the dashboard.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Play a scenario without a terminal: print each lifecycle event, then a report per task.
    Run(RunArgs),
    /// List the task kinds, their lessons and their parameters.
    Kinds,
    /// List, stop, abort and watch the tasks of a program serving its supervisor
    /// (`taskmon --serve`, `taskmon run --serve`, or `Supervisor::serve` in your program).
    Ctl(crate::ctl::CtlArgs),
    /// Open the dashboard over the tasks of a program serving its supervisor; `q` leaves them
    /// running. Without TARGET: this user's one serving program, else a list of them.
    Attach(crate::ctl::AttachArgs),
    /// Play a recording (`--record FILE`) back on the dashboard, or print its table at a moment
    /// (`--at`) or its events (`--events`).
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// The recording (the newest segment of a rotated one: the older `FILE.N` are read with it).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print the table as it was at TIME: a time of day (12:03:04, 12:03:04.120), +42s after
    /// the program's start, -10s before the recording's end, start or end.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print the events, as `taskmon run` did (with --at: those up to TIME).
    #[arg(long)]
    events: bool,
    /// JSON lines, as `taskmon ctl list --json` and `taskmon run --json` print them.
    #[arg(long)]
    json: bool,
}

/// What the dashboard and `taskmon run` share.
#[derive(Args, Debug, Clone, Default)]
struct Options {
    /// Scenario file (TOML); the built-in default scenario when left out.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Grace period of a graceful stop before it is escalated to an abort, at most 24h
    /// [default: the scenario's, else 3s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    grace: Option<Duration>,
    /// A poll at least this long is slow: counted, shown `blocking` while it lasts, reported as a
    /// `long_poll` event [default: the scenario's, else 10ms; at least 100µs].
    #[arg(long, value_name = "DUR", value_parser = crate::scenario::parse_slow_poll)]
    slow_poll: Option<Duration>,
    /// Write the journals into DIR (kept; journals of an earlier run there are replaced) instead
    /// of a temporary directory.
    #[arg(long, value_name = "DIR")]
    journal_dir: Option<PathBuf>,
    /// Keep the temporary journal directory at exit.
    #[arg(long)]
    keep_journals: bool,
    /// Also write every task's report row to FILE, as JSON lines.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Serve the tasks to `taskmon ctl` at ENDPOINT: `unix:PATH`, `tcp:127.0.0.1:PORT` (with a
    /// token: $TASKMON_TOKEN, else one written to a private file) [default: a private Unix
    /// socket named after the process id].
    #[arg(long, value_name = "ENDPOINT", num_args = 0..=1, default_missing_value = "default")]
    serve: Option<Endpoint>,
    /// Let `--serve tcp:` and `--metrics` listen on an address other machines can reach (for
    /// `--serve`, the token is then all that keeps them from your tasks).
    #[arg(long)]
    allow_remote: bool,
    /// Serve metrics for Prometheus at http://ADDR/metrics, e.g. `127.0.0.1:9184` (loopback
    /// unless --allow-remote).
    #[arg(long, value_name = "ADDR", value_parser = telemetry::parse_metrics_address)]
    metrics: Option<std::net::SocketAddr>,
    /// Log through tracing: FILTER as in $RUST_LOG (`info`, `taskmon=debug,warn`) [default:
    /// $RUST_LOG, else nothing]. `taskmon run` logs to stderr, the dashboard to --log-file.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Where the log goes: the dashboard's default is taskmon.log in the current directory (never
    /// the screen); `taskmon run`'s is stderr.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Record every event and, once a second, every task's figures to FILE, for `taskmon replay`.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Keep only the newest SIZE of the recording (64MiB, 1G, 500k), in rotated segments
    /// FILE.N beside FILE; at least 64KiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "record")]
    record_max: Option<u64>,
}

/// A size in bytes: a number with an optional unit, k/K/KB/KiB and so on (powers of 1024).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| {
        format!(
            "`{}` is not a size: give a number of bytes, or one with a unit (64MiB, 1G, 500k)",
            escape(text)
        )
    })?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "`{}` is not a unit of size: use k, M, G or T (KiB, MiB…)",
                escape(unit)
            ));
        }
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{}` is more bytes than can be counted", escape(text)))
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    options: Options,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// End the run after DUR, at most 24h [default: 10s after the timeline's last action].
    #[arg(long = "for", value_name = "DUR", value_parser = parse_duration)]
    run_for: Option<Duration>,
}

/// The fewest free file descriptors taskmon starts with: its runtimes, signal handling and the
/// terminal need a few, and running out of them inside a runtime cannot be recovered from.
const MIN_FREE_FILES: u64 = 32;

impl Options {
    /// The scenario named by `--scenario`, or the built-in default.
    fn load_scenario(&self) -> Result<Scenario, ScenarioError> {
        match &self.scenario {
            Some(path) => Scenario::load(path),
            None => Ok(Scenario::default_scenario()),
        }
    }

    /// `--grace`, else the scenario's, else the default.
    fn grace(&self, scenario: &Scenario) -> Duration {
        self.grace.or(scenario.grace).unwrap_or(DEFAULT_GRACE)
    }

    /// A supervisor whose tasks run on a runtime of their own, so tasks that block every task
    /// worker cannot stall the caller's runtime. At least four workers, so that one `blocking`
    /// task does not hold up the lessons of the others.
    fn supervisor(&self, scenario: &Scenario) -> Result<Supervisor, crate::BuildError> {
        let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
        let mut builder = Supervisor::builder()
            .grace(self.grace(scenario))
            .slow_poll(
                self.slow_poll
                    .or(scenario.slow_poll)
                    .unwrap_or(crate::supervisor::DEFAULT_SLOW_POLL),
            )
            .keep_journals(self.keep_journals)
            // Counted for metrics only when they are served: otherwise the counting and the
            // look at every task once a second would go nowhere.
            .metrics(self.metrics.is_some())
            .own_task_runtime(workers);
        if let Some(dir) = &self.journal_dir {
            builder = builder.journal_dir(dir);
        }
        if let Some(path) = &self.record {
            let options = crate::record::RecordOptions {
                max_bytes: self.record_max,
                scenario: Some(match &scenario.description {
                    Some(d) => format!("{}: {d}", scenario.source),
                    None => scenario.source.to_string(),
                }),
                ..Default::default()
            };
            builder = builder.record_with(path, options);
        }
        builder.build()
    }
}

/// The text of `taskmon kinds`.
fn kinds_text() -> String {
    let mut out = String::from("Task kinds (keys 1-9 spawn them on the dashboard):\n");
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        out.push_str(&format!("\n{}  {}\n", i + 1, kind.name()));
        out.push_str(&format!("   does:   {}\n", kind.behaviour()));
        out.push_str(&format!("   lesson: {}\n", kind.lesson()));
        if !kind.own_params().is_empty() {
            out.push_str(&format!("   reads:  {}\n", kind.own_params().join(", ")));
        }
    }
    out.push_str(
        "\nParameters (every kind takes interval, flush_every, journal, flush_on_drop):\n",
    );
    let docs = Params::docs();
    let name_width = docs.iter().map(|doc| doc.name.len()).max().unwrap_or(0);
    for doc in docs {
        out.push_str(&format!(
            "   {:<name_width$} {:<8} {}\n",
            doc.name, doc.default, doc.about
        ));
    }
    out
}

/// The whole `taskmon` command: parse the command line, run, and say how it went.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.exit_code() == 0 => {
            // --help and --version: nothing from the command line is echoed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap quotes the offending argument; it is shown escaped.
            eprint!("{}", escape_lines(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Kinds) => {
            let _ = io::stdout().write_all(kinds_text().as_bytes());
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => {
            let output = if args.json {
                Output::Json
            } else {
                Output::Text
            };
            play(&args.options, Mode::Run(output, args.run_for))
        }
        Some(Command::Ctl(args)) => crate::ctl::main(args),
        Some(Command::Attach(args)) => crate::ctl::attach(args),
        Some(Command::Replay(args)) => crate::replay::main(crate::replay::ReplayArgs {
            file: args.file,
            at: args.at,
            events: args.events,
            json: args.json,
        }),
        None => play(&cli.options, Mode::Dashboard),
    }
}

/// The dashboard, or `taskmon run` with its output and `--for`.
#[derive(Clone, Copy)]
enum Mode {
    Dashboard,
    Run(Output, Option<Duration>),
}

/// A failure, with the exit status it warrants: 2 for bad usage or a bad scenario, 1 for
/// anything that went wrong at run time.
struct Failure(u8, String);

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure(2, message.into())
    }

    fn runtime(message: impl Into<String>) -> Self {
        Failure(1, message.into())
    }
}

fn play(options: &Options, mode: Mode) -> ExitCode {
    match try_play(options, mode) {
        Ok(code) => code,
        Err(Failure(code, message)) => {
            eprintln!("taskmon: {}", escape_lines(&message));
            ExitCode::from(code)
        }
    }
}

fn try_play(options: &Options, mode: Mode) -> Result<ExitCode, Failure> {
    let scenario = options
        .load_scenario()
        .map_err(|e| Failure::usage(format!("bad scenario {e}")))?;
    check_room_in_memory(&scenario)?;
    if options.allow_remote && options.serve.is_none() && options.metrics.is_none() {
        return Err(Failure::usage(
            "--allow-remote is for --serve tcp: and --metrics; neither is given",
        ));
    }
    if let Some(addr) = options.metrics {
        telemetry::check_metrics_address(addr, options.allow_remote).map_err(Failure::usage)?;
    }
    if let Some(max) = options.record_max
        && max < crate::record::MIN_MAX_BYTES
    {
        return Err(Failure::usage(
            crate::record::RecordError::TooSmall(max).to_string(),
        ));
    }
    if matches!(mode, Mode::Dashboard) && !dashboard::has_terminal() {
        return Err(Failure::runtime(
            "the dashboard needs a terminal, and stdin or stdout is not one.\n\
             To play a scenario without a terminal, use `taskmon run` (see `taskmon run --help`).",
        ));
    }
    let limits = FileLimits::raise();
    if limits.free() < MIN_FREE_FILES {
        return Err(Failure::runtime(format!(
            "too few files can be opened: the limit is {} (ulimit -n) and {} are open; taskmon needs at least {MIN_FREE_FILES} free",
            limits.soft, limits.open
        )));
    }
    let dashboard_log = Path::new("taskmon.log");
    let log_file = match (&options.log_file, mode) {
        (Some(file), _) => Some(file.as_path()),
        (None, Mode::Dashboard) => Some(dashboard_log),
        (None, Mode::Run(..)) => None,
    };
    let log_to = log_file.map_or(LogTo::Stderr, LogTo::File);
    let logging =
        telemetry::start_logging(options.log.as_deref(), log_to).map_err(Failure::usage)?;
    let mut report_file = options
        .report
        .as_deref()
        .map(create_report_file)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start a tokio runtime: {e}")))?;
    let grace = options.grace(&scenario);
    let (digest, journals, run_end, recorded) = runtime.block_on(async {
        signals::report_file_size_errors();
        crate::silence_task_panics(true);
        if let Some(addr) = options.metrics {
            telemetry::serve_metrics(addr).map_err(Failure::runtime)?;
            eprintln!("taskmon: metrics on http://{addr}/metrics");
        }
        let sup = options
            .supervisor(&scenario)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        check_room_for_journals(&scenario, &sup)?;
        let server = options
            .serve
            .clone()
            .map(|endpoint| match endpoint {
                Endpoint::Tcp { addr, .. } => Endpoint::Tcp {
                    addr,
                    allow_remote: options.allow_remote,
                },
                other => other,
            })
            .map(|endpoint| {
                let options = crate::serve::ServeOptions {
                    kinds: crate::board::taskmon_kinds(),
                    ..Default::default()
                };
                sup.serve_with(endpoint, options)
            })
            .transpose()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        if let Some(server) = &server {
            announce(server);
        }
        let (digest, run_end) = match mode {
            Mode::Dashboard => {
                let reports = dashboard::run_scenario(
                    &sup,
                    &scenario,
                    server.as_ref().map(|s| s.address().to_string()),
                )
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
                if let Some((path, file)) = report_file.take() {
                    write_report_file(file, &reports)
                        .map_err(|e| cannot_write_report(&path, &e))?;
                }
                let mut digest = format::ReportDigest::new(format::SUMMARY_ROWS);
                digest.add(&reports);
                (digest, None)
            }
            Mode::Run(output, run_for) => {
                let (report_path, report_to) = report_file.take().unzip();
                let run = RunOptions {
                    output,
                    run_for,
                    grace,
                    backlog: None,
                    report_to,
                };
                // A closed stdout ends the run as Ctrl-C does, then quietly: the outcome's
                // reason is in its JSON `end` line for whoever still reads.
                let mut outcome = headless::run(&sup, &scenario, run)
                    .await
                    .map_err(|e| Failure::runtime(e.to_string()))?;
                if let (Some(path), Some(e)) = (report_path, outcome.report_error.take()) {
                    return Err(cannot_write_report(&path, &e));
                }
                let digest = outcome.digest.clone();
                (digest, Some(outcome))
            }
        };
        let recorded = sup.stop_recording();
        if let Some(server) = server {
            server.close().await;
        }
        let journals = (!sup.run_dir_is_temporary()).then(|| sup.run_dir().to_path_buf());
        Ok::<_, Failure>((digest, journals, run_end, recorded))
    })?;
    if matches!(mode, Mode::Dashboard) {
        let summary = format!(
            "taskmon: every task has been joined.\n\n{}",
            digest.summary(format::stdout_width())
        );
        let _ = io::stdout().write_all(summary.as_bytes());
    }
    if let (true, Some(file)) = (logging, log_file) {
        eprintln!(
            "taskmon: the log is in {}",
            escape(&file.display().to_string())
        );
    }
    if let Some(outcome) = &run_end {
        tell_what_stdout_missed(outcome);
    }
    if let Some(summary) = &recorded {
        tell_how_recording_went(summary);
    }
    finish(&digest, journals)
}

/// On stderr, what stdout's reader missed: the output says so too, but it may never be read.
fn tell_what_stdout_missed(outcome: &RunOutcome) {
    let dropped = match outcome.events_dropped {
        0 => String::new(),
        n => format!(", and {n} events were dropped before it"),
    };
    if outcome.output_unfinished {
        eprintln!(
            "taskmon: the reader of stdout stopped reading: the end of the output (the report included) was not written{dropped}; `--report FILE` keeps the report"
        );
    } else if outcome.events_dropped > 0 {
        eprintln!(
            "taskmon: the reader of stdout fell behind; {} events were dropped",
            outcome.events_dropped
        );
    }
}

/// On stderr (stdout may be JSON): where the recording is, and what it could not keep.
pub(crate) fn tell_how_recording_went(summary: &crate::record::RecordSummary) {
    let path = escape(&summary.path.display().to_string()).into_owned();
    eprintln!(
        "taskmon: recorded {} events and {} seconds in {path} ({}); replay it with: taskmon replay {path}",
        summary.events,
        summary.samples,
        format::bytes(summary.bytes.saturating_sub(summary.bytes_removed)),
    );
    if summary.events_dropped > 0 || summary.samples_dropped > 0 {
        eprintln!(
            "taskmon: the recorder fell behind: {} events and {} samples were not recorded (the recording marks where)",
            summary.events_dropped, summary.samples_dropped
        );
    }
    if let Some(error) = &summary.error {
        eprintln!("taskmon: the recording stopped early: {}", escape(error));
    }
}

/// Where the tasks are served, on stderr (stdout may be JSON).
fn announce(server: &crate::serve::Server) {
    let address = escape(server.address()).into_owned();
    eprintln!("taskmon: serving on {address} (try: taskmon ctl {address} list)");
    if let Some(file) = server.token_file() {
        eprintln!(
            "taskmon: the token is in {}",
            escape(&file.display().to_string())
        );
    }
}

/// The last words: where the journals are, and the exit status (1 when a journal failed: the
/// run's figures are then not all backed by its files).
fn finish(digest: &format::ReportDigest, journals: Option<PathBuf>) -> Result<ExitCode, Failure> {
    if let Some(dir) = journals {
        eprintln!(
            "taskmon: journals kept in {}",
            escape(&dir.display().to_string())
        );
    }
    if let Some(failures) = digest.journal_failures() {
        eprintln!("taskmon: {failures}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn cannot_write_report(path: &Path, e: &io::Error) -> Failure {
    Failure::runtime(format!(
        "cannot write the report to {}: {e}",
        path.display()
    ))
}

/// Created (emptied) before anything runs, so a path that cannot be written is refused up front.
/// Only a regular file: a FIFO without a reader would hold the exit up forever.
fn create_report_file(path: &Path) -> Result<(PathBuf, File), Failure> {
    let failed = |why: String| {
        Failure::runtime(format!(
            "cannot write the report to {}: {why}",
            path.display()
        ))
    };
    let file = open_regular_file(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        path,
    )
    .map_err(|e| failed(e.to_string()))?;
    Ok((path.to_path_buf(), file))
}

/// `path` opened with `options`, only if it is a regular file: a FIFO without a reader would
/// hold taskmon up forever (it is opened without blocking, then refused).
pub(crate) fn open_regular_file(
    options: &mut std::fs::OpenOptions,
    path: &Path,
) -> io::Result<File> {
    let file = options.custom_flags(libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// Every task's report line (the dashboard's; `taskmon run` writes its own as it goes).
fn write_report_file(file: File, reports: &[TaskReport]) -> io::Result<()> {
    let mut out = io::BufWriter::new(file);
    format::write_report_lines(&mut out, reports)?;
    out.flush()
}

/// What a scenario task takes, on average, in `taskmon run` or the dashboard: its record, its
/// tokio task, its timer and token, its share of the events and of the report. Measured with
/// `taskmon run`: 100,000 and 1,000,000 `select` tasks without journals peak at 1.2 KiB of
/// resident memory and 1.05 KiB of address space each (see the README's performance table);
/// rounded up for kinds whose futures are larger and for restarts' histories. Journaled tasks
/// take more (a buffer each), but the open-file limit holds them to a few thousand.
pub const BYTES_PER_TASK: u64 = 2048;

/// A scenario this machine cannot hold is refused before anything is spawned, with the numbers:
/// better than a run the kernel kills halfway, its journals half written.
fn check_room_in_memory(scenario: &Scenario) -> Result<(), Failure> {
    let tasks = scenario.task_count();
    let needed = tasks.saturating_mul(BYTES_PER_TASK);
    let Some((room, what)) = memory_room() else {
        return Ok(());
    };
    if needed <= room {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "bad scenario {}: its {tasks} tasks need about {} (about {} a task), but {what} leaves {}; give it fewer tasks (`count`), or run it on a machine with more memory",
        scenario.source,
        format::bytes(needed),
        format::bytes(BYTES_PER_TASK),
        format::bytes(room),
    )))
}

/// How much memory a new run can take, and what says so: the memory the kernel reports
/// available, or the address-space limit (`ulimit -v`) when that is lower. `None` when neither
/// can be read.
fn memory_room() -> Option<(u64, &'static str)> {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some((
                kib.saturating_mul(1024),
                "the memory available on this machine",
            ))
        });
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, nothing else.
    let limited = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY;
    let address_space = limited.then_some((limit.rlim_cur, "the address-space limit (ulimit -v)"));
    [available, address_space]
        .into_iter()
        .flatten()
        .min_by_key(|&(bytes, _)| bytes)
}

/// Every journaled task keeps a file open: a scenario that needs more than the open-file limit
/// leaves room for is refused before anything is spawned.
fn check_room_for_journals(scenario: &Scenario, sup: &Supervisor) -> Result<(), Failure> {
    let needed = scenario.journaled_tasks();
    let capacity = sup.journal_capacity() as u64;
    if needed <= capacity {
        return Ok(());
    }
    let limits = FileLimits::read();
    Err(Failure::usage(format!(
        "bad scenario {}: it keeps {needed} journal files open, but the open-file limit of {} (hard limit {}) leaves room for {capacity}; raise it (ulimit -n), or set `journal = false` on the tasks that need no journal",
        scenario.source, limits.soft, limits.hard
    )))
}
