//! Clients one connection shares: one Docker client (made when first needed) for logs, stats
//! and jobs, and each PostgreSQL cluster's monitoring session, which a cancel or terminate
//! reuses — when the pool is exhausted, a new connection would be refused just when it is
//! needed. Everything here dies with the connection.

use std::sync::{Arc, Mutex};

use bollard::Docker;

use super::{CollectError, docker, postgres};
use crate::link::Link;
use crate::lock;

pub struct Clients {
    link: Arc<dyn Link>,
    docker_socket: Option<String>,
    docker: tokio::sync::Mutex<Option<Docker>>,
    /// The monitoring session of each cluster, by config index, while it is connected.
    postgres: Mutex<Vec<Option<Arc<postgres::PgSession>>>>,
}

impl Clients {
    pub fn new(link: Arc<dyn Link>, docker_socket: Option<String>, clusters: usize) -> Self {
        Clients {
            link,
            docker_socket,
            docker: tokio::sync::Mutex::new(None),
            postgres: Mutex::new(vec![None; clusters]),
        }
    }

    pub fn link(&self) -> &Arc<dyn Link> {
        &self.link
    }

    /// The Docker socket's path on the host; None when Docker is not watched there.
    pub fn docker_socket(&self) -> Option<&str> {
        self.docker_socket.as_deref()
    }

    /// The connection's Docker client, connecting on first use.
    pub async fn docker(&self) -> Result<Docker, CollectError> {
        let mut client = self.docker.lock().await;
        if let Some(d) = &*client {
            return Ok(d.clone());
        }
        let Some(socket) = &self.docker_socket else {
            return Err(CollectError::Docker {
                message: format!("Docker is not watched on {}", self.link.host()),
            });
        };
        let d = docker::connect(self.link.clone(), socket).await?;
        *client = Some(d.clone());
        Ok(d)
    }

    /// Cluster `index`'s monitoring session, if it is connected and open.
    pub fn postgres(&self, index: usize) -> Option<Arc<postgres::PgSession>> {
        lock(&self.postgres)
            .get(index)
            .and_then(Option::clone)
            .filter(|s| !s.is_closed())
    }

    pub(crate) fn set_postgres(&self, index: usize, session: Option<Arc<postgres::PgSession>>) {
        if let Some(slot) = lock(&self.postgres).get_mut(index) {
            *slot = session;
        }
    }
}
