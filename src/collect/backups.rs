//! Backup sources: what each configured repository, stanza or dump directory holds, read over
//! the host's link with the tool the host already has. Reading must never break a backup, so
//! sources are read rarely (every 15 minutes by default, on Ctrl-R and after a trigger), at
//! `nice 10`, and without taking the repository's lock:
//!
//! - borg: not at all while the repository's `lock.exclusive` exists (a `borg create` is
//!   running): the last list is kept and the source shows "running". Else one `borg list`,
//!   which holds the repository's shared lock for a fraction of a second; a create starting
//!   then waits for it (borg's default lock wait is 1 s). A lock timeout on our side, e.g.
//!   from a repository we cannot look into (ssh://), also means "running". Not
//!   `--bypass-lock`: a reader that ignores the lock cleans up the transaction of a create in
//!   progress and makes it fail (seen in tests/backups.rs), and not `borg info` (sizes): it may
//!   rebuild the chunks cache while holding the lock.
//! - restic: `--no-lock`; its lock files say whether a backup runs (and since when).
//! - pgBackRest: `info` takes no lock and reports a held backup lock itself.
//! - WAL-G: `backup-list` takes no lock.
//! - files: two `stat` passes two seconds apart; a file that changed between them is being
//!   written ("running"), not the newest backup.
//! - command: whatever the admin's command prints, in the JSON shape of config.example.toml.
//!
//! Secrets stay on the host: the tools read their own environment, and `env_file` names a
//! file on the host to source first. Times from borg are the host's local time, so the
//! host's UTC offset is read in the same command.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{CollectError, Sample};
use crate::config::backup::{BackupKind, BackupSpec, Location};
use crate::link::{Link, Output, sh_quote};

/// One backup (archive, snapshot, dump file) of a source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backup {
    pub name: String,
    /// When it was taken (its start, where the tool says; a dump file's last write).
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::text::opt_secs"
    )]
    pub duration: Option<Duration>,
}

/// A backup in progress, seen from its lock or a growing file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Running {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// What shows it: "repository lock", "lock of pid 4242 on db1", "shop.dump growing".
    pub evidence: String,
    /// A lock nobody refreshed for 30 minutes: the backup that held it died.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupsSnapshot {
    /// Oldest first. While a repository is locked, the list read before the lock.
    pub backups: Vec<Backup>,
    /// When `backups` was listed; None: never (the source has been locked since we started).
    pub listed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    pub observed_at: Timestamp,
    /// How long the read took on the host's side of the link, for the note on its cost.
    #[serde(serialize_with = "crate::text::secs")]
    pub read_took: Duration,
}

impl BackupsSnapshot {
    pub fn newest(&self) -> Option<&Backup> {
        self.backups.last()
    }
}

/// Reads one source every `interval` (and on a refresh). Keeps the last list, to show while
/// the repository is locked by a running backup.
struct Source {
    index: usize,
    spec: BackupSpec,
    link: Arc<dyn Link>,
    last: Option<(Vec<Backup>, Timestamp)>,
}

