//! All state the UI shows, and the only code that changes it: `App::update(event) -> effects`.
//! Pure: no I/O, no clock (time arrives as `AppEvent::Clock`), no terminal. Each domain's
//! view model lives in its own module; this one dispatches keys and host events.

pub mod alerts;
pub mod backups;
pub mod containers;
pub mod disks;
pub mod drills;
pub mod health;
pub mod help;
pub mod hosts;
pub mod items;
pub mod jobs;
pub mod list;
pub mod logs;
pub mod mutes;
pub mod overview;
pub mod pane;
pub mod postgres;
pub mod probes;
pub mod redis;
pub mod tunnels;

use std::collections::HashMap;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use jiff::Timestamp;

use crate::actions::audit::AuditRecord;
use crate::collect::stats::StatsTarget;
use crate::config::keymap::Action;
use crate::config::{Keymap, Settings};
use crate::event::{AppEvent, HostCommand, HostEvent, HostId};
use containers::RowKey;
use hosts::HostState;
pub use pane::{Pane, Panes};

/// Something the UI task must do after an update, without waiting for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Queue a command for a host worker (never awaited: a full queue says "host busy").
    Send(HostId, HostCommand),
    /// Append a line to the audit log.
    Audit(AuditRecord),
    /// Write a log view's buffer to a file and say where.
    Save { path: PathBuf, text: String },
    /// Write the acknowledgements and silences to the state directory.
    SaveMutes(mutes::Mutes),
    /// Append a restore drill's run to the drill history.
    DrillRecord(Box<crate::actions::history::DrillRun>),
}

/// The text filter of one pane: `/` starts typing, Enter keeps it, Esc clears it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub text: String,
    pub editing: bool,
}

#[derive(Debug)]
pub struct App {
    pub hosts: Vec<HostState>,
    pub keymap: Keymap,
    /// `--read-only` or `ui.read_only`: no action can change a host.
    pub read_only: bool,
    /// The time as of the last clock tick; every age on screen is computed from it.
    pub now: Timestamp,
    pub pane: Pane,
    /// Set by drilling down from the overview: panes show only this host.
    pub scope: Option<HostId>,
    pub help: bool,
    /// How far the help overlay is scrolled, in lines.
    pub help_scroll: usize,
    /// Every pane's own state: selection, filter, folds, details.
    pub panes: Panes,
    /// The open log view, following in the background while other panes are shown.
    pub logs: Option<logs::LogView>,
    next_view: u64,
    pub jobs: jobs::Jobs,
    /// The containers each host samples stats for, as last asked.
    stats_asked: HashMap<HostId, Vec<StatsTarget>>,
    pub log_settings: crate::config::LogsConfig,
    /// The local user, for the audit log.
    pub user: String,
    /// Where saved log buffers go.
    pub state_dir: PathBuf,
    /// A one-line message for the status bar (the result of the last command).
    pub status: Option<String>,
    /// Terminal size, for page up/down.
    pub screen: (u16, u16),
    pub thresholds: crate::config::Thresholds,
    /// What is wrong across the fleet, worst first: derived from `hosts` and `now` by
    /// [`alerts::alerts`] after every change of either, never edited.
    pub alerts: Vec<alerts::Alert>,
    /// When each alert was first seen, while it holds.
    pub first_seen: alerts::FirstSeen,
    /// Acknowledged and silenced alerts.
    pub mutes: mutes::Mutes,
    /// The mutes changed: saved with the next update's effects.
    mutes_changed: bool,
    /// The last event changed nothing the screen shows (see [`App::take_unchanged`]).
    unchanged: bool,
    /// How long `z` silences.
    silence_for: std::time::Duration,
    /// Critical alerts that appeared since the terminal loop last took them (to notify).
    notices: Vec<alerts::Alert>,
    /// Until then, new alerts are not news: they were wrong before the console started.
    quiet_until: Timestamp,
    quit: bool,
}

