//! The state as JSON (for scripts) or Markdown (for incident notes): what `watchfloor snapshot`
//! prints. Built from the same `App` state the panes draw. Pure.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::app::App;
use crate::app::alerts::{Alert, Severity};
use crate::app::containers::Counts;
use crate::app::hosts::HostState;
use crate::collect::containers::{Container, ContainerState};
use crate::collect::health::HealthSnapshot;
use crate::link::LinkState;
use crate::ui::widgets;

#[derive(Serialize)]
struct Snapshot<'a> {
    generated_at: Timestamp,
    /// Every problem, worst first, as the console's alerts decide them.
    alerts: &'a [Alert],
    hosts: Vec<HostOut<'a>>,
}

#[derive(Serialize)]
struct HostOut<'a> {
    name: &'a str,
    link: String,
    /// Every collector of this host answered.
    answered: bool,
    containers: Option<ContainersOut<'a>>,
    disks: DisksOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    docker_usage: Option<Observation<'a, crate::collect::docker_usage::DockerUsage>>,
    health: Option<Observation<'a, HealthSnapshot>>,
    postgres: Vec<ClusterOut<'a>>,
    backups: Vec<BackupOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drills: Vec<DrillOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    probes: Vec<Named<'a, crate::collect::probes::ProbeResult>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    redis: Vec<Named<'a, crate::collect::redis::RedisInfo>>,
}

/// A configured item's name and last observation (a probe, a Redis server).
#[derive(Serialize)]
struct Named<'a, T> {
    name: &'a str,
    #[serde(flatten)]
    observed: Observation<'a, T>,
}

/// One restore drill: when it is due, and its last run (from the drill history).
#[derive(Serialize)]
struct DrillOut<'a> {
    name: &'a str,
    source: &'a str,
    due: String,
    last: Option<&'a crate::actions::history::DrillRun>,
    last_pass: Option<Timestamp>,
}

/// One backup source: its policy, the verdict on it and what is wrong, and its last read.
#[derive(Serialize)]
struct BackupOut<'a> {
    name: &'a str,
    kind: crate::config::backup::BackupKind,
    verdict: &'static str,
    findings: Vec<String>,
    policy: &'a crate::config::backup::Policy,
    #[serde(flatten)]
    observed: Observation<'a, crate::collect::backups::BackupsSnapshot>,
}

/// One domain's last observation: when, the last error, and the data.
#[derive(Serialize)]
struct Observation<'a, T> {
    observed_at: Option<Timestamp>,
    error: Option<&'a str>,
    #[serde(flatten)]
    data: Option<&'a T>,
}

impl<'a, T> Observation<'a, T> {
    fn of(o: &'a crate::app::hosts::Observed<T>) -> Self {
        Observation {
            observed_at: o.observed_at(),
            error: o.error(),
            data: o.latest(),
        }
    }
}

#[derive(Serialize)]
struct ClusterOut<'a> {
    name: &'a str,
    #[serde(flatten)]
    observed: Observation<'a, Box<crate::collect::postgres::Snapshot>>,
}

#[derive(Serialize)]
struct ContainersOut<'a> {
    observed_at: Option<Timestamp>,
    error: Option<&'a str>,
    engine: Option<&'a str>,
    services: Vec<ServiceOut<'a>>,
    containers: &'a [Container],
}

#[derive(Serialize)]
struct ServiceOut<'a> {
    project: &'a str,
    service: &'a str,
    running: usize,
    total: usize,
    unhealthy: usize,
}

#[derive(Serialize)]
struct DisksOut<'a> {
    observed_at: Option<Timestamp>,
    error: Option<&'a str>,
    filesystems: Vec<FsOut<'a>>,
}

#[derive(Serialize)]
struct FsOut<'a> {
    mount: &'a str,
    device: &'a str,
    size_bytes: u64,
    used_bytes: u64,
    avail_bytes: u64,
    use_pct: f64,
    inode_pct: Option<f64>,
    /// Growth over the samples kept, and the time to full at that pace (absent: not enough
    /// samples yet, or not growing).
    #[serde(skip_serializing_if = "Option::is_none")]
    growth_bytes_per_h: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_in_s: Option<u64>,
}

fn link_text(link: &LinkState) -> String {
    match link {
        LinkState::Connecting => "connecting".into(),
        LinkState::Up => "up".into(),
        LinkState::Down { error, .. } => format!("down: {error}"),
    }
}