impl super::Collect for Source {
    fn name(&self) -> String {
        format!("backups {}", self.spec.name)
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.spec.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Sample> {
        Box::pin(async {
            let result = read(&*self.link, &self.spec, self.last.as_ref()).await;
            if let Ok(BackupsSnapshot {
                backups,
                listed_at: Some(at),
                ..
            }) = &result
            {
                self.last = Some((backups.clone(), *at));
            }
            Sample::Backups {
                source: self.index,
                result,
            }
        })
    }
    fn fail(&self, error: CollectError) -> Sample {
        Sample::Backups {
            source: self.index,
            result: Err(error),
        }
    }
}

pub fn collectors(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Vec<Box<dyn super::Collect>> {
    spec.backups
        .iter()
        .enumerate()
        .map(|(index, b)| {
            Box::new(Source {
                index,
                spec: b.clone(),
                link: cx.link().clone(),
                last: None,
            }) as Box<dyn super::Collect>
        })
        .collect()
}

/// What one read found before it is put together with the previous list.
#[derive(Debug, Default, PartialEq)]
struct Found {
    /// None: not listed this time (the repository was locked).
    backups: Option<Vec<Backup>>,
    running: Option<Running>,
}

/// Reads `spec` once. `last`: the previous list, kept while the repository is locked.
pub async fn read(
    link: &dyn Link,
    spec: &BackupSpec,
    last: Option<&(Vec<Backup>, Timestamp)>,
) -> Result<BackupsSnapshot, CollectError> {
    let started = Instant::now();
    let found = match spec.kind {
        BackupKind::Restic => read_restic(link, spec).await?,
        kind => {
            let script = script(spec);
            let out = run(link, spec, &script).await?;
            let text = out.stdout_text();
            // borg's own failures include "locked", which is not a failure.
            if kind != BackupKind::Borg && !out.status.success() {
                return Err(failed(kind.name(), &out));
            }
            match kind {
                BackupKind::Borg => borg(&out, &text)?,
                BackupKind::Pgbackrest => pgbackrest(&sections(&text).body("info"))?,
                BackupKind::Walg => Found {
                    backups: Some(walg(&sections(&text).body("list"))?),
                    running: None,
                },
                BackupKind::Files => files(&sections(&text))?,
                _ => command_json(&sections(&text).body("command"))?,
            }
        }
    };
    let observed_at = Timestamp::now();
    let (backups, listed_at) = match (found.backups, last) {
        (Some(mut b), _) => {
            b.sort_by_key(|b| b.time);
            (b, Some(observed_at))
        }
        (None, Some((b, at))) => (b.clone(), Some(*at)),
        (None, None) => (Vec::new(), None),
    };
    Ok(BackupsSnapshot {
        backups,
        listed_at,
        running: found.running,
        observed_at,
        read_took: started.elapsed(),
    })
}

/// The passphrase from `passphrase_command` on this machine, as the line a script's prelude
/// reads from stdin; None when the source has none.
pub(crate) async fn secret_input(spec: &BackupSpec) -> Result<Option<bytes::Bytes>, CollectError> {
    let Some(cmd) = &spec.passphrase_command else {
        return Ok(None);
    };
    let secret = super::secret::from_command("passphrase_command", cmd)
        .await
        .map_err(CollectError::Secret)?;
    Ok(Some(bytes::Bytes::from(secret + "\n")))
}

/// Output over this many bytes is refused: no listing we read is that large (borg lists
/// ~250 bytes per archive), so it is a misconfigured command.
const OUTPUT_CAP: usize = 4 << 20;

/// Runs a source's script through `sh` (whatever the login shell is) with its deadline and
/// classifies the usual failures.
async fn run(link: &dyn Link, spec: &BackupSpec, script: &str) -> Result<Output, CollectError> {
    let command = format!("sh -c {} sh", sh_quote(script));
    let what = spec.kind.name();
    let input = secret_input(spec).await?;
    let out = tokio::time::timeout(spec.timeout, async {
        let exec = match input {
            Some(input) => link.exec_with_input(&command, input).await?,
            None => link.exec(&command).await?,
        };
        Ok::<_, crate::link::LinkError>(exec.output(OUTPUT_CAP).await)
    })
    .await
    .map_err(|_| crate::link::LinkError::Timeout {
        host: link.host().to_owned(),
        what: format!("reading backups {} ({what})", spec.name),
        after: spec.timeout,
    })??;
    if out.truncated {
        return Err(CollectError::parse(
            what,
            format!(
                "more than {} of output: is this the right command?",
                crate::text::bytes(OUTPUT_CAP as u64)
            ),
        ));
    }
    Ok(out)
}

/// The shell lines every source starts with: no stdin (a tool must never wait for a
/// passphrase), the env_file, and a check that the tool is there.
pub(crate) fn prelude(spec: &BackupSpec, tool: Option<&str>) -> String {
    let mut s = String::new();
    if spec.passphrase_command.is_some() {
        // The passphrase arrives as the first line of stdin (see `secret_input`), into the
        // tool's own variable: never on a command line, never in a file.
        let var = match spec.kind {
            BackupKind::Restic => "RESTIC_PASSWORD",
            _ => "BORG_PASSPHRASE",
        };
        s += &format!(
            "IFS= read -r WF_SECRET || true\nexport {var}=\"$WF_SECRET\"\nunset WF_SECRET\n"
        );
    }
    s += "exec </dev/null\n";
    if let Some(file) = &spec.env_file {
        let f = sh_quote(file);
        s += &format!(
            "[ -r {f} ] || {{ echo \"env_file {file} is not readable by $(id -un)\" >&2; exit 66; }}\nset -a; . {f}; set +a\n",
            file = file.replace(['"', '$', '`', '\\'], "?"),
        );
    }
    if let Some(tool) = tool {
        s += &format!(
            "command -v {tool} >/dev/null || {{ echo \"{tool} is not installed (or not on PATH for $(id -un))\" >&2; exit 127; }}\n"
        );
    }
    s
}

/// The repository as a shell word: the configured one, else the tool's variable.
pub(crate) fn repo_word(spec: &BackupSpec, var: &str) -> String {
    match &spec.location {
        Location::Repo(Some(r)) => sh_quote(r),
        _ => format!("\"${{{var}:-}}\""),
    }
}

fn script(spec: &BackupSpec) -> String {
    match (&spec.kind, &spec.location) {
        (BackupKind::Borg, _) => {
            let repo = repo_word(spec, "BORG_REPO");
            prelude(spec, Some("borg"))
                + &format!(
                    r#"R={repo}
[ -n "$R" ] || {{ echo 'no repository: set repo in the config, or BORG_REPO on the host' >&2; exit 64; }}
echo '@@wf tz'; date +%z
locked() {{ [ -d "$R/lock.exclusive" ] && echo '@@wf locked' && stat -c %Y "$R/lock.exclusive"; }}
locked && exit 0
echo '@@wf list'; nice -n 10 borg list --json --lock-wait 1 "$R"
"#
                )
        }
        (BackupKind::Pgbackrest, Location::Stanza(stanza)) => {
            let stanza = stanza
                .as_ref()
                .map(|s| format!(" --stanza={}", sh_quote(s)))
                .unwrap_or_default();
            prelude(spec, Some("pgbackrest"))
                + &format!("echo '@@wf info'; nice -n 10 pgbackrest info --output=json{stanza}\n")
        }
        (BackupKind::Walg, _) => {
            prelude(spec, Some("wal-g"))
                + "echo '@@wf list'; nice -n 10 wal-g backup-list --json --detail\n"
        }
        (BackupKind::Files, Location::Files { dir, pattern }) => {
            prelude(spec, None)
                + &format!(
                    r#"cd {dir} || exit 66
list() {{ for f in {pattern}; do [ -f "$f" ] && stat -c '%Y %s %n' -- "$f"; done; return 0; }}
echo '@@wf now'; date +%s
echo '@@wf first'; list
sleep 2
echo '@@wf second'; list
"#,
                    dir = sh_quote(dir)
                )
        }
        (_, Location::Command(c)) => prelude(spec, None) + &format!("echo '@@wf command'\n{c}\n"),
        _ => String::from("echo 'inconsistent backup source' >&2; exit 64\n"),
    }
}

/// The tool's own failure, with its first line of stderr and, for the usual causes, what to do.
fn failed(spec_kind: &str, out: &Output) -> CollectError {
    let all = String::from_utf8_lossy(&out.stderr).to_lowercase();
    let hint =
        if all.contains("passphrase") || all.contains("password") || all.contains("no key found") {
            " — the passphrase is not available to the SSH user: set BORG_PASSCOMMAND or \
         RESTIC_PASSWORD_FILE in an env_file on the host (never in watchfloor's config)"
        } else if all.contains("does not exist") || all.contains("is there a repository") {
            " — check `repo` (or BORG_REPO / RESTIC_REPOSITORY in the env_file)"
        } else if all.contains("permission denied") {
            " — the SSH user cannot read it: connect as the user the backups run as"
        } else {
            ""
        };
    CollectError::Command {
        command: spec_kind.to_owned(),
        status: out.status.clone(),
        stderr: format!("{}{hint}", out.stderr_line()),
    }
}

/// Stdout cut at `@@wf NAME` marker lines.
struct Sections<'a>(Vec<(&'a str, Vec<&'a str>)>);

fn sections(text: &str) -> Sections<'_> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("@@wf ") {
            Some(name) => out.push((name.trim(), Vec::new())),
            None => {
                if let Some((_, lines)) = out.last_mut() {
                    lines.push(line);
                }
            }
        }
    }
    Sections(out)
}