impl App {
    pub fn new(settings: &Settings, now: Timestamp) -> App {
        let mut hosts: Vec<HostState> = settings
            .hosts
            .iter()
            .enumerate()
            .map(|(i, spec)| HostState::new(HostId(i), spec))
            .collect();
        for (h, via) in hosts.iter_mut().zip(hosts::jump_hosts(&settings.hosts)) {
            h.via = via;
        }
        // One host: its containers are what the admin came for. A fleet: start with the overview.
        let pane = if hosts.iter().filter(|h| !h.tunnels_only).count() == 1 {
            Pane::Containers
        } else {
            Pane::Overview
        };
        App {
            hosts,
            keymap: settings.keymap.clone(),
            read_only: settings.read_only,
            now,
            pane,
            scope: None,
            help: false,
            help_scroll: 0,
            panes: Panes::default(),
            logs: None,
            next_view: 0,
            jobs: jobs::Jobs::default(),
            stats_asked: HashMap::new(),
            log_settings: settings.logs,
            user: settings.user.clone(),
            state_dir: settings.state_dir.clone(),
            status: settings.notice.clone(),
            screen: (80, 24),
            thresholds: settings.thresholds,
            alerts: Vec::new(),
            first_seen: alerts::FirstSeen::default(),
            notices: Vec::new(),
            mutes: mutes::Mutes::default(),
            mutes_changed: false,
            unchanged: false,
            silence_for: settings.notify.silence.0,
            quiet_until: now
                .checked_add(
                    jiff::SignedDuration::try_from(settings.notify.quiet_start.0)
                        .unwrap_or_default(),
                )
                .unwrap_or(now),
            quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        let mut effects = self.update_inner(event);
        self.keep_drill_runs(&effects);
        if std::mem::take(&mut self.mutes_changed) {
            effects.push(Effect::SaveMutes(self.mutes.clone()));
        }
        effects
    }

    /// The acknowledgements and silences kept in the state directory.
    pub fn load_mutes(&mut self, mutes: mutes::Mutes) {
        self.mutes = mutes;
    }

    /// (crit, warn) of the alerts neither acknowledged nor silenced: the tab bar and title.
    pub fn active_counts(&self) -> (usize, usize) {
        alerts::counts(
            self.alerts
                .iter()
                .filter(|a| !self.mutes.is_muted(a, self.now)),
        )
    }

    /// a / z in the alerts pane: acknowledges or silences the selected alert (or takes that
    /// back), with an audit line. Not a change to a host: allowed in read-only mode.
    fn mute(&mut self, silence: bool) -> Vec<Effect> {
        if self.pane != Pane::Alerts {
            return Vec::new();
        }
        let Some(a) = self.panes.alerts.selected(&self.alerts).cloned() else {
            self.status = Some("no alert selected".into());
            return Vec::new();
        };
        let now = self.now;
        let (kind, detail) = if silence {
            let until = now
                .checked_add(jiff::SignedDuration::try_from(self.silence_for).unwrap_or_default())
                .unwrap_or(now);
            let on = self.mutes.toggle_silence(&a, &self.user, now, until);
            let text = if on {
                format!("silenced for {}", crate::text::age(self.silence_for))
            } else {
                "silence lifted".to_owned()
            };
            (crate::actions::JobKind::Silence, text)
        } else {
            let on = self.mutes.toggle_ack(&a, &self.user, now);
            let text = if on {
                "acknowledged"
            } else {
                "acknowledgement taken back"
            };
            (crate::actions::JobKind::Acknowledge, text.to_owned())
        };
        self.mutes_changed = true;
        self.status = Some(format!("{}: {detail}", crate::sanitize::plain(&a.what)));
        vec![Effect::Audit(AuditRecord {
            time: now,
            job: crate::actions::JobId(0),
            user: self.user.clone(),
            from: None,
            host: a.host_name.clone(),
            target: crate::actions::JobTarget::Alert {
                domain: a.domain,
                what: a.what.clone(),
            },
            action: kind,
            pace: None,
            outcome: "ok",
            duration_ms: 0,
            data_age_s: None,
            detail: Some(detail),
            error: None,
        })]
    }

    /// A drill run that ended goes into its drill's history here (and into the file, by the
    /// effect): the pane shows it without waiting for the file to be read again.
    fn keep_drill_runs(&mut self, effects: &[Effect]) {
        let mut any = false;
        for e in effects {
            if let Effect::DrillRecord(run) = e {
                drills::record(&mut self.hosts, run);
                any = true;
            }
        }
        if any {
            self.rejudge();
        }
    }

    /// Derives the alerts again and keeps when each was first seen.
    fn rejudge(&mut self) {
        self.alerts = alerts::alerts(&self.hosts, &self.thresholds, self.now);
        self.judged();
    }

    /// Derives one host's alerts again: what [`App::rejudge`] would give after a sample.
    fn rejudge_host(&mut self, id: HostId) {
        let Some(h) = self.hosts.get(id.0) else {
            return;
        };
        self.alerts.retain(|a| a.host != id);
        alerts::host_alerts(&self.hosts, h, &self.thresholds, self.now, &mut self.alerts);
        alerts::sort(&mut self.alerts);
        self.judged();
    }

    /// After the alerts changed: first seen, notices, mutes of alerts gone.
    fn judged(&mut self) {
        let new = self.first_seen.track(&self.alerts, self.now);
        let settled = self.now >= self.quiet_until;
        if settled {
            self.notices.extend(
                new.into_iter()
                    .filter(|a| a.severity == alerts::Severity::Crit)
                    .filter(|a| !self.mutes.is_muted(a, self.now))
                    .cloned(),
            );
        }
        let reporting: std::collections::HashSet<&str> = self
            .hosts
            .iter()
            .filter(|h| settled && h.link == crate::link::LinkState::Up)
            .filter(|h| h.newest_data().is_some())
            .map(|h| h.name.as_str())
            .collect();
        if self
            .mutes
            .prune(&self.alerts, self.now, |h| reporting.contains(h))
        {
            self.mutes_changed = true;
        }
    }

    /// Every host is known down or has sent its containers and disks once: from then on a
    /// periodic sample need not be drawn the moment it lands (at start-up each one is news).
    pub fn settled(&self) -> bool {
        self.hosts.iter().all(|h| {
            matches!(h.link, crate::link::LinkState::Down { .. })
                || (h
                    .containers
                    .as_ref()
                    .is_none_or(|c| c.observed_at().is_some())
                    && (h.tunnels_only || h.disks.observed_at().is_some()))
        })
    }

    /// True once after an event that changed nothing drawn (container stats whose numbers
    /// round to what is shown): the loop draws no frame for it.
    pub fn take_unchanged(&mut self) -> bool {
        std::mem::take(&mut self.unchanged)
    }

    /// The critical alerts that appeared since the last call, for the notifications.
    pub fn take_notices(&mut self) -> Vec<alerts::Alert> {
        std::mem::take(&mut self.notices)
    }

    /// The drill history file's runs (read at start, and again when it changes: a headless
    /// run from cron lands there).
    pub fn load_drill_history(&mut self, runs: &[crate::actions::history::DrillRun]) {
        drills::load(&mut self.hosts, runs);
        self.rejudge();
    }

    fn update_inner(&mut self, event: AppEvent) -> Vec<Effect> {
        // Log batches (dozens a second under a firehose) and stats samples never change which
        // containers are on screen: no rebuilding the rows for them.
        let screen_may_change = !matches!(
            event,
            AppEvent::Host(_, HostEvent::Logs(_) | HostEvent::Stats(_))
        );
        // Only what hosts observe and the passing of time change what is wrong. A sample
        // changes only its own host's verdicts (fifty hosts send ten samples a second); a
        // link state also those of the hosts behind it.
        let judge = match &event {
            AppEvent::Clock(_) | AppEvent::Host(_, HostEvent::Link(_)) => Some(None),
            AppEvent::Host(id, HostEvent::Sample(_) | HostEvent::Rtt(_)) => Some(Some(*id)),
            _ => None,
        };
        let mut effects = match event {
            AppEvent::Key(key) => self.on_key(key),
            AppEvent::Resize { width, height } => {
                self.screen = (width, height);
                Vec::new()
            }
            AppEvent::Clock(now) => {
                self.now = now;
                Vec::new()
            }
            AppEvent::Notice(text) => {
                self.status = Some(text);
                Vec::new()
            }
            AppEvent::Host(_, HostEvent::Logs(batch)) => {
                if let Some(view) = self.logs.as_mut().filter(|v| v.id == batch.view) {
                    view.push_at(batch, self.now);
                }
                Vec::new()
            }
            AppEvent::Host(id, HostEvent::Stats(Ok(sample))) => {
                if let Some(h) = self.hosts.get_mut(id.0) {
                    self.unchanged = h
                        .stats
                        .as_ref()
                        .is_some_and(|old| containers::stats_look_the_same(old, &sample));
                    h.stats = Some(sample);
                }
                Vec::new()
            }
            AppEvent::Host(_, HostEvent::Action(id, progress)) => {
                self.jobs.progress(id, progress, &self.user)
            }
            AppEvent::Host(id, ev) => {
                let lost = match &ev {
                    HostEvent::Link(crate::link::LinkState::Down { .. }) => {
                        self.jobs.link_lost(id, &self.user, self.now)
                    }
                    // A jump host answering again: the hosts behind it that are down retry
                    // now, not when their backoff ends.
                    HostEvent::Link(crate::link::LinkState::Up)
                        if self
                            .hosts
                            .get(id.0)
                            .is_some_and(|h| h.link != crate::link::LinkState::Up) =>
                    {
                        self.hosts
                            .iter()
                            .filter(|h| {
                                h.via.contains(&id)
                                    && matches!(h.link, crate::link::LinkState::Down { .. })
                            })
                            .map(|h| Effect::Send(h.id, HostCommand::Refresh))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                if let Some(h) = self.hosts.get_mut(id.0) {
                    h.apply(ev, self.now);
                }
                // A session shown in full that has ended: nothing left to show.
                if let Some(detail) = self.panes.postgres.detail
                    && self.postgres_session(detail).is_none()
                {
                    self.panes.postgres.detail = None;
                }
                lost
            }
        };
        match judge {
            Some(None) => self.rejudge(),
            Some(Some(host)) => self.rejudge_host(host),
            None => {}
        }
        if screen_may_change {
            effects.extend(self.ask_stats());
        }
        effects
    }

    /// The start of job `id` never reached its host: it ends refused, with `why`.
    pub fn job_undelivered(&mut self, id: crate::actions::JobId, why: String) -> Vec<Effect> {
        let effects = self.jobs.undelivered(id, why, &self.user);
        self.keep_drill_runs(&effects);
        effects
    }

    /// The console is exiting, however (quit, a signal, the terminal gone): jobs still running
    /// are audited "abandoned" and cancelled. Idempotent.
    pub fn exit(&mut self) -> Vec<Effect> {
        self.quit = true;
        self.jobs.abandon(&self.user, self.now)
    }

    /// Asks each host for stats of the running containers on (or near) the screen, and only
    /// when that set changes; nothing at all outside the containers pane.
    fn ask_stats(&mut self) -> Vec<Effect> {
        let mut wanted: HashMap<HostId, Vec<StatsTarget>> = HashMap::new();
        if self.pane == Pane::Containers && !self.quit {
            let rows = containers::rows(
                &self.visible_hosts(),
                &self.panes.containers.folded,
                &self.filter_text(Pane::Containers),
                self.panes.containers.sort,
            );
            let keys: Vec<RowKey> = rows.iter().map(|r| r.key.clone()).collect();
            let at = self.panes.containers.selection.index(&keys);
            let span = usize::from(self.screen.1);
            let lo = at.saturating_sub(span);
            for row in rows.iter().skip(lo).take(span * 2) {
                if let containers::RowKind::Container(c) = row.kind
                    && let (Some(pid), RowKey::Container(host, _)) = (c.pid, &row.key)
                    && c.state == crate::collect::containers::ContainerState::Running
                {
                    wanted.entry(*host).or_default().push(StatsTarget {
                        id: c.id.clone(),
                        pid,
                    });
                }
            }
        }
        let mut effects = Vec::new();
        let hosts: std::collections::BTreeSet<HostId> = wanted
            .keys()
            .chain(self.stats_asked.keys())
            .copied()
            .collect();
        for host in hosts {
            let now = wanted.remove(&host).unwrap_or_default();
            let before = self.stats_asked.get(&host).cloned().unwrap_or_default();
            if now != before {
                effects.push(Effect::Send(
                    host,
                    HostCommand::Stats {
                        containers: now.clone(),
                    },
                ));
                if now.is_empty() {
                    self.stats_asked.remove(&host);
                } else {
                    self.stats_asked.insert(host, now);
                }
            }
        }
        effects
    }

    /// Hosts the current pane shows: the drilled-into host, or all.
    /// The admin's own machine (tunnels only) appears in the WireGuard pane alone.
    pub fn visible_hosts(&self) -> Vec<&HostState> {
        visible(&self.hosts, self.scope, self.pane)
    }

    pub fn filter(&self) -> &Filter {
        self.panes.get(self.pane).filter()
    }

    fn filter_mut(&mut self) -> &mut Filter {
        self.panes.get_mut(self.pane).filter_mut()
    }

    /// Rows a page key moves by: the list's visible height.
    fn page(&self) -> isize {
        isize::try_from(self.screen.1.saturating_sub(6).max(1)).unwrap_or(1)
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if self.jobs.is_open() {
            return self.jobs.dialog_key(key, self.now, &self.user);
        }
        if self.pane == Pane::Logs && self.logs.as_ref().is_some_and(|v| v.search.editing) {
            self.on_search_key(key);
            return Vec::new();
        }
        if self.filter().editing {
            return self.on_filter_key(key);
        }
        // The help overlay scrolls with the list keys, whatever pane is under it.
        let contexts = if self.help {
            &[crate::config::keymap::Context::List][..]
        } else {
            self.panes.get(self.pane).contexts()
        };
        let Some(action) = self.keymap.action(contexts, key) else {
            return Vec::new();
        };
        if self.help {
            let max = help::max_scroll(self.screen, self.read_only);
            let page = usize::from(self.screen.1.saturating_sub(3)).max(1);
            let at = self.help_scroll.min(max);
            self.help_scroll = match action {
                Action::Quit => {
                    self.quit = true;
                    at
                }
                Action::Help | Action::Back => {
                    self.help = false;
                    0
                }
                Action::Down => at + 1,
                Action::Up => at.saturating_sub(1),
                Action::PageDown => at + page,
                Action::PageUp => at.saturating_sub(page),
                Action::Top => 0,
                Action::Bottom => max,
                _ => at,
            }
            .min(max);
            return Vec::new();
        }
        self.status = None;
        if self.pane == Pane::Logs
            && let Some(effects) = self.on_log_action(action)
        {
            return effects;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.help = true,
            Action::NextPane => self.pane = self.pane.cycle(1),
            Action::PrevPane => self.pane = self.pane.cycle(-1),
            Action::PaneOverview => self.pane = Pane::Overview,
            Action::PaneContainers => self.pane = Pane::Containers,
            Action::PaneDisks => self.pane = Pane::Disks,
            Action::PaneTunnels => self.pane = Pane::Tunnels,
            Action::PaneLogs => self.pane = Pane::Logs,
            Action::PanePostgres => self.pane = Pane::Postgres,
            Action::PaneHealth => self.pane = Pane::Health,
            Action::PaneBackups => self.pane = Pane::Backups,
            Action::PaneDrills => self.pane = Pane::Drills,
            Action::PaneAlerts => self.pane = Pane::Alerts,
            Action::Acknowledge => return self.mute(false),
            Action::Silence => return self.mute(true),
            Action::Filter => self.filter_mut().editing = true,
            Action::Back => self.back(),
            Action::Refresh => return self.refresh(),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-self.page()),
            Action::PageDown => self.move_by(self.page()),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => self.open(),
            Action::Sort | Action::SortReverse => {
                let pane = self.pane;
                self.status = Some(
                    self.panes
                        .get_mut(pane)
                        .sort(action == Action::SortReverse)
                        .unwrap_or_else(|| "this pane has one order".to_owned()),
                );
            }
            Action::Restart
            | Action::Stop
            | Action::Start
            | Action::Cancel
            | Action::Terminate
            | Action::TriggerBackup
            | Action::RunDrill => self.ask_job(action),
            Action::CancelJob => self.status = self.jobs.ask_cancel(),
            Action::Logs => return self.open_logs(false),
            Action::LogsEverywhere => return self.open_logs(true),
            // Log pane actions, handled above.
            Action::SearchOlder
            | Action::SearchNewer
            | Action::OnlyMatching
            | Action::ToggleRegex
            | Action::ToggleCase
            | Action::Timestamps
            | Action::Wrap
            | Action::Save => {}
        }
        Vec::new()
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                self.filter_mut().text.push(c)
            }
            KeyCode::Backspace => {
                self.filter_mut().text.pop();
            }
            KeyCode::Enter => self.filter_mut().editing = false,
            KeyCode::Esc => *self.filter_mut() = Filter::default(),
            KeyCode::Up => self.move_by(-1),
            KeyCode::Down => self.move_by(1),
            _ => {}
        }
        Vec::new()
    }

