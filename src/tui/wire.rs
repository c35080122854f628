//! The ratatui backend that writes a frame's changes in as few bytes as the terminal allows.
//!
//! The console is used inside SSH sessions over slow links, and every byte of a frame crosses
//! them. Ratatui's crossterm backend rewrites each changed cell, sets foreground and
//! background together at every style change and ends each frame with four resets. Moving
//! the selection bar changes the background of two whole rows: on a 120-column terminal that
//! was about 400 bytes a key, more than half of them blanks. This backend differs in ways
//! visible on the wire and nowhere else:
//! - a changed row whose tail is blank in one style is ended with EL (erase to end of line)
//!   instead of the blanks: always when the tail has the default background, and with a
//!   coloured background only where the terminal erases with the current background
//!   (terminfo's `bce`, as in xterm; tmux and screen do not);
//! - a run of one ASCII character in one style (the bar's blanks) is the character and REP
//!   (`CSI n b`) where the terminal is known to repeat (tmux; see `terminfo::Caps::rep`);
//! - a gap on the same row is skipped with a relative move (`CSI n C`), not an absolute one;
//! - only the colour or attribute that changed is set, and one `SGR 0` ends the frame;
//! - the cursor is hidden once, not at every frame.

use std::io::{self, Write};

use crossterm::cursor::{Hide, MoveRight, MoveTo, Show};
use crossterm::queue;
use crossterm::style::{
    Attribute, Print, SetAttribute, SetBackgroundColor, SetForegroundColor, SetUnderlineColor,
};
use crossterm::terminal::Clear;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, IntoCrossterm, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

use super::terminfo::Caps;

/// Modifiers that show on a blank cell: a tail carrying one of them is written out.
const SHOWS_ON_BLANK: Modifier = Modifier::REVERSED
    .union(Modifier::UNDERLINED)
    .union(Modifier::CROSSED_OUT)
    .union(Modifier::SLOW_BLINK)
    .union(Modifier::RAPID_BLINK);

/// A tail shorter than this is cheaper as blanks than as EL after a style change.
const MIN_ERASE: usize = 4;

/// What the terminal is set to, as far as this backend knows.
#[derive(Clone, Copy, PartialEq)]
struct Pen {
    fg: Color,
    bg: Color,
    underline: Color,
    modifier: Modifier,
}

const PLAIN: Pen = Pen {
    fg: Color::Reset,
    bg: Color::Reset,
    underline: Color::Reset,
    modifier: Modifier::empty(),
};

pub struct Wire<W: Write> {
    inner: CrosstermBackend<W>,
    /// What the terminal can do beyond plain cells (terminfo).
    caps: Caps,
    /// The frame's width, as last asked of the terminal (ratatui asks before each frame):
    /// a blank tail must reach it to be erased.
    width: std::cell::Cell<u16>,
    cursor_hidden: bool,
}

impl<W: Write> Wire<W> {
    pub fn new(writer: W, caps: Caps) -> Wire<W> {
        Wire {
            inner: CrosstermBackend::new(writer),
            caps,
            width: std::cell::Cell::new(0),
            cursor_hidden: false,
        }
    }

    /// The width of the frames to come, for a writer that is not a terminal.
    pub fn set_width(&mut self, width: u16) {
        self.width.set(width);
    }

    /// Whether a blank cell in this style can be left to EL.
    fn erasable(&self, cell: &Cell) -> bool {
        cell.symbol() == " "
            && !cell.modifier.intersects(SHOWS_ON_BLANK)
            && (cell.bg == Color::Reset || self.caps.bce)
    }

    /// Where the blank tail of `cells`, one row's changes, begins (an index into `cells`), if
    /// the row has one worth erasing.
    fn blank_tail(&self, cells: &[(u16, u16, &Cell)]) -> Option<usize> {
        let &(last_x, _, last) = cells.last()?;
        if last_x.checked_add(1) != Some(self.width.get()) || !self.erasable(last) {
            return None;
        }
        let mut start = cells.len() - 1;
        while start > 0 {
            let (x, _, c) = cells[start - 1];
            if x + 1 != cells[start].0 || !self.erasable(c) || c.bg != last.bg {
                break;
            }
            start -= 1;
        }
        (cells.len() - start >= MIN_ERASE).then_some(start)
    }

    /// How many cells from `cells[0]` on (contiguous, the same ASCII character in the same
    /// style) one REP can write: 1 when REP is not worth it or not there.
    fn repeats(&self, cells: &[(u16, u16, &Cell)]) -> usize {
        let (x0, _, first) = cells[0];
        // tmux 3.3 repeats only ASCII right (tmux#3687).
        let ascii = matches!(first.symbol().as_bytes(), [b' '..=b'~']);
        if !self.caps.rep || !ascii {
            return 1;
        }
        let same = cells
            .iter()
            .enumerate()
            .take_while(|(k, (x, _, c))| {
                usize::from(*x) == usize::from(x0) + k
                    && c.symbol() == first.symbol()
                    && Pen::of(c) == Pen::of(first)
            })
            .count();
        // The character and `CSI n b` against the run spelled out.
        let repeated = 1 + 3 + (same - 1).to_string().len();
        let spelled = same;
        if repeated < spelled { same } else { 1 }
    }

