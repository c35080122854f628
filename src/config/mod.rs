//! The config file model, defaults written once, and where files are found. Parsing errors
//! point at file, line and column (see [`error`]); unknown keys are refused with a suggestion.
//! A missing config is not an error: watchfloor then watches this machine as host `local`.

pub mod backup;
pub mod drill;
pub mod error;
pub mod keymap;
pub mod probe;
pub mod redis;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, Source};
pub use keymap::Keymap;

use crate::collect::postgres::{Conninfo, Endpoint as PgEndpoint, PasswordSource};
use crate::link::ssh::session::Keepalive;
use crate::link::ssh::target::{SshConfig, Target, TargetError};

/// The whole config file. Every key is documented in `config.example.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub ui: UiConfig,
    pub logs: LogsConfig,
    /// Settings every host inherits unless it sets its own.
    pub defaults: HostDefaults,
    #[serde(rename = "host")]
    pub hosts: Vec<HostConfig>,
    /// When something is a warning or critical, for every host.
    pub alerts: Thresholds,
    /// Action name → keys, replacing that action's default keys.
    pub keymap: keymap::KeymapConfig,
    /// How a new critical alert reaches someone who is not looking.
    pub notify: NotifyConfig,
    /// Restore drills: `[[drill]]`.
    #[serde(rename = "drill")]
    pub drills: Vec<Spanned<drill::DrillConfig>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// A built-in theme name or a path to a theme file.
    pub theme: Option<Spanned<String>>,
    /// Remove every action that changes a host.
    pub read_only: bool,
    /// "slow": every host is read half as often (links that are slow, metered or lossy).
    pub refresh: Refresh,
}

/// How often hosts are read, against the intervals configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refresh {
    #[default]
    Normal,
    /// Every interval doubled: half the traffic on each link.
    Slow,
}

impl std::str::FromStr for Refresh {
    type Err = String;

    fn from_str(s: &str) -> Result<Refresh, String> {
        match s {
            "normal" => Ok(Refresh::Normal),
            "slow" => Ok(Refresh::Slow),
            _ => Err(format!("`{s}`: write normal or slow")),
        }
    }
}

/// `--refresh` / `[ui] refresh` on every host.
fn apply_refresh(hosts: &mut [HostSpec], refresh: Refresh) {
    if refresh == Refresh::Slow {
        hosts.iter_mut().for_each(|h| h.stretch(2));
    }
}

impl HostSpec {
    /// Every polling interval of the host and of what it watches, times `factor`. Keepalives
    /// stay: they are sent only when a link is silent, and they decide how soon a dead link is
    /// seen.
    fn stretch(&mut self, factor: u32) {
        for d in [
            &mut self.disks_interval,
            &mut self.containers_resync,
            &mut self.tunnels_interval,
            &mut self.stats_interval,
            &mut self.health_interval,
        ] {
            *d *= factor;
        }
        self.postgres.iter_mut().for_each(|p| p.interval *= factor);
        self.backups.iter_mut().for_each(|b| b.interval *= factor);
        self.probes.iter_mut().for_each(|p| p.interval *= factor);
        self.redis.iter_mut().for_each(|r| r.interval *= factor);
    }
}

/// `[notify]`: each way off by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Ring the terminal bell (tmux marks the window).
    pub bell: bool,
    /// Keep the window title at the alert counts ("watchfloor: 2 crit 1 warn").
    pub title: bool,
    /// A desktop notification through the terminal: OSC 9 and OSC 777 (through tmux's
    /// passthrough when inside tmux).
    pub desktop: bool,
    /// Runs on this machine with the new alert as JSON on stdin (ntfy, mail, a chat hook).
    pub command: Option<String>,
    /// After the console starts, alerts are only collected for this long: what is already
    /// wrong when it starts is not news.
    pub quiet_start: Interval,
    /// How long `z` in the alerts pane silences an alert.
    pub silence: Interval,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            bell: false,
            title: false,
            desktop: false,
            command: None,
            quiet_start: Interval(Duration::from_secs(30)),
            silence: Interval(Duration::from_secs(2 * 3600)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Lines shown from before the view opened, per container.
    pub tail: usize,
    /// Lines kept per container in a log view; older ones are dropped and counted.
    pub buffer: usize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            tail: 500,
            buffer: 10_000,
        }
    }
}

