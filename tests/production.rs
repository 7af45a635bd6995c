//! What a service author writes, on tokio's paused clock: a cleanup as one future, a task the
//! program cannot live without, and `main` waiting for the first part to end.

use std::io;
use std::time::Duration;

use taskmon::{
    Cleanup, EventKind, RestartPolicy, State, Supervisor, SupervisorError, TaskDef, TaskId,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn kinds_of(events: &mut taskmon::EventStream, id: TaskId) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    while let Some(e) = events.try_recv() {
        if e.id == id {
            kinds.push(e.kind);
        }
    }
    kinds
}

/// Ticks every 10 ms until stopped; `main`-like code that never ends on its own.
fn part(name: &str, stage: u32) -> TaskDef {
    TaskDef::new(name.to_string(), move |mut ctx| async move {
        loop {
            tokio::select! {
                _ = ctx.cancelled() => break,
                _ = tokio::time::sleep(ms(10)) => { ctx.tick(); }
            }
        }
        ctx.cleanup(tokio::time::sleep(ms(30))).await;
    })
    .stage(stage)
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn ctx_cleanup_reports_its_phases_and_an_error_inside_it_counts() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let mut events = sup.events();
    let clean = sup
        .spawn(TaskDef::new("clean", |ctx| async move {
            ctx.cancelled().await;
            ctx.cleanup(async {
                tokio::time::sleep(ms(100)).await;
                Ok::<(), io::Error>(())
            })
            .await
        }))
        .unwrap();
    let failing = sup
        .spawn(TaskDef::new("failing", |ctx| async move {
            ctx.cancelled().await;
            ctx.cleanup(async {
                tokio::time::sleep(ms(40)).await;
                Err(io::Error::other("disk full"))?;
                Ok::<(), io::Error>(())
            })
            .await?;
            Ok::<(), io::Error>(())
        }))
        .unwrap();
    let done = sup
        .spawn_fn("done", |ctx| async move {
            ctx.cleanup(async {}).await;
        })
        .unwrap();

    let end = sup.joined(done).await.unwrap();
    assert_eq!(end.state, State::Finished);
    assert_eq!(end.cleanup, Cleanup::Ran);
    let mut seen_done = sup.events(); // from here on, for `clean`
    assert_eq!(
        kinds_of(&mut events, done),
        [
            EventKind::Spawned,
            EventKind::CleanupStarted,
            EventKind::CleanupFinished,
            EventKind::Joined
        ],
        "no stop was asked, so none is noticed"
    );

    tokio::time::sleep(ms(500)).await;
    sup.stop(clean).unwrap();
    sup.stop(failing).unwrap();
    let end = sup.joined(clean).await.unwrap();
    assert_eq!(end.state, State::Stopped);
    assert_eq!(end.cleanup, Cleanup::Ran);
    assert_eq!(end.stop_latency(), Some(ms(100)));
    let failed = sup.joined(failing).await.unwrap();
    assert_eq!(failed.state, State::Errored);
    assert_eq!(failed.error.as_deref(), Some("disk full"));
    assert_eq!(failed.cleanup, Cleanup::Partial);
    assert_eq!(
        kinds_of(&mut seen_done, clean),
        [
            EventKind::StopRequested,
            EventKind::StopNoticed,
            EventKind::CleanupStarted,
            EventKind::CleanupFinished,
            EventKind::Joined
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn stopping_a_critical_task_shuts_every_task_down_in_stages() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let acceptor = sup.spawn(part("acceptor", 0).critical()).unwrap();
    let handler = sup.spawn(part("handler", 1)).unwrap();
    let writer = sup.spawn(part("writer", 2)).unwrap();
    tokio::time::sleep(ms(200)).await;

    // As `taskmon ctl PID stop acceptor` would.
    sup.stop(acceptor).unwrap();
    sup.all_joined().await;
    let acceptor = sup.task(acceptor).unwrap();
    let handler = sup.task(handler).unwrap();
    let writer = sup.task(writer).unwrap();
    for task in [&acceptor, &handler, &writer] {
        assert_eq!(task.state, State::Stopped, "{}", task.name);
        assert_eq!(task.cleanup, Cleanup::Ran, "{}", task.name);
    }
    let asked = |t: &taskmon::TaskSnapshot| t.timeline.at(EventKind::StopRequested).unwrap();
    let joined = |t: &taskmon::TaskSnapshot| t.timeline.at(EventKind::Joined).unwrap();
    assert_eq!(
        asked(&handler),
        joined(&acceptor),
        "the shutdown began at its end"
    );
    assert_eq!(asked(&writer), joined(&handler), "in stages");
    assert_eq!(joined(&writer), asked(&writer) + ms(30));
    assert!(acceptor.note.as_deref().unwrap().contains("critical"));
    assert!(matches!(
        sup.spawn_fn("late", |_ctx| async {}),
        Err(SupervisorError::ShuttingDown)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_critical_task_is_not_ended_by_a_restart_only_by_its_policy_giving_up() {
    taskmon::silence_task_panics(true);
    let sup = Supervisor::builder()
        .grace(ms(1000))
        .restart_jitter(0.0)
        .build()
        .unwrap();
    let policy = RestartPolicy::on_error()
        .delay(ms(100))
        .limit(2, Duration::from_secs(60));
    let job = sup
        .spawn(
            TaskDef::restartable("job", |ctx| async move {
                tokio::time::sleep(ms(50)).await;
                Err(format!("run {} failed", ctx.restarts()))
            })
            .restart(policy)
            .critical(),
        )
        .unwrap();
    let other = sup.spawn(part("other", 0)).unwrap();
    // Runs end at 50 ms and 200 ms; restarts after 100 ms and 200 ms of backoff.
    tokio::time::sleep(ms(420)).await;
    assert_eq!(sup.task(job).unwrap().restarts, 2, "restarted, not ended");
    assert!(!sup.task(other).unwrap().state.is_ended());

    sup.all_joined().await;
    let job = sup.task(job).unwrap();
    assert_eq!(job.state, State::Failed, "the policy gave up");
    assert_eq!(sup.task(other).unwrap().state, State::Stopped);
    assert_eq!(
        sup.task(other)
            .unwrap()
            .timeline
            .at(EventKind::StopRequested),
        job.timeline.at(EventKind::Joined)
    );
}

#[tokio::test(start_paused = true)]
async fn first_ended_is_the_first_of_the_program_s_own_tasks_to_end() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let parent = sup
        .spawn(TaskDef::new("parent", |ctx| async move {
            // A child that ends at once is the parent's business, not main's.
            ctx.spawn_child(TaskDef::new("child", |_ctx| async {}))
                .unwrap();
            ctx.cancelled().await;
        }))
        .unwrap();
    let job = sup
        .spawn_fn("job", |_ctx| async {
            tokio::time::sleep(ms(250)).await;
        })
        .unwrap();
    let waiting = {
        let sup = sup.clone();
        tokio::spawn(async move { sup.first_ended().await })
    };
    let ended = waiting.await.unwrap();
    assert_eq!(ended.id, job);
    assert_eq!(ended.state, State::Finished);
    assert_eq!(ended.timeline.at(EventKind::Joined), Some(ms(250)));
    assert!(!sup.task(parent).unwrap().state.is_ended());
    // Once one has ended, at once.
    assert_eq!(sup.first_ended().await.id, job);
    sup.shutdown(ms(1000)).await;
}

#[tokio::test(start_paused = true)]
async fn main_s_wait_on_signals_ends_when_a_critical_task_s_end_has_joined_everything() {
    let sup = Supervisor::builder().grace(ms(1000)).build().unwrap();
    let acceptor = sup.spawn(part("acceptor", 0).critical()).unwrap();
    let writer = sup.spawn(part("writer", 1)).unwrap();
    let stopper = sup.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(100)).await;
        stopper.stop(acceptor).unwrap(); // as from `ctl`, no signal
    });
    sup.shutdown_on_signals().unwrap().await;
    assert_eq!(sup.task(writer).unwrap().state, State::Stopped);
    assert_eq!(sup.live_tasks(), 0);
}