impl Sections<'_> {
    /// The last section of that name: a retried read's second answer wins.
    fn get(&self, name: &str) -> Option<&[&str]> {
        self.0
            .iter()
            .rfind(|(n, _)| *n == name)
            .map(|(_, l)| l.as_slice())
    }
    fn body(&self, name: &str) -> String {
        self.get(name).map(|l| l.join("\n")).unwrap_or_default()
    }
}

fn json<'a, T: Deserialize<'a>>(what: &str, text: &'a str) -> Result<T, CollectError> {
    serde_json::from_str(text)
        .map_err(|e| CollectError::parse(what, format!("not the JSON it prints: {e}")))
}

// ---- borg

#[derive(Deserialize)]
struct BorgList {
    archives: Vec<BorgArchive>,
}

#[derive(Deserialize)]
struct BorgArchive {
    name: String,
    start: String,
}

fn borg(out: &Output, text: &str) -> Result<Found, CollectError> {
    let s = sections(text);
    if let Some(lines) = s.get("locked") {
        let since = lines
            .first()
            .and_then(|l| l.trim().parse::<i64>().ok())
            .and_then(|t| Timestamp::from_second(t).ok());
        return Ok(Found {
            backups: None,
            running: Some(Running {
                since,
                evidence: "repository lock".into(),
                stale: false,
            }),
        });
    }
    if !out.status.success() {
        // A create that took the lock between our look and our list (or one in a repository
        // we cannot look into, ssh://) makes the list time out on the lock: "running".
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("Failed to create/acquire the lock") {
            return Ok(Found {
                backups: None,
                running: Some(Running {
                    since: None,
                    evidence: "repository lock".into(),
                    stale: false,
                }),
            });
        }
        return Err(failed("borg", out));
    }
    let offset = s
        .get("tz")
        .and_then(|l| l.first())
        .map(|l| parse_offset(l))
        .transpose()?
        .unwrap_or(jiff::tz::Offset::UTC);
    let list: BorgList = json("borg list --json", &s.body("list"))?;
    let mut backups = Vec::with_capacity(list.archives.len());
    for a in list.archives {
        backups.push(Backup {
            time: borg_time(&a.start, offset)?,
            // Sizes would take `borg info`, which may rebuild the chunks cache while it holds
            // the repository lock: long enough to make a scheduled create fail. Not read.
            size: None,
            duration: None,
            name: a.name,
        });
    }
    Ok(Found {
        backups: Some(backups),
        running: None,
    })
}

