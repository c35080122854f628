//! PostgreSQL clusters on a host: tokio-postgres over a stream the [`Link`] opens (the unix
//! socket, so peer auth sees the SSH login user, or a TCP address as seen from the host).
//! A refresh is one statement, [`SNAPSHOT_SQL`] (in `sql`), in one round trip; the model is in
//! `model`, its parser in `parse`, the lock tree in `locks`, password sources in `password`.
//! This file does the I/O and the collector (one per cluster); the runner decides when.
//! [`PgError::retryable`] tells it whether trying again soon can help.

mod locks;
mod model;
mod parse;
mod password;
mod sql;

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::link::{Link, LinkError};
use crate::lock;

pub use locks::{TreeRow, lock_tree};
pub use model::{
    Counts, Database, IDLE_IN_TRANSACTION_ALERT, LockWait, POOL_ALERT_PCT, Receiver, Replication,
    SLOW_QUERY, Server, Session, Slot, Snapshot, Standby, State, Wraparound, XID_AGE_DANGER,
    XID_HORIZON, elapsed,
};
pub use parse::parse;
pub use password::{PasswordSource, lookup as pgpass_lookup, resolve as resolve_password};
pub use sql::{APPLICATION_NAME, QUERY_CHARS, SNAPSHOT_SQL};

/// The default socket of Debian's and Red Hat's packages.
pub const DEFAULT_SOCKET: &str = "/var/run/postgresql/.s.PGSQL.5432";
/// Bound on a whole connect: password command, stream, startup and authentication.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one snapshot, cancel or terminate, as seen from here. The server stops a statement
/// itself at the same bound (statement_timeout), so a slow one does not pile up behind.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often database sizes are measured (the other numbers come every refresh).
const SIZES_EVERY: Duration = Duration::from_secs(60);
/// Sent as startup options: the server ends our statements after 10 s and gives up waiting
/// for a lock on a catalog after 2 s (a VACUUM FULL of pg_database must not hang the pane).
const SESSION_OPTIONS: &str = "-c statement_timeout=10000 -c lock_timeout=2000";

/// A session to signal, as it was when it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub pid: i32,
    pub backend_start: Option<jiff::Timestamp>,
    pub query_start: Option<jiff::Timestamp>,
}

/// Where the cluster listens, as seen from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The socket file, e.g. [`DEFAULT_SOCKET`].
    Unix(String),
    Tcp {
        host: String,
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => f.write_str(path),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// One cluster to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conninfo {
    /// The cluster's name in the config, for messages.
    pub name: String,
    pub endpoint: Endpoint,
    /// The role; the config's default is the SSH login user, so peer auth works.
    pub user: String,
    pub dbname: String,
    /// None: no password is sent (peer or trust authentication).
    pub password: Option<PasswordSource>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    /// The server refused who we are: retrying will not help until the config, pg_hba.conf
    /// or the password changes.
    #[error("{cluster}: {message}")]
    Auth { cluster: String, message: String },
    /// Our side is wrong (no password available, a database that does not exist).
    #[error("{cluster}: {message}")]
    Config { cluster: String, message: String },
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The server reported an error: it is starting up or shutting down, is out of
    /// connection slots, or refused a statement.
    #[error("{cluster}: {message}")]
    Server { cluster: String, message: String },
    #[error("{cluster}: the connection to PostgreSQL closed (server restarted or link lost)")]
    Closed { cluster: String },
    #[error("{cluster}: {what} timed out after {}s", after.as_secs())]
    Timeout {
        cluster: String,
        what: String,
        after: Duration,
    },
    /// The snapshot's JSON did not have the expected shape: a bug, or a server we do not
    /// support.
    #[error("unexpected snapshot from PostgreSQL: {message}")]
    Parse { message: String },
}

impl PgError {
    /// Whether connecting again later may succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        !matches!(
            self,
            PgError::Auth { .. } | PgError::Config { .. } | PgError::Parse { .. }
        )
    }
}

