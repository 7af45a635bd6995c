//! The core where requests, restarts and subscribers meet: each test here hung, miscounted or
//! lost a request before the run lock, the claim that keeps the state readers see, and the
//! subscribers called with no lock held.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use taskmon::{
    Detail, EventKind, JournalConfig, RestartPolicy, State, Supervisor, SupervisorError,
    TaskContext, TaskDef, TaskId,
};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn exact() -> Supervisor {
    taskmon::silence_task_panics(true);
    Supervisor::builder()
        .grace(ms(1000))
        .restart_jitter(0.0)
        .default_journal(JournalConfig::OFF)
        .build()
        .unwrap()
}

/// A restartable body that ticks until stopped.
fn ticker(name: &str) -> TaskDef {
    TaskDef::restartable(name, |mut ctx: TaskContext| async move {
        loop {
            ctx.tick();
            tokio::select! {
                () = ctx.cancelled() => return,
                () = sleep(ms(100)) => {}
            }
        }
    })
    .boxed()
}

/// A parent that spawns one child and one detached task, then waits to be stopped.
async fn family(sup: &Supervisor) -> (TaskId, TaskId, TaskId) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = sup
        .spawn_fn("parent", move |ctx| async move {
            let child = ctx.spawn_child(ticker("child")).unwrap();
            let detached = ctx.spawn_detached(ticker("loose")).unwrap();
            let _ = tx.send((child, detached));
            ctx.cancelled().await;
        })
        .unwrap();
    let (child, detached) = rx.await.unwrap();
    (parent, child, detached)
}

/// A runtime with real threads, for the races.
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on a thread of its own and fails, rather than hanging, when it does not return.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} never returned: a deadlock"))
}

