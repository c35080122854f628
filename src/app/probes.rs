//! Health probes: each probe's last result and its latency history, judged: a probe that does
//! not answer as expected is critical, one slower than its `slow` mark a warning. Pure.

use std::collections::VecDeque;

use super::alerts::{Domain, Rules, Severity};
use super::hosts::{HostState, Observed};
use crate::collect::probes::ProbeResult;
use crate::config::probe::ProbeSpec;

/// Latencies kept per probe, for the sparkline.
pub const HISTORY: usize = 60;

#[derive(Debug, Clone)]
pub struct ProbeState {
    pub spec: ProbeSpec,
    pub observed: Observed<ProbeResult>,
    /// Latencies of the answers that were ok, in milliseconds, oldest first.
    pub history: VecDeque<u64>,
}

impl ProbeState {
    pub fn new(spec: &ProbeSpec) -> Self {
        ProbeState {
            observed: Observed::polled(spec.interval),
            spec: spec.clone(),
            history: VecDeque::new(),
        }
    }

    pub fn record(&mut self, result: ProbeResult) {
        if result.ok {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history
                .push_back(u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX));
        }
    }
}

/// A probe's verdict on its latest result.
pub fn severity(p: &ProbeState, r: &ProbeResult) -> Severity {
    if !r.ok {
        Severity::Crit
    } else if r.latency >= p.spec.slow {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

pub fn alerts(host: &HostState, rules: &mut Rules<'_>) {
    for p in &host.probes {
        let label = format!("probe {}", p.spec.name);
        rules.observed(Domain::Probes, &label, &p.observed, |rules, r, stale| {
            let what = match (&r.problem, severity(p, r)) {
                (Some(problem), _) => format!("probe {}: {problem}", p.spec.name),
                (None, Severity::Warn) => format!(
                    "probe {}: answered in {}ms (≥ {}ms)",
                    p.spec.name,
                    r.latency.as_millis(),
                    p.spec.slow.as_millis()
                ),
                (None, _) => return,
            };
            rules.push(Domain::Probes, severity(p, r), what, None, stale);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::probe::ProbeTarget;

    #[test]
    fn down_is_critical_slow_a_warning_and_only_answers_make_history() {
        let spec = ProbeSpec {
            name: "api".into(),
            target: ProbeTarget::Tcp {
                host: "a".into(),
                port: 1,
            },
            status: None,
            body: None,
            slow: Duration::from_millis(500),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        };
        let mut p = ProbeState::new(&spec);
        let r = |ok: bool, ms: u64| ProbeResult {
            ok,
            latency: Duration::from_millis(ms),
            status: None,
            problem: (!ok).then(|| "connection refused".into()),
            observed_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert_eq!(severity(&p, &r(true, 20)), Severity::Ok);
        assert_eq!(severity(&p, &r(true, 700)), Severity::Warn);
        assert_eq!(severity(&p, &r(false, 1)), Severity::Crit);
        p.record(r(true, 20));
        p.record(r(false, 1));
        p.record(r(true, 700));
        assert_eq!(p.history, [20, 700]);
    }
}
