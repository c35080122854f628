//! How a host is reached. Collectors see only [`Link`]: run a command, open a byte stream to a
//! unix socket or to a TCP address *as seen from the host*. [`local::Local`] implements it with
//! processes and sockets on this machine; the SSH implementation runs the same three operations
//! as channels of one SSH session. Nothing here knows about Docker, PostgreSQL or df.

pub mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bidirectional byte stream (a unix socket, a TCP connection or an SSH channel). `Any`: a
/// reader may take a local socket out of the runtime (see `collect::logs::pump`).
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send + std::any::Any {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Duplex for T {}
pub type ByteStream = Box<dyn Duplex>;

/// The three things a collector may do on a host. Implementations apply their own connect
/// timeouts; callers bound how long they wait for output.
pub trait Link: Send + Sync + 'static {
    /// The host's name in the config, for messages.
    fn host(&self) -> &str;
    /// Runs `command` through the host's shell (`sh -c` locally, the login shell over SSH):
    /// the caller quotes arguments. Dropping the returned [`Exec`] stops the command.
    fn exec(&self, command: &str) -> BoxFuture<'_, Result<Exec, LinkError>>;
    /// [`exec`](Link::exec) with `input` written to the command's stdin, then end of file:
    /// how a secret from this machine reaches a command on the host without appearing on its
    /// command line. Links that cannot say so.
    fn exec_with_input(
        &self,
        command: &str,
        input: Bytes,
    ) -> BoxFuture<'_, Result<Exec, LinkError>> {
        let _ = (command, input);
        Box::pin(async move {
            Err(LinkError::Io {
                host: self.host().to_owned(),
                what: "a command with input".into(),
                message: "this link cannot pass input to a command".into(),
            })
        })
    }
    /// Opens a stream to a unix socket on the host (the Docker socket, the PostgreSQL socket).
    fn open_unix(&self, path: &str) -> BoxFuture<'_, Result<ByteStream, LinkError>>;
    /// Opens a stream to `host:port` as seen from the host.
    fn open_tcp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<ByteStream, LinkError>>;
}

/// What a link is doing, as shown in the overview and the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Up,
    /// The link failed; the worker retries at `retry_at` (None: it will not retry by itself).
    Down {
        kind: DownKind,
        error: LinkError,
        since: Timestamp,
        retry_at: Option<Timestamp>,
    },
}

/// Why a link is down, for the one-word state the overview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownKind {
    /// Name resolution, TCP or the SSH handshake failed, or the session died.
    Unreachable,
    /// The host key is unknown, changed or revoked: refused until the admin acts.
    HostKey,
    /// Every key was refused.
    Auth,
}

impl DownKind {
    pub fn label(self) -> &'static str {
        match self {
            DownKind::Unreachable => "down",
            DownKind::HostKey => "host key!",
            DownKind::Auth => "auth failed",
        }
    }
}

/// Why a link operation failed. Messages name the host and the target, then what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("{path} does not exist on {host}")]
    NotFound { host: String, path: String },
    #[error("permission denied on {target} on {host}")]
    PermissionDenied { host: String, target: String },
    #[error("{target} refused the connection on {host} (is the service running?)")]
    Refused { host: String, target: String },
    #[error("{what} on {host} timed out after {}s", after.as_secs())]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },
    #[error("{what} on {host} failed: {message}")]
    Io {
        host: String,
        what: String,
        message: String,
    },
    #[error("{host} could not open {target}: {reason}")]
    Unreachable {
        host: String,
        target: String,
        reason: String,
    },
    #[error(
        "cannot resolve {addr} for {host}: {message} (check HostName in ~/.ssh/config or the address in the config)"
    )]
    Resolve {
        host: String,
        addr: String,
        message: String,
    },
    #[error(
        "cannot connect to {addr} for {host}: {message} (is the host up and sshd listening? is the tunnel up?)"
    )]
    Connect {
        host: String,
        addr: String,
        message: String,
    },
    #[error(
        "host key of {addr} ({host}) is UNKNOWN: {fingerprint}; if you trust it, run: watchfloor --accept-new check {host}"
    )]
    UnknownHostKey {
        host: String,
        addr: String,
        fingerprint: String,
    },
    #[error(
        "host key of {addr} ({host}) is UNKNOWN: {fingerprint}; ~/.ssh/config sets StrictHostKeyChecking yes \
         for this host, so watchfloor does not record it, not even with --accept-new: check the key out of \
         band and add it to known_hosts yourself"
    )]
    PinnedHostKey {
        host: String,
        addr: String,
        fingerprint: String,
    },
    #[error(
        "host key of {addr} ({host}) is vouched for only by the @cert-authority line at {file}:{line}: \
         ssh would check a host certificate, and watchfloor does not support host certificates. It \
         records nothing, not even with --accept-new: add the host's plain key to known_hosts \
         (ssh-keyscan it and compare the fingerprint with {fingerprint})"
    )]
    CertAuthorityHostKey {
        host: String,
        addr: String,
        fingerprint: String,
        file: std::path::PathBuf,
        line: usize,
    },
    #[error(
        "host key of {addr} ({host}) is UNKNOWN: {fingerprint}; ~/.ssh/config sets StrictHostKeyChecking no \
         for this host, but watchfloor never connects to a host it cannot verify: check the key and run \
         watchfloor --accept-new check {host}, or set StrictHostKeyChecking accept-new"
    )]
    UncheckedHostKey {
        host: String,
        addr: String,
        fingerprint: String,
    },
    #[error(
        "host key of {addr} ({host}) has CHANGED since {file}:{line} recorded it ({fingerprint} now); refusing to connect. \
         Someone may be intercepting the connection. If the server was reinstalled, check the new key out of band, \
         then remove the old one: ssh-keygen -R {addr}"
    )]
    ChangedHostKey {
        host: String,
        addr: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("host key of {addr} ({host}) is REVOKED in {file}:{line}; refusing to connect")]
    RevokedHostKey {
        host: String,
        addr: String,
        file: String,
        line: usize,
    },
    #[error(
        "authentication as {user} on {addr} ({host}) failed (tried: {tried}); add your key to ssh-agent or to the server's authorized_keys"
    )]
    Auth {
        host: String,
        addr: String,
        user: String,
        tried: String,
    },
    #[error(
        "{path} is encrypted and ssh-agent does not hold it: add it with `ssh-add {path}` (watchfloor never asks for passphrases)"
    )]
    EncryptedKey { host: String, path: String },
    #[error("ssh to {host}: {message}")]
    Ssh { host: String, message: String },
    #[error("the link to {host} is down: {reason}")]
    Down { host: String, reason: String },
}

