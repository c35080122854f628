//! The backups pane in a real terminal, over SSH: a borg source whose newest archive is three
//! days old is critical; `B` then `y` runs its trigger on the host, the output shows in the
//! source's view, the age resets and the verdict turns ok; a second, slow run cancelled with
//! `X` leaves no borg process on the host; the audit log holds both runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::sshd::{Client, Sshd};
use common::tmux::Tmux;
use common::wait_for;

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn a_borg_backup_triggered_from_the_console_resets_the_age_and_a_cancelled_one_is_stopped() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/file"), "payload\n").unwrap();
    std::fs::write(dir.path().join("pass"), "correct horse\n").unwrap();
    let env = dir.path().join("borg.env");
    std::fs::write(
        &env,
        format!("BORG_PASSCOMMAND='cat {d}/pass'\nBORG_REPO={d}/repo\n"),
    )
    .unwrap();
    // As the host's cron would, with the sessions' HOME (borg's cache and security dirs).
    let on_host = |script: &str| {
        common::sh(
            Command::new("sh")
                .args(["-c", &format!("set -a; . {}; {script}", env.display())])
                .env("HOME", server.dir.path().join("home")),
        )
    };
    on_host("borg init -e repokey");
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
    on_host(&format!(
        "borg create --timestamp {} ::old {d}/data",
        old.strftime("%Y-%m-%dT%H:%M:%S")
    ));

    // The trigger is slow once the test creates `slow`: the run to cancel.
    let trigger = format!(
        "if [ -e {d}/slow ]; then sleep 600 | borg create ::slow-{{now}} -; \
         else borg create --list ::manual-{{now}} {d}/data; fi"
    );
    let config = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n\n\
             [[host.backup]]\nname = \"borg\"\nkind = \"borg\"\nenv_file = \"{}\"\n\
             max_age = \"26h\"\ntrigger = '{trigger}'\n",
            server.spec(),
            env.display()
        ),
    )
    .unwrap();
    let tmux = Tmux::console(
        client.home.path(),
        &format!("--config {}", config.display()),
    );
    tmux.keys(&["8"]);
    let row = |screen: &str| -> String {
        screen
            .lines()
            .find(|l| l.trim_start().starts_with("borg "))
            .unwrap_or("")
            .to_owned()
    };
    tmux.wait_until("the source read, critical", WAIT, |s| {
        let r = row(s);
        r.contains("3d") && r.contains("crit")
    });

    tmux.keys(&["j", "B"]);
    tmux.wait_for_text(
        &[
            "Start a backup of backup source borg",
            "X cancels it",
            " y  start the backup ",
        ],
        WAIT,
    );
    tmux.keys(&["y"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(&["backup job #1: ok after", "/data/file"], WAIT);
    tmux.keys(&["Escape"]);
    tmux.wait_until("the age reset after the re-read", WAIT, |s| {
        let r = row(s);
        r.contains(" ok ") && !r.contains("3d")
    });

    std::fs::write(dir.path().join("slow"), "").unwrap();
    tmux.keys(&["B"]);
    tmux.wait_for_text(&["Start a backup of backup source borg"], WAIT);
    tmux.keys(&["y"]);
    let lock = dir.path().join("repo/lock.exclusive");
    wait_for("the slow create to take the lock", WAIT, || {
        lock.exists().then_some(())
    });
    tmux.keys(&["X"]);
    tmux.wait_for_text(&["Cancel job #2"], WAIT);
    tmux.keys(&["y"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(
        &["backup job #2: cancelled", "no process of it is left"],
        WAIT,
    );
    let left = common::sh(Command::new("sh").args([
        "-c",
        "ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -F 'slow-{now}' | grep -v grep || true",
    ]));
    assert_eq!(left.trim(), "", "processes left on the host");
    assert!(!lock.exists(), "the lock went with the process");

    let audit = client.home.path().join("state/watchfloor/audit.jsonl");
    let lines: Vec<serde_json::Value> = wait_for("four audit lines", WAIT, || {
        let text = std::fs::read_to_string(&audit).ok()?;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() >= 4).then_some(lines)
    });
    let seen: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["job"].as_u64().unwrap(),
                l["action"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "backup", "started"),
            (1, "backup", "ok"),
            (2, "backup", "started"),
            (2, "backup", "cancelled")
        ]
    );
    assert_eq!(lines[0]["target"]["source"], "borg");
    tmux.keys(&["q"]);
}