/// Where a measurement becomes a warning or critical: the one place thresholds are set
/// (PostgreSQL's are per cluster, in `[[host.postgres]]`). `app::alerts` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Filesystem space or inodes used, percent.
    pub disk_warn_pct: f64,
    pub disk_crit_pct: f64,
    /// Host CPU busy, percent, for at least `cpu_for`.
    pub cpu_warn_pct: f64,
    pub cpu_for: Interval,
    /// Host memory used (not available to new programs), percent.
    pub memory_warn_pct: f64,
    /// A WireGuard peer whose last handshake is older than this (and that moved data since).
    pub handshake_stale: Interval,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            disk_warn_pct: 80.0,
            disk_crit_pct: 90.0,
            cpu_warn_pct: 70.0,
            cpu_for: Interval(Duration::from_secs(60)),
            memory_warn_pct: 90.0,
            handshake_stale: Interval(Duration::from_secs(180)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostDefaults {
    pub disks_interval: Interval,
    pub containers_resync: Interval,
    pub tunnels_interval: Interval,
    pub stats_interval: Interval,
    pub postgres_interval: Interval,
    pub health_interval: Interval,
    /// SSH keepalives: one after this much silence ...
    pub keepalive_interval: Interval,
    /// ... and the session ends when this many in a row go unanswered.
    pub keepalive_count: usize,
}

impl Default for HostDefaults {
    fn default() -> Self {
        HostDefaults {
            disks_interval: Interval(Duration::from_secs(30)),
            containers_resync: Interval(Duration::from_secs(60)),
            tunnels_interval: Interval(Duration::from_secs(30)),
            stats_interval: Interval(Duration::from_secs(2)),
            postgres_interval: Interval(Duration::from_secs(2)),
            health_interval: Interval(Duration::from_secs(5)),
            keepalive_interval: Interval(Keepalive::default().interval),
            keepalive_count: Keepalive::default().count,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub name: Spanned<String>,
    /// An alias from ~/.ssh/config or `user@host:port`; absent: this machine.
    #[serde(default)]
    pub ssh: Option<Spanned<String>>,
    /// Path of the Docker socket on the host. Default: /var/run/docker.sock (locally DOCKER_HOST).
    #[serde(default)]
    pub docker_socket: Option<String>,
    /// Set to false for a host without Docker.
    #[serde(default = "yes")]
    pub docker: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub disks_interval: Option<Interval>,
    #[serde(default)]
    pub containers_resync: Option<Interval>,
    #[serde(default)]
    pub tunnels_interval: Option<Interval>,
    #[serde(default)]
    pub stats_interval: Option<Interval>,
    #[serde(default)]
    pub health_interval: Option<Interval>,
    #[serde(default)]
    pub keepalive_interval: Option<Interval>,
    #[serde(default)]
    pub keepalive_count: Option<usize>,
    /// Run `wg` through `sudo -n` (needs a passwordless sudo rule for wg).
    #[serde(default)]
    pub wg_sudo: bool,
    /// PostgreSQL clusters reached through this host: `[[host.postgres]]`.
    #[serde(default)]
    pub postgres: Vec<Spanned<PostgresConfig>>,
    /// Backup sources on this host: `[[host.backup]]`.
    #[serde(default)]
    pub backup: Vec<Spanned<backup::BackupConfig>>,
    /// Health probes run from this host: `[[host.probe]]`.
    #[serde(default)]
    pub probe: Vec<Spanned<probe::ProbeConfig>>,
    /// Redis servers reached from this host: `[[host.redis]]`.
    #[serde(default)]
    pub redis: Vec<Spanned<redis::RedisConfig>>,
}

/// One PostgreSQL cluster, as seen from its host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Shown in the UI; default "postgres" (unique per host).
    #[serde(default)]
    pub name: Option<String>,
    /// The socket file on the host. Default when no address is given:
    /// /var/run/postgresql/.s.PGSQL.5432.
    #[serde(default)]
    pub socket: Option<String>,
    /// "host:port" as seen from the host, instead of the socket.
    #[serde(default)]
    pub address: Option<String>,
    /// The role; default the SSH login user (locally, the local user), so peer auth works.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default = "postgres_db")]
    pub database: String,
    /// Password sources on this machine, at most one; none: peer or trust authentication.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    #[serde(default)]
    pub passfile: Option<String>,
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Active queries running longer are highlighted.
    #[serde(default)]
    pub slow_query: Option<Threshold>,
    /// Sessions idle in a transaction longer are highlighted.
    #[serde(default)]
    pub idle_in_transaction: Option<Threshold>,
    /// Connections used, in percent of those available, that raise the pool alert.
    #[serde(default)]
    pub pool_alert_pct: Option<f64>,
}

fn postgres_db() -> String {
    "postgres".to_owned()
}

/// A threshold written like "200ms", "30s" or "1m"; more than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(pub Duration);

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        duration(
            &text,
            Duration::from_nanos(1),
            "\"200ms\", \"30s\" or \"1m\"",
        )
        .map(Threshold)
        .map_err(serde::de::Error::custom)
    }
}

