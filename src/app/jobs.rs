//! Jobs in the UI: the confirmation dialogs (start a job, cancel one), the jobs running, the
//! last outcome, and the audit records they produce: "started" when confirmed, the outcome
//! when it ends, "abandoned" when the console exits first. Pure: `y` on the dialog is the only
//! way to an `JobRequest` or a cancel.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use jiff::Timestamp;

use super::Effect;
use crate::actions::audit::AuditRecord;
use crate::actions::history::DrillRun;
use crate::actions::{Job, JobId, JobKind, JobOutcome, JobRequest, JobTarget, Pace, Progress};
use crate::event::HostCommand;

#[derive(Debug, Clone)]
pub struct Running {
    pub id: JobId,
    pub action: Job,
    pub confirmed_at: Timestamp,
    /// The step the host reported last.
    pub step: Option<String>,
    /// A cancel was sent; the job has not ended yet.
    pub cancelling: bool,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: JobId,
    pub action: Job,
    pub outcome: JobOutcome,
    pub elapsed: Duration,
}

/// What a job's command printed, kept after it ends so the pane that started it can show it.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub id: JobId,
    pub action: Job,
    pub started: Timestamp,
    /// The last [`TRANSCRIPT_LINES`] lines.
    pub lines: std::collections::VecDeque<String>,
    /// Lines dropped from the front to keep it bounded.
    pub dropped: u64,
    /// How it ended, and after how long; None while it runs.
    pub end: Option<(JobOutcome, Duration)>,
}

pub const TRANSCRIPT_LINES: usize = 500;
/// Transcripts kept (the oldest goes first).
const TRANSCRIPTS: usize = 8;

#[derive(Debug, Default)]
pub struct Jobs {
    /// Output of the jobs that print some (backup triggers), newest last.
    pub transcripts: std::collections::VecDeque<Transcript>,
    /// The dialog asking to confirm this action, if open.
    pub confirm: Option<Job>,
    /// The dialog asking to cancel this running job, if open.
    pub confirm_cancel: Option<JobId>,
    pub running: Vec<Running>,
    /// Jobs audited "abandoned" at exit whose end may still arrive (their cancel and cleanup
    /// get a few seconds): that end is audited too.
    abandoned: Vec<Running>,
    pub last: Option<Outcome>,
    next_id: u64,
    /// Drill records that arrived before their job's end.
    drill_runs: std::collections::HashMap<JobId, Box<DrillRun>>,
}

impl Jobs {
    pub fn ask(&mut self, action: Job) {
        self.confirm = Some(action);
    }

    /// The running job that works on something `action` touches.
    pub fn conflict(&self, action: &Job) -> Option<&Running> {
        self.running
            .iter()
            .find(|r| crate::actions::overlaps(&r.action, action))
    }

