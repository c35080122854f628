//! Real OpenSSH for tests: `sshd` instances with generated host keys and an authorized client
//! key, on loopback ports or inside network namespaces; an `ssh-agent`; and ways to kill,
//! freeze and restart a server the way a host dies.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{sh, wait_for};

/// The client side: a home directory with ~/.ssh keys (unencrypted ed25519 and rsa, and an
/// encrypted ed25519) and known_hosts, all in a temp dir.
pub struct Client {
    pub home: tempfile::TempDir,
}

impl Client {
    pub fn new() -> Client {
        let home = tempfile::tempdir().expect("tempdir");
        let ssh = home.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        keygen(&ssh.join("id_ed25519"), "ed25519", "");
        keygen(&ssh.join("id_rsa"), "rsa", "");
        keygen(
            &home.path().join("locked_ed25519"),
            "ed25519",
            "a passphrase",
        );
        Client { home }
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.home.path().join(".ssh")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir().join("known_hosts")
    }

    /// Public key lines of every client key, for authorized_keys.
    pub fn public_keys(&self) -> String {
        ["id_ed25519.pub", "id_rsa.pub"]
            .iter()
            .map(|f| std::fs::read_to_string(self.ssh_dir().join(f)).unwrap())
            .collect::<String>()
            + &std::fs::read_to_string(self.home.path().join("locked_ed25519.pub")).unwrap()
    }

    /// Records `server`'s host key for its address, as `ssh` would after "yes".
    pub fn trust(&self, server: &Sshd) {
        let line = format!("{} {}", server.known_hosts_name(), server.host_key_line());
        append(&self.known_hosts(), &line);
    }

    /// Writes ~/.ssh/config.
    pub fn ssh_config(&self, text: &str) {
        std::fs::write(self.ssh_dir().join("config"), text).unwrap();
    }
}

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let bits: &[&str] = if kind == "rsa" { &["-b", "2048"] } else { &[] };
    sh(Command::new("ssh-keygen")
        .args(["-q", "-t", kind])
        .args(bits)
        .arg("-N")
        .arg(passphrase)
        .arg("-C")
        .arg(format!("test-{kind}"))
        .arg("-f")
        .arg(path));
}

