//! The containers collector against a real dockerd started by the harness: compose grouping,
//! events driving updates (the resync interval is an hour, so nothing here is polled), health
//! changes, and the messages when Docker is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Docker;
use watchfloor::collect::containers::{
    Container, ContainerState, ContainersSnapshot, Health, Watcher,
};
use watchfloor::link::local::Local;

const NO_RESYNC: Duration = Duration::from_secs(3600);

fn watcher(docker: &Docker) -> Watcher {
    let socket = docker.socket.display().to_string();
    Watcher::new(
        Arc::new(Local::new("local")),
        socket,
        NO_RESYNC,
        tokio::sync::watch::channel(()).1,
    )
}

/// Reads snapshots until one satisfies `check`, for at most `timeout`.
async fn next_until(
    w: &mut Watcher,
    timeout: Duration,
    check: impl Fn(&ContainersSnapshot) -> bool,
) -> ContainersSnapshot {
    tokio::time::timeout(timeout, async {
        loop {
            let snap = w.next().await.expect("watcher error");
            if check(&snap) {
                return snap;
            }
        }
    })
    .await
    .expect("the expected change did not arrive")
}

fn find<'a>(snap: &'a ContainersSnapshot, name: &str) -> Option<&'a Container> {
    snap.containers.iter().find(|c| c.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_labels_group_containers_and_a_dead_container_shows_as_exited() {
    let docker = Docker::shared();
    let project = "grouping";
    docker.remove_project(project, &["grouping-oneshot"]);
    for n in 1..=4 {
        docker.compose_container(project, "api", n, &[], &["sleep", "100000"]);
    }
    docker.compose_container(project, "worker", 1, &[], &["sh", "-c", "sleep 2; exit 3"]);
    docker.container("grouping-oneshot", &[], &["true"]);

    let mut w = watcher(&docker);
    let first = w.next().await.expect("list");
    assert!(
        find(&first, "grouping-api-1").is_some(),
        "the first snapshot comes from the list alone"
    );
    let snap = next_until(&mut w, Duration::from_secs(20), |s| {
        w_settled(s, "grouping-api-4")
    })
    .await;
    let api: Vec<&Container> = snap
        .containers
        .iter()
        .filter(|c| c.project.as_deref() == Some(project) && c.service.as_deref() == Some("api"))
        .collect();
    assert_eq!(api.len(), 4);
    assert!(
        api.iter()
            .all(|c| c.state == ContainerState::Running && c.started_at.is_some())
    );
    assert_eq!(
        api.iter().map(|c| c.replica.unwrap()).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let oneshot = find(&snap, "grouping-oneshot").unwrap();
    assert_eq!(
        (oneshot.project.as_deref(), oneshot.service.as_deref()),
        (None, None)
    );

    // The worker exits by itself with code 3: the events stream brings it, nothing is polled.
    let snap = next_until(&mut w, Duration::from_secs(10), |s| {
        find(s, "grouping-worker-1").is_some_and(|c| c.state == ContainerState::Exited)
    })
    .await;
    assert_eq!(find(&snap, "grouping-worker-1").unwrap().exit_code, Some(3));
    docker.remove_project(project, &["grouping-oneshot"]);
}

/// True once `name` has been inspected (its start time is known).
fn w_settled(s: &ContainersSnapshot, name: &str) -> bool {
    find(s, name).is_some_and(|c| c.started_at.is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_restart_and_remove_arrive_as_events() {
    let docker = Docker::shared();
    let project = "lifecycle";
    docker.remove_project(project, &[]);
    let name = docker.compose_container(project, "api", 1, &[], &["sleep", "100000"]);
    let mut w = watcher(&docker);
    let snap = next_until(&mut w, Duration::from_secs(20), |s| w_settled(s, &name)).await;
    let started = find(&snap, &name).unwrap().started_at;

    docker.run(&["kill", &name]);
    let snap = next_until(&mut w, Duration::from_secs(10), |s| {
        find(s, &name).is_some_and(|c| c.state == ContainerState::Exited)
    })
    .await;
    assert_eq!(find(&snap, &name).unwrap().exit_code, Some(137));

    docker.run(&["start", &name]);
    let snap = next_until(&mut w, Duration::from_secs(10), |s| {
        find(s, &name).is_some_and(|c| c.state == ContainerState::Running)
    })
    .await;
    assert_ne!(
        find(&snap, &name).unwrap().started_at,
        started,
        "a restart moves the start time"
    );

    docker.run(&["rm", "-f", &name]);
    next_until(&mut w, Duration::from_secs(10), |s| {
        find(s, &name).is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_changes_arrive_as_events() {
    let docker = Docker::shared();
    let project = "health";
    docker.remove_project(project, &[]);
    let health = [
        "--health-cmd",
        "test ! -f /tmp/sick",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
    ];
    let name = docker.compose_container(project, "api", 1, &health, &["sleep", "100000"]);
    let mut w = watcher(&docker);
    next_until(&mut w, Duration::from_secs(30), |s| {
        find(s, &name).is_some_and(|c| c.health == Some(Health::Healthy))
    })
    .await;
    docker.run(&["exec", &name, "touch", "/tmp/sick"]);
    next_until(&mut w, Duration::from_secs(30), |s| {
        find(s, &name).is_some_and(|c| c.health == Some(Health::Unhealthy))
    })
    .await;
    docker.remove_project(project, &[]);
}

#[tokio::test]
async fn a_missing_socket_says_docker_is_not_running_and_what_to_do() {
    let mut w = Watcher::new(
        Arc::new(Local::new("local")),
        "/nonexistent/docker.sock".into(),
        NO_RESYNC,
        tokio::sync::watch::channel(()).1,
    );
    let err = w.next().await.expect_err("no docker there").to_string();
    assert!(
        err.contains("no Docker socket at /nonexistent/docker.sock on local"),
        "{err}"
    );
    assert!(err.contains("set docker_socket"), "{err}");
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // leaves a dead socket file
    // A process another test forks at that moment holds the listener until it execs: until
    // then a connect is accepted, then reset. Wait until the socket is really dead.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&path)
        .is_ok_and(|_| std::time::Instant::now() < deadline)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut w = Watcher::new(
        Arc::new(Local::new("local")),
        path.display().to_string(),
        NO_RESYNC,
        tokio::sync::watch::channel(()).1,
    );
    let err = w.next().await.expect_err("nobody listens").to_string();
    assert!(
        err.contains("refuses connections: dockerd is not running"),
        "{err}"
    );
}

/// The cgroup reader, with no Docker client to fall back on: a busy container's CPU and
/// memory come from its cgroup files (v1 in either mount layout, or v2) over the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_come_from_the_cgroup_files_without_the_api() {
    use watchfloor::collect::stats::{Sampler, StatsTarget};
    let docker = Docker::shared();
    docker.remove_project("statscg", &[]);
    let name = docker.compose_container(
        "statscg",
        "spin",
        1,
        &[],
        &["sh", "-c", "while :; do :; done"],
    );
    let id = docker
        .run(&["inspect", "-f", "{{.Id}}", &name])
        .trim()
        .to_owned();
    let pid: u32 = docker
        .run(&["inspect", "-f", "{{.State.Pid}}", &name])
        .trim()
        .parse()
        .unwrap();
    let targets = [StatsTarget {
        id: id.clone(),
        pid,
    }];
    let link = Local::new("local");
    let mut sampler = Sampler::default();
    let first = sampler.sample(&link, None, &targets).await.unwrap();
    assert!(first.stats[&id].memory_bytes > 0, "{first:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = sampler.sample(&link, None, &targets).await.unwrap();
    let cpu = second.stats[&id]
        .cpu_percent
        .expect("a rate on the second sample");
    assert!(
        cpu > 20.0,
        "a spinning shell uses a core, measured {cpu:.1} %"
    );
    docker.remove_project("statscg", &[]);
}

/// Docker's disk use from a real dockerd (API 1.41: the list shape): the test image is there
/// with its size, and a volume made for the test is counted.
#[tokio::test]
async fn docker_disk_use_counts_images_and_volumes() {
    let docker = Docker::shared();
    let volume = format!("wf-usage-{}", std::process::id());
    docker.run(&["volume", "create", &volume]);
    let socket = docker.socket.display().to_string();
    let u = watchfloor::collect::docker_usage::read(&Local::new("local"), &socket)
        .await
        .unwrap();
    docker.run(&["volume", "rm", &volume]);
    assert!(u.images.count >= 1 && u.images.size_bytes > 0, "{u:?}");
    assert!(u.volumes.count >= 1, "{u:?}");
    assert!(u.volumes.reclaimable_bytes <= u.volumes.size_bytes, "{u:?}");
    let e = watchfloor::collect::docker_usage::read(&Local::new("local"), "/nonexistent.sock")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent.sock"), "{e}");
}

/// A crash loop (`--restart always` on a command that exits 7): between two tries Docker says
/// "restarting", and the container keeps its last exit code and time for the list and details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_container_keeps_its_last_exit_code_and_time() {
    let docker = Docker::shared();
    let name = "crashloop-1";
    docker.remove_project("crashloop", &[name]);
    docker.container(
        name,
        &["--restart", "always"],
        &["sh", "-c", "sleep 0.3; exit 7"],
    );
    let mut w = watcher(&docker);
    let snap = next_until(&mut w, Duration::from_secs(60), |s| {
        find(s, name).is_some_and(|c| {
            c.state == ContainerState::Restarting && c.restart_count >= 1 && c.exit_code.is_some()
        })
    })
    .await;
    let c = find(&snap, name).unwrap();
    assert_eq!(c.exit_code, Some(7));
    assert!(c.finished_at.is_some(), "{c:?}");
    docker.remove_project("crashloop", &[name]);
}
