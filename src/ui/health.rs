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
use crate::app::probes::ProbeState;
use crate::app::redis::RedisState;
use crate::app::{App, Pane, health};
use crate::text;

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
        // Probes below the hosts: a header and a row each, up to half the pane.
        let probes: Vec<(&HostState, &ProbeState)> = hosts
            .iter()
            .flat_map(|h| h.probes.iter().map(move |p| (*h, p)))
            .collect();
        let probe_rows = if probes.is_empty() {
            0
        } else {
            u16::try_from(probes.len() + 2)
                .unwrap_or(u16::MAX)
                .min(inner.height / 2)
        };
        let redis: Vec<(&HostState, &RedisState)> = hosts
            .iter()
            .flat_map(|h| h.redis.iter().map(move |r| (*h, r)))
            .collect();
        let redis_rows = if redis.is_empty() {
            0
        } else {
            u16::try_from(redis.len() + 2)
                .unwrap_or(u16::MAX)
                .min(inner.height.saturating_sub(probe_rows) / 2)
        };
        let [inner, probe_area, redis_area] = Layout::vertical([
            Constraint::Min(2),
            Constraint::Length(probe_rows),
            Constraint::Length(redis_rows),
        ])
        .areas(inner);
        if probe_rows > 0 {
            self.probes(&probes, probe_area, buf);
        }
        if redis_rows > 0 {
            self.redis(&redis, redis_area, buf);
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

/// "38ms", "1.2s": a probe's latency, in the unit it is felt in.
pub fn latency(d: std::time::Duration) -> String {
    if d < std::time::Duration::from_millis(1) {
        "<1ms".to_owned()
    } else if d < std::time::Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// PROBE, HOST, LATENCY, TREND, CHECKED; RESULT takes the rest.
const PROBE_FIXED: [u16; 5] = [24, 12, 8, 20, 8];
/// REDIS, HOST, ROLE, CLIENTS, MEMORY, SAVED, CHECKED; STATE takes the rest.
const REDIS_FIXED: [u16; 7] = [12, 10, 8, 10, 10, 6, 8];

impl HealthPane<'_> {
    /// One row per probe: what it found, its latency, the latency trend and when it ran.
    fn probes(&self, probes: &[(&HostState, &ProbeState)], area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let area = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        let w = widgets::widths(area.width, &PROBE_FIXED);
        let header = ["PROBE", "HOST", "LATENCY", "TREND", "CHECKED", "RESULT"];
        let list = widgets::table_header(&header, &w, &[2, 4], area, buf, theme);
        let now = app.now;
        let lines = probes
            .iter()
            .map(|(h, p)| {
                let dash = || Span::styled("–", theme.muted());
                let last = p.observed.latest();
                let stale = p.observed.stale_age(now).is_some();
                let trend: Vec<u64> = p.history.iter().copied().collect();
                let (result, style) = match (last, p.observed.error()) {
                    (_, Some(e)) => (
                        format!("not run: {}", crate::sanitize::plain(e)),
                        theme.warn(),
                    ),
                    (None, None) => ("not run yet".to_owned(), theme.muted()),
                    (Some(r), None) => {
                        let sev = crate::app::probes::severity(p, r);
                        let mut text = match (&r.problem, r.status) {
                            (Some(problem), _) => crate::sanitize::plain(problem),
                            (None, Some(code)) => format!("ok ({code})"),
                            (None, None) => "ok".to_owned(),
                        };
                        if let (_, Some(left)) = crate::app::probes::cert_severity(p, r) {
                            text.push_str(&format!(" · cert expires in {}", text::age(left)));
                        }
                        (text, theme.verdict(sev, stale))
                    }
                };
                let mut line = columns(
                    &w[..w.len() - 1],
                    &[2, 4],
                    vec![
                        Span::raw(crate::sanitize::plain(&p.spec.name)),
                        Span::styled(h.name.clone(), theme.muted()),
                        last.map_or_else(dash, |r| Span::raw(latency(r.latency))),
                        if trend.is_empty() {
                            dash()
                        } else {
                            Span::styled(
                                super::drills::spark(&trend, usize::from(w[3])),
                                theme.accent(),
                            )
                        },
                        p.observed.observed_at().map_or_else(dash, |t| {
                            Span::styled(crate::text::ago(t, now), theme.muted())
                        }),
                    ],
                );
                line.spans.push(Span::raw(" "));
                line.spans.push(Span::styled(result, style));
                line
            })
            .collect();
        widgets::render_list(lines, None, list, buf, theme);
    }

    /// One row per Redis server: role, clients and memory against their limits, the last
    /// save, when it was read, and its worst problem (or its version when all is well).
    fn redis(&self, servers: &[(&HostState, &RedisState)], area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let area = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        let w = widgets::widths(area.width, &REDIS_FIXED);
        let header = [
            "REDIS", "HOST", "ROLE", "CLIENTS", "MEMORY", "SAVED", "CHECKED", "STATE",
        ];
        let list = widgets::table_header(&header, &w, &[3, 4, 5, 6], area, buf, theme);
        let now = app.now;
        let lines = servers
            .iter()
            .map(|(h, r)| {
                let dash = || Span::styled("–", theme.muted());
                let stale = r.observed.stale_age(now).is_some();
                let info = r.observed.latest();
                let (state, style) = match (info, r.observed.error()) {
                    (_, Some(e)) => (
                        format!("unreachable: {}", crate::sanitize::plain(e)),
                        theme.verdict(crate::app::alerts::Severity::Crit, false),
                    ),
                    (None, None) => ("not read yet".to_owned(), theme.muted()),
                    (Some(i), None) => {
                        let mut problems = crate::app::redis::problems(r, i, now);
                        problems.sort_by_key(|p| std::cmp::Reverse(p.0));
                        match problems.into_iter().next() {
                            Some((sev, what)) => (what, theme.verdict(sev, stale)),
                            None => (
                                format!("ok · {}", i.version),
                                theme.verdict(crate::app::alerts::Severity::Ok, stale),
                            ),
                        }
                    }
                };
                let cells = match info {
                    None => vec![dash(), dash(), dash(), dash()],
                    Some(i) => vec![
                        Span::raw(
                            match i.role.as_str() {
                                "master" => "primary",
                                "slave" => "replica",
                                other => other,
                            }
                            .to_owned(),
                        ),
                        Span::raw(match i.maxclients {
                            Some(m) => format!("{}/{m}", i.connected_clients),
                            None => i.connected_clients.to_string(),
                        }),
                        Span::raw(match i.maxmemory {
                            Some(m) => {
                                format!("{}/{}", widgets::bytes(i.used_memory), widgets::bytes(m))
                            }
                            None => widgets::bytes(i.used_memory),
                        }),
                        i.rdb_last_save.map_or_else(dash, |t| {
                            Span::styled(crate::text::ago(t, now), theme.muted())
                        }),
                    ],
                };
                let mut spans = vec![
                    Span::raw(crate::sanitize::plain(&r.spec.name)),
                    Span::styled(h.name.clone(), theme.muted()),
                ];
                spans.extend(cells);
                spans.push(r.observed.observed_at().map_or_else(dash, |t| {
                    Span::styled(crate::text::ago(t, now), theme.muted())
                }));
                let mut line = columns(&w[..w.len() - 1], &[3, 4, 5, 6], spans);
                line.spans.push(Span::raw(" "));
                line.spans.push(Span::styled(state, style));
                line
            })
            .collect();
        widgets::render_list(lines, None, list, buf, theme);
    }

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
            oldest.map_or_else(|| "-".to_owned(), crate::text::live_age),
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
    fn probes_120x30() {
        use crate::collect::probes::ProbeResult;
        use crate::config::probe::{ProbeSpec, ProbeTarget};
        let mut app = fleet_app(1);
        app.pane = Pane::Health;
        let now = app.now;
        let spec = |name: &str, target| ProbeSpec {
            name: name.into(),
            target,
            status: None,
            body: None,
            slow: std::time::Duration::from_millis(500),
            interval: std::time::Duration::from_secs(30),
            timeout: std::time::Duration::from_secs(10),
            ca_file: None,
            cert_warn: crate::config::probe::CERT_WARN,
        };
        let results = [
            (
                spec(
                    "api /health",
                    ProbeTarget::Http("http://127.0.0.1:8080/health".into()),
                ),
                vec![(true, 40, None), (true, 55, None), (true, 38, None)],
            ),
            (
                spec(
                    "redis",
                    ProbeTarget::Tcp {
                        host: "10.0.0.7".into(),
                        port: 6379,
                    },
                ),
                vec![
                    (true, 12, None),
                    (false, 2000, Some("no connection after 2s")),
                ],
            ),
        ];
        for (spec, runs) in results {
            let mut p = crate::app::probes::ProbeState::new(&spec);
            for (ok, ms, problem) in runs {
                let r = ProbeResult {
                    ok,
                    latency: std::time::Duration::from_millis(ms),
                    status: (ok && matches!(spec.target, ProbeTarget::Http(_))).then_some(200),
                    problem: problem.map(str::to_owned),
                    cert_expires: None,
                    observed_at: now,
                };
                p.record(r.clone());
                p.observed.record(Ok(r), now);
            }
            app.hosts[0].probes.push(p);
        }
        insta::assert_snapshot!(render(&app, 120, 30).backend());
    }

    #[test]
    fn redis_120x30() {
        use crate::collect::redis::RedisInfo;
        use crate::config::redis::RedisSpec;
        let mut app = fleet_app(2);
        app.pane = Pane::Health;
        let now = app.now;
        let spec = |name: &str| RedisSpec {
            name: name.into(),
            endpoint: crate::collect::postgres::Endpoint::Unix("/run/redis.sock".into()),
            user: None,
            password: None,
            interval: std::time::Duration::from_secs(10),
            clients_alert_pct: 90.0,
            memory_alert_pct: 90.0,
            lag_alert: std::time::Duration::from_secs(10),
            save_max_age: None,
        };
        let info = RedisInfo {
            version: "7.0.15".into(),
            role: "master".into(),
            connected_clients: 12,
            maxclients: Some(10000),
            used_memory: 950 << 20,
            maxmemory: Some(1 << 30),
            maxmemory_policy: "allkeys-lru".into(),
            rdb_last_save: Some(now - jiff::SignedDuration::from_secs(600)),
            rdb_last_bgsave_ok: true,
            aof_last_write_ok: true,
            aof_last_rewrite_ok: true,
            observed_at: now,
            ..RedisInfo::default()
        };
        let mut full = crate::app::redis::RedisState::new(&spec("cache"));
        full.observed.record(Ok(info.clone()), now);
        let mut fine = crate::app::redis::RedisState::new(&spec("sessions"));
        fine.observed.record(
            Ok(RedisInfo {
                used_memory: 10 << 20,
                ..info
            }),
            now,
        );
        let mut down = crate::app::redis::RedisState::new(&spec("queue"));
        down.observed.record(
            Err(crate::collect::CollectError::Late {
                what: "Redis queue".into(),
                after: std::time::Duration::from_secs(10),
            }),
            now,
        );
        app.hosts[0].redis = vec![full, fine];
        app.hosts[1].redis = vec![down];
        let screen = render(&app, 120, 30);
        let t = text(&screen);
        assert!(t.contains("memory 93% of 1.0G (≥ 90%, allkeys-lru)"), "{t}");
        assert!(t.contains("unreachable: Redis queue did not answer"), "{t}");
        insta::assert_snapshot!(screen.backend());
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
