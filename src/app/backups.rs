//! Backups: each source judged against its policy (newest age, count, retention slots, size
//! drop), and the backups pane's model. Pure: `now` is passed in.
//!
//! Verdicts: a newest backup older than `max_age` is a warning, twice as old critical (one
//! missed run, then two); no backup at all, or an empty newest one, is critical; missing
//! retention slots, too few backups, a size drop and a stale lock are warnings. A source that
//! could not be read is "unknown", never "ok".

use std::time::Duration;

use jiff::Timestamp;

use super::alerts::{Domain, Rules, Severity};
use super::hosts::{HostState, Observed, age};
use crate::collect::backups::{Backup, BackupsSnapshot};
use crate::config::backup::{BackupSpec, Keep};
use crate::text;

/// One backup source of a host: its config and its last read.
#[derive(Debug, Clone)]
pub struct BackupSource {
    pub spec: BackupSpec,
    pub observed: Observed<BackupsSnapshot>,
}

/// The word the pane shows for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Crit,
    /// Not read yet, or the read failed and nothing was listed before.
    Unknown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Crit => "crit",
            Verdict::Unknown => "unknown",
        }
    }
    pub fn severity(self) -> Severity {
        match self {
            Verdict::Ok => Severity::Ok,
            Verdict::Crit => Severity::Crit,
            Verdict::Warn | Verdict::Unknown => Severity::Warn,
        }
    }
}

/// One retention slot kind: how many of the last `want` periods hold a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub label: &'static str,
    pub have: u32,
    pub want: u32,
}

impl Slot {
    /// "weekly 3/4".
    pub fn text(&self) -> String {
        format!("{} {}/{}", self.label, self.have, self.want)
    }
}

/// For each expected slot kind, how many of the last `want` periods (hours, days, 7 and 30
/// days, counted back from now so time zones do not matter) hold at least one backup.
pub fn slots(backups: &[Backup], keep: &Keep, now: Timestamp) -> Vec<Slot> {
    const HOUR: u64 = 3600;
    let kinds = [
        ("hourly", keep.hourly, HOUR),
        ("daily", keep.daily, 24 * HOUR),
        ("weekly", keep.weekly, 7 * 24 * HOUR),
        ("monthly", keep.monthly, 30 * 24 * HOUR),
    ];
    kinds
        .into_iter()
        .filter(|(_, want, _)| *want > 0)
        .map(|(label, want, period)| {
            let mut filled = vec![false; want as usize];
            for b in backups {
                let n = (age(b.time, now).as_secs() / period) as usize;
                if let Some(f) = filled.get_mut(n) {
                    *f = true;
                }
            }
            Slot {
                label,
                have: filled.iter().filter(|f| **f).count() as u32,
                want,
            }
        })
        .collect()
}

/// The newest backup's size against the previous one's: (newest, previous, change in %).
pub fn trend(snap: &BackupsSnapshot) -> Option<(u64, u64, f64)> {
    let mut sized = snap.backups.iter().rev().filter_map(|b| b.size);
    let (newest, previous) = (sized.next()?, sized.next()?);
    let change = if previous == 0 {
        0.0
    } else {
        (newest as f64 - previous as f64) * 100.0 / previous as f64
    };
    Some((newest, previous, change))
}

/// One problem of a source, with since when it holds where that is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
    pub since: Option<Timestamp>,
}

