//! The log pane: the open view's lines (optional time, the stream's tag when several are
//! merged, the text with its own colours, level words and search matches), the view's state in
//! the title, paused streams and the search line at the bottom. Pure: draws `&App`. Lines are
//! already sanitised; they are drawn only through ratatui's text widgets.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};
use unicode_width::UnicodeWidthChar;

use super::theme::Theme;
use super::widgets;
use crate::app::App;
use crate::app::logs::{LogStream, LogView};
use crate::collect::logs::line::{Colour, Level, LogLine, RunKind, Sgr};
use crate::config::keymap::Action;

pub struct LogsPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// "14:37:00.186 ": UTC, milliseconds.
const TIME_WIDTH: usize = 13;

impl Widget for LogsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let Some(view) = &app.logs else {
            let inner = super::pane_frame(
                app,
                theme,
                vec![Span::styled(" Logs ", theme.title())],
                area,
                buf,
            );
            let k = |a| app.keymap.hint(a);
            let text = format!(
                "No log view open. In the containers pane ({}), select a container, a service, a project or a host and press {} (or {} for a service on every host).",
                k(Action::PaneContainers),
                k(Action::Logs),
                k(Action::LogsEverywhere)
            );
            let lines: Vec<Line<'_>> = super::wrap(&text, usize::from(inner.width).max(1))
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.muted())))
                .collect();
            Paragraph::new(lines).render(inner, buf);
            return;
        };
        let inner = super::pane_frame(app, theme, title(app, view, theme), area, buf);
        let paused: Vec<Line<'_>> = view
            .streams
            .iter()
            .filter_map(|s| {
                let why = s.paused.as_deref()?;
                Some(Line::from(Span::styled(
                    widgets::fit(&format!("⏸ {}: {why}", s.tag), usize::from(inner.width)),
                    theme.warn(),
                )))
            })
            .take(3)
            .collect();
        let search_rows = u16::from(view.search.editing || !view.search.text.is_empty());
        let [body, notes, search] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(u16::try_from(paused.len()).unwrap_or(3)),
            Constraint::Length(search_rows),
        ])
        .areas(inner);
        Paragraph::new(paused).render(notes, buf);
        if search_rows > 0 {
            search_line(app, view, theme).render(search, buf);
        }
        let width = usize::from(body.width).max(1);
        let tag_width = if view.is_merged() {
            view.streams
                .iter()
                .map(|s| s.tag.chars().count())
                .max()
                .unwrap_or(0)
                .min(24)
                + 1
        } else {
            0
        };
        let prefix = if view.timestamps { TIME_WIDTH } else { 0 } + tag_width;
        let height = |_: &LogStream, l: &LogLine| {
            if view.wrap {
                rows_needed(prefix + widgets_width(&l.text), width)
            } else {
                1
            }
        };
        let shown = view.window(usize::from(body.height), height);
        let mut rows: Vec<Line<'_>> = Vec::new();
        for (stream, line) in &shown {
            let mut head = Vec::new();
            if view.timestamps {
                head.push(Span::styled(
                    format!("{} ", line.at.strftime("%H:%M:%S%.3f")),
                    theme.muted(),
                ));
            }
            if tag_width > 0 {
                let index = view
                    .streams
                    .iter()
                    .position(|s| std::ptr::eq(s, *stream))
                    .unwrap_or(0);
                head.push(Span::styled(
                    format!(
                        "{:<w$} ",
                        widgets::fit(&stream.tag, tag_width - 1),
                        w = tag_width - 1
                    ),
                    tag_style(index, theme),
                ));
            }
            let body_spans = styled(view, line, theme);
            if view.wrap {
                rows.extend(wrap_spans(head, body_spans, prefix, width));
            } else {
                head.extend(body_spans);
                rows.push(Line::from(head));
            }
        }
        // Wrapped rows can overflow the pane: the bottom line stays in view, the top is cut.
        let excess = rows.len().saturating_sub(usize::from(body.height));
        let rows: Vec<Line<'_>> = rows.into_iter().skip(excess).collect();
        Paragraph::new(rows).render(body, buf);
    }
}

fn title<'a>(app: &App, view: &'a LogView, theme: &Theme) -> Vec<Span<'a>> {
    let mut t = vec![
        Span::styled(" Logs ", theme.title()),
        Span::styled(format!("· {} ", view.title), theme.accent()),
        Span::styled(
            format!("· {} lines ", group_digits(view.buffered() as u64)),
            theme.muted(),
        ),
    ];
    if view.dropped() > 0 {
        t.push(Span::styled(
            format!("· {} dropped ", group_digits(view.dropped())),
            theme.warn(),
        ));
    }
    if view.duplicates() > 0 {
        t.push(Span::styled(
            format!("· {} re-sent skipped ", group_digits(view.duplicates())),
            theme.muted(),
        ));
    }
    t.push(if view.follow {
        Span::styled("· following ", theme.ok())
    } else {
        Span::styled("· PAUSED (G follows) ", theme.warn())
    });
    t.extend(flow(app, view, theme));
    t
}

