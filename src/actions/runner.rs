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

use super::{
    JobId, JobKind, JobOutcome, JobRequest, JobTarget, Progress, backup, drill, postgres, restart,
};
use crate::collect::clients::Clients;
use crate::config::HostSpec;
use crate::event::{AppEvent, HostEvent, HostSender};
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

/// Sends a job's progress to the UI. Steps may be skipped when the UI is behind; the end never
/// is: it waits for room, in a task of its own, so that neither a full channel nor the job's
/// task being dropped (the link went down) can lose it.
#[derive(Clone)]
pub struct Reporter(HostSender);

impl Reporter {
    pub fn new(out: HostSender) -> Self {
        Reporter(out)
    }

    fn step(&self, id: JobId, text: String) {
        let ev = AppEvent::Host(self.0.id, HostEvent::Action(id, Progress::Step(text)));
        let _ = self.0.events.try_send(ev);
    }

    /// Lines of a job's output, if the UI has room now; else they come back, to be sent
    /// with the next ones (no copy per attempt).
    pub fn output(&self, id: JobId, lines: Vec<String>) -> Result<(), Vec<String>> {
        let ev = AppEvent::Host(self.0.id, HostEvent::Action(id, Progress::Output(lines)));
        match self.0.events.try_send(ev).map_err(|e| e.into_inner()) {
            Ok(()) => Ok(()),
            Err(AppEvent::Host(_, HostEvent::Action(_, Progress::Output(lines)))) => Err(lines),
            // Never: the event that comes back is the one built above.
            Err(_) => Ok(()),
        }
    }

    /// Lines of a job's output, waiting for room: the last ones before its end.
    pub async fn output_wait(&self, id: JobId, lines: Vec<String>) {
        let ev = AppEvent::Host(self.0.id, HostEvent::Action(id, Progress::Output(lines)));
        let _ = self.0.events.send(ev).await;
    }

    /// A drill's record, waiting for room: it goes before the job's end.
    pub async fn drill(&self, id: JobId, run: super::history::DrillRun) {
        let ev = AppEvent::Host(
            self.0.id,
            HostEvent::Action(id, Progress::Drill(Box::new(run))),
        );
        let _ = self.0.events.send(ev).await;
    }

    /// Reports the end; callable from `Drop`.
    fn done(&self, id: JobId, outcome: JobOutcome, elapsed: Duration) {
        let done = Progress::Done { outcome, elapsed };
        let ev = AppEvent::Host(self.0.id, HostEvent::Action(id, done));
        let events = self.0.events.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = events.send(ev).await;
                });
            }
            // The runtime is shutting down: nobody is left to read it anyway.
            Err(_) => {
                let _ = events.try_send(ev);
            }
        }
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
    /// The longest its cleanup may take.
    fn cleanup_timeout(&self) -> Duration {
        CLEANUP_TIMEOUT
    }
}

/// The work a request asks for, on this connection's clients.
fn work_for(
    request: &JobRequest,
    clients: Arc<Clients>,
    spec: Arc<HostSpec>,
    report: &Reporter,
) -> Box<dyn Work> {
    if let JobTarget::Backup { index, .. } = &request.action.target {
        return match spec.backups.get(*index) {
            Some(b) => Box::new(backup::Trigger::new(
                clients.link().clone(),
                b.clone(),
                request.id,
                report.clone(),
            )),
            None => Box::new(Refuse("no such backup source in the config".into())),
        };
    }
    if let JobTarget::Drill { index, .. } = &request.action.target {
        return match spec.drills.get(*index) {
            Some(d) => Box::new(drill::Drill::new(
                clients.link().clone(),
                spec.clone(),
                d.clone(),
                request.id,
                report.clone(),
            )),
            None => Box::new(Refuse("no such drill in the config".into())),
        };
    }
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

/// Work that fails at once, saying why.
struct Refuse(String);

impl Work for Refuse {
    fn run<'a>(
        &'a mut self,
        _step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Err(self.0.clone()) })
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(1)
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
        // Only a cancel that was asked for: a dropped sender (the runner went away) is not one.
        Ok(_) = cancel.wait_for(|c| *c) => JobOutcome::Cancelled { during: lock(&last).clone() },
        () = tokio::time::sleep(timeout) => JobOutcome::TimedOut {
            after: timeout,
            during: lock(&last).clone(),
        },
    };
    let _ = tokio::time::timeout(work.cleanup_timeout(), work.cleanup()).await;
    outcome
}

