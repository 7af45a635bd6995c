//! The dashboard without a terminal: every key through `input` and `App::update`, and the screens
//! through ratatui's `TestBackend`, on tokio's paused clock so the figures are exact.

use std::time::Duration;

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use taskmon::app::{App, Mode};
use taskmon::board::{Board, Command, Frame, Query, Source};
use taskmon::input::{self, Action};
use taskmon::kinds::{Kind, Params};
use taskmon::supervisor::{Blocking, POLL_BUCKETS, PollReading};
use taskmon::{State, Supervisor, ui};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn params() -> Params {
    Params {
        interval: ms(100),
        flush_every: 4,
        busy: ms(1),
        panic_after: 7,
        ..Params::default()
    }
}

/// A supervisor with a task of each of `kinds`, on the paused clock.
fn supervisor(kinds: &[Kind]) -> Supervisor {
    supervisor_with_events(kinds).0
}

/// The same, with the events from before the first spawn.
fn supervisor_with_events(kinds: &[Kind]) -> (Supervisor, taskmon::EventStream) {
    // Poll timings are real time, never the same twice: the screens here go without them (the
    // polls' own screens pin them: `PinnedPolls`).
    let sup = Supervisor::builder()
        .grace(ms(2000))
        .wall_clock_origin(origin())
        .poll_stats(false)
        .build()
        .unwrap();
    let events = sup.events();
    for kind in kinds {
        sup.spawn(kind.task(kind.name(), &params())).unwrap();
    }
    (sup, events)
}

const KINDS: [Kind; 6] = [
    Kind::Polling,
    Kind::Select,
    Kind::SlowCleanup,
    Kind::Stubborn,
    Kind::Panicky,
    Kind::Parent,
];

fn press(app: &mut App, code: KeyCode) {
    let mods = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    send(app, Event::Key(KeyEvent::new(code, mods)));
}

fn send(app: &mut App, event: Event) {
    if let Some(action) = input::action(app.mode, &event) {
        app.update(action);
    }
    app.refresh();
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::draw(frame, app)).unwrap();
    terminal.backend().to_string()
}

/// A fixed wall-clock start, so the times on screen are the same in every run.
fn origin() -> chrono::DateTime<chrono::Local> {
    use chrono::TimeZone;
    chrono::Local
        .with_ymd_and_hms(2026, 11, 25, 9, 30, 0)
        .unwrap()
}

/// The temporary directory's name changes from run to run.
fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"taskmon-[A-Za-z0-9]{6}", "taskmon-XXXXXX");
    settings.add_filter(r"/[^ ]*/taskmon-XXXXXX", "/tmp/taskmon-XXXXXX");
    settings
}

async fn settle(sup: &Supervisor, at: Duration) {
    tokio::time::sleep(at.saturating_sub(sup.uptime())).await;
}