/// `date +%z`: "+0100", "-0530".
fn parse_offset(s: &str) -> Result<jiff::tz::Offset, CollectError> {
    let s = s.trim();
    let bad = || CollectError::parse("date +%z", format!("{s:?} is not a UTC offset"));
    let (sign, digits) = match s.split_at_checked(1) {
        Some(("+", d)) => (1, d),
        Some(("-", d)) => (-1, d),
        _ => return Err(bad()),
    };
    let n: i32 = digits.parse().map_err(|_| bad())?;
    if digits.len() != 4 {
        return Err(bad());
    }
    jiff::tz::Offset::from_seconds(sign * (n / 100 * 3600 + n % 100 * 60)).map_err(|_| bad())
}

/// borg's times are the host's local time without an offset: "2026-11-30T03:00:00.000000".
fn borg_time(s: &str, offset: jiff::tz::Offset) -> Result<Timestamp, CollectError> {
    let dt: jiff::civil::DateTime = s
        .parse()
        .map_err(|e| CollectError::parse("borg list --json", format!("time {s:?}: {e}")))?;
    offset
        .to_timestamp(dt)
        .map_err(|e| CollectError::parse("borg list --json", format!("time {s:?}: {e}")))
}

// ---- restic

#[derive(Deserialize)]
struct ResticSnapshot {
    id: String,
    short_id: String,
    time: Timestamp,
}

