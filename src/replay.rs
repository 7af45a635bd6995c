//! `taskmon replay`: a recording on the dashboard (a third [`Source`], beside a local supervisor
//! and an attached program), the table at a moment, or its events.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, NaiveTime, TimeZone};

use crate::board::{
    Board, Command, Frame, LOG_CAPACITY, PlayControl, Playback, Query, Source, Tasks,
};
use crate::format;
use crate::record::Replay;
use crate::supervisor::{State, Supervisor, TaskId, TaskReport, TaskSnapshot};
use crate::text::escape;

/// A recording read as a board reads a supervisor.
impl Tasks for Replay {
    fn count(&self) -> usize {
        Replay::len(self)
    }
    fn uptime(&self) -> Duration {
        self.at()
    }
    fn started(&self) -> DateTime<Local> {
        self.header.started
    }
    fn grace(&self) -> Duration {
        Replay::grace(self)
    }
    fn states(&self) -> Vec<State> {
        Replay::states(self)
    }
    fn tick_counts(&self) -> Vec<u64> {
        Replay::tick_counts(self)
    }
    fn busy_times(&self) -> Vec<u64> {
        Replay::busy_times(self)
    }
    fn snapshots(&self, ids: &[TaskId]) -> Vec<TaskSnapshot> {
        Replay::snapshots(self, ids)
    }
    fn snapshot(&self) -> Vec<TaskSnapshot> {
        Replay::snapshot(self)
    }
    fn children(&self, id: TaskId) -> Vec<TaskId> {
        Replay::children(self, id)
    }
    fn journal_path(&self, _id: TaskId) -> Option<PathBuf> {
        None
    }
    fn supervisor(&self) -> Option<&Supervisor> {
        None
    }
    fn per_second(&self) -> Option<(Vec<u64>, Vec<u64>)> {
        Some(Replay::per_second(self))
    }
}

/// Speeds of play, in recorded seconds per second.
const SPEEDS: [f64; 11] = [
    0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0,
];
const ONE_X: usize = 4;

/// A recording played back on the dashboard: its time moves while it plays.
pub struct Player {
    board: Option<Board<Replay>>,
    playing: bool,
    speed: usize,
    /// The moment shown at `since`, the wall clock's instant play last changed.
    from: Duration,
    since: Instant,
    /// The moment the board was last put at.
    shown: Duration,
    label: String,
    /// A sample that could not be read, said once.
    damage: Option<String>,
}

impl Player {
    /// The recording, paused at its start.
    pub fn new(replay: Replay, label: String) -> Self {
        let start = replay.start;
        let mut player = Self {
            board: Some(Board::new(replay, Vec::new())),
            playing: false,
            speed: ONE_X,
            from: start,
            since: Instant::now(),
            shown: start,
            label,
            damage: None,
        };
        player.show(start, true);
        player
    }

    fn replay(&self) -> &Replay {
        let board = self.board.as_ref().expect("a board is always there");
        board.tasks()
    }

    /// The moment shown now.
    fn position(&self) -> Duration {
        let replay = self.replay();
        let moved = if self.playing {
            self.since.elapsed().mul_f64(SPEEDS[self.speed])
        } else {
            Duration::ZERO
        };
        (self.from + moved).clamp(replay.start, replay.end)
    }

    /// Holds the moment shown from now on (paused), or plays on from it.
    fn hold(&mut self, at: Duration) {
        let replay = self.replay();
        self.from = at.clamp(replay.start, replay.end);
        self.since = Instant::now();
    }

    /// Puts the board at `at`: a new board to go back in time (its catalog only grows), the log
    /// as it was then.
    fn show(&mut self, at: Duration, fresh: bool) {
        let mut board = self.board.take().expect("a board is always there");
        let back = at < self.shown;
        if back {
            board = Board::new(board.into_tasks(), Vec::new());
        }
        let from = self.shown;
        if let Err(e) = board.tasks_mut().seek(at) {
            self.damage.get_or_insert(e);
        }
        let replay = board.tasks();
        let events = if back || fresh || replay.events_between(from, at).len() > LOG_CAPACITY {
            None
        } else {
            Some(replay.events_between(from, at))
        };
        match events {
            Some(events) => events.into_iter().for_each(|e| board.push_event(e)),
            None => {
                let log = replay.events_until(at, LOG_CAPACITY);
                board.replace_log(log);
            }
        }
        self.board = Some(board);
        self.shown = at;
    }

    fn board(&mut self) -> &mut Board<Replay> {
        self.board.as_mut().expect("a board is always there")
    }
}

