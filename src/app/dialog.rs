//! Actions in the UI: the confirmation dialog, the actions running, the last outcome, and the
//! audit records they produce. Pure: `y` on the dialog is the only way to an `ActionRequest`.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use jiff::Timestamp;

use super::Effect;
use crate::actions::audit::AuditRecord;
use crate::actions::{ActionKind, ActionRequest, Pace, PendingAction, Progress, Target};
use crate::event::HostCommand;

#[derive(Debug, Clone)]
pub struct Running {
    pub id: u64,
    pub action: PendingAction,
    pub confirmed_at: Timestamp,
    /// The step the host reported last.
    pub step: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub action: PendingAction,
    pub result: Result<String, String>,
    pub elapsed: Duration,
}

#[derive(Debug, Default)]
pub struct Actions {
    /// The dialog asking to confirm this action, if open.
    pub confirm: Option<PendingAction>,
    pub running: Vec<Running>,
    pub last: Option<Outcome>,
    next_id: u64,
}

impl Actions {
    pub fn ask(&mut self, action: PendingAction) {
        self.confirm = Some(action);
    }

    /// A key while the dialog is open: y/Enter confirms, n/Esc cancels, Tab and arrows change
    /// the pace of a service restart. Everything else is ignored: the dialog is modal.
    pub fn dialog_key(&mut self, key: KeyEvent, now: Timestamp) -> Vec<Effect> {
        let Some(action) = self.confirm.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                let action = action.clone();
                self.confirm = None;
                self.next_id += 1;
                let id = self.next_id;
                self.running.push(Running {
                    id,
                    action: action.clone(),
                    confirmed_at: now,
                    step: None,
                });
                let host = action.host;
                vec![Effect::Send(
                    host,
                    HostCommand::Run(ActionRequest { id, action }),
                )]
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

    /// A report from a host; the end of an action yields its audit record.
    pub fn progress(&mut self, id: u64, progress: Progress, user: &str) -> Vec<Effect> {
        let Some(i) = self.running.iter().position(|r| r.id == id) else {
            return Vec::new();
        };
        match progress {
            Progress::Step(step) => {
                self.running[i].step = Some(step);
                Vec::new()
            }
            Progress::Done { result, elapsed } => {
                let run = self.running.remove(i);
                let record = record(&run, user, &result, elapsed);
                self.last = Some(Outcome {
                    action: run.action,
                    result,
                    elapsed,
                });
                vec![Effect::Audit(record)]
            }
        }
    }

    /// watchfloor is quitting: what still runs is audited with an unknown outcome.
    pub fn abandon(&mut self, user: &str, now: Timestamp) -> Vec<Effect> {
        self.running
            .drain(..)
            .map(|run| {
                let elapsed = crate::app::hosts::age(run.confirmed_at, now);
                let mut r = record(&run, user, &Ok(String::new()), elapsed);
                r.outcome = "unknown";
                r.detail = None;
                r.error = Some("watchfloor quit before the action ended".into());
                Effect::Audit(r)
            })
            .collect()
    }
}

pub fn is_service_restart(a: &PendingAction) -> bool {
    a.kind == ActionKind::Restart
        && matches!(&a.target, Target::Service { containers, .. } if containers.len() > 1)
}

fn record(
    run: &Running,
    user: &str,
    result: &Result<String, String>,
    elapsed: Duration,
) -> AuditRecord {
    let a = &run.action;
    AuditRecord {
        time: run.confirmed_at,
        user: user.to_owned(),
        host: a.host_name.clone(),
        target: a.target.clone(),
        action: a.kind,
        pace: is_service_restart(a).then_some(a.pace),
        outcome: if result.is_ok() { "ok" } else { "failed" },
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        detail: result.as_ref().ok().cloned(),
        error: result.as_ref().err().cloned(),
    }
}

impl super::App {
    /// R / S / U: builds the action for the selected container or service (or the log view's
    /// target) and opens the dialog. In read-only mode nothing is built; the status says why.
    pub(super) fn ask_action(&mut self, key: crate::config::keymap::Action) {
        use crate::config::keymap::Action as A;
        let kind = match key {
            A::Restart => ActionKind::Restart,
            A::Stop => ActionKind::Stop,
            A::Start => ActionKind::Start,
            A::Cancel => ActionKind::Cancel,
            A::Terminate => ActionKind::Terminate,
            _ => return,
        };
        let backend = matches!(kind, ActionKind::Cancel | ActionKind::Terminate);
        let target = if backend {
            self.backend_target()
        } else {
            self.action_target()
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
        self.actions.ask(PendingAction {
            host,
            host_name: h.name.clone(),
            target,
            kind,
            pace: Pace::OneByOne,
        });
    }

    /// The PostgreSQL session a cancel or terminate key aims at: the selected row's.
    fn backend_target(&self) -> Option<(crate::event::HostId, Target)> {
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
            Target::Backend {
                index,
                cluster: cluster.name().to_owned(),
                pid,
                user: clean(&session.user),
                database: clean(&session.database),
                query: crate::ui::widgets::fit(&query, 120),
                blocks,
                backend_start: session.backend_start,
                query_start: session.query_start,
            },
        ))
    }

