//! The batch collector behind the replay lookups (`lookup.rs`) and the W201 baselines
//! (`history.rs`): RPCs send requests into a channel; the collector takes the first, then what
//! else arrives within `max_delay`, up to `max_items`, and answers the batch with one query.
//! While `max_in_flight` batches run, requests queue up and the next batch grows, so under load
//! the number of queries stays near one per query latency however many reports arrive.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// How a collector forms batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most requests in one batch.
    pub max_items: usize,
    /// Longest the first request of a batch waits for companions.
    pub max_delay: Duration,
    /// Batches answered at the same time.
    pub max_in_flight: usize,
}

/// Collects requests from `rx` into batches and spawns `answer` for each; returns when every
/// sender is gone.
pub async fn collect<R, F, Fut>(mut rx: mpsc::Receiver<R>, limits: BatchLimits, answer: F)
where
    R: Send + 'static,
    F: Fn(Vec<R>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        let deadline = Instant::now() + limits.max_delay;
        while batch.len() < limits.max_items {
            match rx.try_recv() {
                Ok(r) => {
                    batch.push(r);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let work = answer(batch);
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }
}