/// What is wrong with the backups `snap` lists, against `spec`'s policy.
pub fn findings(spec: &BackupSpec, snap: &BackupsSnapshot, now: Timestamp) -> Vec<Finding> {
    let p = &spec.policy;
    let mut out = Vec::new();
    let mut push = |severity, what: String, since| {
        out.push(Finding {
            severity,
            what,
            since,
        })
    };
    if let Some(r) = snap.running.as_ref().filter(|r| r.stale) {
        push(
            Severity::Warn,
            format!(
                "stale {} since {}: a backup died holding it; check and remove it (restic unlock)",
                r.evidence,
                r.since.map_or("?".into(), |s| s.to_string())
            ),
            r.since,
        );
    }
    if snap.listed_at.is_none() {
        return out; // running since we started: nothing listed to judge
    }
    let Some(newest) = snap.newest() else {
        push(Severity::Crit, "no backups at all".into(), None);
        return out;
    };
    if let Some(max) = p.max_age {
        let a = age(newest.time, now);
        let severity = if a > max * 2 {
            Severity::Crit
        } else if a > max {
            Severity::Warn
        } else {
            Severity::Ok
        };
        let due = jiff::SignedDuration::try_from(max).ok();
        push(
            severity,
            format!(
                "newest backup {} old (max {})",
                text::age(a),
                text::age(max)
            ),
            due.and_then(|d| newest.time.checked_add(d).ok()),
        );
    }
    let count = snap.backups.len();
    if count < p.min_count {
        push(
            Severity::Warn,
            format!("{count} backups (min {})", p.min_count),
            None,
        );
    }
    let missing: Vec<String> = slots(&snap.backups, &p.keep, now)
        .iter()
        .filter(|s| s.have < s.want)
        .map(Slot::text)
        .collect();
    if !missing.is_empty() {
        push(
            Severity::Warn,
            format!("retention slots missing: {}", missing.join(", ")),
            None,
        );
    }
    match (newest.size, trend(snap)) {
        (Some(0), _) => push(
            Severity::Crit,
            format!("newest backup {} is empty (0 B)", newest.name),
            Some(newest.time),
        ),
        (_, Some((n, prev, change))) if -change > p.size_drop_pct => push(
            Severity::Warn,
            format!(
                "newest backup {} is {:.0}% smaller than the previous ({} → {}, ≥ {:.0}%)",
                newest.name,
                -change,
                text::bytes(prev),
                text::bytes(n),
                p.size_drop_pct
            ),
            Some(newest.time),
        ),
        _ => {}
    }
    out.retain(|f| f.severity != Severity::Ok);
    out
}

/// The pane's verdict on a source.
pub fn verdict(src: &BackupSource, now: Timestamp) -> Verdict {
    let Some(snap) = src.observed.latest() else {
        return Verdict::Unknown;
    };
    if snap.listed_at.is_none() {
        return Verdict::Unknown;
    }
    let worst = findings(&src.spec, snap, now)
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    match worst {
        Severity::Crit => Verdict::Crit,
        Severity::Warn => Verdict::Warn,
        Severity::Ok if src.observed.error().is_some() => Verdict::Unknown,
        Severity::Ok => Verdict::Ok,
    }
}

/// Every finding of every source of `host` as alerts; a read that failed is a warning naming
/// the source.
pub fn alerts(host: &HostState, rules: &mut Rules<'_>) {
    for (index, src) in host.backups.iter().enumerate() {
        let label = format!("backups {}", src.spec.name);
        rules.observed(
            Domain::Backups,
            &label,
            &src.observed,
            |rules, snap, stale| {
                for f in findings(&src.spec, snap, rules.now) {
                    let what = format!("{}: {}", src.spec.name, f.what);
                    rules.at(super::alerts::Row::Item(index)).push(
                        Domain::Backups,
                        f.severity,
                        what,
                        f.since,
                        stale,
                    );
                }
            },
        );
    }
}

/// The newest backup among the host's offsite sources, and which source holds it.
pub fn offsite(host: &HostState) -> Option<(&str, &Backup)> {
    host.backups
        .iter()
        .filter(|s| s.spec.policy.offsite)
        .filter_map(|s| Some((s.spec.name.as_str(), s.observed.latest()?.newest()?)))
        .max_by_key(|(_, b)| b.time)
}

/// The backups pane lists backup sources under their hosts; the filter matches a source's
/// name or kind.
#[derive(Debug)]
pub struct Sources;

impl super::items::HostItems for Sources {
    type Item = BackupSource;
    const CONTEXTS: &'static [crate::config::keymap::Context] = &[
        crate::config::keymap::Context::List,
        crate::config::keymap::Context::Backups,
    ];
    const HINTS: &'static [(crate::config::keymap::Action, &'static str)] = &[
        (crate::config::keymap::Action::Open, "backups"),
        (crate::config::keymap::Action::TriggerBackup, "back up now"),
    ];
    fn items(host: &HostState) -> &[BackupSource] {
        &host.backups
    }
    fn matches(s: &BackupSource, filter: &str) -> bool {
        s.spec.name.to_lowercase().contains(filter) || s.spec.kind.name().contains(filter)
    }
}

/// The backups pane's state; its detail is the source whose recent backups (and trigger
/// output) are open.
pub type BackupsView = super::items::ItemsView<Sources>;

