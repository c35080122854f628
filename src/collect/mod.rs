//! Collectors: how each domain's data is fetched over a [`Link`](crate::link::Link) and parsed.
//! I/O functions at the top of each module, pure parsers below. A collector knows *how*; the
//! host worker decides *when*. Failures are typed and say what to do.

pub mod containers;
pub mod disks;
pub mod docker;
pub mod logs;
pub mod postgres;
pub mod stats;
pub mod tunnels;

use crate::link::{ExitStatus, LinkError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("unexpected output from `{command}`: {message}")]
    Parse { command: String, message: String },
    #[error("{message}")]
    Docker { message: String },
    #[error(transparent)]
    Postgres(#[from] postgres::PgError),
}

impl CollectError {
    pub fn parse(command: &str, message: impl Into<String>) -> Self {
        CollectError::Parse {
            command: command.to_owned(),
            message: message.into(),
        }
    }
}
