//! The containers pane's model: hosts → compose projects → services → containers, with replica
//! counts, folding and filtering. Pure; the pane in `ui/containers.rs` only draws these rows.

use std::collections::{BTreeMap, HashSet};

use super::hosts::HostState;
use super::list::Selection;
use crate::collect::containers::{Container, ContainerState, Health};
use crate::collect::stats::{ContainerStats, StatsSample};
use crate::event::HostId;

/// Stable identity of a row, for the selection and for folding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Host(HostId),
    /// None: containers without a compose project.
    Project(HostId, Option<String>),
    Service(HostId, Option<String>, String),
    Container(HostId, String),
}

#[derive(Debug)]
pub struct Row<'a> {
    pub key: RowKey,
    /// Indentation level: host 0, project 1, service 2, container 3 (2 when it has no service).
    pub depth: u8,
    pub folded: bool,
    pub kind: RowKind<'a>,
}

#[derive(Debug)]
pub enum RowKind<'a> {
    Host(&'a HostState),
    Project {
        name: Option<&'a str>,
        counts: Counts,
    },
    Service {
        name: &'a str,
        counts: Counts,
    },
    Container(&'a Container),
}

/// Replica counts of a group. One-off (`compose run`) containers are not replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub running: usize,
    pub total: usize,
    pub unhealthy: usize,
    /// In a restart loop: Docker is restarting it, or its restart policy already did 3 times.
    pub looping: usize,
    pub restarts: u64,
    /// Exited with code 0 and not restarting: a one-shot task (a migration) that is done, not
    /// a replica missing.
    pub completed: usize,
}

impl Counts {
    pub fn of<'a>(containers: impl IntoIterator<Item = &'a Container>) -> Counts {
        let mut n = Counts::default();
        for c in containers.into_iter().filter(|c| !c.oneoff) {
            n.total += 1;
            n.running += usize::from(c.state == ContainerState::Running);
            n.unhealthy += usize::from(c.health == Some(Health::Unhealthy));
            n.looping += usize::from(is_looping(c));
            n.restarts += u64::from(c.restart_count);
            n.completed += usize::from(
                c.state == ContainerState::Exited && c.exit_code == Some(0) && !is_looping(c),
            );
        }
        n
    }

    /// Replicas missing: neither running nor done with success.
    pub fn missing(&self) -> usize {
        self.total.saturating_sub(self.running + self.completed)
    }

    /// A replica missing, or an unhealthy or looping one.
    pub fn is_degraded(&self) -> bool {
        self.missing() > 0 || self.unhealthy > 0 || self.looping > 0
    }
}

/// A container caught in a restart loop.
/// A container's CPU share at or above this is drawn as a warning in its row.
pub const CPU_WARN_PCT: f64 = 90.0;

/// How a container's stats read in its row: the CPU share (None until two readings), whether
/// it is drawn as a warning, and the memory.
pub fn stats_shown(s: &ContainerStats) -> (Option<String>, bool, String) {
    (
        s.cpu_percent.map(|p| format!("{p:.1}%")),
        s.cpu_percent.is_some_and(|p| p >= CPU_WARN_PCT),
        crate::text::bytes(s.memory_bytes),
    )
}

/// Two samples that read the same in every row (idle containers: 0.0 % and the same memory,
/// every two seconds): no frame is drawn for the second.
pub fn stats_look_the_same(old: &StatsSample, new: &StatsSample) -> bool {
    old.stats.len() == new.stats.len()
        && new.stats.iter().all(|(id, s)| {
            old.stats
                .get(id)
                .is_some_and(|o| stats_shown(o) == stats_shown(s))
        })
}

pub fn is_looping(c: &Container) -> bool {
    c.state == ContainerState::Restarting || c.restart_count >= LOOP_RESTARTS
}

/// Restarts by the restart policy from which a container counts as looping.
pub const LOOP_RESTARTS: u32 = 3;

