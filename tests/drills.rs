//! Restore drills, headless (`watchfloor drill run`), over a real sshd, against a real
//! PostgreSQL with real pg_dump files and a real borg repository:
//!
//! - the newest custom-format dump restores into `wf_drill_shop`, its checks pass, RTO and RPO
//!   are recorded, and the scratch database is gone afterwards; a truncated dump fails naming
//!   pg_restore's reason; a check query that errors is "could not verify"; the history holds
//!   every run and a new process (a restart) reads it back;
//! - a target equal to the production database is refused before anything runs;
//! - a scratch database a killed run left (with a session still on it) is removed at the next
//!   start; a run interrupted mid-restore cleans up and leaves no restore process;
//! - a borg archive restores into a scratch directory, checked by file, size, sha256 and a
//!   checksum list, and the directory is removed; a restic snapshot too, and a checksum that
//!   does not match fails the drill;
//! - a pgBackRest backup of a real stanza restores into a scratch data directory started as a
//!   private cluster, checked by SQL, then stopped and removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::postgres::Postgres;
use common::sshd::{Client, Sshd};
use common::wait_for;

/// A host over sshd with a PostgreSQL cluster holding `shop`, and dumps of it.
struct Shop {
    pg: Postgres,
    client: Client,
    server: Sshd,
    dir: tempfile::TempDir,
}

impl Shop {
    fn new() -> Shop {
        let pg = Postgres::start();
        pg.create_shop();
        let client = Client::new();
        let server = Sshd::start(&client, "127.0.0.1", None);
        client.trust(&server);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dumps")).unwrap();
        let shop = Shop {
            pg,
            client,
            server,
            dir,
        };
        shop.dump("shop-1.dump");
        // The older dump is a day old; the newest is the one restored.
        common::sh(
            Command::new("touch")
                .args(["-d", "1 day ago"])
                .arg(shop.dumps().join("shop-1.dump")),
        );
        shop.dump("shop-2.dump");
        shop
    }

    fn dumps(&self) -> PathBuf {
        self.dir.path().join("dumps")
    }

    fn dump(&self, name: &str) {
        self.pg.dump("shop", &self.dumps().join(name));
    }

    /// The config: host db1 over sshd, cluster main, the dumps as a files source, and `drill`.
    fn config(&self, drill: &str) -> PathBuf {
        let path = self.client.home.path().join("watchfloor.toml");
        std::fs::write(
            &path,
            format!(
                "[[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n\n\
                 [[host.postgres]]\nname = \"main\"\nsocket = \"{}\"\n\n\
                 [[host.backup]]\nname = \"dumps\"\nkind = \"files\"\npath = \"{}/shop-*.dump\"\n\n{drill}",
                self.server.spec(),
                self.pg.socket_path(),
                self.dumps().display()
            ),
        )
        .unwrap();
        path
    }

    fn watchfloor(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
        common::isolated_env(&mut cmd, self.client.home.path());
        cmd.arg("--config").arg(config).args(args);
        cmd
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        self.watchfloor(config, args).output().unwrap()
    }

    fn state(&self, file: &str) -> String {
        std::fs::read_to_string(
            self.client
                .home
                .path()
                .join(".local/state/watchfloor")
                .join(file),
        )
        .unwrap_or_default()
    }

    fn scratch_databases(&self) -> String {
        self.pg.psql(
            "postgres",
            "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'wf_drill%'",
        )
    }
}

