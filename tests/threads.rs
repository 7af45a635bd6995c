//! Lessons that involve real threads: synchronous work that nothing can interrupt, the blocking
//! pool, and the supervisor carrying on while every task worker is blocked. These run on the real
//! clock, so they wait for conditions (with a generous deadline) and assert orders, never durations.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{Cleanup, EventKind, State, Supervisor, TaskDef, TaskId};

/// Waits until `condition` holds; fails the test after ten seconds.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn blocking_params() -> Params {
    Params {
        busy: Duration::from_millis(300),
        interval: Duration::from_millis(1),
        flush_every: 1,
        ..Params::default()
    }
}

/// Requests `request` while the `blocking` task is inside its busy stretch and returns the ticks
/// seen then and the final snapshot. Retries when the request happened to land after the stretch.
async fn request_while_busy(request: impl Fn(&Supervisor, TaskId)) -> (u64, taskmon::TaskSnapshot) {
    for _ in 0..5 {
        let sup = Supervisor::new().unwrap();
        let id = sup
            .spawn(Kind::Blocking.task("hog", &blocking_params()))
            .unwrap();
        wait_until("the task is busy", || {
            let s = sup.task(id).unwrap();
            s.busy && s.ticks() >= 1
        })
        .await;
        let ticks = sup.task(id).unwrap().ticks();
        request(&sup, id);
        let landed_while_busy = sup.task(id).unwrap().busy;
        let end = sup.joined(id).await.unwrap();
        if landed_while_busy {
            return (ticks, end);
        }
    }
    panic!("never managed to request while the task was busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_delays_an_abort_until_it_yields() {
    let (ticks, end) = request_while_busy(|sup, id| sup.abort(id).unwrap()).await;
    assert_eq!(end.state, State::Aborted);
    assert_eq!(
        end.ticks(),
        ticks + 1,
        "the abort waited: the task finished its synchronous work and ticked once more"
    );
    assert_eq!(end.cleanup, Cleanup::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_delays_a_stop_until_it_yields() {
    let (ticks, end) = request_while_busy(|sup, id| sup.stop(id).unwrap()).await;
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.ticks(), ticks + 1);
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.ledger.counts().persisted, end.ticks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_ignores_abort_and_obeys_stop() {
    let sup = Supervisor::new().unwrap();
    let p = Params {
        interval: Duration::from_millis(2),
        flush_every: 3,
        ..Params::default()
    };
    let id = sup.spawn(Kind::SpawnBlocking.task("pool", &p)).unwrap();
    wait_until("it ticks", || sup.task(id).unwrap().ticks() >= 2).await;
    sup.abort(id).unwrap();
    let after_abort = sup.task(id).unwrap();
    assert!(after_abort.abort_ignored);
    wait_until("it keeps ticking after the abort", || {
        sup.task(id).unwrap().ticks() >= after_abort.ticks() + 5
    })
    .await;
    assert_eq!(sup.task(id).unwrap().state, State::Running);

    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.ledger.counts().lost, 0);
    assert_eq!(end.ledger.counts().persisted, end.ticks());
    let report = sup.report().await;
    assert_eq!(report[0].journal_verified, Some(true));
}

/// The supervisor's own work runs on the runtime that built it; tasks run on a runtime of their
/// own. With the only task worker blocked, grace timers, events, snapshots and spawns go on.
#[test]
fn the_supervisor_keeps_working_while_every_task_worker_is_blocked() {
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    control.block_on(async {
        let sup = Supervisor::builder()
            .grace(Duration::from_secs(2))
            .own_task_runtime(1)
            .build()
            .unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (entered, blocked) = tokio::sync::oneshot::channel::<()>();
        let hog = sup
            .spawn_fn("hog", move |mut ctx| async move {
                ctx.set_busy(true);
                let _ = entered.send(());
                // Blocks the only task worker until the test lets go.
                let _ = released.recv();
                ctx.set_busy(false);
                ctx.tick();
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .unwrap();
        blocked.await.unwrap();

        let mut events = sup.events();
        sup.stop(hog).unwrap();
        let stop_at = sup.uptime();
        assert_eq!(events.recv().await.unwrap().kind, EventKind::StopRequested);
        let escalated = events.recv().await.unwrap();
        assert_eq!(escalated.kind, EventKind::Escalated);
        assert_eq!(
            escalated.since_start - stop_at,
            Duration::from_secs(2),
            "the grace timer fired on time though no task worker was free"
        );

        let snapshot = sup.task(hog).unwrap();
        assert!(snapshot.busy);
        assert_eq!(snapshot.state, State::Stopping);
        assert_eq!(snapshot.ticks(), 0);

        let late = sup
            .spawn(Kind::Select.task("late", &Params::default()))
            .unwrap();
        let spawned = events.recv().await.unwrap();
        assert_eq!((spawned.kind, spawned.id), (EventKind::Spawned, late));
        assert_eq!(sup.task(late).unwrap().ticks(), 0, "it cannot start yet");

        release.send(()).unwrap();
        let end = sup.joined(hog).await.unwrap();
        assert_eq!(end.state, State::Escalated);
        assert_eq!(
            end.ticks(),
            1,
            "it ran until its next await, where the abort landed"
        );
        // Back to the real clock: a paused one would let the grace period pass at once while
        // `late`, on the real-clock task runtime, has not yet seen its stop.
        tokio::time::resume();
        sup.shutdown(Duration::from_secs(5)).await;
        assert_eq!(sup.task(late).unwrap().state, State::Stopped);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_an_ignored_abort_counts_from_the_stop() {
    let sup = Supervisor::new().unwrap();
    let p = Params {
        interval: Duration::from_millis(2),
        ..Params::default()
    };
    let id = sup.spawn(Kind::SpawnBlocking.task("pool", &p)).unwrap();
    wait_until("it ticks", || sup.task(id).unwrap().ticks() >= 2).await;
    sup.abort(id).unwrap();
    let ticks_at_abort = sup.task(id).unwrap().ticks();
    wait_until("it ticks on after the abort", || {
        sup.task(id).unwrap().ticks() >= ticks_at_abort + 5
    })
    .await;
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    let at = |m| end.timeline.at(m).unwrap();
    assert!(at(EventKind::AbortRequested) < at(EventKind::StopRequested));
    assert_eq!(
        end.stop_latency(),
        Some(at(EventKind::Joined) - at(EventKind::StopRequested)),
        "the stop ended it; the ignored abort is not counted"
    );
}

/// A task that blocks its worker until the test lets go, marked busy meanwhile.
fn hog(
    sup: &Supervisor,
    released: std::sync::mpsc::Receiver<()>,
    entered: tokio::sync::oneshot::Sender<()>,
) -> TaskId {
    sup.spawn_fn("hog", move |ctx| async move {
        ctx.set_busy(true);
        let _ = entered.send(());
        let _ = released.recv();
        ctx.set_busy(false);
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .unwrap()
}

/// Blocking code never reaches an `.await`: shutdown gives up on it a second after its abort,
/// exactly, and returns.
#[test]
fn shutdown_abandons_what_cannot_be_joined_a_second_after_the_abort() {
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    control.block_on(async {
        let sup = Supervisor::builder().own_task_runtime(1).build().unwrap();
        let mut events = sup.events();
        let (entered, blocked) = tokio::sync::oneshot::channel::<()>();
        let id = hog(&sup, released, entered);
        // On the blocking pool and deaf to its token: an abort cannot touch it.
        let deaf = sup
            .spawn(TaskDef::blocking("deaf", |_ctx| {
                loop {
                    std::thread::park();
                }
            }))
            .unwrap();
        blocked.await.unwrap();

        let start = sup.uptime();
        sup.shutdown(Duration::from_secs(2)).await;
        assert_eq!(
            sup.uptime() - start,
            Duration::from_secs(3),
            "the grace, then one second"
        );
        for id in [id, deaf] {
            let end = sup.task(id).unwrap();
            assert_eq!(end.state, State::Abandoned, "{}", end.name);
            assert_eq!(end.cleanup, Cleanup::Skipped);
            assert_eq!(end.stop_latency(), None, "it was never joined");
            assert_eq!(
                end.timeline.at(EventKind::Abandoned),
                Some(start + Duration::from_secs(3))
            );
            assert_eq!(sup.joined(id).await.unwrap().state, State::Abandoned);
        }
        let abandoned = std::iter::from_fn(|| events.try_recv())
            .filter(|e| e.kind == EventKind::Abandoned)
            .count();
        assert_eq!(abandoned, 2);
        // The task runtime is dropped with the supervisor; its threads are left behind.
    });
    drop(release);
}