/// `text` as a duration of at least `min`; the error shows how to write one (`examples`).
fn duration(text: &str, min: Duration, examples: &str) -> Result<Duration, String> {
    // Days and weeks ("26h", "3d", "2w") count as 24 and 168 hours.
    let days = jiff::SpanRelativeTo::days_are_24_hours();
    text.parse::<jiff::SignedDuration>()
        .ok()
        .or_else(|| text.parse::<jiff::Span>().ok()?.to_duration(days).ok())
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| *d >= min)
        .ok_or_else(|| format!("invalid duration {text:?}: write it like {examples}"))
}

/// A cluster as the host worker and the UI need it.
#[derive(Debug, Clone, PartialEq)]
pub struct PgSpec {
    pub target: Conninfo,
    pub interval: Duration,
    pub slow_query: Duration,
    pub idle_in_transaction: Duration,
    pub pool_alert_pct: f64,
}

fn yes() -> bool {
    true
}

/// A refresh interval written as "30s", "2m", "1h 30m"; at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let examples = "\"30s\", \"5m\" or \"1h 30m\" (at least 1s)";
        duration(&text, Duration::from_secs(1), examples)
            .map(Interval)
            .map_err(serde::de::Error::custom)
    }
}

/// One host as the workers need it: the config entry with defaults applied.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub name: String,
    pub transport: Transport,
    /// None: Docker is not watched on this host.
    pub docker_socket: Option<String>,
    pub read_only: bool,
    pub disks_interval: Duration,
    pub containers_resync: Duration,
    pub tunnels_interval: Duration,
    /// How often CPU and memory of the containers on screen are sampled.
    pub stats_interval: Duration,
    /// How often CPU, load and memory are read.
    pub health_interval: Duration,
    /// How a dead SSH link is noticed.
    pub keepalive: Keepalive,
    pub wg_sudo: bool,
    /// Only WireGuard is watched: the admin's own machine, added when no host is local.
    pub tunnels_only: bool,
    pub postgres: Vec<PgSpec>,
    pub backups: Vec<backup::BackupSpec>,
    /// The restore drills that run on this host.
    pub drills: Vec<drill::DrillSpec>,
    pub probes: Vec<probe::ProbeSpec>,
    pub redis: Vec<redis::RedisSpec>,
}

/// How a host is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Local,
    /// Resolved through ~/.ssh/config.
    Ssh(Box<Target>),
}

impl HostSpec {
    /// This machine with the default settings.
    pub fn local(name: &str, docker_socket: Option<String>) -> HostSpec {
        let d = HostDefaults::default();
        HostSpec {
            name: name.to_owned(),
            transport: Transport::Local,
            docker_socket,
            read_only: false,
            disks_interval: d.disks_interval.0,
            containers_resync: d.containers_resync.0,
            tunnels_interval: d.tunnels_interval.0,
            stats_interval: d.stats_interval.0,
            health_interval: d.health_interval.0,
            keepalive: Keepalive::default(),
            wg_sudo: false,
            tunnels_only: false,
            postgres: Vec::new(),
            backups: Vec::new(),
            drills: Vec::new(),
            probes: Vec::new(),
            redis: Vec::new(),
        }
    }
}

/// Resolves an `ssh = "..."` value; tests pass a fake, `load` reads ~/.ssh/config.
pub type SshResolver<'a> = dyn FnMut(&str) -> Result<Target, TargetError> + 'a;

/// What `main` hands to the rest of the program.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<HostSpec>,
    pub keymap: Keymap,
    pub theme: ThemeChoice,
    pub read_only: bool,
    pub logs: LogsConfig,
    pub thresholds: Thresholds,
    pub notify: NotifyConfig,
    /// The local user, named in audit lines.
    pub user: String,
    /// Where the audit log and saved log buffers go ($XDG_STATE_HOME/watchfloor).
    pub state_dir: PathBuf,
    /// Where the config came from, for the help screen; None when running without one.
    pub config_path: Option<PathBuf>,
    /// Something the admin should know about the config that is not an error (a file with no
    /// host in it), shown once at start.
    pub notice: Option<String>,
}

/// Command-line choices that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub theme: Option<String>,
    pub read_only: bool,
    pub refresh: Option<Refresh>,
}

