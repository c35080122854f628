//! watchfloor's own log file, capped in size: a console pinned in tmux for weeks must not fill
//! the admin's disk. When the file would pass [`CAP`], it becomes `watchfloor.log.1` (the one
//! before that is dropped) and a new file starts: at most twice the cap on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Bytes per file.
pub const CAP: u64 = 10 << 20;

pub struct CappedFile {
    path: PathBuf,
    file: File,
    size: u64,
    cap: u64,
}

impl CappedFile {
    pub fn open(path: &Path, cap: u64) -> io::Result<CappedFile> {
        let file = open(path)?;
        let size = file.metadata()?.len();
        Ok(CappedFile {
            path: path.to_path_buf(),
            file,
            size,
            cap,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, old)?;
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.cap {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_at_the_cap_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = CappedFile::open(&path, 100).expect("opens");
        for i in 0..30 {
            writeln!(f, "line {i:02} ......").expect("writes"); // 16 bytes
        }
        let now = std::fs::read_to_string(&path).expect("current");
        let old = std::fs::read_to_string(dir.path().join("w.log.1")).expect("rotated");
        assert!(now.len() <= 100 && old.len() <= 100, "{now:?} {old:?}");
        assert!(now.ends_with("line 29 ......\n"), "{now}");
        assert!(!dir.path().join("w.log.2").exists());
        // Reopening counts what is already there.
        let mut again = CappedFile::open(&path, 100).expect("reopens");
        for _ in 0..10 {
            writeln!(again, "more ..........").expect("writes");
        }
        assert!(std::fs::metadata(&path).expect("meta").len() <= 100);
    }
}
