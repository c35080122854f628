//! Secrets from this machine: a command the admin configures (`pass show …`, a keyring
//! helper) whose first line is the secret. Used for PostgreSQL passwords and backup
//! passphrases; the secret is never logged and never put on a command line.

use std::time::Duration;

use crate::sanitize::plain;

/// How long a secret's command may run (it may ask an unlocked password manager). Shorter
/// than the PostgreSQL connect timeout around it, so its own message is the one shown.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(8);

/// Runs a secret's command on this machine (`what` names its config key in messages): the
/// first line of its output, within a deadline.
pub async fn from_command(what: &str, cmd: &str) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => {
            return Err(format!(
                "{what} `{cmd}` did not finish within {}s",
                COMMAND_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot run {what} `{cmd}`: {e}")),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "{what} `{cmd}` failed ({}): {}",
            out.status,
            plain(first.trim())
        ));
    }
    let stdout = String::from_utf8(out.stdout)
        .map_err(|_| format!("{what} `{cmd}` printed something that is not UTF-8"))?;
    match stdout.lines().next() {
        Some(line) if !line.is_empty() => Ok(line.to_owned()),
        _ => Err(format!("{what} `{cmd}` printed nothing on its first line")),
    }
}

/// Where a service's password is found on this machine (never in the config file, never on
/// the host): an environment variable, a command's first line, or a file's first line (a file
/// others can read is refused, as libpq refuses such a pgpass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    Command(String),
    File(std::path::PathBuf),
}

impl SecretSource {
    /// The secret; the error says where it was looked for and what to do.
    pub async fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                format!("environment variable {name} (the password source) is not set in watchfloor's environment")
            }),
            SecretSource::Command(cmd) => from_command("password_command", cmd).await,
            SecretSource::File(path) => {
                let shown = path.display();
                let meta = tokio::fs::metadata(path)
                    .await
                    .map_err(|e| format!("cannot read password_file {shown}: {e}"))?;
                if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
                    return Err(format!(
                        "password_file {shown} can be read by others: chmod 600 it"
                    ));
                }
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| format!("cannot read password_file {shown}: {e}"))?;
                match text.lines().next() {
                    Some(line) if !line.is_empty() => Ok(line.to_owned()),
                    _ => Err(format!("password_file {shown} is empty on its first line")),
                }
            }
        }
    }
}
