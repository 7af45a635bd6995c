//! A small real program: a TCP echo server whose acceptor, connection handlers and background
//! jobs are supervised by taskmon and served, so that another terminal can watch them and stop
//! one — gracefully, with its cleanup, or by abort.
//!
//!     cargo run --example server          # echo on 127.0.0.1:7070; its tasks are served
//!     nc 127.0.0.1 7070                   # each connection is a task: conn-1, conn-2, …
//!     taskmon attach                      # the dashboard over its tasks; q leaves them running
//!     taskmon ctl PID stop report         # stop the report job; waits for its cleanup
//!
//! Ctrl-C stops everything gracefully (connections say goodbye) and removes the socket.

use std::time::Duration;

use taskmon::serve::{Endpoint, ServeOptions};
use taskmon::{JournalConfig, Supervisor, TaskContext, TaskDef};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const NO_JOURNAL: JournalConfig = JournalConfig {
    enabled: false,
    flush_every: 1,
    flush_on_drop: false,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sup = Supervisor::builder()
        .grace(Duration::from_secs(3))
        .build()?;
    let listener = TcpListener::bind("127.0.0.1:7070").await?;

    // What an attached dashboard may spawn with `n`: more report jobs.
    let options = ServeOptions {
        kinds: vec![(
            "report".to_string(),
            std::sync::Arc::new(|name| report_job(name).boxed()),
        )],
        ..ServeOptions::default()
    };
    let server = sup.serve_with(Endpoint::Default, options)?;
    eprintln!(
        "echo on 127.0.0.1:7070 (pid {}); tasks served at {}",
        std::process::id(),
        server.address()
    );
    eprintln!(
        "  taskmon attach    or    taskmon ctl {} list",
        std::process::id()
    );

    sup.spawn(report_job("report".into()))?;
    sup.spawn(
        TaskDef::new("cache-refresher", |mut ctx: TaskContext| async move {
            while !ctx.is_cancelled() {
                tokio::select! {
                    _ = ctx.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => { ctx.tick(); }
                }
            }
        })
        .kind("job")
        .journal(NO_JOURNAL),
    )?;
    sup.spawn(
        TaskDef::new("acceptor", move |ctx: TaskContext| async move {
            let mut connections = 0u64;
            loop {
                let (stream, peer) = tokio::select! {
                    _ = ctx.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                connections += 1;
                let name = format!("conn-{connections}");
                let handler = TaskDef::new(name, move |ctx| echo(ctx, stream)).kind("connection");
                if ctx.spawn_child(handler.journal(NO_JOURNAL)).is_err() {
                    eprintln!("cannot supervise the connection from {peer}");
                }
            }
        })
        .kind("acceptor")
        .journal(NO_JOURNAL),
    )?;

    tokio::signal::ctrl_c().await?;
    sup.shutdown(sup.grace()).await;
    server.close().await;
    Ok(())
}

/// Echoes lines back, a tick per line; a graceful stop says goodbye first, an abort just drops
/// the connection.
async fn echo(mut ctx: TaskContext, stream: TcpStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    loop {
        tokio::select! {
            _ = ctx.cancelled() => {
                ctx.stop_noticed();
                ctx.cleanup_started();
                let _ = write.write_all(b"server stopping, goodbye\n").await;
                ctx.cleanup_finished();
                return;
            }
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    ctx.tick();
                    if write.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}

/// A background job that builds a report a record at a time into its journal; a graceful stop
/// flushes what is pending, an abort loses it.
fn report_job(name: String) -> TaskDef<impl taskmon::supervisor::Launch> {
    TaskDef::new(name, |mut ctx: TaskContext| async move {
        loop {
            tokio::select! {
                _ = ctx.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(300)) => {
                    ctx.tick();
                    let _ = ctx.flush_if_due();
                }
            }
        }
        ctx.stop_noticed();
        ctx.cleanup_started();
        let _ = ctx.flush();
        ctx.cleanup_finished();
    })
    .kind("job")
}
