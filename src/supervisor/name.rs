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
}

/// Checks a task name: 1 to [`MAX_NAME_CHARS`] characters, no control characters and no
/// characters that reorder text (bidi overrides, isolates and marks).
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
}
