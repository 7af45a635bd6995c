//! The lessons of the kinds, checked on tokio's paused clock so tick counts and latencies are exact.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{
    Cleanup, EventKind, JournalConfig, State, Supervisor, TaskDef, TaskId, TaskSnapshot,
};
use tokio::time::{Instant, sleep, sleep_until};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn supervisor(grace: Duration) -> Supervisor {
    Supervisor::builder()
        .grace(grace)
        .build()
        .expect("supervisor")
}

fn params(interval_ms: u64, flush_every: u64) -> Params {
    Params {
        interval: ms(interval_ms),
        flush_every,
        ..Params::default()
    }
}

fn spawn(sup: &Supervisor, kind: Kind, name: &str, p: &Params) -> TaskId {
    sup.spawn(kind.task(name, p)).expect("spawn")
}

/// Sleeps until `at` after the supervisor started.
async fn at(sup: &Supervisor, at: Duration) {
    let now = sup.uptime();
    assert!(now <= at, "test timeline went backwards: {now:?} > {at:?}");
    sleep_until(Instant::now() + (at - now)).await;
}

fn assert_accounts(s: &TaskSnapshot) {
    let l = s.ledger.journal.expect("a journaled task");
    assert_eq!(
        s.ledger.ticks,
        l.persisted + l.lost + l.pending,
        "ticks = persisted + lost + pending for {} ({:?})",
        s.name,
        l
    );
}

async fn verified(sup: &Supervisor, id: TaskId) -> bool {
    let report = sup.report().await;
    let r = report.iter().find(|r| r.snapshot.id == id).expect("report");
    assert_eq!(
        r.records_on_disk,
        Some(r.snapshot.ledger.counts().persisted)
    );
    r.journal_verified == Some(true)
}

