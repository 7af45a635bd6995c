//! The command line.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::dashboard;
use crate::headless::{self, Output};
use crate::kinds::{Kind, Params};
use crate::scenario::{Scenario, ScenarioError};
use crate::supervisor::{DEFAULT_GRACE, Supervisor};

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Play a scenario without a terminal: print each lifecycle event, then a report per task.
    Run(RunArgs),
    /// List the task kinds, their lessons and their parameters.
    Kinds,
}

/// What the dashboard and `taskmon run` share.
#[derive(Args, Debug, Clone, Default)]
pub struct Options {
    /// Scenario file (TOML); the built-in default scenario when left out.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Grace period of a graceful stop before it is escalated to an abort [default: the
    /// scenario's, else 3s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub grace: Option<Duration>,
    /// Write the journals into DIR (kept) instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Keep the temporary journal directory at exit.
    #[arg(long)]
    pub keep_journals: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub options: Options,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// End the run after DUR [default: 10s after the timeline's last action].
    #[arg(long = "for", value_name = "DUR", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
}

/// "250ms", "2s", "1m 30s"; never zero.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; write durations like 250ms, 2s or 1m30s"))?;
    if d.is_zero() {
        return Err("the duration must be longer than zero".into());
    }
    Ok(d)
}

impl Options {
    /// The scenario named by `--scenario`, or the built-in default.
    pub fn load_scenario(&self) -> Result<Scenario, ScenarioError> {
        match &self.scenario {
            Some(path) => Scenario::load(path),
            None => Ok(Scenario::default_scenario()),
        }
    }

    /// `--grace`, else the scenario's, else the default.
    pub fn grace(&self, scenario: &Scenario) -> Duration {
        self.grace.or(scenario.grace).unwrap_or(DEFAULT_GRACE)
    }

    /// A supervisor whose tasks run on a runtime of their own, so tasks that block every task
    /// worker cannot stall the caller's runtime. At least four workers, so that one `blocking`
    /// task does not hold up the lessons of the others.
    pub fn supervisor(&self, scenario: &Scenario) -> io::Result<Supervisor> {
        let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
        let mut builder = Supervisor::builder()
            .grace(self.grace(scenario))
            .keep_journals(self.keep_journals)
            .own_task_runtime(workers);
        if let Some(dir) = &self.journal_dir {
            builder = builder.journal_dir(dir);
        }
        builder.build()
    }
}

/// The text of `taskmon kinds`.
pub fn kinds_text() -> String {
    let mut out = String::from("Task kinds (keys 1-8 spawn them on the dashboard):\n");
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
    for doc in Params::docs() {
        out.push_str(&format!(
            "   {:<14} {:<8} {}\n",
            doc.name, doc.default, doc.about
        ));
    }
    out
}

/// The whole `taskmon` command: parse the command line, run, and say how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Kinds) => {
            print!("{}", kinds_text());
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => run(args),
        None => open_dashboard(cli.options),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let scenario = match args.options.load_scenario() {
        Ok(scenario) => scenario,
        Err(e) => return bad_scenario(&e),
    };
    let output = if args.json {
        Output::Json
    } else {
        Output::Text
    };
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            crate::silence_task_panics(true);
            let sup = args.options.supervisor(&scenario)?;
            let grace = args.options.grace(&scenario);
            headless::run(&sup, &scenario, output, args.run_for, grace).await
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskmon: {e}");
            ExitCode::from(1)
        }
    }
}

fn open_dashboard(options: Options) -> ExitCode {
    let scenario = match options.load_scenario() {
        Ok(scenario) => scenario,
        Err(e) => return bad_scenario(&e),
    };
    if !dashboard::has_terminal() {
        eprintln!(
            "taskmon: the dashboard needs a terminal, and stdin or stdout is not one.\n\
             To play a scenario without a terminal, use `taskmon run` (see `taskmon run --help`)."
        );
        return ExitCode::from(1);
    }
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let sup = options.supervisor(&scenario)?;
            let reports = dashboard::run(&sup, Some(&scenario)).await?;
            let kept = (options.keep_journals || options.journal_dir.is_some())
                .then(|| sup.run_dir().to_path_buf());
            Ok::<_, std::io::Error>((reports, kept))
        })
    });
    match result {
        Ok((reports, kept)) => {
            println!("taskmon: every task has been joined.\n");
            print!("{}", crate::format::report_table(&reports));
            if let Some(dir) = kept {
                println!("\njournals kept in {}", dir.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("taskmon: {e}");
            ExitCode::from(1)
        }
    }
}

fn bad_scenario(e: &ScenarioError) -> ExitCode {
    eprintln!("taskmon: bad scenario {e}");
    ExitCode::from(2)
}

/// The runtime for taskmon's own work; tasks get a runtime of their own from the supervisor.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
