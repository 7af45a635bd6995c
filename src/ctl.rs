//! `taskmon ctl TARGET COMMAND`: the tasks of a program that serves its supervisor, listed,
//! stopped, aborted and watched from another terminal. Exit status: 0 done, 1 the connection or
//! the program failed, 2 bad usage or an unknown task.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::format;
use crate::scenario::parse_duration;
use crate::serve::client::{Client, ClientError, Target};
use crate::serve::protocol::MAX_ROWS;
use crate::text::escape_lines;

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// The program: a socket path, a process id (its default socket), or tcp:HOST:PORT.
    target: String,
    /// The token of a TCP endpoint [default: $TASKMON_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Print JSON lines instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// Every task, with its state and figures.
    List,
    /// Stop tasks gracefully (names, ids, or the base name of `count` copies); waits until they
    /// are joined and prints their rows.
    Stop(Targets),
    /// Abort tasks; waits until they are joined and prints their rows.
    Abort(Targets),
    /// Run ended tasks again, as `r` does (tasks defined restartable, the built-in kinds), and
    /// print their rows.
    Restart(Targets),
    /// Stop every task gracefully.
    StopAll,
    /// Abort every task.
    AbortAll,
    /// Print every lifecycle event from now on (as `taskmon run` does) until interrupted.
    Watch,
    /// Start or stop the program's flight recorder (`taskmon replay FILE` plays it back).
    #[command(subcommand)]
    Record(RecordCommand),
    /// Set the grace period for stops requested from now on.
    Grace {
        /// For example `5s` or `500ms`; at most 24h.
        #[arg(value_parser = parse_duration)]
        grace: Duration,
    },
}

#[derive(Subcommand, Debug)]
enum RecordCommand {
    /// Record every event and, once a second, every task's figures to FILE (a path on the
    /// program's machine; a relative one is taken from here).
    Start {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Keep only the newest SIZE (64MiB, 1G), in rotated segments FILE.N beside FILE.
        #[arg(long, value_name = "SIZE", value_parser = crate::cli::parse_size)]
        max: Option<u64>,
    },
    /// End the recording, with a last sample of every task.
    Stop,
}

#[derive(Args, Debug)]
struct Targets {
    /// Task names, `#ID` or `id:ID` for ids, or the base name of `count` copies. A bare number
    /// is an id unless a task has it as its name (both: refused as ambiguous).
    #[arg(required = true)]
    tasks: Vec<String>,
    /// Return once the request is accepted, without waiting for the joins.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// The program: a socket path, a process id (its default socket), or tcp:HOST:PORT.
    target: Option<String>,
    /// The token of a TCP endpoint [default: $TASKMON_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

/// Runs `taskmon attach`.
pub fn attach(args: AttachArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("taskmon attach: cannot start a tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let token = args.token.or_else(|| std::env::var("TASKMON_TOKEN").ok());
    runtime.block_on(async {
        let target = match args.target {
            Some(target) => Target::parse(&target),
            None => match crate::serve::discover().as_slice() {
                [one] => Target::Unix(one.path.clone()),
                [] => {
                    eprintln!(
                        "taskmon attach: no program of yours is serving its tasks (start one with `taskmon --serve`, `taskmon run --serve` or `Supervisor::serve`)"
                    );
                    return ExitCode::from(2);
                }
                many => {
                    eprintln!("taskmon attach: several programs serve their tasks; name one:");
                    for endpoint in many {
                        eprintln!("{}", describe(endpoint).await);
                    }
                    return ExitCode::from(2);
                }
            },
        };
        // A wrong target is said at once; a connection lost later is made again.
        if let Err(e) = Client::connect(&target, token.as_deref()).await {
            eprintln!("taskmon attach: {}", escape_lines(&e.to_string()));
            return ExitCode::from(if e.is_usage() { 2 } else { 1 });
        }
        match crate::dashboard::attach(target, token).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("taskmon attach: {}", escape_lines(&e.to_string()));
                ExitCode::from(1)
            }
        }
    })
}

