//! The one runner of collectors. [`run`] serves the console: every collector side by side over
//! one connection, polled ones at their interval, streams as changes come, each pausing after
//! its own failure (1 s doubling to 15 s) without holding up the others. [`once`] serves
//! `watchfloor snapshot`: the first settled sample of each, within a deadline. Reconnecting
//! the link is not done here: that is the host worker's, one level up.

use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;

use super::{Collect, CollectError, Sample, Sampling, refreshed};
use crate::host::Backoff;

const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(15);

/// Runs every collector until `send` says nobody listens any more (returns false).
pub async fn run<F, Fut>(collectors: Vec<Box<dyn Collect>>, refresh: watch::Receiver<()>, send: F)
where
    F: Fn(Sample) -> Fut,
    Fut: Future<Output = bool>,
{
    let send = &send;
    join_all(collectors.into_iter().map(|mut c| {
        let mut refresh = refresh.clone();
        async move {
            let mut backoff = Backoff::new(RETRY_BASE, RETRY_CAP);
            loop {
                let sample = c.next().await;
                let pause = match (sample.error(), c.sampling()) {
                    (Some(_), _) => Some(c.retry_after(&sample).unwrap_or_else(|| backoff.delay())),
                    (None, Sampling::Every(interval)) => {
                        backoff.reset();
                        Some(interval)
                    }
                    (None, Sampling::Stream) => {
                        backoff.reset();
                        None
                    }
                };
                if !send(sample).await {
                    return;
                }
                if let Some(pause) = pause {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = refreshed(&mut refresh) => {}
                    }
                }
            }
        }
    }))
    .await;
}

/// Asks each collector until it is settled or fails, all side by side, and returns the last
/// sample of each. One that did not answer by `deadline` gives a failure saying so.
pub async fn once(collectors: Vec<Box<dyn Collect>>, deadline: Duration) -> Vec<Sample> {
    join_all(collectors.into_iter().map(|mut c| async move {
        let late = c.fail(CollectError::Late {
            what: c.name(),
            after: deadline,
        });
        let work = async {
            loop {
                let sample = c.next().await;
                if sample.error().is_some() || c.is_settled() {
                    return sample;
                }
            }
        };
        tokio::time::timeout(deadline, work).await.unwrap_or(late)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::disks::DisksSnapshot;
    use futures_util::future::BoxFuture;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails its first `fail` calls, then answers.
    struct Flaky {
        calls: Arc<AtomicUsize>,
        fail: usize,
    }

    impl Collect for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn sampling(&self) -> Sampling {
            Sampling::Every(Duration::from_secs(3600))
        }
        fn next(&mut self) -> BoxFuture<'_, Sample> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = n < self.fail;
            Box::pin(async move {
                Sample::Disks(if fail {
                    Err(CollectError::parse("df", "boom"))
                } else {
                    Ok(DisksSnapshot {
                        filesystems: Vec::new(),
                        observed_at: jiff::Timestamp::UNIX_EPOCH,
                    })
                })
            })
        }
        fn fail(&self, error: CollectError) -> Sample {
            Sample::Disks(Err(error))
        }
    }

    /// Never answers.
    struct Silent;

    impl Collect for Silent {
        fn name(&self) -> String {
            "silent".into()
        }
        fn sampling(&self) -> Sampling {
            Sampling::Stream
        }
        fn next(&mut self) -> BoxFuture<'_, Sample> {
            Box::pin(std::future::pending())
        }
        fn fail(&self, error: CollectError) -> Sample {
            Sample::Tunnels(Err(error))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_collector_is_retried_while_the_others_keep_their_pace() {
        let (tx, rx) = watch::channel(());
        let flaky = Arc::new(AtomicUsize::new(0));
        let steady = Arc::new(AtomicUsize::new(0));
        let collectors: Vec<Box<dyn Collect>> = vec![
            Box::new(Flaky {
                calls: flaky.clone(),
                fail: 3,
            }),
            Box::new(Flaky {
                calls: steady.clone(),
                fail: 0,
            }),
            Box::new(Silent),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let runner = run(collectors, rx, |s| {
            seen.lock().unwrap().push(s.error().is_some());
            async { true }
        });
        // Three failures pause about 1 + 2 + 4 s; the fourth call answers.
        let _ = tokio::time::timeout(Duration::from_secs(10), runner).await;
        assert_eq!(flaky.load(Ordering::SeqCst), 4);
        assert_eq!(steady.load(Ordering::SeqCst), 1, "one sample per hour");
        assert_eq!(seen.lock().unwrap().iter().filter(|e| **e).count(), 3);
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_asks_polled_collectors_at_once() {
        let (tx, rx) = watch::channel(());
        let calls = Arc::new(AtomicUsize::new(0));
        let c: Vec<Box<dyn Collect>> = vec![Box::new(Flaky {
            calls: calls.clone(),
            fail: 0,
        })];
        let runner = run(c, rx, |_| async { true });
        let poke = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            tx.send_replace(());
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        tokio::select! {
            () = runner => {}
            () = poke => {}
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn once_reports_what_did_not_answer_as_a_failure_naming_it() {
        let c: Vec<Box<dyn Collect>> = vec![
            Box::new(Silent),
            Box::new(Flaky {
                calls: Arc::default(),
                fail: 0,
            }),
        ];
        let samples = once(c, Duration::from_secs(2)).await;
        assert_eq!(samples.len(), 2);
        let Sample::Tunnels(Err(e)) = &samples[0] else {
            panic!("{samples:?}")
        };
        assert_eq!(e.to_string(), "silent did not answer within 2s");
        assert!(samples[1].error().is_none());
    }
}
