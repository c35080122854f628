//! Health probes: each probe's last result and its latency history, judged: a probe that does
//! not answer as expected is critical, one slower than its `slow` mark a warning. Pure.

use std::collections::VecDeque;
use std::time::Duration;

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

/// A certificate closer to its expiry than this is critical (when `cert_warn` is longer).
const CERT_CRIT: Duration = Duration::from_secs(7 * 86400);

/// A probe's verdict on its latest result: the worse of its answer and its certificate.
pub fn severity(p: &ProbeState, r: &ProbeResult) -> Severity {
    let answer = if !r.ok {
        Severity::Crit
    } else if r.latency >= p.spec.slow {
        Severity::Warn
    } else {
        Severity::Ok
    };
    answer.max(cert_severity(p, r).0)
}

/// The certificate's verdict and how long it had left when the probe ran.
pub fn cert_severity(p: &ProbeState, r: &ProbeResult) -> (Severity, Option<Duration>) {
    let Some(expires) = r.cert_expires else {
        return (Severity::Ok, None);
    };
    let left = Duration::try_from(expires.duration_since(r.observed_at)).unwrap_or(Duration::ZERO);
    let sev = if left < CERT_CRIT.min(p.spec.cert_warn) {
        Severity::Crit
    } else if left < p.spec.cert_warn {
        Severity::Warn
    } else {
        Severity::Ok
    };
    (sev, Some(left))
}

pub fn alerts(host: &HostState, rules: &mut Rules<'_>) {
    for p in &host.probes {
        let label = format!("probe {}", p.spec.name);
        rules.observed(Domain::Probes, &label, &p.observed, |rules, r, stale| {
            let what = match &r.problem {
                Some(problem) => format!("probe {}: {problem}", p.spec.name),
                None if r.latency >= p.spec.slow => format!(
                    "probe {}: answered in {}ms (≥ {}ms)",
                    p.spec.name,
                    r.latency.as_millis(),
                    p.spec.slow.as_millis()
                ),
                None => String::new(),
            };
            if !what.is_empty() {
                let sev = if r.ok { Severity::Warn } else { Severity::Crit };
                rules.push(Domain::Probes, sev, what, None, stale);
            }
            // A certificate running out is its own alert: it stays while the answers are fine.
            if let (sev @ (Severity::Warn | Severity::Crit), Some(left)) = cert_severity(p, r) {
                let what = format!(
                    "probe {}: certificate expires in {} (< {})",
                    p.spec.name,
                    crate::text::age(left),
                    crate::text::age(p.spec.cert_warn)
                );
                rules.push(Domain::Probes, sev, what, None, stale);
            }
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
            ca_file: None,
            cert_warn: crate::config::probe::CERT_WARN,
        };
        let mut p = ProbeState::new(&spec);
        let r = |ok: bool, ms: u64| ProbeResult {
            ok,
            latency: Duration::from_millis(ms),
            status: None,
            problem: (!ok).then(|| "connection refused".into()),
            cert_expires: None,
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
