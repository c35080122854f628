//! Docker's disk use (`GET /system/df`): images, containers' writable layers, volumes and the
//! build cache, with what could be reclaimed. dockerd walks every layer and volume to answer,
//! so this is read rarely (every 30 minutes, and on Ctrl-R). The request is plain HTTP/1.0
//! over the socket: the answer's shape changed with API 1.52 (totals instead of lists), and
//! both shapes are read here, whatever version the bollard client speaks.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CollectError, Sample};
use crate::link::Link;

pub const INTERVAL: Duration = Duration::from_secs(30 * 60);
const TIMEOUT: Duration = Duration::from_secs(120);
/// A host with thousands of images and volumes answers in a few MiB.
const CAP: usize = 32 << 20;

/// One kind of object: how many, how many in use, their size and what removing the unused
/// ones would free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub count: u64,
    pub active: u64,
    pub size_bytes: u64,
    pub reclaimable_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerUsage {
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub build_cache: Usage,
    pub observed_at: Timestamp,
}

struct Collector {
    link: Arc<dyn Link>,
    socket: String,
}

impl super::Collect for Collector {
    fn name(&self) -> String {
        "Docker disk use".into()
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(INTERVAL)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Sample> {
        Box::pin(async { Sample::DockerUsage(read(&*self.link, &self.socket).await) })
    }
    fn fail(&self, error: CollectError) -> Sample {
        Sample::DockerUsage(Err(error))
    }
}

pub fn collector(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Option<Box<dyn super::Collect>> {
    let socket = spec.docker_socket.clone()?;
    Some(Box::new(Collector {
        link: cx.link().clone(),
        socket,
    }))
}

pub async fn read(link: &dyn Link, socket: &str) -> Result<DockerUsage, CollectError> {
    let work = async {
        let mut stream = link.open_unix(socket).await?;
        let request = "GET /system/df HTTP/1.0\r\nHost: docker\r\n\r\n";
        let io = |e: std::io::Error| crate::link::LinkError::from_io(link.host(), socket, &e);
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut body = Vec::new();
        (&mut stream)
            .take(CAP as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(io)?;
        Ok::<_, CollectError>(body)
    };
    let response = tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
        crate::link::LinkError::Timeout {
            host: link.host().to_owned(),
            what: "Docker's /system/df".into(),
            after: TIMEOUT,
        }
    })??;
    if response.len() > CAP {
        return Err(CollectError::parse(
            "/system/df",
            "answer larger than 32 MiB",
        ));
    }
    parse_response(&response, Timestamp::now())
}

/// An HTTP/1.0 answer: status line, headers, then the JSON body to the end.
fn parse_response(response: &[u8], now: Timestamp) -> Result<DockerUsage, CollectError> {
    let bad = |m: &str| CollectError::parse("/system/df", m);
    let split = memchr::memmem::find(response, b"\r\n\r\n").ok_or_else(|| bad("no HTTP header"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        let body = String::from_utf8_lossy(&response[split + 4..]);
        return Err(CollectError::Docker {
            message: format!(
                "Docker answered /system/df with {}: {}",
                crate::sanitize::plain(status),
                crate::sanitize::plain(body.trim())
            ),
        });
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(bad("a chunked answer to an HTTP/1.0 request"));
    }
    let json: Value = serde_json::from_slice(&response[split + 4..])
        .map_err(|e| bad(&format!("not JSON: {e}")))?;
    Ok(parse(&json, now))
}

/// Both shapes: API 1.52+ gives `ImageUsage` etc. with totals; older ones give lists (with
/// `LayersSize` for images), from which the totals are computed as `docker system df` does.
pub fn parse(v: &Value, now: Timestamp) -> DockerUsage {
    let n = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_i64)
            .map_or(0, |x| x.max(0) as u64)
    };
    let totals = |k: &str| {
        v.get(k).map(|u| Usage {
            count: n(u, "TotalCount"),
            active: n(u, "ActiveCount"),
            size_bytes: n(u, "TotalSize"),
            reclaimable_bytes: n(u, "Reclaimable"),
        })
    };
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let sum =
        |items: &[Value], used: &dyn Fn(&Value) -> bool, size: &dyn Fn(&Value) -> u64| Usage {
            count: items.len() as u64,
            active: items.iter().filter(|i| used(i)).count() as u64,
            size_bytes: items.iter().map(size).sum(),
            reclaimable_bytes: items.iter().filter(|i| !used(i)).map(size).sum(),
        };
    let images = totals("ImageUsage").unwrap_or_else(|| {
        let items = list("Images");
        let used = |i: &Value| n(i, "Containers") > 0;
        // An unused image frees what it does not share with others.
        let unique = |i: &Value| n(i, "Size").saturating_sub(n(i, "SharedSize"));
        Usage {
            size_bytes: n(v, "LayersSize"),
            ..sum(&items, &used, &unique)
        }
    });
    let containers = totals("ContainerUsage").unwrap_or_else(|| {
        let running = |c: &Value| c.get("State").and_then(Value::as_str) == Some("running");
        sum(&list("Containers"), &running, &|c| n(c, "SizeRw"))
    });
    let volumes = totals("VolumeUsage").unwrap_or_else(|| {
        let data = |v: &Value| v.get("UsageData").cloned().unwrap_or_default();
        sum(&list("Volumes"), &|v| n(&data(v), "RefCount") > 0, &|v| {
            n(&data(v), "Size")
        })
    });
    let build_cache = totals("BuildCacheUsage").unwrap_or_else(|| {
        let in_use = |b: &Value| b.get("InUse").and_then(Value::as_bool) == Some(true);
        sum(&list("BuildCache"), &in_use, &|b| n(b, "Size"))
    });
    DockerUsage {
        images,
        containers,
        volumes,
        build_cache,
        observed_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shape_of_docker_20_is_summed_like_docker_system_df() {
        let body = r#"{"LayersSize": 1000,
            "Images": [{"Size": 600, "SharedSize": 100, "Containers": 1},
                       {"Size": 500, "SharedSize": 100, "Containers": 0}],
            "Containers": [{"SizeRw": 10, "State": "running"}, {"SizeRw": 7, "State": "exited"}],
            "Volumes": [{"UsageData": {"Size": 50, "RefCount": 1}},
                        {"UsageData": {"Size": -1, "RefCount": -1}},
                        {"UsageData": {"Size": 30, "RefCount": 0}}],
            "BuildCache": null}"#;
        let response = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        let u = parse_response(response.as_bytes(), Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(
            u.images,
            Usage {
                count: 2,
                active: 1,
                size_bytes: 1000,
                reclaimable_bytes: 400
            }
        );
        assert_eq!(
            u.containers,
            Usage {
                count: 2,
                active: 1,
                size_bytes: 17,
                reclaimable_bytes: 7
            }
        );
        // A size Docker did not compute (-1) counts as nothing, not as a huge number.
        assert_eq!(
            u.volumes,
            Usage {
                count: 3,
                active: 1,
                size_bytes: 80,
                reclaimable_bytes: 30
            }
        );
        assert_eq!(u.build_cache, Usage::default());
    }

    #[test]
    fn the_totals_shape_and_errors() {
        let v: Value = serde_json::from_str(
            r#"{"ImageUsage": {"ActiveCount": 3, "TotalCount": 5, "Reclaimable": 10, "TotalSize": 99}}"#,
        )
        .unwrap();
        let u = parse(&v, Timestamp::UNIX_EPOCH);
        assert_eq!(
            u.images,
            Usage {
                count: 5,
                active: 3,
                size_bytes: 99,
                reclaimable_bytes: 10
            }
        );
        let e = parse_response(
            b"HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"boom\x1b[2J\"}",
            Timestamp::UNIX_EPOCH,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("500 Internal Server Error") && e.contains("boom") && !e.contains('\x1b'),
            "{e}"
        );
        assert!(parse_response(b"garbage", Timestamp::UNIX_EPOCH).is_err());
    }
}
