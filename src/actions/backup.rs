//! Triggering a backup: the source's `trigger` command, run on the host in a session of its
//! own (`setsid`), its output streamed to the console line by line. A cancel, a timeout or
//! the console's exit stops the whole process group on the host (TERM, then KILL after 10 s)
//! and checks that it is gone: closing the SSH channel alone would leave `borg create`
//! running, holding the repository's lock.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::JobId;
use super::runner::{Reporter, Work};
use crate::collect::backups::{prelude, secret_input};
use crate::config::backup::BackupSpec;
use crate::link::{self, ExecChunk, Link, sh_quote};

/// Lines kept back while the UI is behind; beyond this they are counted and dropped.
const PENDING_CAP: usize = 2000;

pub struct Trigger {
    pub link: Arc<dyn Link>,
    pub spec: BackupSpec,
    pub id: JobId,
    pub report: Reporter,
    /// The process group on the host, once it said its pid.
    pgid: Option<u32>,
    /// The command ended by itself: nothing to stop.
    finished: bool,
}

impl Trigger {
    pub fn new(link: Arc<dyn Link>, spec: BackupSpec, id: JobId, report: Reporter) -> Self {
        Trigger {
            link,
            spec,
            id,
            report,
            pgid: None,
            finished: false,
        }
    }
}

/// Splits one stream into lines (a partial line waits for its end), sanitised for the screen.
#[derive(Default)]
struct LineBuf(Vec<u8>);

impl LineBuf {
    fn feed(&mut self, data: &[u8], out: &mut Vec<String>) {
        self.0.extend_from_slice(data);
        while let Some(at) = self.0.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let line: Vec<u8> = self.0.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            // borg and restic redraw progress with \r: keep only lines with text.
            if !text.trim().is_empty() {
                out.push(crate::sanitize::plain(&text));
            }
        }
    }
    fn flush(&mut self, out: &mut Vec<String>) {
        if !self.0.is_empty() {
            let text = String::from_utf8_lossy(&self.0).into_owned();
            out.push(crate::sanitize::plain(&text));
            self.0.clear();
        }
    }
}

impl Work for Trigger {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let trigger = self.spec.trigger.clone().ok_or("no trigger configured")?;
            // The wrapper says the pid of the new session (its process group), then waits:
            // its exit status is the command's.
            let script = prelude(&self.spec, Some("setsid"))
                + &format!(
                    "setsid sh -c {} </dev/null 2>&1 & pid=$!\necho \"@@wf pid $pid\"\nwait $pid\n",
                    sh_quote(&trigger)
                );
            let command = format!("sh -c {} sh", sh_quote(&script));
            step(format!("running `{trigger}`"));
            let input = secret_input(&self.spec).await.map_err(|e| e.to_string())?;
            let exec = match input {
                Some(input) => self.link.exec_with_input(&command, input).await,
                None => self.link.exec(&command).await,
            };
            let mut exec = exec.map_err(|e| e.to_string())?;
            let (mut out, mut err) = (LineBuf::default(), LineBuf::default());
            let mut pending: Vec<String> = Vec::new();
            let (mut lines, mut dropped) = (0usize, 0usize);
            let mut last_line = String::new();
            let status = loop {
                let mut new = Vec::new();
                match exec.next().await {
                    Some(ExecChunk::Stdout(d)) => out.feed(&d, &mut new),
                    Some(ExecChunk::Stderr(d)) => err.feed(&d, &mut new),
                    Some(ExecChunk::Exit(s)) => break Some(s),
                    None => break None,
                }
                for line in new {
                    if let Some(pid) = line.strip_prefix("@@wf pid ") {
                        self.pgid = pid.trim().parse().ok();
                        continue;
                    }
                    lines += 1;
                    last_line.clone_from(&line);
                    if pending.len() < PENDING_CAP {
                        pending.push(line);
                    } else {
                        dropped += 1;
                    }
                }
                // The UI may be behind: what it cannot take now waits for the next chunk.
                if !pending.is_empty()
                    && let Err(back) = self.report.output(self.id, std::mem::take(&mut pending))
                {
                    pending = back;
                }
            };
            self.finished = true;
            let mut tail = Vec::new();
            out.flush(&mut tail);
            err.flush(&mut tail);
            if let Some(l) = tail.last() {
                last_line.clone_from(l);
            }
            lines += tail.len();
            pending.extend(tail);
            if dropped > 0 {
                pending.push(format!(
                    "watchfloor: {dropped} lines not shown (the console was behind)"
                ));
            }
            if !pending.is_empty() {
                self.report.output_wait(self.id, pending).await;
            }
            match status {
                Some(s) if s.success() => {
                    Ok(format!("`{trigger}` finished ({lines} lines of output)"))
                }
                Some(s) => Err(format!("`{trigger}` failed ({s}): {last_line}")),
                None => Err(format!(
                    "`{trigger}`: the channel closed without an exit status"
                )),
            }
        })
    }

    /// Stops the process group unless the command ended by itself, and says whether it is gone.
    fn cleanup(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (Some(pgid), false) = (self.pgid, self.finished) else {
                return;
            };
            let line = match stop_group(&*self.link, pgid).await {
                Ok(text) => text,
                Err(e) => format!("could not stop process group {pgid}: {e}; check the host"),
            };
            tracing::info!(host = self.link.host(), job = %self.id, "{line}");
            self.report
                .output_wait(self.id, vec![format!("watchfloor: {line}")])
                .await;
        })
    }

    #[allow(clippy::misnamed_getters)] // a trigger's deadline, not the read's
    fn timeout(&self) -> Duration {
        self.spec.trigger_timeout
    }
}

/// TERM to the group, up to 10 s for it to go, then KILL; zombies count as gone. (`kill -SIG
/// -PGID`, not `kill -- -PGID`: dash's kill takes no `--`.)
async fn stop_group(link: &dyn Link, pgid: u32) -> Result<String, String> {
    let script = format!(
        r#"g={pgid}
alive() {{ ps -eo pgid=,stat= | awk -v g="$g" '$1 == g && $2 !~ /^Z/ {{ n++ }} END {{ exit n == 0 }}'; }}
alive || {{ echo "process group $g had already ended"; exit 0; }}
kill -TERM "-$g" 2>/dev/null
i=0; while alive && [ $i -lt 20 ]; do sleep 0.5; i=$((i+1)); done
if alive; then kill -KILL "-$g" 2>/dev/null; sleep 1; fi
if alive; then echo "process group $g is STILL running after SIGKILL"; exit 1; fi
echo "stopped process group $g (SIGTERM$([ $i -ge 20 ] && echo ', then SIGKILL')); no process of it is left"
"#
    );
    let out = link::run(
        link,
        &format!("sh -c {} sh", sh_quote(&script)),
        Duration::from_secs(25),
    )
    .await
    .map_err(|e| e.to_string())?;
    let text = out.stdout_text().trim().to_owned();
    if out.status.success() {
        Ok(text)
    } else if text.is_empty() {
        Err(out.stderr_line())
    } else {
        Err(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_on_newlines_and_progress_redraws() {
        let (mut b, mut out) = (LineBuf::default(), Vec::new());
        b.feed(b"Creating archive\nprogress 1%\rprogress 2%\r", &mut out);
        b.feed(b"\x1b[31mred\x1b[0m done\nhalf", &mut out);
        assert_eq!(
            out,
            ["Creating archive", "progress 1%", "progress 2%", "red done"]
        );
        b.flush(&mut out);
        assert_eq!(out.last().map(String::as_str), Some("half"));
    }
}
