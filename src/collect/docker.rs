//! A bollard client whose every request travels over the host's [`Link`]: one unix-socket
//! stream (locally a socket, over SSH a `direct-streamlocal` channel) per HTTP request, so the
//! same client code serves local and remote hosts.

use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use hyper_util::rt::TokioIo;

use super::CollectError;
use crate::link::{Link, LinkError};

/// Seconds bollard waits for response headers; streams (events, logs) are not limited by it.
const REQUEST_TIMEOUT_SECS: u64 = 20;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the Docker socket at `socket` on the link's host and agrees on an API version.
/// Errors say why Docker is unreachable and what to do about it.
pub async fn connect(link: Arc<dyn Link>, socket: &str) -> Result<Docker, CollectError> {
    // Open the socket once ourselves: bollard would bury "not found" / "permission denied"
    // inside a generic transport error, and these two are the common cases worth explaining.
    drop(
        link.open_unix(socket)
            .await
            .map_err(|e| unavailable(&e, socket))?,
    );
    let host = link.host().to_owned();
    let docker = over_link(link, socket.to_owned()).map_err(|e| CollectError::Docker {
        message: format!("docker client for {host}: {e}"),
    })?;
    let negotiate = tokio::time::timeout(HANDSHAKE_TIMEOUT, docker.negotiate_version());
    match negotiate.await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(api_error(&host, e)),
        Err(_) => Err(CollectError::Docker {
            message: format!(
                "Docker on {host} did not answer within {}s (is dockerd hung?)",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        }),
    }
}

fn over_link(link: Arc<dyn Link>, socket: String) -> Result<Docker, bollard::errors::Error> {
    let transport = move |mut req: BollardRequest| {
        let (link, socket) = (link.clone(), socket.clone());
        async move {
            let stream =
                link.open_unix(&socket)
                    .await
                    .map_err(|e| bollard::errors::Error::IOError {
                        err: std::io::Error::other(e),
                    })?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            // The connection task ends when the response body (a log or event stream) is dropped.
            tokio::spawn(conn);
            let path = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            *req.uri_mut() = path.parse().map_err(http::Error::from)?;
            // hyper's low-level client adds no Host header and Docker rejects requests without one.
            req.headers_mut()
                .insert(http::header::HOST, http::HeaderValue::from_static("docker"));
            Ok(sender.send_request(req).await?)
        }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        REQUEST_TIMEOUT_SECS,
        bollard::API_DEFAULT_VERSION,
    )
}

fn unavailable(e: &LinkError, socket: &str) -> CollectError {
    let message = match e {
        LinkError::NotFound { host, .. } => format!(
            "no Docker socket at {socket} on {host}: Docker is not installed or not running \
             (start it, or set docker_socket for this host in the config)"
        ),
        LinkError::PermissionDenied { host, .. } => format!(
            "permission denied on {socket} on {host}: add the user to the docker group \
             (usermod -aG docker USER, then log in again) or connect as root"
        ),
        LinkError::Refused { host, .. } => {
            format!(
                "{socket} on {host} refuses connections: dockerd is not running (start it: systemctl start docker)"
            )
        }
        other => format!("cannot reach Docker at {socket}: {other}"),
    };
    CollectError::Docker { message }
}

/// Turns a bollard error into a message a person can act on.
pub fn api_error(host: &str, e: bollard::errors::Error) -> CollectError {
    use bollard::errors::Error as E;
    let message = match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("Docker on {host} answered {status_code}: {message}"),
        E::RequestTimeoutError => {
            format!("Docker on {host} did not answer within {REQUEST_TIMEOUT_SECS}s")
        }
        E::IOError { err } => format!("connection to Docker on {host} failed: {err}"),
        other => format!("Docker on {host}: {other}"),
    };
    CollectError::Docker {
        message: crate::sanitize::plain(&message),
    }
}
