//! Redis, reached over the link like PostgreSQL: a stream to its socket or address as the host
//! sees it, `AUTH` when a password is configured, then `INFO`. The wire protocol (RESP) is a
//! few lines for two commands, so no client crate: the `redis` crate would bring its own
//! connection management for streams we already own. A connection per sample: it is cheap
//! (one channel on the open SSH session) and never goes stale between samples.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::postgres::Endpoint;
use super::{CollectError, Sample};
use crate::config::redis::RedisSpec;
use crate::link::Link;

/// A reply larger than this is refused (INFO is a few KiB).
const REPLY_CAP: usize = 1 << 20;
/// Connect, authenticate and read INFO within this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What INFO said, the fields the pane and the alerts use.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RedisInfo {
    pub version: String,
    /// "master" or "slave", as Redis says it.
    pub role: String,
    pub uptime_secs: u64,
    pub connected_clients: u64,
    /// None: an older server that does not report it in INFO.
    pub maxclients: Option<u64>,
    pub used_memory: u64,
    /// None: no limit set.
    pub maxmemory: Option<u64>,
    pub maxmemory_policy: String,
    /// Keys evicted since the server started.
    pub evicted_keys: u64,
    pub rdb_last_save: Option<Timestamp>,
    pub rdb_changes_since_last_save: u64,
    pub rdb_last_bgsave_ok: bool,
    pub aof_enabled: bool,
    pub aof_last_write_ok: bool,
    pub aof_last_rewrite_ok: bool,
    /// On a replica: whether its link to the primary is up, and seconds since it last heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_link_up: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_last_io_secs: Option<u64>,
    /// On a primary: its replicas as it sees them.
    pub replicas: Vec<Replica>,
    pub observed_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replica {
    /// "ip:port".
    pub addr: String,
    pub state: String,
    /// Seconds since the replica last acknowledged.
    pub lag_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    /// The server refused who we are: fix the password source or the ACL.
    #[error("{name}: {message}")]
    Auth { name: String, message: String },
    /// No password could be had on this machine.
    #[error("{name}: {message}")]
    Config { name: String, message: String },
    /// It did not answer, or answered something that is not RESP.
    #[error("{name}: {message}")]
    Protocol { name: String, message: String },
    /// It answered with an error (loading the dataset, a busy script).
    #[error("{name}: {message}")]
    Server { name: String, message: String },
}

struct Collector {
    index: usize,
    spec: RedisSpec,
    link: Arc<dyn Link>,
}

