//! The WireGuard pane's model: per host, its interfaces and their peers. Pure.

use super::alerts::{Domain, Rules, Severity};
use super::hosts::{HostState, age};
use crate::collect::tunnels::{Interface, Peer};
use crate::event::HostId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Host(HostId),
    Interface(HostId, String),
    Peer(HostId, String, String),
}

#[derive(Debug)]
pub enum Row<'a> {
    Host(&'a HostState),
    Interface(&'a Interface),
    Peer(&'a Peer),
}

/// The WireGuard pane's own state.
#[derive(Debug, Clone, Default)]
pub struct TunnelsView {
    pub selection: super::list::Selection<RowKey>,
    pub filter: super::Filter,
}

impl TunnelsView {
    pub fn keys(&self, hosts: &[&HostState]) -> Vec<RowKey> {
        rows(hosts, &self.filter.text)
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}

impl super::pane::PaneState for TunnelsView {
    super::pane::filter_field!();
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        let keys = self.keys(&cx.hosts);
        self.selection.move_by(&keys, delta);
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        &[]
    }
}

/// Hosts, each followed by its interfaces and their peers. A filter keeps peers whose key,
/// endpoint or allowed IPs contain it (and interfaces whose name does).
pub fn rows<'a>(hosts: &[&'a HostState], filter: &str) -> Vec<(RowKey, Row<'a>)> {
    let filter = filter.to_lowercase();
    let hit = |s: &str| s.to_lowercase().contains(&filter);
    let mut rows = Vec::new();
    for host in hosts {
        let ifaces = host.tunnels.latest().map_or(&[][..], |s| &s.interfaces[..]);
        let mut body = Vec::new();
        for iface in ifaces {
            let peers: Vec<&Peer> = iface
                .peers
                .iter()
                .filter(|p| {
                    filter.is_empty()
                        || hit(&iface.name)
                        || hit(&p.public_key)
                        || p.endpoint.as_deref().is_some_and(hit)
                        || hit(&p.allowed_ips)
                })
                .collect();
            if !filter.is_empty() && peers.is_empty() && !hit(&iface.name) {
                continue;
            }
            body.push((
                RowKey::Interface(host.id, iface.name.clone()),
                Row::Interface(iface),
            ));
            body.extend(peers.into_iter().map(|p| {
                (
                    RowKey::Peer(host.id, iface.name.clone(), p.public_key.clone()),
                    Row::Peer(p),
                )
            }));
        }
        if !filter.is_empty() && body.is_empty() {
            continue;
        }
        rows.push((RowKey::Host(host.id), Row::Host(host)));
        rows.extend(body);
    }
    rows
}

/// A peer's last handshake against the configured age: older is a warning (the tunnel to it
/// is down, or idle without a keepalive); never is not judged (a peer not yet used).
pub fn handshake_severity(
    peer: &Peer,
    t: &crate::config::Thresholds,
    now: jiff::Timestamp,
) -> Severity {
    match peer.latest_handshake {
        Some(at) if age(at, now) > t.handshake_stale.0 => Severity::Warn,
        _ => Severity::Ok,
    }
}

/// Each peer whose handshake is older than the configured age.
pub fn alerts(
    snap: &crate::collect::tunnels::TunnelsSnapshot,
    t: &crate::config::Thresholds,
    stale: Option<std::time::Duration>,
    rules: &mut Rules<'_>,
) {
    // Judged at the time of the reading: a stale reading must not age its handshakes.
    let now = snap.observed_at;
    for iface in &snap.interfaces {
        for p in &iface.peers {
            let key: String = p.public_key.chars().take(8).collect();
            let row = super::alerts::Row::Peer(iface.name.clone(), p.public_key.clone());
            rules.at(row).push(
                Domain::Tunnels,
                handshake_severity(p, t, now),
                format!(
                    "{} peer {key}… {}: last handshake {} ago (≥ {})",
                    iface.name,
                    p.endpoint.as_deref().unwrap_or("no endpoint"),
                    p.latest_handshake
                        .map_or_else(|| "never".to_owned(), |h| crate::text::ago(h, now)),
                    crate::text::age(t.handshake_stale.0)
                ),
                p.latest_handshake,
                stale,
            );
        }
    }
}
