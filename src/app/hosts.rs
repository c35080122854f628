//! Per-host state: the link and each domain's last observation. Pure.

use std::time::Duration;

use jiff::Timestamp;

use crate::collect::containers::ContainersSnapshot;
use crate::collect::disks::DisksSnapshot;
use crate::collect::health::HealthSnapshot;
use crate::collect::postgres::Snapshot;
use crate::collect::stats::StatsSample;
use crate::collect::tunnels::TunnelsSnapshot;
use crate::collect::{CollectError, Sample};
use crate::config::{HostSpec, PgSpec};
use crate::event::{HostEvent, HostId};
use crate::link::LinkState;

/// Data older than this many refresh intervals is stale.
pub const STALE_AFTER_INTERVALS: u32 = 3;

/// The last good value of something collected, when it was observed, and the last error.
/// Old data is kept when a refresh fails, so a pane can say "3m old: <why>".
#[derive(Debug, Clone)]
pub struct Observed<T> {
    value: Option<T>,
    at: Option<Timestamp>,
    error: Option<(String, Timestamp)>,
    /// The refresh interval; for streamed data, the resync interval.
    interval: Duration,
    /// Streamed data (the Docker events stream) is current while the stream is up.
    streamed: bool,
}

/// How current an observation is, for titles and the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing observed yet and no error.
    Waiting,
    /// A stream is delivering changes as they happen.
    Live,
    Fresh(Duration),
    /// Older than [`STALE_AFTER_INTERVALS`] intervals, or the last refresh failed.
    Stale(Duration),
    /// Never observed; the last attempt failed.
    Failed,
}

impl<T> Observed<T> {
    pub fn polled(interval: Duration) -> Self {
        Observed {
            value: None,
            at: None,
            error: None,
            interval,
            streamed: false,
        }
    }

    pub fn streamed(resync: Duration) -> Self {
        Observed {
            streamed: true,
            ..Self::polled(resync)
        }
    }

    /// Records a result observed at `at` (a failure keeps the previous value).
    pub fn record(&mut self, result: Result<T, CollectError>, at: Timestamp) {
        match result {
            Ok(v) => {
                self.value = Some(v);
                self.at = Some(at);
                self.error = None;
            }
            Err(e) => self.error = Some((e.to_string(), at)),
        }
    }

    /// Marks the data as no longer current (its source went away), keeping the value.
    pub fn interrupt(&mut self, reason: &str, at: Timestamp) {
        if self.error.is_none() {
            self.error = Some((reason.to_owned(), at));
        }
    }

    pub fn latest(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_ref().map(|(e, _)| e.as_str())
    }

    pub fn observed_at(&self) -> Option<Timestamp> {
        self.at
    }

    /// The refresh (or resync) interval staleness is measured against.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn age(&self, now: Timestamp) -> Option<Duration> {
        self.at.map(|at| age(at, now))
    }

    /// The age of an observation whose source stopped answering, or that is older than its
    /// interval allows; None while it is current. Verdicts on it carry this age.
    pub fn stale_age(&self, now: Timestamp) -> Option<Duration> {
        match self.freshness(now) {
            Freshness::Stale(a) => Some(a),
            _ => None,
        }
    }

    pub fn freshness(&self, now: Timestamp) -> Freshness {
        match (self.age(now), &self.error) {
            (None, None) => Freshness::Waiting,
            (None, Some(_)) => Freshness::Failed,
            (Some(age), Some(_)) => Freshness::Stale(age),
            (Some(_), None) if self.streamed => Freshness::Live,
            (Some(age), None) if age > self.interval * STALE_AFTER_INTERVALS => {
                Freshness::Stale(age)
            }
            (Some(age), None) => {
                // Drawn as fresh now, as stale from then on.
                crate::text::changes_in(self.interval * STALE_AFTER_INTERVALS - age);
                Freshness::Fresh(age)
            }
        }
    }
}

/// `now - then`, never negative (a host's clock may run ahead of ours).
pub fn age(then: Timestamp, now: Timestamp) -> Duration {
    crate::text::elapsed(then, now)
}

