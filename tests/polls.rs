//! How each task uses its worker: polls counted exactly on the paused clock, a task that blocks
//! seen while it blocks (real threads), and the figures in `taskmon run --json`.

use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{Detail, EventKind, Supervisor, TaskDef, Warning};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `d` as the poll clock may read it. Polls are timed on the CPU's time-stamp counter, calibrated
/// against the monotonic clock at start: on a loaded machine its rate is off by up to about a
/// ten-thousandth (seen: 299.97 ms for a 300 ms sleep). A thousandth is allowed, no more.
fn at_least(d: Duration) -> Duration {
    d - d / 1000
}

#[tokio::test(start_paused = true)]
async fn every_poll_is_counted_and_a_slow_one_lands_in_its_bucket() {
    let sup = Supervisor::builder().slow_poll(ms(10)).build().unwrap();
    let mut events = sup.events();
    let hog = sup
        .spawn(Kind::Blocking.task(
            "hog",
            &Params {
                interval: ms(100),
                busy: ms(20),
                journal: false,
                ..Params::default()
            },
        ))
        .unwrap();
    let quick = sup
        .spawn_fn("quick", |ctx| async move {
            while !ctx.is_cancelled() {
                tokio::time::sleep(ms(10)).await;
            }
        })
        .unwrap();
    tokio::time::sleep(ms(1045)).await;
    let hog_polls = sup.task(hog).unwrap().polls;
    // Each round is two polls: a yield, then 20 ms of synchronous work and a sleep; rounds
    // begin at 0, 100, … 1000 ms.
    assert_eq!(hog_polls.slow_polls, 11, "one slow poll a round");
    assert_eq!(hog_polls.polls, 22);
    assert!(hog_polls.max_poll >= at_least(ms(20)));
    assert!(hog_polls.busy >= at_least(ms(220)));
    let bucket = taskmon::supervisor::POLL_BUCKETS;
    assert_eq!(hog_polls.histogram.len(), bucket);
    // 20 ms of sleep is in [16.384, 32.768) ms, bucket 15.
    assert_eq!(hog_polls.histogram[15], 11, "{:?}", hog_polls.histogram);
    assert_eq!(hog_polls.histogram.iter().sum::<u64>(), 22);
    let snapshot = sup.task(hog).unwrap();
    assert_eq!(snapshot.warnings(), vec![Warning::Blocked]);
    assert!(
        snapshot
            .location
            .as_ref()
            .unwrap()
            .to_string()
            .starts_with("tests/polls.rs:"),
        "{:?}",
        snapshot.location
    );

    let quick = sup.task(quick).unwrap();
    assert_eq!(
        quick.polls.polls, 105,
        "a poll every 10 ms from 0 to 1040 ms"
    );
    assert_eq!(quick.polls.slow_polls, 0);
    assert!(quick.warnings().is_empty());

    let long_polls: Vec<_> = std::iter::from_fn(|| events.try_recv())
        .filter(|e| e.kind == EventKind::LongPoll)
        .collect();
    assert_eq!(long_polls.len(), 11);
    for e in &long_polls {
        assert_eq!(e.id, hog);
        let Detail::LongPoll { lasted } = e.detail else {
            panic!("{e:?}")
        };
        assert!(lasted >= at_least(ms(20)));
    }
    sup.shutdown(ms(500)).await;
}

#[tokio::test(start_paused = true)]
async fn with_the_accounting_off_nothing_is_counted() {
    let sup = Supervisor::builder().poll_stats(false).build().unwrap();
    let id = sup
        .spawn_fn("quiet", |ctx| async move {
            while !ctx.is_cancelled() {
                tokio::time::sleep(ms(10)).await;
            }
        })
        .unwrap();
    tokio::time::sleep(ms(100)).await;
    let polls = sup.task(id).unwrap().polls;
    assert_eq!(polls, Default::default());
    sup.shutdown(ms(100)).await;
}

/// Real threads: the task blocks one worker of the supervisor's own runtime for 300 ms while
/// this test's thread watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_task_is_seen_while_it_blocks_and_its_long_poll_when_it_ends() {
    let sup = Supervisor::builder()
        .own_task_runtime(2)
        .slow_poll(ms(10))
        .build()
        .unwrap();
    let mut events = sup.events();
    let id = sup
        .spawn(TaskDef::new("hog", |ctx| async move {
            tokio::task::yield_now().await;
            std::thread::sleep(ms(300));
            ctx.token().cancelled().await;
        }))
        .unwrap();
    let mut seen_blocking = None;
    let mut long_poll = None;
    while long_poll.is_none() {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the events come")
            .expect("the supervisor lives");
        match (e.kind, e.detail) {
            (EventKind::Blocking, Detail::Blocking { lasted, thread }) => {
                // Seen while it blocks, so the snapshot says so too.
                let snapshot = sup.task(id).unwrap();
                let blocking = snapshot.polls.blocking.clone();
                assert!(snapshot.warns(Warning::Blocking), "{snapshot:?}");
                assert!(blocking.is_some());
                assert!(thread.contains("taskmon-task"), "{thread}");
                seen_blocking = Some(lasted);
            }
            (EventKind::LongPoll, Detail::LongPoll { lasted }) => long_poll = Some(lasted),
            _ => {}
        }
    }
    let seen = seen_blocking.expect("a blocking event before the poll ended");
    let lasted = long_poll.unwrap();
    assert!(seen >= ms(10), "past the threshold: {seen:?}");
    assert!(
        seen < lasted,
        "seen before the poll ended: {seen:?} < {lasted:?}"
    );
    assert!(lasted >= at_least(ms(300)), "{lasted:?}");
    let after = sup.task(id).unwrap();
    assert!(after.polls.blocking.is_none(), "no longer blocking");
    assert!(after.warns(Warning::Blocked));
    assert!(!after.warns(Warning::Blocking));
    sup.shutdown(ms(500)).await;
}
