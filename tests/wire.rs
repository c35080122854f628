//! The console's own terminal backend (`tui::wire`) against a real terminal emulator: the
//! bytes it writes for a frame's changes leave tmux's screen exactly as the stock crossterm
//! backend's full paint of the new frame does, colours and attributes included, and they
//! are fewer than the stock backend's for the same change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Duration;

use common::tmux::Tmux;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use watchfloor::tui::terminfo::Caps;
use watchfloor::tui::wire::Wire;

const W: u16 = 40;
const H: u16 = 8;

/// A writer whose bytes can be read after it was handed to a backend.
#[derive(Clone, Default)]
struct Tape(Rc<RefCell<Vec<u8>>>);

impl Write for Tape {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Tape {
    fn bytes(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }
}

/// A frame with what a pane has: a bold header, a selection bar on row `selected`, text that
/// shortens, wide characters, a reversed badge, underlined blanks and a row of numbers.
fn frame(selected: u16, later: bool) -> Buffer {
    let mut b = Buffer::empty(Rect::new(0, 0, W, H));
    let dim = Style::new().fg(Color::Indexed(245));
    b.set_string(0, 0, "NAME        STATE", dim.add_modifier(Modifier::BOLD));
    for y in 1..=2 {
        b.set_string(0, y, format!("api-{y}"), Style::new().fg(Color::Green));
        b.set_string(12, y, "running", dim);
    }
    b.set_style(
        Rect::new(0, selected, W, 1),
        Style::new().fg(Color::White).bg(Color::Indexed(24)),
    );
    if later {
        b.set_string(0, 3, "short", Style::new());
        b.set_string(0, 4, "ascii now", Style::new());
        b.set_style(
            Rect::new(20, 5, 20, 1),
            Style::new().add_modifier(Modifier::UNDERLINED),
        );
        b.set_string(0, 6, "a 9 b 2 c 7", Style::new());
    } else {
        b.set_string(0, 3, "a long line that gets shorter", Style::new());
        b.set_string(0, 4, "日本語 wide", Style::new());
        b.set_string(
            0,
            5,
            " ALERT ",
            Style::new().fg(Color::Red).add_modifier(Modifier::REVERSED),
        );
        b.set_string(0, 6, "a 1 b 2 c 3", Style::new());
    }
    b
}

fn stock(from: &Buffer, to: &Buffer) -> Vec<u8> {
    let tape = Tape::default();
    let mut b = CrosstermBackend::new(tape.clone());
    b.draw(from.diff(to).into_iter()).unwrap();
    Backend::flush(&mut b).unwrap();
    tape.bytes()
}

fn wire(caps: Caps, from: &Buffer, to: &Buffer) -> Vec<u8> {
    let tape = Tape::default();
    let mut b = Wire::new(tape.clone(), caps);
    b.set_width(W);
    b.draw(from.diff(to).into_iter()).unwrap();
    Backend::flush(&mut b).unwrap();
    tape.bytes()
}

/// What tmux shows after `clear` and the bytes: colours and attributes as escapes.
fn painted(t: &Tmux, dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    t.type_line(&format!("clear; cat {}; sleep 600", path.display()));
    t.wait_for_text(&["c 7"], Duration::from_secs(10));
    // Once two captures agree, tmux has taken in all of it.
    let mut last = t.styled_screen();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = t.styled_screen();
        if now == last {
            t.keys(&["C-c"]);
            t.wait_for_text(&["wf-prompt$"], Duration::from_secs(10));
            return now;
        }
        last = now;
    }
}

/// How a cell looks: its character, colours and attributes, as tmux reports them in SGR.
#[derive(Clone, Default, PartialEq, Debug)]
struct Look {
    ch: char,
    fg: String,
    bg: String,
    attrs: u16, // one bit per SGR attribute number 1..=9
}

