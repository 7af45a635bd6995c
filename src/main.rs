use std::process::ExitCode;

use clap::Parser;
use taskmon::cli::{Cli, Command, Options, RunArgs, kinds_text};
use taskmon::dashboard;
use taskmon::headless::{self, Output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Kinds) => {
            print!("{}", kinds_text());
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => run(args),
        None => dashboard(cli.options),
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
            taskmon::silence_task_panics(true);
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

fn dashboard(options: Options) -> ExitCode {
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
            print!("{}", taskmon::format::report_table(&reports));
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

fn bad_scenario(e: &taskmon::scenario::ScenarioError) -> ExitCode {
    eprintln!("taskmon: bad scenario {e}");
    ExitCode::from(2)
}

/// The runtime for taskmon's own work; tasks get a runtime of their own from the supervisor.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
