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

/// A filesystem of its own, loop-mounted and filled to about 95 %, unmounted on drop.
struct FullDisk {
    mount: std::path::PathBuf,
}

impl FullDisk {
    fn new(dir: &std::path::Path) -> FullDisk {
        let image = dir.join("full.img");
        let mount = dir.join("full");
        std::fs::create_dir(&mount).unwrap();
        common::sh(
            std::process::Command::new("truncate")
                .args(["-s", "16M"])
                .arg(&image),
        );
        // No blocks reserved for root: df's use% is then simply used / size.
        common::sh(
            std::process::Command::new("mkfs.ext4")
                .args(["-q", "-F", "-m", "0"])
                .arg(&image),
        );
        common::sh(
            std::process::Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&mount),
        );
        let disk = FullDisk { mount };
        let df = common::sh(
            std::process::Command::new("df")
                .args(["-B1", "--output=used,avail"])
                .arg(&disk.mount),
        );
        let n: Vec<u64> = df
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let fill = (n[0] + n[1]) * 955 / 1000 - n[0];
        std::fs::write(
            disk.mount.join("fill"),
            vec![1u8; usize::try_from(fill).unwrap()],
        )
        .unwrap();
        disk
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
    }
}

/// The fleet: a stopped container, an unhealthy one, a disk at 95 %, a stale backup
/// and a dead host behind a live bastion. The alerts pane lists each once, critical first;
/// Enter on the unhealthy container lands on its row (Enter again opens that container);
/// `watchfloor alerts` exits 2 with the same alerts.
#[test]
fn a_broken_fleet_is_listed_once_per_problem_worst_first_in_the_pane_and_headless() {
    use common::sshd::JumpNet;
    let docker = common::Docker::shared();
    let project = "brk";
    docker.remove_project(project, &[]);
    docker.compose_container(project, "worker", 1, &[], &["sh", "-c", "exit 1"]);
    let health = [
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
    ];
    docker.compose_container(project, "api", 1, &health, &["sleep", "100000"]);

    let client = Client::new();
    let home = client.home.path();
    let disk = FullDisk::new(home);
    let dumps = home.join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    std::fs::write(dumps.join("app-1.dump"), "x").unwrap();
    common::sh(
        std::process::Command::new("touch")
            .args(["-d", "30 hours ago"])
            .arg(dumps.join("app-1.dump")),
    );
    let net = JumpNet::new();
    let web = Sshd::start(&client, "127.0.0.1", None);
    let bastion = Sshd::start(&client, &net.bastion_addr, Some(&net.bastion_ns));
    for s in [&web, &bastion] {
        client.trust(s);
    }
    // `app` has no sshd: the bastion is up, the host behind it is dead.
    client.ssh_config(&format!(
        "Host bastion\n  HostName {}\n  User root\n\nHost app\n  HostName {}\n  User root\n  ProxyJump bastion\n  ConnectTimeout 3\n",
        net.bastion_addr, net.target_addr
    ));
    let config = home.join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\ncpu_warn_pct = 100\nmemory_warn_pct = 100\n\n\
             [defaults]\ndisks_interval = \"2s\"\n\n\
             [[host]]\nname = \"web\"\nssh = \"{}\"\ndocker_socket = \"{}\"\n\n\
             [[host.backup]]\nname = \"dumps\"\nkind = \"files\"\npath = \"{}/app-*.dump\"\nmax_age = \"26h\"\n\n\
             [[host]]\nname = \"app\"\nssh = \"app\"\ndocker = false\n",
            web.spec(),
            docker.socket.display(),
            dumps.display()
        ),
    )
    .unwrap();
    wait_for("the api container to be unhealthy", WAIT, || {
        let s = docker.run(&["inspect", "-f", "{{.State.Health.Status}}", "brk-api-1"]);
        (s.trim() == "unhealthy").then_some(())
    });

    let mount = disk.mount.display().to_string();
    // (severity, host, domain, what the text starts with); one line each, wherever it is.
    let expected = [
        ("CRIT", "app", "link", String::new()),
        (
            "CRIT",
            "web",
            "containers",
            "container brk-api-1 is unhealthy".into(),
        ),
        ("CRIT", "web", "disks", format!("{mount} 9")),
        (
            "warn",
            "web",
            "containers",
            "container brk-worker-1 exited with code 1 (brk/worker: 0/1 running)".into(),
        ),
        ("warn", "web", "backups", "dumps: newest backup".into()),
    ];
    let found = |screen: &str, (sev, host, domain, what): &(&str, &str, &str, String)| {
        screen
            .lines()
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() > 3
                    && w[0].eq_ignore_ascii_case(sev)
                    && w[1] == *host
                    && w[2].trim_end_matches(':') == *domain
                    && l.contains(what.as_str())
            })
            .count()
    };

    let tmux = Tmux::console(home, &format!("--config {}", config.display()));
    tmux.wait_for_text(&["Overview"], WAIT);
    tmux.keys(&["0"]);
    let screen = tmux.wait_until("every problem listed", Duration::from_secs(60), |s| {
        expected.iter().all(|e| found(s, e) >= 1)
    });
    for e in &expected {
        assert_eq!(found(&screen, e), 1, "{e:?} once:\n{screen}");
    }
    // Worst first: no critical line below a warning.
    let sevs: Vec<&str> = screen
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w == "CRIT" || *w == "warn")
        .collect();
    let first_warn = sevs.iter().position(|s| *s == "warn").unwrap();
    assert!(sevs[first_warn..].iter().all(|s| *s == "warn"), "{screen}");

    // Enter on the unhealthy container: its pane, its row (Enter there opens it).
    tmux.keys(&["/"]);
    tmux.type_text("unhealthy");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(&["brk-api-1"], WAIT);
    tmux.wait_until("the containers pane", WAIT, |s| {
        s.lines().nth(1).is_some_and(|l| l.contains("Containers"))
    });
    tmux.keys(&["Enter"]);
    tmux.wait_until("the container's details", WAIT, |s| {
        s.contains("brk-api-1 · Esc closes") && s.contains("service   api")
    });
    tmux.keys(&["q"]);

    // Headless: the same problems, critical first, exit 2.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_watchfloor"));
    common::isolated_env(&mut cmd, home);
    let out = cmd
        .args([
            "--config",
            config.to_str().unwrap(),
            "alerts",
            "--timeout",
            "20",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for e in &expected {
        assert_eq!(found(&text, e), 1, "{e:?} once:\n{text}");
    }
    assert!(text.starts_with("CRIT "), "{text}");
    docker.remove_project(project, &[]);
}
