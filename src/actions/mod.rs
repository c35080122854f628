//! Jobs: everything that changes a host. A job is a value from the key press to the audit
//! lines: `Job` (built by the pure `App`, never in read-only mode) → confirmed in a
//! dialog ("started" audit line) → `JobRequest` sent to the host worker → run by
//! [`runner`], which may run several at once, cancels, times out and cleans up → `Progress`
//! events → a typed [`JobOutcome`] ("ended" audit line). A job still running when the console
//! exits is audited "abandoned". Execution is I/O and lives in the submodules (one per kind
//! of work); the types here are pure data.

pub mod audit;
pub mod backup;
pub mod drill;
pub mod history;
pub mod hostproc;
pub mod postgres;
pub mod restart;
pub mod runner;

use serde::Serialize;

use crate::event::HostId;

/// What an action does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Restart,
    Stop,
    Start,
    /// pg_cancel_backend: the backend's running query is cancelled, the session stays.
    Cancel,
    /// pg_terminate_backend: the session ends.
    Terminate,
    /// A backup source's trigger command.
    Backup,
    /// A restore drill.
    Drill,
    /// An alert acknowledged (or taken back): not a change to a host, audited all the same.
    Acknowledge,
    /// An alert silenced for a while (or the silence lifted).
    Silence,
}

impl JobKind {
    /// One word for it, as the audit log writes it.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Restart => "restart",
            JobKind::Stop => "stop",
            JobKind::Start => "start",
            JobKind::Cancel => "cancel",
            JobKind::Terminate => "terminate",
            JobKind::Backup => "backup",
            JobKind::Drill => "drill",
            JobKind::Acknowledge => "acknowledge",
            JobKind::Silence => "silence",
        }
    }

    /// The confirm button's label: what `y` does, whole and unlike `n`'s "go back".
    pub fn button(self) -> &'static str {
        match self {
            JobKind::Restart => "restart",
            JobKind::Stop => "stop",
            JobKind::Start => "start",
            JobKind::Cancel => "cancel the query",
            JobKind::Terminate => "terminate the session",
            JobKind::Backup => "start the backup",
            JobKind::Drill => "run the drill",
            JobKind::Acknowledge => "acknowledge",
            JobKind::Silence => "silence",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            JobKind::Restart => "restart",
            JobKind::Stop => "stop",
            JobKind::Start => "start",
            JobKind::Cancel => "cancel the query of",
            JobKind::Terminate => "terminate",
            JobKind::Backup => "start a backup of",
            JobKind::Drill => "run",
            JobKind::Acknowledge => "acknowledge",
            JobKind::Silence => "silence",
        }
    }
}

/// One container an action touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// It has a healthcheck: a rolling restart waits for it to be healthy, not only running.
    pub has_health: bool,
}

/// What an action is aimed at, named in full in the dialog and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobTarget {
    Container {
        project: Option<String>,
        service: Option<String>,
        container: Member,
    },
    /// Every replica of a compose service on one host.
    Service {
        project: Option<String>,
        service: String,
        containers: Vec<Member>,
    },
    /// A PostgreSQL backend of the host's `cluster`-th cluster.
    Backend {
        #[serde(skip)]
        index: usize,
        cluster: String,
        pid: i32,
        user: Option<String>,
        database: Option<String>,
        /// Sanitised, on one line, shortened: enough to recognise it in the dialog and log.
        query: String,
        /// Sessions waiting on it, directly or not.
        blocks: usize,
        /// Idle in a transaction: there is no query to cancel, and its locks stay until the
        /// transaction ends (terminate ends it).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        idle_in_transaction: bool,
        /// What identifies the session beyond its pid, checked when the signal is sent.
        #[serde(skip_serializing_if = "Option::is_none")]
        backend_start: Option<jiff::Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        query_start: Option<jiff::Timestamp>,
    },
    /// The host's `index`-th backup source, by its trigger command.
    Backup {
        #[serde(skip)]
        index: usize,
        source: String,
        command: String,
    },
    /// An alert, as it read when it was acknowledged or silenced.
    Alert {
        domain: crate::app::alerts::Domain,
        what: String,
    },
    /// The host's `index`-th restore drill.
    Drill {
        #[serde(skip)]
        index: usize,
        drill: String,
        source: String,
        /// The newest backup as last listed, when the job was confirmed; the run restores
        /// whatever is newest when it starts.
        backup: String,
        target: String,
    },
}

impl JobTarget {
    /// The configured item a backup or drill job works on: its kind and its index in the
    /// host's list of them.
    pub fn item(&self) -> Option<(JobKind, usize)> {
        match self {
            JobTarget::Backup { index, .. } => Some((JobKind::Backup, *index)),
            JobTarget::Drill { index, .. } => Some((JobKind::Drill, *index)),
            _ => None,
        }
    }

    pub fn members(&self) -> &[Member] {
        match self {
            JobTarget::Container { container, .. } => std::slice::from_ref(container),
            JobTarget::Service { containers, .. } => containers,
            JobTarget::Backend { .. }
            | JobTarget::Backup { .. }
            | JobTarget::Drill { .. }
            | JobTarget::Alert { .. } => &[],
        }
    }

