//! One worker task per host: it owns the host's link and nothing else. A local host is up
//! forever; an SSH host connects, hands the connection to the collector runner
//! (`collect::runner`), the log follows and stats the UI asked for, and the job runner
//! (`actions::runner`), until the session dies; then it reports the link down and reconnects
//! with capped, jittered backoff, forever. Reconnecting lives here and only here. A slow or
//! dead host only ever delays its own worker.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, watch};

use crate::actions::runner::{self as jobs, JobCommand, Reporter};
use crate::actions::{JobOutcome, Progress};
use crate::collect::demand::{self, Demand};
use crate::collect::{Context, runner};
use crate::config::{HostSpec, Transport};
use crate::event::{AppEvent, HostCommand, HostEvent, HostId, HostSender};
use crate::link::local::Local;
use crate::link::ssh::Ssh;
use crate::link::ssh::session::{self, Options};
use crate::link::{AbortOnDrop, Link, LinkError, LinkState};

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
    let options = host_options(&spec, &options);
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

/// What outlives a connection: what the UI asked for on demand (log follows, resumed after a
/// reconnect from their last line; the containers to sample), the job queue, and whether the
/// link is up now.
struct Wanted {
    demand: Arc<Demand>,
    jobs: tokio::sync::Mutex<mpsc::UnboundedReceiver<JobCommand>>,
    link_up: AtomicBool,
}

