//! A restore drill as a job: restore the newest backup of a source into a scratch target on
//! its host, check what came back, measure, clean up. Steps, each timed:
//!
//! 1. prepare: the target is checked again ([`DrillSpec::refuse`]); what an earlier run left
//!    (its process group, from the pid file on the host; its scratch database and directory)
//!    is removed.
//! 2. fetch: the newest backup, as the backups collector lists it (or the `fetch` command).
//! 3. restore: pg_restore / psql into a new scratch database, or borg extract / restic
//!    restore into a scratch directory then the `import` command; niced, as a stoppable
//!    process group ([`super::hostproc`]).
//! 4. checks: SQL on the scratch database (read-only), files in the scratch directory. A check
//!    that cannot run makes the drill "could not verify", never "pass".
//! 5. cleanup (in [`Work::cleanup`], so also after a failure, a cancel, a timeout or the
//!    console's exit): the process group stopped, the scratch database dropped, the directory
//!    removed, and that checked.
//!
//! RTO is fetch + restore + checks: the time until verified data is back. RPO is the age of
//! the newest restored row (a `newest` check), else of the backup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use jiff::Timestamp;

use super::history::{BackupRef, CheckRecord, CheckResult, DrillOutcome, DrillRun, StepTime};
use super::hostproc::{self, HostProcess, RUN_DIR};
use super::runner::{Reporter, Work};
use super::{JobId, JobOutcome};
use crate::collect::backups::{self, prelude, repo_word, secret_input};
use crate::collect::postgres::{self as pg, Conninfo, Endpoint, PgSession};
use crate::config::HostSpec;
use crate::config::backup::{BackupKind, Location};
use crate::config::drill::{Check, CheckKind, DrillSpec, Restore};
use crate::link::{self, Link, sh_quote};

/// Lines of a plain SQL dump that would act outside the scratch database (pg_dumpall, pg_dump
/// -C): psql would follow them into production. Such a dump is refused.
const LEAVES: &str = r"^[[:space:]]*(\\c(onnect)?[[:space:]]|(create|drop|alter)[[:space:]]+(database|role|user)[[:space:]])";
const LEAVES_TEXT: &str = "\\connect, CREATE/DROP/ALTER DATABASE or ROLE";
/// Bound on one check's statement or command.
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on the small commands around the restore (stat, du, rm).
const SMALL: Duration = Duration::from_secs(60);
/// What the restore tools' sessions are called in pg_stat_activity.
const APP_NAME: &str = "watchfloor-drill";
/// The scratch cluster listens on no TCP port: this only names its socket, in its own directory.
const SCRATCH_PORT: u16 = 5432;

pub struct Drill {
    link: Arc<dyn Link>,
    host: Arc<HostSpec>,
    spec: DrillSpec,
    id: JobId,
    report: Reporter,
    process: HostProcess,
    run: DrillRun,
    /// The step running now, and since when.
    current: Option<(&'static str, Instant)>,
    /// This run holds the drill's lock on the host: only then may it remove scratch targets.
    locked: bool,
    /// Written into the lock, to release only our own.
    token: String,
}

impl Drill {
    pub fn new(
        link: Arc<dyn Link>,
        host: Arc<HostSpec>,
        spec: DrillSpec,
        id: JobId,
        report: Reporter,
    ) -> Self {
        let run = DrillRun::begin(
            &spec.name,
            &spec.host,
            &spec.source_name,
            spec.target_text(),
            Timestamp::now(),
        );
        Drill {
            link,
            host,
            spec,
            id,
            report,
            token: HostProcess::default().token,
            process: HostProcess::default(),
            run,
            current: None,
            locked: false,
        }
    }

    /// Ends the current step's clock and starts `name`'s.
    fn begin(&mut self, name: &'static str, step: &(dyn Fn(String) + Send + Sync), text: String) {
        self.end_step();
        self.current = Some((name, Instant::now()));
        step(format!("{name}: {text}"));
    }

    fn end_step(&mut self) {
        if let Some((name, since)) = self.current.take() {
            self.run.steps.push(StepTime {
                step: name.to_owned(),
                secs: since.elapsed().as_secs_f64(),
            });
        }
    }

    async fn say(&self, line: String) {
        self.report
            .output_wait(
                self.id,
                vec![format!("watchfloor: {}", crate::sanitize::plain(&line))],
            )
            .await;
    }

    fn cluster(&self) -> Option<&Conninfo> {
        Some(&self.host.postgres.get(self.spec.cluster?)?.target)
    }

    /// A session on the cluster's own database (for CREATE / DROP DATABASE), or on `db`.
    async fn session(&self, db: Option<&str>) -> Result<PgSession, String> {
        let mut target = self.cluster().ok_or("no cluster configured")?.clone();
        if let Some(db) = db {
            target.dbname = db.to_owned();
        }
        pg::connect_plain(&*self.link, &target)
            .await
            .map_err(|e| e.to_string())
    }