    /// The selected row of the containers pane: the open detail's container, or the cursor's.
    fn selected_container_row(&self) -> Option<RowKey> {
        if let Some((host, id)) = &self.panes.containers.detail {
            return Some(RowKey::Container(*host, id.clone()));
        }
        let keys = self.container_keys();
        keys.get(self.panes.containers.selection.index(&keys))
            .cloned()
    }

    /// Esc: close the innermost thing open: details, then the filter, then the drill-down.
    fn back(&mut self) {
        if self.panes.get_mut(self.pane).back() {
            return;
        }
        if !self.filter().text.is_empty() {
            *self.filter_mut() = Filter::default();
            return;
        }
        if let Some(host) = self.scope.take() {
            self.pane = Pane::Overview;
            let ids = self.host_ids();
            if let Some(at) = ids.iter().position(|id| *id == host) {
                self.panes.overview.selection.select(&ids, at);
            }
        }
    }

    fn refresh(&mut self) -> Vec<Effect> {
        let targets: Vec<HostId> = self.visible_hosts().iter().map(|h| h.id).collect();
        self.status = Some(format!(
            "refreshing {} host{}",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" }
        ));
        targets
            .into_iter()
            .map(|id| Effect::Send(id, HostCommand::Refresh))
            .collect()
    }

