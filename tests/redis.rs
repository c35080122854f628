//! Redis over real sshd, against real redis-server processes on the test host: a primary
//! (password and an ACL user) and a replica of it. INFO is read through the link's
//! direct-streamlocal and direct-tcpip channels; a wrong password, a missing one and a
//! password file others can read are refused with what to do; the primary lists its replica;
//! with the primary stopped the replica says it is cut off (critical), and a stopped server
//! is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sshd::{Client, Sshd};
use common::wait_for;
use watchfloor::app::alerts::Severity;
use watchfloor::collect::postgres::Endpoint;
use watchfloor::collect::redis::info;
use watchfloor::collect::secret::SecretSource;
use watchfloor::config::redis::RedisSpec;

struct Redis {
    child: Child,
    port: u16,
    socket: PathBuf,
}

impl Redis {
    /// A redis-server in `dir` on a free loopback port and a socket, with `extra` config.
    fn start(dir: &Path, name: &str, extra: &str) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let socket = dir.join(format!("{name}.sock"));
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {port}\nunixsocket {}\nunixsocketperm 700\ndir {}\n\
                 dbfilename {name}.rdb\nsave \"\"\nappendonly no\nmaxclients 100\n{extra}",
                socket.display(),
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt: redis-server)");
        let r = Redis {
            child,
            port,
            socket,
        };
        wait_for("redis-server to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", r.port))
                .ok()
                .filter(|_| r.socket.exists())
        });
        r
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spec(endpoint: Endpoint, user: Option<&str>, password: Option<SecretSource>) -> RedisSpec {
    RedisSpec {
        name: "cache".into(),
        endpoint,
        user: user.map(str::to_owned),
        password,
        interval: Duration::from_secs(10),
        clients_alert_pct: 90.0,
        memory_alert_pct: 90.0,
        lag_alert: Duration::from_secs(10),
        save_max_age: None,
    }
}

fn command(pw: &str) -> Option<SecretSource> {
    Some(SecretSource::Command(format!("echo {pw}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_read_over_the_link_and_its_failures_say_what_to_do() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let link = common::sshd::link(&client, &server, "cache-host").await;
    let dir = tempfile::tempdir().unwrap();
    let mut primary = Redis::start(
        dir.path(),
        "primary",
        "requirepass s3cret\nmaxmemory 64mb\nmaxmemory-policy allkeys-lru\n\
         user app on >apppw ~* +@all\n",
    );
    let socket = Endpoint::Unix(primary.socket.display().to_string());
    let tcp = |r: &Redis| Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: r.port,
    };

    // Up, through the socket, with the password from a command.
    let i = info(&*link, &spec(socket.clone(), None, command("s3cret")))
        .await
        .unwrap();
    assert!(i.version.starts_with("7."), "{i:?}");
    assert_eq!(i.role, "master");
    assert_eq!(i.maxclients, Some(100));
    assert_eq!(i.maxmemory, Some(64 << 20));
    assert!(i.connected_clients >= 1);

    // An ACL user, through TCP, with a password file only its owner reads.
    let file = dir.path().join("pw");
    std::fs::write(&file, "apppw\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let pw = Some(SecretSource::File(file.clone()));
    let i = info(&*link, &spec(tcp(&primary), Some("app"), pw.clone()))
        .await
        .unwrap();
    assert_eq!(i.role, "master");

    // Refusals say where the password came from or what to set.
    let e = info(&*link, &spec(socket.clone(), None, command("wrong")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("refused the password from password_command"),
        "{e}"
    );
    let e = info(&*link, &spec(socket.clone(), None, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("asks for a password"), "{e}");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let e = info(&*link, &spec(tcp(&primary), Some("app"), pw))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("can be read by others: chmod 600"), "{e}");

    // A replica: the primary lists it online; the replica's link to it is up.
    let mut replica = Redis::start(
        dir.path(),
        "replica",
        &format!(
            "replicaof 127.0.0.1 {}\nmasterauth s3cret\nrepl-timeout 60\n",
            primary.port
        ),
    );
    let replica_spec = spec(tcp(&replica), None, None);
    wait_for("the replica to sync", Duration::from_secs(30), || {
        futures_block(info(&*link, &replica_spec))
            .ok()
            .filter(|i| i.primary_link_up == Some(true))
    });
    let p = info(&*link, &spec(socket.clone(), None, command("s3cret")))
        .await
        .unwrap();
    assert_eq!(p.replicas.len(), 1, "{p:?}");
    assert_eq!(p.replicas[0].state, "online");
    assert_eq!(p.replicas[0].addr, format!("127.0.0.1:{}", replica.port));

    // The same, headless, from the config file: `watchfloor snapshot --json`.
    let quiet = "[alerts]\ndisk_warn_pct = 99.8\ndisk_crit_pct = 99.9\ncpu_warn_pct = 100\n\
                 memory_warn_pct = 100\n\n[[host]]\nname = \"local\"\ndocker = false\n";
    let config = dir.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "{quiet}[[host.redis]]\nname = \"cache\"\nsocket = \"{}\"\npassword_command = \"echo s3cret\"\n",
            primary.socket.display()
        ),
    )
    .unwrap();
    let (code, out) = cli(dir.path(), &config, &["snapshot", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["hosts"][0]["redis"][0];
    assert_eq!(
        (&r["name"], &r["role"]),
        (&"cache".into(), &"master".into()),
        "{r}"
    );
    assert_eq!(r["replicas"][0]["state"], "online", "{r}");

    // The primary stops: the replica says it is cut off, a critical verdict.
    primary.stop();
    let cut = wait_for("the replica to notice", Duration::from_secs(30), || {
        futures_block(info(&*link, &replica_spec))
            .ok()
            .filter(|i| i.primary_link_up == Some(false))
    });
    assert_eq!(cut.role, "slave");
    let state = watchfloor::app::redis::RedisState::new(&replica_spec);
    let verdicts = watchfloor::app::redis::problems(&state, &cut, cut.observed_at);
    assert!(
        verdicts
            .iter()
            .any(|(s, w)| *s == Severity::Crit && w.starts_with("replica cut off from its primary")),
        "{verdicts:?}"
    );

    // A stopped server is unreachable, and says how; headless, that is critical.
    replica.stop();
    let (code, out) = cli(dir.path(), &config, &["alerts", "--timeout", "10"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.starts_with("CRIT local redis: Redis cache unreachable:"),
        "{out}"
    );
    let e = info(&*link, &replica_spec).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("could not open 127.0.0.1:{}", replica.port)),
        "{e}"
    );
}

/// Runs the binary with `config`: its exit code and what it printed.
fn cli(home: &Path, config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchfloor"));
    common::isolated_env(&mut cmd, home);
    let out = cmd.arg("--config").arg(config).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs a future to completion from a synchronous poll loop (the test runtime is
/// multi-threaded, so blocking one worker is fine).
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
