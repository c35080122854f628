//! The SSH link against real OpenSSH (sshd, ssh-agent, ssh-keygen), no mocks: agent and key
//! file auth, strict host keys (unknown, accept-new, changed, swapped type, hashed, revoked),
//! ProxyJump to a host only the bastion can reach, Docker over the link, 20 concurrent execs;
//! ProxyCommand (through `nc`, resolved by the built-in reader and by `ssh -G` alike, and one
//! that fails), StrictHostKeyChecking no, and a host presenting a certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::sshd::{Agent, Client, JumpNet, Sshd, append};
use watchfloor::link::ssh::Ssh;
use watchfloor::link::ssh::session::{self, Options};
use watchfloor::link::ssh::target::{SshConfig, Target};
use watchfloor::link::{Link, LinkError, run};

/// The target for `spec` as ~/.ssh/config in `client`'s home resolves it, with the agent
/// chosen explicitly (tests run in parallel: SSH_AUTH_SOCK is not theirs to set).
fn target(client: &Client, spec: &str, agent: Option<&Agent>) -> Target {
    let config = SshConfig::load_for_home(client.home.path()).unwrap();
    let mut t = config.resolve(spec, "root", client.home.path()).unwrap();
    t.identity_agent =
        Some(agent.map_or_else(|| "none".to_owned(), |a| a.socket.display().to_string()));
    t
}

async fn connect(t: &Target, accept_new: bool) -> Result<Ssh, LinkError> {
    let c = session::connect(
        "test",
        t,
        &Options {
            accept_new,
            ..Options::default()
        },
        &mut |_, _| {},
    )
    .await?;
    Ok(Ssh::new("test".into(), c))
}

