//! The characters YAML allows: a control character is refused where it stands, before
//! parsing, since a parser may take a NUL for the end of the text and drop the rest.

/// A character YAML forbids, and where it is (1-based line and column, in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forbidden {
    pub(crate) character: char,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Forbidden {
    /// What to tell the user, without the location.
    pub(crate) fn message(&self) -> String {
        let code = u32::from(self.character);
        let name = match self.character {
            '\0' => " (NUL)",
            '\u{7}' => " (BEL)",
            '\u{8}' => " (backspace)",
            '\u{b}' => " (vertical tab)",
            '\u{c}' => " (form feed)",
            '\u{1b}' => " (ESC)",
            '\u{7f}' => " (DEL)",
            _ => "",
        };
        format!(
            "control character U+{code:04X}{name} is not allowed in YAML; remove it \
             (in a double-quoted string, write it as the escape \"\\u{code:04X}\")"
        )
    }
}

/// Whether YAML 1.2 allows `c` in a stream (its `c-printable` set): tab, line breaks,
/// printable ASCII, NEL and the rest of Unicode but the C1 controls and U+FFFE/U+FFFF.
fn allowed(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}'
        | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// The first character of `text` YAML forbids, if any.
pub(crate) fn first_forbidden(text: &str) -> Option<Forbidden> {
    let (offset, character) = text.char_indices().find(|&(_, c)| !allowed(c))?;
    let before = &text[..offset];
    // Lines break at `\n`, `\r\n` or a lone `\r`, as YAML counts them.
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let breaks = before.matches('\n').count()
        + before
            .char_indices()
            .filter(|&(i, c)| c == '\r' && !before[i + 1..].starts_with('\n'))
            .count();
    Some(Forbidden {
        character,
        line: breaks + 1,
        column: before[line_start..].chars().count() + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_the_first_control_character() {
        assert_eq!(first_forbidden("a: b\n\tc: 'é ✓ \u{85}'\r\n# ok\r"), None);
        let at = |text: &str| first_forbidden(text).map(|f| (f.character, f.line, f.column));
        assert_eq!(at("\0\x01"), Some(('\0', 1, 1)));
        assert_eq!(at("a: b\r\nc: é\x1b"), Some(('\x1b', 2, 5)));
        assert_eq!(at("a\rb\r\nc\nd\u{7f}"), Some(('\u{7f}', 4, 2)));
        assert_eq!(at("x: \u{80}"), Some(('\u{80}', 1, 4)));
        assert_eq!(at("\u{fffe}"), Some(('\u{fffe}', 1, 1)));
    }
}