/// How bad one container's state is: unhealthy or looping is critical; exited with an error
/// code (not a one-shot `compose run`) is a warning; anything else is fine.
pub fn severity(c: &Container) -> super::alerts::Severity {
    use super::alerts::Severity;
    if c.health == Some(Health::Unhealthy) || is_looping(c) {
        Severity::Crit
    } else if !c.oneoff
        && matches!(c.state, ContainerState::Exited | ContainerState::Dead)
        && c.exit_code.is_some_and(|code| code != 0)
    {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

/// The containers' verdicts for the alerts: each container in trouble, and each compose
/// service with fewer replicas running than exist.
pub fn alerts(
    snap: &crate::collect::containers::ContainersSnapshot,
    stale: Option<std::time::Duration>,
    rules: &mut super::alerts::Rules<'_>,
) {
    use super::alerts::{Domain, Severity};
    let mut services: BTreeMap<(Option<&str>, &str), Vec<&Container>> = BTreeMap::new();
    for c in snap.containers.iter().filter(|c| !c.oneoff) {
        if let Some(service) = &c.service {
            services
                .entry((c.project.as_deref(), service))
                .or_default()
                .push(c);
        }
    }
    let service_name = |project: Option<&str>, service: &str| {
        project.map_or(service.to_owned(), |p| format!("{p}/{service}"))
    };
    // A replica that is missing and has its own alert: the service's count goes into that
    // alert instead of a second one about the same container.
    let mut explained: BTreeMap<(Option<&str>, &str), usize> = BTreeMap::new();
    for c in &snap.containers {
        if severity(c) == Severity::Ok {
            continue;
        }
        let why = if c.health == Some(Health::Unhealthy) {
            "is unhealthy".to_owned()
        } else if is_looping(c) {
            format!(
                "is in a restart loop ({} restarts{})",
                c.restart_count,
                c.exit_code
                    .map(|code| format!(", last exit code {code}"))
                    .unwrap_or_default()
            )
        } else {
            format!("exited with code {}", c.exit_code.unwrap_or_default())
        };
        let since = match c.state {
            ContainerState::Exited | ContainerState::Dead => c.finished_at,
            _ => None,
        };
        let group = c
            .service
            .as_deref()
            .filter(|_| !c.oneoff)
            .map(|service| (c.project.as_deref(), service));
        let counts = group
            .and_then(|g| services.get(&g))
            .map(|m| Counts::of(m.iter().copied()));
        let why = match (group, counts) {
            (Some(g), Some(n)) if n.missing() > 0 => {
                if c.state != ContainerState::Running {
                    *explained.entry(g).or_default() += 1;
                }
                format!(
                    "{why} ({}: {}/{} running)",
                    service_name(g.0, g.1),
                    n.running,
                    n.total
                )
            }
            _ => why,
        };
        let row = super::alerts::Row::Container {
            project: c.project.clone(),
            service: c.service.clone(),
            id: c.id.clone(),
        };
        rules.at(row).push(
            Domain::Containers,
            severity(c),
            format!("container {} {why}", c.name),
            since,
            stale,
        );
    }
    for ((project, service), members) in services {
        let n = Counts::of(members);
        let own = explained.get(&(project, service)).copied().unwrap_or(0);
        if n.missing() > own {
            let name = service_name(project, service);
            let row = super::alerts::Row::Service(project.map(str::to_owned), service.to_owned());
            rules.at(row).push(
                Domain::Containers,
                Severity::Warn,
                format!("service {name}: {}/{} replicas running", n.running, n.total),
                None,
                stale,
            );
        }
    }
}

/// How containers are ordered within their service or project (the compose grouping stays):
/// `o` moves to the next column, `O` reverses. Numbers sort biggest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub by: SortBy,
    pub reverse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Replica number, then name: compose's own order.
    #[default]
    Replica,
    Name,
    /// Worst first: what needs looking at on top.
    State,
    Restarts,
    Cpu,
    Memory,
    /// Most recently started first.
    Uptime,
}

impl SortBy {
    const ALL: [SortBy; 7] = [
        SortBy::Replica,
        SortBy::Name,
        SortBy::State,
        SortBy::Restarts,
        SortBy::Cpu,
        SortBy::Memory,
        SortBy::Uptime,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortBy::Replica => "replica",
            SortBy::Name => "name",
            SortBy::State => "state",
            SortBy::Restarts => "restarts",
            SortBy::Cpu => "CPU",
            SortBy::Memory => "memory",
            SortBy::Uptime => "uptime",
        }
    }

    fn next(self) -> SortBy {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// The pane's own state: selection, folded groups, filter, the open detail, the order.
#[derive(Debug, Clone, Default)]
pub struct ContainersView {
    pub selection: Selection<RowKey>,
    pub folded: HashSet<RowKey>,
    pub sort: Sort,
    /// The container whose details are shown, if any.
    pub detail: Option<(HostId, String)>,
    pub filter: super::Filter,
}

impl ContainersView {
    pub fn keys(&self, hosts: &[&HostState]) -> Vec<RowKey> {
        rows(hosts, &self.folded, &self.filter.text, self.sort)
            .into_iter()
            .map(|r| r.key)
            .collect()
    }
}

impl super::pane::PaneState for ContainersView {
    super::pane::filter_field!();
    fn contexts(&self) -> &'static [crate::config::keymap::Context] {
        use crate::config::keymap::Context;
        &[Context::List, Context::Containers]
    }
    fn move_by(&mut self, cx: &super::pane::Ctx<'_>, delta: isize) {
        if self.detail.is_none() {
            let keys = self.keys(&cx.hosts);
            self.selection.move_by(&keys, delta);
        }
    }
    /// A container opens its details; a group folds or unfolds.
    fn open(&mut self, cx: &super::pane::Ctx<'_>) -> Option<super::pane::Nav> {
        let keys = self.keys(&cx.hosts);
        let key = keys.get(self.selection.index(&keys)).cloned()?;
        if let RowKey::Container(host, id) = &key {
            self.detail = Some((*host, id.clone()));
        } else if !self.folded.remove(&key) {
            self.folded.insert(key);
        }
        None
    }
    fn back(&mut self) -> bool {
        self.detail.take().is_some()
    }
    fn sort(&mut self, reverse: bool) -> Option<String> {
        if reverse {
            self.sort.reverse = !self.sort.reverse;
        } else {
            self.sort = Sort {
                by: self.sort.by.next(),
                reverse: false,
            };
        }
        Some(format!(
            "containers sorted by {}{} within their service",
            self.sort.by.label(),
            if self.sort.reverse { ", reversed" } else { "" }
        ))
    }
    fn hints(&self) -> &'static [(crate::config::keymap::Action, &'static str)] {
        use crate::config::keymap::Action;
        &[
            (Action::Open, "open"),
            (Action::Sort, "sort"),
            (Action::Logs, "logs"),
            (Action::Restart, "restart"),
            (Action::Stop, "stop"),
            (Action::Start, "start"),
        ]
    }
}