impl Source for Player {
    fn frame(&mut self, query: &Query) -> Option<Frame> {
        let at = self.position();
        if self.playing && at >= self.replay().end {
            self.playing = false;
            self.hold(at);
        }
        if at != self.shown {
            self.show(at, false);
        }
        let mut frame = self.board().frame(query);
        if let Some(damage) = self.damage.take() {
            frame.notices.push(crate::board::Notice {
                text: crate::text::capped(&format!("the recording is damaged here: {damage}")).into_owned(),
                task: None,
            });
        }
        Some(frame)
    }

    fn command(&mut self, command: Command, query: &Query) {
        self.board().command(command, query);
    }

    fn target(&self) -> Option<String> {
        Some(self.label.clone())
    }

    fn playback(&self) -> Option<Playback> {
        let replay = self.replay();
        let at = self.position();
        Some(Playback {
            at,
            start: replay.start,
            end: replay.end,
            playing: self.playing,
            speed: SPEEDS[self.speed],
            events_missed: replay.gaps_until(at).map(|g| g.events).sum(),
            note: replay.torn.clone(),
            program: format!(
                "{} (pid {})",
                escape(&replay.header.program),
                replay.header.pid
            ),
        })
    }

    fn play(&mut self, control: PlayControl) -> Result<String, String> {
        let at = self.position();
        let replay = self.replay();
        let (start, end) = (replay.start, replay.end);
        let answer = match control {
            PlayControl::Toggle => {
                if self.playing {
                    self.playing = false;
                    self.hold(at);
                    "paused".to_string()
                } else {
                    let from = if at >= end { start } else { at };
                    self.playing = true;
                    self.hold(from);
                    format!("playing at {}", format::speed(SPEEDS[self.speed]))
                }
            }
            PlayControl::Faster | PlayControl::Slower => {
                let faster = control == PlayControl::Faster;
                self.hold(at);
                self.speed = if faster {
                    (self.speed + 1).min(SPEEDS.len() - 1)
                } else {
                    self.speed.saturating_sub(1)
                };
                format!("speed {}", format::speed(SPEEDS[self.speed]))
            }
            PlayControl::Second { forward } => {
                self.playing = false;
                let second = Duration::from_secs(1);
                self.hold(if forward { at + second } else { at.saturating_sub(second) });
                "a second on; paused".replace("on", if forward { "on" } else { "back" })
            }
            PlayControl::Event { forward } => {
                let next = replay.next_event(at, forward);
                self.playing = false;
                match next {
                    Some(moment) => {
                        self.hold(moment);
                        format!("at the {} event", if forward { "next" } else { "previous" })
                    }
                    None => {
                        self.hold(at);
                        format!("no event {} this", if forward { "after" } else { "before" })
                    }
                }
            }
            PlayControl::GoTo(text) => {
                let moment = parse_moment(&text, self.replay())?;
                self.hold(moment);
                format!("at {}", self.describe(moment))
            }
            PlayControl::Start => {
                self.playing = false;
                self.hold(start);
                "at the start".into()
            }
            PlayControl::End => {
                self.playing = false;
                self.hold(end);
                "at the end".into()
            }
        };
        Ok(answer)
    }
}

impl Player {
    fn describe(&self, at: Duration) -> String {
        format!(
            "{} (+{})",
            self.replay().wall_time(at).format("%H:%M:%S%.3f"),
            format::humanize(at)
        )
    }
}

/// A moment of `replay` as typed: `12:03:04` or `12:03:04.120` (a time of day, the first at or
/// after the recording's start), a date and time (`2026-12-02T12:03:04+00:00`), `+42s` (since
/// the program's start), `-10s` (before the recording's end), `start`, `end`.
pub fn parse_moment(text: &str, replay: &Replay) -> Result<Duration, String> {
    let text = text.trim();
    let shown = escape(text);
    let bad = || {
        format!(
            "`{shown}` is not a time: give a time of day (12:03:04), +42s after the program's start, -10s before the recording's end, start or end"
        )
    };
    let moment = match text {
        "start" => replay.start,
        "end" => replay.end,
        _ if text.starts_with('+') || text.starts_with('-') => {
            let d = humantime::parse_duration(text[1..].trim()).map_err(|_| bad())?;
            if text.starts_with('+') {
                d
            } else {
                replay.end.saturating_sub(d)
            }
        }
        _ => {
            let wall = if let Ok(at) = DateTime::parse_from_rfc3339(text) {
                at.with_timezone(&Local)
            } else {
                let time = NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
                    .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
                    .map_err(|_| bad())?;
                let first = replay.wall_time(replay.start);
                let mut day = first.date_naive();
                loop {
                    let candidate = Local
                        .from_local_datetime(&day.and_time(time))
                        .earliest()
                        .ok_or_else(bad)?;
                    // To the millisecond the time bar shows.
                    if candidate + chrono::TimeDelta::milliseconds(1) > first {
                        break candidate;
                    }
                    day = day.succ_opt().ok_or_else(bad)?;
                }
            };
            (wall - replay.header.started)
                .to_std()
                .map_err(|_| outside(&shown, replay))?
        }
    };
    if moment + Duration::from_millis(1) < replay.start || moment > replay.end + Duration::from_millis(1) {
        return Err(outside(&shown, replay));
    }
    Ok(moment.clamp(replay.start, replay.end))
}