    /// X: asks to cancel the newest running job.
    pub fn ask_cancel(&mut self) -> Option<String> {
        match self.running.last() {
            Some(run) => {
                self.confirm_cancel = Some(run.id);
                None
            }
            None => Some("no job is running".to_owned()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.confirm.is_some() || self.confirm_cancel.is_some()
    }

    /// A key while a dialog is open: y/Enter confirms, n/Esc closes, Tab and arrows change
    /// the pace of a service restart. Everything else is ignored: the dialog is modal.
    pub fn dialog_key(&mut self, key: KeyEvent, now: Timestamp, user: &str) -> Vec<Effect> {
        if let Some(id) = self.confirm_cancel {
            return match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    self.confirm_cancel = None;
                    match self.running.iter_mut().find(|r| r.id == id) {
                        Some(run) => {
                            run.cancelling = true;
                            vec![Effect::Send(run.action.host, HostCommand::CancelJob(id))]
                        }
                        None => Vec::new(), // it ended meanwhile
                    }
                }
                KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                    self.confirm_cancel = None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        let Some(action) = self.confirm.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                let action = action.clone();
                self.confirm = None;
                self.next_id += 1;
                let id = JobId(self.next_id);
                let run = Running {
                    id,
                    action: action.clone(),
                    confirmed_at: now,
                    step: None,
                    cancelling: false,
                };
                let mut started = record(&run, user, "started", Duration::ZERO, None, None);
                started.time = now;
                if matches!(action.kind, JobKind::Backup | JobKind::Drill) {
                    if self.transcripts.len() == TRANSCRIPTS {
                        self.transcripts.pop_front();
                    }
                    self.transcripts.push_back(Transcript {
                        id,
                        action: action.clone(),
                        started: now,
                        lines: Default::default(),
                        dropped: 0,
                        end: None,
                    });
                }
                self.running.push(run);
                let host = action.host;
                vec![
                    Effect::Audit(started),
                    Effect::Send(host, HostCommand::Run(JobRequest { id, action })),
                ]
            }
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                self.confirm = None;
                Vec::new()
            }
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right
                if is_service_restart(action) =>
            {
                action.pace = match action.pace {
                    Pace::OneByOne => Pace::AllAtOnce,
                    Pace::AllAtOnce => Pace::OneByOne,
                };
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A report from a host; the end of a job yields its audit record.
    pub fn progress(&mut self, id: JobId, progress: Progress, user: &str) -> Vec<Effect> {
        if let Some(i) = self.abandoned.iter().position(|r| r.id == id)
            && let Progress::Done { outcome, elapsed } = &progress
        {
            let run = self.abandoned.remove(i);
            let error = Some(format!("after watchfloor exited: {}", outcome.text()));
            let drill = self.drill_record(&run, outcome, user);
            return std::iter::once(Effect::Audit(record(
                &run,
                user,
                outcome.audit_name(),
                *elapsed,
                None,
                error,
            )))
            .chain(drill)
            .collect();
        }
        if let Progress::Drill(run) = progress {
            if self
                .running
                .iter()
                .chain(&self.abandoned)
                .any(|r| r.id == id)
            {
                self.drill_runs.insert(id, run);
            }
            return Vec::new();
        }
        let Some(i) = self.running.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        match progress {
            Progress::Step(step) => {
                self.running[i].step = Some(step);
                Vec::new()
            }
            Progress::Output(lines) => {
                if let Some(t) = self.transcript_mut(id) {
                    t.lines.extend(lines);
                    while t.lines.len() > TRANSCRIPT_LINES {
                        t.lines.pop_front();
                        t.dropped += 1;
                    }
                }
                Vec::new()
            }
            // Taken above.
            Progress::Drill(_) => Vec::new(),
            Progress::Done { outcome, elapsed } => {
                let run = self.running.remove(i);
                let drill = self.drill_record(&run, &outcome, user);
                if let Some(t) = self.transcript_mut(id) {
                    t.end = Some((outcome.clone(), elapsed));
                }
                // A backup that ended (however) changed what its source lists: read it again.
                let reread = (run.action.kind == JobKind::Backup)
                    .then_some(Effect::Send(run.action.host, HostCommand::Refresh));
                let text = outcome.text();
                let (detail, error) = if outcome.is_success() {
                    (Some(text), None)
                } else {
                    (None, Some(text))
                };
                let record = record(&run, user, outcome.audit_name(), elapsed, detail, error);
                self.last = Some(Outcome {
                    id,
                    action: run.action,
                    outcome,
                    elapsed,
                });
                if self.confirm_cancel == Some(id) {
                    self.confirm_cancel = None;
                }
                std::iter::once(Effect::Audit(record))
                    .chain(reread)
                    .chain(drill)
                    .collect()
            }
        }
    }

    /// The console is exiting (quit, a signal, the terminal gone): every job still running
    /// is audited "abandoned" with the step it had reached, and the hosts are told to cancel
    /// it (its cleanup still runs if the worker gets the time).
    pub fn abandon(&mut self, user: &str, now: Timestamp) -> Vec<Effect> {
        let running = std::mem::take(&mut self.running);
        self.abandoned.extend(running.iter().cloned());
        running
            .into_iter()
            .flat_map(|run| {
                let elapsed = crate::app::hosts::age(run.confirmed_at, now);
                let why = format!(
                    "watchfloor exited before the job ended{}; check the host",
                    run.step
                        .as_ref()
                        .map(|s| format!(" (last step: {s})"))
                        .unwrap_or_default()
                );
                let r = record(&run, user, "abandoned", elapsed, None, Some(why));
                [
                    Effect::Audit(r),
                    Effect::Send(run.action.host, HostCommand::CancelJob(run.id)),
                ]
            })
            .collect()
    }
}

impl Jobs {
    /// The history line of a drill job that ended: the record it sent, completed with how
    /// the job ended; a bare one when it sent none but did start (the link was lost).
    fn drill_record(&mut self, run: &Running, outcome: &JobOutcome, user: &str) -> Option<Effect> {
        let JobTarget::Drill {
            drill,
            source,
            target,
            ..
        } = &run.action.target
        else {
            return None;
        };
        let mut rec = match self.drill_runs.remove(&run.id) {
            Some(r) => r,
            // Refused before it started: the audit log says so; there is no run to keep.
            None if matches!(outcome, JobOutcome::Refused(_)) => return None,
            None => {
                let mut r = DrillRun::begin(
                    drill,
                    &run.action.host_name,
                    source,
                    target.clone(),
                    run.confirmed_at,
                );
                r.step.clone_from(&run.step);
                Box::new(r)
            }
        };
        crate::actions::drill::finalize(&mut rec, outcome);
        user.clone_into(&mut rec.user);
        Some(Effect::DrillRecord(rec))
    }

    fn transcript_mut(&mut self, id: JobId) -> Option<&mut Transcript> {
        self.transcripts.iter_mut().find(|t| t.id == id)
    }

    /// The newest transcript of a job on `host`'s `index`-th backup source or drill (`kind`).
    pub fn transcript(
        &self,
        host: crate::event::HostId,
        kind: JobKind,
        index: usize,
    ) -> Option<&Transcript> {
        self.transcripts
            .iter()
            .rev()
            .find(|t| t.action.host == host && t.action.target.item() == Some((kind, index)))
    }

    /// `host`'s link went down: its running jobs were dropped with the connection. Their end
    /// is audited "unknown" now (a late report of the same end is then ignored).
    pub fn link_lost(
        &mut self,
        host: crate::event::HostId,
        user: &str,
        now: Timestamp,
    ) -> Vec<Effect> {
        let (lost, kept): (Vec<Running>, Vec<Running>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|r| r.action.host == host);
        self.running = kept;
        lost.into_iter()
            .flat_map(|run| {
                let elapsed = crate::app::hosts::age(run.confirmed_at, now);
                let outcome = JobOutcome::Lost;
                let r = record(
                    &run,
                    user,
                    outcome.audit_name(),
                    elapsed,
                    None,
                    Some(outcome.text()),
                );
                let drill = self.drill_record(&run, &outcome, user);
                self.last = Some(Outcome {
                    id: run.id,
                    action: run.action,
                    outcome,
                    elapsed,
                });
                std::iter::once(Effect::Audit(r)).chain(drill)
            })
            .collect()
    }

    /// The start of job `id` could not be handed to its host (queue full or worker gone):
    /// it ends refused, saying why.
    pub fn undelivered(&mut self, id: JobId, why: String, user: &str) -> Vec<Effect> {
        let done = Progress::Done {
            outcome: JobOutcome::Refused(why),
            elapsed: Duration::ZERO,
        };
        self.progress(id, done, user)
    }
}

pub fn is_service_restart(a: &Job) -> bool {
    a.kind == JobKind::Restart
        && matches!(&a.target, JobTarget::Service { containers, .. } if containers.len() > 1)
}

fn record(
    run: &Running,
    user: &str,
    outcome: &'static str,
    elapsed: Duration,
    detail: Option<String>,
    error: Option<String>,
) -> AuditRecord {
    let a = &run.action;
    AuditRecord {
        time: run.confirmed_at,
        job: run.id,
        user: user.to_owned(),
        from: None, // filled in where the line is written
        host: a.host_name.clone(),
        target: a.target.clone(),
        action: a.kind,
        pace: is_service_restart(a).then_some(a.pace),
        outcome,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        data_age_s: a.stale.map(|d| d.as_secs()),
        detail,
        error,
    }
}

impl super::App {
    /// R / S / U: builds the action for the selected container or service (or the log view's
    /// target) and opens the dialog. In read-only mode nothing is built; the status says why.
    pub(super) fn ask_job(&mut self, key: crate::config::keymap::Action) {
        use crate::config::keymap::Action as A;
        let kind = match key {
            A::Restart => JobKind::Restart,
            A::Stop => JobKind::Stop,
            A::Start => JobKind::Start,
            A::Cancel => JobKind::Cancel,
            A::Terminate => JobKind::Terminate,
            A::TriggerBackup => JobKind::Backup,
            A::RunDrill => JobKind::Drill,
            _ => return,
        };
        let backend = matches!(kind, JobKind::Cancel | JobKind::Terminate);
        let target = match kind {
            JobKind::Backup | JobKind::Drill => {
                let target = if kind == JobKind::Backup {
                    self.backup_target()
                } else {
                    self.drill_target()
                };
                match target {
                    Ok(t) => Some(t),
                    Err(why) => {
                        self.status = Some(why);
                        return;
                    }
                }
            }
            _ if backend => self.backend_target(),
            _ => self.action_target(),
        };
        let Some((host, target)) = target else {
            self.status = Some(if backend {
                format!("select a session or a lock-tree row to {} it", kind.verb())
            } else {
                format!("select a container or a service to {} it", kind.verb())
            });
            return;
        };
        let Some(h) = self.hosts.get(host.0) else {
            return;
        };
        if self.read_only || h.read_only {
            let why = if self.read_only {
                "watchfloor runs read-only".to_owned()
            } else {
                format!("{} is read_only in the config", h.name)
            };
            self.status = Some(format!("read-only: {} is disabled ({why})", kind.name()));
            return;
        }
        let observed_stale = match &target {
            JobTarget::Backend { index, .. } => h
                .postgres
                .get(*index)
                .and_then(|c| c.observed.stale_age(self.now)),
            JobTarget::Backup { index, .. } => h
                .backups
                .get(*index)
                .and_then(|b| b.observed.stale_age(self.now)),
            _ => h.containers.as_ref().and_then(|c| c.stale_age(self.now)),
        };
        let action = Job {
            host,
            host_name: h.name.clone(),
            target,
            kind,
            pace: Pace::OneByOne,
            stale: observed_stale,
        };
        if let Some(busy) = self.jobs.conflict(&action) {
            self.status = Some(format!(
                "job {} ({}) is still working on it; wait for it, or cancel it with X",
                busy.id,
                busy.action.describe()
            ));
            return;
        }
        self.jobs.ask(action);
    }

    /// The backup source the trigger key aims at, or why there is none.
    fn backup_target(&self) -> Result<(crate::event::HostId, JobTarget), String> {
        if self.pane != super::Pane::Backups {
            return Err("select a backup source in the backups pane to back it up".into());
        }
        let hosts = super::visible(&self.hosts, self.scope, self.pane);
        let (host, index) = self
            .panes
            .backups
            .selected(&hosts)
            .ok_or("select a backup source (not a host row) to back it up")?;
        let src = self
            .hosts
            .get(host.0)
            .and_then(|h| h.backups.get(index))
            .ok_or("no such backup source")?;
        let command = src.spec.trigger.clone().ok_or_else(|| {
            format!(
                "{} has no trigger: set trigger = \"...\" in its [[host.backup]] (the command that starts a backup on the host)",
                src.spec.name
            )
        })?;
        Ok((
            host,
            JobTarget::Backup {
                index,
                source: src.spec.name.clone(),
                command,
            },
        ))
    }

    /// The drill the run key aims at, naming the newest backup its source listed.
    fn drill_target(&self) -> Result<(crate::event::HostId, JobTarget), String> {
        if self.pane != super::Pane::Drills {
            return Err("select a drill in the drills pane to run it".into());
        }
        let hosts = super::visible(&self.hosts, self.scope, self.pane);
        let (host, index) = self
            .panes
            .drills
            .selected(&hosts)
            .ok_or("select a drill (not a host row) to run it")?;
        let h = self.hosts.get(host.0).ok_or("no such host")?;
        let d = h.drills.get(index).ok_or("no such drill")?;
        let backup = match h
            .backups
            .get(d.spec.source)
            .and_then(|b| b.observed.latest())
            .and_then(|snap| snap.newest())
        {
            _ if d.spec.fetch.is_some() => "what the fetch command prints".to_owned(),
            Some(b) => format!(
                "{}, {} old",
                crate::sanitize::plain(&b.name),
                crate::text::ago(b.time, self.now)
            ),
            None => "not listed yet".to_owned(),
        };
        Ok((
            host,
            JobTarget::Drill {
                index,
                drill: d.spec.name.clone(),
                source: d.spec.source_name.clone(),
                backup,
                target: d.spec.target_text(),
            },
        ))
    }

    /// The PostgreSQL session a cancel or terminate key aims at: the selected row's.
    fn backend_target(&self) -> Option<(crate::event::HostId, JobTarget)> {
        if self.pane != super::Pane::Postgres {
            return None;
        }
        let (host, index, pid) = self.selected_postgres_row()?.backend()?;
        let (cluster, snap, session) = self.postgres_session((host, index, pid))?;
        let blocks = crate::collect::postgres::lock_tree(&snap.sessions)
            .iter()
            .find(|t| t.pid == pid)
            .map_or(0, |t| t.blocks);
        // Names come from the database: untrusted, like the query.
        let clean = |v: &Option<String>| v.as_deref().map(crate::sanitize::plain);
        let query = crate::sanitize::folded(&session.query);
        Some((
            host,
            JobTarget::Backend {
                index,
                cluster: cluster.name().to_owned(),
                pid,
                user: clean(&session.user),
                database: clean(&session.database),
                query: crate::text::fit(&query, 120),
                blocks,
                idle_in_transaction: matches!(
                    session.state,
                    crate::collect::postgres::State::IdleInTransaction
                        | crate::collect::postgres::State::IdleInTransactionAborted
                ),
                backend_start: session.backend_start,
                query_start: session.query_start,
            },
        ))
    }

    /// What an action key aims at: the selected row, or what the log view follows.
    fn action_target(&self) -> Option<(crate::event::HostId, JobTarget)> {
        use super::containers::RowKey;
        use super::logs::LogScope;
        let (host, service, container) = match self.pane {
            super::Pane::Containers => match self.selected_container_row()? {
                RowKey::Container(h, id) => (h, None, Some(id)),
                RowKey::Service(h, project, service) => (h, Some((project, service)), None),
                _ => return None,
            },
            super::Pane::Logs => match &self.logs.as_ref()?.scope {
                LogScope::Container { host, .. } => {
                    let id = self.logs.as_ref()?.streams.first()?.container.clone();
                    (*host, None, Some(id))
                }
                LogScope::Service {
                    host,
                    project,
                    service,
                } => (*host, Some((project.clone(), service.clone())), None),
                _ => return None,
            },
            _ => return None,
        };
        let snapshot = self.hosts.get(host.0)?.containers.as_ref()?.latest()?;
        let member = |c: &crate::collect::containers::Container| crate::actions::Member {
            id: c.id.clone(),
            name: c.name.clone(),
            has_health: c.health.is_some(),
        };
        let target = match (service, container) {
            (_, Some(id)) => {
                let c = snapshot.containers.iter().find(|c| c.id == id)?;
                JobTarget::Container {
                    project: c.project.clone(),
                    service: c.service.clone(),
                    container: member(c),
                }
            }
            (Some((project, service)), None) => {
                let mut members: Vec<_> = snapshot
                    .containers
                    .iter()
                    .filter(|c| {
                        !c.oneoff && c.project == project && c.service.as_deref() == Some(&service)
                    })
                    .collect();
                members.sort_by_key(|c| (c.replica, c.name.clone()));
                if members.is_empty() {
                    return None;
                }
                JobTarget::Service {
                    project,
                    service,
                    containers: members.into_iter().map(member).collect(),
                }
            }
            (None, None) => return None,
        };
        Some((host, target))
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::containers::RowKey;
    use crate::app::tests::fleet_app;
    use crate::app::{App, Pane};
    use crate::event::{AppEvent, HostEvent, HostId};

    fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    /// One host, cursor on `row`.
    fn at(row: RowKey, read_only: bool) -> App {
        let mut app = fleet_app(1);
        app.read_only = read_only;
        let keys = app.container_keys();
        let i = keys.iter().position(|k| *k == row).expect("row exists");
        app.panes.containers.selection.select(&keys, i);
        assert_eq!(app.pane, Pane::Containers);
        app
    }

    /// R then y on the selected row: the job's id, from its one Run command.
    fn restart_confirmed(app: &mut App) -> JobId {
        key(app, KeyCode::Char('R'));
        let effects = key(app, KeyCode::Char('y'));
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("{effects:?}")
        };
        req.id
    }

    fn audits(effects: &[Effect]) -> Vec<&AuditRecord> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn sends(effects: &[Effect]) -> Vec<&HostCommand> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(_, c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn restart_asks_first_and_y_sends_exactly_one_request_then_one_audit() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        let effects = key(&mut app, KeyCode::Char('R'));
        assert!(sends(&effects).is_empty(), "nothing before confirming");
        let pending = app.jobs.confirm.clone().expect("dialog open");
        assert_eq!(pending.describe(), "restart shop/api/shop-api-2 on host0");
        let effects = key(&mut app, KeyCode::Char('y'));
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("one Run expected: {effects:?}")
        };
        assert_eq!(req.action, pending);
        let started = audits(&effects);
        assert_eq!(started.len(), 1, "a started line when confirmed");
        assert_eq!((started[0].outcome, started[0].job), ("started", req.id));
        assert_eq!(app.jobs.running.len(), 1);

        let step = Progress::Step("restarting shop-api-2".into());
        app.update(AppEvent::Host(HostId(0), HostEvent::Action(req.id, step)));
        assert_eq!(
            app.jobs.running[0].step.as_deref(),
            Some("restarting shop-api-2")
        );
        let done = Progress::Done {
            outcome: JobOutcome::Done("restarted shop-api-2".into()),
            elapsed: Duration::from_millis(1500),
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Action(req.id, done)));
        let audits = audits(&effects);
        assert_eq!(audits.len(), 1);
        assert_eq!(
            (
                audits[0].outcome,
                audits[0].duration_ms,
                audits[0].user.as_str()
            ),
            ("ok", 1500, "alice")
        );
        assert!(app.jobs.running.is_empty());
    }

