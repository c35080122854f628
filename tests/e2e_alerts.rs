//! Alerts in a real terminal: a host whose sshd dies while the console watches it becomes
//! one critical alert in the alerts pane (0); with `[notify]` on, the window title carries the
//! count (tmux's pane title shows it) and `notify.command` gets the alert as JSON; Enter on
//! the alert shows the overview with that host selected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sshd::{Client, Sshd};
use common::tmux::Tmux;
use common::wait_for;

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn a_host_going_down_is_one_critical_alert_that_notifies_and_leads_to_its_host() {
    let client = Client::new();
    let mut server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let got = client.home.path().join("notified.json");
    let config = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\ndisk_warn_pct = 99.8\ndisk_crit_pct = 99.9\ncpu_warn_pct = 100\nmemory_warn_pct = 100\n\n\
             [notify]\nbell = true\ntitle = true\ncommand = \"cat >> {}\"\nquiet_start = \"1s\"\n\n\
             [[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n",
            got.display(),
            server.spec()
        ),
    )
    .unwrap();
    let tmux = Tmux::console(
        client.home.path(),
        &format!("--config {}", config.display()),
    );
    tmux.wait_for_text(&["Containers"], WAIT);
    tmux.keys(&["0"]);
    tmux.wait_for_text(&["nothing is wrong"], WAIT);
    wait_for("the title to say all is well", WAIT, || {
        (tmux.display("#{pane_title}") == "watchfloor: ok").then_some(())
    });

    server.kill();
    let screen = tmux.wait_until("the link alert", WAIT, |s| {
        s.lines()
            .any(|l| l.starts_with("CRIT") && l.contains("db1") && l.contains("link"))
    });
    let crit: Vec<&str> = screen.lines().filter(|l| l.starts_with("CRIT")).collect();
    assert_eq!(
        crit.len(),
        1,
        "one root cause, not one per domain:\n{screen}"
    );
    wait_for("the title to carry the count", WAIT, || {
        tmux.display("#{pane_title}")
            .starts_with("watchfloor: 1 crit")
            .then_some(())
    });
    let json = wait_for("the notify command to run", WAIT, || {
        std::fs::read_to_string(&got).ok().filter(|t| !t.is_empty())
    });
    let alert: serde_json::Value = serde_json::from_str(json.lines().next().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(
        (&alert["severity"], &alert["host"], &alert["domain"]),
        (&"crit".into(), &"db1".into(), &"link".into()),
        "{alert}"
    );

    // Acknowledged: dimmed, out of the counts, audited, and still so after a restart.
    tmux.keys(&["a"]);
    tmux.wait_for_text(&["ack root · ", "0 crit · 0 warn · 1 acknowledged"], WAIT);
    wait_for("the title to drop the acknowledged alert", WAIT, || {
        (tmux.display("#{pane_title}") == "watchfloor: ok").then_some(())
    });
    let audit =
        std::fs::read_to_string(client.home.path().join("state/watchfloor/audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"action\":\"acknowledge\"") && audit.contains("\"domain\":\"link\""),
        "{audit}"
    );

    tmux.keys(&["Enter"]);
    tmux.wait_for_text(&["Overview · 1 host"], WAIT);
    tmux.keys(&["q"]);
    tmux.wait_until("the console to exit", WAIT, |s| {
        s.trim_end().ends_with("wf-prompt$")
    });
    tmux.type_line(&format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_watchfloor"),
        config.display()
    ));
    tmux.wait_for_text(&["Containers"], WAIT);
    tmux.keys(&["0"]);
    tmux.wait_for_text(&["ack root · ", "0 crit · 0 warn · 1 acknowledged"], WAIT);
    tmux.keys(&["q"]);
}