/// Compose services of a host with their replica counts, by project then service.
fn services(containers: &[Container]) -> Vec<ServiceOut<'_>> {
    let mut keys: Vec<(&str, &str)> = containers
        .iter()
        .filter_map(|c| Some((c.project.as_deref()?, c.service.as_deref()?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(project, service)| {
            let n = Counts::of(containers.iter().filter(|c| {
                c.project.as_deref() == Some(project) && c.service.as_deref() == Some(service)
            }));
            ServiceOut {
                project,
                service,
                running: n.running,
                total: n.total,
                unhealthy: n.unhealthy,
            }
        })
        .collect()
}

fn host_out(h: &HostState, now: Timestamp) -> HostOut<'_> {
    let containers = h.containers.as_ref().map(|o| {
        let snap = o.latest();
        ContainersOut {
            observed_at: o.observed_at(),
            error: o.error(),
            engine: snap.map(|s| s.engine.as_str()),
            services: snap.map(|s| services(&s.containers)).unwrap_or_default(),
            containers: snap.map_or(&[], |s| &s.containers),
        }
    });
    let forecast = |f| h.growth.forecast(f, h.disks_interval());
    let filesystems = h.disks.latest().map_or_else(Vec::new, |s| {
        s.filesystems
            .iter()
            .map(|f| FsOut {
                mount: &f.mount,
                device: &f.device,
                size_bytes: f.size_bytes,
                used_bytes: f.used_bytes,
                avail_bytes: f.avail_bytes,
                use_pct: (f.use_pct() * 10.0).round() / 10.0,
                inode_pct: f.inode_pct().map(|p| (p * 10.0).round() / 10.0),
                growth_bytes_per_h: forecast(f).map(|c| (c.bytes_per_s * 3600.0) as i64),
                full_in_s: forecast(f).and_then(|c| c.full_in).map(|d| d.as_secs()),
            })
            .collect()
    });
    HostOut {
        name: &h.name,
        link: link_text(&h.link),
        answered: h.all_answered(),
        containers,
        disks: DisksOut {
            observed_at: h.disks.observed_at(),
            error: h.disks.error(),
            filesystems,
        },
        docker_usage: h.docker_usage.as_ref().map(Observation::of),
        health: h.health.as_ref().map(|x| Observation::of(&x.observed)),
        postgres: h
            .postgres
            .iter()
            .map(|c| ClusterOut {
                name: c.name(),
                observed: Observation::of(&c.observed),
            })
            .collect(),
        backups: h
            .backups
            .iter()
            .map(|b| BackupOut {
                name: &b.spec.name,
                kind: b.spec.kind,
                verdict: crate::app::backups::verdict(b, now).label(),
                findings: b.observed.latest().map_or_else(Vec::new, |snap| {
                    crate::app::backups::findings(&b.spec, snap, now)
                        .into_iter()
                        .map(|f| f.what)
                        .collect()
                }),
                policy: &b.spec.policy,
                observed: Observation::of(&b.observed),
            })
            .collect(),
        drills: h
            .drills
            .iter()
            .map(|d| DrillOut {
                name: &d.spec.name,
                source: &d.spec.source_name,
                due: d.due_text(now),
                last: d.last(),
                last_pass: d.last_pass().map(|r| r.started),
            })
            .collect(),
        probes: h
            .probes
            .iter()
            .map(|p| Named {
                name: &p.spec.name,
                observed: Observation::of(&p.observed),
            })
            .collect(),
        redis: h
            .redis
            .iter()
            .map(|r| Named {
                name: &r.spec.name,
                observed: Observation::of(&r.observed),
            })
            .collect(),
    }
}