/// A connection to one cluster. Dropping it closes the connection (its task gets a few
/// seconds to say goodbye to the server, then is stopped).
pub struct PgSession {
    client: Client,
    own_pid: i32,
    cluster: String,
    connection: tokio::task::JoinHandle<()>,
    /// [`SNAPSHOT_SQL`], prepared once: a refresh is then Bind/Execute only, without the
    /// parse and plan the server would otherwise repeat every time.
    snapshot: Option<tokio_postgres::Statement>,
    /// Database sizes from the last refresh that asked for them, and when that was.
    sizes: std::sync::Mutex<(Option<tokio::time::Instant>, HashMap<String, i64>)>,
}

/// One PostgreSQL snapshot and how long its round trip took.
#[derive(Debug)]
pub struct PgSample {
    pub snapshot: Box<Snapshot>,
    pub took: Duration,
    pub observed_at: jiff::Timestamp,
}

/// One cluster's collector: keeps its monitoring session between refreshes (and shares it for
/// cancels), drops it after a failure so the next refresh reconnects.
struct Cluster {
    index: usize,
    spec: crate::config::PgSpec,
    link: std::sync::Arc<dyn Link>,
    clients: std::sync::Arc<super::clients::Clients>,
    session: Option<std::sync::Arc<PgSession>>,
    /// The last failure may fix itself (a restart), or needs a person (a refused login).
    retryable: bool,
}

impl Cluster {
    async fn refresh(&mut self) -> Result<PgSample, PgError> {
        let session = match self.session.take().filter(|s| !s.is_closed()) {
            Some(s) => s,
            None => {
                let s = std::sync::Arc::new(connect(&*self.link, &self.spec.target).await?);
                self.clients.set_postgres(self.index, Some(s.clone()));
                s
            }
        };
        let started = tokio::time::Instant::now();
        let snapshot = session.snapshot().await?;
        // A session whose statement timed out may still have it queued: keep only good ones.
        self.session = Some(session);
        Ok(PgSample {
            snapshot: Box::new(snapshot),
            took: started.elapsed(),
            // Our clock, like every other collector's: the server's may be off.
            observed_at: jiff::Timestamp::now(),
        })
    }
}

impl super::Collect for Cluster {
    fn name(&self) -> String {
        format!("PostgreSQL {}", self.spec.target.name)
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.spec.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, super::Sample> {
        Box::pin(async {
            let result = self.refresh().await;
            if let Err(e) = &result {
                self.retryable = e.retryable();
                self.clients.set_postgres(self.index, None);
            }
            super::Sample::Postgres {
                cluster: self.index,
                result: result.map_err(super::CollectError::from),
            }
        })
    }
    fn fail(&self, error: super::CollectError) -> super::Sample {
        super::Sample::Postgres {
            cluster: self.index,
            result: Err(error),
        }
    }
    // A refused login will not fix itself soon; try again now and then anyway, since someone
    // may be fixing pg_hba.conf right now.
    fn retry_after(&self, _failed: &super::Sample) -> Option<Duration> {
        (!self.retryable).then_some(Duration::from_secs(60))
    }
}

/// One collector per `[[host.postgres]]` cluster.
pub fn collectors(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Vec<Box<dyn super::Collect>> {
    spec.postgres
        .iter()
        .enumerate()
        .map(|(index, pg)| {
            Box::new(Cluster {
                index,
                spec: pg.clone(),
                link: cx.link().clone(),
                clients: cx.clients.clone(),
                session: None,
                retryable: true,
            }) as Box<dyn super::Collect>
        })
        .collect()
}

/// Connects to `target` through `link`, as application_name [`APPLICATION_NAME`], without
/// TLS (the link is the host itself or an SSH channel). Bounded by [`CONNECT_TIMEOUT`].
pub async fn connect(link: &dyn Link, target: &Conninfo) -> Result<PgSession, PgError> {
    connect_bounded(link, target, true).await
}

/// A session for statements of its own (a restore drill's), without the snapshot statement.
pub async fn connect_plain(link: &dyn Link, target: &Conninfo) -> Result<PgSession, PgError> {
    connect_bounded(link, target, false).await
}

async fn connect_bounded(
    link: &dyn Link,
    target: &Conninfo,
    monitor: bool,
) -> Result<PgSession, PgError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_unbounded(link, target, monitor))
        .await
        .unwrap_or_else(|_| {
            Err(PgError::Timeout {
                cluster: target.name.clone(),
                what: format!("connecting to {} on {}", target.endpoint, link.host()),
                after: CONNECT_TIMEOUT,
            })
        })
}

