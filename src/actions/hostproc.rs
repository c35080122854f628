//! A long command on a host, as jobs run them (a backup's trigger, a drill's restore): in a
//! session of its own (`setsid`), its output streamed to the console line by line, and
//! stoppable. A cancel, a timeout or the console's exit stops the whole process group (TERM,
//! then KILL after 10 s) and checks that it is gone: closing the SSH channel alone would leave
//! `borg create` or `pg_restore` running.

use std::time::Duration;

use super::JobId;
use super::runner::Reporter;
use crate::link::{self, ExecChunk, ExitStatus, Link, sh_quote};

/// Lines kept back while the UI is behind; beyond this they are counted and dropped.
const PENDING_CAP: usize = 2000;

/// Where jobs keep their run files on the host: private to the SSH user (never a shared
/// directory like /var/tmp, where anyone could plant a process group id to be signalled).
pub const RUN_DIR: &str = "\"$HOME/.cache/watchfloor\"";

/// The process group of a command started by [`stream`], to stop it if it outlives its job.
#[derive(Debug)]
pub struct HostProcess {
    /// The process group on the host, once it said its pid.
    pub pgid: Option<u32>,
    /// The command ended by itself: nothing to stop.
    pub finished: bool,
    /// In the environment of every process the command starts (WF_TOKEN): a group is
    /// signalled only when one of its processes carries it, so a reused id never is.
    pub token: String,
}

impl Default for HostProcess {
    fn default() -> Self {
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        let token = format!(
            "{:016x}{:016x}",
            r.hash_one(std::time::SystemTime::now()),
            r.hash_one(std::process::id())
        );
        HostProcess {
            pgid: None,
            finished: false,
            token,
        }
    }
}

/// How a streamed command ended.
#[derive(Debug)]
pub struct Ended {
    /// None: the channel closed without a status.
    pub status: Option<ExitStatus>,
    pub lines: usize,
    /// Its last line of output (stdout and stderr are one stream): the error, when it failed.
    pub last_line: String,
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

/// What to start on the host.
pub struct Launch<'a> {
    /// Shell lines run first, in the wrapper: environment, secrets read from stdin.
    pub prelude: &'a str,
    pub command: &'a str,
    /// Written to the wrapper's stdin (the secrets the prelude reads).
    pub input: Option<bytes::Bytes>,
    /// A file name in [`RUN_DIR`] that holds "pgid token" while the command runs, so a later
    /// run can stop what a killed console left running.
    pub pid_file: Option<&'a str>,
}

/// Runs `launch` on the host in a new session whose id goes into `process`, streaming its
/// output to job `id`.
pub async fn stream(
    link: &dyn Link,
    launch: Launch<'_>,
    report: &Reporter,
    id: JobId,
    process: &mut HostProcess,
) -> Result<Ended, String> {
    let Launch {
        prelude,
        command,
        input,
        pid_file,
    } = launch;
    let (record, forget) = match pid_file {
        Some(f) => (
            format!(
                "f=; if [ -n \"$HOME\" ] && mkdir -p -m 700 {RUN_DIR} 2>/dev/null; then f={RUN_DIR}/{f}; echo \"$pid $WF_TOKEN\" > \"$f\"; fi\n",
                f = sh_quote(f)
            ),
            "[ -z \"$f\" ] || rm -f \"$f\"\n",
        ),
        None => (String::new(), ""),
    };
    // The wrapper says the pid of the new session (its process group) with the token, then
    // waits: its exit status is the command's.
    let script = format!(
        "{prelude}WF_TOKEN={token}; export WF_TOKEN\nsetsid sh -c {} </dev/null 2>&1 & pid=$!\n{record}\
         echo \"@@wf pid $WF_TOKEN $pid\"\nwait $pid; st=$?\n{forget}exit $st\n",
        sh_quote(command),
        token = process.token
    );
    let marker = format!("@@wf pid {} ", process.token);
    let wrapped = format!("sh -c {} sh", sh_quote(&script));
    let exec = match input {
        Some(input) => link.exec_with_input(&wrapped, input).await,
        None => link.exec(&wrapped).await,
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
            // Only the wrapper's own line, once: the command cannot forge another.
            if process.pgid.is_none()
                && let Some(pid) = line.strip_prefix(&marker)
            {
                process.pgid = pid.trim().parse().ok();
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
            && let Err(back) = report.output(id, std::mem::take(&mut pending))
        {
            pending = back;
        }
    };
    process.finished = true;
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
        report.output_wait(id, pending).await;
    }
    Ok(Ended {
        status,
        lines,
        last_line,
    })
}

impl Ended {
    /// Ok when the command exited 0; else why, naming it (`what`) and its last line.
    pub fn check(&self, what: &str) -> Result<(), String> {
        match &self.status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(format!("{what} failed ({s}): {}", self.last_line)),
            None => Err(format!("{what}: the channel closed without an exit status")),
        }
    }
}

impl HostProcess {
    /// Stops the process group unless the command ended by itself; says what happened.
    pub async fn stop(&mut self, link: &dyn Link) -> Option<String> {
        let (Some(pgid), false) = (self.pgid, self.finished) else {
            return None;
        };
        self.finished = true;
        let setup = format!("g={pgid}; t={}", self.token);
        Some(match stop_group(link, &setup).await {
            Ok(text) => text,
            Err(e) => format!("could not stop process group {pgid}: {e}; check the host"),
        })
    }
}

/// TERM to the group, up to 10 s for it to go, then KILL; zombies count as gone. `setup` is
/// shell that sets `g` (the group) and `t` (its token). The group is signalled only if one of
/// its processes carries WF_TOKEN=t: a stale id reused by another program is left alone, and
/// 0, 1 and this script's own group never are. (`kill -SIG -PGID`, not `kill -- -PGID`: dash's
/// kill takes no `--`.)
pub async fn stop_group(link: &dyn Link, setup: &str) -> Result<String, String> {
    let script = format!(
        r#"{setup}
case "$g" in ''|*[!0-9]*|0|1) echo "no process group to stop"; exit 0;; esac
[ "$g" != "$$" ] || {{ echo "no process group to stop"; exit 0; }}
members() {{ ps -eo pid=,pgid=,stat= | awk -v g="$g" '$2 == g && $3 !~ /^Z/ {{ print $1 }}'; }}
alive() {{ [ -n "$(members)" ]; }}
alive || {{ echo "process group $g had already ended"; exit 0; }}
ours=
for p in $(members); do tr '\0' '
' < /proc/$p/environ 2>/dev/null | grep -qx "WF_TOKEN=$t" && ours=1 && break; done
[ -n "$ours" ] || {{ echo "process group $g is not one watchfloor started (or not readable): left alone"; exit 0; }}
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
        Err(format!("{} ({})", out.stderr_line(), out.status))
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