/// The rows to show, in order. With a filter, only matching containers and their groups are
/// kept and folding is ignored, so that a match is never hidden.
pub fn rows<'a>(
    hosts: &[&'a HostState],
    folded: &HashSet<RowKey>,
    filter: &str,
    sort: Sort,
) -> Vec<Row<'a>> {
    let filter = filter.to_lowercase();
    let is_folded = |k: &RowKey| filter.is_empty() && folded.contains(k);
    let mut rows = Vec::new();
    for host in hosts {
        let containers = host
            .containers
            .as_ref()
            .and_then(|o| o.latest())
            .map_or(&[][..], |s| &s.containers[..]);
        let matching: Vec<&Container> = containers.iter().filter(|c| matches(c, &filter)).collect();
        if !filter.is_empty() && matching.is_empty() {
            continue;
        }
        let key = RowKey::Host(host.id);
        let folded = is_folded(&key);
        rows.push(Row {
            key,
            depth: 0,
            folded,
            kind: RowKind::Host(host),
        });
        if folded {
            continue;
        }
        for (project, services) in group(&matching, host, sort) {
            let all_in_project = containers
                .iter()
                .filter(|c| c.project.as_deref() == project);
            let key = RowKey::Project(host.id, project.map(str::to_owned));
            let folded = is_folded(&key);
            rows.push(Row {
                key,
                depth: 1,
                folded,
                kind: RowKind::Project {
                    name: project,
                    counts: Counts::of(all_in_project),
                },
            });
            if folded {
                continue;
            }
            for (service, members) in services {
                let Some(service) = service else {
                    rows.extend(members.into_iter().map(|c| container_row(host.id, c, 2)));
                    continue;
                };
                let all_in_service = containers.iter().filter(|c| {
                    c.project.as_deref() == project && c.service.as_deref() == Some(service)
                });
                let key = RowKey::Service(host.id, project.map(str::to_owned), service.to_owned());
                let folded = is_folded(&key);
                rows.push(Row {
                    key,
                    depth: 2,
                    folded,
                    kind: RowKind::Service {
                        name: service,
                        counts: Counts::of(all_in_service),
                    },
                });
                if !folded {
                    rows.extend(members.into_iter().map(|c| container_row(host.id, c, 3)));
                }
            }
        }
    }
    rows
}

