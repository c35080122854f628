//! The job runner of one connection: runs confirmed jobs side by side, each in its own task,
//! refuses a job whose target a running job already touches, and ends each one exactly once
//! with a typed [`JobOutcome`]: done, failed, cancelled (at the admin's word, between two
//! awaits of its work: a rollout stops before its next replica), timed out, or lost (the link
//! dropped, and with it every task here). A job's cleanup runs after its work however that
//! ended — success, failure, cancel, timeout — and is bounded itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{JobId, JobKind, JobOutcome, JobRequest, JobTarget, Progress, postgres, restart};
use crate::collect::clients::Clients;
use crate::config::HostSpec;
use crate::event::{AppEvent, HostEvent, HostId};
use crate::link::AbortOnDrop;
use crate::lock;

/// How long a cleanup may take before it is given up on.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the host worker passes on to the runner.
#[derive(Debug)]
pub enum JobCommand {
    Start(Box<JobRequest>),
    Cancel(JobId),
}

/// Sends a job's progress to the UI. Steps may be skipped when the UI is behind; the end never.
#[derive(Clone)]
pub struct Reporter {
    host: HostId,
    events: mpsc::Sender<AppEvent>,
}

impl Reporter {
    pub fn new(host: HostId, events: mpsc::Sender<AppEvent>) -> Self {
        Reporter { host, events }
    }

    fn step(&self, id: JobId, text: String) {
        let ev = AppEvent::Host(self.host, HostEvent::Action(id, Progress::Step(text)));
        let _ = self.events.try_send(ev);
    }

    async fn done(&self, id: JobId, outcome: JobOutcome, elapsed: Duration) {
        let done = Progress::Done { outcome, elapsed };
        let _ = self
            .events
            .send(AppEvent::Host(self.host, HostEvent::Action(id, done)))
            .await;
    }
}

/// One kind of work a job does. `run` may be dropped at any await when the job is cancelled
/// or times out; `cleanup` runs afterwards in every case.
pub trait Work: Send {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>>;
    /// Undoes what a half-done run left behind (a scratch database, a lock). Default: nothing.
    fn cleanup(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// The longest the work may take.
    fn timeout(&self) -> Duration;
}

/// The work a request asks for, on this connection's clients.
fn work_for(request: &JobRequest, clients: Arc<Clients>, spec: Arc<HostSpec>) -> Box<dyn Work> {
    match request.action.kind {
        JobKind::Cancel | JobKind::Terminate => Box::new(Signal {
            clients,
            spec,
            target: request.action.target.clone(),
            kind: request.action.kind,
        }),
        _ => Box::new(Containers {
            clients,
            action: request.action.clone(),
        }),
    }
}

struct Containers {
    clients: Arc<Clients>,
    action: super::Job,
}

impl Work for Containers {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let docker = self.clients.docker().await.map_err(|e| e.to_string())?;
            restart::run(&docker, &self.action, step)
                .await
                .map_err(|e| e.to_string())
        })
    }
    fn timeout(&self) -> Duration {
        // Each replica may take the restart's own ready timeout, plus the stop grace.
        let n = self.action.target.members().len().max(1) as u32;
        (restart::READY_TIMEOUT + Duration::from_secs(30)) * n
    }
}

struct Signal {
    clients: Arc<Clients>,
    spec: Arc<HostSpec>,
    target: JobTarget,
    kind: JobKind,
}

impl Work for Signal {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            if let JobTarget::Backend { pid, .. } = &self.target {
                step(format!("signalling backend {pid}"));
            }
            postgres::signal(&self.clients, &self.target, self.kind, &self.spec).await
        })
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(30)
    }
}

/// Runs `work` to its outcome: finished, cancelled or timed out; then its cleanup.
pub async fn execute(
    id: JobId,
    mut work: Box<dyn Work>,
    mut cancel: watch::Receiver<bool>,
    report: &Reporter,
) -> JobOutcome {
    let last = Arc::new(Mutex::new(None::<String>));
    let step = {
        let (last, report) = (last.clone(), report.clone());
        move |text: String| {
            *lock(&last) = Some(text.clone());
            report.step(id, text);
        }
    };
    let timeout = work.timeout();
    let outcome = tokio::select! {
        r = work.run(&step) => match r {
            Ok(done) => JobOutcome::Done(done),
            Err(why) => JobOutcome::Failed(why),
        },
        _ = cancel.wait_for(|c| *c) => JobOutcome::Cancelled { during: lock(&last).clone() },
        () = tokio::time::sleep(timeout) => JobOutcome::TimedOut {
            after: timeout,
            during: lock(&last).clone(),
        },
    };
    let _ = tokio::time::timeout(CLEANUP_TIMEOUT, work.cleanup()).await;
    outcome
}

struct Running {
    request: JobRequest,
    cancel: watch::Sender<bool>,
    _task: AbortOnDrop,
}

/// Reports "lost" for a job whose task is dropped before it reported its end (the link went
/// down, and the connection's runner with it).
struct LostGuard {
    id: JobId,
    report: Reporter,
    started: Instant,
    ended: bool,
}

impl Drop for LostGuard {
    fn drop(&mut self) {
        if !self.ended {
            let done = Progress::Done {
                outcome: JobOutcome::Lost,
                elapsed: self.started.elapsed(),
            };
            let ev = AppEvent::Host(self.report.host, HostEvent::Action(self.id, done));
            let _ = self.report.events.try_send(ev);
        }
    }
}

/// Serves job commands over one connection until the commands end. Dropping this future
/// (the link went down) drops every running job, each reported "lost".
pub async fn serve(
    clients: Arc<Clients>,
    spec: Arc<HostSpec>,
    commands: &mut mpsc::UnboundedReceiver<JobCommand>,
    report: Reporter,
) {
    let mut running: HashMap<JobId, Running> = HashMap::new();
    let (ended_tx, mut ended) = mpsc::unbounded_channel::<JobId>();
    loop {
        let cmd = tokio::select! {
            Some(id) = ended.recv() => {
                running.remove(&id);
                continue;
            }
            cmd = commands.recv() => cmd,
        };
        match cmd {
            None => return,
            Some(JobCommand::Cancel(id)) => {
                if let Some(r) = running.get(&id) {
                    r.cancel.send_replace(true);
                }
            }
            Some(JobCommand::Start(request)) => {
                // The App refuses this already; this is the backstop for two consoles' worth
                // of commands racing in one queue.
                if let Some(busy) = running
                    .values()
                    .find(|r| r.request.overlaps(&request.action))
                {
                    let why = format!(
                        "job {} ({}) is still working on it; wait for it or cancel it",
                        busy.request.id,
                        busy.request.action.describe()
                    );
                    report
                        .done(request.id, JobOutcome::Refused(why), Duration::ZERO)
                        .await;
                    continue;
                }
                let (cancel, cancelled) = watch::channel(false);
                let id = request.id;
                let work = work_for(&request, clients.clone(), spec.clone());
                let (report, ended_tx) = (report.clone(), ended_tx.clone());
                let task = tokio::spawn(async move {
                    let mut guard = LostGuard {
                        id,
                        report: report.clone(),
                        started: Instant::now(),
                        ended: false,
                    };
                    let outcome = execute(id, work, cancelled, &report).await;
                    guard.ended = true;
                    report.done(id, outcome, guard.started.elapsed()).await;
                    let _ = ended_tx.send(id);
                });
                running.insert(
                    id,
                    Running {
                        request: *request,
                        cancel,
                        _task: AbortOnDrop(task.abort_handle()),
                    },
                );
            }
        }
    }
}