async fn echo(link: &dyn Link, text: &str) -> String {
    let out = run(link, &format!("echo {text}"), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(out.status.success(), "{:?}", out);
    out.stdout_text().trim().to_owned()
}

fn fingerprint(pubkey: &Path) -> String {
    let out = common::sh(
        std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(pubkey),
    );
    out.split_whitespace().nth(1).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_auth_and_key_file_auth_work_and_an_encrypted_key_says_ssh_add() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    // Agent only: the agent holds the RSA key (signed with SHA-2), no key files on disk used.
    let agent = Agent::start(&[&client.ssh_dir().join("id_rsa")]);
    let mut t = target(&client, &server.spec(), Some(&agent));
    t.identity_files.clear();
    assert_eq!(
        echo(&connect(&t, false).await.unwrap(), "via-agent").await,
        "via-agent"
    );

    // Key file only.
    let t = target(&client, &server.spec(), None);
    assert_eq!(
        echo(&connect(&t, false).await.unwrap(), "via-file").await,
        "via-file"
    );

    // Only an encrypted key and no agent: refused with what to do, never a prompt.
    let mut t = target(&client, &server.spec(), None);
    t.identity_files = vec![client.home.path().join("locked_ed25519")];
    let err = connect(&t, false).await.err().unwrap();
    assert!(matches!(err, LinkError::EncryptedKey { .. }), "{err}");
    assert!(err.to_string().contains("ssh-add"), "{err}");

    // A key the server does not know: auth failed, naming what was tried.
    let other = tempfile::tempdir().unwrap();
    let stray = other.path().join("stray");
    common::sh(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&stray),
    );
    t.identity_files = vec![stray.clone()];
    let err = connect(&t, false).await.err().unwrap();
    assert!(matches!(err, LinkError::Auth { .. }), "{err}");
    assert!(
        err.to_string().contains(&stray.display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused_with_its_fingerprint_and_accept_new_records_it() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    let t = target(&client, &server.spec(), None);
    let err = connect(&t, false).await.err().unwrap();
    let expected = fingerprint(&server.dir.path().join("host_ed25519.pub"));
    match &err {
        LinkError::UnknownHostKey { fingerprint, .. } => assert_eq!(fingerprint, &expected),
        other => panic!("expected an unknown host key, got {other}"),
    }
    assert!(
        err.to_string().contains("watchfloor --accept-new check"),
        "{err}"
    );
    assert!(
        !client.known_hosts().exists(),
        "nothing is written without --accept-new"
    );

    let link = connect(&t, true).await.unwrap();
    assert_eq!(echo(&link, "accepted").await, "accepted");
    let recorded = std::fs::read_to_string(client.known_hosts()).unwrap();
    assert!(
        recorded.contains(&server.known_hosts_name()) && recorded.contains(&server.host_key_line()),
        "{recorded}"
    );
    // OpenSSH agrees with what was written.
    common::sh(
        std::process::Command::new("ssh-keygen")
            .arg("-F")
            .arg(server.known_hosts_name())
            .arg("-f")
            .arg(client.known_hosts()),
    );
    assert_eq!(
        echo(&connect(&t, false).await.unwrap(), "known").await,
        "known"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_is_refused_even_with_accept_new() {
    let client = Client::new();
    let mut server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    server.new_host_key();
    let before = std::fs::read_to_string(client.known_hosts()).unwrap();
    let t = target(&client, &server.spec(), None);
    for accept_new in [false, true] {
        let err = connect(&t, accept_new).await.err().unwrap();
        assert!(matches!(err, LinkError::ChangedHostKey { .. }), "{err}");
        assert!(err.to_string().contains("ssh-keygen -R"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(client.known_hosts()).unwrap(),
        before,
        "known_hosts untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_presenting_an_unrecorded_key_type_is_changed_not_unknown() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    // known_hosts records only an RSA key for this address (the server has only Ed25519).
    let other = tempfile::tempdir().unwrap();
    let rsa = other.path().join("rsa_host");
    common::sh(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
            .arg(&rsa),
    );
    let rsa_line = std::fs::read_to_string(rsa.with_extension("pub")).unwrap();
    let rsa_line: Vec<&str> = rsa_line.split_whitespace().take(2).collect();
    append(
        &client.known_hosts(),
        &format!("{} {}", server.known_hosts_name(), rsa_line.join(" ")),
    );
    let t = target(&client, &server.spec(), None);
    let err = connect(&t, true).await.err().unwrap();
    assert!(
        matches!(err, LinkError::ChangedHostKey { .. }),
        "accept-new must not trust a swapped key type: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_entries_are_accepted_and_revoked_keys_refused() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    common::sh(
        std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(client.known_hosts()),
    );
    let hashed = std::fs::read_to_string(client.known_hosts()).unwrap();
    assert!(
        hashed.starts_with("|1|") && !hashed.contains("127.0.0.1"),
        "{hashed}"
    );
    let t = target(&client, &server.spec(), None);
    assert_eq!(
        echo(&connect(&t, false).await.unwrap(), "hashed").await,
        "hashed"
    );

    append(
        &client.known_hosts(),
        &format!("@revoked * {}", server.host_key_line()),
    );
    let err = connect(&t, false).await.err().unwrap();
    assert!(matches!(err, LinkError::RevokedHostKey { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_reaches_a_host_only_the_bastion_can_reach() {
    let net = JumpNet::new();
    let client = Client::new();
    let bastion = Sshd::start(&client, &net.bastion_addr, Some(&net.bastion_ns));
    let inner = Sshd::start(&client, &net.target_addr, Some(&net.target_ns));
    client.trust(&bastion);
    client.trust(&inner);
    client.ssh_config(&format!(
        "Host bastion\n  HostName {}\n  User root\n\nHost app\n  HostName {}\n  User root\n  ProxyJump bastion\n",
        net.bastion_addr, net.target_addr
    ));

    // Directly: no route.
    let mut direct = target(&client, "app", None);
    direct.jumps.clear();
    direct.connect_timeout = Some(Duration::from_secs(3));
    assert!(matches!(
        connect(&direct, false).await,
        Err(LinkError::Connect { .. } | LinkError::Timeout { .. })
    ));

    // Through the bastion: the command runs in the target's namespace.
    let t = target(&client, "app", None);
    assert_eq!(t.jumps.len(), 1);
    let link = connect(&t, false).await.unwrap();
    let out = run(&link, "ip -o -4 addr show eth0", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        out.stdout_text().contains(&net.target_addr),
        "{}",
        out.stdout_text()
    );

    // The target's sshd gone: the error names the jump host as the jump host and the target
    // by its address and configured name, never one for the other.
    drop(link);
    let mut gone = inner;
    gone.kill();
    let err = connect(&t, false).await.err().unwrap().to_string();
    assert!(
        err.starts_with(&format!(
            "cannot connect to {} for test: jump host bastion could not reach it",
            net.target_addr
        )),
        "{err}"
    );
    let inner = gone;

    // Each hop's key is checked: an unknown bastion key refuses the whole chain.
    std::fs::write(
        client.known_hosts(),
        format!("{} {}\n", inner.known_hosts_name(), inner.host_key_line()),
    )
    .unwrap();
    let err = connect(&t, false).await.err().unwrap();
    assert!(
        matches!(&err, LinkError::UnknownHostKey { addr, .. } if addr == &bastion.known_hosts_name()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_over_ssh_and_twenty_concurrent_execs() {
    let docker = common::Docker::shared();
    let project = "overssh";
    docker.remove_project(project, &[]);
    docker.compose_container(project, "api", 1, &[], &["sleep", "100000"]);
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let link: Arc<Ssh> = Arc::new(
        connect(&target(&client, &server.spec(), None), false)
            .await
            .unwrap(),
    );

    let mut watcher = watchfloor::collect::containers::Watcher::new(
        link.clone(),
        docker.socket.display().to_string(),
        Duration::from_secs(3600),
        tokio::sync::watch::channel(()).1,
    );
    let snap = watcher.next().await.unwrap();
    assert!(
        snap.containers
            .iter()
            .any(|c| c.name == "overssh-api-1" && c.service.as_deref() == Some("api"))
    );

    // OpenSSH allows 10 sessions per connection; 20 at once must all succeed (queued).
    let runs = (0..20).map(|i| {
        let link = link.clone();
        async move {
            run(
                &*link,
                &format!("sleep 0.3; echo {i}"),
                Duration::from_secs(30),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(runs).await;
    for (i, r) in results.into_iter().enumerate() {
        let out = r.unwrap_or_else(|e| panic!("exec {i}: {e}"));
        assert_eq!(out.stdout_text().trim(), i.to_string());
    }
    docker.remove_project(project, &[]);
}

/// Host health read through a real sshd: one exec per sample, and the figures are this
/// machine's (the sshd runs here): the same MemTotal and CPU count as /proc says locally.
#[tokio::test]
async fn host_health_through_sshd_is_this_machines_proc_in_one_exec() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use watchfloor::link::{ByteStream, Exec};

    /// Counts the execs a collector makes over the real link.
    struct Counting(Ssh, AtomicUsize);
    impl Link for Counting {
        fn host(&self) -> &str {
            self.0.host()
        }
        fn exec(&self, c: &str) -> futures_util::future::BoxFuture<'_, Result<Exec, LinkError>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.exec(c)
        }
        fn open_unix(
            &self,
            p: &str,
        ) -> futures_util::future::BoxFuture<'_, Result<ByteStream, LinkError>> {
            self.0.open_unix(p)
        }
        fn open_tcp(
            &self,
            h: &str,
            p: u16,
        ) -> futures_util::future::BoxFuture<'_, Result<ByteStream, LinkError>> {
            self.0.open_tcp(h, p)
        }
    }

    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let t = target(&client, &server.spec(), None);
    let link = Counting(connect(&t, false).await.unwrap(), AtomicUsize::new(0));
    let mut last = None;
    let first = watchfloor::collect::health::sample(&link, &mut last)
        .await
        .unwrap();
    assert_eq!(
        link.1.load(Ordering::SeqCst),
        1,
        "the first sample reads twice in one exec"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = watchfloor::collect::health::sample(&link, &mut last)
        .await
        .unwrap();
    assert_eq!(link.1.load(Ordering::SeqCst), 2);

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert_eq!(first.mem_total_bytes, total_kb * 1024);
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(first.cpus as usize, cpus);
    for s in [&first, &second] {
        let cpu = s.cpu_pct.expect("a CPU figure");
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        assert!(s.mem_used_bytes <= s.mem_total_bytes);
        assert!(s.load.iter().all(|l| *l >= 0.0));
    }
    assert!(second.uptime >= first.uptime);
}

/// ~/.ssh/config's StrictHostKeyChecking for the host decides whether an unknown key may be
/// recorded, as ssh's does: `yes` never (not even with --accept-new), `accept-new` without
/// being asked. HostKeyAlias is the name the key is looked up and recorded under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_host_key_checking_and_host_key_alias_are_followed() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);

    client.ssh_config("Host 127.0.0.1\n  StrictHostKeyChecking yes\n");
    let t = target(&client, &server.spec(), None);
    let err = connect(&t, true).await.err().unwrap();
    assert!(matches!(err, LinkError::PinnedHostKey { .. }), "{err}");
    assert!(
        err.to_string().contains("StrictHostKeyChecking yes"),
        "{err}"
    );
    assert!(!client.known_hosts().exists(), "nothing recorded");

    client.ssh_config(
        "Host 127.0.0.1\n  StrictHostKeyChecking accept-new\n  HostKeyAlias DB-Primary\n",
    );
    let t = target(&client, &server.spec(), None);
    assert_eq!(t.host_key_alias.as_deref(), Some("db-primary"));
    let link = connect(&t, false).await.unwrap();
    assert_eq!(echo(&link, "learnt").await, "learnt");
    let recorded = std::fs::read_to_string(client.known_hosts()).unwrap();
    assert!(
        recorded.starts_with("db-primary ") && recorded.contains(&server.host_key_line()),
        "recorded under the alias: {recorded}"
    );
    // OpenSSH finds it under the alias too.
    common::sh(
        std::process::Command::new("ssh-keygen")
            .args(["-F", "db-primary", "-f"])
            .arg(client.known_hosts()),
    );
    // Another key under the alias is a changed key, refused even with --accept-new.
    let other = common::sshd::Sshd::start(&client, "127.0.0.1", None);
    let t = target(&client, &other.spec(), None);
    let err = connect(&t, true).await.err().unwrap();
    assert!(matches!(err, LinkError::ChangedHostKey { .. }), "{err}");
}

/// ProxyCommand: ssh's own way through Tailscale, cloudflared or a bastion's `nc`. The session
/// runs over the command's stdin and stdout; `ssh -G` and the built-in reader resolve the same
/// command; a command that fails is reported with what it said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_command_carries_the_session_and_a_failing_one_says_why() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let home = client.home.path().display().to_string();
    // Every file named, so ssh -G (whose ~ is the passwd home) resolves the same paths.
    client.ssh_config(&format!(
        "Host via-nc\n  HostName 127.0.0.1\n  Port {}\n  User root\n  ProxyCommand nc %h %p\n\
         Host broken\n  ProxyCommand sh -c 'echo no route to %h >&2; exit 1'\n\
         Host *\n  IdentityFile {home}/.ssh/id_ed25519\n  UserKnownHostsFile {home}/.ssh/known_hosts\n  IdentityAgent none\n",
        server.port
    ));
    let builtin = target(&client, "via-nc", None);
    assert_eq!(
        builtin.proxy_command.as_deref(),
        Some(format!("nc 127.0.0.1 {}", server.port).as_str())
    );
    let openssh = SshConfig::openssh(
        Some(&client.ssh_dir().join("config")),
        Some(client.home.path()),
    )
    .expect("OpenSSH's ssh client (apt: openssh-client)");
    let me = watchfloor::passwd::current().unwrap().name;
    let via_ssh = openssh.resolve("via-nc", &me, client.home.path()).unwrap();
    assert_eq!(
        via_ssh.proxy_command, builtin.proxy_command,
        "ssh -G agrees"
    );
    for t in [&builtin, &via_ssh] {
        let link = connect(t, false).await.unwrap();
        assert_eq!(echo(&link, "through-nc").await, "through-nc");
    }

    let t = target(&client, "broken", None);
    let err = connect(&t, false).await.err().unwrap().to_string();
    assert!(
        err.contains("the command said: no route to broken"),
        "{err}"
    );
}

/// StrictHostKeyChecking no does not make watchfloor connect to a host it cannot verify; it
/// says so, and --accept-new (an explicit decision) still records the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_host_key_checking_no_still_refuses_an_unverified_host() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.ssh_config("Host 127.0.0.1\n  StrictHostKeyChecking no\n");
    let t = target(&client, &server.spec(), None);
    let err = connect(&t, false).await.err().unwrap();
    assert!(matches!(err, LinkError::UncheckedHostKey { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("never connects to a host it cannot verify"),
        "{err}"
    );
    assert!(!client.known_hosts().exists());
    let link = connect(&t, true).await.unwrap();
    assert_eq!(echo(&link, "verified").await, "verified");
}

/// A host vouched for by a @cert-authority line presents a certificate to ssh; watchfloor does
/// not check certificates, so it says that instead of "unknown key: --accept-new", and records
/// nothing even when asked to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_certificate_is_named_as_unsupported_and_never_pinned() {
    let client = Client::new();
    let mut server = Sshd::start(&client, "127.0.0.1", None);
    let ca = server.present_host_certificate();
    append(
        &client.known_hosts(),
        &format!("@cert-authority 127.0.0.1 {ca}"),
    );
    // OpenSSH itself accepts the host through the CA.
    let ok = std::process::Command::new("ssh")
        .args([
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            client.known_hosts().display()
        ))
        .arg("-i")
        .arg(client.ssh_dir().join("id_ed25519"))
        .args(["-p", &server.port.to_string(), "root@127.0.0.1", "true"])
        .status()
        .unwrap();
    assert!(ok.success(), "ssh verifies the certificate");
    let before = std::fs::read_to_string(client.known_hosts()).unwrap();
    let t = target(&client, &server.spec(), None);
    for accept_new in [false, true] {
        let err = connect(&t, accept_new).await.err().unwrap();
        assert!(
            matches!(err, LinkError::CertAuthorityHostKey { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("does not support host certificates"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(client.known_hosts()).unwrap(),
        before
    );
}

/// The session's round trip (for "slow" before "down"): measured by a ping sshd answers; a
/// hung host gives no answer within the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_trip_is_measured_and_a_hung_host_gives_none() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let t = target(&client, &server.spec(), None);
    let link = connect(&t, false).await.unwrap();
    let rtt = link
        .round_trip(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert!(rtt < Duration::from_secs(1), "{rtt:?} on loopback");
    server.signal_all("STOP");
    let hung = link.round_trip(Duration::from_millis(500)).await;
    server.signal_all("CONT");
    assert_eq!(hung, None);
    assert!(
        link.round_trip(Duration::from_secs(5)).await.is_some(),
        "answers again"
    );
}

/// sshd allowing fewer sessions than watchfloor opens at once (MaxSessions 2 against 8): the
/// refusals narrow the link to what the server allows, and every command still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_allowing_fewer_sessions_narrows_the_link_and_nothing_fails() {
    let client = Client::new();
    let mut server = Sshd::start(&client, "127.0.0.1", None);
    server.max_sessions(2);
    client.trust(&server);
    let t = target(&client, &server.spec(), None);
    let link = Arc::new(connect(&t, false).await.unwrap());
    let runs = (0..12).map(|i| {
        let link = link.clone();
        tokio::spawn(async move {
            run(
                &*link,
                &format!("sleep 0.3; echo {i}"),
                Duration::from_secs(60),
            )
            .await
        })
    });
    for (i, r) in futures_util::future::join_all(runs)
        .await
        .into_iter()
        .enumerate()
    {
        let out = r.unwrap().unwrap_or_else(|e| panic!("exec {i}: {e}"));
        assert_eq!(out.stdout_text().trim(), i.to_string());
    }
    assert!(
        link.channel_limit() <= 3,
        "narrowed to {}",
        link.channel_limit()
    );
}
