//! How a program ends when asked to: SIGINT, SIGTERM, SIGHUP (and `q` or Ctrl-C on the
//! dashboard). The first request shuts down gracefully, the second aborts what is left, the third
//! exits at once.

use std::future::Future;
use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::Supervisor;

/// What a request to end asks for, by how many came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Stop every task within the grace period, abort what overruns it.
    Graceful,
    /// Abort what is still running, now.
    AbortNow,
    /// Leave at once.
    ExitNow,
}

impl Urgency {
    /// The urgency of the `n`th request (counting from 1).
    pub fn of(n: u32) -> Self {
        match n {
            0 | 1 => Urgency::Graceful,
            2 => Urgency::AbortNow,
            _ => Urgency::ExitNow,
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP as one stream, counted.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
    received: u32,
}

impl Signals {
    /// Must be called inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            received: 0,
        })
    }

    /// Waits for the next signal; returns its number and what it asks for.
    pub async fn next(&mut self) -> (i32, Urgency) {
        let number = tokio::select! {
            _ = self.interrupt.recv() => libc::SIGINT,
            _ = self.terminate.recv() => libc::SIGTERM,
            _ = self.hangup.recv() => libc::SIGHUP,
        };
        self.received += 1;
        (number, Urgency::of(self.received))
    }
}

impl Supervisor {
    /// The usual end of a service's `main`: `sup.shutdown_on_signals()?.await`. Installs the
    /// handlers at once (an error if it cannot), then the future waits for SIGINT, SIGTERM or
    /// SIGHUP and shuts down gracefully, in stages, with the grace set then; a second signal
    /// aborts every task still running; a third exits the process at once (status 128 + the
    /// signal). The future ends when every task is joined: after the shutdown the signal began,
    /// or one begun otherwise (a [critical](super::TaskDef::critical) task's end, a cancelled
    /// [parent token](super::SupervisorBuilder::parent_token)), or when the tasks have all
    /// ended on their own. Call it inside the runtime, once the program's tasks are spawned.
    pub fn shutdown_on_signals(&self) -> io::Result<impl Future<Output = ()> + '_> {
        let mut signals = Signals::new()?;
        Ok(async move {
            tokio::select! {
                _ = signals.next() => {}
                () = self.all_joined() => return,
            }
            let shutdown = self.shutdown(self.grace());
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    (number, urgency) = signals.next() => match urgency {
                        Urgency::Graceful => {}
                        Urgency::AbortNow => {
                            self.abort_all();
                        }
                        Urgency::ExitNow => self.exit_now(number),
                    },
                }
            }
        })
    }

    /// Exits the process at once with status `128 + signal`, removing the temporary journal
    /// directory first (an exit without unwinding would leave it behind).
    pub fn exit_now(&self, signal: i32) -> ! {
        if self.run_dir_is_temporary() {
            let _ = std::fs::remove_dir_all(self.run_dir());
        }
        std::process::exit(128 + signal)
    }
}
