//! Restart policies on tokio's paused clock: the backoff doubles, the limit gives up, a stop or an
//! abort is never undone, and the ledger holds across every run.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{
    Cleanup, Detail, EventKind, RestartLimit, RestartPolicy, State, Supervisor, SupervisorError,
    TaskDef, TaskSnapshot,
};
use tokio::time::{Instant, sleep, sleep_until};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A supervisor whose restart waits are exact (no jitter).
fn supervisor() -> Supervisor {
    taskmon::silence_task_panics(true);
    Supervisor::builder()
        .grace(ms(1000))
        .restart_jitter(0.0)
        .build()
        .unwrap()
}

async fn at(sup: &Supervisor, at: Duration) {
    sleep_until(Instant::now() + at.saturating_sub(sup.uptime())).await;
}

fn panicky(policy: RestartPolicy) -> Params {
    Params {
        interval: ms(100),
        flush_every: 2,
        panic_after: 3,
        restart: policy,
        ..Params::default()
    }
}

fn assert_ledger_holds(s: &TaskSnapshot) {
    let j = s.ledger.journal.unwrap();
    assert_eq!(
        s.ledger.ticks,
        j.persisted + j.lost + j.pending,
        "{:?}",
        s.ledger
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicky_task_is_restarted_with_a_doubling_delay_until_the_limit_gives_up() {
    let sup = supervisor();
    let mut events = sup.events();
    let policy = RestartPolicy::on_panic()
        .delay(ms(100))
        .limit(5, Duration::from_secs(60));
    let id = sup
        .spawn(Kind::Panicky.task("boom", &panicky(policy)))
        .unwrap();

    at(&sup, ms(250)).await;
    let waiting = sup.task(id).unwrap();
    assert_eq!(
        waiting.state,
        State::Restarting,
        "panicked at 200 ms, back at 300 ms"
    );
    assert_eq!(waiting.cleanup, Cleanup::NotApplicable);
    at(&sup, ms(350)).await;
    assert_eq!(sup.task(id).unwrap().state, State::Running);

    let end = sup.joined(id).await.unwrap();
    assert_eq!(end.state, State::Failed);
    assert_eq!(end.restarts, 5);
    assert_eq!(end.ticks(), 18, "six runs of three ticks");
    // Runs panic 200 ms after they begin; the waits are 100, 200, 400, 800, 1600 ms.
    assert_eq!(end.timeline.at(EventKind::Joined), Some(ms(4300)));
    assert!(
        end.panic_message
            .as_deref()
            .unwrap()
            .contains("after 3 ticks")
    );
    assert_ledger_holds(&end);
    let report = sup.report().await;
    assert_eq!(
        report[0].journal_verified,
        Some(true),
        "one journal across the runs"
    );
    assert_eq!(
        report[0].records_on_disk,
        Some(end.ledger.counts().persisted)
    );

    let restarting: Vec<(Duration, Duration)> = std::iter::from_fn(|| events.try_recv())
        .filter_map(|e| match e.detail {
            Detail::Restarting { delay, .. } => Some((e.since_start, delay)),
            _ => None,
        })
        .collect();
    assert_eq!(
        restarting,
        [
            (ms(200), ms(100)),
            (ms(500), ms(200)),
            (ms(900), ms(400)),
            (ms(1500), ms(800)),
            (ms(2500), ms(1600)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_events_of_a_restart_say_what_happened() {
    let sup = supervisor();
    let mut events = sup.events();
    let id = sup
        .spawn(Kind::Panicky.task(
            "boom",
            &panicky(RestartPolicy::on_panic().limit(1, Duration::from_secs(60))),
        ))
        .unwrap();
    sup.joined(id).await.unwrap();
    let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_recv())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Spawned,
            EventKind::Panicked,
            EventKind::Restarting,
            EventKind::Restarted,
            EventKind::Panicked,
            EventKind::Failed,
            EventKind::Joined,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_the_backoff_ends_the_task_at_once_and_no_restart_follows() {
    let sup = supervisor();
    let id = sup
        .spawn(Kind::Panicky.task("boom", &panicky(RestartPolicy::on_panic())))
        .unwrap();
    at(&sup, ms(250)).await;
    assert_eq!(sup.task(id).unwrap().state, State::Restarting);
    let mut events = sup.events();
    sup.stop(id).unwrap();
    let end = sup.task(id).unwrap();
    assert_eq!(
        end.state,
        State::Stopped,
        "at once, not at the end of the wait"
    );
    assert_eq!(end.stop_latency(), None, "no run was left to stop: no 0µs");
    let joined = loop {
        let e = events.recv().await.unwrap();
        if e.kind == EventKind::Joined {
            break e;
        }
    };
    assert!(matches!(
        joined.detail,
        Detail::Joined {
            state: State::Stopped,
            stop_latency: None,
            ..
        }
    ));
    at(&sup, ms(2000)).await;
    let later = sup.task(id).unwrap();
    assert_eq!(later.state, State::Stopped);
    assert_eq!(later.restarts, 0);
    assert_eq!(later.ticks(), 3);
    assert_ledger_holds(&later);
    assert_eq!(sup.live_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_abort_is_never_restarted_nor_a_stop() {
    let sup = supervisor();
    let p = Params {
        interval: ms(100),
        restart: RestartPolicy::always(),
        ..Params::default()
    };
    let aborted = sup.spawn(Kind::Select.task("aborted", &p)).unwrap();
    let stopped = sup.spawn(Kind::Select.task("stopped", &p)).unwrap();
    at(&sup, ms(150)).await;
    sup.abort(aborted).unwrap();
    sup.stop(stopped).unwrap();
    at(&sup, ms(2000)).await;
    for (id, state) in [(aborted, State::Aborted), (stopped, State::Stopped)] {
        let s = sup.task(id).unwrap();
        assert_eq!(s.state, state);
        assert_eq!(s.restarts, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn always_runs_a_task_that_returned_on_its_own_again_and_on_panic_does_not() {
    let sup = supervisor();
    let short = |name: &str, policy| {
        TaskDef::restartable(name, |mut ctx| async move {
            ctx.tick();
            sleep(ms(100)).await;
            ctx.tick();
        })
        .restart(policy)
    };
    let always = sup
        .spawn(short(
            "always",
            RestartPolicy::always().limit(2, Duration::from_secs(60)),
        ))
        .unwrap();
    let on_panic = sup
        .spawn(short("on-panic", RestartPolicy::on_panic()))
        .unwrap();
    let end = sup.joined(always).await.unwrap();
    assert_eq!(
        end.state,
        State::Failed,
        "three runs, then the limit of two restarts"
    );
    assert_eq!(end.restarts, 2);
    assert_eq!(end.ticks(), 6);
    let end = sup.joined(on_panic).await.unwrap();
    assert_eq!(end.state, State::Finished);
    assert_eq!(end.restarts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_person_can_restart_an_ended_task_and_its_journal_goes_on() {
    let sup = supervisor();
    let p = Params {
        interval: ms(100),
        flush_every: 3,
        ..Params::default()
    };
    let id = sup.spawn(Kind::Polling.task("again", &p)).unwrap();
    at(&sup, ms(450)).await;
    sup.stop(id).unwrap();
    let first = sup.joined(id).await.unwrap();
    assert_eq!(first.state, State::Stopped);
    assert_eq!(first.ticks(), 5);
    assert_eq!(
        sup.restart(id + 1).unwrap_err(),
        SupervisorError::UnknownTask(id + 1)
    );

    sup.restart(id).unwrap();
    assert_eq!(
        sup.task(id).unwrap().state,
        State::Running,
        "same id, running again"
    );
    at(&sup, ms(1050)).await;
    assert_eq!(
        sup.restart(id).unwrap_err(),
        SupervisorError::StillRunning(id)
    );
    sup.stop(id).unwrap();
    let second = sup.joined(id).await.unwrap();
    assert_eq!(
        second.state,
        State::Stopped,
        "its new run got a fresh token"
    );
    assert_eq!(second.restarts, 1);
    assert_eq!(
        second.ticks(),
        5 + 6,
        "ticks at 500..1000 ms, after the first five"
    );
    assert_eq!(second.ledger.counts().lost, 0);
    assert_ledger_holds(&second);
    assert_eq!(sup.report().await[0].journal_verified, Some(true));
}

#[tokio::test(start_paused = true)]
async fn code_that_runs_once_cannot_be_given_a_restart_policy() {
    let sup = supervisor();
    let once = TaskDef::new("once", |_| async {}).restart(RestartPolicy::on_panic());
    assert!(matches!(
        sup.spawn(once),
        Err(SupervisorError::NotRestartable { .. })
    ));
    assert_eq!(sup.len(), 0);
    let id = sup.spawn_fn("plain", |_| async {}).unwrap();
    sup.joined(id).await.unwrap();
    assert!(matches!(
        sup.restart(id),
        Err(SupervisorError::NotRestartable { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_flaky_task_fails_the_same_way_every_time() {
    async fn run() -> (State, u32, u64) {
        let sup = supervisor();
        let p = Params {
            interval: ms(10),
            panic_chance: 0.2,
            restart: RestartPolicy::on_panic().limit(4, Duration::from_secs(60)),
            ..Params::default()
        };
        let id = sup.spawn(Kind::Flaky.task("flaky", &p)).unwrap();
        let end = sup.joined(id).await.unwrap();
        assert_ledger_holds(&end);
        (end.state, end.restarts, end.ticks())
    }
    let first = run().await;
    assert_eq!(first.0, State::Failed);
    assert_eq!(first.1, 4);
    assert_eq!(run().await, first, "seeded by the task and its run");
}

#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream refused: {}", self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_ends_the_run_errored_with_its_message_escaped_and_capped() {
    let sup = supervisor();
    let mut events = sup.events();
    let job = sup
        .spawn_fn("job", |mut ctx| async move {
            ctx.tick();
            sleep(ms(100)).await;
            Err(Refused("\x1b[2Jbatch 7"))
        })
        .unwrap();
    let long = sup
        .spawn_fn("long", |_| async { Err::<(), _>("e".repeat(5000)) })
        .unwrap();
    let fine = sup
        .spawn_fn("fine", |_| async { Ok::<(), Refused>(()) })
        .unwrap();
    let end = sup.joined(job).await.unwrap();
    assert_eq!(end.state, State::Errored);
    assert_eq!(
        end.error.as_deref(),
        Some("upstream refused: \x1b[2Jbatch 7"),
        "kept as said; escaped where shown"
    );
    assert_eq!(end.timeline.at(EventKind::Joined), Some(ms(100)));
    let errored = loop {
        let e = events.recv().await.unwrap();
        if e.kind == EventKind::Errored && e.id == job {
            break e;
        }
    };
    assert!(matches!(&errored.detail, Detail::Errored { message } if message.contains("batch 7")));
    let long = sup.joined(long).await.unwrap();
    assert_eq!(long.state, State::Errored);
    assert!(long.error.unwrap().chars().count() <= 1001, "capped");
    assert_eq!(sup.joined(fine).await.unwrap().state, State::Finished);
    #[cfg(feature = "serve")]
    {
        let reports = sup.report().await;
        let job = reports.iter().find(|r| r.snapshot.id == job).unwrap();
        let json = taskmon::format::report_json(job).to_string();
        assert!(json.contains(r#""state":"errored""#), "{json}");
        assert!(json.contains(r#""error":"upstream refused"#), "{json}");
    }
}

/// An erring task under each policy: `on-error` and `on-failure` run it again, `on-panic` and
/// `never` leave it errored, `always` runs it again too.
#[tokio::test(start_paused = true)]
async fn on_error_and_on_failure_restart_an_error_and_on_panic_does_not() {
    let sup = supervisor();
    let erring = |policy: RestartPolicy| Params {
        interval: ms(100),
        error_after: 3,
        restart: policy.delay(ms(100)),
        ..Params::default()
    };
    let cases = [
        ("never", RestartPolicy::default(), false),
        ("on-panic", RestartPolicy::on_panic(), false),
        ("on-error", RestartPolicy::on_error(), true),
        ("on-failure", RestartPolicy::on_failure(), true),
        ("always", RestartPolicy::always(), true),
    ];
    let ids: Vec<_> = cases
        .iter()
        .map(|(name, policy, _)| {
            sup.spawn(Kind::Erring.task(*name, &erring(*policy)))
                .unwrap()
        })
        .collect();
    // Errs at 300 ms; a restart 100 ms later; its run errs 300 ms after that.
    at(&sup, ms(450)).await;
    for ((name, _, restarts), id) in cases.iter().zip(&ids) {
        let s = sup.task(*id).unwrap();
        if *restarts {
            assert_eq!(s.restarts, 1, "{name}");
            assert_eq!(s.state, State::Running, "{name}");
            assert!(s.error.is_some(), "{name}: the last run's error is kept");
        } else {
            assert_eq!(s.state, State::Errored, "{name}");
            assert_eq!(s.restarts, 0, "{name}");
            assert_eq!(s.cleanup, Cleanup::Ran, "{name}: an error is a clean end");
            assert_ledger_holds(&s);
        }
    }
    sup.shutdown(ms(500)).await;
}

/// A periodic job that fails now and then for ever: restarted past the default limit of five a
/// minute, its backoff still doubling up to its cap; each run's note is its own.
#[tokio::test(start_paused = true)]
async fn an_unlimited_policy_never_gives_up_and_a_restart_clears_the_last_note() {
    let sup = supervisor();
    let policy = RestartPolicy::on_error()
        .delay(ms(100))
        .max_delay(ms(400))
        .with_limit(RestartLimit::unlimited());
    let job = sup
        .spawn(
            TaskDef::restartable("job", |ctx| async move {
                if ctx.restarts() == 0 {
                    ctx.set_note("first run: upstream slow");
                }
                tokio::time::sleep(ms(50)).await;
                Err("upstream refused")
            })
            .restart(policy),
        )
        .unwrap();
    at(&sup, ms(60)).await;
    assert_eq!(
        sup.task(job).unwrap().note.as_deref(),
        Some("first run: upstream slow")
    );
    // Runs of 50 ms after waits of 100, 200, 400, 400, …: run 1 at 150, 2 at 400, 3 at 850,
    // then one every 450.
    at(&sup, ms(180)).await;
    let second = sup.task(job).unwrap();
    assert_eq!(second.restarts, 1);
    assert_eq!(second.note, None, "the last run's words are not this run's");
    at(&sup, ms(10_000)).await;
    let later = sup.task(job).unwrap();
    assert!(
        later.restarts > 5,
        "past the default limit: {}",
        later.restarts
    );
    assert_ne!(later.state, State::Failed);
    assert_eq!(
        later.restarts, 23,
        "3 + (10 000 - 850) / 450: the wait capped at 400"
    );
    sup.shutdown(ms(100)).await;
    assert_eq!(sup.task(job).unwrap().state, State::Stopped);
}
