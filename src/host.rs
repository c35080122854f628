//! One worker task per host: it owns the host's link and nothing else. A local host is up
//! forever; an SSH host connects, hands the connection to the collector runner
//! (`collect::runner`), the log follows and stats the UI asked for, and the job runner
//! (`actions::runner`), until the session dies; then it reports the link down and reconnects
//! with capped, jittered backoff, forever. Reconnecting lives here and only here. A slow or
//! dead host only ever delays its own worker.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, watch};

use crate::actions::runner::{self as jobs, JobCommand, Reporter};
use crate::actions::{JobOutcome, Progress};
use crate::collect::clients::Clients;
use crate::collect::logs::line::LogLine;
use crate::collect::stats::{Sampler, StatsTarget};
use crate::collect::{Context, logs, runner};
use crate::config::{HostSpec, Transport};
use crate::event::{AppEvent, HostCommand, HostEvent, HostId, LogBatch};
use crate::link::local::Local;
use crate::link::ssh::Ssh;
use crate::link::ssh::session::{self, Options};
use crate::link::{AbortOnDrop, Link, LinkError, LinkState};
use crate::lock;

/// Commands queued per host; the UI never waits on a full queue (it says "host busy").
const COMMAND_QUEUE: usize = 8;
/// Reconnect backoff: 1 s doubling to 8 s, ±20 % jitter. The cap bounds how long a host that
/// answers again waits for its next try (at most 9.6 s), however long the outage was.
const RECONNECT_BASE: Duration = Duration::from_secs(1);
const RECONNECT_CAP: Duration = Duration::from_secs(8);

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
    let options = Options {
        keepalive: spec.keepalive,
        ..options
    };
    let task = tokio::spawn(run(id, spec, options, events, rx));
    HostHandle {
        id,
        commands,
        _task: AbortOnDrop(task.abort_handle()),
    }
}

/// Wakes collectors (and a waiting reconnect) early.
struct Triggers {
    /// Every collector of the current connection listens (the runner and streams).
    collectors: watch::Sender<()>,
    reconnect: Notify,
}