pub fn json(app: &App) -> String {
    let snap = Snapshot {
        generated_at: app.now,
        alerts: &app.alerts,
        hosts: app.hosts.iter().map(|h| host_out(h, app.now)).collect(),
    };
    serde_json::to_string_pretty(&snap).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Markdown tables; `|` in names is escaped so a hostile name cannot break the table.
pub fn markdown(app: &App) -> String {
    let mut md = String::new();
    let now = app.now;
    let _ = writeln!(
        md,
        "# watchfloor snapshot {}\n",
        now.strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    alerts_md(&mut md, &app.alerts, now);
    for h in &app.hosts {
        let _ = writeln!(md, "## {} ({})\n", cell(&h.name), cell(&link_text(&h.link)));
        if let Some(o) = &h.containers {
            if let Some(e) = o.error() {
                let _ = writeln!(md, "**Containers:** {}\n", cell(e));
            }
            if let Some(s) = o.latest() {
                let _ = writeln!(
                    md,
                    "Docker {}\n\n| project | service | running | unhealthy |\n|---|---|---|---|",
                    cell(&s.engine)
                );
                for svc in services(&s.containers) {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {}/{} | {} |",
                        cell(svc.project),
                        cell(svc.service),
                        svc.running,
                        svc.total,
                        svc.unhealthy
                    );
                }
                let _ = writeln!(
                    md,
                    "\n| container | project | service | state | health | restarts | up | image |\n|---|---|---|---|---|---|---|---|"
                );
                for c in &s.containers {
                    let up = match (c.state, c.started_at) {
                        (ContainerState::Running, Some(t)) => crate::text::ago(t, now),
                        _ => "-".into(),
                    };
                    let state = match c.exit_code {
                        Some(code) if c.state == ContainerState::Exited => {
                            format!("exited({code})")
                        }
                        _ => c.state.as_str().to_owned(),
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        cell(&c.name),
                        cell(c.project.as_deref().unwrap_or("-")),
                        cell(c.service.as_deref().unwrap_or("-")),
                        state,
                        c.health.map_or("-", |h| h.as_str()),
                        c.restart_count,
                        up,
                        cell(&c.image)
                    );
                }
                md.push('\n');
            }
        }
        if let Some(e) = h.disks.error() {
            let _ = writeln!(md, "**Disks:** {}\n", cell(e));
        }
        if let Some(s) = h.disks.latest() {
            let _ = writeln!(
                md,
                "| mount | filesystem | size | used | avail | use | inodes | full in |\n|---|---|---|---|---|---|---|---|"
            );
            for f in &s.filesystems {
                let inodes = f
                    .inode_pct()
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%"));
                let full_in = match h.growth.forecast(f, h.disks_interval()) {
                    Some(c) => c.full_in.map_or_else(
                        || "not growing".to_owned(),
                        |d| format!("~{}", widgets::age(d)),
                    ),
                    None => "-".to_owned(),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {:.0}% | {} | {full_in} |",
                    cell(&f.mount),
                    cell(&f.device),
                    widgets::bytes(f.size_bytes),
                    widgets::bytes(f.used_bytes),
                    widgets::bytes(f.avail_bytes),
                    f.use_pct(),
                    inodes
                );
            }
            md.push('\n');
        }
        if let Some(health) = &h.health {
            health_md(&mut md, &health.observed, now);
        }
        for c in &h.postgres {
            postgres_md(&mut md, c);
        }
        backups_md(&mut md, h, now);
        drills_md(&mut md, h, now);
        services_md(&mut md, h, now);
    }
    md
}

/// Probes and Redis servers: one line each, with the verdict's words.
fn services_md(md: &mut String, h: &HostState, now: Timestamp) {
    if h.probes.is_empty() && h.redis.is_empty() {
        return;
    }
    md.push_str("| probe / server | checked | result |\n|---|---|---|\n");
    let checked = |t: Option<Timestamp>| t.map_or("-".to_owned(), |t| crate::text::ago(t, now));
    for p in &h.probes {
        let result = match (p.observed.latest(), p.observed.error()) {
            (_, Some(e)) => format!("not run: {e}"),
            (None, None) => "not run yet".to_owned(),
            (Some(r), None) => r
                .problem
                .clone()
                .unwrap_or_else(|| format!("ok in {}", crate::ui::health::latency(r.latency))),
        };
        let _ = writeln!(
            md,
            "| probe {} | {} | {} |",
            cell(&p.spec.name),
            checked(p.observed.observed_at()),
            cell(&result)
        );
    }
    for r in &h.redis {
        let result = match (r.observed.latest(), r.observed.error()) {
            (_, Some(e)) => format!("unreachable: {e}"),
            (None, None) => "not read yet".to_owned(),
            (Some(i), None) => {
                let problems: Vec<String> = crate::app::redis::problems(r, i, now)
                    .into_iter()
                    .map(|(_, w)| w)
                    .collect();
                if problems.is_empty() {
                    format!("ok · {} {}", i.version, i.role)
                } else {
                    problems.join("; ")
                }
            }
        };
        let _ = writeln!(
            md,
            "| Redis {} | {} | {} |",
            cell(&r.spec.name),
            checked(r.observed.observed_at()),
            cell(&result)
        );
    }
    md.push('\n');
}

fn drills_md(md: &mut String, h: &HostState, now: Timestamp) {
    if h.drills.is_empty() {
        return;
    }
    md.push_str("| drill | source | last | RTO | RPO | next due |\n|---|---|---|---|---|---|\n");
    for d in &h.drills {
        let secs = crate::app::drills::secs_text;
        let last = d.last().map_or_else(
            || "never run".to_owned(),
            |r| {
                format!(
                    "{} {} ago",
                    r.outcome.label(),
                    crate::text::ago(r.started, now)
                )
            },
        );
        let pass = d.last_pass();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&d.spec.name),
            cell(&d.spec.source_name),
            cell(&last),
            secs(pass.and_then(|p| p.rto_s)),
            secs(pass.and_then(|p| p.rpo_s)),
            d.due_text(now)
        );
    }
    md.push('\n');
}

