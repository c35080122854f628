//! The disks pane's model: per host, its filesystems, fullest first; and the growth of each
//! filesystem from the samples kept in memory, with a time-to-full forecast. Pure.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::alerts::{Domain, Rules, Severity};
use super::hosts::{Cluster, HostState, age};
use super::list::Selection;
use crate::collect::disks::{self, Filesystem};
use crate::event::HostId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Host(HostId),
    Disk(HostId, String),
    /// The host's `usize`-th PostgreSQL cluster, under the filesystem of its data directory.
    Cluster(HostId, usize),
}

/// Samples of used space kept per filesystem: 720, at most one per `4 × interval` (30 s to
/// 2 min apart): 6 to 24 hours of history, about 12 KiB per filesystem.
pub const GROWTH_SAMPLES: usize = 720;

/// A forecast needs samples spanning at least this many refresh intervals.
const MIN_SPAN_INTERVALS: u32 = 10;

/// A filesystem that fills up within this long is a warning.
pub const FULL_SOON: Duration = Duration::from_secs(7 * 24 * 3600);

/// How fast a filesystem grows, and when it will be full at that pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Bytes per second, by least squares over the kept samples (negative: shrinking).
    pub bytes_per_s: f64,
    /// None when it is not growing.
    pub full_in: Option<Duration>,
    /// The time the samples span.
    pub over: Duration,
}

/// Used bytes of each filesystem over time, fed by every df sample.
#[derive(Debug, Clone, Default)]
pub struct Growth {
    /// mount → (when, used bytes), oldest first.
    samples: HashMap<String, VecDeque<(Timestamp, u64)>>,
}

impl Growth {
    /// Files a df sample: at most one a `4 × interval` per filesystem; filesystems no longer
    /// mounted are forgotten.
    pub fn record(&mut self, snap: &disks::DisksSnapshot, interval: Duration) {
        let spacing = (interval * 4).clamp(Duration::from_secs(1), Duration::from_secs(120));
        self.samples
            .retain(|mount, _| snap.filesystems.iter().any(|f| &f.mount == mount));
        for f in &snap.filesystems {
            let q = self.samples.entry(f.mount.clone()).or_default();
            let due = q
                .back()
                .is_none_or(|(at, _)| age(*at, snap.observed_at) >= spacing);
            if !due {
                continue;
            }
            if q.len() == GROWTH_SAMPLES {
                q.pop_front();
            }
            q.push_back((snap.observed_at, f.used_bytes));
        }
    }

    /// The growth of `fs` and when it is full at that pace, once the samples span at least
    /// [`MIN_SPAN_INTERVALS`] intervals.
    pub fn forecast(&self, fs: &Filesystem, interval: Duration) -> Option<Forecast> {
        let q = self.samples.get(&fs.mount)?;
        let (first, last) = (q.front()?.0, q.back()?.0);
        let over = age(first, last);
        if q.len() < 3 || over < interval * MIN_SPAN_INTERVALS {
            return None;
        }
        // Least squares of used bytes over seconds since the first sample.
        let points: Vec<(f64, f64)> = q
            .iter()
            .map(|(at, used)| (age(first, *at).as_secs_f64(), *used as f64))
            .collect();
        let n = points.len() as f64;
        let (mx, my) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
        let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(xy, xx), (x, y)| {
            (xy + (x - mx) * (y - my), xx + (x - mx) * (x - mx))
        });
        if sxx == 0.0 {
            return None;
        }
        let bytes_per_s = sxy / sxx;
        let full_in = (bytes_per_s > 0.0)
            .then(|| Duration::try_from_secs_f64(fs.avail_bytes as f64 / bytes_per_s).ok())
            .flatten();
        Some(Forecast {
            bytes_per_s,
            full_in,
            over,
        })
    }
}

