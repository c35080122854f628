//! The PostgreSQL collector against real clusters the harness starts (one per test), through
//! the local link and through real sshd: a three-level lock chain as a tree, unwound by cancel
//! and terminate; idle-in-transaction durations; a role without pg_monitor (passwords from a
//! pgpass file, an environment variable, a command); the errors that say what to fix; a
//! restart; a streaming standby; watchfloor's own sessions left out; the cost of a snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use common::postgres::{APP_PASSWORD, Postgres};
use watchfloor::collect::postgres::{
    Conninfo, Endpoint, PasswordSource, PgError, PgSession, Snapshot, State, connect, lock_tree,
};
use watchfloor::link::local::Local;
use watchfloor::link::{BoxFuture, ByteStream, Exec, Link, LinkError};

/// Role root over the unix socket: peer authentication, as an SSH login as root would get.
fn root_target(pg: &Postgres) -> Conninfo {
    Conninfo {
        name: "main".into(),
        endpoint: Endpoint::Unix(pg.socket_path()),
        user: "root".into(),
        dbname: "postgres".into(),
        password: None,
    }
}

fn app_target(endpoint: Endpoint, password: Option<PasswordSource>) -> Conninfo {
    Conninfo {
        name: "app".into(),
        endpoint,
        user: "app".into(),
        dbname: "appdb".into(),
        password,
    }
}

fn tcp(pg: &Postgres) -> Endpoint {
    Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: pg.port(),
    }
}

