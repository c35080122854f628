//! The messages between tasks: facts flow in to the UI task (`AppEvent`, `HostEvent`),
//! commands flow out to host workers (`HostCommand`). No logic here, so `host` and `app`
//! depend on this module and not on each other.

use crossterm::event::KeyEvent;
use jiff::Timestamp;

use crate::actions::{JobId, JobRequest, Progress};
use crate::collect::logs::line::LogLine;
use crate::collect::stats::{StatsSample, StatsTarget};
use crate::collect::{CollectError, Sample};
use crate::link::LinkState;

/// A host worker's way to the UI: its id and the one event channel.
#[derive(Debug, Clone)]
pub struct HostSender {
    pub id: HostId,
    pub events: tokio::sync::mpsc::Sender<AppEvent>,
}

impl HostSender {
    /// Waits for room in the channel. False when the UI has gone away and the worker should
    /// stop.
    pub async fn send(&self, ev: HostEvent) -> bool {
        self.events.send(AppEvent::Host(self.id, ev)).await.is_ok()
    }
}

/// Index of a host in the config order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

#[derive(Debug)]
pub enum AppEvent {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The 1 Hz clock: time-derived verdicts, and ages on screen (see `text::changes_in`).
    Clock(Timestamp),
    /// A message for the status bar (the outcome of a local effect, such as saving a file).
    Notice(String),
    Host(HostId, HostEvent),
}

#[derive(Debug)]
pub enum HostEvent {
    Link(LinkState),
    /// One collector's observation (every domain the runner collects).
    Sample(Sample),
    /// New lines of one followed log stream.
    Logs(LogBatch),
    /// CPU and memory of the containers asked for with `HostCommand::Stats`.
    Stats(Result<StatsSample, CollectError>),
    /// How an action is going, then how it ended.
    Action(JobId, Progress),
    /// The SSH session's round trip, measured by a ping the server answers.
    Rtt(std::time::Duration),
}

/// Lines of one stream of a log view, in the order Docker sent them.
#[derive(Debug)]
pub struct LogBatch {
    pub view: u64,
    pub stream: u16,
    pub lines: Vec<LogLine>,
    /// Re-sent lines dropped since the last batch.
    pub duplicates: u64,
    /// The stream paused or ended, and why ("container stopped", an error); None while it flows.
    pub paused: Option<String>,
}

/// One container to follow in a log view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub stream: u16,
    pub container: String,
}

/// What the UI asks a host worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// Collect everything now instead of waiting for the next interval; a host that is down
    /// reconnects at once instead of waiting for its backoff.
    Refresh,
    /// Follow these containers' logs for log view `view`, starting with the last `tail` lines.
    FollowLogs {
        view: u64,
        follows: Vec<Follow>,
        tail: usize,
    },
    /// Stop following everything of log view `view`.
    StopLogs { view: u64 },
    /// Sample CPU and memory of these containers every interval (empty: stop).
    Stats { containers: Vec<StatsTarget> },
    /// Start a confirmed job.
    Run(JobRequest),
    /// Cancel a running job: it stops at its next step and cleans up.
    CancelJob(JobId),
}
