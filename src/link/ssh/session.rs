//! Establishing one SSH session, through its ProxyJump chain: TCP (or a `direct-tcpip`
//! channel of the previous hop), key exchange, the host key checked against known_hosts like
//! OpenSSH, then authentication. Every step has a deadline. Keepalives end a dead session in
//! about 9 seconds; the `closed` signal tells the host worker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, DisconnectReason, Handle, Handler};
use russh::keys::{Algorithm, HashAlg, PublicKeyOrCertificate};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::auth;
use super::known_hosts::{self, Verdict};
use super::target::{StrictHostKeyChecking, Target};
use crate::link::LinkError;

/// Without ConnectTimeout in ~/.ssh/config: TCP connect, then key exchange plus auth.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How a dead link is noticed: a keepalive after `interval` of silence; when `count` of them
/// in a row go unanswered, the session ends. A host that stops answering is down after
/// interval × (count + 1): 9 s by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub interval: Duration,
    pub count: usize,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            interval: Duration::from_secs(3),
            count: 2,
        }
    }
}

impl Keepalive {
    /// How long after the host stops answering the session ends.
    pub fn detection(&self) -> Duration {
        self.interval * u32::try_from(self.count + 1).unwrap_or(u32::MAX)
    }
}

/// A step of connecting, reported as it starts (for `watchfloor check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Resolve,
    Tcp,
    HostKey,
    Auth,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Like StrictHostKeyChecking=accept-new: record unknown host keys (never changed ones).
    pub accept_new: bool,
    pub keepalive: Keepalive,
}

/// A live session and what keeps it alive.
pub struct Connected {
    pub handle: Arc<Handle<Client>>,
    pub jumps: Vec<Arc<Handle<Client>>>,
    /// Set to the reason when the session or any hop under it ends.
    pub closed: watch::Receiver<Option<String>>,
    /// Host keys recorded because of `accept_new`: (address, fingerprint).
    pub learned: Vec<(String, String)>,
    /// The first hop's ProxyCommand, killed when the session is dropped.
    pub proxy: Option<tokio::process::Child>,
}

