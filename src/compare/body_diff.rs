//! Bodies that are not both JSON: text compared line by line (the first differing line,
//! with two lines of context), anything else by length and hash.

use bytes::Bytes;

use super::example::truncated;
use crate::mirror::Difference;
use crate::rng::fnv1a64;

/// Lines of context kept before the first differing line.
const CONTEXT_LINES: usize = 2;
/// Longest line kept, in characters.
const MAX_LINE: usize = 200;

/// How two different bodies differ: [`Difference::TextLine`] when both are text, else
/// [`Difference::Binary`].
pub(crate) fn diff_bodies(primary: &Bytes, shadow: &Bytes) -> Difference {
    match (as_text(primary), as_text(shadow)) {
        (Some(p), Some(s)) => first_differing_line(p, s),
        _ => Difference::Binary {
            primary_len: primary.len(),
            shadow_len: shadow.len(),
            primary_hash: fnv1a64(primary),
            shadow_hash: fnv1a64(shadow),
        },
    }
}

/// UTF-8 without control characters other than tab, line feed, form feed and carriage
/// return: what a person reads as text.
fn as_text(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let readable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}'));
    readable.then_some(text)
}

fn first_differing_line(primary: &str, shadow: &str) -> Difference {
    // Lines keep a trailing `\r`: bodies differing only in line endings still differ.
    let mut p = primary.split('\n');
    let mut s = shadow.split('\n');
    let mut context: Vec<&str> = Vec::with_capacity(CONTEXT_LINES + 1);
    let mut line = 1;
    loop {
        match (p.next(), s.next()) {
            (Some(a), Some(b)) if a == b => {
                context.push(a);
                if context.len() > CONTEXT_LINES {
                    context.remove(0);
                }
                line += 1;
            }
            (a, b) => {
                return Difference::TextLine {
                    line,
                    context: context.iter().map(|l| bounded(l)).collect(),
                    primary: a.map(bounded),
                    shadow: b.map(bounded),
                };
            }
        }
    }
}

fn bounded(line: &str) -> String {
    truncated(line, MAX_LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(primary: &'static str, shadow: &'static str) -> Difference {
        diff_bodies(
            &Bytes::from_static(primary.as_bytes()),
            &Bytes::from_static(shadow.as_bytes()),
        )
    }

    #[test]
    fn the_first_differing_line_with_two_lines_before_it() {
        let d = text("a\nb\nc\nd\ne", "a\nb\nc\nX\ne");
        assert_eq!(
            d,
            Difference::TextLine {
                line: 4,
                context: vec!["b".into(), "c".into()],
                primary: Some("d".into()),
                shadow: Some("X".into()),
            }
        );
        assert_eq!(d.to_string(), r#"body line 4: "d" != "X""#);
    }

    #[test]
    fn a_shorter_body_ends_first() {
        let d = text("one\ntwo", "one");
        assert_eq!(
            d,
            Difference::TextLine {
                line: 2,
                context: vec!["one".into()],
                primary: Some("two".into()),
                shadow: None,
            }
        );
        let Difference::TextLine { line, .. } = text("x\r\n", "x\n") else {
            panic!("line endings are text too");
        };
        assert_eq!(line, 1);
    }

    #[test]
    fn binary_by_length_and_hash() {
        let p = Bytes::from_static(&[0, 159, 146, 150]);
        let s = Bytes::from_static(b"text");
        assert_eq!(
            diff_bodies(&p, &s),
            Difference::Binary {
                primary_len: 4,
                shadow_len: 4,
                primary_hash: fnv1a64(&p),
                shadow_hash: fnv1a64(&s),
            }
        );
        assert_ne!(fnv1a64(&p), fnv1a64(&s));
    }
}
