//! Backup sources over real sshd with real tools: an encrypted borg repository (passphrase from
//! BORG_PASSCOMMAND in an env_file on the host side), a restic repository and a directory of
//! dump files, all with backdated history; a repository locked by a running `borg create` is
//! "running", and `borg create` runs never fail on a lock while the source is read in a loop;
//! a triggered backup streams its output and makes a new archive; a cancelled one leaves no
//! process on the host; bad inputs (garbage JSON, a hanging tool, 10 MB of output) fail clearly.
//! Beside them, as the backups issue asks: a small filesystem filled while df samples it moves
//! the time-to-full forecast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::sshd::{Client, Sshd};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use watchfloor::actions::runner::{Reporter, execute};
use watchfloor::actions::{JobId, JobOutcome, Progress};
use watchfloor::app::alerts::Severity;
use watchfloor::app::backups::findings;
use watchfloor::collect::backups::{BackupsSnapshot, read};
use watchfloor::config::backup::{BackupConfig, BackupSpec, specs};
use watchfloor::event::{AppEvent, HostEvent, HostId, HostSender};
use watchfloor::link::Link;
use watchfloor::link::ssh::session::Options;

/// A host: sshd on loopback, and the directory its sessions use as HOME (borg's cache).
struct Host {
    _client: Client,
    server: Sshd,
    link: Arc<dyn Link>,
}

impl Host {
    async fn start() -> Host {
        let client = Client::new();
        let server = Sshd::start(&client, "127.0.0.1", None);
        client.trust(&server);
        let link = common::sshd::link(&client, &server, "db1").await;
        Host {
            _client: client,
            server,
            link,
        }
    }

    /// A command run "on the host" as its cron would: with the sessions' HOME.
    fn cmd(&self, script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script])
            .env("HOME", self.server.dir.path().join("home"))
            .env_remove("BORG_PASSPHRASE")
            .env_remove("RESTIC_PASSWORD");
        c
    }

    fn sh(&self, script: &str) -> String {
        common::sh(&mut self.cmd(script))
    }
}

fn source(toml_text: &str) -> BackupSpec {
    #[derive(serde::Deserialize)]
    struct Doc {
        backup: Vec<toml::Spanned<BackupConfig>>,
    }
    let doc: Doc = toml::from_str(toml_text).unwrap();
    specs(&doc.backup, None).unwrap().remove(0)
}

