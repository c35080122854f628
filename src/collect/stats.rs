//! CPU and memory of the containers on screen. Read from the containers' cgroup files over the
//! link with one `sh` + one `awk` per sample, whatever the number of containers: far cheaper for
//! the host than Docker's stats API, which makes dockerd, containerd and every shim work for
//! each request (see scripts/bench-stats.sh). Falls back to the API when the files cannot be
//! read (hidepid, an unusual cgroup layout).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio::time::Instant;

use super::CollectError;
use crate::link::Link;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A container to sample: its id and its main process on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatsTarget {
    pub id: String,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerStats {
    /// Share of one core over the last interval; None on the first sample.
    pub cpu_percent: Option<f64>,
    /// Memory in use without the reclaimable page cache, as `docker stats` counts it.
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatsSample {
    pub stats: HashMap<String, ContainerStats>,
    pub observed_at: Timestamp,
}

/// Remembers the previous CPU counters, to turn them into rates.
#[derive(Default)]
pub struct Sampler {
    previous: HashMap<String, (u64, Instant)>,
    /// The cgroup files could not be read: use the Docker API from now on.
    use_api: bool,
}

impl Sampler {
    /// A sampler that uses Docker's stats API only: to compare what each way costs the host
    /// (benches/stats_cost.rs).
    pub fn api_only() -> Sampler {
        Sampler {
            use_api: true,
            ..Sampler::default()
        }
    }

    pub async fn sample(
        &mut self,
        link: &dyn Link,
        docker: Option<&Docker>,
        targets: &[StatsTarget],
    ) -> Result<StatsSample, CollectError> {
        let raw = if self.use_api {
            None
        } else {
            match read_cgroups(link, targets).await {
                Ok(r) if !r.is_empty() || targets.is_empty() => Some(r),
                Ok(_) | Err(_) => None,
            }
        };
        let raw = match (raw, docker) {
            (Some(r), _) => r,
            (None, Some(d)) => {
                self.use_api = true;
                read_api(d, targets).await?
            }
            (None, None) => {
                return Err(CollectError::Docker {
                    message: "container cgroup files are not readable".into(),
                });
            }
        };
        let now = Instant::now();
        let mut stats = HashMap::new();
        for (id, (cpu_usec, memory_bytes)) in raw {
            let cpu_percent = self.previous.get(&id).and_then(|(prev, at)| {
                let wall = now.duration_since(*at).as_micros() as f64;
                (wall > 0.0 && cpu_usec >= *prev).then(|| (cpu_usec - prev) as f64 / wall * 100.0)
            });
            self.previous.insert(id.clone(), (cpu_usec, now));
            stats.insert(
                id,
                ContainerStats {
                    cpu_percent,
                    memory_bytes,
                },
            );
        }
        self.previous.retain(|id, _| stats.contains_key(id));
        Ok(StatsSample {
            stats,
            observed_at: Timestamp::now(),
        })
    }
}

/// One awk, no shell loop (dash's `read` takes a syscall per byte, which made the first
/// version of this cost more than Docker's API): for each process, its cgroups from
/// /proc/PID/cgroup (v2 unified, or v1 cpuacct + memory; a v1 controller is mounted under its
/// hierarchy's name, "cpu,cpuacct" with systemd or "cpuacct" where mounted apart), then the
/// counters. Prints `=PID DIR` for each cgroup directory and `DIR KEY VALUE` per counter.
const SCRIPT: &str = r#"
exec awk '
function first(f,   v) { v = ""; if ((getline v < f) <= 0) v = ""; close(f); return v }
function stat(f, key, d,   l, a) {
  while ((getline l < f) > 0) { split(l, a, " "); if (a[1] == key) { print d, "inactive", a[2]; break } }
  close(f)
}
BEGIN {
  for (i = 1; i < ARGC; i++) {
    p = ARGV[i]; f = "/proc/" p "/cgroup"
    while ((getline line < f) > 0) {
      c1 = index(line, ":"); rest = substr(line, c1 + 1); c2 = index(rest, ":")
      ctl = substr(rest, 1, c2 - 1); path = substr(rest, c2 + 1)
      if (ctl == "") {
        d = "/sys/fs/cgroup" path; u = ""
        while ((getline l < (d "/cpu.stat")) > 0) { split(l, a, " "); if (a[1] == "usage_usec") u = a[2] }
        close(d "/cpu.stat")
        if (u == "") continue
        print "=" p, d; print d, "cpu_usec", u
        m = first(d "/memory.current"); if (m != "") print d, "mem", m
        stat(d "/memory.stat", "inactive_file", d)
      } else if (ctl ~ /(^|,)cpuacct(,|$)/) {
        d = "/sys/fs/cgroup/" ctl path; u = first(d "/cpuacct.usage")
        if (u != "") { print "=" p, d; print d, "cpu_nsec", u }
      } else if (ctl == "memory") {
        d = "/sys/fs/cgroup/memory" path; m = first(d "/memory.usage_in_bytes")
        if (m != "") { print "=" p, d; print d, "mem", m; stat(d "/memory.stat", "total_inactive_file", d) }
      }
    }
    close(f)
  }
}' "$@"
"#;

async fn read_cgroups(
    link: &dyn Link,
    targets: &[StatsTarget],
) -> Result<HashMap<String, (u64, u64)>, CollectError> {
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let mut command = format!("sh -c {} sh", crate::link::sh_quote(SCRIPT));
    for t in targets {
        command.push(' ');
        command.push_str(&t.pid.to_string());
    }
    let out = crate::link::run(link, &command, TIMEOUT).await?;
    Ok(parse(&String::from_utf8_lossy(&out.stdout), targets))
}

/// Parses the script's output: `=PID DIR` lines map directories to processes, then
/// `DIR key value` lines. Returns id → (CPU µs, memory bytes) for the containers found.
pub fn parse(text: &str, targets: &[StatsTarget]) -> HashMap<String, (u64, u64)> {
    let mut dir_pid: HashMap<&str, u32> = HashMap::new();
    #[derive(Default)]
    struct Acc {
        cpu_usec: Option<u64>,
        mem: Option<u64>,
        inactive: u64,
    }
    let mut acc: HashMap<u32, Acc> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('=') {
            if let Some((pid, dir)) = rest.split_once(' ')
                && let Ok(pid) = pid.parse()
            {
                dir_pid.insert(dir, pid);
            }
            continue;
        }
        let mut f = line.rsplitn(3, ' ');
        let (Some(value), Some(key), Some(dir)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Some(&pid), Ok(value)) = (dir_pid.get(dir), value.parse::<u64>()) else {
            continue;
        };
        let a = acc.entry(pid).or_default();
        match key {
            "cpu_usec" => a.cpu_usec = Some(value),
            "cpu_nsec" => a.cpu_usec = Some(value / 1000),
            "mem" => a.mem = Some(value),
            "inactive" => a.inactive = value,
            _ => {}
        }
    }
    targets
        .iter()
        .filter_map(|t| {
            let a = acc.get(&t.pid)?;
            Some((
                t.id.clone(),
                (a.cpu_usec?, a.mem?.saturating_sub(a.inactive)),
            ))
        })
        .collect()
}

/// The same numbers from Docker's one-shot stats, one request per container, all at once
/// (each takes about a second: in turn, 30 containers took 30 s).
async fn read_api(
    docker: &Docker,
    targets: &[StatsTarget],
) -> Result<HashMap<String, (u64, u64)>, CollectError> {
    let one = |t: &StatsTarget| {
        let id = t.id.clone();
        async move {
            let options = StatsOptions {
                stream: false,
                one_shot: true,
            };
            let Some(Ok(s)) = docker.stats(&id, Some(options)).next().await else {
                return None;
            };
            let cpu_ns = s
                .cpu_stats
                .and_then(|c| c.cpu_usage)
                .and_then(|u| u.total_usage)?;
            let memory = s.memory_stats.unwrap_or_default();
            let inactive = memory
                .stats
                .as_ref()
                .and_then(|m| {
                    m.get("inactive_file")
                        .or_else(|| m.get("total_inactive_file"))
                })
                .copied()
                .unwrap_or(0);
            Some((id, (cpu_ns / 1000, memory.usage?.saturating_sub(inactive))))
        }
    };
    let all = futures_util::future::join_all(targets.iter().map(one)).await;
    Ok(all.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v2_and_v1_output_is_parsed_per_container() {
        let targets = [
            StatsTarget {
                id: "a".into(),
                pid: 100,
            },
            StatsTarget {
                id: "b".into(),
                pid: 200,
            },
            StatsTarget {
                id: "gone".into(),
                pid: 300,
            },
        ];
        let text = "=100 /sys/fs/cgroup/system.slice/docker-a.scope\n\
                    =200 /sys/fs/cgroup/cpu,cpuacct/docker/b\n\
                    =200 /sys/fs/cgroup/memory/docker/b\n\
                    /sys/fs/cgroup/system.slice/docker-a.scope cpu_usec 5000000\n\
                    /sys/fs/cgroup/system.slice/docker-a.scope mem 10485760\n\
                    /sys/fs/cgroup/system.slice/docker-a.scope inactive 4194304\n\
                    /sys/fs/cgroup/cpu,cpuacct/docker/b cpu_nsec 7000000000\n\
                    /sys/fs/cgroup/memory/docker/b mem 2048\n";
        let got = parse(text, &targets);
        assert_eq!(got["a"], (5_000_000, 6_291_456));
        assert_eq!(got["b"], (7_000_000, 2048));
        assert!(!got.contains_key("gone"));
    }
}
