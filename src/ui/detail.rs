//! The detail pane: the selected task's lesson, timeline, journal, tick rate and family.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Wrap};

use super::state_style;
use crate::app::App;
use crate::format;
use crate::format::humanize;
use crate::kinds::Kind;
use crate::supervisor::{TaskSnapshot, Warning};
use crate::text::escape;

pub(super) fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(task) = app.selected_row() else {
        let text = if app.playback.is_some() {
            "No task yet at this moment of the recording: Space plays, g goes to a time."
        } else {
            "No tasks. Press n to spawn one, or 1–9 for a kind."
        };
        let empty = Paragraph::new(text)
            .block(Block::bordered().title(" detail "));
        frame.render_widget(empty, area);
        return;
    };
    let block = Block::bordered().title(format!(" #{} {} ", task.id, task.name));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let lesson = task
        .kind
        .parse::<Kind>()
        .map_or("your own task: the lessons are what you see", Kind::lesson);
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!("{} · ", task.kind)).dim(),
            Span::styled(task.state.as_str(), state_style(task.state)),
            Span::raw(format!(" · cleanup {}", task.cleanup)),
        ]),
    ];
    // The timeline first, so a short pane never cuts it.
    let mut previous = None;
    for (moment, at) in task.timeline.reached() {
        let delta = previous.map_or(String::new(), |p| format!("+{}", humanize(at - p)));
        previous = Some(at);
        lines.push(Line::from(vec![
            Span::raw(format!("  {}  ", format::clock(&app.wall_time(at)))).dim(),
            Span::raw(format!("{:<17}", moment.label())),
            Span::raw(delta).fg(Color::Yellow),
        ]));
    }
    lines.extend(poll_lines(task));
    lines.push(Line::from(vec![
        Span::raw("lesson: ").bold(),
        Span::raw(lesson).italic(),
    ]));
    if let Some(note) = &task.note {
        lines.push(Line::from(vec![
            Span::raw("now: ").bold(),
            Span::raw(escape(note).into_owned()),
        ]));
    }
    if task.detached {
        lines.push(Line::from(
            "detached: started with a plain spawn, never joined; stop-all and quitting pass it by",
        ));
    }
    if let Some(message) = &task.panic_message {
        lines.push(Line::from(vec![
            Span::raw("panic: ").red().bold(),
            Span::raw(escape(message).into_owned()).red(),
        ]));
    }
    if let Some(message) = &task.error {
        lines.push(Line::from(vec![
            Span::raw("error: ").light_red().bold(),
            Span::raw(escape(message).into_owned()).light_red(),
        ]));
    }
    if let Some(error) = &task.journal_error {
        lines.push(Line::from(vec![
            Span::raw("journal error: ").red().bold(),
            Span::raw(format!("{} — later records are lost", escape(error))).red(),
        ]));
    }
    let ticks = task.ledger.ticks;
    lines.push(match (task.ledger.journal, &app.journal_path) {
        (Some(j), Some(path)) => Line::from(format!(
            "ticks {ticks} = persisted {} + lost {} + pending {} · journal {}",
            j.persisted,
            j.lost,
            j.pending,
            escape(&path.display().to_string())
        )),
        _ => Line::from(format!("ticks {ticks} · no journal")),
    });
    if !task.counters.is_empty() {
        let counts: Vec<_> = task
            .counters
            .iter()
            .map(|(name, value)| format!("{} {value}", escape(name)))
            .collect();
        lines.push(Line::from(format!("counters: {}", counts.join(" · "))));
    }
    let mut family = Vec::new();
    if let Some(parent) = task.parent {
        family.push(format!("parent #{parent}"));
    }
    if !app.children.is_empty() {
        let ids: Vec<_> = app.children.iter().map(|c| format!("#{c}")).collect();
        family.push(format!("children {}", ids.join(" ")));
    }
    if task.orphan {
        family.push("orphan: its parent ended while it runs".into());
    }
    if task.drop_ran {
        family.push("its Drop ran".into());
    }
    if !family.is_empty() {
        lines.push(Line::from(family.join(" · ")));
    }
    if app.detail_focus {
        lines.push(Line::from("events:").bold());
        lines.extend(
            app.task_events()
                .map(|e| Line::from(format!("  {}", format::event_line(e)))),
        );
    }
    // The sparkline gives way first: it shows only when every line has room beside it.
    let spark_height = if inner.height as usize >= lines.len() + 2 { 2 } else { 0 };
    let [text_area, spark_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(spark_height)]).areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text_area);
    if spark_height == 0 {
        return;
    }

    let history = app.rate_history().to_vec();
    let rate = app.rate(task.id).unwrap_or(0);
    let spark = Sparkline::default()
        .block(Block::new().title(format!("ticks/s {rate}")))
        .data(&history[history.len().saturating_sub(spark_area.width as usize)..])
        .style(state_style(task.state));
    frame.render_widget(spark, spark_area);
}

/// The task's polls: figures and where it was spawned, the poll it blocks in now, the durations
/// as a histogram, and its warnings.
fn poll_lines(task: &TaskSnapshot) -> Vec<Line<'static>> {
    let p = &task.polls;
    let mut lines = Vec::new();
    if p.polls == 0 && p.blocking.is_none() {
        // Polls not counted here (or not one has ended yet): nothing to say.
        return lines;
    }
    let mut figures = format!(
        "polls {} · busy {} · max poll {} · slow {}",
        p.polls,
        humanize(p.busy),
        humanize(p.max_poll),
        p.slow_polls
    );
    if let Some(location) = &task.location {
        figures.push_str(&format!(" · at {}", escape(&location.to_string())));
    }
    lines.push(Line::from(figures));
    if let (Some(blocking), false) = (&p.blocking, task.state.is_ended()) {
        lines.push(Line::from(vec![
            Span::raw(format!("blocking {} ", format::seconds(blocking.for_)))
                .red()
                .bold(),
            Span::raw(format!(
                "in one poll on {}: its worker runs nothing else, and a stop or abort waits for the poll to end",
                escape(&blocking.thread)
            ))
            .red(),
        ]));
    }
    if p.polls > 0 {
        lines.push(Line::from(vec![
            Span::raw("poll times ").dim(),
            Span::raw("<1µs "),
            Span::raw(bars(&p.histogram)).fg(Color::Cyan),
            Span::raw(" ≥1s"),
        ]));
    }
    // Named in one line, so that they fit beside the rest; `?` explains each.
    let warnings: Vec<&str> = task.warnings().into_iter().map(Warning::as_str).collect();
    if !warnings.is_empty() {
        lines.push(Line::from(vec![
            Span::raw(format!("⚠ {}", warnings.join(" · "))).yellow().bold(),
            Span::raw("  (? explains)").dim(),
        ]));
    }
    lines
}

/// One character per bucket, as tall as the bucket's share of the fullest one (a bucket with
/// any poll shows at least the lowest bar).
fn bars(histogram: &[u64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let most = histogram.iter().copied().max().unwrap_or(0).max(1);
    histogram
        .iter()
        .map(|&n| match n {
            0 => '·',
            n => LEVELS[((n as f64 / most as f64) * 7.0).round() as usize],
        })
        .collect()
}
