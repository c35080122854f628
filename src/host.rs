//! One worker task per host. It owns the host's link and runs its collectors side by side:
//! containers (event-driven), disks and tunnels (on intervals), the log follows and stats the
//! UI asked for, and confirmed actions, one at a time. It sends `HostEvent`s to the UI and
//! takes `HostCommand`s. A local host is up forever; an SSH host connects, runs its
//! collectors until the session dies, reports the link down and reconnects with capped,
//! jittered backoff, forever. A slow or dead host only ever delays its own worker.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};

use crate::actions::{ActionKind, ActionRequest, Progress, Target, restart};
use crate::collect::containers::Watcher;
use crate::collect::logs::line::LogLine;
use crate::collect::stats::{Sampler, StatsTarget};
use crate::collect::{CollectError, disks, docker, logs, postgres, tunnels};
use crate::config::{HostSpec, PgSpec, Transport};
use crate::event::{AppEvent, HostCommand, HostEvent, HostId, LogBatch, PgSample};
use crate::link::local::Local;
use crate::link::ssh::Ssh;
use crate::link::ssh::session::{self, Options};
use crate::link::{AbortOnDrop, Link, LinkError, LinkState};
use crate::lock;

/// Commands queued per host; the UI never waits on a full queue (it says "host busy").
const COMMAND_QUEUE: usize = 8;
/// Reconnect backoff: 1 s doubling to 60 s.
const RECONNECT_BASE: Duration = Duration::from_secs(1);
const RECONNECT_CAP: Duration = Duration::from_secs(60);

/// How the UI reaches a running worker. Dropping it stops the worker.
pub struct HostHandle {
    pub id: HostId,
    pub commands: mpsc::Sender<HostCommand>,
    _task: AbortOnDrop,
}

/// Starts the worker for `spec`; its events go to `events`.
pub fn spawn(
    id: HostId,
    spec: HostSpec,
    options: Options,
    events: mpsc::Sender<AppEvent>,
) -> HostHandle {
    let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
    let task = tokio::spawn(run(id, spec, options, events, rx));
    HostHandle {
        id,
        commands,
        _task: AbortOnDrop(task.abort_handle()),
    }
}

/// Wakes collectors (and a waiting reconnect) early.
#[derive(Default)]
struct Triggers {
    containers: Arc<Notify>,
    disks: Notify,
    tunnels: Notify,
    reconnect: Notify,
    /// Wakes every cluster's worker (each may be between refreshes or waiting to reconnect).
    postgres: Notify,
}

/// What the UI asked for that outlives a connection: log follows (resumed after a reconnect
/// from their last line), the containers to sample, and queued actions.
struct Wanted {
    follows: Mutex<HashMap<(u64, u16), FollowState>>,
    follows_changed: Notify,
    stats: Mutex<Vec<StatsTarget>>,
    stats_changed: Notify,
    actions: tokio::sync::Mutex<mpsc::UnboundedReceiver<ActionRequest>>,
    link_up: AtomicBool,
}

#[derive(Debug, Clone)]
struct FollowState {
    container: String,
    tail: usize,
    /// The newest line delivered: a new connection continues after it.
    since: Option<Timestamp>,
}

