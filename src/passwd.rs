//! The passwd entry of the user running watchfloor: the name and home OpenSSH uses (`%u`,
//! `~`, `%d`, the default User and ~/.ssh files), which `USER` and `HOME` may not be under
//! `sudo -E`, cron or a container. /etc/passwd first, then `getent` (NSS: LDAP, sssd).

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub home: PathBuf,
}

/// The entry of this process's uid, if the user database has one.
pub fn current() -> Option<Entry> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    let local = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    entry_of(&local, uid).or_else(|| {
        let out = std::process::Command::new("getent")
            .args(["passwd", &uid.to_string()])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        entry_of(&String::from_utf8_lossy(&out.stdout), uid)
    })
}

/// The entry of `uid` in passwd(5) text: name:pw:uid:gid:gecos:home:shell.
pub fn entry_of(passwd: &str, uid: u32) -> Option<Entry> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let id: u32 = f.get(2)?.parse().ok()?;
        let (name, home) = (*f.first()?, *f.get(5)?);
        (id == uid && !name.is_empty()).then(|| Entry {
            name: name.to_owned(),
            home: PathBuf::from(home),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_of_a_uid_gives_its_name_and_home() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/sh\nbroken\n";
        assert_eq!(
            entry_of(passwd, 1000),
            Some(Entry {
                name: "alice".into(),
                home: "/home/alice".into()
            })
        );
        assert_eq!(entry_of(passwd, 0).unwrap().home, PathBuf::from("/root"));
        assert_eq!(entry_of(passwd, 7), None);
    }
}
