//! Panes as units. Each pane's state (selection, folds, its filter, an open detail) lives in
//! its domain's module and implements [`PaneState`]: what its keys move, what Enter and Esc
//! do in it, which key contexts and hints it has. `App` only routes to the current pane. The
//! list of panes is the one `panes!` invocation below: adding a pane is a line there, its
//! state in `app/`, and its render arm in `ui/mod.rs`. Pure.

use super::Filter;
use super::hosts::HostState;
use crate::config::keymap::{Action, Context};
use crate::event::HostId;

/// What a pane reads of the rest of the state.
pub struct Ctx<'a> {
    /// The hosts this pane shows (the drilled-into one, or all).
    pub hosts: Vec<&'a HostState>,
    /// The overview's rows: every configured host.
    pub host_ids: Vec<HostId>,
    /// Every alert, worst first.
    pub alerts: &'a [super::alerts::Alert],
}

/// A move a pane asks of the App (it cannot reach beyond its own state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nav {
    /// Show only this host, in the containers pane.
    DrillInto(HostId),
    /// Show only this host, staying in this pane.
    Scope(HostId),
    /// Show this pane, with this host only, on this row (an alert's place).
    Show(Pane, HostId, Option<super::alerts::Row>),
}

/// One pane's own state and behaviour.
pub trait PaneState: std::fmt::Debug {
    fn filter(&self) -> &Filter;
    fn filter_mut(&mut self) -> &mut Filter;
    /// The key contexts active in this pane (global ones always are).
    fn contexts(&self) -> &'static [Context] {
        &[Context::List]
    }
    /// Up/down/page keys: `delta` rows (large values mean top and bottom).
    fn move_by(&mut self, _cx: &Ctx<'_>, _delta: isize) {}
    /// Enter.
    fn open(&mut self, _cx: &Ctx<'_>) -> Option<Nav> {
        None
    }
    /// Esc: closes something of the pane's own (a detail); false when there was nothing.
    fn back(&mut self) -> bool {
        false
    }
    /// o / O: the next sort column, or the same reversed; what the status line says. None:
    /// the pane has one order.
    fn sort(&mut self, _reverse: bool) -> Option<String> {
        None
    }
    /// Key hints for the status bar, besides help, filter, back and quit.
    fn hints(&self) -> &'static [(Action, &'static str)] {
        &[(Action::Open, "open")]
    }
}

macro_rules! panes {
    ($($variant:ident => $field:ident: $ty:ty, $title:literal;)*) => {
        /// The panes, in tab order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Pane { $($variant),* }

        impl Pane {
            pub const ALL: &'static [Pane] = &[$(Pane::$variant),*];

            pub fn title(self) -> &'static str {
                match self { $(Pane::$variant => $title),* }
            }
        }

        /// Every pane's state, one field each.
        #[derive(Debug, Default)]
        pub struct Panes { $(pub $field: $ty),* }

        impl Panes {
            pub fn get(&self, pane: Pane) -> &dyn PaneState {
                match pane { $(Pane::$variant => &self.$field),* }
            }

            pub fn get_mut(&mut self, pane: Pane) -> &mut dyn PaneState {
                match pane { $(Pane::$variant => &mut self.$field),* }
            }
        }
    };
}

panes! {
    Overview => overview: super::overview::OverviewView, "Overview";
    Containers => containers: super::containers::ContainersView, "Containers";
    Disks => disks: super::disks::DisksView, "Disks";
    Tunnels => tunnels: super::tunnels::TunnelsView, "WireGuard";
    Logs => logs: super::logs::LogsPane, "Logs";
    Postgres => postgres: super::postgres::PostgresView, "PostgreSQL";
    Health => health: super::health::HealthView, "Hosts";
    Backups => backups: super::backups::BackupsView, "Backups";
    Drills => drills: super::drills::DrillsView, "Drills";
    Alerts => alerts: super::alerts::AlertsView, "Alerts";
}

impl Pane {
    /// The pane `steps` tabs away, wrapping around.
    pub fn cycle(self, steps: isize) -> Pane {
        let n = Pane::ALL.len() as isize;
        let at = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Pane::ALL[(at + steps).rem_euclid(n) as usize]
    }

    /// The pane of the n-th tab (from 1), if there is one.
    pub fn nth(n: usize) -> Option<Pane> {
        n.checked_sub(1).and_then(|i| Pane::ALL.get(i)).copied()
    }
}

/// Implements the filter accessors of a pane state with a `filter: Filter` field.
macro_rules! filter_field {
    () => {
        fn filter(&self) -> &$crate::app::Filter {
            &self.filter
        }
        fn filter_mut(&mut self) -> &mut $crate::app::Filter {
            &mut self.filter
        }
    };
}
pub(crate) use filter_field;
