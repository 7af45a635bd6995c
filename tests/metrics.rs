//! What taskmon tells the `metrics` facade, read back through metrics-util's debugging recorder,
//! on tokio's paused clock: counts by kind, ends by state, the stop latency, polls and the tasks'
//! own counters, all agreeing with the supervisor's own snapshot.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use taskmon::kinds::{Kind, Params};
use taskmon::supervisor::metrics::names;
use taskmon::{State, Supervisor, TaskDef};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The one recorder of this test binary (a program has one).
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this test binary");
        snapshotter
    })
}

/// One test at a time: a snapshot drains the recorder, the other test's figures too.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every figure since the last look, by name and sorted labels.
type Figures = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

fn figures() -> Figures {
    snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            ((kind, key.name().to_string(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    labels
}

fn counter(figures: &Figures, name: &str, pairs: &[(&str, &str)]) -> u64 {
    match figures.get(&(MetricKind::Counter, name.to_string(), labels(pairs))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name} {pairs:?} is {other:?}"),
    }
}

fn gauge(figures: &Figures, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    match figures.get(&(MetricKind::Gauge, name.to_string(), labels(pairs))) {
        Some(DebugValue::Gauge(n)) => Some(n.into_inner()),
        None => None,
        other => panic!("{name} {pairs:?} is {other:?}"),
    }
}

fn histogram(figures: &Figures, name: &str, pairs: &[(&str, &str)]) -> Vec<f64> {
    match figures.get(&(MetricKind::Histogram, name.to_string(), labels(pairs))) {
        Some(DebugValue::Histogram(values)) => values.iter().map(|v| v.into_inner()).collect(),
        None => Vec::new(),
        other => panic!("{name} {pairs:?} is {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn lifecycle_polls_and_own_counts_reach_metrics_by_kind() {
    let _alone = ONE_AT_A_TIME.lock().await;
    snapshotter();
    let sup = Supervisor::builder().grace(ms(500)).build().unwrap();
    let params = Params::default();
    let select: Vec<_> = (0..3)
        .map(|i| {
            sup.spawn(Kind::Select.task(format!("m-select-{i}"), &params))
                .unwrap()
        })
        .collect();
    let stubborn = sup
        .spawn(Kind::Stubborn.task("m-stubborn", &params))
        .unwrap();
    let frames = sup
        .spawn(Kind::SelectSafe.task("m-frames", &params))
        .unwrap();
    tokio::time::sleep(ms(2000)).await;

    sup.stop(select[0]).unwrap();
    sup.stop(stubborn).unwrap();
    sup.joined(select[0]).await.unwrap();
    sup.joined(stubborn).await.unwrap();
    sup.publish_metrics();
    let figures = figures();

    let select_kind = [("kind", "select")];
    assert_eq!(counter(&figures, names::SPAWNED, &select_kind), 3);
    assert_eq!(counter(&figures, names::STOP_REQUESTS, &select_kind), 1);
    assert_eq!(
        counter(
            &figures,
            names::ENDED,
            &[("kind", "select"), ("state", "stopped")]
        ),
        1
    );
    assert_eq!(
        counter(&figures, names::ESCALATIONS, &[("kind", "stubborn")]),
        1
    );
    assert_eq!(
        counter(
            &figures,
            names::ENDED,
            &[("kind", "stubborn"), ("state", "escalated")]
        ),
        1
    );
    // The stop latencies are the supervisor's own, to the nanosecond on the paused clock.
    let latency = sup.task(stubborn).unwrap().stop_latency().unwrap();
    assert_eq!(latency, ms(500));
    assert_eq!(
        histogram(&figures, names::STOP_LATENCY, &[("kind", "stubborn")]),
        vec![latency.as_secs_f64()]
    );

    // Tasks by state, and polls, as the snapshot has them.
    let snapshot = sup.snapshot();
    assert_eq!(
        gauge(
            &figures,
            names::TASKS,
            &[("kind", "select"), ("state", "running")]
        ),
        Some(2.0)
    );
    assert_eq!(
        gauge(
            &figures,
            names::TASKS,
            &[("kind", "select"), ("state", "stopped")]
        ),
        Some(1.0)
    );
    let polls: u64 = snapshot
        .iter()
        .filter(|t| &*t.kind == "select")
        .map(|t| t.polls.polls)
        .sum();
    assert!(polls > 0);
    assert_eq!(counter(&figures, names::POLLS, &select_kind), polls);
    let poll_times = histogram(&figures, names::POLL_TIME, &select_kind);
    assert_eq!(
        poll_times.len() as u64,
        polls,
        "one value per poll, in aggregate"
    );

    // The frames a select-safe task received, its own counter, in its snapshot and in metrics.
    let own = sup.task(frames).unwrap().counters;
    let received = own
        .iter()
        .find(|(name, _)| &**name == "frames_received")
        .map(|(_, n)| *n)
        .unwrap();
    assert!(received > 0);
    assert_eq!(
        counter(
            &figures,
            names::TASK_COUNT,
            &[("kind", "select-safe"), ("count", "frames_received")]
        ),
        received
    );
    sup.shutdown(ms(500)).await;
}

#[tokio::test(start_paused = true)]
async fn per_task_labels_only_when_asked_and_errors_and_restarts_counted() {
    let _alone = ONE_AT_A_TIME.lock().await;
    snapshotter();
    let sup = Supervisor::builder()
        .metrics_task_labels(true)
        .build()
        .unwrap();
    let id = sup
        .spawn(
            TaskDef::restartable("m-job", |ctx| async move {
                let rows = ctx.counter("rows");
                rows.add(7);
                tokio::time::sleep(ms(100)).await;
                Err::<(), _>("the database went away")
            })
            .kind("m-job-kind")
            .restart(
                taskmon::RestartPolicy::on_error().with_limit(taskmon::RestartLimit {
                    count: 1,
                    within: ms(60_000),
                }),
            ),
        )
        .unwrap();
    sup.joined(id).await.unwrap();
    assert_eq!(sup.task(id).unwrap().state, State::Failed);
    sup.publish_metrics();
    let figures = figures();
    let task = [("kind", "m-job-kind"), ("task", "m-job")];
    assert_eq!(counter(&figures, names::ERRORS, &task), 2);
    assert_eq!(counter(&figures, names::RESTARTS, &task), 1);
    assert_eq!(
        counter(
            &figures,
            names::ENDED,
            &[
                ("kind", "m-job-kind"),
                ("state", "failed"),
                ("task", "m-job")
            ]
        ),
        1
    );
    // The counter lives across runs: 7 added in each.
    assert_eq!(
        counter(
            &figures,
            names::TASK_COUNT,
            &[("count", "rows"), ("kind", "m-job-kind"), ("task", "m-job")]
        ),
        14
    );
    assert_eq!(
        counter(&figures, names::ERRORS, &[("kind", "m-job-kind")]),
        0
    );
}
