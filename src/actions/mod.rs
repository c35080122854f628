//! Actions that change a host. An action is a value from the key press to the audit line:
//! `PendingAction` (built by the pure `App`, never in read-only mode) → confirmed in a dialog →
//! `ActionRequest` sent to the host worker → carried out here → `Progress` events → one audit
//! line. Execution is I/O and lives in the submodules; the types here are pure data.

pub mod audit;
pub mod restart;

use serde::Serialize;

use crate::event::HostId;

/// What an action does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Restart,
    Stop,
    Start,
    /// pg_cancel_backend: the backend's running query is cancelled, the session stays.
    Cancel,
    /// pg_terminate_backend: the session ends.
    Terminate,
}

impl ActionKind {
    /// One word for it, as the audit log writes it.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Restart => "restart",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::Cancel => "cancel",
            ActionKind::Terminate => "terminate",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::Restart => "restart",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::Cancel => "cancel the query of",
            ActionKind::Terminate => "terminate",
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
pub enum Target {
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
        /// What identifies the session beyond its pid, checked when the signal is sent.
        #[serde(skip_serializing_if = "Option::is_none")]
        backend_start: Option<jiff::Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        query_start: Option<jiff::Timestamp>,
    },
}

impl Target {
    pub fn members(&self) -> &[Member] {
        match self {
            Target::Container { container, .. } => std::slice::from_ref(container),
            Target::Service { containers, .. } => containers,
            Target::Backend { .. } => &[],
        }
    }

    /// "shop/api (4 containers)" or "shop/api/shop-api-2".
    pub fn describe(&self) -> String {
        match self {
            Target::Container {
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
            Target::Service {
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
            Target::Backend {
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
pub struct PendingAction {
    #[serde(skip)]
    pub host: HostId,
    #[serde(rename = "host")]
    pub host_name: String,
    pub target: Target,
    pub kind: ActionKind,
    pub pace: Pace,
}

impl PendingAction {
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

/// A confirmed action on its way to the host worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub id: u64,
    pub action: PendingAction,
}

/// What a running action reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A step started ("restarting shop-api-2 (2/4)").
    Step(String),
    /// Finished: what was done, or why it failed; how long it ran on the host.
    Done {
        result: Result<String, String>,
        elapsed: std::time::Duration,
    },
}
