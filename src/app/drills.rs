//! Restore drills: each configured drill with its history (from `drills.jsonl`, console and
//! headless runs alike), judged: the last run failed or could not verify is critical; no pass
//! within `every` (or none ever) is overdue, a warning. The drills pane's model. Pure.

use std::time::Duration;

use jiff::Timestamp;

use super::alerts::{Domain, Rules, Severity};
use super::hosts::HostState;
use crate::actions::history::{DrillOutcome, DrillRun};
use crate::config::drill::DrillSpec;
use crate::text;

/// Runs kept per drill in memory (the file keeps them all).
pub const HISTORY: usize = 100;

#[derive(Debug, Clone)]
pub struct DrillState {
    pub spec: DrillSpec,
    /// Oldest first.
    pub history: Vec<DrillRun>,
}

/// When the drill is next due, judged from its last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Never passed.
    Never,
    /// Due at this time (in the future).
    At(Timestamp),
    /// Overdue since this time.
    Overdue(Timestamp),
}

impl DrillState {
    pub fn last(&self) -> Option<&DrillRun> {
        self.history.last()
    }

    /// The last run that reached a verdict (not cancelled or refused): what the drill says.
    pub fn last_verdict(&self) -> Option<&DrillRun> {
        self.history.iter().rev().find(|r| {
            matches!(
                r.outcome,
                DrillOutcome::Pass
                    | DrillOutcome::Fail
                    | DrillOutcome::CouldNotVerify
                    | DrillOutcome::TimedOut
            )
        })
    }

    pub fn last_pass(&self) -> Option<&DrillRun> {
        self.history
            .iter()
            .rev()
            .find(|r| r.outcome == DrillOutcome::Pass)
    }

    pub fn due(&self, now: Timestamp) -> Due {
        let Some(pass) = self.last_pass() else {
            return Due::Never;
        };
        let every = jiff::SignedDuration::try_from(self.spec.every).unwrap_or_default();
        let at = pass.ended().checked_add(every).unwrap_or(pass.ended());
        if at <= now {
            Due::Overdue(at)
        } else {
            Due::At(at)
        }
    }

    /// "in 12d" / "overdue 3d" / "never passed".
    pub fn due_text(&self, now: Timestamp) -> String {
        match self.due(now) {
            Due::Never => "never passed".to_owned(),
            Due::At(t) => format!("in {}", crate::text::left(t, now)),
            Due::Overdue(t) => format!("overdue {}", crate::text::ago(t, now)),
        }
    }

    /// RTOs of the runs that passed, oldest first: the sparkline.
    pub fn rto_trend(&self) -> Vec<u64> {
        self.history
            .iter()
            .filter(|r| r.outcome == DrillOutcome::Pass)
            .filter_map(|r| r.rto_s)
            .map(|s| s.round() as u64)
            .collect()
    }
}

/// What is wrong with the host's drills.
pub fn alerts(host: &HostState, rules: &mut Rules<'_>) {
    for (index, d) in host.drills.iter().enumerate() {
        let name = &d.spec.name;
        let row = || super::alerts::Row::Item(index);
        let now = rules.now;
        if let Some(last) = d.last_verdict()
            && last.outcome != DrillOutcome::Pass
        {
            let why = crate::sanitize::plain(last.reason.as_deref().unwrap_or(""));
            rules.at(row()).push(
                Domain::Drills,
                Severity::Crit,
                format!(
                    "drill {name}: {} {} ago: {why}",
                    last.outcome.label(),
                    crate::text::ago(last.started, now)
                ),
                Some(last.started),
                None,
            );
        }
        match d.due(now) {
            Due::Never => rules.at(row()).push(
                Domain::Drills,
                Severity::Warn,
                format!(
                    "drill {name}: never passed (must pass every {})",
                    text::age(d.spec.every)
                ),
                None,
                None,
            ),
            Due::Overdue(since) => rules.at(row()).push(
                Domain::Drills,
                Severity::Warn,
                format!(
                    "drill {name}: overdue {} (last pass {} ago, every {})",
                    crate::text::ago(since, now),
                    crate::text::ago(d.last_pass().map_or(since, |p| p.started), now),
                    text::age(d.spec.every)
                ),
                Some(since),
                None,
            ),
            Due::At(_) => {}
        }
        if let Some(left) = d.last().and_then(|r| r.left_behind.as_ref()) {
            rules.at(row()).push(
                Domain::Drills,
                Severity::Warn,
                format!(
                    "drill {name}: its last run left behind {}",
                    crate::sanitize::plain(left)
                ),
                d.last().map(|r| r.started),
                None,
            );
        }
    }
}

/// The runs of drill `drill` of host `host` in `runs` (the whole history file), oldest first.
pub fn history_of(runs: &[DrillRun], host: &str, drill: &str) -> Vec<DrillRun> {
    runs.iter()
        .filter(|r| r.host == host && r.drill == drill)
        .cloned()
        .collect()
}

