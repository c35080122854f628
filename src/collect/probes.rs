//! Health probes, run from the host. HTTP(S): `curl` on the host (it has the host's routes,
//! DNS and CA store, and reaches what only the host can), its own timing (`time_total`, so
//! the SSH round trip is not counted), the status against the accepted ones and the body (up
//! to 256 KiB) against the expected text. TCP: a connect through the link's direct-tcpip
//! channel, timed from here (so it includes one SSH round trip). A probe that fails is an
//! observation ("down: connection refused"), not a collector error: that is kept for the link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use super::{CollectError, Sample};
use crate::config::probe::{ProbeSpec, ProbeTarget};
use crate::link::{Link, sh_quote};

/// Body bytes kept for the `body` check.
const BODY_CAP: usize = 256 << 10;

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// Answered as expected (status and body); its latency is judged apart.
    pub ok: bool,
    #[serde(serialize_with = "crate::text::secs")]
    pub latency: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it is not ok, in a few words, sanitised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// https: when the server's certificate expires, as curl saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_expires: Option<Timestamp>,
    pub observed_at: Timestamp,
}

struct Probe {
    index: usize,
    spec: ProbeSpec,
    link: Arc<dyn Link>,
}

impl super::Collect for Probe {
    fn name(&self) -> String {
        format!("probe {}", self.spec.name)
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.spec.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Sample> {
        Box::pin(async {
            Sample::Probe {
                index: self.index,
                result: probe(&*self.link, &self.spec).await,
            }
        })
    }
    fn fail(&self, error: CollectError) -> Sample {
        Sample::Probe {
            index: self.index,
            result: Err(error),
        }
    }
}

pub fn collectors(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Vec<Box<dyn super::Collect>> {
    spec.probes
        .iter()
        .enumerate()
        .map(|(index, p)| {
            Box::new(Probe {
                index,
                spec: p.clone(),
                link: cx.link().clone(),
            }) as Box<dyn super::Collect>
        })
        .collect()
}

/// Runs `spec` once.
pub async fn probe(link: &dyn Link, spec: &ProbeSpec) -> Result<ProbeResult, CollectError> {
    match &spec.target {
        ProbeTarget::Tcp { host, port } => {
            let started = Instant::now();
            let r = tokio::time::timeout(spec.timeout, link.open_tcp(host, *port)).await;
            let latency = started.elapsed();
            let problem = match r {
                Ok(Ok(_stream)) => None,
                Ok(Err(e @ crate::link::LinkError::Down { .. })) => return Err(e.into()),
                Ok(Err(e)) => Some(crate::sanitize::plain(&e.to_string())),
                Err(_) => Some(format!("no connection after {}s", spec.timeout.as_secs())),
            };
            Ok(ProbeResult {
                ok: problem.is_none(),
                latency,
                status: None,
                problem,
                cert_expires: None,
                observed_at: Timestamp::now(),
            })
        }
        ProbeTarget::Http(url) => {
            let secs = spec.timeout.as_secs_f64();
            // https: curl's verbose log names the certificate's expiry ("expire date:"); only
            // that line and curl's own error line leave the host, never the headers.
            let https = url.starts_with("https://");
            let extra = match (&spec.ca_file, https) {
                (Some(ca), true) => format!("-v --cacert {}", sh_quote(ca)),
                (None, true) => "-v".to_owned(),
                (_, false) => String::new(),
            };
            let script = format!(
                "command -v curl >/dev/null || {{ echo 'curl is not installed on the host' >&2; exit 127; }}\n\
                 t=$(mktemp) || exit 1\ne=$(mktemp) || exit 1\ntrap 'rm -f \"$t\" \"$e\"' EXIT HUP INT TERM\n\
                 w=$(curl -sS {extra} -o \"$t\" --max-filesize 16777216 --max-time {secs} -w '%{{http_code}} %{{time_total}}' {u} 2>\"$e\"); rc=$?\n\
                 head -c {BODY_CAP} \"$t\"\nerr=$(grep -m1 '^curl: ' \"$e\")\n\
                 printf '\\n@@wf %s %s %s\\n' \"$rc\" \"$err\" \"$w\"\n\
                 grep -m1 -i '^\\*  *expire date:' \"$e\" | sed 's/^[^:]*: *//; s/^/@@exp /'\n\
                 rm -f \"$t\" \"$e\"\n",
                u = sh_quote(url)
            );
            // The remote side stops curl itself; this bounds a link that stalls. Its error
            // names the probe, never the script (a URL may hold a token).
            let bound = spec.timeout + Duration::from_secs(10);
            let out = tokio::time::timeout(
                bound,
                crate::link::run(link, &format!("sh -c {} sh", sh_quote(&script)), bound * 2),
            )
            .await
            .map_err(|_| crate::link::LinkError::Timeout {
                host: link.host().to_owned(),
                what: format!("probe {}", spec.name),
                after: bound,
            })??;
            if !out.status.success() {
                return Err(CollectError::Command {
                    command: "curl".into(),
                    status: out.status.clone(),
                    stderr: out.stderr_line(),
                });
            }
            Ok(judge_http(spec, &out.stdout, Timestamp::now()))
        }
    }
}

/// The HTTP result from what the script printed: body, then "@@wf RC [curl error] CODE TIME".
fn judge_http(spec: &ProbeSpec, stdout: &[u8], now: Timestamp) -> ProbeResult {
    let text = String::from_utf8_lossy(stdout);
    let (body, trailer) = text.rsplit_once("\n@@wf ").unwrap_or(("", &text));
    let (trailer, rest) = trailer.split_once('\n').unwrap_or((trailer, ""));
    let cert_expires = rest
        .lines()
        .find_map(|l| l.strip_prefix("@@exp "))
        .and_then(cert_date);
    let words: Vec<&str> = trailer.split_whitespace().collect();
    let rc: i32 = words.first().and_then(|w| w.parse().ok()).unwrap_or(-1);
    let n = words.len();
    let time: f64 = words
        .get(n.saturating_sub(1))
        .and_then(|w| w.parse().ok())
        .unwrap_or(0.0);
    let code: Option<u16> = words
        .get(n.saturating_sub(2))
        .and_then(|w| w.parse().ok())
        .filter(|c| *c > 0);
    let latency = Duration::from_secs_f64(time.max(0.0));
    let problem = if rc != 0 {
        // curl's own words sit between the exit code and the write-out.
        let words = if n >= 3 {
            &words[1..n - 2]
        } else {
            &words[..0]
        };
        let said = words.join(" ");
        Some(crate::sanitize::plain(if said.is_empty() {
            "curl failed"
        } else {
            said.trim_start_matches("curl: ")
        }))
    } else {
        match code {
            None => Some("no HTTP answer".to_owned()),
            Some(c) if !accepted(spec, c) => Some(format!(
                "status {c}, expected {}",
                spec.status.as_ref().map_or("2xx or 3xx".to_owned(), |s| {
                    s.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                })
            )),
            Some(_) => spec
                .body
                .as_ref()
                .filter(|want| !body.contains(want.as_str()))
                .map(|want| {
                    format!(
                        "the body does not contain {:?}",
                        crate::sanitize::plain(want)
                    )
                }),
        }
    };
    ProbeResult {
        ok: problem.is_none(),
        latency,
        status: code,
        problem,
        cert_expires,
        observed_at: now,
    }
}

/// curl's "expire date": OpenSSL's "Mar  4 12:00:00 2027 GMT", or GnuTLS's
/// "Thu, 04 Mar 2027 12:00:00 GMT".
fn cert_date(text: &str) -> Option<Timestamp> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    ["%b %d %H:%M:%S %Y GMT", "%a, %d %b %Y %H:%M:%S GMT"]
        .iter()
        .find_map(|f| jiff::civil::DateTime::strptime(f, &joined).ok())
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

fn accepted(spec: &ProbeSpec, code: u16) -> bool {
    match &spec.status {
        Some(list) => list.contains(&code),
        None => (200..400).contains(&code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(status: Option<Vec<u16>>, body: Option<&str>) -> ProbeSpec {
        ProbeSpec {
            name: "api".into(),
            target: ProbeTarget::Http("http://127.0.0.1/health".into()),
            status,
            body: body.map(str::to_owned),
            slow: Duration::from_secs(1),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            ca_file: None,
            cert_warn: crate::config::probe::CERT_WARN,
        }
    }

    #[test]
    fn status_body_and_curl_errors_are_judged() {
        let now = Timestamp::UNIX_EPOCH;
        let r = judge_http(
            &spec(None, Some("ok")),
            b"{\"status\":\"ok\"}\n@@wf 0 200 0.012\n",
            now,
        );
        assert!(r.ok, "{r:?}");
        assert_eq!(
            (r.status, r.latency),
            (Some(200), Duration::from_millis(12))
        );
        let r = judge_http(&spec(None, Some("ok")), b"down\n@@wf 0 200 0.01\n", now);
        assert_eq!(
            r.problem.as_deref(),
            Some("the body does not contain \"ok\"")
        );
        let r = judge_http(&spec(None, None), b"\n@@wf 0 503 0.2\n", now);
        assert_eq!(
            r.problem.as_deref(),
            Some("status 503, expected 2xx or 3xx")
        );
        let r = judge_http(&spec(Some(vec![401]), None), b"\n@@wf 0 401 0.2\n", now);
        assert!(r.ok);
        let r = judge_http(
            &spec(None, None),
            b"\n@@wf 28 curl: (28) Operation timed out after 2001 milliseconds 000 2.001\n",
            now,
        );
        assert_eq!(
            r.problem.as_deref(),
            Some("(28) Operation timed out after 2001 milliseconds")
        );
        assert_eq!(r.status, None);
        let r = judge_http(&spec(None, None), b"garbage", now);
        assert!(!r.ok, "no trailer: not ok");
        let hostile = judge_http(
            &spec(None, Some("ok")),
            b"\n@@wf 7 curl: (7) \x1b[2Jfailed 000 0.0\n",
            now,
        );
        assert!(!hostile.problem.unwrap().contains('\x1b'));
    }

    #[test]
    fn the_certificate_expiry_is_read_in_both_spellings() {
        let r = judge_http(
            &spec(None, None),
            b"ok\n@@wf 0  200 0.01\n@@exp Mar  4 12:00:00 2027 GMT\n",
            Timestamp::UNIX_EPOCH,
        );
        assert!(r.ok, "{r:?}");
        assert_eq!(
            r.cert_expires,
            Some("2027-03-04T12:00:00Z".parse().unwrap())
        );
        assert_eq!(
            cert_date("Thu, 04 Mar 2027 12:00:00 GMT"),
            Some("2027-03-04T12:00:00Z".parse().unwrap())
        );
        assert_eq!(cert_date("soon"), None);
    }
}