#[derive(Debug, Clone)]
pub struct HostState {
    pub id: HostId,
    pub name: String,
    pub link: LinkState,
    /// None when Docker is disabled for this host.
    pub containers: Option<Observed<ContainersSnapshot>>,
    pub disks: Observed<DisksSnapshot>,
    /// Docker's disk use (images, containers, volumes, build cache); None without Docker.
    pub docker_usage: Option<Observed<crate::collect::docker_usage::DockerUsage>>,
    /// Used space over time per filesystem, for the time-to-full forecast.
    pub growth: super::disks::Growth,
    pub tunnels: Observed<TunnelsSnapshot>,
    /// None on a tunnels-only host (the admin's own machine).
    pub health: Option<Health>,
    pub read_only: bool,
    /// The admin's own machine, watched only for its WireGuard tunnels.
    pub tunnels_only: bool,
    /// "local" or the SSH address, for the overview.
    pub address: String,
    /// CPU and memory of the containers last asked for (those on screen).
    pub stats: Option<StatsSample>,
    /// The PostgreSQL clusters reached through this host, in config order.
    pub postgres: Vec<Cluster>,
    /// Configured hosts this one is reached through (its ProxyJump hops that are also watched):
    /// when one of them is down, that is the root cause of this one being down.
    pub via: Vec<HostId>,
    /// The SSH session's last round trip; None while it is not up (or is local).
    pub rtt: Option<Duration>,
    /// The backup sources on this host, in config order.
    pub backups: Vec<super::backups::BackupSource>,
    /// Health probes run from this host.
    pub probes: Vec<super::probes::ProbeState>,
    /// Redis servers reached from this host.
    pub redis: Vec<super::redis::RedisState>,
    /// Restore drills that run on this host, with their history.
    pub drills: Vec<super::drills::DrillState>,
}

/// For each host, the configured hosts among its ProxyJump hops (matched by address and port).
pub fn jump_hosts(specs: &[HostSpec]) -> Vec<Vec<HostId>> {
    let address = |s: &HostSpec| match &s.transport {
        crate::config::Transport::Ssh(t) => Some((t.host_name.clone(), t.port)),
        crate::config::Transport::Local => None,
    };
    specs
        .iter()
        .map(|s| match &s.transport {
            crate::config::Transport::Ssh(t) => t
                .jumps
                .iter()
                .filter_map(|hop| {
                    let at = (hop.host_name.clone(), hop.port);
                    specs
                        .iter()
                        .position(|o| address(o) == Some(at.clone()))
                        .map(HostId)
                })
                .collect(),
            crate::config::Transport::Local => Vec::new(),
        })
        .collect()
}

/// Host health: the last reading and the recent CPU figures (for "sustained" and the sparkline).
#[derive(Debug, Clone)]
pub struct Health {
    pub observed: Observed<HealthSnapshot>,
    /// (when, CPU %) of the last readings, oldest first, at most [`CPU_HISTORY`].
    pub cpu: std::collections::VecDeque<(Timestamp, f64)>,
}

/// CPU readings kept per host: an hour at the default 5 s interval, so `cpu_for` marks up to
/// that long can be judged.
pub const CPU_HISTORY: usize = 720;

impl Health {
    fn record(&mut self, r: Result<HealthSnapshot, CollectError>, now: Timestamp) {
        let at = r.as_ref().map_or(now, |s| s.observed_at);
        // A failed reading or an outage leaves a gap in the history, which breaks a run of
        // high CPU (see `cpu_over_since`): what happened meanwhile is unknown.
        if let Ok(Some(pct)) = r.as_ref().map(|s| s.cpu_pct) {
            if self.cpu.len() == CPU_HISTORY {
                self.cpu.pop_front();
            }
            self.cpu.push_back((at, pct));
        }
        self.observed.record(r, at);
    }