#[tokio::test(start_paused = true)]
async fn s_stops_and_k_aborts_the_selected_task() {
    let sup = supervisor(&[Kind::Polling, Kind::Select, Kind::Stubborn]);
    settle(&sup, ms(1050)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    assert_eq!(app.selected_row().unwrap().name.as_ref(), "polling");

    press(&mut app, KeyCode::Char('s'));
    assert_eq!(sup.task(1).unwrap().state, State::Stopping);
    assert_eq!(app.notice(), Some("stop requested for #1 polling"));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(sup.joined(2).await.unwrap().state, State::Aborted);
    assert_eq!(sup.joined(1).await.unwrap().state, State::Stopped);
    app.refresh();
    assert_eq!(app.rows[0].state, State::Stopped);
    assert_eq!(app.rows[1].state, State::Aborted);

    press(&mut app, KeyCode::Char('k'));
    assert_eq!(
        app.notice(),
        Some("cannot abort: task #2 has already ended")
    );
}

#[tokio::test(start_paused = true)]
async fn shift_s_and_shift_k_reach_every_task() {
    let sup = supervisor(&[Kind::Polling, Kind::Select, Kind::Stubborn]);
    settle(&sup, ms(500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.notice(), Some("graceful stop requested for 3 task(s)"));
    assert!(sup.snapshot().iter().all(|t| t.state == State::Stopping));
    press(&mut app, KeyCode::Char('K'));
    for id in 1..=3 {
        assert_eq!(sup.joined(id).await.unwrap().state, State::Aborted);
    }
}

#[tokio::test(start_paused = true)]
async fn n_opens_the_picker_and_digits_spawn_kinds() {
    let sup = supervisor(&[]);
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.mode, Mode::Picker);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.picker, 1);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sup.task(1).unwrap().kind.as_ref(), "select");

    press(&mut app, KeyCode::Char('n'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sup.len(), 1, "Esc spawns nothing");

    for (i, kind) in Kind::ALL.into_iter().take(9).enumerate() {
        press(
            &mut app,
            KeyCode::Char(char::from_digit(i as u32 + 1, 10).unwrap()),
        );
        assert_eq!(sup.task(i as u64 + 2).unwrap().kind.as_ref(), kind.name());
    }
    press(&mut app, KeyCode::Char('n'));
    press(&mut app, KeyCode::Char('5'));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sup.task(11).unwrap().kind.as_ref(), "stubborn");
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn moving_around_a_long_table() {
    let sup = Supervisor::builder().build().unwrap();
    for i in 0..100 {
        sup.spawn(Kind::Select.task(format!("t{i}"), &params()))
            .unwrap();
    }
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    let page = app.window().len();
    assert!(page > 5 && page < 100);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 1);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected, 0, "stays at the top");
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, page);
    assert!(
        app.window().contains(&app.selected),
        "the selection stays visible"
    );
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected, 0);
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected, 99);
    assert_eq!(app.window().end, 100);
    press(&mut app, KeyCode::Home);
    assert_eq!((app.selected, app.offset), (0, 0));

    let wheel = |kind| {
        Event::Mouse(MouseEvent {
            kind,
            column: 10,
            row: 10,
            modifiers: KeyModifiers::NONE,
        })
    };
    send(&mut app, wheel(MouseEventKind::ScrollDown));
    assert_eq!(app.selected, 3);
    send(&mut app, wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.selected, 0);

    // The table's first body row is on screen row 4: two header lines, border, column titles.
    send(
        &mut app,
        Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 10,
            row: 11,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(
        app.selected, 7,
        "a click on screen row 11 selects the 8th row"
    );
    let body = taskmon::layout::table_body(
        taskmon::layout::layout(app.size, false, app.header_height())
            .unwrap()
            .table,
    );
    assert_eq!(body.y, 4);

    send(&mut app, Event::Resize(100, 25));
    assert_eq!(app.size, Rect::new(0, 0, 100, 25));
    assert!(app.window().contains(&app.selected));
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn enter_c_grace_help_esc_and_quit() {
    let sup = supervisor(&[Kind::Polling, Kind::Select]);
    settle(&sup, ms(300)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));

    press(&mut app, KeyCode::Enter);
    assert!(app.detail_focus);
    press(&mut app, KeyCode::Enter);
    assert!(!app.detail_focus);

    press(&mut app, KeyCode::Char('k'));
    sup.joined(1).await.unwrap();
    app.refresh();
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.notice(), Some("cleared 1 ended row(s)"));
    assert_eq!(app.rows.len(), 1);
    assert_eq!(app.rows[0].name.as_ref(), "select");

    press(&mut app, KeyCode::Char('+'));
    assert_eq!(sup.grace(), ms(2500));
    press(&mut app, KeyCode::Char('-'));
    press(&mut app, KeyCode::Char('-'));
    assert_eq!(sup.grace(), ms(1500));
    for _ in 0..10 {
        press(&mut app, KeyCode::Char('-'));
    }
    assert_eq!(sup.grace(), ms(500), "never below half a second");

    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        sup.task(2).unwrap().state,
        State::Running,
        "keys do not leak through the help"
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);

    press(&mut app, KeyCode::Char('q'));
    assert_eq!(app.mode, Mode::Quitting);
    assert!(app.take_quit_request());
    assert!(!app.take_quit_request(), "asked once");
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(
        sup.joined(2).await.unwrap().state,
        State::Aborted,
        "q again aborts what is left"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_quits() {
    let sup = supervisor(&[]);
    let mut app = App::new(sup, Rect::new(0, 0, 120, 40));
    send(
        &mut app,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(app.mode, Mode::Quitting);
    assert!(app.take_quit_request());
}

#[test]
fn hints_and_help_come_from_the_one_table_of_bindings() {
    let sup_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = sup_rt.enter();
    let app = App::new(Supervisor::new().unwrap(), Rect::new(0, 0, 240, 40));
    let footer_at = |width: u16, height: u16| {
        let shown = screen(&app, width, height);
        shown.lines().last().unwrap().to_string()
    };
    let wide = footer_at(240, 40);
    for b in input::NORMAL.iter().filter(|b| !b.hint.is_empty()) {
        assert!(
            wide.contains(&format!("{} {}", b.label, b.hint)),
            "{} in {wide}",
            b.label
        );
    }
    for (width, height) in [(120, 40), (100, 30), (80, 24)] {
        let footer = footer_at(width, height);
        assert!(
            footer.contains("? help") && footer.contains("q quit"),
            "{width}x{height}: {footer}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_help_scrolls_to_its_end_on_a_small_terminal() {
    let sup = supervisor(&[Kind::Polling]);
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 80, 20));
    press(&mut app, KeyCode::Char('?'));
    let top = screen(&app, 80, 20);
    assert!(top.contains("help 1-18 of "), "{top}");
    assert!(!top.contains("closes this help"));
    for _ in 0..50 {
        press(&mut app, KeyCode::PageDown);
    }
    let most = app.help_scroll;
    assert_eq!(
        most,
        taskmon::help::scroll_max(app.size, taskmon::input::NORMAL)
    );
    let bottom = screen(&app, 80, 20);
    assert!(bottom.contains("closes this help"), "{bottom}");
    press(&mut app, KeyCode::Up);
    assert_eq!(
        app.help_scroll,
        most - 1,
        "one up from the end, however far it was pushed"
    );
    press(&mut app, KeyCode::Home);
    assert_eq!(app.help_scroll, 0);
    sup.abort_all();
}

/// Snapshots the screen at 120x40 and at 80x24, the smallest size taskmon is made for.
fn snapshot_at_both_sizes(app: &mut App, name: &str) {
    for (width, height) in [(120, 40), (80, 24)] {
        app.update(Action::Resize { width, height });
        app.refresh();
        let shown = screen(app, width, height);
        snapshot_settings()
            .bind(|| insta::assert_snapshot!(format!("{name}_{width}x{height}"), shown));
    }
    app.update(Action::Resize {
        width: 120,
        height: 40,
    });
    app.refresh();
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[tokio::test(start_paused = true)]
async fn snapshots_main_filtered_sorted_tree_and_help() {
    let (sup, mut events) = supervisor_with_events(&KINDS);
    settle(&sup, ms(1050)).await;
    sup.stop(1).unwrap();
    sup.abort(2).unwrap();
    sup.stop(4).unwrap();
    settle(&sup, ms(2350)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    while let Some(e) = events.try_recv() {
        app.push_event(e);
    }
    app.refresh();
    snapshot_at_both_sizes(&mut app, "main");

    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "kind:select");
    snapshot_at_both_sizes(&mut app, "filter_typed");
    press(&mut app, KeyCode::Enter);
    snapshot_at_both_sizes(&mut app, "filtered");
    assert_eq!(app.selected_id(), Some(2));
    press(&mut app, KeyCode::Esc);
    assert_eq!(
        app.selected_id(),
        Some(2),
        "clearing the filter keeps the selection"
    );

    // Sorted by ticks, most first: the selection stays on its task.
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_id(), Some(3));
    for _ in 0..4 {
        press(&mut app, KeyCode::Char('>'));
    }
    press(&mut app, KeyCode::Char('I'));
    assert_eq!(app.selected_id(), Some(3), "the selection follows its task");
    snapshot_at_both_sizes(&mut app, "sorted");

    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('<'));
    press(&mut app, KeyCode::Char('I'));
    press(&mut app, KeyCode::Char('t'));
    snapshot_at_both_sizes(&mut app, "tree");

    press(&mut app, KeyCode::Char('?'));
    snapshot_at_both_sizes(&mut app, "help");
}

#[tokio::test(start_paused = true)]
async fn snapshot_detail_pane_focused_on_a_stopped_task() {
    let (sup, mut events) = supervisor_with_events(&[Kind::SlowCleanup, Kind::Select]);
    settle(&sup, ms(1050)).await;
    sup.stop(1).unwrap();
    settle(&sup, ms(1650)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    while let Some(e) = events.try_recv() {
        app.push_event(e);
    }
    press(&mut app, KeyCode::Enter);
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("detail_cleaning_up", screen(&app, 120, 40)));
    sup.joined(1).await.unwrap();
    while let Some(e) = events.try_recv() {
        app.push_event(e);
    }
    app.refresh();
    snapshot_settings().bind(|| insta::assert_snapshot!("detail_stopped", screen(&app, 120, 40)));
}

#[tokio::test(start_paused = true)]
async fn snapshot_picker_and_a_small_terminal() {
    let sup = supervisor(&[Kind::Polling]);
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('n'));
    press(&mut app, KeyCode::Down);
    snapshot_settings().bind(|| insta::assert_snapshot!("kind_picker", screen(&app, 120, 40)));
    press(&mut app, KeyCode::Esc);
    snapshot_settings().bind(|| insta::assert_snapshot!("too_small", screen(&app, 60, 15)));
    let restored = screen(&app, 120, 40);
    assert!(
        restored.contains("tasks 1-1 of 1"),
        "resizing back restores the layout"
    );
}

