//! watchfloor: a terminal ops console for small self-hosted fleets. ARCHITECTURE.md follows
//! one sample and one key through these modules and says how to add a domain.
//!
//! The modules, in the order data flows through them:
//!
//! - [`config`]   the TOML config, keymap, theme files and alert thresholds, with errors that
//!   point at file:line:column;
//! - [`link`]     how a host is reached: [`link::Link`] (exec, unix socket, TCP), locally or over SSH;
//! - [`collect`]  one module per domain (containers, disks, WireGuard, host health, PostgreSQL,
//!   logs, stats): a `Collect` impl over pure parsers, run by `collect::runner` for the console
//!   and for `watchfloor snapshot` alike;
//! - [`host`]     one worker task per host: owns the link (connect, keepalive, reconnect) and hands
//!   it to the collector and job runners;
//! - [`actions`]  jobs that change hosts (restart, stop, start, cancel/terminate a backend, a
//!   backup, a restore drill): run side by side with cancel, timeout and cleanup, and audited;
//! - [`event`]    the messages between tasks (facts in, commands out), no logic;
//! - [`app`]      pure state: `App::update(event) -> effects`, every verdict in `app::alerts`,
//!   each pane's state behind `app::pane::PaneState`; no I/O, no clock;
//! - [`ui`]       pure rendering of `&App` into a ratatui frame; maps verdicts to styles;
//! - [`tui`]      the terminal: setup/restore, the select loop, frame pacing (the only impure UI code);
//! - [`notify`]   bell, desktop notification, title and notify command for new critical alerts;
//! - [`export`]   the state as JSON or Markdown (`watchfloor snapshot`);
//! - [`check`]    `watchfloor check`: every host tried step by step;
//! - [`drill_cli`] `watchfloor drill list|run`: restore drills headless, for cron;
//! - [`passwd`]   the user's passwd name and home (what OpenSSH takes for `~` and `%u`);
//! - [`sanitize`] untrusted text from hosts made safe for the terminal;
//! - [`text`]     widths, ages and sizes as text, shared by `app`, `ui` and `export`.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod actions;
pub mod app;
pub mod check;
pub mod collect;
pub mod config;
pub mod drill_cli;
pub mod event;
pub mod export;
pub mod host;
pub mod link;
pub mod logfile;
pub mod notify;
pub mod passwd;
pub mod sanitize;
pub mod text;
pub mod tui;
pub mod ui;

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values replaced
/// whole): a poisoned lock is used as it is rather than spreading the panic.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