fn outside(shown: &str, replay: &Replay) -> String {
    format!(
        "{shown} is outside the recording, which runs from {} (+{}) to {} (+{})",
        replay.wall_time(replay.start).format("%H:%M:%S%.3f"),
        format::humanize(replay.start),
        replay.wall_time(replay.end).format("%H:%M:%S%.3f"),
        format::humanize(replay.end)
    )
}

/// What `taskmon replay` was asked.
pub struct ReplayArgs {
    pub file: PathBuf,
    pub at: Option<String>,
    pub events: bool,
    pub json: bool,
}

/// The whole of `taskmon replay`: the dashboard, or the table at a moment, or the events.
pub fn main(args: ReplayArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("taskmon: {}", crate::text::escape_lines(&message));
            ExitCode::from(code)
        }
    }
}

fn run(args: ReplayArgs) -> Result<ExitCode, (u8, String)> {
    let usage = |m: String| (2u8, m);
    if args.json && args.at.is_none() && !args.events {
        return Err(usage("--json is for --at or --events".into()));
    }
    let dashboard = args.at.is_none() && !args.events;
    if dashboard && !crate::dashboard::has_terminal() {
        return Err((
            1,
            "the replay's dashboard needs a terminal, and stdin or stdout is not one.\n\
             Without one: taskmon replay FILE --at TIME, or --events"
                .into(),
        ));
    }
    let mut replay = Replay::open(&args.file).map_err(|e| usage(e.to_string()))?;
    if let Some(torn) = &replay.torn {
        eprintln!("taskmon: {}", escape(torn));
    }
    if dashboard {
        let label = format!("replay {}", escape(&args.file.display().to_string()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| (1, format!("cannot start a tokio runtime: {e}")))?;
        runtime
            .block_on(crate::dashboard::replay(Player::new(replay, label)))
            .map_err(|e| (1, e.to_string()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let at = args
        .at
        .as_deref()
        .map(|text| parse_moment(text, &replay))
        .transpose()
        .map_err(usage)?;
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    let written = if args.events {
        write_events(&mut out, &replay, at.unwrap_or(replay.end), args.json)
    } else {
        let at = at.expect("checked");
        replay.seek(at).map_err(|e| (1, format!("{}: {e}", args.file.display())))?;
        write_table(&mut out, &replay, args.json)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // Whoever read the output has gone (`| head`): nothing is left to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err((1, format!("cannot write the output: {e}"))),
    }
}

/// The table at the moment the replay stands, as `taskmon ctl list` prints it.
fn write_table(out: &mut impl Write, replay: &Replay, json: bool) -> io::Result<()> {
    let rows: Vec<serde_json::Value> = replay
        .snapshot()
        .into_iter()
        .map(|s| format::report_json(&TaskReport::unchecked(s)))
        .collect();
    if json {
        for row in &rows {
            writeln!(out, "{row}")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{} (+{})",
        replay.wall_time(replay.at()).format("%Y-%m-%d %H:%M:%S%.3f"),
        format::humanize(replay.at())
    )?;
    out.write_all(format::json_rows_table(&rows, format::stdout_width()).as_bytes())?;
    writeln!(out, "{} task(s)", rows.len())
}

/// Every event up to `until`, as `taskmon run` printed them; the recorder's gaps where they were
/// noted.
fn write_events(out: &mut impl Write, replay: &Replay, until: Duration, json: bool) -> io::Result<()> {
    let mut gaps = replay.gaps().iter().filter(|g| g.at <= until).peekable();
    let gap_line = |out: &mut dyn Write, events: u64, samples: u64| -> io::Result<()> {
        if json {
            writeln!(
                out,
                "{}",
                serde_json::json!({ "type": "gap", "events_dropped": events, "samples_dropped": samples })
            )
        } else {
            writeln!(
                out,
                "-- {events} events and {samples} samples not recorded here: the recorder fell behind"
            )
        }
    };
    for e in replay.events().take_while(|e| e.since_start <= until) {
        while let Some(g) = gaps.next_if(|g| g.at <= e.since_start) {
            gap_line(out, g.events, g.samples)?;
        }
        if json {
            writeln!(out, "{}", format::event_json(&e))?;
        } else {
            writeln!(out, "{}", format::event_line(&e))?;
        }
    }
    for g in gaps {
        gap_line(out, g.events, g.samples)?;
    }
    Ok(())
}
