//! Acknowledged and silenced alerts. An acknowledged alert stays listed, dimmed, until it
//! clears or gets worse; a silenced one is muted until its silence ends, even if it clears and
//! comes back. Both leave the counts and the notifications, are written to the audit log, and
//! are kept in the state directory (`alerts-muted.json`) across restarts, by host name, so a
//! reordered config does not move them to another host. Pure: the App saves them through an
//! effect.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::alerts::{Alert, Domain, Severity};

/// One acknowledgement or silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mute {
    pub host: String,
    pub domain: Domain,
    /// The alert's text with its numbers taken out (its identity, see `AlertKey`).
    pub shape: String,
    /// Acknowledged at this severity: worse makes the acknowledgement void.
    pub severity: Severity,
    pub at: Timestamp,
    pub by: String,
    /// A silence's end; None for an acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Mute {
    pub fn of(a: &Alert, by: &str, at: Timestamp, until: Option<Timestamp>) -> Mute {
        Mute {
            host: a.host_name.clone(),
            domain: a.domain,
            shape: a.key().2,
            severity: a.severity,
            at,
            by: by.to_owned(),
            until,
        }
    }

    fn matches(&self, a: &Alert) -> bool {
        self.host == a.host_name && self.domain == a.domain && self.shape == a.key().2
    }
}

/// How an alert is muted now.
#[derive(Debug, Clone, PartialEq)]
pub enum Muted<'a> {
    No,
    Acked(&'a Mute),
    Silenced(&'a Mute),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mutes {
    #[serde(default)]
    pub acks: Vec<Mute>,
    #[serde(default)]
    pub silences: Vec<Mute>,
}

impl Mutes {
    pub fn state(&self, a: &Alert, now: Timestamp) -> Muted<'_> {
        if let Some(s) = self
            .silences
            .iter()
            .find(|m| m.matches(a) && m.until.is_some_and(|u| u > now))
        {
            return Muted::Silenced(s);
        }
        match self
            .acks
            .iter()
            .find(|m| m.matches(a) && a.severity <= m.severity)
        {
            Some(m) => Muted::Acked(m),
            None => Muted::No,
        }
    }

    pub fn is_muted(&self, a: &Alert, now: Timestamp) -> bool {
        self.state(a, now) != Muted::No
    }

    /// `a` acknowledged (or no longer, if it was); true when it is acknowledged now.
    pub fn toggle_ack(&mut self, a: &Alert, by: &str, now: Timestamp) -> bool {
        let before = self.acks.len();
        self.acks.retain(|m| !m.matches(a));
        if self.acks.len() < before {
            return false;
        }
        self.acks.push(Mute::of(a, by, now, None));
        true
    }

    /// `a` silenced until `until` (or no longer, if it was); true when it is silenced now.
    pub fn toggle_silence(
        &mut self,
        a: &Alert,
        by: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> bool {
        let before = self.silences.len();
        self.silences
            .retain(|m| !(m.matches(a) && m.until.is_some_and(|u| u > now)));
        if self.silences.len() < before {
            return false;
        }
        self.silences.push(Mute::of(a, by, now, Some(until)));
        true
    }

    /// Drops silences that ended, acknowledgements of alerts that got worse, and those of
    /// alerts that cleared on a host that is up and reporting (`settled`: a host that is down
    /// shows only its link alert, which says nothing of the others). True when anything went.
    pub fn prune(
        &mut self,
        alerts: &[Alert],
        now: Timestamp,
        settled: impl Fn(&str) -> bool,
    ) -> bool {
        let before = (self.acks.len(), self.silences.len());
        self.silences.retain(|m| m.until.is_some_and(|u| u > now));
        self.acks
            .retain(|m| match alerts.iter().find(|a| m.matches(a)) {
                Some(a) => a.severity <= m.severity,
                None => !settled(&m.host),
            });
        before != (self.acks.len(), self.silences.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + s).unwrap()
    }

    fn alert(severity: Severity, what: &str) -> Alert {
        Alert::sample(severity, "web", what)
    }

    #[test]
    fn an_ack_holds_until_the_alert_gets_worse_or_clears() {
        let mut m = Mutes::default();
        let warn = alert(Severity::Warn, "/var 85% used (≥ 80%)");
        assert!(m.toggle_ack(&warn, "alice", t(0)));
        let moved = alert(Severity::Warn, "/var 87% used (≥ 80%)");
        assert!(matches!(m.state(&moved, t(10)), Muted::Acked(a) if a.by == "alice"));
        let worse = alert(Severity::Crit, "/var 91% used (≥ 80%)");
        assert_eq!(m.state(&worse, t(20)), Muted::No, "worse: not muted");
        assert!(m.prune(std::slice::from_ref(&worse), t(20), |_| true));
        assert!(m.acks.is_empty());
        assert!(m.toggle_ack(&warn, "alice", t(30)));
        assert!(
            !m.prune(&[], t(40), |_| false),
            "not settled: an absent alert may not have been read yet"
        );
        assert!(m.prune(&[], t(40), |h| h == "web"), "cleared");
        assert!(m.toggle_ack(&warn, "alice", t(50)));
        assert!(
            !m.toggle_ack(&warn, "alice", t(60)),
            "a second press takes it back"
        );
    }

    #[test]
    fn a_silence_lasts_its_time_even_if_the_alert_comes_back_and_survives_serde() {
        let mut m = Mutes::default();
        let crit = alert(Severity::Crit, "/var 95% used (≥ 90%)");
        assert!(m.toggle_silence(&crit, "bob", t(0), t(3600)));
        assert!(
            !m.prune(&[], t(100), |_| true),
            "cleared, but the silence stays"
        );
        assert!(matches!(m.state(&crit, t(200)), Muted::Silenced(_)));
        let text = serde_json::to_string(&m).unwrap();
        let back: Mutes = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        assert!(back.is_muted(&crit, t(3599)));
        assert!(!back.is_muted(&crit, t(3600)), "ended");
        assert!(m.prune(&[], t(3600), |_| true));
        assert!(m.silences.is_empty());
    }
}
