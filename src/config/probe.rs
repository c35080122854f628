//! `[[host.probe]]`: a health probe run from the host, so endpoints only the host (or the
//! tunnel behind it) can reach are checked as they are served: an HTTP(S) GET by `curl` on the
//! host, or a TCP connect through the SSH link.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Interval, Source, Threshold};

pub const INTERVAL: Duration = Duration::from_secs(30);
pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const SLOW: Duration = Duration::from_secs(1);
pub const CERT_WARN: Duration = Duration::from_secs(14 * 86400);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// http:// or https:// as seen from the host.
    #[serde(default)]
    pub url: Option<String>,
    /// "host:port" as seen from the host: a TCP connect.
    #[serde(default)]
    pub tcp: Option<String>,
    /// Accepted HTTP statuses; default 200–399.
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// The body must contain this.
    #[serde(default)]
    pub body: Option<String>,
    /// Slower than this: a warning.
    #[serde(default)]
    pub slow: Option<Threshold>,
    #[serde(default)]
    pub interval: Option<Interval>,
    #[serde(default)]
    pub timeout: Option<Interval>,
    /// https: a CA file on the host to trust (curl --cacert), for an internal CA.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// https: a certificate expiring sooner is a warning.
    #[serde(default)]
    pub cert_warn: Option<Interval>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    Http(String),
    Tcp { host: String, port: u16 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub name: String,
    pub target: ProbeTarget,
    /// None: any 2xx or 3xx.
    pub status: Option<Vec<u16>>,
    pub body: Option<String>,
    pub slow: Duration,
    pub interval: Duration,
    pub timeout: Duration,
    pub ca_file: Option<String>,
    pub cert_warn: Duration,
}

/// The `[[host.probe]]` entries of one host, checked, with defaults applied.
pub fn specs(
    entries: &[Spanned<ProbeConfig>],
    source: Option<Source<'_>>,
) -> Result<Vec<ProbeSpec>, ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in entries {
        let p = entry.get_ref();
        let fail =
            |message: String, help: &str| ConfigError::at(source, entry.span(), message, help);
        let target = match (&p.url, &p.tcp) {
            (Some(url), None) => {
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(fail(
                        format!("url {url:?} is not an http:// or https:// URL"),
                        "write it as the host reaches it, e.g. \"http://127.0.0.1:8080/health\"",
                    ));
                }
                ProbeTarget::Http(url.clone())
            }
            (None, Some(addr)) => {
                let Some((host, port)) = super::host_port(addr) else {
                    return Err(fail(
                        format!("tcp {addr:?} is not host:port"),
                        "write it like \"127.0.0.1:5432\"",
                    ));
                };
                if p.body.is_some()
                    || p.status.is_some()
                    || p.ca_file.is_some()
                    || p.cert_warn.is_some()
                {
                    return Err(fail(
                        "`body`, `status`, `ca_file` and `cert_warn` apply to url probes".into(),
                        "remove them, or probe a url",
                    ));
                }
                ProbeTarget::Tcp { host, port }
            }
            _ => {
                return Err(fail(
                    "a probe has exactly one of `url` or `tcp`".into(),
                    "url = \"http://127.0.0.1:8080/health\" or tcp = \"127.0.0.1:6379\"",
                ));
            }
        };
        let name = p.name.clone().unwrap_or_else(|| match &target {
            ProbeTarget::Http(u) => u.clone(),
            ProbeTarget::Tcp { host, port } => format!("{host}:{port}"),
        });
        if !names.insert(name.clone()) {
            return Err(fail(
                format!("two probes named `{name}` on this host"),
                "give each [[host.probe]] its own name",
            ));
        }
        out.push(ProbeSpec {
            name,
            target,
            status: p.status.clone(),
            body: p.body.clone(),
            slow: p.slow.map_or(SLOW, |t| t.0),
            interval: p.interval.map_or(INTERVAL, |i| i.0),
            timeout: p.timeout.map_or(TIMEOUT, |i| i.0),
            ca_file: p.ca_file.clone(),
            cert_warn: p.cert_warn.map_or(CERT_WARN, |i| i.0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ProbeSpec>, String> {
        #[derive(Deserialize)]
        struct Doc {
            probe: Vec<Spanned<ProbeConfig>>,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        let source = Source {
            path: std::path::Path::new("w.toml"),
            text,
        };
        specs(&doc.probe, Some(source)).map_err(|e| e.to_string())
    }

    #[test]
    fn probes_get_defaults_and_mistakes_their_place() {
        let s =
            parse("[[probe]]\nurl = \"http://127.0.0.1:8080/health\"\nbody = \"ok\"\n").unwrap();
        assert_eq!(s[0].name, "http://127.0.0.1:8080/health");
        assert_eq!((s[0].slow, s[0].interval), (SLOW, INTERVAL));
        let s = parse("[[probe]]\ntcp = \"db:5432\"\nslow = \"200ms\"\n").unwrap();
        assert_eq!(
            s[0].target,
            ProbeTarget::Tcp {
                host: "db".into(),
                port: 5432
            }
        );
        for (text, want) in [
            ("[[probe]]\nurl = \"ftp://x\"\n", "is not an http"),
            ("[[probe]]\nurl = \"http://x y\"\n", "is not an http"),
            ("[[probe]]\ntcp = \"db\"\n", "is not host:port"),
            (
                "[[probe]]\ntcp = \"db:1\"\nbody = \"x\"\n",
                "apply to url probes",
            ),
            ("[[probe]]\nname = \"x\"\n", "exactly one of"),
            (
                "[[probe]]\ntcp = \"a:1\"\n[[probe]]\ntcp = \"a:1\"\n",
                "two probes named",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want) && e.contains("w.toml:"), "{text}: {e}");
        }
    }
}
