//! Config errors that say where and what to do: `file:line:column`, the offending line with a
//! caret, and a hint (for an unknown key, the nearest valid one). Rendered like rustc's
//! diagnostics, as plain text, before the terminal is taken over.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A config file's path and text, for locating errors.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

/// Every key the config file may contain, for "did you mean" hints on unknown keys.
pub const CONFIG_KEYS: &[&str] = &[
    "ui",
    "defaults",
    "host",
    "keymap",
    "theme",
    "read_only",
    "refresh",
    "disks_interval",
    "containers_resync",
    "name",
    "docker_socket",
    "docker",
    "ssh",
    "wg_sudo",
    "tunnels_interval",
    "stats_interval",
    "health_interval",
    "keepalive_interval",
    "keepalive_count",
    "alerts",
    "notify",
    "bell",
    "title",
    "desktop",
    "quiet_start",
    "silence",
    "probe",
    "url",
    "tcp",
    "status",
    "body",
    "slow",
    "disk_warn_pct",
    "disk_crit_pct",
    "cpu_warn_pct",
    "cpu_for",
    "memory_warn_pct",
    "handshake_stale",
    "logs",
    "tail",
    "buffer",
    "postgres",
    "postgres_interval",
    "socket",
    "address",
    "user",
    "database",
    "password_env",
    "password_command",
    "passfile",
    "interval",
    "slow_query",
    "idle_in_transaction",
    "pool_alert_pct",
    "backup",
    "kind",
    "repo",
    "env_file",
    "passphrase_command",
    "stanza",
    "path",
    "command",
    "trigger",
    "timeout",
    "trigger_timeout",
    "offsite",
    "max_age",
    "min_count",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "size_drop_pct",
    "drill",
    "source",
    "restore",
    "cluster",
    "target",
    "scratch_dir",
    "paths",
    "fetch",
    "import",
    "every",
    "check",
    "sql",
    "min",
    "max",
    "equals",
    "within_pct",
    "newest",
    "file",
    "min_size",
    "sha256",
    "checksums",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: Option<PathBuf>,
    /// 1-based; None when the error is about the file as a whole.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    pub message: String,
    pub help: Option<String>,
    /// The offending line, the caret's column and width, when known (boxed: errors stay small).
    excerpt: Option<Box<(String, usize, usize)>>,
}

impl ConfigError {
    /// An error without a position (a file that cannot be read, a bad command-line value).
    pub fn plain(path: Option<&Path>, message: impl Into<String>, help: Option<String>) -> Self {
        ConfigError {
            path: path.map(Path::to_path_buf),
            line: None,
            column: None,
            message: message.into(),
            help,
            excerpt: None,
        }
    }

    pub fn io(path: &Path, e: &std::io::Error) -> Self {
        let help = match e.kind() {
            std::io::ErrorKind::NotFound => {
                Some("check the path, or run without --config to use the defaults".to_owned())
            }
            std::io::ErrorKind::PermissionDenied => {
                Some("make the file readable by this user".to_owned())
            }
            _ => None,
        };
        Self::plain(Some(path), format!("cannot read the file: {e}"), help)
    }

    /// An error at byte range `span` of the source.
    pub fn at(
        source: Option<Source<'_>>,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        let mut e = Self::plain(source.map(|s| s.path), message, Some(help.into()));
        if let Some(s) = source {
            e.locate(s.text, span);
        }
        e
    }

    /// Converts a TOML/serde error, adding a hint for unknown keys and values from `known`.
    pub fn from_toml(path: &Path, text: &str, e: &toml::de::Error, known: &[&str]) -> Self {
        let message = e.message().trim().to_owned();
        let help = hint(&message, known);
        let mut err = Self::plain(Some(path), message, help);
        if let Some(span) = e.span() {
            err.locate(text, span);
        }
        err
    }

    fn locate(&mut self, text: &str, span: Range<usize>) {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_no = text[..start].matches('\n').count() + 1;
        let col = text[line_start..start].chars().count() + 1;
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        let width = text[start..end].chars().count().max(1);
        self.line = Some(line_no);
        self.column = Some(col);
        self.excerpt = Some(Box::new((
            text[line_start..line_end].to_owned(),
            col,
            width,
        )));
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if let Some(path) = &self.path {
            match (self.line, self.column) {
                (Some(l), Some(c)) => writeln!(f, "  --> {}:{l}:{c}", path.display())?,
                _ => writeln!(f, "  --> {}", path.display())?,
            }
        }
        if let (Some(excerpt), Some(no)) = (&self.excerpt, self.line) {
            let (line, col, width) = excerpt.as_ref();
            let gutter = " ".repeat(no.to_string().len());
            let shown = crate::sanitize::plain(line);
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{no} | {shown}")?;
            writeln!(
                f,
                "{gutter} | {}{}",
                " ".repeat(col - 1),
                "^".repeat(*width)
            )?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// For serde's "unknown field `x`" / "unknown variant `x`" messages, the nearest known name.
fn hint(message: &str, known: &[&str]) -> Option<String> {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| {
            let rest = message.strip_prefix(p)?;
            Some(&rest[..rest.find('`')?])
        })?;
    // Prefer the names serde says are expected here; fall back to every known key.
    let expected: Vec<&str> = message.split('`').skip(3).step_by(2).collect();
    let pool = if expected.is_empty() {
        known
    } else {
        &expected[..]
    };
    match nearest(unknown, pool) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !expected.is_empty() => Some(format!("valid keys here: {}", expected.join(", "))),
        None => None,
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> ConfigError {
        crate::config::parse(Path::new("/etc/wf.toml"), text).unwrap_err()
    }

    #[test]
    fn unknown_key_points_at_it_and_suggests_the_nearest() {
        let e = parse_err("[ui]\nthem = \"dark\"\n");
        assert_eq!((e.line, e.column), (Some(2), Some(1)));
        assert_eq!(e.help.as_deref(), Some("did you mean `theme`?"));
        let shown = e.to_string();
        assert!(shown.contains("--> /etc/wf.toml:2:1"), "{shown}");
        assert!(shown.contains("2 | them = \"dark\"\n  | ^^^^"), "{shown}");
    }

    #[test]
    fn unknown_host_key_suggests_from_the_host_table() {
        let e = parse_err("[[host]]\nname = \"a\"\ndocker_sock = \"/x\"\n");
        assert_eq!(e.line, Some(3));
        assert_eq!(e.help.as_deref(), Some("did you mean `docker_socket`?"));
    }

    #[test]
    fn type_errors_have_positions() {
        let e = parse_err("[ui]\nread_only = \"yes\"\n");
        assert_eq!((e.line, e.column), (Some(2), Some(13)));
        assert!(e.message.contains("bool"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse_err("[ui\ntheme = 1\n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("theme", "them"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(nearest("zzzzzz", &["theme", "ui"]), None);
    }
}