impl LinkError {
    /// The one-word kind of failure for the link state.
    pub fn down_kind(&self) -> DownKind {
        match self {
            Self::UnknownHostKey { .. }
            | Self::PinnedHostKey { .. }
            | Self::CertAuthorityHostKey { .. }
            | Self::UncheckedHostKey { .. }
            | Self::ChangedHostKey { .. }
            | Self::RevokedHostKey { .. } => DownKind::HostKey,
            Self::Auth { .. } | Self::EncryptedKey { .. } => DownKind::Auth,
            _ => DownKind::Unreachable,
        }
    }

    /// Classifies an I/O error from opening `target` on `host`.
    pub fn from_io(host: &str, target: &str, e: &std::io::Error) -> Self {
        let (host, target) = (host.to_owned(), target.to_owned());
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { host, path: target },
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied { host, target },
            std::io::ErrorKind::ConnectionRefused => Self::Refused { host, target },
            _ => Self::Io {
                host,
                what: target,
                message: e.to_string(),
            },
        }
    }
}

/// A piece of a running command's output, in the order it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecChunk {
    Stdout(Bytes),
    Stderr(Bytes),
    /// Always the last chunk, when the command's status is known.
    Exit(ExitStatus),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(String),
    /// The channel closed without reporting a status.
    Unknown,
}

impl ExitStatus {
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
            ExitStatus::Unknown => f.write_str("no exit status"),
        }
    }
}

/// A running command. Output arrives as it is produced; dropping this stops the command.
pub struct Exec {
    rx: mpsc::Receiver<ExecChunk>,
    _task: Option<AbortOnDrop>,
}

/// Collected output of a command, each stream capped (see [`Exec::output`]).
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: ExitStatus,
    /// True when more output arrived than the cap and was dropped.
    pub truncated: bool,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// The first line of stderr, trimmed: what a message about a failed command shows.
    pub fn stderr_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        crate::sanitize::plain(
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim(),
        )
    }
}

impl Exec {
    /// Wraps a task that feeds `rx`; the task is aborted when the `Exec` is dropped.
    pub fn new(rx: mpsc::Receiver<ExecChunk>, task: tokio::task::JoinHandle<()>) -> Self {
        Exec {
            rx,
            _task: Some(AbortOnDrop(task.abort_handle())),
        }
    }

    /// Wraps a producer that stops by itself when the receiver is dropped (it watches
    /// `Sender::closed`), because stopping needs async work such as closing an SSH channel.
    pub fn detached(rx: mpsc::Receiver<ExecChunk>) -> Self {
        Exec { rx, _task: None }
    }

    /// The next chunk, or None after `Exit` (or when the producer died).
    pub async fn next(&mut self) -> Option<ExecChunk> {
        self.rx.recv().await
    }

    /// Reads to the end, keeping at most `cap` bytes of each stream.
    pub async fn output(mut self, cap: usize) -> Output {
        let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
        let mut status = ExitStatus::Unknown;
        while let Some(chunk) = self.next().await {
            let (buf, data) = match chunk {
                ExecChunk::Stdout(d) => (&mut stdout, d),
                ExecChunk::Stderr(d) => (&mut stderr, d),
                ExecChunk::Exit(s) => {
                    status = s;
                    break;
                }
            };
            let room = cap.saturating_sub(buf.len());
            truncated |= data.len() > room;
            buf.extend_from_slice(&data[..data.len().min(room)]);
        }
        Output {
            stdout,
            stderr,
            status,
            truncated,
        }
    }
}

/// Runs `command` to completion with a deadline. The usual way for a collector to run a command.
pub async fn run(link: &dyn Link, command: &str, timeout: Duration) -> Result<Output, LinkError> {
    const CAP: usize = 4 << 20;
    let work = async { Ok(link.exec(command).await?.output(CAP).await) };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(LinkError::Timeout {
                host: link.host().to_owned(),
                what: format!("`{command}`"),
                after: timeout,
            })
        })
}

/// `s` as one word for a POSIX shell: single-quoted, with each `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Aborts a task when dropped, so that a stream's producer never outlives its consumer.
pub struct AbortOnDrop(pub tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
