//! The audit trail of certificates (`certificate_events`, migration 10): every `Enroll` and
//! `Renew` call, issued or refused, with the platform, the serials, the status and the reason.
//!
//! A table of its own rather than rows in `audit`: `audit` is one row per submitted report
//! (period, `report_id`, revision, rule ids) and its `outcome` is an enum of report outcomes;
//! a certificate event has none of those and has serials instead. Written by a small task of
//! its own (not the report writer) that batches whatever is queued into one insert and retries
//! while ClickHouse is down; the enrolment service waits (at most [`STORE_WAIT`]) until its
//! event is stored before it answers.

use std::time::Duration;

use clickhouse::Row;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

/// Events waiting to be stored; beyond this an event is logged and dropped.
const QUEUE: usize = 10_000;
/// Most events in one insert.
const MAX_BATCH: usize = 1_000;
/// How long a call waits for its event to be stored before it answers anyway.
pub const STORE_WAIT: Duration = Duration::from_secs(5);

/// One row of `certificate_events`.
#[derive(Debug, Clone, Row, Serialize, PartialEq, Eq)]
pub struct CertificateEvent {
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub at: OffsetDateTime,
    pub at_nanos: u32,
    /// `enrolment` or `renewal`.
    pub event: String,
    /// `issued` or `refused`.
    pub outcome: String,
    /// The platform asked for (enrolment) or named by the presented certificate (renewal;
    /// empty when there was none).
    pub platform_id: String,
    /// The new certificate's serial; empty when refused.
    pub serial: String,
    /// Renewal: the serial of the certificate that authenticated the call.
    pub previous_serial: String,
    /// The new certificate's expiry; 1970-01-01 when refused.
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub not_after: OffsetDateTime,
    /// gRPC status code of the answer (0 when issued).
    pub status_code: i32,
    /// Why it was refused (the message the caller got).
    pub reason: String,
    /// The caller's address.
    pub peer: String,
    pub hub_instance: String,
}

impl CertificateEvent {
    /// An event of kind `event` happening now; fill in the rest.
    pub fn new(event: &str, platform_id: &str, peer: &str, hub_instance: &str) -> Self {
        let at = OffsetDateTime::now_utc();
        Self {
            at,
            at_nanos: at.nanosecond(),
            event: event.to_owned(),
            outcome: String::new(),
            platform_id: platform_id.to_owned(),
            serial: String::new(),
            previous_serial: String::new(),
            not_after: OffsetDateTime::UNIX_EPOCH,
            status_code: 0,
            reason: String::new(),
            peer: peer.to_owned(),
            hub_instance: hub_instance.to_owned(),
        }
    }

    /// The certificate was issued.
    pub fn issued(mut self, serial: &str, not_after: OffsetDateTime) -> Self {
        self.outcome = "issued".into();
        self.serial = serial.to_owned();
        self.not_after = not_after;
        self
    }

    /// The call was refused with `status`.
    pub fn refused(mut self, status: &tonic::Status) -> Self {
        self.outcome = "refused".into();
        self.status_code = status.code() as i32;
        self.reason = status.message().to_owned();
        self
    }
}

struct Queued {
    event: CertificateEvent,
    stored: oneshot::Sender<()>,
}

// === impl CertificateEvents ===

/// The writer of `certificate_events`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CertificateEvents {
    tx: mpsc::Sender<Queued>,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.event.fmt(f)
    }
}

impl CertificateEvents {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Queues `event` and waits until it is stored, at most [`STORE_WAIT`]; whether it was.
    /// An event that cannot be queued is written to the log instead, in full.
    pub async fn record(&self, event: CertificateEvent) -> bool {
        let (stored, done) = oneshot::channel();
        if let Err(e) = self.tx.try_send(Queued { event, stored }) {
            let queued = match e {
                mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
            };
            tracing::error!(event = ?queued.event, "certificate event not stored: its queue is full");
            return false;
        }
        match tokio::time::timeout(STORE_WAIT, done).await {
            Ok(Ok(())) => true,
            _ => {
                tracing::warn!("certificate event not stored yet (ClickHouse slow or down); it stays queued and is retried");
                false
            }
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Queued>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let rows: Vec<CertificateEvent> = batch.iter().map(|q| q.event.clone()).collect();
        let mut delay = Duration::from_millis(500);
        loop {
            match crate::registry::db::insert::<CertificateEvent>(
                &store,
                "certificate_events",
                &rows,
            )
            .await
            {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, events = rows.len(), "cannot store certificate events; retrying");
                    tokio::time::sleep(delay).await;
                    delay = std::cmp::min(delay * 2, Duration::from_secs(30));
                }
            }
        }
        for q in batch {
            let _ = q.stored.send(());
        }
    }
}
