//! The final report as people read it: the notable rows first, at most twenty of them, totals per
//! state, columns that stay put, and nothing a terminal would obey.

use std::time::Duration;

use taskmon::format::{SUMMARY_ROWS, event_line, report_summary};
use taskmon::kinds::{Kind, Params};
use taskmon::{State, Supervisor};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_large_report_shows_the_notable_rows_first_and_totals_per_state() {
    taskmon::silence_task_panics(true);
    let sup = Supervisor::builder().grace(ms(500)).build().unwrap();
    let mut events = sup.events();
    let p = Params {
        interval: ms(100),
        flush_every: 4,
        ..Params::default()
    };
    for i in 0..30 {
        sup.spawn(Kind::Select.task(format!("quiet-{i}"), &p))
            .unwrap();
    }
    let mule = sup.spawn(Kind::Stubborn.task("mule", &p)).unwrap();
    let mom = sup.spawn(Kind::Parent.task("mom", &p)).unwrap();
    let evil = sup
        .spawn_fn("evil", |_| async {
            panic!("gotcha\x1b]0;pwned\x07\x1b[2J\u{202e}");
        })
        .unwrap();
    tokio::time::sleep(ms(1050)).await;
    sup.abort(mom).unwrap();
    sup.joined(mom).await.unwrap();
    sup.shutdown(ms(500)).await;
    let reports = sup.report().await;
    assert_eq!(reports.len(), 36);

    let text = report_summary(&reports, SUMMARY_ROWS, None);
    assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'));
    assert!(text.contains("panic: gotcha\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{202e}"));
    let lines: Vec<&str> = text.lines().collect();
    let rows: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(rows.len(), SUMMARY_ROWS);
    assert!(
        rows[0].contains(" mule ") && rows[0].contains("escalated"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains(" evil ") && rows[1].contains("panicked"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains(" mom ") && rows[2].contains("aborted"),
        "lost records come next: {}",
        rows[2]
    );
    assert!(text.contains("… 16 more tasks not shown; `--report FILE` writes every row"));
    let totals = lines.last().unwrap();
    assert!(totals.starts_with("totals: 36 tasks: "), "{totals}");
    assert!(
        totals.contains("33 stopped") && totals.contains("1 escalated"),
        "{totals}"
    );
    assert!(
        totals.contains("1 panicked") && totals.contains("1 aborted"),
        "{totals}"
    );

    // Orphans are flagged in the state column, which is as wide as its widest cell.
    let everything = report_summary(&reports, usize::MAX, None);
    let header = everything.lines().next().unwrap();
    let kind_column = header.find("kind").unwrap();
    let orphans: Vec<&str> = everything
        .lines()
        .filter(|l| l.contains("(orphan)"))
        .collect();
    assert_eq!(orphans.len(), 3, "the children of the aborted parent");
    for line in everything
        .lines()
        .skip(1)
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
    {
        let kind = line[kind_column..].split_whitespace().next().unwrap();
        assert!(
            ["select", "stubborn", "parent", "custom"].contains(&kind),
            "columns stay put: {line}"
        );
    }

    let panicked = std::iter::from_fn(|| events.try_recv())
        .find(|e| e.id == evil && e.kind == taskmon::EventKind::Panicked)
        .unwrap();
    let line = event_line(&panicked);
    assert!(
        !line.contains('\x1b') && line.contains("gotcha\\u{1b}"),
        "{line}"
    );
    assert_eq!(sup.task(mule).unwrap().state, State::Escalated);
}

#[tokio::test(start_paused = true)]
async fn the_summary_fits_a_narrow_terminal_cutting_long_names_and_dropping_columns_by_priority() {
    let sup = Supervisor::builder()
        .journal_dir(tempfile::tempdir().unwrap().keep())
        .build()
        .unwrap();
    let p = Params {
        interval: ms(100),
        ..Params::default()
    };
    sup.spawn(Kind::Polling.task("graceful", &p)).unwrap();
    sup.spawn(Kind::Stubborn.task("mule", &p)).unwrap();
    sup.spawn(Kind::Select.task(
        "a-task-whose-name-is-longer-than-a-terminal-column-should-hold",
        &p,
    ))
    .unwrap();
    tokio::time::sleep(ms(1000)).await;
    sup.shutdown(ms(300)).await;
    let reports = sup.report().await;

    let wide = report_summary(&reports, SUMMARY_ROWS, None);
    let header = wide.lines().next().unwrap();
    assert!(
        header.contains("kind") && header.contains("journal"),
        "{header}"
    );
    assert!(
        wide.lines().any(|l| l.chars().count() > 110),
        "the case this is about"
    );

    for width in [120, 100, 80, 60] {
        let text = report_summary(&reports, SUMMARY_ROWS, Some(width));
        for line in text.lines().filter(|l| !l.starts_with("totals:")) {
            assert!(
                line.chars().count() <= width,
                "fits {width} columns: {line:?}\n{text}"
            );
        }
        let header = text.lines().next().unwrap();
        for kept in ["id", "task", "state"] {
            assert!(header.contains(kept), "{kept} at {width}: {header}");
        }
        // Each row is one line: no cell wrapped, no row lost.
        let rows = text
            .lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()));
        assert_eq!(rows.count(), 3, "{text}");
    }
    let at_80 = report_summary(&reports, SUMMARY_ROWS, Some(80));
    let header = at_80.lines().next().unwrap();
    for kept in ["ticks", "stop latency", "cleanup", "lost"] {
        assert!(header.contains(kept), "{kept} at 80: {header}");
    }
    assert!(
        !header.contains("kind"),
        "the kind gives way first: {header}"
    );
    assert!(
        at_80.contains("a-task-"),
        "a long name is cut in the middle: {at_80}"
    );
    assert!(at_80.contains("…") && at_80.contains("-hold"), "{at_80}");
}

