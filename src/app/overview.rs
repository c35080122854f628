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
        problems: host
            .containers
            .as_ref()
            .and_then(|o| o.latest())
            .map(|s| Problems::of(&s.containers)),
        fullest_disk: host.disks.latest().and_then(disks::DisksSnapshot::fullest),
    }
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
}
