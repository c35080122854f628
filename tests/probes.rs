//! Health probes run from a host over real sshd, against a real HTTP server on that host (a
//! Python one, on loopback): an answer as expected, a wrong status, a missing body text, a
//! slow answer, a server that never answers (curl's timeout), and TCP connects through the
//! link to an open and a closed port. Alerts follow: down is critical, slow a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sshd::{Client, Sshd};
use watchfloor::app::alerts::Severity;
use watchfloor::collect::probes::probe;
use watchfloor::config::probe::{ProbeSpec, ProbeTarget};

/// An HTTP server: `/` says "healthy", `/slow` answers after 600 ms, anything else is 404.
/// Beside it, a socket that accepts connections and never answers.
const SERVER: &str = r#"
import http.server, socket, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(0.6)
        if self.path in ("/", "/slow"):
            body = b"healthy\n"
            self.send_response(200)
        else:
            body = b"no such page\n"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
mute = socket.socket()
mute.bind(("127.0.0.1", 0))
mute.listen(8)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], mute.getsockname()[1], flush=True)
s.serve_forever()
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spec(target: ProbeTarget, body: Option<&str>) -> ProbeSpec {
    ProbeSpec {
        name: "p".into(),
        target,
        status: None,
        body: body.map(str::to_owned),
        slow: Duration::from_millis(300),
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_from_the_host_judge_status_body_latency_timeouts_and_ports() {
    // Debian's python3 (apt: python3 comes with the system), not a pyenv shim on PATH.
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _server = Server(child);
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (http, mute) = (ports[0], ports[1]);

    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let link = common::sshd::link(&client, &server, "web").await;
    let url = |path: &str| ProbeTarget::Http(format!("http://127.0.0.1:{http}{path}"));

    let r = probe(&*link, &spec(url("/"), Some("healthy")))
        .await
        .unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.status, Some(200));
    assert!(r.latency < Duration::from_millis(300), "{r:?}");

    let r = probe(&*link, &spec(url("/missing"), None)).await.unwrap();
    assert_eq!(
        r.problem.as_deref(),
        Some("status 404, expected 2xx or 3xx")
    );

    let r = probe(&*link, &spec(url("/"), Some("ready"))).await.unwrap();
    assert_eq!(
        r.problem.as_deref(),
        Some("the body does not contain \"ready\"")
    );

    let slow = spec(url("/slow"), None);
    let r = probe(&*link, &slow).await.unwrap();
    assert!(r.ok && r.latency >= Duration::from_millis(600), "{r:?}");
    let state = watchfloor::app::probes::ProbeState::new(&slow);
    assert_eq!(
        watchfloor::app::probes::severity(&state, &r),
        Severity::Warn
    );

    let started = std::time::Instant::now();
    let silent = ProbeTarget::Http(format!("http://127.0.0.1:{mute}/"));
    let r = probe(&*link, &spec(silent, None)).await.unwrap();
    let problem = r.problem.clone().unwrap_or_default();
    assert!(problem.contains("timed out"), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the probe's timeout"
    );
    assert_eq!(
        watchfloor::app::probes::severity(&state, &r),
        Severity::Crit
    );

    let tcp = |port| ProbeTarget::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    let r = probe(&*link, &spec(tcp(http), None)).await.unwrap();
    assert!(r.ok, "{r:?}");
    // A port nothing listens on: the server's own socket, closed first.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r = probe(&*link, &spec(tcp(port), None)).await.unwrap();
    assert!(!r.ok && r.problem.is_some(), "{r:?}");
}
