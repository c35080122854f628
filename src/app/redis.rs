//! Redis servers: each one's last INFO, the keys it evicted between the last two reads, and
//! the verdicts: unreachable or refusing us is critical, a failed save or a replica cut off
//! from its primary too; clients or memory near their limit, evictions, a lagging replica and
//! unsaved changes older than policy are warnings. Pure.

use super::alerts::{Domain, Rules, Severity};
use super::hosts::{HostState, Observed};
use crate::collect::redis::RedisInfo;
use crate::config::redis::RedisSpec;
use crate::text;

#[derive(Debug, Clone)]
pub struct RedisState {
    pub spec: RedisSpec,
    pub observed: Observed<RedisInfo>,
    /// Keys evicted between the last two reads; None until there are two of one server run.
    pub evicted: Option<u64>,
}

impl RedisState {
    pub fn new(spec: &RedisSpec) -> Self {
        RedisState {
            spec: spec.clone(),
            observed: Observed::polled(spec.interval),
            evicted: None,
        }
    }

    /// Notes the evictions since the previous read (none across a server restart).
    pub fn record(&mut self, info: &RedisInfo) {
        self.evicted = self.observed.latest().and_then(|prev| {
            (info.uptime_secs >= prev.uptime_secs)
                .then(|| info.evicted_keys.saturating_sub(prev.evicted_keys))
        });
    }
}

fn pct(used: u64, of: u64) -> f64 {
    used as f64 * 100.0 / of.max(1) as f64
}

/// Every problem of one server's INFO, as (severity, what).
pub fn problems(r: &RedisState, i: &RedisInfo, now: jiff::Timestamp) -> Vec<(Severity, String)> {
    let s = &r.spec;
    let mut out = Vec::new();
    if let Some(max) = i.maxclients {
        let p = pct(i.connected_clients, max);
        if p >= s.clients_alert_pct {
            let sev = if i.connected_clients >= max {
                Severity::Crit
            } else {
                Severity::Warn
            };
            out.push((
                sev,
                format!(
                    "{} clients of {max} ({p:.0}% ≥ {:.0}%)",
                    i.connected_clients, s.clients_alert_pct
                ),
            ));
        }
    }
    if let Some(max) = i.maxmemory {
        let p = pct(i.used_memory, max);
        if p >= s.memory_alert_pct {
            // At the limit a noeviction server refuses writes; others evict.
            let sev = if p >= 98.0 && i.maxmemory_policy == "noeviction" {
                Severity::Crit
            } else {
                Severity::Warn
            };
            out.push((
                sev,
                format!(
                    "memory {p:.0}% of {} (≥ {:.0}%, {})",
                    text::bytes(max),
                    s.memory_alert_pct,
                    i.maxmemory_policy
                ),
            ));
        }
    }
    if let Some(n) = r.evicted.filter(|n| *n > 0) {
        out.push((
            Severity::Warn,
            format!(
                "evicted {n} keys since the last read ({})",
                i.maxmemory_policy
            ),
        ));
    }
    if !i.rdb_last_bgsave_ok {
        out.push((Severity::Crit, "the last RDB save failed".into()));
    }
    if i.aof_enabled && !i.aof_last_write_ok {
        out.push((Severity::Crit, "the last AOF write failed".into()));
    }
    if i.aof_enabled && !i.aof_last_rewrite_ok {
        out.push((Severity::Warn, "the last AOF rewrite failed".into()));
    }
    if let (Some(max), Some(saved)) = (s.save_max_age, i.rdb_last_save) {
        let a = super::hosts::age(saved, now);
        if i.rdb_changes_since_last_save > 0 && a > max {
            out.push((
                Severity::Warn,
                format!(
                    "{} changes unsaved, last RDB save {} ago (≥ {})",
                    i.rdb_changes_since_last_save,
                    text::age(a),
                    text::age(max)
                ),
            ));
        }
    }
    if i.primary_link_up == Some(false) {
        let heard = i
            .primary_last_io_secs
            .map_or(String::new(), |s| format!(", last heard {s}s ago"));
        out.push((
            Severity::Crit,
            format!("replica cut off from its primary{heard}"),
        ));
    }
    for rep in &i.replicas {
        if rep.state != "online" {
            out.push((
                Severity::Warn,
                format!("replica {} is {}", rep.addr, rep.state),
            ));
        } else if rep.lag_secs >= s.lag_alert.as_secs() {
            out.push((
                Severity::Warn,
                format!(
                    "replica {} lags {}s (≥ {}s)",
                    rep.addr,
                    rep.lag_secs,
                    s.lag_alert.as_secs()
                ),
            ));
        }
    }
    out
}