pub fn append(file: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A running `sshd -D`.
pub struct Sshd {
    pub addr: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    netns: Option<String>,
    child: Option<Child>,
}

impl Sshd {
    /// An sshd on `addr` (a loopback address, or an address inside `netns`) that lets
    /// `client`'s keys in as root.
    pub fn start(client: &Client, addr: &str, netns: Option<&str>) -> Sshd {
        let dir = tempfile::tempdir().expect("tempdir");
        keygen(&dir.path().join("host_ed25519"), "ed25519", "");
        std::fs::write(dir.path().join("authorized_keys"), client.public_keys()).unwrap();
        let port = free_port(addr, netns);
        let mut s = Sshd {
            addr: addr.to_owned(),
            port,
            dir,
            netns: netns.map(str::to_owned),
            child: None,
        };
        s.write_config();
        s.spawn();
        s
    }

    fn write_config(&self) {
        // Sessions get an empty home: bash run by sshd sources ~/.bashrc, and this machine's
        // root dotfiles (pyenv init behind a lock a killed shell left) can hang every command.
        std::fs::create_dir_all(self.dir.path().join("home")).unwrap();
        let d = self.dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress {addr}\nHostKey {d}/host_ed25519\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowTcpForwarding yes\n\
             AllowStreamLocalForwarding yes\nMaxSessions 10\nLogLevel VERBOSE\n\
             SetEnv HOME={d}/home\n",
            port = self.port,
            addr = self.addr
        );
        std::fs::write(self.dir.path().join("sshd_config"), config).unwrap();
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all("/run/sshd").unwrap(); // the privilege-separation directory
        let d = self.dir.path();
        let mut cmd = self.command();
        cmd.arg("/usr/sbin/sshd")
            .args(["-D", "-f"])
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"));
        self.child = Some(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sshd (openssh-server) must be installed"),
        );
        let (addr, port) = (self.addr.clone(), self.port);
        let probe = self.netns.clone();
        wait_for("sshd to listen", Duration::from_secs(10), || {
            listening(&addr, port, probe.as_deref()).then_some(())
        });
    }

    fn command(&self) -> Command {
        match &self.netns {
            None => Command::new("env"),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
        }
    }

    /// "addr" for port 22, "[addr]:port" otherwise: the known_hosts name.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.addr.clone()
        } else {
            format!("[{}]:{}", self.addr, self.port)
        }
    }

    /// "ssh-ed25519 AAAA…" of the server's host key.
    pub fn host_key_line(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `user@addr:port` for watchfloor's `ssh = ` setting.
    pub fn spec(&self) -> String {
        format!("root@{}:{}", self.addr, self.port)
    }

    /// Signs the host key with a new CA and has sshd present the certificate; returns the
    /// CA's public key line ("ssh-ed25519 AAAA…") for a `@cert-authority` line.
    #[allow(dead_code)] // only the SSH tests use it
    pub fn present_host_certificate(&mut self) -> String {
        let d = self.dir.path().to_path_buf();
        keygen(&d.join("ca"), "ed25519", "");
        sh(Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(d.join("ca"))
            .args(["-I", "test-host", "-h", "-n", &self.addr])
            .arg(d.join("host_ed25519.pub")));
        append(
            &d.join("sshd_config"),
            &format!(
                "HostCertificate {}",
                d.join("host_ed25519-cert.pub").display()
            ),
        );
        self.kill();
        self.spawn();
        let ca = std::fs::read_to_string(d.join("ca.pub")).unwrap();
        ca.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }

    /// Restarts the server allowing only `n` sessions per connection (sshd's MaxSessions).
    #[allow(dead_code)] // only the SSH tests use it
    pub fn max_sessions(&mut self, n: u32) {
        let path = self.dir.path().join("sshd_config");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("MaxSessions 10", &format!("MaxSessions {n}")),
        )
        .unwrap();
        self.kill();
        self.spawn();
    }

    /// Replaces the host key, as a reinstalled (or impersonated) server would have.
    pub fn new_host_key(&mut self) {
        let key = self.dir.path().join("host_ed25519");
        std::fs::remove_file(&key).unwrap();
        std::fs::remove_file(key.with_extension("pub")).unwrap();
        keygen(&key, "ed25519", "");
        self.kill();
        self.spawn();
    }

    /// Kills the server and every session it forked: the host is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pids = descendants(child.id());
            quiet(
                Command::new("kill")
                    .arg("-KILL")
                    .arg(child.id().to_string())
                    .args(pids.iter().map(u32::to_string)),
            );
            let _ = child.wait();
        }
    }

    /// Starts it again on the same address, port and keys.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server and its sessions: a hung host.
    pub fn signal_all(&self, signal: &str) {
        if let Some(child) = &self.child {
            let mut pids = descendants(child.id());
            pids.push(child.id());
            quiet(
                Command::new("kill")
                    .arg(format!("-{signal}"))
                    .args(pids.iter().map(u32::to_string)),
            );
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.signal_all("CONT");
        self.kill();
    }
}

/// Every process below `pid`, from /proc (children first found, then theirs).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Field 4 after the ")" that closes the command name is the parent pid.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok());
        if let Some(ppid) = ppid {
            all.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, pp) in &all {
            if *pp == parent && !out.contains(p) {
                out.push(*p);
                frontier.push(*p);
            }
        }
    }
    out
}

fn free_port(addr: &str, netns: Option<&str>) -> u16 {
    if netns.is_some() {
        return 22; // a namespace of its own: nothing else listens there
    }
    std::net::TcpListener::bind((addr, 0))
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

fn listening(addr: &str, port: u16, netns: Option<&str>) -> bool {
    match netns {
        None => TcpStream::connect_timeout(
            &format!("{addr}:{port}").parse().unwrap(),
            Duration::from_millis(200),
        )
        .is_ok(),
        Some(ns) => Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "ss",
                "-Hltn",
                &format!("sport = :{port}"),
            ])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty()),
    }
}

