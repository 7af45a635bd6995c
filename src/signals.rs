//! What the taskmon command adds to the supervisor's own signal handling
//! ([`crate::supervisor::Signals`]): leaving no file of serving behind on an exit at once, and
//! reporting a journal over the file-size limit as an error instead of dying of it.

use crate::supervisor::Supervisor;

/// Exits the process at once with status `128 + signal`. The temporary journal directory and the
/// files of serving (the socket, a generated token), which an exit without unwinding would leave
/// behind, are removed first.
pub fn exit_now(sup: &Supervisor, signal: i32) -> ! {
    #[cfg(feature = "serve")]
    crate::serve::remove_served_files();
    sup.exit_now(signal)
}

/// Writing past the file-size limit (`ulimit -f`) kills a process with SIGXFSZ unless something
/// handles it; with a handler the write fails with "File too large", which a journal reports as
/// its error. Tokio's handler stays installed for the life of the process.
#[cfg(feature = "cli")]
pub fn report_file_size_errors() {
    use tokio::signal::unix::{SignalKind, signal};
    let _ = signal(SignalKind::from_raw(libc::SIGXFSZ));
}