async fn run(
    id: HostId,
    spec: HostSpec,
    options: Options,
    events: mpsc::Sender<AppEvent>,
    mut commands: mpsc::Receiver<HostCommand>,
) {
    let out = HostSender { id, events };
    let triggers = Triggers {
        collectors: watch::channel(()).0,
        reconnect: Notify::new(),
    };
    let (queue, jobs) = mpsc::unbounded_channel();
    let wanted = Arc::new(Wanted {
        demand: Arc::new(Demand::default()),
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
                } => wanted.demand.follow(view, follows, tail),
                HostCommand::StopLogs { view } => wanted.demand.stop_view(view),
                HostCommand::Stats { containers } => wanted.demand.set_stats(containers),
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
                let mut down_log = DownLog::default();
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
                            down_log.up(&spec.name);
                            let ssh = Arc::new(Ssh::new(spec.name.clone(), connected));
                            if !out.send(HostEvent::Link(LinkState::Up)).await {
                                return;
                            }
                            wanted.link_up.store(true, Ordering::SeqCst);
                            let down = tokio::select! {
                                () = collect(&spec, ssh.clone(), &triggers, &wanted, &out) => return,
                                () = round_trips(&ssh, &out) => return,
                                reason = ssh.closed() => LinkError::Down { host: spec.name.clone(), reason },
                            };
                            wanted.link_up.store(false, Ordering::SeqCst);
                            refuse_queued(&wanted, &out).await;
                            down
                        }
                        Err(e) => e,
                    };
                    down_log.down(&spec.name, &error.to_string());
                    let delay = backoff.delay();
                    let now = Timestamp::now();
                    let since = *down_since.get_or_insert(now);
                    let retry_at = now
                        .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                        .ok();
                    let state = LinkState::Down {
                        kind: error.down_kind(),
                        error,
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

/// Runs every collector of the host over `link`, the log follows and stats the UI asked for,
/// and its jobs; returns only when the UI has gone away.
/// How often the SSH round trip is measured: a few bytes every 10 s, so "slow" shows before
/// "down".
const RTT_EVERY: Duration = Duration::from_secs(10);

/// Measures the session's round trip every [`RTT_EVERY`] while it lives; returns when the UI
/// is gone.
async fn round_trips(ssh: &Ssh, out: &HostSender) {
    let mut tick = tokio::time::interval(RTT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(rtt) = ssh.round_trip(RTT_EVERY).await
            && !out.send(HostEvent::Rtt(rtt)).await
        {
            return;
        }
    }
}

async fn collect(
    spec: &HostSpec,
    link: Arc<dyn Link>,
    triggers: &Triggers,
    wanted: &Arc<Wanted>,
    out: &HostSender,
) {
    let cx = Context::new(spec, link, triggers.collectors.subscribe());
    let clients = cx.clients.clone();
    let collectors = runner::run(
        crate::collect::collectors(spec, &cx),
        triggers.collectors.subscribe(),
        |sample| out.send(HostEvent::Sample(sample)),
    );
    let jobs = async {
        let mut commands = wanted.jobs.lock().await;
        let report = Reporter::new(out.clone());
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
        () = demand::follow_logs(&clients, &wanted.demand, out) => {}
        () = demand::sample_stats(spec.stats_interval, &clients, &wanted.demand, out) => {}
        () = jobs => {}
    }
}

/// The SSH options for `spec`'s host: the command line's, with the host's own keepalives.
pub fn host_options(spec: &HostSpec, options: &Options) -> Options {
    Options {
        keepalive: spec.keepalive,
        ..options.clone()
    }
}

/// Jobs still queued when the link went down are refused, never run on a later connection
/// against a changed host.
async fn refuse_queued(wanted: &Wanted, out: &HostSender) {
    let mut queue = wanted.jobs.lock().await;
    while let Ok(cmd) = queue.try_recv() {
        if let JobCommand::Start(req) = cmd {
            let done = Progress::Done {
                outcome: JobOutcome::Refused(format!(
                    "the link to {} went down before the job started; nothing was done",
                    req.action.host_name
                )),
                elapsed: Duration::ZERO,
            };
            out.send(HostEvent::Action(req.id, done)).await;
        }
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
    let down = |error: LinkError| {
        vec![HostEvent::Link(LinkState::Down {
            kind: error.down_kind(),
            error,
            since: Timestamp::now(),
            retry_at: None,
        })]
    };
    let link = match connect_once(spec, options, deadline).await {
        Ok(link) => link,
        Err(e) => return down(e),
    };
    // Nobody refreshes a snapshot; the sender lives until the end so streams wait on their
    // own resync instead of seeing a closed channel.
    let (_refresh, rx) = watch::channel(());
    let cx = Context::new(spec, link, rx);
    let left = deadline.saturating_sub(started.elapsed());
    let samples = runner::once(crate::collect::collectors(spec, &cx), left).await;
    let mut events = vec![HostEvent::Link(LinkState::Up)];
    events.extend(samples.into_iter().map(HostEvent::Sample));
    events
}

/// One connection to `spec`'s host, for a headless command, bounded by `deadline`.
pub async fn connect_once(
    spec: &HostSpec,
    options: &Options,
    deadline: Duration,
) -> Result<Arc<dyn Link>, LinkError> {
    let options = &host_options(spec, options);
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
    tokio::time::timeout(deadline, connect)
        .await
        .unwrap_or_else(|_| {
            Err(LinkError::Timeout {
                host: spec.name.clone(),
                what: "connecting".into(),
                after: deadline,
            })
        })
}

/// Logs an outage once, when its reason changes, and every [`DownLog::EVERY`] while it lasts,
/// not on every retry: a host down for a week must not fill the log with one line per 8 s.
#[derive(Default)]
struct DownLog {
    /// The reason last logged and when; None while the link is up.
    last: Option<(String, std::time::Instant)>,
    attempts: u32,
}

impl DownLog {
    const EVERY: Duration = Duration::from_secs(300);

    fn down(&mut self, host: &str, reason: &str) {
        if self.due(reason, std::time::Instant::now()) {
            tracing::warn!(host, attempts = self.attempts, "link down: {reason}");
        } else {
            tracing::debug!(host, attempts = self.attempts, "still down: {reason}");
        }
    }

    /// Counts a failed attempt; whether it is worth a warning.
    fn due(&mut self, reason: &str, now: std::time::Instant) -> bool {
        self.attempts += 1;
        let due = match &self.last {
            None => true,
            Some((last, at)) => last != reason || now.duration_since(*at) >= Self::EVERY,
        };
        if due {
            self.last = Some((reason.to_owned(), now));
        }
        due
    }

    fn up(&mut self, host: &str) {
        if self.last.take().is_some() {
            tracing::info!(host, attempts = self.attempts, "link up again");
        }
        self.attempts = 0;
    }
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
    #[test]
    fn an_outage_is_logged_once_when_its_reason_changes_and_every_five_minutes() {
        let t0 = std::time::Instant::now();
        let mut log = DownLog::default();
        assert!(log.due("refused", t0));
        assert!(!log.due("refused", t0 + Duration::from_secs(8)));
        assert!(!log.due("refused", t0 + Duration::from_secs(290)));
        assert!(
            log.due("timed out", t0 + Duration::from_secs(291)),
            "a new reason"
        );
        assert!(
            log.due("timed out", t0 + Duration::from_secs(600)),
            "five minutes on"
        );
        assert_eq!(log.attempts, 5);
        log.up("h");
        assert!(
            log.due("timed out", t0 + Duration::from_secs(601)),
            "a new outage"
        );
    }

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
