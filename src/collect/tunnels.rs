//! WireGuard peers from `wg show all dump`, run over the host's link (as root, or through
//! `sudo -n` when the host's config says so). The dump holds each interface's PRIVATE key: it
//! is skipped while parsing and never stored, logged or shown.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::CollectError;
use crate::link::{self, ExitStatus, Link};
use crate::sanitize::plain;

const TIMEOUT: Duration = Duration::from_secs(15);
/// WireGuard re-keys every 2 minutes on an active tunnel; after REJECT_AFTER_TIME (180 s)
/// without a handshake the session is dead.
pub const HANDSHAKE_STALE_AFTER: Duration = Duration::from_secs(180);
/// `command -v` fails with this when wg is not installed.
const NOT_INSTALLED: i32 = 127;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interface {
    pub name: String,
    pub public_key: String,
    pub listen_port: Option<u16>,
    pub peers: Vec<Peer>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    pub public_key: String,
    pub endpoint: Option<String>,
    pub allowed_ips: String,
    /// None: never.
    pub latest_handshake: Option<Timestamp>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub keepalive_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TunnelsSnapshot {
    pub access: WgAccess,
    pub interfaces: Vec<Interface>,
    pub observed_at: Timestamp,
}

/// Whether `wg` could be asked at all. Neither "no" is an error of the host: the pane says
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WgAccess {
    Ok,
    /// The host has no `wg` command.
    NotInstalled,
    /// wg ran but may not read the interfaces; the text says what to do.
    NotPermitted(String),
}

/// The command to run: root needs nothing, others `sudo -n` (never a password prompt).
pub fn command(sudo: bool) -> String {
    let wg = if sudo { "sudo -n wg" } else { "wg" };
    format!("command -v wg >/dev/null 2>&1 || exit {NOT_INSTALLED}; LC_ALL=C {wg} show all dump")
}

/// The WireGuard collector: `wg show all dump` every `tunnels_interval`.
struct Tunnels {
    link: std::sync::Arc<dyn Link>,
    interval: Duration,
    sudo: bool,
}

impl super::Collect for Tunnels {
    fn name(&self) -> String {
        "WireGuard".into()
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, super::Sample> {
        Box::pin(async { super::Sample::Tunnels(sample(&*self.link, self.sudo).await) })
    }
    fn fail(&self, error: CollectError) -> super::Sample {
        super::Sample::Tunnels(Err(error))
    }
}

pub fn collector(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Option<Box<dyn super::Collect>> {
    Some(Box::new(Tunnels {
        link: cx.link().clone(),
        interval: spec.tunnels_interval,
        sudo: spec.wg_sudo,
    }))
}

pub async fn sample(link: &dyn Link, sudo: bool) -> Result<TunnelsSnapshot, CollectError> {
    let out = link::run(link, &command(sudo), TIMEOUT).await?;
    let observed_at = Timestamp::now();
    let denied = |why: &str| {
        Ok(TunnelsSnapshot {
            access: WgAccess::NotPermitted(why.to_owned()),
            interfaces: Vec::new(),
            observed_at,
        })
    };
    match out.status.clone() {
        ExitStatus::Code(0) => {}
        ExitStatus::Code(NOT_INSTALLED) => {
            return Ok(TunnelsSnapshot {
                access: WgAccess::NotInstalled,
                interfaces: Vec::new(),
                observed_at,
            });
        }
        status => {
            let stderr = out.stderr_line();
            if stderr.contains("password is required") || stderr.starts_with("sudo:") {
                return denied(
                    "sudo needs a passwordless rule for wg on this host, e.g. `admin ALL=(root) NOPASSWD: /usr/bin/wg show *`",
                );
            }
            if stderr.contains("not permitted") || stderr.contains("Permission denied") {
                return denied(
                    "wg needs root: connect as root, or set wg_sudo = true for this host (with a passwordless sudo rule for wg)",
                );
            }
            return Err(CollectError::Command {
                command: "wg show all dump".into(),
                status,
                stderr,
            });
        }
    }
    let interfaces =
        parse_dump(&out.stdout_text()).map_err(|m| CollectError::parse("wg show all dump", m))?;
    Ok(TunnelsSnapshot {
        access: WgAccess::Ok,
        interfaces,
        observed_at,
    })
}

/// Parses `wg show all dump`: tab-separated; interface lines have 5 fields (name, PRIVATE key,
/// public key, listen port, fwmark), peer lines 9 (name, public key, preshared key, endpoint,
/// allowed ips, latest handshake, rx, tx, persistent keepalive). See wg(8).
pub fn parse_dump(text: &str) -> Result<Vec<Interface>, String> {
    let mut interfaces: Vec<Interface> = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let number = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("line {}: not a number: {:?}", n + 1, plain(s)))
        };
        let none = |s: &str| (s != "(none)" && s != "off" && !s.is_empty()).then(|| plain(s));
        match f.len() {
            5 => interfaces.push(Interface {
                name: plain(f[0]),
                // f[1] is the interface's private key: deliberately not kept.
                public_key: plain(f[2]),
                listen_port: f[3].parse().ok(),
                peers: Vec::new(),
            }),
            9 => {
                let handshake = number(f[5])?;
                let peer = Peer {
                    public_key: plain(f[1]),
                    endpoint: none(f[3]),
                    allowed_ips: none(f[4]).unwrap_or_default(),
                    latest_handshake: (handshake > 0)
                        .then(|| Timestamp::from_second(i64::try_from(handshake).unwrap_or(0)).ok())
                        .flatten(),
                    rx_bytes: number(f[6])?,
                    tx_bytes: number(f[7])?,
                    keepalive_secs: f[8].parse().ok(),
                };
                let name = plain(f[0]);
                match interfaces.iter_mut().find(|i| i.name == name) {
                    Some(i) => i.peers.push(peer),
                    None => {
                        return Err(format!(
                            "line {}: a peer of {name} before its interface line",
                            n + 1
                        ));
                    }
                }
            }
            k => return Err(format!("line {}: {k} fields, expected 5 or 9", n + 1)),
        }
    }
    Ok(interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = "cPrIvAtEkEyDoNoTsHoWaAaAaAaAaAaAaAaAaAaAaAaA=";

    fn dump() -> String {
        [
            format!("wg0\t{PRIVATE}\tPuBkEyOfWg0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\t51820\toff"),
            "wg0\tPeErOnExxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\t(none)\t203.0.113.7:51820\t10.8.0.2/32\t1795000000\t123456\t654321\t25".into(),
            "wg0\tPeErTwOxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\t(none)\t(none)\t10.8.0.3/32,10.9.0.0/24\t0\t0\t0\toff".into(),
        ]
        .join("\n")
    }

    #[test]
    fn parses_interfaces_and_peers_without_keeping_the_private_key() {
        let ifs = parse_dump(&dump()).unwrap();
        assert_eq!(ifs.len(), 1);
        assert_eq!(
            (ifs[0].name.as_str(), ifs[0].listen_port),
            ("wg0", Some(51820))
        );
        let p = &ifs[0].peers;
        assert_eq!(p[0].endpoint.as_deref(), Some("203.0.113.7:51820"));
        assert_eq!(
            p[0].latest_handshake.map(|t| t.as_second()),
            Some(1_795_000_000)
        );
        assert_eq!(
            (p[0].rx_bytes, p[0].tx_bytes, p[0].keepalive_secs),
            (123_456, 654_321, Some(25))
        );
        assert_eq!(
            (
                p[1].endpoint.as_deref(),
                p[1].latest_handshake,
                p[1].keepalive_secs
            ),
            (None, None, None)
        );
        assert!(
            !format!("{ifs:?}").contains(PRIVATE),
            "the private key must not be kept"
        );
    }

    #[test]
    fn empty_dump_is_no_interfaces_and_garbage_is_an_error() {
        assert_eq!(parse_dump("").unwrap(), []);
        assert!(parse_dump("wg0\tx\ty").is_err());
        assert!(parse_dump("wg0\tpk\t(none)\t(none)\t(none)\tsoon\t0\t0\toff").is_err());
    }

    #[test]
    fn sudo_is_non_interactive() {
        assert!(command(true).contains("sudo -n wg show all dump"));
        assert!(!command(false).contains("sudo"));
    }
}
