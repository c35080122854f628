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
