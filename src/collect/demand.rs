//! What the UI asks for on demand, served over the host's current connection: log follows
//! (one task per followed stream; resumed after a reconnect from the last line delivered) and
//! CPU/memory samples of the containers on screen. The wishes outlive connections; the tasks
//! serving them die with theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use super::clients::Clients;
use super::logs::{self, line::LogLine};
use super::stats::{Sampler, StatsTarget};
use crate::event::{Follow, HostEvent, HostSender, LogBatch};
use crate::link::AbortOnDrop;
use crate::lock;

/// What the UI asked for.
#[derive(Default)]
pub struct Demand {
    follows: Mutex<HashMap<(u64, u16), FollowState>>,
    follows_changed: Notify,
    stats: Mutex<Vec<StatsTarget>>,
    stats_changed: Notify,
}

#[derive(Debug, Clone)]
struct FollowState {
    container: String,
    tail: usize,
    /// The newest line delivered: a new connection continues after it.
    since: Option<Timestamp>,
}

impl Demand {
    /// Follow these containers' logs for log view `view`, starting with the last `tail` lines.
    pub fn follow(&self, view: u64, follows: Vec<Follow>, tail: usize) {
        let mut map = lock(&self.follows);
        for f in follows {
            let state = FollowState {
                container: f.container,
                tail,
                since: None,
            };
            map.insert((view, f.stream), state);
        }
        drop(map);
        self.follows_changed.notify_one();
    }

    /// Stop following everything of log view `view`.
    pub fn stop_view(&self, view: u64) {
        lock(&self.follows).retain(|(v, _), _| *v != view);
        self.follows_changed.notify_one();
    }

    /// Sample these containers from now on (empty: stop).
    pub fn set_stats(&self, containers: Vec<StatsTarget>) {
        *lock(&self.stats) = containers;
        self.stats_changed.notify_one();
    }
}

/// Keeps one task per wanted log follow; tasks of closed views are dropped (aborted).
pub async fn follow_logs(clients: &Clients, demand: &Arc<Demand>, out: &HostSender) {
    let mut running: HashMap<(u64, u16), AbortOnDrop> = HashMap::new();
    loop {
        let follows = lock(&demand.follows).clone();
        running.retain(|k, _| follows.contains_key(k));
        for (key, f) in follows {
            if running.contains_key(&key) {
                continue;
            }
            let mut sink = LogSink {
                out: out.clone(),
                key,
                demand: demand.clone(),
            };
            let client = match clients.docker().await {
                Ok(d) => d,
                Err(e) => {
                    sink.deliver(Vec::new(), 0, Some(e.to_string())).await;
                    continue;
                }
            };
            let (link, socket) = (
                clients.link().clone(),
                clients.docker_socket().unwrap_or_default().to_owned(),
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
        demand.follows_changed.notified().await;
    }
}

/// Delivers a follow's lines to the UI and remembers the newest for a reconnect.
struct LogSink {
    out: HostSender,
    key: (u64, u16),
    demand: Arc<Demand>,
}

impl LogSink {
    async fn deliver(
        &mut self,
        lines: Vec<LogLine>,
        duplicates: u64,
        paused: Option<String>,
    ) -> bool {
        if let Some(last) = lines.last()
            && let Some(f) = lock(&self.demand.follows).get_mut(&self.key)
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

/// How soon the second reading of a container follows its first.
const FIRST_RATE: Duration = Duration::from_millis(500);

/// Samples the containers the UI shows, every `interval` while there are any.
pub async fn sample_stats(
    interval: Duration,
    clients: &Clients,
    demand: &Demand,
    out: &HostSender,
) {
    let mut sampler = Sampler::default();
    let mut fast_for = None;
    loop {
        let targets = lock(&demand.stats).clone();
        if targets.is_empty() {
            demand.stats_changed.notified().await;
            continue;
        }
        let client = clients.docker().await.ok();
        let result = sampler
            .sample(&**clients.link(), client.as_ref(), &targets)
            .await;
        // A CPU share takes two readings: a container read for the first time gets its second
        // sooner, so its numbers are on screen within a second of the pane opening (once per
        // set of containers asked for).
        let first = fast_for.as_ref() != Some(&targets)
            && result
                .as_ref()
                .is_ok_and(|s| s.stats.values().any(|c| c.cpu_percent.is_none()));
        if first {
            fast_for = Some(targets);
        }
        if !out.send(HostEvent::Stats(result)).await {
            return;
        }
        // At most one sample per interval, however fast the list scrolls.
        let pause = if first {
            FIRST_RATE.min(interval)
        } else {
            interval
        };
        tokio::time::sleep(pause).await;
    }
}
