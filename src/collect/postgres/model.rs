//! What one refresh of a cluster shows (parsed in `parse` from [`super::SNAPSHOT_SQL`]'s JSON)
//! and the derived views the panes need (counts by state and owner, usage, durations). Pure: no I/O,
//! no clock — every duration is measured against the server's own `now`, because the admin's
//! machine and the host may disagree about the time and a query does not get slower because
//! the laptop's clock is ahead.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Pool usage at or above which the overview raises an alert (callers may use their own).
pub const POOL_ALERT_PCT: f64 = 90.0;
/// Active queries running longer than this are highlighted.
pub const SLOW_QUERY: Duration = Duration::from_millis(200);
/// Sessions idle in a transaction for longer than this are highlighted: they hold locks and
/// keep VACUUM from removing dead rows.
pub const IDLE_IN_TRANSACTION_ALERT: Duration = Duration::from_secs(30);
/// Transaction-ID age that is dangerous whatever the settings: 1.5 billion is 70 % of the
/// 2^31 horizon; PostgreSQL itself only starts warning 40 million before it and stops
/// accepting writes 3 million before it, too late for a VACUUM of a big database.
pub const XID_AGE_DANGER: i64 = 1_500_000_000;
/// The 2^31 transactions after which unfrozen rows would wrap around.
pub const XID_HORIZON: i64 = 1 << 31;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub server: Server,
    /// Client sessions except watchfloor's own (see `APPLICATION_NAME`): active ones first,
    /// longest-running query first; then idle in transaction, longest first; then the rest
    /// by pid.
    pub sessions: Vec<Session>,
    /// By name.
    pub databases: Vec<Database>,
    pub replication: Replication,
    /// Client backends, watchfloor's included: what max_connections limits.
    pub total_connections: u32,
    /// watchfloor's sessions counted in `total_connections` but left out of `sessions`.
    pub own_sessions: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// `server_version`, e.g. "15.20 (Debian 15.20-0+deb12u1)".
    pub version: String,
    /// `server_version_num`, e.g. 150020.
    pub version_num: u32,
    /// When the postmaster started.
    pub started_at: Timestamp,
    /// The server's clock when the snapshot was taken; the reference for every duration.
    pub now: Timestamp,
    pub max_connections: u32,
    /// `superuser_reserved_connections`.
    pub superuser_reserved: u32,
    /// `reserved_connections` (PostgreSQL 16+, for pg_use_reserved_connections), else 0.
    pub reserved: u32,
    pub autovacuum_freeze_max_age: i64,
    pub in_recovery: bool,
    /// The role watchfloor is connected as.
    pub user: String,
    /// Superuser or holding pg_read_all_stats (pg_monitor includes it): other roles'
    /// sessions, replication details and all database sizes are visible. When false, say
    /// "GRANT pg_monitor TO <user>" to see them.
    pub privileged: bool,
    /// The backend pid of watchfloor's own connection.
    pub own_pid: i32,
    /// Where the cluster keeps its data, when the role may read it (superuser or
    /// pg_read_all_settings): the disks pane shows the databases beside its filesystem.
    #[serde(default)]
    pub data_directory: Option<String>,
}

impl Server {
    pub fn uptime(&self) -> Duration {
        elapsed(self.started_at, self.now)
    }

    /// The version number alone: "15.20" of "15.20 (Debian 15.20-0+deb12u1)".
    pub fn short_version(&self) -> &str {
        self.version.split_whitespace().next().unwrap_or("?")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Active,
    Idle,
    IdleInTransaction,
    IdleInTransactionAborted,
    FastpathFunctionCall,
    Disabled,
    /// Another role's session we lack the privilege to see: no state, times or query.
    Hidden,
    Unknown(String),
}

impl State {
    /// From pg_stat_activity.state; NULL is a session we may not see.
    pub fn from_pg(s: Option<&str>) -> State {
        match s {
            None => State::Hidden,
            Some("active") => State::Active,
            Some("idle") => State::Idle,
            Some("idle in transaction") => State::IdleInTransaction,
            Some("idle in transaction (aborted)") => State::IdleInTransactionAborted,
            Some("fastpath function call") => State::FastpathFunctionCall,
            Some("disabled") => State::Disabled,
            Some(other) => State::Unknown(other.to_owned()),
        }
    }

