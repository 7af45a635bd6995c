//! What the flight recorder costs and gives: the ticks of 10,000 tasks recorded against the same
//! tasks not recorded; the bytes a minute of 10,000 tasks ticking ten times a second with 100
//! events a second takes (stated for an hour); how long going to a moment of it takes.

use std::time::{Duration, Instant};

use taskmon::board::{Query, Source};
use taskmon::record::{RecordOptions, Replay};
use taskmon::{JournalConfig, Supervisor, TaskDef};

use std::io::Write;

use super::ticks::{Loop, Window, measure, on_vs_off_rows, spawn_tickers};
use super::{fmt_ms, row, runtime};

const ROUNDS: usize = 7;

/// The ticks of 10,000 tasks recorded against the same tasks not recorded.
pub fn cost_rows() {
    on_vs_off_rows(
        "recording on vs off",
        ">= 0.95 of not recording",
        ROUNDS,
        ticking,
    );
}

fn ticking(kind: Loop, record: bool) -> Window {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut builder = Supervisor::builder();
        if record {
            builder = builder.record(dir.path().join("ticks.tmrec"));
        }
        let sup = builder.build().unwrap();
        let start = spawn_tickers(&sup, kind);
        let window = measure(&start, || sup.tick_counts().iter().sum()).await;
        sup.shutdown(Duration::from_secs(5)).await;
        sup.stop_recording();
        window
    })
}

/// How long the recorded minute runs after a warm-up that leaves the spawns out.
const WARM_UP: Duration = Duration::from_secs(10);
const MINUTE: Duration = Duration::from_secs(60);

/// A minute of the budget's workload recorded: its bytes for an hour, and every moment of it
/// gone to from the other end of the recording, each timed until its frame is worked out.
pub fn hour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hour.tmrec");
    let (minute, events) = runtime().block_on(async {
        let sup = Supervisor::builder()
            .record_with(&path, RecordOptions::default())
            .build()
            .unwrap();
        let start = spawn_tickers(&sup, Loop::Sleep(Duration::from_millis(100)));
        start.notify_waiters();
        // 100 events a second: a request handler spawned every 20 ms, spawned and joined.
        sup.spawn(
            TaskDef::new("acceptor", |ctx| async move {
                let mut every = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tokio::select! {
                        _ = ctx.cancelled() => break,
                        _ = every.tick() => {
                            let handler = TaskDef::new("handler", |_| async {})
                                .journal(JournalConfig::OFF);
                            let _ = ctx.spawn_child(handler);
                        }
                    }
                }
            })
            .journal(JournalConfig::OFF),
        )
        .unwrap();
        tokio::time::sleep(WARM_UP).await;
        let before = sup.recording().unwrap();
        let events_before = sup.len();
        tokio::time::sleep(MINUTE).await;
        let after = sup.recording().unwrap();
        let events = (sup.len() - events_before) * 2;
        sup.shutdown(Duration::from_secs(5)).await;
        let summary = sup.stop_recording().unwrap();
        assert_eq!(summary.error, None);
        (after.bytes - before.bytes, events)
    });
    let per_hour = minute as f64 * 60.0 / 1e6;
    row(
        "record: an hour of 10k @100ms + events",
        format!("{per_hour:.1} MB"),
        "-".into(),
        format!("{} events/s", events / 60),
        "<= 50 MB an hour (a minute measured)",
    );
    let (json, json_zstd) = as_json_lines(&path);
    row(
        "record: the same minute as JSON lines",
        format!("{:.1} MB", json as f64 / 1e6),
        format!("{:.2} MB zstd", json_zstd as f64 / 1e6),
        format!(
            "{:.1}x / {:.1}x",
            json as f64 / minute as f64,
            json_zstd as f64 / minute as f64
        ),
        "the recording's bytes, for comparison",
    );
    let opened = Instant::now();
    let replay = Replay::open(&path).unwrap();
    let open_took = opened.elapsed();
    let (start, end) = (replay.start, replay.end);
    let mut player = taskmon::replay::Player::new(replay, "bench".into());
    let query = Query {
        height: 30,
        log_height: 10,
        ..Query::default()
    };
    let mut took = Vec::new();
    let mut second = start;
    while second <= end {
        // From the far end, so that no moment is served from the frame last decoded.
        let far = if second.saturating_sub(start) < end.saturating_sub(second) {
            end
        } else {
            start
        };
        player
            .play(taskmon::board::PlayControl::GoTo(format!(
                "+{}ms",
                far.as_millis()
            )))
            .unwrap();
        player.frame(&query).unwrap();
        let began = Instant::now();
        player
            .play(taskmon::board::PlayControl::GoTo(format!(
                "+{}ms",
                second.as_millis()
            )))
            .unwrap();
        let frame = player.frame(&query).unwrap();
        took.push(began.elapsed());
        assert!(frame.total > 0 || second < start + Duration::from_secs(1));
        second += Duration::from_secs(1);
    }
    took.sort();
    row(
        "replay: go to any second of it",
        format!("max {}", fmt_ms(took[took.len() - 1])),
        format!("median {}", fmt_ms(took[took.len() / 2])),
        format!("open {}", fmt_ms(open_took)),
        "< 200 ms, frame included",
    );
}

/// Bytes written, counted.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The recording's minute (from the warm-up on) as JSON lines would keep it: the events as
/// `taskmon run --json` prints them, and each second the row of every task whose row changed;
/// plain and through zstd at the recorder's level.
fn as_json_lines(path: &std::path::Path) -> (u64, u64) {
    let mut replay = Replay::open(path).unwrap();
    let mut plain = Count(0);
    let mut packed = zstd::stream::write::Encoder::new(Count(0), 9).unwrap();
    let mut line = |text: String| {
        plain.write_all(text.as_bytes()).unwrap();
        plain.write_all(b"\n").unwrap();
        packed.write_all(text.as_bytes()).unwrap();
        packed.write_all(b"\n").unwrap();
    };
    let from = replay.start + WARM_UP;
    let until = from + MINUTE;
    for e in replay
        .events()
        .filter(|e| e.since_start > from && e.since_start <= until)
    {
        line(taskmon::format::event_json(&e).to_string());
    }
    let mut rows: Vec<String> = Vec::new();
    let mut second = from;
    while second <= until {
        replay.seek(second).unwrap();
        for (i, snapshot) in replay.snapshot().into_iter().enumerate() {
            let report = taskmon::TaskReport {
                snapshot,
                journal_path: None,
                records_on_disk: None,
                journal_verified: None,
                journal_problem: None,
            };
            let text = taskmon::format::report_json(&report).to_string();
            if rows.get(i) != Some(&text) {
                if second > from {
                    line(text.clone());
                }
                if i < rows.len() {
                    rows[i] = text;
                } else {
                    rows.push(text);
                }
            }
        }
        second += Duration::from_secs(1);
    }
    let packed = packed.finish().unwrap();
    (plain.0, packed.0)
}