/// Lines arriving late or not at all, and why it may be: a view that only says "following"
/// while its link is starved looks like a quiet service.
fn flow<'a>(app: &App, view: &LogView, theme: &Theme) -> Vec<Span<'a>> {
    let mut t = Vec::new();
    let now = app.now;
    if let Some(behind) = view.behind.filter(|b| *b >= LATE) {
        t.push(Span::styled(
            format!("· lines arrive {} late ", widgets::age(behind)),
            theme.warn(),
        ));
    }
    let quiet = view
        .last_arrival
        .or(view.opened_at)
        .map(|t| crate::app::hosts::age(t, now))
        .filter(|q| {
            if *q < LATE {
                crate::text::changes_in(LATE - *q);
            }
            *q >= LATE
        });
    let hosts: Vec<&crate::app::hosts::HostState> = app
        .hosts
        .iter()
        .filter(|h| view.streams.iter().any(|s| s.host == h.id))
        .collect();
    let down = hosts.iter().any(|h| h.link != crate::link::LinkState::Up);
    let slow = hosts
        .iter()
        .filter_map(|h| h.rtt)
        .filter(|r| *r >= crate::app::alerts::SLOW_LINK)
        .max();
    if let Some(q) = quiet {
        let style = if down || slow.is_some() {
            theme.warn()
        } else {
            theme.muted()
        };
        let what = if view.received == 0 {
            "no line yet"
        } else {
            "no line"
        };
        t.push(Span::styled(
            format!("· {what} for {} ", crate::text::live_age(q)),
            style,
        ));
    }
    if down {
        t.push(Span::styled("· link down ", theme.crit()));
    } else if let Some(rtt) = slow {
        t.push(Span::styled(
            format!("· link slow (round trip {}) ", super::health::latency(rtt)),
            theme.warn(),
        ));
    }
    t
}

/// Quiet or late for this long is worth saying.
const LATE: std::time::Duration = std::time::Duration::from_secs(10);

fn search_line<'a>(app: &App, view: &'a LogView, theme: &Theme) -> Line<'a> {
    let s = &view.search;
    let mut spans = vec![Span::styled(
        format!(
            " /{}{} ",
            crate::sanitize::plain(&s.text),
            if s.editing { "▏" } else { "" }
        ),
        theme.accent(),
    )];
    let k = |a| app.keymap.hint(a);
    let flag = |on: bool, text: String| {
        Span::styled(text, if on { theme.accent() } else { theme.muted() })
    };
    spans.push(flag(
        s.regex,
        format!("[{} regex] ", k(Action::ToggleRegex)),
    ));
    spans.push(flag(
        s.case_sensitive,
        format!("[{} case] ", k(Action::ToggleCase)),
    ));
    spans.push(flag(
        s.only_matching,
        format!("[{} only matching] ", k(Action::OnlyMatching)),
    ));
    if s.is_active() {
        let count = match view.match_at {
            Some(at) => format!("{at}/{} ", view.match_total),
            None if view.match_total == 1 => "1 match ".to_owned(),
            None => format!("{} matches ", view.match_total),
        };
        spans.push(Span::styled(
            count,
            if view.match_total == 0 {
                theme.warn()
            } else {
                theme.accent()
            },
        ));
    }
    if let Some(e) = &s.error {
        spans.push(Span::styled(crate::sanitize::plain(e), theme.crit()));
    } else if !s.editing {
        spans.push(Span::styled(
            format!(
                "{} older · {} newer",
                k(Action::SearchOlder),
                k(Action::SearchNewer)
            ),
            theme.muted(),
        ));
    }
    Line::from(spans)
}

/// The line's text cut into spans: its own colours, level word, dimmed JSON fields, and the
/// search matches on top.
fn styled<'a>(view: &LogView, line: &'a LogLine, theme: &Theme) -> Vec<Span<'a>> {
    let text = &line.text;
    let base = if line.stderr && line.level.is_none() {
        theme.text()
    } else {
        Style::new()
    };
    let matches = view.search.find_all(text);
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for r in line.runs.iter() {
        cuts.push(r.start as usize);
        cuts.push(r.end as usize);
    }
    for m in &matches {
        cuts.push(m.start);
        cuts.push(m.end);
    }
    cuts.retain(|&c| c <= text.len() && text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    let mut spans = Vec::with_capacity(cuts.len());
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let mut style = base;
        if let Some(r) = line
            .runs
            .iter()
            .find(|r| (r.start as usize) <= a && a < r.end as usize)
        {
            style = style.patch(match r.kind {
                RunKind::Sgr(s) => sgr_style(s),
                RunKind::Dim => theme.muted(),
                RunKind::Level(l) => level_style(l, theme),
            });
        }
        if matches.iter().any(|m| m.start <= a && a < m.end) {
            style = style.patch(theme.found());
        }
        spans.push(Span::styled(&text[a..b], style));
    }
    spans
}

