//! What is wrong, decided once. [`alerts`] derives every problem of the fleet from the host
//! states and the thresholds, worst first; the overview, the status line and the panes read
//! its verdicts, and `ui/` only maps a [`Severity`] to a style. Alerts are derived, never
//! stored: the same states give the same alerts. A verdict on data that is no longer current
//! says how old that data is. A host that is down gives one alert (its link), not one per
//! domain: the root cause. Pure: no I/O, no clock (`now` is passed in).

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::hosts::{HostState, Observed, age};
use crate::config::Thresholds;
use crate::event::HostId;
use crate::link::LinkState;
use crate::text;

/// How much something needs attention. Ordered: `Crit` is the worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warn,
    Crit,
}

/// The domain an alert is about: where to look.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Link,
    Containers,
    Disks,
    Tunnels,
    Health,
    Postgres,
    Backups,
    Drills,
    Probes,
    Redis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    #[serde(skip)]
    pub host: HostId,
    #[serde(rename = "host")]
    pub host_name: String,
    pub domain: Domain,
    /// What is wrong, with the value against its threshold.
    pub what: String,
    /// Since when the condition holds, where the data says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The verdict rests on data this old (its source stopped answering); None: current.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::text::opt_secs"
    )]
    pub stale: Option<Duration>,
    /// The row of its pane that shows it, for Enter; None: the host's own row.
    #[serde(skip)]
    pub row: Option<Row>,
}

#[cfg(test)]
impl Alert {
    /// A disk alert of host 0, for tests.
    pub(crate) fn sample(severity: Severity, host_name: &str, what: &str) -> Alert {
        Alert {
            severity,
            host: HostId(0),
            host_name: host_name.into(),
            domain: Domain::Disks,
            what: what.into(),
            since: None,
            stale: None,
            row: None,
        }
    }
}

/// Where in its domain's pane an alert is shown (the pane adds the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A container by id, with the compose group it is listed under.
    Container {
        project: Option<String>,
        service: Option<String>,
        id: String,
    },
    Service(Option<String>, String),
    /// A filesystem by mount point.
    Disk(String),
    /// The host's n-th PostgreSQL cluster.
    Cluster(usize),
    /// A WireGuard peer: interface and public key.
    Peer(String, String),
    /// The host's n-th backup source or drill.
    Item(usize),
}

/// A round trip this long or longer makes a link "slow": a warning before it is down.
pub const SLOW_LINK: Duration = Duration::from_secs(1);

/// Every problem of `hosts`, worst first (then by host, then domain).
pub fn alerts(hosts: &[HostState], t: &Thresholds, now: Timestamp) -> Vec<Alert> {
    let mut out = Vec::new();
    for h in hosts {
        host_alerts(hosts, h, t, now, &mut out);
    }
    sort(&mut out);
    out
}

/// Worst first, then by host and domain; a host's alerts of one domain keep their order.
pub fn sort(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.host.cmp(&b.host))
            .then(a.domain.cmp(&b.domain))
    });
}

/// What [`alerts`] lists for host `h`, appended to `out` unsorted. Only the link states of
/// the other hosts matter to it (a jump host that is down), so a sample from one host needs
/// only its own alerts judged again.
pub fn host_alerts(
    hosts: &[HostState],
    h: &HostState,
    t: &Thresholds,
    now: Timestamp,
    out: &mut Vec<Alert>,
) {
    domain_alerts(hosts, h, t, now, out);
    // Drills are judged from their history, not from the link: a host that is down does not
    // make an overdue drill less overdue.
    let mut rules = Rules {
        host: h,
        out,
        now,
        row: None,
    };
    super::drills::alerts(h, &mut rules);
}

