//! Containers from the Docker Engine API, kept current by the events stream: one list and one
//! inspect per container at connect, then one inspect per container that an event names. A slow
//! resync (list only; inspect only what changed) repairs anything a dropped event missed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary, EventMessage, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures_util::FutureExt;
use futures_util::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{CollectError, docker};
use crate::link::Link;
use crate::sanitize::plain;

/// Inspect requests in flight at once (one SSH channel each on remote hosts).
const INSPECT_CONCURRENCY: usize = 6;
/// Events drained into one batch before inspecting, so a restart of many replicas is one update.
const EVENT_BATCH: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One container as the console shows it. Text fields are sanitised at parse time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `com.docker.compose.project`, also set for stacks started with `docker run --label`.
    pub project: Option<String>,
    /// `com.docker.compose.service`.
    pub service: Option<String>,
    /// `com.docker.compose.container-number`: the replica number.
    pub replica: Option<u32>,
    /// A `docker compose run` container, not part of the service's replicas.
    pub oneoff: bool,
    pub state: ContainerState,
    /// None when the container has no healthcheck.
    pub health: Option<Health>,
    pub exit_code: Option<i64>,
    /// Restarts done by the restart policy (Docker does not count manual restarts).
    pub restart_count: u32,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub oom_killed: bool,
    /// The main process on the host while running (for the stats read from its cgroup).
    #[serde(skip)]
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainersSnapshot {
    /// Docker Engine version, e.g. "20.10.24".
    pub engine: String,
    /// Sorted by name.
    pub containers: Vec<Container>,
    pub observed_at: Timestamp,
}

/// The containers collector: a stream of whole states from the Docker events API.
struct Containers(Watcher);

