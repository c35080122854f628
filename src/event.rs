//! The messages between tasks: facts flow in to the UI task (`AppEvent`, `HostEvent`),
//! commands flow out to host workers (`HostCommand`). No logic here, so `host` and `app`
//! depend on this module and not on each other.

use crossterm::event::KeyEvent;
use jiff::Timestamp;

use crate::collect::CollectError;
use crate::collect::containers::ContainersSnapshot;
use crate::collect::disks::DisksSnapshot;
use crate::collect::tunnels::TunnelsSnapshot;
use crate::link::LinkState;

/// Index of a host in the config order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

#[derive(Debug)]
pub enum AppEvent {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The 1 Hz clock while something on screen shows an age.
    Clock(Timestamp),
    Host(HostId, HostEvent),
}

#[derive(Debug)]
pub enum HostEvent {
    Link(LinkState),
    Containers(Result<ContainersSnapshot, CollectError>),
    Disks(Result<DisksSnapshot, CollectError>),
    Tunnels(Result<TunnelsSnapshot, CollectError>),
}

/// What the UI asks a host worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCommand {
    /// Collect everything now instead of waiting for the next interval; a host that is down
    /// reconnects at once instead of waiting for its backoff.
    Refresh,
}
