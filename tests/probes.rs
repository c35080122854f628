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
        ca_file: None,
        cert_warn: watchfloor::config::probe::CERT_WARN,
    }
}

/// Starts a Python server script; the ports it prints on its first line.
fn serve(script: &str, args: &[&std::path::Path]) -> (Server, Vec<u16>) {
    // Debian's python3 (apt: python3 comes with the system), not a pyenv shim on PATH.
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let ports = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    (Server(child), ports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_from_the_host_judge_status_body_latency_timeouts_and_ports() {
    let (_server, ports) = serve(SERVER, &[]);
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

/// An HTTPS server with the certificate and key given as arguments.
const TLS_SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_probes_report_when_the_certificate_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // Valid for 10 days: inside the 14-day warning, outside the 7-day critical mark.
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "10", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (apt: openssl)");
    assert!(made.success());
    let (_server, ports) = serve(TLS_SERVER, &[&cert, &key]);
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let link = common::sshd::link(&client, &server, "web").await;
    let mut p = spec(
        ProbeTarget::Http(format!("https://127.0.0.1:{}/", ports[0])),
        Some("ok"),
    );

    // Not signed by a CA the host trusts: curl's own words, critical.
    let r = probe(&*link, &p).await.unwrap();
    assert!(!r.ok, "{r:?}");
    assert!(
        r.problem.as_deref().unwrap_or("").contains("certificate"),
        "{r:?}"
    );

    // With the CA file on the host: answered, and the expiry is known.
    p.ca_file = Some(cert.display().to_string());
    let r = probe(&*link, &p).await.unwrap();
    assert!(r.ok, "{r:?}");
    let left = r.cert_expires.unwrap().duration_since(r.observed_at);
    let days = left.as_secs() / 86400;
    assert!((9..=10).contains(&days), "{left:?}");
    let state = watchfloor::app::probes::ProbeState::new(&p);
    assert_eq!(
        watchfloor::app::probes::severity(&state, &r),
        Severity::Warn,
        "10 days left: a warning"
    );
    p.cert_warn = Duration::from_secs(5 * 86400);
    let state = watchfloor::app::probes::ProbeState::new(&p);
    assert_eq!(
        watchfloor::app::probes::severity(&state, &r),
        Severity::Ok,
        "outside a 5-day mark"
    );
}