async fn connect_unbounded(
    link: &dyn Link,
    target: &Conninfo,
    monitor: bool,
) -> Result<PgSession, PgError> {
    let password = password::resolve(target).await?;
    let stream = match &target.endpoint {
        Endpoint::Unix(path) => link.open_unix(path).await?,
        Endpoint::Tcp { host, port } => link.open_tcp(host, *port).await?,
    };
    let mut cfg = tokio_postgres::Config::new();
    // Always set: unset, tokio-postgres would use the *local* OS user's name.
    cfg.user(&target.user)
        .dbname(&target.dbname)
        .application_name(APPLICATION_NAME)
        .options(SESSION_OPTIONS);
    if let Some(pw) = &password {
        cfg.password(pw);
    }
    let (client, conn) = cfg
        .connect_raw(stream, NoTls)
        .await
        .map_err(|e| connect_error(target, password.is_some(), &e))?;
    let cluster = target.name.clone();
    let name = cluster.clone();
    let connection = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(cluster = %name, error = %describe(&e), "postgres connection ended");
        }
    });
    let mut session = PgSession {
        client,
        own_pid: 0,
        cluster,
        connection,
        snapshot: None,
        sizes: Default::default(),
    };
    if !monitor {
        let pid = session.one_value("SELECT pg_backend_pid()").await?;
        session.own_pid = pid.parse().map_err(|_| PgError::Parse {
            message: format!("pg_backend_pid() returned {pid:?}"),
        })?;
        return Ok(session);
    }
    // Both in one round trip: tokio-postgres pipelines requests made together.
    let prepare = async {
        tokio::time::timeout(QUERY_TIMEOUT, session.client.prepare(SNAPSHOT_SQL))
            .await
            .map_err(|_| PgError::Timeout {
                cluster: session.cluster.clone(),
                what: "preparing the snapshot statement".to_owned(),
                after: QUERY_TIMEOUT,
            })?
            .map_err(|e| query_error(&session.cluster, &e))
    };
    let (pid, statement) =
        futures_util::future::try_join(session.one_value("SELECT pg_backend_pid()"), prepare)
            .await?;
    session.snapshot = Some(statement);
    session.own_pid = pid.parse().map_err(|_| PgError::Parse {
        message: format!("pg_backend_pid() returned {pid:?}"),
    })?;
    Ok(session)
}

impl PgSession {
    /// One refresh: the prepared [`SNAPSHOT_SQL`] in a single round trip, parsed. Database
    /// sizes are measured every [`SIZES_EVERY`] and carried over in between.
    /// After a [`PgError::Timeout`] the statement may still be queued: drop the session.
    pub async fn snapshot(&self) -> Result<Snapshot, PgError> {
        let Some(statement) = &self.snapshot else {
            return Err(PgError::Closed {
                cluster: self.cluster.clone(),
            });
        };
        // The attempt counts even if it fails: a measurement that times out is not retried
        // on every refresh.
        let with_sizes = {
            let mut sizes = lock(&self.sizes);
            let due = sizes.0.is_none_or(|at| at.elapsed() >= SIZES_EVERY);
            if due {
                sizes.0 = Some(tokio::time::Instant::now());
            }
            due
        };
        let what = "the snapshot statement";
        let row = tokio::time::timeout(
            QUERY_TIMEOUT,
            self.client.query_one(statement, &[&with_sizes]),
        )
        .await
        .map_err(|_| PgError::Timeout {
            cluster: self.cluster.clone(),
            what: what.to_owned(),
            after: QUERY_TIMEOUT,
        })?
        .map_err(|e| query_error(&self.cluster, &e))?;
        let json: String = row.try_get(0).map_err(|e| PgError::Parse {
            message: format!("{what}: {}", describe(&e)),
        })?;
        let mut snap = parse(&json)?;
        let mut sizes = lock(&self.sizes);
        if with_sizes {
            sizes.1 = snap
                .databases
                .iter()
                .filter_map(|d| Some((d.name.clone(), d.size_bytes?)))
                .collect();
        } else {
            for d in &mut snap.databases {
                d.size_bytes = sizes.1.get(&d.name).copied();
            }
        }
        Ok(snap)
    }

