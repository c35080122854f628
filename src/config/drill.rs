//! `[[drill]]`: a restore drill. It restores the newest backup of a configured source into a
//! scratch target on the source's host, runs its checks, and must pass every `every`.
//!
//! Scratch targets carry the fixed prefix [`PREFIX`]; a target equal to a production
//! database or path configured for the host is refused here, at load time, and again by the
//! job before it touches anything ([`DrillSpec::refuse`]).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::backup::{BackupKind, Location};
use super::{ConfigError, HostSpec, Interval, Source};

/// Every scratch database and directory a drill makes starts with this.
pub const PREFIX: &str = "wf_drill_";
pub const EVERY: Duration = Duration::from_secs(90 * 24 * 3600);
pub const TIMEOUT: Duration = Duration::from_secs(3600);
pub const SCRATCH_DIR: &str = "/var/tmp";

/// How the backup becomes a scratch target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restore {
    /// A custom/directory/tar-format dump into a scratch database.
    PgRestore,
    /// A plain SQL dump (optionally .gz) into a scratch database.
    Psql,
    /// borg extract / restic restore into a scratch directory, then the optional `import`.
    Extract,
    /// pgbackrest restore into a scratch data directory, started as a private cluster (no TCP,
    /// its socket in that directory, no archiving) until the checks are done.
    Pgbackrest,
}

impl Restore {
    pub fn name(self) -> &'static str {
        match self {
            Restore::PgRestore => "pg_restore",
            Restore::Psql => "psql",
            Restore::Extract => "extract",
            Restore::Pgbackrest => "pgbackrest",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    pub name: Spanned<String>,
    /// A `[[host]]` name.
    pub host: Spanned<String>,
    /// A `[[host.backup]]` name on that host.
    pub source: Spanned<String>,
    pub restore: Restore,
    /// A `[[host.postgres]]` name on that host: where the scratch database is made.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The production database the backup holds: never a target; `within_pct` compares to it.
    #[serde(default)]
    pub database: Option<String>,
    /// The scratch database or directory name; default `wf_drill_<name>`.
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    /// Where scratch directories go on the host.
    #[serde(default)]
    pub scratch_dir: Option<String>,
    /// extract: only these paths of the archive.
    #[serde(default)]
    pub paths: Vec<String>,
    /// A command on the host that fetches the backup and prints its path (last line).
    #[serde(default)]
    pub fetch: Option<String>,
    /// extract: runs in the scratch directory afterwards, with PG* set to the scratch database.
    #[serde(default)]
    pub import: Option<String>,
    /// pgbackrest: the OS user the restore and the scratch cluster run as (PostgreSQL refuses
    /// root); default "postgres". Reached with runuser when the SSH user is root, else sudo -n.
    #[serde(default)]
    pub run_as: Option<String>,
    #[serde(default)]
    pub timeout: Option<Interval>,
    #[serde(default)]
    pub every: Option<Interval>,
    #[serde(default, rename = "check")]
    pub checks: Vec<Spanned<CheckConfig>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// A query on the scratch database whose first value is checked.
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub equals: Option<String>,
    /// Within this many percent of the same query on the production database.
    #[serde(default)]
    pub within_pct: Option<f64>,
    /// The value is a timestamp: the newest data restored; its age is the RPO.
    #[serde(default)]
    pub newest: bool,
    /// With `newest`: an RPO over this fails.
    #[serde(default)]
    pub max_age: Option<Interval>,
    /// A file that must exist in the scratch directory (relative path).
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub min_size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// A `sha256sum` list in the scratch directory (relative path) every file must match.
    #[serde(default)]
    pub checksums: Option<String>,
}

/// What a check asserts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckKind {
    Sql {
        sql: String,
        min: Option<f64>,
        max: Option<f64>,
        equals: Option<String>,
        within_pct: Option<f64>,
    },
    Newest {
        sql: String,
        #[serde(serialize_with = "crate::text::opt_secs")]
        max_age: Option<Duration>,
    },
    File {
        path: String,
        min_size: Option<u64>,
        sha256: Option<String>,
    },
    Checksums {
        list: String,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub name: String,
    #[serde(flatten)]
    pub kind: CheckKind,
}

/// One drill as the host worker and the UI need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillSpec {
    pub name: String,
    pub host: String,
    /// Index of the source in the host's backups.
    pub source: usize,
    pub source_name: String,
    pub restore: Restore,
    /// Index of the cluster in the host's postgres.
    pub cluster: Option<usize>,
    pub database: Option<String>,
    /// The scratch database (when there is a cluster).
    pub target_db: Option<String>,
    /// The scratch directory (extract).
    pub target_dir: Option<String>,
    /// `wf_drill_<slug>`: the names of its run lock and process-group file on the host (in
    /// the SSH user's ~/.cache/watchfloor).
    pub run_name: String,
    pub paths: Vec<String>,
    pub fetch: Option<String>,
    pub import: Option<String>,
    /// pgbackrest: who runs the restore and the scratch cluster.
    pub run_as: Option<String>,
    pub timeout: Duration,
    pub every: Duration,
    pub checks: Vec<Check>,
}

