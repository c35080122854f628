//! Disk usage from POSIX `df -P` (sizes) and `df -P -i` (inodes), run over the host's link in
//! one command. Works with GNU coreutils and busybox. Pseudo filesystems are left out.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::CollectError;
use crate::link::{self, Link};
use crate::sanitize::plain;

const COMMAND: &str = "LC_ALL=C df -P -k; echo '--- inodes'; LC_ALL=C df -P -i";
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filesystem {
    /// The device or source, e.g. "/dev/vda1".
    pub device: String,
    pub mount: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
    pub avail_bytes: u64,
    pub inodes_total: Option<u64>,
    pub inodes_used: Option<u64>,
}

impl Filesystem {
    /// Percent used as df computes it: used / (used + available), so root's reserve counts as full.
    pub fn use_pct(&self) -> f64 {
        pct(self.used_bytes, self.used_bytes + self.avail_bytes)
    }

    /// Percent of inodes used, when the filesystem has a fixed inode table.
    pub fn inode_pct(&self) -> Option<f64> {
        match (self.inodes_used, self.inodes_total) {
            (Some(used), Some(total)) if total > 0 => Some(pct(used, total)),
            _ => None,
        }
    }
}

/// `part` of `whole` in percent; 0 of nothing is 0.
pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisksSnapshot {
    /// In df's order (mount order).
    pub filesystems: Vec<Filesystem>,
    pub observed_at: Timestamp,
}

impl DisksSnapshot {
    /// The filesystem with the highest use, by space or inodes.
    pub fn fullest(&self) -> Option<&Filesystem> {
        self.filesystems
            .iter()
            .max_by(|a, b| worst_pct(a).total_cmp(&worst_pct(b)))
    }
}

pub fn worst_pct(fs: &Filesystem) -> f64 {
    fs.use_pct().max(fs.inode_pct().unwrap_or(0.0))
}

/// The disks collector: `df` every `disks_interval` (not on a tunnels-only host).
struct Disks {
    link: std::sync::Arc<dyn Link>,
    interval: Duration,
}

impl super::Collect for Disks {
    fn name(&self) -> String {
        "disks".into()
    }
    fn sampling(&self) -> super::Sampling {
        super::Sampling::Every(self.interval)
    }
    fn next(&mut self) -> futures_util::future::BoxFuture<'_, super::Sample> {
        Box::pin(async { super::Sample::Disks(sample(&*self.link).await) })
    }
    fn fail(&self, error: CollectError) -> super::Sample {
        super::Sample::Disks(Err(error))
    }
}

pub fn collector(
    spec: &crate::config::HostSpec,
    cx: &super::Context,
) -> Option<Box<dyn super::Collect>> {
    (!spec.tunnels_only).then(|| {
        Box::new(Disks {
            link: cx.link().clone(),
            interval: spec.disks_interval,
        }) as Box<dyn super::Collect>
    })
}

pub async fn sample(link: &dyn Link) -> Result<DisksSnapshot, CollectError> {
    let out = link::run(link, COMMAND, TIMEOUT).await?;
    let text = out.stdout_text();
    // df exits 1 when one mount could not be read (a stale NFS handle, a FUSE mount of another
    // user) but still prints the rest: only output without a header is a failure.
    let filesystems = parse(&text).map_err(|message| {
        if out.status.success() || out.stderr.is_empty() {
            CollectError::parse("df -P", message)
        } else {
            CollectError::Command {
                command: "df -P".into(),
                status: out.status.clone(),
                stderr: out.stderr_line(),
            }
        }
    })?;
    Ok(DisksSnapshot {
        filesystems,
        observed_at: Timestamp::now(),
    })
}

/// Parses the output of [`COMMAND`]: a `df -P -k` table, a `--- inodes` line, a `df -P -i` table.
/// The inode part may be missing or empty (some systems lack `-i`).
pub fn parse(text: &str) -> Result<Vec<Filesystem>, String> {
    let (blocks, inodes) = text.split_once("--- inodes\n").unwrap_or((text, ""));
    let mut filesystems = Vec::new();
    let mut devices_seen = std::collections::HashSet::new();
    for row in table(blocks)? {
        let [device, size, used, avail] =
            [row.fields[0], row.fields[1], row.fields[2], row.fields[3]];
        let kib = |s: &str| {
            s.parse::<u64>()
                .map(|n| n * 1024)
                .map_err(|_| format!("not a number: {s:?}"))
        };
        let size_bytes = kib(size)?;
        // The same device mounted twice (bind mounts) is one disk: keep its first mount.
        if is_pseudo(device, row.mount) || size_bytes == 0 || !devices_seen.insert(device) {
            continue;
        }
        filesystems.push(Filesystem {
            device: plain(device),
            mount: plain(row.mount),
            size_bytes,
            used_bytes: kib(used)?,
            avail_bytes: kib(avail)?,
            inodes_total: None,
            inodes_used: None,
        });
    }
    if let Ok(rows) = table(inodes) {
        for row in rows {
            let mount = plain(row.mount);
            if let Some(fs) = filesystems.iter_mut().find(|f| f.mount == mount) {
                fs.inodes_total = row.fields[1].parse().ok();
                fs.inodes_used = row.fields[2].parse().ok();
            }
        }
    }
    Ok(filesystems)
}