/// Loads the config (the explicit path, else the default location if it exists), applies the
/// overrides and resolves theme and keymap. Every error names the file, line and column.
pub fn load(over: &Overrides) -> Result<Settings, ConfigError> {
    let path = match &over.config {
        Some(p) => Some(p.clone()),
        None => default_path().filter(|p| p.exists()),
    };
    let text = match &path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| ConfigError::io(p, &e))?),
        None => None,
    };
    let source = path
        .as_deref()
        .zip(text.as_deref())
        .map(|(path, text)| Source { path, text });
    let config = match source {
        Some(s) => parse(s.path, s.text)?,
        None => Config::default(),
    };
    // ~/.ssh/config is read once, and only when some host uses SSH.
    let mut ssh_config: Option<SshConfig> = None;
    let mut resolve = |spec: &str| -> Result<Target, TargetError> {
        let parsed = match &mut ssh_config {
            Some(c) => c,
            None => ssh_config.insert(SshConfig::load_default()?),
        };
        parsed.resolve_here(spec)
    };
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let mut hosts = host_specs(&config, source, docker_host.as_deref(), &mut resolve)?;
    apply_refresh(&mut hosts, over.refresh.unwrap_or(config.ui.refresh));
    let keymap = Keymap::with_overrides(&config.keymap, source)?;
    // Which theme, not what it contains: `ui::theme::load` resolves it (config does not know
    // about styles), pointing at this line of the config when no such theme exists.
    let theme = ThemeChoice {
        name: over
            .theme
            .clone()
            .or_else(|| config.ui.theme.as_ref().map(|t| t.get_ref().clone())),
        written_at: match (&over.theme, &config.ui.theme, source) {
            (None, Some(t), Some(src)) => Some(WrittenAt {
                path: src.path.to_path_buf(),
                text: src.text.to_owned(),
                span: t.span(),
            }),
            _ => None,
        },
        env: ThemeEnv::from_env(),
        user_dir: theme_dir(),
    };
    Ok(Settings {
        hosts,
        keymap,
        theme,
        read_only: over.read_only || config.ui.read_only,
        logs: config.logs,
        thresholds: config.alerts,
        notify: config.notify.clone(),
        user: crate::actions::audit::local_user(),
        state_dir: state_dir().unwrap_or_else(|| PathBuf::from(".")),
        notice: match (&path, config.hosts.is_empty()) {
            (Some(p), true) => Some(format!(
                "{} has no [[host]]: watching this machine as `local` (config.example.toml shows how to add hosts)",
                p.display()
            )),
            _ => None,
        },
        config_path: path,
    })
}

/// Parses config text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e, error::CONFIG_KEYS))
}

