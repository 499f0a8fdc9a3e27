//! Which characters never reach a log line raw, and how the text format
//! writes them instead. A request path, a body or a `failureReason` can
//! carry C0 and C1 controls (a newline forges a line; CSI U+009B or ESC
//! drives a terminal), bidi controls (U+202E shows a line reversed) and
//! line or paragraph separators (U+2028 ends a line in many viewers).

use std::fmt;

/// True for what a log line must show escaped: C0 controls and DEL, C1
/// controls (U+0080–U+009F), the bidi controls (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069) and the line and paragraph separators
/// (U+2028, U+2029).
pub fn must_escape(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x1f'
            | '\x7f'..='\u{9f}'
            | '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// A `fmt::Write` that passes text on to `W` with every [`must_escape`]
/// character written the way Rust's `{:?}` writes it: `\n`, `\r`, `\t`,
/// else `\u{85}`.
pub struct Escaping<W>(pub W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(must_escape) {
            let (clean, tail) = rest.split_at(at);
            self.0.write_str(clean)?;
            let mut chars = tail.chars();
            match chars.next() {
                Some('\n') => self.0.write_str("\\n")?,
                Some('\r') => self.0.write_str("\\r")?,
                Some('\t') => self.0.write_str("\\t")?,
                Some(c) => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                None => {}
            }
            rest = chars.as_str();
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        write!(Escaping(&mut out), "{s}").unwrap();
        out
    }

    #[test]
    fn controls_bidi_and_separators_are_escaped() {
        assert_eq!(escaped("a\nb\tc\r\x1b[31m\x7f"), r"a\nb\tc\r\u{1b}[31m\u{7f}");
        assert_eq!(escaped("p\u{85}q\u{9b}r\u{80}"), r"p\u{85}q\u{9b}r\u{80}");
        assert_eq!(
            escaped("\u{2028}\u{2029}\u{202a}\u{202e}\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}"),
            r"\u{2028}\u{2029}\u{202a}\u{202e}\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}"
        );
    }

    #[test]
    fn everything_else_is_kept() {
        for s in [
            "",
            "plain ascii ~!@#$%^&*()",
            r#"quotes " and \ backslashes"#,
            "héllo wörld ✓ 日本 🙂",
            "\u{a0}\u{2027}\u{202f}\u{2065}\u{206a}",
        ] {
            assert_eq!(escaped(s), s);
        }
    }

    #[test]
    fn no_escaped_character_survives() {
        let all: String = (0..=0x2100u32).filter_map(char::from_u32).collect();
        assert!(!escaped(&all).chars().any(must_escape));
    }
}