    /// pg_cancel_backend: stops the query `pid` runs (an idle session is not affected); if
    /// it runs inside a transaction block, the transaction is aborted and its locks go.
    /// False when `pid` is not a backend (it ended) or is our own connection. An error when
    /// the role may not signal it (needs the same role, pg_signal_backend or superuser).
    pub async fn cancel(&self, pid: i32) -> Result<bool, PgError> {
        self.signal_pid(pid, false).await
    }

    /// pg_terminate_backend: ends the session `pid` (its transaction is rolled back). As
    /// [`PgSession::cancel`] for the result.
    pub async fn terminate(&self, pid: i32) -> Result<bool, PgError> {
        self.signal_pid(pid, true).await
    }

    /// [`PgSession::signal_backend`] for whatever session has `pid` now.
    async fn signal_pid(&self, pid: i32, terminate: bool) -> Result<bool, PgError> {
        let backend = Backend {
            pid,
            backend_start: None,
            query_start: None,
        };
        Ok(self.signal_backend(&backend, terminate).await? == Some(true))
    }

    /// Cancels the query of (or terminates) `backend`, but only if it is still the session
    /// that was chosen: a pid is reused by the OS, and a pooler's server connection serves the
    /// next client with the same pid, so the session's start (and, for a cancel, its query's
    /// start) must still match. Ok(None): it does not any more, nothing was sent; Ok(Some(false)):
    /// PostgreSQL refused (not permitted, or the backend just ended).
    pub async fn signal_backend(
        &self,
        backend: &Backend,
        terminate: bool,
    ) -> Result<Option<bool>, PgError> {
        if backend.pid == self.own_pid {
            return Ok(Some(false));
        }
        let function = if terminate {
            "pg_terminate_backend"
        } else {
            "pg_cancel_backend"
        };
        // Only an i32 and timestamps jiff printed are formatted in: nothing to inject.
        let mut sql = format!(
            "SELECT {function}(pid) FROM pg_stat_activity WHERE pid = {}",
            backend.pid
        );
        let starts = [("backend_start", backend.backend_start)]
            .into_iter()
            .chain((!terminate).then_some(("query_start", backend.query_start)));
        for (column, at) in starts {
            if let Some(at) = at {
                sql.push_str(&format!(" AND {column} = '{at}'::timestamptz"));
            }
        }
        let messages = tokio::time::timeout(QUERY_TIMEOUT, self.client.simple_query(&sql))
            .await
            .map_err(|_| PgError::Timeout {
                cluster: self.cluster.clone(),
                what: format!("{function}({})", backend.pid),
                after: QUERY_TIMEOUT,
            })?
            .map_err(|e| query_error(&self.cluster, &e))?;
        Ok(messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(matches!(row.try_get(0), Ok(Some("t")))),
            _ => None,
        }))
    }

    /// True once the connection has ended (server restart, link lost): reconnect.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Our backend's pid on the server.
    pub fn own_pid(&self) -> i32 {
        self.own_pid
    }

    /// Runs `sql` (one statement, simple protocol) and returns the first column of its first
    /// row as text; None for no row or NULL. Bounded by `timeout` here; the server's own
    /// statement_timeout is raised to match first.
    pub async fn value(&self, sql: &str, timeout: Duration) -> Result<Option<String>, PgError> {
        let set = format!("SET statement_timeout = {}", timeout.as_millis());
        self.first_value(&set, timeout).await?;
        self.first_value(sql, timeout).await
    }

    /// Runs `sql` with the simple query protocol and returns the first column of its only
    /// row as text.
    async fn one_value(&self, sql: &str) -> Result<String, PgError> {
        let what = sql.lines().next().unwrap_or(sql);
        self.first_value(sql, QUERY_TIMEOUT)
            .await?
            .ok_or_else(|| PgError::Parse {
                message: format!("`{what}` returned no value"),
            })
    }

    async fn first_value(&self, sql: &str, timeout: Duration) -> Result<Option<String>, PgError> {
        let what = crate::text::fit(sql.lines().next().unwrap_or(sql), 60);
        let messages = tokio::time::timeout(timeout, self.client.simple_query(sql))
            .await
            .map_err(|_| PgError::Timeout {
                cluster: self.cluster.clone(),
                what: format!("`{what}`"),
                after: timeout,
            })?
            .map_err(|e| query_error(&self.cluster, &e))?;
        let row = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        });
        // try_get, not get: get panics on text that is not UTF-8 (query text of a database
        // with another encoding can be).
        match row.map(|r| r.try_get(0)) {
            Some(Ok(v)) => Ok(v.map(str::to_owned)),
            Some(Err(e)) => Err(PgError::Parse {
                message: format!("`{what}`: {}", describe(&e)),
            }),
            None => Ok(None),
        }
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        // The client is dropped right after this, which makes the connection send Terminate
        // and end by itself; a dead link could keep it waiting forever, hence the deadline.
        let abort = self.connection.abort_handle();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    abort.abort();
                });
            }
            Err(_) => abort.abort(),
        }
    }
}

