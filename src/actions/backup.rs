//! Triggering a backup: the source's `trigger` command, run on the host as a stoppable
//! process group with its output streamed to the console ([`super::hostproc`]). A cancel, a
//! timeout or the console's exit stops the whole group: closing the SSH channel alone would
//! leave `borg create` running, holding the repository's lock.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::JobId;
use super::hostproc::{self, HostProcess};
use super::runner::{Reporter, Work};
use crate::collect::backups::{prelude, secret_input};
use crate::config::backup::BackupSpec;
use crate::link::Link;

pub struct Trigger {
    pub link: Arc<dyn Link>,
    pub spec: BackupSpec,
    pub id: JobId,
    pub report: Reporter,
    process: HostProcess,
}

impl Trigger {
    pub fn new(link: Arc<dyn Link>, spec: BackupSpec, id: JobId, report: Reporter) -> Self {
        Trigger {
            link,
            spec,
            id,
            report,
            process: HostProcess::default(),
        }
    }
}

impl Work for Trigger {
    fn run<'a>(
        &'a mut self,
        step: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let trigger = self.spec.trigger.clone().ok_or("no trigger configured")?;
            step(format!("running `{trigger}`"));
            let input = secret_input(&self.spec).await.map_err(|e| e.to_string())?;
            let launch = hostproc::Launch {
                prelude: &prelude(&self.spec, Some("setsid")),
                command: &trigger,
                input,
                pid_file: None,
            };
            let end = hostproc::stream(
                &*self.link,
                launch,
                &self.report,
                self.id,
                &mut self.process,
            )
            .await?;
            end.check(&format!("`{trigger}`"))?;
            Ok(format!(
                "`{trigger}` finished ({} lines of output)",
                end.lines
            ))
        })
    }

    /// Stops the process group unless the command ended by itself, and says whether it is gone.
    fn cleanup(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(line) = self.process.stop(&*self.link).await else {
                return;
            };
            tracing::info!(host = self.link.host(), job = %self.id, "{line}");
            self.report
                .output_wait(self.id, vec![format!("watchfloor: {line}")])
                .await;
        })
    }

    #[allow(clippy::misnamed_getters)] // a trigger's deadline, not the read's
    fn timeout(&self) -> Duration {
        self.spec.trigger_timeout
    }
}