impl super::Collect for Containers {
    fn name(&self) -> String {
        "containers".into()
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Stream
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, super::Sample> {
        Box::pin(async { super::Sample::Containers(self.0.next().await) })
    }
    fn is_settled(&self) -> bool {
        self.0.is_settled()
    }
    fn fail(&self, error: CollectError) -> super::Sample {
        super::Sample::Containers(Err(error))
    }
}

/// Watches containers when the host has a Docker socket configured.
pub fn collector(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Option<Box<dyn super::Collect>> {
    let socket = spec.docker_socket.clone()?;
    let watcher = Watcher::new(
        cx.link().clone(),
        socket,
        spec.containers_resync,
        cx.refresh.clone(),
    );
    Some(Box::new(Containers(watcher)))
}

/// Follows one host's containers. Each [`Watcher::next`] returns the whole state after the next
/// change; after an error the next call reconnects (the caller decides how long to wait first).
pub struct Watcher {
    link: Arc<dyn Link>,
    socket: String,
    resync: Duration,
    /// Changes when a resync is asked for at once (the refresh key).
    refresh: watch::Receiver<()>,
    conn: Option<Conn>,
    engine: String,
    containers: BTreeMap<String, Container>,
}

struct Conn {
    docker: Docker,
    events: BoxStream<'static, Result<EventMessage, bollard::errors::Error>>,
    /// Containers known only from the list, to be inspected before waiting for events.
    to_inspect: BTreeSet<String>,
    next_resync: Instant,
}

impl Watcher {
    pub fn new(
        link: Arc<dyn Link>,
        socket: String,
        resync: Duration,
        refresh: watch::Receiver<()>,
    ) -> Self {
        Watcher {
            link,
            socket,
            resync,
            refresh,
            conn: None,
            engine: String::new(),
            containers: BTreeMap::new(),
        }
    }

    /// Connected, and every listed container inspected: the state is complete.
    pub fn is_settled(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.to_inspect.is_empty())
    }

    /// Waits for the next change and returns the whole state. The first call after creation or
    /// an error connects and returns the listed containers at once (the fastest first screen);
    /// the next call adds what only inspect knows (restarts, start time, health).
    pub async fn next(&mut self) -> Result<ContainersSnapshot, CollectError> {
        let result = self.step().await;
        if result.is_err() {
            self.conn = None;
        }
        result.map(|()| self.snapshot())
    }

    fn snapshot(&self) -> ContainersSnapshot {
        let mut containers: Vec<Container> = self.containers.values().cloned().collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        ContainersSnapshot {
            engine: self.engine.clone(),
            containers,
            observed_at: Timestamp::now(),
        }
    }

    async fn step(&mut self) -> Result<(), CollectError> {
        let host = self.link.host().to_owned();
        let Some(conn) = self.conn.as_mut() else {
            return self.connect().await;
        };
        if !conn.to_inspect.is_empty() {
            let ids = std::mem::take(&mut conn.to_inspect);
            let docker = conn.docker.clone();
            return inspect_into(&docker, &host, ids, &mut self.containers).await;
        }
        tokio::select! {
            ev = conn.events.next() => {
                let mut ids = BTreeSet::new();
                let mut next = ev;
                // Drain what is already queued so a burst becomes one batch.
                for _ in 0..EVENT_BATCH {
                    match next {
                        None => return Err(CollectError::Docker { message: format!("Docker on {host} closed the events stream") }),
                        Some(Err(e)) => return Err(docker::api_error(&host, e)),
                        Some(Ok(ev)) => self.apply_event(ev, &mut ids),
                    }
                    match self.conn.as_mut().and_then(|c| c.events.next().now_or_never()) {
                        Some(ev) => next = ev,
                        None => break,
                    }
                }
                let docker = self.conn.as_ref().map(|c| c.docker.clone()).ok_or_else(|| lost(&host))?;
                inspect_into(&docker, &host, ids, &mut self.containers).await
            }
            () = resync_due(conn.next_resync, &mut self.refresh) => {
                conn.next_resync = Instant::now() + self.resync;
                let docker = conn.docker.clone();
                let listed = list(&docker, &host).await?;
                let changed = reconcile(&mut self.containers, listed);
                inspect_into(&docker, &host, changed, &mut self.containers).await
            }
        }
    }

    async fn connect(&mut self) -> Result<(), CollectError> {
        let host = self.link.host().to_owned();
        let docker = docker::connect(self.link.clone(), &self.socket).await?;
        let (info, listed) = tokio::join!(docker.info(), list(&docker, &host));
        let info = info.map_err(|e| docker::api_error(&host, e))?;
        self.engine = plain(info.server_version.as_deref().unwrap_or("?"));
        // Subscribe from the daemon's own clock, a little before the list was taken, so no event
        // between list and subscription is lost whatever the clock skew between us and the host.
        let since = info
            .system_time
            .as_deref()
            .and_then(parse_time)
            .unwrap_or_else(Timestamp::now);
        let since = since - jiff::SignedDuration::from_secs(2);
        let options = EventsOptions {
            since: Some(format!(
                "{}.{:09}",
                since.as_second(),
                since.subsec_nanosecond()
            )),
            filters: Some(HashMap::from([(
                "type".to_owned(),
                vec!["container".to_owned()],
            )])),
            ..Default::default()
        };
        let events = docker.events(Some(options)).boxed();
        self.containers = listed?.into_iter().map(|c| (c.id.clone(), c)).collect();
        let to_inspect = self.containers.keys().cloned().collect();
        self.conn = Some(Conn {
            docker,
            events,
            to_inspect,
            next_resync: Instant::now() + self.resync,
        });
        Ok(())
    }

    /// Notes which containers an event concerns; a destroyed container is removed at once.
    fn apply_event(&mut self, ev: EventMessage, ids: &mut BTreeSet<String>) {
        let Some(id) = ev.actor.and_then(|a| a.id) else {
            return;
        };
        let action = ev.action.unwrap_or_default();
        // Health checks run as execs and emit exec_* events every interval: nothing changed.
        if action.starts_with("exec_") {
            return;
        }
        if action == "destroy" {
            self.containers.remove(&id);
            ids.remove(&id);
        } else {
            ids.insert(id);
        }
    }
}

/// Completes at the next scheduled resync or when a refresh is asked for, whichever is first.
async fn resync_due(at: Instant, refresh: &mut watch::Receiver<()>) {
    tokio::select! {
        () = tokio::time::sleep_until(at) => {}
        () = super::refreshed(refresh) => {}
    }
}

fn lost(host: &str) -> CollectError {
    CollectError::Docker {
        message: format!("Docker connection to {host} was reset"),
    }
}

async fn list(docker: &Docker, host: &str) -> Result<Vec<Container>, CollectError> {
    let options = ListContainersOptions {
        all: true,
        ..Default::default()
    };
    let summaries = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| docker::api_error(host, e))?;
    Ok(summaries.into_iter().filter_map(from_summary).collect())
}

