//! `watchfloor check` as users run it, against real sshd and dockerd: every step passes on a
//! healthy fleet; a changed host key fails at the host key step with the fix; an unknown key
//! is refused until `--accept-new` records it; each PostgreSQL cluster is connected to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Docker;
use common::sshd::{Client, Sshd};

fn watchfloor(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
    common::isolated_env(&mut cmd, home);
    cmd.env_remove("SSH_AUTH_SOCK")
        .args(args)
        .output()
        .expect("run watchfloor")
}

fn config(client: &Client, hosts: &[(&str, &Sshd, Option<&Docker>)]) -> String {
    let mut text = String::new();
    for (name, server, docker) in hosts {
        text += &format!("[[host]]\nname = \"{name}\"\nssh = \"{}\"\n", server.spec());
        match docker {
            Some(d) => text += &format!("docker_socket = \"{}\"\n", d.socket.display()),
            None => text += "docker = false\n",
        }
    }
    let path = client.home.path().join("watchfloor.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn check_passes_on_a_healthy_fleet_and_fails_at_the_host_key_step_when_a_key_changes() {
    let docker = Docker::shared();
    let client = Client::new();
    let a = Sshd::start(&client, "127.0.0.1", None);
    let mut b = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&a);
    client.trust(&b);
    let config = config(&client, &[("app1", &a, Some(&docker)), ("db1", &b, None)]);

    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let app1 = text.lines().find(|l| l.starts_with("app1")).unwrap();
    assert!(
        app1.contains("ok") && app1.contains("(API 1.41)") && app1.contains(" fs"),
        "{text}"
    );
    assert!(text.contains("2 of 2 hosts OK"), "{text}");

    b.new_host_key();
    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let db1 = text.lines().find(|l| l.starts_with("db1")).unwrap();
    let after: Vec<&str> = db1
        .split_whitespace()
        .skip_while(|c| *c != "FAIL")
        .collect();
    assert!(
        after.len() == 6 && after[1..].iter().all(|c| *c == "skipped"),
        "steps after the failed one are not shown as passed: {text}"
    );
    assert!(
        text.contains("db1 failed at host key: host key of") && text.contains("has CHANGED"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ssh-keygen -R {}", b.known_hosts_name())),
        "{text}"
    );
    assert!(text.contains("1 of 2 hosts OK"), "{text}");

    // Only the named host is checked.
    let out = watchfloor(client.home.path(), &["--config", &config, "check", "app1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = watchfloor(client.home.path(), &["--config", &config, "check", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unknown_key_is_refused_until_accept_new_records_it() {
    let client = Client::new();
    let a = Sshd::start(&client, "127.0.0.1", None);
    let config = config(&client, &[("app1", &a, None)]);
    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("app1 failed at host key") && text.contains("is UNKNOWN: SHA256:"),
        "{text}"
    );
    assert!(
        text.contains("watchfloor --accept-new check app1"),
        "the fix is printed: {text}"
    );

    let out = watchfloor(
        client.home.path(),
        &["--config", &config, "--accept-new", "check", "app1"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "recorded the host key of {}",
            a.known_hosts_name()
        )),
        "{text}"
    );
    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// PostgreSQL clusters are a step of their own: each is connected to and read once, through
/// the host's link (here real sshd, peer authentication as root); a missing socket fails the
/// step with its path.
#[test]
fn check_connects_to_each_postgres_cluster() {
    let pg = common::postgres::Postgres::start();
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let path = client.home.path().join("watchfloor.toml");
    let write = |second_socket: &str| {
        std::fs::write(
            &path,
            format!(
                "[[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n\n\
                 [[host.postgres]]\nname = \"main\"\nsocket = \"{}\"\n\n\
                 [[host.postgres]]\nname = \"other\"\nsocket = \"{second_socket}\"\n",
                server.spec(),
                pg.socket_path()
            ),
        )
        .unwrap();
    };
    let config = path.display().to_string();
    write(&pg.socket_path());
    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("POSTGRES"), "{text}");
    // "main: <server version>, other: <server version>"
    let version_after = |name: &str| {
        text.split(&format!("{name}: "))
            .nth(1)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_digit())
    };
    assert!(version_after("main") && version_after("other"), "{text}");
    assert!(text.contains("1 of 1 hosts OK"), "{text}");

    write("/nonexistent/.s.PGSQL.5432");
    let out = watchfloor(client.home.path(), &["--config", &config, "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("db1 failed at postgres"), "{text}");
    assert!(text.contains("/nonexistent/.s.PGSQL.5432"), "{text}");
}

/// The config: Match, HostKeyAlias, ProxyCommand and per-host StrictHostKeyChecking.
/// `watchfloor check` reaches each host where ssh would (port and user from a Match block, the
/// key under its alias, the session through `nc`), and `--accept-new` records nothing for a
/// host pinned with `StrictHostKeyChecking yes`.
#[test]
fn check_follows_match_host_key_alias_proxy_command_and_strict_checking() {
    let client = Client::new();
    let a = Sshd::start(&client, "127.0.0.1", None);
    let b = Sshd::start(&client, "127.0.0.1", None);
    let c = Sshd::start(&client, "127.0.0.1", None);
    common::sshd::append(
        &client.known_hosts(),
        &format!("alpha-key {}", a.host_key_line()),
    );
    common::sshd::append(
        &client.known_hosts(),
        &format!("beta-key {}", b.host_key_line()),
    );
    client.ssh_config(&format!(
        "Host alpha\n  HostName 127.0.0.1\n  HostKeyAlias alpha-key\n\
         Match originalhost alpha\n  Port {}\n  User root\n\
         Host beta\n  HostKeyAlias beta-key\n  StrictHostKeyChecking yes\n  User root\n  ProxyCommand nc 127.0.0.1 {}\n\
         Host gamma\n  HostName 127.0.0.1\n  Port {}\n  User root\n  StrictHostKeyChecking yes\n",
        a.port, b.port, c.port
    ));
    let path = client.home.path().join("watchfloor.toml");
    std::fs::write(
        &path,
        "[[host]]\nname = \"alpha\"\nssh = \"alpha\"\ndocker = false\n\n\
         [[host]]\nname = \"beta\"\nssh = \"beta\"\ndocker = false\n\n\
         [[host]]\nname = \"gamma\"\nssh = \"gamma\"\ndocker = false\n",
    )
    .unwrap();
    let config = path.display().to_string();
    let out = watchfloor(
        client.home.path(),
        &["--config", &config, "check", "alpha", "beta"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 of 2 hosts OK"), "{text}");

    let before = std::fs::read_to_string(client.known_hosts()).unwrap();
    let out = watchfloor(
        client.home.path(),
        &["--config", &config, "--accept-new", "check", "gamma"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("StrictHostKeyChecking yes"), "{text}");
    assert_eq!(
        std::fs::read_to_string(client.known_hosts()).unwrap(),
        before,
        "nothing recorded for a pinned host"
    );
}
