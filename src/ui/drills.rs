//! Drills pane: per host and drill, the last outcome and its age, RTO and RPO of the last
//! pass, when it is next due (or how long overdue), RTO over the passing runs as a sparkline,
//! and what runs now. Enter opens a drill: its recipe, the last run step by step with its
//! checks, the history, and the output of the job started here.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::actions::history::{CheckResult, DrillOutcome, DrillRun};
use crate::app::alerts::Severity;
use crate::app::drills::{DrillState, DrillsView, Due, secs_text};
use crate::app::hosts::HostState;
use crate::app::items::ItemRow as Row;
use crate::app::{App, Pane};
use crate::event::HostId;
use crate::text;

pub struct DrillsPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// SOURCE, LAST, RTO, RPO, NEXT DUE, RTO TREND; DRILL is sized from the width, STATUS takes the rest.
const FIXED: [u16; 6] = [12, 20, 7, 7, 14, 12];
const RIGHT: [usize; 2] = [3, 4];

/// A sparkline of `values` in at most `width` cells (the newest on the right).
pub fn spark(values: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let shown = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = (
        shown.iter().copied().min().unwrap_or(0),
        shown.iter().copied().max().unwrap_or(0),
    );
    shown
        .iter()
        .map(|v| {
            let i = if hi == lo {
                3
            } else {
                ((v - lo) * 7 / (hi - lo)) as usize
            };
            BARS[i.min(7)]
        })
        .collect()
}

fn outcome_style(theme: &Theme, o: DrillOutcome) -> Style {
    match o {
        DrillOutcome::Pass => theme.ok(),
        DrillOutcome::Fail | DrillOutcome::CouldNotVerify | DrillOutcome::TimedOut => {
            theme.severity(Severity::Crit)
        }
        _ => theme.muted(),
    }
}

