//! One worker task per host. It owns the host's link and runs its collectors side by side:
//! the containers watcher (event-driven) and the disks sampler (on an interval). It sends
//! `HostEvent`s to the UI and takes `HostCommand`s. A failing collector backs off and retries
//! by itself without touching the others; a slow host only delays its own worker.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::collect::containers::Watcher;
use crate::collect::disks;
use crate::config::HostSpec;
use crate::event::{AppEvent, HostCommand, HostEvent, HostId};
use crate::link::local::Local;
use crate::link::{AbortOnDrop, Link, LinkState};

/// Commands queued per host; the UI never waits on a full queue (it says "host busy").
const COMMAND_QUEUE: usize = 8;

/// How the UI reaches a running worker. Dropping it stops the worker.
pub struct HostHandle {
    pub id: HostId,
    pub commands: mpsc::Sender<HostCommand>,
    _task: AbortOnDrop,
}

/// Starts the worker for `spec`; its events go to `events`.
pub fn spawn(id: HostId, spec: HostSpec, events: mpsc::Sender<AppEvent>) -> HostHandle {
    let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
    let task = tokio::spawn(run(id, spec, events, rx));
    HostHandle {
        id,
        commands,
        _task: AbortOnDrop(task.abort_handle()),
    }
}

async fn run(
    id: HostId,
    spec: HostSpec,
    events: mpsc::Sender<AppEvent>,
    mut commands: mpsc::Receiver<HostCommand>,
) {
    let link: Arc<dyn Link> = Arc::new(Local::new(spec.name.clone()));
    let out = Sender { id, events };
    if !out.send(HostEvent::Link(LinkState::Up)).await {
        return;
    }
    let refresh_containers = Arc::new(Notify::new());
    let refresh_disks = Arc::new(Notify::new());
    let containers = watch_containers(&spec, link.clone(), refresh_containers.clone(), &out);
    let disks = sample_disks(&spec, link.clone(), refresh_disks.clone(), &out);
    let commands = async {
        while let Some(cmd) = commands.recv().await {
            match cmd {
                HostCommand::Refresh => {
                    refresh_containers.notify_one();
                    refresh_disks.notify_one();
                }
            }
        }
    };
    // Each future ends only when the UI has gone away.
    tokio::select! {
        () = containers => {}
        () = disks => {}
        () = commands => {}
    }
}

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
            wait_or_refresh(backoff.delay(), &refresh).await;
        } else {
            backoff.reset();
        }
    }
}

async fn sample_disks(spec: &HostSpec, link: Arc<dyn Link>, refresh: Arc<Notify>, out: &Sender) {
    loop {
        let result = disks::sample(&*link).await;
        if !out.send(HostEvent::Disks(result)).await {
            return;
        }
        wait_or_refresh(spec.disks_interval, &refresh).await;
    }
}

async fn wait_or_refresh(delay: Duration, refresh: &Notify) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = refresh.notified() => {}
    }
}

/// Collects everything once from one host, for `watchfloor snapshot`: the same collectors,
/// bounded by `deadline`. Returns the events a live worker would have sent.
pub async fn collect_once(spec: &HostSpec, deadline: Duration) -> Vec<HostEvent> {
    let link: Arc<dyn Link> = Arc::new(Local::new(spec.name.clone()));
    let mut events = vec![HostEvent::Link(LinkState::Up)];
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
    let disks = disks::sample(&*link);
    let timeout = |what: &str| {
        crate::collect::CollectError::Link(crate::link::LinkError::Timeout {
            host: spec.name.clone(),
            what: what.to_owned(),
            after: deadline,
        })
    };
    let (containers, disks) = tokio::join!(
        tokio::time::timeout(deadline, containers),
        tokio::time::timeout(deadline, disks)
    );
    match containers {
        Ok(Some(r)) => events.push(HostEvent::Containers(r)),
        Ok(None) => {}
        Err(_) => events.push(HostEvent::Containers(Err(timeout("listing containers")))),
    }
    events.push(HostEvent::Disks(
        disks.unwrap_or_else(|_| Err(timeout("df"))),
    ));
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