fn container_row(host: HostId, c: &Container, depth: u8) -> Row<'_> {
    Row {
        key: RowKey::Container(host, c.id.clone()),
        depth,
        folded: false,
        kind: RowKind::Container(c),
    }
}

type Groups<'a> = BTreeMap<ProjectOrder<'a>, BTreeMap<Option<&'a str>, Vec<&'a Container>>>;

/// Projects by name, containers without a project last; within a service, in `sort` order.
fn group<'a>(
    containers: &[&'a Container],
    host: &HostState,
    sort: Sort,
) -> impl Iterator<
    Item = (
        Option<&'a str>,
        BTreeMap<Option<&'a str>, Vec<&'a Container>>,
    ),
> {
    let mut groups: Groups<'a> = BTreeMap::new();
    for c in containers {
        let service = if c.project.is_some() {
            c.service.as_deref()
        } else {
            None
        };
        groups
            .entry(ProjectOrder(c.project.as_deref()))
            .or_default()
            .entry(service)
            .or_default()
            .push(c);
    }
    let stat = |c: &Container| host.stats.as_ref().and_then(|s| s.stats.get(&c.id));
    let cpu = |c: &Container| stat(c).and_then(|s| s.cpu_percent).unwrap_or(-1.0);
    let mem = |c: &Container| stat(c).map_or(0, |s| s.memory_bytes);
    let order = |a: &Container, b: &Container| {
        use std::cmp::Ordering;
        let compose = (a.oneoff, a.replica, &a.name).cmp(&(b.oneoff, b.replica, &b.name));
        let primary = match sort.by {
            SortBy::Replica => Ordering::Equal,
            SortBy::Name => a.name.cmp(&b.name),
            SortBy::State => severity(b).cmp(&severity(a)),
            SortBy::Restarts => b.restart_count.cmp(&a.restart_count),
            SortBy::Cpu => cpu(b).total_cmp(&cpu(a)),
            SortBy::Memory => mem(b).cmp(&mem(a)),
            SortBy::Uptime => b.started_at.cmp(&a.started_at),
        };
        let o = primary.then(compose);
        if sort.reverse { o.reverse() } else { o }
    };
    for services in groups.values_mut() {
        for members in services.values_mut() {
            members.sort_by(|a, b| order(a, b));
        }
    }
    groups.into_iter().map(|(p, s)| (p.0, s))
}

/// Orders `Some(name)` before `None`.
#[derive(PartialEq, Eq)]
struct ProjectOrder<'a>(Option<&'a str>);

impl Ord for ProjectOrder<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.is_none(), self.0).cmp(&(other.0.is_none(), other.0))
    }
}

impl PartialOrd for ProjectOrder<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Case-insensitive substring match on what the row shows. `filter` is lowercase.
fn matches(c: &Container, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let fields = [
        Some(c.name.as_str()),
        Some(c.image.as_str()),
        c.project.as_deref(),
        c.service.as_deref(),
        Some(c.state.as_str()),
    ];
    fields
        .into_iter()
        .flatten()
        .chain(c.health.map(Health::as_str))
        .any(|f| f.to_lowercase().contains(filter))
}

