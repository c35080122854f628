//! WireGuard pane: per host, its interfaces and peers: endpoint, allowed IPs, age of the
//! latest handshake (stale after 3 minutes, flagged), bytes received and sent.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::alerts::Severity;
use crate::app::hosts::{HostState, age};
use crate::app::tunnels::handshake_severity;
use crate::app::tunnels::{Row, rows};
use crate::app::{App, Pane};
use crate::collect::tunnels::{Peer, WgAccess};

pub struct TunnelsPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// ENDPOINT, ALLOWED IPS, HANDSHAKE, RX, TX; the first column is sized from the width.
const FIXED: [u16; 5] = [21, 18, 9, 6, 6];
const RIGHT: [usize; 3] = [3, 4, 5];

impl Widget for TunnelsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let hosts = app.visible_hosts();
        let inner = super::pane_frame(
            app,
            theme,
            vec![Span::styled(" WireGuard ", theme.title())],
            area,
            buf,
        );
        let problems: Vec<(String, String)> = hosts
            .iter()
            .filter_map(|h| Some((h.name.clone(), h.tunnels.error()?.to_owned())))
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height < 2 {
            return;
        }
        let first = inner
            .width
            .saturating_sub(FIXED.iter().sum::<u16>() + 5)
            .clamp(14, 60);
        let mut fixed = vec![first];
        fixed.extend(&FIXED[..4]);
        let w = widgets::widths(inner.width, &fixed);
        let header = [
            "INTERFACE / PEER",
            "ENDPOINT",
            "ALLOWED IPS",
            "HANDSHAKE",
            "RX",
            "TX",
        ];
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let rows = rows(&hosts, &app.filter_text(Pane::Tunnels));
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        let selected = (!keys.is_empty()).then(|| app.panes.tunnels.selection.index(&keys));
        // A host's peers are judged now, or at its last reading (dimmed) when that is stale.
        let mut reading = (app.now, false);
        let lines = rows
            .iter()
            .map(|(_, r)| match r {
                Row::Host(h) => {
                    let stale = h.tunnels.stale_age(app.now).is_some();
                    let at = h.tunnels.observed_at().filter(|_| stale).unwrap_or(app.now);
                    reading = (at, stale);
                    self.host_row(h)
                }
                Row::Interface(i) => {
                    let port = i.listen_port.map_or_else(String::new, |p| format!(" :{p}"));
                    let text = format!("  {}{port} · {} peers", i.name, i.peers.len());
                    Line::from(Span::styled(text, theme.accent()))
                }
                Row::Peer(p) => self.peer_row(p, &w, reading),
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
    }
}

impl TunnelsPane<'_> {
    fn host_row(&self, h: &HostState) -> Line<'static> {
        let theme = self.theme;
        let mut spans = vec![
            Span::styled(
                format!("▾ {}  ", h.name),
                theme.accent().add_modifier(Modifier::BOLD),
            ),
            widgets::freshness(&h.tunnels.freshness(self.app.now), theme),
        ];
        match h
            .tunnels
            .latest()
            .map(|s| (&s.access, s.interfaces.is_empty()))
        {
            Some((WgAccess::NotInstalled, _)) => {
                spans.push(Span::styled(" · wg is not installed", theme.muted()))
            }
            Some((WgAccess::NotPermitted(why), _)) => spans.push(Span::styled(
                format!(" · not permitted: {why}"),
                theme.warn(),
            )),
            Some((WgAccess::Ok, true)) => {
                spans.push(Span::styled(" · no WireGuard interfaces", theme.muted()))
            }
            _ => {}
        }
        Line::from(spans)
    }

    fn peer_row(
        &self,
        p: &Peer,
        w: &[u16],
        (read_at, stale): (jiff::Timestamp, bool),
    ) -> Line<'static> {
        let theme = self.theme;
        let handshake = match p.latest_handshake {
            None => Span::styled("never", theme.verdict(Severity::Warn, stale)),
            Some(t) => {
                let a = age(t, read_at);
                let verdict = handshake_severity(p, &self.app.thresholds, read_at);
                let mark = if verdict == Severity::Ok { "" } else { "!" };
                Span::styled(
                    format!("{}{mark}", widgets::age(a)),
                    theme.verdict(verdict, stale),
                )
            }
        };
        columns(
            w,
            &RIGHT,
            vec![
                Span::styled(format!("    {}", p.public_key), theme.text()), // cut to the column
                Span::styled(
                    p.endpoint.clone().unwrap_or_else(|| "-".into()),
                    theme.muted(),
                ),
                Span::styled(p.allowed_ips.clone(), theme.muted()),
                handshake,
                Span::raw(widgets::bytes(p.rx_bytes)),
                Span::raw(widgets::bytes(p.tx_bytes)),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::{render, text};

    #[test]
    fn tunnels_80x24() {
        let mut app = fleet_app(2);
        app.pane = Pane::Tunnels;
        insta::assert_snapshot!(render(&app, 80, 24).backend());
    }

    #[test]
    fn tunnels_120x40() {
        let mut app = fleet_app(2);
        app.pane = Pane::Tunnels;
        let term = render(&app, 120, 40);
        let screen = text(&term);
        assert!(
            screen.contains("5m!"),
            "a handshake older than 3 minutes is flagged:\n{screen}"
        );
        assert!(screen.contains("never"), "{screen}");
        insta::assert_snapshot!(term.backend());
    }
}