/// The text of a tokio-postgres error: the server's message and detail for a server error
/// (its Display is only "db error"), else the error and its cause.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        };
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn query_error(cluster: &str, e: &tokio_postgres::Error) -> PgError {
    let cluster = cluster.to_owned();
    if e.is_closed() {
        return PgError::Closed { cluster };
    }
    match e.as_db_error() {
        Some(_) => PgError::Server {
            cluster,
            message: describe(e),
        },
        // I/O errors end the connection too.
        None => PgError::Closed { cluster },
    }
}

/// Classifies a failed startup. SQLSTATE class 28 is authentication; 3D000 an unknown
/// database; everything else from the server (57P03 starting up, 53300 too many clients)
/// is transient.
fn connect_error(target: &Conninfo, had_password: bool, e: &tokio_postgres::Error) -> PgError {
    let cluster = target.name.clone();
    let user = &target.user;
    let Some(db) = e.as_db_error() else {
        let text = describe(e);
        if text.contains("password missing") && !had_password {
            return PgError::Auth {
                cluster,
                message: format!(
                    "the server asks a password for role {user}: give the cluster a password source \
                     (a pgpass file, an environment variable or a password_command), or allow peer \
                     authentication for it in pg_hba.conf"
                ),
            };
        }
        // The stream failed or ended during startup (the server went away or the link did),
        // or the client cannot do what the server asks (an authentication method it lacks):
        // say which, the text tells them apart.
        if text.contains("authentication") || text.contains("unsupported") {
            return PgError::Auth {
                cluster,
                message: format!(
                    "{text}: allow scram-sha-256, md5, password, peer or trust for role {user} in pg_hba.conf"
                ),
            };
        }
        return PgError::Server {
            cluster,
            message: format!("connecting failed: {text}"),
        };
    };
    let message = db.message();
    let code = db.code().code();
    if code == "3D000" {
        return PgError::Config {
            cluster,
            message: format!("{message}: set the cluster's dbname to one that exists"),
        };
    }
    if !code.starts_with("28") {
        return PgError::Server {
            cluster,
            message: describe(e),
        };
    }
    let lower = message.to_lowercase();
    let advice = if lower.contains("peer authentication failed") {
        format!(
            "PostgreSQL sees the SSH login user, not role {user}: connect as the SSH login user \
             (a role of the same name), or map it to {user} in pg_ident.conf"
        )
    } else if lower.contains("password authentication failed") {
        match &target.password {
            Some(source) => format!("check the password from {}", source.describe()),
            None => "give the cluster a password source".to_owned(),
        }
    } else if lower.contains("no pg_hba.conf entry") {
        format!(
            "add a line for role {user} and this connection to pg_hba.conf on the host, then reload PostgreSQL"
        )
    } else if lower.contains("does not exist") {
        format!("create role {user} or set the cluster's user to an existing role")
    } else {
        "check the cluster's user and pg_hba.conf".to_owned()
    };
    PgError::Auth {
        cluster,
        message: format!("{message} ({} via {}): {advice}", user, target.endpoint),
    }
}