impl Widget for DrillsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        if let Some((host, index)) = app.panes.drills.detail
            && let Some(h) = app.hosts.get(host.0)
            && let Some(d) = h.drills.get(index)
        {
            return self.detail(h, index, d, area, buf);
        }
        let hosts = app.visible_hosts();
        let title = vec![Span::styled(" Restore drills ", theme.title())];
        let inner = super::pane_frame(app, theme, title, area, buf);
        if inner.height < 2 {
            return;
        }
        let rows = DrillsView::rows(&hosts, &app.filter_text(Pane::Drills));
        if rows.is_empty() {
            Paragraph::new(Line::from(Span::styled(
                "no restore drills: add [[drill]] entries to the config (see config.example.toml)",
                theme.muted(),
            )))
            .render(inner, buf);
            return;
        }
        let drill_w = (inner.width * 18 / 100).clamp(10, 24);
        let mut fixed = vec![drill_w];
        fixed.extend(FIXED);
        let w = widgets::widths(inner.width, &fixed);
        let header = [
            "DRILL",
            "SOURCE",
            "LAST",
            "RTO",
            "RPO",
            "NEXT DUE",
            "RTO TREND",
            "STATUS",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        let selected = (!keys.is_empty()).then(|| app.panes.drills.selection.index(&keys));
        let lines = rows
            .iter()
            .map(|(_, r)| match r {
                Row::Host(h) => Line::from(Span::styled(
                    format!("▾ {}", h.name),
                    theme.accent().add_modifier(Modifier::BOLD),
                )),
                Row::Item(h, i, d) => self.drill_row(h.id, *i, d, &w),
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

impl DrillsPane<'_> {
    fn drill_row(&self, host: HostId, index: usize, d: &DrillState, w: &[u16]) -> Line<'static> {
        let (app, theme) = (self.app, self.theme);
        let now = app.now;
        let dash = || Span::styled("–", theme.muted());
        let last = d.last().map_or_else(dash, |r| {
            Span::styled(
                format!(
                    "{} {} ago",
                    r.outcome.label(),
                    crate::text::ago(r.started, now)
                ),
                outcome_style(theme, r.outcome),
            )
        });
        let pass = d.last_pass();
        let due_style = match d.due(now) {
            Due::At(_) => theme.muted(),
            _ => theme.severity(Severity::Warn),
        };
        let trend = d.rto_trend();
        let width = usize::from(w.get(6).copied().unwrap_or(12));
        let mut line = columns(
            &w[..w.len() - 1],
            &RIGHT,
            vec![
                Span::styled(format!("  {}", d.spec.name), theme.text()),
                Span::styled(d.spec.source_name.clone(), theme.muted()),
                last,
                pass.map_or_else(dash, |p| Span::raw(secs_text(p.rto_s))),
                pass.map_or_else(dash, |p| Span::raw(secs_text(p.rpo_s))),
                Span::styled(d.due_text(now), due_style),
                if trend.is_empty() {
                    dash()
                } else {
                    Span::styled(spark(&trend, width), theme.accent())
                },
            ],
        );
        line.spans.push(Span::raw(" "));
        line.spans.push(self.status(host, index, d));
        line
    }

    fn status(&self, host: HostId, index: usize, d: &DrillState) -> Span<'static> {
        let (app, theme) = (self.app, self.theme);
        if let Some(run) = app.jobs.running.iter().find(|r| {
            r.action.host == host
                && r.action.target.item() == Some((crate::actions::JobKind::Drill, index))
        }) {
            return Span::styled(
                format!(
                    "running (job {}, {}){}",
                    run.id,
                    crate::text::ago(run.confirmed_at, app.now),
                    run.step
                        .as_ref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                ),
                theme.accent(),
            );
        }
        match d.last() {
            None => Span::styled(
                format!(
                    "{} → {} · every {}",
                    d.spec.restore.name(),
                    d.spec.target_text(),
                    text::age(d.spec.every)
                ),
                theme.muted(),
            ),
            Some(r) if r.outcome == DrillOutcome::Pass => Span::styled(
                format!(
                    "{} checks passed{}",
                    r.checks.len(),
                    r.restored_bytes
                        .map(|b| format!(" · {} restored", text::bytes(b)))
                        .unwrap_or_default()
                ),
                theme.muted(),
            ),
            Some(r) => Span::styled(
                crate::sanitize::plain(r.reason.as_deref().unwrap_or("")),
                outcome_style(theme, r.outcome),
            ),
        }
    }

    fn detail(&self, h: &HostState, index: usize, d: &DrillState, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let now = app.now;
        let title = vec![
            Span::styled(" Restore drills ", theme.title()),
            Span::styled(format!("· {} · {} ", h.name, d.spec.name), theme.accent()),
        ];
        let inner = super::pane_frame(app, theme, title, area, buf);
        let s = &d.spec;
        let mut lines = vec![Line::from(Span::styled(
            format!(
                "newest backup of {} · {} into the {} · {} checks · every {} · timeout {}",
                s.source_name,
                s.restore.name(),
                s.target_text(),
                s.checks.len(),
                text::age(s.every),
                text::age(s.timeout)
            ),
            theme.muted(),
        ))];
        lines.push(Line::from(Span::styled(
            format!("next due: {}", d.due_text(now)),
            match d.due(now) {
                Due::At(_) => theme.muted(),
                _ => theme.severity(Severity::Warn),
            },
        )));
        if let Some(r) = d.last() {
            lines.push(Line::default());
            self.run_lines(r, &mut lines);
        }
        let transcript = app
            .jobs
            .transcript(h.id, crate::actions::JobKind::Drill, index);
        let reserve = transcript.map_or(0, |t| {
            (t.lines.len() + 2).min(usize::from(inner.height) / 3)
        });
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            format!(
                "{:<20} {:<17} {:>7} {:>7} {:>9}  BY",
                "STARTED (UTC)", "OUTCOME", "RTO", "RPO", "SIZE"
            ),
            theme.header(),
        )));
        let room = usize::from(inner.height)
            .saturating_sub(lines.len() + reserve)
            .max(2);
        if d.history.is_empty() {
            lines.push(Line::from(Span::styled("never run", theme.muted())));
        }
        for r in d.history.iter().rev().take(room) {
            lines.push(Line::from(vec![
                Span::raw(format!("{:<20} ", r.started.strftime("%Y-%m-%d %H:%M:%S"))),
                Span::styled(
                    format!("{:<17}", r.outcome.label()),
                    outcome_style(theme, r.outcome),
                ),
                Span::raw(format!(
                    " {:>7} {:>7} {:>9}  ",
                    secs_text(r.rto_s),
                    secs_text(r.rpo_s),
                    r.restored_bytes.map_or("–".into(), text::bytes)
                )),
                Span::styled(
                    format!(
                        "{}{}",
                        crate::sanitize::plain(&r.user),
                        if r.headless { " (headless)" } else { "" }
                    ),
                    theme.muted(),
                ),
            ]));
        }
        if let Some(t) = transcript {
            let height = usize::from(inner.height);
            widgets::transcript(t, "drill", now, height, theme, &mut lines);
        }
        Paragraph::new(lines).render(inner, buf);
    }

    /// The last run: outcome, backup, steps, RTO/RPO, checks.
    fn run_lines(&self, r: &DrillRun, lines: &mut Vec<Line<'static>>) {
        let (app, theme) = (self.app, self.theme);
        let mut head = vec![
            Span::styled("last run ", theme.header()),
            Span::styled(
                r.outcome.label().to_owned(),
                outcome_style(theme, r.outcome),
            ),
            Span::raw(format!(
                " · {} ago by {}{}",
                crate::text::ago(r.started, app.now),
                crate::sanitize::plain(&r.user),
                if r.headless { " (headless)" } else { "" }
            )),
        ];
        if let Some(step) = &r.step
            && r.outcome != DrillOutcome::Pass
        {
            head.push(Span::raw(format!(" · in step {step}")));
        }
        lines.push(Line::from(head));
        if let Some(why) = &r.reason {
            lines.push(Line::from(Span::styled(
                format!("  {}", crate::sanitize::plain(why)),
                outcome_style(theme, r.outcome),
            )));
        }
        if let Some(b) = &r.backup {
            lines.push(Line::from(Span::raw(format!(
                "  backup {} taken {}",
                crate::sanitize::plain(&b.name),
                b.time.strftime("%Y-%m-%d %H:%M:%S UTC")
            ))));
        }
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|s| format!("{} {}", s.step, secs_text(Some(s.secs))))
            .collect();
        lines.push(Line::from(Span::raw(format!(
            "  RTO {} · RPO {}{} · {} restored · steps: {}",
            secs_text(r.rto_s),
            secs_text(r.rpo_s),
            r.rpo_from
                .as_ref()
                .map(|f| format!(" ({})", crate::sanitize::plain(f)))
                .unwrap_or_default(),
            r.restored_bytes.map_or("–".into(), text::bytes),
            steps.join(", ")
        ))));
        for c in &r.checks {
            let (mark, style) = match c.result {
                CheckResult::Pass => ("✓", theme.ok()),
                CheckResult::Fail => ("✗", theme.severity(Severity::Crit)),
                CheckResult::CouldNotVerify => ("?", theme.severity(Severity::Warn)),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {mark} "), style),
                Span::raw(crate::sanitize::plain(&c.name)),
                Span::styled(
                    format!(
                        "{} · {}",
                        c.value
                            .as_ref()
                            .map(|v| format!(" = {}", crate::sanitize::plain(v)))
                            .unwrap_or_default(),
                        crate::sanitize::plain(&c.detail)
                    ),
                    theme.muted(),
                ),
            ]));
        }
        if let Some(left) = &r.left_behind {
            lines.push(Line::from(Span::styled(
                format!("  ! left behind: {}", crate::sanitize::plain(left)),
                theme.warn(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spark;
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    #[test]
    fn drills_120x30() {
        let mut app = fleet_app(1);
        crate::app::drills::tests::add_drills(&mut app);
        app.pane = Pane::Drills;
        insta::assert_snapshot!(render(&app, 120, 30).backend());
    }

    #[test]
    fn drills_detail_100x30() {
        let mut app = fleet_app(1);
        crate::app::drills::tests::add_drills(&mut app);
        app.pane = Pane::Drills;
        app.panes.drills.detail = Some((crate::event::HostId(0), 0));
        insta::assert_snapshot!(render(&app, 100, 30).backend());
    }

    #[test]
    fn the_sparkline_scales_between_the_extremes_and_keeps_the_newest() {
        assert_eq!(spark(&[1, 5, 9], 10), "▁▄█");
        assert_eq!(spark(&[7, 7], 10), "▄▄");
        assert_eq!(spark(&[1, 2, 3, 100], 2), "▁█");
        assert_eq!(spark(&[], 4), "");
    }
}