/// An encrypted borg repository whose passphrase only the host has (BORG_PASSCOMMAND in
/// the env file), with archives `days` days old.
fn borg_repo(host: &Host, dir: &Path, days: &[u32]) -> String {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/file"), "payload\n".repeat(1000)).unwrap();
    std::fs::write(dir.join("pass"), "correct horse\n").unwrap();
    let env = dir.join("borg.env");
    std::fs::write(
        &env,
        format!(
            "BORG_PASSCOMMAND='cat {d}/pass'\nBORG_REPO={d}/repo\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let e = env.display();
    host.sh(&format!("set -a; . {e}; borg init -e repokey"));
    for d in days {
        let at = Timestamp::now() - jiff::SignedDuration::from_hours(i64::from(*d) * 24);
        host.sh(&format!(
            "set -a; . {e}; borg create --timestamp {} ::d{d} {}/data",
            at.strftime("%Y-%m-%dT%H:%M:%S"),
            dir.display()
        ));
    }
    env.display().to_string()
}

fn newest_age(snap: &BackupsSnapshot) -> Duration {
    let newest = snap.newest().unwrap().time;
    Duration::try_from(Timestamp::now().duration_since(newest)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borg_restic_and_dumps_are_read_against_policy_and_backdating_turns_critical() {
    let host = Host::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();

    // borg: a week of dailies, its passphrase and repository from the host's env file only.
    let env = borg_repo(&host, &dir.path().join("borg"), &[6, 5, 4, 3, 2, 1, 0]);
    let borg = source(&format!(
        "[[backup]]\nkind = \"borg\"\nenv_file = \"{env}\"\nkeep_daily = 7\nkeep_weekly = 4\n"
    ));
    let snap = read(&*host.link, &borg, None).await.unwrap();
    assert_eq!(snap.backups.len(), 7, "{snap:?}");
    assert!(newest_age(&snap) < Duration::from_secs(600));
    let f = findings(&borg, &snap, Timestamp::now());
    assert_eq!(f.len(), 1, "only the weekly slots are short: {f:?}");
    assert!(f[0].what.contains("weekly 1/4"), "{f:?}");
    // Without the env file there is no passphrase: a clear error, not a prompt that hangs.
    let mut no_env = borg.clone();
    no_env.env_file = None;
    no_env.location = watchfloor::config::backup::Location::Repo(Some(format!("{d}/borg/repo")));
    let e = read(&*host.link, &no_env, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("borg") && e.contains("exit code"), "{e}");

    // restic: snapshots 3 and 1 days old, with --no-lock.
    std::fs::write(dir.path().join("restic-pass"), "pw\n").unwrap();
    let r = format!("RESTIC_PASSWORD_FILE={d}/restic-pass RESTIC_REPOSITORY={d}/restic");
    host.sh(&format!("export {r}; restic init -q"));
    for days in [3, 1] {
        let at = Timestamp::now() - jiff::SignedDuration::from_hours(days * 24);
        host.sh(&format!(
            "export {r}; restic backup -q --time '{}' {d}/borg/data",
            at.strftime("%Y-%m-%d %H:%M:%S")
        ));
    }
    std::fs::write(dir.path().join("restic.env"), r.replace(' ', "\n")).unwrap();
    let restic = source(&format!(
        "[[backup]]\nkind = \"restic\"\nenv_file = \"{d}/restic.env\"\nmax_age = \"26h\"\n"
    ));
    let snap = read(&*host.link, &restic, None).await.unwrap();
    assert_eq!(snap.backups.len(), 2);
    assert!(snap.backups.iter().all(|b| b.size.is_some()), "{snap:?}");
    assert_eq!(snap.running, None);
    assert!(
        findings(&restic, &snap, Timestamp::now()).is_empty(),
        "a day old is within 26h"
    );
    let mut strict = restic.clone();
    strict.policy.max_age = Some(Duration::from_secs(16 * 3600));
    let f = findings(&strict, &snap, Timestamp::now());
    assert_eq!(
        f[0].severity,
        Severity::Warn,
        "over 16h, under 32h: one missed run"
    );

    // Dumps: a week of them, and one still being written.
    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    for day in 0..7 {
        let f = dumps.join(format!("shop-{day}.dump"));
        std::fs::write(&f, vec![b'x'; 4096]).unwrap();
        host.sh(&format!("touch -d '{day} days ago' {}", f.display()));
    }
    let growing = dumps.join("shop-now.dump");
    let mut writer = host
        .cmd(&format!(
            "while true; do echo data >> {}; sleep 0.2; done",
            growing.display()
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let files = source(&format!(
        "[[backup]]\nkind = \"files\"\npath = \"{}/shop-*.dump\"\nkeep_daily = 7\nmax_age = \"26h\"\n",
        dumps.display()
    ));
    let snap = read(&*host.link, &files, None).await.unwrap();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert_eq!(
        snap.backups.len(),
        7,
        "the growing dump is not a backup: {snap:?}"
    );
    let running = snap.running.as_ref().expect("the growing dump is running");
    assert!(
        running.evidence.starts_with("shop-now.dump growing"),
        "{running:?}"
    );
    assert!(findings(&files, &snap, Timestamp::now()).is_empty());

    // The dumps stopped 3 days ago: every one 3 days older (and the partial one gone).
    std::fs::remove_file(&growing).unwrap();
    for day in 0..7 {
        let f = dumps.join(format!("shop-{day}.dump"));
        host.sh(&format!("touch -d '{} days ago' {}", day + 3, f.display()));
    }
    let snap = read(&*host.link, &files, None).await.unwrap();
    let f = findings(&files, &snap, Timestamp::now());
    assert_eq!(f[0].severity, Severity::Crit, "{f:?}");
    assert!(f[0].what.starts_with("newest backup 3d"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_borg_create_is_shown_running_and_never_fails_on_our_reads() {
    let host = Host::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = borg_repo(&host, dir.path(), &[1]);
    let borg = source(&format!(
        "[[backup]]\nkind = \"borg\"\nenv_file = \"{env}\"\n"
    ));
    let first = read(&*host.link, &borg, None).await.unwrap();
    let last = Some((first.backups.clone(), first.observed_at));

    // A create that holds the lock for 4 s (its input is slow) is "running", with the list
    // read before it kept.
    let mut slow = host
        .cmd(&format!(
            "set -a; . {env}; (sleep 4; echo x) | borg create ::slow -"
        ))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let snap = common::wait_for("the lock to show", Duration::from_secs(10), || {
        let s = futures_block(read(&*host.link, &borg, last.as_ref())).unwrap();
        // The repository's own lock (borg takes its cache lock first, which says no since).
        s.running
            .as_ref()
            .is_some_and(|r| r.since.is_some())
            .then_some(s)
    });
    assert_eq!(snap.running.as_ref().unwrap().evidence, "repository lock");
    assert_eq!(
        snap.backups, first.backups,
        "the list from before the lock is kept"
    );
    assert!(slow.wait().unwrap().success());

    // "cron": twenty creates back to back while the console reads as fast as it can (a read
    // every 15 minutes is the default). Each create waits up to 5 s for the lock, as
    // config.example.toml advises (borgmatic's lock_wait): with borg's default of 1 s, one
    // create in CI once timed out behind a read on the loaded 2-core machine.
    let creates = host
        .cmd(&format!(
            "set -a; . {env}; for i in $(seq 1 20); do borg create --lock-wait 5 ::cron-$i {}/data || exit 1; done",
            dir.path().display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (reads, mut running_seen) = (std::cell::Cell::new(0), 0);
    let creates = tokio::task::spawn_blocking(move || creates.wait_with_output().unwrap());
    while !creates.is_finished() {
        let s = read(&*host.link, &borg, last.as_ref()).await.unwrap();
        reads.set(reads.get() + 1);
        running_seen += usize::from(s.running.is_some());
    }
    let out = creates.await.unwrap();
    assert!(
        out.status.success(),
        "a borg create failed while the source was read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{} reads during 20 creates, {running_seen} saw one running",
        reads.get()
    );
    assert!(reads.get() >= 3, "the reads overlapped the creates");
}

/// Runs a future to completion from sync code inside a multi-thread runtime.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn reporter() -> (Reporter, mpsc::Receiver<AppEvent>) {
    let (tx, rx) = mpsc::channel(256);
    (
        Reporter::new(HostSender {
            id: HostId(0),
            events: tx,
        }),
        rx,
    )
}

fn output_lines(rx: &mut mpsc::Receiver<AppEvent>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let AppEvent::Host(_, HostEvent::Action(_, Progress::Output(l))) = ev {
            lines.extend(l);
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_triggered_borg_backup_streams_its_output_and_a_cancelled_one_leaves_no_process() {
    let host = Host::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = borg_repo(&host, dir.path(), &[3]);
    let data = dir.path().join("data");
    let spec = source(&format!(
        "[[backup]]\nkind = \"borg\"\nenv_file = \"{env}\"\nmax_age = \"26h\"\n\
         trigger = \"borg create --list --stats ::manual-{{now}} {}\"\n",
        data.display()
    ));
    let before = read(&*host.link, &spec, None).await.unwrap();
    assert!(newest_age(&before) > Duration::from_secs(2 * 86_400));

    let (report, mut rx) = reporter();
    let work = Box::new(watchfloor::actions::backup::Trigger::new(
        host.link.clone(),
        spec.clone(),
        JobId(1),
        report.clone(),
    ));
    let (_keep, cancel) = watch::channel(false);
    let outcome = execute(JobId(1), work, cancel, &report).await;
    assert!(matches!(outcome, JobOutcome::Done(_)), "{outcome:?}");
    let lines = output_lines(&mut rx);
    assert!(
        lines.iter().any(|l| l.contains("/file")),
        "borg --list output streamed: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("Archive name")),
        "{lines:?}"
    );
    let after = read(&*host.link, &spec, None).await.unwrap();
    assert_eq!(after.backups.len(), before.backups.len() + 1);
    assert!(
        newest_age(&after) < Duration::from_secs(120),
        "the age reset"
    );

    // A second run that takes long: cancelled once its lock is there.
    let mut slow = spec.clone();
    slow.trigger = Some("sleep 600 | borg create ::slow-{now} -".into());
    let work = Box::new(watchfloor::actions::backup::Trigger::new(
        host.link.clone(),
        slow,
        JobId(2),
        report.clone(),
    ));
    let (cancel_tx, cancel) = watch::channel(false);
    let job = tokio::spawn({
        let report = report.clone();
        async move { execute(JobId(2), work, cancel, &report).await }
    });
    let repo = dir.path().join("repo");
    common::wait_for(
        "borg create to hold the lock",
        Duration::from_secs(20),
        || repo.join("lock.exclusive").exists().then_some(()),
    );
    cancel_tx.send_replace(true);
    let outcome = job.await.unwrap();
    assert!(
        matches!(outcome, JobOutcome::Cancelled { .. }),
        "{outcome:?}"
    );
    let lines = output_lines(&mut rx);
    assert!(
        lines.iter().any(|l| l.contains("no process of it is left")),
        "{lines:?}"
    );
    let left = host.sh(&format!(
        "ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -F '{}' | grep -v grep || true",
        "slow-{now}"
    ));
    assert_eq!(left.trim(), "", "processes left on the host");
    // And the repository is usable: the lock went with the process.
    let snap = read(&*host.link, &spec, None).await.unwrap();
    assert_eq!(snap.running, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_fail_clearly() {
    let host = Host::start().await;
    let garbage =
        source("[[backup]]\nkind = \"command\"\ncommand = \"echo '{\\\"backups\\\": [oops'\"\n");
    let e = read(&*host.link, &garbage, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the backup command") && e.contains("not the JSON"),
        "{e}"
    );

    let hangs =
        source("[[backup]]\nkind = \"command\"\ncommand = \"sleep 60\"\ntimeout = \"2s\"\n");
    let e = read(&*host.link, &hangs, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("timed out after 2s"), "{e}");

    let huge = source(
        "[[backup]]\nkind = \"command\"\ncommand = \"head -c 10000000 /dev/zero | tr '\\\\0' x\"\n",
    );
    let e = read(&*host.link, &huge, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 4.0M of output"), "{e}");

    let missing = source("[[backup]]\nkind = \"walg\"\n");
    let e = read(&*host.link, &missing, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("wal-g is not installed"), "{e}");

    let no_repo = source("[[backup]]\nkind = \"restic\"\n");
    let e = read(&*host.link, &no_repo, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no repository"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_each_source_and_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = watchfloor::config::HostSpec::local("here", None);
    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    spec.backups.push(source(&format!(
        "[[backup]]\nkind = \"files\"\npath = \"{}/*.dump\"\n",
        dumps.display()
    )));
    spec.backups.push(source(&format!(
        "[[backup]]\nkind = \"borg\"\nrepo = \"{}/nowhere\"\n",
        dir.path().display()
    )));
    let check = watchfloor::check::host(&spec, &Options::default(), Duration::from_secs(60)).await;
    assert_eq!(
        check.cells.last().map(String::as_str),
        Some("FAIL"),
        "{check:?}"
    );
    let (step, why) = check.failure.unwrap();
    assert_eq!(step, "backups");
    assert!(
        why.contains("backup source borg") && why.contains("check `repo`"),
        "{why}"
    );
}

/// A small filesystem (ext4 on a loop device: df leaves tmpfs out) filled while the host's
/// real df samples it every second: the time-to-full forecast appears, shrinks as the writes
/// go on, and raises the warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_a_small_filesystem_moves_the_time_to_full_forecast() {
    use watchfloor::app::alerts::{Domain, alerts};
    use watchfloor::app::hosts::HostState;
    use watchfloor::collect::{Sample, disks};
    use watchfloor::event::HostEvent;
    use watchfloor::link::LinkState;

    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("fs");
    std::fs::create_dir(&mnt).unwrap();
    let image = dir.path().join("fs.img");
    common::sh(Command::new("truncate").args(["-s", "128M"]).arg(&image));
    common::sh(Command::new("mkfs.ext4").arg("-q").arg(&image));
    common::sh(
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt),
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());

    let mut spec = watchfloor::config::HostSpec::local("here", None);
    spec.disks_interval = Duration::from_secs(1);
    let mut host = HostState::new(HostId(0), &spec);
    let link = watchfloor::link::local::Local::new("here");
    let now = Timestamp::now();
    host.apply(HostEvent::Link(LinkState::Up), now);
    let mount = mnt.display().to_string();
    let mut forecasts = Vec::new();
    // 1 MiB every 0.25 s: ~4 MiB/s into ~115 MiB free, sampled for 14 s.
    for i in 0..14 {
        for j in 0..4 {
            std::fs::write(mnt.join(format!("f{i}-{j}")), vec![0u8; 1 << 20]).unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let snap = disks::sample(&link).await.unwrap();
        let at = snap.observed_at;
        host.apply(HostEvent::Sample(Sample::Disks(Ok(snap))), at);
        let latest = host.disks.latest().unwrap();
        let Some(fs) = latest.filesystems.iter().find(|f| f.mount == mount) else {
            panic!(
                "{mount} is not listed: {latest:?}\n{}",
                common::sh(Command::new("df").arg("-P"))
            )
        };
        forecasts.push(
            host.growth
                .forecast(fs, spec.disks_interval)
                .and_then(|f| f.full_in),
        );
    }
    assert!(
        forecasts[..5].iter().all(Option::is_none),
        "too little history at first: {forecasts:?}"
    );
    let known: Vec<Duration> = forecasts.iter().flatten().copied().collect();
    assert!(known.len() >= 2, "{forecasts:?}");
    assert!(
        known.last() < known.first(),
        "the forecast moves as it fills: {known:?}"
    );
    assert!(
        *known.last().unwrap() < Duration::from_secs(30),
        "{known:?}"
    );
    let found = alerts(&[host], &Default::default(), Timestamp::now());
    let full = found
        .iter()
        .find(|a| a.domain == Domain::Disks && a.what.starts_with(&format!("{mount} full in ~")));
    assert!(full.is_some(), "{found:?}");
}

/// A passphrase kept only on the admin's machine (`passphrase_command`) reaches borg and
/// restic on the host through stdin over SSH; a wrong one fails saying what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_from_this_machine_reaches_the_tools_through_stdin() {
    let host = Host::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    borg_repo(&host, dir.path(), &[1, 0]);
    let borg = source(&format!(
        "[[backup]]\nkind = \"borg\"\nrepo = \"{d}/repo\"\npassphrase_command = \"cat {d}/pass\"\n"
    ));
    let snap = read(&*host.link, &borg, None).await.unwrap();
    assert_eq!(snap.backups.len(), 2);

    let mut wrong = borg.clone();
    wrong.passphrase_command = Some("echo not-it".into());
    let e = read(&*host.link, &wrong, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("the passphrase is not available"), "{e}");
    let mut failing = borg.clone();
    failing.passphrase_command = Some("exit 3".into());
    let e = read(&*host.link, &failing, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("passphrase_command `exit 3` failed"), "{e}");

    std::fs::write(dir.path().join("restic-pass"), "s3cret\n").unwrap();
    host.sh(&format!(
        "RESTIC_PASSWORD=s3cret restic init -q -r {d}/restic && RESTIC_PASSWORD=s3cret restic backup -q -r {d}/restic {d}/data"
    ));
    let restic = source(&format!(
        "[[backup]]\nkind = \"restic\"\nrepo = \"{d}/restic\"\npassphrase_command = \"cat {d}/restic-pass\"\n"
    ));
    let snap = read(&*host.link, &restic, None).await.unwrap();
    assert_eq!(snap.backups.len(), 1);
    assert!(
        snap.backups[0].size.is_some(),
        "the stats read got it too: {snap:?}"
    );
}

/// pgBackRest (Debian has it): a real stanza on a real PostgreSQL, one full backup, read with
/// `pgbackrest info` through the source's env_file (PGBACKREST_CONFIG on the host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pgbackrest_stanza_is_read_with_its_backup() {
    let mut pg = common::postgres::Postgres::start();
    let d = pg.dir().display().to_string();
    pg.pgbackrest_stanza();
    let spec = source(&format!(
        "[[backup]]\nkind = \"pgbackrest\"\nstanza = \"main\"\nenv_file = \"{d}/br.env\"\nmax_age = \"26h\"\n"
    ));
    let link = watchfloor::link::local::Local::new("db1");
    let snap = read(&link, &spec, None).await.unwrap();
    assert_eq!(snap.backups.len(), 1, "{snap:?}");
    let b = &snap.backups[0];
    assert!(b.name.ends_with("F (full)"), "{b:?}");
    assert!(
        b.size.is_some_and(|s| s > 1 << 20) && b.duration.is_some(),
        "{b:?}"
    );
    assert!(newest_age(&snap) < Duration::from_secs(300));
    assert_eq!(snap.running, None);
    assert!(findings(&spec, &snap, Timestamp::now()).is_empty());
}
