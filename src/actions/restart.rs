//! Restart, stop and start of containers and whole compose services through the Docker API.
//! A one-by-one service restart waits for each replica to be running (and healthy, when it has
//! a healthcheck) before touching the next, so a bad release stops at the first replica.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{RestartContainerOptions, StopContainerOptions};
use futures_util::future::join_all;
use tokio::time::Instant;

use super::{Job, JobKind, Member, Pace};
use crate::collect::containers::{ContainerState, Health, from_inspect};
use crate::collect::docker::api_error;

/// Seconds Docker waits after SIGTERM before it kills (compose's default).
const STOP_GRACE_SECS: i32 = 10;
/// How long a restarted container may take to be running, and healthy when it has a check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(250);
/// A container without a healthcheck counts as up once it has kept running this long: one
/// that crashes at start is then caught before the next replica is touched.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, thiserror::Error)]
pub enum RestartError {
    #[error("{0}")]
    Docker(String),
    #[error("{container} {reason}")]
    NotReady { container: String, reason: String },
    #[error("{container} was not {wanted} after {secs}s; look at its logs (l)")]
    Timeout {
        container: String,
        wanted: &'static str,
        secs: u64,
    },
    #[error("stopped after {done} of {total}: {cause}")]
    Partial {
        done: usize,
        total: usize,
        cause: Box<RestartError>,
    },
}

/// Carries out `action`; `step` hears about each step. Returns what was done.
pub async fn run(
    docker: &Docker,
    action: &Job,
    step: &(dyn Fn(String) + Send + Sync),
) -> Result<String, RestartError> {
    let host = action.host_name.as_str();
    let members = action.target.members();
    let total = members.len();
    match (action.kind, action.pace) {
        (JobKind::Restart, Pace::OneByOne) if total > 1 => {
            for (i, m) in members.iter().enumerate() {
                step(format!("restarting {} ({}/{total})", m.name, i + 1));
                let one = async {
                    restart(docker, host, m).await?;
                    step(format!("waiting for {} ({}/{total})", m.name, i + 1));
                    wait_ready(docker, host, m).await
                };
                one.await.map_err(|cause| RestartError::Partial {
                    done: i,
                    total,
                    cause: Box::new(cause),
                })?;
            }
            Ok(format!("restarted {total} containers one by one"))
        }
        (JobKind::Cancel | JobKind::Terminate, _) => Err(RestartError::Docker(format!(
            "{} is not a container action",
            action.kind.verb()
        ))),
        (kind, _) => {
            step(format!(
                "{} {}",
                match kind {
                    JobKind::Restart => "restarting",
                    JobKind::Stop => "stopping",
                    _ => "starting",
                },
                names(members)
            ));
            let results = join_all(members.iter().map(|m| async move {
                match kind {
                    JobKind::Restart => restart(docker, host, m).await,
                    JobKind::Stop => stop(docker, host, m).await,
                    _ => start(docker, host, m).await,
                }
            }))
            .await;
            first_error(results, total)?;
            if kind == JobKind::Stop {
                return Ok(format!("stopped {}", names(members)));
            }
            step(format!("waiting for {}", names(members)));
            let ready = join_all(members.iter().map(|m| wait_ready(docker, host, m))).await;
            first_error(ready, total)?;
            Ok(format!(
                "{} {}",
                if kind == JobKind::Start {
                    "started"
                } else {
                    "restarted"
                },
                names(members)
            ))
        }
    }
}

fn names(members: &[Member]) -> String {
    match members {
        [one] => one.name.clone(),
        many => format!("{} containers", many.len()),
    }
}

fn first_error(results: Vec<Result<(), RestartError>>, total: usize) -> Result<(), RestartError> {
    let done = results.iter().filter(|r| r.is_ok()).count();
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(cause) if total == 1 => Err(cause),
        Some(cause) => Err(RestartError::Partial {
            done,
            total,
            cause: Box::new(cause),
        }),
    }
}

fn docker_error(host: &str, e: bollard::errors::Error) -> RestartError {
    RestartError::Docker(api_error(host, e).to_string())
}

async fn restart(docker: &Docker, host: &str, m: &Member) -> Result<(), RestartError> {
    let options = RestartContainerOptions {
        t: Some(STOP_GRACE_SECS),
        ..Default::default()
    };
    docker
        .restart_container(&m.id, Some(options))
        .await
        .map_err(|e| docker_error(host, e))
}

async fn stop(docker: &Docker, host: &str, m: &Member) -> Result<(), RestartError> {
    let options = StopContainerOptions {
        t: Some(STOP_GRACE_SECS),
        ..Default::default()
    };
    match docker.stop_container(&m.id, Some(options)).await {
        // 304: already stopped, which is what was asked for.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        r => r.map_err(|e| docker_error(host, e)),
    }
}

async fn start(docker: &Docker, host: &str, m: &Member) -> Result<(), RestartError> {
    match docker.start_container(&m.id, None).await {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        r => r.map_err(|e| docker_error(host, e)),
    }
}

/// Waits until `m` is healthy (with a healthcheck) or has kept running for [`SETTLE`]
/// (without). A container that exits, loops or turns unhealthy fails at once.
async fn wait_ready(docker: &Docker, host: &str, m: &Member) -> Result<(), RestartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let wanted = if m.has_health { "healthy" } else { "running" };
    let mut running_since: Option<Instant> = None;
    loop {
        let inspected = docker
            .inspect_container(&m.id, None)
            .await
            .map_err(|e| docker_error(host, e))?;
        let c = from_inspect(inspected).ok_or_else(|| RestartError::NotReady {
            container: m.name.clone(),
            reason: "disappeared".into(),
        })?;
        if c.state != ContainerState::Running {
            running_since = None;
        }
        match (c.state, c.health) {
            (ContainerState::Running, None) if !m.has_health => {
                let since = *running_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SETTLE {
                    return Ok(());
                }
            }
            (ContainerState::Restarting, _) => {
                return Err(RestartError::NotReady {
                    container: m.name.clone(),
                    reason: "is in a restart loop; look at its logs (l)".into(),
                });
            }
            (ContainerState::Running, Some(Health::Healthy)) => return Ok(()),
            (ContainerState::Running, Some(Health::Unhealthy)) => {
                return Err(RestartError::NotReady {
                    container: m.name.clone(),
                    reason: "is unhealthy after the restart; look at its logs (l)".into(),
                });
            }
            (ContainerState::Exited | ContainerState::Dead, _) => {
                return Err(RestartError::NotReady {
                    container: m.name.clone(),
                    reason: format!(
                        "exited{} instead of running; look at its logs (l)",
                        c.exit_code
                            .map(|code| format!(" with code {code}"))
                            .unwrap_or_default()
                    ),
                });
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(RestartError::Timeout {
                container: m.name.clone(),
                wanted,
                secs: READY_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
