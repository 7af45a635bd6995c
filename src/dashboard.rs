//! The dashboard's runner: the terminal, the event loop, signals and the way out.
//!
//! Everything here runs on the caller's runtime, never on the workers that run the tasks, so the
//! dashboard answers keys while tasks block every task worker.

use std::future::Future;
use std::io::{self, IsTerminal, Stdout};
use std::pin::Pin;
use std::sync::Once;
use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;

use crate::app::{App, Script};
use crate::input::{self, Action};
use crate::signals;
use crate::supervisor::Signals;
use crate::supervisor::{Supervisor, TaskReport, panic};
use crate::ui;

/// How often the dashboard looks for changes; it redraws only when something changed.
pub const FRAME: Duration = Duration::from_millis(200);

/// Whether both stdin and stdout are a terminal, as the dashboard needs.
pub fn has_terminal() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// Opens the dashboard over `sup`'s tasks until the person quits; then stops everything
/// (gracefully within the grace period, aborting what is left), shows the progress until the
/// journals have been read back, restores the terminal and returns the final report. Every task
/// has been joined (or, blocked for good, abandoned) when it returns.
///
/// Quitting — `q`, Ctrl-C, SIGINT, SIGTERM or SIGHUP — stops gracefully the first time, aborts
/// what is left the second time, and exits the process at once the third.
pub async fn run(sup: &Supervisor) -> io::Result<Vec<TaskReport>> {
    run_with(sup, std::future::pending(), None).await
}

/// [`run`], playing a scenario's tasks and timeline.
#[cfg(feature = "cli")]
pub(crate) async fn run_scenario(
    sup: &Supervisor,
    scenario: &crate::scenario::Scenario,
    serving: Option<String>,
) -> io::Result<Vec<TaskReport>> {
    let start = tokio::time::Instant::now();
    let script = Script {
        serving,
        description: scenario
            .description
            .as_deref()
            .map(|d| crate::text::escape(d).into_owned()),
        steps: scenario
            .timeline
            .iter()
            .map(|step| (step.after, step.action.describe()))
            .collect(),
    };
    let timeline = async move {
        let mut roster = scenario.spawn_tasks(sup);
        scenario.play_timeline(sup, &mut roster, start).await;
    };
    run_with(sup, timeline, Some(script)).await
}

/// The dashboard, with `timeline` driven alongside (it may end; the dashboard goes on).
async fn run_with(
    sup: &Supervisor,
    timeline: impl Future<Output = ()>,
    script: Option<Script>,
) -> io::Result<Vec<TaskReport>> {
    if !has_terminal() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the dashboard needs a terminal (stdin and stdout must be a tty); use `taskmon run` to play a scenario without one",
        ));
    }
    install_restore_hook();
    panic::silence_task_panics(true);
    let result = match TerminalGuard::enter() {
        Ok(mut guard) => {
            let size = guard.terminal.size()?;
            let mut app = App::new(sup.clone(), Rect::new(0, 0, size.width, size.height));
            if let Some(script) = script {
                app = app.with_script(script);
            }
            event_loop(&mut guard.terminal, app, Some(sup), timeline).await
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        // Whatever ended the loop, no task outlives the dashboard unjoined.
        sup.shutdown(sup.grace()).await;
    }
    result
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Opens the dashboard over the tasks of a program served at `target` (see
/// [`crate::serve`]) until the person leaves: `q` detaches and leaves the program's tasks as
/// they are. A lost connection is shown and made again as soon as the program answers.
#[cfg(feature = "serve")]
pub async fn attach(target: crate::serve::client::Target, token: Option<String>) -> io::Result<()> {
    if !has_terminal() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "attaching needs a terminal (stdin and stdout must be a tty); use `taskmon ctl` without one",
        ));
    }
    install_restore_hook();
    let source = crate::serve::remote::Remote::start(target, token);
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    let app = App::with_source(Box::new(source), Rect::new(0, 0, size.width, size.height));
    event_loop(&mut guard.terminal, app, None, std::future::pending()).await?;
    Ok(())
}

/// Opens the dashboard over a recording played back (`taskmon replay FILE`) until the person
/// leaves.
#[cfg(feature = "cli")]
pub(crate) async fn replay(player: crate::replay::Player) -> io::Result<()> {
    install_restore_hook();
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    let app = App::with_source(Box::new(player), Rect::new(0, 0, size.width, size.height));
    event_loop(&mut guard.terminal, app, None, std::future::pending()).await?;
    Ok(())
}