    /// Sets the terminal's pen to `to`, writing only what differs from `pen`.
    fn pen_to(&mut self, pen: &mut Pen, to: Pen) -> io::Result<()> {
        let w = &mut self.inner;
        if !(pen.modifier - to.modifier).is_empty() {
            // Taking one attribute off has no common short form: start from plain.
            queue!(w, SetAttribute(Attribute::Reset))?;
            *pen = PLAIN;
        }
        for added in (to.modifier - pen.modifier).iter() {
            queue!(w, SetAttribute(attribute(added)))?;
        }
        if to.fg != pen.fg {
            queue!(w, SetForegroundColor(to.fg.into_crossterm()))?;
        }
        if to.bg != pen.bg {
            queue!(w, SetBackgroundColor(to.bg.into_crossterm()))?;
        }
        if to.underline != pen.underline {
            queue!(w, SetUnderlineColor(to.underline.into_crossterm()))?;
        }
        *pen = to;
        Ok(())
    }
}

impl Pen {
    fn of(cell: &Cell) -> Pen {
        Pen {
            fg: cell.fg,
            bg: cell.bg,
            underline: cell.underline_color,
            modifier: cell.modifier,
        }
    }

    /// The pen to erase `blank` with: only its background and what shows on a blank matter.
    fn erasing(self, blank: &Cell) -> Pen {
        Pen {
            bg: blank.bg,
            modifier: if self.modifier.intersects(SHOWS_ON_BLANK) {
                blank.modifier
            } else {
                self.modifier
            },
            ..self
        }
    }
}

fn attribute(m: Modifier) -> Attribute {
    match m {
        Modifier::BOLD => Attribute::Bold,
        Modifier::DIM => Attribute::Dim,
        Modifier::ITALIC => Attribute::Italic,
        Modifier::UNDERLINED => Attribute::Underlined,
        Modifier::SLOW_BLINK => Attribute::SlowBlink,
        Modifier::RAPID_BLINK => Attribute::RapidBlink,
        Modifier::REVERSED => Attribute::Reverse,
        Modifier::HIDDEN => Attribute::Hidden,
        _ => Attribute::CrossedOut,
    }
}

impl<W: Write> Write for Wire<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Write::flush(&mut self.inner)
    }
}

