//! `[[host.backup]]`: a backup source on a host, how often it is read, and the policy it is
//! judged against. Secrets never appear here: the tools find them on the host (their own
//! environment variables, a pass command, an `env_file` the host keeps).

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Interval, Source};

/// Backups are read rarely: listing a repository may take its lock (see `collect::backups`).
pub const READ_INTERVAL: Duration = Duration::from_secs(15 * 60);
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);
pub const TRIGGER_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
pub const SIZE_DROP_PCT: f64 = 50.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Borg,
    Restic,
    Pgbackrest,
    Walg,
    /// Dump files matching a glob (pg_dump, mysqldump, tarballs).
    Files,
    /// Any command printing the documented JSON (see config.example.toml).
    Command,
}

impl BackupKind {
    pub fn name(self) -> &'static str {
        match self {
            BackupKind::Borg => "borg",
            BackupKind::Restic => "restic",
            BackupKind::Pgbackrest => "pgbackrest",
            BackupKind::Walg => "wal-g",
            BackupKind::Files => "files",
            BackupKind::Command => "command",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Shown in the UI; default the kind (unique per host).
    #[serde(default)]
    pub name: Option<String>,
    pub kind: BackupKind,
    /// borg / restic repository; absent: BORG_REPO / RESTIC_REPOSITORY on the host.
    #[serde(default)]
    pub repo: Option<String>,
    /// A file on the host sourced before the tool runs (exports, passphrase commands).
    #[serde(default)]
    pub env_file: Option<String>,
    /// borg / restic: a command on this machine printing the repository's passphrase; it
    /// reaches the tool on the host through stdin, never a command line or a file.
    #[serde(default)]
    pub passphrase_command: Option<String>,
    /// pgBackRest stanza; absent: every stanza the host's pgbackrest.conf lists.
    #[serde(default)]
    pub stanza: Option<String>,
    /// files: an absolute path whose last part is a glob, e.g. "/srv/dumps/shop-*.dump".
    #[serde(default)]
    pub path: Option<String>,
    /// command: runs on the host and prints the JSON shape in config.example.toml.
    #[serde(default)]
    pub command: Option<String>,
    /// Starts a backup of this source on the host (`T` in the backups pane).
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default)]
    pub interval: Option<Interval>,
    #[serde(default)]
    pub timeout: Option<Interval>,
    #[serde(default)]
    pub trigger_timeout: Option<Interval>,
    /// The offsite copy: the pane's OFFSITE column shows its age beside the host's sources.
    #[serde(default)]
    pub offsite: bool,
    #[serde(default)]
    pub max_age: Option<Interval>,
    #[serde(default)]
    pub min_count: Option<usize>,
    #[serde(default)]
    pub keep_hourly: Option<u32>,
    #[serde(default)]
    pub keep_daily: Option<u32>,
    #[serde(default)]
    pub keep_weekly: Option<u32>,
    #[serde(default)]
    pub keep_monthly: Option<u32>,
    #[serde(default)]
    pub size_drop_pct: Option<f64>,
}

/// Where a source's backups are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// borg and restic: the repository, or None for the host's environment variable.
    Repo(Option<String>),
    Stanza(Option<String>),
    Walg,
    /// A directory and a glob pattern of file names in it.
    Files {
        dir: String,
        pattern: String,
    },
    Command(String),
}

