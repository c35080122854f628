//! The [`Link`] over SSH: one russh session per host (reached through its ProxyJump chain),
//! exec on session channels, unix sockets on `direct-streamlocal@openssh.com`, TCP on
//! `direct-tcpip`. Session channels are queued (at most 8 at once) because OpenSSH's
//! MaxSessions defaults to 10 per connection and an 11th open fails outright.

pub mod auth;
pub mod known_hosts;
pub mod session;
mod stream;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use russh::ChannelMsg;
use russh::client::Handle;
use tokio::sync::{Semaphore, mpsc, watch};

use super::{BoxFuture, ByteStream, Exec, ExecChunk, ExitStatus, Link, LinkError};
use session::Client;

/// Session channels in flight at once (sshd's default MaxSessions is 10); the rest wait their
/// turn. Lowered per link when sshd refuses, down to [`MIN_CHANNELS`].
const SESSION_CHANNELS: usize = 8;
const MIN_CHANNELS: usize = 2;
/// How long opening one channel may take on a live session.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Ssh {
    name: String,
    handle: Arc<Handle<Client>>,
    /// The sessions of the ProxyJump hops, kept alive as long as the target's.
    _jumps: Vec<Arc<Handle<Client>>>,
    /// The ProxyCommand carrying the session, killed with it.
    _proxy: Option<tokio::process::Child>,
    sessions: Arc<Semaphore>,
    /// The current limit of `sessions`, and permits to forget when they come back (narrowed
    /// while all were in use).
    limit: std::sync::atomic::AtomicUsize,
    owed: Arc<std::sync::atomic::AtomicUsize>,
    closed: watch::Receiver<Option<String>>,
}

/// A session channel's place among those open at once: given back when the channel is done,
/// or forgotten if the link narrowed while it was in use.
struct Slot {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    owed: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        let owed = self
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if let (Ok(_), Some(p)) = (owed, self.permit.take()) {
            p.forget();
        }
    }
}