/// `  PID  program  N tasks  up 5m 3s  PATH`, as far as the program answers.
async fn describe(endpoint: &crate::serve::LiveEndpoint) -> String {
    let path = crate::text::escape(&endpoint.path.to_string_lossy()).into_owned();
    let target = Target::Unix(endpoint.path.clone());
    let status = match Client::connect(&target, None).await {
        Ok(mut client) => client.request(json!({ "type": "status" })).await.ok(),
        Err(_) => None,
    };
    match status {
        Some(s) => format!(
            "  {:>7}  {:<16} {:>7} tasks  up {:<10} {path}",
            endpoint.pid,
            crate::text::escape(s["program"].as_str().unwrap_or("?")),
            s["tasks"].as_u64().unwrap_or(0),
            s["uptime_ms"]
                .as_f64()
                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                .map_or("?".into(), |d| format::humanize(Duration::from_secs(d.as_secs()))),
        ),
        None => format!("  {:>7}  (not answering)  {path}", endpoint.pid),
    }
}

/// Runs `taskmon ctl`.
pub fn main(args: CtlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("taskmon ctl: cannot start a tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskmon ctl: {}", escape_lines(&e.to_string()));
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

/// Prints `text` to stdout. A reader that went away (`| head -1`) ends `ctl` quietly with 0,
/// as it does `taskmon run`: what it asked of the program has been done.
fn print(text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(ClientError::Lost(format!("stdout: {e}"))),
    }
}

fn print_json(value: &Value) -> Result<(), ClientError> {
    print(&format!("{value}\n"))
}

async fn run(args: CtlArgs) -> Result<(), ClientError> {
    let target = Target::parse(&args.target);
    let token = args.token.or_else(|| std::env::var("TASKMON_TOKEN").ok());
    let mut client = Client::connect(&target, token.as_deref()).await?;
    let json = args.json;
    match args.command {
        CtlCommand::List => {
            // Printed a page at a time as the pages come, so a million tasks start at once.
            let mut table = format::JsonRowsPages::new(format::stdout_width());
            let listed = list(&mut client, |page, total| {
                if json {
                    page.iter().try_for_each(print_json)
                } else {
                    print(&table.page(page, total))
                }
            })
            .await?;
            if !json {
                print(&format!("{listed} task(s)\n"))?;
            }
        }
        CtlCommand::Stop(targets) => act(&mut client, "stop", targets, json).await?,
        CtlCommand::Abort(targets) => act(&mut client, "abort", targets, json).await?,
        CtlCommand::Restart(targets) => act(&mut client, "restart", targets, json).await?,
        CtlCommand::StopAll => all(&mut client, "stop_all", "graceful stop", json).await?,
        CtlCommand::AbortAll => all(&mut client, "abort_all", "abort", json).await?,
        CtlCommand::Grace { grace } => {
            if grace.subsec_nanos() % 1_000_000 != 0 {
                return Err(ClientError::Usage(format!(
                    "a grace period of {} cannot be carried: the program takes whole milliseconds",
                    format::humanize(grace)
                )));
            }
            let ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
            let answer = client.request(json!({ "type": "grace", "ms": ms })).await?;
            if json {
                print_json(&answer)?;
            } else {
                print(&format!(
                    "grace period {} for stops requested from now on\n",
                    format::humanize(grace)
                ))?;
            }
        }
        CtlCommand::Record(RecordCommand::Start { file, max }) => {
            let path = std::path::absolute(&file).map_err(|e| {
                ClientError::Usage(format!("cannot record to {}: {e}", file.display()))
            })?;
            let answer = client
                .request(json!({ "type": "record_start", "path": path, "max_bytes": max }))
                .await?;
            if json {
                print_json(&answer)?;
            } else {
                print(&format!(
                    "recording to {}; `taskmon ctl {} record stop` ends it\n",
                    crate::text::escape(answer["path"].as_str().unwrap_or_default()),
                    crate::text::escape(&args.target),
                ))?;
            }
        }
        CtlCommand::Record(RecordCommand::Stop) => {
            let answer = client.request(json!({ "type": "record_stop" })).await?;
            if json {
                print_json(&answer)?;
            } else {
                let path = crate::text::escape(answer["path"].as_str().unwrap_or_default()).into_owned();
                let mut text = format!(
                    "recorded {} events and {} seconds in {path} ({}); replay it with: taskmon replay {path}\n",
                    answer["events"].as_u64().unwrap_or(0),
                    answer["samples"].as_u64().unwrap_or(0),
                    format::bytes(answer["bytes"].as_u64().unwrap_or(0)),
                );
                let dropped = answer["events_dropped"].as_u64().unwrap_or(0)
                    + answer["samples_dropped"].as_u64().unwrap_or(0);
                if dropped > 0 {
                    text.push_str(&format!(
                        "the recorder fell behind: {} events and {} samples were not recorded\n",
                        answer["events_dropped"], answer["samples_dropped"]
                    ));
                }
                if let Some(error) = answer["error"].as_str() {
                    text.push_str(&format!("the recording stopped early: {}\n", crate::text::escape(error)));
                }
                print(&text)?;
            }
        }
        CtlCommand::Watch => {
            let watching = client.request(json!({ "type": "watch" })).await?;
            if json {
                // Says when the watch began: every event after this line is seen.
                print_json(&watching)?;
            }
            while let Some(message) = client.next().await? {
                let line = match message["type"].as_str() {
                    _ if json => message.to_string(),
                    Some("missed") => format!(
                        "… {} event(s) missed: this terminal did not keep up",
                        message["count"].as_u64().unwrap_or(0)
                    ),
                    _ => format::json_event_line(&message),
                };
                print(&format!("{line}\n"))?;
            }
            return Err(ClientError::Lost("the program closed the connection".into()));
        }
    }
    Ok(())
}