/// What the UI asked for that outlives a connection: log follows (resumed after a reconnect
/// from their last line), the containers to sample, and queued actions.
struct Wanted {
    follows: Mutex<HashMap<(u64, u16), FollowState>>,
    follows_changed: Notify,
    stats: Mutex<Vec<StatsTarget>>,
    stats_changed: Notify,
    jobs: tokio::sync::Mutex<mpsc::UnboundedReceiver<JobCommand>>,
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
    let triggers = Triggers {
        collectors: watch::channel(()).0,
        reconnect: Notify::new(),
    };
    let (queue, jobs) = mpsc::unbounded_channel();
    let wanted = Arc::new(Wanted {
        follows: Mutex::default(),
        follows_changed: Notify::new(),
        stats: Mutex::default(),
        stats_changed: Notify::new(),
        jobs: tokio::sync::Mutex::new(jobs),
        link_up: AtomicBool::new(false),
    });
    let commands = async {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                HostCommand::Refresh => {
                    triggers.collectors.send_replace(());
                    triggers.reconnect.notify_one();
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
                    // A job is never queued for "whenever the host comes back".
                    if wanted.link_up.load(Ordering::SeqCst) {
                        let _ = queue.send(JobCommand::Start(Box::new(request)));
                    } else {
                        let why = format!("{} is not connected; nothing was done", spec.name);
                        let done = Progress::Done {
                            outcome: JobOutcome::Refused(why),
                            elapsed: Duration::ZERO,
                        };
                        out.send(HostEvent::Action(request.id, done)).await;
                    }
                }
                HostCommand::CancelJob(id) => {
                    let _ = queue.send(JobCommand::Cancel(id));
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

/// Runs every collector of the host over `link`, the log follows and stats the UI asked for,
/// and its jobs; returns only when the UI has gone away.
async fn collect(
    spec: &HostSpec,
    link: Arc<dyn Link>,
    triggers: &Triggers,
    wanted: &Arc<Wanted>,
    out: &Sender,
) {
    let clients = Arc::new(Clients::new(
        link.clone(),
        spec.docker_socket.clone(),
        spec.postgres.len(),
    ));
    let cx = Context {
        link: link.clone(),
        clients: clients.clone(),
        refresh: triggers.collectors.subscribe(),
    };
    let collectors = runner::run(
        crate::collect::collectors(spec, &cx),
        triggers.collectors.subscribe(),
        |sample| out.send(HostEvent::Sample(sample)),
    );
    let jobs = async {
        let mut commands = wanted.jobs.lock().await;
        let report = Reporter::new(out.id, out.events.clone());
        jobs::serve(
            clients.clone(),
            Arc::new(spec.clone()),
            &mut commands,
            report,
        )
        .await;
    };
    tokio::select! {
        () = collectors => {}
        () = follow_logs(&clients, wanted, out) => {}
        () = sample_stats(spec, &*link, &clients, wanted, out) => {}
        () = jobs => {}
    }
}

/// Keeps one task per wanted log follow; tasks of closed views are dropped (aborted).
async fn follow_logs(docker: &Clients, wanted: &Arc<Wanted>, out: &Sender) {
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
            let client = match docker.docker().await {
                Ok(d) => d,
                Err(e) => {
                    sink.deliver(Vec::new(), 0, Some(e.to_string())).await;
                    continue;
                }
            };
            let (link, socket) = (
                docker.link().clone(),
                docker.docker_socket().unwrap_or_default().to_owned(),
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
    docker: &Clients,
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
        let client = docker.docker().await.ok();
        let result = sampler.sample(link, client.as_ref(), &targets).await;
        if !out.send(HostEvent::Stats(result)).await {
            return;
        }
        // At most one sample per interval, however fast the list scrolls.
        tokio::time::sleep(spec.stats_interval).await;
    }
}

async fn wait_or(delay: Duration, trigger: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = trigger.notified() => {}
    }
}

/// Collects everything once from one host, for `watchfloor snapshot`: the same link and the
/// same collectors as the console, each bounded by `deadline`. Returns the events a live worker
/// would have sent.
pub async fn collect_once(
    spec: &HostSpec,
    options: &Options,
    deadline: Duration,
) -> Vec<HostEvent> {
    let started = tokio::time::Instant::now();
    let options = &Options {
        keepalive: spec.keepalive,
        ..options.clone()
    };
    let connect = async {
        let link: Arc<dyn Link> = match &spec.transport {
            Transport::Local => Arc::new(Local::new(spec.name.clone())),
            Transport::Ssh(target) => Arc::new(Ssh::new(
                spec.name.clone(),
                session::connect(&spec.name, target, options, &mut |_, _| {}).await?,
            )),
        };
        Ok::<_, LinkError>(link)
    };
    let down = |error: String, kind| {
        vec![HostEvent::Link(LinkState::Down {
            kind,
            error,
            since: Timestamp::now(),
            retry_at: None,
        })]
    };
    let link = match tokio::time::timeout(deadline, connect).await {
        Ok(Ok(link)) => link,
        Ok(Err(e)) => return down(e.to_string(), e.down_kind()),
        Err(_) => {
            let error = format!(
                "{} did not answer within {}s",
                spec.name,
                deadline.as_secs()
            );
            return down(error, crate::link::DownKind::Unreachable);
        }
    };
    // Nobody refreshes a snapshot; the sender lives until the end so streams wait on their
    // own resync instead of seeing a closed channel.
    let (_refresh, rx) = watch::channel(());
    let cx = Context {
        clients: Arc::new(Clients::new(
            link.clone(),
            spec.docker_socket.clone(),
            spec.postgres.len(),
        )),
        link,
        refresh: rx,
    };
    let left = deadline.saturating_sub(started.elapsed());
    let (samples, late) = runner::once(crate::collect::collectors(spec, &cx), left).await;
    let mut events = vec![HostEvent::Link(LinkState::Up)];
    events.extend(samples.into_iter().map(HostEvent::Sample));
    for name in late {
        tracing::warn!(host = %spec.name, "{name} did not answer within {}s", deadline.as_secs());
    }
    events
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