fn domain_alerts(
    hosts: &[HostState],
    h: &HostState,
    t: &Thresholds,
    now: Timestamp,
    out: &mut Vec<Alert>,
) {
    let is_down = |id: HostId| {
        hosts
            .iter()
            .any(|h| h.id == id && matches!(h.link, LinkState::Down { .. }))
    };
    // Hosts reached through a jump host that is down: the jump host's alert names them.
    let behind = |jump: HostId| -> Vec<&str> {
        hosts
            .iter()
            .filter(|h| matches!(h.link, LinkState::Down { .. }) && h.via.contains(&jump))
            .map(|h| h.name.as_str())
            .collect()
    };
    let mut rules = Rules {
        host: h,
        out,
        now,
        row: None,
    };
    match &h.link {
        LinkState::Down { error, since, .. } => {
            // Its domains' data is old; the link is the cause, or a jump host's.
            if h.via.iter().any(|j| is_down(*j)) {
                return;
            }
            // Who it cuts off first: a narrow column keeps the start.
            let through = behind(h.id);
            let what = if through.is_empty() {
                error.to_string()
            } else {
                format!(
                    "cuts off {} (reached through it): {error}",
                    through.join(", ")
                )
            };
            rules.push(Domain::Link, Severity::Crit, what, Some(*since), None);
            return;
        }
        LinkState::Connecting if h.newest_data().is_none() => return, // starting up
        LinkState::Up => {
            if let Some(rtt) = h.rtt.filter(|r| *r >= SLOW_LINK) {
                let what = format!(
                    "slow link: round trip {:.1}s (≥ {}s)",
                    rtt.as_secs_f64(),
                    SLOW_LINK.as_secs()
                );
                rules.push(Domain::Link, Severity::Warn, what, None, None);
            }
        }
        _ => {}
    }
    if let Some(c) = &h.containers {
        rules.observed(Domain::Containers, "Docker", c, |rules, snap, stale| {
            super::containers::alerts(snap, stale, rules)
        });
    }
    if !h.tunnels_only {
        rules.observed(Domain::Disks, "df", &h.disks, |rules, snap, stale| {
            super::disks::alerts(h, snap, t, stale, rules)
        });
    }
    rules.observed(Domain::Tunnels, "wg", &h.tunnels, |rules, snap, stale| {
        super::tunnels::alerts(snap, t, stale, rules)
    });
    if let Some(health) = &h.health {
        rules.observed(
            Domain::Health,
            "/proc",
            &health.observed,
            |rules, snap, stale| super::health::alerts(health, snap, t, stale, rules),
        );
    }
    for (index, cluster) in h.postgres.iter().enumerate() {
        let name = format!("PostgreSQL {}", cluster.name());
        match (&cluster.observed.latest(), cluster.observed.error()) {
            // Unreachable is the alert, whatever the old snapshot said.
            (_, Some(e)) => rules.at(Row::Cluster(index)).push(
                Domain::Postgres,
                Severity::Crit,
                format!("{name} unreachable: {e}"),
                None,
                cluster.observed.age(now),
            ),
            (Some(snap), None) => {
                let stale = cluster.observed.stale_age(now);
                super::postgres::cluster_alerts(index, cluster, snap, stale, &mut rules);
            }
            (None, None) => {}
        }
    }
    super::backups::alerts(h, &mut rules);
    super::probes::alerts(h, &mut rules);
    super::redis::alerts(h, &mut rules);
}

/// How many alerts of each severity: (crit, warn).
pub fn counts<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> (usize, usize) {
    alerts
        .into_iter()
        .fold((0, 0), |(crit, warn), a| match a.severity {
            Severity::Crit => (crit + 1, warn),
            Severity::Warn => (crit, warn + 1),
            Severity::Ok => (crit, warn),
        })
}

/// Collects one host's alerts; the domain modules add theirs through it.
pub struct Rules<'a> {
    host: &'a HostState,
    out: &'a mut Vec<Alert>,
    pub now: Timestamp,
    /// The row the next push is about; taken by it.
    row: Option<Row>,
}

impl Rules<'_> {
    /// Says which row of its pane the next alert pushed is shown in.
    pub fn at(&mut self, row: Row) -> &mut Self {
        self.row = Some(row);
        self
    }

    pub fn push(
        &mut self,
        domain: Domain,
        severity: Severity,
        what: String,
        since: Option<Timestamp>,
        stale: Option<Duration>,
    ) {
        let row = self.row.take();
        if severity == Severity::Ok {
            return;
        }
        self.out.push(Alert {
            severity,
            host: self.host.id,
            host_name: self.host.name.clone(),
            domain,
            what,
            since,
            stale,
            row,
        });
    }

    /// A failed refresh is a warning naming the source; the last good data is judged too,
    /// marked with its age.
    pub(super) fn observed<T>(
        &mut self,
        domain: Domain,
        source: &str,
        o: &Observed<T>,
        judge: impl FnOnce(&mut Self, &T, Option<Duration>),
    ) {
        let now = self.now;
        if let Some(e) = o.error() {
            let what = match o.age(now) {
                Some(a) => format!("{source}: no fresh data for {}: {e}", text::age(a)),
                None => format!("{source}: {e}"),
            };
            self.push(domain, Severity::Warn, what, None, o.age(now));
        }
        if let Some(v) = o.latest() {
            judge(self, v, o.stale_age(now));
        }
    }
}