#[tokio::test(start_paused = true)]
async fn restarting_a_child_or_a_detached_task_by_hand_does_not_hang() {
    let sup = exact();
    let (parent, child, detached) = family(&sup).await;
    sleep(ms(250)).await;
    for id in [child, detached] {
        sup.stop(id).unwrap();
        assert_eq!(sup.joined(id).await.unwrap().state, State::Stopped);
        let s = sup.clone();
        within("restart", move || s.restart(id)).unwrap();
        assert_eq!(sup.task(id).unwrap().state, State::Running);
    }
    // The restarted child is under its parent's token again; the detached task is not.
    sup.stop(parent).unwrap();
    assert_eq!(sup.joined(child).await.unwrap().state, State::Stopped);
    sleep(ms(500)).await;
    assert_eq!(sup.task(detached).unwrap().state, State::Running);
    sup.stop(detached).unwrap();
    sup.joined(detached).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn restarting_a_child_by_its_policy_does_not_hang() {
    let sup = exact();
    let parent = sup
        .spawn_fn("parent", |ctx| async move {
            ctx.spawn_child(
                TaskDef::restartable("flaky-child", |mut ctx: TaskContext| async move {
                    ctx.tick();
                    sleep(ms(50)).await;
                    panic!("again");
                })
                .restart(RestartPolicy::on_panic().delay(ms(10)).limit(3, ms(60_000))),
            )
            .unwrap();
            ctx.cancelled().await;
        })
        .unwrap();
    sleep(ms(1)).await;
    let child = sup.children(parent)[0];
    let end = tokio::time::timeout(Duration::from_secs(10), sup.joined(child))
        .await
        .expect("the child's restarts went on")
        .unwrap();
    assert_eq!((end.state, end.restarts), (State::Failed, 3));
    sup.shutdown(ms(100)).await;
}

/// A detached task is not among the tasks shutdown waits for: ending it from its backoff gives
/// back no count it never took, and restarting it by hand takes none.
#[tokio::test(start_paused = true)]
async fn a_detached_task_never_moves_the_live_count() {
    let sup = exact();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = sup
        .spawn_fn("parent", move |ctx| async move {
            let loose = ctx
                .spawn_detached(
                    TaskDef::restartable("loose", |mut ctx: TaskContext| async move {
                        ctx.tick();
                        sleep(ms(10)).await;
                        panic!("again");
                    })
                    .restart(RestartPolicy::on_panic().delay(ms(10_000))),
                )
                .unwrap();
            let _ = tx.send(loose);
            ctx.cancelled().await;
        })
        .unwrap();
    let loose = rx.await.unwrap();
    sleep(ms(100)).await;
    assert_eq!(sup.task(loose).unwrap().state, State::Restarting);
    assert_eq!(sup.live_tasks(), 1, "the parent alone");
    sup.stop(loose).unwrap();
    assert_eq!(sup.task(loose).unwrap().state, State::Stopped);
    assert_eq!(sup.live_tasks(), 1, "the parent still runs");

    sup.restart(loose).unwrap();
    assert_eq!(
        sup.live_tasks(),
        1,
        "a restarted detached task is not waited for"
    );
    sup.abort(loose).unwrap();
    sup.joined(loose).await.unwrap();
    assert_eq!(sup.live_tasks(), 1);

    // Shutdown waits for the parent only: it returns as soon as the parent is joined.
    let started = tokio::time::Instant::now();
    sup.shutdown(ms(1000)).await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(sup.task(parent).unwrap().state, State::Stopped);
    assert_eq!(sup.live_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_may_spawn_and_stop_from_its_callback() {
    let sup = exact();
    let (a, b, c) = family(&sup).await;
    let spawned = Arc::new(AtomicBool::new(false));
    let (s, once) = (sup.clone(), spawned.clone());
    sup.on_event(move |event| {
        if event.kind == EventKind::StopRequested && !once.swap(true, Ordering::SeqCst) {
            s.spawn(ticker("from-a-callback")).unwrap();
            let _ = s.stop(event.id);
            let _ = s.task(event.id);
        }
        true
    });
    let s = sup.clone();
    let asked = within("stop_all", move || s.stop_all());
    assert_eq!(
        asked, 2,
        "the parent and its child; the detached task is passed by"
    );
    assert!(spawned.load(Ordering::SeqCst));
    let s = sup.clone();
    within("abort_all", move || s.abort_all());
    sup.abort(c).unwrap();
    for id in [a, b, c] {
        sup.joined(id).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_subscriber_is_dropped_and_tasks_still_end() {
    let sup = exact();
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    sup.on_event(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        panic!("a subscriber's bug");
    });
    let id = sup.spawn(ticker("t")).unwrap();
    sleep(ms(150)).await;
    sup.stop(id).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), sup.joined(id))
        .await
        .expect("the task's end was recorded")
        .unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "dropped after its panic");
    assert_eq!(sup.live_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_task_does_not_keep_the_last_runs_journal_error() {
    let dir = tempfile::tempdir().unwrap();
    let sup = Supervisor::builder()
        .journal_dir(dir.path())
        .build()
        .unwrap();
    let id = sup
        .spawn(
            TaskDef::restartable("writer", |mut ctx: TaskContext| async move {
                ctx.tick();
                let _ = ctx.flush_journal();
            })
            .journal(JournalConfig::default()),
        )
        .unwrap();
    // A directory where the journal file goes: its first write fails.
    let path = sup.journal_path(id).unwrap();
    std::fs::create_dir(&path).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert!(end.journal_error.is_some(), "{end:?}");
    std::fs::remove_dir(&path).unwrap();
    sup.restart(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.journal_error, None);
    assert_eq!(end.ledger.counts().persisted, 1);
}

/// A request accepted must take effect: an abort that returned Ok ends the task aborted, never
/// lost between one run and the next, whether the run ended by itself or was restarted by hand.
#[test]
fn an_accepted_abort_or_stop_is_never_lost_to_a_restart() {
    let rt = two_workers();
    taskmon::silence_task_panics(true);
    let mut accepted = 0;
    for round in 0..400 {
        let abort = round % 2 == 0;
        rt.block_on(async {
            let sup = Supervisor::builder()
                .restart_jitter(0.0)
                .default_journal(JournalConfig::OFF)
                .build()
                .unwrap();
            // Ends on its own at once and is run again at once: most of its life is restarts.
            let id = sup
                .spawn(
                    TaskDef::restartable("spin", |mut ctx: TaskContext| async move {
                        ctx.tick();
                        tokio::task::yield_now().await;
                    })
                    .restart(
                        RestartPolicy::always()
                            .delay(Duration::ZERO)
                            .limit(u32::MAX, Duration::from_secs(1)),
                    ),
                )
                .unwrap();
            let mut events = sup.events();
            let hand = {
                let sup = sup.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _ = sup.restart(id);
                    }
                })
            };
            let pause = fastrand::u64(0..300);
            for _ in 0..pause {
                tokio::task::yield_now().await;
            }
            let result = if abort { sup.abort(id) } else { sup.stop(id) };
            if result.is_ok() {
                accepted += 1;
                // Its runs end and restart without a join; the first join is the request's.
                let joined = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        let event = events.recv().await.unwrap();
                        if let Detail::Joined { state, .. } = event.detail {
                            return state;
                        }
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("round {round}: accepted, and the task ran on"));
                // A run that returned before the abort landed finished by itself; either
                // way no restart follows the request.
                let expected: &[State] = if abort {
                    &[State::Aborted, State::Finished]
                } else {
                    &[State::Stopped]
                };
                assert!(expected.contains(&joined), "round {round}: {joined}");
            }
            hand.join().unwrap();
            // Once it has ended after a request, a restart by hand may run it again; the
            // shutdown ends whatever runs.
            tokio::time::timeout(Duration::from_secs(10), sup.shutdown(ms(500)))
                .await
                .expect("shutdown returned");
        });
    }
    assert!(accepted > 100, "only {accepted} requests were accepted");
}

/// Abort-all racing spawns: every task it reached ends aborted, even one whose handle was not
/// set yet when the abort came.
#[test]
fn an_abort_all_racing_spawns_reaches_every_task_it_counted() {
    let rt = two_workers();
    for round in 0..50 {
        rt.block_on(async {
            let sup = exact();
            let spawner = {
                let sup = sup.clone();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        match sup.spawn(ticker(&format!("t{round}-{i}"))) {
                            Ok(_) | Err(SupervisorError::ShuttingDown) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            };
            let aborter = {
                let sup = sup.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        sup.abort_all();
                    }
                })
            };
            spawner.join().unwrap();
            aborter.join().unwrap();
            sleep(ms(50)).await;
            for s in sup.snapshot() {
                if s.timeline.at(EventKind::AbortRequested).is_some() {
                    let end = tokio::time::timeout(Duration::from_secs(10), sup.joined(s.id))
                        .await
                        .unwrap_or_else(|_| panic!("#{} was asked to abort and runs on", s.id))
                        .unwrap();
                    assert_eq!(end.state, State::Aborted);
                }
            }
            sup.shutdown(ms(100)).await;
        });
    }
}