    /// PostgreSQL's own words for the state ("idle in transaction"), "hidden" when unknown to us.
    pub fn label(&self) -> &str {
        match self {
            State::Active => "active",
            State::Idle => "idle",
            State::IdleInTransaction => "idle in transaction",
            State::IdleInTransactionAborted => "idle in transaction (aborted)",
            State::FastpathFunctionCall => "fastpath function call",
            State::Disabled => "disabled",
            State::Hidden => "hidden",
            State::Unknown(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    /// `application_name`, "" when the client set none.
    pub application: String,
    /// The client's address, "local" for a unix socket, None when hidden.
    pub client: Option<String>,
    pub state: State,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub backend_start: Option<Timestamp>,
    pub xact_start: Option<Timestamp>,
    pub query_start: Option<Timestamp>,
    pub state_change: Option<Timestamp>,
    /// The current (active) or last query, raw and cut at `QUERY_CHARS`: untrusted text the
    /// UI sanitises. "<insufficient privilege>" when hidden.
    pub query: String,
    /// pg_blocking_pids: the sessions this one waits for, the one holding the lock first.
    pub blocked_by: Vec<i32>,
    pub waiting_for: Option<LockWait>,
}

/// The lock a session is waiting to get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockWait {
    /// e.g. "AccessExclusiveLock", "ShareLock".
    pub mode: String,
    /// e.g. "relation", "transactionid" (a row lock), "tuple", "advisory".
    pub locktype: String,
    /// The table, as `regclass` prints it (schema-qualified when not on the search_path);
    /// "table N of database D" for a table of another database; for a row lock, the row's
    /// table.
    pub relation: Option<String>,
    /// When the wait began (PostgreSQL 14+).
    pub since: Option<Timestamp>,
}

impl Session {
    /// How long the running query has run: only for an active session.
    pub fn query_duration(&self, now: Timestamp) -> Option<Duration> {
        match self.state {
            State::Active | State::FastpathFunctionCall => {
                self.query_start.map(|t| elapsed(t, now))
            }
            _ => None,
        }
    }

    /// How long the session has sat idle inside a transaction (aborted or not).
    pub fn idle_in_transaction_for(&self, now: Timestamp) -> Option<Duration> {
        match self.state {
            State::IdleInTransaction | State::IdleInTransactionAborted => {
                self.state_change.map(|t| elapsed(t, now))
            }
            _ => None,
        }
    }

    /// How long the current transaction has been open.
    pub fn transaction_age(&self, now: Timestamp) -> Option<Duration> {
        self.xact_start.map(|t| elapsed(t, now))
    }

    /// Waiting for a heavyweight lock (blocked by another session).
    pub fn waiting(&self) -> bool {
        !self.blocked_by.is_empty() || self.wait_event_type.as_deref() == Some("Lock")
    }

    /// When the lock wait began: its own start (PostgreSQL 14+), else the query's start.
    pub fn wait_start(&self) -> Option<Timestamp> {
        if !self.waiting() {
            return None;
        }
        self.waiting_for
            .as_ref()
            .and_then(|w| w.since)
            .or(self.query_start)
    }

    /// How long the session has waited for its lock.
    pub fn wait_duration(&self, now: Timestamp) -> Option<Duration> {
        self.wait_start().map(|t| elapsed(t, now))
    }

    pub fn is_visible(&self) -> bool {
        self.state != State::Hidden
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    /// None when the role may not see it (no CONNECT privilege and no pg_read_all_stats).
    pub size_bytes: Option<i64>,
    /// age(datfrozenxid): transactions since the oldest unfrozen row.
    pub xid_age: i64,
    /// mxid_age(datminmxid), the same for multixacts.
    pub mxid_age: i64,
    pub allows_connections: bool,
}

/// How close a database is to transaction-ID wraparound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Wraparound {
    Ok,
    /// Older than twice autovacuum_freeze_max_age: the anti-wraparound autovacuum that
    /// starts at 1× has not caught up (blocked by a long transaction, a stale replication
    /// slot, a prepared transaction, or too slow).
    Lagging,
    /// Older than [`XID_AGE_DANGER`].
    Danger,
}

impl Database {
    /// Percent of the 2^31 horizon used.
    pub fn xid_pct(&self) -> f64 {
        self.xid_age.max(self.mxid_age) as f64 * 100.0 / XID_HORIZON as f64
    }

    pub fn wraparound(&self, autovacuum_freeze_max_age: i64) -> Wraparound {
        let age = self.xid_age.max(self.mxid_age);
        if age > XID_AGE_DANGER {
            Wraparound::Danger
        } else if age > autovacuum_freeze_max_age.saturating_mul(2) {
            Wraparound::Lagging
        } else {
            Wraparound::Ok
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    /// On a primary (or a cascading standby): the standbys streaming from it.
    pub standbys: Vec<Standby>,
    /// On a standby: how far it is behind. None on a primary.
    pub receiver: Option<Receiver>,
    pub slots: Vec<Slot>,
}

/// One row of pg_stat_replication. Without privileges only `pid` is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standby {
    pub pid: i32,
    /// Its application_name (the standby's cluster_name or the one in primary_conninfo).
    pub name: Option<String>,
    pub client: Option<String>,
    pub user: Option<String>,
    /// "streaming", "catchup", "startup", "backup", "stopping".
    pub state: Option<String>,
    /// "async", "sync", "potential", "quorum".
    pub sync_state: Option<String>,
    pub write_lag: Option<Duration>,
    pub flush_lag: Option<Duration>,
    pub replay_lag: Option<Duration>,
    /// WAL bytes the standby has not replayed yet.
    pub replay_lag_bytes: Option<i64>,
}

/// The standby's side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    /// pg_stat_wal_receiver.status ("streaming", …); None when no WAL receiver runs
    /// (archive recovery, or the primary is unreachable).
    pub status: Option<String>,
    pub sender_host: Option<String>,
    pub sender_port: Option<i32>,
    pub slot: Option<String>,
    pub last_msg_at: Option<Timestamp>,
    /// Received but not yet replayed WAL.
    pub receive_replay_lag_bytes: Option<i64>,
    /// now − the commit time of the last replayed transaction; zero when all received WAL
    /// is replayed.
    pub replay_lag: Option<Duration>,
    pub last_replayed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub name: String,
    /// "physical" or "logical".
    pub slot_type: String,
    pub active: bool,
    /// WAL kept on the primary for this slot: an inactive slot's grows until the disk fills.
    pub retained_bytes: Option<i64>,
}

/// Sessions by state and by owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Running, not waiting for a lock.
    pub active: u32,
    pub idle: u32,
    /// Including aborted transactions.
    pub idle_in_transaction: u32,
    /// Waiting for a lock (whatever the state says).
    pub waiting: u32,
    /// Hidden (no privilege), fastpath, disabled.
    pub other: u32,
    /// (name, sessions), most sessions first, then by name. "(unknown)" when hidden.
    pub by_database: Vec<(String, u32)>,
    pub by_user: Vec<(String, u32)>,
    /// "(none)" for sessions without an application_name.
    pub by_application: Vec<(String, u32)>,
}

impl Snapshot {
    /// Counts over [`Snapshot::sessions`] (watchfloor's own are not in them).
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        let (mut db, mut user, mut app) = (HashMap::new(), HashMap::new(), HashMap::new());
        for s in &self.sessions {
            match s.state {
                _ if s.waiting() => c.waiting += 1,
                State::Active => c.active += 1,
                State::Idle => c.idle += 1,
                State::IdleInTransaction | State::IdleInTransactionAborted => {
                    c.idle_in_transaction += 1
                }
                _ => c.other += 1,
            }
            let unknown = || "(unknown)".to_owned();
            *db.entry(s.database.clone().unwrap_or_else(unknown))
                .or_insert(0) += 1;
            *user
                .entry(s.user.clone().unwrap_or_else(unknown))
                .or_insert(0) += 1;
            let a = if s.application.is_empty() {
                "(none)".to_owned()
            } else {
                s.application.clone()
            };
            *app.entry(a).or_insert(0) += 1;
        }
        c.by_database = ranked(db);
        c.by_user = ranked(user);
        c.by_application = ranked(app);
        c
    }