/// An alert's identity across refreshes: its host, domain and text with its measurements
/// taken out ("disk /var 91% ≥ 90%" and "disk /var 93% ≥ 90%" are one alert that got worse).
/// A measurement is a word that starts with a digit ("91%", "1.2G", "1d0h", "10.0.0.7"); digits
/// inside a name ("/data1", "shop-api-3") are part of the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertKey(pub HostId, pub Domain, pub String);

impl Alert {
    pub fn key(&self) -> AlertKey {
        // A host has one link alert, whatever its error says now (refused, timed out, closed).
        if self.domain == Domain::Link {
            return AlertKey(self.host, self.domain, String::new());
        }
        let mut shape = String::with_capacity(self.what.len());
        let mut measure = false;
        let mut prev: Option<char> = None;
        for c in self.what.chars() {
            let in_name = prev.is_some_and(|p| p.is_alphanumeric() || "-_/.".contains(p));
            if measure {
                if c.is_alphanumeric() || c == '.' || c == '%' {
                    prev = Some(c);
                    continue;
                }
                measure = false;
            } else if c.is_ascii_digit() && !in_name {
                measure = true;
                shape.push('#');
                prev = Some(c);
                continue;
            }
            shape.push(c);
            prev = Some(c);
        }
        AlertKey(self.host, self.domain, shape)
    }
}

/// When each alert was first seen, kept while it holds: "since" for alerts whose data does
/// not say. An alert that clears and comes back starts again.
#[derive(Debug, Default)]
pub struct FirstSeen(std::collections::HashMap<AlertKey, (Timestamp, Severity)>);

impl FirstSeen {
    /// Forgets what cleared, remembers what is new as of `now`; returns the alerts that are
    /// new or worse than they have been while they held (a warning turned critical).
    pub fn track<'a>(&mut self, alerts: &'a [Alert], now: Timestamp) -> Vec<&'a Alert> {
        let keys: std::collections::HashSet<AlertKey> = alerts.iter().map(Alert::key).collect();
        self.0.retain(|k, _| keys.contains(k));
        alerts
            .iter()
            .filter(|a| match self.0.entry(a.key()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((now, a.severity));
                    true
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let worse = a.severity > o.get().1;
                    if worse {
                        o.get_mut().1 = a.severity;
                    }
                    worse
                }
            })
            .collect()
    }

    /// Since when `a` holds: what its data says, else when it was first seen.
    pub fn since(&self, a: &Alert) -> Option<Timestamp> {
        a.since.or_else(|| self.0.get(&a.key()).map(|(t, _)| *t))
    }
}

/// The pane a domain's alerts are shown in, for Enter on an alert.
pub fn pane_of(domain: Domain) -> super::Pane {
    use super::Pane;
    match domain {
        Domain::Link => Pane::Overview,
        Domain::Containers => Pane::Containers,
        Domain::Disks => Pane::Disks,
        Domain::Tunnels => Pane::Tunnels,
        Domain::Health => Pane::Health,
        Domain::Postgres => Pane::Postgres,
        Domain::Backups => Pane::Backups,
        Domain::Drills => Pane::Drills,
        Domain::Probes | Domain::Redis => Pane::Health,
    }
}

/// The alerts pane: every alert, worst first, filtered by host or text.
#[derive(Debug, Clone, Default)]
pub struct AlertsView {
    pub selection: super::list::Selection<AlertKey>,
    pub filter: super::Filter,
}

