//! A small real service supervised by taskmon: a TCP echo server whose acceptor, connection
//! handlers, buffered log writer and fallible periodic job shut down in stages, served so that
//! another terminal can watch them and stop one — gracefully, with its cleanup, or by abort.
//!
//!     cargo run --example server          # echo on 127.0.0.1:7070; its tasks are served
//!     nc 127.0.0.1 7070                   # each connection is a task: conn-1, conn-2, …
//!     taskmon attach                      # the dashboard over its tasks; q leaves them running
//!     taskmon ctl PID stop report         # stop the report job; waits for its cleanup
//!     kill -TERM PID                      # shut down in stages (a second: abort; a third: exit)
//!     curl 127.0.0.1:9184/metrics         # its tasks for Prometheus (assets/prometheus/)
//!     RUST_LOG=debug cargo run --example server   # each log line says which task wrote it
//!
//! Shutdown goes in stages: the acceptor stops taking connections (stage 0), the connections say
//! goodbye (stage 1), then the writer drains every line queued and flushes its file (stage 2).
//! The acceptor and the writer are critical: stopping either from `ctl` shuts everything down
//! the same way rather than leaving the program half-dead.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use taskmon::serve::{Endpoint, ServeOptions};
use taskmon::{RestartLimit, RestartPolicy, Supervisor, TaskContext, TaskDef};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const ACCEPTING: u32 = 0;
const CONNECTIONS: u32 = 1;
const WRITING: u32 = 2;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The program picks where logs and metrics go, before it builds the supervisor: taskmon
    // reports to whatever subscriber and recorder are installed then.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(io::stderr)
        .init();
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], 9184))
        .install()?;
    let sup = Supervisor::builder()
        .grace(Duration::from_secs(3))
        .build()?;
    let listener = TcpListener::bind("127.0.0.1:7070").await?;

    // What an attached dashboard may spawn with `n`: more report jobs.
    let (lines, queued) = mpsc::channel::<String>(1024);
    let report_lines = lines.clone();
    let options = ServeOptions {
        kinds: vec![(
            "report".to_string(),
            std::sync::Arc::new(move |name| report_job(name, report_lines.clone()).boxed()),
        )],
        ..ServeOptions::default()
    };
    let server = sup.serve_with(Endpoint::Default, options)?;
    let log = std::env::temp_dir().join(format!("taskmon-echo-{}.log", std::process::id()));
    eprintln!(
        "echo on 127.0.0.1:7070 (pid {}); lines logged to {}; tasks served at {}",
        std::process::id(),
        log.display(),
        server.address()
    );
    eprintln!(
        "  taskmon attach    or    taskmon ctl {} list",
        std::process::id()
    );

    sup.spawn(
        TaskDef::new("writer", move |ctx| write_log(ctx, queued, log))
            .kind("writer")
            .stage(WRITING)
            .critical(),
    )?;
    sup.spawn(report_job("report".into(), lines.clone()))?;
    let handlers = sup.clone();
    sup.spawn(
        TaskDef::new("acceptor", move |ctx| {
            accept(ctx, listener, handlers, lines)
        })
        .kind("acceptor")
        .stage(ACCEPTING)
        .critical(),
    )?;

    // SIGINT, SIGTERM, SIGHUP: graceful, in stages; a second aborts; a third exits. Returns
    // once every task is joined, whether a signal or a critical task's end began it.
    sup.shutdown_on_signals()?.await;
    for task in sup.snapshot() {
        eprintln!(
            "{:<12} {:<9} cleanup {}",
            task.name, task.state, task.cleanup
        );
    }
    server.close().await;
    Ok(())
}

/// Takes connections until stopped; each is a task of the connections' stage, holding a sender
/// of the log. An accept that fails ends the acceptor `errored`, and it being critical, the
/// service with it.
async fn accept(
    ctx: TaskContext,
    listener: TcpListener,
    sup: Supervisor,
    lines: mpsc::Sender<String>,
) -> io::Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            _ = ctx.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let name = format!("conn-{}", sup.next_serial());
        let lines = lines.clone();
        let handler = TaskDef::new(name, move |ctx| echo(ctx, stream, lines))
            .kind("connection")
            .stage(CONNECTIONS);
        if let Err(refused) = sup.spawn(handler) {
            eprintln!("cannot supervise the connection from {peer}: {refused}");
        }
    }
}

/// Echoes lines back and logs them, a tick per line; a graceful stop says goodbye first, an
/// abort just drops the connection.
async fn echo(
    mut ctx: TaskContext,
    stream: TcpStream,
    log: mpsc::Sender<String>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let echoed = ctx.counter("bytes_echoed");
    loop {
        let line = tokio::select! {
            _ = ctx.cancelled() => {
                return ctx
                    .cleanup(write.write_all(b"server stopping, goodbye\n"))
                    .await;
            }
            line = lines.next_line() => match line? {
                Some(line) => line,
                None => return Ok(()), // the client hung up
            },
        };
        ctx.tick();
        tracing::debug!(bytes = line.len(), "echo");
        echoed.add(line.len() as u64 + 1);
        write.write_all(format!("{line}\n").as_bytes()).await?;
        let _ = log.send(format!("{}: {line}", ctx.name())).await;
    }
}

/// Writes every line it is sent to `path` through a buffer. A stop closes the channel, drains
/// what was queued and flushes: nothing is lost. It also ends when every sender is gone — the
/// acceptor, the connections, and the report job's code, which taskmon drops once no run of it
/// can follow.
async fn write_log(
    mut ctx: TaskContext,
    mut lines: mpsc::Receiver<String>,
    path: PathBuf,
) -> io::Result<()> {
    let mut file = BufWriter::new(tokio::fs::File::create(&path).await?);
    loop {
        let line = tokio::select! {
            _ = ctx.cancelled() => break,
            line = lines.recv() => match line {
                Some(line) => line,
                None => break,
            },
        };
        ctx.tick();
        file.write_all(line.as_bytes()).await?;
        file.write_all(b"\n").await?;
    }
    ctx.cleanup(async {
        lines.close();
        while let Some(line) = lines.recv().await {
            file.write_all(line.as_bytes()).await?;
            file.write_all(b"\n").await?;
        }
        file.flush().await
    })
    .await
}

/// A periodic job that fails now and then (its upstream times out): an error ends the run
/// `errored`, and its policy runs it again after a backoff, for ever — the default limit of 5
/// restarts a minute would leave a job like this `failed` for good.
fn report_job(name: String, log: mpsc::Sender<String>) -> TaskDef {
    let policy = RestartPolicy::on_error()
        .delay(Duration::from_secs(1))
        .with_limit(RestartLimit::unlimited());
    TaskDef::restartable(name, move |mut ctx: TaskContext| {
        let log = log.clone();
        async move {
            loop {
                tokio::select! {
                    _ = ctx.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                let reports = ctx.tick();
                if fastrand::u8(..) < 40 {
                    return Err(format!("upstream timed out after {reports} report(s)"));
                }
                ctx.set_note(format!("{reports} report(s) this run"));
                let _ = log.send(format!("{}: report {reports}", ctx.name())).await;
            }
        }
    })
    .kind("job")
    .stage(CONNECTIONS)
    .restart(policy)
    .boxed()
}
