//! The supervisor's invariants under real concurrency: many rounds on a multi-thread runtime,
//! with readers and spawners on threads of their own, looking for the one interleaving that breaks
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use taskmon::kinds::{Kind, Params};
use taskmon::{Cleanup, EventKind, State, Supervisor, SupervisorError, TaskSnapshot};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn light() -> Params {
    Params {
        interval: Duration::from_millis(1),
        journal: false,
        ..Params::default()
    }
}

/// A spawn racing `shutdown` is either refused or registered in time to be stopped by it, so
/// shutdown never waits for a task it did not ask to stop.
#[test]
fn a_spawn_racing_shutdown_is_refused_or_stopped() {
    let rt = runtime();
    for round in 0..150 {
        rt.block_on(async {
            let sup = Supervisor::new().unwrap();
            let spawner = {
                let sup = sup.clone();
                std::thread::spawn(move || {
                    let mut spawned = Vec::new();
                    for i in 0..400 {
                        match sup.spawn(Kind::Select.task(format!("r{round}-{i}"), &light())) {
                            Ok(id) => spawned.push(id),
                            Err(SupervisorError::ShuttingDown) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    spawned
                })
            };
            while sup.len() < (round % 40) * 5 {
                tokio::task::yield_now().await;
            }
            tokio::time::timeout(
                Duration::from_secs(30),
                sup.shutdown(Duration::from_secs(10)),
            )
            .await
            .expect("shutdown returned");
            for id in spawner.join().unwrap() {
                let s = sup.task(id).unwrap();
                assert_eq!(
                    s.state,
                    State::Stopped,
                    "round {round}: #{id} was not stopped by the shutdown it raced"
                );
            }
        });
    }
}

/// What one snapshot row may never show at once.
fn check_consistent(s: &TaskSnapshot) {
    let joined = s.timeline.at(EventKind::Joined);
    if s.state.is_ended() {
        assert!(
            joined.is_some() || s.state == State::Abandoned,
            "#{} ended {} without a join",
            s.id,
            s.state
        );
    } else {
        assert_eq!(
            s.cleanup,
            Cleanup::NotApplicable,
            "#{} is {} with its cleanup decided",
            s.id,
            s.state
        );
        assert_eq!(joined, None, "#{} is {} but joined", s.id, s.state);
    }
}

/// A snapshot reads a task's end once: never a live state beside a decided cleanup or a join.
#[test]
fn a_snapshot_never_shows_a_live_task_with_its_end_decided() {
    let rt = runtime();
    let rows = Arc::new(AtomicU64::new(0));
    for _round in 0..12 {
        rt.block_on(async {
            let sup = Supervisor::new().unwrap();
            for i in 0..1500 {
                sup.spawn(Kind::Select.task(format!("t{i}"), &light()))
                    .unwrap();
            }
            let done = Arc::new(AtomicBool::new(false));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let (sup, done, rows) = (sup.clone(), done.clone(), rows.clone());
                    std::thread::spawn(move || {
                        while !done.load(Ordering::Relaxed) {
                            for s in sup.snapshot() {
                                check_consistent(&s);
                                rows.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(20)).await;
            sup.shutdown(Duration::from_secs(10)).await;
            done.store(true, Ordering::Relaxed);
            for reader in readers {
                reader.join().expect("every row was consistent");
            }
        });
    }
    assert!(
        rows.load(Ordering::Relaxed) > 100_000,
        "enough rows were read"
    );
}

/// The state table (what `states()` reads, a byte a task) never keeps an older state than the
/// task's record: stops, aborts and restarts racing from three threads, then every task's byte
/// agrees with its snapshot, across the table's chunk boundaries.
#[test]
fn the_state_table_agrees_with_every_record_after_racing_changes() {
    let rt = runtime();
    for _round in 0..10 {
        rt.block_on(async {
            let sup = Supervisor::new().unwrap();
            let n = 4100;
            for i in 0..n {
                let kind = if i % 3 == 0 {
                    Kind::Stubborn
                } else {
                    Kind::Select
                };
                sup.spawn(kind.task(format!("t{i}"), &light())).unwrap();
            }
            sup.set_grace(Duration::from_millis(5));
            let racers: Vec<_> = (0..3)
                .map(|racer| {
                    let sup = sup.clone();
                    std::thread::spawn(move || {
                        for id in (1..=n as u64).rev() {
                            let _ = match (id + racer) % 3 {
                                0 => sup.stop(id),
                                1 => sup.abort(id),
                                _ => sup.restart(id),
                            };
                        }
                    })
                })
                .collect();
            for racer in racers {
                racer.join().unwrap();
            }
            sup.shutdown(Duration::from_millis(5)).await;
            let table = sup.states();
            let records: Vec<State> = sup.snapshot().iter().map(|t| t.state).collect();
            assert_eq!(table.len(), records.len());
            for (i, (table, record)) in table.iter().zip(&records).enumerate() {
                assert_eq!(table, record, "task #{}", i + 1);
            }
        });
    }
}