    /// Since when CPU has been at or over `pct` without a break, if it is now. Each reading is
    /// the busy share of the interval that ends at its time, so the run starts where the
    /// interval of its first high reading began: the previous reading, or one interval back.
    /// Readings more than two intervals apart are a break.
    pub fn cpu_over_since(&self, pct: f64) -> Option<Timestamp> {
        let interval = self.observed.interval();
        let gap = |later: Timestamp, earlier: Timestamp| age(earlier, later) > interval * 2;
        let mut readings = self.cpu.iter().rev().peekable();
        let mut first_high = None;
        while let Some((at, v)) = readings.next() {
            if *v < pct {
                return first_high.map(|_| *at);
            }
            first_high = Some(*at);
            match readings.peek() {
                Some((before, _)) if gap(*at, *before) => break,
                _ => {}
            }
        }
        let at = first_high?;
        let back = jiff::SignedDuration::try_from(interval).unwrap_or_default();
        Some(at.checked_sub(back).unwrap_or(at))
    }
}

/// One PostgreSQL cluster: its thresholds and its last snapshot.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub spec: PgSpec,
    pub observed: Observed<Box<Snapshot>>,
}

impl Cluster {
    pub fn name(&self) -> &str {
        &self.spec.target.name
    }
}

impl HostState {
    pub fn new(id: HostId, spec: &HostSpec) -> Self {
        HostState {
            id,
            name: spec.name.clone(),
            link: LinkState::Connecting,
            containers: spec
                .docker_socket
                .as_ref()
                .map(|_| Observed::streamed(spec.containers_resync)),
            disks: Observed::polled(spec.disks_interval),
            growth: Default::default(),
            docker_usage: spec
                .docker_socket
                .as_ref()
                .map(|_| Observed::polled(crate::collect::docker_usage::INTERVAL)),
            tunnels: Observed::polled(spec.tunnels_interval),
            health: (!spec.tunnels_only).then(|| Health {
                observed: Observed::polled(spec.health_interval),
                cpu: Default::default(),
            }),
            read_only: spec.read_only,
            tunnels_only: spec.tunnels_only,
            address: match &spec.transport {
                crate::config::Transport::Local => "local".to_owned(),
                crate::config::Transport::Ssh(t) => format!(
                    "{}@{}",
                    t.user,
                    crate::link::ssh::session::display_addr(&t.host_name, t.port)
                ),
            },
            stats: None,
            via: Vec::new(),
            rtt: None,
            probes: spec
                .probes
                .iter()
                .map(super::probes::ProbeState::new)
                .collect(),
            redis: spec
                .redis
                .iter()
                .map(super::redis::RedisState::new)
                .collect(),
            drills: spec
                .drills
                .iter()
                .map(|d| super::drills::DrillState {
                    spec: d.clone(),
                    history: Vec::new(),
                })
                .collect(),
            backups: spec
                .backups
                .iter()
                .map(|b| super::backups::BackupSource {
                    spec: b.clone(),
                    observed: Observed::polled(b.interval),
                })
                .collect(),
            postgres: spec
                .postgres
                .iter()
                .map(|pg| Cluster {
                    spec: pg.clone(),
                    observed: Observed::polled(pg.interval),
                })
                .collect(),
        }
    }

    pub fn apply(&mut self, event: HostEvent, now: Timestamp) {
        match event {
            HostEvent::Rtt(rtt) => {
                // Ping jitter (12 ms, 13 ms, 12 ms) would redraw every host's row every ten
                // seconds for nothing an admin acts on: the shown round trip moves when it
                // changes by a quarter (or 2 ms), or crosses the slow-link threshold.
                let slow = |d: Duration| d >= super::alerts::SLOW_LINK;
                let moved = self.rtt.is_none_or(|old| {
                    old.abs_diff(rtt) > (old / 4).max(Duration::from_millis(2))
                        || slow(old) != slow(rtt)
                });
                if moved {
                    self.rtt = Some(rtt);
                }
            }
            HostEvent::Link(state) => {
                if state != LinkState::Up {
                    self.rtt = None;
                }
                // Nothing arrives over a dead link: what is shown is no longer live.
                if let LinkState::Down { error, .. } = &state {
                    let reason = format!("link down: {error}");
                    if let Some(c) = &mut self.containers {
                        c.interrupt(&reason, now);
                    }
                    self.disks.interrupt(&reason, now);
                    if let Some(u) = &mut self.docker_usage {
                        u.interrupt(&reason, now);
                    }
                    self.tunnels.interrupt(&reason, now);
                    if let Some(h) = &mut self.health {
                        h.observed.interrupt(&reason, now);
                    }
                    for c in &mut self.postgres {
                        c.observed.interrupt(&reason, now);
                    }
                    for b in &mut self.backups {
                        b.observed.interrupt(&reason, now);
                    }
                    for p in &mut self.probes {
                        p.observed.interrupt(&reason, now);
                    }
                    for r in &mut self.redis {
                        r.observed.interrupt(&reason, now);
                    }
                }
                self.link = state;
            }
            HostEvent::Sample(sample) => self.record(sample, now),
            // A failed sample keeps the numbers shown; they are only a hint.
            HostEvent::Stats(r) => {
                if let Ok(s) = r {
                    self.stats = Some(s);
                }
            }
            // Routed by `App::update`, which owns log views and actions.
            HostEvent::Logs(_) | HostEvent::Action(..) => {}
        }
    }