impl<W: Write> Backend for Wire<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        let cells: Vec<(u16, u16, &Cell)> = content.collect();
        let mut pen = PLAIN;
        // Where the cursor is, when known: after a wide symbol or at the last column the
        // terminal may disagree, so the next cell moves there absolutely.
        let mut at: Option<(u16, u16)> = None;
        // Whether everything printed since the last absolute move was ASCII. The next cell
        // follows the last as the crossterm backend assumes; a gap is skipped relatively
        // only when no character of uncertain width (`·`, `─` in a CJK locale) came before.
        let mut ascii = false;
        for row in cells.chunk_by(|a, b| a.1 == b.1) {
            let tail = self.blank_tail(row);
            let mut i = 0;
            while i < row.len() {
                let (x, y, cell) = row[i];
                match at {
                    Some(p) if p == (x, y) => {}
                    Some((px, py)) if py == y && px < x && ascii => {
                        queue!(self.inner, MoveRight(x - px))?;
                    }
                    _ => {
                        queue!(self.inner, MoveTo(x, y))?;
                        ascii = true;
                    }
                }
                if Some(i) == tail {
                    let to = pen.erasing(cell);
                    self.pen_to(&mut pen, to)?;
                    queue!(
                        self.inner,
                        Clear(crossterm::terminal::ClearType::UntilNewLine)
                    )?;
                    at = Some((x, y));
                    break;
                }
                self.pen_to(&mut pen, Pen::of(cell))?;
                queue!(self.inner, Print(cell.symbol()))?;
                let run = self.repeats(&row[i..tail.unwrap_or(row.len()).max(i + 1)]);
                if run > 1 {
                    queue!(self.inner, Print(format_args!("\x1b[{}b", run - 1)))?;
                }
                let end = x + u16::try_from(run).unwrap_or(u16::MAX);
                let single = cell.symbol().width() == 1;
                ascii &= cell.symbol().is_ascii();
                at = (single && end < self.width.get()).then_some((end, y));
                i += run;
            }
        }
        if pen != PLAIN {
            queue!(self.inner, SetAttribute(Attribute::Reset))?;
        }
        Ok(())
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        if !self.cursor_hidden {
            queue!(self.inner, Hide)?;
            self.cursor_hidden = true;
        }
        Ok(())
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        queue!(self.inner, Show)?;
        self.cursor_hidden = false;
        Ok(())
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        let size = self.inner.size()?;
        self.width.set(size.width);
        Ok(size)
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn bar() -> Style {
        Style::new().fg(Color::White).bg(Color::Indexed(24))
    }

    /// A writer whose bytes the test can still read after handing it over.
    #[derive(Clone, Default)]
    struct Tape(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Tape {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Tape {
        fn text(&self) -> String {
            String::from_utf8(self.0.borrow().clone()).expect("utf-8")
        }
    }

    /// The bytes for going from `a` to `b`.
    fn wire(caps: Caps, a: &Buffer, b: &Buffer) -> String {
        let tape = Tape::default();
        let mut w = Wire::new(tape.clone(), caps);
        w.set_width(b.area.width);
        w.draw(a.diff(b).into_iter()).expect("draw");
        tape.text()
    }

    fn list(selected: u16) -> Buffer {
        let mut b = Buffer::empty(Rect::new(0, 0, 40, 4));
        for y in 0..4 {
            b.set_string(0, y, format!("row {y}"), Style::new().fg(Color::Green));
        }
        b.set_style(Rect::new(0, selected, 40, 1), bar());
        b
    }

    #[test]
    fn a_blank_tail_on_the_default_background_is_erased_on_any_terminal() {
        let out = wire(Caps::default(), &list(1), &list(2));
        // Row 1 loses the bar: its text, then EL; row 2 gains it and, without bce, its blanks.
        assert!(out.contains("row 1\x1b[K"), "{out:?}");
        assert!(out.contains(&format!("row 2{}", " ".repeat(35))), "{out:?}");
        assert_eq!(out.matches("\x1b[K").count(), 1, "{out:?}");
    }

    #[test]
    fn a_coloured_blank_tail_is_erased_only_where_the_terminal_erases_in_colour() {
        let out = wire(
            Caps {
                bce: true,
                rep: false,
            },
            &list(1),
            &list(2),
        );
        assert_eq!(out.matches("\x1b[K").count(), 2, "{out:?}");
        assert!(out.contains("\x1b[48;5;24mrow 2\x1b[K"), "{out:?}");
        assert!(!out.contains("     "), "{out:?}");
        assert!(
            out.ends_with("\x1b[0m"),
            "one reset ends the frame: {out:?}"
        );
    }

    #[test]
    fn blanks_that_show_are_written_out() {
        let a = Buffer::empty(Rect::new(0, 0, 10, 1));
        let mut b = a.clone();
        b.set_style(b.area, Style::new().add_modifier(Modifier::UNDERLINED));
        let out = wire(
            Caps {
                bce: true,
                rep: false,
            },
            &a,
            &b,
        );
        assert!(
            !out.contains("\x1b[K") && out.contains("          "),
            "{out:?}"
        );
    }

    #[test]
    fn a_gap_in_a_row_is_skipped_relatively() {
        let a = Buffer::empty(Rect::new(0, 0, 20, 2));
        let mut b = a.clone();
        b.set_string(2, 1, "a", Style::new());
        b.set_string(9, 1, "b", Style::new());
        assert_eq!(wire(Caps::default(), &a, &b), "\x1b[2;3Ha\x1b[6Cb");
    }

    #[test]
    fn a_gap_after_a_character_of_uncertain_width_is_crossed_absolutely() {
        let a = Buffer::empty(Rect::new(0, 0, 20, 1));
        let mut b = a.clone();
        b.set_string(0, 0, "x·y", Style::new());
        b.set_string(9, 0, "z", Style::new());
        assert_eq!(wire(Caps::default(), &a, &b), "\x1b[1;1Hx·y\x1b[1;10Hz");
    }

    #[test]
    fn the_cursor_is_hidden_once() {
        let tape = Tape::default();
        let mut w = Wire::new(tape.clone(), Caps::default());
        for _ in 0..3 {
            w.hide_cursor().expect("hide");
        }
        w.show_cursor().expect("show");
        w.hide_cursor().expect("hide");
        assert_eq!(tape.text(), "\x1b[?25l\x1b[?25h\x1b[?25l");
    }

    #[test]
    fn a_run_of_one_character_is_repeated_where_the_terminal_can() {
        let a = Buffer::empty(Rect::new(0, 0, 30, 1));
        let mut b = a.clone();
        b.set_string(0, 0, "ab", Style::new());
        b.set_style(Rect::new(0, 0, 30, 1), bar());
        let rep = Caps {
            bce: false,
            rep: true,
        };
        // The bar's 28 blanks: one, then 27 more; without REP, all of them.
        assert_eq!(
            wire(rep, &a, &b),
            "\x1b[1;1H\x1b[38;5;15m\x1b[48;5;24mab \x1b[27b\x1b[0m"
        );
        assert!(wire(Caps::default(), &a, &b).contains(&" ".repeat(28)));
        // A run too short to gain, and a character REP cannot repeat (two columns), are spelled.
        let mut c = a.clone();
        c.set_string(0, 0, "yyyyy日日", Style::new());
        let out = wire(rep, &a, &c);
        assert!(
            out.starts_with("\x1b[1;1Hyyyyy日") && !out.contains('b'),
            "{out:?}"
        );
        // Nor are runs of other characters: tmux 3.3 repeats them wrong.
        let mut d = a.clone();
        d.set_string(0, 0, "─".repeat(20), Style::new());
        assert_eq!(wire(rep, &a, &d), format!("\x1b[1;1H{}", "─".repeat(20)));
    }
}