/// The hosts to watch, defaults applied. No `[[host]]`: this machine, as `local`. When every
/// host is remote, a hidden "this machine" entry watches only the local WireGuard tunnels.
pub fn host_specs(
    config: &Config,
    source: Option<Source<'_>>,
    docker_host: Option<&str>,
    resolve_ssh: &mut SshResolver<'_>,
) -> Result<Vec<HostSpec>, ConfigError> {
    let d = &config.defaults;
    let local_socket = local_docker_socket(docker_host);
    let mut specs = Vec::new();
    if config.hosts.is_empty() {
        let mut spec = HostSpec::local("local", Some(local_socket));
        spec.disks_interval = d.disks_interval.0;
        spec.containers_resync = d.containers_resync.0;
        spec.tunnels_interval = d.tunnels_interval.0;
        spec.stats_interval = d.stats_interval.0;
        spec.health_interval = d.health_interval.0;
        return Ok(vec![spec]);
    }
    let mut seen = HashSet::new();
    for h in &config.hosts {
        let name = h.name.get_ref().trim().to_owned();
        if name.is_empty() || !seen.insert(name.clone()) {
            let message = if name.is_empty() {
                "empty host name".to_owned()
            } else {
                format!("duplicate host name `{name}`")
            };
            return Err(ConfigError::at(
                source,
                h.name.span(),
                message,
                "give every [[host]] a unique name",
            ));
        }
        let transport = match &h.ssh {
            None => Transport::Local,
            Some(spec) => {
                let at = |message: String, help: &str| {
                    ConfigError::at(source, spec.span(), message, help)
                };
                let target = resolve_ssh(spec.get_ref()).map_err(|e| {
                    at(
                        e.to_string(),
                        "write an alias from ~/.ssh/config, host, user@host or user@host:port",
                    )
                })?;
                if unknown_alias(&target) {
                    return Err(at(
                        format!(
                            "`{}` is not a Host in your ssh config and does not resolve",
                            target.alias
                        ),
                        &format!(
                            "add `Host {}` with its HostName to ~/.ssh/config, or write the address",
                            target.alias
                        ),
                    ));
                }
                Transport::Ssh(Box::new(target))
            }
        };
        let login = match &transport {
            Transport::Local => local_identity().0,
            Transport::Ssh(t) => t.user.clone(),
        };
        let postgres = postgres_specs(h, &login, d, source)?;
        // DOCKER_HOST describes this machine only; remote hosts use Docker's default socket.
        let default_socket = match transport {
            Transport::Local => local_socket.clone(),
            Transport::Ssh(_) => "/var/run/docker.sock".to_owned(),
        };
        specs.push(HostSpec {
            docker_socket: h
                .docker
                .then(|| h.docker_socket.clone().unwrap_or(default_socket)),
            transport,
            read_only: h.read_only,
            disks_interval: h.disks_interval.unwrap_or(d.disks_interval).0,
            containers_resync: h.containers_resync.unwrap_or(d.containers_resync).0,
            tunnels_interval: h.tunnels_interval.unwrap_or(d.tunnels_interval).0,
            stats_interval: h.stats_interval.unwrap_or(d.stats_interval).0,
            health_interval: h.health_interval.unwrap_or(d.health_interval).0,
            keepalive: Keepalive {
                interval: h.keepalive_interval.unwrap_or(d.keepalive_interval).0,
                count: h.keepalive_count.unwrap_or(d.keepalive_count),
            },
            wg_sudo: h.wg_sudo,
            tunnels_only: false,
            postgres,
            backups: backup::specs(&h.backup, source)?,
            drills: Vec::new(),
            probes: probe::specs(&h.probe, source)?,
            redis: redis::specs(&h.redis, source)?,
            name,
        });
    }
    drill::attach(&config.drills, &mut specs, source)?;
    if !specs.iter().any(|s| s.transport == Transport::Local) {
        let mut me = HostSpec::local("this machine", None);
        me.tunnels_only = true;
        me.tunnels_interval = d.tunnels_interval.0;
        specs.push(me);
    }
    Ok(specs)
}

/// The `[[host.postgres]]` entries of `h`, checked, with defaults applied. `login` is the
/// user the host is reached as: the default role, so peer authentication works.
fn postgres_specs(
    h: &HostConfig,
    login: &str,
    d: &HostDefaults,
    source: Option<Source<'_>>,
) -> Result<Vec<PgSpec>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for entry in &h.postgres {
        let pg = entry.get_ref();
        let fail =
            |message: String, help: &str| ConfigError::at(source, entry.span(), message, help);
        let name = pg.name.clone().unwrap_or_else(|| "postgres".to_owned());
        if !names.insert(name.clone()) {
            return Err(fail(
                format!("two PostgreSQL clusters named `{name}` on this host"),
                "give each [[host.postgres]] its own name",
            ));
        }
        let default = PgEndpoint::Unix(crate::collect::postgres::DEFAULT_SOCKET.to_owned());
        let endpoint = endpoint(&pg.socket, &pg.address, default, "5432")
            .map_err(|(message, help)| fail(message, &help))?;
        let sources = [
            pg.password_env.clone().map(PasswordSource::Env),
            pg.password_command.clone().map(PasswordSource::Command),
            pg.passfile
                .as_deref()
                .map(|p| PasswordSource::Pgpass(expand_home(p))),
        ];
        let password = at_most_one(sources).map_err(|()| {
            fail(
                "more than one password source".to_owned(),
                "set one of password_env, password_command or passfile",
            )
        })?;
        let pool_alert_pct = pg
            .pool_alert_pct
            .unwrap_or(crate::collect::postgres::POOL_ALERT_PCT);
        if !(1.0..=100.0).contains(&pool_alert_pct) {
            return Err(fail(
                format!("pool_alert_pct = {pool_alert_pct} is not a percentage"),
                "write a number from 1 to 100, e.g. 90",
            ));
        }
        out.push(PgSpec {
            target: Conninfo {
                name,
                endpoint,
                user: pg.user.clone().unwrap_or_else(|| login.to_owned()),
                dbname: pg.database.clone(),
                password,
            },
            interval: pg.interval.unwrap_or(d.postgres_interval).0,
            slow_query: pg
                .slow_query
                .map_or(crate::collect::postgres::SLOW_QUERY, |t| t.0),
            idle_in_transaction: pg
                .idle_in_transaction
                .map_or(crate::collect::postgres::IDLE_IN_TRANSACTION_ALERT, |t| t.0),
            pool_alert_pct,
        });
    }
    Ok(out)
}