    /// Files one collector's sample with its domain: the one place a new domain registers.
    fn record(&mut self, sample: Sample, now: Timestamp) {
        let at = |t: Option<Timestamp>| t.unwrap_or(now);
        match sample {
            Sample::Containers(r) => {
                let t = at(r.as_ref().ok().map(|s| s.observed_at));
                if let Some(c) = &mut self.containers {
                    c.record(r, t);
                }
            }
            Sample::Disks(r) => {
                let t = at(r.as_ref().ok().map(|s| s.observed_at));
                if let Ok(snap) = &r {
                    self.growth.record(snap, self.disks.interval());
                }
                self.disks.record(r, t);
            }
            Sample::DockerUsage(r) => {
                let t = at(r.as_ref().ok().map(|s| s.observed_at));
                if let Some(u) = &mut self.docker_usage {
                    u.record(r, t);
                }
            }
            Sample::Tunnels(r) => {
                let t = at(r.as_ref().ok().map(|s| s.observed_at));
                self.tunnels.record(r, t);
            }
            Sample::Health(r) => {
                if let Some(h) = &mut self.health {
                    h.record(r, now);
                }
            }
            Sample::Postgres { cluster, result } => {
                if let Some(c) = self.postgres.get_mut(cluster) {
                    let t = at(result.as_ref().ok().map(|s| s.observed_at));
                    c.observed.record(result.map(|s| s.snapshot), t);
                }
            }
            Sample::Backups { source, result } => {
                if let Some(b) = self.backups.get_mut(source) {
                    let t = at(result.as_ref().ok().map(|s| s.observed_at));
                    b.observed.record(result, t);
                }
            }
            Sample::Probe { index, result } => {
                if let Some(p) = self.probes.get_mut(index) {
                    if let Ok(r) = &result {
                        p.record(r.clone());
                    }
                    let t = at(result.as_ref().ok().map(|r| r.observed_at));
                    p.observed.record(result, t);
                }
            }
            Sample::Redis { index, result } => {
                if let Some(r) = self.redis.get_mut(index) {
                    if let Ok(info) = &result {
                        r.record(info);
                    }
                    let t = at(result.as_ref().ok().map(|i| i.observed_at));
                    r.observed.record(result.map(|i| *i), t);
                }
            }
        }
    }

    pub fn disks_interval(&self) -> Duration {
        self.disks.interval()
    }

    /// When anything from this host was last observed.
    pub fn newest_data(&self) -> Option<Timestamp> {
        let containers = self.containers.as_ref().and_then(Observed::observed_at);
        containers.into_iter().chain(self.disks.observed_at()).max()
    }