/// The screen as cells, from `capture-pane -e`. A blank shows only its background and the
/// attributes drawn on blanks (underline 4, blink 5, reverse 7, strike 9), and a missing cell
/// is a plain blank: that is what the eye sees.
fn looks(screen: &str) -> Vec<Vec<Look>> {
    const ON_BLANKS: u16 = 1 << 4 | 1 << 5 | 1 << 7 | 1 << 9;
    let mut rows = Vec::new();
    for line in screen.lines().take(usize::from(H)) {
        let mut pen = Look::default();
        let mut row = Vec::new();
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("\x1b[") {
                let end = after.find('m').expect("only SGR in a capture");
                sgr(&mut pen, &after[..end]);
                rest = &after[end + 1..];
                continue;
            }
            let mut cell = Look {
                ch: c,
                ..pen.clone()
            };
            if c == ' ' {
                cell.fg.clear();
                cell.attrs &= ON_BLANKS;
            }
            row.push(cell);
            rest = &rest[c.len_utf8()..];
        }
        let blank = Look {
            ch: ' ',
            ..Look::default()
        };
        row.resize(usize::from(W), blank);
        rows.push(row);
    }
    rows
}

fn sgr(pen: &mut Look, params: &str) {
    let p: Vec<u16> = params.split(';').map(|n| n.parse().unwrap_or(0)).collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            0 => *pen = Look::default(),
            n @ 1..=9 => pen.attrs |= 1 << n,
            22 => pen.attrs &= !(1 << 1 | 1 << 2),
            n @ 23..=29 => pen.attrs &= !(1 << (n - 20)),
            38 | 48 => {
                let len = if p.get(i + 1) == Some(&5) { 3 } else { 5 };
                let colour = format!("{:?}", &p[i..(i + len).min(p.len())]);
                if p[i] == 38 {
                    pen.fg = colour
                } else {
                    pen.bg = colour
                }
                i += len - 1;
            }
            39 => pen.fg.clear(),
            49 => pen.bg.clear(),
            n @ (30..=37 | 90..=97) => pen.fg = n.to_string(),
            n @ (40..=47 | 100..=107) => pen.bg = n.to_string(),
            _ => {}
        }
        i += 1;
    }
}

#[test]
fn a_frames_changes_paint_what_a_full_paint_does_in_fewer_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::new(W, H, &[("TERM", "xterm-256color".to_owned())]);
    t.wait_for_text(&["wf-prompt$"], Duration::from_secs(30));
    let (empty, a, b) = (
        Buffer::empty(Rect::new(0, 0, W, H)),
        frame(1, false),
        frame(2, true),
    );

    let reference = painted(&t, dir.path(), "full", &stock(&empty, &b));
    assert!(reference.contains("a 9 b 2 c 7"), "{reference}");

    // What the console finds in tmux (REP, no bce), and a terminal with neither.
    let in_tmux = Caps::detect("tmux-256color", Some("tmux"));
    assert_eq!(
        in_tmux,
        Caps {
            bce: false,
            rep: true
        }
    );
    for caps in [in_tmux, Caps::default()] {
        // The first frame by either backend, then this backend's changes.
        for (name, first) in [
            ("stock", stock(&empty, &a)),
            ("wire", wire(caps, &empty, &a)),
        ] {
            let mut bytes = first;
            bytes.extend(wire(caps, &a, &b));
            let shown = painted(&t, dir.path(), name, &bytes);
            assert_eq!(
                looks(&shown),
                looks(&reference),
                "{caps:?}, first frame by {name}: the changes painted another screen:\n{shown}\nnot\n{reference}"
            );
        }
    }

    // Fewer bytes than the stock backend, and fewer again where REP is there.
    let full = stock(&a, &b).len();
    let plain = wire(Caps::default(), &a, &b).len();
    let repeated = wire(in_tmux, &a, &b).len();
    assert!(
        repeated < plain && plain * 10 < full * 8,
        "the change took {repeated} bytes with REP, {plain} without, the stock backend {full}"
    );
}
