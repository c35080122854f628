//! A job in flight when the console's terminal goes away: the real binary in tmux restarts a
//! service whose health never turns healthy, then gets SIGHUP (what a dropped SSH session
//! sends). The audit log holds the job's "started" line, then "abandoned" with the step it
//! had reached, then — the job being cancelled in the grace after the screen is restored —
//! its end, "cancelled"; and the console exits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Docker, local_config, wait_for};

const SHORT: Duration = Duration::from_secs(20);

#[test]
fn a_restart_in_flight_at_sighup_is_audited_abandoned() {
    let docker = Docker::shared();
    let project = "hup";
    docker.remove_project(project, &[]);
    docker.compose_container(
        project,
        "api",
        1,
        common::NEVER_HEALTHY,
        &["sleep", "100000"],
    );
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let tmux = Tmux::console(home.path(), &format!("--config {}", config.display()));
    tmux.wait_for_text(&["hup-api-1", "▾ api"], SHORT);

    tmux.keys(&["/"]);
    tmux.type_text("hup");
    tmux.keys(&["Enter"]);
    tmux.keys(&["g", "j", "j"]);
    tmux.keys(&["R"]);
    tmux.wait_for_text(&["Restart hup/api (1 container)?"], SHORT);
    tmux.keys(&["y"]);
    tmux.wait_for_text(&["waiting for hup-api-1", "X cancels"], SHORT);

    let pattern = format!("watchfloor --config {}", config.display());
    let pid = common::sh(std::process::Command::new("pgrep").args(["-f", &pattern]));
    let pid = pid
        .lines()
        .next()
        .expect("the console runs")
        .trim()
        .to_owned();
    common::sh(std::process::Command::new("kill").args(["-HUP", &pid]));
    tmux.wait_for_text(&["wf-prompt$"], SHORT);

    let audit = home.path().join("state/watchfloor/audit.jsonl");
    let lines: Vec<serde_json::Value> = wait_for("three audit lines", SHORT, || {
        let text = std::fs::read_to_string(&audit).ok()?;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() >= 3).then_some(lines)
    });
    assert_eq!(lines.len(), 3, "{lines:?}");
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["started", "abandoned", "cancelled"]);
    assert!(
        lines.iter().all(|l| l["job"] == lines[0]["job"]),
        "{lines:?}"
    );
    let why = lines[1]["error"].as_str().unwrap();
    assert!(why.contains("waiting for hup-api-1"), "{why}");
    let after = lines[2]["error"].as_str().unwrap();
    assert!(after.contains("after watchfloor exited"), "{after}");
    docker.remove_project(project, &[]);
}
