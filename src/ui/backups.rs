//! Backups pane: per host and source, the newest backup's age coloured by the verdict, the
//! count, the newest size and its trend, the retention slots, and what is running or wrong.
//! Enter opens a source: its recent backups and the output of its last triggered backup.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::backups::{self, BackupSource, BackupsView, Verdict};
use crate::app::hosts::HostState;
use crate::app::items::ItemRow as Row;
use crate::app::{App, Pane};
use crate::event::HostId;
use crate::text;

pub struct BackupsPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// KIND, NEWEST, COUNT, SIZE, SLOTS, VERDICT; SOURCE is sized from the width, STATUS takes the rest.
const FIXED: [u16; 6] = [10, 7, 5, 12, 20, 7];
const RIGHT: [usize; 3] = [2, 3, 4];

impl Widget for BackupsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        if let Some((host, index)) = app.panes.backups.detail
            && let Some(h) = app.hosts.get(host.0)
            && let Some(src) = h.backups.get(index)
        {
            return self.detail(h, index, src, area, buf);
        }
        let hosts = app.visible_hosts();
        let title = vec![Span::styled(" Backups ", theme.title())];
        let inner = super::pane_frame(app, theme, title, area, buf);
        if inner.height < 2 {
            return;
        }
        let rows = BackupsView::rows(&hosts, &app.filter_text(Pane::Backups));
        if rows.is_empty() {
            Paragraph::new(Line::from(Span::styled(
                "no backup sources: add [[host.backup]] entries to the config (see config.example.toml)",
                theme.muted(),
            )))
            .render(inner, buf);
            return;
        }
        let source_w = (inner.width * 20 / 100).clamp(12, 28);
        let mut fixed = vec![source_w];
        fixed.extend(FIXED);
        let w = widgets::widths(inner.width, &fixed);
        let header = [
            "SOURCE", "KIND", "NEWEST", "COUNT", "SIZE", "SLOTS", "VERDICT", "STATUS",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        let selected = (!keys.is_empty()).then(|| app.panes.backups.selection.index(&keys));
        let lines = rows
            .iter()
            .map(|(_, r)| match r {
                Row::Host(h) => self.host_row(h),
                Row::Item(h, i, s) => self.source_row(h.id, *i, s, &w),
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

impl BackupsPane<'_> {
    fn host_row(&self, h: &HostState) -> Line<'static> {
        let theme = self.theme;
        let mut spans = vec![Span::styled(
            format!("▾ {}  ", h.name),
            theme.accent().add_modifier(Modifier::BOLD),
        )];
        if h.backups.iter().any(|s| s.spec.policy.offsite) {
            let text = match backups::offsite(h) {
                Some((name, b)) => format!(
                    "offsite: {} old ({name})",
                    crate::text::ago(b.time, self.app.now)
                ),
                None => "offsite: none listed".to_owned(),
            };
            spans.push(Span::styled(text, theme.muted()));
        }
        Line::from(spans)
    }

    fn source_row(&self, host: HostId, index: usize, s: &BackupSource, w: &[u16]) -> Line<'static> {
        let (app, theme) = (self.app, self.theme);
        let now = app.now;
        let verdict = backups::verdict(s, now);
        let stale = s.observed.stale_age(now).is_some();
        let style = theme.verdict(verdict.severity(), stale);
        let snap = s.observed.latest();
        let newest = snap.and_then(|s| s.newest());
        let dash = || Span::styled("-", theme.muted());
        let age_cell =
            newest.map_or_else(dash, |b| Span::styled(crate::text::ago(b.time, now), style));
        let count = snap
            .filter(|s| s.listed_at.is_some())
            .map_or_else(dash, |s| Span::raw(s.backups.len().to_string()));
        let size = match (newest.and_then(|b| b.size), snap.and_then(backups::trend)) {
            (Some(n), Some((_, _, change))) if change.abs() >= 1.0 => {
                let arrow = if change < 0.0 { "▼" } else { "▲" };
                Span::raw(format!("{} {arrow}{:.0}%", text::bytes(n), change.abs()))
            }
            (Some(n), _) => Span::raw(text::bytes(n)),
            (None, _) => dash(),
        };
        let slots = snap
            .map(|sn| {
                backups::slots(&sn.backups, &s.spec.policy.keep, now)
                    .iter()
                    .map(|sl| format!("{}{}/{}", &sl.label[..1], sl.have, sl.want))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|t| !t.is_empty())
            .map_or_else(dash, Span::raw);
        let kind = if s.spec.policy.offsite {
            format!("{} ↗", s.spec.kind.name())
        } else {
            s.spec.kind.name().to_owned()
        };
        let mut line = columns(
            &w[..w.len() - 1],
            &RIGHT,
            vec![
                Span::styled(format!("  {}", s.spec.name), theme.text()),
                Span::styled(kind, theme.muted()),
                age_cell,
                count,
                size,
                slots,
                Span::styled(
                    verdict.label(),
                    theme.verdict(verdict.severity(), stale && verdict != Verdict::Unknown),
                ),
            ],
        );
        line.spans.push(Span::raw(" "));
        line.spans.push(self.status(host, index, s));
        line
    }

    /// What is happening: a trigger running here, a backup running on the host, the last
    /// error, or the worst finding.
    fn status(&self, host: HostId, index: usize, s: &BackupSource) -> Span<'static> {
        let (app, theme) = (self.app, self.theme);
        let now = app.now;
        if let Some(t) = app
            .jobs
            .transcript(host, crate::actions::JobKind::Backup, index)
            .filter(|t| t.end.is_none())
        {
            return Span::styled(
                format!(
                    "backing up (job {}, {})",
                    t.id,
                    crate::text::ago(t.started, now)
                ),
                theme.accent(),
            );
        }
        let snap = s.observed.latest();
        if let Some(r) = snap.and_then(|sn| backups::running_text(sn, now)) {
            return Span::styled(r, theme.accent());
        }
        if let Some(e) = s.observed.error() {
            return Span::styled(
                format!("could not read: {}", crate::sanitize::plain(e)),
                theme.warn(),
            );
        }
        match snap {
            None => Span::styled("not read yet", theme.muted()),
            Some(sn) => match backups::findings(&s.spec, sn, now)
                .into_iter()
                .max_by_key(|f| f.severity)
            {
                Some(f) => Span::styled(f.what, theme.severity(f.severity)),
                None => Span::styled(
                    format!(
                        "read {} ago in {:.1}s",
                        crate::text::ago(sn.observed_at, now),
                        sn.read_took.as_secs_f64()
                    ),
                    theme.muted(),
                ),
            },
        }
    }

    /// One source: policy, findings, recent backups (newest first) and the last trigger's output.
    fn detail(&self, h: &HostState, index: usize, s: &BackupSource, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let now = app.now;
        let title = vec![
            Span::styled(" Backups ", theme.title()),
            Span::styled(format!("· {} · {} ", h.name, s.spec.name), theme.accent()),
            widgets::freshness(&s.observed.freshness(now), theme),
            Span::raw(" "),
        ];
        let inner = super::pane_frame(app, theme, title, area, buf);
        let p = &s.spec.policy;
        let mut lines = Vec::new();
        let mut policy = vec![format!("{} source", s.spec.kind.name())];
        if let Some(m) = p.max_age {
            policy.push(format!("max age {}", text::age(m)));
        }
        policy.push(format!("min {} backups", p.min_count));
        policy.push(format!("size drop ≥ {:.0}% warns", p.size_drop_pct));
        if p.offsite {
            policy.push("offsite copy".into());
        }
        lines.push(Line::from(Span::styled(policy.join(" · "), theme.muted())));
        if let Some(e) = s.observed.error() {
            lines.push(Line::from(Span::styled(
                format!("could not read: {}", crate::sanitize::plain(e)),
                theme.warn(),
            )));
        }
        let snap = s.observed.latest();
        if let Some(sn) = snap {
            if let Some(r) = backups::running_text(sn, now) {
                lines.push(Line::from(Span::styled(r, theme.accent())));
            }
            if let Some(a) = backups::list_age(sn, now) {
                lines.push(Line::from(Span::styled(
                    format!(
                        "listed {} ago, before the repository was locked",
                        text::live_age(a)
                    ),
                    theme.muted(),
                )));
            }
            for f in backups::findings(&s.spec, sn, now) {
                lines.push(Line::from(Span::styled(
                    format!("! {}", f.what),
                    theme.severity(f.severity),
                )));
            }
        }
        let transcript = app
            .jobs
            .transcript(h.id, crate::actions::JobKind::Backup, index);
        // The backups list gets what the transcript leaves, at least a few rows.
        let reserve = transcript.map_or(0, |t| {
            (t.lines.len() + 2).min(usize::from(inner.height) / 2)
        });
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            format!(
                "{:<20} {:>7} {:>7} {:>8}  NAME",
                "STARTED (UTC)", "AGE", "SIZE", "TOOK"
            ),
            theme.header(),
        )));
        let room = usize::from(inner.height)
            .saturating_sub(lines.len() + reserve)
            .max(3);
        match snap {
            Some(sn) if !sn.backups.is_empty() => {
                for b in sn.backups.iter().rev().take(room) {
                    lines.push(Line::from(vec![
                        Span::raw(format!(
                            "{:<20} {:>7} {:>7} {:>8}  ",
                            b.time.strftime("%Y-%m-%d %H:%M:%S"),
                            crate::text::ago(b.time, now),
                            b.size.map_or("-".into(), text::bytes),
                            b.duration.map_or("-".into(), text::age),
                        )),
                        Span::styled(b.name.clone(), theme.muted()),
                    ]));
                }
            }
            _ => lines.push(Line::from(Span::styled("no backups listed", theme.muted()))),
        }
        if let Some(t) = transcript {
            let height = usize::from(inner.height);
            widgets::transcript(t, "backup", now, height, theme, &mut lines);
        }
        Paragraph::new(lines).render(inner, buf);
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    #[test]
    fn backups_120x30() {
        let mut app = fleet_app(1);
        crate::app::backups::tests::add_sources(&mut app);
        app.pane = Pane::Backups;
        insta::assert_snapshot!(render(&app, 120, 30).backend());
    }

    #[test]
    fn backups_detail_120x30() {
        let mut app = fleet_app(1);
        crate::app::backups::tests::add_sources(&mut app);
        app.pane = Pane::Backups;
        app.panes.backups.detail = Some((crate::event::HostId(0), 0));
        insta::assert_snapshot!(render(&app, 120, 30).backend());
    }
}
