//! The PostgreSQL path in a real terminal (tmux, 120x40): a real cluster reached through a
//! real sshd (the unix socket over direct-streamlocal, peer authentication as the SSH login
//! user). A lock chain made with psql shows as a tree within one refresh; cancelling the root
//! from the pane, after the confirmation, clears it, and the audit log holds the action. A
//! PostgreSQL restart is followed by the pane on its own. Read-only mode refuses the keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::postgres::Postgres;
use common::sshd::{Client, Sshd};
use common::tmux::Tmux;

const WAIT: Duration = Duration::from_secs(30);

struct Console {
    tmux: Tmux,
    home: std::path::PathBuf,
    _sshd: Sshd,
    _client: Client,
}

/// A loopback sshd in front of `pg`, and a config in the client's home watching it as host
/// db1, cluster main, refreshed every `interval`.
fn watched(pg: &Postgres, interval: &str) -> (Client, Sshd, std::path::PathBuf) {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let config = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n\n\
             [[host.postgres]]\nname = \"main\"\nsocket = \"{}\"\ninterval = \"{interval}\"\n",
            server.spec(),
            pg.socket_path()
        ),
    )
    .unwrap();
    (client, server, config)
}

/// A psql session `app` that has run `sql`, once `ready` (a query) says it is where wanted.
fn session(pg: &Postgres, app: &str, sql: &str, ready: &str) -> common::postgres::Psql {
    let mut psql = pg.spawn_psql("postgres", app);
    psql.send(sql);
    pg.wait_until(&format!("{app} to be ready"), ready);
    psql
}

/// watchfloor in tmux watching `pg` through a loopback sshd, on the PostgreSQL pane.
fn console(pg: &Postgres, extra_args: &str, interval: &str) -> Console {
    let (client, server, config) = watched(pg, interval);
    let home = client.home.path().to_path_buf();
    let tmux = Tmux::console(
        &home,
        &format!("{extra_args} --config {}", config.display()),
    );
    tmux.wait_for_text(&["Containers"], WAIT);
    tmux.keys(&["6"]);
    tmux.wait_for_text(&["▾ db1 / main", "conns"], WAIT);
    Console {
        tmux,
        home,
        _sshd: server,
        _client: client,
    }
}

/// Moves the selection down from the top until Enter shows `pid`'s detail, then closes it.
fn select_backend(tmux: &Tmux, pid: i32) {
    tmux.keys(&["g"]);
    for _ in 0..12 {
        tmux.keys(&["Enter"]);
        // Rows that are not a session open nothing: give the frame a moment, then look.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let mut shown = tmux.screen();
        while !shown.contains("· Esc closes") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            shown = tmux.screen();
        }
        if shown.contains("· Esc closes") {
            tmux.keys(&["Escape"]);
            tmux.wait_until("the detail closed", WAIT, |s| !s.contains("· Esc closes"));
        }
        if shown.contains(&format!("backend {pid} · Esc closes")) {
            return;
        }
        tmux.keys(&["j"]);
    }
    panic!("no row of backend {pid}:\n{}", tmux.screen());
}

/// The cluster's uptime as the header shows it ("up 12s", "up 3m"), in seconds.
fn uptime_secs(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("▾ db1 / main"))?;
    let word = line.split(" up ").nth(1)?.split_whitespace().next()?;
    match word.strip_suffix('s') {
        Some(secs) => secs.parse().ok(),
        None => word.strip_suffix('m')?.parse::<u64>().ok().map(|m| m * 60),
    }
}

/// Row lines of the blocking tree, as (pid text, indent).
fn tree_rows(screen: &str) -> Vec<(String, usize)> {
    let start = screen.lines().position(|l| l.trim() == "BLOCKING");
    let Some(start) = start else {
        return Vec::new();
    };
    screen
        .lines()
        .skip(start + 1)
        .take_while(|l| l.starts_with('●') || l.trim_start().starts_with('└'))
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let pid = l
                .trim_start()
                .trim_start_matches(['●', '└'])
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            (pid, indent)
        })
        .collect()
}

