//! Host health: CPU busy over the interval, load 1/5/15, memory and swap used, uptime — read
//! from `/proc` in one exec per sample (works on any Linux, busybox included). CPU % needs two
//! readings of `/proc/stat`: the collector keeps the last one; the first sample of a connection
//! reads twice, a second apart, so even a one-shot snapshot has a figure.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{Collect, CollectError, Context, Sample, Sampling};
use crate::config::HostSpec;
use crate::link::{self, ExitStatus, Link};
use crate::sanitize::plain;

const TIMEOUT: Duration = Duration::from_secs(15);
const READ: &str = "head -n1 stat; echo ncpu $(grep -c '^cpu[0-9]' stat); echo load $(cat loadavg); \
                    echo up $(cat uptime); grep -E '^(MemTotal|MemAvailable|MemFree|Buffers|Cached|SwapTotal|SwapFree):' meminfo";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// Percent of all CPUs busy since the previous reading (not idle, not waiting for I/O).
    pub cpu_pct: Option<f64>,
    pub cpus: u32,
    pub load: [f64; 3],
    #[serde(rename = "uptime_s", serialize_with = "crate::text::secs")]
    pub uptime: Duration,
    pub mem_total_bytes: u64,
    /// Total less MemAvailable: what the kernel could not give to a new program.
    pub mem_used_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub observed_at: Timestamp,
}

impl HealthSnapshot {
    pub fn mem_pct(&self) -> f64 {
        super::disks::pct(self.mem_used_bytes, self.mem_total_bytes)
    }
}

/// One line of `/proc/stat`'s aggregate `cpu` counters, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

impl CpuTimes {
    /// Busy share between `self` (earlier) and `later`; None if no time passed.
    pub fn busy_pct(self, later: CpuTimes) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let busy = later.busy.saturating_sub(self.busy);
        (total > 0).then(|| (busy as f64 * 100.0 / total as f64).min(100.0))
    }
}

/// What one run of the command printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// One or two `cpu` lines, oldest first.
    pub cpu: Vec<CpuTimes>,
    pub cpus: u32,
    pub load: [f64; 3],
    pub uptime: Duration,
    pub mem_total_kb: u64,
    pub mem_available_kb: u64,
    pub swap_total_kb: u64,
    pub swap_free_kb: u64,
}

struct Health {
    link: Arc<dyn Link>,
    interval: Duration,
    last: Option<CpuTimes>,
}