async fn run(
    id: HostId,
    spec: HostSpec,
    options: Options,
    events: mpsc::Sender<AppEvent>,
    mut commands: mpsc::Receiver<HostCommand>,
) {
    let out = Sender { id, events };
    let triggers = Triggers::default();
    let (queue, actions) = mpsc::unbounded_channel();
    let wanted = Arc::new(Wanted {
        follows: Mutex::default(),
        follows_changed: Notify::new(),
        stats: Mutex::default(),
        stats_changed: Notify::new(),
        actions: tokio::sync::Mutex::new(actions),
        link_up: AtomicBool::new(false),
    });
    let commands = async {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                HostCommand::Refresh => {
                    triggers.containers.notify_one();
                    triggers.disks.notify_one();
                    triggers.tunnels.notify_one();
                    triggers.reconnect.notify_one();
                    triggers.postgres.notify_waiters();
                }
                HostCommand::FollowLogs {
                    view,
                    follows,
                    tail,
                } => {
                    let mut map = lock(&wanted.follows);
                    for f in follows {
                        let state = FollowState {
                            container: f.container,
                            tail,
                            since: None,
                        };
                        map.insert((view, f.stream), state);
                    }
                    drop(map);
                    wanted.follows_changed.notify_one();
                }
                HostCommand::StopLogs { view } => {
                    lock(&wanted.follows).retain(|(v, _), _| *v != view);
                    wanted.follows_changed.notify_one();
                }
                HostCommand::Stats { containers } => {
                    *lock(&wanted.stats) = containers;
                    wanted.stats_changed.notify_one();
                }
                HostCommand::Run(request) => {
                    // An action is never queued for "whenever the host comes back".
                    if wanted.link_up.load(Ordering::SeqCst) {
                        let _ = queue.send(request);
                    } else {
                        let why = format!("{} is not connected; nothing was done", spec.name);
                        let done = Progress::Done {
                            result: Err(why),
                            elapsed: Duration::ZERO,
                        };
                        out.send(HostEvent::Action(request.id, done)).await;
                    }
                }
            }
        }
    };
    let work = async {
        match &spec.transport {
            Transport::Local => {
                let link: Arc<dyn Link> = Arc::new(Local::new(spec.name.clone()));
                wanted.link_up.store(true, Ordering::SeqCst);
                if out.send(HostEvent::Link(LinkState::Up)).await {
                    collect(&spec, link, &triggers, &wanted, &out).await;
                }
            }
            Transport::Ssh(target) => {
                let mut backoff = Backoff::new(RECONNECT_BASE, RECONNECT_CAP);
                let mut down_since = None;
                loop {
                    if !out.send(HostEvent::Link(LinkState::Connecting)).await {
                        return;
                    }
                    let error = match session::connect(&spec.name, target, &options, &mut |_, _| {})
                        .await
                    {
                        Ok(connected) => {
                            backoff.reset();
                            down_since = None;
                            let ssh = Arc::new(Ssh::new(spec.name.clone(), connected));
                            if !out.send(HostEvent::Link(LinkState::Up)).await {
                                return;
                            }
                            wanted.link_up.store(true, Ordering::SeqCst);
                            let down = tokio::select! {
                                () = collect(&spec, ssh.clone(), &triggers, &wanted, &out) => return,
                                reason = ssh.closed() => LinkError::Down { host: spec.name.clone(), reason },
                            };
                            wanted.link_up.store(false, Ordering::SeqCst);
                            down
                        }
                        Err(e) => e,
                    };
                    tracing::warn!(host = %spec.name, "link down: {error}");
                    let delay = backoff.delay();
                    let now = Timestamp::now();
                    let since = *down_since.get_or_insert(now);
                    let retry_at = now
                        .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                        .ok();
                    let state = LinkState::Down {
                        kind: error.down_kind(),
                        error: error.to_string(),
                        since,
                        retry_at,
                    };
                    if !out.send(HostEvent::Link(state)).await {
                        return;
                    }
                    wait_or(delay, &triggers.reconnect).await;
                }
            }
        }
    };
    // Each side ends only when the UI has gone away.
    tokio::select! {
        () = work => {}
        () = commands => {}
    }
}

#[derive(Clone)]
struct Sender {
    id: HostId,
    events: mpsc::Sender<AppEvent>,
}

impl Sender {
    /// False when the UI has gone away and the worker should stop.
    async fn send(&self, ev: HostEvent) -> bool {
        self.events.send(AppEvent::Host(self.id, ev)).await.is_ok()
    }
}

