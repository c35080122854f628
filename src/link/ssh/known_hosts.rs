//! Host key verification against OpenSSH known_hosts files, as strict as ssh(1) with
//! `StrictHostKeyChecking=yes|accept-new`: several files, wildcards, negation, hashed names,
//! `@revoked`. Reads and appends files only; whether an unknown key may be learned is the
//! caller's decision. Semantics follow OpenSSH's hostfile.c, match.c and sshconnect.c.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{self, Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// What the known_hosts files say about the key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line for this host with this exact key exists (and no @revoked line matches the key).
    Known { file: PathBuf, line: usize },
    /// No line names this host at all (any key type): unknown, may be accepted with accept-new.
    Unknown,
    /// Lines name this host but none has this key: either the same key type with a different
    /// key, or only other key types are recorded (OpenSSH's hostfile.c returns HOST_CHANGED for
    /// any non-matching key of the host, whatever its type — so accept-new never trusts a
    /// swapped key). `line` is the first line that names the host.
    Changed { file: PathBuf, line: usize },
    /// The key is listed under @revoked (in any file) — refused always.
    Revoked { file: PathBuf, line: usize },
    /// No plain key for this host, but a @cert-authority line vouches for its certificates:
    /// ssh would check a host certificate, which watchfloor does not support. Never learned.
    CertAuthority { file: PathBuf, line: usize },
}

/// Why known_hosts could not be consulted or written; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error(
        "cannot read known_hosts file {path}: {source}; check its permissions, or remove it from UserKnownHostsFile"
    )]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot record the host key in {path}: {source}; check that the file and its directory are writable"
    )]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot encode the host key for {path}: {source}; the key type may not be supported")]
    Encode {
        path: PathBuf,
        source: ssh_key::Error,
    },
    #[error(
        "cannot read random bytes from /dev/urandom to hash the host name: {source}; record it unhashed instead"
    )]
    Random { source: io::Error },
}

/// Checks `key`, presented by `host` on `port`, against `files` in order (the user's files, then
/// the global one). Missing files count as empty; unreadable ones are an error. Malformed lines
/// are skipped like OpenSSH does. `host` is compared case-insensitively.
///
/// @revoked lines apply when their host field matches the host, exactly as in OpenSSH
/// (`load_hostkeys` only keeps matching lines, then `check_key_not_revoked` scans them): write
/// `@revoked * <key>` to revoke a key everywhere. A revoked key wins over a Known line.
///
/// For a port other than 22, if nothing names `[host]:port`, a line for the bare `host` with
/// this exact key is accepted (Known), as ssh(1) does ("checking without port identifier").
pub fn verify(
    host: &str,
    port: u16,
    key: &PublicKey,
    files: &[PathBuf],
) -> Result<Verdict, KnownHostsError> {
    let verdict = judge(&entries(&lookup_name(host, port), files, true)?, key, files);
    if verdict == Verdict::Unknown && !is_default_port(port) {
        let bare = judge(&entries(&lookup_name(host, 22), files, true)?, key, files);
        // OpenSSH only takes an exact match from this second look; a revoked key is refused too,
        // stricter than ssh(1) (which would then treat the host as new).
        // ssh looks certificate authorities up under the bare name too ("Host '127.0.0.1' is
        // known and matches the ED25519-CERT host certificate").
        if matches!(
            bare,
            Verdict::Known { .. } | Verdict::Revoked { .. } | Verdict::CertAuthority { .. }
        ) {
            return Ok(bare);
        }
    }
    Ok(verdict)
}

/// The key types recorded for this host (@revoked and @cert-authority lines excluded), in file
/// order without repeats, so the caller can put them first in the client's preferred host-key
/// algorithms like OpenSSH's `order_hostkeyalgs`. Each entry is the key's own algorithm: an RSA
/// key appears once as `ssh-rsa` (`Algorithm::Rsa { hash: None }`); choosing rsa-sha2-512/256
/// is the caller's job. Falls back to the bare name for a non-22 port like [`verify`].
/// Unreadable files are skipped here ([`verify`] reports them).
pub fn recorded_algorithms(host: &str, port: u16, files: &[PathBuf]) -> Vec<Algorithm> {
    let mut found = recorded(&lookup_name(host, port), files);
    if found.is_empty() && !is_default_port(port) {
        found = recorded(&lookup_name(host, 22), files);
    }
    found
}