/// Inspects `ids` and updates `known`; a container that is gone (404) is removed.
async fn inspect_into(
    docker: &Docker,
    host: &str,
    ids: BTreeSet<String>,
    known: &mut BTreeMap<String, Container>,
) -> Result<(), CollectError> {
    let mut results = stream::iter(ids)
        .map(|id| async move { (docker.inspect_container(&id, None).await, id) })
        .buffer_unordered(INSPECT_CONCURRENCY);
    while let Some((result, id)) = results.next().await {
        match result {
            Ok(resp) => match from_inspect(resp) {
                Some(c) => {
                    known.insert(c.id.clone(), c);
                }
                None => {
                    known.remove(&id);
                }
            },
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                known.remove(&id);
            }
            Err(e) => return Err(docker::api_error(host, e)),
        }
    }
    Ok(())
}

/// Replaces `known` by a fresh list, keeping inspected details of containers whose listed state
/// did not change. Returns the ids that need an inspect.
pub fn reconcile(
    known: &mut BTreeMap<String, Container>,
    listed: Vec<Container>,
) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    let mut next = BTreeMap::new();
    for fresh in listed {
        match known.remove(&fresh.id) {
            Some(old) if old.state == fresh.state && old.health == fresh.health => {
                next.insert(old.id.clone(), old);
            }
            _ => {
                changed.insert(fresh.id.clone());
                next.insert(fresh.id.clone(), fresh);
            }
        }
    }
    *known = next;
    changed
}

/// A listed container. Start time and restart count are unknown until inspected.
pub fn from_summary(s: ContainerSummary) -> Option<Container> {
    let id = s.id?;
    let labels = s.labels.unwrap_or_default();
    let name = s
        .names
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_default();
    let status = s.status.unwrap_or_default();
    let mut c = base(id, &name, s.image.as_deref().unwrap_or(""), &labels);
    c.state = s.state.map_or(ContainerState::Unknown, |st| {
        ContainerState::parse(st.as_ref())
    });
    c.health = health_from_status(&status);
    Some(c)
}

/// An inspected container, or None when the response lacks an id.
pub fn from_inspect(r: ContainerInspectResponse) -> Option<Container> {
    let id = r.id?;
    let config = r.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let image = config.image.or(r.image).unwrap_or_default();
    let mut c = base(id, r.name.as_deref().unwrap_or(""), &image, &labels);
    c.restart_count = r
        .restart_count
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    if let Some(st) = r.state {
        c.state = st.status.map_or(ContainerState::Unknown, |s| {
            ContainerState::parse(s.as_ref())
        });
        c.exit_code = st.exit_code;
        c.oom_killed = st.oom_killed.unwrap_or(false);
        c.pid = st
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        c.started_at = st.started_at.as_deref().and_then(parse_time);
        c.finished_at = st.finished_at.as_deref().and_then(parse_time);
        c.health = st.health.and_then(|h| match h.status? {
            HealthStatusEnum::HEALTHY => Some(Health::Healthy),
            HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
            HealthStatusEnum::STARTING => Some(Health::Starting),
            _ => None,
        });
    }
    // A restarting container (a crash loop between two tries) keeps its last exit code and
    // time: what the admin needs to see. A running one's code means nothing.
    if !matches!(
        c.state,
        ContainerState::Exited | ContainerState::Dead | ContainerState::Restarting
    ) {
        c.exit_code = None;
    }
    // Docker keeps the last health status of a stopped container; it means nothing any more.
    if c.state != ContainerState::Running {
        c.health = None;
    }
    Some(c)
}