/// Puts `runs` (the whole history file) into the hosts' drills, by host and drill name.
pub fn load(hosts: &mut [HostState], runs: &[DrillRun]) {
    for h in hosts {
        for d in &mut h.drills {
            let mut mine = history_of(runs, &h.name, &d.spec.name);
            let extra = mine.len().saturating_sub(HISTORY);
            mine.drain(..extra);
            d.history = mine;
        }
    }
}

/// Adds one finished run to its drill.
pub fn record(hosts: &mut [HostState], run: &DrillRun) {
    let found = hosts
        .iter_mut()
        .filter(|h| h.name == run.host)
        .flat_map(|h| h.drills.iter_mut())
        .find(|d| d.spec.name == run.drill);
    if let Some(d) = found {
        // The file is re-read when it changes: the same run may already be there.
        if !d.history.iter().any(|r| r.started == run.started) {
            d.history.push(run.clone());
            d.history.sort_by_key(|r| r.started);
        }
        if d.history.len() > HISTORY {
            d.history.remove(0);
        }
    }
}

/// The drills pane lists drills under their hosts; the filter matches a drill's name or
/// source.
#[derive(Debug)]
pub struct Drills;

impl super::items::HostItems for Drills {
    type Item = DrillState;
    const CONTEXTS: &'static [crate::config::keymap::Context] = &[
        crate::config::keymap::Context::List,
        crate::config::keymap::Context::Drills,
    ];
    const HINTS: &'static [(crate::config::keymap::Action, &'static str)] = &[
        (crate::config::keymap::Action::Open, "history"),
        (crate::config::keymap::Action::RunDrill, "run drill"),
    ];
    fn items(host: &HostState) -> &[DrillState] {
        &host.drills
    }
    fn matches(d: &DrillState, filter: &str) -> bool {
        d.spec.name.to_lowercase().contains(filter)
            || d.spec.source_name.to_lowercase().contains(filter)
    }
}

/// The drills pane's state; its detail is the drill whose last run and history are open.
pub type DrillsView = super::items::ItemsView<Drills>;

