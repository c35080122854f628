//! Containers pane: hosts → compose projects → services → containers, with replicas
//! running/total, state, health, restarts, uptime and image; a details popup on Enter; collector
//! errors in a box at the bottom.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::containers::{self, Counts, Row, RowKind};
use crate::app::hosts::{HostState, age};
use crate::app::{App, Pane};
use crate::collect::containers::{Container, ContainerState, Health};
use crate::link::LinkState;

pub struct ContainersPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// STATE, HEALTH, RST, UP, CPU, MEM; NAME is sized from the width, IMAGE takes the rest.
const FIXED: [u16; 6] = [11, 9, 3, 6, 6, 6];
/// CPU/MEM samples older than this (a few stats intervals) are stale.
const STATS_STALE: std::time::Duration = std::time::Duration::from_secs(10);
const RIGHT: [usize; 4] = [3, 4, 5, 6];

impl Widget for ContainersPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let hosts = app.visible_hosts();
        let mut title = vec![Span::styled(" Containers ", theme.title())];
        if let [only] = hosts.as_slice() {
            title.push(Span::styled(format!("· {} ", only.name), theme.accent()));
        }
        let sort = app.panes.containers.sort;
        if sort != crate::app::containers::Sort::default() {
            title.push(Span::styled(
                format!(
                    "· by {} {}",
                    sort.by.label(),
                    if sort.reverse { "↑ " } else { "↓ " }
                ),
                theme.muted(),
            ));
        }
        let inner = super::pane_frame(app, theme, title, area, buf);
        let problems: Vec<(String, String)> = hosts
            .iter()
            .filter_map(|h| Some((h.name.clone(), h.containers.as_ref()?.error()?.to_owned())))
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height < 2 {
            return;
        }
        let rows = containers::rows(
            &hosts,
            &app.panes.containers.folded,
            &app.filter_text(Pane::Containers),
            app.panes.containers.sort,
        );
        // NAME as wide as the longest name with its indentation (20 to 35 % of the pane):
        // what NAME does not need, IMAGE gets.
        let longest = rows
            .iter()
            .map(|r| {
                let label = match &r.kind {
                    RowKind::Container(c) => c.name.chars().count(),
                    // Group labels carry a fold marker.
                    RowKind::Service { name, .. } => name.chars().count() + 2,
                    RowKind::Project { name, .. } => {
                        name.unwrap_or("(no compose project)").chars().count() + 2
                    }
                    RowKind::Host(h) => h.name.chars().count() + 2,
                };
                label + 2 * usize::from(r.depth)
            })
            .max()
            .unwrap_or(0);
        let name_w = u16::try_from(longest + 1)
            .unwrap_or(u16::MAX)
            .clamp(20, (inner.width * 35 / 100).max(20));
        let mut fixed = vec![name_w];
        fixed.extend(FIXED);
        let w = widgets::widths(inner.width, &fixed);
        let header = [
            "NAME", "STATE", "HEALTH", "RST", "UP", "CPU", "MEM", "IMAGE",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);

        if rows.is_empty() {
            let msg = if app.filter().text.is_empty() {
                "no containers"
            } else {
                "nothing matches the filter"
            };
            buf.set_line(
                list.x,
                list.y,
                &Line::from(Span::styled(msg, theme.muted())),
                list.width,
            );
            return;
        }
        let keys: Vec<_> = rows.iter().map(|r| r.key.clone()).collect();
        let selected = app.panes.containers.selection.index(&keys);
        let lines = rows.iter().map(|r| self.row(r, &w)).collect();
        widgets::render_list(lines, Some(selected), list, buf, theme);

        if let Some((host, id)) = &app.panes.containers.detail
            && let Some(c) = containers::find(&app.hosts, *host, id)
        {
            self.detail(c, &app.hosts[host.0], area, buf);
        }
    }
}

