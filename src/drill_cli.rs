//! `watchfloor drill list` and `watchfloor drill run NAME`: the same drill job the console
//! runs, for cron and systemd timers. Progress lines go to stdout (stderr with `--json`, whose
//! stdout is the run's record); the run lands in the drill history and the audit log, where
//! the console shows it. Ctrl-C cancels the run, and its cleanup still runs.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::actions::audit::{self, AuditRecord};
use crate::actions::drill::{Drill, finalize};
use crate::actions::history::{self, DrillOutcome, DrillRun};
use crate::actions::runner::{Reporter, execute};
use crate::actions::{JobId, JobKind, JobOutcome, JobTarget, Progress};
use crate::app::drills::DrillState;
use crate::config::{HostSpec, Settings};
use crate::event::{AppEvent, HostEvent, HostId, HostSender};
use crate::link::ssh::session::Options;

/// Exit codes: 0 pass; 1 fail, could not verify, cancelled, timed out; 2 refused or unknown
/// drill (as config errors).
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REFUSED: u8 = 2;

/// Every drill with its last outcome and when it is due, as a table or JSON.
pub fn list(settings: &Settings, json: bool, now: Timestamp) -> String {
    let runs = history::load(&history::path(&settings.state_dir))
        .map(|(r, _)| r)
        .unwrap_or_default();
    let mut out = Vec::new();
    for h in &settings.hosts {
        for spec in &h.drills {
            out.push(DrillState {
                spec: spec.clone(),
                history: crate::app::drills::history_of(&runs, &h.name, &spec.name),
            });
        }
    }
    if json {
        let items: Vec<serde_json::Value> = out
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.spec.name,
                    "host": d.spec.host,
                    "source": d.spec.source_name,
                    "restore": d.spec.restore,
                    "target": d.spec.target_text(),
                    "every_s": d.spec.every.as_secs(),
                    "due": d.due_text(now),
                    "last": d.last(),
                    "last_pass": d.last_pass().map(|r| r.started),
                })
            })
            .collect();
        return serde_json::to_string_pretty(&items).unwrap_or_default();
    }
    if out.is_empty() {
        return "no [[drill]] in the config (see config.example.toml)".to_owned();
    }
    let mut s = format!(
        "{:<20} {:<12} {:<12} {:<10} {:<28} {}\n",
        "DRILL", "HOST", "SOURCE", "RESTORE", "LAST", "NEXT DUE"
    );
    for d in &out {
        let last = d.last().map_or("never run".to_owned(), |r| {
            format!(
                "{} {} ago",
                r.outcome.label(),
                crate::text::ago(r.started, now)
            )
        });
        s += &format!(
            "{:<20} {:<12} {:<12} {:<10} {:<28} {}\n",
            d.spec.name,
            d.spec.host,
            d.spec.source_name,
            d.spec.restore.name(),
            last,
            d.due_text(now)
        );
    }
    s.trim_end().to_owned()
}

/// Runs drill `name` once; returns the exit code.
pub async fn run(
    settings: &Settings,
    options: &Options,
    name: &str,
    json: bool,
    connect_timeout: Duration,
) -> u8 {
    let found = settings.hosts.iter().find_map(|h| {
        let i = h.drills.iter().position(|d| d.name == name)?;
        Some((h, i))
    });
    let Some((host, index)) = found else {
        let names: Vec<&str> = settings
            .hosts
            .iter()
            .flat_map(|h| h.drills.iter().map(|d| d.name.as_str()))
            .collect();
        eprintln!(
            "error: no drill named `{name}` in the config; drills: {}",
            if names.is_empty() {
                "none (add a [[drill]])".to_owned()
            } else {
                names.join(", ")
            }
        );
        return EXIT_REFUSED;
    };
    let spec = host.drills[index].clone();
    if settings.read_only || host.read_only {
        eprintln!(
            "refused: drill {name} restores into {} on {}, and {} is read-only; nothing was done",
            spec.target_text(),
            host.name,
            if settings.read_only {
                "watchfloor"
            } else {
                host.name.as_str()
            }
        );
        return EXIT_REFUSED;
    }
    if let Err(why) = spec.refuse(host) {
        eprintln!("refused: {why}; nothing was done");
        return EXIT_REFUSED;
    }
    let mut say = Printer::new(json);
    let target = JobTarget::Drill {
        index,
        drill: spec.name.clone(),
        source: spec.source_name.clone(),
        backup: "the newest when it starts".into(),
        target: spec.target_text(),
    };
    let started_at = Timestamp::now();
    let mut audit_line = AuditRecord {
        time: started_at,
        job: JobId(0),
        user: settings.user.clone(),
        from: audit::ssh_client(),
        host: host.name.clone(),
        target,
        action: JobKind::Drill,
        pace: None,
        outcome: "started",
        duration_ms: 0,
        data_age_s: None,
        detail: Some("headless (watchfloor drill run)".into()),
        error: None,
    };
    let audit_file = audit::path(&settings.state_dir);
    write_or_warn(&audit_file, audit::append(&audit_file, &audit_line));
    say.line(format!(
        "drill {name} on {}: the newest backup of {} into the {}",
        host.name,
        spec.source_name,
        spec.target_text()
    ));
    let clock = Instant::now();
    let (outcome, record) = match crate::host::connect_once(host, options, connect_timeout).await {
        Err(e) => (JobOutcome::Refused(format!("{e}; nothing was done")), None),
        Ok(link) => run_job(link, host, &spec, &mut say).await,
    };
    let mut record = record.unwrap_or_else(|| bare(&spec, started_at));
    finalize(&mut record, &outcome);
    settings.user.clone_into(&mut record.user);
    record.headless = true;
    if record.outcome != DrillOutcome::Refused {
        let file = history::path(&settings.state_dir);
        write_or_warn(&file, history::append(&file, &record));
    }
    audit_line.outcome = outcome.audit_name();
    audit_line.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    audit_line.detail = outcome.is_success().then(|| outcome.text());
    audit_line.error = (!outcome.is_success()).then(|| outcome.text());
    write_or_warn(&audit_file, audit::append(&audit_file, &audit_line));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&record).unwrap_or_default()
        );
    } else {
        say.summary(&record);
    }
    match record.outcome {
        DrillOutcome::Pass => 0,
        DrillOutcome::Refused => EXIT_REFUSED,
        _ => EXIT_FAILED,
    }
}

