//! Log follows and container actions against a real dockerd started by the harness: JSON
//! levels, a firehose against the bounded ring, hostile output, the merged service view's
//! order, and a one-by-one service restart that waits for health and keeps the follow going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Docker;
use jiff::Timestamp;
use tokio::sync::mpsc;
use watchfloor::actions::{Job, JobKind, JobTarget, Member, Pace, restart};
use watchfloor::app::logs::{LogScope, LogStream, LogView};
use watchfloor::collect::containers::from_inspect;
use watchfloor::collect::logs::line::{Level, LogLine, MAX_LINE_BYTES};
use watchfloor::collect::logs::{self, Sink};
use watchfloor::event::{HostId, LogBatch};
use watchfloor::link::local::Local;
use watchfloor::sanitize::is_unsafe;

type Delivery = (Vec<LogLine>, u64, Option<String>);

struct ChanSink(mpsc::UnboundedSender<Delivery>);

impl Sink for ChanSink {
    fn send(
        &mut self,
        lines: Vec<LogLine>,
        duplicates: u64,
        paused: Option<String>,
    ) -> impl Future<Output = bool> + Send {
        let ok = self.0.send((lines, duplicates, paused)).is_ok();
        async move { ok }
    }
}

async fn client(docker: &Docker) -> bollard::Docker {
    let socket = docker.socket.display().to_string();
    watchfloor::collect::docker::connect(Arc::new(Local::new("local")), &socket)
        .await
        .expect("docker over the local link")
}

/// Follows `container` in the background; deliveries arrive on the returned receiver.
fn follow(
    docker: &Docker,
    client: &bollard::Docker,
    container: &str,
    tail: usize,
) -> (
    mpsc::UnboundedReceiver<Delivery>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (client, container) = (client.clone(), container.to_owned());
    let socket = docker.socket.display().to_string();
    let task = tokio::spawn(async move {
        let src = logs::Source {
            link: &Local::new("local"),
            socket: &socket,
            docker: &client,
        };
        logs::follow(&src, &container, tail, None, &mut ChanSink(tx)).await;
    });
    (rx, task)
}