impl ContainersPane<'_> {
    fn row(&self, row: &Row<'_>, w: &[u16]) -> Line<'static> {
        let line = self.row_cells(row, w);
        // A group's or container's state from a stream that stopped: dimmed, never "ok".
        let host = match &row.key {
            crate::app::containers::RowKey::Project(h, _)
            | crate::app::containers::RowKey::Service(h, _, _)
            | crate::app::containers::RowKey::Container(h, _) => Some(*h),
            crate::app::containers::RowKey::Host(_) => None,
        };
        let stale = host
            .and_then(|h| self.app.hosts.get(h.0))
            .and_then(|h| h.containers.as_ref())
            .is_some_and(|c| c.stale_age(self.app.now).is_some());
        if stale {
            widgets::dimmed(line, self.theme)
        } else {
            line
        }
    }

    fn row_cells(&self, row: &Row<'_>, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        let indent = "  ".repeat(usize::from(row.depth));
        let marker = if row.folded { "▸ " } else { "▾ " };
        match &row.kind {
            RowKind::Host(h) => self.host_row(h, &format!("{marker}{}", h.name), w),
            RowKind::Project { name, counts } => {
                let label = format!("{indent}{marker}{}", name.unwrap_or("(no compose project)"));
                self.group_row(label, *counts, w)
            }
            RowKind::Service { name, counts } => {
                self.group_row(format!("{indent}{marker}{name}"), *counts, w)
            }
            RowKind::Container(c) => {
                let (state, style) = state_cell(c, theme);
                let up = match (c.state, c.started_at) {
                    (ContainerState::Running, Some(t)) => crate::text::ago(t, self.app.now),
                    _ => "-".to_owned(),
                };
                let (cpu, mem) = self.stats_cells(c);
                let restarts = Span::styled(
                    c.restart_count.to_string(),
                    if c.restart_count > 0 {
                        theme.warn()
                    } else {
                        theme.muted()
                    },
                );
                columns(
                    w,
                    &RIGHT,
                    vec![
                        Span::styled(format!("{indent}{}", c.name), theme.text()),
                        Span::styled(state, style),
                        health_cell(c.health, theme),
                        restarts,
                        Span::styled(up, theme.muted()),
                        cpu,
                        mem,
                        Span::styled(c.image.clone(), theme.muted()),
                    ],
                )
            }
        }
    }

    fn group_row(&self, label: String, n: Counts, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        let replicas = Span::styled(
            format!("{}/{}", n.running, n.total),
            if n.running < n.total {
                theme.warn()
            } else {
                theme.ok()
            },
        );
        let health = if n.unhealthy > 0 {
            Span::styled(format!("{} unhlth", n.unhealthy), theme.crit())
        } else {
            Span::raw("")
        };
        let restarts = if n.restarts > 0 {
            Span::styled(n.restarts.to_string(), theme.warn())
        } else {
            Span::raw("")
        };
        columns(
            w,
            &RIGHT,
            vec![
                Span::styled(label, theme.accent()),
                replicas,
                health,
                restarts,
                Span::raw(""),
                Span::raw(""),
                Span::raw(""),
                Span::raw(""),
            ],
        )
    }

    /// CPU share of a core and memory, from the host's last sample; "-" when not sampled.
    fn stats_cells(&self, c: &Container) -> (Span<'static>, Span<'static>) {
        let theme = self.theme;
        let found = self
            .app
            .hosts
            .iter()
            .filter_map(|h| h.stats.as_ref())
            .find_map(|s| s.stats.get(&c.id).map(|x| (x, s.observed_at)));
        // Numbers that stopped coming are shown dimmed in the stale colour, never as current.
        let old = found.is_some_and(|(_, at)| {
            let a = age(at, self.app.now);
            if a <= STATS_STALE {
                crate::text::changes_in(STATS_STALE - a);
            }
            a > STATS_STALE
        });
        let sample = found.map(|(x, _)| x);
        let (cpu, mem) = self.stats_text(c, sample);
        if old {
            let stale = theme.stale().add_modifier(ratatui::style::Modifier::DIM);
            (cpu.style(stale), mem.style(stale))
        } else {
            (cpu, mem)
        }
    }

    fn stats_text(
        &self,
        c: &Container,
        sample: Option<&crate::collect::stats::ContainerStats>,
    ) -> (Span<'static>, Span<'static>) {
        let theme = self.theme;
        match sample {
            Some(s) if c.state == ContainerState::Running => {
                let (cpu, hot, mem) = crate::app::containers::stats_shown(s);
                let cpu = match cpu {
                    Some(p) if hot => Span::styled(p, theme.warn()),
                    Some(p) => Span::styled(p, theme.muted()),
                    None => Span::styled("…", theme.muted()),
                };
                (cpu, Span::styled(mem, theme.muted()))
            }
            _ => (
                Span::styled("-", theme.muted()),
                Span::styled("-", theme.muted()),
            ),
        }
    }

    fn host_row(&self, h: &HostState, label: &str, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        let label = Span::styled(
            label.to_owned(),
            theme.accent().add_modifier(ratatui::style::Modifier::BOLD),
        );
        let observed = h.containers.as_ref();
        let snapshot = observed.and_then(|o| o.latest());
        let counts = snapshot
            .map(|s| Counts::of(&s.containers))
            .unwrap_or_default();
        let about = match (&h.link, observed, snapshot) {
            (LinkState::Down { kind, .. }, _, _) => {
                Span::styled(format!("link {} (see below)", kind.label()), theme.crit())
            }
            (LinkState::Connecting, _, _) => Span::styled("connecting…", theme.warn()),
            (_, None, _) => Span::styled("Docker not watched on this host", theme.muted()),
            (_, Some(o), _) if o.error().is_some() => {
                Span::styled("Docker unavailable (see below)", theme.crit())
            }
            (_, _, Some(s)) => Span::styled(format!("Docker {}", s.engine), theme.muted()),
            (_, _, None) => Span::styled("listing…", theme.muted()),
        };
        let replicas = if snapshot.is_some() {
            Span::styled(
                format!("{}/{}", counts.running, counts.total),
                if counts.running < counts.total {
                    theme.warn()
                } else {
                    theme.ok()
                },
            )
        } else {
            Span::raw("")
        };
        let health = if counts.unhealthy > 0 {
            Span::styled(format!("{} unhlth", counts.unhealthy), theme.crit())
        } else {
            Span::raw("")
        };
        // What is known about the host takes the place of the per-container columns.
        let mut line = columns(&w[..3], &RIGHT, vec![label, replicas, health]);
        if let Some(o) = observed {
            line.spans.push(Span::raw(" "));
            line.spans
                .push(widgets::freshness(&o.freshness(self.app.now), theme));
            line.spans.push(Span::styled(" · ", theme.muted()));
        } else {
            line.spans.push(Span::raw(" "));
        }
        line.spans.push(about);
        line
    }

    fn detail(&self, c: &Container, host: &HostState, area: Rect, buf: &mut Buffer) {
        let (theme, now) = (self.theme, self.app.now);
        let when = |t: Option<jiff::Timestamp>| match t {
            Some(t) => format!(
                "{} ({} ago)",
                t.strftime("%Y-%m-%d %H:%M:%S UTC"),
                crate::text::ago(t, now)
            ),
            None => "-".to_owned(),
        };
        let (state, state_style) = state_cell(c, theme);
        let field = |k: &'static str, v: String, s: Style| {
            Line::from(vec![
                Span::styled(format!("{k:<10}"), theme.muted()),
                Span::styled(v, s),
            ])
        };
        let mut lines = vec![
            field("host", host.name.clone(), theme.text()),
            field("id", c.id.chars().take(12).collect(), theme.text()),
            field("image", c.image.clone(), theme.text()),
            field(
                "project",
                c.project.clone().unwrap_or_else(|| "-".into()),
                theme.text(),
            ),
            field(
                "service",
                c.service.clone().unwrap_or_else(|| "-".into()),
                theme.text(),
            ),
            field(
                "replica",
                c.replica.map_or_else(|| "-".into(), |n| n.to_string()),
                theme.text(),
            ),
            field("state", state, state_style),
            field(
                "health",
                c.health.map_or("no healthcheck", Health::as_str).to_owned(),
                health_cell(c.health, theme).style,
            ),
            field(
                "restarts",
                format!("{} (by the restart policy)", c.restart_count),
                theme.text(),
            ),
            field("started", when(c.started_at), theme.text()),
            field("finished", when(c.finished_at), theme.text()),
        ];
        if let Some(code) = c.exit_code {
            lines.push(field(
                "last exit",
                format!("code {code} at {}", when(c.finished_at)),
                if code == 0 {
                    theme.text()
                } else {
                    theme.crit()
                },
            ));
        }
        if c.oom_killed {
            lines.push(field(
                "oom",
                "killed by the kernel for lack of memory".into(),
                theme.crit(),
            ));
        }
        let popup = widgets::centered(area, 72, u16::try_from(lines.len()).unwrap_or(20) + 2);
        Clear.render(popup, buf);
        let block = Block::bordered()
            .border_style(theme.border_focused())
            .title(Span::styled(
                format!(" {} · Esc closes ", c.name),
                theme.title(),
            ));
        Paragraph::new(lines).block(block).render(popup, buf);
    }
}

