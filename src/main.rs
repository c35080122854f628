//! The `watchfloor` binary: parses the command line, loads the config (reporting errors with
//! file:line:column before the terminal is touched), sets up logging to a file, and runs the
//! console or a headless snapshot.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};
use color_eyre::eyre::WrapErr;
use jiff::Timestamp;

use watchfloor::app::App;
use watchfloor::config::{self, HostSpec, Overrides, Settings};
use watchfloor::event::{AppEvent, HostId};
use watchfloor::link::ssh::session::Options;
use watchfloor::{check, drill_cli, export, host, tui};

/// A terminal ops console for small self-hosted fleets.
///
/// Without a config file it watches this machine as host `local`. Keys: `?` in the console.
#[derive(Debug, Parser)]
#[command(name = "watchfloor", version, about, long_about = None)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/watchfloor/config.toml, if it exists)
    #[arg(long, short, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The console's theme: dark, light, ansi16, mono, a name in
    /// $XDG_CONFIG_HOME/watchfloor/themes, or a path
    #[arg(long, value_name = "NAME|PATH")]
    theme: Option<String>,
    /// Disable every action that changes a host (the console's and `drill run`)
    #[arg(long)]
    read_only: bool,
    /// How often hosts are read: normal, or slow (every interval doubled: half the traffic,
    /// for slow or metered links)
    #[arg(long, value_name = "normal|slow")]
    refresh: Option<watchfloor::config::Refresh>,
    /// Record unknown SSH host keys in known_hosts (like StrictHostKeyChecking=accept-new);
    /// a changed key is still refused
    #[arg(long, global = true)]
    accept_new: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Try every host step by step (resolve, TCP, host key, auth, Docker, df); exit 1 on any failure
    Check {
        /// Only these hosts (names from the config)
        hosts: Vec<String>,
        /// Seconds to wait for each host
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Collect once from every host and print the state; exit 1 if any host did not fully answer
    #[command(group(ArgGroup::new("format").required(true).args(["json", "md"])))]
    Snapshot {
        /// Print JSON (for scripts)
        #[arg(long)]
        json: bool,
        /// Print Markdown tables (for incident notes)
        #[arg(long)]
        md: bool,
        /// Seconds to wait for each host
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Collect once and print the alerts, worst first; exit 0 none, 1 warnings, 2 critical,
    /// 3 nothing could be collected (the monitoring-plugin convention)
    Alerts {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Seconds to wait for each host
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Restore drills: list them, or run one (exit 0 only when it passes)
    #[command(subcommand)]
    Drill(DrillCommand),
    /// How each SSH target resolves, field by field (compare with `ssh -G ALIAS`), and which
    /// resolver answered; exit 1 if one cannot be resolved
    SshConfig {
        /// ssh targets as in the config's `ssh = ...`: alias, user@host or user@host:port
        #[arg(required = true)]
        targets: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DrillCommand {
    /// Every drill, its last outcome and when it is next due
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Run one drill now; progress on stdout; exit 0 pass, 1 fail / could not verify /
    /// cancelled / timed out, 2 refused
    Run {
        /// The drill's name in the config
        name: String,
        /// Print the run's record as JSON on stdout (progress goes to stderr)
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the connection to the host
        #[arg(long, default_value_t = 20, value_name = "SECONDS")]
        timeout: u64,
    },
}

/// Exit code for config and usage errors, as clap uses for usage errors.
const EXIT_USAGE: u8 = 2;
/// `watchfloor alerts`: nothing could be judged (monitoring plugins' UNKNOWN).
const EXIT_UNKNOWN: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no watchfloor config: it explains ssh's.
    if let Some(Command::SshConfig { targets }) = &cli.command {
        return ssh_config(targets);
    }
    let overrides = Overrides {
        config: cli.config.clone(),
        theme: cli.theme.clone(),
        read_only: cli.read_only,
        refresh: cli.refresh,
    };
    // For monitoring systems a config they cannot read is "unknown" (3), not a usage error.
    let config_error = if matches!(cli.command, Some(Command::Alerts { .. })) {
        EXIT_UNKNOWN
    } else {
        EXIT_USAGE
    };
    let settings = match config::load(&overrides) {
        Ok(s) => s,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(config_error);
        }
    };
    let theme = match watchfloor::ui::theme::load(&settings.theme) {
        Ok(t) => t,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(config_error);
        }
    };
    // Once the config is known good: headless commands say it on stderr, the console in its
    // status line.
    if let (Some(note), Some(_)) = (&settings.notice, &cli.command) {
        eprintln!("watchfloor: {note}");
    }
    if let Err(e) = color_eyre::install() {
        eprintln!("watchfloor: {e}");
    }
    tui::install_panic_hook();
    let _log = init_logging();
    let options = Options {
        accept_new: cli.accept_new,
        ..Options::default()
    };
    match run(cli.command, settings, theme, options) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("watchfloor: {report:?}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    command: Option<Command>,
    settings: Settings,
    theme: watchfloor::ui::theme::Theme,
    options: Options,
) -> color_eyre::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("starting the async runtime")?;
    match command {
        None => {
            runtime
                .block_on(tui::run(settings, theme, options))
                .wrap_err("terminal error")?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Snapshot {
            json,
            md: _,
            timeout,
        }) => {
            let app = runtime.block_on(snapshot(&settings, &options, timeout));
            let text = if json {
                export::json(&app)
            } else {
                export::markdown(&app)
            };
            println!("{text}");
            let all = app.hosts.iter().all(|h| h.all_answered());
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Alerts { json, timeout }) => {
            let mut app = runtime.block_on(snapshot(&settings, &options, timeout));
            // Acknowledged and silenced in the console: listed as such, not counted.
            if let Ok(m) = tui::load_mutes(&tui::mutes_path(&settings.state_dir)) {
                app.load_mutes(m);
            }
            let text = if json {
                export::alerts_json(&app)
            } else {
                export::alerts_text(&app)
            };
            println!("{text}");
            Ok(ExitCode::from(alerts_exit(&app)))
        }
        Some(Command::SshConfig { targets }) => Ok(ssh_config(&targets)),
        Some(Command::Drill(DrillCommand::List { json })) => {
            println!("{}", drill_cli::list(&settings, json, Timestamp::now()));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Drill(DrillCommand::Run {
            name,
            json,
            timeout,
        })) => Ok(ExitCode::from(runtime.block_on(drill_cli::run(
            &settings,
            &options,
            &name,
            json,
            Duration::from_secs(timeout.max(1)),
        )))),
        Some(Command::Check { hosts, timeout }) => {
            let configured = |s: &&HostSpec| !s.tunnels_only;
            if let Some(unknown) = hosts.iter().find(|h| {
                !settings
                    .hosts
                    .iter()
                    .filter(configured)
                    .any(|s| &s.name == *h)
            }) {
                let names: Vec<&str> = settings
                    .hosts
                    .iter()
                    .filter(configured)
                    .map(|s| s.name.as_str())
                    .collect();
                eprintln!(
                    "error: no host named `{unknown}` in the config; hosts: {}",
                    names.join(", ")
                );
                return Ok(ExitCode::from(EXIT_USAGE));
            }
            let specs: Vec<&HostSpec> = settings
                .hosts
                .iter()
                .filter(configured)
                .filter(|s| hosts.is_empty() || hosts.contains(&s.name))
                .collect();
            let deadline = Duration::from_secs(timeout.max(1));
            let checks = runtime.block_on(futures_util::future::join_all(
                specs.iter().map(|s| check::host(s, &options, deadline)),
            ));
            print!("{}", check::report(&checks));
            let all = checks.iter().all(|c| c.failure.is_none());
            Ok(if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `watchfloor ssh-config`: the resolver, the local identity, then each target's fields.
fn ssh_config(targets: &[String]) -> ExitCode {
    use watchfloor::link::ssh::target::SshConfig;
    let config = match SshConfig::load_default() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("watchfloor: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("resolver: {}", config.resolver());
    if let Some((user, home)) = &config.local {
        println!("local user: {user} (home {})", home.display());
    }
    let mut ok = true;
    for spec in targets {
        match config.resolve_here(spec) {
            Ok(t) => print!("{spec}\n{}", t.describe()),
            Err(e) => {
                ok = false;
                println!("{spec}\n  error: {e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// 0 no alerts, 1 warnings, 2 critical; 3 when no host could be reached at all.
fn alerts_exit(app: &App) -> u8 {
    let hosts: Vec<_> = app.hosts.iter().filter(|h| !h.tunnels_only).collect();
    if !hosts.is_empty()
        && hosts
            .iter()
            .all(|h| !matches!(h.link, watchfloor::link::LinkState::Up))
    {
        return EXIT_UNKNOWN;
    }
    match app.active_counts() {
        (c, _) if c > 0 => 2,
        (_, w) if w > 0 => 1,
        _ => 0,
    }
}

/// Collects once from every host concurrently (each bounded by `timeout` seconds) into a
/// fresh `App`.
async fn snapshot(settings: &Settings, options: &Options, timeout: u64) -> App {
    let timeout = Duration::from_secs(timeout.max(1));
    let mut app = App::new(settings, Timestamp::now());
    // Drills are judged from their history, as in the console.
    if let Ok((history, _)) =
        watchfloor::actions::history::load(&watchfloor::actions::history::path(&settings.state_dir))
    {
        app.load_drill_history(&history);
    }
    let runs = settings
        .hosts
        .iter()
        .map(|spec| host::collect_once(spec, options, timeout));
    let results = futures_util::future::join_all(runs).await;
    app.update(AppEvent::Clock(Timestamp::now()));
    for (i, events) in results.into_iter().enumerate() {
        for ev in events {
            app.update(AppEvent::Host(HostId(i), ev));
        }
    }
    app
}

/// Logs go to `$XDG_STATE_HOME/watchfloor/watchfloor.log` (10 MiB, then one older file),
/// never to the screen. Level from WATCHFLOOR_LOG (default "info").
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = config::state_dir()?;
    std::fs::create_dir_all(&dir).ok()?;
    let appender = watchfloor::logfile::CappedFile::open(
        &dir.join("watchfloor.log"),
        watchfloor::logfile::CAP,
    )
    .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("WATCHFLOOR_LOG")
        .unwrap_or_else(|_| "info,russh=warn,hyper=warn".into());
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