impl AlertsView {
    /// The selected alert.
    pub fn selected<'a>(&self, alerts: &'a [Alert]) -> Option<&'a Alert> {
        let rows = self.rows(alerts);
        let keys: Vec<AlertKey> = rows.iter().map(|a| a.key()).collect();
        rows.get(self.selection.index(&keys)).copied()
    }

    /// The alerts shown, in order.
    pub fn rows<'a>(&self, alerts: &'a [Alert]) -> Vec<&'a Alert> {
        let f = self.filter.text.to_lowercase();
        alerts
            .iter()
            .filter(|a| {
                f.is_empty()
                    || a.host_name.to_lowercase().contains(&f)
                    || a.what.to_lowercase().contains(&f)
            })
            .collect()
    }

    fn keys(&self, alerts: &[Alert]) -> Vec<AlertKey> {
        self.rows(alerts).iter().map(|a| a.key()).collect()
    }
}

impl super::pane::PaneState for AlertsView {
    super::pane::filter_field!();
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        let keys = self.keys(cx.alerts);
        self.selection.move_by(&keys, delta);
    }
    fn open(&mut self, cx: &super::pane::Ctx<'_>) -> Option<super::pane::Nav> {
        let rows = self.rows(cx.alerts);
        let keys: Vec<AlertKey> = rows.iter().map(|a| a.key()).collect();
        let a = rows.get(self.selection.index(&keys))?;
        Some(super::pane::Nav::Show(
            pane_of(a.domain),
            a.host,
            a.row.clone(),
        ))
    }
    fn contexts(&self) -> &'static [crate::config::keymap::Context] {
        use crate::config::keymap::Context;
        &[Context::List, Context::Alerts]
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        use crate::config::keymap::Action;
        &[
            (Action::Open, "show where"),
            (Action::Acknowledge, "ack"),
            (Action::Silence, "silence"),
        ]
    }
}

