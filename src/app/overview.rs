//! The overview's model: one summary per host, the same numbers the snapshot export prints.
//! Its problems are the alerts' (decided in `alerts`), not counted here. Pure.

use std::time::Duration;

use jiff::Timestamp;

use super::alerts::{Alert, Severity};
use super::containers::Counts;
use super::hosts::{HostState, age};
use crate::collect::disks::{self, Filesystem};
use crate::collect::health::HealthSnapshot;

/// The overview pane's own state: the selected host and the filter on host names.
#[derive(Debug, Clone, Default)]
pub struct OverviewView {
    pub selection: super::list::Selection<crate::event::HostId>,
    pub filter: super::Filter,
}

impl super::pane::PaneState for OverviewView {
    super::pane::filter_field!();
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        self.selection.move_by(&cx.host_ids, delta);
    }
    fn open(&mut self, cx: &super::pane::Ctx<'_>) -> Option<super::pane::Nav> {
        let at = self.selection.index(&cx.host_ids);
        cx.host_ids
            .get(at)
            .map(|id| super::pane::Nav::DrillInto(*id))
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        &[(crate::config::keymap::Action::Open, "drill down")]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostSummary<'a> {
    /// Age of the newest data from this host; None when nothing was observed yet.
    pub data_age: Option<Duration>,
    /// None when Docker is off for the host or nothing was observed yet.
    pub containers: Option<Counts>,
    pub fullest_disk: Option<&'a Filesystem>,
    pub health: Option<&'a HealthSnapshot>,
    /// This host's alerts, worst first.
    pub alerts: Vec<&'a Alert>,
}

impl HostSummary<'_> {
    pub fn worst(&self) -> Severity {
        self.alerts.first().map_or(Severity::Ok, |a| a.severity)
    }
}

pub fn summary<'a>(host: &'a HostState, alerts: &'a [Alert], now: Timestamp) -> HostSummary<'a> {
    HostSummary {
        data_age: host.newest_data().map(|t| age(t, now)),
        containers: host
            .containers
            .as_ref()
            .and_then(|o| o.latest())
            .map(|s| count_all(&s.containers)),
        fullest_disk: host.disks.latest().and_then(disks::DisksSnapshot::fullest),
        health: host.health.as_ref().and_then(|h| h.observed.latest()),
        alerts: alerts.iter().filter(|a| a.host == host.id).collect(),
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
    use crate::config::Thresholds;

    #[test]
    fn summary_counts_running_total_and_takes_the_hosts_alerts_worst_first() {
        let h = fleet_host(0, "app1");
        let now = Timestamp::from_second(1_795_000_110).unwrap();
        let alerts =
            crate::app::alerts::alerts(std::slice::from_ref(&h), &Thresholds::default(), now);
        let s = summary(&h, &alerts, now);
        let c = s.containers.unwrap();
        assert_eq!((c.running, c.total, c.unhealthy), (7, 8, 1));
        assert_eq!(s.worst(), Severity::Crit, "shop-api-3 is unhealthy");
        assert!(
            s.alerts.len() >= 2,
            "and worker has 1 of 2 running: {:?}",
            s.alerts
        );
        assert_eq!(s.data_age, Some(Duration::from_secs(10)));
        assert_eq!(s.fullest_disk, None);
    }

    #[test]
    fn postgres_waiters_and_unreachable_clusters_are_the_hosts_problems() {
        let mut h = crate::app::postgres::tests::pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        h.link = crate::link::LinkState::Up;
        let now = h.postgres[0].observed.observed_at().unwrap();
        let th = Thresholds::default();
        let alerts = crate::app::alerts::alerts(std::slice::from_ref(&h), &th, now);
        let pg = |h: &HostState, alerts: &[Alert]| -> Vec<String> {
            summary(h, alerts, now)
                .alerts
                .iter()
                .filter(|a| a.domain == crate::app::alerts::Domain::Postgres)
                .map(|a| a.what.clone())
                .collect()
        };
        let found = pg(&h, &alerts);
        assert!(found[0].contains("2 sessions wait for a lock"), "{found:?}");
        h.postgres[0].observed.interrupt("link down", now);
        let alerts = crate::app::alerts::alerts(std::slice::from_ref(&h), &th, now);
        let found = pg(&h, &alerts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("unreachable: link down"));
    }
}