pub fn alerts(host: &HostState, rules: &mut Rules<'_>) {
    let now = rules.now;
    for r in &host.redis {
        let name = format!("Redis {}", r.spec.name);
        match (r.observed.latest(), r.observed.error()) {
            // Unreachable is the alert, whatever the last INFO said.
            (_, Some(e)) => rules.push(
                Domain::Redis,
                Severity::Crit,
                format!("{name} unreachable: {e}"),
                None,
                r.observed.age(now),
            ),
            (Some(i), None) => {
                let stale = r.observed.stale_age(now);
                for (sev, what) in problems(r, i, now) {
                    rules.push(Domain::Redis, sev, format!("{name}: {what}"), None, stale);
                }
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collect::postgres::Endpoint;
    use crate::collect::redis::Replica;

    fn state() -> RedisState {
        RedisState::new(&RedisSpec {
            name: "cache".into(),
            endpoint: Endpoint::Unix("/s".into()),
            user: None,
            password: None,
            interval: Duration::from_secs(10),
            clients_alert_pct: 90.0,
            memory_alert_pct: 90.0,
            lag_alert: Duration::from_secs(10),
            save_max_age: Some(Duration::from_secs(3600)),
        })
    }

    fn healthy() -> RedisInfo {
        RedisInfo {
            role: "master".into(),
            uptime_secs: 100,
            connected_clients: 10,
            maxclients: Some(100),
            used_memory: 10 << 20,
            maxmemory: Some(100 << 20),
            maxmemory_policy: "allkeys-lru".into(),
            rdb_last_bgsave_ok: true,
            aof_last_write_ok: true,
            aof_last_rewrite_ok: true,
            rdb_last_save: Some(jiff::Timestamp::UNIX_EPOCH),
            ..RedisInfo::default()
        }
    }

    fn verdicts(r: &RedisState, i: &RedisInfo) -> Vec<(Severity, String)> {
        problems(
            r,
            i,
            jiff::Timestamp::UNIX_EPOCH + Duration::from_secs(7200),
        )
    }

    #[test]
    fn a_healthy_server_has_no_problems() {
        assert_eq!(verdicts(&state(), &healthy()), []);
    }

    #[test]
    fn each_limit_is_judged_with_its_value_against_the_threshold() {
        let r = state();
        let mut i = healthy();
        i.connected_clients = 95;
        i.used_memory = 99 << 20;
        i.maxmemory_policy = "noeviction".into();
        i.rdb_last_bgsave_ok = false;
        i.rdb_changes_since_last_save = 7;
        i.replicas = vec![Replica {
            addr: "10.0.0.2:6379".into(),
            state: "online".into(),
            lag_secs: 12,
        }];
        let v = verdicts(&r, &i);
        let find = |word: &str| v.iter().find(|(_, w)| w.contains(word)).cloned();
        assert_eq!(
            find("clients"),
            Some((Severity::Warn, "95 clients of 100 (95% ≥ 90%)".into()))
        );
        assert_eq!(
            find("memory").unwrap().0,
            Severity::Crit,
            "noeviction at 99%"
        );
        assert_eq!(find("RDB save failed").unwrap().0, Severity::Crit);
        assert_eq!(
            find("unsaved"),
            Some((
                Severity::Warn,
                "7 changes unsaved, last RDB save 2h00m ago (≥ 1h00m)".into()
            ))
        );
        assert_eq!(
            find("lags"),
            Some((
                Severity::Warn,
                "replica 10.0.0.2:6379 lags 12s (≥ 10s)".into()
            ))
        );
        i.connected_clients = 100;
        assert_eq!(verdicts(&r, &i)[0].0, Severity::Crit, "at maxclients");
        let mut replica = healthy();
        replica.role = "slave".into();
        replica.primary_link_up = Some(false);
        replica.primary_last_io_secs = Some(40);
        assert_eq!(
            verdicts(&r, &replica),
            [(
                Severity::Crit,
                "replica cut off from its primary, last heard 40s ago".into()
            )]
        );
    }

    #[test]
    fn evictions_count_between_reads_and_not_across_a_restart() {
        let mut r = state();
        let mut i = healthy();
        i.evicted_keys = 100;
        r.record(&i);
        r.observed
            .record(Ok(i.clone()), jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(r.evicted, None, "one read says nothing about now");
        i.evicted_keys = 130;
        i.uptime_secs = 110;
        r.record(&i);
        assert_eq!(r.evicted, Some(30));
        assert!(
            verdicts(&r, &i)
                .iter()
                .any(|(_, w)| w.contains("evicted 30 keys"))
        );
        r.observed
            .record(Ok(i.clone()), jiff::Timestamp::UNIX_EPOCH);
        i.evicted_keys = 5;
        i.uptime_secs = 3;
        r.record(&i);
        assert_eq!(r.evicted, None, "restarted: counters began again");
    }
}
