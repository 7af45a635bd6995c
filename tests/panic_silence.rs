//! A task's panic is caught and kept, and printed by nobody while silence is asked for. Its own
//! test binary, because the panic hook is global to the process.

use std::sync::atomic::{AtomicUsize, Ordering};

use taskmon::kinds::{Kind, Params};
use taskmon::{State, Supervisor};

static PRINTED: AtomicUsize = AtomicUsize::new(0);

#[tokio::test(start_paused = true)]
async fn task_panics_stay_quiet_while_silenced_and_other_panics_do_not() {
    // Stands in for Rust's default hook, which would print to stderr.
    std::panic::set_hook(Box::new(|_| {
        PRINTED.fetch_add(1, Ordering::SeqCst);
    }));
    taskmon::silence_task_panics(true);

    let sup = Supervisor::new().unwrap();
    let p = Params {
        panic_after: 2,
        ..Params::default()
    };
    let quiet = sup.spawn(Kind::Panicky.task("quiet", &p)).unwrap();
    let end = sup.joined(quiet).await.unwrap();
    assert_eq!(end.state, State::Panicked);
    assert!(end.panic_message.unwrap().contains("after 2 ticks"));
    assert_eq!(
        PRINTED.load(Ordering::SeqCst),
        0,
        "the task's panic was not printed"
    );

    let outside = std::panic::catch_unwind(|| panic!("not a task"));
    assert!(outside.is_err());
    assert_eq!(
        PRINTED.load(Ordering::SeqCst),
        1,
        "other panics still reach the hook"
    );

    taskmon::silence_task_panics(false);
    let loud = sup.spawn(Kind::Panicky.task("loud", &p)).unwrap();
    assert_eq!(sup.joined(loud).await.unwrap().state, State::Panicked);
    assert_eq!(
        PRINTED.load(Ordering::SeqCst),
        2,
        "without silence the hook sees it"
    );
}
