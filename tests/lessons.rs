//! The lessons beyond `s` and `k`, on tokio's paused clock: a `select!` branch that loses is
//! dropped like an abort, and a task nobody joins is dropped with its runtime.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{Cleanup, State, Supervisor};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A tick every 100 ms; a frame every 30 ms, its body 10 ms after its prefix.
fn frames() -> Params {
    Params {
        interval: ms(100),
        frame_every: ms(30),
        frame_split: ms(10),
        flush_every: 4,
        ..Params::default()
    }
}

async fn at(sup: &Supervisor, at: Duration) {
    tokio::time::sleep(at.saturating_sub(sup.uptime())).await;
}

#[tokio::test(start_paused = true)]
async fn a_select_branch_that_loses_drops_a_half_read_frame_and_a_kept_one_does_not() {
    let sup = Supervisor::builder().build().unwrap();
    let unsafe_id = sup
        .spawn(Kind::SelectUnsafe.task("unsafe", &frames()))
        .unwrap();
    let safe_id = sup.spawn(Kind::SelectSafe.task("safe", &frames())).unwrap();
    at(&sup, ms(5000)).await;
    // Frames 0..=166 have arrived whole by 5 s. A tick lands between a frame's prefix and its
    // body at 100, 400, 700, … ms — one tick in three, 17 in 5 s — and each loses that frame.
    assert_eq!(
        sup.task(unsafe_id).unwrap().note.as_deref(),
        Some("frames: 150 received, 17 lost")
    );
    assert_eq!(
        sup.task(safe_id).unwrap().note.as_deref(),
        Some("frames: 167 received, 0 lost")
    );

    // Both stop gracefully, and abort, like the others.
    sup.stop(unsafe_id).unwrap();
    sup.abort(safe_id).unwrap();
    let stopped = sup.joined(unsafe_id).await.unwrap();
    assert_eq!(stopped.state, State::Stopped);
    assert_eq!(stopped.cleanup, Cleanup::Ran);
    assert_eq!(stopped.ledger.counts().lost, 0);
    let aborted = sup.joined(safe_id).await.unwrap();
    assert_eq!(aborted.state, State::Aborted);
    assert_eq!(aborted.cleanup, Cleanup::Skipped);
    assert_eq!(
        aborted.ticks(),
        50,
        "ticks at 0, 100, …, 4900 ms: the abort came first at 5 s"
    );
    assert_eq!(
        aborted.ledger.counts().lost,
        2,
        "50 ticks, 48 flushed in fours"
    );
}

#[test]
fn a_detached_task_is_dropped_with_its_runtime_while_its_siblings_stop_cleanly() {
    taskmon::silence_task_panics(true);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let p = Params {
        interval: ms(100),
        flush_every: 4,
        ..Params::default()
    };
    let (sup, parent, sibling) = runtime.block_on(async {
        let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
        let parent = sup.spawn(Kind::Detached.task("mom", &p)).unwrap();
        let sibling = sup.spawn(Kind::Select.task("sibling", &p)).unwrap();
        at(&sup, ms(1050)).await;
        // Shutdown stops every supervised task and returns: the detached one is passed by.
        sup.shutdown(ms(1000)).await;
        assert_eq!(
            sup.uptime(),
            ms(1050),
            "nothing waited for the detached task"
        );
        (sup, parent, sibling)
    });
    let child = sup.task(parent + 2).unwrap();
    assert_eq!(child.name.as_ref(), "mom.detached");
    assert!(child.detached);
    assert_eq!(
        child.state,
        State::Running,
        "still running when the program ends"
    );

    drop(runtime); // the end of main: the runtime drops what still runs on it
    let child = sup.task(child.id).unwrap();
    assert_eq!(child.state, State::Dropped);
    assert_eq!(child.cleanup, Cleanup::Skipped, "its cleanup never ran");
    assert_eq!(child.stop_latency(), None, "never joined");
    assert_eq!(child.ticks(), 11);
    assert_eq!(child.ledger.counts().persisted, 8);
    assert_eq!(child.ledger.counts().lost, 3, "what it had not flushed");
    for id in [parent, sibling] {
        let s = sup.task(id).unwrap();
        assert_eq!(s.state, State::Stopped, "{}", s.name);
        assert_eq!(s.cleanup, Cleanup::Ran);
        assert_eq!(s.ledger.counts().lost, 0);
    }
}
