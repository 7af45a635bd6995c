//! Shutdown in stages, on tokio's paused clock: stage 0 is joined before stage 1 is asked, a stage
//! that overruns its grace is escalated and the next still gets all of its own.

use std::time::Duration;

use taskmon::{Event, EventKind, State, Supervisor, TaskDef, TaskId};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A task that stops when asked, after a cleanup of `cleanup`; or never looks at its token.
fn service(name: &str, stage: u32, cleanup: Duration, deaf: bool) -> TaskDef {
    TaskDef::new(name.to_string(), move |mut ctx| async move {
        let token = ctx.token().clone();
        loop {
            tokio::select! {
                _ = token.cancelled(), if !deaf => break,
                _ = tokio::time::sleep(ms(10)) => { ctx.tick(); }
            }
        }
        ctx.stop_noticed();
        ctx.cleanup_started();
        tokio::time::sleep(cleanup).await;
        ctx.cleanup_finished();
    })
    .stage(stage)
    .boxed()
}

fn events_of(events: &mut taskmon::EventStream) -> Vec<Event> {
    let mut all = Vec::new();
    while let Some(e) = events.try_recv() {
        all.push(e);
    }
    all
}

fn moment(events: &[Event], id: TaskId, kind: EventKind) -> Duration {
    events
        .iter()
        .find(|e| e.id == id && e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} of #{id}"))
        .since_start
}

/// The README's service: an acceptor, connection handlers, a writer.
#[tokio::test(start_paused = true)]
async fn shutdown_stops_stage_0_joins_it_then_stage_1_then_stage_2() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let mut events = sup.events();
    let writer = sup.spawn(service("writer", 2, ms(50), false)).unwrap();
    let handlers: Vec<_> = (0..3)
        .map(|i| {
            sup.spawn(service(&format!("conn-{i}"), 1, ms(100 + 50 * i), false))
                .unwrap()
        })
        .collect();
    let acceptor = sup.spawn(service("acceptor", 0, ms(20), false)).unwrap();
    tokio::time::sleep(ms(500)).await;
    sup.shutdown(ms(1000)).await;
    let events = events_of(&mut events);
    let asked = |id| moment(&events, id, EventKind::StopRequested);
    let joined = |id| moment(&events, id, EventKind::Joined);
    assert_eq!(asked(acceptor), ms(500));
    let last_handler = handlers.iter().map(|&h| joined(h)).max().unwrap();
    for &h in &handlers {
        assert_eq!(
            asked(h),
            joined(acceptor),
            "stage 1 is asked when stage 0 is joined"
        );
    }
    assert_eq!(
        asked(writer),
        last_handler,
        "stage 2 when the last of stage 1 is joined"
    );
    assert_eq!(joined(writer), asked(writer) + ms(50));
    for s in sup.snapshot() {
        assert_eq!(s.state, State::Stopped, "{}", s.name);
    }
}

/// A deaf task holds stage 0 until its grace is over and it is escalated; stage 1 then gets its
/// whole grace, and a cleanup that takes most of it still finishes.
#[tokio::test(start_paused = true)]
async fn a_stuck_stage_escalates_and_the_next_still_gets_its_full_grace() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let mut events = sup.events();
    let deaf = sup.spawn(service("deaf", 0, ms(0), true)).unwrap();
    let slow = sup.spawn(service("slow", 1, ms(900), false)).unwrap();
    tokio::time::sleep(ms(100)).await;
    sup.shutdown(ms(1000)).await;
    let events = events_of(&mut events);
    assert_eq!(sup.task(deaf).unwrap().state, State::Escalated);
    assert_eq!(moment(&events, deaf, EventKind::Escalated), ms(1100));
    let asked = moment(&events, slow, EventKind::StopRequested);
    assert_eq!(asked, moment(&events, deaf, EventKind::Joined));
    let slow = sup.task(slow).unwrap();
    assert_eq!(
        slow.state,
        State::Stopped,
        "not escalated: its grace began at its stage"
    );
    assert_eq!(slow.timeline.at(EventKind::Joined), Some(asked + ms(900)));
}

