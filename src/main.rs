use std::process::ExitCode;

use clap::Parser;
use taskmon::cli::{Cli, Command, Options, RunArgs, kinds_text};
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
    if let Err(e) = options.load_scenario() {
        return bad_scenario(&e);
    }
    eprintln!(
        "taskmon: the dashboard is not built yet; use `taskmon run` to play a scenario headless"
    );
    ExitCode::from(1)
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
