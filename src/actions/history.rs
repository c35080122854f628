//! Restore-drill history: one JSON line per drill run in `$XDG_STATE_HOME/watchfloor/drills.jsonl`,
//! written by the console and by `watchfloor drill run` alike (one `write` per line, in append
//! mode, as the audit log), read back by both. A line that does not parse is skipped and
//! counted, never fatal: the file outlives versions of watchfloor.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a drill run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillOutcome {
    Pass,
    /// A step or a check failed.
    Fail,
    /// A check could not run: the backup is not proven good (and not proven bad).
    CouldNotVerify,
    Cancelled,
    TimedOut,
    /// Not started (read-only, the host not connected, a refused target).
    Refused,
    /// The link dropped mid-run: unknown.
    Unknown,
}

impl DrillOutcome {
    pub fn label(self) -> &'static str {
        match self {
            DrillOutcome::Pass => "pass",
            DrillOutcome::Fail => "FAIL",
            DrillOutcome::CouldNotVerify => "could not verify",
            DrillOutcome::Cancelled => "cancelled",
            DrillOutcome::TimedOut => "timed out",
            DrillOutcome::Refused => "refused",
            DrillOutcome::Unknown => "unknown",
        }
    }
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    Fail,
    CouldNotVerify,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    pub result: CheckResult,
    /// The value found (a count, a timestamp, a size), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Against what, or why it could not run.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// prepare, fetch, restore, checks, cleanup.
    pub step: String,
    pub secs: f64,
}

/// The backup a drill restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRef {
    pub name: String,
    pub time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// One drill run: the history line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRun {
    pub drill: String,
    pub host: String,
    pub source: String,
    pub started: Timestamp,
    pub outcome: DrillOutcome,
    /// The step that failed or was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Why it did not pass, with the tool's own error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupRef>,
    pub target: String,
    #[serde(default)]
    pub steps: Vec<StepTime>,
    /// Fetch + restore + checks: how long until verified data was back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_s: Option<f64>,
    /// How old the newest restored data was when the drill ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_s: Option<f64>,
    /// Where the RPO comes from: a check's name, or "backup time".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_bytes: Option<u64>,
    #[serde(default)]
    pub checks: Vec<CheckRecord>,
    /// What cleanup could not remove; None: the scratch target is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_behind: Option<String>,
    /// The local user who ran it, and whether from the console or headless.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub headless: bool,
}

impl DrillRun {
    /// A run that has not got anywhere yet: `outcome` Unknown until it reaches a verdict, or
    /// [`crate::actions::drill::finalize`] says how its job ended.
    pub fn begin(
        drill: &str,
        host: &str,
        source: &str,
        target: String,
        started: Timestamp,
    ) -> Self {
        DrillRun {
            drill: drill.to_owned(),
            host: host.to_owned(),
            source: source.to_owned(),
            started,
            outcome: DrillOutcome::Unknown,
            step: None,
            reason: None,
            backup: None,
            target,
            steps: Vec::new(),
            rto_s: None,
            rpo_s: None,
            rpo_from: None,
            restored_bytes: None,
            checks: Vec::new(),
            left_behind: None,
            user: String::new(),
            headless: false,
        }
    }

    /// When it ended: its start plus the time of its steps.
    pub fn ended(&self) -> Timestamp {
        let secs: f64 = self.steps.iter().map(|s| s.secs).sum();
        self.started
            .checked_add(jiff::SignedDuration::from_secs_f64(secs.max(0.0)))
            .unwrap_or(self.started)
    }
}

/// `drills.jsonl` in the state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("drills.jsonl")
}

/// Appends `run` as one line, creating the file (mode 0600) and its directory.
pub fn append(file: &Path, run: &DrillRun) -> std::io::Result<()> {
    super::audit::append_json_line(file, run)
}

/// Every run in the file, oldest first, and how many lines did not parse. A missing file is
/// an empty history.
pub fn load(file: &Path) -> std::io::Result<(Vec<DrillRun>, usize)> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    Ok(parse(&text))
}

fn parse(text: &str) -> (Vec<DrillRun>, usize) {
    let mut bad = 0;
    let mut runs: Vec<DrillRun> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).map_err(|_| bad += 1).ok())
        .collect();
    runs.sort_by_key(|r| r.started);
    (runs, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(drill: &str, at: i64, outcome: DrillOutcome) -> DrillRun {
        DrillRun {
            drill: drill.into(),
            host: "db1".into(),
            source: "dumps".into(),
            started: Timestamp::from_second(at).unwrap(),
            outcome,
            step: None,
            reason: None,
            backup: None,
            target: "wf_drill_shop".into(),
            steps: vec![StepTime {
                step: "restore".into(),
                secs: 2.5,
            }],
            rto_s: Some(2.5),
            rpo_s: None,
            rpo_from: None,
            restored_bytes: None,
            checks: Vec::new(),
            left_behind: None,
            user: "alice".into(),
            headless: false,
        }
    }

    #[test]
    fn runs_survive_a_round_trip_and_bad_lines_are_counted_not_fatal() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let file = path(&dir.path().join("state"));
        append(&file, &run("shop", 2_000, DrillOutcome::Fail)).unwrap();
        append(&file, &run("shop", 1_000, DrillOutcome::Pass)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(b"{not json\n")
            .unwrap();
        let (runs, bad) = load(&file).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].outcome, DrillOutcome::Pass, "sorted by start");
        assert_eq!(runs[1], run("shop", 2_000, DrillOutcome::Fail));
        assert_eq!(
            runs[0].ended(),
            Timestamp::from_millisecond(1_002_500).unwrap()
        );
        let (none, bad) = load(&dir.path().join("missing.jsonl")).unwrap();
        assert!(none.is_empty() && bad == 0);
    }
}