    /// Client connections in percent of what ordinary roles may open:
    /// max_connections − superuser_reserved − reserved. Past that, a non-superuser gets
    /// "remaining connection slots are reserved", so that is when applications fail; the
    /// value can exceed 100 when superusers use the reserved slots.
    pub fn usage_pct(&self) -> f64 {
        let s = &self.server;
        let usable = s
            .max_connections
            .saturating_sub(s.superuser_reserved)
            .saturating_sub(s.reserved);
        if usable == 0 {
            return 100.0;
        }
        self.total_connections as f64 * 100.0 / usable as f64
    }

    pub fn session(&self, pid: i32) -> Option<&Session> {
        self.sessions.iter().find(|s| s.pid == pid)
    }
}

fn ranked(map: HashMap<String, u32>) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// `now − then`, zero when `then` is in the future (a timestamp taken a moment after `now`).
pub fn elapsed(then: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraparound_levels() {
        let db = |age| Database {
            name: "d".into(),
            size_bytes: None,
            xid_age: age,
            mxid_age: 0,
            allows_connections: true,
        };
        assert_eq!(db(250_000_000).wraparound(200_000_000), Wraparound::Ok);
        assert_eq!(db(400_000_001).wraparound(200_000_000), Wraparound::Lagging);
        assert_eq!(
            db(1_600_000_000).wraparound(1_000_000_000),
            Wraparound::Danger
        );
        assert!((db(XID_HORIZON / 2).xid_pct() - 50.0).abs() < 1e-9);
    }
}