#[test]
fn a_lock_chain_shows_as_a_tree_and_cancelling_its_root_clears_it() {
    let mut pg = Postgres::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t (x int); CREATE TABLE u (id int PRIMARY KEY, v int); \
         INSERT INTO u VALUES (1, 0);",
    );
    let c = console(&pg, "", "1s");
    let tmux = &c.tmux;

    // A holds t while running; B holds u's row and waits for t, then commits; C waits for
    // the row. Cancelling A aborts its transaction (releasing t), so B and then C finish.
    let mut a = pg.spawn_psql("postgres", "A");
    a.send("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);");
    pg.wait_until(
        "A to sleep",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'A' AND query LIKE '%pg_sleep%')",
    );
    let mut b = pg.spawn_psql("postgres", "B");
    b.send("BEGIN; UPDATE u SET v = 1 WHERE id = 1; SELECT count(*) FROM t; COMMIT;");
    pg.wait_until(
        "B to wait",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'B' AND wait_event_type = 'Lock')",
    );
    let mut cc = pg.spawn_psql("postgres", "C");
    cc.send("UPDATE u SET v = 2 WHERE id = 1;");
    pg.wait_until(
        "C to wait",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'C' AND wait_event_type = 'Lock')",
    );
    let (pa, pb, pc) = (pg.pid_of("A"), pg.pid_of("B"), pg.pid_of("C"));

    let screen = tmux.wait_until("the chain as a tree", WAIT, |s| tree_rows(s).len() == 3);
    let rows = tree_rows(&screen);
    let pids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(
        pids,
        [pa.to_string(), pb.to_string(), pc.to_string()],
        "{screen}"
    );
    assert!(
        rows[0].1 < rows[1].1 && rows[1].1 < rows[2].1,
        "indented: {screen}"
    );
    assert!(screen.contains("blocks 2"), "{screen}");

    select_backend(tmux, pa);
    tmux.keys(&["C"]);
    // The dialog's title names the backend; its lines say how many wait on it.
    let title = format!("Cancel the query of backend {pa} (postgres@postgres) of main?");
    let dialog = tmux.wait_for_text(&[&title], WAIT);
    assert!(dialog.contains("2 waiting sessions"), "{dialog}");
    tmux.keys(&["y"]);
    tmux.wait_for_text(&[&format!("cancelled the query of backend {pa}")], WAIT);
    tmux.wait_until("the tree gone", WAIT, |s| tree_rows(s).is_empty());
    pg.wait_until(
        "C to finish",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'C' AND state = 'idle')",
    );

    let audit = std::fs::read_to_string(c.home.join("state/watchfloor/audit.jsonl")).unwrap();
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 2, "started, then ended: {audit}");
    assert!(lines[0].contains(r#""outcome":"started""#), "{audit}");
    let rec: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(rec["action"], "cancel");
    assert_eq!(rec["host"], "db1");
    assert_eq!(rec["target"]["pid"], pa);
    assert_eq!(rec["target"]["cluster"], "main");
    assert_eq!(rec["outcome"], "ok", "{rec}");

    // A restart of PostgreSQL: the pane says so, then follows the new server by itself.
    // The old server's uptime reaches 10 s first, so a smaller one is the new server's.
    drop((a, b, cc));
    let before = tmux.wait_until("an uptime of 10 s", WAIT, |s| {
        uptime_secs(s).is_some_and(|up| up >= 10)
    });
    let before = uptime_secs(&before).unwrap_or(10);
    pg.restart();
    tmux.wait_until("the pane showing the restarted server", WAIT, |s| {
        uptime_secs(s).is_some_and(|up| up < before.min(10)) && !s.contains("problems")
    });
    tmux.keys(&["q"]);
}

#[test]
fn read_only_refuses_cancel_and_terminate() {
    let pg = Postgres::start();
    // Refreshed once a minute: the new session shows at once only because of Ctrl-R.
    let c = console(&pg, "--read-only", "1m");
    let tmux = &c.tmux;
    let mut s = pg.spawn_psql("postgres", "sleeper");
    s.send("SELECT pg_sleep(600);");
    pg.wait_until(
        "the sleeper",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'sleeper' AND state = 'active')",
    );
    let pid = pg.pid_of("sleeper");
    tmux.keys(&["C-r"]);
    tmux.wait_for_text(&["sleeper"], Duration::from_secs(10));
    select_backend(tmux, pid);
    for (key, verb) in [("C", "cancel"), ("T", "terminate")] {
        tmux.keys(&[key]);
        let screen = tmux.wait_for_text(&[&format!("read-only: {verb} is disabled")], WAIT);
        assert!(
            !screen.contains(&format!("backend {pid} (")),
            "a dialog opened: {screen}"
        );
    }
    assert_eq!(
        pg.psql(
            "postgres",
            &format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}")
        )
        .trim(),
        "active"
    );
    assert!(!c.home.join("state/watchfloor/audit.jsonl").exists());
    tmux.keys(&["q"]);
}