#[derive(Deserialize)]
struct ResticStats {
    total_size: u64,
}

#[derive(Deserialize)]
struct ResticLock {
    time: Timestamp,
    #[serde(default)]
    exclusive: bool,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    pid: u64,
}

/// restic refreshes its locks every 5 minutes and calls one older than 30 stale.
const RESTIC_STALE_LOCK: Duration = Duration::from_secs(30 * 60);

/// Two reads: snapshots and locks, then the sizes of the two newest (for the trend).
async fn read_restic(link: &dyn Link, spec: &BackupSpec) -> Result<Found, CollectError> {
    let repo = repo_word(spec, "RESTIC_REPOSITORY");
    let head = prelude(spec, Some("restic"))
        + &format!(
            r#"export RESTIC_REPOSITORY={repo}
[ -n "$RESTIC_REPOSITORY" ] || {{ echo 'no repository: set repo in the config, or RESTIC_REPOSITORY on the host' >&2; exit 64; }}
"#
        );
    let script = head.clone()
        + r#"echo '@@wf snapshots'; nice -n 10 restic snapshots --json --no-lock || exit
echo '@@wf locks'; for l in $(restic list locks --no-lock); do restic cat lock "$l" --no-lock | tr -d '\n'; echo; done
"#;
    let out = run(link, spec, &script).await?;
    if !out.status.success() {
        return Err(failed("restic", &out));
    }
    let text = out.stdout_text();
    let s = sections(&text);
    let mut snapshots: Vec<ResticSnapshot> = json("restic snapshots --json", &s.body("snapshots"))?;
    snapshots.sort_by_key(|s| s.time);
    let locks = s.get("locks").unwrap_or_default();
    let running = restic_running(locks, Timestamp::now())?;
    let newest: Vec<&ResticSnapshot> = snapshots.iter().rev().take(2).collect();
    let mut sizes = std::collections::HashMap::new();
    if !newest.is_empty() {
        let mut script = head;
        for snap in &newest {
            // Snapshot ids are hex; quoting anyway costs nothing.
            script += &format!(
                "echo '@@wf {id}'; nice -n 10 restic stats --json --no-lock {q} || exit\n",
                id = snap.id,
                q = sh_quote(&snap.id)
            );
        }
        let out = run(link, spec, &script).await?;
        if !out.status.success() {
            return Err(failed("restic stats", &out));
        }
        let text = out.stdout_text();
        let s = sections(&text);
        for snap in &newest {
            let stats: ResticStats = json("restic stats --json", &s.body(&snap.id))?;
            sizes.insert(snap.id.clone(), stats.total_size);
        }
    }
    Ok(Found {
        backups: Some(
            snapshots
                .into_iter()
                .map(|s| Backup {
                    size: sizes.get(&s.id).copied(),
                    name: s.short_id,
                    time: s.time,
                    duration: None,
                })
                .collect(),
        ),
        running,
    })
}

/// restic's lock files, one JSON object a line: the oldest non-stale one is the running
/// backup (or prune); only stale ones: a crashed run left them.
fn restic_running(lines: &[&str], now: Timestamp) -> Result<Option<Running>, CollectError> {
    let mut locks = Vec::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        locks.push(json::<ResticLock>("restic cat lock", line)?);
    }
    locks.sort_by_key(|l| l.time);
    // Compared as signed durations: a lock from a clock ahead of ours is not stale.
    let limit =
        jiff::SignedDuration::try_from(RESTIC_STALE_LOCK).unwrap_or(jiff::SignedDuration::MAX);
    let stale = |l: &ResticLock| now.duration_since(l.time) > limit;
    let pick = locks.iter().find(|l| !stale(l)).or(locks.first());
    Ok(pick.map(|l| Running {
        since: Some(l.time),
        evidence: format!(
            "{} lock of pid {} on {}",
            if l.exclusive { "exclusive" } else { "shared" },
            l.pid,
            crate::sanitize::plain(&l.hostname)
        ),
        stale: stale(l),
    }))
}