impl Collect for Health {
    fn name(&self) -> String {
        "host health".into()
    }
    fn sampling(&self) -> Sampling {
        Sampling::Every(self.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Sample> {
        Box::pin(async {
            let result = sample(&*self.link, &mut self.last).await;
            Sample::Health(result)
        })
    }
    fn fail(&self, error: CollectError) -> Sample {
        Sample::Health(Err(error))
    }
}

/// Every host but a tunnels-only one (the admin's own machine) has its health read.
pub fn collector(spec: &HostSpec, cx: &Context) -> Option<Box<dyn Collect>> {
    (!spec.tunnels_only).then(|| {
        Box::new(Health {
            link: cx.link().clone(),
            interval: spec.health_interval,
            last: None,
        }) as Box<dyn Collect>
    })
}

/// Reads once; `last` holds the CPU counters of the previous reading and is updated.
pub async fn sample(
    link: &dyn Link,
    last: &mut Option<CpuTimes>,
) -> Result<HealthSnapshot, CollectError> {
    let command = match last {
        Some(_) => format!("cd /proc && {{ {READ}; }}"),
        None => format!("cd /proc && {{ head -n1 stat; sleep 1; {READ}; }}"),
    };
    let out = link::run(link, &command, TIMEOUT).await?;
    // Kilobytes to bytes without overflowing on a garbled figure.
    let bytes = |kb: u64| kb.saturating_mul(1024);
    if out.status != ExitStatus::Code(0) {
        return Err(CollectError::Command {
            command: "reading /proc".into(),
            status: out.status.clone(),
            stderr: out.stderr_line(),
        });
    }
    let r = parse(&out.stdout_text()).map_err(|m| CollectError::parse("reading /proc", m))?;
    let now = r.cpu.last().copied();
    let before = match r.cpu.as_slice() {
        [first, _] => Some(*first),
        _ => *last,
    };
    *last = now;
    Ok(HealthSnapshot {
        cpu_pct: before.zip(now).and_then(|(b, n)| b.busy_pct(n)),
        cpus: r.cpus,
        load: r.load,
        uptime: r.uptime,
        mem_total_bytes: bytes(r.mem_total_kb),
        mem_used_bytes: bytes(r.mem_total_kb.saturating_sub(r.mem_available_kb)),
        swap_total_bytes: bytes(r.swap_total_kb),
        swap_used_bytes: bytes(r.swap_total_kb.saturating_sub(r.swap_free_kb)),
        observed_at: Timestamp::now(),
    })
}

/// Parses the command's output; every field is required, so a changed format is an error
/// rather than a zero.
pub fn parse(text: &str) -> Result<Reading, String> {
    let mut cpu = Vec::new();
    let (mut cpus, mut load, mut uptime) = (None, None, None);
    let (mut total, mut avail, mut swap_total, mut swap_free) = (None, None, None, None);
    let (mut free, mut buffers, mut cached) = (None::<u64>, None::<u64>, None::<u64>);
    let num = |s: &str, what: &str| -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("{what}: `{}` is not a number", plain(s)))
    };
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let ticks = f
                    .map(|v| num(v, "/proc/stat"))
                    .collect::<Result<Vec<u64>, _>>()?;
                if ticks.len() < 4 {
                    return Err(format!(
                        "/proc/stat: {} counters, expected 4 or more",
                        ticks.len()
                    ));
                }
                // user nice system idle iowait irq softirq steal [guest guest_nice]: guest
                // time is already in user/nice, so it is not added twice.
                let counted = &ticks[..ticks.len().min(8)];
                let overflow = || "/proc/stat: counters overflow".to_owned();
                let idle = ticks[3]
                    .checked_add(ticks.get(4).copied().unwrap_or(0))
                    .ok_or_else(overflow)?;
                let all = counted
                    .iter()
                    .try_fold(0u64, |sum, t| sum.checked_add(*t))
                    .ok_or_else(overflow)?;
                cpu.push(CpuTimes {
                    busy: all.saturating_sub(idle),
                    total: all,
                });
            }
            Some("ncpu") => cpus = f.next().map(|v| num(v, "cpu count")).transpose()?,
            Some("load") => {
                let v: Vec<f64> = f.take(3).filter_map(|v| v.parse().ok()).collect();
                load = <[f64; 3]>::try_from(v).ok();
            }
            Some("up") => {
                uptime = f
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok());
            }
            Some(
                key @ ("MemTotal:" | "MemAvailable:" | "MemFree:" | "Buffers:" | "Cached:"
                | "SwapTotal:" | "SwapFree:"),
            ) => {
                let v = Some(num(f.next().unwrap_or(""), key)?);
                match key {
                    "MemTotal:" => total = v,
                    "MemAvailable:" => avail = v,
                    "MemFree:" => free = v,
                    "Buffers:" => buffers = v,
                    "Cached:" => cached = v,
                    "SwapTotal:" => swap_total = v,
                    _ => swap_free = v,
                }
            }
            _ => {}
        }
    }
    let missing = |what: &str| format!("no {what} in the output");
    if cpu.is_empty() {
        return Err(missing("cpu line of /proc/stat"));
    }
    Ok(Reading {
        cpu,
        cpus: u32::try_from(cpus.ok_or_else(|| missing("cpu count"))?).unwrap_or(u32::MAX),
        load: load.ok_or_else(|| missing("/proc/loadavg"))?,
        uptime: uptime.ok_or_else(|| missing("/proc/uptime"))?,
        mem_total_kb: total.ok_or_else(|| missing("MemTotal"))?,
        // Kernels before 3.14 have no MemAvailable: free + buffers + page cache is what
        // `free` showed as available then.
        mem_available_kb: avail.unwrap_or_else(|| {
            [free, buffers, cached]
                .into_iter()
                .flatten()
                .fold(0u64, u64::saturating_add)
        }),
        swap_total_kb: swap_total.unwrap_or(0),
        swap_free_kb: swap_free.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_READINGS: &str = "cpu  100 0 50 800 50 0 0 0 0 0\n\
        cpu  160 0 70 880 50 10 0 0 0 0\n\
        ncpu 2\n\
        load 0.52 0.40 0.31 2/311 4242\n\
        up 93784.12 180000.00\n\
        MemTotal:       2048000 kB\n\
        MemAvailable:    512000 kB\n\
        SwapTotal:      1024000 kB\n\
        SwapFree:       1000000 kB\n";

    #[test]
    fn cpu_is_busy_share_between_two_readings() {
        let r = parse(TWO_READINGS).unwrap();
        assert_eq!(r.cpu.len(), 2);
        // busy went 150 -> 240 (+90), total 1000 -> 1170 (+170)
        let pct = r.cpu[0].busy_pct(r.cpu[1]).unwrap();
        assert!((pct - 90.0 * 100.0 / 170.0).abs() < 1e-9, "{pct}");
        assert_eq!(r.cpus, 2);
        assert_eq!(r.load, [0.52, 0.40, 0.31]);
        assert_eq!(r.uptime.as_secs(), 93784);
        assert_eq!((r.mem_total_kb, r.mem_available_kb), (2_048_000, 512_000));
        assert_eq!((r.swap_total_kb, r.swap_free_kb), (1_024_000, 1_000_000));
    }

    #[test]
    fn missing_or_garbled_fields_are_errors_that_name_them() {
        let no_mem = TWO_READINGS.replace("MemTotal", "MemXotal");
        assert!(parse(&no_mem).unwrap_err().contains("MemTotal"));
        let bad = TWO_READINGS.replace("cpu  100", "cpu  \x1b[2J");
        let err = parse(&bad).unwrap_err();
        assert!(
            err.contains("not a number") && !err.contains('\x1b'),
            "{err:?}"
        );
        assert!(parse("").unwrap_err().contains("cpu line"));
    }

    #[test]
    fn absurd_figures_are_errors_not_panics_and_old_kernels_count_the_page_cache() {
        let huge = TWO_READINGS.replace("up 93784.12", "up 1e300");
        assert!(parse(&huge).unwrap_err().contains("uptime"));
        let overflow = TWO_READINGS.replace(
            "cpu  100 0 50 800",
            "cpu  18446744073709551615 18446744073709551615 0 1",
        );
        assert!(parse(&overflow).unwrap_err().contains("overflow"));
        let old = TWO_READINGS.replace(
            "MemAvailable:    512000 kB",
            "MemFree: 100000 kB\nBuffers: 50000 kB\nCached: 250000 kB",
        );
        assert_eq!(parse(&old).unwrap().mem_available_kb, 400_000);
    }

    #[test]
    fn a_counter_going_backwards_gives_no_figure() {
        let a = CpuTimes {
            busy: 10,
            total: 100,
        };
        let b = CpuTimes { busy: 5, total: 50 };
        assert_eq!(a.busy_pct(b), None);
        assert_eq!(a.busy_pct(a), None);
    }

    #[tokio::test]
    async fn reads_this_machines_proc() {
        let link = crate::link::local::Local::new("here".to_owned());
        let mut last = None;
        let first = sample(&link, &mut last).await.unwrap();
        let cpu = first.cpu_pct.expect("the first sample reads twice");
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        assert!(first.cpus >= cpus, "{} < {cpus}", first.cpus);
        assert!(first.mem_total_bytes > 0 && first.mem_used_bytes <= first.mem_total_bytes);
        assert!(first.uptime > Duration::ZERO);
        assert!(last.is_some());
        // Counters move in 10 ms ticks: give them some to move.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = sample(&link, &mut last).await.unwrap();
        assert!(second.cpu_pct.is_some_and(|c| (0.0..=100.0).contains(&c)));
    }
}