/// The one configured source among `sources` (a password is found one way); Err when two are.
pub(crate) fn at_most_one<T>(
    sources: impl IntoIterator<Item = Option<T>>,
) -> Result<Option<T>, ()> {
    let mut set = sources.into_iter().flatten();
    let first = set.next();
    match set.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

/// Where a service listens as its host sees it: the `socket` file or the `address`
/// "host:port", at most one (none: `default`). Errors are (message, help); `port` is the
/// service's usual port, for the example.
pub(crate) fn endpoint(
    socket: &Option<String>,
    address: &Option<String>,
    default: PgEndpoint,
    port: &str,
) -> Result<PgEndpoint, (String, String)> {
    match (socket, address) {
        (Some(_), Some(_)) => Err((
            "both socket and address are set".to_owned(),
            "it is reached through its socket or a TCP address: keep one".to_owned(),
        )),
        (Some(path), None) => Ok(PgEndpoint::Unix(path.clone())),
        (None, None) => Ok(default),
        (None, Some(addr)) => match host_port(addr) {
            Some((host, port)) => Ok(PgEndpoint::Tcp { host, port }),
            None => Err((
                format!("address {addr:?} is not host:port"),
                format!("write it like \"127.0.0.1:{port}\""),
            )),
        },
    }
}

/// A one-word name that no ssh config block maps to an address (HostName, a jump, a command)
/// and that does not resolve either: a typo of an alias, caught before anything connects.
/// Dotted names are left to DNS at connect time (it may be down now and up later).
fn unknown_alias(t: &Target) -> bool {
    use std::net::ToSocketAddrs;
    t.jumps.is_empty()
        && t.proxy_command.is_none()
        && !t.alias.contains(['.', ':'])
        && t.host_name == t.alias.to_ascii_lowercase()
        && (t.alias.as_str(), t.port).to_socket_addrs().is_err()
}

/// "host:port" (the host may be a bracketed IPv6 address) as its parts.
pub(crate) fn host_port(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host.trim_matches(['[', ']']);
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// "~/x" → the home directory's x; other paths unchanged.
pub(crate) fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => local_identity().1.join(rest),
        None => PathBuf::from(path),
    }
}

/// DOCKER_HOST when it names a unix socket, else Docker's default socket.
fn local_docker_socket(docker_host: Option<&str>) -> String {
    docker_host
        .and_then(|h| h.strip_prefix("unix://"))
        .unwrap_or("/var/run/docker.sock")
        .to_owned()
}

/// The local user name and home directory, for ~/.ssh/config defaults.
fn local_identity() -> (String, PathBuf) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_owned());
    let home = directories::BaseDirs::new()
        .map_or_else(|| PathBuf::from("/"), |d| d.home_dir().to_path_buf());
    (user, home)
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "watchfloor")
}

/// `$XDG_CONFIG_HOME/watchfloor/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// `$XDG_CONFIG_HOME/watchfloor/themes`: user themes, found by name.
pub fn theme_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("themes"))
}

/// `$XDG_STATE_HOME/watchfloor`: the log file (and later the audit log and saved buffers).
pub fn state_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.state_dir().unwrap_or_else(|| d.data_dir()).to_path_buf())
}

/// Which theme the command line or the config asks for; `ui::theme::load` resolves it.
#[derive(Debug, Clone, Default)]
pub struct ThemeChoice {
    /// A built-in name or a path; None: chosen from the environment.
    pub name: Option<String>,
    /// Where the config file names it, when it does (not the command line).
    pub written_at: Option<WrittenAt>,
    pub env: ThemeEnv,
    /// `$XDG_CONFIG_HOME/watchfloor/themes`, where named user themes live.
    pub user_dir: Option<PathBuf>,
}

/// A value's place in the config file, to point at it in a later error.
#[derive(Debug, Clone)]
pub struct WrittenAt {
    pub path: PathBuf,
    pub text: String,
    pub span: std::ops::Range<usize>,
}

impl WrittenAt {
    pub fn source(&self) -> Source<'_> {
        Source {
            path: &self.path,
            text: &self.text,
        }
    }
}

/// What the environment says about colour, read once at startup.
#[derive(Debug, Clone, Default)]
pub struct ThemeEnv {
    /// NO_COLOR is set (to anything non-empty): https://no-color.org
    pub no_color: bool,
    /// The terminal claims 256 colours or more (TERM *-256color, COLORTERM truecolor/24bit).
    pub rich_colors: bool,
}

