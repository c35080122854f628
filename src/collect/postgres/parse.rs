//! Parses [`super::SNAPSHOT_SQL`]'s JSON into the model: the statement's field names and
//! units (seconds as floats) are private to this file. Pure.

use super::PgError;
use super::model::Snapshot;

/// Parses the text [`super::SNAPSHOT_SQL`] returns and orders the sessions.
pub fn parse(json: &str) -> Result<Snapshot, PgError> {
    let raw: raw::Snapshot = serde_json::from_str(json).map_err(|e| PgError::Parse {
        message: e.to_string(),
    })?;
    Ok(raw.into_model())
}

/// The JSON exactly as the SQL builds it: field names and units of the statement.
mod raw {
    use std::time::Duration;

    use jiff::Timestamp;
    use serde::Deserialize;

    use super::super::model::{self as m, Database, LockWait, Server, Slot};

    #[derive(Deserialize)]
    pub struct Snapshot {
        server: Server,
        total_connections: u32,
        own_sessions: u32,
        sessions: Vec<Session>,
        databases: Vec<Database>,
        replication: Replication,
    }

    #[derive(Deserialize)]
    struct Session {
        pid: i32,
        user: Option<String>,
        database: Option<String>,
        application: Option<String>,
        client: Option<String>,
        state: Option<String>,
        wait_event_type: Option<String>,
        wait_event: Option<String>,
        backend_start: Option<Timestamp>,
        xact_start: Option<Timestamp>,
        query_start: Option<Timestamp>,
        state_change: Option<Timestamp>,
        query: Option<String>,
        blocked_by: Option<Vec<i32>>,
        waiting_for: Option<LockWait>,
    }

    #[derive(Deserialize)]
    struct Replication {
        standbys: Vec<Standby>,
        receiver: Option<Receiver>,
        slots: Vec<Slot>,
    }

    #[derive(Deserialize)]
    struct Standby {
        pid: i32,
        name: Option<String>,
        client: Option<String>,
        user: Option<String>,
        state: Option<String>,
        sync_state: Option<String>,
        write_lag_s: Option<f64>,
        flush_lag_s: Option<f64>,
        replay_lag_s: Option<f64>,
        replay_lag_bytes: Option<i64>,
    }

    #[derive(Deserialize)]
    struct Receiver {
        wal_receiver: Option<WalReceiver>,
        receive_replay_lag_bytes: Option<i64>,
        replay_lag_s: Option<f64>,
        last_replayed_at: Option<Timestamp>,
    }

    #[derive(Deserialize)]
    struct WalReceiver {
        status: Option<String>,
        sender_host: Option<String>,
        sender_port: Option<i32>,
        slot: Option<String>,
        last_msg_at: Option<Timestamp>,
    }