// ---- pgBackRest

#[derive(Deserialize)]
struct PgbrStanza {
    name: String,
    #[serde(default)]
    backup: Vec<PgbrBackup>,
    status: PgbrStatus,
}

#[derive(Deserialize)]
struct PgbrBackup {
    label: String,
    timestamp: PgbrTimes,
    info: PgbrInfo,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    error: bool,
}

#[derive(Deserialize)]
struct PgbrTimes {
    start: i64,
    stop: i64,
}

#[derive(Deserialize)]
struct PgbrInfo {
    size: u64,
}

#[derive(Deserialize)]
struct PgbrStatus {
    code: i64,
    message: String,
    #[serde(default)]
    lock: Option<PgbrLock>,
}

#[derive(Deserialize)]
struct PgbrLock {
    backup: PgbrHeld,
}

#[derive(Deserialize)]
struct PgbrHeld {
    held: bool,
}

/// `pgbackrest info --output=json`: one object per stanza. A backup pgBackRest marks as
/// having errors (`error`) is not counted as good. Status 2 is "no valid backups".
fn pgbackrest(text: &str) -> Result<Found, CollectError> {
    let stanzas: Vec<PgbrStanza> = json("pgbackrest info --output=json", text)?;
    let several = stanzas.len() > 1;
    let mut backups = Vec::new();
    let mut running = None;
    for st in stanzas {
        if st.status.code != 0 && st.status.code != 2 && st.backup.is_empty() {
            return Err(CollectError::parse(
                "pgbackrest info",
                format!(
                    "stanza {}: {}",
                    st.name,
                    crate::sanitize::plain(&st.status.message)
                ),
            ));
        }
        if st.status.lock.is_some_and(|l| l.backup.held) {
            running = Some(Running {
                since: None,
                evidence: format!("backup lock of stanza {}", st.name),
                stale: false,
            });
        }
        for b in st.backup.into_iter().filter(|b| !b.error) {
            let at = |t: i64| {
                Timestamp::from_second(t)
                    .map_err(|e| CollectError::parse("pgbackrest info", e.to_string()))
            };
            let (start, stop) = (at(b.timestamp.start)?, at(b.timestamp.stop)?);
            let label = if several {
                format!("{}/{}", st.name, b.label)
            } else {
                b.label
            };
            backups.push(Backup {
                name: format!("{label} ({})", b.kind),
                time: start,
                size: Some(b.info.size),
                duration: Duration::try_from(stop.duration_since(start)).ok(),
            });
        }
    }
    Ok(Found {
        backups: Some(backups),
        running,
    })
}

// ---- WAL-G

#[derive(Deserialize)]
struct WalgBackup {
    backup_name: String,
    #[serde(default)]
    start_time: Option<Timestamp>,
    #[serde(default)]
    finish_time: Option<Timestamp>,
    time: Timestamp,
    #[serde(default)]
    uncompressed_size: Option<u64>,
}

fn walg(text: &str) -> Result<Vec<Backup>, CollectError> {
    let list: Vec<WalgBackup> = json("wal-g backup-list --json --detail", text)?;
    Ok(list
        .into_iter()
        .map(|b| Backup {
            time: b.start_time.unwrap_or(b.time),
            duration: b
                .start_time
                .zip(b.finish_time)
                .and_then(|(s, f)| Duration::try_from(f.duration_since(s)).ok()),
            size: b.uncompressed_size,
            name: b.backup_name,
        })
        .collect())
}

// ---- dump files

