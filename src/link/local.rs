//! The machine watchfloor runs on, as a [`Link`]: commands run under `sh -c`, sockets are
//! opened directly. Used when no config exists and for `[[host]]` entries without `ssh`.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::{BoxFuture, ByteStream, Exec, ExecChunk, ExitStatus, Link, LinkError};

/// How long opening a local socket may take before we give up (a wedged daemon accepts late).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Local {
    name: String,
}

impl Local {
    pub fn new(name: impl Into<String>) -> Self {
        Local { name: name.into() }
    }

    /// Runs `command` through `sh -c`, its stdin `input` (then end of file) or nothing.
    async fn spawn(&self, command: String, input: Option<bytes::Bytes>) -> Result<Exec, LinkError> {
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LinkError::Io {
                host: self.name.clone(),
                what: format!("`{command}`"),
                message: e.to_string(),
            })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // Written beside the readers: a command that prints before it reads must not
            // wait on us. Dropping stdin is the end of file.
            tokio::spawn(async move {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut stdin, &input).await;
            });
        }
        let (tx, rx) = mpsc::channel(16);
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let task = tokio::spawn(async move {
            // Both pipes are drained concurrently so a chatty stderr cannot block stdout.
            let out = pump(stdout, tx.clone(), ExecChunk::Stdout);
            let err = pump(stderr, tx.clone(), ExecChunk::Stderr);
            tokio::join!(out, err);
            let status = match child.wait().await {
                Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                    (Some(c), _) => ExitStatus::Code(c),
                    (None, Some(sig)) => ExitStatus::Signal(sig.to_string()),
                    (None, None) => ExitStatus::Unknown,
                },
                Err(_) => ExitStatus::Unknown,
            };
            let _ = tx.send(ExecChunk::Exit(status)).await;
        });
        Ok(Exec::new(rx, task))
    }

    fn timeout(&self, what: String) -> LinkError {
        LinkError::Timeout {
            host: self.name.clone(),
            what,
            after: CONNECT_TIMEOUT,
        }
    }
}

impl Link for Local {
    fn host(&self) -> &str {
        &self.name
    }

    fn exec(&self, command: &str) -> BoxFuture<'_, Result<Exec, LinkError>> {
        Box::pin(self.spawn(command.to_owned(), None))
    }

    fn exec_with_input(
        &self,
        command: &str,
        input: bytes::Bytes,
    ) -> BoxFuture<'_, Result<Exec, LinkError>> {
        Box::pin(self.spawn(command.to_owned(), Some(input)))
    }

    fn open_unix(&self, path: &str) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        let path = path.to_owned();
        Box::pin(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(&path))
                .await
            {
                Ok(Ok(s)) => Ok(Box::new(s) as ByteStream),
                Ok(Err(e)) => Err(LinkError::from_io(&self.name, &path, &e)),
                Err(_) => Err(self.timeout(path)),
            }
        })
    }

    fn open_tcp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        let target = format!("{host}:{port}");
        let host = host.to_owned();
        Box::pin(async move {
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    Ok(Box::new(s) as ByteStream)
                }
                Ok(Err(e)) => Err(LinkError::from_io(&self.name, &target, &e)),
                Err(_) => Err(self.timeout(target)),
            }
        })
    }
}

async fn pump<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    tx: mpsc::Sender<ExecChunk>,
    wrap: fn(Bytes) -> ExecChunk,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx
                    .send(wrap(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::run;

    #[tokio::test]
    async fn exec_separates_streams_and_reports_status() {
        let link = Local::new("local");
        let out = run(
            &link,
            "echo out; echo err >&2; exit 3",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status, ExitStatus::Code(3));
    }

    #[tokio::test]
    async fn exec_times_out() {
        let link = Local::new("local");
        let err = run(&link, "sleep 5", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, LinkError::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn missing_socket_is_not_found() {
        let link = Local::new("local");
        let err = link
            .open_unix("/nonexistent/docker.sock")
            .await
            .err()
            .unwrap();
        assert!(matches!(err, LinkError::NotFound { .. }), "{err}");
    }
}