/// Runs the job over `link`, printing its progress; Ctrl-C cancels it.
async fn run_job(
    link: Arc<dyn crate::link::Link>,
    host: &HostSpec,
    spec: &crate::config::drill::DrillSpec,
    say: &mut Printer,
) -> (JobOutcome, Option<DrillRun>) {
    let (tx, mut rx) = mpsc::channel::<AppEvent>(256);
    let report = Reporter::new(HostSender {
        id: HostId(0),
        events: tx,
    });
    let id = JobId(0);
    let work = Box::new(Drill::new(
        link,
        Arc::new(host.clone()),
        spec.clone(),
        id,
        report.clone(),
    ));
    let (cancel, cancelled) = watch::channel(false);
    let job = execute(id, work, cancelled, &report);
    tokio::pin!(job);
    let mut record = None;
    let mut interrupts = 0;
    let outcome = loop {
        tokio::select! {
            outcome = &mut job => break outcome,
            Some(ev) = rx.recv() => say.event(ev, &mut record),
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                if interrupts == 1 {
                    say.line("interrupted: cancelling; the scratch target is removed first (Ctrl-C again to leave it)".into());
                    cancel.send_replace(true);
                } else {
                    break JobOutcome::Cancelled { during: Some("interrupted twice: cleanup skipped".into()) };
                }
            }
        }
    };
    while let Ok(ev) = rx.try_recv() {
        say.event(ev, &mut record);
    }
    (outcome, record)
}

/// A record for a run that never got to send one (it could not connect).
fn bare(spec: &crate::config::drill::DrillSpec, started: Timestamp) -> DrillRun {
    DrillRun::begin(
        &spec.name,
        &spec.host,
        &spec.source_name,
        spec.target_text(),
        started,
    )
}

fn write_or_warn(file: &std::path::Path, r: std::io::Result<()>) {
    if let Err(e) = r {
        eprintln!("warning: could not write {}: {e}", file.display());
    }
}

/// Progress lines, each with the time since the start; to stderr when stdout is JSON.
struct Printer {
    json: bool,
    since: Instant,
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer {
            json,
            since: Instant::now(),
        }
    }

    fn line(&mut self, text: String) {
        // Archive names, server errors and tool output come from the host: never raw.
        let text = crate::sanitize::plain(&text);
        let line = format!("[{:>7.1}s] {text}\n", self.since.elapsed().as_secs_f64());
        // A closed pipe is not worth dying for: the record still goes to the history.
        let _ = if self.json {
            std::io::stderr().write_all(line.as_bytes())
        } else {
            std::io::stdout().write_all(line.as_bytes())
        };
    }

    fn event(&mut self, ev: AppEvent, record: &mut Option<DrillRun>) {
        let AppEvent::Host(_, HostEvent::Action(_, progress)) = ev else {
            return;
        };
        match progress {
            Progress::Step(s) => self.line(s),
            Progress::Output(lines) => {
                for l in lines {
                    self.line(format!("  {l}"));
                }
            }
            Progress::Drill(run) => *record = Some(*run),
            Progress::Done { .. } => {}
        }
    }

    fn summary(&mut self, r: &DrillRun) {
        let secs = |s: Option<f64>| crate::app::drills::secs_text(s);
        let mut text = format!(
            "drill {}: {} · RTO {} · RPO {}",
            r.drill,
            r.outcome.label(),
            secs(r.rto_s),
            secs(r.rpo_s)
        );
        if let Some(step) = r.step.as_ref().filter(|_| r.outcome != DrillOutcome::Pass) {
            text += &format!(" · step {step}");
        }
        if let Some(why) = &r.reason {
            text += &format!(": {why}");
        }
        self.line(text);
    }
}
