//! watchfloor: a terminal ops console for small self-hosted fleets.
//!
//! The modules, in the order data flows through them:
//!
//! - [`config`]   the TOML config, keymap and theme files, with errors that point at file:line:column;
//! - [`link`]     how a host is reached: [`link::Link`] (exec, unix socket, TCP), locally or over SSH;
//! - [`collect`]  collectors: I/O over a `Link` at the top, pure parsers below (containers, disks);
//! - [`host`]     one worker task per host: owns the link, schedules collectors, sends [`event::HostEvent`]s;
//! - [`event`]    the messages between tasks (facts in, commands out), no logic;
//! - [`app`]      pure state: `App::update(event) -> effects`, no I/O, no clock;
//! - [`ui`]       pure rendering of `&App` into a ratatui frame;
//! - [`tui`]      the terminal: setup/restore, the select loop, frame pacing (the only impure UI code);
//! - [`export`]   the state as JSON or Markdown (`watchfloor snapshot`);
//! - [`check`]    `watchfloor check`: every host tried step by step;
//! - [`actions`]  changes to hosts (restart, stop, start) and their audit log;
//! - [`sanitize`] untrusted text from hosts made safe for the terminal.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod actions;
pub mod app;
pub mod check;
pub mod collect;
pub mod config;
pub mod event;
pub mod export;
pub mod host;
pub mod link;
pub mod sanitize;
pub mod text;
pub mod tui;
pub mod ui;

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values replaced
/// whole): a poisoned lock is used as it is rather than spreading the panic.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
