//! The audit log: one JSON line per action, appended to `$XDG_STATE_HOME/watchfloor/audit.jsonl`
//! when the action ends (or when watchfloor quits while it runs). Each line is written with one
//! `write` on a file opened in append mode, so concurrent watchfloor instances do not interleave.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::{JobKind, JobTarget, Pace};

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When the job was confirmed.
    pub time: Timestamp,
    /// The job's number: its "started" line and its end share it.
    pub job: crate::actions::JobId,
    /// The local user who confirmed it.
    pub user: String,
    /// The client of the SSH session the console runs in, if any ("203.0.113.7:51234").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub host: String,
    pub target: JobTarget,
    pub action: JobKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
    /// "started" when confirmed; at the end "ok", "failed", "cancelled", "timed_out",
    /// "refused" or "unknown" (the link dropped); "abandoned" when watchfloor exited first.
    pub outcome: &'static str,
    pub duration_ms: u64,
    /// The target was chosen from data this old (its source had stopped answering).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `audit.jsonl` in the state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("audit.jsonl")
}

/// Appends `record` as one line, creating the file (mode 0600) and its directory.
pub fn append(file: &Path, record: &AuditRecord) -> std::io::Result<()> {
    append_json_line(file, record)
}

/// Appends `value` as one JSON line with one `write` (concurrent writers do not interleave),
/// creating the file (mode 0600) and its directory. The drill history is written the same way.
pub(crate) fn append_json_line(file: &Path, value: &impl Serialize) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(&line)
}

/// The local user name, for the audit line: the passwd entry of the process's uid (USER and
/// LOGNAME may be unset under cron or systemd, or another user's under `sudo -E`), else those,
/// else "uid N".
pub fn local_user() -> String {
    crate::passwd::current()
        .map(|e| e.name)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Where the admin's own SSH session comes from (the client address of SSH_CONNECTION), when
/// the console runs inside one: on a shared bastion the user name alone says little.
pub fn ssh_client() -> Option<String> {
    client_of(&std::env::var("SSH_CONNECTION").ok()?)
}

/// "client-ip client-port server-ip server-port" (ssh(1), ENVIRONMENT) → "client-ip:port".
fn client_of(conn: &str) -> Option<String> {
    let mut f = conn.split_whitespace();
    let (addr, port) = (f.next()?, f.next()?);
    Some(format!(
        "{}:{}",
        crate::sanitize::plain(addr),
        crate::sanitize::plain(port)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Member;

    #[test]
    fn the_user_comes_from_the_passwd_entry_of_the_uid() {
        // This process: the real passwd file has its uid (the tests run as some user).
        let me = crate::passwd::current().expect("this uid has a passwd entry");
        assert_eq!(local_user(), me.name);
    }

    #[test]
    fn the_ssh_client_is_the_first_two_fields_of_ssh_connection() {
        assert_eq!(
            client_of("203.0.113.7 51234 10.0.0.2 22").as_deref(),
            Some("203.0.113.7:51234")
        );
        assert_eq!(client_of("garbage"), None);
        let hostile = client_of("1.2.3.4 \u{1b}[2J 5 6").unwrap();
        assert!(
            hostile.starts_with("1.2.3.4:") && !hostile.contains('\u{1b}'),
            "{hostile:?}"
        );
    }

    #[test]
    fn records_are_appended_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(&dir.path().join("state"));
        let record = AuditRecord {
            time: Timestamp::from_second(1_795_000_000).unwrap(),
            job: crate::actions::JobId(1),
            user: "alice".into(),
            from: None,
            host: "web".into(),
            target: JobTarget::Container {
                project: Some("shop".into()),
                service: Some("api".into()),
                container: Member {
                    id: "abc".into(),
                    name: "shop-api-1".into(),
                    has_health: false,
                },
            },
            action: JobKind::Restart,
            pace: None,
            outcome: "ok",
            duration_ms: 1234,
            data_age_s: None,
            detail: Some("restarted shop-api-1".into()),
            error: None,
        };
        append(&file, &record).unwrap();
        append(&file, &record).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["host"], "web");
        assert_eq!(lines[0]["action"], "restart");
        assert_eq!(lines[0]["target"]["container"]["name"], "shop-api-1");
        assert_eq!(lines[0]["outcome"], "ok");
        assert_eq!(lines[0]["duration_ms"], 1234);
        assert_eq!(lines[0]["time"], "2026-11-18T11:06:40Z");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
