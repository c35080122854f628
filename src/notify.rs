//! Notifications for a console nobody is looking at: when a new critical alert appears, the
//! terminal bell, a desktop notification through the terminal (OSC 9 and OSC 777, wrapped in
//! tmux's passthrough inside tmux), and `notify.command` run on this machine with the alert as
//! JSON on stdin; and the window title kept at the alert counts. Each is off by default
//! (`[notify]`). Nothing is written unless something changed: an idle console stays silent.
//! A failing command is reported once, never retried.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::app::alerts::Alert;
use crate::config::NotifyConfig;

/// How long a notify command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Desktop notifications are short; terminals truncate anyway.
const TEXT_CHARS: usize = 200;

pub struct Notifier {
    cfg: NotifyConfig,
    tmux: bool,
    /// The counts the title shows now.
    title: Option<(usize, usize)>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Notifier {
    pub fn new(cfg: NotifyConfig) -> Self {
        Notifier {
            cfg,
            tmux: std::env::var_os("TMUX").is_some(),
            title: None,
            failures: Arc::default(),
        }
    }

    /// The bytes for the terminal (bell, desktop notifications, title), for `new` critical
    /// alerts and the current (crit, warn) counts; starts the command for each new alert.
    pub fn on_alerts(&mut self, new: &[Alert], counts: (usize, usize)) -> Vec<u8> {
        let mut out = String::new();
        if !new.is_empty() {
            if self.cfg.bell {
                out.push('\x07');
            }
            if self.cfg.desktop {
                for a in new {
                    let text = line(a);
                    out += &wrap(&format!("\x1b]9;{text}\x07"), self.tmux);
                    let body = text.replace(';', ",");
                    out += &wrap(&format!("\x1b]777;notify;watchfloor;{body}\x07"), self.tmux);
                }
            }
            if let Some(cmd) = &self.cfg.command {
                for a in new {
                    self.run(cmd.clone(), a);
                }
            }
        }
        if self.cfg.title && self.title != Some(counts) {
            // The first time: keep the terminal's own title, to give it back at exit.
            if self.title.is_none() {
                out.push_str("\x1b[22;0t");
            }
            self.title = Some(counts);
            let text = match counts {
                (0, 0) => "watchfloor: ok".to_owned(),
                (c, w) => format!("watchfloor: {c} crit {w} warn"),
            };
            out += &format!("\x1b]2;{text}\x07");
        }
        out.into_bytes()
    }

    /// At exit: the title the terminal had before, if it was changed.
    pub fn finish(&self) -> &'static [u8] {
        if self.title.is_some() {
            b"\x1b[23;0t"
        } else {
            b""
        }
    }

    /// What went wrong with the command since the last call, for the status line.
    pub fn take_failure(&self) -> Option<String> {
        crate::lock(&self.failures).pop()
    }

    fn run(&self, cmd: String, alert: &Alert) {
        let json = serde_json::to_vec(alert).unwrap_or_default();
        let failures = self.failures.clone();
        std::thread::spawn(move || {
            if let Err(why) = run_command(&cmd, &json) {
                tracing::warn!("notify command `{cmd}`: {why}");
                crate::lock(&failures).push(format!("notify command `{cmd}`: {why}"));
            }
        });
    }
}

fn run_command(cmd: &str, input: &[u8]) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is its own business.
        let _ = stdin.write_all(input);
    }
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let last = err.lines().last().unwrap_or("").to_owned();
                return Err(format!("{s}: {}", crate::sanitize::plain(&last)));
            }
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {}s; killed",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// "CRIT db1: disk /var 95% used": sanitised (no escape can end the sequence early), short.
fn line(a: &Alert) -> String {
    let text = format!(
        "CRIT {}: {}",
        crate::sanitize::plain(&a.host_name),
        crate::sanitize::plain(&a.what)
    );
    text.chars()
        .filter(|c| !c.is_control())
        .take(TEXT_CHARS)
        .collect()
}

/// Inside tmux, an OSC reaches the outer terminal only through DCS passthrough (and tmux's
/// `allow-passthrough on`); its escapes are doubled.
fn wrap(seq: &str, tmux: bool) -> String {
    if tmux {
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else {
        seq.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::alerts::Severity;

    fn alert(what: &str) -> Alert {
        Alert::sample(Severity::Crit, "db1", what)
    }

    #[test]
    fn each_way_is_off_until_asked_and_idle_writes_nothing() {
        let mut n = Notifier::new(NotifyConfig::default());
        assert!(n.on_alerts(&[alert("x")], (1, 0)).is_empty());
        let cfg = NotifyConfig {
            bell: true,
            title: true,
            desktop: true,
            ..NotifyConfig::default()
        };
        let mut n = Notifier::new(cfg);
        n.tmux = false;
        let out = String::from_utf8(n.on_alerts(&[alert("disk /var 95%; full")], (1, 2))).unwrap();
        assert!(out.starts_with('\x07'), "{out:?}");
        assert!(
            out.contains("\x1b]9;CRIT db1: disk /var 95%; full\x07"),
            "{out:?}"
        );
        assert!(out.contains("\x1b]777;notify;watchfloor;CRIT db1: disk /var 95%, full\x07"));
        assert!(
            out.ends_with("\x1b[22;0t\x1b]2;watchfloor: 1 crit 2 warn\x07"),
            "the title kept first: {out:?}"
        );
        assert_eq!(n.finish(), b"\x1b[23;0t");
        assert!(
            n.on_alerts(&[], (1, 2)).is_empty(),
            "nothing changed: nothing written"
        );
        assert_eq!(n.on_alerts(&[], (0, 0)), b"\x1b]2;watchfloor: ok\x07");
    }

    #[test]
    fn hostile_text_cannot_end_the_sequence_and_tmux_gets_passthrough() {
        let mut n = Notifier::new(NotifyConfig {
            desktop: true,
            ..NotifyConfig::default()
        });
        n.tmux = true;
        let out = String::from_utf8(n.on_alerts(&[alert("evil\x07\x1b]2;pwned\x07 name")], (1, 0)))
            .unwrap();
        assert!(
            out.starts_with("\x1bPtmux;\x1b\x1b]9;CRIT db1: evil"),
            "{out:?}"
        );
        assert!(!out.contains("pwned\x07"), "{out:?}");
        assert_eq!(
            out.matches('\x07').count(),
            2,
            "one BEL per sequence: {out:?}"
        );
    }

    #[test]
    fn the_command_gets_the_alert_as_json_and_a_failure_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("got.json");
        let cmd = format!("cat > {}", file.display());
        run_command(&cmd, br#"{"severity":"crit"}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            r#"{"severity":"crit"}"#
        );
        let err = run_command("echo nope >&2; exit 3", b"{}").unwrap_err();
        assert!(
            err.contains("exit status: 3") && err.contains("nope"),
            "{err}"
        );
    }
}
