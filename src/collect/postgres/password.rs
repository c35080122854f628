//! Where a cluster's password comes from, on the admin's machine (never from the config file,
//! never from the host): an environment variable, a command's first line of output, or a
//! pgpass-format file. I/O at the top; the pgpass matcher below is pure.

use std::path::{Path, PathBuf};

use super::{Conninfo, Endpoint, PgError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The value of this environment variable of the watchfloor process.
    Env(String),
    /// Run with `sh -c` on the admin's machine, stdin closed; the first line of stdout.
    Command(String),
    /// A file in libpq's pgpass format: `host:port:database:user:password`, `*` matching any
    /// value, `\:` and `\\` escapes, `#` comments, first matching line wins. For a unix socket
    /// the host field may be the socket directory or `localhost`. Like libpq, a file others
    /// can read is refused.
    Pgpass(PathBuf),
}

impl PasswordSource {
    /// Where the password was looked for, for messages.
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::Env(name) => format!("environment variable {name}"),
            PasswordSource::Command(cmd) => format!("password_command `{cmd}`"),
            PasswordSource::Pgpass(path) => format!("pgpass file {}", path.display()),
        }
    }
}

/// The password for `target`, or None when it has no source (peer or trust auth).
pub async fn resolve(target: &Conninfo) -> Result<Option<String>, PgError> {
    let Some(source) = &target.password else {
        return Ok(None);
    };
    let config = |message: String| PgError::Config {
        cluster: target.name.clone(),
        message,
    };
    match source {
        PasswordSource::Env(name) => match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Err(config(format!(
                "environment variable {name} (its password source) is not set in watchfloor's environment"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(config(format!(
                "environment variable {name} (its password source) is not valid UTF-8"
            ))),
        },
        PasswordSource::Command(cmd) => {
            crate::collect::secret::from_command("password_command", cmd)
                .await
                .map(Some)
                .map_err(config)
        }
        PasswordSource::Pgpass(path) => {
            let text = read_pgpass(path).await.map_err(config)?;
            let (hosts, port) = pgpass_key(&target.endpoint);
            let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
            match lookup(&text, &hosts, &port, &target.dbname, &target.user) {
                Some(pw) => Ok(Some(pw)),
                None => Err(config(format!(
                    "no line of {} matches {}:{port}:{}:{} (host may be *)",
                    path.display(),
                    hosts.join(" or "),
                    target.dbname,
                    target.user
                ))),
            }
        }
    }
}

async fn read_pgpass(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read pgpass file {shown}: {e}"))?;
    // libpq ignores a password file that group or others may read; say so instead.
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
        return Err(format!(
            "pgpass file {shown} may be read by other users; run: chmod 600 {shown}"
        ));
    }
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read pgpass file {shown}: {e}"))
}

/// The host names a pgpass line may give for `endpoint`, and the port. For a unix socket
/// `<dir>/.s.PGSQL.<port>`: the directory or `localhost` (libpq uses `localhost` only for its
/// compiled-in default directory; either is accepted here, the socket is on the host anyway).
pub fn pgpass_key(endpoint: &Endpoint) -> (Vec<String>, String) {
    match endpoint {
        Endpoint::Tcp { host, port } => (vec![host.clone()], port.to_string()),
        Endpoint::Unix(path) => {
            let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
            let port = file
                .strip_prefix(".s.PGSQL.")
                .filter(|p| p.parse::<u16>().is_ok())
                .unwrap_or("5432");
            let dir = if dir.is_empty() { "/" } else { dir };
            (
                vec![dir.to_owned(), "localhost".to_owned()],
                port.to_owned(),
            )
        }
    }
}

/// The password of the first line of pgpass `text` whose fields match; `hosts` are
/// alternatives for the first field.
pub fn lookup(text: &str, hosts: &[&str], port: &str, db: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line);
        let [host, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let matches = |field: &Field, value: &str| field.any || field.text == value;
        if hosts.iter().any(|h| matches(host, h))
            && matches(p, port)
            && matches(d, db)
            && matches(u, user)
        {
            return Some(password.text.clone());
        }
    }
    None
}

