//! The real binary in a real terminal: tmux on a private server socket, `send-keys`,
//! `capture-pane`, and waits for text.

use std::process::Command;
use std::time::Duration;

use super::{sh, wait_for};

pub struct Tmux {
    socket: String,
    /// Holds the shell's startup file (dash ignores PS1 from the environment as root).
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// A detached session of `width`x`height` running `sh` with a recognisable prompt.
    pub fn new(width: u16, height: u16, env: &[(&str, String)]) -> Tmux {
        let socket = format!("wf-test-{}-{}", std::process::id(), rand_suffix());
        let dir = tempfile::tempdir().expect("tempdir");
        let rc = dir.path().join("shrc");
        std::fs::write(&rc, "PS1='wf-prompt$ '\n").expect("shrc");
        let t = Tmux { socket, _dir: dir };
        let mut cmd = t.cmd();
        cmd.args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
            // ssh's files come from the passwd home, not HOME: point watchfloor at the test's.
            if *k == "HOME" {
                cmd.args(["-e", &format!("WATCHFLOOR_SSH_HOME={v}")]);
            }
        }
        cmd.args(["-e", &format!("ENV={}", rc.display()), "sh"]);
        sh(&mut cmd);
        t
    }

    /// A 120x40 session whose HOME is `home` (state in `home/state`, config in
    /// `home/.config`), running watchfloor with `args` once the prompt shows.
    #[allow(dead_code)] // not every test binary starts the console this way
    pub fn console(home: &std::path::Path, args: &str) -> Tmux {
        let h = home.display().to_string();
        let env = [
            ("HOME", h.clone()),
            ("XDG_CONFIG_HOME", format!("{h}/.config")),
            ("XDG_STATE_HOME", format!("{h}/state")),
            ("TERM", "xterm-256color".to_owned()),
        ];
        let t = Tmux::new(120, 40, &env);
        t.wait_for_text(&["wf-prompt$"], Duration::from_secs(30));
        t.type_line(&format!("{} {args}", env!("CARGO_BIN_EXE_watchfloor")));
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        sh(self.cmd().args(["send-keys", "-l", text]));
        self.keys(&["Enter"]);
    }

    /// Types `text` literally, without Enter.
    #[allow(dead_code)] // not every test binary types text
    pub fn type_text(&self, text: &str) {
        sh(self.cmd().args(["send-keys", "-l", text]));
    }

    /// Sends tmux key names ("q", "Tab", "Escape", "Down", "3").
    pub fn keys(&self, keys: &[&str]) {
        sh(self.cmd().arg("send-keys").args(keys));
    }

    /// A tmux format about the pane, e.g. `#{pane_title}`.
    #[allow(dead_code)] // not every test binary asks
    pub fn display(&self, format: &str) -> String {
        sh(self.cmd().args(["display-message", "-p", format]))
            .trim()
            .to_owned()
    }

    pub fn screen(&self) -> String {
        sh(self.cmd().args(["capture-pane", "-p"]))
    }

    /// The screen with its colours and attributes as escape sequences, trailing blanks kept.
    #[allow(dead_code)] // not every test binary compares styles
    pub fn styled_screen(&self) -> String {
        sh(self.cmd().args(["capture-pane", "-p", "-e", "-N"]))
    }

    /// Waits until the screen contains every one of `texts`; returns that screen.
    pub fn wait_for_text(&self, texts: &[&str], timeout: Duration) -> String {
        let what = format!("{texts:?} on screen");
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(&what, timeout, || {
                last = self.screen();
                texts.iter().all(|t| last.contains(t)).then(|| last.clone())
            })
        }));
        found.unwrap_or_else(|_| {
            panic!("timed out after {timeout:?} waiting for {texts:?}; screen:\n{last}")
        })
    }

    /// Waits until `check` accepts the screen.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, timeout, || {
                last = self.screen();
                check(&last).then(|| last.clone())
            })
        }));
        found.unwrap_or_else(|_| {
            panic!("timed out after {timeout:?} waiting for {what}; screen:\n{last}")
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}