    /// Every collector's latest attempt succeeded.
    pub fn all_answered(&self) -> bool {
        let ok = |o: Option<Timestamp>, e: Option<&str>| o.is_some() && e.is_none();
        self.link == LinkState::Up
            && self
                .containers
                .as_ref()
                .is_none_or(|c| ok(c.observed_at(), c.error()))
            && (self.tunnels_only || ok(self.disks.observed_at(), self.disks.error()))
            && self
                .docker_usage
                .as_ref()
                .is_none_or(|u| ok(u.observed_at(), u.error()))
            && ok(self.tunnels.observed_at(), self.tunnels.error())
            && self
                .health
                .as_ref()
                .is_none_or(|h| ok(h.observed.observed_at(), h.observed.error()))
            && self
                .postgres
                .iter()
                .all(|c| ok(c.observed.observed_at(), c.observed.error()))
            && self
                .backups
                .iter()
                .all(|b| ok(b.observed.observed_at(), b.observed.error()))
            && self
                .probes
                .iter()
                .all(|p| ok(p.observed.observed_at(), p.observed.error()))
            && self
                .redis
                .iter()
                .all(|r| ok(r.observed.observed_at(), r.observed.error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn err() -> CollectError {
        CollectError::Docker {
            message: "boom".into(),
        }
    }

    #[test]
    fn polled_data_goes_stale_after_three_intervals() {
        let mut o = Observed::polled(Duration::from_secs(10));
        assert_eq!(o.freshness(t(0)), Freshness::Waiting);
        o.record(Ok(1), t(100));
        assert_eq!(
            o.freshness(t(130)),
            Freshness::Fresh(Duration::from_secs(30))
        );
        assert_eq!(
            o.freshness(t(131)),
            Freshness::Stale(Duration::from_secs(31))
        );
    }

    #[test]
    fn a_failure_keeps_old_data_and_marks_it_stale() {
        let mut o = Observed::streamed(Duration::from_secs(60));
        o.record(Ok(1), t(100));
        assert_eq!(o.freshness(t(5000)), Freshness::Live);
        o.record(Err(err()), t(105));
        assert_eq!(o.latest(), Some(&1));
        assert_eq!(o.error(), Some("boom"));
        assert_eq!(
            o.freshness(t(110)),
            Freshness::Stale(Duration::from_secs(10))
        );
        o.record(Ok(2), t(111));
        assert_eq!(o.freshness(t(112)), Freshness::Live);
    }

    #[test]
    fn the_round_trip_shown_ignores_jitter_but_not_a_real_change_or_the_slow_threshold() {
        use crate::event::{AppEvent, HostEvent, HostId};
        let mut app = crate::app::tests::fleet_app(1);
        let ms = Duration::from_millis;
        let mut rtt = |d| {
            app.update(AppEvent::Host(HostId(0), HostEvent::Rtt(d)));
            app.hosts[0].rtt
        };
        assert_eq!(rtt(ms(12)), Some(ms(12)));
        assert_eq!(rtt(ms(13)), Some(ms(12)), "jitter");
        assert_eq!(rtt(ms(11)), Some(ms(12)), "jitter");
        assert_eq!(rtt(ms(40)), Some(ms(40)), "a real change");
        assert_eq!(rtt(ms(900)), Some(ms(900)));
        assert_eq!(
            rtt(ms(1_000)),
            Some(ms(1_000)),
            "slow from here: the alert must see it"
        );
        assert_eq!(rtt(ms(990)), Some(ms(990)), "and when it is no longer slow");
    }

    #[test]
    fn failure_without_data_is_failed() {
        let mut o: Observed<i32> = Observed::polled(Duration::from_secs(10));
        o.record(Err(err()), t(1));
        assert_eq!(o.freshness(t(2)), Freshness::Failed);
    }

    #[test]
    fn a_watched_proxyjump_hop_is_known_as_the_way_to_its_hosts() {
        use crate::config::{HostSpec, Transport};
        use crate::link::ssh::target::SshConfig;
        let config = SshConfig::parse_str(
            "Host bastion\n  HostName 10.0.0.1\nHost db1 db2\n  ProxyJump bastion\n",
        )
        .unwrap();
        let home = std::path::Path::new("/home/alice");
        let spec = |name: &str| {
            let mut s = HostSpec::local(name, None);
            s.transport = Transport::Ssh(Box::new(config.resolve(name, "alice", home).unwrap()));
            s
        };
        let specs = [
            spec("bastion"),
            spec("db1"),
            spec("db2"),
            HostSpec::local("me", None),
        ];
        let via = jump_hosts(&specs);
        assert_eq!(via, [vec![], vec![HostId(0)], vec![HostId(0)], vec![]]);
    }

    #[test]
    fn clock_skew_never_gives_negative_ages() {
        assert_eq!(age(t(200), t(100)), Duration::ZERO);
    }
}