/// Connects to `target` through its jumps. `progress(hop, step)` is called as each step starts.
pub async fn connect(
    name: &str,
    target: &Target,
    options: &Options,
    progress: &mut (dyn FnMut(&str, Step) + Send),
) -> Result<Connected, LinkError> {
    let (closed_tx, closed_rx) = watch::channel(None);
    let closed_tx = Arc::new(closed_tx);
    let mut learned = Vec::new();
    let mut previous: Option<Arc<Handle<Client>>> = None;
    // The hop the next one is reached through, for messages that name it.
    let mut via_alias = String::new();
    let mut jumps = Vec::new();
    let mut proxy: Option<Proxy> = None;
    let hops = target.jumps.iter().chain(std::iter::once(target));
    for hop in hops {
        let addr = display_addr(&hop.host_name, hop.port);
        let timeout = hop.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let outcome = Arc::new(Mutex::new(None));
        let client = Client::new(name, hop, options, outcome.clone(), closed_tx.clone());
        let config = Arc::new(client_config(hop, options.keepalive));
        let handshake = match (&previous, &hop.proxy_command) {
            (None, Some(command)) => {
                progress(&hop.alias, Step::Tcp);
                let (started, stream) = spawn_proxy(name, command)?;
                proxy = Some(started);
                progress(&hop.alias, Step::HostKey);
                tokio::time::timeout(
                    HANDSHAKE_TIMEOUT,
                    client::connect_stream(config, stream, client),
                )
                .await
            }
            (None, None) => {
                progress(&hop.alias, Step::Resolve);
                let addrs = resolve(name, hop, timeout).await?;
                progress(&hop.alias, Step::Tcp);
                let stream = tcp(name, &addr, &addrs, timeout).await?;
                progress(&hop.alias, Step::HostKey);
                tokio::time::timeout(
                    HANDSHAKE_TIMEOUT,
                    client::connect_stream(config, stream, client),
                )
                .await
            }
            (Some(via), _) => {
                progress(&hop.alias, Step::Tcp);
                let open = via.channel_open_direct_tcpip(
                    hop.host_name.clone(),
                    u32::from(hop.port),
                    "127.0.0.1",
                    0,
                );
                // Name the jump host and the hop it could not reach, never one for the other.
                let channel = tokio::time::timeout(timeout, open)
                    .await
                    .map_err(|_| LinkError::Connect {
                        host: name.to_owned(),
                        addr: addr.clone(),
                        message: format!(
                            "jump host {via_alias} got no answer from it within {}s",
                            timeout.as_secs()
                        ),
                    })?
                    .map_err(|e| LinkError::Connect {
                        host: name.to_owned(),
                        addr: addr.clone(),
                        message: format!("jump host {via_alias} could not reach it: {e}"),
                    })?;
                progress(&hop.alias, Step::HostKey);
                tokio::time::timeout(
                    HANDSHAKE_TIMEOUT,
                    client::connect_stream(config, channel.into_stream(), client),
                )
                .await
            }
        };
        let mut handle = match handshake {
            Err(_) => {
                return Err(timed_out(
                    name,
                    &format!("the SSH handshake with {addr}"),
                    HANDSHAKE_TIMEOUT,
                ));
            }
            Ok(Err(e)) => {
                // A ProxyCommand that failed has usually said why and exited: let it finish.
                if let Some(p) = &mut proxy {
                    let _ = tokio::time::timeout(Duration::from_millis(500), p.child.wait()).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                return Err(match take(&outcome) {
                    Some(KeyOutcome::Refused(refused)) => refused,
                    _ => LinkError::Ssh {
                        host: name.to_owned(),
                        message: match proxy_said(&proxy) {
                            Some(said) => format!(
                                "handshake with {addr} through its ProxyCommand: {e}; the command said: {said}"
                            ),
                            None => format!("handshake with {addr}: {e}"),
                        },
                    },
                });
            }
            Ok(Ok(h)) => h,
        };
        if let Some(KeyOutcome::Learned { addr, fingerprint }) = take(&outcome) {
            learned.push((addr, fingerprint));
        }
        progress(&hop.alias, Step::Auth);
        tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            auth::authenticate(&mut handle, name, hop),
        )
        .await
        .map_err(|_| {
            timed_out(
                name,
                &format!("authentication on {addr}"),
                HANDSHAKE_TIMEOUT,
            )
        })??;
        let handle = Arc::new(handle);
        via_alias.clone_from(&hop.alias);
        if let Some(p) = previous.replace(handle) {
            jumps.push(p);
        }
    }
    let handle = previous.ok_or_else(|| LinkError::Ssh {
        host: name.to_owned(),
        message: "no hop to connect to".into(),
    })?;
    Ok(Connected {
        handle,
        jumps,
        closed: closed_rx,
        learned,
        proxy: proxy.map(|p| p.child),
    })
}

/// Starts a ProxyCommand as ssh does (`sh -c`, here, with stdin and stdout as the transport)
/// and keeps the end of what it writes to stderr, for the error when it fails.
fn spawn_proxy(name: &str, command: &str) -> Result<(Proxy, ProxyStream), LinkError> {
    let failed = |message: String| LinkError::Connect {
        host: name.to_owned(),
        addr: format!("ProxyCommand `{}`", crate::sanitize::plain(command)),
        message,
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(failed("no pipes to it".into()));
    };
    let said = Arc::new(Mutex::new(String::new()));
    let keep = said.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stderr = stderr;
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = stderr.read(&mut buf).await {
            let mut s = crate::lock(&keep);
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            // Only the end matters; keep 2 KiB.
            if s.len() > 2048 {
                let cut = s.len() - 2048;
                let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                s.drain(..cut);
            }
        }
    });
    Ok((Proxy { child, said }, tokio::io::join(stdout, stdin)))
}

/// A running ProxyCommand and the end of what it wrote to stderr.
struct Proxy {
    child: tokio::process::Child,
    said: Arc<Mutex<String>>,
}

/// The ProxyCommand's stdout and stdin as one stream.
type ProxyStream = tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>;

/// The last line the ProxyCommand wrote to stderr, sanitised.
fn proxy_said(proxy: &Option<Proxy>) -> Option<String> {
    let text = crate::lock(&proxy.as_ref()?.said).clone();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| crate::sanitize::plain(l.trim()))
}

