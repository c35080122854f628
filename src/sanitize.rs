//! Untrusted text from hosts (container names, images, labels, command output, log lines) made
//! safe for the terminal. Every escape sequence (CSI, OSC, DCS, SOS/PM/APC, 7- and 8-bit forms)
//! and every control character is removed before text reaches a ratatui cell; SGR colour
//! sequences are reported to the caller, which may turn them into styles. Pure.

/// One piece of scanned text.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Printable text, free of control characters.
    Text(&'a str),
    /// The parameters of an SGR sequence (`ESC [ params m`), e.g. "1;31".
    Sgr(&'a str),
    /// A tab, for the caller to expand.
    Tab,
    /// A line break (`\n`) or carriage return (`\r`).
    Break(char),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    /// Inside CSI; the byte index where its parameters start.
    Csi(usize),
    /// Inside a string sequence (OSC, DCS, SOS, PM, APC) until BEL or ST.
    Str,
    /// ESC seen inside a string sequence: `\` ends it (ST).
    StrEsc,
    /// ESC followed by intermediates (ESC ( B and the like): ends at the first final byte.
    EscIntermediate,
}

/// Splits `s` into printable text and the sequences watchfloor may interpret; everything else
/// is dropped. Unterminated sequences at the end are dropped too.
pub fn scan<'a>(s: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    let mut state = State::Ground;
    let mut text_start = 0;
    for (i, c) in s.char_indices() {
        match state {
            State::Ground => {
                if !is_unsafe(c) {
                    continue;
                }
                if text_start < i {
                    emit(Piece::Text(&s[text_start..i]));
                }
                state = match c {
                    '\u{1b}' => State::Esc,
                    '\u{9b}' => State::Csi(i + c.len_utf8()),
                    '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => State::Str,
                    '\t' => {
                        emit(Piece::Tab);
                        State::Ground
                    }
                    '\n' | '\r' => {
                        emit(Piece::Break(c));
                        State::Ground
                    }
                    _ => State::Ground, // other C0/C1 controls, DEL, bidi overrides: dropped
                };
            }
            State::Esc => {
                state = match c {
                    '[' => State::Csi(i + 1),
                    ']' | 'P' | 'X' | '^' | '_' => State::Str,
                    ' '..='/' => State::EscIntermediate,
                    _ => State::Ground, // two-byte sequence (ESC 7, ESC c, ...), dropped
                };
            }
            State::EscIntermediate => {
                if !(' '..='/').contains(&c) {
                    state = State::Ground;
                }
            }
            State::Csi(start) => {
                if ('@'..='~').contains(&c) {
                    if c == 'm'
                        && s[start..i]
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b == b';' || b == b':')
                    {
                        emit(Piece::Sgr(&s[start..i]));
                    }
                    state = State::Ground;
                } else if !(' '..='?').contains(&c) {
                    state = State::Ground; // malformed: abandon the sequence, drop this char too
                }
            }
            State::Str => {
                state = match c {
                    '\u{7}' | '\u{9c}' => State::Ground,
                    '\u{1b}' => State::StrEsc,
                    _ => State::Str,
                };
            }
            State::StrEsc => state = if c == '\\' { State::Ground } else { State::Str },
        }
        // Everything but printable text in the ground state was consumed by a sequence.
        text_start = i + c.len_utf8();
    }
    if state == State::Ground && text_start < s.len() {
        emit(Piece::Text(&s[text_start..]));
    }
}

/// Characters that never reach the screen as themselves: C0 and C1 controls, DEL, and the
/// bidirectional overrides that can make text display in a different order than it reads.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// [`plain`] with every run of whitespace folded to one space: a multi-line SQL query on
/// one row.
pub fn folded(s: &str) -> String {
    plain(s).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line of plain text: sequences removed, tabs and line breaks become spaces.
pub fn plain(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    scan(s, |p| match p {
        Piece::Text(t) => out.push_str(t),
        Piece::Tab | Piece::Break(_) => out.push(' '),
        Piece::Sgr(_) => {}
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(plain("shop-api-1 ünïcødé 漢字"), "shop-api-1 ünïcødé 漢字");
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        let hostile = "a\u{1b}[2J\u{1b}[Hb\u{1b}]0;title\u{7}c\u{1b}]8;;http://x\u{1b}\\d\u{1b}P+q\u{1b}\\e\u{9b}31mf\u{1b}(Bg\u{1b}7h";
        assert_eq!(plain(hostile), "abcdefgh");
    }

    #[test]
    fn controls_and_bidi_overrides_are_dropped() {
        assert_eq!(plain("x\u{8}\u{7}\u{7f}\u{85}y\u{202e}z"), "xyz");
        assert_eq!(plain("a\tb\r\nc"), "a b  c");
    }

    #[test]
    fn sgr_is_reported_other_csi_is_not() {
        let mut seen = Vec::new();
        scan("\u{1b}[1;31mred\u{1b}[0m\u{1b}[5Aup", |p| {
            seen.push(format!("{p:?}"))
        });
        assert_eq!(
            seen,
            [
                "Sgr(\"1;31\")",
                "Text(\"red\")",
                "Sgr(\"0\")",
                "Text(\"up\")"
            ]
        );
    }

    #[test]
    fn unterminated_sequences_swallow_the_rest() {
        assert_eq!(plain("ok\u{1b}]0;never ends"), "ok");
        assert_eq!(plain("ok\u{1b}[12"), "ok");
    }

    #[test]
    fn no_output_char_is_unsafe_for_any_input() {
        // A cheap exhaustive-ish check: every pair of interesting characters.
        let alphabet = [
            '\u{1b}', '[', ']', 'P', '\\', '\u{7}', '\u{9b}', '\u{9c}', '\u{9d}', 'm', '1', ';',
            'a', '\n', '\u{202e}',
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s: String = [a, b, c, 'z'].iter().collect();
                    assert!(!plain(&s).chars().any(is_unsafe), "{s:?}");
                }
            }
        }
    }
}