/// A pgpass line's field with libpq's escapes.
fn escape(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

fn write_pgpass(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Takes snapshots until one satisfies `check`, for at most 15 s.
async fn snapshot_until(
    session: &PgSession,
    what: &str,
    check: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let snap = session.snapshot().await.unwrap();
        if check(&snap) {
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn active_query(app: &str, like: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = '{app}' \
         AND state = 'active' AND query LIKE '{like}')"
    )
}

fn waiting_for_lock(app: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = '{app}' \
         AND wait_event_type = 'Lock')"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_chain_is_a_tree_and_cancel_then_terminate_unwind_it() {
    let pg = Postgres::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t (x int); CREATE TABLE u (id int PRIMARY KEY, v int); \
         INSERT INTO u VALUES (1, 0);",
    );
    // A holds t while running a query (a cancel only stops a running query: an idle holder
    // would keep its lock), B holds u's row and waits for t, C waits for the row.
    let mut a = pg.spawn_psql("postgres", "A");
    a.send("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);");
    pg.wait_until(
        "A to sleep holding t",
        &active_query("A", "SELECT pg_sleep%"),
    );
    let mut b = pg.spawn_psql("postgres", "B");
    b.send("BEGIN; UPDATE u SET v = 1 WHERE id = 1; SELECT * FROM t;");
    pg.wait_until("B to wait for t", &waiting_for_lock("B"));
    let mut c = pg.spawn_psql("postgres", "C");
    c.send("BEGIN; UPDATE u SET v = 2 WHERE id = 1;");
    pg.wait_until("C to wait for the row", &waiting_for_lock("C"));
    let (pa, pb, pc) = (pg.pid_of("A"), pg.pid_of("B"), pg.pid_of("C"));

    let link = Local::new("local");
    let session = connect(&link, &root_target(&pg)).await.unwrap();
    let snap = session.snapshot().await.unwrap();
    assert!(snap.server.privileged);
    // A superuser may read where the data is (the disks pane puts the databases beside it).
    let data = std::fs::canonicalize(pg.data()).unwrap();
    assert_eq!(
        snap.server
            .data_directory
            .as_deref()
            .map(std::path::Path::new),
        Some(data.as_path())
    );
    assert!(
        snap.session(session.own_pid()).is_none(),
        "our own session is listed"
    );
    assert!(snap.own_sessions >= 1);
    assert!(snap.total_connections >= 4);
    let tree = lock_tree(&snap.sessions);
    let shape: Vec<(i32, usize)> = tree.iter().map(|r| (r.pid, r.depth)).collect();
    assert_eq!(shape, [(pa, 0), (pb, 1), (pc, 2)]);
    assert_eq!(tree[0].blocks, 2);
    let now = snap.server.now;
    let sb = &snap.sessions[tree[1].index];
    let wb = sb.waiting_for.as_ref().unwrap();
    assert_eq!(
        (
            wb.locktype.as_str(),
            wb.mode.as_str(),
            wb.relation.as_deref()
        ),
        ("relation", "AccessShareLock", Some("t"))
    );
    assert!(sb.wait_duration(now).is_some());
    let sc = &snap.sessions[tree[2].index];
    let wc = sc.waiting_for.as_ref().unwrap();
    assert_eq!(
        (
            wc.locktype.as_str(),
            wc.mode.as_str(),
            wc.relation.as_deref()
        ),
        ("transactionid", "ShareLock", Some("u"))
    );
    assert!(snap.session(pa).unwrap().query_duration(now).is_some());

    // Cancel A: its sleep stops, its transaction aborts and t is free. B reads t and sits
    // idle in its transaction, still holding the row C wants.
    assert!(session.cancel(pa).await.unwrap());
    // A reports its aborted state a moment after its abort frees t for B: wait for both.
    let snap = snapshot_until(&session, "B to get t and A to show aborted", |s| {
        s.session(pb)
            .is_some_and(|b| b.state == State::IdleInTransaction)
            && s.session(pa)
                .is_some_and(|a| a.state == State::IdleInTransactionAborted)
    })
    .await;
    assert_eq!(
        snap.session(pa).unwrap().state,
        State::IdleInTransactionAborted
    );
    let shape: Vec<(i32, usize)> = lock_tree(&snap.sessions)
        .iter()
        .map(|r| (r.pid, r.depth))
        .collect();
    assert_eq!(shape, [(pb, 0), (pc, 1)]);

    // Terminate B: its session ends, its transaction rolls back, C gets the row.
    assert!(session.terminate(pb).await.unwrap());
    let snap = snapshot_until(&session, "C to get the row and idle", |s| {
        s.session(pb).is_none()
            && s.session(pc)
                .and_then(|c| c.idle_in_transaction_for(s.server.now))
                .is_some_and(|d| d >= Duration::from_secs(1))
    })
    .await;
    assert!(lock_tree(&snap.sessions).is_empty());
    let sc = snap.session(pc).unwrap();
    let idle = sc.idle_in_transaction_for(snap.server.now).unwrap();
    assert!(idle < Duration::from_secs(30), "{idle:?}");
    assert!(sc.transaction_age(snap.server.now).unwrap() >= idle);
    assert_eq!(sc.query_duration(snap.server.now), None);

    // Nothing to signal: a session that ended, our own.
    assert!(!session.cancel(pb).await.unwrap());
    assert!(!session.terminate(session.own_pid()).await.unwrap());
    assert!(!session.is_closed());
    drop((a, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_pg_monitor_sees_other_sessions_hidden() {
    let pg = Postgres::start();
    let mut work = pg.spawn_psql("postgres", "secretwork");
    work.send("SELECT pg_sleep(600);");
    pg.wait_until(
        "the superuser's query",
        &active_query("secretwork", "SELECT pg_sleep%"),
    );
    let link = Local::new("local");
    let dir = tempfile::tempdir().unwrap();

    // A pgpass file over TCP: comments, a line for another database, then ours.
    let pw = escape(APP_PASSWORD);
    let text = format!(
        "# watchfloor test\n127.0.0.1:*:otherdb:app:wrong\n127.0.0.1:{}:appdb:app:{pw}\n*:*:*:*:wrong\n",
        pg.port()
    );
    let pgpass = write_pgpass(dir.path(), "pgpass", &text, 0o600);
    let target = app_target(tcp(&pg), Some(PasswordSource::Pgpass(pgpass.clone())));
    let session = connect(&link, &target).await.unwrap();
    let snap = session.snapshot().await.unwrap();
    assert!(!snap.server.privileged);
    assert_eq!(snap.server.user, "app");
    assert_eq!(
        snap.server.data_directory, None,
        "not readable without pg_read_all_settings"
    );
    let w = snap
        .sessions
        .iter()
        .find(|s| s.application == "secretwork")
        .expect("the superuser's session is listed, hidden");
    assert_eq!(w.state, State::Hidden);
    assert_eq!(w.query, "<insufficient privilege>");
    assert_eq!(w.user.as_deref(), Some("postgres"));
    assert_eq!(w.query_start, None);
    // Sizes of every database app may connect to (all of them here), and no error.
    assert!(
        snap.databases
            .iter()
            .any(|d| d.name == "appdb" && d.size_bytes.is_some())
    );
    assert!(snap.total_connections >= 2);

    // The unix socket: a pgpass host of "localhost" matches it.
    let text = format!("localhost:{}:*:app:{pw}\n", pg.port());
    let local = write_pgpass(dir.path(), "pgpass-local", &text, 0o600);
    let target = app_target(
        Endpoint::Unix(pg.socket_path()),
        Some(PasswordSource::Pgpass(local)),
    );
    connect(&link, &target)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();

    // A file others may read is refused, as libpq would, saying how to fix it.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let target = app_target(tcp(&pg), Some(PasswordSource::Pgpass(pgpass)));
    let err = connect(&link, &target).await.err().unwrap();
    assert!(matches!(err, PgError::Config { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert!(!err.retryable());

    // An environment variable. Tests may not set one (set_var is unsafe and the crate forbids
    // unsafe code), so a role gets the value of one that is always set as its password.
    let path = std::env::var("PATH").unwrap();
    pg.psql(
        "postgres",
        &format!(
            "CREATE ROLE envuser LOGIN PASSWORD '{}'",
            path.replace('\'', "''")
        ),
    );
    let mut target = app_target(tcp(&pg), Some(PasswordSource::Env("PATH".into())));
    target.user = "envuser".into();
    let snap = connect(&link, &target)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert!(!snap.server.privileged);

    // A password command.
    let cmd = format!("printf '%s\\nsecond line\\n' '{APP_PASSWORD}'");
    let target = app_target(tcp(&pg), Some(PasswordSource::Command(cmd)));
    connect(&link, &target).await.unwrap();

    // cancel of another role's query: PostgreSQL refuses, and says why.
    let err = session.cancel(pg.pid_of("secretwork")).await.err().unwrap();
    assert!(matches!(err, PgError::Server { .. }), "{err}");
    // "must be a superuser to cancel superuser query" (15), "permission denied to cancel
    // query (Only roles with the SUPERUSER attribute may cancel …)" (16+).
    assert!(
        err.to_string().to_lowercase().contains("superuser"),
        "{err}"
    );
    assert!(!session.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_say_what_to_fix_and_whether_to_retry() {
    let pg = Postgres::start();
    let link = Local::new("local");
    let expect = |err: PgError, retryable: bool, words: &[&str]| {
        assert_eq!(err.retryable(), retryable, "{err:?}");
        for w in words {
            assert!(err.to_string().contains(w), "{w:?} not in: {err}");
        }
    };

    // Peer auth as a role that is not the OS user.
    let mut t = root_target(&pg);
    t.user = "postgres".into();
    let err = connect(&link, &t).await.err().unwrap();
    assert!(matches!(err, PgError::Auth { .. }), "{err:?}");
    expect(err, false, &["Peer authentication failed", "pg_ident.conf"]);

    // The server wants a password and there is no source.
    let err = connect(&link, &app_target(tcp(&pg), None))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, PgError::Auth { .. }), "{err:?}");
    expect(err, false, &["asks a password", "pgpass"]);

    // A wrong password, from a command.
    let t = app_target(tcp(&pg), Some(PasswordSource::Command("echo wrong".into())));
    let err = connect(&link, &t).await.err().unwrap();
    expect(
        err,
        false,
        &[
            "password authentication failed",
            "password_command `echo wrong`",
        ],
    );

    // A failing command, an unset variable, a missing file.
    let t = app_target(
        tcp(&pg),
        Some(PasswordSource::Command(
            "echo vault is sealed >&2; exit 3".into(),
        )),
    );
    let err = connect(&link, &t).await.err().unwrap();
    assert!(matches!(err, PgError::Config { .. }), "{err:?}");
    expect(err, false, &["vault is sealed"]);
    let t = app_target(
        tcp(&pg),
        Some(PasswordSource::Env("WATCHFLOOR_TEST_UNSET_VARIABLE".into())),
    );
    expect(
        connect(&link, &t).await.err().unwrap(),
        false,
        &["WATCHFLOOR_TEST_UNSET_VARIABLE", "not set"],
    );
    let t = app_target(
        tcp(&pg),
        Some(PasswordSource::Pgpass("/nonexistent/pgpass".into())),
    );
    expect(
        connect(&link, &t).await.err().unwrap(),
        false,
        &["/nonexistent/pgpass"],
    );

    // A database that does not exist.
    let mut t = root_target(&pg);
    t.dbname = "nope".into();
    let err = connect(&link, &t).await.err().unwrap();
    assert!(matches!(err, PgError::Config { .. }), "{err:?}");
    expect(err, false, &["\"nope\" does not exist"]);

    // No server on that socket: the link's error, to be retried.
    let mut t = root_target(&pg);
    t.endpoint = Endpoint::Unix(format!("{}/.s.PGSQL.1", pg.dir().display()));
    let err = connect(&link, &t).await.err().unwrap();
    assert!(matches!(err, PgError::Link(_)), "{err:?}");
    assert!(err.retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_closes_the_session_and_connecting_again_works() {
    let mut pg = Postgres::start();
    let link = Local::new("local");
    let target = root_target(&pg);
    let session = connect(&link, &target).await.unwrap();
    let before = session.snapshot().await.unwrap();

    tokio::task::block_in_place(|| pg.shutdown());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !session.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the session did not notice the shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = session.snapshot().await.err().unwrap();
    assert!(matches!(err, PgError::Closed { .. }), "{err:?}");
    assert!(err.retryable());
    let err = connect(&link, &target).await.err().unwrap();
    assert!(err.retryable(), "{err:?}");

    tokio::task::block_in_place(|| pg.start_again());
    let session = connect(&link, &target).await.unwrap();
    let after = session.snapshot().await.unwrap();
    assert!(after.server.started_at > before.server.started_at);
    assert!(after.server.uptime() < before.server.uptime() + Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_sessions_are_left_out_and_a_snapshot_is_cheap() {
    let pg = Postgres::start();
    let mut sessions = Vec::new();
    for i in 0..20 {
        sessions.push(pg.spawn_psql("postgres", &format!("idle{i}")));
    }
    // Another console, idle: left out. Something calling itself watchfloor inside an open
    // transaction: listed, the name is no hiding place.
    sessions.push(pg.spawn_psql("postgres", "watchfloor"));
    let mut disguised = pg.spawn_psql("root", "watchfloor");
    disguised.send("BEGIN; SELECT 1;");
    pg.wait_until(
        "all 22 sessions",
        "SELECT count(*) = 22 FROM pg_stat_activity WHERE application_name ~ '^(idle|watchfloor)' \
         AND state IS NOT NULL",
    );
    let link = Local::new("local");
    let session = connect(&link, &root_target(&pg)).await.unwrap();
    let snap = snapshot_until(&session, "the disguised session idle in transaction", |s| {
        s.sessions
            .iter()
            .any(|x| x.application == "watchfloor" && x.state == State::IdleInTransaction)
    })
    .await;
    assert!(snap.session(session.own_pid()).is_none());
    let named: Vec<&State> = snap
        .sessions
        .iter()
        .filter(|x| x.application == "watchfloor")
        .map(|x| &x.state)
        .collect();
    assert_eq!(named, [&State::IdleInTransaction]);
    assert_eq!(snap.own_sessions, 2);
    assert!(snap.total_connections >= 23);
    let counts = snap.counts();
    assert!(counts.idle >= 20, "{counts:?}");
    assert_eq!(counts.by_user[0], ("postgres".to_owned(), 20));

    // The cost of one snapshot with ~25 sessions (over the socket, parse included).
    let n = 50;
    let start = Instant::now();
    for _ in 0..n {
        session.snapshot().await.unwrap();
    }
    let each = start.elapsed() / n;
    eprintln!(
        "one snapshot with {} sessions: {each:?}",
        snap.total_connections
    );
    assert!(each < Duration::from_millis(500), "{each:?}");
    drop((sessions, disguised));
}

/// The local link, counting the request flights on the streams it opens: a write after a
/// read (or the first write) starts a new round trip.
struct Counting {
    inner: Local,
    round_trips: Arc<AtomicUsize>,
}

struct CountedStream {
    inner: ByteStream,
    round_trips: Arc<AtomicUsize>,
    writing: AtomicBool,
}

impl Link for Counting {
    fn host(&self) -> &str {
        self.inner.host()
    }
    fn exec(&self, command: &str) -> BoxFuture<'_, Result<Exec, LinkError>> {
        self.inner.exec(command)
    }
    fn open_unix(&self, path: &str) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let inner = self.inner.open_unix(&path).await?;
            Ok(Box::new(CountedStream {
                inner,
                round_trips: self.round_trips.clone(),
                writing: AtomicBool::new(false),
            }) as ByteStream)
        })
    }
    fn open_tcp(&self, host: &str, port: u16) -> BoxFuture<'_, Result<ByteStream, LinkError>> {
        self.inner.open_tcp(host, port)
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.writing.store(false, Ordering::SeqCst);
        }
        r
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) && !self.writing.swap(true, Ordering::SeqCst) {
            self.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_and_a_cancel_are_one_round_trip_each() {
    let pg = Postgres::start();
    let round_trips = Arc::new(AtomicUsize::new(0));
    let link = Counting {
        inner: Local::new("local"),
        round_trips: round_trips.clone(),
    };
    let session = connect(&link, &root_target(&pg)).await.unwrap();
    // The counter sees round trips: startup (peer auth needs no exchange), then
    // pg_backend_pid and the snapshot's prepare, sent together; whether they share one
    // write depends on when tokio-postgres's connection task runs (a CI run saw 3).
    let at_connect = round_trips.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&at_connect),
        "{at_connect} round trips to connect"
    );
    for _ in 0..3 {
        let before = round_trips.load(Ordering::SeqCst);
        session.snapshot().await.unwrap();
        assert_eq!(round_trips.load(Ordering::SeqCst) - before, 1);
    }
    let before = round_trips.load(Ordering::SeqCst);
    assert!(!session.cancel(i32::MAX).await.unwrap());
    assert_eq!(round_trips.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_reports_its_lag_and_the_primary_its_standby() {
    let primary = Postgres::start();
    let standby = primary.start_standby();
    let link = Local::new("local");
    let on_primary = connect(&link, &root_target(&primary)).await.unwrap();
    let snap = snapshot_until(&on_primary, "the standby to stream and report", |s| {
        s.replication
            .standbys
            .iter()
            .any(|r| r.state.as_deref() == Some("streaming") && r.replay_lag_bytes.is_some())
    })
    .await;
    assert!(!snap.server.in_recovery, "a primary");
    assert!(snap.replication.receiver.is_none());
    let r = &snap.replication.standbys[0];
    assert_eq!(r.name.as_deref(), Some("standby"));
    assert_eq!(r.sync_state.as_deref(), Some("async"));
    assert!(r.replay_lag_bytes.unwrap() >= 0, "{r:?}");
    // Standbys are not client backends: they do not count toward max_connections.
    assert!(snap.sessions.iter().all(|s| s.application != "standby"));

    primary.psql("postgres", "CREATE TABLE replicated AS SELECT 1 AS x");
    let on_standby = connect(&link, &root_target(&standby)).await.unwrap();
    let snap = snapshot_until(&on_standby, "the standby to replay", |s| {
        s.replication.receiver.as_ref().is_some_and(|r| {
            r.status.as_deref() == Some("streaming") && r.last_replayed_at.is_some()
        })
    })
    .await;
    assert!(snap.server.in_recovery, "a standby");
    let rx = snap.replication.receiver.unwrap();
    assert!(
        rx.receive_replay_lag_bytes.is_some_and(|b| b >= 0),
        "{rx:?}"
    );
    assert!(rx.replay_lag.is_some());
    assert_eq!(rx.sender_port, Some(i32::from(primary.port())));
    assert!(snap.databases.iter().any(|d| d.name == "appdb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_sshd_peer_auth_sees_the_ssh_login_user() {
    use common::sshd::{Client, Sshd};
    use watchfloor::link::ssh::Ssh;
    use watchfloor::link::ssh::session::{self, Options};
    use watchfloor::link::ssh::target::SshConfig;

    let pg = Postgres::start();
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let mut t = SshConfig::load_for_home(client.home.path())
        .unwrap()
        .resolve(&server.spec(), "root", client.home.path())
        .unwrap();
    t.identity_agent = Some("none".into());
    let connected = session::connect("db1", &t, &Options::default(), &mut |_, _| {})
        .await
        .unwrap();
    let link = Ssh::new("db1".into(), connected);
    assert_eq!(link.host(), "db1");

    // The unix socket on direct-streamlocal: PostgreSQL sees sshd's session user, root.
    let session = connect(&link, &root_target(&pg)).await.unwrap();
    let snap = session.snapshot().await.unwrap();
    assert!(snap.server.privileged);
    assert_eq!(snap.server.user, "root");
    // As another role, peer auth fails with what to do.
    let mut other = root_target(&pg);
    other.user = "postgres".into();
    let err = connect(&link, &other).await.err().unwrap();
    assert!(err.to_string().contains("pg_ident.conf"), "{err}");

    // TCP on direct-tcpip, with a password from a pgpass file here, on the admin's side.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "127.0.0.1:{}:appdb:app:{}\n",
        pg.port(),
        escape(APP_PASSWORD)
    );
    let pgpass = write_pgpass(dir.path(), "pgpass", &text, 0o600);
    let session = connect(
        &link,
        &app_target(tcp(&pg), Some(PasswordSource::Pgpass(pgpass))),
    )
    .await
    .unwrap();
    let snap = session.snapshot().await.unwrap();
    assert!(!snap.server.privileged);
    assert!(session.cancel(i32::MAX).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_sizes_are_measured_now_and_then_and_carried_over() {
    let pg = Postgres::start();
    let session = connect(&Local::new("local"), &root_target(&pg))
        .await
        .unwrap();
    let size = |s: &Snapshot| {
        s.databases
            .iter()
            .find(|d| d.name == "appdb")
            .and_then(|d| d.size_bytes)
    };
    let first = size(&session.snapshot().await.unwrap()).expect("measured at first");
    // Several MB more on disk: a refresh that measured again would see it.
    pg.psql_in(
        "postgres",
        "appdb",
        "CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 50000) g",
    );
    let grown: i64 = pg
        .psql("postgres", "SELECT pg_database_size('appdb')")
        .parse()
        .unwrap();
    assert!(grown > first + 5_000_000, "{first} → {grown}");
    let again = session.snapshot().await.unwrap();
    assert_eq!(
        size(&again),
        Some(first),
        "carried over, not measured again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_is_only_sent_to_the_session_that_was_chosen() {
    use watchfloor::collect::postgres::Backend;
    let pg = Postgres::start();
    let mut s = pg.spawn_psql("postgres", "sleeper");
    s.send("SELECT pg_sleep(600);");
    pg.wait_until("the sleeper", &active_query("sleeper", "SELECT pg_sleep%"));
    let session = connect(&Local::new("local"), &root_target(&pg))
        .await
        .unwrap();
    let snap = session.snapshot().await.unwrap();
    let pid = pg.pid_of("sleeper");
    let chosen = snap.session(pid).unwrap();
    let backend = Backend {
        pid,
        backend_start: chosen.backend_start,
        query_start: chosen.query_start,
    };
    // Another session or another query under the same pid: nothing is sent.
    let mut stale = backend.clone();
    stale.query_start = Some(chosen.query_start.unwrap() - jiff::SignedDuration::from_secs(1));
    assert_eq!(session.signal_backend(&stale, false).await.unwrap(), None);
    stale = backend.clone();
    stale.backend_start = Some(chosen.backend_start.unwrap() - jiff::SignedDuration::from_secs(1));
    assert_eq!(session.signal_backend(&stale, true).await.unwrap(), None);
    let state = || {
        pg.psql(
            "postgres",
            &format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}"),
        )
    };
    assert_eq!(state(), "active", "the sleeper was not touched");
    // The session as chosen: the cancel goes through.
    assert_eq!(
        session.signal_backend(&backend, false).await.unwrap(),
        Some(true)
    );
    pg.wait_until(
        "the sleep cancelled",
        &format!("SELECT state = 'idle' FROM pg_stat_activity WHERE pid = {pid}"),
    );
}

/// A lock on a table of another database than the one watchfloor is connected to: its catalog
/// cannot be read from here, so the wait names the table's oid and its database, never a bare
/// "oid N".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_in_another_database_names_that_database() {
    let pg = Postgres::start();
    pg.psql("postgres", "CREATE DATABASE other");
    pg.psql_in("postgres", "other", "CREATE TABLE far (x int)");
    let oid = pg.psql_in("postgres", "other", "SELECT 'far'::regclass::oid");
    let mut d = pg.spawn_psql("postgres", "D");
    d.send("\\c other");
    d.send("BEGIN; LOCK TABLE far IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);");
    pg.wait_until("D to hold far", &active_query("D", "SELECT pg_sleep%"));
    let mut e = pg.spawn_psql("postgres", "E");
    e.send("\\c other");
    e.send("SELECT * FROM far;");
    pg.wait_until("E to wait for far", &waiting_for_lock("E"));
    let link = Local::new("local");
    let session = connect(&link, &root_target(&pg)).await.unwrap();
    let snap = session.snapshot().await.unwrap();
    let waiter = snap.session(pg.pid_of("E")).unwrap();
    let w = waiter.waiting_for.as_ref().unwrap();
    assert_eq!(
        w.relation.as_deref(),
        Some(format!("table {} of database other", oid.trim()).as_str())
    );
}
