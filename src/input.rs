//! Keys and mouse to [`Action`]s. One table of bindings per mode drives the mapping, the footer's
//! key hints and the help overlay, so they cannot disagree.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};

use crate::app::Mode;

/// Everything a person can ask of the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Stop,
    Abort,
    Restart,
    StopAll,
    AbortAll,
    OpenPicker,
    /// A task of the picker's kind at this index (keys 1–9 are 0–8).
    Spawn(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    ToggleDetail,
    ClearEnded,
    GraceUp,
    GraceDown,
    ToggleHelp,
    /// Closes the open overlay; in the table, clears the filter, then the marks.
    Close,
    /// Enter in the picker or the filter.
    Accept,
    /// Opens the find filter.
    OpenFilter,
    /// A character typed into the filter.
    Type(char),
    Backspace,
    /// `y` to a question.
    Yes,
    SortNext,
    SortPrevious,
    SortInvert,
    ToggleTree,
    /// Hides the selected task's descendants in the tree view.
    Fold,
    Unfold,
    /// Marks or unmarks the selected task.
    Mark,
    /// Freezes the display; the tasks run on.
    TogglePause,
    /// Gives the keys to the event log (and back).
    FocusLog,
    Quit,
    /// A click at a screen cell.
    Click {
        column: u16,
        row: u16,
    },
    ScrollUp,
    ScrollDown,
    Resize {
        width: u16,
        height: u16,
    },
    /// A replay's: play or pause.
    TogglePlay,
    /// A second forward or back.
    Second {
        forward: bool,
    },
    /// To the next or the previous event.
    Event {
        forward: bool,
    },
    Faster,
    Slower,
    /// Type a time to go to.
    OpenGoTo,
    ToStart,
    ToEnd,
    /// A key that acts on tasks, in a replay: answered that it cannot.
    CannotAct,
}

/// One key binding: the keys, what they do, and how the footer and help name them.
pub struct Binding {
    /// How the keys are written in hints: `s`, `1–9`, `↑ ↓`.
    pub label: &'static str,
    pub keys: &'static [(KeyCode, KeyModifiers)],
    pub action: Action,
    /// Short text for the footer; empty keeps the binding out of the footer.
    pub hint: &'static str,
    /// Longer text for the help overlay.
    pub help: &'static str,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

const fn key(c: char) -> (KeyCode, KeyModifiers) {
    (KeyCode::Char(c), NONE)
}

const CTRL_C: (KeyCode, KeyModifiers) = (KeyCode::Char('c'), CTRL);

/// Which kind a digit spawns: `1` is the first of [`Kind::ALL`].
const DIGITS: &[(KeyCode, KeyModifiers)] = &[
    key('1'),
    key('2'),
    key('3'),
    key('4'),
    key('5'),
    key('6'),
    key('7'),
    key('8'),
    key('9'),
];

// The bindings the live table and a replay share.
const FIND: Binding = Binding {
        label: "/",
        keys: &[key('/'), (KeyCode::F(3), NONE)],
        action: Action::OpenFilter,
        hint: "find",
        help: "find: show only tasks whose name, kind or state holds the text; kind:K and state:S narrow to one field (also F3; Esc clears)",
    };

const TREE: Binding = Binding {
        label: "t",
        keys: &[key('t')],
        action: Action::ToggleTree,
        hint: "tree",
        help: "tree view: children under their parent",
    };

const SORT: Binding = Binding {
        label: "< >",
        keys: &[key('<'), key('>'), (KeyCode::F(6), NONE)],
        action: Action::SortPrevious,
        hint: "sort",
        help: "sort by the column to the left / right (also F6; a click on a column's title sorts by it)",
    };

const INVERT: Binding = Binding {
        label: "I",
        keys: &[key('I')],
        action: Action::SortInvert,
        hint: "",
        help: "invert the sort order",
    };

const FOLD: Binding = Binding {
        label: "← →",
        keys: &[(KeyCode::Left, NONE), (KeyCode::Right, NONE)],
        action: Action::Fold,
        hint: "",
        help: "fold / unfold the selected task's children in the tree view; a folded task shows (+N)",
    };

const MOVE: Binding = Binding {
        label: "↑ ↓",
        keys: &[(KeyCode::Up, NONE), (KeyCode::Down, NONE)],
        action: Action::Up,
        hint: "",
        help: "select the previous / next task (mouse: click a row, wheel scrolls)",
    };

const PAGE: Binding = Binding {
        label: "PgUp PgDn",
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::PageDown, NONE)],
        action: Action::PageUp,
        hint: "",
        help: "move a page up / down",
    };