/// A running backup as the pane says it: "running 12m (repository lock)".
pub fn running_text(snap: &BackupsSnapshot, now: Timestamp) -> Option<String> {
    let r = snap.running.as_ref()?;
    let how_long = r
        .since
        .map(|s| format!(" {}", crate::text::ago(s, now)))
        .unwrap_or_default();
    let word = if r.stale { "stale lock" } else { "running" };
    Some(format!("{word}{how_long} ({})", r.evidence))
}

/// The age of the list a verdict rests on, when it is older than the read (a locked repo).
pub fn list_age(snap: &BackupsSnapshot, now: Timestamp) -> Option<Duration> {
    let listed = snap.listed_at?;
    (listed < snap.observed_at).then(|| age(listed, now))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collect::backups::Running;
    use crate::config::backup::{BackupKind, Location, Policy};

    pub fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + s).unwrap()
    }
    const H: i64 = 3600;
    const D: i64 = 24 * H;

    pub fn spec(keep: Keep, max_age_h: Option<u64>) -> BackupSpec {
        BackupSpec {
            name: "dumps".into(),
            kind: BackupKind::Files,
            location: Location::Files {
                dir: "/srv".into(),
                pattern: "*.dump".into(),
            },
            env_file: None,
            passphrase_command: None,
            trigger: None,
            interval: Duration::from_secs(900),
            timeout: Duration::from_secs(60),
            trigger_timeout: Duration::from_secs(3600),
            policy: Policy {
                max_age: max_age_h.map(|h| Duration::from_secs(h * 3600)),
                min_count: 1,
                keep,
                size_drop_pct: 50.0,
                offsite: false,
            },
        }
    }

    pub fn snap(times: &[(i64, u64)], now: Timestamp) -> BackupsSnapshot {
        BackupsSnapshot {
            backups: times
                .iter()
                .map(|(at, size)| Backup {
                    name: format!("b{at}"),
                    time: t(*at),
                    size: Some(*size),
                    duration: None,
                })
                .collect(),
            listed_at: Some(now),
            running: None,
            observed_at: now,
            read_took: Duration::ZERO,
        }
    }

    /// Two sources on host 0 of `app`: daily dumps (one missing day, newest shrunk by 80 %)
    /// and an offsite borg repository that is running a backup.
    pub fn add_sources(app: &mut crate::app::App) {
        let now = app.now;
        let ago = |s: i64| now - jiff::SignedDuration::from_secs(s);
        let backup = |name: &str, at: i64, size: u64| Backup {
            name: name.into(),
            time: ago(at),
            size: Some(size),
            duration: Some(Duration::from_secs(40)),
        };
        let mut dumps = spec(
            Keep {
                daily: 7,
                ..Keep::default()
            },
            Some(26),
        );
        dumps.name = "pg-dumps".into();
        let mut list: Vec<Backup> = (1..=7)
            .rev()
            .filter(|d| *d != 3)
            .map(|d| backup(&format!("shop-{d}.dump"), d * D - 5 * H, 1 << 30))
            .collect();
        if let Some(last) = list.last_mut() {
            last.size = Some(200 << 20);
        }
        let dumps_snap = BackupsSnapshot {
            backups: list,
            listed_at: Some(ago(60)),
            running: None,
            observed_at: ago(60),
            read_took: Duration::from_millis(2100),
        };
        let mut borg = spec(Keep::default(), Some(26));
        borg.name = "borg-offsite".into();
        borg.kind = crate::config::backup::BackupKind::Borg;
        borg.policy.offsite = true;
        let borg_snap = BackupsSnapshot {
            backups: vec![backup("db1-2026-12-02", 30 * H, 5 << 30)],
            listed_at: Some(ago(3 * H)),
            running: Some(Running {
                since: Some(ago(12 * 60)),
                evidence: "repository lock".into(),
                stale: false,
            }),
            observed_at: ago(60),
            read_took: Duration::from_millis(30),
        };
        let h = &mut app.hosts[0];
        for (spec, snap) in [(dumps, dumps_snap), (borg, borg_snap)] {
            let mut observed = Observed::polled(spec.interval);
            observed.record(Ok(snap), ago(60));
            h.backups.push(BackupSource { spec, observed });
        }
    }

    #[test]
    fn a_host_going_down_keeps_its_sources_from_ok_and_the_link_is_the_one_alert() {
        let mut app = crate::app::tests::fleet_app(1);
        add_sources(&mut app);
        let now = app.now;
        assert_ne!(verdict(&app.hosts[0].backups[0], now), Verdict::Unknown);
        let down = crate::link::LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: "host0".into(),
                reason: "gone".into(),
            },
            since: now,
            retry_at: None,
        };
        app.hosts[0].apply(crate::event::HostEvent::Link(down), now);
        // Old findings still hold (a backup does not get younger); nothing reads as ok.
        let src = &app.hosts[0].backups[0];
        assert_eq!(verdict(src, now), Verdict::Warn);
        let mut clean = src.clone();
        clean.spec.policy = crate::config::backup::Policy {
            max_age: None,
            keep: Keep::default(),
            size_drop_pct: 100.0,
            ..clean.spec.policy.clone()
        };
        assert_eq!(verdict(&clean, now), Verdict::Unknown);
        assert!(
            src.observed
                .error()
                .is_some_and(|e| e.starts_with("link down"))
        );
        let all = super::super::alerts::alerts(&app.hosts, &Default::default(), now);
        assert!(all.iter().all(|a| a.domain != Domain::Backups), "{all:?}");
    }

    #[test]
    fn a_week_of_dailies_fills_the_daily_slots_and_a_gap_shows() {
        let keep = Keep {
            daily: 7,
            weekly: 4,
            ..Keep::default()
        };
        let now = t(30 * D + 4 * H);
        let week: Vec<(i64, u64)> = (24..=30).map(|d| (d * D + 3 * H, 100)).collect();
        let s = slots(&snap(&week, now).backups, &keep, now);
        assert_eq!(
            s[0],
            Slot {
                label: "daily",
                have: 7,
                want: 7
            }
        );
        // One week of history: weekly 1 of 4.
        assert_eq!(s[1].text(), "weekly 1/4");
        let mut gap = week.clone();
        gap.remove(3);
        let s = slots(&snap(&gap, now).backups, &keep, now);
        assert_eq!(s[0].text(), "daily 6/7");
    }

    #[test]
    fn age_against_policy_warns_then_goes_critical() {
        let spec = spec(Keep::default(), Some(26));
        let at = |h: i64| findings(&spec, &snap(&[(0, 100)], t(h * H)), t(h * H));
        assert!(at(25).is_empty());
        let warn = at(27);
        assert_eq!(warn[0].severity, Severity::Warn);
        assert_eq!(warn[0].what, "newest backup 1d3h old (max 1d2h)");
        assert_eq!(warn[0].since, Some(t(26 * H)));
        assert_eq!(at(72)[0].severity, Severity::Crit);
    }

    #[test]
    fn an_empty_or_shrunken_dump_is_flagged() {
        let spec = spec(Keep::default(), None);
        let now = t(D);
        let f = findings(&spec, &snap(&[(0, 1000), (H, 0)], now), now);
        assert_eq!(f[0].severity, Severity::Crit);
        assert!(f[0].what.contains("is empty"), "{f:?}");
        let f = findings(&spec, &snap(&[(0, 1000), (H, 300)], now), now);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].what.contains("70% smaller"), "{f:?}");
        assert!(findings(&spec, &snap(&[(0, 1000), (H, 600)], now), now).is_empty());
    }

    #[test]
    fn nothing_listed_is_unknown_and_no_backups_is_critical() {
        let mut src = BackupSource {
            spec: spec(Keep::default(), Some(26)),
            observed: Observed::polled(Duration::from_secs(900)),
        };
        let now = t(0);
        assert_eq!(verdict(&src, now), Verdict::Unknown);
        let mut running = snap(&[], now);
        running.listed_at = None;
        running.running = Some(Running {
            since: Some(t(-60)),
            evidence: "repository lock".into(),
            stale: false,
        });
        src.observed.record(Ok(running.clone()), now);
        assert_eq!(verdict(&src, now), Verdict::Unknown);
        assert_eq!(
            running_text(&running, now).as_deref(),
            Some("running 1m (repository lock)")
        );
        src.observed.record(Ok(snap(&[], now)), now);
        assert_eq!(verdict(&src, now), Verdict::Crit);
        src.observed.record(Ok(snap(&[(-H, 10)], now)), now);
        assert_eq!(verdict(&src, now), Verdict::Ok);
        // A failed read after a good one: the old list is judged, but never "ok".
        let e = crate::collect::CollectError::parse("borg", "boom");
        src.observed.record(Err(e), now);
        assert_eq!(verdict(&src, now), Verdict::Unknown);
    }
}