#[tokio::test(start_paused = true)]
async fn what_a_task_says_is_shown_escaped_and_an_ended_task_ticks_at_rate_zero() {
    taskmon::silence_task_panics(true);
    let sup = supervisor(&[]);
    sup.spawn_fn("evil", |mut ctx| async move {
        for _ in 0..10 {
            ctx.tick();
            tokio::time::sleep(ms(100)).await;
        }
        panic!("gotcha\x1b]0;pwned\x07\u{202e}");
    })
    .unwrap();
    settle(&sup, ms(2100)).await;
    let app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    assert_eq!(app.rows[0].state, State::Panicked);
    assert_eq!(app.rate(1), Some(0), "it ticks no more");
    let shown = screen(&app, 120, 40);
    assert!(
        shown.contains("gotcha\\u{1b}]0;pwned\\u{7}\\u{202e}"),
        "{shown}"
    );
    assert!(!shown.contains('\u{202e}'));
}

/// The ids of the rows shown, in order.
fn shown_ids(app: &App) -> Vec<u64> {
    app.view.iter().map(|r| r.id).collect()
}

#[tokio::test(start_paused = true)]
async fn slash_filters_by_name_kind_and_state_and_esc_clears() {
    let sup = supervisor(&KINDS);
    settle(&sup, ms(1050)).await;
    sup.stop(1).unwrap();
    settle(&sup, ms(1500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    assert_eq!(shown_ids(&app), (1..=9).collect::<Vec<_>>());

    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode, Mode::Filter);
    type_text(&mut app, "child2");
    assert_eq!(shown_ids(&app), vec![8], "the rows follow each letter");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.filter.text, "child");
    assert_eq!(shown_ids(&app), vec![7, 8, 9]);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.notice(), Some("filter `child`: 3 shown"));
    assert_eq!(app.selected_id(), Some(8), "the selection stayed on child2");
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(sup.task(8).unwrap().state, State::Stopping);

    press(&mut app, KeyCode::Esc);
    assert!(app.filter.is_empty());
    assert_eq!(app.notice(), Some("filter cleared"));
    assert_eq!(app.view.len(), 9);

    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "state:stopped");
    assert_eq!(shown_ids(&app), vec![1]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal, "Esc while typing leaves the filter");
    assert!(app.filter.is_empty(), "and empties it");

    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "kind:select state:run");
    press(&mut app, KeyCode::Enter);
    assert_eq!(shown_ids(&app), vec![2, 7, 9]);
    press(&mut app, KeyCode::Char('q'));
    assert_eq!(
        app.mode,
        Mode::Quitting,
        "keys act again once Enter is pressed"
    );
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn shift_s_and_shift_k_on_a_filter_ask_first_and_reach_only_what_is_shown() {
    let sup = supervisor(&KINDS);
    settle(&sup, ms(500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "kind:select");
    press(&mut app, KeyCode::Enter);
    let shown = shown_ids(&app);
    assert_eq!(shown, vec![2, 7, 8, 9]);

    press(&mut app, KeyCode::Char('S'));
    assert_eq!(app.mode, Mode::Confirm);
    assert_eq!(
        app.question().as_deref(),
        Some("stop the 4 task(s) shown by the filter? y/n")
    );
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.notice(), Some("nothing done"));
    assert!(sup.snapshot().iter().all(|t| t.state == State::Running));

    press(&mut app, KeyCode::Char('S'));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        app.notice(),
        Some("graceful stop requested for the 4 task(s) shown")
    );
    for task in sup.snapshot() {
        let expected = if shown.contains(&task.id) {
            State::Stopping
        } else {
            State::Running
        };
        assert_eq!(task.state, expected, "#{} {}", task.id, task.name);
    }

    press(&mut app, KeyCode::Char('K'));
    press(&mut app, KeyCode::Char('y'));
    for id in shown {
        assert_eq!(sup.joined(id).await.unwrap().state, State::Aborted);
    }
    assert_eq!(sup.task(1).unwrap().state, State::Running);
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn space_marks_and_s_k_act_on_the_marked_tasks() {
    let sup = supervisor(&[Kind::Polling, Kind::Select, Kind::Stubborn, Kind::Select]);
    settle(&sup, ms(500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(
        app.selected_id(),
        Some(2),
        "a mark moves the selection down"
    );
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.marked.iter().copied().collect::<Vec<_>>(), vec![1, 3]);
    assert!(screen(&app, 120, 40).contains("· 2 marked"));

    press(&mut app, KeyCode::Char('s'));
    assert_eq!(
        app.notice(),
        Some("stop requested for 2 of the 2 marked task(s)")
    );
    let states: Vec<State> = sup.snapshot().iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        vec![
            State::Stopping,
            State::Running,
            State::Stopping,
            State::Running
        ]
    );

    press(&mut app, KeyCode::Esc);
    assert!(app.marked.is_empty());
    assert_eq!(app.notice(), Some("marks cleared"));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.marked.iter().copied().collect::<Vec<_>>(), vec![3]);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char(' '));
    assert!(app.marked.is_empty(), "Space again unmarks");
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.marked.iter().copied().collect::<Vec<_>>(), vec![2]);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(sup.joined(2).await.unwrap().state, State::Aborted);
    assert_eq!(sup.task(4).unwrap().state, State::Running);
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn p_freezes_the_display_while_the_tasks_run_on() {
    let sup = supervisor(&[Kind::Polling]);
    settle(&sup, ms(1050)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    assert_eq!(app.rows[0].ticks(), 11);
    press(&mut app, KeyCode::Char('p'));
    assert!(app.paused);
    assert!(screen(&app, 120, 40).contains("PAUSED"));
    settle(&sup, ms(2050)).await;
    assert!(!app.refresh(), "nothing changes on a paused screen");
    assert_eq!(app.rows[0].ticks(), 11, "the figures stay as they were");
    assert_eq!(sup.task(1).unwrap().ticks(), 21, "the task ran on");
    press(&mut app, KeyCode::Char('p'));
    assert!(!app.paused);
    assert_eq!(app.rows[0].ticks(), 21);
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn tab_gives_the_event_log_the_arrows() {
    let (sup, mut events) = supervisor_with_events(&KINDS);
    settle(&sup, ms(1050)).await;
    sup.abort(1).unwrap();
    sup.abort(2).unwrap();
    sup.abort(3).unwrap();
    settle(&sup, ms(1100)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    while let Some(e) = events.try_recv() {
        app.push_event(e);
    }
    app.refresh();
    let logged = app.log_total();
    assert!(
        logged > app.log_events().len(),
        "{logged} events, more than the pane shows"
    );
    press(&mut app, KeyCode::Tab);
    assert!(app.log_focus);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.log_scroll, 2, "back two events");
    let newest = app.log_events().last().unwrap().clone();
    press(&mut app, KeyCode::End);
    assert_ne!(
        app.log_events().last(),
        Some(&newest),
        "the pane shows newer events"
    );
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected, 0, "the table's selection did not move");
    press(&mut app, KeyCode::Home);
    assert_eq!(app.log_scroll, logged - 1, "back to the oldest");
    press(&mut app, KeyCode::End);
    assert_eq!(app.log_scroll, 0, "the newest");
    press(&mut app, KeyCode::Tab);
    assert!(!app.log_focus);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 1, "the arrows are the table's again");

    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('s'));
    assert!(!app.log_focus, "any other key goes back to the table");
    assert_eq!(sup.task(4).unwrap().state, State::Stopping);
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn t_shows_the_tree_and_the_arrows_fold_it() {
    let sup = supervisor(&[Kind::Polling, Kind::Parent, Kind::Select]);
    settle(&sup, ms(500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    // The parent's three children were spawned after the select task.
    assert_eq!(shown_ids(&app), vec![1, 2, 3, 4, 5, 6]);
    press(&mut app, KeyCode::Left);
    assert_eq!(
        app.notice(),
        Some("← → fold and unfold in the tree view (t)")
    );

    press(&mut app, KeyCode::Char('t'));
    assert!(app.tree);
    assert_eq!(shown_ids(&app), vec![1, 2, 4, 5, 6, 3]);
    let depths: Vec<u16> = app.view.iter().map(|r| r.depth).collect();
    assert_eq!(depths, vec![0, 0, 1, 1, 1, 0]);
    assert!(app.view[4].last, "the last child is drawn with └");

    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Left);
    assert_eq!(shown_ids(&app), vec![1, 2, 3]);
    assert_eq!(
        app.view[1].folded, 3,
        "the parent's row counts what it hides"
    );
    assert!(screen(&app, 120, 40).contains("(+3)"));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_id(), Some(3));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Right);
    assert_eq!(shown_ids(&app), vec![1, 2, 4, 5, 6, 3]);

    press(&mut app, KeyCode::Char('t'));
    assert_eq!(shown_ids(&app), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        app.selected_id(),
        Some(2),
        "the selection stays on its task"
    );
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn sorting_by_keys_and_by_a_click_on_a_column_title() {
    let sup = Supervisor::builder().build().unwrap();
    for (name, interval) in [("slow", 300), ("fast", 50), ("middle", 100)] {
        let params = Params {
            interval: ms(interval),
            ..params()
        };
        sup.spawn(Kind::Select.task(name, &params)).unwrap();
    }
    settle(&sup, ms(1010)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('>'));
    assert_eq!(app.sort.column, taskmon::layout::Column::Name);
    assert_eq!(shown_ids(&app), vec![2, 3, 1], "fast, middle, slow");
    press(&mut app, KeyCode::Char('I'));
    assert!(app.sort.descending);
    assert_eq!(shown_ids(&app), vec![1, 3, 2]);
    press(&mut app, KeyCode::Char('<'));
    assert_eq!(app.sort.column, taskmon::layout::Column::Id);
    assert!(!app.sort.descending, "a new column sorts ascending");
    press(&mut app, KeyCode::F(6));
    assert_eq!(app.sort.column, taskmon::layout::Column::Name, "F6 is >");

    // A click on the title of the ticks column.
    let body = taskmon::layout::table_body(
        taskmon::layout::layout(app.size, false, app.header_height())
            .unwrap()
            .table,
    );
    let mut x = body.x + taskmon::layout::MARKER;
    for (column, width) in app.columns() {
        if column == taskmon::layout::Column::Ticks {
            break;
        }
        x += width + 1;
    }
    let click = Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x + 1,
        row: body.y - 1,
        modifiers: KeyModifiers::NONE,
    });
    send(&mut app, click.clone());
    assert_eq!(app.sort.column, taskmon::layout::Column::Ticks);
    assert_eq!(shown_ids(&app), vec![1, 3, 2], "fewest ticks first");
    send(&mut app, click);
    assert!(app.sort.descending, "a second click turns it around");
    assert_eq!(shown_ids(&app), vec![2, 3, 1]);
    sup.abort_all();
}

