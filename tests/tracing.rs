//! What taskmon tells a program's `tracing` subscriber: each run of a task in a span of its own
//! (a root, numbered by run), so the task's own log lines say which task wrote them; each
//! lifecycle event a tracing event at its level, with the data of the JSON event.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use taskmon::{RestartLimit, RestartPolicy, Supervisor, TaskDef};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The program's subscriber, set before any supervisor is built, as a `main` does.
fn lines() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .init();
        lines
    })
}

#[tokio::test(start_paused = true)]
async fn a_tasks_own_lines_carry_its_run_span_and_its_life_is_logged_at_its_levels() {
    let lines = lines();
    let sup = Supervisor::builder().grace(ms(200)).build().unwrap();
    // Spawned from inside a request's span: the task's span is a root all the same.
    let request = tracing::info_span!("request", path = "/jobs");
    let id = request.in_scope(|| {
        sup.spawn(
            TaskDef::restartable("t-job", |ctx| async move {
                tracing::warn!(run = ctx.restarts() + 1, "disk slow");
                tokio::time::sleep(ms(50)).await;
                Err::<(), _>("the disk is full")
            })
            .kind("t-kind")
            .restart(RestartPolicy::on_error().with_limit(RestartLimit {
                count: 1,
                within: ms(60_000),
            })),
        )
        .unwrap()
    });
    sup.joined(id).await.unwrap();
    let stubborn = sup
        .spawn(TaskDef::new("t-stubborn", |_ctx| async move {
            loop {
                tokio::time::sleep(ms(10)).await;
            }
        }))
        .unwrap();
    tokio::time::sleep(ms(30)).await;
    sup.stop(stubborn).unwrap();
    sup.joined(stubborn).await.unwrap();

    let text = lines.text();
    let own: Vec<&str> = text.lines().filter(|l| l.contains("disk slow")).collect();
    assert_eq!(own.len(), 2, "{text}");
    for (run, line) in own.iter().enumerate() {
        let span = format!(
            "task{{task.id={id} task.name=t-job task.kind=t-kind task.run={}}}",
            run + 1
        );
        assert!(line.contains(&span), "{line} lacks {span}");
        assert!(!line.contains("request"), "a task's span is a root: {line}");
    }
    let event = |level: &str, event: &str, task: &str| {
        text.lines().any(|l| {
            l.trim_start().starts_with(level)
                && l.contains(&format!("event=\"{event}\""))
                && l.contains(&format!("task.name=\"{task}\""))
        })
    };
    assert!(event("DEBUG", "spawned", "t-job"), "{text}");
    assert!(event("ERROR", "errored", "t-job"), "{text}");
    assert!(event("WARN", "restarting", "t-job"), "{text}");
    assert!(event("ERROR", "failed", "t-job"), "{text}");
    assert!(event("INFO", "stop_requested", "t-stubborn"), "{text}");
    assert!(event("WARN", "escalated", "t-stubborn"), "{text}");
    assert!(event("DEBUG", "joined", "t-stubborn"), "{text}");
    // The detail is the JSON event's: the error's message, the stop's grace.
    assert!(
        text.lines()
            .any(|l| l.contains("event=\"errored\"") && l.contains("the disk is full")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("event=\"stop_requested\"") && l.contains("grace 200ms")),
        "{text}"
    );
}
