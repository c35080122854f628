//! The PostgreSQL pane's model: per cluster, a header, its alerts, the blocking-lock tree,
//! the sessions worth looking at (not idle), then databases and replication. Pure.

use super::alerts::{Domain, Rules, Severity};
use std::time::Duration;

use super::hosts::{Cluster, HostState};
use crate::collect::postgres::{
    Database, Session, Snapshot, Standby, State, TreeRow, Wraparound, lock_tree,
};
use crate::event::HostId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Cluster(HostId, usize),
    Note(HostId, usize, usize),
    Heading(HostId, usize, &'static str),
    Tree(HostId, usize, i32),
    Session(HostId, usize, i32),
    Database(HostId, usize, String),
    Standby(HostId, usize, i32),
}

impl RowKey {
    /// The backend a row stands for: what cancel and terminate aim at.
    pub fn backend(&self) -> Option<(HostId, usize, i32)> {
        match self {
            RowKey::Tree(h, c, pid) | RowKey::Session(h, c, pid) => Some((*h, *c, *pid)),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum Row<'a> {
    Cluster(&'a HostState, &'a Cluster),
    Note(Severity, String),
    Heading(&'static str),
    Tree {
        session: &'a Session,
        tree: TreeRow,
        now: jiff::Timestamp,
    },
    Session {
        session: &'a Session,
        level: Severity,
        now: jiff::Timestamp,
    },
    Database {
        db: &'a Database,
        level: Severity,
    },
    Standby(&'a Standby),
}

#[derive(Debug, Clone, Default)]
pub struct PostgresView {
    pub selection: super::list::Selection<RowKey>,
    /// How the SESSIONS section is ordered (`o` / `O`); the lock tree keeps its shape.
    pub sort: SessionSort,
    /// The session whose full query is shown (Enter), until Esc.
    pub detail: Option<(HostId, usize, i32)>,
    pub filter: super::Filter,
}

impl PostgresView {
    pub fn keys(&self, hosts: &[&HostState]) -> Vec<RowKey> {
        rows(hosts, &self.filter.text, self.sort)
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}

impl super::pane::PaneState for PostgresView {
    super::pane::filter_field!();
    fn contexts(&self) -> &'static [crate::config::keymap::Context] {
        use crate::config::keymap::Context;
        &[Context::List, Context::Postgres]
    }
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        if self.detail.is_none() {
            let keys = self.keys(&cx.hosts);
            self.selection.move_by(&keys, delta);
        }
    }
    /// Enter on a session shows its full query.
    fn open(&mut self, cx: &super::pane::Ctx<'_>) -> Option<super::pane::Nav> {
        let keys = self.keys(&cx.hosts);
        self.detail = keys
            .get(self.selection.index(&keys))
            .and_then(RowKey::backend);
        None
    }
    fn back(&mut self) -> bool {
        self.detail.take().is_some()
    }
    fn sort(&mut self, reverse: bool) -> Option<String> {
        if reverse {
            self.sort.reverse = !self.sort.reverse;
        } else {
            let at = SessionSort::BY
                .iter()
                .position(|b| *b == self.sort.by)
                .unwrap_or(0);
            self.sort = SessionSort {
                by: SessionSort::BY[(at + 1) % SessionSort::BY.len()],
                reverse: false,
            };
        }
        Some(format!(
            "sessions sorted by {}{}",
            self.sort.by,
            if self.sort.reverse { ", reversed" } else { "" }
        ))
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        use crate::config::keymap::Action;
        &[
            (Action::Open, "query"),
            (Action::Sort, "sort"),
            (Action::Cancel, "cancel query"),
            (Action::Terminate, "terminate"),
        ]
    }
}

/// The SESSIONS section's order: by how long the query (else the session) has run, longest
/// first, by default; then PID, user, database, application, state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSort {
    pub by: &'static str,
    pub reverse: bool,
}

impl Default for SessionSort {
    fn default() -> Self {
        SessionSort {
            by: "time",
            reverse: false,
        }
    }
}

impl SessionSort {
    const BY: [&'static str; 6] = ["time", "pid", "user", "database", "application", "state"];

    fn order(self, a: &Session, b: &Session) -> std::cmp::Ordering {
        let since = |s: &Session| s.query_start.or(s.xact_start).or(s.backend_start);
        let o = match self.by {
            "pid" => a.pid.cmp(&b.pid),
            "user" => a.user.cmp(&b.user),
            "database" => a.database.cmp(&b.database),
            "application" => a.application.cmp(&b.application),
            "state" => short_state_rank(&a.state).cmp(&short_state_rank(&b.state)),
            // Oldest start first: the longest running on top.
            _ => since(a).cmp(&since(b)),
        }
        .then(a.pid.cmp(&b.pid));
        if self.reverse { o.reverse() } else { o }
    }
}

/// Waiting and idle-in-transaction first: what holds others up.
fn short_state_rank(s: &State) -> u8 {
    match s {
        State::IdleInTransactionAborted => 0,
        State::IdleInTransaction => 1,
        State::Active => 2,
        _ => 3,
    }
}

/// Every cluster of the shown hosts. A filter keeps sessions whose user, database,
/// application, client or query contain it (clusters whose name does keep all).
pub fn rows<'a>(
    hosts: &[&'a HostState],
    filter: &str,
    sort: SessionSort,
) -> Vec<(RowKey, Row<'a>)> {
    let filter = filter.to_lowercase();
    let mut rows = Vec::new();
    for host in hosts {
        for (c, cluster) in host.postgres.iter().enumerate() {
            let id = host.id;
            let whole = filter.is_empty()
                || cluster.name().to_lowercase().contains(&filter)
                || host.name.to_lowercase().contains(&filter);
            rows.push((RowKey::Cluster(id, c), Row::Cluster(host, cluster)));
            let Some(snap) = cluster.observed.latest() else {
                continue;
            };
            for (i, (level, text)) in alerts(cluster, snap).into_iter().enumerate() {
                rows.push((RowKey::Note(id, c, i), Row::Note(level, text)));
            }
            let now = snap.server.now;
            let keep = |s: &Session| whole || matches(s, &filter);
            let tree: Vec<TreeRow> = lock_tree(&snap.sessions);
            if tree.iter().any(|t| keep(&snap.sessions[t.index])) {
                rows.push((RowKey::Heading(id, c, "locks"), Row::Heading("BLOCKING")));
                for t in tree {
                    let session = &snap.sessions[t.index];
                    rows.push((
                        RowKey::Tree(id, c, session.pid),
                        Row::Tree {
                            session,
                            tree: t,
                            now,
                        },
                    ));
                }
            }
            let mut busy: Vec<&Session> = snap
                .sessions
                .iter()
                .filter(|s| s.state != State::Idle && keep(s))
                .collect();
            busy.sort_by(|a, b| sort.order(a, b));
            if !busy.is_empty() {
                rows.push((RowKey::Heading(id, c, "sessions"), Row::Heading("SESSIONS")));
            }
            for s in busy {
                let level = session_severity(cluster, s, now);
                rows.push((
                    RowKey::Session(id, c, s.pid),
                    Row::Session {
                        session: s,
                        level,
                        now,
                    },
                ));
            }
            if !whole {
                continue;
            }
            if !snap.replication.standbys.is_empty() {
                rows.push((RowKey::Heading(id, c, "standbys"), Row::Heading("STANDBYS")));
                rows.extend(
                    snap.replication
                        .standbys
                        .iter()
                        .map(|s| (RowKey::Standby(id, c, s.pid), Row::Standby(s))),
                );
            }
            rows.push((RowKey::Heading(id, c, "dbs"), Row::Heading("DATABASES")));
            for db in &snap.databases {
                let level = match db.wraparound(snap.server.autovacuum_freeze_max_age) {
                    Wraparound::Danger => Severity::Crit,
                    Wraparound::Lagging => Severity::Warn,
                    _ => Severity::Ok,
                };
                rows.push((
                    RowKey::Database(id, c, db.name.clone()),
                    Row::Database { db, level },
                ));
            }
        }
    }
    rows
}

fn matches(s: &Session, filter: &str) -> bool {
    [
        s.user.as_deref(),
        s.database.as_deref(),
        Some(s.application.as_str()),
        s.client.as_deref(),
        Some(s.query.as_str()),
    ]
    .into_iter()
    .flatten()
    .any(|f| f.to_lowercase().contains(filter))
}

/// Connections in use against the cluster's pool alert (and 80 % as an early warning).
pub fn pool_severity(cluster: &Cluster, usage_pct: f64) -> Severity {
    if usage_pct >= cluster.spec.pool_alert_pct {
        Severity::Crit
    } else if usage_pct >= 80.0_f64.min(cluster.spec.pool_alert_pct) {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// Slow queries and long idle transactions against the cluster's thresholds.
pub fn session_severity(cluster: &Cluster, s: &Session, now: jiff::Timestamp) -> Severity {
    let over = |d: Option<Duration>, limit: Duration| d.is_some_and(|d| d > limit);
    if s.waiting()
        || over(
            s.idle_in_transaction_for(now),
            cluster.spec.idle_in_transaction,
        )
    {
        Severity::Crit
    } else if over(s.query_duration(now), cluster.spec.slow_query) {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// The cluster's verdicts for the alerts: sessions waiting for a lock, then [`alerts`].
pub fn cluster_alerts(
    index: usize,
    cluster: &Cluster,
    snap: &Snapshot,
    stale: Option<Duration>,
    rules: &mut Rules<'_>,
) {
    let name = cluster.name();
    let waiting: Vec<&Session> = snap.sessions.iter().filter(|s| s.waiting()).collect();
    if !waiting.is_empty() {
        // Since the oldest wait began, where the server says.
        let since = waiting.iter().filter_map(|s| s.state_change).min();
        rules.at(super::alerts::Row::Cluster(index)).push(
            Domain::Postgres,
            Severity::Crit,
            format!(
                "{name}: {} session{} wait for a lock (see the lock tree)",
                waiting.len(),
                if waiting.len() == 1 { "" } else { "s" }
            ),
            since,
            stale,
        );
    }
    for (severity, what) in alerts(cluster, snap) {
        rules.at(super::alerts::Row::Cluster(index)).push(
            Domain::Postgres,
            severity,
            format!("{name}: {what}"),
            None,
            stale,
        );
    }
}

/// What needs saying about a cluster, worst first: pool exhaustion, wraparound, lagging
/// standbys, long idle transactions, and what a role without pg_monitor cannot see.
pub fn alerts(cluster: &Cluster, snap: &Snapshot) -> Vec<(Severity, String)> {
    let mut out = Vec::new();
    let usage = snap.usage_pct();
    if usage >= cluster.spec.pool_alert_pct {
        out.push((
            Severity::Crit,
            format!(
                "connection pool at {usage:.0}%: {} of {} connections in use (alert at {:.0}%)",
                snap.total_connections, snap.server.max_connections, cluster.spec.pool_alert_pct
            ),
        ));
    }
    for db in &snap.databases {
        match db.wraparound(snap.server.autovacuum_freeze_max_age) {
            Wraparound::Danger => out.push((
                Severity::Crit,
                format!(
                    "database {} is at xid age {} ({:.0}% of wraparound): VACUUM (FREEZE) it now",
                    db.name,
                    db.xid_age,
                    db.xid_pct()
                ),
            )),
            Wraparound::Lagging => out.push((
                Severity::Warn,
                format!(
                    "database {} xid age {} is past twice autovacuum_freeze_max_age: is autovacuum keeping up?",
                    db.name, db.xid_age
                ),
            )),
            _ => {}
        }
    }
    let now = snap.server.now;
    let idle_tx = snap
        .sessions
        .iter()
        .filter(|s| {
            s.idle_in_transaction_for(now)
                .is_some_and(|d| d > cluster.spec.idle_in_transaction)
        })
        .count();
    if idle_tx > 0 {
        out.push((
            Severity::Warn,
            format!(
                "{idle_tx} session{} idle in transaction for over {}",
                if idle_tx == 1 { "" } else { "s" },
                crate::text::age(cluster.spec.idle_in_transaction)
            ),
        ));
    }
    if !snap.server.privileged {
        out.push((
            Severity::Warn,
            format!(
                "role {} sees only its own sessions' details: GRANT pg_monitor TO {} to see all",
                snap.server.user, snap.server.user
            ),
        ));
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::containers::tests::fleet_host;
    use crate::collect::postgres::PgSample;
    use crate::collect::postgres::{self, Conninfo, Endpoint};
    use crate::config::PgSpec;
    use crate::event::HostEvent;

    fn spec() -> PgSpec {
        PgSpec {
            target: Conninfo {
                name: "main".into(),
                endpoint: Endpoint::Unix(postgres::DEFAULT_SOCKET.into()),
                user: "root".into(),
                dbname: "postgres".into(),
                password: None,
            },
            interval: Duration::from_secs(2),
            slow_query: Duration::from_millis(200),
            idle_in_transaction: Duration::from_secs(30),
            pool_alert_pct: 90.0,
        }
    }

    /// A host with one cluster whose snapshot is the recorded fixture.
    pub fn pg_host(fixture: &str) -> HostState {
        let mut h = fleet_host(0, "db1");
        h.postgres = vec![Cluster {
            spec: spec(),
            observed: super::super::hosts::Observed::polled(Duration::from_secs(2)),
        }];
        let snapshot = postgres::parse(fixture).expect("fixture parses");
        let at = snapshot.server.now;
        h.apply(
            HostEvent::Sample(crate::collect::Sample::Postgres {
                cluster: 0,
                result: Ok(PgSample {
                    snapshot: Box::new(snapshot),
                    took: Duration::from_millis(3),
                    observed_at: at,
                }),
            }),
            at,
        );
        h
    }

    #[test]
    fn o_orders_the_sessions_by_the_next_column() {
        let h = pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        let pids = |sort: SessionSort| -> Vec<i32> {
            rows(&[&h], "", sort)
                .into_iter()
                .filter_map(|(k, _)| match k {
                    RowKey::Session(_, _, pid) => Some(pid),
                    _ => None,
                })
                .collect()
        };
        let mut view = PostgresView::default();
        assert_eq!(view.sort.by, "time");
        use super::super::pane::PaneState;
        assert_eq!(view.sort(false).as_deref(), Some("sessions sorted by pid"));
        let by_pid = pids(view.sort);
        let mut sorted = by_pid.clone();
        sorted.sort_unstable();
        assert_eq!(by_pid, sorted);
        view.sort(true);
        let mut reversed = sorted.clone();
        reversed.reverse();
        assert_eq!(pids(view.sort), reversed);
        for _ in 0..4 {
            view.sort(false);
        }
        assert_eq!(view.sort.by, "state");
        // Idle in transaction (aborted, then plain) before active.
        let states: Vec<String> = rows(&[&h], "", view.sort)
            .into_iter()
            .filter_map(|(_, r)| match r {
                Row::Session { session, .. } => Some(format!("{:?}", session.state)),
                _ => None,
            })
            .collect();
        assert_eq!(
            states.first().map(String::as_str),
            Some("IdleInTransactionAborted"),
            "{states:?}"
        );
    }

    #[test]
    fn a_chain_shows_as_a_tree_before_the_sessions() {
        let h = pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        let rows = rows(&[&h], "", SessionSort::default());
        let tree: Vec<(i32, usize)> = rows
            .iter()
            .filter_map(|(_, r)| match r {
                Row::Tree { session, tree, .. } => Some((session.pid, tree.depth)),
                _ => None,
            })
            .collect();
        assert!(tree.len() >= 3, "{tree:?}");
        let depths: Vec<usize> = tree.iter().map(|t| t.1).collect();
        assert_eq!(
            &depths[..3],
            &[0, 1, 2],
            "root, its waiter, the waiter's waiter"
        );
        let heading = |name| {
            rows.iter()
                .position(|(k, _)| matches!(k, RowKey::Heading(_, _, n) if *n == name))
        };
        assert!(heading("locks") < heading("sessions"));
        assert!(heading("sessions") < heading("dbs"));
        // Idle sessions are counted in the header, not listed.
        assert!(rows.iter().all(
            |(_, r)| !matches!(r, Row::Session { session, .. } if session.state == State::Idle)
        ));
    }

    #[test]
    fn a_filter_keeps_matching_sessions_and_drops_the_rest() {
        let h = pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        let all = rows(&[&h], "", SessionSort::default()).len();
        let some = rows(&[&h], "zz-no-such-thing", SessionSort::default());
        assert!(some.len() < all);
        assert!(
            some.iter()
                .all(|(k, _)| matches!(k, RowKey::Cluster(..) | RowKey::Note(..)))
        );
    }
}