/// Runs every collector of the host over `link`; returns only when the UI has gone away.
async fn collect(
    spec: &HostSpec,
    link: Arc<dyn Link>,
    triggers: &Triggers,
    wanted: &Arc<Wanted>,
    out: &Sender,
) {
    let containers = watch_containers(spec, link.clone(), triggers.containers.clone(), out);
    let disks = async {
        if spec.tunnels_only {
            return std::future::pending().await;
        }
        every(spec.disks_interval, &triggers.disks, || async {
            out.send(HostEvent::Disks(disks::sample(&*link).await))
                .await
        })
        .await;
    };
    let tunnels = every(spec.tunnels_interval, &triggers.tunnels, || async {
        out.send(HostEvent::Tunnels(
            tunnels::sample(&*link, spec.wg_sudo).await,
        ))
        .await
    });
    let docker = DockerOnDemand::new(spec, link.clone());
    let (signal_tx, signal_rx): (Vec<_>, Vec<_>) =
        spec.postgres.iter().map(|_| mpsc::channel(4)).unzip();
    tokio::select! {
        () = containers => {}
        () = disks => {}
        () = tunnels => {}
        () = watch_postgres(spec, &*link, signal_rx, &triggers.postgres, out) => {}
        () = follow_logs(&docker, wanted, out) => {}
        () = sample_stats(spec, &*link, &docker, wanted, out) => {}
        () = run_actions(&docker, &signal_tx, wanted, out) => {}
    }
}

/// One Docker client per connection for logs, stats and actions, made when first needed.
struct DockerOnDemand {
    link: Arc<dyn Link>,
    socket: Option<String>,
    client: tokio::sync::Mutex<Option<Docker>>,
}

