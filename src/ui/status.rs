//! The tab bar (panes, fleet summary, read-only badge) and the status bar (filter input, the
//! last message, key hints).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme::Theme;
use super::widgets;
use crate::app::{App, Pane};
use crate::config::keymap::Action;
use crate::link::LinkState;

pub fn tabs(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let mut right = Vec::new();
    let down = app
        .hosts
        .iter()
        .filter(|h| matches!(h.link, LinkState::Down { .. }))
        .count();
    let connecting = app
        .hosts
        .iter()
        .filter(|h| h.link == LinkState::Connecting)
        .count();
    let n = app.host_ids().len();
    right.push(Span::styled(
        format!("{n} host{} ", if n == 1 { "" } else { "s" }),
        theme.muted(),
    ));
    if down > 0 {
        right.push(Span::styled(format!("{down} down "), theme.crit()));
    } else if connecting > 0 {
        right.push(Span::styled(
            format!("{connecting} connecting "),
            theme.warn(),
        ));
    }
    // The alerts' own count: a host down is one of them.
    let (crit, warn) = app.active_counts();
    if crit > 0 {
        right.push(Span::styled(format!("{crit} crit "), theme.crit()));
    }
    if warn > 0 {
        right.push(Span::styled(format!("{warn} warn "), theme.warn()));
    }
    if app.read_only {
        right.push(Span::styled(
            " READ-ONLY ",
            theme
                .warn()
                .add_modifier(ratatui::style::Modifier::REVERSED),
        ));
    }
    let right = Line::from(right).right_aligned();
    // Narrow terminals: the fleet's state matters more than the program's name, then more
    // than the names of the panes not shown (their numbers stay).
    let width = |l: &Line<'_>| u16::try_from(l.width()).unwrap_or(u16::MAX);
    let build = |name: bool, titles: bool| {
        let mut spans = Vec::new();
        if name {
            spans.push(Span::styled(" watchfloor ", theme.title()));
        }
        for (i, pane) in Pane::ALL.iter().enumerate() {
            let (style, text) = if *pane == app.pane {
                (
                    theme.tab_active(),
                    format!(" {} {} ", (i + 1) % 10, pane.title()),
                )
            } else if titles {
                (theme.tab(), format!(" {} {} ", (i + 1) % 10, pane.title()))
            } else {
                (theme.tab(), format!(" {} ", (i + 1) % 10))
            };
            spans.push(Span::styled(text, style));
        }
        Line::from(spans)
    };
    let fits = |l: &Line<'_>| width(l) + width(&right) <= area.width;
    let spans = [(true, true), (false, true)]
        .into_iter()
        .map(|(n, t)| build(n, t))
        .find(fits)
        .unwrap_or_else(|| build(false, false))
        .spans;
    let left = Line::from(spans);
    let used = width(&left);
    left.render(area, buf);
    if area.width > used + width(&right) {
        right.render(area, buf);
    }
}

pub fn bar(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.status());
    let filter = app.filter();
    let left = if filter.editing {
        format!(
            " filter: {}▏  (Enter keep · Esc clear)",
            crate::sanitize::plain(&filter.text)
        )
    } else if let Some(msg) = &app.status {
        format!(" {msg}")
    } else {
        let k = |a| app.keymap.hint(a);
        let hints: Vec<(String, &str)> = if app.pane == Pane::Logs && app.logs.is_some() {
            let matches = format!("{}/{}", k(Action::SearchOlder), k(Action::SearchNewer));
            vec![
                (k(Action::Filter), "search"),
                (matches, "match"),
                (k(Action::OnlyMatching), "only matching"),
                (k(Action::Timestamps), "time"),
                (k(Action::Wrap), "wrap"),
                (k(Action::Save), "save"),
                (k(Action::Restart), "restart"),
                (k(Action::Back), "close"),
                (k(Action::Help), "help"),
            ]
        } else {
            // Each pane names its own keys; the global ones frame them.
            let mut hints = vec![(k(Action::Help), "help"), (k(Action::Filter), "filter")];
            hints.extend(
                app.panes
                    .get(app.pane)
                    .hints()
                    .iter()
                    .filter(|(action, _)| app.offers(*action))
                    .map(|(action, what)| (k(*action), *what)),
            );
            if !app.jobs.running.is_empty() {
                hints.push((k(Action::CancelJob), "cancel job"));
            }
            hints.extend([
                (k(Action::Back), "back"),
                (k(Action::NextPane), "pane"),
                (k(Action::Quit), "quit"),
            ]);
            hints
        };
        let hints: Vec<String> = hints
            .iter()
            .map(|(key, what)| format!("{key} {what}"))
            .collect();
        format!(" {}", hints.join("  "))
    };
    Line::from(Span::styled(
        widgets::fit(&left, usize::from(area.width)),
        theme.status(),
    ))
    .render(area, buf);
}
