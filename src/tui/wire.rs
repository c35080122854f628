//! The ratatui backend that writes a frame's changes in as few bytes as the terminal allows.
//!
//! The console is used inside SSH sessions over slow links, and every byte of a frame crosses
//! them. Ratatui's crossterm backend rewrites each changed cell, sets foreground and
//! background together at every style change and ends each frame with four resets. Moving
//! the selection bar changes the background of two whole rows: on a 120-column terminal that
//! was about 400 bytes a key, more than half of them blanks. This backend differs in four
//! ways, each visible on the wire and nowhere else:
//! - a changed row whose tail is blank in one style is ended with EL (erase to end of line)
//!   instead of the blanks: always when the tail has the default background, and with a
//!   coloured background only when the terminal erases with the current background
//!   (terminfo's `bce`, as in xterm; tmux, screen and many others do not claim it);
//! - a gap on the same row is skipped with a relative move (`CSI n C`), not an absolute one;
//! - only the colour or attribute that changed is set, and one `SGR 0` ends the frame;
//! - the cursor is hidden once, not at every frame.

use std::io::{self, Write};
use std::path::PathBuf;

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
    /// Whether EL fills with the current background colour (terminfo `bce`).
    bce: bool,
    /// The frame's width, as last asked of the terminal (ratatui asks before each frame):
    /// a blank tail must reach it to be erased.
    width: std::cell::Cell<u16>,
    cursor_hidden: bool,
}

impl<W: Write> Wire<W> {
    pub fn new(writer: W, bce: bool) -> Wire<W> {
        Wire {
            inner: CrosstermBackend::new(writer),
            bce,
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
            && (cell.bg == Color::Reset || self.bce)
    }

    /// Where the blank tail of the row starting at `cells[0]` begins (an index into `cells`),
    /// if the row has one worth erasing.
    fn blank_tail(&self, cells: &[(u16, u16, &Cell)]) -> Option<usize> {
        let &(last_x, y, last) = cells.last()?;
        if last_x.checked_add(1) != Some(self.width.get()) || !self.erasable(last) {
            return None;
        }
        let mut start = cells.len() - 1;
        while start > 0 {
            let (x, py, c) = cells[start - 1];
            let contiguous = py == y && x + 1 == cells[start].0;
            if !contiguous || !self.erasable(c) || c.bg != last.bg {
                break;
            }
            start -= 1;
        }
        (cells.len() - start >= MIN_ERASE).then_some(start)
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
        for row in cells.chunk_by(|a, b| a.1 == b.1) {
            let tail = self.blank_tail(row);
            for (i, &(x, y, cell)) in row.iter().enumerate() {
                match at {
                    Some(p) if p == (x, y) => {}
                    Some((px, py)) if py == y && px < x => {
                        queue!(self.inner, MoveRight(x - px))?;
                    }
                    _ => queue!(self.inner, MoveTo(x, y))?,
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
                at = (cell.symbol().width() == 1 && x + 1 < self.width.get()).then_some((x + 1, y));
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

/// Whether the terminal named `term` erases with the current background colour: terminfo's
/// boolean `bce`, read from the compiled entry where ncurses looks for it. Unknown is no.
pub fn has_bce(term: &str) -> bool {
    let Some(first) = term.chars().next() else {
        return false;
    };
    terminfo_dirs().into_iter().any(|dir| {
        // Linux spells the subdirectory with the first letter, macOS with its hex code.
        [first.to_string(), format!("{:02x}", u32::from(first))]
            .iter()
            .filter_map(|sub| std::fs::read(dir.join(sub).join(term)).ok())
            .next()
            .is_some_and(|entry| bool_cap(&entry, BCE))
    })
}

/// `bce`'s place among terminfo's booleans (term.h: `back_color_erase`).
const BCE: usize = 28;

fn terminfo_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("TERMINFO") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".terminfo"));
    }
    let system = ["/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo"];
    match std::env::var("TERMINFO_DIRS") {
        // An empty entry stands for the system's directories.
        Ok(list) => {
            for d in list.split(':') {
                if d.is_empty() {
                    dirs.extend(system.iter().map(PathBuf::from));
                } else {
                    dirs.push(PathBuf::from(d));
                }
            }
        }
        Err(_) => dirs.extend(system.iter().map(PathBuf::from)),
    }
    dirs
}

/// Boolean capability `index` of a compiled terminfo entry (term(5): a header of six
/// little-endian shorts, the names, then one byte per boolean).
fn bool_cap(entry: &[u8], index: usize) -> bool {
    let short = |i: usize| {
        entry
            .get(i..i + 2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
    };
    let (Some(magic), Some(names), Some(bools)) = (short(0), short(2), short(4)) else {
        return false;
    };
    // 0o432: 16-bit numbers; 0o1036: 32-bit numbers (ncurses 6.1+). Booleans are alike.
    if !(magic == 0o432 || magic == 0o1036) || names < 0 || bools < 0 {
        return false;
    }
    let (names, bools) = (names as usize, bools as usize);
    index < bools && entry.get(12 + names + index) == Some(&1)
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
    fn wire(bce: bool, a: &Buffer, b: &Buffer) -> String {
        let tape = Tape::default();
        let mut w = Wire::new(tape.clone(), bce);
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
        let out = wire(false, &list(1), &list(2));
        // Row 1 loses the bar: its text, then EL; row 2 gains it and, without bce, its blanks.
        assert!(out.contains("row 1\x1b[K"), "{out:?}");
        assert!(out.contains(&format!("row 2{}", " ".repeat(35))), "{out:?}");
        assert_eq!(out.matches("\x1b[K").count(), 1, "{out:?}");
    }

    #[test]
    fn a_coloured_blank_tail_is_erased_only_where_the_terminal_erases_in_colour() {
        let out = wire(true, &list(1), &list(2));
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
        let out = wire(true, &a, &b);
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
        assert_eq!(wire(false, &a, &b), "\x1b[2;3Ha\x1b[6Cb");
    }

    #[test]
    fn the_cursor_is_hidden_once() {
        let tape = Tape::default();
        let mut w = Wire::new(tape.clone(), false);
        for _ in 0..3 {
            w.hide_cursor().expect("hide");
        }
        w.show_cursor().expect("show");
        w.hide_cursor().expect("hide");
        assert_eq!(tape.text(), "\x1b[?25l\x1b[?25h\x1b[?25l");
    }

    #[test]
    fn terminfo_says_which_terminals_erase_in_colour() {
        // Entries Debian's ncurses-base always installs.
        assert!(has_bce("xterm-256color"));
        assert!(has_bce("linux"));
        assert!(!has_bce("tmux-256color"));
        assert!(!has_bce("screen"));
        assert!(!has_bce("no-such-terminal"));
        assert!(!has_bce(""));
    }

    #[test]
    fn a_truncated_or_foreign_entry_has_no_capabilities() {
        assert!(!bool_cap(b"", BCE));
        assert!(!bool_cap(&[0x1a, 0x01, 5, 0], BCE));
        let mut entry = vec![0x1a, 0x01, 2, 0, 30, 0, 0, 0, 0, 0, 0, 0, b'x', 0];
        entry.extend(std::iter::repeat_n(0u8, 30));
        entry[12 + 2 + BCE] = 1;
        assert!(bool_cap(&entry, BCE));
        entry[0] = 0;
        assert!(!bool_cap(&entry, BCE));
    }
}