impl DockerOnDemand {
    fn new(spec: &HostSpec, link: Arc<dyn Link>) -> Self {
        DockerOnDemand {
            link,
            socket: spec.docker_socket.clone(),
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Docker, CollectError> {
        let mut client = self.client.lock().await;
        if let Some(d) = &*client {
            return Ok(d.clone());
        }
        let Some(socket) = &self.socket else {
            return Err(CollectError::Docker {
                message: format!("Docker is not watched on {}", self.link.host()),
            });
        };
        let d = docker::connect(self.link.clone(), socket).await?;
        *client = Some(d.clone());
        Ok(d)
    }
}

/// Keeps one task per wanted log follow; tasks of closed views are dropped (aborted).
async fn follow_logs(docker: &DockerOnDemand, wanted: &Arc<Wanted>, out: &Sender) {
    let mut running: HashMap<(u64, u16), AbortOnDrop> = HashMap::new();
    loop {
        let follows = lock(&wanted.follows).clone();
        running.retain(|k, _| follows.contains_key(k));
        for (key, f) in follows {
            if running.contains_key(&key) {
                continue;
            }
            let mut sink = LogSink {
                out: out.clone(),
                key,
                wanted: wanted.clone(),
            };
            let client = match docker.get().await {
                Ok(d) => d,
                Err(e) => {
                    sink.deliver(Vec::new(), 0, Some(e.to_string())).await;
                    continue;
                }
            };
            let (link, socket) = (
                docker.link.clone(),
                docker.socket.clone().unwrap_or_default(),
            );
            let task = tokio::spawn(async move {
                let src = logs::Source {
                    link: &*link,
                    socket: &socket,
                    docker: &client,
                };
                logs::follow(&src, &f.container, f.tail, f.since, &mut sink).await;
            });
            running.insert(key, AbortOnDrop(task.abort_handle()));
        }
        wanted.follows_changed.notified().await;
    }
}

/// Delivers a follow's lines to the UI and remembers the newest for a reconnect.
struct LogSink {
    out: Sender,
    key: (u64, u16),
    wanted: Arc<Wanted>,
}

impl LogSink {
    async fn deliver(
        &mut self,
        lines: Vec<LogLine>,
        duplicates: u64,
        paused: Option<String>,
    ) -> bool {
        if let Some(last) = lines.last()
            && let Some(f) = lock(&self.wanted.follows).get_mut(&self.key)
        {
            f.since = Some(last.at);
        }
        let batch = LogBatch {
            view: self.key.0,
            stream: self.key.1,
            lines,
            duplicates,
            paused,
        };
        self.out.send(HostEvent::Logs(batch)).await
    }
}

impl logs::Sink for LogSink {
    fn send(
        &mut self,
        lines: Vec<LogLine>,
        duplicates: u64,
        paused: Option<String>,
    ) -> impl Future<Output = bool> + Send {
        self.deliver(lines, duplicates, paused)
    }
}

/// Samples the containers the UI shows, every `stats_interval` while there are any.
async fn sample_stats(
    spec: &HostSpec,
    link: &dyn Link,
    docker: &DockerOnDemand,
    wanted: &Wanted,
    out: &Sender,
) {
    let mut sampler = Sampler::default();
    loop {
        let targets = lock(&wanted.stats).clone();
        if targets.is_empty() {
            wanted.stats_changed.notified().await;
            continue;
        }
        let client = docker.get().await.ok();
        let result = sampler.sample(link, client.as_ref(), &targets).await;
        if !out.send(HostEvent::Stats(result)).await {
            return;
        }
        // At most one sample per interval, however fast the list scrolls.
        tokio::time::sleep(spec.stats_interval).await;
    }
}

/// Carries out confirmed actions one at a time. If the connection drops mid-action, the
/// guard reports the outcome as unknown.
async fn run_actions(
    docker: &DockerOnDemand,
    signals: &[mpsc::Sender<SignalRequest>],
    wanted: &Wanted,
    out: &Sender,
) {
    let mut queue = wanted.actions.lock().await;
    while let Some(request) = queue.recv().await {
        let mut guard = ActionGuard {
            id: request.id,
            out: out.clone(),
            started: tokio::time::Instant::now(),
            done: false,
        };
        let step = |text: String| {
            let ev = AppEvent::Host(out.id, HostEvent::Action(request.id, Progress::Step(text)));
            let _ = out.events.try_send(ev); // progress may be skipped, the outcome never
        };
        let result = match &request.action.target {
            Target::Backend {
                index,
                pid,
                backend_start,
                query_start,
                ..
            } => {
                step(format!("signalling backend {pid}"));
                let (reply, answer) = tokio::sync::oneshot::channel();
                let req = SignalRequest {
                    backend: postgres::Backend {
                        pid: *pid,
                        backend_start: *backend_start,
                        query_start: *query_start,
                    },
                    terminate: request.action.kind == ActionKind::Terminate,
                    reply,
                };
                match signals.get(*index) {
                    Some(tx) if tx.send(req).await.is_ok() => answer
                        .await
                        .unwrap_or_else(|_| Err("the PostgreSQL worker stopped".to_owned())),
                    _ => Err("no such PostgreSQL cluster in the config".to_owned()),
                }
            }
            _ => match docker.get().await {
                Ok(d) => restart::run(&d, &request.action, &step)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        guard.done = true;
        let done = Progress::Done {
            result,
            elapsed: guard.started.elapsed(),
        };
        if !out.send(HostEvent::Action(request.id, done)).await {
            return;
        }
    }
}

/// A cancel or terminate for a cluster's worker, which sends it over its monitoring
/// connection: when the pool is exhausted, a new connection would be refused just when the
/// action is needed.
struct SignalRequest {
    backend: postgres::Backend,
    terminate: bool,
    reply: tokio::sync::oneshot::Sender<Result<String, String>>,
}

/// Sends `req` over `session` and says what happened, for the action's outcome.
async fn signal(
    session: &postgres::PgSession,
    req: &SignalRequest,
    pg: &PgSpec,
) -> Result<String, String> {
    let pid = req.backend.pid;
    match session.signal_backend(&req.backend, req.terminate).await {
        Ok(Some(true)) if req.terminate => Ok(format!("terminated backend {pid}")),
        Ok(Some(true)) => Ok(format!("cancelled the query of backend {pid}")),
        Ok(Some(false)) => Err(format!(
            "PostgreSQL did not signal backend {pid}: it has just ended, or role {} may not \
             signal it (it needs to be a member of its role or of pg_signal_backend)",
            pg.target.user
        )),
        Ok(None) if req.terminate => Err(format!(
            "backend {pid} is no longer the session you chose (it ended, or its pid now serves \
             another session): nothing was done"
        )),
        Ok(None) => Err(format!(
            "backend {pid} no longer runs the query you chose (it finished, or the session \
             ended): nothing was done"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Refreshes every PostgreSQL cluster of the host, each at its interval, reconnecting after a
/// failure (a server restart, a refused login) with a growing pause, and carries out the
/// cancels and terminates sent to it. Never returns while the UI listens; pends forever when
/// the host has no cluster.
async fn watch_postgres(
    spec: &HostSpec,
    link: &dyn Link,
    signals: Vec<mpsc::Receiver<SignalRequest>>,
    refresh: &Notify,
    out: &Sender,
) {
    let clusters = spec
        .postgres
        .iter()
        .zip(signals)
        .enumerate()
        .map(|(i, (pg, rx))| watch_cluster(i, pg, link, rx, refresh, out));
    futures_util::future::join_all(clusters).await;
    std::future::pending::<()>().await;
}

async fn watch_cluster(
    cluster: usize,
    pg: &PgSpec,
    link: &dyn Link,
    mut signals: mpsc::Receiver<SignalRequest>,
    refresh: &Notify,
    out: &Sender,
) {
    // Reconnects after a pause that grows while it keeps failing.
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(15));
    let send = |result| out.send(HostEvent::Postgres { cluster, result });
    loop {
        let wait = match postgres::connect(link, &pg.target).await {
            Ok(session) => loop {
                let started = tokio::time::Instant::now();
                let result = session.snapshot().await.map(|snapshot| PgSample {
                    snapshot: Box::new(snapshot),
                    took: started.elapsed(),
                    // Our clock, like every other collector's: the server's may be off.
                    observed_at: Timestamp::now(),
                });
                if let Ok(s) = &result {
                    tracing::debug!(
                        cluster = %pg.target.name,
                        took_ms = s.took.as_secs_f64() * 1000.0,
                        sessions = s.snapshot.sessions.len(),
                        "postgres refresh"
                    );
                }
                let failed = result.is_err();
                if !send(result.map_err(CollectError::from)).await {
                    return;
                }
                if failed || session.is_closed() {
                    break backoff.delay();
                }
                backoff.reset();
                wait_answering(pg.interval, Some(&session), pg, link, &mut signals, refresh).await;
            },
            // A refused login will not fix itself soon; try again now and then anyway,
            // since someone may be fixing pg_hba.conf right now.
            Err(e) => {
                let wait = if e.retryable() {
                    backoff.delay()
                } else {
                    Duration::from_secs(60)
                };
                if !send(Err(CollectError::from(e))).await {
                    return;
                }
                wait
            }
        };
        wait_answering(wait, None, pg, link, &mut signals, refresh).await;
    }
}

/// Waits `pause` (or until a refresh is asked for), carrying out the cancels and terminates
/// that come meanwhile: over `session`, or, between connections, over one of their own.
async fn wait_answering(
    pause: Duration,
    session: Option<&postgres::PgSession>,
    pg: &PgSpec,
    link: &dyn Link,
    signals: &mut mpsc::Receiver<SignalRequest>,
    refresh: &Notify,
) {
    let until = tokio::time::Instant::now() + pause;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return,
            () = refresh.notified() => return,
            Some(req) = signals.recv() => {
                let result = match session {
                    Some(session) => signal(session, &req, pg).await,
                    None => match postgres::connect(link, &pg.target).await {
                        Ok(own) => signal(&own, &req, pg).await,
                        Err(e) => Err(e.to_string()),
                    },
                };
                let _ = req.reply.send(result);
            }
        }
    }
}

struct ActionGuard {
    id: u64,
    out: Sender,
    started: tokio::time::Instant,
    done: bool,
}

impl Drop for ActionGuard {
    fn drop(&mut self) {
        if !self.done {
            let why = "the connection to the host was lost while the action ran; its outcome \
                       is unknown: check the host"
                .to_owned();
            let done = Progress::Done {
                result: Err(why),
                elapsed: self.started.elapsed(),
            };
            let ev = AppEvent::Host(self.out.id, HostEvent::Action(self.id, done));
            let _ = self.out.events.try_send(ev);
        }
    }
}

/// Runs `sample` now and then every `interval` (or when triggered) until it returns false.
async fn every<F, Fut>(interval: Duration, trigger: &Notify, mut sample: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    while sample().await {
        wait_or(interval, trigger).await;
    }
}

async fn watch_containers(
    spec: &HostSpec,
    link: Arc<dyn Link>,
    refresh: Arc<Notify>,
    out: &Sender,
) {
    let Some(socket) = spec.docker_socket.clone() else {
        return std::future::pending().await;
    };
    let mut watcher = Watcher::new(link, socket, spec.containers_resync, refresh.clone());
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let result = watcher.next().await;
        let failed = result.is_err();
        if !out.send(HostEvent::Containers(result)).await {
            return;
        }
        if failed {
            wait_or(backoff.delay(), &refresh).await;
        } else {
            backoff.reset();
        }
    }
}

async fn wait_or(delay: Duration, trigger: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = trigger.notified() => {}
    }
}

/// Collects everything once from one host, for `watchfloor snapshot`: the same link and
/// collectors, bounded by `deadline`. Returns the events a live worker would have sent.
pub async fn collect_once(
    spec: &HostSpec,
    options: &Options,
    deadline: Duration,
) -> Vec<HostEvent> {
    let work = async {
        let link: Arc<dyn Link> = match &spec.transport {
            Transport::Local => Arc::new(Local::new(spec.name.clone())),
            Transport::Ssh(target) => {
                match session::connect(&spec.name, target, options, &mut |_, _| {}).await {
                    Ok(c) => Arc::new(Ssh::new(spec.name.clone(), c)),
                    Err(e) => {
                        let state = LinkState::Down {
                            kind: e.down_kind(),
                            error: e.to_string(),
                            since: Timestamp::now(),
                            retry_at: None,
                        };
                        return vec![HostEvent::Link(state)];
                    }
                }
            }
        };
        let containers = async {
            let socket = spec.docker_socket.clone()?;
            let mut watcher = Watcher::new(
                link.clone(),
                socket,
                spec.containers_resync,
                Arc::new(Notify::new()),
            );
            loop {
                let result = watcher.next().await;
                if result.is_err() || watcher.is_settled() {
                    return Some(result);
                }
            }
        };
        let disks = async { (!spec.tunnels_only).then_some(disks::sample(&*link).await) };
        let (containers, disks, tunnels) =
            tokio::join!(containers, disks, tunnels::sample(&*link, spec.wg_sudo));
        let mut events = vec![HostEvent::Link(LinkState::Up), HostEvent::Tunnels(tunnels)];
        events.extend(containers.map(HostEvent::Containers));
        events.extend(disks.map(HostEvent::Disks));
        events
    };
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| {
            let error = format!(
                "{} did not answer within {}s",
                spec.name,
                deadline.as_secs()
            );
            let kind = crate::link::DownKind::Unreachable;
            vec![HostEvent::Link(LinkState::Down {
                kind,
                error,
                since: Timestamp::now(),
                retry_at: None,
            })]
        })
}

/// Capped exponential backoff with ±20 % jitter, so hosts that failed together do not retry
/// in lockstep.
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        // RandomState is seeded randomly per process: good enough for jitter, no extra crate.
        let r = std::collections::hash_map::RandomState::new().hash_one(self.attempt);
        let factor = 0.8 + (r % 4001) as f64 / 10_000.0;
        exp.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let first = b.delay();
        assert!(
            first >= Duration::from_millis(800) && first <= Duration::from_millis(1200),
            "{first:?}"
        );
        for _ in 0..20 {
            let d = b.delay();
            assert!(d <= Duration::from_secs(72), "{d:?}");
        }
        assert!(b.delay() >= Duration::from_secs(48));
        b.reset();
        assert!(b.delay() <= Duration::from_millis(1200));
    }
}