impl ThemeEnv {
    pub fn from_env() -> Self {
        let var = |k| std::env::var(k).unwrap_or_default();
        let term = var("TERM");
        let colorterm = var("COLORTERM");
        ThemeEnv {
            no_color: !var("NO_COLOR").is_empty(),
            rich_colors: term.contains("256color")
                || matches!(colorterm.as_str(), "truecolor" | "24bit"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_ssh(spec: &str) -> Result<Target, TargetError> {
        panic!("no ssh host expected, got {spec}")
    }

    /// A stand-in for ~/.ssh/config: `user@host:port` only.
    fn fake_ssh(spec: &str) -> Result<Target, TargetError> {
        let cfg = SshConfig::parse_str("").unwrap();
        cfg.resolve(spec, "me", Path::new("/home/me"))
    }

    #[test]
    fn ssh_hosts_are_resolved_and_the_local_machine_watches_tunnels() {
        let text = "[[host]]\nname = \"db1\"\nssh = \"admin@10.8.0.5:2222\"\nwg_sudo = true\n";
        let config = parse(Path::new("c.toml"), text).unwrap();
        let specs = host_specs(&config, None, Some("unix:///x.sock"), &mut fake_ssh).unwrap();
        let Transport::Ssh(t) = &specs[0].transport else {
            panic!("ssh expected")
        };
        assert_eq!(
            (t.user.as_str(), t.host_name.as_str(), t.port),
            ("admin", "10.8.0.5", 2222)
        );
        assert_eq!(
            specs[0].docker_socket.as_deref(),
            Some("/var/run/docker.sock"),
            "DOCKER_HOST is local only"
        );
        assert!(specs[0].wg_sudo);
        assert_eq!(
            (specs[1].name.as_str(), specs[1].tunnels_only),
            ("this machine", true)
        );
    }

    #[test]
    fn a_bad_ssh_value_points_at_it() {
        let text = "[[host]]\nname = \"db1\"\nssh = \"admin@db1:notaport\"\n";
        let config = parse(Path::new("c.toml"), text).unwrap();
        let source = Source {
            path: Path::new("c.toml"),
            text,
        };
        let err = host_specs(&config, Some(source), None, &mut fake_ssh).unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(7)), "{err}");
    }

    #[test]
    fn example_config_parses_and_documents_every_host_key() {
        let text = include_str!("../../config.example.toml");
        let config = parse(Path::new("config.example.toml"), text).unwrap();
        assert!(!config.hosts.is_empty());
        let specs = host_specs(&config, None, None, &mut no_ssh).unwrap();
        assert_eq!(specs[0].name, "local");
    }

    #[test]
    fn the_example_documents_the_default_thresholds_and_alerts_keys_are_checked() {
        let text = include_str!("../../config.example.toml");
        let config = parse(Path::new("config.example.toml"), text).unwrap();
        assert_eq!(config.alerts, Thresholds::default());
        let custom = parse(
            Path::new("c.toml"),
            "[alerts]\ndisk_warn_pct = 70.0\ncpu_for = \"5m\"\n",
        )
        .unwrap();
        assert_eq!(custom.alerts.disk_warn_pct, 70.0);
        assert_eq!(custom.alerts.cpu_for.0, Duration::from_secs(300));
        assert_eq!(
            custom.alerts.disk_crit_pct, 90.0,
            "unset keys keep their default"
        );
        let err = parse(Path::new("c.toml"), "[alerts]\ndisk_warn = 70.0\n").unwrap_err();
        let shown = format!("{err:?}");
        assert!(shown.contains("disk_warn_pct"), "suggests the key: {shown}");
    }

    #[test]
    fn no_hosts_means_this_machine() {
        let specs = host_specs(
            &Config::default(),
            None,
            Some("unix:///run/user/1000/docker.sock"),
            &mut no_ssh,
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "local");
        assert_eq!(
            specs[0].docker_socket.as_deref(),
            Some("/run/user/1000/docker.sock")
        );
        assert_eq!(specs[0].disks_interval, Duration::from_secs(30));
    }

    #[test]
    fn slow_refresh_doubles_every_interval_but_the_keepalives() {
        let text = "[ui]\nrefresh = \"slow\"\n[defaults]\ndisks_interval = \"10s\"\n[[host]]\nname = \"a\"\n[[host.postgres]]\nname = \"main\"\n";
        let config = parse(Path::new("c.toml"), text).unwrap();
        let normal = host_specs(&config, None, None, &mut no_ssh).unwrap();
        let mut slow = normal.clone();
        apply_refresh(&mut slow, config.ui.refresh);
        let (n, s) = (&normal[0], &slow[0]);
        assert_eq!(s.disks_interval, Duration::from_secs(20));
        assert_eq!(s.health_interval, n.health_interval * 2);
        assert_eq!(s.stats_interval, n.stats_interval * 2);
        assert_eq!(s.containers_resync, n.containers_resync * 2);
        assert_eq!(s.postgres[0].interval, n.postgres[0].interval * 2);
        assert_eq!(s.keepalive, n.keepalive, "a dead link is seen as soon");
        let err = parse(Path::new("c.toml"), "[ui]\nrefresh = \"fast\"\n").unwrap_err();
        assert!(err.to_string().contains("c.toml:2:11"), "{err}");
        assert_eq!("slow".parse::<Refresh>(), Ok(Refresh::Slow));
        assert!(
            "fast"
                .parse::<Refresh>()
                .unwrap_err()
                .contains("normal or slow")
        );
    }

    #[test]
    fn host_settings_override_defaults() {
        let text = "[defaults]\ndisks_interval = \"10s\"\n[[host]]\nname = \"a\"\ndocker = false\n[[host]]\nname = \"b\"\ndisks_interval = \"1m\"\n";
        let config = parse(Path::new("c.toml"), text).unwrap();
        let specs = host_specs(&config, None, None, &mut no_ssh).unwrap();
        assert_eq!(specs[0].docker_socket, None);
        assert_eq!(specs[0].disks_interval, Duration::from_secs(10));
        assert_eq!(specs[1].disks_interval, Duration::from_secs(60));
        assert_eq!(
            specs[1].docker_socket.as_deref(),
            Some("/var/run/docker.sock")
        );
    }

    #[test]
    fn postgres_clusters_default_to_the_socket_and_the_ssh_login_user() {
        let text = "[[host]]\nname = \"db1\"\nssh = \"admin@10.8.0.5\"\n\n\
                    [[host.postgres]]\n\n\
                    [[host.postgres]]\nname = \"reports\"\naddress = \"10.8.0.7:5433\"\nuser = \"watch\"\n\
                    password_env = \"PGPW\"\nslow_query = \"500ms\"\npool_alert_pct = 80\n";
        let config = parse(Path::new("c.toml"), text).unwrap();
        let specs = host_specs(&config, None, None, &mut fake_ssh).unwrap();
        let pg = &specs[0].postgres;
        assert_eq!(pg[0].target.name, "postgres");
        assert_eq!(
            pg[0].target.endpoint,
            PgEndpoint::Unix("/var/run/postgresql/.s.PGSQL.5432".into())
        );
        assert_eq!(pg[0].target.user, "admin", "the SSH login user");
        assert_eq!(pg[0].target.password, None);
        assert_eq!(pg[0].interval, Duration::from_secs(2));
        assert_eq!(
            pg[1].target.endpoint,
            PgEndpoint::Tcp {
                host: "10.8.0.7".into(),
                port: 5433
            }
        );
        assert_eq!(
            pg[1].target.password,
            Some(PasswordSource::Env("PGPW".into()))
        );
        assert_eq!(pg[1].slow_query, Duration::from_millis(500));
        assert_eq!(pg[1].pool_alert_pct, 80.0);
    }

    #[test]
    fn a_bad_postgres_entry_points_at_it_and_says_what_to_do() {
        let cases = [
            (
                "socket = \"/s\"\naddress = \"h:1\"",
                "both socket and address",
            ),
            ("address = \"nohost\"", "is not host:port"),
            (
                "password_env = \"A\"\npasswordfile = \"x\"",
                "unknown field",
            ),
            (
                "password_env = \"A\"\npassword_command = \"x\"",
                "more than one password source",
            ),
            ("pool_alert_pct = 120", "not a percentage"),
        ];
        for (body, want) in cases {
            let text = format!("[[host]]\nname = \"db1\"\n[[host.postgres]]\n{body}\n");
            let source = Source {
                path: Path::new("c.toml"),
                text: &text,
            };
            let err = match parse(Path::new("c.toml"), &text) {
                Err(e) => e,
                Ok(config) => host_specs(&config, Some(source), None, &mut no_ssh).unwrap_err(),
            };
            assert!(err.to_string().contains(want), "{body}: {err}");
            assert!(err.line.is_some_and(|l| l >= 3), "{body}: {err:?}");
        }
    }

    #[test]
    fn bad_interval_is_refused() {
        for bad in ["\"soon\"", "\"100ms\"", "30"] {
            let text = format!("[defaults]\ndisks_interval = {bad}\n");
            let err = parse(Path::new("c.toml"), &text).unwrap_err();
            assert_eq!((err.line, err.column), (Some(2), Some(18)), "{bad}: {err}");
        }
    }
}