/// "running", "exited(3)", "exited(137) oom", ... and its severity.
fn state_cell(c: &Container, theme: &Theme) -> (String, Style) {
    let text = match (c.state, c.exit_code) {
        (ContainerState::Exited, Some(code)) if c.oom_killed => format!("exited({code}) oom"),
        (ContainerState::Exited, Some(code)) => format!("exited({code})"),
        (ContainerState::Restarting, Some(code)) => format!("restart({code})"),
        (s, _) => s.as_str().to_owned(),
    };
    let style = match c.state {
        ContainerState::Running => match c.health {
            Some(Health::Unhealthy) => theme.crit(),
            Some(Health::Starting) => theme.warn(),
            _ => theme.ok(),
        },
        ContainerState::Exited if c.exit_code == Some(0) && !c.oom_killed => theme.muted(),
        ContainerState::Created | ContainerState::Paused | ContainerState::Removing => theme.warn(),
        _ => theme.crit(),
    };
    (text, style)
}

fn health_cell(h: Option<Health>, theme: &Theme) -> Span<'static> {
    match h {
        None => Span::raw(""),
        Some(Health::Healthy) => Span::styled("healthy", theme.ok()),
        Some(Health::Starting) => Span::styled("starting", theme.warn()),
        Some(Health::Unhealthy) => Span::styled("unhealthy", theme.crit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::fleet_app;
    use crate::collect::CollectError;
    use crate::event::{AppEvent, HostEvent, HostId};
    use crate::ui::testing::{render, text};

    #[test]
    fn containers_80x24() {
        insta::assert_snapshot!(render(&fleet_app(1), 80, 24).backend());
    }

    #[test]
    fn containers_120x40() {
        let mut app = fleet_app(2);
        app.pane = crate::app::Pane::Containers;
        insta::assert_snapshot!(render(&app, 120, 40).backend());
    }

    #[test]
    fn containers_detail_80x24() {
        let mut app = fleet_app(1);
        app.panes.containers.detail = Some((HostId(0), "id-shop-api-3".into()));
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    #[test]
    fn docker_unavailable_is_explained_and_old_data_marked_stale() {
        let mut app = fleet_app(1);
        let err = CollectError::Docker { message: "permission denied on /var/run/docker.sock on host0: add the user to the docker group".into() };
        app.update(AppEvent::Host(
            HostId(0),
            HostEvent::Sample(crate::collect::Sample::Containers(Err(err))),
        ));
        let term = render(&app, 80, 24);
        let screen = text(&term);
        assert!(screen.contains("stale"), "{screen}");
        assert!(
            screen.contains("host0: permission denied on /var/run/docker.sock"),
            "{screen}"
        );
        // Container rows from before: "running" no longer in the ok colour, all dimmed.
        let ok = Theme::builtin("dark").unwrap().ok().fg;
        let buf = term.backend().buffer();
        let y = screen
            .lines()
            .position(|l| l.contains("shop-api-1"))
            .expect("the row is still listed");
        let y = u16::try_from(y).unwrap();
        for x in 0..80 {
            let c = &buf[(x, y)];
            assert!(
                c.symbol() == " "
                    || (c.fg != ok.unwrap_or_default()
                        && c.modifier.contains(ratatui::style::Modifier::DIM))
                    || c.fg
                        == Theme::builtin("dark")
                            .unwrap()
                            .stale()
                            .fg
                            .unwrap_or_default(),
                "cell {x} {:?} of a stale row is live-looking",
                c.symbol()
            );
        }
        insta::assert_snapshot!(term.backend());
    }

    #[test]
    fn cpu_and_memory_that_stopped_coming_are_shown_stale() {
        use crate::collect::stats::{ContainerStats, StatsSample};
        let mut app = fleet_app(1);
        let sample = |age: i64| StatsSample {
            stats: [(
                "id-shop-api-1".to_owned(),
                ContainerStats {
                    cpu_percent: Some(12.5),
                    memory_bytes: 64 << 20,
                },
            )]
            .into(),
            observed_at: app.now - jiff::SignedDuration::from_secs(age),
        };
        let stale = Theme::builtin("dark").unwrap().stale().fg;
        let cpu_fg = |app: &crate::app::App| {
            let term = render(app, 120, 40);
            let screen = text(&term);
            let y = screen
                .lines()
                .position(|l| l.contains("shop-api-1"))
                .unwrap();
            let x = screen
                .lines()
                .nth(y)
                .unwrap()
                .find("12.5%")
                .expect("cpu shown");
            let buf = term.backend().buffer();
            buf[(u16::try_from(x).unwrap(), u16::try_from(y).unwrap())].fg
        };
        app.hosts[0].stats = Some(sample(1));
        assert_ne!(Some(cpu_fg(&app)), stale, "current");
        app.hosts[0].stats = Some(sample(60));
        assert_eq!(Some(cpu_fg(&app)), stale, "a minute old");
    }

    #[test]
    fn unhealthy_and_exited_rows_are_critical() {
        let app = fleet_app(1);
        let term = render(&app, 120, 40);
        let buf = term.backend().buffer();
        let crit = Theme::builtin("dark").unwrap().crit().fg;
        let find = |name: &str| {
            (0..40)
                .find(|y| {
                    (0..60)
                        .map(|x| buf[(x, *y)].symbol())
                        .collect::<String>()
                        .contains(name)
                })
                .unwrap()
        };
        let header = find("NAME");
        let state_x = (0..120)
            .find(|x| buf[(*x, header)].symbol() == "S")
            .unwrap(); // the STATE header
        assert_eq!(buf[(state_x, find("shop-api-3"))].fg, crit.unwrap());
        assert_eq!(buf[(state_x, find("shop-worker-2"))].fg, crit.unwrap());
        assert_ne!(buf[(state_x, find("shop-api-1"))].fg, crit.unwrap());
    }
}