impl super::Collect for Collector {
    fn name(&self) -> String {
        format!("Redis {}", self.spec.name)
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.spec.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Sample> {
        Box::pin(async {
            Sample::Redis {
                index: self.index,
                result: info(&*self.link, &self.spec).await.map(Box::new),
            }
        })
    }
    fn fail(&self, error: CollectError) -> Sample {
        Sample::Redis {
            index: self.index,
            result: Err(error),
        }
    }
    /// A server that is down is looked at again at its interval, not after a growing backoff:
    /// "back up" should show as soon as it is.
    fn retry_after(&self, _failed: &Sample) -> Option<Duration> {
        Some(self.spec.interval)
    }
}

pub fn collectors(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Vec<Box<dyn super::Collect>> {
    spec.redis
        .iter()
        .enumerate()
        .map(|(index, r)| {
            Box::new(Collector {
                index,
                spec: r.clone(),
                link: cx.link().clone(),
            }) as Box<dyn super::Collect>
        })
        .collect()
}

/// Connects, authenticates and reads INFO once.
pub async fn info(link: &dyn Link, spec: &RedisSpec) -> Result<RedisInfo, CollectError> {
    let name = spec.name.clone();
    let password = match &spec.password {
        Some(source) => Some(source.read().await.map_err(|message| RedisError::Config {
            name: name.clone(),
            message,
        })?),
        None => None,
    };
    let work = async {
        let stream = match &spec.endpoint {
            Endpoint::Unix(path) => link.open_unix(path).await?,
            Endpoint::Tcp { host, port } => link.open_tcp(host, *port).await?,
        };
        let mut conn = BufReader::new(stream);
        if let Some(pw) = &password {
            let mut args = vec!["AUTH"];
            args.extend(spec.user.as_deref());
            args.push(pw);
            let reply = command(&mut conn, &args)
                .await
                .map_err(|m| proto(&name, m))?;
            if let Reply::Error(e) = reply {
                return Err(RedisError::Auth {
                    name: name.clone(),
                    message: format!(
                        "the server refused the password from {}: {}",
                        describe(spec),
                        crate::sanitize::plain(&e)
                    ),
                }
                .into());
            }
        }
        match command(&mut conn, &["INFO"])
            .await
            .map_err(|m| proto(&name, m))?
        {
            Reply::Bulk(text) => Ok(parse_info(&text, Timestamp::now())),
            Reply::Error(e) if e.starts_with("NOAUTH") => Err(RedisError::Auth {
                name: name.clone(),
                message: "the server asks for a password: set password_env, password_command or password_file".into(),
            }
            .into()),
            Reply::Error(e) => Err(RedisError::Server {
                name: name.clone(),
                message: crate::sanitize::plain(&e),
            }
            .into()),
            Reply::Simple(_) => Err(proto(&name, "INFO answered without a body".into()).into()),
        }
    };
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(CollectError::Late {
            what: format!("Redis {name}"),
            after: TIMEOUT,
        }),
    }
}

fn describe(spec: &RedisSpec) -> String {
    match &spec.password {
        Some(crate::collect::secret::SecretSource::Env(v)) => format!("${v}"),
        Some(crate::collect::secret::SecretSource::Command(_)) => "password_command".into(),
        Some(crate::collect::secret::SecretSource::File(p)) => p.display().to_string(),
        None => "nowhere".into(),
    }
}

fn proto(name: &str, message: String) -> RedisError {
    RedisError::Protocol {
        name: name.to_owned(),
        message,
    }
}

impl From<RedisError> for CollectError {
    fn from(e: RedisError) -> Self {
        CollectError::Redis(e)
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Bulk(String),
}

/// Sends one command as a RESP array and reads its reply.
async fn command<S>(conn: &mut BufReader<S>, args: &[&str]) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let w = conn.get_mut();
    w.write_all(&out).await.map_err(|e| format!("write: {e}"))?;
    w.flush().await.map_err(|e| format!("write: {e}"))?;
    read_reply(conn).await
}

async fn read_reply(conn: &mut (impl AsyncBufRead + Unpin)) -> Result<Reply, String> {
    let mut line = Vec::new();
    let n = (&mut *conn)
        .take(4096)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 {
        return Err("the server closed the connection (not Redis, or it refused us)".into());
    }
    let text = String::from_utf8_lossy(&line);
    let text = text.trim_end_matches(['\r', '\n']);
    let (kind, rest) = text.split_at(text.len().min(1));
    match kind {
        "+" | ":" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| format!("bad bulk length {rest:?}"))?;
            let Ok(len) = usize::try_from(len) else {
                return Ok(Reply::Bulk(String::new())); // $-1: nil
            };
            if len > REPLY_CAP {
                return Err(format!("a reply of {len} bytes (more than 1 MiB)"));
            }
            let mut body = vec![0; len + 2];
            conn.read_exact(&mut body)
                .await
                .map_err(|e| format!("read: {e}"))?;
            body.truncate(len);
            Ok(Reply::Bulk(String::from_utf8_lossy(&body).into_owned()))
        }
        _ => Err(format!(
            "the server answered {:?}, which is not RESP: is this Redis?",
            crate::sanitize::plain(&text.chars().take(40).collect::<String>())
        )),
    }
}