/// The retention the admin expects: how many of each slot should hold a backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Keep {
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Policy {
    /// Older newest backup: warning; twice as old: critical. None: age is not judged.
    #[serde(serialize_with = "crate::text::opt_secs")]
    pub max_age: Option<Duration>,
    pub min_count: usize,
    pub keep: Keep,
    /// The newest backup smaller than the previous by more than this: a warning.
    pub size_drop_pct: f64,
    pub offsite: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupSpec {
    pub name: String,
    pub kind: BackupKind,
    pub location: Location,
    pub env_file: Option<String>,
    pub passphrase_command: Option<String>,
    pub trigger: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub trigger_timeout: Duration,
    pub policy: Policy,
}

/// The `[[host.backup]]` entries of one host, checked, with defaults applied.
pub fn specs(
    entries: &[Spanned<BackupConfig>],
    source: Option<Source<'_>>,
) -> Result<Vec<BackupSpec>, ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in entries {
        let b = entry.get_ref();
        let fail =
            |message: String, help: &str| ConfigError::at(source, entry.span(), message, help);
        let name = b.name.clone().unwrap_or_else(|| b.kind.name().to_owned());
        if !names.insert(name.clone()) {
            return Err(fail(
                format!("two backup sources named `{name}` on this host"),
                "give each [[host.backup]] its own name",
            ));
        }
        let location = location(b).map_err(|(m, h)| fail(m, h))?;
        let size_drop_pct = b.size_drop_pct.unwrap_or(SIZE_DROP_PCT);
        if !(1.0..=100.0).contains(&size_drop_pct) {
            return Err(fail(
                format!("size_drop_pct = {size_drop_pct} is not a percentage"),
                "write a number from 1 to 100, e.g. 50",
            ));
        }
        let keep = Keep {
            hourly: b.keep_hourly.unwrap_or(0),
            daily: b.keep_daily.unwrap_or(0),
            weekly: b.keep_weekly.unwrap_or(0),
            monthly: b.keep_monthly.unwrap_or(0),
        };
        out.push(BackupSpec {
            name,
            kind: b.kind,
            location,
            env_file: b.env_file.clone(),
            passphrase_command: b
                .passphrase_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
            trigger: b.trigger.clone().filter(|t| !t.trim().is_empty()),
            interval: b.interval.map_or(READ_INTERVAL, |i| i.0),
            timeout: b.timeout.map_or(READ_TIMEOUT, |i| i.0),
            trigger_timeout: b.trigger_timeout.map_or(TRIGGER_TIMEOUT, |i| i.0),
            policy: Policy {
                max_age: b.max_age.map(|i| i.0).or_else(|| default_max_age(&keep)),
                min_count: b.min_count.unwrap_or(1),
                keep,
                size_drop_pct,
                offsite: b.offsite,
            },
        });
    }
    Ok(out)
}

/// Without `max_age`, the finest retention slot says how often backups are made: one missed
/// run (plus two hours of slack) is late.
fn default_max_age(keep: &Keep) -> Option<Duration> {
    let h = |n: u64| Some(Duration::from_secs(n * 3600));
    if keep.hourly > 0 {
        h(3)
    } else if keep.daily > 0 {
        h(26)
    } else if keep.weekly > 0 {
        h(7 * 24 + 2)
    } else if keep.monthly > 0 {
        h(31 * 24 + 2)
    } else {
        None
    }
}