/// Every task's row, a page at a time, each page handed to `each` with the number of tasks
/// as it comes. Returns how many rows came.
async fn list(
    client: &mut Client,
    mut each: impl FnMut(&[Value], usize) -> Result<(), ClientError>,
) -> Result<usize, ClientError> {
    let mut listed = 0;
    loop {
        let answer = client
            .request(json!({ "type": "list", "offset": listed, "limit": MAX_ROWS }))
            .await?;
        let page = answer["rows"].as_array().map_or(&[][..], Vec::as_slice);
        let total = answer["total"].as_u64().unwrap_or(0) as usize;
        if !page.is_empty() {
            each(page, total)?;
        }
        listed += page.len();
        if page.is_empty() || listed >= total {
            return Ok(listed);
        }
    }
}

/// The rows of `ids` as they are now.
async fn rows_of(client: &mut Client, ids: &[u64]) -> Result<Vec<Value>, ClientError> {
    let mut rows = Vec::new();
    for &id in ids {
        let answer = client
            .request(json!({ "type": "list", "offset": id.saturating_sub(1), "limit": 1 }))
            .await?;
        rows.extend(answer["rows"].as_array().cloned().unwrap_or_default());
    }
    Ok(rows)
}

/// The rows of `ids` once every one has been joined, as many answers as they take.
async fn wait(client: &mut Client, ids: &[u64]) -> Result<Vec<Value>, ClientError> {
    let mut rows = Vec::new();
    while rows.len() < ids.len() {
        let answer = client
            .request(json!({ "type": "wait", "ids": &ids[rows.len()..] }))
            .await?;
        let page = answer["rows"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return Err(ClientError::Protocol("a wait answered with no rows".into()));
        }
        rows.extend(page);
    }
    Ok(rows)
}

async fn act(
    client: &mut Client,
    verb: &str,
    targets: Targets,
    json: bool,
) -> Result<(), ClientError> {
    let answer = client
        .request(json!({ "type": verb, "tasks": targets.tasks }))
        .await?;
    let ids: Vec<u64> = answer["ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let refused = answer["refused"].as_array().cloned().unwrap_or_default();
    for r in &refused {
        eprintln!(
            "taskmon ctl: #{}: {}",
            r["id"],
            escape_lines(r["message"].as_str().unwrap_or_default())
        );
    }
    // A restart starts a run: nothing to wait for.
    let waits = verb != "restart";
    if targets.no_wait || (!waits && ids.is_empty()) {
        if json {
            print_json(&answer)?;
        } else {
            let ids: Vec<String> = ids.iter().map(|id| format!("#{id}")).collect();
            print(&format!("{verb} requested for {}\n", ids.join(" ")))?;
        }
    } else if !ids.is_empty() {
        let rows = if waits {
            wait(client, &ids).await?
        } else {
            rows_of(client, &ids).await?
        };
        if json {
            for row in &rows {
                print_json(row)?;
            }
        } else {
            print(&format::json_rows_table(&rows, format::stdout_width()))?;
        }
    }
    if !refused.is_empty() && ids.is_empty() {
        let why = if waits {
            "every task named has ended"
        } else {
            "no task named could run again"
        };
        return Err(ClientError::Usage(format!("nothing to {verb}: {why}")));
    }
    Ok(())
}

async fn all(client: &mut Client, kind: &str, verb: &str, json: bool) -> Result<(), ClientError> {
    let answer = client.request(json!({ "type": kind })).await?;
    if json {
        print_json(&answer)
    } else {
        print(&format!(
            "{verb} requested for {} task(s)\n",
            answer["count"].as_u64().unwrap_or(0)
        ))
    }
}
