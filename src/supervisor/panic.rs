//! Keeping a task's panic off the screen.
//!
//! The supervisor catches a task's panic and keeps its message as the task's end, but Rust's panic
//! hook still prints it to stderr first — over the dashboard. The hook installed here stays quiet for
//! panics raised inside a supervised task while silence is on, and passes every other panic (the
//! dashboard's own, say) to the hook that was there before.

use std::any::Any;
use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

static SILENCE: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Turns silence for task panics on or off. The first call installs taskmon's hook over the current
/// one; install your own hooks (a terminal-restoring one, say) before calling this.
pub fn silence_task_panics(on: bool) {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if is_silenced_task_panic() {
                return;
            }
            previous(info);
        }));
    });
    SILENCE.store(on, Ordering::Relaxed);
}

/// Whether the panic being raised right now is a supervised task's and silence is on. Other panic
/// hooks (a terminal-restoring one) use it to leave such panics alone whatever the hook order.
pub fn is_silenced_task_panic() -> bool {
    SILENCE.load(Ordering::Relaxed) && IN_TASK.with(Cell::get)
}

/// Runs `f` marked as supervised-task code.
pub(crate) fn in_task<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_TASK.with(|flag| flag.set(self.0));
        }
    }
    let _reset = Reset(IN_TASK.with(|flag| flag.replace(true)));
    f()
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}
