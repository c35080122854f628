//! Alerts pane: everything `app::alerts` finds wrong across the fleet, worst first, one row
//! each: severity, host, where to look, since when (as the data says, else first seen), how
//! old the data is, and what, with its value against the threshold. Enter shows its pane.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::App;
use crate::app::alerts::{AlertKey, Severity};
use crate::app::mutes::Muted;
use crate::text;

pub struct AlertsPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// SEV, HOST, WHERE, SINCE, DATA; WHAT takes the rest.
const FIXED: [u16; 5] = [5, 14, 11, 8, 9];
const RIGHT: [usize; 2] = [3, 4];

impl Widget for AlertsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let (crit, warn) = app.active_counts();
        let muted = app.alerts.len() - crit - warn;
        let title = vec![
            Span::styled(" Alerts ", theme.title()),
            Span::styled(
                format!("· {crit} crit · {warn} warn · {muted} acknowledged or silenced "),
                theme.muted(),
            ),
        ];
        let inner = super::pane_frame(app, theme, title, area, buf);
        if inner.height < 2 {
            return;
        }
        let rows = app.panes.alerts.rows(&app.alerts);
        if rows.is_empty() {
            let text = if app.alerts.is_empty() {
                "nothing is wrong"
            } else {
                "no alert matches the filter"
            };
            Paragraph::new(Line::from(Span::styled(text, theme.ok()))).render(inner, buf);
            return;
        }
        let w = widgets::widths(inner.width, &FIXED);
        let header = ["SEV", "HOST", "WHERE", "SINCE", "DATA", "WHAT"];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let keys: Vec<AlertKey> = rows.iter().map(|a| a.key()).collect();
        let selected = Some(app.panes.alerts.selection.index(&keys));
        let now = app.now;
        let lines = rows
            .iter()
            .map(|a| {
                let stale = a.stale.is_some();
                let state = app.mutes.state(a, now);
                let style = match state {
                    Muted::No => theme.verdict(a.severity, stale),
                    _ => theme.muted(),
                };
                let mark = match state {
                    Muted::No => String::new(),
                    Muted::Acked(m) => format!("ack {} · ", crate::sanitize::plain(&m.by)),
                    Muted::Silenced(m) => format!(
                        "silenced {} more · ",
                        m.until
                            .map(|u| crate::text::left(u, now))
                            .unwrap_or_default()
                    ),
                };
                let sev = match a.severity {
                    Severity::Crit => "CRIT",
                    Severity::Warn => "warn",
                    Severity::Ok => "ok",
                };
                let since = app
                    .first_seen
                    .since(a)
                    .map_or_else(|| "–".to_owned(), |t| crate::text::ago(t, now));
                let data = a
                    .stale
                    .map_or_else(|| "live".to_owned(), |d| format!("{} old", text::age(d)));
                let place = serde_json::to_value(a.domain)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let mut line = columns(
                    &w[..w.len() - 1],
                    &RIGHT,
                    vec![
                        Span::styled(sev, style),
                        Span::raw(crate::sanitize::plain(&a.host_name)),
                        Span::styled(place, theme.muted()),
                        Span::raw(since),
                        Span::styled(data, if stale { theme.warn() } else { theme.muted() }),
                    ],
                );
                line.spans.push(Span::raw(" "));
                line.spans.push(Span::styled(
                    format!("{mark}{}", crate::sanitize::plain(&a.what)),
                    style,
                ));
                line
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    #[test]
    fn alerts_120x30() {
        let mut app = fleet_app(2);
        crate::app::drills::tests::add_drills(&mut app);
        app.first_seen.track(&app.alerts, app.now);
        app.pane = Pane::Alerts;
        // The second row acknowledged, the third silenced.
        let (ack, quiet) = (app.alerts[1].clone(), app.alerts[2].clone());
        app.mutes.toggle_ack(&ack, "alice", app.now);
        let until = app.now + jiff::SignedDuration::from_hours(2);
        app.mutes.toggle_silence(&quiet, "bob", app.now, until);
        insta::assert_snapshot!(render(&app, 120, 30).backend());
    }
}