    #[test]
    fn a_job_chosen_from_stale_data_says_so_and_records_its_age() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        key(&mut app, KeyCode::Char('R'));
        assert_eq!(app.jobs.confirm.as_ref().unwrap().stale, None, "live data");
        key(&mut app, KeyCode::Char('n'));
        let err = crate::collect::CollectError::Docker {
            message: "Docker connection to host0 was reset".into(),
        };
        let now = app.now;
        app.hosts[0]
            .containers
            .as_mut()
            .unwrap()
            .record(Err(err), now);
        key(&mut app, KeyCode::Char('R'));
        let job = app.jobs.confirm.clone().expect("dialog");
        assert!(job.stale.is_some());
        let screen = crate::ui::testing::text(&crate::ui::testing::render(&app, 120, 40));
        assert!(screen.contains("the target may have changed"), "{screen}");
        let effects = key(&mut app, KeyCode::Char('y'));
        let Effect::Audit(started) = &effects[0] else {
            panic!("{effects:?}")
        };
        let line = serde_json::to_value(started).unwrap();
        assert!(
            line["target"].is_object() && line["data_age_s"].is_u64(),
            "{line}"
        );
    }

    #[test]
    fn a_link_lost_mid_job_ends_it_unknown_and_a_late_report_is_ignored() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        let id = restart_confirmed(&mut app);
        let down = crate::link::LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Down {
                host: "host0".into(),
                reason: "connection reset".into(),
            },
            since: app.now,
            retry_at: None,
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Link(down)));
        let [Effect::Audit(r)] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!((r.outcome, r.job), ("unknown", id));
        assert!(app.jobs.running.is_empty(), "the target is free again");
        let late = Progress::Done {
            outcome: JobOutcome::Lost,
            elapsed: Duration::from_secs(1),
        };
        assert!(
            app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, late)))
                .is_empty()
        );
    }

    #[test]
    fn an_undelivered_start_ends_refused_and_a_late_end_after_exit_is_audited() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        key(&mut app, KeyCode::Char('R'));
        let effects = key(&mut app, KeyCode::Char('y'));
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("{effects:?}")
        };
        let effects = app.job_undelivered(req.id, "host #1 is busy".into());
        let [Effect::Audit(r)] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(r.outcome, "refused");
        assert!(app.jobs.running.is_empty());

        let id = restart_confirmed(&mut app);
        app.exit();
        let done = Progress::Done {
            outcome: JobOutcome::Cancelled { during: None },
            elapsed: Duration::from_secs(2),
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, done)));
        let [Effect::Audit(r)] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!((r.outcome, r.job), ("cancelled", id));
        assert!(
            r.error
                .as_deref()
                .unwrap_or("")
                .contains("after watchfloor exited")
        );
    }

    #[test]
    fn n_cancels_and_nothing_is_sent() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        key(&mut app, KeyCode::Char('S'));
        assert!(app.jobs.confirm.is_some());
        assert!(sends(&key(&mut app, KeyCode::Char('n'))).is_empty());
        assert!(app.jobs.confirm.is_none());
        assert!(app.jobs.running.is_empty());
    }

    #[test]
    fn read_only_builds_no_action_and_says_why() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), true);
        for k in ['R', 'S', 'U'] {
            let effects = key(&mut app, KeyCode::Char(k));
            assert!(sends(&effects).is_empty());
            assert!(app.jobs.confirm.is_none());
            assert!(app.status.as_deref().unwrap_or("").starts_with("read-only"));
            key(&mut app, KeyCode::Char('y'));
            assert!(app.jobs.running.is_empty());
        }
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        app.hosts[0].read_only = true;
        key(&mut app, KeyCode::Char('R'));
        assert!(app.jobs.confirm.is_none());
        assert!(
            app.status
                .as_deref()
                .unwrap_or("")
                .contains("host0 is read_only")
        );
    }

    #[test]
    fn a_service_restart_names_every_replica_and_tab_changes_the_pace() {
        let row = RowKey::Service(HostId(0), Some("shop".into()), "api".into());
        let mut app = at(row, false);
        key(&mut app, KeyCode::Char('R'));
        let pending = app.jobs.confirm.clone().expect("dialog");
        let names: Vec<&str> = pending
            .target
            .members()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["shop-api-1", "shop-api-2", "shop-api-3", "shop-api-4"]
        );
        assert_eq!(pending.pace, Pace::OneByOne);
        key(&mut app, KeyCode::Tab);
        assert_eq!(app.jobs.confirm.as_ref().unwrap().pace, Pace::AllAtOnce);
        let effects = key(&mut app, KeyCode::Enter);
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(req.action.pace, Pace::AllAtOnce);
    }

    #[test]
    fn exiting_while_a_job_runs_audits_it_abandoned_with_its_step_and_cancels_it() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        let id = restart_confirmed(&mut app);
        let step = Progress::Step("waiting for shop-api-2".into());
        app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, step)));
        key(&mut app, KeyCode::Char('q'));
        assert!(app.should_quit());
        let effects = app.exit();
        let audits = audits(&effects);
        assert_eq!(audits.len(), 1);
        assert_eq!((audits[0].outcome, audits[0].job), ("abandoned", id));
        let why = audits[0].error.as_deref().unwrap_or("");
        assert!(why.contains("waiting for shop-api-2"), "{why}");
        assert_eq!(sends(&effects), [&HostCommand::CancelJob(id)]);
        assert!(app.exit().is_empty(), "once only");
    }

    #[test]
    fn x_then_y_cancels_the_running_job_and_its_end_is_audited_cancelled() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        assert_eq!(key(&mut app, KeyCode::Char('X')).len(), 0);
        assert_eq!(app.status.as_deref(), Some("no job is running"));
        let id = restart_confirmed(&mut app);
        assert!(
            sends(&key(&mut app, KeyCode::Char('X'))).is_empty(),
            "asks first"
        );
        assert_eq!(app.jobs.confirm_cancel, Some(id));
        assert_eq!(
            sends(&key(&mut app, KeyCode::Char('y'))),
            [&HostCommand::CancelJob(id)]
        );
        let done = Progress::Done {
            outcome: JobOutcome::Cancelled {
                during: Some("restarting shop-api-2".into()),
            },
            elapsed: Duration::from_secs(1),
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, done)));
        let [Effect::Audit(r)] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!((r.outcome, r.job), ("cancelled", id));
    }

    #[test]
    fn a_second_job_on_a_container_a_running_job_touches_is_refused_with_the_reason() {
        let row = RowKey::Service(HostId(0), Some("shop".into()), "api".into());
        let mut app = at(row, false);
        key(&mut app, KeyCode::Char('R'));
        key(&mut app, KeyCode::Char('y'));
        // One replica of the service being rolled: refused, naming job #1.
        let keys = app.container_keys();
        let one = RowKey::Container(HostId(0), "id-shop-api-2".into());
        let i = keys.iter().position(|k| *k == one).expect("row");
        app.panes.containers.selection.select(&keys, i);
        key(&mut app, KeyCode::Char('S'));
        assert!(app.jobs.confirm.is_none());
        let status = app.status.clone().unwrap_or_default();
        assert!(
            status.contains("job #1") && status.contains("X"),
            "{status}"
        );
    }

    #[test]
    fn the_log_view_follows_a_service_and_esc_stops_it() {
        let row = RowKey::Service(HostId(0), Some("shop".into()), "api".into());
        let mut app = at(row, false);
        let effects = key(&mut app, KeyCode::Char('l'));
        let [
            HostCommand::FollowLogs {
                view,
                follows,
                tail,
            },
        ] = sends(&effects)[..]
        else {
            panic!("{effects:?}")
        };
        assert_eq!((follows.len(), *tail), (4, 500));
        assert_eq!(app.pane, Pane::Logs);
        let v = app.logs.as_ref().unwrap();
        assert_eq!(v.title, "shop/api on host0");
        let tags: Vec<&str> = v.streams.iter().map(|s| s.tag.as_str()).collect();
        assert_eq!(tags, ["api-1", "api-2", "api-3", "api-4"]);
        // The log view's target can be restarted from there.
        key(&mut app, KeyCode::Char('R'));
        assert_eq!(app.jobs.confirm.as_ref().unwrap().target.members().len(), 4);
        key(&mut app, KeyCode::Esc);
        let view = *view;
        let effects = key(&mut app, KeyCode::Esc);
        assert_eq!(sends(&effects), [&HostCommand::StopLogs { view }]);
        assert_eq!(app.pane, Pane::Containers);
        assert!(app.logs.is_none());
    }

    #[test]
    fn stats_are_asked_only_for_running_containers_on_screen() {
        let mut app = fleet_app(1);
        if let Some(o) = app.hosts[0].containers.as_mut() {
            let mut snap = o.latest().unwrap().clone();
            for (i, c) in snap.containers.iter_mut().enumerate() {
                c.pid = Some(1000 + i as u32);
            }
            o.record(Ok(snap), app.now);
        }
        let effects = app.update(AppEvent::Clock(app.now));
        let [HostCommand::Stats { containers }] = sends(&effects)[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(
            containers.len(),
            7,
            "every running container, not the exited one"
        );
        assert!(
            sends(&app.update(AppEvent::Clock(app.now))).is_empty(),
            "asked once"
        );
        let effects = key(&mut app, KeyCode::Char('3'));
        assert_eq!(
            sends(&effects),
            [&HostCommand::Stats { containers: vec![] }],
            "leaving the pane stops sampling"
        );
    }
}