/// Finds a container by host and id.
pub fn find<'a>(hosts: &'a [HostState], host: HostId, id: &str) -> Option<&'a Container> {
    hosts
        .get(host.0)?
        .containers
        .as_ref()?
        .latest()?
        .containers
        .iter()
        .find(|c| c.id == id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::hosts::HostState;
    use crate::collect::containers::ContainersSnapshot;
    use crate::config::HostSpec;
    use crate::event::HostEvent;
    use jiff::Timestamp;

    #[test]
    fn stats_that_read_the_same_draw_no_frame() {
        use crate::event::{AppEvent, HostId};
        let sample = |cpu: f64, mem: u64, ids: &[&str]| StatsSample {
            stats: ids
                .iter()
                .map(|id| {
                    let s = ContainerStats {
                        cpu_percent: Some(cpu),
                        memory_bytes: mem,
                    };
                    ((*id).to_owned(), s)
                })
                .collect(),
            observed_at: Timestamp::UNIX_EPOCH,
        };
        let a = sample(0.01, 315_000, &["a", "b"]);
        assert!(
            stats_look_the_same(&a, &sample(0.04, 315_100, &["a", "b"])),
            "0.0 %, 308K"
        );
        assert!(
            !stats_look_the_same(&a, &sample(0.06, 315_000, &["a", "b"])),
            "0.1 %"
        );
        assert!(
            !stats_look_the_same(&a, &sample(0.01, 400_000, &["a", "b"])),
            "391K"
        );
        assert!(
            !stats_look_the_same(&a, &sample(0.01, 315_000, &["a", "c"])),
            "another row"
        );
        assert!(
            !stats_look_the_same(&a, &sample(0.01, 315_000, &["a"])),
            "a row fewer"
        );
        let hot = sample(89.96, 1, &["a"]);
        assert!(
            !stats_look_the_same(&hot, &sample(90.04, 1, &["a"])),
            "90.0 % turns a warning"
        );
        // In the app: the second identical sample is flagged, so the loop draws nothing.
        let mut app = crate::app::tests::fleet_app(1);
        app.update(AppEvent::Host(HostId(0), HostEvent::Stats(Ok(a.clone()))));
        app.take_unchanged();
        app.update(AppEvent::Host(HostId(0), HostEvent::Stats(Ok(a))));
        assert!(app.take_unchanged());
        assert!(!app.take_unchanged(), "once");
        let busy = sample(12.0, 315_000, &["a", "b"]);
        app.update(AppEvent::Host(HostId(0), HostEvent::Stats(Ok(busy))));
        assert!(!app.take_unchanged());
    }

    pub fn container(
        name: &str,
        project: Option<&str>,
        service: Option<&str>,
        replica: u32,
        state: ContainerState,
    ) -> Container {
        Container {
            id: format!("id-{name}"),
            name: name.into(),
            image: "registry.example/shop/api:1.4.2".into(),
            project: project.map(Into::into),
            service: service.map(Into::into),
            replica: Some(replica),
            oneoff: false,
            state,
            health: None,
            exit_code: (state == ContainerState::Exited).then_some(3),
            restart_count: 0,
            started_at: Timestamp::from_second(1_795_000_000).ok(),
            finished_at: None,
            oom_killed: false,
            pid: None,
        }
    }

    /// A compose stack: api ×4 (one unhealthy), worker ×2 (one exited), db, and a standalone.
    pub fn fleet_host(id: usize, name: &str) -> HostState {
        use ContainerState::*;
        let spec = HostSpec::local(name, Some("/var/run/docker.sock".into()));
        let mut h = HostState::new(HostId(id), &spec);
        let mut containers = vec![
            container("shop-api-1", Some("shop"), Some("api"), 1, Running),
            container("shop-api-2", Some("shop"), Some("api"), 2, Running),
            container("shop-api-3", Some("shop"), Some("api"), 3, Running),
            container("shop-api-4", Some("shop"), Some("api"), 4, Running),
            container("shop-worker-1", Some("shop"), Some("worker"), 1, Running),
            container("shop-worker-2", Some("shop"), Some("worker"), 2, Exited),
            container("shop-db-1", Some("shop"), Some("db"), 1, Running),
            container("backup-cron", None, None, 1, Running),
        ];
        containers[0].health = Some(Health::Healthy);
        containers[2].health = Some(Health::Unhealthy);
        containers[2].restart_count = 4;
        let snap = ContainersSnapshot {
            engine: "20.10.24".into(),
            containers,
            observed_at: Timestamp::from_second(1_795_000_100).unwrap(),
        };
        h.apply(
            HostEvent::Sample(crate::collect::Sample::Containers(Ok(snap))),
            Timestamp::from_second(1_795_000_100).unwrap(),
        );
        h
    }

    fn labels(rows: &[Row<'_>]) -> Vec<String> {
        rows.iter()
            .map(|r| match &r.kind {
                RowKind::Host(h) => h.name.clone(),
                RowKind::Project { name, counts } => format!(
                    "{} {}/{}",
                    name.unwrap_or("-"),
                    counts.running,
                    counts.total
                ),
                RowKind::Service { name, counts } => {
                    format!("{name} {}/{}", counts.running, counts.total)
                }
                RowKind::Container(c) => c.name.clone(),
            })
            .collect()
    }

    #[test]
    fn o_sorts_within_the_service_by_the_next_column_and_o_reverses() {
        use crate::collect::stats::{ContainerStats, StatsSample};
        let mut app = crate::app::tests::fleet_app(1);
        app.pane = crate::app::Pane::Containers;
        let ids: Vec<String> = app.hosts[0]
            .containers
            .as_ref()
            .unwrap()
            .latest()
            .unwrap()
            .containers
            .iter()
            .map(|c| c.id.clone())
            .collect();
        // CPU: the last container busiest.
        app.hosts[0].stats = Some(StatsSample {
            stats: ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        id.clone(),
                        ContainerStats {
                            cpu_percent: Some(i as f64),
                            memory_bytes: 0,
                        },
                    )
                })
                .collect(),
            observed_at: app.now,
        });
        let api = |app: &crate::app::App| -> Vec<String> {
            let host = &app.hosts[0];
            rows(&[host], &HashSet::new(), "", app.panes.containers.sort)
                .into_iter()
                .filter_map(|r| match r.kind {
                    RowKind::Container(c) if c.service.as_deref() == Some("api") => {
                        Some(c.name.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        let compose = api(&app);
        let key = |c: char| crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
        for _ in 0..4 {
            app.update(crate::event::AppEvent::Key(key('o'))); // name, state, restarts, CPU
        }
        assert_eq!(app.panes.containers.sort.by, SortBy::Cpu);
        assert_eq!(
            app.status.as_deref(),
            Some("containers sorted by CPU within their service")
        );
        let by_cpu = api(&app);
        let mut reversed = compose.clone();
        reversed.reverse();
        assert_eq!(
            by_cpu, reversed,
            "replicas were listed in stats order, busiest last"
        );
        app.update(crate::event::AppEvent::Key(key('O')));
        assert_eq!(api(&app), compose);
    }

    #[test]
    fn containers_group_by_project_then_service_with_replica_counts() {
        let h = fleet_host(0, "app1");
        let rows = rows(&[&h], &HashSet::new(), "", Sort::default());
        assert_eq!(
            labels(&rows),
            [
                "app1",
                "shop 6/7",
                "api 4/4",
                "shop-api-1",
                "shop-api-2",
                "shop-api-3",
                "shop-api-4",
                "db 1/1",
                "shop-db-1",
                "worker 1/2",
                "shop-worker-1",
                "shop-worker-2",
                "- 1/1",
                "backup-cron"
            ]
        );
        let RowKind::Service { counts, .. } = &rows[2].kind else {
            panic!()
        };
        assert_eq!(counts.unhealthy, 1);
        assert!(counts.is_degraded());
    }

    #[test]
    fn folding_hides_children() {
        let h = fleet_host(0, "app1");
        let folded = HashSet::from([RowKey::Service(
            HostId(0),
            Some("shop".into()),
            "api".into(),
        )]);
        let rows = rows(&[&h], &folded, "", Sort::default());
        assert_eq!(
            labels(&rows)[2..4],
            ["api 4/4".to_owned(), "db 1/1".to_owned()]
        );
        assert!(rows[2].folded);
    }

    #[test]
    fn filter_keeps_matches_and_their_groups_and_ignores_folding() {
        let h = fleet_host(0, "app1");
        let folded = HashSet::from([RowKey::Host(HostId(0))]);
        let rows = rows(&[&h], &folded, "WORKER-2", Sort::default());
        assert_eq!(
            labels(&rows),
            ["app1", "shop 6/7", "worker 1/2", "shop-worker-2"]
        );
        assert!(super::rows(&[&h], &folded, "no-such-thing", Sort::default()).is_empty());
    }

    #[test]
    fn oneoff_containers_are_not_replicas() {
        let mut c = container(
            "shop-api-run-1",
            Some("shop"),
            Some("api"),
            1,
            ContainerState::Exited,
        );
        c.oneoff = true;
        let a = container(
            "shop-api-1",
            Some("shop"),
            Some("api"),
            1,
            ContainerState::Running,
        );
        assert_eq!(
            Counts::of([&c, &a]),
            Counts {
                running: 1,
                total: 1,
                unhealthy: 0,
                looping: 0,
                restarts: 0,
                completed: 0,
            }
        );
    }

    #[test]
    fn a_task_that_exited_0_is_done_not_missing_but_exit_1_is() {
        let mut migrate = container(
            "shop-migrate-1",
            Some("shop"),
            Some("migrate"),
            1,
            ContainerState::Exited,
        );
        migrate.exit_code = Some(0);
        let n = Counts::of([&migrate]);
        assert_eq!((n.completed, n.missing()), (1, 0));
        assert!(!n.is_degraded());
        migrate.exit_code = Some(1);
        let n = Counts::of([&migrate]);
        assert_eq!((n.completed, n.missing()), (0, 1));
        assert!(n.is_degraded());
    }
}