const SHOP_DRILL: &str = "[[drill]]\nname = \"shop\"\nhost = \"db1\"\nsource = \"dumps\"\n\
    restore = \"pg_restore\"\ncluster = \"main\"\ndatabase = \"shop\"\nevery = \"90d\"\n\n\
    [[drill.check]]\nname = \"orders\"\nsql = \"select count(*) from orders\"\nmin = 1000\n\n\
    [[drill.check]]\nname = \"orders like production\"\nsql = \"select count(*) from orders\"\nwithin_pct = 1\n\n\
    [[drill.check]]\nname = \"newest order\"\nsql = \"select max(created_at) from orders\"\nnewest = true\nmax_age = \"26h\"\n";

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {}\nstderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_dump_drill_passes_a_truncated_dump_fails_a_broken_check_cannot_verify_and_history_stays() {
    let shop = Shop::new();
    let config = shop.config(SHOP_DRILL);

    // Pass: RTO and RPO measured, every check passed, the scratch database gone.
    let out = shop.run(&config, &["drill", "run", "shop", "--json"]);
    let run = json(&out);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{run}\n{progress}");
    assert_eq!(run["outcome"], "pass", "{run}");
    assert!(
        run["backup"]["name"]
            .as_str()
            .unwrap()
            .ends_with("shop-2.dump"),
        "{run}"
    );
    assert!(run["rto_s"].as_f64().unwrap() > 0.0, "{run}");
    // The newest order is a minute old when dumped: the RPO is that, not the day-old dump's.
    let rpo = run["rpo_s"].as_f64().unwrap();
    assert!((0.0..600.0).contains(&rpo), "{run}");
    assert_eq!(run["rpo_from"], "newest order");
    let checks = run["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks.iter().all(|c| c["result"] == "pass"), "{run}");
    assert_eq!(checks[0]["value"], "1000");
    let steps: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["prepare", "fetch", "restore", "checks", "cleanup"]);
    assert!(run["restored_bytes"].as_u64().unwrap() > 1_000_000, "{run}");
    assert!(
        progress.contains("dropped the scratch database wf_drill_shop"),
        "{progress}"
    );
    assert_eq!(shop.scratch_databases(), "", "the scratch database is gone");
    let audit = shop.state("audit.jsonl");
    assert!(
        audit.contains("\"action\":\"drill\"") && audit.contains("\"outcome\":\"ok\""),
        "{audit}"
    );

    // Truncated: pg_restore's own reason, the step named, nothing left behind.
    let newest = shop.dumps().join("shop-2.dump");
    let whole = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &whole[..whole.len() / 2]).unwrap();
    let out = shop.run(&config, &["drill", "run", "shop"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("drill shop: FAIL") && text.contains("step restore"),
        "{text}"
    );
    assert!(text.contains("pg_restore failed"), "{text}");
    assert!(
        text.contains("pg_restore: error"),
        "the tool's own words: {text}"
    );
    assert_eq!(shop.scratch_databases(), "");

    // A check that errors: could not verify, never pass.
    std::fs::write(&newest, &whole).unwrap();
    let broken = SHOP_DRILL.replace("from orders\"\nmin", "from no_such_table\"\nmin");
    let config = shop.config(&broken);
    let out = shop.run(&config, &["drill", "run", "shop", "--json"]);
    let run = json(&out);
    assert_eq!(out.status.code(), Some(1), "{run}");
    assert_eq!(run["outcome"], "could_not_verify", "{run}");
    assert_eq!(run["checks"][0]["result"], "could_not_verify");
    assert!(
        run["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no_such_table"),
        "{run}"
    );
    assert_eq!(shop.scratch_databases(), "");

    // History: three runs, read back by a new process.
    let history = shop.state("drills.jsonl");
    assert_eq!(history.lines().count(), 3, "{history}");
    let out = shop.run(&config, &["drill", "list", "--json"]);
    assert!(out.status.success());
    let list = json(&out);
    assert_eq!(list[0]["name"], "shop");
    assert_eq!(list[0]["last"]["outcome"], "could_not_verify", "{list}");
    assert!(
        list[0]["due"].as_str().unwrap().starts_with("in "),
        "{list}"
    );
    let out = shop.run(&config, &["drill", "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("could not verify") && table.contains("in 89d"),
        "{table}"
    );
    // The snapshot judges drills from the same history: the last run is an alert.
    let out = shop.run(&config, &["snapshot", "--json"]);
    let snap = json(&out);
    assert_eq!(
        snap["hosts"][0]["drills"][0]["last"]["outcome"], "could_not_verify",
        "{snap}"
    );
    let alerts = snap["alerts"].to_string();
    assert!(alerts.contains("drill shop: could not verify"), "{alerts}");
}

#[test]
fn a_target_equal_to_the_production_database_is_refused_before_anything_runs() {
    let shop = Shop::new();
    let drill = SHOP_DRILL.replace("every = \"90d\"\n", "every = \"90d\"\ntarget = \"shop\"\n");
    let config = shop.config(&drill);
    let out = shop.run(&config, &["drill", "run", "shop"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the target database shop is the production database shop"),
        "{err}"
    );
    assert!(err.contains("watchfloor.toml:"), "file and line: {err}");
    assert_eq!(shop.state("drills.jsonl"), "", "nothing ran");
    assert_eq!(shop.state("audit.jsonl"), "");
    assert_eq!(
        shop.pg
            .psql_in("postgres", "shop", "SELECT count(*) FROM orders"),
        "1000"
    );
    // Read-only refuses too, and says so.
    let config = shop.config(SHOP_DRILL);
    let out = shop.run(&config, &["--read-only", "drill", "run", "shop"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("read-only; nothing was done"), "{err}");
    assert_eq!(shop.scratch_databases(), "");
}

#[test]
fn leftovers_of_a_killed_run_are_removed_and_an_interrupted_restore_cleans_up() {
    let shop = Shop::new();
    // What a killed run leaves: the scratch database, with a session still on it.
    shop.pg.psql("postgres", "CREATE DATABASE wf_drill_shop");
    let mut holder = Command::new("psql")
        .arg("-h")
        .arg(shop.pg.dir())
        .args([
            "-p",
            &shop.pg.port().to_string(),
            "-U",
            "root",
            "-d",
            "wf_drill_shop",
        ])
        .args(["-c", "SELECT pg_sleep(600)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    shop.pg.wait_until(
        "the leftover session",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = 'wf_drill_shop')",
    );
    let config = shop.config(SHOP_DRILL);
    let out = shop.run(&config, &["drill", "run", "shop"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{err}\n{}",
        shop.pg.log()
    );
    assert!(
        text.contains("removed the scratch database wf_drill_shop an earlier run left"),
        "{text}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(shop.scratch_databases(), "");

    // A plain SQL dump whose restore takes a minute: interrupted mid-restore.
    std::fs::write(
        shop.dumps().join("slow.sql"),
        "CREATE TABLE t (x int);\nSELECT pg_sleep(60);\n",
    )
    .unwrap();
    let slow =
        "[[drill]]\nname = \"slow\"\nhost = \"db1\"\nsource = \"dumps\"\nrestore = \"psql\"\n\
                cluster = \"main\"\nfetch = \"echo DIR/slow.sql\"\n\n\
                [[drill.check]]\nsql = \"select count(*) from t\"\nmin = 0\n"
            .replace("DIR", &shop.dumps().display().to_string());
    let config = shop.config(&slow);
    let mut child = shop
        .watchfloor(&config, &["drill", "run", "slow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    shop.pg.wait_until(
        "the restore to be running",
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = 'wf_drill_slow' \
         AND query LIKE '%pg_sleep%')",
    );
    common::sh(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let status = wait_for("the run to end", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    let mut text = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("drill slow: cancelled"), "{text}");
    assert!(
        text.contains("dropped the scratch database wf_drill_slow"),
        "{text}"
    );
    assert_eq!(shop.scratch_databases(), "");
    let left = common::sh(Command::new("sh").args([
        "-c",
        "ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -F 'slow.sql' | grep -v grep || true",
    ]));
    assert_eq!(left.trim(), "", "no restore process is left");
    let history = shop.state("drills.jsonl");
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "cancelled", "{last}");
    assert_eq!(last["step"], "restore", "{last}");
    assert!(
        shop.state("audit.jsonl")
            .contains("\"outcome\":\"cancelled\"")
    );
}

/// A host over sshd holding files under data/app and a repository of them (borg or restic),
/// reached through `env` (an env_file as the backups' own hosts would have).
struct RepoHost {
    client: Client,
    server: Sshd,
    dir: tempfile::TempDir,
    env: PathBuf,
}

impl RepoHost {
    fn new(env: impl Fn(&str) -> String) -> RepoHost {
        let client = Client::new();
        let server = Sshd::start(&client, "127.0.0.1", None);
        client.trust(&server);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data/app");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("config.yml"), "listen: 8080\n").unwrap();
        std::fs::write(data.join("blob"), vec![7u8; 100_000]).unwrap();
        let path = dir.path().join("repo.env");
        std::fs::write(&path, env(&dir.path().display().to_string())).unwrap();
        RepoHost {
            client,
            server,
            dir,
            env: path,
        }
    }

    /// `script` with the env_file's variables, in the host's directory, with the sessions' HOME.
    fn on_host(&self, script: &str) -> String {
        common::sh(
            Command::new("sh")
                .args(["-c", &format!("set -a; . {}; {script}", self.env.display())])
                .current_dir(self.dir.path())
                .env("HOME", self.server.dir.path().join("home")),
        )
    }

    /// Runs `drill run NAME --json` with host files1, source `kind` and `drill`.
    fn drill(&self, kind: &str, drill: &str, name: &str) -> (Output, serde_json::Value) {
        let config = self.client.home.path().join("watchfloor.toml");
        std::fs::write(
            &config,
            format!(
                "[[host]]\nname = \"files1\"\nssh = \"{}\"\ndocker = false\n\n\
                 [[host.backup]]\nname = \"{kind}\"\nkind = \"{kind}\"\nenv_file = \"{}\"\n\n{drill}",
                self.server.spec(),
                self.env.display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
        common::isolated_env(&mut cmd, self.client.home.path());
        let out = cmd
            .arg("--config")
            .arg(&config)
            .args(["drill", "run", name, "--json"])
            .output()
            .unwrap();
        let run = json(&out);
        (out, run)
    }
}

#[test]
fn a_borg_archive_restores_into_a_scratch_directory_checked_by_files_and_removed() {
    let host =
        RepoHost::new(|d| format!("BORG_PASSCOMMAND='echo correct horse'\nBORG_REPO={d}/repo\n"));
    let d = host.dir.path().display().to_string();
    host.on_host("cd data && sha256sum app/config.yml app/blob > app/SHA256SUMS");
    host.on_host("borg init -e repokey && cd data && borg create ::nightly app");
    let sha = host.on_host("sha256sum data/app/config.yml | cut -d' ' -f1");
    std::fs::create_dir(host.dir.path().join("scratch")).unwrap();
    let (out, run) = host.drill(
        "borg",
        &format!(
            "[[drill]]\nname = \"app-files\"\nhost = \"files1\"\nsource = \"borg\"\n\
             restore = \"extract\"\nscratch_dir = \"{d}/scratch\"\n\n\
             [[drill.check]]\nfile = \"app/config.yml\"\nsha256 = \"{}\"\n\n\
             [[drill.check]]\nfile = \"app/blob\"\nmin_size = 100000\n\n\
             [[drill.check]]\nchecksums = \"app/SHA256SUMS\"\n",
            sha.trim()
        ),
        "app-files",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{run}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run["backup"]["name"], "nightly");
    assert_eq!(run["rpo_from"], "backup time");
    let checks = run["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["result"] == "pass"), "{run}");
    assert_eq!(checks[2]["detail"], "2 files match", "{run}");
    assert!(run["restored_bytes"].as_u64().unwrap() >= 100_000, "{run}");
    let scratch: Vec<_> = std::fs::read_dir(host.dir.path().join("scratch"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        scratch.is_empty(),
        "the scratch directory is removed: {scratch:?}"
    );
}

#[test]
fn a_pgbackrest_backup_restores_into_a_scratch_cluster_checked_and_stopped() {
    let mut shop = Shop::new();
    let d = shop.pg.dir().display().to_string();
    shop.pg.pgbackrest_stanza();
    let config = shop.client.home.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "[[host]]\nname = \"db1\"\nssh = \"{}\"\ndocker = false\n\n\
             [[host.backup]]\nname = \"pgbr\"\nkind = \"pgbackrest\"\nstanza = \"main\"\nenv_file = \"{d}/br.env\"\n\n\
             [[drill]]\nname = \"cluster\"\nhost = \"db1\"\nsource = \"pgbr\"\nrestore = \"pgbackrest\"\n\
             database = \"shop\"\nscratch_dir = \"{d}\"\n\n\
             [[drill.check]]\nname = \"orders\"\nsql = \"select count(*) from orders\"\nmin = 1000\n\n\
             [[drill.check]]\nname = \"newest order\"\nsql = \"select max(created_at) from orders\"\nnewest = true\n",
            shop.server.spec()
        ),
    )
    .unwrap();
    let out = shop.run(&config, &["drill", "run", "cluster", "--json"]);
    let run = json(&out);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{run}\n{progress}");
    assert!(
        run["backup"]["name"]
            .as_str()
            .unwrap()
            .ends_with("F (full)"),
        "{run}"
    );
    assert_eq!(run["checks"][0]["value"], "1000", "{run}");
    assert_eq!(run["rpo_from"], "newest order");
    assert!(
        progress.contains("stopped the scratch cluster"),
        "{progress}"
    );
    assert!(
        !Path::new(&format!("{d}/wf_drill_cluster")).exists(),
        "the scratch data directory is removed"
    );
    let left = common::sh(Command::new("sh").args([
        "-c",
        "ps -eo stat=,args= | awk '$1 !~ /^Z/' | grep -F 'wf_drill_cluster' | grep -v grep || true",
    ]));
    assert_eq!(left.trim(), "", "no scratch postmaster is left");
    // Production was not touched: it still serves, and its repository got no new timeline.
    assert_eq!(
        shop.pg
            .psql_in("postgres", "shop", "SELECT count(*) FROM orders"),
        "1000"
    );
}

#[test]
fn a_restic_snapshot_restores_into_a_scratch_directory_and_a_tampered_file_fails() {
    let host = RepoHost::new(|d| {
        std::fs::write(format!("{d}/restic-pass"), "pw\n").unwrap();
        format!("RESTIC_PASSWORD_FILE={d}/restic-pass\nRESTIC_REPOSITORY={d}/restic\n")
    });
    let d = host.dir.path().display().to_string();
    host.on_host("restic init -q && restic backup -q data/app");
    let sha = host.on_host("sha256sum data/app/config.yml | cut -d' ' -f1");
    // The snapshot was taken of the relative path data/app: restored under the same path.
    let drill = |sha: &str| {
        format!(
            "[[drill]]\nname = \"app\"\nhost = \"files1\"\nsource = \"restic\"\n\
             restore = \"extract\"\nscratch_dir = \"{d}\"\n\n\
             [[drill.check]]\nfile = \"data/app/config.yml\"\nsha256 = \"{sha}\"\n"
        )
    };
    let (out, rec) = host.drill("restic", &drill(sha.trim()), "app");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{rec}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rec["checks"][0]["result"], "pass", "{rec}");
    // A checksum that does not match: fail, naming the check, and still cleaned up.
    let (out, rec) = host.drill("restic", &drill(&"0".repeat(64)), "app");
    assert_eq!(out.status.code(), Some(1), "{rec}");
    assert_eq!(rec["outcome"], "fail");
    assert!(rec["reason"].as_str().unwrap().contains("sha256"), "{rec}");
    assert!(!host.dir.path().join("wf_drill_app").exists());
}

#[test]
fn another_runs_lock_a_foreign_process_group_and_a_dump_leaving_the_scratch_database_are_respected()
{
    let shop = Shop::new();
    let config = shop.config(SHOP_DRILL);
    let run_dir = shop.server.dir.path().join("home/.cache/watchfloor");
    std::fs::create_dir_all(&run_dir).unwrap();

    // Another run holds the lock (and its scratch database): refused, its database kept.
    shop.pg.psql("postgres", "CREATE DATABASE wf_drill_shop");
    std::fs::write(run_dir.join("wf_drill_shop.lock"), "sometoken\n").unwrap();
    let out = shop.run(&config, &["drill", "run", "shop"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("drill shop: refused") && text.contains("holds its lock"),
        "{text}"
    );
    assert_eq!(
        shop.scratch_databases(),
        "wf_drill_shop",
        "the other run's database stays"
    );
    std::fs::remove_file(run_dir.join("wf_drill_shop.lock")).unwrap();

    // A process group id left in the run file that is not ours (no token): left alone.
    let mut bystander = Command::new("setsid")
        .args(["sleep", "300"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        run_dir.join("wf_drill_shop.pgid"),
        format!("{} sometoken\n", bystander.id()),
    )
    .unwrap();
    let out = shop.run(&config, &["drill", "run", "shop"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the bystander lives: {text}"
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert_eq!(
        shop.scratch_databases(),
        "",
        "the leftover was ours to remove, once locked"
    );
    assert!(
        !run_dir.join("wf_drill_shop.lock").exists(),
        "the lock is released"
    );

    // A plain dump that would \connect to production is refused before psql runs.
    std::fs::write(
        shop.dumps().join("all.sql"),
        "\\connect shop\nDELETE FROM orders;\n",
    )
    .unwrap();
    let all = "[[drill]]\nname = \"all\"\nhost = \"db1\"\nsource = \"dumps\"\nrestore = \"psql\"\n\
               cluster = \"main\"\nfetch = \"echo DIR/all.sql\"\n\n\
               [[drill.check]]\nsql = \"select 1\"\nequals = \"1\"\n"
        .replace("DIR", &shop.dumps().display().to_string());
    let out = shop.run(&shop.config(&all), &["drill", "run", "all"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("connects to another database"), "{text}");
    assert_eq!(
        shop.pg
            .psql_in("postgres", "shop", "SELECT count(*) FROM orders"),
        "1000",
        "production untouched"
    );
    assert_eq!(shop.scratch_databases(), "");
}