/// Appends a line for host/port/key to `file`, creating the file (0600) and its missing parent
/// directories (0700). Format as ssh(1) writes it: lowercased `host` for port 22, `[host]:port`
/// otherwise, or with `hashed` a `|1|salt|hmac` name (HashKnownHosts); then the key type and
/// base64 blob, no comment. Adds a newline first if the file does not end with one.
pub fn learn(
    host: &str,
    port: u16,
    key: &PublicKey,
    file: &Path,
    hashed: bool,
) -> Result<(), KnownHostsError> {
    let write_err = |source| KnownHostsError::Write {
        path: file.to_owned(),
        source,
    };
    let blob = key.to_bytes().map_err(|source| KnownHostsError::Encode {
        path: file.to_owned(),
        source,
    })?;
    let name = lookup_name(host, port);
    let name = if hashed { hash_name(&name)? } else { name };
    let mut line = format!(
        "{name} {} {}\n",
        key.algorithm().as_str(),
        BASE64.encode(blob)
    );

    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err)?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)
        .map_err(write_err)?;
    // A last line without '\n' would swallow ours (OpenSSH's add_host_to_hostfile does the same).
    if f.metadata().map_err(write_err)?.len() > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(write_err)?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    // One write: with O_APPEND a concurrent writer cannot split the line.
    f.write_all(line.as_bytes()).map_err(write_err)
}

/// SHA256 fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Plain,
    Revoked,
    CertAuthority,
}

/// One line whose host field matched the looked-up name.
struct Entry {
    marker: Marker,
    key: PublicKey,
    file: usize,
    line: usize,
}

fn judge(entries: &[Entry], key: &PublicKey, files: &[PathBuf]) -> Verdict {
    let at = |e: &Entry| (files[e.file].clone(), e.line);
    let same = |e: &&Entry| e.key.key_data() == key.key_data();
    let plain = |e: &&Entry| e.marker == Marker::Plain;
    let revoked = |e: &&Entry| e.marker == Marker::Revoked;
    if let Some((file, line)) = entries.iter().filter(revoked).find(same).map(at) {
        return Verdict::Revoked { file, line };
    }
    if let Some((file, line)) = entries.iter().filter(plain).find(same).map(at) {
        return Verdict::Known { file, line };
    }
    // @cert-authority lines vouch for certificates only, so they do not make a plain key
    // "changed"; with no plain line, they say the admin relies on host certificates.
    let ca = |e: &&Entry| e.marker == Marker::CertAuthority;
    match (
        entries.iter().find(plain).map(at),
        entries.iter().find(ca).map(at),
    ) {
        (Some((file, line)), _) => Verdict::Changed { file, line },
        (None, Some((file, line))) => Verdict::CertAuthority { file, line },
        (None, None) => Verdict::Unknown,
    }
}

fn recorded(name: &str, files: &[PathBuf]) -> Vec<Algorithm> {
    let mut algs: Vec<Algorithm> = Vec::new();
    // Unreadable files: `verify` reports them, ordering algorithms is best effort.
    for e in entries(name, files, false).unwrap_or_default() {
        let alg = e.key.algorithm();
        if e.marker == Marker::Plain && !algs.contains(&alg) {
            algs.push(alg);
        }
    }
    algs
}

/// Every parsable line of `files` whose host field matches `name`. With `strict`, a file that
/// exists but cannot be read is an error; otherwise it is skipped.
fn entries(name: &str, files: &[PathBuf], strict: bool) -> Result<Vec<Entry>, KnownHostsError> {
    let mut out = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound || !strict => continue,
            Err(source) => {
                return Err(KnownHostsError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            // A line that is not UTF-8 cannot name a host we look up; skip it like any bad line.
            let Ok(text) = std::str::from_utf8(raw) else {
                continue;
            };
            if let Some((marker, key)) = parse_line(text, name) {
                out.push(Entry {
                    marker,
                    key,
                    file: index,
                    line: n + 1,
                });
            }
        }
    }
    Ok(out)
}

