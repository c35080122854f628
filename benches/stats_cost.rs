//! What sampling container CPU and memory costs the monitored host: the cgroup files read
//! with one `sh` + `awk` per sample (watchfloor's way) against Docker's stats API (one
//! one-shot request per container, what the fallback does). Samples every running container
//! of the Docker at DOCKER_HOST every 2 s for STATS_SECONDS (default 60) each way, after an idle
//! baseline of the same length, and prints the CPU of dockerd, containerd and the shims, of
//! the sampling commands, and of this process. Asserts nothing. Run through
//! `scripts/bench-stats.sh`, which starts 30 containers on a private dockerd.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use watchfloor::collect::docker;
use watchfloor::collect::stats::{Sampler, StatsTarget};
use watchfloor::link::Link;
use watchfloor::link::local::Local;

const INTERVAL: Duration = Duration::from_secs(2);

/// CPU ticks of the processes whose name starts with one of `names` (the Docker side).
fn docker_ticks() -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // "pid (comm) state ..." — comm may hold spaces; fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        if !["dockerd", "containerd", "containerd-shim"]
            .iter()
            .any(|n| comm.starts_with(n))
        {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the comm.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += ticks(11) + ticks(12);
    }
    total
}

/// (own ticks, ticks of reaped children: the sh and awk of the cgroup reader).
fn own_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let f: Vec<u64> = after.split(' ').map(|v| v.parse().unwrap_or(0)).collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (at(11) + at(12), at(13) + at(14))
}

fn pct(ticks: u64, secs: f64) -> f64 {
    let hz = 100.0; // USER_HZ on Linux
    ticks as f64 / hz / secs * 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo test --all-targets` runs bench binaries too, without --bench: minutes of
    // measuring have no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "stats_cost: measures for minutes; run it with cargo bench or scripts/bench-stats.sh"
        );
        return;
    }
    let secs: u64 = std::env::var("STATS_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
    let link: Arc<dyn Link> = Arc::new(Local::new("bench"));
    let client = match docker::connect(link.clone(), &socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stats_cost: {e} (set DOCKER_HOST; scripts/bench-stats.sh does)");
            return;
        }
    };
    let list = client
        .list_containers(Some(ListContainersOptions::default()))
        .await
        .unwrap_or_default();
    let mut targets = Vec::new();
    for c in list {
        let Some(id) = c.id else { continue };
        let pid = client
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|i| i.state?.pid)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        if let Some(pid) = pid {
            targets.push(StatsTarget { id, pid });
        }
    }
    if targets.is_empty() {
        eprintln!("stats_cost: no running containers at {socket}");
        return;
    }
    println!(
        "stats sampling cost ({} running containers, every {}s, {secs} s each way)",
        targets.len(),
        INTERVAL.as_secs()
    );
    let window = Duration::from_secs(secs);
    let d0 = docker_ticks();
    tokio::time::sleep(window).await;
    let idle = pct(docker_ticks() - d0, secs as f64);
    println!("  idle:         dockerd + containerd + shims {idle:.2} % of one core");
    // The cgroup way gets no Docker client: it must not fall back to the API here.
    for (name, mut sampler, api) in [
        ("cgroup files", Sampler::default(), None),
        ("stats API", Sampler::api_only(), Some(&client)),
    ] {
        let (d0, (o0, c0), t0) = (docker_ticks(), own_ticks(), Instant::now());
        let (mut samples, mut failed, mut busy) = (0u32, 0u32, Duration::ZERO);
        while t0.elapsed() < window {
            let tick = Instant::now();
            match sampler.sample(&*link, api, &targets).await {
                Ok(s) if s.stats.len() == targets.len() => samples += 1,
                Ok(_) => failed += 1,
                Err(e) => {
                    failed += 1;
                    eprintln!("  {name}: {e}");
                }
            }
            busy += tick.elapsed();
            tokio::time::sleep(INTERVAL.saturating_sub(tick.elapsed())).await;
        }
        let took = t0.elapsed().as_secs_f64();
        let (o1, c1) = own_ticks();
        let docker = pct(docker_ticks() - d0, took);
        println!(
            "  {name:<13} dockerd + containerd + shims {docker:.2} % ({:+.2} % over idle), \
             sh + awk {:.2} %, this process {:.2} %; {samples} samples ({} ms each), {failed} incomplete",
            docker - idle,
            pct(c1 - c0, took),
            pct(o1 - o0, took),
            busy.as_millis() / u128::from((samples + failed).max(1)),
        );
    }
}