/// An `ssh-agent` holding some of the client's keys.
pub struct Agent {
    pub socket: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(keys: &[&Path]) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        wait_for("ssh-agent socket", Duration::from_secs(5), || {
            socket.exists().then_some(())
        });
        for key in keys {
            sh(Command::new("ssh-add")
                .arg("-q")
                .arg(key)
                .env("SSH_AUTH_SOCK", &socket));
        }
        Agent {
            socket,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SSH link to `server` as root with `client`'s keys (no agent), named `name`.
#[allow(dead_code)] // not every test binary connects in-process
pub async fn link(
    client: &Client,
    server: &Sshd,
    name: &str,
) -> std::sync::Arc<dyn watchfloor::link::Link> {
    use watchfloor::link::ssh::session::{self, Options};
    let mut t = watchfloor::link::ssh::target::SshConfig::parse_str("")
        .unwrap()
        .resolve(&server.spec(), "root", client.home.path())
        .unwrap();
    t.identity_agent = Some("none".into());
    let c = session::connect(name, &t, &Options::default(), &mut |_, _| {})
        .await
        .unwrap();
    std::sync::Arc::new(watchfloor::link::ssh::Ssh::new(name.into(), c))
}

/// Two network namespaces: a bastion reachable from here, and a target reachable only from
/// the bastion (no forwarding, and an unreachable route here for the whole test range).
pub struct JumpNet {
    pub bastion_ns: String,
    pub target_ns: String,
    /// The bastion's address as seen from here.
    pub bastion_addr: String,
    /// The target's address as seen from the bastion.
    pub target_addr: String,
    /// The bastion's address as seen from the target.
    pub bastion_inner_addr: String,
    pub tag: u32,
    host_veth: String,
}

/// Test networks live in 10.213.0.0/16; traffic for it never leaves through the default route.
const TEST_RANGE: &str = "10.213.0.0/16";

impl JumpNet {
    pub fn new() -> JumpNet {
        // Unique per process and per call: namespaces and interfaces are global names.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tag = (std::process::id() + n * 37) % 100 + 1;
        let (b, t) = (format!("wfb{tag}"), format!("wft{tag}"));
        let ip = |args: &[&str]| sh(Command::new("ip").args(args));
        quiet(Command::new("ip").args(["route", "add", "unreachable", TEST_RANGE])); // may exist already
        for ns in [&b, &t] {
            quiet(Command::new("ip").args(["netns", "del", ns]));
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let host_veth = format!("wfh{tag}");
        quiet(Command::new("ip").args(["link", "del", &host_veth]));
        ip(&[
            "link", "add", &host_veth, "type", "veth", "peer", "name", "eth0", "netns", &b,
        ]);
        ip(&[
            "link",
            "add",
            &format!("wfbt{tag}"),
            "netns",
            &b,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &t,
        ]);
        let (host_ip, bastion_ip) = (format!("10.213.{tag}.1"), format!("10.213.{tag}.2"));
        let (bastion_inner, target_ip) = (
            format!("10.213.{}.1", tag + 100),
            format!("10.213.{}.2", tag + 100),
        );
        ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &host_veth]);
        ip(&["link", "set", &host_veth, "up"]);
        ip(&[
            "-n",
            &b,
            "addr",
            "add",
            &format!("{bastion_ip}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &b, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &b,
            "addr",
            "add",
            &format!("{bastion_inner}/24"),
            "dev",
            &format!("wfbt{tag}"),
        ]);
        ip(&["-n", &b, "link", "set", &format!("wfbt{tag}"), "up"]);
        ip(&[
            "-n",
            &t,
            "addr",
            "add",
            &format!("{target_ip}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &t, "link", "set", "eth0", "up"]);
        JumpNet {
            bastion_ns: b,
            target_ns: t,
            bastion_addr: bastion_ip,
            target_addr: target_ip,
            bastion_inner_addr: bastion_inner,
            tag,
            host_veth,
        }
    }
}

impl Drop for JumpNet {
    fn drop(&mut self) {
        for ns in [&self.bastion_ns, &self.target_ns] {
            quiet(Command::new("ip").args(["netns", "del", ns]));
        }
        quiet(Command::new("ip").args(["link", "del", &self.host_veth]));
    }
}

/// Runs a best-effort cleanup command, ignoring its result and output.
fn quiet(cmd: &mut Command) {
    let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
}