fn backups_md(md: &mut String, h: &HostState, now: Timestamp) {
    if h.backups.is_empty() {
        return;
    }
    md.push_str(
        "| backup source | kind | verdict | newest | count | running | what is wrong |\n|---|---|---|---|---|---|---|\n",
    );
    for b in &h.backups {
        let snap = b.observed.latest();
        let newest = snap
            .and_then(|s| s.newest())
            .map_or_else(|| "-".to_owned(), |n| crate::text::ago(n.time, now));
        let count = snap
            .filter(|s| s.listed_at.is_some())
            .map_or_else(|| "-".to_owned(), |s| s.backups.len().to_string());
        let running = snap
            .and_then(|s| crate::app::backups::running_text(s, now))
            .unwrap_or_else(|| "-".to_owned());
        let mut wrong: Vec<String> = snap.map_or_else(Vec::new, |s| {
            crate::app::backups::findings(&b.spec, s, now)
                .into_iter()
                .map(|f| f.what)
                .collect()
        });
        wrong.extend(b.observed.error().map(|e| format!("could not read: {e}")));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {newest} | {count} | {} | {} |",
            cell(&b.spec.name),
            b.spec.kind.name(),
            crate::app::backups::verdict(b, now).label(),
            cell(&running),
            cell(&wrong.join("; "))
        );
    }
    md.push('\n');
}