const FIRST_LAST: Binding = Binding {
        label: "Home End",
        keys: &[(KeyCode::Home, NONE), (KeyCode::End, NONE)],
        action: Action::Home,
        hint: "",
        help: "first / last task",
    };

const DETAIL: Binding = Binding {
        label: "Enter",
        keys: &[(KeyCode::Enter, NONE)],
        action: Action::ToggleDetail,
        hint: "detail",
        help: "focus the detail pane on the selected task (again to leave)",
    };

const LOG: Binding = Binding {
        label: "Tab",
        keys: &[(KeyCode::Tab, NONE)],
        action: Action::FocusLog,
        hint: "log",
        help: "give the keys to the event log: ↑ ↓ PgUp PgDn Home End scroll it; Tab or Esc gives them back",
    };

const HELP_KEY: Binding = Binding {
        label: "?",
        keys: &[key('?')],
        action: Action::ToggleHelp,
        hint: "help",
        help: "this help",
    };

pub static NORMAL: &[Binding] = &[
    Binding {
        label: "s",
        keys: &[key('s')],
        action: Action::Stop,
        hint: "stop",
        help: "graceful stop of the selected task: cancel its token and await it",
    },
    Binding {
        label: "k",
        keys: &[key('k')],
        action: Action::Abort,
        hint: "abort",
        help: "abort the selected task (JoinHandle::abort)",
    },
    Binding {
        label: "r",
        keys: &[key('r')],
        action: Action::Restart,
        hint: "restart",
        help: "run an ended task again (same id and name; its journal goes on)",
    },
    Binding {
        label: "S",
        keys: &[key('S'), (KeyCode::Char('S'), SHIFT)],
        action: Action::StopAll,
        hint: "stop all",
        help: "stop every task gracefully",
    },
    Binding {
        label: "K",
        keys: &[key('K'), (KeyCode::Char('K'), SHIFT)],
        action: Action::AbortAll,
        hint: "abort all",
        help: "abort every task (with a filter: the tasks shown, after a y/n question)",
    },
    FIND,
    Binding {
        label: "Space",
        keys: &[key(' ')],
        action: Action::Mark,
        hint: "mark",
        help: "mark the selected task (●); s, k and r then act on the marked tasks; Esc clears the marks",
    },
    TREE,
    SORT,
    INVERT,
    FOLD,
    Binding {
        label: "p",
        keys: &[key('p')],
        action: Action::TogglePause,
        hint: "pause",
        help: "pause the display (the tasks run on); again to go on",
    },
    Binding {
        label: "n",
        keys: &[key('n')],
        action: Action::OpenPicker,
        hint: "spawn",
        help: "spawn a task: choose its kind",
    },
    Binding {
        label: "1–9",
        keys: DIGITS,
        action: Action::Spawn(0),
        hint: "kind",
        help: "spawn a task of that kind (see the picker for the numbers)",
    },
    MOVE,
    PAGE,
    FIRST_LAST,
    DETAIL,
    LOG,
    Binding {
        label: "Esc",
        keys: &[(KeyCode::Esc, NONE)],
        action: Action::Close,
        hint: "",
        help: "clear the filter, then the marks",
    },
    Binding {
        label: "c",
        keys: &[key('c')],
        action: Action::ClearEnded,
        hint: "clear",
        help: "clear ended rows from the table",
    },
    Binding {
        label: "+ -",
        keys: &[key('+'), key('='), key('-')],
        action: Action::GraceUp,
        hint: "grace",
        help: "longer / shorter grace period for stops requested from now on",
    },
    HELP_KEY,
    Binding {
        label: "q",
        keys: &[key('q'), CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "quit: stop every task gracefully, abort what is left, print a summary (also Ctrl-C)",
    },
];

/// The table's keys in a replay: the same filter, sort, tree, detail and log; keys that move
/// time instead of those that act on tasks.
pub static REPLAY: &[Binding] = &[
    Binding {
        label: "Space",
        keys: &[key(' '), key('p')],
        action: Action::TogglePlay,
        hint: "play/pause",
        help: "play or pause the recording (also p); at the end, play starts again from the start",
    },
    Binding {
        label: "b f",
        keys: &[key('b'), key('f')],
        action: Action::Second { forward: false },
        hint: "±1s",
        help: "a second back / forward (pauses)",
    },
    Binding {
        label: ", .",
        keys: &[key(','), key('.')],
        action: Action::Event { forward: false },
        hint: "±event",
        help: "to the previous / next event (pauses)",
    },
    Binding {
        label: "[ ]",
        keys: &[key('['), key(']')],
        action: Action::Slower,
        hint: "speed",
        help: "play slower / faster (1/16x to 64x)",
    },
    Binding {
        label: "g",
        keys: &[key('g')],
        action: Action::OpenGoTo,
        hint: "go to",
        help: "go to a time: 12:03:04 or 12:03:04.120 (the recording's clock), +42s (since the program's start), -10s (before the end), start, end",
    },
    Binding {
        label: "{ }",
        keys: &[key('{'), key('}')],
        action: Action::ToStart,
        hint: "",
        help: "to the recording's start / end",
    },
    FIND,
    TREE,
    SORT,
    INVERT,
    FOLD,
    MOVE,
    PAGE,
    FIRST_LAST,
    DETAIL,
    LOG,
    Binding {
        label: "Esc",
        keys: &[(KeyCode::Esc, NONE)],
        action: Action::Close,
        hint: "",
        help: "clear the filter",
    },
    Binding {
        label: "c",
        keys: &[key('c')],
        action: Action::ClearEnded,
        hint: "",
        help: "clear ended rows from the table (until the replay goes back in time)",
    },
    Binding {
        label: "s k r S K n",
        keys: &[
            key('s'),
            key('k'),
            key('r'),
            key('S'),
            (KeyCode::Char('S'), SHIFT),
            key('K'),
            (KeyCode::Char('K'), SHIFT),
            key('n'),
            key('+'),
            key('-'),
        ],
        action: Action::CannotAct,
        hint: "",
        help: "stop, abort, restart, stop all, abort all, spawn, grace: a replay cannot act, it shows what was recorded (and says so)",
    },
    HELP_KEY,
    Binding {
        label: "q",
        keys: &[key('q'), CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "leave the replay (also Ctrl-C)",
    },
];

pub static GOTO: &[Binding] = &[
    Binding {
        label: "Enter",
        keys: &[(KeyCode::Enter, NONE)],
        action: Action::Accept,
        hint: "go",
        help: "go to the time typed",
    },
    Binding {
        label: "Esc",
        keys: &[(KeyCode::Esc, NONE)],
        action: Action::Close,
        hint: "cancel",
        help: "stay where the replay is",
    },
    Binding {
        label: "⌫",
        keys: &[(KeyCode::Backspace, NONE)],
        action: Action::Backspace,
        hint: "",
        help: "delete the last character",
    },
    Binding {
        label: "Ctrl-C",
        keys: &[CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "quit",
    },
];

pub static PICKER: &[Binding] = &[
    Binding {
        label: "↑ ↓",
        keys: &[(KeyCode::Up, NONE), (KeyCode::Down, NONE)],
        action: Action::Up,
        hint: "choose",
        help: "choose a kind",
    },
    Binding {
        label: "Enter",
        keys: &[(KeyCode::Enter, NONE)],
        action: Action::Accept,
        hint: "spawn",
        help: "spawn the chosen kind",
    },
    Binding {
        label: "1–9",
        keys: DIGITS,
        action: Action::Spawn(0),
        hint: "spawn kind",
        help: "spawn that kind at once",
    },
    Binding {
        label: "Esc",
        keys: &[(KeyCode::Esc, NONE), key('n')],
        action: Action::Close,
        hint: "close",
        help: "close the picker",
    },
    Binding {
        label: "Ctrl-C",
        keys: &[CTRL_C],
        action: Action::Quit,
        hint: "",
        help: "quit",
    },
];

pub static HELP: &[Binding] = &[
    Binding {
        label: "↑ ↓",
        keys: &[(KeyCode::Up, NONE), (KeyCode::Down, NONE)],
        action: Action::Up,
        hint: "scroll",
        help: "scroll a line",
    },
    Binding {
        label: "PgUp PgDn",
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::PageDown, NONE)],
        action: Action::PageUp,
        hint: "page",
        help: "scroll a page",
    },
    Binding {
        label: "Home End",
        keys: &[(KeyCode::Home, NONE), (KeyCode::End, NONE)],
        action: Action::Home,
        hint: "",
        help: "the top / the end",
    },
    Binding {
        label: "Esc ?",
        keys: &[(KeyCode::Esc, NONE), key('?')],
        action: Action::Close,
        hint: "close help",
        help: "close this help",
    },
    Binding {
        label: "q",
        keys: &[key('q'), CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "quit",
    },
];

pub static FILTER: &[Binding] = &[
    Binding {
        label: "Enter",
        keys: &[(KeyCode::Enter, NONE)],
        action: Action::Accept,
        hint: "keep filter",
        help: "keep the filter and go back to the table",
    },
    Binding {
        label: "Esc",
        keys: &[(KeyCode::Esc, NONE)],
        action: Action::Close,
        hint: "clear",
        help: "clear the filter",
    },
    Binding {
        label: "↑ ↓",
        keys: &[(KeyCode::Up, NONE), (KeyCode::Down, NONE)],
        action: Action::Up,
        hint: "",
        help: "select the previous / next task shown",
    },
    Binding {
        label: "⌫",
        keys: &[(KeyCode::Backspace, NONE)],
        action: Action::Backspace,
        hint: "",
        help: "delete the last character",
    },
    Binding {
        label: "Ctrl-C",
        keys: &[CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "quit",
    },
];

pub static CONFIRM: &[Binding] = &[
    Binding {
        label: "y",
        keys: &[key('y'), key('Y')],
        action: Action::Yes,
        hint: "yes",
        help: "do it",
    },
    Binding {
        label: "n",
        keys: &[key('n'), key('N'), (KeyCode::Esc, NONE)],
        action: Action::Close,
        hint: "no",
        help: "do nothing",
    },
    Binding {
        label: "Ctrl-C",
        keys: &[CTRL_C],
        action: Action::Quit,
        hint: "quit",
        help: "quit",
    },
];

pub static QUITTING: &[Binding] = &[Binding {
    label: "q",
    keys: &[key('q'), CTRL_C],
    action: Action::Quit,
    hint: "abort what is left now (again: exit at once)",
    help: "abort every task still running instead of waiting for the grace period; a third time exits at once",
}];

pub fn bindings(mode: Mode) -> &'static [Binding] {
    match mode {
        Mode::Normal => NORMAL,
        Mode::Help => HELP,
        Mode::Picker => PICKER,
        Mode::Filter => FILTER,
        Mode::Confirm => CONFIRM,
        Mode::Quitting => QUITTING,
        Mode::Replay => REPLAY,
        Mode::GoTo => GOTO,
    }
}

/// The action for a key in a mode, if any.
pub fn key_action(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let binding = bindings(mode)
        .iter()
        .find(|b| b.keys.iter().any(|&(code, mods)| matches(key, code, mods)));
    let Some(binding) = binding else {
        // In the filter, every other printable character is text.
        return match key.code {
            KeyCode::Char(c)
                if matches!(mode, Mode::Filter | Mode::GoTo)
                    && !crate::text::is_unsafe(c)
                    && !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(Action::Type(c))
            }
            _ => None,
        };
    };
    // Bindings with several keys that mean different directions or kinds.
    Some(match (binding.action, key.code) {
        (Action::Spawn(_), KeyCode::Char(d)) => {
            let index = d.to_digit(10)? as usize;
            Action::Spawn(index.checked_sub(1)?)
        }
        (Action::Up, KeyCode::Down) => Action::Down,
        (Action::PageUp, KeyCode::PageDown) => Action::PageDown,
        (Action::Home, KeyCode::End) => Action::End,
        (Action::GraceUp, KeyCode::Char('-')) => Action::GraceDown,
        (Action::SortPrevious, KeyCode::Char('>') | KeyCode::F(6)) => Action::SortNext,
        (Action::Fold, KeyCode::Right) => Action::Unfold,
        (Action::Second { .. }, KeyCode::Char('f')) => Action::Second { forward: true },
        (Action::Event { .. }, KeyCode::Char('.')) => Action::Event { forward: true },
        (Action::Slower, KeyCode::Char(']')) => Action::Faster,
        (Action::ToStart, KeyCode::Char('}')) => Action::ToEnd,
        (action, _) => action,
    })
}

fn matches(key: KeyEvent, code: KeyCode, mods: KeyModifiers) -> bool {
    if key.code != code {
        return false;
    }
    // Terminals differ on whether a shifted letter carries SHIFT; the character decides.
    let relevant = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    relevant == mods & (KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// The action for any terminal event.
pub fn action(mode: Mode, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) => key_action(mode, *key),
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) if matches!(mode, Mode::Normal | Mode::Replay) => {
                Some(Action::Click {
                    column: mouse.column,
                    row: mouse.row,
                })
            }
            MouseEventKind::ScrollUp => Some(Action::ScrollUp),
            MouseEventKind::ScrollDown => Some(Action::ScrollDown),
            _ => None,
        },
        Event::Resize(width, height) => Some(Action::Resize {
            width: *width,
            height: *height,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(mode: Mode, code: KeyCode, mods: KeyModifiers) -> Option<Action> {
        key_action(mode, KeyEvent::new(code, mods))
    }

    #[test]
    fn every_key_of_the_spec_maps_to_its_action() {
        let n = Mode::Normal;
        let ch = |c| press(n, KeyCode::Char(c), NONE);
        assert_eq!(ch('s'), Some(Action::Stop));
        assert_eq!(ch('k'), Some(Action::Abort));
        assert_eq!(ch('r'), Some(Action::Restart));
        assert_eq!(press(n, KeyCode::Char('S'), SHIFT), Some(Action::StopAll));
        assert_eq!(press(n, KeyCode::Char('K'), SHIFT), Some(Action::AbortAll));
        assert_eq!(ch('n'), Some(Action::OpenPicker));
        for i in 0..9 {
            let digit = char::from_digit(i as u32 + 1, 10).unwrap();
            assert_eq!(ch(digit), Some(Action::Spawn(i)));
        }
        assert_eq!(ch('0'), None);
        assert_eq!(press(n, KeyCode::Up, NONE), Some(Action::Up));
        assert_eq!(press(n, KeyCode::Down, NONE), Some(Action::Down));
        assert_eq!(press(n, KeyCode::PageUp, NONE), Some(Action::PageUp));
        assert_eq!(press(n, KeyCode::PageDown, NONE), Some(Action::PageDown));
        assert_eq!(press(n, KeyCode::Home, NONE), Some(Action::Home));
        assert_eq!(press(n, KeyCode::End, NONE), Some(Action::End));
        assert_eq!(press(n, KeyCode::Enter, NONE), Some(Action::ToggleDetail));
        assert_eq!(ch('c'), Some(Action::ClearEnded));
        assert_eq!(ch('+'), Some(Action::GraceUp));
        assert_eq!(ch('-'), Some(Action::GraceDown));
        assert_eq!(ch('?'), Some(Action::ToggleHelp));
        assert_eq!(ch('q'), Some(Action::Quit));
        assert_eq!(press(n, KeyCode::Char('c'), CTRL), Some(Action::Quit));
        assert_eq!(ch('/'), Some(Action::OpenFilter));
        assert_eq!(press(n, KeyCode::F(3), NONE), Some(Action::OpenFilter));
        assert_eq!(ch('<'), Some(Action::SortPrevious));
        assert_eq!(ch('>'), Some(Action::SortNext));
        assert_eq!(press(n, KeyCode::F(6), NONE), Some(Action::SortNext));
        assert_eq!(press(n, KeyCode::Char('I'), SHIFT), Some(Action::SortInvert));
        assert_eq!(ch('t'), Some(Action::ToggleTree));
        assert_eq!(press(n, KeyCode::Left, NONE), Some(Action::Fold));
        assert_eq!(press(n, KeyCode::Right, NONE), Some(Action::Unfold));
        assert_eq!(ch(' '), Some(Action::Mark));
        assert_eq!(ch('p'), Some(Action::TogglePause));
        assert_eq!(press(n, KeyCode::Tab, NONE), Some(Action::FocusLog));
        assert_eq!(press(n, KeyCode::Esc, NONE), Some(Action::Close));
        assert_eq!(
            ch('j'),
            None,
            "vim keys are not used for moving: k means abort"
        );
    }

    #[test]
    fn overlays_have_their_own_keys() {
        assert_eq!(press(Mode::Picker, KeyCode::Esc, NONE), Some(Action::Close));
        assert_eq!(
            press(Mode::Picker, KeyCode::Enter, NONE),
            Some(Action::Accept)
        );
        assert_eq!(press(Mode::Picker, KeyCode::Char('s'), NONE), None);
        assert_eq!(press(Mode::Help, KeyCode::Esc, NONE), Some(Action::Close));
        assert_eq!(
            press(Mode::Help, KeyCode::Char('?'), NONE),
            Some(Action::Close)
        );
        assert_eq!(press(Mode::Help, KeyCode::Char('k'), NONE), None);
        assert_eq!(
            press(Mode::Quitting, KeyCode::Char('q'), NONE),
            Some(Action::Quit)
        );
    }

    #[test]
    fn the_filter_takes_text_and_a_question_takes_y_or_n() {
        let f = Mode::Filter;
        assert_eq!(press(f, KeyCode::Char('s'), NONE), Some(Action::Type('s')));
        assert_eq!(press(f, KeyCode::Char('q'), NONE), Some(Action::Type('q')));
        assert_eq!(press(f, KeyCode::Char(':'), NONE), Some(Action::Type(':')));
        assert_eq!(press(f, KeyCode::Char('\u{1b}'), NONE), None);
        assert_eq!(press(f, KeyCode::Char('\u{202e}'), NONE), None);
        assert_eq!(press(f, KeyCode::Backspace, NONE), Some(Action::Backspace));
        assert_eq!(press(f, KeyCode::Enter, NONE), Some(Action::Accept));
        assert_eq!(press(f, KeyCode::Esc, NONE), Some(Action::Close));
        assert_eq!(press(f, KeyCode::Char('c'), CTRL), Some(Action::Quit));
        let c = Mode::Confirm;
        assert_eq!(press(c, KeyCode::Char('y'), NONE), Some(Action::Yes));
        assert_eq!(press(c, KeyCode::Char('n'), NONE), Some(Action::Close));
        assert_eq!(press(c, KeyCode::Esc, NONE), Some(Action::Close));
        assert_eq!(press(c, KeyCode::Char('s'), NONE), None);
    }

    #[test]
    fn mouse_clicks_select_and_the_wheel_scrolls() {
        use crossterm::event::MouseEvent;
        let mouse = |kind| {
            Event::Mouse(MouseEvent {
                kind,
                column: 7,
                row: 5,
                modifiers: NONE,
            })
        };
        assert_eq!(
            action(
                Mode::Normal,
                &mouse(MouseEventKind::Down(MouseButton::Left))
            ),
            Some(Action::Click { column: 7, row: 5 })
        );
        assert_eq!(
            action(Mode::Normal, &mouse(MouseEventKind::ScrollDown)),
            Some(Action::ScrollDown)
        );
        assert_eq!(
            action(Mode::Normal, &mouse(MouseEventKind::ScrollUp)),
            Some(Action::ScrollUp)
        );
        assert_eq!(
            action(Mode::Normal, &Event::Resize(100, 30)),
            Some(Action::Resize {
                width: 100,
                height: 30
            })
        );
    }
}
