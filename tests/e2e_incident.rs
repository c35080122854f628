//! The incident path in a real terminal (tmux, 120x40) against a real dockerd: host → service
//! → logs → search → restart the service with confirmation → the replicas' new runs in the
//! same log view → the audit log holds the restart. Then the same keys in read-only mode
//! change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Docker, local_config};

const SHORT: Duration = Duration::from_secs(15);

fn env(home: &std::path::Path) -> [(&'static str, String); 4] {
    let h = home.display().to_string();
    [
        ("HOME", h.clone()),
        ("XDG_CONFIG_HOME", format!("{h}/.config")),
        ("XDG_STATE_HOME", format!("{h}/.local/state")),
        ("TERM", "xterm-256color".to_owned()),
    ]
}

/// Moves the cursor down until the selected row (the one in the selection colour is not
/// visible in text, so the row is found by moving from the top) shows `text`.
fn select_row(tmux: &Tmux, text: &str, rows_from_top: usize) {
    tmux.keys(&["g"]);
    for _ in 0..rows_from_top {
        tmux.keys(&["j"]);
    }
    tmux.wait_for_text(&[text], SHORT);
}

#[test]
fn host_service_logs_search_restart_and_audit() {
    let docker = Docker::shared();
    let project = "incident";
    docker.remove_project(project, &[]);
    let script = "echo \"boot $(hostname)\"; i=0; while :; do i=$((i+1)); \
                  if [ $((i % 5)) -eq 0 ]; then echo '{\"level\":\"error\",\"msg\":\"upstream timeout\"}'; \
                  else echo '{\"level\":\"info\",\"msg\":\"request ok\"}'; fi; sleep 0.2; done";
    for n in 1..=2 {
        docker.compose_container(project, "api", n, &[], &["sh", "-c", script]);
    }
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let tmux = Tmux::new(120, 40, &env(home.path()));
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    tmux.type_line(&format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_watchfloor"),
        config.display()
    ));
    tmux.wait_for_text(&["incident-api-1", "incident-api-2", "▾ api"], SHORT);

    // Collapse everything but this project: filter, then the service row is the third.
    tmux.keys(&["/"]);
    tmux.type_text("incident");
    tmux.keys(&["Enter"]);
    select_row(&tmux, "▾ api", 2);

    // Logs of the service: both replicas merged, JSON levels rendered.
    tmux.keys(&["l"]);
    let screen = tmux.wait_for_text(
        &["Logs · incident/api on local", "api-1", "api-2", "ERROR"],
        SHORT,
    );
    assert!(screen.contains("upstream timeout"), "{screen}");
    assert!(screen.contains("following"), "{screen}");

    // Search: jumps to the newest match and pauses the follow.
    tmux.keys(&["/"]);
    tmux.type_text("timeout");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(&["PAUSED", "/timeout"], SHORT);
    tmux.keys(&["&"]);
    tmux.wait_until("only matching lines", SHORT, |s| {
        !s.contains("request ok") && s.contains("upstream timeout")
    });
    tmux.keys(&["G"]);
    tmux.wait_for_text(&["following"], SHORT);

    // Restart the service from the log view: the dialog names it all.
    tmux.keys(&["R"]);
    let dialog = tmux.wait_for_text(
        &["Restart incident/api (2 containers)?", "one by one"],
        SHORT,
    );
    for needle in [
        "host       local",
        "project    incident",
        "service    api",
        "incident-api-1",
        "incident-api-2",
    ] {
        assert!(dialog.contains(needle), "{needle:?} missing from\n{dialog}");
    }
    tmux.keys(&["y"]);
    tmux.wait_for_text(
        &["✓ restarted 2 containers one by one"],
        Duration::from_secs(60),
    );

    // The new runs appear in the same view: each replica booted twice.
    tmux.keys(&["/"]);
    tmux.type_text("boot");
    tmux.keys(&["Enter"]);
    tmux.wait_until("boot lines of the old and the new runs", SHORT, |s| {
        s.lines().filter(|l| l.contains("boot ")).count() >= 4
    });

    // The audit log holds the restart: a "started" line, then its end, with one job number.
    let audit = home.path().join(".local/state/watchfloor/audit.jsonl");
    let text = std::fs::read_to_string(&audit).expect("audit log written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["outcome"], "started");
    assert_eq!(lines[0]["job"], lines[1]["job"]);
    let a = &lines[1];
    assert_eq!(a["action"], "restart");
    assert_eq!(a["outcome"], "ok");
    assert_eq!(a["host"], "local");
    assert_eq!(a["pace"], "one_by_one");
    assert_eq!(a["target"]["service"], "api");
    assert_eq!(a["target"]["containers"].as_array().unwrap().len(), 2);
    assert!(
        a["duration_ms"].as_u64().unwrap() >= 2000,
        "each replica waited for: {a}"
    );

    // Save the buffer: the status line says where.
    tmux.keys(&["s"]);
    let screen = tmux.wait_for_text(&["saved "], SHORT);
    let saved = std::fs::read_dir(home.path().join(".local/state/watchfloor/logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(screen.contains("lines to"), "{screen}");
    assert!(
        std::fs::read_to_string(saved)
            .unwrap()
            .contains("upstream timeout")
    );

    tmux.keys(&["q"]);
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    docker.remove_project(project, &[]);
}

#[test]
fn read_only_refuses_every_action() {
    let docker = Docker::shared();
    let project = "readonly";
    docker.remove_project(project, &[]);
    docker.compose_container(project, "api", 1, &[], &["sleep", "100000"]);
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let tmux = Tmux::new(120, 40, &env(home.path()));
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    tmux.type_line(&format!(
        "{} --read-only --config {}",
        env!("CARGO_BIN_EXE_watchfloor"),
        config.display()
    ));
    tmux.wait_for_text(&["readonly-api-1", "READ-ONLY"], SHORT);
    tmux.keys(&["/"]);
    tmux.type_text("readonly");
    tmux.keys(&["Enter"]);
    select_row(&tmux, "▾ api", 2);
    for k in ["R", "S", "U"] {
        tmux.keys(&[k]);
        let s = tmux.wait_for_text(&["read-only:"], SHORT);
        assert!(
            !s.contains("one by one") && !s.contains(" y "),
            "no dialog:\n{s}"
        );
        tmux.keys(&["y"]);
    }
    tmux.keys(&["q"]);
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    assert!(
        !home
            .path()
            .join(".local/state/watchfloor/audit.jsonl")
            .exists()
    );
    let id = docker.run(&[
        "inspect",
        "-f",
        "{{.RestartCount}} {{.State.Running}}",
        "readonly-api-1",
    ]);
    assert_eq!(id.trim(), "0 true");
    docker.remove_project(project, &[]);
}