    /// Whether `action` can do anything here: keys for Docker, PostgreSQL, backups or drills
    /// are not advertised where none is configured.
    pub fn offers(&self, action: Action) -> bool {
        let hosts = self.visible_hosts();
        match action {
            Action::Restart
            | Action::Stop
            | Action::Start
            | Action::Logs
            | Action::LogsEverywhere => hosts.iter().any(|h| h.containers.is_some()),
            Action::Cancel | Action::Terminate => hosts.iter().any(|h| !h.postgres.is_empty()),
            Action::TriggerBackup => hosts.iter().any(|h| !h.backups.is_empty()),
            Action::RunDrill => hosts.iter().any(|h| !h.drills.is_empty()),
            _ => true,
        }
    }

    /// The overview's rows: every configured host.
    pub fn host_ids(&self) -> Vec<HostId> {
        host_ids(&self.hosts)
    }

    /// The current pane's state, and what it reads of the rest of the state.
    fn current_pane(&mut self) -> (&mut dyn pane::PaneState, pane::Ctx<'_>) {
        let cx = pane::Ctx {
            hosts: visible(&self.hosts, self.scope, self.pane),
            host_ids: host_ids(&self.hosts),
            alerts: &self.alerts,
        };
        (self.panes.get_mut(self.pane), cx)
    }