/// A running job. Fields drop in order: the task is stopped before its cancel sender goes.
struct Running {
    _task: AbortOnDrop,
    request: JobRequest,
    cancel: watch::Sender<bool>,
}

/// Reports a job's end exactly once: its outcome, or "lost" when its task is dropped first
/// (the link went down, and the connection's runner with it).
struct EndGuard {
    id: JobId,
    report: Reporter,
    started: Instant,
    outcome: Option<JobOutcome>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(JobOutcome::Lost);
        self.report.done(self.id, outcome, self.started.elapsed());
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
            // A job that ended frees its target before the next command is looked at.
            biased;
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
                    report.done(request.id, JobOutcome::Refused(why), Duration::ZERO);
                    continue;
                }
                let (cancel, cancelled) = watch::channel(false);
                let id = request.id;
                let work = work_for(&request, clients.clone(), spec.clone(), &report);
                let (report, ended_tx) = (report.clone(), ended_tx.clone());
                let task = tokio::spawn(async move {
                    let mut guard = EndGuard {
                        id,
                        report: report.clone(),
                        started: Instant::now(),
                        outcome: None,
                    };
                    guard.outcome = Some(execute(id, work, cancelled, &report).await);
                    drop(guard);
                    let _ = ended_tx.send(id);
                });
                running.insert(
                    id,
                    Running {
                        _task: AbortOnDrop(task.abort_handle()),
                        request: *request,
                        cancel,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::HostId;

    /// Sleeps, then reports done; counts its cleanups.
    struct Nap(Duration, Arc<std::sync::atomic::AtomicUsize>);

    impl Work for Nap {
        fn run<'a>(
            &'a mut self,
            step: &'a (dyn Fn(String) + Send + Sync),
        ) -> BoxFuture<'a, Result<String, String>> {
            Box::pin(async move {
                step("napping".into());
                tokio::time::sleep(self.0).await;
                Ok("rested".into())
            })
        }
        fn cleanup(&mut self) -> BoxFuture<'_, ()> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async {})
        }
        fn timeout(&self) -> Duration {
            Duration::from_secs(10)
        }
    }

    fn reporter() -> (Reporter, mpsc::Receiver<AppEvent>) {
        let (tx, rx) = mpsc::channel(16);
        (
            Reporter::new(HostSender {
                id: HostId(0),
                events: tx,
            }),
            rx,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_the_work_names_the_step_and_still_cleans_up() {
        let cleanups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (report, _rx) = reporter();
        let (cancel, rx) = watch::channel(false);
        let work = Box::new(Nap(Duration::from_secs(5), cleanups.clone()));
        let job = tokio::spawn(async move { execute(JobId(1), work, rx, &report).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.send_replace(true);
        let outcome = job.await.unwrap();
        assert_eq!(
            outcome,
            JobOutcome::Cancelled {
                during: Some("napping".into())
            }
        );
        assert_eq!(cleanups.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_cancel_sender_is_not_a_cancel_and_timeouts_clean_up() {
        let cleanups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (report, _rx) = reporter();
        let (cancel, rx) = watch::channel(false);
        drop(cancel);
        let work = Box::new(Nap(Duration::from_secs(1), cleanups.clone()));
        let outcome = execute(JobId(1), work, rx, &report).await;
        assert_eq!(outcome, JobOutcome::Done("rested".into()));
        let (_keep, rx) = watch::channel(false);
        let work = Box::new(Nap(Duration::from_secs(60), cleanups.clone()));
        let outcome = execute(JobId(2), work, rx, &report).await;
        assert!(
            matches!(outcome, JobOutcome::TimedOut { .. }),
            "{outcome:?}"
        );
        assert_eq!(cleanups.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_job_dropped_before_its_end_reports_lost_even_through_a_full_channel() {
        let (tx, mut rx) = mpsc::channel(1);
        let report = Reporter::new(HostSender {
            id: HostId(0),
            events: tx.clone(),
        });
        // The channel is full: a try_send would lose the end.
        tx.try_send(AppEvent::Clock(jiff::Timestamp::UNIX_EPOCH))
            .unwrap();
        drop(EndGuard {
            id: JobId(7),
            report,
            started: Instant::now(),
            outcome: None,
        });
        assert!(matches!(rx.recv().await, Some(AppEvent::Clock(_))));
        match rx.recv().await {
            Some(AppEvent::Host(
                _,
                HostEvent::Action(JobId(7), Progress::Done { outcome, .. }),
            )) => {
                assert_eq!(outcome, JobOutcome::Lost)
            }
            other => panic!("{other:?}"),
        }
    }
}