/// What a line's own colour codes asked for, as a terminal style. The 16 named colours map to
/// ANSI names, so they follow the terminal's palette like the line would in a terminal.
fn sgr_style(s: Sgr) -> Style {
    const NAMED: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    let colour = |c: Colour| match c {
        Colour::Named(n) => NAMED[usize::from(n & 15)],
        Colour::Indexed(n) => Color::Indexed(n),
        Colour::Rgb(r, g, b) => Color::Rgb(r, g, b),
    };
    let mut style = Style {
        fg: s.fg.map(colour),
        bg: s.bg.map(colour),
        ..Style::default()
    };
    for (on, m) in [
        (s.bold, Modifier::BOLD),
        (s.dim, Modifier::DIM),
        (s.italic, Modifier::ITALIC),
        (s.underlined, Modifier::UNDERLINED),
        (s.reversed, Modifier::REVERSED),
    ] {
        if on {
            style.add_modifier.insert(m);
        }
    }
    style
}

pub fn level_style(level: Level, theme: &Theme) -> Style {
    match level {
        Level::Fatal | Level::Error => theme.crit(),
        Level::Warn => theme.warn(),
        Level::Info => theme.ok(),
        Level::Debug | Level::Trace => theme.muted(),
    }
}

/// Stream tags cycle through a few roles so neighbouring replicas are told apart in 16 colours.
fn tag_style(index: usize, theme: &Theme) -> Style {
    match index % 4 {
        0 => theme.accent(),
        1 => theme.ok(),
        2 => theme.warn(),
        _ => theme.muted(),
    }
}

fn widgets_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

fn rows_needed(cells: usize, width: usize) -> usize {
    cells.div_ceil(width).max(1)
}

/// Breaks `head` + `body` into rows of `width` cells; continuation rows are indented by the
/// prefix so the text stays in its column.
fn wrap_spans<'a>(
    head: Vec<Span<'a>>,
    body: Vec<Span<'a>>,
    prefix: usize,
    width: usize,
) -> Vec<Line<'a>> {
    let mut rows = Vec::new();
    let mut row: Vec<Span<'a>> = head;
    let mut used = prefix.min(width);
    for span in body {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)));
                let indent = prefix.min(width.saturating_sub(1));
                row.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    rows.push(Line::from(row));
    rows
}

