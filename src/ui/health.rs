//! Hosts pane: one row per host: CPU busy (with a bar), load 1/5/15 against the CPU count,
//! memory and swap used, uptime, and how old the reading is. Drilled into one host (Enter),
//! it adds that host's CPU history as a sparkline. Verdicts come from `app::health`; stale
//! readings are dimmed, never shown in the ok colour.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::hosts::{Health, HostState, age};
use crate::app::{App, Pane, health};

pub struct HealthPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// HOST, CPU, LOAD, MEM, SWAP, UP, AGE; the CPU bar takes the rest.
const FIXED: [u16; 7] = [12, 4, 14, 12, 11, 6, 8];
const RIGHT: [usize; 6] = [1, 2, 3, 4, 5, 6];

impl Widget for HealthPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let visible = app.visible_hosts();
        let hosts = health::hosts(&visible, &app.filter_text(Pane::Health));
        let inner = super::pane_frame(
            app,
            theme,
            vec![Span::styled(" Hosts ", theme.title())],
            area,
            buf,
        );
        let problems: Vec<(String, String)> = hosts
            .iter()
            .filter_map(|h| {
                let e = h.health.as_ref()?.observed.error()?;
                Some((h.name.clone(), e.to_owned()))
            })
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height < 2 {
            return;
        }
        // One host shown: its CPU history below the table.
        let one = match hosts.as_slice() {
            [h] => h.health.as_ref().filter(|x| !x.cpu.is_empty()),
            _ => None,
        };
        let rows = u16::try_from(hosts.len()).unwrap_or(u16::MAX);
        let (table_height, history_height) = match one {
            Some(_) if inner.height >= 10 => (rows + 2, 6),
            _ => (inner.height, 0),
        };
        let [table, history, _] = Layout::vertical([
            Constraint::Length(table_height),
            Constraint::Length(history_height),
            Constraint::Min(0),
        ])
        .areas(inner);
        let w = widgets::widths(table.width, &FIXED);
        let header = ["HOST", "CPU", "LOAD 1 5 15", "MEM", "SWAP", "UP", "AGE", ""];
        let list = widgets::table_header(&header, &w, &RIGHT, table, buf, theme);
        let ids: Vec<_> = hosts.iter().map(|h| h.id).collect();
        let selected = (!ids.is_empty()).then(|| app.panes.health.selection.index(&ids));
        let lines = hosts.iter().map(|h| self.row(h, &w)).collect();
        widgets::render_list(lines, selected, list, buf, theme);
        if let (Some(h), true) = (one, history.height > 0) {
            self.history(h, history, buf);
        }
    }
}

impl HealthPane<'_> {
    fn row(&self, host: &HostState, w: &[u16]) -> Line<'static> {
        let (app, theme) = (self.app, self.theme);
        let muted = |s: &str| Span::styled(s.to_owned(), theme.muted());
        let name = Span::styled(host.name.clone(), theme.text());
        let Some(h) = &host.health else {
            return columns(w, &RIGHT, vec![name]);
        };
        let Some(snap) = h.observed.latest() else {
            let why = if h.observed.error().is_some() {
                "failed"
            } else {
                "waiting"
            };
            return columns(w, &RIGHT, vec![name, muted(why)]);
        };
        let stale = h.observed.stale_age(app.now).is_some();
        let t = &app.thresholds;
        let (cpu_verdict, _) = health::cpu_severity(h, t, snap.observed_at);
        let cpu_style = theme.verdict(cpu_verdict, stale);
        let cpu = snap.cpu_pct.map_or_else(
            || muted("-"),
            |p| Span::styled(format!("{p:.0}%"), cpu_style),
        );
        // Load is per CPU: 2.0 on 2 CPUs is as busy as 1.0 on one.
        let per_cpu = snap.load[0] / f64::from(snap.cpus.max(1));
        let load_style = if per_cpu >= 1.0 {
            theme.verdict(crate::app::alerts::Severity::Warn, stale)
        } else {
            theme.muted()
        };
        let load = Span::styled(
            format!(
                "{:.2} {:.2} {:.2}",
                snap.load[0], snap.load[1], snap.load[2]
            ),
            load_style,
        );
        let mem = Span::styled(
            format!(
                "{:.0}% of {}",
                snap.mem_pct(),
                widgets::bytes(snap.mem_total_bytes)
            ),
            theme.verdict(health::memory_severity(snap, t), stale),
        );
        let swap = if snap.swap_total_bytes == 0 {
            muted("none")
        } else {
            Span::styled(
                format!(
                    "{}/{}",
                    widgets::bytes(snap.swap_used_bytes),
                    widgets::bytes(snap.swap_total_bytes)
                ),
                theme.text(),
            )
        };
        let reading = widgets::freshness(&h.observed.freshness(app.now), theme);
        let bar_width = usize::from(*w.last().unwrap_or(&4));
        let mut line = columns(
            &w[..w.len() - 1],
            &RIGHT,
            vec![
                name,
                cpu,
                load,
                mem,
                swap,
                muted(&widgets::age(snap.uptime)),
                reading,
            ],
        );
        line.spans.push(Span::raw(" "));
        let pct = snap.cpu_pct.unwrap_or_default();
        line.spans
            .extend(widgets::bar(pct, bar_width, cpu_style, theme));
        line
    }

    /// The host's CPU over the readings kept, newest on the right.
    fn history(&self, h: &Health, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let [label, chart] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let oldest = h.cpu.front().map(|(t, _)| age(*t, app.now));
        let text = format!(
            " CPU % over the last {} ({} readings) · mark {:.0}%",
            oldest.map_or_else(|| "-".to_owned(), widgets::age),
            h.cpu.len(),
            app.thresholds.cpu_warn_pct
        );
        Line::from(Span::styled(text, theme.muted())).render(label, buf);
        let width = usize::from(chart.width);
        let data: Vec<u64> = h
            .cpu
            .iter()
            .rev()
            .take(width)
            .rev()
            .map(|(_, p)| p.round() as u64)
            .collect();
        // Judged at the last reading, like the alert: an old reading does not grow its run.
        let last = h.cpu.back().map_or(app.now, |(t, _)| *t);
        let (verdict, _) = health::cpu_severity(h, &app.thresholds, last);
        let stale = h.observed.stale_age(app.now).is_some();
        Sparkline::default()
            .data(&data)
            .max(100)
            .style(theme.verdict(verdict, stale))
            .render(chart, buf);
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::{render, text};

    #[test]
    fn hosts_80x24() {
        let mut app = fleet_app(3);
        app.pane = Pane::Health;
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    #[test]
    fn hosts_120x40() {
        let mut app = fleet_app(3);
        app.pane = Pane::Health;
        insta::assert_snapshot!(render(&app, 120, 40).backend());
    }

    #[test]
    fn one_host_shows_its_cpu_history_and_a_stale_reading_is_marked() {
        let mut app = fleet_app(3);
        app.pane = Pane::Health;
        app.scope = Some(crate::event::HostId(2)); // down 5 minutes ago in the fixture
        let screen = text(&render(&app, 120, 40));
        assert!(screen.contains("CPU % over the last"), "{screen}");
        assert!(screen.contains("stale 5m"), "{screen}");
    }

    #[test]
    fn tiny_areas_do_not_panic() {
        let mut app = fleet_app(2);
        app.pane = Pane::Health;
        for (w, h) in [(0, 0), (1, 1), (10, 3), (40, 8)] {
            render(&app, w, h);
        }
    }
}