#[tokio::test(start_paused = true)]
async fn polling_stop_takes_up_to_one_interval_and_loses_nothing() {
    let sup = supervisor(ms(3000));
    let id = spawn(&sup, Kind::Polling, "poll", &params(100, 4));
    at(&sup, ms(1050)).await;
    let before = sup.task(id).unwrap();
    assert_eq!(before.state, State::Running);
    assert_eq!(before.ticks(), 11, "ticks at 0, 100, …, 1000 ms");
    assert_eq!(before.ledger.counts().pending, 3);

    sup.stop(id).unwrap();
    assert_eq!(sup.task(id).unwrap().state, State::Stopping);
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(
        end.stop_latency(),
        Some(ms(50)),
        "noticed at the next check, 1100 ms"
    );
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.ticks(), 11);
    assert_eq!(end.ledger.counts().lost, 0);
    assert_eq!(end.ledger.counts().persisted, end.ticks());
    assert_accounts(&end);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn polling_abort_is_instant_skips_cleanup_and_loses_pending_records() {
    let sup = supervisor(ms(3000));
    let id = spawn(&sup, Kind::Polling, "poll", &params(100, 4));
    at(&sup, ms(1050)).await;
    let pending_at_abort = sup.task(id).unwrap().ledger.counts().pending;
    assert_eq!(pending_at_abort, 3, "11 ticks, 8 flushed");

    sup.abort(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Aborted);
    assert_eq!(end.stop_latency(), Some(Duration::ZERO));
    assert_eq!(end.cleanup, Cleanup::Skipped);
    assert_eq!(end.ledger.counts().lost, pending_at_abort);
    assert_eq!(end.ledger.counts().persisted, 8);
    assert_eq!(end.ledger.counts().pending, 0);
    assert!(end.drop_ran, "only the synchronous Drop ran");
    assert_accounts(&end);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn flush_on_drop_loses_nothing_on_abort() {
    let sup = supervisor(ms(3000));
    let p = Params {
        flush_on_drop: true,
        ..params(100, 4)
    };
    let id = spawn(&sup, Kind::Polling, "dropper", &p);
    at(&sup, ms(1050)).await;
    sup.abort(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Aborted);
    assert_eq!(
        end.cleanup,
        Cleanup::Skipped,
        "async cleanup still did not run"
    );
    assert_eq!(end.ledger.counts().lost, 0);
    assert_eq!(end.ledger.counts().persisted, 11);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn select_notices_the_stop_at_once() {
    let sup = supervisor(ms(3000));
    let id = spawn(&sup, Kind::Select, "sel", &params(100, 4));
    at(&sup, ms(1050)).await;
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.stop_latency(), Some(Duration::ZERO));
    assert_eq!(end.timeline.at(EventKind::StopNoticed), Some(ms(1050)));
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.ticks(), 11);
    assert_eq!(end.ledger.counts().persisted, 11);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn stubborn_is_escalated_exactly_at_the_grace_period() {
    let sup = supervisor(ms(2000));
    let mut events = sup.events();
    let id = spawn(&sup, Kind::Stubborn, "mule", &params(100, 4));
    at(&sup, ms(1050)).await;
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Escalated);
    assert_eq!(end.stop_latency(), Some(ms(2000)));
    assert_eq!(end.timeline.at(EventKind::Escalated), Some(ms(3050)));
    assert_eq!(end.cleanup, Cleanup::Skipped);
    assert_eq!(
        end.ticks(),
        31,
        "it kept ticking through the grace period: 0..=3000 ms"
    );
    assert_eq!(end.ledger.counts().persisted, 28);
    assert_eq!(end.ledger.counts().lost, 3);
    assert_accounts(&end);
    let kinds: Vec<_> = std::iter::from_fn(|| events.try_recv())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Spawned,
            EventKind::StopRequested,
            EventKind::Escalated,
            EventKind::Joined
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_cleanup_shows_progress_and_an_abort_mid_cleanup_leaves_it_partial() {
    let sup = supervisor(ms(5000));
    let p = Params {
        cleanup: ms(2000),
        ..params(100, 100)
    };
    let id = spawn(&sup, Kind::SlowCleanup, "slow", &p);
    at(&sup, ms(1050)).await;
    sup.stop(id).unwrap();
    at(&sup, ms(1550)).await;
    let mid = sup.task(id).unwrap();
    assert_eq!(mid.state, State::CleaningUp);
    assert_eq!(mid.cleanup_progress, Some(0.2));
    assert_eq!(
        mid.ledger.counts().persisted,
        3,
        "11 pending records, two steps of ten done"
    );
    assert_accounts(&mid);

    sup.abort(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Aborted);
    assert_eq!(end.cleanup, Cleanup::Partial);
    assert_eq!(end.ledger.counts().persisted, 3);
    assert_eq!(end.ledger.counts().lost, 8);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn slow_cleanup_longer_than_the_grace_period_is_escalated_partial() {
    let sup = supervisor(ms(1100));
    let id = spawn(&sup, Kind::SlowCleanup, "slow", &params(100, 100));
    at(&sup, ms(1050)).await;
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Escalated);
    assert_eq!(end.stop_latency(), Some(ms(1100)));
    assert_eq!(end.cleanup, Cleanup::Partial);
    assert_eq!(end.cleanup_progress, Some(0.5));
    assert_accounts(&end);
}

#[tokio::test(start_paused = true)]
async fn slow_cleanup_within_the_grace_period_runs_to_the_end() {
    let sup = supervisor(ms(3000));
    let id = spawn(&sup, Kind::SlowCleanup, "slow", &params(100, 100));
    at(&sup, ms(1050)).await;
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.stop_latency(), Some(ms(2000)));
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.ledger.counts().persisted, 11);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn panicky_ends_panicked_with_its_message_and_disturbs_nothing_else() {
    let sup = supervisor(ms(3000));
    let mut events = sup.events();
    let p = Params {
        panic_after: 5,
        ..params(100, 2)
    };
    let boom = spawn(&sup, Kind::Panicky, "boom", &p);
    let calm = spawn(&sup, Kind::Select, "calm", &params(100, 2));
    let end = sup.joined(boom).await.unwrap();
    assert_eq!(end.state, State::Panicked);
    assert_eq!(end.timeline.at(EventKind::Joined), Some(ms(400)));
    let message = end.panic_message.as_deref().expect("message kept");
    assert!(message.contains("after 5 ticks"), "{message}");
    assert!(end.drop_ran, "its Drop still ran");
    assert_eq!(end.cleanup, Cleanup::Skipped);
    assert_eq!(end.ledger.counts().persisted, 4);
    assert_eq!(end.ledger.counts().lost, 1);
    let panicked = std::iter::from_fn(|| events.try_recv())
        .find(|e| e.kind == EventKind::Panicked)
        .expect("panicked event");
    assert_eq!(
        panicked.detail,
        taskmon::Detail::Panicked {
            message: message.into()
        }
    );

    at(&sup, ms(1050)).await;
    let other = sup.task(calm).unwrap();
    assert_eq!(other.state, State::Running);
    assert_eq!(other.ticks(), 11);
}

