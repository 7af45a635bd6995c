//! What a task name may be. Names reach terminals (the dashboard, `taskmon run`, error messages)
//! and file names, so they are short and hold nothing a terminal would act on.

use crate::text::{escape_char, is_bidi_control};

/// The longest task name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, or only spaces.
    #[error("a task name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("the name is {chars} characters long; task names are at most {MAX_NAME_CHARS}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Holds a control character (an escape sequence would act on a terminal).
    #[error(
        "the name holds the control character {} at character {position}; task names are printable text",
        escape_char(*.character)
    )]
    Control {
        /// The character.
        character: char,
        /// Where, counting characters from 1.
        position: usize,
    },
    /// Holds a character that reorders text.
    #[error(
        "the name holds the bidirectional-text character {} at character {position}, which can make text read differently from what it is",
        escape_char(*.character)
    )]
    Bidi {
        /// The character.
        character: char,
        /// Where, counting characters from 1.
        position: usize,
    },
    /// Holds a character that shows as nothing, or as a plain space: two names that differ only
    /// by one would read the same.
    #[error(
        "the name holds the invisible character {} at character {position}, so it would read the same as a name without it",
        escape_char(*.character)
    )]
    Invisible {
        /// The character.
        character: char,
        /// Where, counting characters from 1.
        position: usize,
    },
}

/// Characters that show as nothing or as a space: format characters (zero-width spaces and
/// joiners, the word joiner, the byte-order mark, the soft hyphen, tag characters…), line and
/// paragraph separators, fillers, variation selectors and every space but the ASCII one.
pub fn is_invisible(c: char) -> bool {
    (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{600}'..='\u{605}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{8e2}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Checks a task name: 1 to [`MAX_NAME_CHARS`] characters, no control characters, no
/// characters that reorder text (bidi overrides, isolates and marks) and none that cannot be
/// seen ([`is_invisible`]).
pub fn check_name(name: &str) -> Result<(), NameError> {
    // The common case, checked byte by byte: short printable ASCII.
    if name.len() <= MAX_NAME_CHARS
        && name.bytes().all(|b| (0x20..0x7f).contains(&b))
        && name.bytes().any(|b| b != b' ')
    {
        return Ok(());
    }
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let mut chars = 0;
    for (i, character) in name.chars().enumerate() {
        let position = i + 1;
        if character.is_control() {
            return Err(NameError::Control {
                character,
                position,
            });
        }
        if is_bidi_control(character) {
            return Err(NameError::Bidi {
                character,
                position,
            });
        }
        if is_invisible(character) {
            return Err(NameError::Invisible {
                character,
                position,
            });
        }
        chars += 1;
    }
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong { chars });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_printable_text() {
        assert_eq!(check_name("alpha-1.child2"), Ok(()));
        assert_eq!(check_name("Überwachung ✓"), Ok(()));
        assert_eq!(check_name(&"x".repeat(64)), Ok(()));
        assert_eq!(check_name(&"é".repeat(64)), Ok(()), "characters, not bytes");
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("  "), Err(NameError::Empty));
        assert_eq!(
            check_name(&"x".repeat(65)),
            Err(NameError::TooLong { chars: 65 })
        );
        assert_eq!(
            check_name("evil\x1b]0;pwned\x07"),
            Err(NameError::Control {
                character: '\x1b',
                position: 5
            })
        );
        assert_eq!(
            check_name("abc\u{202e}gpj.exe"),
            Err(NameError::Bidi {
                character: '\u{202e}',
                position: 4
            })
        );
        let message = check_name("a\x07").unwrap_err().to_string();
        assert!(message.contains("\\u{7}"), "{message}");
        assert!(!message.contains('\x07'));
    }

    /// Two rows must never both read "web".
    #[test]
    fn invisible_characters_are_refused() {
        for invisible in [
            '\u{200b}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
            '\u{a0}',
            '\u{3000}',
            '\u{200d}',
            '\u{3164}',
            '\u{fe0f}',
        ] {
            let name = format!("web{invisible}");
            assert_eq!(
                check_name(&name),
                Err(NameError::Invisible {
                    character: invisible,
                    position: 4
                }),
                "{}",
                name.escape_unicode()
            );
        }
        assert_eq!(check_name("web server ✓"), Ok(()));
    }
}