/// INFO's "key:value" lines, the fields we use.
fn parse_info(text: &str, now: Timestamp) -> RedisInfo {
    let mut info = RedisInfo {
        observed_at: now,
        rdb_last_bgsave_ok: true,
        aof_last_write_ok: true,
        aof_last_rewrite_ok: true,
        ..RedisInfo::default()
    };
    let num = |v: &str| v.trim().parse::<u64>().unwrap_or(0);
    for line in text.lines() {
        let Some((key, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        match key {
            "redis_version" => info.version = crate::sanitize::plain(value),
            "role" => info.role = crate::sanitize::plain(value),
            "uptime_in_seconds" => info.uptime_secs = num(value),
            "connected_clients" => info.connected_clients = num(value),
            "maxclients" => info.maxclients = Some(num(value)),
            "used_memory" => info.used_memory = num(value),
            "maxmemory" => info.maxmemory = Some(num(value)).filter(|m| *m > 0),
            "maxmemory_policy" => info.maxmemory_policy = crate::sanitize::plain(value),
            "evicted_keys" => info.evicted_keys = num(value),
            "rdb_last_save_time" => {
                info.rdb_last_save = value
                    .parse::<i64>()
                    .ok()
                    .filter(|t| *t > 0)
                    .and_then(|t| Timestamp::from_second(t).ok());
            }
            "rdb_changes_since_last_save" => info.rdb_changes_since_last_save = num(value),
            "rdb_last_bgsave_status" => info.rdb_last_bgsave_ok = value == "ok",
            "aof_enabled" => info.aof_enabled = value == "1",
            "aof_last_write_status" => info.aof_last_write_ok = value == "ok",
            "aof_last_bgrewrite_status" => info.aof_last_rewrite_ok = value == "ok",
            "master_link_status" => info.primary_link_up = Some(value == "up"),
            "master_last_io_seconds_ago" => {
                info.primary_last_io_secs =
                    value.parse::<i64>().ok().and_then(|v| v.try_into().ok());
            }
            k if k.starts_with("slave") && k[5..].chars().all(|c| c.is_ascii_digit()) => {
                // slave0:ip=10.0.0.2,port=6379,state=online,offset=123,lag=0
                let field = |name: &str| {
                    value.split(',').find_map(|kv| {
                        kv.split_once('=')
                            .filter(|(k, _)| *k == name)
                            .map(|(_, v)| crate::sanitize::plain(v))
                    })
                };
                info.replicas.push(Replica {
                    addr: format!(
                        "{}:{}",
                        field("ip").unwrap_or_default(),
                        field("port").unwrap_or_default()
                    ),
                    state: field("state").unwrap_or_default(),
                    lag_secs: field("lag").map_or(0, |l| num(&l)),
                });
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:3600\r\n\
        # Clients\r\nconnected_clients:12\r\nmaxclients:10000\r\n\
        # Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\
        # Persistence\r\nrdb_changes_since_last_save:5\r\nrdb_last_save_time:1700000000\r\n\
        rdb_last_bgsave_status:err\r\naof_enabled:0\r\naof_last_write_status:ok\r\n\
        # Stats\r\nevicted_keys:3\r\n\
        # Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
        slave0:ip=10.0.0.2,port=6380,state=online,offset=42,lag=1\r\n";

    #[test]
    fn info_fields_are_read() {
        let i = parse_info(INFO, Timestamp::UNIX_EPOCH);
        assert_eq!(
            (i.version.as_str(), i.role.as_str(), i.uptime_secs),
            ("7.0.15", "master", 3600)
        );
        assert_eq!((i.connected_clients, i.maxclients), (12, Some(10000)));
        assert_eq!((i.used_memory, i.maxmemory), (1 << 20, None));
        assert_eq!((i.evicted_keys, i.rdb_changes_since_last_save), (3, 5));
        assert!(!i.rdb_last_bgsave_ok && i.aof_last_write_ok && !i.aof_enabled);
        assert_eq!(i.rdb_last_save.unwrap().as_second(), 1_700_000_000);
        assert_eq!(
            i.replicas,
            [Replica {
                addr: "10.0.0.2:6380".into(),
                state: "online".into(),
                lag_secs: 1
            }]
        );
    }

    #[test]
    fn hostile_values_are_made_plain() {
        let i = parse_info(
            "redis_version:7\x1b]0;pwned\x07\r\nrole:\x1b[2Jmaster\r\n",
            Timestamp::UNIX_EPOCH,
        );
        assert!(
            !i.version.contains('\x1b') && !i.role.contains('\x1b'),
            "{i:?}"
        );
    }

    #[tokio::test]
    async fn replies_are_read_and_garbage_refused() {
        let read = |bytes: &'static [u8]| async move { read_reply(&mut &bytes[..]).await };
        assert_eq!(read(b"+OK\r\n").await, Ok(Reply::Simple("OK".into())));
        assert_eq!(
            read(b"-WRONGPASS invalid\r\n").await,
            Ok(Reply::Error("WRONGPASS invalid".into()))
        );
        assert_eq!(read(b"$3\r\nabc\r\n").await, Ok(Reply::Bulk("abc".into())));
        assert!(
            read(b"SSH-2.0-OpenSSH\r\n")
                .await
                .unwrap_err()
                .contains("not RESP")
        );
        assert!(
            read(b"$99999999\r\n")
                .await
                .unwrap_err()
                .contains("more than 1 MiB")
        );
        assert!(read(b"").await.unwrap_err().contains("closed"));
    }
}