/// `stop_all` (the dashboard's `S`, `ctl stop-all`) goes in the same order, without waiting for
/// it: it returns at once and the stages follow.
#[tokio::test(start_paused = true)]
async fn stop_all_goes_stage_by_stage_too() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let first = sup.spawn(service("first", 0, ms(200), false)).unwrap();
    let second = sup.spawn(service("second", 1, ms(10), false)).unwrap();
    tokio::time::sleep(ms(100)).await;
    assert_eq!(sup.stop_all(), 2);
    tokio::time::sleep(ms(1)).await;
    assert_eq!(
        sup.task(second).unwrap().state,
        State::Running,
        "stage 1 waits"
    );
    let first = sup.joined(first).await.unwrap();
    let second = sup.joined(second).await.unwrap();
    assert_eq!(
        second.timeline.at(EventKind::StopRequested),
        first.timeline.at(EventKind::Joined)
    );
    assert_eq!(second.state, State::Stopped);
}

/// The program's own root token: cancelling it shuts the tasks down, in stages.
#[tokio::test(start_paused = true)]
async fn a_cancelled_parent_token_stops_everything_in_stages() {
    let root = tokio_util::sync::CancellationToken::new();
    let sup = Supervisor::builder()
        .grace(ms(1000))
        .parent_token(root.clone())
        .build()
        .unwrap();
    let mut events = sup.events();
    let first = sup.spawn(service("first", 0, ms(30), false)).unwrap();
    let second = sup.spawn(service("second", 1, ms(30), false)).unwrap();
    tokio::time::sleep(ms(100)).await;
    root.cancel();
    sup.all_joined().await;
    assert!(sup.is_shutting_down());
    let events = events_of(&mut events);
    assert_eq!(moment(&events, first, EventKind::StopRequested), ms(100));
    assert_eq!(
        moment(&events, second, EventKind::StopRequested),
        moment(&events, first, EventKind::Joined)
    );
    for s in sup.snapshot() {
        assert_eq!(s.state, State::Stopped, "{}", s.name);
    }
}

/// The usual tokio pattern: handlers send to a writer over a channel; the writer (a later stage,
/// deaf to its token) drains until every `Sender` is gone, then flushes. The handlers'
/// restartable bodies hold `Sender`s: dropped once no run can follow, the channel closes and the
/// writer flushes everything within the grace.
#[tokio::test(start_paused = true)]
async fn a_restartable_body_lets_go_of_its_sender_so_the_writer_drains_and_flushes() {
    let sup = Supervisor::builder().grace(ms(500)).build().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
    let flushed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = flushed.clone();
    let writer = sup
        .spawn(
            TaskDef::new("writer", move |_ctx| async move {
                let mut buffer = 0;
                while let Some(n) = rx.recv().await {
                    buffer += n;
                }
                seen.store(buffer, std::sync::atomic::Ordering::SeqCst);
            })
            .stage(1),
        )
        .unwrap();
    for i in 0..3 {
        let tx = tx.clone();
        let handler = TaskDef::restartable(format!("handler-{i}"), move |ctx| {
            let tx = tx.clone();
            async move {
                tx.send(1).await.unwrap();
                ctx.cancelled().await;
            }
        });
        sup.spawn(handler).unwrap();
    }
    drop(tx);
    tokio::time::sleep(ms(100)).await;
    sup.shutdown(ms(500)).await;
    assert_eq!(sup.task(writer).unwrap().state, State::Finished);
    assert_eq!(flushed.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// Before shutdown an ended restartable task keeps its code: `restart` runs it again.
#[tokio::test(start_paused = true)]
async fn an_ended_restartable_task_keeps_its_code_for_a_restart_by_hand() {
    let sup = Supervisor::new().unwrap();
    let id = sup
        .spawn(TaskDef::restartable("once", |mut ctx| async move {
            ctx.tick();
        }))
        .unwrap();
    sup.joined(id).await.unwrap();
    sup.restart(id).unwrap();
    let again = sup.joined(id).await.unwrap();
    assert_eq!((again.state, again.ticks()), (State::Finished, 2));
}