#[tokio::test(start_paused = true)]
async fn the_status_line_follows_the_task_it_is_about() {
    let (sup, mut events) = supervisor_with_events(&[Kind::Stubborn]);
    settle(&sup, ms(500)).await;
    let mut app = App::new(sup.clone(), Rect::new(0, 0, 120, 40));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.notice(), Some("stop requested for #1 stubborn"));
    settle(&sup, ms(2600)).await;
    while let Some(e) = events.try_recv() {
        app.push_event(e);
    }
    app.refresh();
    assert_eq!(
        app.notice(),
        Some("#1 stubborn joined escalated after 2s"),
        "the stop's outcome, not the request, once the task has ended"
    );
}

/// A source whose frames answer the query before the last, as over a connection.
struct Lagging {
    board: taskmon::board::Board,
    previous: Option<taskmon::board::Query>,
}

impl taskmon::board::Source for Lagging {
    fn frame(&mut self, query: &taskmon::board::Query) -> Option<taskmon::board::Frame> {
        let answered = self.previous.replace(query.clone())?;
        Some(self.board.frame(&answered))
    }

    fn command(&mut self, command: taskmon::board::Command, query: &taskmon::board::Query) {
        self.board.command(command, query);
    }
}

#[tokio::test(start_paused = true)]
async fn a_frame_answering_an_older_query_does_not_move_the_selection_back() {
    let sup = supervisor(&[Kind::Polling, Kind::Select, Kind::Stubborn, Kind::Panicky]);
    settle(&sup, ms(300)).await;
    let source = Lagging {
        board: taskmon::board::Board::with_taskmon_kinds(sup.clone()),
        previous: None,
    };
    let mut app = App::with_source(Box::new(source), Rect::new(0, 0, 120, 40));
    app.refresh();
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    assert_eq!(
        app.selected, 3,
        "the keys' selection, whatever the late frames said"
    );
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(sup.joined(4).await.unwrap().state, State::Aborted);
    assert_eq!(sup.task(1).unwrap().state, State::Running);
    app.refresh();
    app.refresh();
    assert_eq!(app.selected, 3, "and once answered, the program agrees");
    sup.abort_all();
}

