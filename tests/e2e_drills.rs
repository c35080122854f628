//! The drills pane in a real terminal: a `shop` database on a host reachable only through a
//! bastion (ProxyJump, network namespaces), its newest pg_dump file restored from the pane.
//! Before any run the drill is "never passed" and an alert; `D` asks, naming host, source,
//! backup and target; `y` runs it; the row shows pass with RTO and RPO, the scratch database
//! is gone, and the audit log and the drill history hold the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::postgres::Postgres;
use common::sshd::{Client, JumpNet, Sshd};
use common::tmux::Tmux;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_drill_behind_a_bastion_passes_from_the_pane_and_leaves_nothing_behind() {
    let pg = Postgres::start();
    pg.create_shop();
    let dumps = tempfile::tempdir().unwrap();
    pg.dump("shop", &dumps.path().join("shop-nightly.dump"));
    // A restore that takes ten minutes: the one the console exits in the middle of.
    std::fs::write(
        dumps.path().join("slow.sql"),
        "CREATE TABLE t (x int);\nSELECT pg_sleep(600);\n",
    )
    .unwrap();

    let net = JumpNet::new();
    let client = Client::new();
    let bastion = Sshd::start(&client, &net.bastion_addr, Some(&net.bastion_ns));
    let db = Sshd::start(&client, &net.target_addr, Some(&net.target_ns));
    client.trust(&bastion);
    client.trust(&db);
    client.ssh_config(&format!(
        "Host bastion\n  HostName {}\n  User root\n\nHost db1\n  HostName {}\n  User root\n  ProxyJump bastion\n",
        net.bastion_addr, net.target_addr
    ));
    let config = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[[host]]\nname = \"db1\"\nssh = \"db1\"\ndocker = false\n\n\
             [[host.postgres]]\nname = \"main\"\nsocket = \"{}\"\n\n\
             [[host.backup]]\nname = \"dumps\"\nkind = \"files\"\npath = \"{}/shop-*.dump\"\n\n\
             [[drill]]\nname = \"shop\"\nhost = \"db1\"\nsource = \"dumps\"\nrestore = \"pg_restore\"\n\
             cluster = \"main\"\ndatabase = \"shop\"\n\n\
             [[drill.check]]\nname = \"orders\"\nsql = \"select count(*) from orders\"\nmin = 1000\n\n\
             [[drill.check]]\nname = \"newest order\"\nsql = \"select max(created_at) from orders\"\nnewest = true\n\n\
             [[drill]]\nname = \"slow\"\nhost = \"db1\"\nsource = \"dumps\"\nrestore = \"psql\"\n\
             cluster = \"main\"\nfetch = \"echo {d}/slow.sql\"\n\n\
             [[drill.check]]\nsql = \"select count(*) from t\"\nmin = 0\n",
            pg.socket_path(),
            dumps.path().display(),
            d = dumps.path().display()
        ),
    )
    .unwrap();

    let tmux = Tmux::console(
        client.home.path(),
        &format!("--config {}", config.display()),
    );
    tmux.keys(&["9"]);
    let row = |screen: &str| -> String {
        screen
            .lines()
            .find(|l| l.trim_start().starts_with("shop "))
            .unwrap_or("")
            .to_owned()
    };
    tmux.wait_until("the drill, never passed", WAIT, |s| {
        row(s).contains("never passed")
    });
    // The source must have been listed for the dialog to name the backup.
    tmux.keys(&["8"]);
    tmux.wait_until("the dumps source read", WAIT, |s| {
        s.lines()
            .any(|l| l.trim_start().starts_with("dumps ") && l.contains(" ok "))
    });
    tmux.keys(&["9", "j", "D"]);
    tmux.wait_for_text(
        &[
            "Run the restore drill shop",
            "db1",
            "the newest: shop-nightly.dump",
            "scratch database wf_drill_shop",
        ],
        WAIT,
    );
    tmux.keys(&["y"]);
    // Next due 90 days after the pass: "in 90d0h" until the console's clock passes the pass
    // time (under a second), "in 89d23h" after.
    let screen = tmux.wait_until("the drill to pass", WAIT, |s| {
        let r = row(s);
        r.contains("pass")
            && (r.contains("in 90d0h") || r.contains("in 89d23h"))
            && r.contains("checks passed")
    });
    let r = row(&screen);
    assert!(!r.contains("never"), "{r}");

    // The detail: the run step by step, its checks, the history.
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(
        &[
            "last run pass",
            "RTO",
            "RPO",
            "(newest order)",
            "✓ orders = 1000",
            "dropped the scratch database wf_drill_shop",
        ],
        WAIT,
    );

    // Quitting while a drill restores: the job is abandoned, cancelled and cleaned up before
    // the console is gone.
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(&["RTO TREND"], WAIT);
    tmux.keys(&["j", "D"]);
    tmux.wait_for_text(&["Run the restore drill slow"], WAIT);
    tmux.keys(&["y"]);
    common::wait_for("the slow restore to run", WAIT, || {
        (pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'wf_drill_slow' AND query LIKE '%pg_sleep%'",
        ) == "1")
            .then_some(())
    });
    tmux.keys(&["q"]);
    tmux.wait_until("the console to exit", WAIT, |s| {
        s.lines().last().is_some_and(|l| l.contains("wf-prompt$"))
            || s.trim_end().ends_with("wf-prompt$")
    });

    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'wf_drill%'"
        ),
        "0"
    );
    let state = client.home.path().join("state/watchfloor");
    let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap();
    let drill_lines: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"action\":\"drill\""))
        .collect();
    assert!(drill_lines[1].contains("\"outcome\":\"ok\""), "{audit}");
    assert!(
        drill_lines[3].contains("\"outcome\":\"abandoned\"")
            && drill_lines[4].contains("after watchfloor exited: cancelled"),
        "{audit}"
    );
    let history = std::fs::read_to_string(state.join("drills.jsonl")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    let slow: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(slow["outcome"], "cancelled", "{slow}");
    assert_eq!(slow["step"], "restore", "{slow}");
    let run: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(run["outcome"], "pass", "{run}");
    assert_eq!(run["host"], "db1");
    assert!(run["rto_s"].as_f64().unwrap() > 0.0);
    assert_eq!(run["headless"], false);
}
