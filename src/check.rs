//! `watchfloor check`: validates the config (already done by loading it) and tries every host
//! step by step (resolve, TCP, host key, auth, Docker API, df, each PostgreSQL cluster),
//! concurrently, each with a deadline. Prints one table row per host, then for each failure the step and what to do.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::collect::{disks, docker, postgres};
use crate::config::{HostSpec, Transport};
use crate::link::Link;
use crate::link::local::Local;
use crate::link::ssh::Ssh;
use crate::link::ssh::session::{self, Options, Step};

/// The columns, in the order the steps run.
pub const STEPS: [&str; 8] = [
    "resolve", "tcp", "host key", "auth", "docker", "df", "postgres", "backups",
];

/// What happened to one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCheck {
    pub name: String,
    pub address: String,
    /// One cell per step: "ok", a short result, "FAIL", "-" (not reached) or "local".
    pub cells: Vec<String>,
    /// The failing step and the full message (which says what to do).
    pub failure: Option<(&'static str, String)>,
    /// Host keys recorded by --accept-new: (address, fingerprint).
    pub learned: Vec<(String, String)>,
}

/// Checks one host within `deadline`.
pub async fn host(spec: &HostSpec, options: &Options, deadline: Duration) -> HostCheck {
    let mut check = HostCheck {
        name: spec.name.clone(),
        address: "local".into(),
        cells: vec!["-".to_owned(); STEPS.len()],
        failure: None,
        learned: Vec::new(),
    };
    let work = run(spec, options, &mut check);
    if tokio::time::timeout(deadline, work).await.is_err() {
        let at = check.cells.iter().position(|c| c == "…").unwrap_or(0);
        let why = format!("no answer within {}s", deadline.as_secs());
        failed_at(&mut check, at, why);
    }
    check
}

/// Step `at` failed: it says FAIL, and every step after it was not tried. A jump host's own
/// steps may have marked later columns "ok" on the way: they were not the target's.
fn failed_at(check: &mut HostCheck, at: usize, message: String) {
    check.cells[at] = "FAIL".into();
    for c in check.cells.iter_mut().skip(at + 1) {
        *c = "skipped".into();
    }
    check.failure = Some((STEPS[at], message));
}

async fn run(spec: &HostSpec, options: &Options, check: &mut HostCheck) {
    let link: Arc<dyn Link> = match &spec.transport {
        Transport::Local => {
            check.cells[..4].fill("local".to_owned());
            Arc::new(Local::new(spec.name.clone()))
        }
        Transport::Ssh(target) => {
            check.address = format!(
                "{}@{}",
                target.user,
                session::display_addr(&target.host_name, target.port)
            );
            let cells = &mut check.cells;
            let mut progress = |_: &str, step: Step| {
                let i = match step {
                    Step::Resolve => 0,
                    Step::Tcp => 1,
                    Step::HostKey => 2,
                    Step::Auth => 3,
                };
                // Steps before the one starting now have passed (a jump host repeats them).
                for c in cells.iter_mut().take(i) {
                    if c == "…" || c == "-" {
                        *c = "ok".into();
                    }
                }
                cells[i] = "…".into();
            };
            let options = crate::host::host_options(spec, options);
            match session::connect(&spec.name, target, &options, &mut progress).await {
                Ok(c) => {
                    check.learned = c.learned.clone();
                    check.cells[..4].fill("ok".to_owned());
                    Arc::new(Ssh::new(spec.name.clone(), c))
                }
                Err(e) => {
                    let at = check.cells.iter().position(|c| c == "…").unwrap_or(0);
                    failed_at(check, at, e.to_string());
                    return;
                }
            }
        }
    };
    check.cells[4] = "…".into();
    check.cells[4] = match &spec.docker_socket {
        None => "off".into(),
        Some(socket) => match docker::connect(link.clone(), socket).await {
            Ok(d) => match d.version().await {
                Ok(v) => format!(
                    "{} (API {})",
                    v.version.unwrap_or_default(),
                    v.api_version.unwrap_or_default()
                ),
                Err(e) => fail(check, 4, docker::api_error(&spec.name, e).to_string()),
            },
            Err(e) => fail(check, 4, e.to_string()),
        },
    };
    if spec.tunnels_only {
        check.cells[5] = "off".into();
        return;
    }
    check.cells[5] = "…".into();
    check.cells[5] = match disks::sample(&*link).await {
        Ok(s) => format!("{} fs", s.filesystems.len()),
        Err(e) => fail(check, 5, e.to_string()),
    };
    check.cells[6] = "…".into();
    check.cells[6] = if spec.postgres.is_empty() {
        "off".into()
    } else {
        clusters(spec, &*link, check).await
    };
    check.cells[7] = "…".into();
    check.cells[7] = if spec.backups.is_empty() {
        "off".into()
    } else {
        backups(spec, &*link, check).await
    };
}