fn take(slot: &Mutex<Option<KeyOutcome>>) -> Option<KeyOutcome> {
    crate::lock(slot).take()
}

fn timed_out(name: &str, what: &str, after: Duration) -> LinkError {
    LinkError::Timeout {
        host: name.to_owned(),
        what: what.to_owned(),
        after,
    }
}

/// "host" for port 22, "[host]:port" otherwise, as ssh prints it.
pub fn display_addr(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

async fn resolve(
    name: &str,
    hop: &Target,
    timeout: Duration,
) -> Result<Vec<std::net::SocketAddr>, LinkError> {
    let addr = display_addr(&hop.host_name, hop.port);
    let lookup = tokio::net::lookup_host((hop.host_name.as_str(), hop.port));
    match tokio::time::timeout(timeout, lookup).await {
        Err(_) => Err(timed_out(
            name,
            &format!("resolving {}", hop.host_name),
            timeout,
        )),
        Ok(Err(e)) => Err(LinkError::Resolve {
            host: name.to_owned(),
            addr,
            message: e.to_string(),
        }),
        Ok(Ok(addrs)) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err(LinkError::Resolve {
                    host: name.to_owned(),
                    addr,
                    message: "no addresses".into(),
                })
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Tries each resolved address in turn, like ssh does.
async fn tcp(
    name: &str,
    addr: &str,
    addrs: &[std::net::SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, LinkError> {
    let mut last = String::new();
    for a in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {}s", timeout.as_secs()),
        }
    }
    Err(LinkError::Connect {
        host: name.to_owned(),
        addr: addr.to_owned(),
        message: last,
    })
}

fn client_config(hop: &Target, keepalive: Keepalive) -> client::Config {
    let mut preferred = russh::Preferred::default();
    // Like OpenSSH: ask first for the key types known_hosts already has for this host, so a
    // host with only an RSA line is not reported as changed because it offered Ed25519.
    let (name, port) = key_name(hop);
    let recorded = known_hosts::recorded_algorithms(&name, port, &known_hosts_files(hop));
    if !recorded.is_empty() {
        let mut order: Vec<Algorithm> = Vec::new();
        for alg in &recorded {
            if alg.clone().is_rsa() {
                order.extend([
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                ]);
            } else {
                order.push(alg.clone());
            }
        }
        order.extend(
            preferred
                .key
                .iter()
                .filter(|a| !order.contains(a))
                .cloned()
                .collect::<Vec<_>>(),
        );
        preferred.key = order.into();
    }
    client::Config {
        preferred,
        keepalive_interval: Some(keepalive.interval),
        keepalive_max: keepalive.count,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// The user's known_hosts files for `hop`, then the system-wide one.
/// The (name, port) a hop's host key is looked up and recorded under: its HostKeyAlias alone,
/// as ssh does, else its HostName and port (`[host]:port` unless 22).
pub fn key_name(hop: &Target) -> (String, u16) {
    match &hop.host_key_alias {
        Some(alias) => (alias.clone(), 22),
        None => (hop.host_name.clone(), hop.port),
    }
}

pub fn known_hosts_files(hop: &Target) -> Vec<PathBuf> {
    let mut files = hop.known_hosts_files.clone();
    files.extend(hop.global_known_hosts_files.iter().cloned());
    files
}

/// What the host key check decided, beyond yes or no.
enum KeyOutcome {
    /// The key was refused: the error says why and what to do.
    Refused(LinkError),
    /// accept-new recorded this unknown key.
    Learned { addr: String, fingerprint: String },
}

/// The russh handler of one hop: checks the host key and reports the end of the session.
pub struct Client {
    name: String,
    host: String,
    port: u16,
    files: Vec<PathBuf>,
    /// Where accept-new records an unknown key: the first user known_hosts file.
    learn_into: Option<PathBuf>,
    /// The host's StrictHostKeyChecking: `yes` never records an unknown key here, and an
    /// unknown key's error says what `yes` or `no` meant.
    strict: StrictHostKeyChecking,
    outcome: Arc<Mutex<Option<KeyOutcome>>>,
    closed: Arc<watch::Sender<Option<String>>>,
}

impl Client {
    fn new(
        name: &str,
        hop: &Target,
        options: &Options,
        outcome: Arc<Mutex<Option<KeyOutcome>>>,
        closed: Arc<watch::Sender<Option<String>>>,
    ) -> Client {
        Client {
            name: name.to_owned(),
            host: key_name(hop).0,
            port: key_name(hop).1,
            files: known_hosts_files(hop),
            // ~/.ssh/config's StrictHostKeyChecking for this host decides first: `yes` pins
            // the known keys even against --accept-new; `accept-new` learns as ssh would.
            learn_into: match (hop.strict_host_key_checking, options.accept_new) {
                (StrictHostKeyChecking::Yes, _) => None,
                (StrictHostKeyChecking::AcceptNew, _) | (_, true) => {
                    hop.known_hosts_files.first().cloned()
                }
                _ => None,
            },
            strict: hop.strict_host_key_checking,
            outcome,
            closed,
        }
    }

    /// OpenSSH's verdict for the presented key; Ok(false) refuses it (the reason is kept).
    fn judge(&self, key: &russh::keys::PublicKey) -> bool {
        let addr = display_addr(&self.host, self.port);
        let fingerprint = known_hosts::fingerprint(key);
        let (host, name) = (self.name.clone(), self.name.as_str());
        let decision = match known_hosts::verify(&self.host, self.port, key, &self.files) {
            Ok(Verdict::Known { .. }) => return true,
            Ok(Verdict::Unknown) => match &self.learn_into {
                Some(file) => match known_hosts::learn(&self.host, self.port, key, file, false) {
                    Ok(()) => {
                        tracing::info!(host = name, %addr, %fingerprint, file = %file.display(), "recorded a new host key (accept-new)");
                        KeyOutcome::Learned { addr, fingerprint }
                    }
                    Err(e) => KeyOutcome::Refused(LinkError::Ssh {
                        host,
                        message: format!("cannot record the host key: {e}"),
                    }),
                },
                None if self.strict == StrictHostKeyChecking::Yes => {
                    KeyOutcome::Refused(LinkError::PinnedHostKey {
                        host,
                        addr,
                        fingerprint,
                    })
                }
                None if self.strict == StrictHostKeyChecking::No => {
                    KeyOutcome::Refused(LinkError::UncheckedHostKey {
                        host,
                        addr,
                        fingerprint,
                    })
                }
                None => KeyOutcome::Refused(LinkError::UnknownHostKey {
                    host,
                    addr,
                    fingerprint,
                }),
            },
            Ok(Verdict::CertAuthority { file, line }) => {
                KeyOutcome::Refused(LinkError::CertAuthorityHostKey {
                    host,
                    addr,
                    fingerprint,
                    file,
                    line,
                })
            }
            Ok(Verdict::Changed { file, line }) => {
                tracing::error!(host = name, %addr, %fingerprint, "HOST KEY CHANGED: refusing to connect");
                KeyOutcome::Refused(LinkError::ChangedHostKey {
                    host,
                    addr,
                    fingerprint,
                    file: file.display().to_string(),
                    line,
                })
            }
            Ok(Verdict::Revoked { file, line }) => KeyOutcome::Refused(LinkError::RevokedHostKey {
                host,
                addr,
                file: file.display().to_string(),
                line,
            }),
            Err(e) => KeyOutcome::Refused(LinkError::Ssh {
                host,
                message: e.to_string(),
            }),
        };
        let accepted = matches!(decision, KeyOutcome::Learned { .. });
        *crate::lock(&self.outcome) = Some(decision);
        accepted
    }
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Host certificates are not trusted (no @cert-authority support): judge the plain key.
        Ok(self.judge(&key.public_key()))
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!("the server closed the connection ({info:?})")
            }
            DisconnectReason::Error(russh::Error::KeepaliveTimeout) => {
                "no answer to keepalives".to_owned()
            }
            DisconnectReason::Error(e) => e.to_string(),
        };
        self.closed.send_replace(Some(text));
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

impl Drop for Client {
    /// The session task ends (for any reason, including a hop's death) by dropping its handler.
    fn drop(&mut self) {
        self.closed.send_if_modified(|reason| {
            if reason.is_none() {
                *reason = Some("the session ended".to_owned());
                true
            } else {
                false
            }
        });
    }
}