struct Row<'a> {
    fields: [&'a str; 5],
    mount: &'a str,
}

/// Splits a POSIX df table into rows of five fields plus the mount point, which may contain spaces.
fn table(text: &str) -> Result<Vec<Row<'_>>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("no output")?;
    if !header.starts_with("Filesystem") {
        return Err(format!("no df header in {:?}", plain(header)));
    }
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut rest = line;
        let mut fields = [""; 5];
        for field in &mut fields {
            rest = rest.trim_start();
            let end = rest
                .find(char::is_whitespace)
                .ok_or_else(|| format!("short df line {:?}", plain(line)))?;
            (*field, rest) = rest.split_at(end);
        }
        let mount = rest.trim_start();
        if mount.is_empty() {
            return Err(format!("df line without a mount point: {:?}", plain(line)));
        }
        rows.push(Row { fields, mount });
    }
    Ok(rows)
}

/// Memory-backed and kernel filesystems, container layers and snap images: not disks an admin
/// can fill or free.
fn is_pseudo(device: &str, mount: &str) -> bool {
    const DEVICES: &[&str] = &[
        "tmpfs",
        "devtmpfs",
        "udev",
        "overlay",
        "shm",
        "none",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "nsfs",
        "devpts",
        "mqueue",
        "hugetlbfs",
        "efivarfs",
        "fusectl",
        "tracefs",
        "debugfs",
        "securityfs",
        "ramfs",
        "rootfs",
    ];
    const MOUNT_PREFIXES: &[&str] = &[
        "/proc",
        "/sys",
        "/dev/",
        "/run/",
        "/snap/",
        "/var/lib/docker/",
        "/run/docker/",
    ];
    // "/" is always a disk, even when it is an overlay (a console run inside a container).
    mount != "/"
        && (DEVICES.contains(&device) || MOUNT_PREFIXES.iter().any(|p| mount.starts_with(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = include_str!("../../tests/fixtures/df-debian.txt");
    const BUSYBOX: &str = include_str!("../../tests/fixtures/df-busybox.txt");

    #[test]
    fn parses_gnu_df_and_skips_pseudo_filesystems() {
        let fs = parse(DEBIAN).unwrap();
        let mounts: Vec<&str> = fs.iter().map(|f| f.mount.as_str()).collect();
        assert_eq!(mounts, ["/", "/boot", "/srv/backup disk"]);
        let root = &fs[0];
        assert_eq!(root.device, "/dev/vda1");
        assert_eq!(root.size_bytes, 51_290_592 * 1024);
        assert_eq!(root.inodes_total, Some(3_276_800));
        assert!((root.use_pct() - 83.37).abs() < 0.01, "{}", root.use_pct());
        assert!((root.inode_pct().unwrap() - 12.0).abs() < 0.01);
    }

    #[test]
    fn parses_busybox_df() {
        let fs = parse(BUSYBOX).unwrap();
        let mounts: Vec<&str> = fs.iter().map(|f| f.mount.as_str()).collect();
        assert_eq!(mounts, ["/", "/boot"]);
        assert_eq!(fs[0].inodes_used, Some(20_111));
    }

    #[test]
    fn inode_part_is_optional() {
        let text = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 50 50 50% /\n";
        let fs = parse(text).unwrap();
        assert_eq!(fs[0].inode_pct(), None);
        assert!((fs[0].use_pct() - 50.0).abs() < f64::EPSILON);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse("").is_err());
        assert!(parse("sh: df: not found\n").is_err());
        assert!(
            parse(
                "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 x 1 1 1% /\n"
            )
            .is_err()
        );
        assert!(parse("Filesystem 1024-blocks Used\n/dev/sda1 1\n").is_err());
    }

    #[test]
    fn hostile_mount_names_are_sanitised() {
        let text = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 100 50 50 50% /mnt/\u{1b}]0;x\u{7}evil\n";
        assert_eq!(parse(text).unwrap()[0].mount, "/mnt/evil");
    }

    #[test]
    fn fullest_counts_inodes_too() {
        let mut fs = parse(DEBIAN).unwrap();
        fs[2].inodes_used = fs[2].inodes_total; // 100 % inodes beats 83 % space
        let snap = DisksSnapshot {
            filesystems: fs,
            observed_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(snap.fullest().unwrap().mount, "/srv/backup disk");
    }
}
