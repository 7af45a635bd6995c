//! `taskmon run`: plays a scenario without a terminal, printing events as they happen and a report
//! per task at the end.
//!
//! Printing happens on a thread of its own, never on the runtime that records joins and fires
//! grace timers: a slow reader of stdout cannot stretch a stop's latency or a run's length, and a
//! closed stdout (`| head -1`) ends the run the way Ctrl-C does.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::format::humanize;
use crate::format::{self, SUMMARY_ROWS};
use crate::scenario::Scenario;
use crate::signals::{self, Signals, Urgency};
use crate::supervisor::{Delivery, Supervisor, TaskReport};

/// How long a run goes on after the timeline's last action when `--for` is not given.
pub const DEFAULT_TAIL: Duration = Duration::from_secs(10);

/// Text for people, or JSON lines for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

/// How a run is played.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub output: Output,
    /// End the run after this long [default: 10 s after the timeline's last action].
    pub run_for: Option<Duration>,
    /// The grace period of the shutdown at the end.
    pub grace: Duration,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The timeline was played and every task ended.
    Done,
    /// `--for` (or the default tail after the timeline) ran out.
    TimeUp,
    /// SIGINT, SIGTERM or SIGHUP, with its number.
    Signal(i32),
    /// Nobody reads stdout any more.
    OutputClosed,
}

impl EndReason {
    /// The word in the JSON `end` line.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Done => "done",
            EndReason::TimeUp => "time_up",
            EndReason::Signal(_) => "signal",
            EndReason::OutputClosed => "output_closed",
        }
    }

    fn describe(self) -> String {
        match self {
            EndReason::Done => "every task has ended".into(),
            EndReason::TimeUp => "time is up".into(),
            EndReason::Signal(number) => format!("interrupted by {}", signal_name(number)),
            EndReason::OutputClosed => "stdout was closed".into(),
        }
    }
}

fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// What a run came to.
pub struct RunOutcome {
    /// Why the run ended; in the JSON `end` line already, kept for tests.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub reason: EndReason,
    pub reports: Arc<[TaskReport]>,
}

/// Plays `scenario` on `sup` until the timeline is done and every task has ended, until
/// `run_for` has passed, until a signal, or until stdout is closed; then shuts down as quitting
/// the dashboard does (a second signal aborts what is left, a third exits at once) and prints the
/// report.
pub async fn run(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
) -> io::Result<RunOutcome> {
    play(
        sup,
        scenario,
        options,
        Printer::start(options.output, io::stdout(), true)?,
    )
    .await
}

/// [`run`], writing to `out` instead of stdout: a write error ends the run as a closed stdout
/// does. For tests.
#[cfg(feature = "internals")]
pub async fn run_to(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
    out: impl Write + Send + 'static,
) -> io::Result<RunOutcome> {
    play(
        sup,
        scenario,
        options,
        Printer::start(options.output, out, false)?,
    )
    .await
}

async fn play(
    sup: &Supervisor,
    scenario: &Scenario,
    options: RunOptions,
    printer: Printer,
) -> io::Result<RunOutcome> {
    let mut signals = Signals::new()?;
    // Events go from where they happen straight to the printing thread: nothing on this runtime,
    // which records stops and fires grace timers, handles them one by one.
    printer.subscribe(sup);
    let start = Instant::now();
    let deadline = start
        + options
            .run_for
            .unwrap_or(scenario.last_action() + DEFAULT_TAIL);
    let mut roster = scenario.spawn_tasks(sup);
    let timeline = scenario.play_timeline(sup, &mut roster, start);
    tokio::pin!(timeline);
    let mut timeline_done = scenario.timeline.is_empty();

    let reason = loop {
        tokio::select! {
            biased;
            (number, _) = signals.next() => break EndReason::Signal(number),
            () = printer.closed() => break EndReason::OutputClosed,
            () = &mut timeline, if !timeline_done => timeline_done = true,
            () = sup.all_ended(), if timeline_done => break EndReason::Done,
            () = tokio::time::sleep_until(deadline) => break EndReason::TimeUp,
        }
    };

    let live = sup.live_tasks();
    printer.send(Message::Note(if live > 0 {
        format!(
            "{}: stopping {live} task(s) gracefully, grace {}",
            reason.describe(),
            humanize(options.grace)
        )
    } else {
        reason.describe()
    }));
    let shutdown = sup.shutdown(options.grace);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            (number, urgency) = signals.next() => {
                // Shutdown is under way, so any signal asks for more haste than that.
                if urgency == Urgency::ExitNow {
                    signals::exit_now(sup, number);
                }
                let n = sup.abort_all();
                printer.send(Message::Note(format!(
                    "{}: aborting the {n} task(s) left",
                    signal_name(number)
                )));
            }
            () = &mut shutdown => break,
        }
    }
    // The program ends here: what shutdown passed by — detached tasks — is dropped now.
    sup.end_task_runtime().await;
    printer.send(Message::End(reason));
    let reports: Arc<[TaskReport]> = sup.report().await.into();
    printer.send(Message::Reports(reports.clone()));
    // Everything is decided; what is left is writing it. A signal now stops the writing.
    tokio::select! {
        () = printer.finish() => {}
        (number, _) = signals.next() => signals::exit_now(sup, number),
    }
    Ok(RunOutcome { reason, reports })
}

