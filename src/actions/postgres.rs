//! Cancel and terminate of a PostgreSQL backend. Sent over the cluster's monitoring session
//! when it is open (an exhausted pool would refuse a new connection just when this is needed),
//! else over a connection of its own. The backend is checked to still be the session chosen.

use std::time::Duration;

use super::{JobKind, JobTarget};
use crate::collect::clients::Clients;
use crate::collect::postgres::{self, Backend};
use crate::config::HostSpec;

/// Signals the backend of `target`; Ok says what was done, Err why nothing was.
pub async fn signal(
    clients: &Clients,
    target: &JobTarget,
    kind: JobKind,
    spec: &HostSpec,
) -> Result<String, String> {
    let JobTarget::Backend {
        index,
        pid,
        backend_start,
        query_start,
        ..
    } = target
    else {
        return Err(format!("{} needs a PostgreSQL session", kind.verb()));
    };
    let Some(pg) = spec.postgres.get(*index) else {
        return Err("no such PostgreSQL cluster in the config".to_owned());
    };
    let backend = Backend {
        pid: *pid,
        backend_start: *backend_start,
        query_start: *query_start,
    };
    let terminate = kind == JobKind::Terminate;
    let own;
    let session = match clients.postgres(*index) {
        Some(s) => s,
        None => {
            own = postgres::connect(&**clients.link(), &pg.target)
                .await
                .map_err(|e| e.to_string())?;
            std::sync::Arc::new(own)
        }
    };
    let pid = *pid;
    let done = match session.signal_backend(&backend, terminate).await {
        Ok(Some(true)) if terminate => Ok(format!("terminated backend {pid}")),
        Ok(Some(true)) => Ok(format!("cancelled the query of backend {pid}")),
        Ok(Some(false)) => Err(format!(
            "PostgreSQL did not signal backend {pid}: it has just ended, or role {} may not \
             signal it (it needs to be a member of its role or of pg_signal_backend)",
            pg.target.user
        )),
        Ok(None) if terminate => Err(format!(
            "backend {pid} is no longer the session you chose (it ended, or its pid now serves \
             another session): nothing was done"
        )),
        Ok(None) => Err(format!(
            "backend {pid} no longer runs the query you chose (it finished, or the session \
             ended): nothing was done"
        )),
        Err(e) => Err(e.to_string()),
    }?;
    // A signal that was delivered may still change nothing (a cancel of an idle transaction
    // leaves its locks): say whether the sessions that waited for it went on.
    let JobTarget::Backend { blocks, .. } = target else {
        return Ok(done);
    };
    if *blocks == 0 {
        return Ok(done);
    }
    let waiting = |s: &postgres::Snapshot| {
        s.sessions
            .iter()
            .filter(|x| x.blocked_by.contains(&pid))
            .count()
    };
    let deadline = tokio::time::Instant::now() + LOCKS_SETTLE;
    let mut still = usize::MAX;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        still = match session.snapshot().await {
            Ok(s) => waiting(&s),
            Err(_) => return Ok(format!("{done}; could not re-read the lock tree")),
        };
        if still == 0 {
            return Ok(format!("{done}; the sessions waiting for it went on"));
        }
    }
    // The news first: the status line is one row.
    Err(format!(
        "nothing changed: {still} session{} still wait{} for it after {}s; {} ({done})",
        if still == 1 { "" } else { "s" },
        if still == 1 { "s" } else { "" },
        LOCKS_SETTLE.as_secs(),
        if terminate {
            "look at the lock tree again"
        } else {
            "a cancel does not end an idle transaction: terminate it (T)"
        }
    ))
}

/// How long a cancel or terminate of a blocker is given to release the sessions waiting on it.
const LOCKS_SETTLE: Duration = Duration::from_secs(2);