/// Collects lines until `done` says so, for at most `timeout`.
async fn lines_until(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    timeout: Duration,
    mut done: impl FnMut(&[LogLine], Option<&str>) -> bool,
) -> Vec<LogLine> {
    let mut all = Vec::new();
    tokio::time::timeout(timeout, async {
        while let Some((lines, _, paused)) = rx.recv().await {
            all.extend(lines);
            if done(&all, paused.as_deref()) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("condition not met; lines so far: {:?}", texts(&all)));
    all
}

fn texts(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_ref()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_are_shown_with_their_levels() {
    let docker = Docker::shared();
    docker.remove_project("jsonlog", &[]);
    let script = r#"echo '{"time":"2026-11-23T10:00:00Z","level":"info","msg":"listening","port":8080}'
echo '{"time":"2026-11-23T10:00:01Z","level":"error","msg":"db down","err":"connection refused"}'
echo 'WARN plain text warning'
sleep 100000"#;
    let name = docker.compose_container("jsonlog", "api", 1, &[], &["sh", "-c", script]);
    let c = client(&docker).await;
    let (mut rx, task) = follow(&docker, &c, &name, 100);
    let lines = lines_until(&mut rx, Duration::from_secs(20), |l, _| l.len() >= 3).await;
    task.abort();
    assert_eq!(lines[0].level, Some(Level::Info));
    assert!(lines[0].text.contains("listening"), "{:?}", lines[0].text);
    assert!(lines[0].text.contains("port=8080"), "{:?}", lines[0].text);
    assert_eq!(lines[1].level, Some(Level::Error));
    assert!(lines[1].text.contains("db down"));
    assert_eq!(lines[2].level, Some(Level::Warn));
    docker.remove_project("jsonlog", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tty_container_has_lines_without_frame_headers() {
    let docker = Docker::shared();
    docker.remove_project("ttylog", &[]);
    let script = "echo first; printf 'no newline yet'; sleep 1; echo ' then done'; sleep 100000";
    let name = docker.compose_container("ttylog", "api", 1, &["-t"], &["sh", "-c", script]);
    let c = client(&docker).await;
    let (mut rx, task) = follow(&docker, &c, &name, 100);
    let lines = lines_until(&mut rx, Duration::from_secs(20), |l, _| l.len() >= 2).await;
    task.abort();
    // A terminal turns "\n" into "\r\n"; the "\r" must not show.
    assert_eq!(texts(&lines), ["first", "no newline yet then done"]);
    docker.remove_project("ttylog", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_container_says_so() {
    let docker = Docker::shared();
    let c = client(&docker).await;
    let (mut rx, task) = follow(&docker, &c, "no-such-container-here", 100);
    let why = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some((_, _, Some(why))) = rx.recv().await {
                return why;
            }
        }
    })
    .await
    .expect("a reason within 20 s");
    task.abort();
    assert!(why.contains("HTTP 404"), "{why}");
    assert!(why.contains("no-such-container-here"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_output_is_neutralised_and_a_huge_line_is_cut() {
    let docker = Docker::shared();
    docker.remove_project("hostile", &[]);
    // Clear screen, cursor home, a window title, an OSC 8 link, a DCS, C1 CSI, bidi override,
    // bell, backspace, invalid UTF-8, a progress bar with \r, then a 1 MiB line, then "end".
    let script = r#"printf 'a\033[2J\033[Hb\033]0;pwned\007c\033]8;;http://x\033\\d\033P+q\033\\e\302\2331mf\342\200\256g\007\010h\377\376i\n'
printf 'progress 10%%\rprogress 100%%\r\n'
printf '\033[31mred\033[0m plain\n'
head -c 1048576 /dev/zero | tr '\0' x; echo
echo end
sleep 100000"#;
    let name = docker.compose_container("hostile", "evil", 1, &[], &["sh", "-c", script]);
    let c = client(&docker).await;
    let (mut rx, task) = follow(&docker, &c, &name, 100);
    let lines = lines_until(&mut rx, Duration::from_secs(30), |l, _| {
        l.iter().any(|x| x.text.as_ref() == "end")
    })
    .await;
    task.abort();
    for l in &lines {
        assert!(
            !l.text.chars().any(is_unsafe),
            "unsafe character in {:?}",
            l.text
        );
    }
    assert!(lines[0].text.starts_with("abcdefgh"), "{:?}", lines[0].text);
    assert!(lines[0].text.contains('\u{fffd}'), "invalid UTF-8 replaced");
    assert_eq!(lines[1].text.as_ref(), "progress 100%");
    assert_eq!(lines[2].text.as_ref(), "red plain");
    assert!(!lines[2].runs.is_empty(), "the colour became a style");
    let huge = &lines[3];
    assert!(huge.cut, "the 1 MiB line is cut");
    assert!(
        huge.text.len() <= MAX_LINE_BYTES + 32,
        "{}",
        huge.text.len()
    );
    assert_eq!(
        lines[4].text.as_ref(),
        "end",
        "the line after the cut one is intact"
    );
    docker.remove_project("hostile", &[]);
}

fn view(streams: &[(&str, &str)], cap: usize) -> LogView {
    let streams = streams
        .iter()
        .map(|(id, tag)| LogStream::new(HostId(0), (*id).to_owned(), (*tag).to_owned()))
        .collect();
    LogView::new(1, LogScope::Host(HostId(0)), "test".into(), streams, cap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firehose_stays_within_the_ring_and_drops_are_counted() {
    let docker = Docker::shared();
    docker.remove_project("firehose", &[]);
    let name = docker.compose_container(
        "firehose",
        "spam",
        1,
        &[],
        &["sh", "-c", "yes 'firehose line with some text in it'"],
    );
    let c = client(&docker).await;
    let (mut rx, task) = follow(&docker, &c, &name, 10);
    let mut v = view(&[(&name, "spam-1")], 2_000);
    let push = |v: &mut LogView, (lines, duplicates, paused): Delivery| {
        v.push(LogBatch {
            view: 1,
            stream: 0,
            lines,
            duplicates,
            paused,
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while v.dropped() < 10_000 && tokio::time::Instant::now() < deadline {
        push(&mut v, rx.recv().await.unwrap());
    }
    let first_dropped = v.dropped();
    assert!(first_dropped >= 10_000, "dropped only {first_dropped}");
    assert_eq!(v.buffered(), 2_000, "the ring holds exactly its bound");
    for _ in 0..20 {
        push(&mut v, rx.recv().await.unwrap());
    }
    task.abort();
    assert!(
        v.dropped() > first_dropped,
        "the dropped count keeps growing"
    );
    assert_eq!(v.buffered(), 2_000);
    assert_eq!(v.received, v.dropped() + 2_000);
    docker.remove_project("firehose", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_merge_in_time_order() {
    let docker = Docker::shared();
    docker.remove_project("merge", &[]);
    let tick = |who: &str| {
        format!(
            "i=0; while [ $i -lt 8 ]; do echo {who} $i; i=$((i+1)); sleep 0.2; done; sleep 100000"
        )
    };
    let a = docker.compose_container("merge", "api", 1, &[], &["sh", "-c", &tick("a")]);
    let b = docker.compose_container("merge", "api", 2, &[], &["sh", "-c", &tick("b")]);
    let c = client(&docker).await;
    let mut v = view(&[(&a, "api-1"), (&b, "api-2")], 1000);
    let (mut ra, ta) = follow(&docker, &c, &a, 100);
    let (mut rb, tb) = follow(&docker, &c, &b, 100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while v.buffered() < 16 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            Some((lines, d, p)) = ra.recv() => v.push(LogBatch { view: 1, stream: 0, lines, duplicates: d, paused: p }),
            Some((lines, d, p)) = rb.recv() => v.push(LogBatch { view: 1, stream: 1, lines, duplicates: d, paused: p }),
        }
    }
    ta.abort();
    tb.abort();
    let shown = v.window(100, |_, _| 1);
    assert_eq!(shown.len(), 16);
    let times: Vec<Timestamp> = shown.iter().map(|(_, l)| l.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let tags: Vec<&str> = shown.iter().map(|(s, _)| s.tag.as_str()).collect();
    let switches = tags.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 3, "the replicas interleave: {tags:?}");
    docker.remove_project("merge", &[]);
}

async fn started_at(c: &bollard::Docker, name: &str) -> Timestamp {
    let r = c.inspect_container(name, None).await.unwrap();
    from_inspect(r).unwrap().started_at.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_restarts_one_by_one_waiting_for_health_and_its_logs_go_on() {
    let docker = Docker::shared();
    docker.remove_project("rolling", &[]);
    let health = [
        "--health-cmd",
        "test -f /tmp/ready",
        "--health-interval",
        "1s",
    ];
    let script = "echo boot $(date +%s%N); sleep 1; touch /tmp/ready; echo ready; sleep 100000";
    let names: Vec<String> = (1..=3)
        .map(|n| docker.compose_container("rolling", "api", n, &health, &["sh", "-c", script]))
        .collect();
    let c = client(&docker).await;
    let mut before = Vec::new();
    for n in &names {
        before.push(started_at(&c, n).await);
    }
    let (mut rx, task) = follow(&docker, &c, &names[0], 100);
    lines_until(&mut rx, Duration::from_secs(20), |l, _| {
        l.iter().any(|x| x.text.as_ref() == "ready")
    })
    .await;

    let members = names
        .iter()
        .map(|n| Member {
            id: n.clone(),
            name: n.clone(),
            has_health: true,
        })
        .collect();
    let action = Job {
        host: HostId(0),
        host_name: "local".into(),
        target: JobTarget::Service {
            project: Some("rolling".into()),
            service: "api".into(),
            containers: members,
        },
        kind: JobKind::Restart,
        pace: Pace::OneByOne,
        stale: None,
    };
    let steps = std::sync::Mutex::new(Vec::new());
    let step = |s: String| steps.lock().unwrap().push(s);
    let done = restart::run(&c, &action, &step).await.expect("restart");
    assert_eq!(done, "restarted 3 containers one by one");
    let steps = steps.into_inner().unwrap();
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.starts_with("waiting for"))
            .count(),
        3,
        "{steps:?}"
    );
    let mut after = Vec::new();
    for n in &names {
        after.push(started_at(&c, n).await);
    }
    for i in 0..3 {
        assert!(after[i] > before[i], "{} restarted", names[i]);
    }
    // One by one: each replica started after the previous one was healthy (>= 1 s later).
    let gap = |a: Timestamp, b: Timestamp| b.duration_since(a);
    assert!(gap(after[0], after[1]) >= jiff::SignedDuration::from_millis(900));
    assert!(gap(after[1], after[2]) >= jiff::SignedDuration::from_millis(900));

    // The follow of the first replica carried on into its new run.
    let lines = lines_until(&mut rx, Duration::from_secs(20), |l, _| {
        l.iter().filter(|x| x.text.starts_with("boot")).count() >= 1
    })
    .await;
    task.abort();
    assert!(
        // Docker stamps StartedAt a little after the process writes its first line.
        lines.iter().any(|l| l.text.starts_with("boot")
            && l.at >= after[0] - jiff::SignedDuration::from_secs(1)
            && l.at > before[0] + jiff::SignedDuration::from_secs(1)),
        "lines of the new run (started {}): {:?}",
        after[0],
        lines
            .iter()
            .map(|l| (l.at.to_string(), l.text.to_string()))
            .collect::<Vec<_>>()
    );
    docker.remove_project("rolling", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_fails_after_restart_stops_the_rollout() {
    let docker = Docker::shared();
    docker.remove_project("badroll", &[]);
    // The first run sleeps; every later run exits 3 (the marker survives in the container fs).
    let script = "if [ -f /tmp/ran ]; then echo broken; exit 3; fi; touch /tmp/ran; sleep 100000";
    let names: Vec<String> = (1..=2)
        .map(|n| docker.compose_container("badroll", "api", n, &[], &["sh", "-c", script]))
        .collect();
    let c = client(&docker).await;
    let before = started_at(&c, &names[1]).await;
    let action = Job {
        host: HostId(0),
        host_name: "local".into(),
        target: JobTarget::Service {
            project: Some("badroll".into()),
            service: "api".into(),
            containers: names
                .iter()
                .map(|n| Member {
                    id: n.clone(),
                    name: n.clone(),
                    has_health: false,
                })
                .collect(),
        },
        kind: JobKind::Restart,
        pace: Pace::OneByOne,
        stale: None,
    };
    let err = restart::run(&c, &action, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("stopped after 0 of 2"), "{err}");
    assert!(err.contains("exited with code 3"), "{err}");
    assert_eq!(
        started_at(&c, &names[1]).await,
        before,
        "the second replica was not touched"
    );
    docker.remove_project("badroll", &[]);
}
