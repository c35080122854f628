//! Host health's verdicts: CPU busy over its mark for long enough, memory over its mark. Pure.
//! The readings and their CPU history live in `hosts::Health`.

use std::time::Duration;

use super::list::Selection;
use super::pane::{Ctx, Nav, PaneState, filter_field};
use crate::event::HostId;

use super::alerts::{Domain, Rules, Severity, held_for};
use super::hosts::Health;
use crate::collect::health::HealthSnapshot;
use crate::config::Thresholds;

/// The hosts pane's own state: one row per host with its health; Enter shows one host.
#[derive(Debug, Clone, Default)]
pub struct HealthView {
    pub selection: Selection<HostId>,
    pub filter: super::Filter,
}

/// The hosts the pane lists: those with a health reading to show (not the admin's own
/// tunnels-only machine), matching the filter.
pub fn hosts<'a>(
    hosts: &[&'a super::hosts::HostState],
    filter: &str,
) -> Vec<&'a super::hosts::HostState> {
    let filter = filter.to_lowercase();
    hosts
        .iter()
        .filter(|h| h.health.is_some() && h.name.to_lowercase().contains(&filter))
        .copied()
        .collect()
}

impl PaneState for HealthView {
    filter_field!();
    fn move_by(&mut self, cx: &Ctx<'_>, delta: isize) {
        let ids: Vec<HostId> = hosts(&cx.hosts, &self.filter.text)
            .iter()
            .map(|h| h.id)
            .collect();
        self.selection.move_by(&ids, delta);
    }
    fn open(&mut self, cx: &Ctx<'_>) -> Option<Nav> {
        let ids: Vec<HostId> = hosts(&cx.hosts, &self.filter.text)
            .iter()
            .map(|h| h.id)
            .collect();
        ids.get(self.selection.index(&ids))
            .map(|id| Nav::Scope(*id))
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        &[(crate::config::keymap::Action::Open, "one host")]
    }
}

/// CPU over its mark since when, if for at least `cpu_for`: a warning. A short burst is not.
pub fn cpu_severity(
    h: &Health,
    t: &Thresholds,
    now: jiff::Timestamp,
) -> (Severity, Option<jiff::Timestamp>) {
    match h.cpu_over_since(t.cpu_warn_pct) {
        Some(since) if held_for(since, now) >= t.cpu_for.0 => (Severity::Warn, Some(since)),
        since => (Severity::Ok, since),
    }
}

pub fn memory_severity(snap: &HealthSnapshot, t: &Thresholds) -> Severity {
    if snap.mem_pct() >= t.memory_warn_pct {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

pub fn alerts(
    h: &Health,
    snap: &HealthSnapshot,
    t: &Thresholds,
    stale: Option<Duration>,
    rules: &mut Rules<'_>,
) {
    // Judged at the time of the last reading: stale readings must not grow a "for 10m".
    let (cpu, since) = cpu_severity(h, t, snap.observed_at);
    if let Some(since) = since {
        rules.push(
            Domain::Health,
            cpu,
            format!(
                "CPU {:.0}% for {} (≥ {:.0}% for {})",
                snap.cpu_pct.unwrap_or_default(),
                crate::text::age(held_for(since, snap.observed_at)),
                t.cpu_warn_pct,
                crate::text::age(t.cpu_for.0)
            ),
            Some(since),
            stale,
        );
    }
    rules.push(
        Domain::Health,
        memory_severity(snap, t),
        format!(
            "memory {:.0}% used, {} available (≥ {:.0}%)",
            snap.mem_pct(),
            crate::text::bytes(snap.mem_total_bytes.saturating_sub(snap.mem_used_bytes)),
            t.memory_warn_pct
        ),
        None,
        stale,
    );
}