/// "0.4s" / "12s" / "3m05s" for a number of seconds: tenths while they matter.
pub fn secs_text(s: Option<f64>) -> String {
    match s {
        None => "–".to_owned(),
        Some(s) if s < 10.0 => format!("{:.1}s", s.max(0.0)),
        Some(s) => text::age(Duration::from_secs_f64(s)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actions::history::{CheckRecord, CheckResult, StepTime};
    use crate::app::items::ItemKey;
    use crate::app::tests::fleet_app;
    use crate::app::{App, Effect, Pane};
    use crate::event::{AppEvent, HostCommand, HostEvent, HostId};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + s).unwrap()
    }

    fn state(history: Vec<DrillRun>) -> DrillState {
        DrillState {
            spec: DrillSpec {
                name: "shop".into(),
                host: "db1".into(),
                source: 0,
                source_name: "dumps".into(),
                restore: crate::config::drill::Restore::PgRestore,
                cluster: Some(0),
                database: Some("shop".into()),
                target_db: Some("wf_drill_shop".into()),
                target_dir: None,
                run_name: "wf_drill_shop".into(),
                paths: Vec::new(),
                fetch: None,
                import: None,
                run_as: None,
                timeout: Duration::from_secs(3600),
                every: Duration::from_secs(90 * 86_400),
                checks: Vec::new(),
            },
            history,
        }
    }

    fn run(at: i64, outcome: DrillOutcome, rto: f64) -> DrillRun {
        DrillRun {
            drill: "shop".into(),
            host: "db1".into(),
            source: "dumps".into(),
            started: t(at),
            outcome,
            step: None,
            reason: (outcome != DrillOutcome::Pass).then(|| "pg_restore failed".into()),
            backup: None,
            target: "scratch database wf_drill_shop".into(),
            steps: vec![StepTime {
                step: "restore".into(),
                secs: rto,
            }],
            rto_s: Some(rto),
            rpo_s: Some(3600.0),
            rpo_from: None,
            restored_bytes: None,
            checks: Vec::new(),
            left_behind: None,
            user: "alice".into(),
            headless: false,
        }
    }

    /// Host 0 gets the backup sources of the backups tests and two drills: `shop` (passed 20
    /// days ago, failed yesterday) and `files` (never run).
    pub fn add_drills(app: &mut App) {
        crate::app::backups::tests::add_sources(app);
        let now = app.now.as_second() - 1_790_000_000;
        let day = 86_400;
        let mut pass = run(now - 20 * day, DrillOutcome::Pass, 42.0);
        pass.checks = vec![CheckRecord {
            name: "orders".into(),
            result: CheckResult::Pass,
            value: Some("1000".into()),
            detail: "expected ≥ 1000".into(),
        }];
        let earlier = run(now - 50 * day, DrillOutcome::Pass, 30.0);
        let mut fail = run(now - day, DrillOutcome::Fail, 3.0);
        fail.step = Some("restore".into());
        fail.reason = Some("pg_restore failed (exit code 1): pg_restore: error: could not read from input file: end of file".into());
        let mut shop = state(vec![earlier, pass, fail]);
        shop.spec.host = app.hosts[0].name.clone();
        let mut files = state(Vec::new());
        files.spec.name = "files".into();
        files.spec.source = 1;
        files.spec.source_name = "borg-offsite".into();
        files.spec.restore = crate::config::drill::Restore::Extract;
        files.spec.target_db = None;
        files.spec.target_dir = Some("/var/tmp/wf_drill_files".into());
        files.spec.host = app.hosts[0].name.clone();
        for r in &mut shop.history {
            r.host = app.hosts[0].name.clone();
        }
        app.hosts[0].drills = vec![shop, files];
        app.alerts = crate::app::alerts::alerts(&app.hosts, &app.thresholds, app.now);
    }

    #[test]
    fn a_failing_drill_is_critical_and_one_never_passed_is_a_warning() {
        let mut app = fleet_app(1);
        add_drills(&mut app);
        let mine: Vec<_> = app
            .alerts
            .iter()
            .filter(|a| a.domain == Domain::Drills)
            .map(|a| (a.severity, a.what.as_str()))
            .collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        assert_eq!(mine[0].0, Severity::Crit);
        assert!(mine[0].1.starts_with("drill shop: FAIL 1d"), "{mine:?}");
        assert!(mine[0].1.contains("end of file"), "{mine:?}");
        assert_eq!(
            mine[1],
            (
                Severity::Warn,
                "drill files: never passed (must pass every 90d0h)"
            )
        );
    }

    #[test]
    fn d_asks_naming_the_backup_then_the_run_lands_in_the_history_and_the_file() {
        let mut app = fleet_app(1);
        add_drills(&mut app);
        app.pane = Pane::Drills;
        let keys = [ItemKey::Host(HostId(0)), ItemKey::Item(HostId(0), 0)];
        app.panes.drills.selection.select(&keys, 1);
        let press = |app: &mut App, c: char| {
            let key = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
            app.update(AppEvent::Key(key))
        };
        press(&mut app, 'D');
        let asked = app.jobs.confirm.clone().expect("a dialog");
        let text = asked.describe();
        assert!(
            text.starts_with(
                "run the restore drill shop: the newest backup of dumps (shop-1.dump, "
            ) && text.ends_with("into the scratch database wf_drill_shop on host0"),
            "{text}"
        );
        let effects = press(&mut app, 'y');
        let Some(Effect::Send(_, HostCommand::Run(req))) = effects.get(1) else {
            panic!("{effects:?}")
        };
        let id = req.id;
        let mut record = run(0, DrillOutcome::Pass, 12.0);
        record.host = app.hosts[0].name.clone();
        record.started = app.now;
        let ev = |p| AppEvent::Host(HostId(0), HostEvent::Action(id, p));
        app.update(ev(crate::actions::Progress::Drill(Box::new(record))));
        let effects = app.update(ev(crate::actions::Progress::Done {
            outcome: crate::actions::JobOutcome::Done("passed".into()),
            elapsed: Duration::from_secs(12),
        }));
        let written: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::DrillRecord(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(written.len(), 1, "{effects:?}");
        assert_eq!(written[0].user, app.user);
        let shop = &app.hosts[0].drills[0];
        assert_eq!(shop.last().map(|r| r.outcome), Some(DrillOutcome::Pass));
        assert_eq!(shop.rto_trend(), [30, 42, 12]);
        assert!(
            !app.alerts.iter().any(|a| a.what.starts_with("drill shop")),
            "a pass clears the failure: {:?}",
            app.alerts
        );
        // Read-only: nothing is asked.
        app.read_only = true;
        press(&mut app, 'D');
        assert!(app.jobs.confirm.is_none());
    }

    #[test]
    fn due_counts_from_the_last_pass_and_a_later_failure_does_not_reset_it() {
        let day = 86_400;
        let d = state(vec![
            run(0, DrillOutcome::Pass, 10.0),
            run(10 * day, DrillOutcome::Fail, 3.0),
            run(11 * day, DrillOutcome::Cancelled, 1.0),
        ]);
        assert_eq!(
            d.last_verdict().map(|r| r.outcome),
            Some(DrillOutcome::Fail)
        );
        assert_eq!(d.due(t(20 * day)), Due::At(t(90 * day + 10)));
        assert_eq!(d.due_text(t(20 * day)), "in 70d0h");
        assert!(matches!(d.due(t(95 * day)), Due::Overdue(_)));
        assert_eq!(d.due_text(t(95 * day)), "overdue 4d23h");
        assert_eq!(d.rto_trend(), [10]);
        assert_eq!(state(Vec::new()).due(t(0)), Due::Never);
    }
}