    fn secs(s: Option<f64>) -> Option<Duration> {
        s.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok())
    }

    impl Snapshot {
        pub fn into_model(self) -> m::Snapshot {
            let now = self.server.now;
            let mut sessions: Vec<m::Session> =
                self.sessions.into_iter().map(Session::into_model).collect();
            sessions.sort_by_key(|s| {
                let rank = match s.state {
                    m::State::Active => 0,
                    m::State::IdleInTransaction | m::State::IdleInTransactionAborted => 1,
                    _ => 2,
                };
                let age = s
                    .query_duration(now)
                    .or_else(|| s.idle_in_transaction_for(now))
                    .unwrap_or_default();
                (rank, std::cmp::Reverse(age), s.pid)
            });
            let r = self.replication;
            m::Snapshot {
                server: self.server,
                sessions,
                databases: self.databases,
                replication: m::Replication {
                    standbys: r.standbys.into_iter().map(Standby::into_model).collect(),
                    receiver: r.receiver.map(Receiver::into_model),
                    slots: r.slots,
                },
                total_connections: self.total_connections,
                own_sessions: self.own_sessions,
            }
        }
    }

    impl Session {
        fn into_model(self) -> m::Session {
            m::Session {
                pid: self.pid,
                user: self.user,
                database: self.database,
                application: self.application.unwrap_or_default(),
                client: self.client,
                state: m::State::from_pg(self.state.as_deref()),
                wait_event_type: self.wait_event_type,
                wait_event: self.wait_event,
                backend_start: self.backend_start,
                xact_start: self.xact_start,
                query_start: self.query_start,
                state_change: self.state_change,
                query: self.query.unwrap_or_default(),
                blocked_by: self.blocked_by.unwrap_or_default(),
                waiting_for: self.waiting_for,
            }
        }
    }

    impl Standby {
        fn into_model(self) -> m::Standby {
            m::Standby {
                pid: self.pid,
                name: self.name,
                client: self.client,
                user: self.user,
                state: self.state,
                sync_state: self.sync_state,
                write_lag: secs(self.write_lag_s),
                flush_lag: secs(self.flush_lag_s),
                replay_lag: secs(self.replay_lag_s),
                replay_lag_bytes: self.replay_lag_bytes,
            }
        }
    }

    impl Receiver {
        fn into_model(self) -> m::Receiver {
            let w = self.wal_receiver;
            m::Receiver {
                status: w.as_ref().and_then(|w| w.status.clone()),
                sender_host: w.as_ref().and_then(|w| w.sender_host.clone()),
                sender_port: w.as_ref().and_then(|w| w.sender_port),
                slot: w.as_ref().and_then(|w| w.slot.clone()),
                last_msg_at: w.as_ref().and_then(|w| w.last_msg_at),
                receive_replay_lag_bytes: self.receive_replay_lag_bytes,
                replay_lag: secs(self.replay_lag_s),
                last_replayed_at: self.last_replayed_at,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;

    use super::*;
    use crate::collect::postgres::{
        APPLICATION_NAME, POOL_ALERT_PCT, QUERY_CHARS, Replication, SLOW_QUERY, SNAPSHOT_SQL,
        State, lock_tree,
    };

    /// SNAPSHOT_SQL's output on PostgreSQL 15 as superuser: A (pid 6650) holds an ACCESS
    /// EXCLUSIVE lock on t while it sleeps, B (6654, role app) waits for t holding a row of
    /// u, C (6665) waits for that row; an idle session, one idle in transaction, one in an
    /// aborted transaction, a sleeping query, and an idle psql named "watchfloor".
    const SUPERUSER: &str = include_str!("testdata/snapshot-superuser.json");
    /// The same moment seen by role app (no pg_monitor).
    const APP: &str = include_str!("testdata/snapshot-app.json");

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_a_superuser_snapshot() {
        let snap = parse(SUPERUSER).unwrap();
        let s = &snap.server;
        assert_eq!(s.version_num, 150020);
        assert!(s.version.starts_with("15."));
        assert_eq!(s.max_connections, 100);
        assert_eq!(s.superuser_reserved, 3);
        assert!(s.privileged);
        assert!(!s.in_recovery);
        assert_eq!(s.now, ts("2026-11-23T12:57:53.207595+00:00"));
        assert!(s.uptime() > Duration::from_secs(60));
        assert_eq!(snap.total_connections, 9);
        assert_eq!(snap.own_sessions, 2); // the snapshot's own and the idle "watchfloor"
        assert!(
            snap.sessions
                .iter()
                .all(|x| x.application != APPLICATION_NAME)
        );

        // Active first, longest query first; then idle in transaction; then the rest by pid.
        let order: Vec<(i32, &str)> = snap
            .sessions
            .iter()
            .map(|x| (x.pid, x.state.label()))
            .collect();
        assert_eq!(
            order,
            [
                (6650, "active"),
                (6654, "active"),
                (6665, "active"),
                (6680, "active"),
                (6678, "idle in transaction"),
                (6679, "idle in transaction (aborted)"),
                (6677, "idle"),
            ]
        );
        let c = snap.session(6665).unwrap();
        assert_eq!(c.blocked_by, [6654]);
        let wait = c.waiting_for.as_ref().unwrap();
        assert_eq!(
            (
                wait.locktype.as_str(),
                wait.mode.as_str(),
                wait.relation.as_deref()
            ),
            ("transactionid", "ShareLock", Some("u"))
        );
        assert!(c.waiting());
        assert_eq!(c.wait_start(), Some(ts("2026-11-23T12:57:38.098675+00:00")));
        let b = snap.session(6654).unwrap();
        assert_eq!(b.user.as_deref(), Some("app"));
        assert_eq!(b.client.as_deref(), Some("local"));
        let wait = b.waiting_for.as_ref().unwrap();
        assert_eq!(
            (wait.mode.as_str(), wait.relation.as_deref()),
            ("AccessShareLock", Some("t"))
        );
        let a = snap.session(6650).unwrap();
        assert!(!a.waiting());
        assert_eq!(a.query, "select pg_sleep(120);");
        assert!(a.query_duration(s.now).unwrap() > SLOW_QUERY);
        assert_eq!(a.idle_in_transaction_for(s.now), None);

        let idler = snap.session(6678).unwrap();
        assert_eq!(idler.database.as_deref(), Some("shop"));
        assert_eq!(idler.query_duration(s.now), None);
        let idle_for = idler.idle_in_transaction_for(s.now).unwrap();
        assert!(idle_for > Duration::from_secs(10) && idle_for < Duration::from_secs(20));

        let names: Vec<&str> = snap.databases.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["postgres", "secret", "shop", "template0", "template1"]
        );
        assert!(
            snap.databases
                .iter()
                .all(|d| d.size_bytes.unwrap() > 1_000_000)
        );
        assert_eq!(snap.replication, Replication::default());
    }

    #[test]
    fn counts_and_usage() {
        let snap = parse(SUPERUSER).unwrap();
        let c = snap.counts();
        assert_eq!(
            (c.active, c.waiting, c.idle_in_transaction, c.idle, c.other),
            (2, 2, 2, 1, 0)
        );
        let by_user: Vec<(&str, u32)> = c.by_user.iter().map(|(u, n)| (u.as_str(), *n)).collect();
        assert_eq!(by_user, [("ops", 3), ("app", 2), ("postgres", 2)]);
        assert_eq!(c.by_database[0], ("postgres".to_owned(), 5));
        assert!(c.by_application.contains(&("(none)".to_owned(), 1)));
        // 9 of 100 - 3 reserved.
        assert!((snap.usage_pct() - 9.0 * 100.0 / 97.0).abs() < 1e-9);
        assert!(snap.usage_pct() < POOL_ALERT_PCT);
    }

    #[test]
    fn a_low_privilege_snapshot_hides_other_roles_sessions() {
        let snap = parse(APP).unwrap();
        assert!(!snap.server.privileged);
        assert_eq!(snap.total_connections, 9);
        // Hidden rows still have a pid, user, database and application name.
        let a = snap.session(6650).unwrap();
        assert_eq!(a.state, State::Hidden);
        assert!(!a.is_visible());
        assert_eq!(a.user.as_deref(), Some("postgres"));
        assert_eq!(a.query, "<insufficient privilege>");
        assert_eq!(a.query_start, None);
        // Another console's session cannot be recognised when hidden: it is listed.
        assert!(
            snap.sessions
                .iter()
                .any(|x| x.application == APPLICATION_NAME)
        );
        // Its own sessions are complete.
        let b = snap.session(6654).unwrap();
        assert_eq!(b.query, "select * from t;");
        // No CONNECT on "secret": no size, and no error.
        let secret = snap.databases.iter().find(|d| d.name == "secret").unwrap();
        assert_eq!(secret.size_bytes, None);
        // The lock tree still works: pg_locks and pg_blocking_pids are open to all.
        let tree = lock_tree(&snap.sessions);
        let shape: Vec<(i32, usize)> = tree.iter().map(|r| (r.pid, r.depth)).collect();
        assert_eq!(shape, [(6650, 0), (6654, 1), (6665, 2)]);
        // Hidden sessions count as "other", except C, seen waiting through pg_locks.
        let c = snap.counts();
        assert_eq!((c.other, c.waiting), (5, 2));
    }

    #[test]
    fn lock_tree_of_the_captured_chain() {
        let snap = parse(SUPERUSER).unwrap();
        let tree = lock_tree(&snap.sessions);
        let shape: Vec<(i32, usize, usize)> =
            tree.iter().map(|r| (r.pid, r.depth, r.blocks)).collect();
        assert_eq!(shape, [(6650, 0, 2), (6654, 1, 1), (6665, 2, 0)]);
        assert_eq!(snap.sessions[tree[2].index].pid, 6665);
    }

    #[test]
    fn replication_and_nulls_parse() {
        let mut v: serde_json::Value = serde_json::from_str(SUPERUSER).unwrap();
        v["server"]["in_recovery"] = true.into();
        v["replication"] = serde_json::json!({
            "standbys": [
                {"pid": 10, "name": "db2", "client": "10.0.0.2", "user": "repl", "state": "streaming",
                 "sync_state": "async", "write_lag_s": 0.0015, "flush_lag_s": 0.002,
                 "replay_lag_s": 1.25, "replay_lag_bytes": 4096},
                {"pid": 11, "name": null, "client": null, "user": null, "state": null, "sync_state": null,
                 "write_lag_s": null, "flush_lag_s": null, "replay_lag_s": null, "replay_lag_bytes": null}
            ],
            "receiver": {"wal_receiver": null, "receive_replay_lag_bytes": null,
                         "replay_lag_s": 0, "last_replayed_at": null},
            "slots": [{"name": "old", "slot_type": "physical", "active": false, "retained_bytes": 123}]
        });
        let snap = parse(&v.to_string()).unwrap();
        assert!(snap.server.in_recovery);
        let r = &snap.replication;
        assert_eq!(r.standbys[0].replay_lag, Some(Duration::from_millis(1250)));
        assert_eq!(r.standbys[0].replay_lag_bytes, Some(4096));
        assert_eq!(r.standbys[1].write_lag, None);
        let rx = r.receiver.as_ref().unwrap();
        assert_eq!(
            (rx.status.as_deref(), rx.replay_lag),
            (None, Some(Duration::ZERO))
        );
        assert!(!r.slots[0].active);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(parse(""), Err(PgError::Parse { .. })));
        assert!(matches!(
            parse("{\"server\": 1}"),
            Err(PgError::Parse { .. })
        ));
        assert!(matches!(parse("null"), Err(PgError::Parse { .. })));
    }

    #[test]
    fn the_sql_agrees_with_the_constants() {
        assert!(SNAPSHOT_SQL.starts_with("/* watchfloor snapshot */\n"));
        assert!(SNAPSHOT_SQL.contains(&format!("a.application_name = '{APPLICATION_NAME}'")));
        assert!(SNAPSHOT_SQL.contains(&format!("left(a.query, {QUERY_CHARS})")));
        // One statement: a prepared statement cannot hold two.
        assert_eq!(SNAPSHOT_SQL.matches(';').count(), 0);
    }
}