fn base(id: String, name: &str, image: &str, labels: &HashMap<String, String>) -> Container {
    let label = |k: &str| labels.get(k).map(|v| plain(v)).filter(|v| !v.is_empty());
    Container {
        name: plain(name.trim_start_matches('/')),
        image: plain(image),
        project: label("com.docker.compose.project"),
        service: label("com.docker.compose.service"),
        replica: label("com.docker.compose.container-number").and_then(|n| n.parse().ok()),
        oneoff: label("com.docker.compose.oneoff").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        id,
        state: ContainerState::Unknown,
        health: None,
        exit_code: None,
        restart_count: 0,
        started_at: None,
        finished_at: None,
        oom_killed: false,
        pid: None,
    }
}

/// Health from a listed status such as "Up 4 minutes (healthy)" (Engine < 25 lists no health field).
pub fn health_from_status(status: &str) -> Option<Health> {
    if status.ends_with("(healthy)") {
        Some(Health::Healthy)
    } else if status.ends_with("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.ends_with("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

/// Docker's RFC 3339 times; its zero time ("0001-01-01T00:00:00Z") means "never".
pub fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().filter(|t| t.as_second() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, state: ContainerState) -> Container {
        let mut c = base(id.to_owned(), id, "img", &HashMap::new());
        c.state = state;
        c
    }

    #[test]
    fn health_is_read_from_list_status() {
        assert_eq!(
            health_from_status("Up 4 minutes (healthy)"),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            Some(Health::Starting)
        );
        assert_eq!(
            health_from_status("Up 2 hours (unhealthy)"),
            Some(Health::Unhealthy)
        );
        assert_eq!(health_from_status("Exited (3) 5 seconds ago"), None);
    }

    #[test]
    fn docker_zero_time_means_never() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(
            parse_time("2026-11-22T14:32:57.923312667Z").map(|t| t.as_second()),
            Some(1_795_357_977)
        );
    }

    #[test]
    fn labels_and_names_are_sanitised() {
        let labels = HashMap::from([
            (
                "com.docker.compose.project".to_owned(),
                "shop\u{1b}]0;pwned\u{7}".to_owned(),
            ),
            ("com.docker.compose.service".to_owned(), "api".to_owned()),
            (
                "com.docker.compose.container-number".to_owned(),
                "3".to_owned(),
            ),
        ]);
        let c = base("x".into(), "/evil\u{1b}[2Jname", "img", &labels);
        assert_eq!(c.name, "evilname");
        assert_eq!(c.project.as_deref(), Some("shop"));
        assert_eq!(c.replica, Some(3));
    }

    #[test]
    fn reconcile_keeps_unchanged_and_flags_changed_new_and_gone() {
        let mut known = BTreeMap::new();
        let mut a = container("a", ContainerState::Running);
        a.restart_count = 7; // only inspect knows this; must survive an unchanged list
        known.insert("a".to_owned(), a);
        known.insert("b".to_owned(), container("b", ContainerState::Running));
        known.insert(
            "gone".to_owned(),
            container("gone", ContainerState::Running),
        );
        let listed = vec![
            container("a", ContainerState::Running),
            container("b", ContainerState::Exited),
            container("new", ContainerState::Running),
        ];
        let changed = reconcile(&mut known, listed);
        assert_eq!(changed.into_iter().collect::<Vec<_>>(), ["b", "new"]);
        assert_eq!(known["a"].restart_count, 7);
        assert!(!known.contains_key("gone"));
    }
}
