//! Container logs from the Docker API, followed. The I/O is here; what a line becomes
//! (reassembly, de-duplication, sanitising, JSON and levels) is the pure `line` module.
//! A follow outlives its container's runs: when the container stops, the follow waits for it
//! to run again and picks up where it left off, so a restart shows in the same view.

pub mod line;

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::{FutureExt, StreamExt};
use jiff::Timestamp;

use super::containers::{ContainerState, from_inspect};
use super::docker::api_error;
use line::{Assembler, LogLine};

/// Lines per batch sent to the UI: big enough that a firehose is ~100 messages a second.
const BATCH_LINES: usize = 1024;
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

/// Follows `container` until the sink goes away: the last `tail` lines (or, after `since`,
/// every line newer than it), then new lines as they come, across restarts of the container.
pub async fn follow(
    docker: &Docker,
    host: &str,
    container: &str,
    tail: usize,
    mut since: Option<Timestamp>,
    sink: &mut impl Sink,
) {
    let mut asm = Assembler::new(DEDUP_WINDOW);
    let mut reported_dups = 0;
    loop {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            // Docker's `since` has whole seconds: lines of that second come again and are
            // dropped below by time.
            since: since.map_or(0, |t| i32::try_from(t.as_second()).unwrap_or(0)),
            tail: if since.is_some() {
                "all".to_owned()
            } else {
                tail.to_string()
            },
            ..Default::default()
        };
        let mut stream = docker.logs(container, Some(options));
        let mut lines = Vec::new();
        // Some(None): the stream ended (the container stopped); Some(Some(e)): it failed.
        let mut end: Option<Option<String>> = None;
        while end.is_none() {
            // Wait for one frame, then take what is already there, up to a batch.
            let mut next = Some(stream.next().await);
            while let Some(frame) = next {
                match frame {
                    None => end = Some(None),
                    Some(Err(e)) => end = Some(Some(api_error(host, e).to_string())),
                    Some(Ok(frame)) => {
                        let (bytes, stderr) = match frame {
                            LogOutput::StdErr { message } => (message, true),
                            LogOutput::StdOut { message }
                            | LogOutput::Console { message }
                            | LogOutput::StdIn { message } => (message, false),
                        };
                        asm.push(&bytes, stderr, &mut lines);
                    }
                }
                next = if end.is_none() && lines.len() < BATCH_LINES {
                    stream.next().now_or_never()
                } else {
                    None
                };
            }
            if end.is_some() {
                asm.finish(&mut lines);
            }
            if let Some(after) = since {
                lines.retain(|l| l.at > after);
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
        }
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
            let state = match docker.inspect_container(container, None).await {
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
