//! The real binary in a real terminal (tmux, 120x40) against a real dockerd: the first frame
//! shows the fixture's containers, a killed container changes its row with no key pressed,
//! keys move between panes, filter and help work, and `q` gives the shell prompt back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{Docker, local_config};

const SHORT: Duration = Duration::from_secs(10);

#[test]
fn console_shows_containers_follows_events_switches_panes_and_quits_cleanly() {
    let docker = Docker::shared();
    let project = "e2e";
    docker.remove_project(project, &[]);
    for n in 1..=4 {
        docker.compose_container(project, "api", n, &[], &["sleep", "100000"]);
    }
    docker.compose_container(project, "worker", 1, &[], &["sleep", "100000"]);
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let h = home.path().display().to_string();
    let env = [
        ("HOME", h.clone()),
        ("XDG_CONFIG_HOME", format!("{h}/.config")),
        ("XDG_STATE_HOME", format!("{h}/.local/state")),
        ("TERM", "xterm-256color".to_owned()),
    ];
    let tmux = Tmux::new(120, 40, &env);
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    tmux.type_line(&format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_watchfloor"),
        config.display()
    ));

    // First frame with data: grouped by service, replicas counted.
    let screen = tmux.wait_for_text(&["e2e-api-1", "e2e-api-4", "e2e-worker-1", "▾ api"], SHORT);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("▾ api") && l.contains("4/4")),
        "{screen}"
    );

    // A container dies; its row and its service's count change without a key press.
    docker.run(&["kill", "e2e-worker-1"]);
    tmux.wait_until("the killed worker shown as exited", SHORT, |s| {
        s.lines()
            .any(|l| l.contains("e2e-worker-1") && l.contains("exited(137)"))
            && s.lines()
                .any(|l| l.contains("▾ worker") && l.contains("0/1"))
    });

    // Panes by number and by Tab.
    tmux.keys(&["3"]);
    tmux.wait_for_text(&["MOUNT", "FILESYSTEM", "USE%"], SHORT);
    tmux.keys(&["1"]);
    tmux.wait_for_text(&["HOST", "LINK", "FULLEST DISK", "local"], SHORT);
    tmux.keys(&["Tab"]);
    tmux.wait_for_text(&["NAME", "e2e-api-1"], SHORT);

    // Filter narrows the list; Esc brings everything back.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "worker"]);
    tmux.wait_until("only the worker left", SHORT, |s| {
        s.contains("e2e-worker-1") && !s.contains("e2e-api-1")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for_text(&["e2e-api-1"], SHORT);

    // Help is generated from the keymap.
    tmux.keys(&["?"]);
    tmux.wait_for_text(&["Help", "filter the list", "ctrl-r"], SHORT);
    tmux.keys(&["Escape"]);
    // Wait for it to close: an Escape and a q read together are Alt-q to the terminal.
    tmux.wait_until("help closed", SHORT, |s| !s.contains("filter the list"));

    // q restores the terminal: the alternate screen is gone and the prompt is back.
    tmux.keys(&["q"]);
    let screen = tmux.wait_until("the shell prompt", SHORT, |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim() == "wf-prompt$")
    });
    assert!(
        !screen.contains("e2e-api-1"),
        "the console's screen must be gone:\n{screen}"
    );
    docker.remove_project(project, &[]);
}

/// The pid of the console started with `config`, if it is running (a zombie counts as gone:
/// PID 1 here may not reap orphans).
fn console_pid(config: &std::path::Path) -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", "--", &format!("--config {}", config.display())])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .find(|pid: &u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        })
}

#[test]
fn sigterm_restores_the_terminal_and_closing_the_pane_ends_the_console() {
    let docker = Docker::shared();
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let h = home.path().display().to_string();
    let env = [
        ("HOME", h.clone()),
        ("XDG_STATE_HOME", format!("{h}/state")),
        ("TERM", "xterm".to_owned()),
    ];
    let command = format!(
        "{} --config {}",
        env!("CARGO_BIN_EXE_watchfloor"),
        config.display()
    );

    let tmux = Tmux::new(80, 24, &env);
    tmux.wait_for_text(&["wf-prompt$"], SHORT);
    tmux.type_line(&command);
    tmux.wait_for_text(&["Containers", "NAME"], SHORT);
    let pid = common::wait_for("the console's pid", SHORT, || console_pid(&config));
    common::sh(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]));
    let screen = tmux.wait_until("the shell prompt after SIGTERM", SHORT, |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim() == "wf-prompt$")
    });
    assert!(
        !screen.contains("NAME"),
        "the alternate screen must be gone:\n{screen}"
    );

    // Closing the pane hangs the terminal up: the console must exit, not linger.
    tmux.type_line(&command);
    tmux.wait_for_text(&["Containers", "NAME"], SHORT);
    common::wait_for("the console's pid", SHORT, || console_pid(&config));
    drop(tmux); // kill-server closes the pane: SIGHUP
    common::wait_for("the console to exit after SIGHUP", SHORT, || {
        console_pid(&config).is_none().then_some(())
    });
}