#[tokio::test(start_paused = true)]
async fn aborting_a_parent_leaves_its_children_running_as_orphans() {
    let sup = supervisor(ms(3000));
    let mut events = sup.events();
    let parent = spawn(&sup, Kind::Parent, "mom", &params(100, 4));
    at(&sup, ms(1050)).await;
    let children = sup.children(parent);
    assert_eq!(children.len(), 3);
    sup.abort(parent).unwrap();
    assert_eq!(sup.joined(parent).await.unwrap().state, State::Aborted);

    at(&sup, ms(2050)).await;
    for &child in &children {
        let c = sup.task(child).unwrap();
        assert_eq!(c.state, State::Running);
        assert!(c.orphan);
        assert_eq!(c.parent, Some(parent));
        assert_eq!(c.ticks(), 21, "still ticking after the parent ended");
    }
    let orphaned = std::iter::from_fn(|| events.try_recv())
        .filter(|e| e.kind == EventKind::Orphaned)
        .count();
    assert_eq!(orphaned, 3);
    sup.shutdown(ms(3000)).await;
    assert!(
        children
            .iter()
            .all(|&c| sup.task(c).unwrap().state == State::Stopped)
    );
}

#[tokio::test(start_paused = true)]
async fn stopping_a_parent_joins_its_children_before_its_own_cleanup() {
    let sup = supervisor(ms(3000));
    let parent = spawn(&sup, Kind::Parent, "dad", &params(100, 4));
    at(&sup, ms(1050)).await;
    let children = sup.children(parent);
    sup.stop(parent).unwrap();
    let end = sup.joined(parent).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.cleanup, Cleanup::Ran);
    let cleanup_started = end.timeline.at(EventKind::CleanupStarted).unwrap();
    for child in children {
        let c = sup.task(child).unwrap();
        assert_eq!(c.state, State::Stopped);
        assert!(!c.orphan);
        assert_eq!(c.cleanup, Cleanup::Ran);
        assert_eq!(c.ledger.counts().lost, 0);
        assert!(
            c.timeline.at(EventKind::StopRequested).is_some(),
            "the stop cascaded"
        );
        assert!(c.timeline.at(EventKind::Joined).unwrap() <= cleanup_started);
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_joins_every_task_and_escalates_what_overruns_the_grace() {
    let sup = supervisor(ms(3000));
    let p = Params {
        busy: ms(5),
        panic_after: 1000,
        panic_chance: 0.0,
        ..params(100, 4)
    };
    let ids: Vec<_> = Kind::ALL
        .into_iter()
        .filter(|k| !matches!(k, Kind::SpawnBlocking | Kind::Detached))
        .map(|k| spawn(&sup, k, k.name(), &p))
        .collect();
    at(&sup, ms(1050)).await;
    sup.shutdown(ms(1000)).await;
    assert!(sup.is_shutting_down());
    assert!(sup.spawn(Kind::Select.task("late", &p)).is_err());
    for s in sup.snapshot() {
        assert!(s.state.is_ended(), "{} left {:?}", s.name, s.state);
        assert_accounts(&s);
        assert_eq!(s.ledger.counts().pending, 0);
        let expected = match s.kind.as_ref() {
            "stubborn" | "slow-cleanup" => State::Escalated,
            _ => State::Stopped,
        };
        assert_eq!(s.state, expected, "{}", s.name);
    }
    assert_eq!(ids.len(), 11);
    assert!(
        sup.report()
            .await
            .iter()
            .all(|r| r.journal_verified == Some(true))
    );
}

#[tokio::test(start_paused = true)]
async fn a_user_closure_gets_its_token_counter_and_phases() {
    let sup = supervisor(ms(3000));
    let id = sup
        .spawn(
            TaskDef::new("mine", |mut ctx| async move {
                loop {
                    tokio::select! {
                        _ = ctx.cancelled() => break,
                        _ = sleep(ms(250)) => { ctx.tick(); }
                    }
                }
                ctx.stop_noticed();
                ctx.cleanup_started();
                sleep(ms(100)).await;
                ctx.flush_journal().unwrap();
                ctx.cleanup_finished();
            })
            .journal(JournalConfig::default()),
        )
        .unwrap();
    at(&sup, ms(1100)).await;
    assert_eq!(sup.task(id).unwrap().ticks(), 4);
    sup.stop(id).unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.kind.as_ref(), "custom");
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.stop_latency(), Some(ms(100)));
    assert_eq!(end.ledger.counts().persisted, 4);
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert!(verified(&sup, id).await);
}