/// `mtime size name` lines of two passes: files that changed between them are being written.
fn files(s: &Sections<'_>) -> Result<Found, CollectError> {
    let parse = |name: &str| -> Result<Vec<(i64, u64, String)>, CollectError> {
        s.get(name)
            .unwrap_or_default()
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut it = l.splitn(3, ' ');
                let (m, size, file) = (it.next(), it.next(), it.next());
                let bad = || CollectError::parse("stat", format!("unexpected line {l:?}"));
                Ok((
                    m.and_then(|m| m.parse().ok()).ok_or_else(bad)?,
                    size.and_then(|s| s.parse().ok()).ok_or_else(bad)?,
                    crate::sanitize::plain(file.ok_or_else(bad)?),
                ))
            })
            .collect()
    };
    if s.get("second").is_none() {
        return Err(CollectError::parse("stat", "the listing did not finish"));
    }
    let (first, second) = (parse("first")?, parse("second")?);
    let mut backups = Vec::new();
    let mut growing: Option<(String, u64)> = None;
    for (mtime, size, name) in second {
        let same = first
            .iter()
            .any(|(m, s, n)| *n == name && *m == mtime && *s == size);
        if !same {
            growing = Some((name, size));
            continue;
        }
        backups.push(Backup {
            time: Timestamp::from_second(mtime)
                .map_err(|e| CollectError::parse("stat", e.to_string()))?,
            size: Some(size),
            duration: None,
            name,
        });
    }
    Ok(Found {
        backups: Some(backups),
        running: growing.map(|(name, size)| Running {
            since: None,
            evidence: format!("{name} growing ({} so far)", crate::text::bytes(size)),
            stale: false,
        }),
    })
}

// ---- command

/// The JSON a `command` source prints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandOutput {
    backups: Vec<CommandBackup>,
    #[serde(default)]
    running_since: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBackup {
    time: Timestamp,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    duration_s: Option<f64>,
}