#[cfg(test)]
mod backup_tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::items::ItemKey;
    use crate::app::tests::fleet_app;
    use crate::app::{App, Pane};
    use crate::event::{AppEvent, HostEvent, HostId};

    fn key(app: &mut App, c: char) -> Vec<Effect> {
        app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    fn status_says(app: &App, text: &str) {
        let status = app.status.as_deref().unwrap_or("");
        assert!(status.contains(text), "{status:?}");
    }

    /// The backups pane with the cursor on host 0's first source (pg-dumps).
    fn on_source(trigger: Option<&str>, read_only: bool) -> App {
        let mut app = fleet_app(1);
        crate::app::backups::tests::add_sources(&mut app);
        app.hosts[0].backups[0].spec.trigger = trigger.map(str::to_owned);
        app.read_only = read_only;
        app.pane = Pane::Backups;
        let keys = [ItemKey::Host(HostId(0)), ItemKey::Item(HostId(0), 0)];
        app.panes.backups.selection.select(&keys, 1);
        app
    }

    #[test]
    fn b_asks_runs_streams_audits_and_reads_the_source_again() {
        let mut app = on_source(Some("/usr/local/bin/dump-shop"), false);
        assert!(key(&mut app, 'B').is_empty());
        let asked = app.jobs.confirm.clone().expect("a dialog");
        assert_eq!(
            asked.describe(),
            "start a backup of backup source pg-dumps (`/usr/local/bin/dump-shop`) on host0"
        );
        let effects = key(&mut app, 'y');
        let [
            Effect::Audit(started),
            Effect::Send(HostId(0), HostCommand::Run(req)),
        ] = &effects[..]
        else {
            panic!("{effects:?}")
        };
        assert_eq!(
            (started.outcome, started.action),
            ("started", JobKind::Backup)
        );
        let id = req.id;
        // A second B on the same source while it runs is refused, naming the job.
        key(&mut app, 'B');
        assert!(app.jobs.confirm.is_none());
        status_says(&app, "still working on it");
        let out = Progress::Output(vec!["dumping table orders".into()]);
        app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, out)));
        let t = app
            .jobs
            .transcript(HostId(0), crate::actions::JobKind::Backup, 0)
            .unwrap();
        assert_eq!(t.lines, ["dumping table orders"]);
        assert!(t.end.is_none());
        let done = Progress::Done {
            outcome: JobOutcome::Done("finished".into()),
            elapsed: Duration::from_secs(42),
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Action(id, done)));
        let ended: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit(r) => Some(r.outcome),
                _ => None,
            })
            .collect();
        assert_eq!(ended, ["ok"]);
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Send(HostId(0), HostCommand::Refresh))),
            "the source is read again: {effects:?}"
        );
        assert!(
            app.jobs
                .transcript(HostId(0), crate::actions::JobKind::Backup, 0)
                .unwrap()
                .end
                .is_some()
        );
    }

    #[test]
    fn no_trigger_or_read_only_says_why_and_asks_nothing() {
        let mut app = on_source(None, false);
        key(&mut app, 'B');
        assert!(app.jobs.confirm.is_none());
        status_says(&app, "has no trigger");
        let mut app = on_source(Some("x"), true);
        key(&mut app, 'B');
        assert!(app.jobs.confirm.is_none());
        status_says(&app, "read-only: backup is disabled");
    }
}