type Problem = (String, &'static str);

fn location(b: &BackupConfig) -> Result<Location, Problem> {
    let kind = b.kind.name();
    let unused = |field: &str, set: bool| -> Result<(), Problem> {
        if set {
            Err((
                format!("`{field}` does not apply to a {kind} source"),
                "remove it, or change `kind`",
            ))
        } else {
            Ok(())
        }
    };
    let is_repo = matches!(b.kind, BackupKind::Borg | BackupKind::Restic);
    unused("repo", b.repo.is_some() && !is_repo)?;
    unused(
        "passphrase_command",
        b.passphrase_command.is_some() && !is_repo,
    )?;
    unused(
        "stanza",
        b.stanza.is_some() && b.kind != BackupKind::Pgbackrest,
    )?;
    unused("path", b.path.is_some() && b.kind != BackupKind::Files)?;
    unused(
        "command",
        b.command.is_some() && b.kind != BackupKind::Command,
    )?;
    Ok(match b.kind {
        BackupKind::Borg | BackupKind::Restic => Location::Repo(b.repo.clone()),
        BackupKind::Pgbackrest => Location::Stanza(b.stanza.clone()),
        BackupKind::Walg => Location::Walg,
        BackupKind::Command => match &b.command {
            Some(c) if !c.trim().is_empty() => Location::Command(c.clone()),
            _ => {
                return Err((
                    "a command source needs `command`".into(),
                    "set command = \"...\": it runs on the host and prints JSON (see config.example.toml)",
                ));
            }
        },
        BackupKind::Files => {
            let path = b.path.as_deref().unwrap_or("");
            files_glob(path)?
        }
    })
}

/// "/srv/dumps/shop-*.dump" → ("/srv/dumps", "shop-*.dump"). The directory is quoted when it
/// reaches the shell; the pattern is not (it is a glob), so it may hold only glob-safe text.
fn files_glob(path: &str) -> Result<Location, Problem> {
    const HELP: &str =
        "write an absolute path whose last part is a pattern, e.g. \"/srv/dumps/shop-*.dump\"";
    let Some((dir, pattern)) = path.rsplit_once('/').filter(|_| path.starts_with('/')) else {
        return Err((format!("path {path:?} is not an absolute path"), HELP));
    };
    let glob_safe = |c: char| c.is_ascii_alphanumeric() || "._-*?[]+,:@%=~".contains(c);
    if pattern.is_empty() || !pattern.chars().all(glob_safe) {
        return Err((
            format!(
                "the file pattern {pattern:?} may hold only letters, digits, . _ - + , : @ % = ~ and * ? [ ]"
            ),
            HELP,
        ));
    }
    if dir.contains(['*', '?', '[']) {
        return Err((
            format!("the directory {dir:?} has a pattern in it; only the file name may"),
            HELP,
        ));
    }
    Ok(Location::Files {
        dir: if dir.is_empty() {
            "/".into()
        } else {
            dir.into()
        },
        pattern: pattern.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<BackupSpec>, String> {
        #[derive(Deserialize)]
        struct Doc {
            backup: Vec<Spanned<BackupConfig>>,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        let source = Source {
            path: std::path::Path::new("w.toml"),
            text,
        };
        specs(&doc.backup, Some(source)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_retention() {
        let s = parse("[[backup]]\nkind = \"borg\"\nkeep_daily = 7\nkeep_weekly = 4\n").unwrap();
        assert_eq!(s[0].name, "borg");
        assert_eq!(s[0].location, Location::Repo(None));
        assert_eq!(s[0].interval, READ_INTERVAL);
        assert_eq!(s[0].policy.max_age, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(s[0].policy.keep.weekly, 4);
        let s = parse("[[backup]]\nkind = \"restic\"\nmax_age = \"3d\"\n").unwrap();
        assert_eq!(s[0].policy.max_age, Some(Duration::from_secs(72 * 3600)));
    }

    #[test]
    fn files_patterns_are_checked() {
        let s = parse("[[backup]]\nkind = \"files\"\npath = \"/srv/my dumps/shop-*.sql.gz\"\n")
            .unwrap();
        assert_eq!(
            s[0].location,
            Location::Files {
                dir: "/srv/my dumps".into(),
                pattern: "shop-*.sql.gz".into()
            }
        );
        let e = parse("[[backup]]\nkind = \"files\"\npath = \"/srv/*.gz;rm -rf x\"\n").unwrap_err();
        assert!(
            e.contains("w.toml:1:1") && e.contains("may hold only"),
            "{e}"
        );
        let e = parse("[[backup]]\nkind = \"files\"\npath = \"dumps/*.gz\"\n").unwrap_err();
        assert!(e.contains("not an absolute path"), "{e}");
    }

    #[test]
    fn mistakes_name_the_field() {
        let e =
            parse("[[backup]]\nkind = \"files\"\nrepo = \"/x\"\npath = \"/a/*\"\n").unwrap_err();
        assert!(e.contains("`repo` does not apply to a files source"), "{e}");
        let e =
            parse("[[backup]]\nkind = \"walg\"\npassphrase_command = \"pass x\"\n").unwrap_err();
        assert!(
            e.contains("`passphrase_command` does not apply to a wal-g source"),
            "{e}"
        );
        let e = parse("[[backup]]\nkind = \"tape\"\n").unwrap_err();
        assert!(e.contains("unknown variant `tape`"), "{e}");
        let e = parse("[[backup]]\nkind = \"borg\"\n[[backup]]\nkind = \"borg\"\n").unwrap_err();
        assert!(e.contains("two backup sources named `borg`"), "{e}");
        let e = parse("[[backup]]\nkind = \"command\"\n").unwrap_err();
        assert!(e.contains("needs `command`"), "{e}");
    }
}