#[derive(Debug)]
pub enum Row<'a> {
    Host(&'a HostState),
    Disk(&'a Filesystem),
    Cluster(&'a Cluster),
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
        for f in fs {
            rows.push((RowKey::Disk(host.id, f.mount.clone()), Row::Disk(f)));
            for (i, c) in host.postgres.iter().enumerate() {
                if cluster_mount(host, c) == Some(f.mount.as_str()) {
                    rows.push((RowKey::Cluster(host.id, i), Row::Cluster(c)));
                }
            }
        }
    }
    rows
}

/// The mount holding a cluster's data directory: the longest mount that contains it. Only
/// for a cluster on this host (its socket, or a loopback address): a data directory path
/// of another machine says nothing about these filesystems.
pub fn cluster_mount<'a>(host: &'a HostState, c: &Cluster) -> Option<&'a str> {
    use crate::collect::postgres::Endpoint;
    let local = match &c.spec.target.endpoint {
        Endpoint::Unix(_) => true,
        Endpoint::Tcp { host, .. } => matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1"),
    };
    let dir = c
        .observed
        .latest()?
        .server
        .data_directory
        .as_deref()
        .filter(|_| local)?;
    host.disks
        .latest()?
        .filesystems
        .iter()
        .map(|f| f.mount.as_str())
        .filter(|m| {
            *m == "/" || dir == *m || dir.strip_prefix(m).is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|m| m.len())
}

