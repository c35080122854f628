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
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(&line)
}

/// The local user name, for the audit line.
pub fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Member;

    #[test]
    fn records_are_appended_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(&dir.path().join("state"));
        let record = AuditRecord {
            time: Timestamp::from_second(1_795_000_000).unwrap(),
            job: crate::actions::JobId(1),
            user: "alice".into(),
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
