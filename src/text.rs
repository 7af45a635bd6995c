//! Text from input made safe for a terminal. Task names, panic messages, paths and excerpts of a
//! scenario file can hold escape sequences that would retitle the window or clear the screen, and
//! bidi controls that make text read differently from what it is; they are shown as `\u{1b}`.

use std::borrow::Cow;
use std::time::Duration;

/// Characters that change the direction text is shown in: U+202A–U+202E (embeddings and
/// overrides), U+2066–U+2069 (isolates), and the marks U+200E, U+200F, U+061C.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Whether a terminal could act on `c` rather than show it.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `\u{1b}` for a character a terminal would act on, the character itself otherwise.
pub fn escape_char(c: char) -> String {
    if is_unsafe(c) {
        format!("\\u{{{:x}}}", c as u32)
    } else {
        c.to_string()
    }
}

/// `s` with every control and bidi character escaped, line breaks included.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false)
}

/// `s` with every control and bidi character escaped except line breaks: for messages of several
/// lines that are printed as they are.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n')
}

fn escape_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_unsafe(c) && !keep(c) {
                    escape_char(c)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// The most characters of a task's own text (a panic message, a note) that taskmon keeps: it
/// goes into rows, events and frames, which must stay small.
pub const MAX_TEXT_CHARS: usize = 1000;

/// `s`, cut to [`MAX_TEXT_CHARS`] characters with a `…` when it is longer.
pub fn capped(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
    }
}

/// Every string in `value` escaped: what another process sent is shown, never obeyed.
#[cfg(feature = "serve")]
pub fn escape_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(escaped) = escape(s) {
                *s = escaped;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(escape_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(escape_json),
        _ => {}
    }
}

/// A short duration for people: `850ms`, `1.25s`, `2m 5s`, `3h 20m`, `24h`. Rounded to the
/// nearest unit shown, halves up; in integers, as `taskmon run` writes one for every join and a
/// float's exact formatting took an eighth of its printing thread.
pub fn humanize(d: Duration) -> String {
    let nanos = d.as_nanos();
    let rounded = |unit: u128| (nanos + unit / 2) / unit;
    if nanos < 1_000_000 {
        format!("{}µs", rounded(1_000))
    } else if nanos < 1_000_000_000 {
        format!("{}ms", rounded(1_000_000))
    } else if d.as_secs() < 60 {
        let centis = rounded(10_000_000);
        let (secs, hundredths) = (centis / 100, centis % 100);
        match hundredths {
            0 => format!("{secs}s"),
            h if h % 10 == 0 => format!("{secs}.{}s", h / 10),
            h => format!("{secs}.{h:02}s"),
        }
    } else if d.as_secs() < 3600 {
        format!("{}m {}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        let (hours, minutes) = (d.as_secs() / 3600, d.as_secs() % 3600 / 60);
        if minutes == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h {minutes}m")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_controls_are_shown_not_obeyed() {
        assert_eq!(escape("plain ✓"), "plain ✓");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("evil\x1b]0;pwned\x07\x1b[2J"),
            "evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(escape("abc\u{202e}exe"), "abc\\u{202e}exe");
        assert_eq!(escape("a\nb"), "a\\u{a}b");
        assert_eq!(escape_lines("a\nb\x1b"), "a\nb\\u{1b}");
        assert_eq!(capped("short"), "short");
        let long = "x".repeat(MAX_TEXT_CHARS + 5);
        assert_eq!(capped(&long).chars().count(), MAX_TEXT_CHARS + 1);
        assert!(capped(&long).ends_with('…'));
    }

    #[cfg(feature = "serve")]
    #[test]
    fn json_from_another_process_is_escaped_throughout() {
        let mut sent = serde_json::json!({ "rows": [{ "task": "x\x1b[2J" }], "n": 1 });
        escape_json(&mut sent);
        assert_eq!(
            sent,
            serde_json::json!({ "rows": [{ "task": "x\\u{1b}[2J" }], "n": 1 })
        );
    }
}