/// Keys, signals, events and frames until the person quits: with the supervisor here, a
/// shutdown of every task; attached to another program, leaving at once.
async fn event_loop(
    terminal: &mut Term,
    mut app: App,
    sup: Option<&Supervisor>,
    timeline: impl Future<Output = ()>,
) -> io::Result<Vec<TaskReport>> {
    let mut keys = EventStream::new();
    let mut events = sup.map(Supervisor::events);
    let wake = app.wake();
    let timeline = async {
        timeline.await;
        std::future::pending::<()>().await
    };
    tokio::pin!(timeline);
    let mut frames = tokio::time::interval(FRAME);
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut signals = Signals::new()?;
    // The signal a third request to quit exits with: Ctrl-C's, unless a signal came.
    let mut last_signal = libc::SIGINT;
    // Started by quitting; the loop keeps drawing its progress until every task is joined and
    // every journal read back.
    type Ending<'a> = Pin<Box<dyn Future<Output = Vec<TaskReport>> + 'a>>;
    let mut shutdown: Option<Ending<'_>> = None;
    let mut dirty = true;

    loop {
        let mut draw_now = false;
        tokio::select! {
            biased;
            key = keys.next() => match key {
                Some(Ok(event)) => {
                    crash_on_request(&event);
                    if let Some(action) = input::action(app.mode, &event) {
                        app.update(action);
                        app.refresh();
                        draw_now = true;
                    }
                }
                Some(Err(e)) => return Err(e),
                None => app.update(Action::Quit),
            },
            (number, _) = signals.next() => {
                last_signal = number;
                app.update(Action::Quit);
                draw_now = true;
            }
            Some(event) = async { events.as_mut().expect("checked").recv().await }, if events.is_some() => {
                app.push_event(event);
                while let Some(event) = events.as_mut().and_then(|e| e.try_recv()) {
                    app.push_event(event);
                }
                dirty = true;
            }
            () = async { wake.as_ref().expect("checked").notified().await }, if wake.is_some() => {
                dirty |= app.refresh();
                draw_now = dirty;
            }
            _ = frames.tick() => {
                dirty |= app.refresh();
                draw_now = dirty;
            }
            reports = async { shutdown.as_mut().expect("checked").await }, if shutdown.is_some() => {
                return Ok(reports);
            }
            () = &mut timeline => {}
        }
        if app.exit_requested() {
            restore_terminal();
            match sup {
                Some(sup) => signals::exit_now(sup, last_signal),
                None => {
                    #[cfg(feature = "serve")]
                    crate::serve::remove_served_files();
                    std::process::exit(128 + last_signal)
                }
            }
        }
        let Some(sup) = sup else {
            if app.take_quit_request() {
                // Attached: leaving touches none of the program's tasks.
                return Ok(Vec::new());
            }
            if draw_now {
                terminal.draw(|frame| ui::draw(frame, &app))?;
                dirty = false;
            }
            continue;
        };
        if app.take_quit_request() && shutdown.is_none() {
            let grace = app.grace;
            shutdown = Some(Box::pin(async move {
                sup.shutdown(grace).await;
                // The program ends: what shutdown passed by (detached tasks) is dropped now.
                sup.end_task_runtime().await;
                sup.report().await
            }));
        }
        if draw_now {
            terminal.draw(|frame| ui::draw(frame, &app))?;
            dirty = false;
        }
    }
}

/// With `TASKMON_TEST_CRASH` set, `!` makes the dashboard itself panic, so the end-to-end tests
/// can check that a crash of the dashboard still gives the terminal back. Built into taskmon's
/// tests only.
#[cfg(feature = "internals")]
fn crash_on_request(event: &crossterm::event::Event) {
    use crossterm::event::{Event, KeyCode};
    if let Event::Key(key) = event
        && key.code == KeyCode::Char('!')
        && std::env::var_os("TASKMON_TEST_CRASH").is_some()
    {
        panic!("taskmon crashed on purpose (TASKMON_TEST_CRASH)");
    }
}

#[cfg(not(feature = "internals"))]
fn crash_on_request(_: &crossterm::event::Event) {}

/// Puts the terminal in raw mode on the alternate screen with the mouse captured, and gives it
/// back on drop.
struct TerminalGuard {
    terminal: Term,
}

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        let guard_for_errors = scopeguard(restore_terminal);
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.hide_cursor()?;
        terminal.clear()?;
        std::mem::forget(guard_for_errors);
        Ok(Self { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Gives the terminal back: safe to call more than once.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Calls `f` on drop unless forgotten.
fn scopeguard(f: fn()) -> impl Drop {
    struct Guard(fn());
    impl Drop for Guard {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    Guard(f)
}

/// A panic of the dashboard itself restores the terminal before it is printed. A supervised task's
/// panic does neither: it shows on the task's row and in the event log.
fn install_restore_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic::is_silenced_task_panic() {
                return;
            }
            restore_terminal();
            previous(info);
        }));
    });
}