impl DrillSpec {
    /// "the scratch database wf_drill_shop" / "the scratch directory /var/tmp/wf_drill_files".
    pub fn target_text(&self) -> String {
        if self.restore == Restore::Pgbackrest {
            return format!(
                "scratch cluster in {}",
                self.target_dir.as_deref().unwrap_or("")
            );
        }
        match (&self.target_dir, &self.target_db) {
            (Some(d), Some(db)) => format!("scratch directory {d} and scratch database {db}"),
            (Some(d), None) => format!("scratch directory {d}"),
            (None, Some(db)) => format!("scratch database {db}"),
            (None, None) => "no target".to_owned(),
        }
    }

    /// Why this drill must not run against `host`: a target that is not a scratch name, or is
    /// a production database or path the host's config names. Checked at load and again by
    /// the job before it touches anything.
    pub fn refuse(&self, host: &HostSpec) -> Result<(), String> {
        if let Some(db) = &self.target_db {
            let production = host
                .postgres
                .iter()
                .map(|p| p.target.dbname.as_str())
                .chain(self.database.as_deref())
                .chain(["postgres", "template0", "template1"]);
            for p in production {
                if p == db {
                    return Err(format!(
                        "the target database {db} is the production database {p}: a drill \
                         restores only into a scratch database named {PREFIX}..."
                    ));
                }
            }
            if !db.starts_with(PREFIX) || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "the target database {db:?} is not a scratch name: it must start with \
                     {PREFIX} and hold only letters, digits and _"
                ));
            }
        }
        if let Some(dir) = &self.target_dir {
            let base = dir.rsplit('/').next().unwrap_or("");
            let plain = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
            if !dir.starts_with('/')
                || !base.starts_with(PREFIX)
                || dir.split('/').any(|p| p == ".." || p == ".")
                || !dir.chars().all(plain)
                || dir.matches('/').count() < 2
            {
                return Err(format!(
                    "the target directory {dir:?} is not a scratch directory: an absolute path \
                     below the top directory, of letters, digits and _ . / -, whose last part \
                     starts with {PREFIX}"
                ));
            }
            for p in production_paths(host) {
                let (a, b) = (p.trim_end_matches('/'), dir.trim_end_matches('/'));
                let inside = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
                if inside(a, b) || inside(b, a) {
                    return Err(format!(
                        "the target directory {dir} overlaps {p}, which the config names for \
                         this host: choose another scratch_dir"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Paths the host's config names: repositories, dump directories, env files.
fn production_paths(host: &HostSpec) -> Vec<String> {
    let mut out = Vec::new();
    for b in &host.backups {
        match &b.location {
            Location::Repo(Some(r)) if r.starts_with('/') => out.push(r.clone()),
            Location::Files { dir, .. } => out.push(dir.clone()),
            _ => {}
        }
        out.extend(b.env_file.clone());
    }
    out
}

/// Checks the `[[drill]]` entries against the hosts and attaches each to its host.
pub fn attach(
    entries: &[Spanned<DrillConfig>],
    hosts: &mut [HostSpec],
    source: Option<Source<'_>>,
) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut slugs = std::collections::HashSet::new();
    for entry in entries {
        let d = entry.get_ref();
        let at = |span: std::ops::Range<usize>, message: String, help: &str| {
            ConfigError::at(source, span, message, help)
        };
        let fail = |message: String, help: &str| at(entry.span(), message, help);
        let name = d.name.get_ref().trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(at(
                d.name.span(),
                format!("drill name {name:?} may hold only letters, digits, - and _"),
                "it names the scratch target, e.g. \"shop-dump\"",
            ));
        }
        if !names.insert(name.clone()) {
            return Err(at(
                d.name.span(),
                format!("two drills named `{name}`"),
                "give each [[drill]] its own name",
            ));
        }
        let Some(host) = hosts
            .iter_mut()
            .find(|h| h.name == *d.host.get_ref() && !h.tunnels_only)
        else {
            return Err(at(
                d.host.span(),
                format!("no [[host]] named `{}`", d.host.get_ref()),
                "name a host of this config",
            ));
        };
        let Some(source_index) = host
            .backups
            .iter()
            .position(|b| b.name == *d.source.get_ref())
        else {
            return Err(at(
                d.source.span(),
                format!(
                    "host {} has no [[host.backup]] named `{}`",
                    host.name,
                    d.source.get_ref()
                ),
                "name one of the host's backup sources",
            ));
        };
        let kind = host.backups[source_index].kind;
        let cluster = match &d.cluster {
            None => None,
            Some(c) => Some(
                host.postgres
                    .iter()
                    .position(|p| p.target.name == *c)
                    .ok_or_else(|| {
                        fail(
                            format!("host {} has no [[host.postgres]] named `{c}`", host.name),
                            "name one of the host's clusters",
                        )
                    })?,
            ),
        };
        match d.restore {
            Restore::PgRestore | Restore::Psql => {
                if cluster.is_none() {
                    return Err(fail(
                        format!("restore = \"{}\" needs `cluster`", d.restore.name()),
                        "name the [[host.postgres]] the scratch database is created on",
                    ));
                }
                if kind != BackupKind::Files && d.fetch.is_none() {
                    return Err(fail(
                        format!(
                            "restore = \"{}\" restores a dump file, and source `{}` is a {} \
                             source",
                            d.restore.name(),
                            d.source.get_ref(),
                            kind.name()
                        ),
                        "use a files source, set `fetch` to a command printing the dump's \
                         path, or restore = \"extract\"",
                    ));
                }
            }
            Restore::Pgbackrest => {
                let stanza = matches!(
                    &host.backups[source_index].location,
                    Location::Stanza(Some(_))
                );
                if kind != BackupKind::Pgbackrest || !stanza {
                    return Err(fail(
                        format!(
                            "restore = \"pgbackrest\" needs a pgbackrest source with a `stanza`; `{}` is not",
                            d.source.get_ref()
                        ),
                        "name a [[host.backup]] of kind pgbackrest that sets stanza",
                    ));
                }
                if d.fetch.is_some() {
                    return Err(fail(
                        "`fetch` does not apply to restore = \"pgbackrest\"".into(),
                        "remove it: the newest backup of the stanza is restored",
                    ));
                }
            }
            Restore::Extract => {
                if !matches!(kind, BackupKind::Borg | BackupKind::Restic) {
                    return Err(fail(
                        format!(
                            "restore = \"extract\" needs a borg or restic source; `{}` is {}",
                            d.source.get_ref(),
                            kind.name()
                        ),
                        "use pg_restore or psql for dump files",
                    ));
                }
                if d.fetch.is_some() {
                    return Err(fail(
                        "`fetch` does not apply to restore = \"extract\"".into(),
                        "remove it: the newest archive or snapshot is extracted",
                    ));
                }
            }
        }
        if d.run_as.is_some() && d.restore != Restore::Pgbackrest {
            return Err(fail(
                "`run_as` applies only to restore = \"pgbackrest\"".into(),
                "remove it",
            ));
        }
        if let Some(u) = &d.run_as
            && (u.is_empty()
                || !u
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        {
            return Err(fail(
                format!("run_as {u:?} is not a user name"),
                "e.g. run_as = \"postgres\"",
            ));
        }
        if d.import.is_some() && d.restore != Restore::Extract {
            return Err(fail(
                "`import` applies only to restore = \"extract\"".into(),
                "remove it",
            ));
        }
        let slug = name.to_lowercase().replace('-', "_");
        if !slugs.insert(slug.clone()) {
            return Err(at(
                d.name.span(),
                format!(
                    "drill `{name}` has the same scratch name ({PREFIX}{slug}) as another drill"
                ),
                "names differing only in case or - and _ share a target: rename one",
            ));
        }
        let target = d
            .target
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| format!("{PREFIX}{slug}"));
        let scratch = d
            .scratch_dir
            .clone()
            .unwrap_or_else(|| SCRATCH_DIR.to_owned());
        let scratch = scratch.trim_end_matches('/');
        let target_dir = matches!(d.restore, Restore::Extract | Restore::Pgbackrest)
            .then(|| format!("{scratch}/{target}"));
        let checks = checks(&d.checks, source, d.restore)?;
        if checks.is_empty() {
            return Err(fail(
                format!("drill `{name}` has no [[drill.check]]"),
                "add at least one check: a restore nobody looked at proves little",
            ));
        }
        if checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Sql { .. } | CheckKind::Newest { .. }))
            && cluster.is_none()
            && d.restore != Restore::Pgbackrest
        {
            return Err(fail(
                "SQL checks need `cluster`".into(),
                "name the [[host.postgres]] the restored data is imported into",
            ));
        }
        if checks.iter().any(|c| {
            matches!(
                &c.kind,
                CheckKind::Sql {
                    within_pct: Some(_),
                    ..
                }
            )
        }) && (d.database.is_none() || cluster.is_none())
        {
            return Err(fail(
                "`within_pct` compares with production: set the drill's `database` and `cluster`"
                    .into(),
                "database = \"shop\" (the database the backup was taken of)",
            ));
        }
        let spec = DrillSpec {
            source: source_index,
            source_name: d.source.get_ref().clone(),
            restore: d.restore,
            cluster,
            database: d.database.clone(),
            target_db: cluster
                .filter(|_| d.restore != Restore::Pgbackrest)
                .map(|_| target.clone()),
            target_dir,
            run_name: format!("{PREFIX}{slug}"),
            paths: d.paths.clone(),
            fetch: d.fetch.clone().filter(|f| !f.trim().is_empty()),
            import: d.import.clone().filter(|f| !f.trim().is_empty()),
            run_as: (d.restore == Restore::Pgbackrest)
                .then(|| d.run_as.clone().unwrap_or_else(|| "postgres".to_owned())),
            timeout: d.timeout.map_or(TIMEOUT, |i| i.0),
            every: d.every.map_or(EVERY, |i| i.0),
            checks,
            host: host.name.clone(),
            name,
        };
        if let Err(why) = spec.refuse(host) {
            let span = d.target.as_ref().map_or(entry.span(), Spanned::span);
            return Err(at(
                span,
                why,
                "leave `target` unset (wf_drill_<name>), or give a name starting with wf_drill_",
            ));
        }
        host.drills.push(spec);
    }
    Ok(())
}

fn checks(
    entries: &[Spanned<CheckConfig>],
    source: Option<Source<'_>>,
    restore: Restore,
) -> Result<Vec<Check>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let c = entry.get_ref();
        let fail = |message: &str, help: &str| ConfigError::at(source, entry.span(), message, help);
        let kinds = [c.sql.is_some(), c.file.is_some(), c.checksums.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail(
                "a check has exactly one of `sql`, `file` or `checksums`",
                "split it into several [[drill.check]] tables",
            ));
        }
        let sql_only = c.min.is_some()
            || c.max.is_some()
            || c.equals.is_some()
            || c.within_pct.is_some()
            || c.newest
            || c.max_age.is_some();
        let kind = if let Some(sql) = &c.sql {
            if c.min_size.is_some() || c.sha256.is_some() {
                return Err(fail(
                    "`min_size` and `sha256` apply to file checks",
                    "remove them",
                ));
            }
            if c.newest {
                if c.min.is_some()
                    || c.max.is_some()
                    || c.equals.is_some()
                    || c.within_pct.is_some()
                {
                    return Err(fail(
                        "a `newest` check takes only `max_age`",
                        "put other expectations in a check of their own",
                    ));
                }
                CheckKind::Newest {
                    sql: sql.clone(),
                    max_age: c.max_age.map(|i| i.0),
                }
            } else {
                if c.max_age.is_some() {
                    return Err(fail("`max_age` needs newest = true", "add newest = true"));
                }
                if c.equals.is_some()
                    && (c.min.is_some() || c.max.is_some() || c.within_pct.is_some())
                {
                    return Err(fail(
                        "`equals` compares text: it does not go with min, max or within_pct",
                        "put them in a check of their own",
                    ));
                }
                if c.min.is_none()
                    && c.max.is_none()
                    && c.equals.is_none()
                    && c.within_pct.is_none()
                {
                    return Err(fail(
                        "this SQL check expects nothing",
                        "add min, max, equals or within_pct",
                    ));
                }
                CheckKind::Sql {
                    sql: sql.clone(),
                    min: c.min,
                    max: c.max,
                    equals: c.equals.clone(),
                    within_pct: c.within_pct,
                }
            }
        } else {
            if sql_only {
                return Err(fail(
                    "min, max, equals, within_pct, newest and max_age apply to `sql` checks",
                    "remove them",
                ));
            }
            if restore != Restore::Extract {
                return Err(fail(
                    "file checks need a directory: restore = \"extract\"",
                    "check a database restore with `sql` checks",
                ));
            }
            let path = c
                .file
                .clone()
                .or_else(|| c.checksums.clone())
                .unwrap_or_default();
            if path.starts_with('/') || path.split('/').any(|p| p == "..") || path.is_empty() {
                return Err(fail(
                    "file paths are relative to the scratch directory, without ..",
                    "write it as in the archive, e.g. \"srv/app/config.yml\"",
                ));
            }
            if let Some(sum) = &c.sha256
                && (sum.len() != 64 || !sum.chars().all(|ch| ch.is_ascii_hexdigit()))
            {
                return Err(fail(
                    "sha256 is not 64 hex digits",
                    "paste the sha256sum output",
                ));
            }
            if c.file.is_some() {
                CheckKind::File {
                    path,
                    min_size: c.min_size,
                    sha256: c.sha256.as_ref().map(|s| s.to_lowercase()),
                }
            } else {
                if c.min_size.is_some() || c.sha256.is_some() {
                    return Err(fail(
                        "`min_size` and `sha256` apply to `file` checks",
                        "remove them",
                    ));
                }
                CheckKind::Checksums { list: path }
            }
        };
        let name = c.name.clone().unwrap_or_else(|| match &kind {
            CheckKind::Sql { sql, .. } | CheckKind::Newest { sql, .. } => {
                crate::text::fit(&sql.split_whitespace().collect::<Vec<_>>().join(" "), 40)
            }
            CheckKind::File { path, .. } => path.clone(),
            CheckKind::Checksums { list } => format!("checksums {list}"),
        });
        let name = if name.is_empty() {
            format!("check {}", i + 1)
        } else {
            name
        };
        out.push(Check { name, kind });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{host_specs, parse};

    const HOST: &str = "[[host]]\nname = \"db1\"\n\
        [[host.postgres]]\nname = \"main\"\ndatabase = \"postgres\"\n\
        [[host.backup]]\nname = \"dumps\"\nkind = \"files\"\npath = \"/srv/dumps/shop-*.dump\"\n\
        [[host.backup]]\nname = \"borg\"\nkind = \"borg\"\nrepo = \"/srv/borg\"\n\
        [[host.backup]]\nname = \"pgbr\"\nkind = \"pgbackrest\"\nstanza = \"main\"\n";

    fn load(drill: &str) -> Result<Vec<HostSpec>, String> {
        let text = format!("{HOST}{drill}");
        let path = Path::new("w.toml");
        let config = parse(path, &text).map_err(|e| e.to_string())?;
        let source = Source { path, text: &text };
        host_specs(&config, Some(source), None, &mut |s| {
            panic!("no ssh host expected, got {s}")
        })
        .map_err(|e| e.to_string())
    }

    const SHOP: &str = "[[drill]]\nname = \"Shop-dump\"\nhost = \"db1\"\nsource = \"dumps\"\n\
        restore = \"pg_restore\"\ncluster = \"main\"\ndatabase = \"shop\"\n\
        [[drill.check]]\nsql = \"select count(*) from orders\"\nwithin_pct = 5\n";

    #[test]
    fn a_recipe_gets_a_scratch_target_and_defaults() {
        let hosts = load(SHOP).unwrap();
        let d = &hosts[0].drills[0];
        assert_eq!(d.target_db.as_deref(), Some("wf_drill_shop_dump"));
        assert_eq!(d.target_dir, None);
        assert_eq!((d.source, d.cluster), (0, Some(0)));
        assert_eq!(d.every, EVERY);
        assert_eq!(d.run_name, "wf_drill_shop_dump");
        assert_eq!(d.checks[0].name, "select count(*) from orders");
        let files = "[[drill]]\nname = \"files\"\nhost = \"db1\"\nsource = \"borg\"\n\
            restore = \"extract\"\nscratch_dir = \"/scratch/\"\npaths = [\"srv/app\"]\n\
            [[drill.check]]\nfile = \"srv/app/config.yml\"\nmin_size = 1\n";
        let hosts = load(files).unwrap();
        let d = &hosts[0].drills[0];
        assert_eq!(d.target_dir.as_deref(), Some("/scratch/wf_drill_files"));
        assert_eq!(d.target_db, None);
        let cluster = "[[drill]]\nname = \"pitr\"\nhost = \"db1\"\nsource = \"pgbr\"\n\
            restore = \"pgbackrest\"\ndatabase = \"shop\"\n\
            [[drill.check]]\nsql = \"select 1\"\nequals = \"1\"\n";
        let hosts = load(cluster).unwrap();
        let d = &hosts[0].drills[0];
        assert_eq!(d.target_dir.as_deref(), Some("/var/tmp/wf_drill_pitr"));
        assert_eq!(
            (d.target_db.as_deref(), d.run_as.as_deref()),
            (None, Some("postgres"))
        );
        assert_eq!(d.target_text(), "scratch cluster in /var/tmp/wf_drill_pitr");
    }

    #[test]
    fn production_targets_and_bad_recipes_are_refused_with_their_place() {
        let cases = [
            (
                SHOP.replace("database = \"shop\"\n", "database = \"shop\"\ntarget = \"shop\"\n"),
                "the target database shop is the production database shop",
            ),
            (
                SHOP.replace("cluster = \"main\"\n", "cluster = \"main\"\ntarget = \"postgres\"\n"),
                "is the production database postgres",
            ),
            (
                SHOP.replace("cluster = \"main\"\n", "cluster = \"main\"\ntarget = \"scratch\"\n"),
                "is not a scratch name",
            ),
            (
                SHOP.replace("cluster = \"main\"\n", "cluster = \"main\"\ntarget = \"wf_drill_x; drop\"\n"),
                "is not a scratch name",
            ),
            (SHOP.replace("\"db1\"", "\"db9\""), "no [[host]] named `db9`"),
            (SHOP.replace("\"dumps\"", "\"tape\""), "no [[host.backup]] named `tape`"),
            (SHOP.replace("cluster = \"main\"\n", ""), "needs `cluster`"),
            (SHOP.replace("\"dumps\"", "\"borg\""), "restores a dump file"),
            (SHOP.replace("database = \"shop\"\n", ""), "`within_pct` compares with production"),
            (
                SHOP.replace("within_pct = 5", "within_pct = 5\nfile = \"x\""),
                "exactly one of `sql`, `file` or `checksums`",
            ),
            (
                SHOP.replace("within_pct = 5", ""),
                "this SQL check expects nothing",
            ),
            (
                SHOP.replace("within_pct = 5", "within_pct = 5\nequals = \"1000\""),
                "does not go with min, max or within_pct",
            ),
            (
                SHOP.split("[[drill.check]]").next().unwrap().to_owned(),
                "has no [[drill.check]]",
            ),
            (format!("{SHOP}{SHOP}"), "two drills named `Shop-dump`"),
            (SHOP.replace("Shop-dump", "shop dump"), "may hold only letters"),
            (
                format!("{SHOP}{}", SHOP.replace("Shop-dump", "shop_dump")),
                "the same scratch name (wf_drill_shop_dump)",
            ),
            (
                "[[drill]]\nname = \"f\"\nhost = \"db1\"\nsource = \"borg\"\nrestore = \"extract\"\n\
                 scratch_dir = \"/tmp/it's\"\n[[drill.check]]\nfile = \"a\"\n"
                    .to_owned(),
                "is not a scratch directory",
            ),
            (
                "[[drill]]\nname = \"f\"\nhost = \"db1\"\nsource = \"borg\"\nrestore = \"extract\"\n\
                 scratch_dir = \"/\"\n[[drill.check]]\nfile = \"a\"\n"
                    .to_owned(),
                "is not a scratch directory",
            ),
            (
                "[[drill]]\nname = \"f\"\nhost = \"db1\"\nsource = \"borg\"\nrestore = \"extract\"\n\
                 scratch_dir = \"/srv/borg\"\n\
                 [[drill.check]]\nfile = \"a\"\n"
                    .to_owned(),
                "overlaps /srv/borg",
            ),
            (
                "[[drill]]\nname = \"f\"\nhost = \"db1\"\nsource = \"borg\"\nrestore = \"extract\"\n\
                 [[drill.check]]\nfile = \"../etc/passwd\"\n"
                    .to_owned(),
                "relative to the scratch directory",
            ),
            (
                SHOP.replace("within_pct = 5", "within_pct = 5\n[[drill.check]]\nfile = \"a\""),
                "file checks need a directory",
            ),
            (
                SHOP.replace("\"pg_restore\"", "\"pgbackrest\""),
                "needs a pgbackrest source with a `stanza`",
            ),
            (
                SHOP.replace("cluster = \"main\"\n", "cluster = \"main\"\nrun_as = \"postgres\"\n"),
                "`run_as` applies only to restore = \"pgbackrest\"",
            ),
        ];
        for (drill, want) in cases {
            let err = load(&drill).unwrap_err();
            assert!(err.contains(want), "{drill}\n→ {err}");
            assert!(err.contains("w.toml:"), "a place: {err}");
        }
    }
}
