//! Host workers over real SSH: a host whose sshd is killed is shown down while another keeps
//! updating, and comes back by itself when sshd is started again; a frozen (hung) host is
//! detected by keepalives. The App is fed exactly as the UI loop feeds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::sshd::{Client, Sshd};
use jiff::Timestamp;
use tokio::sync::mpsc;
use watchfloor::app::App;
use watchfloor::config::{HostSpec, Keymap, Settings, Transport};
use watchfloor::event::{AppEvent, HostId};
use watchfloor::host;
use watchfloor::link::LinkState;
use watchfloor::link::ssh::session::{Keepalive, Options};
use watchfloor::link::ssh::target::SshConfig;

fn spec(client: &Client, name: &str, server: &Sshd) -> HostSpec {
    let mut t = SshConfig::parse_str("")
        .unwrap()
        .resolve(&server.spec(), "root", client.home.path())
        .unwrap();
    t.identity_agent = Some("none".into());
    let mut s = HostSpec::local(name, None);
    s.transport = Transport::Ssh(Box::new(t));
    s.disks_interval = Duration::from_secs(1);
    s
}

fn settings(hosts: Vec<HostSpec>) -> Settings {
    Settings {
        hosts,
        keymap: Keymap::defaults(),
        theme: Default::default(),
        read_only: false,
        logs: Default::default(),
        thresholds: Default::default(),
        notify: Default::default(),
        user: "test".into(),
        state_dir: std::env::temp_dir(),
        config_path: None,
        notice: None,
    }
}

/// Feeds worker events into `app` until `done` holds, or panics after `timeout`.
async fn until(
    app: &mut App,
    rx: &mut mpsc::Receiver<AppEvent>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(app) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                app.update(AppEvent::Clock(Timestamp::now()));
                app.update(ev);
            }
            _ => panic!(
                "timed out after {timeout:?} waiting for {what}; links: {:?}; disks: {:?}",
                app.hosts.iter().map(|h| &h.link).collect::<Vec<_>>(),
                app.hosts
                    .iter()
                    .map(|h| h.disks.error())
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// Feeds worker events into `app` for `time`.
async fn pump(app: &mut App, rx: &mut mpsc::Receiver<AppEvent>, time: Duration) {
    let deadline = tokio::time::Instant::now() + time;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        app.update(AppEvent::Clock(Timestamp::now()));
        app.update(ev);
    }
}

fn is_down(app: &App, i: usize) -> bool {
    matches!(app.hosts[i].link, LinkState::Down { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_goes_down_alone_and_comes_back_by_itself() {
    let client = Client::new();
    let mut a = Sshd::start(&client, "127.0.0.1", None);
    let b = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&a);
    client.trust(&b);
    let settings = settings(vec![spec(&client, "a", &a), spec(&client, "b", &b)]);
    let mut app = App::new(&settings, Timestamp::now());
    let (tx, mut rx) = mpsc::channel(1024);
    let _workers: Vec<_> = settings
        .hosts
        .iter()
        .enumerate()
        .map(|(i, s)| host::spawn(HostId(i), s.clone(), Options::default(), tx.clone()))
        .collect();
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(20),
        "both hosts up with disks",
        |app| {
            app.hosts
                .iter()
                .all(|h| h.link == LinkState::Up && h.disks.latest().is_some())
        },
    )
    .await;

    let killed = Instant::now();
    a.kill();
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(10),
        "host a shown down",
        |app| is_down(app, 0),
    )
    .await;
    eprintln!(
        "host a down {:?} after its sshd was killed",
        killed.elapsed()
    );
    assert!(
        app.hosts[0]
            .disks
            .error()
            .is_some_and(|e| e.contains("link down")),
        "a's data is marked, not shown as fresh"
    );

    // b keeps updating while a is down.
    let b_before = app.hosts[1].disks.observed_at().unwrap();
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(10),
        "fresh data from b",
        |app| app.hosts[1].disks.observed_at().unwrap() > b_before,
    )
    .await;
    assert_eq!(app.hosts[1].link, LinkState::Up);

    // A longer outage grows the backoff (1, 2, 4, 8 s...). It is capped at 8 s (±20 %), so
    // once sshd is back, a reconnects with no key pressed within one capped pause.
    let down_for = Duration::from_secs(16);
    pump(&mut app, &mut rx, down_for.saturating_sub(killed.elapsed())).await;
    a.restart();
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(12),
        "host a up again",
        |app| app.hosts[0].link == LinkState::Up && app.hosts[0].disks.error().is_none(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_host_is_detected_by_keepalives() {
    let client = Client::new();
    let a = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&a);
    // The host's own keepalive setting is what the worker uses: 1 s × 2 ends a silent
    // session after about 3 s (the default, 3 s × 2, after about 9 s).
    let mut s = spec(&client, "a", &a);
    s.keepalive = Keepalive {
        interval: Duration::from_secs(1),
        count: 2,
    };
    let settings = settings(vec![s]);
    let mut app = App::new(&settings, Timestamp::now());
    let (tx, mut rx) = mpsc::channel(1024);
    let _worker = host::spawn(HostId(0), settings.hosts[0].clone(), Options::default(), tx);
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(20),
        "host up",
        |app| app.hosts[0].link == LinkState::Up,
    )
    .await;
    // A frozen server: TCP stays open, nothing answers. Only keepalives can tell.
    let frozen = Instant::now();
    a.signal_all("STOP");
    until(
        &mut app,
        &mut rx,
        Duration::from_secs(10),
        "hung host shown down by its keepalives",
        |app| is_down(app, 0),
    )
    .await;
    eprintln!("hung host down {:?} after it froze", frozen.elapsed());
    let LinkState::Down { error, .. } = &app.hosts[0].link else {
        unreachable!()
    };
    assert!(
        error.to_string().contains("keepalive"),
        "the keepalives noticed: {error}"
    );
    a.signal_all("CONT");
}
