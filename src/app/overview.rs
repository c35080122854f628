//! The overview's model: one summary per host, the same numbers the snapshot export prints. Pure.

use std::time::Duration;

use jiff::Timestamp;

use super::containers::{Counts, Problems};
use super::hosts::{HostState, age};
use crate::collect::disks::{self, Filesystem};

#[derive(Debug, Clone, PartialEq)]
pub struct HostSummary<'a> {
    /// Age of the newest data from this host; None when nothing was observed yet.
    pub data_age: Option<Duration>,
    /// None when Docker is off for the host or nothing was observed yet.
    pub containers: Option<Counts>,
    pub problems: Option<Problems>,
    pub fullest_disk: Option<&'a Filesystem>,
}

pub fn summary(host: &HostState, now: Timestamp) -> HostSummary<'_> {
    HostSummary {
        data_age: host.newest_data().map(|t| age(t, now)),
        containers: host
            .containers
            .as_ref()
            .and_then(|o| o.latest())
            .map(|s| count_all(&s.containers)),
        problems: {
            let containers = host
                .containers
                .as_ref()
                .and_then(|o| o.latest())
                .map(|s| Problems::of(&s.containers));
            match postgres_problems(host) {
                0 => containers,
                n => Some(Problems {
                    postgres: n,
                    ..containers.unwrap_or_default()
                }),
            }
        },
        fullest_disk: host.disks.latest().and_then(disks::DisksSnapshot::fullest),
    }
}

/// Per cluster: 1 when it cannot be reached, 1 per critical alert (pool, wraparound), plus
/// the sessions waiting for a lock.
fn postgres_problems(host: &HostState) -> usize {
    host.postgres
        .iter()
        .map(|c| match c.observed.latest() {
            _ if c.observed.error().is_some() => 1,
            None => 0,
            Some(snap) => {
                let crit = super::postgres::alerts(c, snap)
                    .iter()
                    .filter(|(level, _)| *level == super::alerts::Severity::Crit)
                    .count();
                crit + snap.sessions.iter().filter(|s| s.waiting()).count()
            }
        })
        .sum()
}

/// Like [`Counts::of`] but one-off containers count too: the overview totals every container.
fn count_all(containers: &[crate::collect::containers::Container]) -> Counts {
    let mut n = Counts::of(containers);
    let oneoff = containers.iter().filter(|c| c.oneoff);
    for c in oneoff {
        n.total += 1;
        n.running += usize::from(c.state == crate::collect::containers::ContainerState::Running);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;

    #[test]
    fn summary_counts_running_total_and_unhealthy() {
        let h = fleet_host(0, "app1");
        let s = summary(&h, Timestamp::from_second(1_795_000_110).unwrap());
        let c = s.containers.unwrap();
        assert_eq!((c.running, c.total, c.unhealthy), (7, 8, 1));
        let p = s.problems.unwrap();
        assert_eq!(
            (p.unhealthy, p.looping, p.degraded_services),
            (1, 1, 1),
            "shop-api-3 is unhealthy with 4 policy restarts; worker has 1 of 2 running"
        );
        assert_eq!(s.data_age, Some(Duration::from_secs(10)));
        assert_eq!(s.fullest_disk, None);
    }

    #[test]
    fn postgres_waiters_and_unreachable_clusters_are_problems() {
        let mut h = crate::app::postgres::tests::pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        let now = h.postgres[0].observed.observed_at().unwrap();
        let p = summary(&h, now).problems.unwrap();
        assert_eq!(p.postgres, 2, "two sessions of the chain wait for a lock");
        h.postgres[0].observed.interrupt("link down", now);
        assert_eq!(summary(&h, now).problems.unwrap().postgres, 1);
    }
}
