//! Pure rendering of `&App` into a buffer: the layout (tabs, pane, status bar, overlays) lives
//! here, each pane in its own module. Reads state and `app.now`, never the clock; never mutates.

pub mod alerts;
pub mod backups;
pub mod confirm;
pub mod containers;
pub mod disks;
pub mod drills;
pub mod health;
pub mod help;
pub mod logs;
pub mod overview;
pub mod postgres;
pub mod status;
pub mod theme;
pub mod tunnels;
pub mod widgets;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use crate::app::{App, Pane};
use theme::Theme;

/// Smallest usable screen; below it only a notice is drawn.
const MIN_WIDTH: u16 = 40;
const MIN_HEIGHT: u16 = 8;

/// Draws the whole screen.
pub fn draw(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.text());
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("watchfloor needs {MIN_WIDTH}x{MIN_HEIGHT} at least");
        Paragraph::new(widgets::fit(&msg, usize::from(area.width)))
            .style(theme.warn())
            .render(area, buf);
        return;
    }
    let actions = confirm::actions_line(app, theme);
    let [tabs, body, actions_area, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(u16::from(actions.is_some())),
        Constraint::Length(1),
    ])
    .areas(area);
    status::tabs(app, theme, tabs, buf);
    match app.pane {
        Pane::Overview => overview::OverviewPane { app, theme }.render(body, buf),
        Pane::Containers => containers::ContainersPane { app, theme }.render(body, buf),
        Pane::Disks => disks::DisksPane { app, theme }.render(body, buf),
        Pane::Tunnels => tunnels::TunnelsPane { app, theme }.render(body, buf),
        Pane::Logs => logs::LogsPane { app, theme }.render(body, buf),
        Pane::Postgres => postgres::PostgresPane { app, theme }.render(body, buf),
        Pane::Health => health::HealthPane { app, theme }.render(body, buf),
        Pane::Backups => backups::BackupsPane { app, theme }.render(body, buf),
        Pane::Drills => drills::DrillsPane { app, theme }.render(body, buf),
        Pane::Alerts => alerts::AlertsPane { app, theme }.render(body, buf),
    }
    if let Some(line) = actions {
        line.render(actions_area, buf);
    }
    status::bar(app, theme, status, buf);
    let cancelling = app
        .jobs
        .confirm_cancel
        .and_then(|id| app.jobs.running.iter().find(|r| r.id == id));
    if let Some(action) = &app.jobs.confirm {
        confirm::ConfirmDialog { action, theme }.render(body, buf);
    } else if let Some(job) = cancelling {
        confirm::CancelDialog { job, theme }.render(body, buf);
    } else if app.help {
        // Over the whole screen: its scroll range is reckoned on the screen's height.
        help::HelpOverlay { app, theme }.render(area, buf);
    }
}

/// The frame of a pane: a top rule with the title on the left and the filter on the right.
/// Returns the inner area.
pub fn pane_frame(
    app: &App,
    theme: &Theme,
    title: Vec<Span<'_>>,
    area: Rect,
    buf: &mut Buffer,
) -> Rect {
    let mut block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border())
        .title(Line::from(title));
    let filter = app.filter();
    if filter.editing || !filter.text.is_empty() {
        let text = format!(
            " /{}{} ",
            crate::sanitize::plain(&filter.text),
            if filter.editing { "▏" } else { "" }
        );
        block = block.title(Line::from(Span::styled(text, theme.accent())).right_aligned());
    }
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

/// Wrapped messages (collector errors) in a bordered box at the bottom of `area`, if any.
/// Returns the area left above it.
pub fn notices(messages: &[(String, String)], theme: &Theme, area: Rect, buf: &mut Buffer) -> Rect {
    if messages.is_empty() || area.height < 6 {
        return area;
    }
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let lines: Vec<Line<'_>> = messages
        .iter()
        // Error text may quote what a host or a server sent: never raw.
        .flat_map(|(host, msg)| wrap(&crate::sanitize::plain(&format!("{host}: {msg}")), width))
        .map(|l| Line::from(Span::styled(l, theme.crit())))
        .collect();
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .min(area.height / 2)
        .saturating_add(2);
    let [rest, bottom] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(height)]).areas(area);
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(" problems ", theme.crit()));
    Paragraph::new(lines).block(block).render(bottom, buf);
    rest
}