/// The board of a supervisor whose poll figures are pinned: they are real time, never the same
/// twice, and a screen must be. The `blocking` task is shown blocking now, as the watchdog finds
/// it (that it is found, live, is tests/polls.rs's part); the others poll briefly.
struct PinnedPolls(Board);

impl Source for PinnedPolls {
    fn frame(&mut self, query: &Query) -> Option<Frame> {
        let mut frame = Source::frame(&mut self.0, query)?;
        for row in &mut frame.rows {
            let blocks = row.task.kind.as_ref() == "blocking";
            row.task.polls = pinned_polls(row.task.ledger.ticks, blocks);
            row.busy = row.rate.map(|_| if blocks { 0.97 } else { 0.004 });
        }
        Some(frame)
    }

    fn command(&mut self, command: Command, query: &Query) {
        self.0.command(command, query);
    }

    fn push_event(&mut self, event: taskmon::Event) {
        self.0.push_event(event);
    }
}

/// Two polls a tick of a few microseconds each; a blocking task's every tick a poll of 60 ms
/// (over the 10 ms threshold), and one under way for 1.2 s on a named worker.
fn pinned_polls(ticks: u64, blocks: bool) -> PollReading {
    let mut histogram = [0; POLL_BUCKETS];
    let polls = 2 * ticks + 1;
    if blocks {
        histogram[3] = polls - ticks;
        histogram[16] = ticks;
    } else {
        histogram[2] = polls;
    }
    PollReading {
        polls,
        busy: if blocks {
            ms(60 * ticks)
        } else {
            Duration::from_micros(3 * polls)
        },
        max_poll: if blocks {
            ms(61)
        } else {
            Duration::from_micros(9)
        },
        slow_polls: if blocks { ticks } else { 0 },
        histogram,
        blocking: blocks.then(|| Blocking {
            for_: ms(1200),
            thread: "tokio-runtime-worker (thread 4242)".into(),
        }),
    }
}