/// Each `report` line, written straight from the report, says what the SPEC's line says, key
/// for key and in its order: as it did when it was built as a JSON map.
#[tokio::test(start_paused = true)]
async fn report_lines_say_what_the_specs_json_says() {
    use serde_json::{Value, json};
    use taskmon::TaskDef;
    taskmon::silence_task_panics(true);
    let sup = Supervisor::builder().grace(ms(500)).build().unwrap();
    let p = Params {
        interval: ms(100),
        flush_every: 4,
        ..Params::default()
    };
    for kind in [
        Kind::Select,
        Kind::Panicky,
        Kind::Erring,
        Kind::Parent,
        Kind::Stubborn,
    ] {
        sup.spawn(kind.task(format!("{kind:?} \"é\" \\"), &p))
            .unwrap();
    }
    sup.spawn(TaskDef::new("counts", |ctx| async move {
        ctx.counter("requests \"served\"").add(7);
        ctx.set_note("a note\nwith a line");
        ctx.cancelled().await;
    }))
    .unwrap();
    tokio::time::sleep(ms(1500)).await;
    sup.shutdown(ms(500)).await;
    let reports = sup.report().await;
    assert!(reports.len() >= 6);
    for r in &reports {
        let s = &r.snapshot;
        let journal = s.ledger.journal;
        let millis = taskmon::format::millis;
        let expected = json!({
            "type": "report",
            "id": s.id,
            "task": &*s.name,
            "kind": &*s.kind,
            "state": s.state.as_str(),
            "ticks": s.ledger.ticks,
            "persisted": journal.map(|j| j.persisted),
            "lost": journal.map(|j| j.lost),
            "pending": journal.map(|j| j.pending),
            "cleanup": s.cleanup.as_str(),
            "stop_latency_ms": s.stop_latency().map(millis),
            "journal_verified": r.journal_verified,
            "journal_error": s.journal_error.as_deref(),
            "journal_problem": r.journal_problem,
            "orphan": s.orphan,
            "restarts": s.restarts,
            "note": s.note.as_deref(),
            "detached": s.detached,
            "panic": s.panic_message.as_deref(),
            "error": s.error.as_deref(),
            "polls": s.polls.polls,
            "busy_ms": millis(s.polls.busy),
            "max_poll_ms": millis(s.polls.max_poll),
            "slow_polls": s.polls.slow_polls,
            "location": s.location.as_ref().map(|l| l.to_string()),
            "warnings": s.warnings().iter().map(|w| w.as_str()).collect::<Vec<_>>(),
            "counters": s
                .counters
                .iter()
                .map(|(name, value)| (name.to_string(), Value::from(*value)))
                .collect::<serde_json::Map<_, _>>(),
        });
        let line = taskmon::format::report_line(r).to_string();
        assert_eq!(line, expected.to_string());
        assert_eq!(taskmon::format::report_json(r), expected);
    }
    let counted = reports
        .iter()
        .find(|r| &*r.snapshot.name == "counts")
        .unwrap();
    let line = taskmon::format::report_line(counted).to_string();
    assert!(
        line.contains(r#""counters":{"requests \"served\"":7}"#),
        "{line}"
    );
}