/// Parses one known_hosts line as hostfile.c's `hostkeys_foreach` does; `None` for comments,
/// blank and malformed lines and lines whose host field does not match `name`.
fn parse_line(line: &str, name: &str) -> Option<(Marker, PublicKey)> {
    // '\r' too: a CRLF file still parses (OpenSSH's base64 decoder skips it as whitespace).
    let mut fields = line.split([' ', '\t', '\r']).filter(|f| !f.is_empty());
    let mut first = fields.next()?;
    if first.starts_with('#') {
        return None;
    }
    let marker = match first {
        "@cert-authority" => Marker::CertAuthority,
        "@revoked" => Marker::Revoked,
        // Unknown markers make the line invalid (check_markers returns MRK_ERROR).
        m if m.starts_with('@') => return None,
        _ => Marker::Plain,
    };
    if marker != Marker::Plain {
        first = fields.next()?;
    }
    if !host_field_matches(name, first) {
        return None;
    }
    let (kind, data) = (fields.next()?, fields.next()?);
    let key = PublicKey::from_bytes(&BASE64.decode(data).ok()?).ok()?;
    // Like sshkey_read: the type name must agree with the blob, and a key type it does not know
    // (ssh-key keeps those as opaque `Other` keys) makes the line invalid.
    (key.algorithm().as_str() == kind && !key.key_data().is_other()).then_some((marker, key))
}