    pub fn container_keys(&self) -> Vec<RowKey> {
        self.panes.containers.keys(&self.visible_hosts())
    }

    pub fn filter_text(&self, pane: Pane) -> String {
        self.panes.get(pane).filter().text.clone()
    }

    fn move_by(&mut self, delta: isize) {
        let (pane, cx) = self.current_pane();
        pane.move_by(&cx, delta);
    }

    pub fn postgres_keys(&self) -> Vec<postgres::RowKey> {
        self.panes.postgres.keys(&self.visible_hosts())
    }

    /// A PostgreSQL session by (host, cluster index, pid), with its cluster and the snapshot
    /// it is from: the latest.
    pub fn postgres_session(
        &self,
        (host, cluster, pid): (HostId, usize, i32),
    ) -> Option<(
        &hosts::Cluster,
        &crate::collect::postgres::Snapshot,
        &crate::collect::postgres::Session,
    )> {
        let cluster = self.hosts.get(host.0)?.postgres.get(cluster)?;
        let snap = cluster.observed.latest()?;
        Some((cluster, snap, snap.session(pid)?))
    }

    /// The PostgreSQL pane's selected row.
    pub fn selected_postgres_row(&self) -> Option<postgres::RowKey> {
        let keys = self.postgres_keys();
        keys.get(self.panes.postgres.selection.index(&keys))
            .cloned()
    }

    /// Enter: whatever the pane does with it; it may ask to show one host only.
    fn open(&mut self) {
        let (pane, cx) = self.current_pane();
        match pane.open(&cx) {
            Some(pane::Nav::DrillInto(host)) => {
                self.scope = Some(host);
                self.pane = Pane::Containers;
            }
            Some(pane::Nav::Scope(host)) => self.scope = Some(host),
            Some(pane::Nav::Show(pane, host, row)) => {
                // The overview lists every host: select it there instead of narrowing.
                if pane == Pane::Overview {
                    self.scope = None;
                    let ids = host_ids(&self.hosts);
                    let at = ids.iter().position(|h| *h == host).unwrap_or(0);
                    self.panes.overview.selection.select(&ids, at);
                } else {
                    self.scope = Some(host);
                }
                if let Some(row) = row {
                    self.select_row(pane, host, row);
                }
                self.pane = pane;
            }
            None => {}
        }
    }
}

