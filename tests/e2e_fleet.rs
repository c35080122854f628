//! The console over SSH in a real terminal: three hosts (two on loopback, one reachable only
//! through a bastion in network namespaces) show up, their containers and disks are listed,
//! the WireGuard pane lists this machine, and a host whose sshd dies is shown down while the
//! others stay up, then comes back by itself. When the bastion (watched too) dies, the host
//! behind it points at it and the alerts hold one critical line: the root cause; when it comes
//! back, so does the host behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Docker;
use common::sshd::{Client, JumpNet, Sshd};
use common::tmux::Tmux;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn three_ssh_hosts_one_behind_a_bastion_show_containers_and_disks() {
    let docker = Docker::shared();
    let project = "fleet";
    docker.remove_project(project, &[]);
    docker.compose_container(project, "api", 1, &[], &["sleep", "100000"]);
    docker.compose_container(project, "api", 2, &[], &["sleep", "100000"]);

    let net = JumpNet::new();
    let client = Client::new();
    let mut web = Sshd::start(&client, "127.0.0.1", None);
    let db = Sshd::start(&client, "127.0.0.1", None);
    let mut bastion = Sshd::start(&client, &net.bastion_addr, Some(&net.bastion_ns));
    let app = Sshd::start(&client, &net.target_addr, Some(&net.target_ns));
    for s in [&web, &db, &bastion, &app] {
        client.trust(s);
    }
    client.ssh_config(&format!(
        "Host bastion\n  HostName {}\n  User root\n\nHost app\n  HostName {}\n  User root\n  ProxyJump bastion\n",
        net.bastion_addr, net.target_addr
    ));
    let socket = docker.socket.display();
    let config = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ndisks_interval = \"2s\"\n\n\
             [[host]]\nname = \"web\"\nssh = \"{}\"\ndocker_socket = \"{socket}\"\n\n\
             [[host]]\nname = \"db\"\nssh = \"{}\"\ndocker_socket = \"{socket}\"\n\n\
             [[host]]\nname = \"app\"\nssh = \"app\"\ndocker_socket = \"{socket}\"\n\n\
             [[host]]\nname = \"bastion\"\nssh = \"bastion\"\ndocker = false\n",
            web.spec(),
            db.spec()
        ),
    )
    .unwrap();

    let tmux = Tmux::console(
        client.home.path(),
        &format!("--config {}", config.display()),
    );

    let up = |name: &str, s: &str| {
        s.lines()
            .any(|l| l.starts_with(name) && l.contains(" up ") && l.contains("2/2"))
    };
    tmux.wait_until("three hosts up with containers", WAIT, |s| {
        up("web", s) && up("db", s) && up("app", s)
    });

    // Containers of every host, grouped under the host.
    tmux.keys(&["2"]);
    let screen = tmux.wait_for_text(
        &["▾ web", "▾ db", "▾ app", "fleet-api-1", "fleet-api-2"],
        WAIT,
    );
    assert_eq!(screen.matches("fleet-api-1").count(), 3, "{screen}");
    tmux.keys(&["3"]);
    tmux.wait_until("disks of every host", WAIT, |s| {
        ["▾ web", "▾ db", "▾ app"].iter().all(|h| s.contains(h)) && s.contains("MOUNT")
    });
    tmux.keys(&["4"]);
    tmux.wait_for_text(&["▾ this machine"], WAIT);

    // web's sshd dies: web is down, the others stay up; it comes back by itself.
    tmux.keys(&["1"]);
    web.kill();
    tmux.wait_until("web shown down", WAIT, |s| {
        s.lines()
            .any(|l| l.starts_with("web") && l.contains("down"))
            && up("db", s)
            && up("app", s)
    });
    web.restart();
    tmux.wait_until("web up again", Duration::from_secs(90), |s| up("web", s));

    // The bastion dies: app points at it, and the alerts list one critical line, the bastion's.
    bastion.kill();
    tmux.wait_until("app pointing at its jump host", WAIT, |s| {
        s.lines().any(|l| {
            l.starts_with("app") && l.contains("unreachable: its jump host bastion is down")
        })
    });
    tmux.keys(&["0"]);
    let screen = tmux.wait_until("the bastion's alert", WAIT, |s| {
        s.lines()
            .any(|l| l.starts_with("CRIT") && l.contains("bastion") && l.contains("cuts off app"))
    });
    let crit: Vec<&str> = screen.lines().filter(|l| l.starts_with("CRIT")).collect();
    assert_eq!(crit.len(), 1, "one root cause:\n{screen}");
    // Back: app follows at once (it retries when its jump host answers again).
    bastion.restart();
    tmux.keys(&["1"]);
    tmux.wait_until(
        "app up again through the bastion",
        Duration::from_secs(40),
        |s| up("app", s),
    );
    tmux.keys(&["q"]);
    tmux.wait_until("the shell prompt", WAIT, |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim() == "wf-prompt$")
    });
    docker.remove_project(project, &[]);
}