    /// What an action key aims at: the selected row, or what the log view follows.
    fn action_target(&self) -> Option<(crate::event::HostId, Target)> {
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
                Target::Container {
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
                Target::Service {
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
        app.containers.selection.select(&keys, i);
        assert_eq!(app.pane, Pane::Containers);
        app
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
        let pending = app.actions.confirm.clone().expect("dialog open");
        assert_eq!(pending.describe(), "restart shop/api/shop-api-2 on host0");
        let effects = key(&mut app, KeyCode::Char('y'));
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("one Run expected: {effects:?}")
        };
        assert_eq!(req.action, pending);
        assert!(!effects.iter().any(|e| matches!(e, Effect::Audit(_))));
        assert_eq!(app.actions.running.len(), 1);

        let step = Progress::Step("restarting shop-api-2".into());
        app.update(AppEvent::Host(HostId(0), HostEvent::Action(req.id, step)));
        assert_eq!(
            app.actions.running[0].step.as_deref(),
            Some("restarting shop-api-2")
        );
        let done = Progress::Done {
            result: Ok("restarted shop-api-2".into()),
            elapsed: Duration::from_millis(1500),
        };
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Action(req.id, done)));
        let audits: Vec<&AuditRecord> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(audits.len(), 1);
        assert_eq!(
            (
                audits[0].outcome,
                audits[0].duration_ms,
                audits[0].user.as_str()
            ),
            ("ok", 1500, "alice")
        );
        assert!(app.actions.running.is_empty());
    }

    #[test]
    fn n_cancels_and_nothing_is_sent() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        key(&mut app, KeyCode::Char('S'));
        assert!(app.actions.confirm.is_some());
        assert!(sends(&key(&mut app, KeyCode::Char('n'))).is_empty());
        assert!(app.actions.confirm.is_none());
        assert!(app.actions.running.is_empty());
    }

    #[test]
    fn read_only_builds_no_action_and_says_why() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), true);
        for k in ['R', 'S', 'U'] {
            let effects = key(&mut app, KeyCode::Char(k));
            assert!(sends(&effects).is_empty());
            assert!(app.actions.confirm.is_none());
            assert!(app.status.as_deref().unwrap_or("").starts_with("read-only"));
            key(&mut app, KeyCode::Char('y'));
            assert!(app.actions.running.is_empty());
        }
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        app.hosts[0].read_only = true;
        key(&mut app, KeyCode::Char('R'));
        assert!(app.actions.confirm.is_none());
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
        let pending = app.actions.confirm.clone().expect("dialog");
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
        assert_eq!(app.actions.confirm.as_ref().unwrap().pace, Pace::AllAtOnce);
        let effects = key(&mut app, KeyCode::Enter);
        let [HostCommand::Run(req)] = sends(&effects)[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(req.action.pace, Pace::AllAtOnce);
    }

    #[test]
    fn quitting_while_an_action_runs_audits_it_as_unknown() {
        let mut app = at(RowKey::Container(HostId(0), "id-shop-api-2".into()), false);
        key(&mut app, KeyCode::Char('R'));
        key(&mut app, KeyCode::Char('y'));
        let effects = key(&mut app, KeyCode::Char('q'));
        let outcomes: Vec<&str> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit(r) => Some(r.outcome),
                _ => None,
            })
            .collect();
        assert_eq!(outcomes, ["unknown"]);
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
        assert_eq!(
            app.actions.confirm.as_ref().unwrap().target.members().len(),
            4
        );
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