/// Greedy word wrap by display width; words longer than a line are cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&widgets::fit(word, width));
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for pane snapshot tests: a fixed fleet, a fixed clock, a TestBackend.
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::app::App;
    use crate::ui::theme::Theme;

    pub fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let theme = Theme::builtin("dark").expect("dark");
        let mut term = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        term.draw(|f| super::draw(app, &theme, f.area(), f.buffer_mut()))
            .expect("draw");
        term
    }

    /// The rendered text, for assertions that are not snapshots.
    pub fn text(term: &Terminal<TestBackend>) -> String {
        let buf = term.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{render, text};
    use crate::app::App;
    use crate::app::tests::{fleet_app, settings};
    use jiff::Timestamp;

    #[test]
    fn a_frame_says_when_what_it_draws_from_the_clock_changes() {
        use crate::app::Pane;
        use std::time::Duration;
        let due = |app: &App| {
            crate::text::take_next_change();
            render(app, 120, 40);
            crate::text::take_next_change()
        };
        // The disks pane shows each host's reading age in seconds ("4s"): the next frame is
        // due within a second.
        let mut app = fleet_app(3);
        app.pane = Pane::Disks;
        let next = due(&app).expect("ages on screen");
        assert!(next <= Duration::from_secs(1), "{next:?}");
        // The overview of the same fleet: Docker's streams are live and the one old host's age
        // is in minutes, so no frame is due for a while.
        app.pane = Pane::Overview;
        let next = due(&app).expect("a minute age on screen");
        assert!(next > Duration::from_secs(1), "{next:?}");
        // A host still waiting for its first data shows no age: nothing is due.
        let mut empty = App::new(&settings(1), Timestamp::UNIX_EPOCH);
        empty.pane = Pane::Disks;
        assert_eq!(due(&empty), None, "{}", text(&render(&empty, 120, 40)));
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let app = fleet_app(2);
        for (w, h) in [(0, 0), (1, 1), (10, 3), (39, 7), (40, 8)] {
            render(&app, w, h);
        }
        let empty = App::new(&settings(1), Timestamp::UNIX_EPOCH);
        render(&empty, 10, 3);
    }

    #[test]
    fn help_is_generated_from_the_keymap() {
        let mut app = fleet_app(1);
        app.help = true;
        let screen = text(&render(&app, 120, 40));
        for line in [
            "q ctrl-c",
            "quit",
            "j down",
            "move down",
            "ctrl-r",
            "refresh now",
        ] {
            assert!(screen.contains(line), "help lacks {line:?}:\n{screen}");
        }
    }

    #[test]
    fn help_at_80x24_scrolls_to_its_last_line_and_fits_120x40_whole() {
        let mut app = fleet_app(1);
        app.help = true;
        app.screen = (80, 24);
        let top = text(&render(&app, 80, 24));
        assert!(top.contains("Help · 1–22 of"), "{top}");
        assert!(!top.contains("Remap keys"), "{top}");
        app.help_scroll = crate::app::help::max_scroll((80, 24), false);
        let bottom = render(&app, 80, 24);
        let t = text(&bottom);
        assert!(t.contains("Remap keys in the [keymap] table"), "{t}");
        assert!(t.contains("silence the alert for a while"), "{t}");
        insta::assert_snapshot!(bottom.backend());
        let whole = text(&render(&app, 120, 40));
        assert!(whole.contains(" Help · Esc closes "), "{whole}");
        for desc in crate::config::keymap::Action::ALL.iter().map(|a| a.desc()) {
            assert!(whole.contains(desc), "{desc:?} whole at 120x40:\n{whole}");
        }
    }

    #[test]
    fn keys_for_what_is_not_configured_are_not_advertised() {
        let mut app = fleet_app(1);
        let containers = app.hosts[0].containers.clone();
        app.hosts[0] = crate::app::postgres::tests::pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        app.hosts[0].containers = containers;
        app.pane = crate::app::Pane::Postgres;
        let last = |app: &crate::app::App| {
            text(&render(app, 120, 40))
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned()
        };
        let with = last(&app);
        assert!(with.contains("C cancel query"), "{with}");
        app.pane = crate::app::Pane::Containers;
        let with_docker = last(&app);
        assert!(with_docker.contains("R restart"), "{with_docker}");
        app.hosts[0].postgres.clear();
        app.hosts[0].containers = None;
        app.pane = crate::app::Pane::Postgres;
        let without = last(&app);
        assert!(
            !without.contains("cancel query") && !without.contains("terminate"),
            "{without}"
        );
        app.pane = crate::app::Pane::Containers;
        let no_docker = last(&app);
        assert!(
            !no_docker.contains("restart") && !no_docker.contains("logs"),
            "{no_docker}"
        );
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(
            super::wrap("no Docker socket at /var/run/docker.sock", 20),
            ["no Docker socket at", "/var/run/docker.sock"]
        );
    }
}
