//! Container logs from the Docker API, followed. The I/O is here; what a line becomes
//! (reassembly, de-duplication, sanitising, JSON and levels) is the pure `line` module.
//! A follow outlives its container's runs: when the container stops, the follow waits for it
//! to run again and picks up where it left off, so a restart shows in the same view.

pub mod line;
mod pump;
pub mod wire;

use std::time::Duration;

use bollard::Docker;
use jiff::Timestamp;
use tokio::time::Instant;

use super::containers::{ContainerState, from_inspect};
use super::docker::api_error;
use crate::link::Link;
use line::{Assembler, LogLine};

/// Lines per batch sent to the UI, about (one read may bring a few more).
const BATCH_LINES: usize = 4096;
/// Longest a line waits before it is sent to the UI (frames are drawn ~30 times a second).
const COALESCE: Duration = Duration::from_millis(25);
/// Recent lines remembered to recognise those Docker re-sends after a log rotation.
const DEDUP_WINDOW: usize = 4096;
/// How often a stopped container is checked for running again.
const RESTART_POLL: Duration = Duration::from_secs(1);

/// Where a follow delivers: lines, duplicates dropped since the last call, and why the stream
/// paused (None while it flows). Returns false when nobody listens any more.
pub trait Sink {
    fn send(
        &mut self,
        lines: Vec<LogLine>,
        duplicates: u64,
        paused: Option<String>,
    ) -> impl Future<Output = bool> + Send;
}

/// Where a follow reads: Docker's socket on the link's host, and a client for inspecting.
pub struct Source<'a> {
    pub link: &'a dyn Link,
    pub socket: &'a str,
    pub docker: &'a Docker,
}

/// Follows `container` until the sink goes away: the last `tail` lines (or, after `since`,
/// every line newer than it), then new lines as they come, across restarts of the container.
pub async fn follow(
    src: &Source<'_>,
    container: &str,
    tail: usize,
    mut since: Option<Timestamp>,
    sink: &mut impl Sink,
) {
    let host = src.link.host();
    let mut asm = Assembler::new(DEDUP_WINDOW);
    let mut reported_dups = 0;
    loop {
        let tty = match src.docker.inspect_container(container, None).await {
            Ok(r) => r.config.and_then(|c| c.tty).unwrap_or(false),
            Err(_) => false, // opening the stream says what is wrong
        };
        let req = wire::Request {
            container,
            // Docker's `since` has whole seconds: lines of that second come again and are
            // dropped below by time.
            since: since.map_or(0, |t| t.as_second()),
            tail: if since.is_some() { None } else { Some(tail) },
        };
        // Lines up to here were delivered before: Docker sends them again.
        let mut resend_until = since;
        // Some(None): the stream ended (the container stopped); Some(Some(e)): it failed.
        let mut end: Option<Option<String>> = None;
        let mut stream = match wire::open(src.link, src.socket, &req, tty).await {
            Ok(s) => Some(s),
            Err(e) => {
                let e = e.to_string();
                if !sink.send(Vec::new(), 0, Some(e.clone())).await {
                    return;
                }
                end = Some(Some(e));
                None
            }
        };
        let mut lines = Vec::new();
        let mut last_send = Instant::now();
        while end.is_none() {
            let Some(stream) = stream.as_mut() else { break };
            let waiting = !lines.is_empty();
            let mut on_frame = |frame: &[u8], stderr| asm.push(frame, stderr, &mut lines);
            // Lines waiting to be sent go out by their deadline even if nothing more comes.
            let outcome = tokio::select! {
                r = stream.read(&mut on_frame) => Some(r),
                () = tokio::time::sleep_until(last_send + COALESCE), if waiting => None,
            };
            match outcome {
                Some(Ok(true)) | None => {}
                Some(Ok(false)) => end = Some(None),
                Some(Err(e)) => end = Some(Some(format!("logs of {container} on {host}: {e}"))),
            }
            // Lines go to the UI in batches, at most one per COALESCE.
            let now = Instant::now();
            if end.is_none() && lines.len() < BATCH_LINES && now < last_send + COALESCE {
                continue;
            }
            if end.is_some() {
                asm.finish(&mut lines);
            }
            // Only the re-read second is filtered: once past it, lines of the same instant
            // (several lines of one write) are all new.
            if let Some(after) = resend_until {
                lines.retain(|l| l.at > after);
                if !lines.is_empty() {
                    resend_until = None;
                }
            }
            if let Some(last) = lines.last() {
                since = Some(last.at);
            }
            let dups = asm.duplicates() - reported_dups;
            reported_dups = asm.duplicates();
            let error = end.clone().flatten();
            if (!lines.is_empty() || dups > 0 || error.is_some())
                && !sink.send(std::mem::take(&mut lines), dups, error).await
            {
                return;
            }
            last_send = now;
        }
        drop(stream);
        let failed = matches!(end, Some(Some(_)));
        if failed {
            // Do not hammer a Docker that refuses (a logging driver without read support).
            tokio::time::sleep(RESTART_POLL * 5).await;
        }
        if since.is_none() {
            since = Some(Timestamp::now() - jiff::SignedDuration::from_secs(1));
        }
        // The stream ended: the container stopped (or Docker closed it). Wait for a new run.
        let mut told = false;
        loop {
            let state = match src.docker.inspect_container(container, None).await {
                Ok(r) => from_inspect(r).map(|c| (c.state, c.exit_code)),
                Err(e) => {
                    if !sink
                        .send(Vec::new(), 0, Some(api_error(host, e).to_string()))
                        .await
                    {
                        return;
                    }
                    None
                }
            };
            match state {
                Some((ContainerState::Running | ContainerState::Restarting, _)) => break,
                Some((state, code)) if !told && !failed => {
                    told = true;
                    let why = match code {
                        Some(code) => format!("container {} (exit code {code})", state.as_str()),
                        None => format!("container {}", state.as_str()),
                    };
                    if !sink.send(Vec::new(), 0, Some(why)).await {
                        return;
                    }
                }
                _ => {}
            }
            tokio::time::sleep(RESTART_POLL).await;
        }
        if told && !sink.send(Vec::new(), 0, None).await {
            return;
        }
    }
}