#[tokio::test(start_paused = true)]
async fn snapshot_polls_columns_and_a_task_blocking_now() {
    let sup = supervisor(&[Kind::Polling, Kind::Select, Kind::Blocking, Kind::Parent]);
    settle(&sup, ms(2050)).await;
    for (width, height) in [(80, 24), (120, 40)] {
        let board = Board::with_taskmon_kinds(sup.clone());
        let mut app =
            App::with_source(Box::new(PinnedPolls(board)), Rect::new(0, 0, width, height));
        app.refresh();
        let blocking = app
            .rows
            .iter()
            .position(|r| r.kind.as_ref() == "blocking")
            .unwrap();
        for _ in 0..blocking {
            press(&mut app, KeyCode::Down);
        }
        let shown = screen(&app, width, height);
        assert!(shown.contains("blocking 1.2s"), "{shown}");
        let mut settings = snapshot_settings();
        // Where the tasks were spawned: a line of this file, which moves as it is edited.
        settings.add_filter(r"dashboard\.rs:\d+", "dashboard.rs:LINE");
        settings
            .bind(|| insta::assert_snapshot!(format!("polls_blocking_{width}x{height}"), shown));
    }
    sup.shutdown(ms(100)).await;
}

/// A recording of the dashboard's lessons: 3 s, `polling` stopped at 1.5 s.
async fn recorded_lessons(dir: &std::path::Path) -> taskmon::record::Replay {
    let path = dir.join("lessons.tmrec");
    let sup = Supervisor::builder()
        .grace(ms(2000))
        .wall_clock_origin(origin())
        .poll_stats(false)
        .record(&path)
        .build()
        .unwrap();
    for kind in KINDS {
        sup.spawn(kind.task(kind.name(), &params())).unwrap();
    }
    for second in 1..=3u64 {
        if second == 2 {
            settle(&sup, ms(1500)).await;
            sup.stop(1).unwrap();
        }
        settle(&sup, Duration::from_secs(second) + ms(1)).await;
        assert!(sup.flush_recording());
    }
    sup.stop_recording().unwrap();
    sup.shutdown(ms(100)).await;
    taskmon::record::Replay::open(&path).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_replay_has_keys_of_its_own_and_answers_those_that_would_act() {
    let dir = tempfile::tempdir().unwrap();
    let replay = recorded_lessons(dir.path()).await;
    let first_event_after_start = replay
        .events()
        .map(|e| e.since_start)
        .find(|&t| t > replay.start)
        .unwrap();
    let player = taskmon::replay::Player::new(replay, "replay lessons.tmrec".into());
    let mut app = App::with_source(Box::new(player), Rect::new(0, 0, 120, 40));
    assert_eq!(app.mode, Mode::Replay);
    assert_eq!(app.header_height(), 3);
    let at = |app: &App| app.playback.as_ref().unwrap().at;
    assert_eq!(at(&app), Duration::ZERO);

    press(&mut app, KeyCode::Char('f'));
    assert_eq!(at(&app), Duration::from_secs(1));
    press(&mut app, KeyCode::Char('b'));
    assert_eq!(at(&app), Duration::ZERO);
    press(&mut app, KeyCode::Char('.'));
    assert_eq!(at(&app), first_event_after_start);
    press(&mut app, KeyCode::Char(']'));
    press(&mut app, KeyCode::Char(']'));
    assert_eq!(app.playback.as_ref().unwrap().speed, 4.0);
    press(&mut app, KeyCode::Char('['));
    assert_eq!(app.playback.as_ref().unwrap().speed, 2.0);

    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.mode, Mode::GoTo);
    for c in "+2s".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Replay);
    assert_eq!(at(&app), Duration::from_secs(2));
    assert!(app.rows[0].state.is_ended(), "polling was stopped at 1.5 s");
    assert_eq!(app.rows[1].state, State::Running);

    for key in ['s', 'k', 'r', 'S', 'K', 'n', '+'] {
        press(&mut app, KeyCode::Char(key));
        assert_eq!(
            app.notice(),
            Some("a replay cannot act: it shows what was recorded")
        );
        assert_eq!(app.mode, Mode::Replay, "{key} opened nothing");
        app.status = None;
    }
    press(&mut app, KeyCode::Char('g'));
    for c in "noon-ish".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert!(
        app.notice().unwrap().contains("is not a time"),
        "{:?}",
        app.notice()
    );
    assert_eq!(at(&app), Duration::from_secs(2), "a bad time moves nothing");

    // The live table's keys work as live.
    press(&mut app, KeyCode::Char('/'));
    for c in "state:stop".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Replay);
    assert_eq!(app.shown(), 1, "polling alone was stopped by 2 s");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    assert_eq!(app.mode, Mode::Help);
    assert!(screen(&app, 120, 40).contains("play or pause the recording"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Replay);
    press(&mut app, KeyCode::Char('}'));
    let end = app.playback.as_ref().unwrap().end;
    assert_eq!(at(&app), end);
    press(&mut app, KeyCode::Char('{'));
    assert_eq!(at(&app), Duration::ZERO);
    press(&mut app, KeyCode::Char(' '));
    assert!(app.playback.as_ref().unwrap().playing);
    press(&mut app, KeyCode::Char(' '));
    assert!(!app.playback.as_ref().unwrap().playing);

    press(&mut app, KeyCode::Char('g'));
    for c in "+2s".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    snapshot_settings().bind(|| insta::assert_snapshot!("replay_100x30", screen(&app, 100, 30)));
    snapshot_settings().bind(|| insta::assert_snapshot!("replay_80x24", screen(&app, 80, 24)));
}