#[tokio::test(start_paused = true)]
async fn a_program_s_own_task_keeps_no_journal_unless_asked_and_a_kind_keeps_one() {
    let sup = supervisor(ms(3000));
    let job = sup
        .spawn_fn("job", |mut ctx| async move {
            for _ in 0..9 {
                ctx.tick();
                sleep(ms(10)).await;
            }
        })
        .unwrap();
    let lesson = sup
        .spawn(Kind::Polling.task("lesson", &params(100, 10)))
        .unwrap();
    let end = sup.joined(job).await.unwrap();
    assert_eq!(end.state, State::Finished);
    assert!(
        !end.journaled,
        "a clean job must not read as one that lost records"
    );
    assert_eq!(sup.journal_path(job), None);
    assert!(sup.task(lesson).unwrap().journaled);
    assert!(sup.journal_path(lesson).is_some());

    let everyone = Supervisor::builder()
        .default_journal(JournalConfig::default())
        .build()
        .unwrap();
    let job = everyone.spawn_fn("job", |_ctx| async {}).unwrap();
    assert!(everyone.joined(job).await.unwrap().journaled);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_returns_on_its_own_is_finished() {
    let sup = supervisor(ms(3000));
    let id = sup
        .spawn_fn("short", |mut ctx| async move {
            ctx.tick();
            ctx.flush_journal().unwrap();
        })
        .unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Finished);
    assert_eq!(end.stop_latency(), None);
    assert_eq!(end.cleanup, Cleanup::NotApplicable);
    assert_eq!(
        sup.stop(id),
        Err(taskmon::SupervisorError::AlreadyEnded(id))
    );
    assert_eq!(
        sup.abort(99),
        Err(taskmon::SupervisorError::UnknownTask(99))
    );
}