    /// Drops the scratch database if it exists (ending its sessions first); true if it did.
    async fn drop_target_db(&self) -> Result<bool, String> {
        let Some(db) = &self.spec.target_db else {
            return Ok(false);
        };
        let s = self.session(None).await?;
        let q = |sql: String| {
            let s = &s;
            async move { s.value(&sql, SMALL).await.map_err(|e| e.to_string()) }
        };
        // The name is checked to be [a-z0-9_] (DrillSpec::refuse): nothing to inject.
        let exists = q(format!("SELECT 1 FROM pg_database WHERE datname = '{db}'")).await?;
        if exists.is_none() {
            return Ok(false);
        }
        // WITH (FORCE) (PostgreSQL 13+) ends the sessions on it in the same step; older
        // servers get them terminated first, and a second try once they have gone.
        let forced = q(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).await;
        if forced.is_ok() {
            return Ok(true);
        }
        for attempt in 0..3 {
            q(format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid()"
            ))
            .await?;
            match q(format!("DROP DATABASE IF EXISTS \"{db}\"")).await {
                Ok(_) => return Ok(true),
                Err(e) if attempt == 2 => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        Ok(true)
    }

    /// Removes the scratch directory if it exists; true if it did.
    async fn remove_target_dir(&self) -> Result<bool, String> {
        let Some(dir) = &self.spec.target_dir else {
            return Ok(false);
        };
        let script = format!(
            "d={}\ncase \"$d\" in /*/wf_drill_*) ;; *) echo \"refusing to remove $d\" >&2; exit 64;; esac\n\
             [ -e \"$d\" ] || exit 0\nrm -rf -- \"$d\" || exit 1\n[ -e \"$d\" ] && {{ echo \"$d is still there\" >&2; exit 1; }}\necho removed\n",
            sh_quote(dir)
        );
        let out = self.sh(&self.as_owner(&script)).await?;
        Ok(out.contains("removed"))
    }

    /// `script` as the user the scratch cluster belongs to (pgbackrest restores), else as is:
    /// runuser when the SSH user is root, sudo -n otherwise.
    fn as_owner(&self, script: &str) -> String {
        let Some(user) = &self.spec.run_as else {
            return script.to_owned();
        };
        // From /: the SSH user's home may be closed to the other user.
        let (u, q) = (
            sh_quote(user),
            sh_quote(&format!("cd / || exit 1\n{script}")),
        );
        format!(
            "if [ \"$(id -un)\" = {u} ]; then exec sh -c {q}; \
             elif [ \"$(id -u)\" = 0 ]; then exec runuser -u {u} -- sh -c {q}; \
             else exec sudo -n -u {u} sh -c {q}; fi\n"
        )
    }

    /// The scratch cluster's binaries, from the restored PG_VERSION (Debian's layout), else
    /// the pg_ctl on PATH.
    fn pg_bin(dir: &str) -> String {
        format!(
            "bin=/usr/lib/postgresql/$(cat {d}/PG_VERSION 2>/dev/null)/bin
             [ -x \"$bin/pg_ctl\" ] || bin=$(dirname \"$(command -v pg_ctl || echo /x/pg_ctl)\")
             [ -x \"$bin/pg_ctl\" ] || {{ echo \"pg_ctl not found (PostgreSQL $(cat {d}/PG_VERSION 2>/dev/null) server binaries)\" >&2; exit 127; }}
",
            d = sh_quote(dir)
        )
    }

    /// Stops the scratch cluster of a pgbackrest drill if it runs; true if it did.
    async fn stop_scratch_cluster(&self) -> Result<bool, String> {
        let (Restore::Pgbackrest, Some(dir)) = (self.spec.restore, &self.spec.target_dir) else {
            return Ok(false);
        };
        let script = format!(
            "d={q}
[ -f \"$d/postmaster.pid\" ] || exit 0
{bin}\"$bin/pg_ctl\" -D \"$d\" -m immediate -w -t 30 stop >/dev/null && echo stopped
",
            q = sh_quote(dir),
            bin = Self::pg_bin(dir)
        );
        Ok(self.sh(&self.as_owner(&script)).await?.contains("stopped"))
    }

    /// A read session on what was restored: the scratch database, or the scratch cluster.
    async fn scratch_session(&self) -> Result<PgSession, String> {
        let (Restore::Pgbackrest, Some(dir)) = (self.spec.restore, &self.spec.target_dir) else {
            return self.session(self.spec.target_db.as_deref()).await;
        };
        let target = Conninfo {
            name: self.spec.target_text(),
            endpoint: Endpoint::Unix(format!("{dir}/.s.PGSQL.{SCRATCH_PORT}")),
            user: self
                .spec
                .run_as
                .clone()
                .unwrap_or_else(|| "postgres".into()),
            dbname: self
                .spec
                .database
                .clone()
                .unwrap_or_else(|| "postgres".into()),
            password: None,
        };
        pg::connect_plain(&*self.link, &target)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs a short script on the host; its stdout, or its error.
    async fn sh(&self, script: &str) -> Result<String, String> {
        let out = link::run(
            &*self.link,
            &format!("sh -c {} sh", sh_quote(script)),
            SMALL,
        )
        .await
        .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out.stdout_text())
        } else {
            Err(format!("{} ({})", out.stderr_line(), out.status))
        }
    }

    /// Stops a process group an earlier run left running (its id and token are in the run
    /// file; a group without the token is left alone).
    async fn stop_left_running(&self) -> Result<Option<String>, String> {
        let setup = format!(
            "f={RUN_DIR}/{}.pgid; set -- $(cat \"$f\" 2>/dev/null); g=${{1:-}}; t=${{2:-}}",
            self.spec.run_name
        );
        let text = hostproc::stop_group(&*self.link, &setup).await?;
        let _ = self
            .sh(&format!("rm -f {RUN_DIR}/{}.pgid", self.spec.run_name))
            .await;
        Ok((text.starts_with("stopped") || text.contains("STILL")).then_some(text))
    }

    /// Takes the drill's lock on the host: one run of a drill at a time, whether from a console
    /// or from cron. A lock older than the drill's timeout was left by a run that died.
    async fn take_lock(&mut self) -> Result<(), String> {
        let script = format!(
            "[ -n \"$HOME\" ] || {{ echo \"HOME is not set for $(id -un): no place for the drill's lock\" >&2; exit 1; }}\n\
             mkdir -p -m 700 {RUN_DIR} || exit 1\nf={RUN_DIR}/{name}.lock\n\
             if [ -f \"$f\" ]; then age=$(( $(date +%s) - $(stat -c %Y \"$f\") )); \
             if [ \"$age\" -lt {limit} ]; then echo \"busy $age\"; exit 0; fi; rm -f \"$f\"; fi\n\
             set -C; echo {token} > \"$f\" || {{ echo busy 0; exit 0; }}\necho taken\n",
            name = self.spec.run_name,
            limit = self.spec.timeout.as_secs() + 600,
            token = self.token,
        );
        let out = self.sh(&script).await?;
        if out.trim() == "taken" {
            self.locked = true;
            return Ok(());
        }
        let age: u64 = out
            .trim()
            .strip_prefix("busy ")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        self.run.outcome = DrillOutcome::Refused;
        Err(format!(
            "another run of drill {} holds its lock on the host (taken {} ago); wait for it. A \
             lock older than the timeout plus 10 minutes counts as abandoned; if no run is in \
             progress, remove ~/.cache/watchfloor/{}.lock on the host",
            self.spec.name,
            crate::text::age(Duration::from_secs(age)),
            self.spec.run_name
        ))
    }

    async fn release_lock(&mut self) {
        if !self.locked {
            return;
        }
        let script = format!(
            "f={RUN_DIR}/{}.lock\n[ \"$(cat \"$f\" 2>/dev/null)\" = {} ] && rm -f \"$f\"\nexit 0\n",
            self.spec.run_name, self.token
        );
        if self.sh(&script).await.is_ok() {
            self.locked = false;
        }
    }

    async fn prepare(&mut self) -> Result<(), String> {
        if let Err(why) = self.spec.refuse(&self.host) {
            self.run.outcome = DrillOutcome::Refused;
            return Err(why);
        }
        self.take_lock().await?;
        if self.stop_scratch_cluster().await? {
            self.say("stopped the scratch cluster an earlier run left running".into())
                .await;
        }
        if let Some(text) = self.stop_left_running().await? {
            self.say(format!("an earlier run was still running: {text}"))
                .await;
        }
        if self.drop_target_db().await? {
            self.say(format!(
                "removed the scratch database {} an earlier run left",
                self.spec.target_db.as_deref().unwrap_or("")
            ))
            .await;
        }
        if self.remove_target_dir().await? {
            self.say(format!(
                "removed the scratch directory {} an earlier run left",
                self.spec.target_dir.as_deref().unwrap_or("")
            ))
            .await;
        }
        Ok(())
    }

    /// Runs `command` on the host as a stoppable group recorded in the pid file, its output
    /// streamed to the job.
    async fn launch(
        &mut self,
        prelude: &str,
        command: &str,
        input: Option<bytes::Bytes>,
    ) -> Result<hostproc::Ended, String> {
        let pid_file = format!("{}.pgid", self.spec.run_name);
        let launch = hostproc::Launch {
            prelude,
            command,
            input,
            pid_file: Some(&pid_file),
        };
        let end = hostproc::stream(
            &*self.link,
            launch,
            &self.report,
            self.id,
            &mut self.process,
        )
        .await?;
        // It ended by itself: nothing of it to stop in cleanup.
        self.process = HostProcess::default();
        Ok(end)
    }

    /// The backup to restore: its name and time, and for a dump its path on the host.
    async fn fetch(&mut self) -> Result<(BackupRef, Option<String>), String> {
        let source = self.host.backups[self.spec.source].clone();
        if let Some(fetch) = self.spec.fetch.clone() {
            let end = self.launch(&prelude(&source, None), &fetch, None).await?;
            end.check(&format!("`{fetch}`"))?;
            let path = end.last_line.trim().to_owned();
            let out = self
                .sh(&format!("stat -c '%Y %s' -- {}", sh_quote(&path)))
                .await
                .map_err(|e| format!("`{fetch}` printed {path:?}, which is not a file: {e}"))?;
            let mut f = out.split_whitespace();
            let time = f
                .next()
                .and_then(|m| m.parse().ok())
                .and_then(|m| Timestamp::from_second(m).ok())
                .ok_or_else(|| format!("stat of {path} printed {out:?}"))?;
            let size = f.next().and_then(|s| s.parse().ok());
            let backup = BackupRef {
                name: path.clone(),
                time,
                size,
            };
            return Ok((backup, Some(path)));
        }
        let snap = backups::read(&*self.link, &source, None)
            .await
            .map_err(|e| e.to_string())?;
        let Some(newest) = snap.newest() else {
            let why = match &snap.running {
                Some(r) => format!(
                    "source {} lists no backup while a backup runs ({}); try again when it ends",
                    source.name, r.evidence
                ),
                None => format!("source {} lists no backup", source.name),
            };
            return Err(why);
        };
        let backup = BackupRef {
            name: newest.name.clone(),
            time: newest.time,
            size: newest.size,
        };
        let path = match &source.location {
            Location::Files { dir, .. } => {
                Some(format!("{}/{}", dir.trim_end_matches('/'), newest.name))
            }
            _ => None,
        };
        Ok((backup, path))
    }

    /// Shell lines that point libpq's tools at the scratch database; the password (if any) is
    /// the first line of stdin.
    fn pg_env(&self, password: bool) -> String {
        let (Some(c), Some(db)) = (self.cluster(), &self.spec.target_db) else {
            return String::new();
        };
        let (host, port) = match &c.endpoint {
            Endpoint::Unix(path) => {
                let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
                let port = file.rsplit('.').next().unwrap_or("5432");
                (
                    if dir.is_empty() { "/" } else { dir }.to_owned(),
                    port.to_owned(),
                )
            }
            Endpoint::Tcp { host, port } => (host.clone(), port.to_string()),
        };
        let mut s = String::new();
        if password {
            s += "IFS= read -r PGPASSWORD || true\nexport PGPASSWORD\n";
        }
        s += &format!(
            "export PGHOST={} PGPORT={} PGUSER={} PGDATABASE={} PGAPPNAME={APP_NAME}\n",
            sh_quote(&host),
            sh_quote(&port),
            sh_quote(&c.user),
            sh_quote(db)
        );
        s
    }

    /// Runs a restore command as a stoppable group; Err names the tool and its last line.
    async fn restore_command(&mut self, what: &str, command: &str) -> Result<(), String> {
        let source = self.host.backups[self.spec.source].clone();
        let password = match self.cluster() {
            Some(c) => pg::resolve_password(c).await.map_err(|e| e.to_string())?,
            None => None,
        };
        let secret = secret_input(&source).await.map_err(|e| e.to_string())?;
        // The PostgreSQL password first (pg_env reads it), then the passphrase (prelude).
        let mut input = Vec::new();
        if let Some(p) = &password {
            input.extend_from_slice(p.as_bytes());
            input.push(b'\n');
        }
        if let Some(s) = &secret {
            input.extend_from_slice(s);
        }
        let tool = match (source.kind, self.spec.restore) {
            (BackupKind::Borg, Restore::Extract) if what == "extract" => Some("borg"),
            (BackupKind::Restic, Restore::Extract) if what == "extract" => Some("restic"),
            _ => None,
        };
        let head = self.pg_env(password.is_some()) + &prelude(&source, tool);
        let input = (!input.is_empty()).then(|| bytes::Bytes::from(input));
        self.launch(&head, command, input).await?.check(what)
    }

    async fn create_target_db(&self) -> Result<(), String> {
        let Some(db) = &self.spec.target_db else {
            return Ok(());
        };
        let s = self.session(None).await?;
        s.value(&format!("CREATE DATABASE \"{db}\""), SMALL)
            .await
            .map_err(|e| format!("creating the scratch database {db}: {e}"))?;
        self.say(format!("created the scratch database {db}")).await;
        Ok(())
    }

    async fn restore(&mut self, backup: &BackupRef, file: Option<String>) -> Result<(), String> {
        let source = self.host.backups[self.spec.source].clone();
        match self.spec.restore {
            Restore::PgRestore | Restore::Psql => {
                let file = file.ok_or("no dump file to restore")?;
                self.create_target_db().await?;
                let f = sh_quote(&file);
                let (what, command) = if self.spec.restore == Restore::PgRestore {
                    (
                        "pg_restore",
                        format!(
                            "exec nice -n 10 pg_restore --no-owner --no-privileges --exit-on-error \
                             --dbname=\"$PGDATABASE\" {f}"
                        ),
                    )
                } else {
                    (
                        "psql",
                        format!(
                            "case {f} in *.gz) cat='gzip -dc'; gzip -t {f} || exit 1 ;; *) cat=cat ;; esac\n\
                             if $cat {f} | grep -qiE '{LEAVES}'; then echo \"{f} connects to another database or \
                             changes databases or roles ({LEAVES_TEXT}): a drill restores only into its scratch database; \
                             restore it with a dump of one database (pg_dump without -C)\" >&2; exit 65; fi\n\
                             $cat {f} | nice -n 10 psql -X -q -v ON_ERROR_STOP=1"
                        ),
                    )
                };
                self.restore_command(what, &command).await
            }
            Restore::Pgbackrest => {
                let dir = self.spec.target_dir.clone().ok_or("no scratch directory")?;
                let stanza = match &source.location {
                    Location::Stanza(Some(s)) => s.clone(),
                    _ => return Err("the source names no stanza".into()),
                };
                // "20261203-101500F (full)" → the label.
                let label = backup.name.split_whitespace().next().unwrap_or("");
                let env = source
                    .env_file
                    .as_ref()
                    .map(|f| format!("set -a; . {}; set +a\n", sh_quote(f)))
                    .unwrap_or_default();
                let d = sh_quote(&dir);
                // Tablespaces go inside the scratch directory, never back to their production
                // paths; the restored cluster never archives into the production repository.
                let restore = format!(
                    "{env}mkdir -m 700 {d} || exit 1
                     exec nice -n 10 pgbackrest ${{PGBACKREST_CONFIG:+--config=\"$PGBACKREST_CONFIG\"}} \
                     --stanza={st} --pg1-path={d} --set={set} --type=immediate --target-action=promote \
                     --archive-mode=off --tablespace-map-all={d}/wf_tablespaces --log-level-console=info restore\n",
                    st = sh_quote(&stanza),
                    set = sh_quote(label),
                );
                self.restore_command("pgbackrest restore", &self.as_owner(&restore))
                    .await?;
                let start = format!(
                    "d={d}
[ -f \"$d/postgresql.conf\" ] || : > \"$d/postgresql.conf\"
                     printf 'local all all trust\\n' > \"$d/wf_drill_hba.conf\"
: > \"$d/wf_drill_ident.conf\"
                     {bin}nice -n 10 \"$bin/pg_ctl\" -D \"$d\" -l \"$d/wf_drill.log\" -w -t {secs} \
                     -o \"-p {SCRATCH_PORT} -k '$d' -c listen_addresses='' -c archive_mode=off \
                     -c hba_file='$d/wf_drill_hba.conf' -c ident_file='$d/wf_drill_ident.conf' \
                     -c max_logical_replication_workers=0 -c cluster_name=wf_drill\" start || {{ tail -n 5 \"$d/wf_drill.log\"; exit 1; }}\n",
                    bin = Self::pg_bin(&dir),
                    secs = self.spec.timeout.as_secs().max(60),
                );
                self.restore_command("starting the scratch cluster", &self.as_owner(&start))
                    .await
            }
            Restore::Extract => {
                let dir = self.spec.target_dir.clone().ok_or("no scratch directory")?;
                let d = sh_quote(&dir);
                let paths: String = self
                    .spec
                    .paths
                    .iter()
                    .map(|p| format!(" {}", sh_quote(p)))
                    .collect();
                let command = match source.kind {
                    BackupKind::Borg => format!(
                        "mkdir -m 700 {d} && cd {d} && R={repo} && exec nice -n 10 borg extract \"$R::\"{a}{paths}",
                        repo = repo_word(&source, "BORG_REPO"),
                        a = sh_quote(&backup.name)
                    ),
                    _ => {
                        let includes: String = self
                            .spec
                            .paths
                            .iter()
                            .map(|p| format!(" --include {}", sh_quote(p)))
                            .collect();
                        format!(
                            "mkdir -m 700 {d} && export RESTIC_REPOSITORY={repo} && exec nice -n 10 restic restore {a} --target {d}{includes}",
                            repo = repo_word(&source, "RESTIC_REPOSITORY"),
                            a = sh_quote(&backup.name)
                        )
                    }
                };
                self.restore_command("extract", &command).await?;
                if self.spec.target_db.is_some() {
                    self.create_target_db().await?;
                }
                if let Some(import) = self.spec.import.clone() {
                    let command = format!("cd {d} && {import}");
                    self.restore_command("import", &command).await?;
                }
                Ok(())
            }
        }
    }

    /// The restored size: the scratch database's, plus the directory's.
    async fn measure(&mut self) {
        let mut total = None::<u64>;
        if let Some(db) = &self.spec.target_db
            && let Ok(s) = self.session(None).await
            && let Ok(Some(v)) = s
                .value(&format!("SELECT pg_database_size('{db}')"), SMALL)
                .await
        {
            total = v.parse().ok();
        }
        if let Some(dir) = &self.spec.target_dir
            && let Ok(out) = self
                .sh(&format!("du -sb -- {} | cut -f1", sh_quote(dir)))
                .await
            && let Ok(n) = out.trim().parse::<u64>()
        {
            total = Some(total.unwrap_or(0) + n);
        }
        self.run.restored_bytes = total;
    }

    async fn check(&mut self, check: &Check, scratch: &Result<PgSession, String>) -> CheckRecord {
        let record = |result, value: Option<String>, detail: String| CheckRecord {
            name: check.name.clone(),
            result,
            value,
            detail,
        };
        let cnv = |detail: String| record(CheckResult::CouldNotVerify, None, detail);
        match &check.kind {
            CheckKind::Sql {
                sql,
                min,
                max,
                equals,
                within_pct,
            } => {
                let s = match scratch {
                    Ok(s) => s,
                    Err(e) => return cnv(format!("no session on the scratch database: {e}")),
                };
                let value = match s.value(sql, CHECK_TIMEOUT).await {
                    Ok(Some(v)) => v,
                    Ok(None) => return cnv("the query returned no value".into()),
                    Err(e) => return cnv(format!("the query failed: {e}")),
                };
                let shown = Some(crate::sanitize::plain(&value));
                if let Some(want) = equals {
                    let ok = value.trim() == want.trim();
                    let result = if ok {
                        CheckResult::Pass
                    } else {
                        CheckResult::Fail
                    };
                    return record(result, shown, format!("expected {want:?}"));
                }
                let Ok(n) = value.trim().parse::<f64>() else {
                    return cnv(format!("{value:?} is not a number"));
                };
                let mut wants = Vec::new();
                let mut ok = true;
                if let Some(m) = min {
                    ok &= n >= *m;
                    wants.push(format!("≥ {m}"));
                }
                if let Some(m) = max {
                    ok &= n <= *m;
                    wants.push(format!("≤ {m}"));
                }
                if let Some(pct) = within_pct {
                    let prod = match self.production_value(sql).await {
                        Ok(p) => p,
                        Err(e) => return cnv(format!("production value: {e}")),
                    };
                    let diff = if prod == 0.0 {
                        if n == 0.0 { 0.0 } else { 100.0 }
                    } else {
                        (n - prod).abs() / prod.abs() * 100.0
                    };
                    ok &= diff <= *pct;
                    wants.push(format!(
                        "within {pct}% of production's {prod} (off by {diff:.1}%)"
                    ));
                }
                let result = if ok {
                    CheckResult::Pass
                } else {
                    CheckResult::Fail
                };
                record(result, shown, format!("expected {}", wants.join(", ")))
            }
            CheckKind::Newest { sql, max_age } => {
                let s = match scratch {
                    Ok(s) => s,
                    Err(e) => return cnv(format!("no session on the scratch database: {e}")),
                };
                let inner = sql.trim().trim_end_matches(';');
                let wrapped = format!(
                    "SELECT extract(epoch FROM q.v::timestamptz)::float8 FROM ({inner}) AS q(v)"
                );
                let secs = match s.value(&wrapped, CHECK_TIMEOUT).await {
                    Ok(Some(v)) => match v.parse::<f64>() {
                        Ok(n) => n,
                        Err(_) => return cnv(format!("{v:?} is not a time")),
                    },
                    Ok(None) => {
                        return record(
                            CheckResult::Fail,
                            None,
                            "no newest row: the table is empty".into(),
                        );
                    }
                    Err(e) => return cnv(format!("the query failed: {e}")),
                };
                let Ok(at) = Timestamp::from_millisecond((secs * 1000.0) as i64) else {
                    return cnv(format!("{secs} is not a time"));
                };
                let rpo = (self.run.started.as_millisecond() - at.as_millisecond()) as f64 / 1000.0;
                if self.run.rpo_s.is_none() {
                    self.run.rpo_s = Some(rpo.max(0.0));
                    self.run.rpo_from = Some(check.name.clone());
                }
                let age = crate::text::age(Duration::from_secs_f64(rpo.max(0.0)));
                match max_age {
                    Some(m) if rpo > m.as_secs_f64() => record(
                        CheckResult::Fail,
                        Some(at.to_string()),
                        format!("newest data {age} old, more than {}", crate::text::age(*m)),
                    ),
                    _ => record(
                        CheckResult::Pass,
                        Some(at.to_string()),
                        format!("newest data {age} old (the RPO)"),
                    ),
                }
            }
            CheckKind::File {
                path,
                min_size,
                sha256,
            } => {
                let dir = self.spec.target_dir.clone().unwrap_or_default();
                let script = format!(
                    "cd {} || exit 70\nf={}\n[ -f \"$f\" ] || {{ echo missing; exit 0; }}\n\
                     case \"$(realpath -e -- \"$f\")\" in \"$(pwd -P)\"/*) ;; *) echo outside; exit 0;; esac\n\
                     stat -c %s -- \"$f\"\n{}",
                    sh_quote(&dir),
                    sh_quote(path),
                    if sha256.is_some() {
                        "sha256sum -- \"$f\" | cut -d' ' -f1\n"
                    } else {
                        ""
                    }
                );
                let out = match self.sh(&script).await {
                    Ok(o) => o,
                    Err(e) => return cnv(format!("could not look at it: {e}")),
                };
                let mut lines = out.lines();
                let first = lines.next().unwrap_or("").trim();
                if first == "outside" {
                    return record(
                        CheckResult::Fail,
                        None,
                        "a link to outside the restored files: it proves nothing".into(),
                    );
                }
                if first == "missing" {
                    return record(CheckResult::Fail, None, "not in the restored files".into());
                }
                let Ok(size) = first.parse::<u64>() else {
                    return cnv(format!("stat printed {first:?}"));
                };
                let value = Some(format!("{size} bytes"));
                if let Some(min) = min_size
                    && size < *min
                {
                    return record(
                        CheckResult::Fail,
                        value,
                        format!("smaller than {min} bytes"),
                    );
                }
                if let Some(want) = sha256 {
                    let got = lines.next().unwrap_or("").trim();
                    if got != want {
                        return record(
                            CheckResult::Fail,
                            value,
                            format!("sha256 {got}, expected {want}"),
                        );
                    }
                }
                record(CheckResult::Pass, value, "present".into())
            }
            CheckKind::Checksums { list } => {
                let dir = self.spec.target_dir.clone().unwrap_or_default();
                let script = format!(
                    "cd {} || exit 70\n[ -f {l} ] || {{ echo 'the list is not in the restored files'; exit 1; }}\n\
                     if grep -qE '^[0-9a-fA-F]+ [ *](/|(.*/)?\\.\\.(/|$))' {l}; then echo 'the list names files outside the restored files (absolute or ..): it proves nothing'; exit 1; fi\n\
                     if [ -n \"$(find . -type l -lname '/*' -print -quit)\" ] || [ -n \"$(find . -type l -lname '*..*' -print -quit)\" ]; then echo 'the restored files hold links that lead outside them: a checksum through them proves nothing'; exit 1; fi\n\
                     n=$(grep -c . {l}); sha256sum -c --quiet --strict -- {l} 2>&1 && echo \"$n files match\"",
                    sh_quote(&dir),
                    l = sh_quote(list)
                );
                let out = link::run(
                    &*self.link,
                    &format!("sh -c {} sh", sh_quote(&script)),
                    CHECK_TIMEOUT,
                )
                .await;
                match out {
                    Err(e) => cnv(e.to_string()),
                    Ok(o) => {
                        let text = crate::sanitize::plain(o.stdout_text().trim());
                        let first = text.lines().next().unwrap_or("").to_owned();
                        match &o.status {
                            s if s.success() => record(CheckResult::Pass, None, first),
                            link::ExitStatus::Code(1) => record(CheckResult::Fail, None, first),
                            s => cnv(format!("sha256sum: {s}: {}", o.stderr_line())),
                        }
                    }
                }
            }
        }
    }

    /// The same query on the production database, read-only.
    async fn production_value(&self, sql: &str) -> Result<f64, String> {
        let db = self
            .spec
            .database
            .as_deref()
            .ok_or("no production database")?;
        let s = self.session(Some(db)).await?;
        s.value("SET default_transaction_read_only = on", SMALL)
            .await
            .map_err(|e| e.to_string())?;
        let v = s
            .value(sql, CHECK_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no value")?;
        v.trim()
            .parse()
            .map_err(|_| format!("{v:?} is not a number"))
    }

    async fn checks(&mut self) {
        let needs_sql = self
            .spec
            .checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Sql { .. } | CheckKind::Newest { .. }));
        let scratch = if needs_sql {
            match self.scratch_session().await {
                Ok(s) => {
                    // Checks read; they never change the restored data.
                    let ro = s
                        .value("SET default_transaction_read_only = on", SMALL)
                        .await;
                    ro.map(|_| s).map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            }
        } else {
            Err("no SQL checks".into())
        };
        for check in self.spec.checks.clone() {
            let r = self.check(&check, &scratch).await;
            let mark = match r.result {
                CheckResult::Pass => "pass",
                CheckResult::Fail => "FAIL",
                CheckResult::CouldNotVerify => "could not verify",
            };
            let value = r
                .value
                .as_deref()
                .map(|v| format!(" = {v}"))
                .unwrap_or_default();
            self.say(format!("check {}{value}: {mark} ({})", r.name, r.detail))
                .await;
            self.run.checks.push(r);
        }
    }

    /// Stops what this run started and removes its scratch targets; what could not be removed.
    async fn remove_scratch(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        if let Some(line) = self.process.stop(&*self.link).await {
            self.say(line).await;
        }
        match self.stop_left_running().await {
            Ok(Some(line)) if line.contains("STILL") => left.push(line),
            Ok(_) => {}
            Err(e) => left.push(format!("the restore's processes: {e}")),
        }
        match self.stop_scratch_cluster().await {
            Ok(true) => self.say("stopped the scratch cluster".into()).await,
            Ok(false) => {}
            Err(e) => left.push(format!("the scratch cluster: {e}")),
        }
        match self.drop_target_db().await {
            Ok(true) => {
                let db = self.spec.target_db.clone().unwrap_or_default();
                self.say(format!("dropped the scratch database {db}")).await;
            }
            Ok(false) => {}
            Err(e) => left.push(format!(
                "database {}: {e}",
                self.spec.target_db.as_deref().unwrap_or("")
            )),
        }
        match self.remove_target_dir().await {
            Ok(true) => {
                let dir = self.spec.target_dir.clone().unwrap_or_default();
                self.say(format!("removed the scratch directory {dir}"))
                    .await;
            }
            Ok(false) => {}
            Err(e) => left.push(format!(
                "directory {}: {e}",
                self.spec.target_dir.as_deref().unwrap_or("")
            )),
        }
        left
    }

    async fn steps(&mut self, step: &(dyn Fn(String) + Send + Sync)) -> Result<(), String> {
        self.begin(
            "prepare",
            step,
            "checking the target; removing what an earlier run left".into(),
        );
        self.prepare().await?;
        self.begin(
            "fetch",
            step,
            format!("finding the newest backup of {}", self.spec.source_name),
        );
        let (backup, file) = self.fetch().await?;
        self.say(format!(
            "restoring {} (taken {})",
            backup.name,
            backup.time.strftime("%Y-%m-%d %H:%M:%S UTC")
        ))
        .await;
        self.run.backup = Some(backup.clone());
        self.begin(
            "restore",
            step,
            format!(
                "{} into the {}",
                self.spec.restore.name(),
                self.spec.target_text()
            ),
        );
        self.restore(&backup, file).await?;
        self.measure().await;
        self.begin(
            "checks",
            step,
            format!("running {} checks", self.spec.checks.len()),
        );
        self.checks().await;
        self.end_step();
        if self.run.rpo_s.is_none() {
            let rpo = self.run.started.as_millisecond() - backup.time.as_millisecond();
            self.run.rpo_s = Some((rpo as f64 / 1000.0).max(0.0));
            // A fetched file's time is when it was copied here, which may say little.
            self.run.rpo_from = Some(if self.spec.fetch.is_some() {
                "the fetched file's time".into()
            } else {
                "backup time".into()
            });
        }
        Ok(())
    }
}

impl Work for Drill {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            self.run.started = Timestamp::now();
            if let Err(why) = self.steps(step).await {
                let name = self.current.map(|(n, _)| n);
                self.end_step();
                // A refusal (a target not safe, another run holding the lock) is said before.
                if self.run.outcome != DrillOutcome::Refused {
                    self.run.outcome = DrillOutcome::Fail;
                }
                self.run.step = name.map(str::to_owned);
                self.run.reason = Some(why.clone());
                return Err(format!("{}: {why}", name.unwrap_or("drill")));
            }
            self.run.rto_s = Some(
                self.run
                    .steps
                    .iter()
                    .filter(|s| s.step != "prepare")
                    .map(|s| s.secs)
                    .sum(),
            );
            let failed = self
                .run
                .checks
                .iter()
                .find(|c| c.result == CheckResult::Fail);
            let unverified = self
                .run
                .checks
                .iter()
                .find(|c| c.result == CheckResult::CouldNotVerify);
            let rto = crate::text::age(Duration::from_secs_f64(self.run.rto_s.unwrap_or(0.0)));
            let rpo = crate::text::age(Duration::from_secs_f64(self.run.rpo_s.unwrap_or(0.0)));
            let (outcome, text) = match (failed, unverified) {
                (Some(c), _) => (
                    DrillOutcome::Fail,
                    format!("check {} failed: {}", c.name, c.detail),
                ),
                (None, Some(c)) => (
                    DrillOutcome::CouldNotVerify,
                    format!("could not verify: check {}: {}", c.name, c.detail),
                ),
                (None, None) => (
                    DrillOutcome::Pass,
                    format!(
                        "drill {} passed: RTO {rto}, RPO {rpo}, {} checks",
                        self.spec.name,
                        self.run.checks.len()
                    ),
                ),
            };
            self.run.outcome = outcome;
            if outcome == DrillOutcome::Pass {
                Ok(text)
            } else {
                self.run.step = Some("checks".into());
                self.run.reason = Some(text.clone());
                Err(text)
            }
        })
    }

    /// Stops what still runs, removes the scratch targets, checks they are gone, and sends
    /// the run's record.
    fn cleanup(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let interrupted = self.current.map(|(n, _)| n);
            self.end_step();
            if let Some(name) = interrupted {
                self.run.step = Some(name.to_owned());
            }
            let since = Instant::now();
            // Without the lock, the scratch targets may be another run's: leave them.
            let left = if self.locked {
                self.remove_scratch().await
            } else {
                Vec::new()
            };
            self.release_lock().await;
            self.run.steps.push(StepTime {
                step: "cleanup".into(),
                secs: since.elapsed().as_secs_f64(),
            });
            if !left.is_empty() {
                let text = left.join("; ");
                self.say(format!("cleanup could not remove: {text}")).await;
                self.run.left_behind = Some(text);
            }
            self.report.drill(self.id, self.run.clone()).await;
        })
    }

    fn timeout(&self) -> Duration {
        self.spec.timeout
    }

    /// Stopping a restore (up to 11 s), a scratch cluster (30 s), then dropping a large
    /// database or removing a large directory: more than the 30 s other jobs get.
    fn cleanup_timeout(&self) -> Duration {
        Duration::from_secs(180)
    }
}

/// Completes a run's record with how its job ended: a run interrupted by a cancel, a timeout
/// or a lost link did not reach a verdict of its own.
pub fn finalize(run: &mut DrillRun, job: &JobOutcome) {
    let (outcome, reason) = match job {
        JobOutcome::Done(_) | JobOutcome::Failed(_) if run.outcome != DrillOutcome::Unknown => {
            return;
        }
        // The job passed, but its record (checks, RTO, RPO) never came: not a pass to count.
        JobOutcome::Done(_) => (
            DrillOutcome::Unknown,
            Some("passed, but its record did not arrive (cleanup ran out of time)".to_owned()),
        ),
        JobOutcome::Failed(why) => (DrillOutcome::Fail, Some(why.clone())),
        JobOutcome::Cancelled { .. } => (DrillOutcome::Cancelled, Some(job.text())),
        JobOutcome::TimedOut { .. } => (DrillOutcome::TimedOut, Some(job.text())),
        JobOutcome::Refused(why) => (DrillOutcome::Refused, Some(why.clone())),
        JobOutcome::Lost => (DrillOutcome::Unknown, Some(job.text())),
    };
    run.outcome = outcome;
    if reason.is_some() {
        run.reason = reason;
    }
    // No cleanup ran over a lost link: the next run of the drill removes what is left.
    if matches!(job, JobOutcome::Lost) && run.left_behind.is_none() {
        run.left_behind =
            Some("possibly its scratch target (the link was lost); the next run removes it".into());
    }
}