impl Ssh {
    /// Runs `command` on a channel of its own; `input`, if any, goes to its stdin.
    async fn run(&self, command: String, input: Option<bytes::Bytes>) -> Result<Exec, LinkError> {
        let permit = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| LinkError::Down {
                host: self.name.clone(),
                reason: "the link is closing".into(),
            })?;
        let what = format!("`{command}`");
        // Our slot is free when we saw the channel close, but sshd frees its own a moment
        // later (much later on a loaded host), or it allows fewer sessions than we assume.
        // A refusal is retried (25 ms doubling, 6 times), and each one lowers how many
        // channels this link keeps open at once, down to 2: the link learns the server's
        // real limit instead of being refused again.
        let mut pause = std::time::Duration::from_millis(25);
        let mut tries = 0;
        let started = std::time::Instant::now();
        let mut channel = loop {
            let opened = tokio::time::timeout(OPEN_TIMEOUT, self.handle.channel_open_session())
                .await
                .map_err(|_| self.timeout(&what))?;
            match opened {
                // While other channels of ours are open, one will close and free a slot:
                // keep trying (within the open timeout) rather than fail this command.
                Err(russh::Error::ChannelOpenFailure(_))
                    if tries < 6 || (self.in_flight() > 1 && started.elapsed() < OPEN_TIMEOUT) =>
                {
                    tries += 1;
                    self.narrow();
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(400));
                }
                r => break r.map_err(|e| self.channel_error(&what, e))?,
            }
        };
        channel
            .exec(true, command.as_bytes())
            .await
            .map_err(|e| self.channel_error(&what, e))?;
        if let Some(input) = input {
            // Small (a passphrase): it fits the channel's window, so writing it before
            // reading cannot block on the command's output.
            channel
                .data(&input[..])
                .await
                .map_err(|e| self.channel_error(&what, e))?;
            channel
                .eof()
                .await
                .map_err(|e| self.channel_error(&what, e))?;
        }
        let (tx, rx) = mpsc::channel(16);
        let slot = Slot {
            permit: Some(permit),
            owed: self.owed.clone(),
        };
        tokio::spawn(async move {
            let _slot = slot; // free again when the channel is done
            let mut status = ExitStatus::Unknown;
            loop {
                let msg = tokio::select! {
                    msg = channel.wait() => msg,
                    // The reader went away: stop the remote command by closing its channel.
                    () = tx.closed() => {
                        let _ = channel.close().await;
                        return;
                    }
                };
                let chunk = match msg {
                    None => break,
                    Some(ChannelMsg::Data { data }) => ExecChunk::Stdout(data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => ExecChunk::Stderr(data),
                    // The status may come before the last data: keep reading until the close.
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        status = ExitStatus::Code(i32::try_from(exit_status).unwrap_or(i32::MAX));
                        continue;
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        status = ExitStatus::Signal(format!("{signal_name:?}"));
                        continue;
                    }
                    Some(_) => continue,
                };
                if tx.send(chunk).await.is_err() {
                    let _ = channel.close().await;
                    return;
                }
            }
            let _ = tx.send(ExecChunk::Exit(status)).await;
        });
        Ok(Exec::detached(rx))
    }

    pub fn new(name: String, connected: session::Connected) -> Self {
        Ssh {
            name,
            handle: connected.handle,
            _jumps: connected.jumps,
            _proxy: connected.proxy,
            sessions: Arc::new(Semaphore::new(SESSION_CHANNELS)),
            limit: std::sync::atomic::AtomicUsize::new(SESSION_CHANNELS),
            owed: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            closed: connected.closed,
        }
    }

    /// One round trip: a `keepalive@openssh.com` the server must answer (None: no answer in
    /// time, or the session is gone; keepalives decide when it is down).
    pub async fn round_trip(&self, limit: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        match tokio::time::timeout(limit, self.handle.send_ping()).await {
            Ok(Ok(())) => Some(started.elapsed()),
            _ => None,
        }
    }

    /// One channel fewer at once (never below [`MIN_CHANNELS`]), after sshd refused one.
    fn narrow(&self) {
        use std::sync::atomic::Ordering;
        let narrowed = self
            .limit
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n > MIN_CHANNELS).then(|| n - 1)
            });
        if let Ok(was) = narrowed {
            // A permit that is in use now is forgotten when it comes back.
            if self.sessions.forget_permits(1) == 0 {
                self.owed.fetch_add(1, Ordering::SeqCst);
            }
            tracing::info!(host = %self.name, channels = was - 1, "sshd refused a session channel: opening fewer at once");
        }
    }

    /// Session channels of this link open now (this one included).
    fn in_flight(&self) -> usize {
        self.channel_limit()
            .saturating_sub(self.sessions.available_permits())
    }

    /// How many session channels this link opens at once now.
    pub fn channel_limit(&self) -> usize {
        self.limit.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes when the session (or a hop under it) has ended, with the reason.
    pub async fn closed(&self) -> String {
        let mut rx = self.closed.clone();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "the session ended".to_owned();
            }
        }
    }

    fn channel_error(&self, target: &str, e: russh::Error) -> LinkError {
        match e {
            russh::Error::ChannelOpenFailure(reason) => LinkError::Unreachable {
                host: self.name.clone(),
                target: target.to_owned(),
                reason: format!(
                    "the server refused the channel ({reason:?}): the target may not exist, or the SSH user may not open it"
                ),
            },
            other => LinkError::Down {
                host: self.name.clone(),
                reason: other.to_string(),
            },
        }
    }

    fn timeout(&self, what: &str) -> LinkError {
        LinkError::Timeout {
            host: self.name.clone(),
            what: what.to_owned(),
            after: OPEN_TIMEOUT,
        }
    }
}

impl Link for Ssh {
    fn host(&self) -> &str {
        &self.name
    }

    fn exec(&self, command: &str) -> BoxFuture<'_, Result<Exec, LinkError>> {
        Box::pin(self.run(command.to_owned(), None))
    }

    fn exec_with_input(
        &self,
        command: &str,
        input: bytes::Bytes,
    ) -> BoxFuture<'_, Result<Exec, LinkError>> {
        Box::pin(self.run(command.to_owned(), Some(input)))
    }

    fn open_unix(&self, path: &str) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let channel = tokio::time::timeout(
                OPEN_TIMEOUT,
                self.handle.channel_open_direct_streamlocal(path.clone()),
            )
            .await
            .map_err(|_| self.timeout(&path))?
            .map_err(|e| self.channel_error(&path, e))?;
            Ok(Box::new(stream::HalfClosing::new(channel)) as ByteStream)
        })
    }

    fn open_tcp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        let target = format!("{host}:{port}");
        let host = host.to_owned();
        Box::pin(async move {
            let open = self
                .handle
                .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0);
            let channel = tokio::time::timeout(OPEN_TIMEOUT, open)
                .await
                .map_err(|_| self.timeout(&target))?
                .map_err(|e| self.channel_error(&target, e))?;
            Ok(Box::new(stream::HalfClosing::new(channel)) as ByteStream)
        })
    }
}