/// Bytes in the databases of a cluster the role may see, and how many there are.
pub fn cluster_size(c: &Cluster) -> Option<(u64, usize)> {
    let snap = c.observed.latest()?;
    let sizes: Vec<u64> = snap
        .databases
        .iter()
        .filter_map(|d| u64::try_from(d.size_bytes?).ok())
        .collect();
    Some((sizes.iter().sum(), sizes.len()))
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

/// A time to full against [`FULL_SOON`].
pub fn full_in_severity(full_in: Duration) -> Severity {
    if full_in < FULL_SOON {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// Each filesystem over a mark, by space and by inodes, and each that fills up within
/// [`FULL_SOON`] at its pace.
pub fn alerts(
    host: &HostState,
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
        rules.at(super::alerts::Row::Disk(f.mount.clone())).push(
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
        let forecast = host.growth.forecast(f, host.disks_interval());
        if let Some(
            fc @ Forecast {
                full_in: Some(full_in),
                ..
            },
        ) = forecast
            && full_in_severity(full_in) == Severity::Warn
        {
            rules.at(super::alerts::Row::Disk(f.mount.clone())).push(
                Domain::Disks,
                Severity::Warn,
                format!(
                    "{} full in ~{} (growing {}/h over the last {}; warns under {})",
                    f.mount,
                    crate::text::age(full_in),
                    crate::text::bytes((fc.bytes_per_s * 3600.0) as u64),
                    crate::text::age(fc.over),
                    crate::text::age(FULL_SOON)
                ),
                None,
                stale,
            );
        }
        if let Some(inodes) = f.inode_pct() {
            let s = usage_severity(inodes, t);
            rules.at(super::alerts::Row::Disk(f.mount.clone())).push(
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
pub(crate) mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;
    use crate::collect::disks::DisksSnapshot;
    use crate::event::HostEvent;
    use jiff::Timestamp;

    fn df(used: u64, avail: u64, at: Timestamp) -> DisksSnapshot {
        DisksSnapshot {
            filesystems: vec![Filesystem {
                device: "/dev/sdb1".into(),
                mount: "/srv".into(),
                size_bytes: used + avail,
                used_bytes: used,
                avail_bytes: avail,
                inodes_total: None,
                inodes_used: None,
            }],
            observed_at: at,
        }
    }

    #[test]
    fn steady_growth_forecasts_when_the_disk_is_full_and_warns_under_a_week() {
        const GB: u64 = 1 << 30;
        let interval = std::time::Duration::from_secs(30);
        let mut g = Growth::default();
        let t = |s: i64| Timestamp::from_second(1_795_000_000 + s).unwrap();
        // 1 GB an hour, sampled every 30 s for 2 hours, 100 GB left at the start.
        for i in 0..240 {
            let used = 400 * GB + GB * i / 120;
            g.record(&df(used, 500 * GB - used, t(i as i64 * 30)), interval);
        }
        // Kept at most one every 2 minutes.
        assert_eq!(g.samples["/srv"].len(), 60);
        let last = df(402 * GB, 98 * GB, t(7200));
        let f = g.forecast(&last.filesystems[0], interval).unwrap();
        assert!(
            (f.bytes_per_s * 3600.0 / GB as f64 - 1.0).abs() < 0.01,
            "{f:?}"
        );
        let hours = f.full_in.unwrap().as_secs_f64() / 3600.0;
        assert!((hours - 98.0).abs() < 1.0, "{hours}");
        assert_eq!(full_in_severity(f.full_in.unwrap()), Severity::Warn);
        // Too little history: no forecast; a shrinking disk: never full.
        let mut short = Growth::default();
        short.record(&df(GB, GB, t(0)), interval);
        short.record(&df(2 * GB, GB, t(200)), interval);
        short.record(&df(3 * GB, GB, t(299)), interval);
        assert_eq!(short.forecast(&last.filesystems[0], interval), None);
        let mut shrinking = Growth::default();
        for i in 0..20 {
            shrinking.record(&df(100 * GB - i * GB, GB, t(i as i64 * 120)), interval);
        }
        let f = shrinking.forecast(&last.filesystems[0], interval).unwrap();
        assert!(f.bytes_per_s < 0.0 && f.full_in.is_none(), "{f:?}");
    }

    /// db1 with a PostgreSQL cluster whose data directory is /srv/data/pg/15/main, and
    /// filesystems /, /srv/dat, /srv/data and /srv/data/pg/15/main/pg_wal.
    pub fn pg_on_srv_data() -> HostState {
        let fixture = include_str!("../collect/postgres/testdata/snapshot-superuser.json").replace(
            "\"own_pid\": 6895",
            "\"own_pid\": 6895, \"data_directory\": \"/srv/data/pg/15/main\"",
        );
        let mut h = crate::app::postgres::tests::pg_host(&fixture);
        let mounts = ["/", "/srv/dat", "/srv/data", "/srv/data/pg/15/main/pg_wal"];
        let filesystems = mounts
            .iter()
            .map(|m| {
                let mut f = df(1, 1, Timestamp::UNIX_EPOCH).filesystems.remove(0);
                f.mount = (*m).into();
                f.device = format!("/dev/{}", m.len());
                f
            })
            .collect();
        let snap = DisksSnapshot {
            filesystems,
            observed_at: Timestamp::UNIX_EPOCH,
        };
        h.apply(
            HostEvent::Sample(crate::collect::Sample::Disks(Ok(snap))),
            Timestamp::UNIX_EPOCH,
        );
        h
    }

    #[test]
    fn a_cluster_sits_under_the_longest_mount_holding_its_data_directory() {
        let mut h = pg_on_srv_data();
        // Not /srv/dat (a prefix of the name, not of the path), not pg_wal (inside it).
        assert_eq!(cluster_mount(&h, &h.postgres[0]), Some("/srv/data"));
        let keys: Vec<RowKey> = rows(&[&h], "").into_iter().map(|(k, _)| k).collect();
        let at = keys
            .iter()
            .position(|k| *k == RowKey::Cluster(h.id, 0))
            .unwrap();
        assert_eq!(keys[at - 1], RowKey::Disk(h.id, "/srv/data".into()));
        assert!(cluster_size(&h.postgres[0]).is_some_and(|(_, n)| n > 0));
        // A cluster reached over TCP at another address: its paths are another machine's.
        h.postgres[0].spec.target.endpoint = crate::collect::postgres::Endpoint::Tcp {
            host: "10.8.0.5".into(),
            port: 5432,
        };
        assert_eq!(cluster_mount(&h, &h.postgres[0]), None);
    }

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