fn command_json(text: &str) -> Result<Found, CollectError> {
    let out: CommandOutput = json("the backup command", text)?;
    Ok(Found {
        backups: Some(
            out.backups
                .into_iter()
                .map(|b| Backup {
                    name: crate::sanitize::plain(&b.name.unwrap_or_else(|| b.time.to_string())),
                    time: b.time,
                    size: b.size,
                    duration: b
                        .duration_s
                        .and_then(|d| Duration::try_from_secs_f64(d).ok()),
                })
                .collect(),
        ),
        running: out.running_since.map(|since| Running {
            since: Some(since),
            evidence: "the command says so".into(),
            stale: false,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ExitStatus;

    fn ok(stdout: &str) -> Output {
        Output {
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
            status: ExitStatus::Code(0),
            truncated: false,
        }
    }

    fn borg_output(tz: &str) -> String {
        format!(
            "@@wf tz\n{tz}\n@@wf list\n{}\n",
            include_str!("../../tests/fixtures/borg-list.json"),
        )
    }

    #[test]
    fn borg_lists_archives_in_host_time() {
        let text = borg_output("+0100");
        let found = borg(&ok(&text), &text).unwrap();
        let b = found.backups.unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].name, "a1");
        // 03:00 on a host at UTC+1 is 02:00 UTC.
        assert_eq!(b[0].time.to_string(), "2026-11-30T02:00:00Z");
        assert_eq!(b[3].name, "slow2");
        assert_eq!(found.running, None);
    }

    #[test]
    fn a_locked_borg_repository_is_running_not_an_error() {
        let text = "@@wf tz\n+0000\n@@wf locked\n1796322429\n";
        let found = borg(&ok(text), text).unwrap();
        assert_eq!(found.backups, None);
        let r = found.running.unwrap();
        assert_eq!(r.since, Timestamp::from_second(1_796_322_429).ok());
        let out = Output {
            stdout: b"@@wf tz\n+0000\n@@wf list\n".to_vec(),
            stderr: b"Failed to create/acquire the lock /r/lock.exclusive (timeout).\n".to_vec(),
            status: ExitStatus::Code(2),
            truncated: false,
        };
        assert!(borg(&out, &out.stdout_text()).unwrap().running.is_some());
        let out = Output {
            stderr: b"passphrase supplied in BORG_PASSPHRASE is incorrect.\n".to_vec(),
            ..out
        };
        let e = borg(&out, &out.stdout_text()).unwrap_err().to_string();
        assert!(
            e.contains("passphrase supplied") && e.contains("exit code 2"),
            "{e}"
        );
    }

    #[test]
    fn offsets_and_garbage() {
        assert_eq!(
            parse_offset("-0530").unwrap().seconds(),
            -(5 * 3600 + 30 * 60)
        );
        assert!(parse_offset("CET").is_err());
        let text = "@@wf tz\n+0000\n@@wf list\n{\"archives\": [\n";
        let e = borg(&ok(text), text).unwrap_err().to_string();
        assert!(
            e.contains("borg list --json") && e.contains("not the JSON"),
            "{e}"
        );
    }

    #[test]
    fn restic_locks_say_running_and_old_ones_are_stale() {
        let now: Timestamp = "2026-12-03T19:00:00Z".parse().unwrap();
        let fresh = r#"{"time":"2026-12-03T18:55:00Z","exclusive":false,"hostname":"db1","username":"root","pid":4242}"#;
        let old = r#"{"time":"2026-12-01T03:00:00Z","exclusive":true,"hostname":"db1","username":"root","pid":7}"#;
        let r = restic_running(&[old, fresh], now).unwrap().unwrap();
        assert!(!r.stale);
        assert_eq!(r.evidence, "shared lock of pid 4242 on db1");
        let r = restic_running(&[old], now).unwrap().unwrap();
        assert!(r.stale);
        assert_eq!(restic_running(&[], now).unwrap(), None);
        let snaps: Vec<ResticSnapshot> = json(
            "restic",
            include_str!("../../tests/fixtures/restic-snapshots.json"),
        )
        .unwrap();
        assert_eq!(snaps.len(), 3);
        assert_eq!(snaps[0].time.to_string(), "2026-11-30T03:00:00Z");
    }

    #[test]
    fn pgbackrest_and_walg_lists() {
        let f = pgbackrest(include_str!("../../tests/fixtures/pgbackrest-info.json")).unwrap();
        let b = f.backups.unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].name, "20261203-182949F_20261203-182952D (diff)");
        assert_eq!(b[1].size, Some(22_992_569));
        assert_eq!(b[1].duration, Some(Duration::from_secs(2)));
        assert_eq!(f.running, None);
        let held = include_str!("../../tests/fixtures/pgbackrest-info.json")
            .replace(r#""held":false"#, r#""held":true"#);
        assert!(pgbackrest(&held).unwrap().running.is_some());
        let w = walg(include_str!("../../tests/fixtures/walg-backup-list.json")).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].time.to_string(), "2026-11-30T03:00:01.004Z");
        assert_eq!(w[1].size, Some(23_301_120));
        assert_eq!(w[1].duration.map(|d| d.as_secs()), Some(38));
    }

    #[test]
    fn a_growing_dump_is_running_not_newest() {
        let text = "@@wf now\n1796300000\n@@wf first\n1796200000 1000 shop-1.dump\n1796290000 10 shop-2.dump\n\
                    @@wf second\n1796200000 1000 shop-1.dump\n1796290002 4096 shop-2.dump\n";
        let f = files(&sections(text)).unwrap();
        let b = f.backups.unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].name, "shop-1.dump");
        assert_eq!(
            f.running.unwrap().evidence,
            "shop-2.dump growing (4.0K so far)"
        );
        // A listing cut short (the read was killed) is not "no dumps".
        assert!(files(&sections("@@wf now\n1\n@@wf first\n")).is_err());
    }

    #[test]
    fn command_json_is_checked() {
        let f = command_json(r#"{"backups":[{"time":"2026-12-01T03:00:00Z","size":5,"name":"n\u001b[2Jx"}],"running_since":null}"#).unwrap();
        let b = f.backups.unwrap();
        assert_eq!(b[0].name, "nx", "escape sequences never reach the screen");
        let e = command_json(r#"{"backups":[{"when":"x"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `when`"), "{e}");
    }

    #[test]
    fn sh_words_survive_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