/// `watchfloor alerts`: one line per alert, worst first, for a terminal, a cron mail or a
/// monitoring system's plugin output.
pub fn alerts_text(app: &App) -> String {
    if app.alerts.is_empty() {
        return "no alerts".to_owned();
    }
    let now = app.now;
    app.alerts
        .iter()
        .map(|a| {
            let severity = match a.severity {
                Severity::Crit => "CRIT",
                Severity::Warn => "WARN",
                Severity::Ok => "OK",
            };
            let since = a
                .since
                .map(|t| format!(" (since {} ago)", crate::text::ago(t, now)))
                .unwrap_or_default();
            let stale = a
                .stale
                .map(|d| format!(" [data {} old]", widgets::age(d)))
                .unwrap_or_default();
            let muted = match app.mutes.state(a, now) {
                crate::app::mutes::Muted::No => "",
                crate::app::mutes::Muted::Acked(_) => " [acknowledged]",
                crate::app::mutes::Muted::Silenced(_) => " [silenced]",
            };
            format!(
                "{severity} {} {}: {}{since}{stale}{muted}",
                crate::sanitize::plain(&a.host_name),
                serde_json::to_value(a.domain)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                crate::sanitize::plain(&a.what)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `watchfloor alerts --json`: the alerts and how many hosts answered.
pub fn alerts_json(app: &App) -> String {
    let answered = app.hosts.iter().filter(|h| h.all_answered()).count();
    let v = serde_json::json!({
        "generated_at": app.now,
        "hosts": app.hosts.iter().filter(|h| !h.tunnels_only).count(),
        "hosts_fully_answered": answered,
        "alerts": app.alerts,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn alerts_md(md: &mut String, alerts: &[Alert], now: Timestamp) {
    if alerts.is_empty() {
        md.push_str("No alerts.\n\n");
        return;
    }
    md.push_str(
        "## Alerts\n\n| severity | host | what | since | data age |\n|---|---|---|---|---|\n",
    );
    for a in alerts {
        let severity = match a.severity {
            Severity::Crit => "CRIT",
            Severity::Warn => "warn",
            Severity::Ok => "ok",
        };
        let since = a
            .since
            .map_or_else(|| "-".to_owned(), |t| crate::text::ago(t, now));
        let stale = a.stale.map_or_else(|| "current".to_owned(), widgets::age);
        let _ = writeln!(
            md,
            "| {severity} | {} | {} | {since} | {stale} |",
            cell(&a.host_name),
            cell(&a.what)
        );
    }
    md.push('\n');
}

fn health_md(md: &mut String, o: &crate::app::hosts::Observed<HealthSnapshot>, now: Timestamp) {
    if let Some(e) = o.error() {
        let _ = writeln!(md, "**Health:** {}\n", cell(e));
    }
    if let Some(s) = o.latest() {
        let cpu = s
            .cpu_pct
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%"));
        let _ = writeln!(
            md,
            "**Health** ({} ago): CPU {cpu} of {} · load {:.2} {:.2} {:.2} · memory {:.0}% of {} · swap {} of {} · up {}\n",
            crate::text::ago(s.observed_at, now),
            s.cpus,
            s.load[0],
            s.load[1],
            s.load[2],
            s.mem_pct(),
            widgets::bytes(s.mem_total_bytes),
            widgets::bytes(s.swap_used_bytes),
            widgets::bytes(s.swap_total_bytes),
            widgets::age(s.uptime)
        );
    }
}

fn postgres_md(md: &mut String, c: &crate::app::hosts::Cluster) {
    let _ = writeln!(md, "### PostgreSQL {}\n", cell(c.name()));
    if let Some(e) = c.observed.error() {
        let _ = writeln!(md, "**Error:** {}\n", cell(e));
    }
    let Some(snap) = c.observed.latest() else {
        return;
    };
    let s = &snap.server;
    let _ = writeln!(
        md,
        "PG {} · {}/{} connections ({:.0}%) · {} sessions shown\n",
        cell(s.short_version()),
        snap.total_connections,
        s.max_connections,
        snap.usage_pct(),
        snap.sessions.len()
    );
    let tree = crate::collect::postgres::lock_tree(&snap.sessions);
    if !tree.is_empty() {
        md.push_str("Lock tree (a waiter is indented under what it waits for):\n\n```\n");
        for row in &tree {
            let session = &snap.sessions[row.index];
            let _ = writeln!(
                md,
                "{}{} {} {}",
                "  ".repeat(row.depth),
                row.pid,
                cell(session.state.label()),
                cell(&crate::text::fit(
                    &crate::sanitize::folded(&session.query),
                    80
                ))
            );
        }
        md.push_str("```\n\n");
    }
    let busy: Vec<_> = snap
        .sessions
        .iter()
        .filter(|x| x.state != crate::collect::postgres::State::Idle)
        .collect();
    if !busy.is_empty() {
        md.push_str(
            "| pid | user | database | state | waiting for | query |\n|---|---|---|---|---|---|\n",
        );
        for x in busy {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                x.pid,
                cell(x.user.as_deref().unwrap_or("?")),
                cell(x.database.as_deref().unwrap_or("?")),
                cell(x.state.label()),
                x.blocked_by
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                cell(&crate::text::fit(&crate::sanitize::folded(&x.query), 80))
            );
        }
        md.push('\n');
    }
}

fn cell(s: &str) -> String {
    crate::sanitize::plain(s).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::fleet_app;

    #[test]
    fn json_lists_containers_with_project_and_service() {
        let app = fleet_app(1);
        let v: serde_json::Value = serde_json::from_str(&json(&app)).unwrap();
        let host = &v["hosts"][0];
        assert_eq!(host["name"], "host0");
        let c = host["containers"]["containers"].as_array().unwrap();
        let api1 = c.iter().find(|c| c["name"] == "shop-api-1").unwrap();
        assert_eq!(
            (
                api1["project"].as_str(),
                api1["service"].as_str(),
                api1["state"].as_str()
            ),
            (Some("shop"), Some("api"), Some("running"))
        );
        let api = &host["containers"]["services"][0];
        assert_eq!(
            (
                api["service"].as_str(),
                api["running"].as_u64(),
                api["total"].as_u64()
            ),
            (Some("api"), Some(4), Some(4))
        );
        assert_eq!(host["disks"]["filesystems"][1]["use_pct"], 95.0);
    }

    #[test]
    fn markdown_has_tables_and_escapes_pipes() {
        let mut app = fleet_app(1);
        app.hosts[0].name = "evil|host".into();
        let md = markdown(&app);
        assert!(md.contains("## evil\\|host (up)"), "{md}");
        assert!(md.contains("| shop | api | 4/4 | 1 |"), "{md}");
        assert!(
            md.contains("| shop-worker-2 | shop | worker | exited(3) |"),
            "{md}"
        );
        assert!(md.contains("| /srv/data | /dev/sdb1 | 500G |"), "{md}");
    }
}
