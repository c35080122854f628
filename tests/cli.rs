//! The binary as users meet it: config errors with file:line:column and a hint (one bad file
//! per message in tests/configs/), exit codes, and `watchfloor snapshot` against a real dockerd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Docker, isolated_env, local_config};

fn watchfloor(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
    isolated_env(&mut cmd, home);
    cmd.args(args).output().expect("run watchfloor")
}

/// `# expect: ...`, `# at: L:C`, `# help: ...` from the head of a bad config file.
fn expectation(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}:")))
        .unwrap_or_else(|| panic!("no `# {key}:` line"))
        .trim()
        .to_owned()
}

#[test]
fn every_bad_config_fails_with_position_hint_and_exit_code_2() {
    let home = tempfile::tempdir().unwrap();
    let mut seen = 0;
    // Config files are passed with --config, theme files (in themes/) with --theme.
    for (dir, flag) in [
        ("tests/configs", "--config"),
        ("tests/configs/themes", "--theme"),
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            check_bad_file(home.path(), &path, flag);
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} bad configs found");
}

fn check_bad_file(home: &Path, path: &Path, flag: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.display().to_string();
    let out = watchfloor(home, &[flag, &file, "snapshot", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
    assert!(out.stdout.is_empty(), "{file}: nothing on stdout");
    assert!(stderr.starts_with("error: "), "{file}: {stderr}");
    assert!(
        stderr.contains(&expectation(&text, "expect")),
        "{file}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("--> {file}:{}", expectation(&text, "at"))),
        "{file}: {stderr}"
    );
    let help = expectation(&text, "help");
    if !help.is_empty() {
        assert!(
            stderr.contains(&format!("= help: {help}")),
            "{file}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{file}: {stderr}"
    );
}

#[test]
fn a_missing_config_file_given_explicitly_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let out = watchfloor(
        home.path(),
        &[
            "--config",
            "/nonexistent/watchfloor.toml",
            "snapshot",
            "--json",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("cannot read the file") && stderr.contains("/nonexistent/watchfloor.toml"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    assert_eq!(
        watchfloor(home.path(), &["snapshot"]).status.code(),
        Some(2),
        "a format is required"
    );
    assert_eq!(
        watchfloor(home.path(), &["--no-such-flag"]).status.code(),
        Some(2)
    );
    let out = watchfloor(home.path(), &["--refresh", "fast"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("write normal or slow"), "{err}");
    // The console's options are not offered where they would do nothing.
    let out = watchfloor(home.path(), &["check", "--theme", "light"]);
    assert_eq!(out.status.code(), Some(2));
    let help = watchfloor(home.path(), &["alerts", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        !help.contains("--theme") && !help.contains("--read-only"),
        "{help}"
    );
}

#[test]
fn the_example_config_is_valid() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Point the example's host at a socket that does not exist: the config must load, the
    // snapshot must say Docker is unavailable and exit 1 (not 2).
    let text = std::fs::read_to_string("config.example.toml")
        .unwrap()
        .replace(
            "# docker_socket = \"/var/run/docker.sock\"",
            "docker_socket = \"/nonexistent.sock\"",
        );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = watchfloor(
        home.path(),
        &["--config", path.to_str().unwrap(), "snapshot", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = v["hosts"][0]["containers"]["error"].as_str().unwrap();
    assert!(
        err.contains("no Docker socket at /nonexistent.sock"),
        "{err}"
    );
    assert!(
        v["hosts"][0]["disks"]["filesystems"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "df still answered"
    );
}

#[test]
fn snapshot_lists_containers_with_compose_project_and_service() {
    let docker = Docker::shared();
    let project = "snapcli";
    docker.remove_project(project, &[]);
    for n in 1..=2 {
        docker.compose_container(project, "api", n, &[], &["sleep", "100000"]);
    }
    let home = tempfile::tempdir().unwrap();
    let config = local_config(home.path(), &docker, "");
    let out = watchfloor(
        home.path(),
        &["--config", config.to_str().unwrap(), "snapshot", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = &v["hosts"][0];
    assert_eq!(host["answered"], true);
    let api1 = host["containers"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "snapcli-api-1")
        .expect("snapcli-api-1 listed");
    assert_eq!(
        (
            api1["project"].as_str(),
            api1["service"].as_str(),
            api1["state"].as_str()
        ),
        (Some(project), Some("api"), Some("running"))
    );
    let svc = host["containers"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["project"] == project)
        .expect("service summary");
    assert_eq!(
        (svc["running"].as_u64(), svc["total"].as_u64()),
        (Some(2), Some(2))
    );

    let out = watchfloor(
        home.path(),
        &["--config", config.to_str().unwrap(), "snapshot", "--md"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("| snapcli | api | 2/2 | 0 |"), "{md}");
    docker.remove_project(project, &[]);
}

/// `watchfloor alerts` exits as monitoring plugins do: 0 nothing wrong, 1 warnings, 2
/// critical (a dead host among live ones), 3 nothing could be collected or the config is bad.
/// Thresholds are raised so this machine's own disks and load never decide the result.
#[test]
fn alerts_exit_codes_follow_the_monitoring_plugin_convention() {
    let home = tempfile::tempdir().unwrap();
    let dumps = home.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    std::fs::write(dumps.join("app-1.dump"), "x").unwrap();
    common::sh(
        Command::new("touch")
            .args(["-d", "30 hours ago"])
            .arg(dumps.join("app-1.dump")),
    );
    let quiet = "[alerts]\ndisk_warn_pct = 99.8\ndisk_crit_pct = 99.9\ncpu_warn_pct = 100\n\
                 memory_warn_pct = 100\n\n[[host]]\nname = \"local\"\ndocker = false\n";
    let run = |extra: &str, json: bool| {
        let config = home.path().join("c.toml");
        std::fs::write(&config, format!("{quiet}{extra}")).unwrap();
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "alerts",
            "--timeout",
            "5",
        ];
        if json {
            args.push("--json");
        }
        let out = watchfloor(home.path(), &args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run("", false);
    assert_eq!((code, text.trim()), (Some(0), "no alerts"));

    // A dump 30 h old against 26 h: a warning.
    let stale = format!(
        "[[host.backup]]\nname = \"dumps\"\nkind = \"files\"\npath = \"{}/app-*.dump\"\nmax_age = \"26h\"\n",
        dumps.display()
    );
    let (code, text) = run(&stale, false);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("WARN local backups: dumps:"), "{text}");

    // Acknowledged in the console: still listed, no longer counted.
    let state = home.path().join(".local/state/watchfloor");
    std::fs::create_dir_all(&state).unwrap();
    // The alert's identity: its text with the measurements taken out.
    assert!(
        text.contains("dumps: newest backup 1d6h old (max 1d2h)"),
        "{text}"
    );
    let shape = "dumps: newest backup # old (max #)";
    std::fs::write(
        state.join("alerts-muted.json"),
        serde_json::json!({"acks": [{
            "host": "local", "domain": "backups", "severity": "warn",
            "at": "2026-12-01T00:00:00Z", "by": "alice",
            "shape": shape,
        }]})
        .to_string(),
    )
    .unwrap();
    let (code, muted) = run(&stale, false);
    std::fs::remove_file(state.join("alerts-muted.json")).unwrap();
    assert_eq!(code, Some(0), "{muted}");
    assert!(muted.trim_end().ends_with("[acknowledged]"), "{muted}");

    // And a host that cannot be reached: critical, worst first, in JSON too.
    let dead = format!("{stale}\n[[host]]\nname = \"dead\"\nssh = \"root@127.0.0.1:1\"\n");
    let (code, text) = run(&dead, false);
    assert_eq!(code, Some(2), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CRIT dead link:"), "{text}");
    assert!(lines[1].starts_with("WARN local"), "{text}");
    let (code, json) = run(&dead, true);
    assert_eq!(code, Some(2));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["alerts"][0]["severity"], "crit", "{v}");
    assert_eq!(v["hosts"], 2, "{v}");
    assert!(
        v["hosts_fully_answered"].as_u64() < Some(2),
        "the dead one did not: {v}"
    );

    // Nothing reachable, or no config to read: unknown.
    let config = home.path().join("dead.toml");
    std::fs::write(
        &config,
        "[[host]]\nname = \"dead\"\nssh = \"root@127.0.0.1:1\"\n",
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "alerts",
        "--timeout",
        "5",
    ];
    assert_eq!(watchfloor(home.path(), &args).status.code(), Some(3));
    let args = ["--config", "/nonexistent.toml", "alerts"];
    assert_eq!(watchfloor(home.path(), &args).status.code(), Some(3));
}

/// SSH's `~` is the passwd home, as for ssh (not HOME, which `sudo -E` or a container may point
/// elsewhere); `watchfloor ssh-config` says which resolver answered and what it resolved.
#[test]
fn ssh_files_come_from_the_passwd_home_whatever_home_says() {
    let elsewhere = tempfile::tempdir().unwrap();
    let me = watchfloor::passwd::current().expect("a passwd entry");
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .env("HOME", elsewhere.path())
        .env_remove("WATCHFLOOR_SSH_HOME")
        .args(["ssh-config", "ops@db.example:2222"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("resolver: OpenSSH's own `"), "{text}");
    assert!(
        text.contains(&format!(
            "local user: {} (home {})",
            me.name,
            me.home.display()
        )),
        "{text}"
    );
    let known = format!("{}/.ssh/known_hosts", me.home.display());
    let line = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("userknownhostsfile").contains(&known), "{text}");
    assert!(
        !text.contains(&elsewhere.path().display().to_string()),
        "{text}"
    );
    assert!(
        line("host key looked up as").ends_with("[db.example]:2222"),
        "{text}"
    );
    assert!(line("user ").ends_with("ops"), "{text}");

    // With WATCHFLOOR_SSH_HOME, that home, read by watchfloor's own reader.
    let out = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .env("WATCHFLOOR_SSH_HOME", elsewhere.path())
        .args(["ssh-config", "db"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("WATCHFLOOR_SSH_HOME is set"), "{text}");
    assert!(
        text.contains(&format!("{}/.ssh/known_hosts", elsewhere.path().display())),
        "{text}"
    );
}

/// A config file with no host in it is not silently "fine": the headless commands say what
/// is watched instead.
#[test]
fn an_empty_config_file_says_so() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("empty.toml");
    std::fs::write(&config, "# nothing yet\n").unwrap();
    let out = watchfloor(
        home.path(),
        &["--config", config.to_str().unwrap(), "drill", "list"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty.toml has no [[host]]: watching this machine as `local`"),
        "{stderr}"
    );
}