/// `watchfloor snapshot` runs the console's own collectors once: through a real sshd, the JSON
/// has the cluster's sessions (the test's blocked psql, with who blocks it), the host's health
/// read from `/proc`, and the lock wait as a critical alert; the Markdown has the lock tree.
#[test]
fn snapshot_has_postgres_sessions_health_and_alerts() {
    let pg = Postgres::start();
    pg.psql("postgres", "CREATE TABLE snap (x int);");
    let (client, _server, config) = watched(&pg, "2s");
    let home = client.home.path().to_path_buf();
    let holder = session(
        &pg,
        "holder",
        "BEGIN; LOCK TABLE snap IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'holder' AND query LIKE '%pg_sleep%')",
    );
    let waiter = session(
        &pg,
        "waiter",
        "SELECT count(*) FROM snap;",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'waiter' AND wait_event_type = 'Lock')",
    );
    let (holder_pid, waiter_pid) = (pg.pid_of("holder"), pg.pid_of("waiter"));

    let run = |format: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"));
        common::isolated_env(&mut cmd, &home);
        let out = cmd
            .args(["--config", config.to_str().unwrap(), "snapshot", format])
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (status, json) = run("--json");
    assert!(status.success(), "every collector answered: {json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let host = &v["hosts"][0];
    let cluster = &host["postgres"][0];
    assert_eq!(cluster["name"], "main", "{json}");
    let sessions = cluster["sessions"].as_array().expect("sessions");
    let waiting = sessions
        .iter()
        .find(|s| s["pid"] == waiter_pid)
        .expect("the waiter is listed");
    assert_eq!(waiting["blocked_by"][0], holder_pid, "{waiting}");
    let health = &host["health"];
    assert!(health["mem_total_bytes"].as_u64().unwrap() > 0, "{health}");
    assert!(health["cpus"].as_u64().unwrap() >= 1, "{health}");
    assert!(health["cpu_pct"].as_f64().is_some(), "{health}");
    let alert = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["domain"] == "postgres")
        .expect("an alert for the lock wait");
    assert_eq!(alert["severity"], "crit", "{alert}");
    assert!(
        alert["what"].as_str().unwrap().contains("wait for a lock"),
        "{alert}"
    );

    let (_, md) = run("--md");
    assert!(md.contains("### PostgreSQL main"), "{md}");
    assert!(md.contains("Lock tree"), "{md}");
    let tree: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("Lock tree"))
        .collect();
    let holder_line = tree
        .iter()
        .position(|l| l.starts_with(&holder_pid.to_string()));
    let waiter_line = tree
        .iter()
        .position(|l| l.starts_with(&format!("  {waiter_pid}")));
    assert!(
        holder_line.is_some() && waiter_line > holder_line,
        "the waiter indented under the holder:\n{md}"
    );
    assert!(md.contains("**Health**"), "{md}");
    drop((holder, waiter));
}

/// A cancel of a blocker that is idle in a transaction changes nothing: the dialog warns
/// before, and the outcome says the waiting session still waits; terminate then clears it.
#[test]
fn cancelling_an_idle_in_transaction_blocker_says_it_changed_nothing() {
    let pg = Postgres::start();
    pg.psql("postgres", "CREATE TABLE idle_t (x int);");
    let c = console(&pg, "", "1s");
    let tmux = &c.tmux;
    let holder = session(
        &pg,
        "holder",
        "BEGIN; LOCK TABLE idle_t IN ACCESS EXCLUSIVE MODE;",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'idle in transaction')",
    );
    let waiter = session(
        &pg,
        "waiter",
        "SELECT count(*) FROM idle_t;",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'waiter' AND wait_event_type = 'Lock')",
    );
    let holder_pid = pg.pid_of("holder");
    tmux.wait_until("the tree", WAIT, |s| tree_rows(s).len() == 2);

    select_backend(tmux, holder_pid);
    tmux.keys(&["C"]);
    tmux.wait_for_text(&["a cancel cannot release its locks"], WAIT);
    tmux.keys(&["y"]);
    let screen = tmux.wait_for_text(
        &["nothing changed: 1 session still waits", "terminate it (T)"],
        WAIT,
    );
    assert_eq!(tree_rows(&screen).len(), 2, "nothing changed: {screen}");

    select_backend(tmux, holder_pid);
    tmux.keys(&["T"]);
    tmux.wait_for_text(&[&format!("Terminate backend {holder_pid}")], WAIT);
    tmux.keys(&["y"]);
    tmux.wait_for_text(&["the sessions waiting for it went on"], WAIT);
    tmux.wait_until("the tree gone", WAIT, |s| tree_rows(s).is_empty());

    let audit = std::fs::read_to_string(c.home.join("state/watchfloor/audit.jsonl")).unwrap();
    let ends: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["outcome"] != "started")
        .collect();
    let outcomes: Vec<&str> = ends
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "ok"], "{audit}");
    assert_eq!(ends[0]["target"]["idle_in_transaction"], true, "{audit}");
    drop((holder, waiter));
}