/// The duration since `since`, for "for 3m" texts.
pub fn held_for(since: Timestamp, now: Timestamp) -> Duration {
    age(since, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;
    use crate::collect::Sample;
    use crate::collect::disks::{DisksSnapshot, Filesystem};
    use crate::collect::health::HealthSnapshot;
    use crate::event::HostEvent;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + s).unwrap()
    }

    fn fs(mount: &str, used: u64, avail: u64, inodes: Option<(u64, u64)>) -> Filesystem {
        Filesystem {
            device: "/dev/vda1".into(),
            mount: mount.into(),
            size_bytes: used + avail,
            used_bytes: used,
            avail_bytes: avail,
            inodes_used: inodes.map(|i| i.0),
            inodes_total: inodes.map(|i| i.1),
        }
    }

    fn host_with_disks(filesystems: Vec<Filesystem>, at: Timestamp) -> HostState {
        let mut h = HostState::new(HostId(0), &crate::config::HostSpec::local("db1", None));
        h.apply(HostEvent::Link(LinkState::Up), at);
        let snap = DisksSnapshot {
            filesystems,
            observed_at: at,
        };
        h.apply(HostEvent::Sample(Sample::Disks(Ok(snap))), at);
        h
    }

    fn of(alerts: &[Alert], domain: Domain) -> Vec<(Severity, String)> {
        alerts
            .iter()
            .filter(|a| a.domain == domain)
            .map(|a| (a.severity, a.what.clone()))
            .collect()
    }

    #[test]
    fn a_slow_link_is_a_warning_with_its_round_trip() {
        let mut app = crate::app::tests::fleet_app(1);
        app.hosts[0].link = LinkState::Up;
        app.hosts[0].rtt = Some(Duration::from_millis(1500));
        let a = alerts(&app.hosts, &app.thresholds, app.now);
        assert!(
            a.iter().any(|a| a.domain == Domain::Link
                && a.severity == Severity::Warn
                && a.what == "slow link: round trip 1.5s (≥ 1s)"),
            "{a:?}"
        );
        app.hosts[0].rtt = Some(Duration::from_millis(12));
        let a = alerts(&app.hosts, &app.thresholds, app.now);
        assert!(!a.iter().any(|a| a.domain == Domain::Link), "{a:?}");
    }

    #[test]
    fn disk_space_and_inodes_are_judged_against_the_configured_marks() {
        let h = host_with_disks(
            vec![
                fs("/", 79, 21, None),
                fs("/var", 85, 15, None),
                fs("/data", 95, 5, None),
                fs("/tmp", 1, 99, Some((92, 100))),
            ],
            t(0),
        );
        let th = Thresholds::default();
        let a = alerts(std::slice::from_ref(&h), &th, t(1));
        let disks = of(&a, Domain::Disks);
        assert_eq!(disks.len(), 3, "{disks:?}");
        assert_eq!(disks[0].0, Severity::Crit, "worst first: {disks:?}");
        assert!(
            disks
                .iter()
                .any(|(s, w)| *s == Severity::Warn && w.contains("/var"))
        );
        assert!(
            disks
                .iter()
                .any(|(s, w)| *s == Severity::Crit && w.contains("inodes"))
        );
        // The marks come from the config.
        let lax = Thresholds {
            disk_warn_pct: 96.0,
            disk_crit_pct: 99.0,
            ..th
        };
        assert!(of(&alerts(&[h], &lax, t(1)), Domain::Disks).is_empty());
    }

    #[test]
    fn a_down_host_is_one_alert_whatever_its_old_data_says() {
        let mut h = host_with_disks(vec![fs("/", 99, 1, None)], t(0));
        let down = LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: "db1".into(),
                reason: "connection refused".into(),
            },
            since: t(5),
            retry_at: None,
        };
        h.apply(HostEvent::Link(down), t(5));
        let a = alerts(&[h], &Thresholds::default(), t(9));
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            (a[0].domain, a[0].severity, a[0].since),
            (Domain::Link, Severity::Crit, Some(t(5)))
        );
    }

    #[test]
    fn hosts_behind_a_jump_host_that_is_down_are_one_root_cause() {
        let down = |host: &str, at: i64| LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: host.into(),
                reason: "connection refused".into(),
            },
            since: t(at),
            retry_at: None,
        };
        let mut bastion = host_with_disks(vec![], t(0));
        bastion.name = "bastion".into();
        bastion.link = down("bastion", 5);
        let mut all = vec![bastion];
        for i in 1..=2 {
            let mut h = host_with_disks(vec![], t(0));
            h.id = HostId(i);
            h.name = format!("db{i}");
            h.via = vec![HostId(0)];
            h.link = down(&h.name.clone(), 6);
            all.push(h);
        }
        let a = alerts(&all, &Thresholds::default(), t(9));
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].host_name, "bastion");
        assert!(
            a[0].what
                .starts_with("cuts off db1, db2 (reached through it): "),
            "{}",
            a[0].what
        );
        // The bastion back, db1 still down: db1 is its own problem again.
        all[0].link = LinkState::Up;
        all[2].link = LinkState::Up;
        let a = alerts(&all, &Thresholds::default(), t(9));
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            (a[0].host_name.as_str(), a[0].domain),
            ("db1", Domain::Link)
        );
    }

    #[test]
    fn stale_data_is_judged_with_its_age_and_a_failed_refresh_says_why() {
        let mut h = host_with_disks(vec![fs("/", 95, 5, None)], t(0));
        let err = crate::collect::CollectError::parse("df -P", "garbled");
        h.apply(HostEvent::Sample(Sample::Disks(Err(err))), t(40));
        let a = alerts(&[h], &Thresholds::default(), t(100));
        let d: Vec<&Alert> = a.iter().filter(|a| a.domain == Domain::Disks).collect();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().all(|a| a.stale == Some(Duration::from_secs(100))));
        assert!(
            d.iter()
                .any(|a| a.what.contains("garbled") && a.what.contains("1m"))
        );
        // Old but unfailed data older than three intervals is stale too.
        let h = host_with_disks(vec![fs("/", 95, 5, None)], t(0));
        let a = alerts(&[h], &Thresholds::default(), t(91));
        assert_eq!(a[0].stale, Some(Duration::from_secs(91)));
        let h = host_with_disks(vec![fs("/", 95, 5, None)], t(0));
        assert_eq!(alerts(&[h], &Thresholds::default(), t(89))[0].stale, None);
    }

    #[test]
    fn unhealthy_looping_and_short_services_are_alerts_but_a_clean_one_shot_is_not() {
        let h = fleet_host(0, "app1");
        let a = alerts(&[h], &Thresholds::default(), t(110));
        let c = of(&a, Domain::Containers);
        assert!(
            c.iter().any(|(s, w)| *s == Severity::Crit
                && w.contains("shop-api-3")
                && w.contains("unhealthy")),
            "{c:?}"
        );
        assert!(
            c.iter()
                .any(|(s, w)| *s == Severity::Warn && w.contains("worker") && w.contains("1/2")),
            "{c:?}"
        );
        assert!(
            !c.iter().any(|(_, w)| w.contains("migrate")),
            "one-shot exited 0: {c:?}"
        );
    }

    fn health(cpu: f64, mem_used: u64, at: Timestamp) -> HealthSnapshot {
        HealthSnapshot {
            cpu_pct: Some(cpu),
            cpus: 2,
            load: [1.0, 1.0, 1.0],
            uptime: Duration::from_secs(3600),
            mem_total_bytes: 100,
            mem_used_bytes: mem_used,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
            observed_at: at,
        }
    }

    #[test]
    fn cpu_over_its_mark_warns_only_once_it_is_sustained() {
        let mut h = HostState::new(HostId(0), &crate::config::HostSpec::local("app1", None));
        h.apply(HostEvent::Link(LinkState::Up), t(0));
        let th = Thresholds::default(); // 70 % for 1 m
        let feed = |h: &mut HostState, s: i64, cpu: f64| {
            h.apply(
                HostEvent::Sample(Sample::Health(Ok(health(cpu, 10, t(s))))),
                t(s),
            );
        };
        feed(&mut h, 0, 20.0);
        for s in (5..=45).step_by(5) {
            feed(&mut h, s, 85.0);
        }
        assert!(
            of(
                &alerts(std::slice::from_ref(&h), &th, t(45)),
                Domain::Health
            )
            .is_empty(),
            "40 s only"
        );
        for s in (50..=70).step_by(5) {
            feed(&mut h, s, 85.0);
        }
        let a = alerts(std::slice::from_ref(&h), &th, t(70));
        let cpu: Vec<&Alert> = a.iter().filter(|a| a.domain == Domain::Health).collect();
        assert_eq!(cpu.len(), 1, "{a:?}");
        // The reading at 5 s covers 0..5 s: the run began at 0 s.
        assert_eq!(
            (cpu[0].severity, cpu[0].since),
            (Severity::Warn, Some(t(0)))
        );
        assert!(
            cpu[0].what.contains("85%") && cpu[0].what.contains("70%"),
            "{}",
            cpu[0].what
        );
        feed(&mut h, 75, 30.0);
        assert!(
            of(
                &alerts(std::slice::from_ref(&h), &th, t(75)),
                Domain::Health
            )
            .is_empty(),
            "one quiet sample clears it"
        );
        // High again after a gap in the readings (an outage): the run starts afresh.
        for s in [200, 205, 210] {
            feed(&mut h, s, 95.0);
        }
        let a = alerts(std::slice::from_ref(&h), &th, t(210));
        assert!(
            of(&a, Domain::Health).is_empty(),
            "15 s since the gap: {a:?}"
        );
        // Memory over its mark warns at once.
        feed(&mut h, 215, 10.0);
        h.apply(
            HostEvent::Sample(Sample::Health(Ok(health(10.0, 95, t(220))))),
            t(220),
        );
        let m = of(&alerts(&[h], &th, t(220)), Domain::Health);
        assert!(m.len() == 1 && m[0].1.contains("memory 95%"), "{m:?}");
    }

    #[test]
    fn postgres_lock_waits_and_an_unreachable_cluster_are_critical() {
        let mut h = crate::app::postgres::tests::pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        h.link = LinkState::Up;
        let now = h.postgres[0].observed.observed_at().unwrap();
        let a = alerts(std::slice::from_ref(&h), &Thresholds::default(), now);
        let pg = of(&a, Domain::Postgres);
        assert!(
            pg.iter()
                .any(|(s, w)| *s == Severity::Crit && w.contains("wait for a lock")),
            "{pg:?}"
        );
        let err = crate::collect::CollectError::Docker {
            message: "refused".into(),
        };
        h.apply(
            HostEvent::Sample(Sample::Postgres {
                cluster: 0,
                result: Err(err),
            }),
            now,
        );
        let pg = of(&alerts(&[h], &Thresholds::default(), now), Domain::Postgres);
        assert_eq!(pg.len(), 1, "unreachable replaces the old verdicts: {pg:?}");
        assert!(pg[0].1.contains("unreachable"));
    }

    #[test]
    fn first_seen_holds_while_the_alert_holds_even_as_its_value_changes() {
        let a = |what: &str| Alert::sample(Severity::Warn, "web", what);
        assert_eq!(
            a("disk /var 91.5% ≥ 90%").key(),
            a("disk /var 93% ≥ 90%").key()
        );
        assert_ne!(
            a("disk /var 91% ≥ 90%").key(),
            a("disk /srv 91% ≥ 90%").key()
        );
        // Names keep their digits; measurements, whatever their unit, do not count.
        assert_ne!(a("/data1 91% used").key(), a("/data2 91% used").key());
        assert_ne!(
            a("container shop-api-3 is unhealthy").key(),
            a("container shop-api-4 is unhealthy").key()
        );
        assert_eq!(
            a("/var 95% used, 1.2G free (≥ 90%)").key(),
            a("/var 97% used, 980M free (≥ 90%)").key()
        );
        assert_eq!(
            a("drill shop: FAIL 59s ago: x").key(),
            a("drill shop: FAIL 1d0h ago: x").key()
        );
        let mut seen = FirstSeen::default();
        seen.track(&[a("disk /var 91% ≥ 90%")], t(0));
        seen.track(&[a("disk /var 95% ≥ 90%")], t(60));
        assert_eq!(seen.since(&a("disk /var 97% ≥ 90%")), Some(t(0)));
        seen.track(&[], t(120));
        seen.track(&[a("disk /var 91% ≥ 90%")], t(180));
        assert_eq!(
            seen.since(&a("disk /var 91% ≥ 90%")),
            Some(t(180)),
            "cleared, then new"
        );
        // A warning that turns critical is news again; the same severity is not.
        let mut crit = a("disk /var 95% ≥ 90%");
        crit.severity = Severity::Crit;
        assert_eq!(seen.track(std::slice::from_ref(&crit), t(200)).len(), 1);
        assert!(seen.track(std::slice::from_ref(&crit), t(260)).is_empty());
        assert_eq!(seen.since(&crit), Some(t(180)), "since stays");
        let mut dated = a("x");
        dated.since = Some(t(-500));
        assert_eq!(
            seen.since(&dated),
            Some(t(-500)),
            "the data's own since wins"
        );
    }

    #[test]
    fn enter_on_an_alert_shows_its_pane_and_host() {
        let mut app = crate::app::tests::fleet_app(2);
        crate::app::drills::tests::add_drills(&mut app);
        app.pane = super::super::Pane::Alerts;
        let rows = app.panes.alerts.rows(&app.alerts);
        let keys: Vec<AlertKey> = rows.iter().map(|a| a.key()).collect();
        let at = rows
            .iter()
            .position(|a| a.domain == Domain::Drills)
            .expect("a drill alert");
        app.panes.alerts.selection.select(&keys, at);
        let enter = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter);
        app.update(crate::event::AppEvent::Key(enter));
        assert_eq!(app.pane, super::super::Pane::Drills);
        assert_eq!(app.scope, Some(HostId(0)));
    }

    #[test]
    fn judging_only_the_host_a_sample_came_from_gives_what_judging_all_gives() {
        use crate::event::{AppEvent, HostEvent};
        // fleet_app is built by samples alone: each judged only its host's alerts.
        let mut app = crate::app::tests::fleet_app(3);
        crate::app::drills::tests::add_drills(&mut app);
        let all = |app: &crate::app::App| alerts(&app.hosts, &app.thresholds, app.now);
        assert!(app.alerts.len() > 3, "{:#?}", app.alerts);
        assert_eq!(app.alerts, all(&app));
        // A host going down, then a sample from another one, then the clock.
        let down = LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: "host1".into(),
                reason: "gone".into(),
            },
            since: app.now,
            retry_at: None,
        };
        app.update(AppEvent::Host(HostId(1), HostEvent::Link(down)));
        app.update(AppEvent::Host(
            HostId(2),
            HostEvent::Rtt(Duration::from_secs(3)),
        ));
        assert_eq!(app.alerts, all(&app));
        app.update(AppEvent::Clock(
            app.now + jiff::SignedDuration::from_hours(30),
        ));
        assert_eq!(app.alerts, all(&app));
    }

    #[test]
    fn enter_on_an_alert_selects_the_row_that_shows_it() {
        use super::super::{Pane, containers, disks, items};
        let mut app = crate::app::tests::fleet_app(3);
        crate::app::drills::tests::add_drills(&mut app);
        let enter = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter);
        let mut landed = std::collections::BTreeSet::new();
        for i in 0..app.alerts.len() {
            app.pane = Pane::Alerts;
            app.scope = None;
            let alerts = app.alerts.clone();
            let rows = app.panes.alerts.rows(&alerts);
            let keys: Vec<AlertKey> = rows.iter().map(|a| a.key()).collect();
            let a = rows[i].clone();
            app.panes.alerts.selection.select(&keys, i);
            app.update(crate::event::AppEvent::Key(enter));
            assert_eq!(app.pane, pane_of(a.domain));
            // The overview lists every host and selects this one; other panes narrow to it.
            let scope = (app.pane != Pane::Overview).then_some(a.host);
            assert_eq!(app.scope, scope);
            let p = &app.panes;
            let ok = match &a.row {
                Some(Row::Container { id, .. }) => {
                    p.containers.selection.key()
                        == Some(&containers::RowKey::Container(a.host, id.clone()))
                }
                Some(Row::Disk(m)) => {
                    p.disks.selection.key() == Some(&disks::RowKey::Disk(a.host, m.clone()))
                }
                Some(Row::Item(n)) if a.domain == Domain::Drills => {
                    p.drills.selection.key() == Some(&items::ItemKey::Item(a.host, *n))
                }
                _ => continue,
            };
            assert!(ok, "{a:?} not selected");
            landed.insert(a.domain);
        }
        assert_eq!(
            landed,
            [Domain::Containers, Domain::Disks, Domain::Drills].into(),
            "the fixture has alerts of these domains"
        );
    }

    #[test]
    fn only_critical_alerts_new_after_the_quiet_start_are_notices() {
        let mut app = crate::app::tests::fleet_app(2);
        assert!(
            app.take_notices().is_empty(),
            "what was wrong at start is not news"
        );
        let later = app.now + jiff::SignedDuration::from_secs(60);
        app.update(crate::event::AppEvent::Clock(later));
        assert!(app.take_notices().is_empty(), "nothing new");
        let down = LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: "host1".into(),
                reason: "gone".into(),
            },
            since: later,
            retry_at: None,
        };
        app.update(crate::event::AppEvent::Host(
            HostId(1),
            HostEvent::Link(down),
        ));
        let news = app.take_notices();
        assert_eq!(news.len(), 1, "{news:?}");
        assert_eq!((news[0].domain, news[0].host), (Domain::Link, HostId(1)));
        assert!(app.take_notices().is_empty(), "taken once");
    }

    #[test]
    fn a_acknowledges_with_an_audit_line_and_a_save_and_leaves_the_counts() {
        let mut app = crate::app::tests::fleet_app(1);
        app.pane = super::super::Pane::Alerts;
        let before = app.active_counts();
        let first = app.alerts[0].clone();
        assert_eq!(first.severity, Severity::Crit);
        let key = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('a'));
        let effects = app.update(crate::event::AppEvent::Key(key));
        let audit = effects
            .iter()
            .find_map(|e| match e {
                super::super::Effect::Audit(r) => Some(r),
                _ => None,
            })
            .expect("an audit line");
        assert_eq!(audit.action, crate::actions::JobKind::Acknowledge);
        assert_eq!(audit.detail.as_deref(), Some("acknowledged"));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, super::super::Effect::SaveMutes(m) if m.acks.len() == 1)),
            "{effects:?}"
        );
        assert_eq!(app.active_counts(), (before.0 - 1, before.1));
        // z on a warning silences it: out of the counts too.
        let key = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('z'));
        let warn_at = app
            .alerts
            .iter()
            .position(|a| a.severity == Severity::Warn)
            .unwrap();
        let keys: Vec<AlertKey> = app.alerts.iter().map(Alert::key).collect();
        app.panes.alerts.selection.select(&keys, warn_at);
        app.update(crate::event::AppEvent::Key(key));
        assert_eq!(app.active_counts(), (before.0 - 1, before.1 - 1));
        assert_eq!(app.mutes.silences.len(), 1);
    }
}