struct Field {
    text: String,
    /// The field was exactly `*` (an escaped `\*` is a literal star).
    any: bool,
}

/// Splits a line at unescaped ':' into at least five fields; the password is the rest of the
/// line up to the next unescaped ':' (libpq ignores anything after it).
fn split_fields(line: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let (mut text, mut raw) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(next) = chars.next() {
                    raw.push(next);
                    text.push(next);
                } else {
                    text.push('\\');
                }
            }
            ':' => {
                fields.push(Field {
                    any: raw == "*",
                    text: std::mem::take(&mut text),
                });
                raw.clear();
                if fields.len() == 5 {
                    return fields;
                }
            }
            _ => {
                raw.push(c);
                text.push(c);
            }
        }
    }
    fields.push(Field {
        any: raw == "*",
        text,
    });
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, host: &str, port: &str, db: &str, user: &str) -> Option<String> {
        lookup(text, &[host], port, db, user)
    }

    #[test]
    fn first_matching_line_wins_and_stars_match_anything() {
        let text = "# comment:*:*:*:nope\n\
                    db1:5432:shop:app:first\n\
                    *:*:*:app:second\n\
                    *:*:*:*:third\n";
        assert_eq!(
            find(text, "db1", "5432", "shop", "app").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(text, "db2", "5433", "shop", "app").as_deref(),
            Some("second")
        );
        assert_eq!(
            find(text, "db1", "5432", "shop", "ops").as_deref(),
            Some("third")
        );
        assert_eq!(
            find("db1:5432:shop:app:x\n", "db1", "5432", "other", "app"),
            None
        );
    }

    #[test]
    fn escapes_in_fields_and_password() {
        let text = "h\\:1:5432:d\\\\b:app:pa\\:ss\\\\w\\:ord:ignored\n";
        assert_eq!(
            find(text, "h:1", "5432", "d\\b", "app").as_deref(),
            Some("pa:ss\\w:ord")
        );
        // An escaped star is a literal star, not a wildcard.
        assert_eq!(find("\\*:*:*:*:pw\n", "db1", "1", "d", "u"), None);
        assert_eq!(
            find("\\*:*:*:*:pw\n", "*", "1", "d", "u").as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn short_lines_comments_and_crlf_are_handled() {
        let text = "garbage\n*:*:*\n\n  # not a comment: leading space\r\n*:*:*:*:pw\r\n";
        assert_eq!(find(text, "h", "1", "d", "u").as_deref(), Some("pw"));
        assert_eq!(find("", "h", "1", "d", "u"), None);
        // An empty password field is a match with an empty password, as in libpq.
        assert_eq!(find("*:*:*:*:\n", "h", "1", "d", "u").as_deref(), Some(""));
    }

    #[test]
    fn unix_socket_matches_its_directory_or_localhost() {
        let endpoint = Endpoint::Unix("/var/run/postgresql/.s.PGSQL.5433".into());
        let (hosts, port) = pgpass_key(&endpoint);
        assert_eq!(hosts, ["/var/run/postgresql", "localhost"]);
        assert_eq!(port, "5433");
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let text = "db1:5433:*:*:no\nlocalhost:5433:*:*:yes\n";
        assert_eq!(
            lookup(text, &hosts, &port, "d", "u").as_deref(),
            Some("yes")
        );
        let text = "/var/run/postgresql:5433:*:*:dir\n";
        assert_eq!(
            lookup(text, &hosts, &port, "d", "u").as_deref(),
            Some("dir")
        );
        // A socket not named like PostgreSQL's: the default port.
        let (_, port) = pgpass_key(&Endpoint::Unix("/tmp/pg.sock".into()));
        assert_eq!(port, "5432");
    }
}
