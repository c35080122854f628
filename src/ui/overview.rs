//! Overview pane: one row per host: link state, age of its newest data, containers
//! running/total, CPU and memory, fullest disk, and its problems: how many alerts and the
//! worst one, as `app::alerts` decided them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::App;
use crate::app::alerts::Severity;
use crate::app::disks::usage_severity;
use crate::app::health;
use crate::app::hosts::{HostState, STALE_AFTER_INTERVALS};
use crate::app::overview::summary;
use crate::collect::disks::worst_pct;
use crate::link::LinkState;
use crate::text;

pub struct OverviewPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// HOST, LINK, DATA, CONTAINERS, CPU, MEM, FULLEST DISK; PROBLEMS takes the rest.
const FIXED: [u16; 7] = [12, 13, 5, 10, 4, 4, 13];
const RIGHT: [usize; 4] = [2, 3, 4, 5];

impl Widget for OverviewPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let title = vec![
            Span::styled(" Overview ", theme.title()),
            Span::styled(
                format!(
                    "· {} host{} ",
                    app.host_ids().len(),
                    if app.host_ids().len() == 1 { "" } else { "s" }
                ),
                theme.muted(),
            ),
        ];
        let inner = super::pane_frame(app, theme, title, area, buf);
        // Why each down host is down, and when it is tried again.
        let problems: Vec<(String, String)> = app
            .hosts
            .iter()
            .filter_map(|h| match &h.link {
                LinkState::Down {
                    error, retry_at, ..
                } => {
                    let retry = retry_at.map_or_else(String::new, |t| {
                        format!(" (retry in {})", crate::text::left(t, app.now))
                    });
                    Some((h.name.clone(), format!("{error}{retry}")))
                }
                _ => None,
            })
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height == 0 {
            return;
        }
        let w = widgets::widths(inner.width, &FIXED);
        let header = [
            "HOST",
            "LINK",
            "DATA",
            "CONTAINERS",
            "CPU",
            "MEM",
            "FULLEST DISK",
            "PROBLEMS",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let filter = app.filter().text.to_lowercase();
        let hosts: Vec<&HostState> = app
            .hosts
            .iter()
            .filter(|h| !h.tunnels_only && h.name.to_lowercase().contains(&filter))
            .collect();
        let lines: Vec<Line<'_>> = hosts.iter().map(|h| self.row(h, &w)).collect();
        let ids: Vec<_> = hosts.iter().map(|h| h.id).collect();
        let selected = (!ids.is_empty()).then(|| app.panes.overview.selection.index(&ids));
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

impl OverviewPane<'_> {
    fn row(&self, host: &HostState, w: &[u16]) -> Line<'static> {
        let (theme, now) = (self.theme, self.app.now);
        let s = summary(host, &self.app.alerts, now);
        let t = &self.app.thresholds;
        let link = match &host.link {
            LinkState::Connecting => Span::styled("connecting", theme.warn()),
            // The round trip beside "up": slow shows before down does.
            LinkState::Up => match host.rtt {
                Some(rtt) => Span::styled(
                    format!("up {}", super::health::latency(rtt)),
                    if rtt >= crate::app::alerts::SLOW_LINK {
                        theme.warn()
                    } else {
                        theme.ok()
                    },
                ),
                None => Span::styled("up", theme.ok()),
            },
            LinkState::Down { kind, since, .. } => Span::styled(
                format!("{} {}", kind.label(), crate::text::ago(*since, now)),
                theme.crit(),
            ),
        };
        // Stale when older than three of the host's shortest refresh interval.
        let stale_after = host.disks_interval() * STALE_AFTER_INTERVALS;
        let stale = s.data_age.is_some_and(|a| a > stale_after) || host.link != LinkState::Up;
        // Docker's event stream, while it flows, is current: "live", not an age that counts up
        // between two disk readings and redraws every row every second.
        let live = host.link == LinkState::Up
            && host
                .containers
                .as_ref()
                .is_some_and(|c| c.freshness(now) == crate::app::hosts::Freshness::Live);
        let data = match s.data_age {
            _ if live => Span::styled("live", theme.ok()),
            None => Span::styled("-", theme.muted()),
            Some(a) if a > stale_after => Span::styled(text::live_age(a), theme.stale()),
            Some(a) => {
                text::changes_in(stale_after - a);
                Span::styled(text::live_age(a), theme.muted())
            }
        };
        let containers = match (&host.containers, s.containers) {
            (None, _) => Span::styled("off", theme.muted()),
            (Some(o), None) if o.error().is_some() => Span::styled("error", theme.crit()),
            (Some(_), None) => Span::styled("-", theme.muted()),
            (Some(_), Some(c)) => {
                let verdict = if c.is_degraded() {
                    Severity::Warn
                } else {
                    Severity::Ok
                };
                Span::styled(
                    format!("{}/{}", c.running, c.total),
                    theme.verdict(verdict, stale),
                )
            }
        };
        let (cpu, mem) = match (host.health.as_ref(), s.health) {
            (Some(h), Some(snap)) => {
                let stale = stale || h.observed.stale_age(now).is_some();
                let cpu = snap.cpu_pct.map_or_else(
                    || Span::styled("-", theme.muted()),
                    |pct| {
                        let (v, _) = health::cpu_severity(h, t, snap.observed_at);
                        Span::styled(format!("{pct:.0}%"), theme.verdict(v, stale))
                    },
                );
                let v = health::memory_severity(snap, t);
                let mem = Span::styled(format!("{:.0}%", snap.mem_pct()), theme.verdict(v, stale));
                (cpu, mem)
            }
            _ => (
                Span::styled("-", theme.muted()),
                Span::styled("-", theme.muted()),
            ),
        };
        let disk = match s.fullest_disk {
            None if host.disks.error().is_some() => Span::styled("error", theme.crit()),
            None => Span::styled("-", theme.muted()),
            Some(fs) => {
                let pct = worst_pct(fs);
                Span::styled(
                    format!("{} {pct:.0}%", fs.mount),
                    theme.verdict(usage_severity(pct, t), stale),
                )
            }
        };
        // A verdict on data that stopped arriving says how old that data is.
        let what = |a: &crate::app::alerts::Alert| match a.stale {
            Some(age) => format!("{} (data {} old)", a.what, widgets::age(age)),
            None => a.what.clone(),
        };
        // Down because its jump host is: the jump host's alert is the one to read.
        let jump_down = host.via.iter().find_map(|j| {
            let jump = self.app.hosts.get(j.0)?;
            matches!(jump.link, LinkState::Down { .. }).then_some(jump.name.as_str())
        });
        let problems = match (s.alerts.as_slice(), jump_down) {
            ([], Some(jump)) if host.link != LinkState::Up => Span::styled(
                format!("unreachable: its jump host {jump} is down"),
                theme.crit(),
            ),
            ([], _) => Span::styled("none", theme.muted()),
            ([one], _) => Span::styled(what(one), theme.verdict(one.severity, one.stale.is_some())),
            ([worst, ..], _) => Span::styled(
                format!("{} · {}", s.alerts.len(), what(worst)),
                theme.verdict(worst.severity, worst.stale.is_some()),
            ),
        };
        columns(
            w,
            &RIGHT,
            vec![
                Span::styled(host.name.clone(), theme.text()),
                link,
                data,
                containers,
                cpu,
                mem,
                disk,
                problems,
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    #[test]
    fn overview_80x24() {
        let mut app = fleet_app(3);
        app.pane = Pane::Overview;
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    #[test]
    fn overview_120x40() {
        let mut app = fleet_app(3);
        app.pane = Pane::Overview;
        insta::assert_snapshot!(render(&app, 120, 40).backend());
    }

    #[test]
    fn down_host_is_critical() {
        let mut app = fleet_app(3);
        app.pane = Pane::Overview;
        let term = render(&app, 120, 40);
        let buf = term.backend().buffer();
        // host2 is down in the fixture: its LINK cell uses the crit style.
        let theme = crate::ui::theme::Theme::builtin("dark").unwrap();
        let y = (0..40)
            .find(|y| {
                (0..20)
                    .map(|x| buf[(x, *y)].symbol())
                    .collect::<String>()
                    .starts_with("host2")
            })
            .unwrap();
        assert_eq!(buf[(19, y)].fg, theme.crit().fg.unwrap());
    }

    #[test]
    fn the_round_trip_shows_beside_up_and_a_slow_one_warns() {
        let mut app = fleet_app(2);
        app.pane = Pane::Overview;
        assert_eq!(
            crate::ui::health::latency(std::time::Duration::from_micros(300)),
            "<1ms",
            "a loopback round trip is not 0"
        );
        app.hosts[0].rtt = Some(std::time::Duration::from_millis(12));
        app.hosts[1].rtt = Some(std::time::Duration::from_millis(1300));
        let term = render(&app, 120, 40);
        let screen = crate::ui::testing::text(&term);
        let row = |h: &str| screen.lines().position(|l| l.starts_with(h)).unwrap();
        assert!(
            screen
                .lines()
                .nth(row("host0"))
                .unwrap()
                .contains("up 12ms"),
            "{screen}"
        );
        let line = screen.lines().nth(row("host1")).unwrap();
        assert!(line.contains("up 1.3s"), "{screen}");
        let x = u16::try_from(line.find("up 1.3s").unwrap()).unwrap();
        let warn = crate::ui::theme::Theme::builtin("dark")
            .unwrap()
            .warn()
            .fg
            .unwrap();
        let y = u16::try_from(row("host1")).unwrap();
        assert_eq!(term.backend().buffer()[(x, y)].fg, warn);
    }

    #[test]
    fn a_host_behind_a_down_jump_host_points_at_it() {
        let mut app = fleet_app(3);
        app.pane = Pane::Overview;
        // host2 (down in the fixture) is host1's jump host; host1 went down with it.
        app.hosts[1].via = vec![crate::event::HostId(2)];
        let down = app.hosts[2].link.clone();
        app.update(crate::event::AppEvent::Host(
            crate::event::HostId(1),
            crate::event::HostEvent::Link(down),
        ));
        let screen = crate::ui::testing::text(&render(&app, 120, 40));
        let host1 = screen.lines().find(|l| l.starts_with("host1")).unwrap();
        assert!(
            host1.contains("unreachable: its jump host host2 is down"),
            "{screen}"
        );
        let host2 = screen.lines().find(|l| l.starts_with("host2")).unwrap();
        assert!(
            host2.contains("cuts off host1 (reached through it)"),
            "{screen}"
        );
    }
}