/// What the printing thread writes.
enum Message {
    Events(Delivery),
    Note(String),
    End(EndReason),
    Reports(Arc<[TaskReport]>),
    /// Nothing more to write.
    Finish,
}

/// Writes the output on a thread of its own. Write errors (a closed pipe, a hung-up terminal)
/// stop the writing and are announced through `closed`.
struct Printer {
    sender: mpsc::Sender<Message>,
    closed: CancellationToken,
    thread: std::thread::JoinHandle<()>,
    /// Watches stdout for a reader that went away while nothing is written.
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl Printer {
    fn start(output: Output, out: impl Write + Send + 'static, is_stdout: bool) -> io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let closed = CancellationToken::new();
        let on_close = closed.clone();
        let thread = std::thread::Builder::new()
            .name("taskmon-output".into())
            .spawn(move || print(output, out, receiver, on_close))?;
        let watch = is_stdout.then(|| {
            let closed = closed.clone();
            tokio::spawn(async move {
                stdout_gone().await;
                closed.cancel();
            })
        });
        Ok(Self {
            sender,
            closed,
            thread,
            watch,
        })
    }

    fn send(&self, message: Message) {
        // The thread only ends when told to.
        let _ = self.sender.send(message);
    }

    /// Has `sup`'s events sent here as they happen.
    fn subscribe(&self, sup: &Supervisor) {
        let sender = self.sender.clone();
        sup.on_delivery(move |events| sender.send(Message::Events(events)).is_ok());
    }

    /// Resolves when stdout can no longer be written: a write failed, or, with nothing being
    /// written, a pipe's reader went away (`| head -1`) or a terminal hung up.
    async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Waits until everything sent has been written, or stdout closed.
    async fn finish(self) {
        if let Some(watch) = self.watch {
            watch.abort();
        }
        let _ = self.sender.send(Message::Finish);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Lowers this thread's scheduling priority: on a busy machine, printing what happened must not
/// take the CPU from what happens (a stop, a join). Linux gives each thread its own nice value.
fn yield_the_cpu_to_tasks() {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, 10);
    }
}

/// Resolves when stdout reports an error condition, as a pipe does once its reader has gone;
/// never for stdout that cannot be watched (a regular file, which cannot go away).
async fn stdout_gone() {
    use std::os::fd::AsFd;
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    let Ok(stdout) = io::stdout().as_fd().try_clone_to_owned() else {
        return std::future::pending().await;
    };
    // SAFETY: the descriptor is our own duplicate, owned by the `AsyncFd` and closed only when
    // it is dropped, so it stays open and the same for the registration's whole life.
    match unsafe { AsyncFd::register_with_interest(stdout, Interest::ERROR) } {
        Ok(stdout) => {
            let _ = stdout.ready(Interest::ERROR).await;
        }
        Err(_) => std::future::pending().await,
    }
}

fn print(
    output: Output,
    out: impl Write,
    messages: mpsc::Receiver<Message>,
    closed: CancellationToken,
) {
    yield_the_cpu_to_tasks();
    let mut out = io::BufWriter::new(out);
    let mut writing = true;
    loop {
        let message = match messages.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Empty) => {
                // Nothing waiting: show what is written so far, then wait.
                if writing && out.flush().is_err() {
                    writing = false;
                    closed.cancel();
                }
                match messages.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if matches!(message, Message::Finish) {
            break;
        }
        if writing && write(&mut out, output, &message).is_err() {
            writing = false;
            closed.cancel();
        }
    }
    if writing && out.flush().is_err() {
        closed.cancel();
    }
}

fn write(out: &mut impl Write, output: Output, message: &Message) -> io::Result<()> {
    match (output, message) {
        (Output::Text, Message::Events(events)) => {
            for e in events.events() {
                writeln!(out, "{}", format::event_line(e))?;
            }
            Ok(())
        }
        (Output::Json, Message::Events(events)) => {
            for e in events.events() {
                writeln!(out, "{}", format::event_json(e))?;
            }
            Ok(())
        }
        (Output::Text, Message::Note(text)) => writeln!(out, "-- {text}"),
        (Output::Json, Message::Note(_)) | (Output::Text, Message::End(_)) => Ok(()),
        (Output::Json, Message::End(reason)) => writeln!(
            out,
            "{}",
            serde_json::json!({"type": "end", "reason": reason.as_str()})
        ),
        (Output::Text, Message::Reports(reports)) => {
            write!(out, "\n{}", format::report_summary(reports, SUMMARY_ROWS))
        }
        (Output::Json, Message::Reports(reports)) => {
            for r in reports.iter() {
                writeln!(out, "{}", format::report_json(r))?;
            }
            Ok(())
        }
        (_, Message::Finish) => Ok(()),
    }
}