/// The accounting invariant over a few hundred random stop/abort timings, sampled while the tasks
/// run and checked against the files at the end.
#[tokio::test(start_paused = true)]
async fn ticks_equal_persisted_plus_lost_plus_pending_over_random_timings() {
    let mut rng = fastrand::Rng::with_seed(0x7a5c_0de5);
    let kinds = [
        Kind::Polling,
        Kind::Select,
        Kind::SlowCleanup,
        Kind::Stubborn,
        Kind::Panicky,
        Kind::Parent,
        Kind::Blocking,
    ];
    for round in 0..30 {
        let sup = supervisor(ms(rng.u64(50..1500)));
        let mut plan = Vec::new();
        for i in 0..10 {
            let kind = kinds[rng.usize(..kinds.len())];
            let p = Params {
                interval: ms(rng.u64(1..200)),
                flush_every: rng.u64(1..12),
                cleanup: ms(rng.u64(1..1500)),
                busy: ms(rng.u64(0..3)),
                panic_after: rng.u64(1..40),
                children: rng.u32(0..3),
                flush_on_drop: rng.bool(),
                ..Params::default()
            };
            let id = spawn(&sup, kind, &format!("r{round}t{i}"), &p);
            plan.push((ms(rng.u64(0..3000)), id, rng.bool()));
        }
        plan.sort();
        for (when, id, graceful) in plan {
            at(&sup, when).await;
            for s in sup.snapshot() {
                assert_accounts(&s);
            }
            let _ = if graceful {
                sup.stop(id)
            } else {
                sup.abort(id)
            };
        }
        sup.shutdown(ms(500)).await;
        for r in sup.report().await {
            let s = &r.snapshot;
            assert!(s.state.is_ended());
            assert_accounts(s);
            assert_eq!(s.ledger.counts().pending, 0, "{}", s.name);
            assert_eq!(r.journal_verified, Some(true), "{} {:?}", s.name, s.ledger);
            assert_eq!(r.records_on_disk, Some(s.ledger.counts().persisted));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stop_latency_counts_from_the_request_that_ended_the_task() {
    let sup = supervisor(ms(3000));
    // Deaf to its token: the stop cannot end it, the abort does.
    let deaf = sup
        .spawn_fn("deaf", |mut ctx| async move {
            loop {
                ctx.tick();
                sleep(ms(100)).await;
            }
        })
        .unwrap();
    at(&sup, ms(1000)).await;
    sup.stop(deaf).unwrap();
    at(&sup, ms(1500)).await;
    sup.abort(deaf).unwrap();
    let end = sup.joined(deaf).await.unwrap();
    assert_eq!(end.state, State::Aborted);
    assert_eq!(
        end.stop_latency(),
        Some(Duration::ZERO),
        "the abort ended it, at once; not 500 ms after the stop"
    );

    let mule = spawn(&sup, Kind::Stubborn, "mule", &params(100, 4));
    at(&sup, ms(2000)).await;
    sup.stop(mule).unwrap();
    let end = sup.joined(mule).await.unwrap();
    assert_eq!(end.state, State::Escalated);
    assert_eq!(end.stop_latency(), Some(ms(3000)), "counted from the stop");
}

#[tokio::test(start_paused = true)]
async fn shutdown_escalates_earlier_stops_at_the_end_of_its_own_grace() {
    let sup = supervisor(ms(60_000));
    let mule = spawn(&sup, Kind::Stubborn, "mule", &params(100, 4));
    at(&sup, ms(1000)).await;
    sup.stop(mule).unwrap();
    at(&sup, ms(2000)).await;
    sup.shutdown(ms(1000)).await;
    let end = sup.task(mule).unwrap();
    assert_eq!(end.state, State::Escalated);
    assert_eq!(
        end.timeline.at(EventKind::Escalated),
        Some(ms(3000)),
        "shutdown's grace, not the minute asked for before"
    );
    assert_eq!(sup.uptime(), ms(3000));
}

#[tokio::test(start_paused = true)]
async fn names_are_checked_when_the_library_spawns_too() {
    let sup = supervisor(ms(3000));
    let evil = sup.spawn_fn("evil\x1b]0;pwned\x07", |_| async {});
    let Err(taskmon::SupervisorError::InvalidName { name, .. }) = &evil else {
        panic!("{evil:?}");
    };
    assert_eq!(name, "evil\\u{1b}]0;pwned\\u{7}");
    let message = evil.unwrap_err().to_string();
    assert!(!message.contains('\x1b'), "{message}");
    assert!(sup.spawn_fn("x".repeat(65), |_| async {}).is_err());
    assert!(sup.spawn_fn("abc\u{202e}exe", |_| async {}).is_err());
    assert!(sup.spawn_fn("", |_| async {}).is_err());
    assert_eq!(sup.len(), 0, "nothing was registered");
    assert!(sup.spawn_fn("x".repeat(64), |_| async {}).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_spawn_past_the_journal_capacity_is_refused_not_left_to_fail() {
    let sup = Supervisor::builder().journal_capacity(2).build().unwrap();
    let p = params(100, 4);
    let first = spawn(&sup, Kind::Select, "one", &p);
    spawn(&sup, Kind::Select, "two", &p);
    let refused = sup.spawn(Kind::Select.task("three", &p));
    assert_eq!(
        refused,
        Err(taskmon::SupervisorError::TooManyJournals {
            name: "three".into(),
            capacity: 2
        })
    );
    let unjournaled = Params {
        journal: false,
        ..p.clone()
    };
    assert!(sup.spawn(Kind::Select.task("light", &unjournaled)).is_ok());
    sup.stop(first).unwrap();
    sup.joined(first).await.unwrap();
    assert!(
        sup.spawn(Kind::Select.task("three", &p)).is_ok(),
        "an ended task's journal gave its place back"
    );
    sup.shutdown(ms(100)).await;
}

async fn one_stopped_polling_task(sup: &Supervisor) -> TaskSnapshot {
    let id = spawn(sup, Kind::Polling, "poll", &params(100, 4));
    at(sup, sup.uptime() + ms(1050)).await;
    sup.stop(id).unwrap();
    sup.joined(id).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_journal_directory_is_used_by_one_run_at_a_time_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let first = Supervisor::builder()
        .journal_dir(dir.path())
        .build()
        .unwrap();
    let second = Supervisor::builder().journal_dir(dir.path()).build();
    assert!(
        matches!(second, Err(taskmon::BuildError::JournalDirInUse { .. })),
        "{:?}",
        second.err()
    );
    one_stopped_polling_task(&first).await;
    assert!(first.report().await[0].journal_verified == Some(true));
    drop(first);

    // A rerun into the same directory: the first run's journal is replaced, not appended to.
    let rerun = Supervisor::builder()
        .journal_dir(dir.path())
        .build()
        .unwrap();
    let end = one_stopped_polling_task(&rerun).await;
    let report = rerun.report().await;
    assert_eq!(
        report[0].records_on_disk,
        Some(end.ledger.counts().persisted)
    );
    assert_eq!(report[0].journal_verified, Some(true));
    drop(rerun);

    // A journal planted as a link to a device is removed before anything is written.
    let planted = dir.path().join("00001-poll.journal");
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink("/dev/full", &planted).unwrap();
    let third = Supervisor::builder()
        .journal_dir(dir.path())
        .build()
        .unwrap();
    assert!(!planted.is_symlink());
    one_stopped_polling_task(&third).await;
    assert_eq!(third.report().await[0].journal_verified, Some(true));
    assert!(planted.metadata().unwrap().is_file());
}

#[tokio::test(start_paused = true)]
async fn verification_refuses_special_files_and_reads_no_more_than_it_expects() {
    let sup = supervisor(ms(3000));
    let end = one_stopped_polling_task(&sup).await;
    let path = sup.journal_path(end.id).unwrap();

    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let report = &sup.report().await[0];
    assert_eq!(report.journal_verified, Some(false));
    assert_eq!(
        report.journal_problem.as_deref(),
        Some("the journal is a symbolic link")
    );

    std::fs::remove_file(&path).unwrap();
    let mut extra = String::new();
    for i in 1..=200_000 {
        extra.push_str(&format!("tick {i}\n"));
    }
    std::fs::write(&path, extra).unwrap();
    let report = &sup.report().await[0];
    assert_eq!(report.journal_verified, Some(false));
    assert_eq!(
        report.records_on_disk,
        Some(end.ledger.counts().persisted + 1),
        "reading stopped one record past the expected ones"
    );
    assert!(
        report
            .journal_problem
            .as_deref()
            .unwrap()
            .contains("more than")
    );
}

#[tokio::test]
async fn an_unusable_journal_directory_is_an_error_even_inside_async_code() {
    let file = tempfile::NamedTempFile::new().unwrap();
    for dir in [file.path(), std::path::Path::new("/dev/full")] {
        let built = Supervisor::builder()
            .own_task_runtime(2)
            .journal_dir(dir)
            .build();
        let Err(e) = built else {
            panic!("{} was accepted as a journal directory", dir.display());
        };
        assert!(matches!(e, taskmon::BuildError::JournalDir { .. }));
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_panic_message_or_note_is_kept_short() {
    taskmon::silence_task_panics(true);
    let sup = Supervisor::new().unwrap();
    let id = sup
        .spawn_fn("loud", |ctx| async move {
            ctx.set_note("n".repeat(3_000_000));
            panic!("{}", "p".repeat(3_000_000));
        })
        .unwrap();
    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Panicked);
    let message = end.panic_message.unwrap();
    assert_eq!(message.chars().count(), taskmon::text::MAX_TEXT_CHARS + 1);
    assert!(message.ends_with('…'));
    assert_eq!(
        end.note.unwrap().chars().count(),
        taskmon::text::MAX_TEXT_CHARS + 1
    );
}

/// Waiting for one task's end is not woken for good by another's: the waits share one wake-up,
/// and each looks again at its own task.
#[tokio::test(start_paused = true)]
async fn a_wait_for_one_task_outlasts_the_ends_of_others() {
    let sup = supervisor(ms(3000));
    let lasting = |name: &str, ms_to_run: u64| {
        TaskDef::new(name, move |_ctx| async move {
            sleep(ms(ms_to_run)).await;
        })
    };
    let late = sup.spawn(lasting("late", 500)).unwrap();
    let early = sup.spawn(lasting("early", 100)).unwrap();
    let (sup_a, sup_b) = (sup.clone(), sup.clone());
    let waiting_late = tokio::spawn(async move { (sup_a.joined(late).await, sup_a.uptime()) });
    let waiting_early = tokio::spawn(async move { (sup_b.joined(early).await, sup_b.uptime()) });
    let (early_end, early_at) = waiting_early.await.unwrap();
    assert_eq!(early_end.unwrap().state, State::Finished);
    assert_eq!(early_at, ms(100));
    assert!(!waiting_late.is_finished(), "the late task still runs");
    let (late_end, late_at) = waiting_late.await.unwrap();
    assert_eq!(late_end.unwrap().state, State::Finished);
    assert_eq!(late_at, ms(500));
}

#[tokio::test(start_paused = true)]
async fn a_stop_of_thousands_is_told_in_batches_each_before_its_tasks_are_asked() {
    use std::sync::{Arc, Mutex};
    let sup = supervisor(ms(3000));
    let mut tasks = 0;
    for i in 0..2500 {
        // Parents among them, so that some chunk would end between a parent and its children.
        let kind = if i % 300 == 299 {
            Kind::Parent
        } else {
            Kind::Select
        };
        spawn(&sup, kind, &format!("t{i}"), &params(100, 4));
        tasks += 1;
    }
    at(&sup, ms(1050)).await;
    let all = sup.len();
    assert!(all > tasks, "the parents have children: {all}");
    let seen: Arc<Mutex<Vec<(TaskId, EventKind)>>> = Arc::default();
    let batches: Arc<Mutex<Vec<usize>>> = Arc::default();
    {
        let (seen, batches) = (seen.clone(), batches.clone());
        sup.on_delivery(move |delivery| {
            let mut seen = seen.lock().unwrap();
            if let taskmon::Delivery::Many(events) = &delivery {
                batches.lock().unwrap().push(events.len());
            }
            seen.extend(delivery.events().iter().map(|e| (e.id, e.kind)));
            true
        });
    }
    assert_eq!(sup.stop_all(), all);
    sup.all_ended().await;
    let seen = seen.lock().unwrap();
    let mut told = std::collections::HashSet::new();
    for &(id, kind) in seen.iter() {
        if kind == EventKind::StopRequested {
            assert!(told.insert(id), "#{id} told once");
        } else {
            assert!(
                told.contains(&id),
                "#{id}'s {kind:?} came before its stop_requested"
            );
        }
    }
    assert_eq!(told.len(), all, "every task was told");
    let batches = batches.lock().unwrap();
    assert!(batches.len() >= all / 1024, "{batches:?}");
    assert!(batches.iter().all(|&n| n <= 1024 + 16), "{batches:?}");
}

/// A task's poll hands its events over together when it is over, in order, its end's with those
/// of the poll that ended it; a request it makes in that poll goes out after what the poll made
/// before it.
#[tokio::test(start_paused = true)]
async fn a_polls_events_are_handed_over_together_and_before_a_request_it_makes() {
    use std::sync::{Arc, Mutex};
    let sup = supervisor(ms(3000));
    let other = sup
        .spawn(TaskDef::new("other", |ctx| async move {
            ctx.cancelled().await;
        }))
        .expect("spawn");
    /// Each hand-over's events, as (task, kind).
    type Deliveries = Arc<Mutex<Vec<Vec<(TaskId, EventKind)>>>>;
    let deliveries: Deliveries = Arc::default();
    {
        let deliveries = deliveries.clone();
        sup.on_delivery(move |delivery| {
            let events = delivery.events().iter().map(|e| (e.id, e.kind)).collect();
            deliveries.lock().unwrap().push(events);
            true
        });
    }
    let stopper = sup.clone();
    let task = sup
        .spawn(TaskDef::new("cleaner", move |ctx| async move {
            ctx.cancelled().await;
            ctx.stop_noticed();
            ctx.cleanup_started();
            stopper.stop(other).expect("other runs");
            ctx.cleanup_finished();
        }))
        .expect("spawn");
    at(&sup, ms(100)).await;
    sup.stop(task).expect("running");
    sup.joined(task).await.expect("joined");
    sup.joined(other).await.expect("joined");
    let of = |id: TaskId| -> Vec<Vec<EventKind>> {
        deliveries
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.iter().filter(|e| e.0 == id).map(|e| e.1).collect())
            .filter(|d: &Vec<_>| !d.is_empty())
            .collect()
    };
    use EventKind::*;
    assert_eq!(
        of(task),
        [
            vec![Spawned],
            vec![StopRequested],
            vec![StopNoticed, CleanupStarted],
            vec![CleanupFinished, Joined],
        ]
    );
    let all: Vec<_> = deliveries.lock().unwrap().concat();
    let held = all.iter().position(|&e| e == (task, CleanupStarted));
    let asked = all.iter().position(|&e| e == (other, StopRequested));
    assert!(held < asked, "held events first: {all:?}");
}

/// A poll that makes many events (children spawned in a loop that never yields) hands them over
/// a batch at a time as they come, not all at once when it is over.
#[tokio::test(start_paused = true)]
async fn a_poll_making_many_events_hands_them_over_in_batches() {
    use std::sync::{Arc, Mutex};
    let sup = supervisor(ms(3000));
    let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let spawned: Arc<Mutex<usize>> = Arc::default();
    {
        let (sizes, spawned) = (sizes.clone(), spawned.clone());
        sup.on_delivery(move |delivery| {
            let events = delivery.events();
            sizes.lock().unwrap().push(events.len());
            *spawned.lock().unwrap() += events
                .iter()
                .filter(|e| e.kind == EventKind::Spawned)
                .count();
            true
        });
    }
    let parent = sup
        .spawn(TaskDef::new("spawner", |ctx| async move {
            for i in 0..2500 {
                let child = TaskDef::new(format!("child{i}"), |ctx| async move {
                    ctx.cancelled().await;
                });
                ctx.spawn_child(child).expect("spawn child");
            }
            ctx.cancelled().await;
        }))
        .expect("spawn");
    at(&sup, ms(100)).await;
    assert_eq!(sup.len(), 2501);
    let sizes = sizes.lock().unwrap().clone();
    // (A long poll's event may follow: spawning 2,500 tasks takes a while unoptimised.)
    assert_eq!(
        *spawned.lock().unwrap(),
        2501,
        "every spawn told: {sizes:?}"
    );
    assert!(sizes.iter().all(|&n| n <= 1024), "{sizes:?}");
    assert!(sizes.contains(&1024), "held, a batch at a time: {sizes:?}");
    sup.shutdown(ms(100)).await;
    assert_eq!(sup.task(parent).expect("parent").state, State::Stopped);
}