/// Reads every backup source once: "3 ok", or the first that fails (the tool missing, the
/// repository not found, the passphrase not available) with what to do.
async fn backups(spec: &HostSpec, link: &dyn Link, check: &mut HostCheck) -> String {
    for b in &spec.backups {
        if let Err(e) = crate::collect::backups::read(link, b, None).await {
            return fail(check, 7, format!("backup source {}: {e}", b.name));
        }
    }
    format!("{} ok", spec.backups.len())
}

/// Connects to every cluster of the host and takes one snapshot: "15.20" per cluster, marked
/// "(limited)" when the role lacks pg_monitor; the first failure fails the step.
async fn clusters(spec: &HostSpec, link: &dyn Link, check: &mut HostCheck) -> String {
    let mut cells = Vec::new();
    for pg in &spec.postgres {
        let snapshot = match postgres::connect(link, &pg.target).await {
            Ok(session) => session.snapshot().await,
            Err(e) => Err(e),
        };
        match snapshot {
            Ok(s) => {
                let version = s.server.short_version();
                let limited = if s.server.privileged {
                    ""
                } else {
                    " (limited)"
                };
                cells.push(format!("{}: {version}{limited}", pg.target.name));
            }
            Err(e) => return fail(check, 6, e.to_string()),
        }
    }
    cells.join(", ")
}

fn fail(check: &mut HostCheck, step: usize, message: String) -> String {
    if check.failure.is_none() {
        check.failure = Some((STEPS[step], message));
    }
    "FAIL".into()
}

/// The report: a table, then the failures with their messages, then recorded keys.
pub fn report(checks: &[HostCheck]) -> String {
    let mut header = vec!["HOST".to_owned(), "ADDRESS".to_owned()];
    header.extend(STEPS.iter().map(|s| s.to_uppercase()));
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let mut r = vec![c.name.clone(), c.address.clone()];
            r.extend(c.cells.iter().cloned());
            r
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    for c in checks {
        if let Some((step, message)) = &c.failure {
            let _ = writeln!(out, "\n{} failed at {step}: {message}", c.name);
        }
        for (addr, fp) in &c.learned {
            let _ = writeln!(out, "\n{}: recorded the host key of {addr} ({fp})", c.name);
        }
    }
    let failed = checks.iter().filter(|c| c.failure.is_some()).count();
    let _ = writeln!(
        out,
        "\n{} of {} hosts OK",
        checks.len() - failed,
        checks.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_after_a_failure_are_skipped_even_if_a_jump_host_passed_them() {
        let mut check = HostCheck {
            name: "db1".into(),
            address: "root@10.0.0.9".into(),
            // The bastion got through all four SSH steps; then the target's TCP step started.
            cells: ["ok", "…", "ok", "ok", "-", "-", "-"]
                .map(String::from)
                .to_vec(),
            failure: None,
            learned: vec![],
        };
        failed_at(&mut check, 1, "connection refused".into());
        assert_eq!(
            check.cells,
            [
                "ok", "FAIL", "skipped", "skipped", "skipped", "skipped", "skipped"
            ]
        );
        assert_eq!(check.failure.map(|f| f.0), Some(STEPS[1]));
    }

    #[test]
    fn report_aligns_columns_and_explains_failures() {
        let ok = HostCheck {
            name: "app1".into(),
            address: "root@10.8.0.2".into(),
            cells: [
                "ok",
                "ok",
                "ok",
                "ok",
                "20.10.24 (API 1.41)",
                "3 fs",
                "main: 15.20",
                "2 ok",
            ]
            .map(String::from)
            .to_vec(),
            failure: None,
            learned: vec![],
        };
        let bad = HostCheck {
            name: "db1".into(),
            address: "root@[10.8.0.3]:2222".into(),
            cells: ["ok", "ok", "FAIL", "-", "-", "-", "-", "-"]
                .map(String::from)
                .to_vec(),
            failure: Some((
                "host key",
                "host key of [10.8.0.3]:2222 (db1) has CHANGED".into(),
            )),
            learned: vec![],
        };
        let text = report(&[ok, bad]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0]
                .starts_with("HOST  ADDRESS               RESOLVE  TCP  HOST KEY  AUTH  DOCKER"),
            "{text}"
        );
        assert_eq!(lines[2].find("FAIL"), lines[0].find("HOST KEY"), "{text}");
        assert!(
            text.contains("db1 failed at host key: host key of [10.8.0.3]:2222 (db1) has CHANGED"),
            "{text}"
        );
        assert!(text.ends_with("1 of 2 hosts OK\n"), "{text}");
    }
}
