//! Collectors: how each domain's data is fetched over a [`Link`](crate::link::Link) and parsed.
//! Each domain is one module with one [`Collect`] implementation (how it samples: polled at an
//! interval or a stream) at the top and pure parsers below. [`collectors`] lists what a host's
//! config asks for; [`runner`] runs them for the console and for `watchfloor snapshot` alike.
//! Failures are typed and say what to do. No ratatui here: what is shown is the UI's business.

pub mod backups;
pub mod clients;
pub mod containers;
pub mod demand;
pub mod disks;
pub mod docker;
pub mod docker_usage;
pub mod health;
pub mod logs;
pub mod postgres;
pub mod probes;
pub mod redis;
pub mod runner;
pub mod secret;
pub mod stats;
pub mod tunnels;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::config::HostSpec;
use crate::link::{ExitStatus, Link, LinkError};

/// One observation of one domain, as a collector hands it to the runner. Adding a domain adds
/// one variant here.
#[derive(Debug)]
pub enum Sample {
    Containers(Result<containers::ContainersSnapshot, CollectError>),
    Disks(Result<disks::DisksSnapshot, CollectError>),
    DockerUsage(Result<docker_usage::DockerUsage, CollectError>),
    Tunnels(Result<tunnels::TunnelsSnapshot, CollectError>),
    Health(Result<health::HealthSnapshot, CollectError>),
    /// A refresh of the host's `cluster`-th PostgreSQL cluster (in config order).
    Postgres {
        cluster: usize,
        result: Result<postgres::PgSample, CollectError>,
    },
    /// A read of the host's `source`-th backup source (in config order).
    Backups {
        source: usize,
        result: Result<backups::BackupsSnapshot, CollectError>,
    },
    /// A run of the host's `index`-th probe.
    Probe {
        index: usize,
        result: Result<probes::ProbeResult, CollectError>,
    },
    /// A read of the host's `index`-th Redis server.
    Redis {
        index: usize,
        result: Result<Box<redis::RedisInfo>, CollectError>,
    },
}

impl Sample {
    pub fn error(&self) -> Option<&CollectError> {
        match self {
            Sample::Containers(r) => r.as_ref().err(),
            Sample::Disks(r) => r.as_ref().err(),
            Sample::DockerUsage(r) => r.as_ref().err(),
            Sample::Tunnels(r) => r.as_ref().err(),
            Sample::Health(r) => r.as_ref().err(),
            Sample::Postgres { result, .. } => result.as_ref().err(),
            Sample::Backups { result, .. } => result.as_ref().err(),
            Sample::Probe { result, .. } => result.as_ref().err(),
            Sample::Redis { result, .. } => result.as_ref().err(),
        }
    }
}

/// How a collector produces samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// One sample now, then one every interval (or at once on a refresh).
    Every(Duration),
    /// `next` waits for the next change itself (an events stream); asked again at once.
    Stream,
}

/// One domain's collector on one connection. The runner decides when to call `next`; the
/// collector knows how to read and parse. It may keep state between calls (a session, the
/// previous CPU counters) and drops it when a call fails.
pub trait Collect: Send {
    /// What it reads, for messages: "disks", "PostgreSQL main".
    fn name(&self) -> String;
    fn sampling(&self) -> Sampling;
    /// The next sample. A failure is a sample too: it is shown, and the runner pauses.
    fn next(&mut self) -> BoxFuture<'_, Sample>;
    /// A failure as this collector's sample (for one that did not answer in time).
    fn fail(&self, error: CollectError) -> Sample;
    /// A snapshot may stop asking: the last sample is complete (a stream has listed and
    /// inspected everything). Polled collectors are settled after one sample.
    fn is_settled(&self) -> bool {
        true
    }
    /// How long to wait after a failure before asking again; None: the runner's backoff.
    fn retry_after(&self, _failed: &Sample) -> Option<Duration> {
        None
    }
}

/// What collectors of one connection share: the clients made on its link, and the refresh
/// signal (Ctrl-R) that streams listen to while they wait.
#[derive(Clone)]
pub struct Context {
    pub clients: Arc<clients::Clients>,
    pub refresh: watch::Receiver<()>,
}

impl Context {
    /// A new connection of `spec`'s host: no client made yet.
    pub fn new(spec: &HostSpec, link: Arc<dyn Link>, refresh: watch::Receiver<()>) -> Self {
        let clients = clients::Clients::new(link, spec.docker_socket.clone(), spec.postgres.len());
        Context {
            clients: Arc::new(clients),
            refresh,
        }
    }

    pub fn link(&self) -> &Arc<dyn Link> {
        self.clients.link()
    }
}

/// The collectors a host's config asks for: one line per domain.
pub fn collectors(spec: &HostSpec, cx: &Context) -> Vec<Box<dyn Collect>> {
    let mut all: Vec<Box<dyn Collect>> = Vec::new();
    all.extend(containers::collector(spec, cx));
    all.extend(disks::collector(spec, cx));
    all.extend(docker_usage::collector(spec, cx));
    all.extend(tunnels::collector(spec, cx));
    all.extend(health::collector(spec, cx));
    all.extend(postgres::collectors(spec, cx));
    all.extend(backups::collectors(spec, cx));
    all.extend(probes::collectors(spec, cx));
    all.extend(redis::collectors(spec, cx));
    all
}

/// Completes when a refresh is asked for; never when nobody can ask any more.
pub async fn refreshed(rx: &mut watch::Receiver<()>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("unexpected output from `{command}`: {message}")]
    Parse { command: String, message: String },
    #[error("{message}")]
    Docker { message: String },
    #[error(transparent)]
    Postgres(#[from] postgres::PgError),
    /// A secret from this machine (a passphrase_command) could not be had.
    #[error("{0}")]
    Secret(String),
    #[error(transparent)]
    Redis(redis::RedisError),
    #[error("{what} did not answer within {}s", after.as_secs())]
    Late { what: String, after: Duration },
}

impl CollectError {
    pub fn parse(command: &str, message: impl Into<String>) -> Self {
        CollectError::Parse {
            command: command.to_owned(),
            message: message.into(),
        }
    }
}