    /// "shop/api (4 containers)" or "shop/api/shop-api-2".
    pub fn describe(&self) -> String {
        match self {
            JobTarget::Container {
                project,
                service,
                container,
            } => [
                project.as_deref(),
                service.as_deref(),
                Some(&container.name),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/"),
            JobTarget::Service {
                project,
                service,
                containers,
            } => format!(
                "{}{service} ({} container{})",
                project
                    .as_deref()
                    .map(|p| format!("{p}/"))
                    .unwrap_or_default(),
                containers.len(),
                if containers.len() == 1 { "" } else { "s" }
            ),
            JobTarget::Backend {
                cluster,
                pid,
                user,
                database,
                ..
            } => format!(
                "backend {pid} ({}@{}) of {cluster}",
                user.as_deref().unwrap_or("?"),
                database.as_deref().unwrap_or("?")
            ),
            JobTarget::Backup {
                source, command, ..
            } => format!("backup source {source} (`{command}`)"),
            JobTarget::Alert { what, .. } => format!("the alert \"{what}\""),
            JobTarget::Drill {
                drill,
                source,
                backup,
                target,
                ..
            } => format!(
                "the restore drill {drill}: the newest backup of {source} ({backup}) into the {target}"
            ),
        }
    }
}

/// A service restart: one replica at a time, each waited for, or all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    OneByOne,
    AllAtOnce,
}

/// An action the admin asked for, before confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    #[serde(skip)]
    pub host: HostId,
    #[serde(rename = "host")]
    pub host_name: String,
    pub target: JobTarget,
    pub kind: JobKind,
    pub pace: Pace,
    /// The target was chosen from data this old, whose source stopped answering: the dialog
    /// warns that it may have changed, and the audit line records it.
    #[serde(
        rename = "data_age_s",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::text::opt_secs"
    )]
    pub stale: Option<std::time::Duration>,
}

impl Job {
    /// "restart shop/api (4 containers) on web".
    pub fn describe(&self) -> String {
        format!(
            "{} {} on {}",
            self.kind.verb(),
            self.target.describe(),
            self.host_name
        )
    }
}

/// A job's number, unique for the console's lifetime: "job #3" in the UI and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A confirmed action on its way to the host worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub id: JobId,
    pub action: Job,
}

impl JobRequest {
    /// Two jobs on the same container or backend would undo each other: the second is refused.
    pub fn overlaps(&self, other: &Job) -> bool {
        overlaps(&self.action, other)
    }
}

/// Whether two jobs touch a common container or PostgreSQL backend of the same host.
pub fn overlaps(a: &Job, b: &Job) -> bool {
    if a.host != b.host {
        return false;
    }
    match (&a.target, &b.target) {
        (
            JobTarget::Backend {
                index: i, pid: p, ..
            },
            JobTarget::Backend {
                index: j, pid: q, ..
            },
        ) => i == j && p == q,
        (x, y) if x.item().is_some() => x.item() == y.item(),
        (x, y) => x
            .members()
            .iter()
            .any(|m| y.members().iter().any(|n| n.id == m.id)),
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// What was done.
    Done(String),
    /// Why it failed, saying what to do.
    Failed(String),
    /// The admin cancelled it; the last step it had reached, if any.
    Cancelled { during: Option<String> },
    TimedOut {
        after: std::time::Duration,
        during: Option<String>,
    },
    /// Not started: the host is not connected, or another job works on the same target.
    Refused(String),
    /// The link dropped while it ran: its effect on the host is unknown.
    Lost,
}

impl JobOutcome {
    /// The audit log's word for it.
    pub fn audit_name(&self) -> &'static str {
        match self {
            JobOutcome::Done(_) => "ok",
            JobOutcome::Failed(_) => "failed",
            JobOutcome::Cancelled { .. } => "cancelled",
            JobOutcome::TimedOut { .. } => "timed_out",
            JobOutcome::Refused(_) => "refused",
            JobOutcome::Lost => "unknown",
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, JobOutcome::Done(_))
    }

    /// One sentence for the dialog, the status line and the audit log.
    pub fn text(&self) -> String {
        let during = |d: &Option<String>| {
            d.as_ref()
                .map(|s| format!(" while {s}"))
                .unwrap_or_default()
        };
        match self {
            JobOutcome::Done(s) | JobOutcome::Failed(s) | JobOutcome::Refused(s) => s.clone(),
            JobOutcome::Cancelled { during: d } => {
                format!("cancelled{}; what was done before stays done", during(d))
            }
            JobOutcome::TimedOut { after, during: d } => format!(
                "gave up after {}s{}; check the host",
                after.as_secs(),
                during(d)
            ),
            JobOutcome::Lost => "the connection to the host was lost while the job ran; its \
                                 outcome is unknown: check the host"
                .to_owned(),
        }
    }
}

/// What a running job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A step started ("restarting shop-api-2 (2/4)").
    Step(String),
    /// Lines the job's command printed (sanitised), in order.
    Output(Vec<String>),
    /// A restore drill's record, sent once, before its end.
    Drill(Box<history::DrillRun>),
    /// Finished, and how long it ran on the host.
    Done {
        outcome: JobOutcome,
        elapsed: std::time::Duration,
    },
}