/// The name ssh(1) looks up: the lowercased host, bracketed with the port unless it is 22.
fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if is_default_port(port) {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's put_host_port treats port 0 (unset) like 22.
fn is_default_port(port: u16) -> bool {
    port == 22 || port == 0
}

fn host_field_matches(name: &str, field: &str) -> bool {
    match field.strip_prefix('|') {
        Some(_) => hashed_name_matches(name, field),
        None => pattern_list_matches(name, field),
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, the only hash format OpenSSH writes.
fn hashed_name_matches(name: &str, field: &str) -> bool {
    let Some((salt, mac)) = field
        .strip_prefix("|1|")
        .and_then(|rest| rest.split_once('|'))
    else {
        return false;
    };
    let (Ok(salt), Ok(mac)) = (BASE64.decode(salt), BASE64.decode(mac)) else {
        return false;
    };
    // hostfile.c's extract_salt refuses salts that are not exactly one SHA-1 output long.
    if salt.len() != 20 {
        return false;
    }
    let Ok(mut hmac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    hmac.update(name.as_bytes());
    hmac.verify_slice(&mac).is_ok()
}

fn hash_name(name: &str) -> Result<String, KnownHostsError> {
    let mut salt = [0u8; 20];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|source| KnownHostsError::Random { source })?;
    let mut hmac = Hmac::<Sha1>::new_from_slice(&salt).expect("HMAC accepts keys of any length");
    hmac.update(name.as_bytes());
    Ok(format!(
        "|1|{}|{}",
        BASE64.encode(salt),
        BASE64.encode(hmac.finalize().into_bytes())
    ))
}

/// match.c's `match_pattern_list` as used by `match_hostname`: comma-separated patterns,
/// lowercased; a matching `!pattern` vetoes the whole list even if another pattern matched.
fn pattern_list_matches(name: &str, list: &str) -> bool {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        // match.c copies each pattern into a 1024-byte buffer and fails the list if it overflows.
        if pattern.len() >= 1023 {
            return false;
        }
        if wildcard_match(name.as_bytes(), pattern.to_ascii_lowercase().as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// match.c's `match_pattern`: `*` is any run of bytes, `?` exactly one byte, the rest literal.
fn wildcard_match(text: &[u8], pattern: &[u8]) -> bool {
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was and the text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    (p, t) = (sp + 1, st + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use russh::keys::ssh_key::EcdsaCurve;

    use super::*;

    // Made with `ssh-keygen -t ed25519|ecdsa|rsa -b 1024 -C ''`; fingerprints from `ssh-keygen -lf`.
    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ63ZO6E2499hPbdA7O6u4VjwdzsdSLEusR12VyQZXjK";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7t3t0spmLE/ZNzlq2IZA2sgzYm+QP/+SmCirOk8lLJ";
    const C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDrqLk/G8E3qVNca+Y9JMnGy+yx5gvstywCXcqMgZM8PbhFy3NvVJdeqgmNDcXNFLgAaAgb+hTHEFbjw8GmRM/M=";
    const D: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCx4mk3O0z9U5wcw7Sgd+gSvsQUZv7AFqx57Bcfl5BioSU4A3+0dqAgG05/PFmffVgH57Afi8MgeB4WytyD7McR+5gZcNZTgawNOW0jf/26if1FIy82Sz5N6ei6EaBI7UbrDRFK/dW6wgzHBwSsQWxAPhYa6kNt6xZBT86BDNspKQ==";
    // `ssh-keygen -H` of "host.example.com $A" and "[host.example.com]:2222 $A".
    const HASHED: &str = "|1|9+PLGeR2784/wogJ3vXbi8euHOs=|RJO78FFEGbPGndSthWJKtomuzGg= $A\n\
                          |1|wAzHoxVgnNsqJuJJU/Vqweghezc=|BUAIOp8DaXNElZQ2OoQmPvolNc8= $A\n";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    /// Writes one file per template ($A..$D stand for the keys above) into a fresh directory.
    fn write(templates: &[&str]) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = templates.iter().enumerate().map(|(i, t)| {
            let path = dir.path().join(format!("known_hosts{i}"));
            let text = t
                .replace("$A", A)
                .replace("$B", B)
                .replace("$C", C)
                .replace("$D", D);
            fs::write(&path, text).unwrap();
            path
        });
        let paths = paths.collect();
        (dir, paths)
    }

    /// The verdict as "kind file-index:line" (or "unknown"), so each case reads as one line.
    fn check(templates: &[&str], host: &str, port: u16, presented: &str) -> String {
        let (_dir, paths) = write(templates);
        verdict(&paths, host, port, presented)
    }

    fn verdict(paths: &[PathBuf], host: &str, port: u16, presented: &str) -> String {
        let at = |file: PathBuf, line| {
            let index = paths.iter().position(|p| *p == file).unwrap();
            format!("{index}:{line}")
        };
        match verify(host, port, &key(presented), paths).unwrap() {
            Verdict::Known { file, line } => format!("known {}", at(file, line)),
            Verdict::Changed { file, line } => format!("changed {}", at(file, line)),
            Verdict::Revoked { file, line } => format!("revoked {}", at(file, line)),
            Verdict::CertAuthority { file, line } => format!("ca {}", at(file, line)),
            Verdict::Unknown => "unknown".to_owned(),
        }
    }

    #[test]
    fn plain_line_is_known_and_lines_count_comments() {
        let kh = "# comment\n\nother.example.com $B\nhost.example.com $A\n";
        assert_eq!(check(&[kh], "host.example.com", 22, A), "known 0:4");
    }

    #[test]
    fn non_default_port_looks_up_bracketed_name() {
        let kh = "[host.example.com]:2222 $A\n";
        assert_eq!(check(&[kh], "host.example.com", 2222, A), "known 0:1");
        assert_eq!(check(&[kh], "host.example.com", 22, A), "unknown");
        assert_eq!(check(&["[host]:22 $A"], "host", 22, A), "unknown");
        assert_eq!(check(&["[host]:2222 $B"], "host", 2222, A), "changed 0:1");
    }

    #[test]
    fn other_port_falls_back_to_bare_name_for_the_exact_key_only() {
        // Checked against ssh(1) 9.2 with StrictHostKeyChecking=yes: "found matching key w/out port".
        assert_eq!(check(&["host $A"], "host", 2222, A), "known 0:1");
        assert_eq!(check(&["host $B"], "host", 2222, A), "unknown");
        assert_eq!(check(&["@revoked host $A"], "host", 2222, A), "revoked 0:1");
    }

    #[test]
    fn hashed_entries_match_both_name_forms() {
        assert_eq!(check(&[HASHED], "host.example.com", 22, A), "known 0:1");
        assert_eq!(check(&[HASHED], "HOST.example.com", 2222, A), "known 0:2");
        assert_eq!(check(&[HASHED], "host.example.com", 22, B), "changed 0:1");
        assert_eq!(check(&[HASHED], "other.example.com", 22, A), "unknown");
    }

    #[test]
    fn tabs_and_runs_of_spaces_separate_fields() {
        let kh = format!(
            "\t host.example.com \t{}\t  a comment\r\n",
            A.replace(' ', " \t ")
        );
        assert_eq!(check(&[&kh], "host.example.com", 22, A), "known 0:1");
    }

    #[test]
    fn host_patterns_follow_match_c() {
        // Each verdict below agrees with `ssh-keygen -F <name>` on the same file.
        let kh = "*.example.com $A\nweb?.example.org $A\n!bad.example.net,*.example.net $A\n\
                  alpha,beta,Gamma.Example.COM $B\n[*.example.com]:2222 $C\n";
        assert_eq!(check(&[kh], "a.example.com", 22, A), "known 0:1");
        assert_eq!(check(&[kh], "example.com", 22, A), "unknown");
        assert_eq!(check(&[kh], "web1.example.org", 22, A), "known 0:2");
        assert_eq!(check(&[kh], "web12.example.org", 22, A), "unknown");
        assert_eq!(check(&[kh], "good.example.net", 22, A), "known 0:3");
        assert_eq!(check(&[kh], "bad.example.net", 22, A), "unknown");
        assert_eq!(
            check(&["*.example.net,!bad.* $A"], "bad.example.net", 22, A),
            "unknown"
        );
        assert_eq!(check(&[kh], "beta", 22, B), "known 0:4");
        assert_eq!(check(&[kh], "GAMMA.example.com", 22, B), "known 0:4");
        assert_eq!(check(&[kh], "x.example.com", 2222, C), "known 0:5");
        // No [..]:2200 line; the bare-name fallback finds only line 1, with another key.
        assert_eq!(check(&[kh], "x.example.com", 2200, C), "unknown");
    }

    #[test]
    fn wildcards_backtrack() {
        assert!(wildcard_match(b"", b"*"));
        assert!(wildcard_match(b"aaab", b"*aab"));
        assert!(wildcard_match(b"abxbc", b"a*b*c"));
        assert!(!wildcard_match(b"ab", b"???"));
        assert!(!wildcard_match(b"abc", b"a*b"));
    }

    #[test]
    fn different_key_of_same_or_other_type_is_changed() {
        assert_eq!(
            check(&["x $A\nhost $B\nhost $B"], "host", 22, A),
            "changed 0:2"
        );
        assert_eq!(check(&["host $B\nhost $A"], "host", 22, A), "known 0:2");
        // Only ECDSA or RSA recorded and the host offers Ed25519: ssh(1) says CHANGED too.
        assert_eq!(check(&["host $C"], "host", 22, A), "changed 0:1");
        assert_eq!(check(&["host $D"], "host", 22, A), "changed 0:1");
        assert_eq!(check(&["host $D"], "host", 22, D), "known 0:1");
    }

    #[test]
    fn host_without_lines_is_unknown() {
        assert_eq!(check(&["other $A"], "host", 22, A), "unknown");
        assert_eq!(verify("host", 22, &key(A), &[]).unwrap(), Verdict::Unknown);
    }

    #[test]
    fn revoked_key_wins_over_a_known_line() {
        assert_eq!(
            check(&["host $A\n@revoked * $A"], "host", 22, A),
            "revoked 0:2"
        );
        assert_eq!(
            check(&["host $A", "@revoked\thost $A"], "host", 22, A),
            "revoked 1:1"
        );
        // As in ssh(1): a @revoked line applies only to hosts its host field matches.
        assert_eq!(
            check(&["@revoked other $A\nhost $A"], "host", 22, A),
            "known 0:2"
        );
    }

    #[test]
    fn cert_authority_lines_are_named_when_no_plain_key_is_recorded() {
        // ssh would check a host certificate here: the verdict says so, never "unknown".
        assert_eq!(check(&["@cert-authority host $B"], "host", 22, A), "ca 0:1");
        assert_eq!(check(&["@cert-authority * $A"], "host", 22, A), "ca 0:1");
        assert_eq!(
            check(&["@cert-authority *.other $A"], "host", 22, A),
            "unknown"
        );
        // A plain key decides as before: known, or changed.
        assert_eq!(
            check(&["@cert-authority * $B\nhost $A"], "host", 22, A),
            "known 0:2"
        );
        assert_eq!(
            check(&["@cert-authority * $A\nhost $B"], "host", 22, A),
            "changed 0:2"
        );
    }

    #[test]
    fn later_files_are_consulted_and_missing_files_are_fine() {
        assert_eq!(check(&["other $B", "host $A"], "host", 22, A), "known 1:1");
        assert_eq!(check(&["host $B", "host $A"], "host", 22, A), "known 1:1");
        let (dir, mut paths) = write(&["host $A"]);
        paths.insert(0, dir.path().join("missing"));
        assert_eq!(verdict(&paths, "host", 22, A), "known 1:1");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let kh = "host ssh-ed25519 !!!\nhost ssh-foo AAAA\nhost\nhost ssh-ed25519\n@bogus host $A\n\
                  host ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJ63ZO6E2499hPbdA7O6u4VjwdzsdSLEusR12VyQZXjK\n\
                  |1|c2hvcnQ=|abc= $B\n@revoked @revoked host $A\n\
                  host ssh-foo@example.com AAAAE3NzaC1mb29AZXhhbXBsZS5jb20AAAAEZGF0YQ==\n";
        assert_eq!(check(&[kh], "host", 22, A), "unknown");
        assert_eq!(
            check(&[&format!("{kh}host $A\n")], "host", 22, A),
            "known 0:10"
        );
        let (_dir, paths) = write(&[""]);
        fs::write(
            &paths[0],
            [b"host \xff\n".as_slice(), format!("host {A}\n").as_bytes()].concat(),
        )
        .unwrap();
        assert_eq!(verdict(&paths, "host", 22, A), "known 0:2");
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![dir.path().to_owned()];
        assert!(matches!(
            verify("host", 22, &key(A), &paths),
            Err(KnownHostsError::Read { .. })
        ));
        assert!(recorded_algorithms("host", 22, &paths).is_empty());
    }

    #[test]
    fn learned_keys_are_known_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new/.ssh/known_hosts");
        learn("Host.Example.com", 22, &key(A), &file, false).unwrap();
        learn("host.example.com", 2222, &key(B), &file, false).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("host.example.com {A}\n[host.example.com]:2222 {B}\n")
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode(&file), mode(dir.path().join("new/.ssh").as_path())),
            (0o600, 0o700)
        );
        let files = [file];
        assert_eq!(verdict(&files, "host.example.com", 22, A), "known 0:1");
        assert_eq!(verdict(&files, "host.example.com", 2222, B), "known 0:2");
    }

    #[test]
    fn learned_hashed_keys_are_known_and_hide_the_name() {
        let (_dir, paths) = write(&["other $C"]); // no final newline: learn must add one
        for (port, presented) in [(22, A), (2222, B)] {
            learn("host.example.com", port, &key(presented), &paths[0], true).unwrap();
            let line = if port == 22 { "known 0:2" } else { "known 0:3" };
            assert_eq!(verdict(&paths, "host.example.com", port, presented), line);
        }
        let text = fs::read_to_string(&paths[0]).unwrap();
        assert!(!text.contains("example.com"), "{text}");
        let hashed = text.lines().filter(|l| l.starts_with("|1|"));
        assert_eq!(hashed.count(), 2, "{text}");
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let fp = |text| fingerprint(&key(text));
        assert_eq!(fp(A), "SHA256:olShHcFuMDift37csu9MRfNqS5U+AMx9pMtdZTcn5bI");
        assert_eq!(fp(D), "SHA256:bTy/4RLQKxy3yUCqfxJl+lS+fWRLoP5kO+DlHutAfCk");
    }

    #[test]
    fn recorded_algorithms_are_plain_key_types_in_file_order() {
        let (_dir, paths) = write(&[
            "host $C\n@revoked host $B\nhost $D\n@cert-authority host $A",
            "host $C",
        ]);
        let ecdsa = Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        };
        let rsa = Algorithm::Rsa { hash: None };
        assert_eq!(
            recorded_algorithms("HOST", 22, &paths),
            vec![ecdsa.clone(), rsa.clone()]
        );
        assert_eq!(recorded_algorithms("host", 2222, &paths), vec![ecdsa, rsa]);
        assert!(recorded_algorithms("other", 22, &paths).is_empty());
    }
}
