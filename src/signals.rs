//! How taskmon ends when asked to: SIGINT, SIGTERM, SIGHUP (and `q` or Ctrl-C on the dashboard).
//! The first request shuts down gracefully, the second aborts what is left, the third exits at
//! once.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::supervisor::Supervisor;

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

/// Exits the process at once with status `128 + signal`. The temporary journal directory and the
/// files of serving (the socket, a generated token), which an exit without unwinding would leave
/// behind, are removed first.
pub fn exit_now(sup: &Supervisor, signal: i32) -> ! {
    if sup.run_dir_is_temporary() {
        let _ = std::fs::remove_dir_all(sup.run_dir());
    }
    #[cfg(feature = "serve")]
    crate::serve::remove_served_files();
    std::process::exit(128 + signal)
}

/// Writing past the file-size limit (`ulimit -f`) kills a process with SIGXFSZ unless something
/// handles it; with a handler the write fails with "File too large", which a journal reports as
/// its error. Tokio's handler stays installed for the life of the process.
pub fn report_file_size_errors() {
    let _ = signal(SignalKind::from_raw(libc::SIGXFSZ));
}