impl App {
    /// Selects an alert's row in its pane, unfolding the groups it is listed under.
    fn select_row(&mut self, pane: Pane, host: HostId, row: alerts::Row) {
        use alerts::Row;
        let p = &mut self.panes;
        match (pane, row) {
            (
                Pane::Containers,
                Row::Container {
                    project,
                    service,
                    id,
                },
            ) => {
                let c = &mut p.containers;
                c.folded.remove(&containers::RowKey::Host(host));
                c.folded
                    .remove(&containers::RowKey::Project(host, project.clone()));
                if let Some(service) = service {
                    c.folded
                        .remove(&containers::RowKey::Service(host, project, service));
                }
                c.selection
                    .select_key(containers::RowKey::Container(host, id));
            }
            (Pane::Containers, Row::Service(project, service)) => {
                let c = &mut p.containers;
                c.folded.remove(&containers::RowKey::Host(host));
                c.folded
                    .remove(&containers::RowKey::Project(host, project.clone()));
                c.selection
                    .select_key(containers::RowKey::Service(host, project, service));
            }
            (Pane::Disks, Row::Disk(mount)) => {
                p.disks
                    .selection
                    .select_key(disks::RowKey::Disk(host, mount));
            }
            (Pane::Postgres, Row::Cluster(i)) => {
                p.postgres
                    .selection
                    .select_key(postgres::RowKey::Cluster(host, i));
            }
            (Pane::Tunnels, Row::Peer(iface, key)) => {
                p.tunnels
                    .selection
                    .select_key(tunnels::RowKey::Peer(host, iface, key));
            }
            (Pane::Backups, Row::Item(i)) => {
                p.backups
                    .selection
                    .select_key(items::ItemKey::Item(host, i));
            }
            (Pane::Drills, Row::Item(i)) => {
                p.drills.selection.select_key(items::ItemKey::Item(host, i));
            }
            _ => {}
        }
    }
}

/// The overview's rows: every configured host (not the admin's tunnels-only machine).
fn host_ids(hosts: &[HostState]) -> Vec<HostId> {
    hosts
        .iter()
        .filter(|h| !h.tunnels_only)
        .map(|h| h.id)
        .collect()
}