/// 12345678 → "12,345,678".
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use jiff::Timestamp;

    use crate::app::containers::RowKey;
    use crate::app::tests::fleet_app;
    use crate::app::{App, Pane};
    use crate::collect::logs::line::render as line;
    use crate::event::{AppEvent, HostEvent, HostId, LogBatch};
    use crate::sanitize::is_unsafe;
    use crate::ui::testing::{render, text};

    fn key(app: &mut App, code: KeyCode) {
        app.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn batch(app: &mut App, stream: u16, lines: &[(i64, &[u8])], paused: Option<&str>) {
        let view = app.logs.as_ref().expect("open view").id;
        let lines = lines
            .iter()
            .map(|(ms, raw)| {
                let at = Timestamp::from_millisecond(1_795_000_000_000 + ms).unwrap();
                line(at, stream == 1 && ms % 2 == 0, raw)
            })
            .collect();
        let b = LogBatch {
            view,
            stream,
            lines,
            duplicates: 0,
            paused: paused.map(str::to_owned),
        };
        app.update(AppEvent::Host(HostId(0), HostEvent::Logs(b)));
    }

    /// The api service's log view with JSON, levels and colours from two replicas.
    fn service_logs() -> App {
        let mut app = fleet_app(1);
        let row = RowKey::Service(HostId(0), Some("shop".into()), "api".into());
        let keys = app.container_keys();
        let i = keys.iter().position(|k| *k == row).unwrap();
        app.panes.containers.selection.select(&keys, i);
        key(&mut app, KeyCode::Char('l'));
        assert_eq!(app.pane, Pane::Logs);
        batch(
            &mut app,
            0,
            &[
                (
                    0,
                    br#"{"time":"10:00:00","level":"info","msg":"listening","port":8080}"#,
                ),
                (20, b"GET /health 200 0.4ms"),
                (
                    40,
                    br#"{"level":"error","msg":"db timeout","after_ms":5000,"pool":"main"}"#,
                ),
            ],
            None,
        );
        batch(
            &mut app,
            1,
            &[
                (10, b"WARN slow query took 812ms"),
                (30, b"\x1b[32mcolour\x1b[0m from the app \x1b]0;title\x07"),
            ],
            None,
        );
        batch(&mut app, 2, &[], Some("container exited (exit code 137)"));
        app
    }

    #[test]
    fn a_view_that_gets_nothing_says_for_how_long_and_that_the_link_is_slow() {
        let mut app = fleet_app(1);
        let mut v = crate::app::logs::tests::view(1, 100);
        v.opened_at = Some(app.now - jiff::SignedDuration::from_secs(45));
        app.logs = Some(v);
        app.pane = crate::app::Pane::Logs;
        let title = |app: &crate::app::App| {
            crate::ui::testing::text(&render(app, 120, 30))
                .lines()
                .nth(1)
                .unwrap_or_default()
                .to_owned()
        };
        let t = title(&app);
        assert!(t.contains("following · no line yet for 45s"), "{t}");
        assert!(!t.contains("link slow"), "{t}");
        app.hosts[0].rtt = Some(std::time::Duration::from_millis(2400));
        let t = title(&app);
        assert!(t.contains("link slow (round trip 2.4s)"), "{t}");
    }

    #[test]
    fn logs_80x24() {
        insta::assert_snapshot!(render(&service_logs(), 80, 24).backend());
    }

    #[test]
    fn logs_search_paused_with_timestamps_120x40() {
        let mut app = service_logs();
        for c in "/timeout".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        key(&mut app, KeyCode::Char('t'));
        let v = app.logs.as_ref().unwrap();
        assert!(!v.follow, "a search jumps to the match and pauses");
        let term = render(&app, 120, 40);
        // The match is drawn in the theme's `found` role.
        let buf = term.backend().buffer();
        let theme = crate::ui::theme::Theme::builtin("dark").unwrap();
        let row = (0..40u16)
            .find(|y| {
                text(&term)
                    .lines()
                    .nth(usize::from(*y))
                    .unwrap_or("")
                    .contains("db timeout")
            })
            .unwrap();
        let line = text(&term)
            .lines()
            .nth(usize::from(row))
            .unwrap()
            .to_owned();
        let x = line.find("timeout").unwrap();
        let x = u16::try_from(line[..x].chars().count()).unwrap();
        assert_eq!(buf[(x, row)].bg, theme.found().bg.unwrap());
        insta::assert_snapshot!(term.backend());
    }

    #[test]
    fn no_view_explains_how_to_open_one() {
        let mut app = fleet_app(1);
        app.pane = Pane::Logs;
        let t = text(&render(&app, 80, 24));
        assert!(t.contains("No log view open"), "{t}");
    }

    #[test]
    fn the_confirm_dialog_names_host_service_and_containers_80x24() {
        let mut app = fleet_app(1);
        let row = RowKey::Service(HostId(0), Some("shop".into()), "api".into());
        let keys = app.container_keys();
        let i = keys.iter().position(|k| *k == row).unwrap();
        app.panes.containers.selection.select(&keys, i);
        key(&mut app, KeyCode::Char('R'));
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn hostile_lines_never_put_a_control_character_on_screen() {
        const ALPHABET: &[&[u8]] = &[
            b"\x1b",
            b"[",
            b"]",
            b"P",
            b"\\",
            b"\x07",
            b"\xc2\x9b",
            b"\xc2\x9c",
            b"\xc2\x9d",
            b"\r",
            b"\t",
            b"\x08",
            b"\x00",
            b"\x7f",
            b"\xff",
            b"\xc3",
            b"{",
            b"\"",
            b";",
            b"m",
            b"2",
            b"31",
            b"J",
            b"H",
            b"a",
            b" ",
            b"\xe2\x80\xae",
            b"\xe6\xbc\xa2",
            b"level=error",
            b"\x1b[",
            b"\x1b]0;",
            b"\x1bP",
            b"\x1b[31m",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let mut app = service_logs();
            let lines: Vec<(i64, Vec<u8>)> = (0..40)
                .map(|i| {
                    let n = rng.next() % 60;
                    let raw = (0..n)
                        .flat_map(|_| {
                            ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize].to_vec()
                        })
                        .collect();
                    (100 + i, raw)
                })
                .collect();
            let refs: Vec<(i64, &[u8])> = lines.iter().map(|(t, r)| (*t, r.as_slice())).collect();
            batch(&mut app, 0, &refs, None);
            if round % 2 == 1 {
                key(&mut app, KeyCode::Char('w'));
                key(&mut app, KeyCode::Char('t'));
            }
            for (w, h) in [(80, 24), (120, 40)] {
                let term = render(&app, w, h);
                let buf = term.backend().buffer();
                for cell in buf.content() {
                    assert!(
                        !cell.symbol().chars().any(is_unsafe),
                        "control character in cell {:?} (round {round})",
                        cell.symbol()
                    );
                }
            }
        }
    }
}
