//! The disks pane's model: per host, its filesystems, fullest first. Pure.

use super::alerts::{Domain, Rules, Severity};
use super::hosts::HostState;
use super::list::Selection;
use crate::collect::disks::{self, Filesystem};
use crate::event::HostId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Host(HostId),
    Disk(HostId, String),
}

#[derive(Debug)]
pub enum Row<'a> {
    Host(&'a HostState),
    Disk(&'a Filesystem),
}

#[derive(Debug, Clone, Default)]
pub struct DisksView {
    pub selection: Selection<RowKey>,
    pub filter: super::Filter,
}

impl super::pane::PaneState for DisksView {
    super::pane::filter_field!();
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        let keys: Vec<RowKey> = rows(&cx.hosts, &self.filter.text)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        self.selection.move_by(&keys, delta);
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        &[]
    }
}

/// Host rows each followed by their filesystems, fullest (by space or inodes) first.
/// A filter keeps filesystems whose mount or device contains it.
pub fn rows<'a>(hosts: &[&'a HostState], filter: &str) -> Vec<(RowKey, Row<'a>)> {
    let filter = filter.to_lowercase();
    let mut rows = Vec::new();
    for host in hosts {
        let mut fs: Vec<&Filesystem> = host
            .disks
            .latest()
            .map(|s| s.filesystems.iter().collect())
            .unwrap_or_default();
        fs.retain(|f| {
            filter.is_empty()
                || f.mount.to_lowercase().contains(&filter)
                || f.device.to_lowercase().contains(&filter)
        });
        if !filter.is_empty() && fs.is_empty() {
            continue;
        }
        fs.sort_by(|a, b| disks::worst_pct(b).total_cmp(&disks::worst_pct(a)));
        rows.push((RowKey::Host(host.id), Row::Host(host)));
        rows.extend(
            fs.into_iter()
                .map(|f| (RowKey::Disk(host.id, f.mount.clone()), Row::Disk(f))),
        );
    }
    rows
}

/// A usage percent against the configured marks.
pub fn usage_severity(pct: f64, t: &crate::config::Thresholds) -> Severity {
    if pct >= t.disk_crit_pct {
        Severity::Crit
    } else if pct >= t.disk_warn_pct {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// Each filesystem over a mark, by space and by inodes.
pub fn alerts(
    snap: &disks::DisksSnapshot,
    t: &crate::config::Thresholds,
    stale: Option<std::time::Duration>,
    rules: &mut Rules<'_>,
) {
    let marks = |s: Severity| match s {
        Severity::Crit => t.disk_crit_pct,
        _ => t.disk_warn_pct,
    };
    for f in &snap.filesystems {
        let space = f.use_pct();
        let s = usage_severity(space, t);
        rules.push(
            Domain::Disks,
            s,
            format!(
                "{} {space:.0}% used, {} free (≥ {:.0}%)",
                f.mount,
                crate::text::bytes(f.avail_bytes),
                marks(s)
            ),
            None,
            stale,
        );
        if let Some(inodes) = f.inode_pct() {
            let s = usage_severity(inodes, t);
            rules.push(
                Domain::Disks,
                s,
                format!("{} inodes {inodes:.0}% used (≥ {:.0}%)", f.mount, marks(s)),
                None,
                stale,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;
    use crate::collect::disks::DisksSnapshot;
    use crate::event::HostEvent;
    use jiff::Timestamp;

    #[test]
    fn disks_are_sorted_fullest_first_and_filtered() {
        let mut h = fleet_host(0, "db1");
        let fs = disks::parse(include_str!("../../tests/fixtures/df-debian.txt")).unwrap();
        let snap = DisksSnapshot {
            filesystems: fs,
            observed_at: Timestamp::UNIX_EPOCH,
        };
        h.apply(
            HostEvent::Sample(crate::collect::Sample::Disks(Ok(snap))),
            Timestamp::UNIX_EPOCH,
        );
        let mounts = |rows: &[(RowKey, Row<'_>)]| -> Vec<String> {
            rows.iter()
                .filter_map(|(_, r)| {
                    if let Row::Disk(f) = r {
                        Some(f.mount.clone())
                    } else {
                        None
                    }
                })
                .collect()
        };
        assert_eq!(mounts(&rows(&[&h], "")), ["/", "/boot", "/srv/backup disk"]);
        assert_eq!(mounts(&rows(&[&h], "BACKUP")), ["/srv/backup disk"]);
        assert!(rows(&[&h], "nothing").is_empty());
    }
}
