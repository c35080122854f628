//! Test harness: real daemons on this machine, no mocks. A private dockerd (its own data-root,
//! exec-root and socket) shared by the tests of one binary, or the one `scripts/test.sh`
//! started (WATCHFLOOR_TEST_DOCKER_HOST); a busybox image made with `docker import`; tmux
//! sessions on a private server socket; and polling waits with deadlines instead of sleeps.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod postgres;
pub mod sshd;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The image every test container runs: a static busybox, imported from a directory.
pub const IMAGE: &str = "wf-busybox:test";

/// `docker run` flags for a container whose health stays "starting" for 10 minutes: a
/// restart waits on it, so a job stays in flight for as long as a test needs.
#[allow(dead_code)] // not every test binary runs one
pub const NEVER_HEALTHY: &[&str] = &[
    "--health-cmd",
    "false",
    "--health-interval",
    "30s",
    "--health-start-period",
    "600s",
];

/// Polls `check` every 50 ms until it returns Some, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command and returns its stdout; panics with stderr on failure.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Docker daemon for tests. Dropping the last handle stops a daemon the harness started.
pub struct Docker {
    pub socket: PathBuf,
    daemon: Option<(Child, tempfile::TempDir)>,
}

static SHARED: Mutex<Weak<Docker>> = Mutex::new(Weak::new());

impl Docker {
    /// The daemon of this test binary: the one named by WATCHFLOOR_TEST_DOCKER_HOST, or a
    /// private one started now and stopped when the last test holding it ends.
    pub fn shared() -> Arc<Docker> {
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = slot.upgrade() {
            return d;
        }
        let d = Arc::new(match std::env::var("WATCHFLOOR_TEST_DOCKER_HOST") {
            Ok(host) => Docker {
                socket: PathBuf::from(host.trim_start_matches("unix://")),
                daemon: None,
            },
            Err(_) => Docker::start(),
        });
        d.ensure_image();
        *slot = Arc::downgrade(&d);
        d
    }

    fn start() -> Docker {
        let dir = tempfile::Builder::new()
            .prefix("wfd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log file");
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd must be installed (scripts/test.sh installs docker.io)");
        let d = Docker {
            socket,
            daemon: Some((child, dir)),
        };
        wait_for("dockerd to answer", Duration::from_secs(60), || {
            d.cli()
                .arg("version")
                .output()
                .ok()
                .filter(|o| o.status.success())
        });
        d
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A `docker` command talking to this daemon.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_CONTEXT");
        c
    }

    pub fn run(&self, args: &[&str]) -> String {
        sh(self.cli().args(args)).trim().to_owned()
    }

    fn ensure_image(&self) {
        if self
            .cli()
            .args(["image", "inspect", IMAGE])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static must be installed");
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        // Relative links: `busybox --install -s` would point at the host's absolute path.
        for applet in sh(Command::new(busybox).arg("--list"))
            .lines()
            .filter(|a| *a != "busybox")
        {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        sh(self
            .cli()
            .args(["import", "-", IMAGE])
            .stdin(tar.stdout.take().unwrap()));
        assert!(
            tar.wait().unwrap().success(),
            "tar of the image root failed"
        );
    }

    /// Starts a container of compose `project`/`service` (replica `n`) running `cmd`.
    pub fn compose_container(
        &self,
        project: &str,
        service: &str,
        n: u32,
        extra: &[&str],
        cmd: &[&str],
    ) -> String {
        let name = format!("{project}-{service}-{n}");
        let labels = [
            format!("com.docker.compose.project={project}"),
            format!("com.docker.compose.service={service}"),
            format!("com.docker.compose.container-number={n}"),
            "com.docker.compose.oneoff=False".to_owned(),
        ];
        let mut flags = Vec::new();
        for l in &labels {
            flags.extend(["--label", l.as_str()]);
        }
        flags.extend(extra);
        self.container(&name, &flags, cmd);
        name
    }

    /// Starts container `name` of the test image, without a network, running `cmd`.
    pub fn container(&self, name: &str, flags: &[&str], cmd: &[&str]) {
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend(flags);
        args.push(IMAGE);
        args.extend(cmd);
        self.run(&args);
    }

    /// Removes every container of `project` (by label), and `names` besides.
    pub fn remove_project(&self, project: &str, names: &[&str]) {
        let ids = self.run(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ]);
        let mut args: Vec<&str> = vec!["rm", "-f"];
        args.extend(ids.lines());
        args.extend(names);
        if args.len() > 2 {
            let _ = self.cli().args(&args).output();
        }
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if let Some((mut child, dir)) = self.daemon.take() {
            // Stop the containers first so containerd's shims go too, then dockerd itself.
            let _ = self.cli().args(["ps", "-q"]).output().map(|o| {
                let ids = String::from_utf8_lossy(&o.stdout).into_owned();
                if !ids.trim().is_empty() {
                    let _ = self
                        .cli()
                        .args(["kill"])
                        .args(ids.split_whitespace())
                        .output();
                }
            });
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            // vfs layers can be large; the TempDir removes them.
            drop(dir);
        }
    }
}

/// A config file for the binary: one local host watching this test daemon.
pub fn local_config(dir: &Path, docker: &Docker, extra: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[[host]]\nname = \"local\"\ndocker_socket = \"{}\"\n{extra}",
        docker.socket.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Environment for running the binary without touching the real user's config and state.
pub fn isolated_env(cmd: &mut Command, home: &Path) {
    // SSH files come from the passwd home, as for ssh; the test's home stands in for it.
    cmd.env("HOME", home)
        .env("WATCHFLOOR_SSH_HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env_remove("NO_COLOR")
        .env_remove("DOCKER_HOST");
}