/// Hosts `pane` shows: the drilled-into host, or all. The admin's own machine (tunnels only)
/// appears in the WireGuard pane alone.
fn visible(hosts: &[HostState], scope: Option<HostId>, pane: Pane) -> Vec<&HostState> {
    hosts
        .iter()
        .filter(|h| scope.is_none_or(|s| s == h.id))
        .filter(|h| pane == Pane::Tunnels || !h.tunnels_only)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;
    use crate::collect::CollectError;
    use crate::collect::disks::{DisksSnapshot, Filesystem};
    use crate::event::HostEvent;
    use crate::link::LinkState;
    use crossterm::event::KeyModifiers;

    pub fn settings(hosts: usize) -> Settings {
        let spec = |i| {
            crate::config::HostSpec::local(&format!("host{i}"), Some("/var/run/docker.sock".into()))
        };
        Settings {
            hosts: (0..hosts).map(spec).collect(),
            keymap: Keymap::defaults(),
            theme: Default::default(),
            read_only: false,
            logs: crate::config::LogsConfig::default(),
            thresholds: crate::config::Thresholds::default(),
            notify: crate::config::NotifyConfig::default(),
            user: "alice".into(),
            state_dir: PathBuf::from("/state/watchfloor"),
            config_path: None,
            notice: None,
        }
    }

    fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
        app.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn chars(app: &mut App, s: &str) {
        for c in s.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    fn with_fleet(hosts: usize) -> App {
        let mut app = App::new(
            &settings(hosts),
            Timestamp::from_second(1_795_000_110).unwrap(),
        );
        for i in 0..hosts {
            app.hosts[i] = fleet_host(i, &format!("host{i}"));
        }
        app
    }

    fn fs(mount: &str, device: &str, size_gib: u64, used_pct: u64) -> Filesystem {
        let size_bytes = size_gib << 30;
        let used_bytes = size_bytes / 100 * used_pct;
        Filesystem {
            device: device.into(),
            mount: mount.into(),
            size_bytes,
            used_bytes,
            avail_bytes: size_bytes - used_bytes,
            inodes_total: Some(3_276_800),
            inodes_used: Some(3_276_800 / 100 * (used_pct / 4)),
        }
    }

    /// host0: wg0 with a fresh, a 5-minute-stale and a never-seen peer; host1: wg not permitted.
    fn tunnels_fixture(i: usize, now: Timestamp) -> crate::collect::tunnels::TunnelsSnapshot {
        use crate::collect::tunnels::{TunnelsSnapshot, WgAccess, parse_dump};
        let t = |ago: i64| now.as_second() - ago;
        let dump = format!(
            "wg0\tPRIVATE\tSeRvErKeYaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\t51820\toff\n\
             wg0\tLaPtOpKeYbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=\t(none)\t198.51.100.20:41641\t10.8.0.2/32\t{}\t48213\t91342\toff\n\
             wg0\tDbVmKeYccccccccccccccccccccccccccccccccccc=\t(none)\t10.0.0.7:51820\t10.8.0.3/32\t{}\t7340032\t1048576\t25\n\
             wg0\tOlDpHoNeddddddddddddddddddddddddddddddddddd=\t(none)\t(none)\t10.8.0.9/32\t0\t0\t0\toff",
            t(30),
            t(300)
        );
        let (access, interfaces) = match i {
            0 => (WgAccess::Ok, parse_dump(&dump).expect("fixture dump")),
            _ => (WgAccess::NotPermitted("wg needs root".into()), Vec::new()),
        };
        TunnelsSnapshot {
            access,
            interfaces,
            observed_at: now,
        }
    }

    /// `hosts` hosts with the compose fleet, links up and three disks each (one 95 % full);
    /// host2, when there is one, is down since 5 minutes with data 5 minutes old.
    pub fn fleet_app(hosts: usize) -> App {
        let mut app = with_fleet(hosts);
        let now = app.now;
        for i in 0..hosts {
            let observed_at = if i == 2 {
                now - jiff::SignedDuration::from_secs(300)
            } else {
                now - jiff::SignedDuration::from_secs(4)
            };
            let filesystems = vec![
                fs("/", "/dev/vda1", 48, 84),
                fs("/srv/data", "/dev/sdb1", 500, 95),
                fs("/boot", "/dev/vda2", 1, 22),
            ];
            let mut containers = app.hosts[i]
                .containers
                .as_ref()
                .and_then(|o| o.latest())
                .cloned()
                .expect("fleet containers");
            containers.observed_at = observed_at;
            app.update(AppEvent::Host(
                HostId(i),
                HostEvent::Sample(crate::collect::Sample::Containers(Ok(containers))),
            ));
            app.update(AppEvent::Host(
                HostId(i),
                HostEvent::Sample(crate::collect::Sample::Disks(Ok(DisksSnapshot {
                    filesystems,
                    observed_at,
                }))),
            ));
            app.update(AppEvent::Host(
                HostId(i),
                HostEvent::Sample(crate::collect::Sample::Tunnels(Ok(tunnels_fixture(i, now)))),
            ));
            let usage = |count, active, size_bytes, reclaimable_bytes| {
                crate::collect::docker_usage::Usage {
                    count,
                    active,
                    size_bytes,
                    reclaimable_bytes,
                }
            };
            let docker = crate::collect::docker_usage::DockerUsage {
                images: usage(12, 5, 7 << 30, 3 << 30),
                containers: usage(6, 5, 40 << 20, 0),
                volumes: usage(4, 3, 21 << 30, 1 << 30),
                build_cache: usage(0, 0, 0, 0),
                observed_at,
            };
            app.update(AppEvent::Host(
                HostId(i),
                HostEvent::Sample(crate::collect::Sample::DockerUsage(Ok(docker))),
            ));
            let health = crate::collect::health::HealthSnapshot {
                cpu_pct: Some([12.0, 91.0, 40.0][i % 3]),
                cpus: 4,
                load: [0.42, 0.35, 0.30],
                uptime: std::time::Duration::from_secs(86_400 * 12 + 3600 * 5),
                mem_total_bytes: 8 << 30,
                mem_used_bytes: [3u64 << 30, 15 << 29, 2 << 30][i % 3],
                swap_total_bytes: 1 << 30,
                swap_used_bytes: 0,
                observed_at,
            };
            app.update(AppEvent::Host(
                HostId(i),
                HostEvent::Sample(crate::collect::Sample::Health(Ok(health))),
            ));
            let link = if i == 2 {
                LinkState::Down {
                    kind: crate::link::DownKind::Unreachable,
                    error: crate::link::LinkError::Down {
                        host: "host2".into(),
                        reason: "connection refused".into(),
                    },
                    since: observed_at,
                    retry_at: None,
                }
            } else {
                LinkState::Up
            };
            app.update(AppEvent::Host(HostId(i), HostEvent::Link(link)));
        }
        app
    }

    fn selected(app: &App) -> RowKey {
        let keys = app.container_keys();
        keys[app.panes.containers.selection.index(&keys)].clone()
    }

    #[test]
    fn a_single_host_starts_on_containers_a_fleet_on_the_overview() {
        assert_eq!(with_fleet(1).pane, Pane::Containers);
        assert_eq!(with_fleet(3).pane, Pane::Overview);
    }

    #[test]
    fn q_quits_and_tab_cycles_panes() {
        let mut app = with_fleet(2);
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.pane, Pane::Containers);
        for _ in 0..Pane::ALL.len() - 1 {
            press(&mut app, KeyCode::Tab);
        }
        assert_eq!(app.pane, Pane::Overview);
        press(&mut app, KeyCode::BackTab);
        assert_eq!(app.pane, Pane::Alerts);
        chars(&mut app, "2");
        assert_eq!(app.pane, Pane::Containers);
        assert!(!app.should_quit());
        chars(&mut app, "q");
        assert!(app.should_quit());
    }

    #[test]
    fn enter_on_a_host_drills_down_and_esc_comes_back() {
        let mut app = with_fleet(3);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Enter);
        assert_eq!((app.pane, app.scope), (Pane::Containers, Some(HostId(1))));
        assert!(app.visible_hosts().iter().all(|h| h.id == HostId(1)));
        press(&mut app, KeyCode::Esc);
        assert_eq!((app.pane, app.scope), (Pane::Overview, None));
        assert_eq!(app.panes.overview.selection.index(&app.host_ids()), 1);
    }

    #[test]
    fn enter_folds_a_service_and_opens_a_container() {
        let mut app = with_fleet(1);
        chars(&mut app, "jj"); // host, project, service api
        assert_eq!(
            selected(&app),
            RowKey::Service(HostId(0), Some("shop".into()), "api".into())
        );
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.container_keys().len(), 14 - 4);
        press(&mut app, KeyCode::Enter);
        chars(&mut app, "j");
        press(&mut app, KeyCode::Enter);
        assert_eq!(
            app.panes.containers.detail,
            Some((HostId(0), "id-shop-api-1".into()))
        );
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.panes.containers.detail, None);
    }

    #[test]
    fn slash_filters_live_and_esc_clears() {
        let mut app = with_fleet(1);
        chars(&mut app, "/worker");
        assert!(app.filter().editing);
        assert_eq!(app.container_keys().len(), 5); // host, project, service, 2 workers
        press(&mut app, KeyCode::Enter);
        assert!(!app.filter().editing);
        chars(&mut app, "q"); // not typed into the filter any more: quits
        assert!(app.should_quit());
        let mut app = with_fleet(1);
        chars(&mut app, "/worker");
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.filter().text, "");
        assert_eq!(app.container_keys().len(), 14);
    }

    #[test]
    fn selection_stays_on_its_container_when_others_appear() {
        let mut app = with_fleet(1);
        chars(&mut app, "G");
        let before = selected(&app);
        let mut snap = app.hosts[0]
            .containers
            .as_ref()
            .unwrap()
            .latest()
            .unwrap()
            .clone();
        snap.containers.insert(
            0,
            crate::app::containers::tests::container(
                "aaa",
                Some("aaa"),
                Some("x"),
                1,
                crate::collect::containers::ContainerState::Running,
            ),
        );
        app.update(AppEvent::Host(
            HostId(0),
            HostEvent::Sample(crate::collect::Sample::Containers(Ok(snap))),
        ));
        assert_eq!(selected(&app), before);
    }

    #[test]
    fn host_events_update_only_their_host() {
        let mut app = with_fleet(2);
        let err = CollectError::Docker {
            message: "gone".into(),
        };
        app.update(AppEvent::Host(
            HostId(1),
            HostEvent::Sample(crate::collect::Sample::Containers(Err(err))),
        ));
        app.update(AppEvent::Host(HostId(1), HostEvent::Link(LinkState::Up)));
        assert_eq!(
            app.hosts[1].containers.as_ref().unwrap().error(),
            Some("gone")
        );
        assert_eq!(app.hosts[0].containers.as_ref().unwrap().error(), None);
        assert_eq!(app.hosts[1].link, LinkState::Up);
        assert_eq!(app.hosts[0].link, LinkState::Connecting);
    }

    #[test]
    fn refresh_asks_the_visible_hosts() {
        let mut app = with_fleet(3);
        let effects = app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('r'),
            KeyModifiers::CONTROL,
        )));
        assert_eq!(effects.len(), 3);
        app.scope = Some(HostId(2));
        let effects = app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('r'),
            KeyModifiers::CONTROL,
        )));
        assert_eq!(effects, [Effect::Send(HostId(2), HostCommand::Refresh)]);
    }

    #[test]
    fn a_jump_host_coming_back_retries_the_hosts_behind_it_at_once() {
        use crate::link::LinkState;
        let mut app = with_fleet(3);
        app.hosts[1].via = vec![HostId(0)];
        app.hosts[2].via = vec![HostId(0)];
        let down = || LinkState::Down {
            kind: crate::link::DownKind::Unreachable,
            error: crate::link::LinkError::Ssh {
                host: "x".into(),
                message: "gone".into(),
            },
            since: jiff::Timestamp::UNIX_EPOCH,
            retry_at: None,
        };
        for i in 0..3 {
            app.update(AppEvent::Host(HostId(i), HostEvent::Link(down())));
        }
        app.update(AppEvent::Host(HostId(2), HostEvent::Link(LinkState::Up)));
        let effects = app.update(AppEvent::Host(HostId(0), HostEvent::Link(LinkState::Up)));
        assert_eq!(effects, [Effect::Send(HostId(1), HostCommand::Refresh)]);
        let again = app.update(AppEvent::Host(HostId(0), HostEvent::Link(LinkState::Up)));
        assert!(again.is_empty(), "only when it comes back");
    }

    #[test]
    fn help_opens_and_any_back_closes_it() {
        let mut app = with_fleet(1);
        chars(&mut app, "?");
        assert!(app.help);
        chars(&mut app, "j");
        assert!(app.help);
        press(&mut app, KeyCode::Esc);
        assert!(!app.help);
    }

    #[test]
    fn help_scrolls_to_its_last_line_and_no_further() {
        let mut app = with_fleet(1);
        app.update(AppEvent::Resize {
            width: 80,
            height: 24,
        });
        chars(&mut app, "?");
        let max = help::max_scroll((80, 24), false);
        assert!(max > 0);
        chars(&mut app, "j");
        assert_eq!(app.help_scroll, 1);
        chars(&mut app, "G");
        assert_eq!(app.help_scroll, max);
        chars(&mut app, "jjj");
        assert_eq!(app.help_scroll, max, "no further than the last line");
        chars(&mut app, "k");
        assert_eq!(app.help_scroll, max - 1);
        chars(&mut app, "g");
        assert_eq!(app.help_scroll, 0);
    }
}
