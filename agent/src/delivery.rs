//! Delivery (报送): drains the outbox to the hub.
//!
//! * **Transport.** One due report goes with `SubmitReport`; more go through `SyncReports`
//!   streams of up to `delivery.batch_size` reports, the hub answering one receipt per report,
//!   matched by `report_id`. A large backlog uses up to `delivery.streams` streams at once over
//!   the one connection (the hub works on a bounded number of each stream's reports at a time,
//!   and batches its ClickHouse work across everything in flight). Answers are recorded up to
//!   200 at a time in one store transaction.
//! * **Classification** ([`crate::verdict`]). Accepted (or a replay of an accepted `report_id`) → delivered, with the
//!   receipt. Refused for a reason a resend cannot fix (INVALID_ARGUMENT, FAILED_PRECONDITION,
//!   PERMISSION_DENIED, ALREADY_EXISTS, …) → rejected with the hub's code, message and field
//!   violations, never sent again; a corrected build is a new revision. Anything passing
//!   (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, a deferred receipt, a broken
//!   connection, a stream without an answer) → retried later. UNAUTHENTICATED is about this
//!   agent's certificate, not the report: the report stays pending and [`DrainReport::auth_error`]
//!   says what to do.
//! * **Backoff.** The n-th failed attempt of a report waits a random time in
//!   `[0, min(max, base·2ⁿ)]` (full jitter), at least one second, plus the hub's retry hint when
//!   it gave one. There is no overall give-up: a report stays pending as long as it is on disk.
//! * A report leaves the pending state only with the hub's answer. A crash between the answer
//!   and the commit sends it again; the hub answers a known `report_id` with its original
//!   receipt.

use std::collections::HashMap;
use std::time::Duration;

use prost::Message;
use rand::Rng;
use sme_proto::v1::{self, reporting_service_client::ReportingServiceClient};
use time::OffsetDateTime;
use tonic::transport::Channel;
use tonic::Code;

use crate::clock::Clock;
use crate::connect::{self, ConnectError, HubAddress};
use crate::identity::Identity;
use crate::shutdown::Shutdown;
use crate::store::{Attempt, OutboxItem, SharedStore, StoreError};
pub use crate::verdict::Rejection;
use crate::verdict::{classify_receipt, classify_status, Verdict};

/// Answers recorded per store transaction while a stream drains.
const FLUSH_EVERY: usize = 200;
/// Fewest reports worth a stream of their own (the hub works on 16 of a stream at a time).
const MIN_PER_STREAM: usize = 32;

/// Errors that stop a drain (the hub's answers are not errors: see [`DrainReport`]).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The hub address or TLS setup is unusable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The local store failed; what was not recorded is sent again later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to send and retry.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Reports per `SyncReports` stream.
    pub batch_size: usize,
    /// `SyncReports` streams at the same time while a backlog drains.
    pub streams: usize,
    /// Retry delays.
    pub backoff: Backoff,
    /// A stream with no answer for this long is abandoned (and retried later).
    pub receipt_timeout: Duration,
}

impl DeliverySettings {
    /// The settings of `[delivery]`.
    pub fn from_config(d: &crate::config::DeliverySection) -> Self {
        DeliverySettings {
            batch_size: d.batch_size,
            streams: d.streams,
            backoff: Backoff {
                base: Duration::from_secs(d.backoff_base_secs),
                max: Duration::from_secs(d.backoff_max_secs),
            },
            receipt_timeout: Duration::from_secs(d.receipt_timeout_secs),
        }
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Ceiling of the first delay.
    pub base: Duration,
    /// Largest ceiling.
    pub max: Duration,
}

/// What one drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Reports the hub accepted.
    pub delivered: usize,
    /// Reports the hub refused (now rejected).
    pub rejected: usize,
    /// Reports to retry later.
    pub retried: usize,
    /// The last passing failure (hub unreachable, busy …), for `status`.
    pub last_failure: Option<String>,
    /// The hub refused this agent's certificate: what it said, and what to do.
    pub auth_error: Option<String>,
    /// The drain stopped because the hub could not take reports (unreachable, busy, or the
    /// certificate refused); reports still due wait for [`DrainReport::retry_at`].
    pub stopped_early: bool,
    /// The earliest retry time given to a report in this drain.
    pub retry_at: Option<OffsetDateTime>,
}

// === impl DrainReport ===

impl DrainReport {
    fn merge(&mut self, other: DrainReport) {
        self.delivered += other.delivered;
        self.rejected += other.rejected;
        self.retried += other.retried;
        self.last_failure = other.last_failure.or(self.last_failure.take());
        self.auth_error = other.auth_error.or(self.auth_error.take());
        self.stopped_early |= other.stopped_early;
        if let Some(at) = other.retry_at {
            self.note_retry(at);
        }
    }

    fn note_retry(&mut self, at: OffsetDateTime) {
        self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
    }
}

// === impl Backoff ===

impl Backoff {
    /// Delay after the `attempts`-th failed attempt (0 = first), plus `hint` if the hub gave one.
    pub fn delay(&self, attempts: u32, hint: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempts.min(20))
            .min(self.max);
        let jitter = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        hint.unwrap_or_default() + jitter.max(Duration::from_secs(1))
    }
}

/// The message shown when the hub refuses this agent's certificate.
pub fn auth_advice(hub_message: &str) -> String {
    if hub_message.contains("sme-agent enroll") {
        // The hub already said what to do.
        return format!(
            "the hub does not accept this agent's certificate: {hub_message}; reports stay \
             queued / 证书不被接受，报表保留在队列中"
        );
    }
    format!(
        "the hub does not accept this agent's certificate ({hub_message}); reports stay queued. \
         If the certificate expired or was revoked, ask the hub operator for a new enrolment \
         token and run `sme-agent enroll --force --hub URL --platform ID --token TOKEN` / \
         证书已过期或被吊销，请向汇聚中心申请新的注册令牌后重新注册"
    )
}

/// Drains every due report (until none is due, the hub is unreachable, or `shutdown`).
pub async fn drain(
    store: &SharedStore,
    identity: &Identity,
    hub_url: &str,
    settings: &DeliverySettings,
    clock: &dyn Clock,
    shutdown: &Shutdown,
) -> Result<DrainReport, DeliveryError> {
    let address = HubAddress::parse(hub_url)?;
    let channel = connect::channel(&address, &identity.trust())?;
    let mut client = ReportingServiceClient::new(channel)
        .max_decoding_message_size(16 * 1024 * 1024)
        .max_encoding_message_size(16 * 1024 * 1024);
    let mut report = DrainReport::default();
    let mut sync_supported = true;
    let streams = settings.streams.max(1);
    loop {
        if shutdown.is_requested() {
            break;
        }
        let now = clock.now();
        let limit = settings.batch_size * streams;
        let page = store.run(move |s| s.pending_at(now, limit)).await?;
        if page.is_empty() {
            break;
        }
        let (size, started) = (page.len(), std::time::Instant::now());
        let stop = if page.len() == 1 || !sync_supported {
            send_one_by_one(
                &mut client,
                store,
                page,
                settings,
                clock,
                shutdown,
                &mut report,
            )
            .await?
        } else {
            // A backlog goes out over parallel streams (one HTTP/2 connection), each with at
            // least MIN_PER_STREAM reports, so the hub batches more of them at once.
            // Each stream takes a run of consecutive periods, so the hub's batches (which mix
            // the streams) span few years, i.e. few ClickHouse partitions.
            let mut page = page;
            page.sort_by(|a, b| (&a.period, a.revision).cmp(&(&b.period, b.revision)));
            let n = streams.min(page.len().div_ceil(MIN_PER_STREAM)).max(1);
            let per_stream = page.len().div_ceil(n);
            let mut chunks = Vec::with_capacity(n);
            while !page.is_empty() {
                let rest = page.split_off(per_stream.min(page.len()));
                chunks.push(std::mem::replace(&mut page, rest));
            }
            let results = futures::future::join_all(chunks.into_iter().map(|chunk| {
                let client = client.clone();
                async move {
                    let mut part = DrainReport::default();
                    let end = send_stream(client, store, chunk, settings, clock, &mut part).await;
                    (end, part)
                }
            }))
            .await;
            let mut stop = false;
            let mut fallback = Vec::new();
            for (end, part) in results {
                report.merge(part);
                match end? {
                    StreamEnd::Done { stop: s } => stop |= s,
                    StreamEnd::Unimplemented(items) => fallback.extend(items),
                }
            }
            if !fallback.is_empty() {
                tracing::info!("the hub does not offer SyncReports; sending one by one");
                sync_supported = false;
                stop |= send_one_by_one(
                    &mut client,
                    store,
                    fallback,
                    settings,
                    clock,
                    shutdown,
                    &mut report,
                )
                .await?;
            }
            stop
        };
        tracing::debug!(
            reports = size,
            elapsed_ms = started.elapsed().as_millis() as u64,
            stop,
            "page sent"
        );
        if stop {
            report.stopped_early = true;
            break;
        }
    }
    Ok(report)
}

enum StreamEnd {
    Done { stop: bool },
    Unimplemented(Vec<OutboxItem>),
}

/// `SubmitReport` per report. Returns whether draining should stop.
async fn send_one_by_one(
    client: &mut ReportingServiceClient<Channel>,
    store: &SharedStore,
    page: Vec<OutboxItem>,
    settings: &DeliverySettings,
    clock: &dyn Clock,
    shutdown: &Shutdown,
    report: &mut DrainReport,
) -> Result<bool, DeliveryError> {
    let mut pending = page.into_iter();
    let mut attempts = Vec::new();
    let mut stop = false;
    for item in pending.by_ref() {
        let verdict = match v1::Report::decode(item.report.as_slice()) {
            Ok(r) => match client
                .submit_report(v1::SubmitReportRequest { report: Some(r) })
                .await
            {
                Ok(resp) => match resp.into_inner().receipt {
                    Some(receipt) => Verdict::Delivered(receipt),
                    None => Verdict::Retry {
                        error: "the hub answered without a receipt".into(),
                        hint: None,
                    },
                },
                Err(status) => classify_status(&status),
            },
            Err(e) => corrupt(&item, e),
        };
        // A hub that cannot take this report now cannot take the next one either.
        stop = matches!(verdict, Verdict::Unauthenticated(_) | Verdict::Retry { .. });
        attempts.push(settle(&item, verdict, settings, clock, report));
        if stop || shutdown.is_requested() {
            break;
        }
    }
    store.run(move |s| s.record_attempts(&attempts)).await?;
    Ok(stop)
}

/// One `SyncReports` stream for the page.
async fn send_stream(
    mut client: ReportingServiceClient<Channel>,
    store: &SharedStore,
    page: Vec<OutboxItem>,
    settings: &DeliverySettings,
    clock: &dyn Clock,
    report: &mut DrainReport,
) -> Result<StreamEnd, DeliveryError> {
    // Decode up front so a corrupt row is settled and never sent.
    let mut outgoing = Vec::with_capacity(page.len());
    let mut waiting: HashMap<String, OutboxItem> = HashMap::with_capacity(page.len());
    let mut attempts = Vec::new();
    for mut item in page {
        match v1::Report::decode(item.report.as_slice()) {
            Ok(r) => {
                // The bytes go into the stream; the item keeps what settling it needs.
                outgoing.push(std::mem::take(&mut item.report));
                waiting.insert(r.report_id, item);
            }
            Err(e) => {
                let verdict = corrupt(&item, e);
                attempts.push(settle(&item, verdict, settings, clock, report));
            }
        }
    }
    // Re-decoded one at a time as the stream is polled, so only the encoded page is held.
    let requests = futures::stream::iter(outgoing.into_iter().filter_map(|bytes| {
        v1::Report::decode(bytes.as_slice())
            .ok()
            .map(|r| v1::SyncReportsRequest { report: Some(r) })
    }));
    let failure = match client.sync_reports(requests).await {
        Err(status) if status.code() == Code::Unimplemented => {
            store.run(move |s| s.record_attempts(&attempts)).await?;
            // The items gave their bytes to the stream: read them again for the fallback.
            let ids: Vec<String> = waiting.into_values().map(|i| i.report_id).collect();
            let page = store
                .run(move |s| -> Result<Vec<OutboxItem>, StoreError> {
                    ids.iter()
                        .filter_map(|id| s.outbox_item(id).transpose())
                        .collect()
                })
                .await?;
            return Ok(StreamEnd::Unimplemented(page));
        }
        Err(status) => Some(classify_status(&status)),
        Ok(response) => {
            let mut inbound = response.into_inner();
            let mut failure = None;
            while !waiting.is_empty() {
                match tokio::time::timeout(settings.receipt_timeout, inbound.message()).await {
                    Ok(Ok(Some(answer))) => {
                        let Some(receipt) = answer.receipt else {
                            continue;
                        };
                        let Some(item) = waiting.remove(&receipt.report_id) else {
                            tracing::warn!(report_id = %receipt.report_id,
                                "receipt for a report not in this stream; ignored");
                            continue;
                        };
                        let verdict = classify_receipt(receipt);
                        attempts.push(settle(&item, verdict, settings, clock, report));
                        if attempts.len() >= FLUSH_EVERY {
                            let batch = std::mem::take(&mut attempts);
                            store.run(move |s| s.record_attempts(&batch)).await?;
                        }
                    }
                    Ok(Ok(None)) => {
                        failure = Some(Verdict::Retry {
                            error: "the hub ended the stream without answering every report".into(),
                            hint: None,
                        });
                        break;
                    }
                    Ok(Err(status)) => {
                        failure = Some(classify_status(&status));
                        break;
                    }
                    Err(_) => {
                        failure = Some(Verdict::Retry {
                            error: format!(
                                "no answer from the hub for {} s",
                                settings.receipt_timeout.as_secs()
                            ),
                            hint: None,
                        });
                        break;
                    }
                }
            }
            failure
        }
    };
    let stop = failure.is_some();
    if let Some(failure) = failure {
        // Everything not answered shares the stream's fate (and is never marked rejected).
        let failure = match failure {
            Verdict::Rejected(r) => Verdict::Retry {
                error: format!("the hub refused the stream: {} {}", r.code, r.message),
                hint: None,
            },
            other => other,
        };
        for item in waiting.into_values() {
            let verdict = match &failure {
                Verdict::Unauthenticated(m) => Verdict::Unauthenticated(m.clone()),
                Verdict::Retry { error, hint } => Verdict::Retry {
                    error: error.clone(),
                    hint: *hint,
                },
                Verdict::Delivered(_) | Verdict::Rejected(_) => unreachable!("mapped above"),
            };
            attempts.push(settle(&item, verdict, settings, clock, report));
        }
    }
    store.run(move |s| s.record_attempts(&attempts)).await?;
    Ok(StreamEnd::Done { stop })
}

fn corrupt(item: &OutboxItem, e: prost::DecodeError) -> Verdict {
    tracing::error!(report_id = %item.report_id, error = %e, "unreadable report in the outbox");
    Verdict::Rejected(Rejection {
        current_revision: None,
        code: "DataLoss".into(),
        message: format!(
            "the stored report cannot be decoded ({e}); it was never sent. Run `sme-agent \
             rebuild --period {}` to build it again",
            item.period
        ),
        violations: Vec::new(),
    })
}

/// The store update for one report, counting it in `report`.
fn settle(
    item: &OutboxItem,
    verdict: Verdict,
    settings: &DeliverySettings,
    clock: &dyn Clock,
    report: &mut DrainReport,
) -> Attempt {
    let report_id = item.report_id.clone();
    match verdict {
        Verdict::Delivered(receipt) => {
            report.delivered += 1;
            tracing::debug!(%report_id, period = %item.period, revision = item.revision,
                replay = receipt.replay, "delivered");
            Attempt::Delivered {
                report_id,
                receipt: receipt.encode_to_vec(),
            }
        }
        Verdict::Rejected(rejection) => {
            report.rejected += 1;
            tracing::warn!(%report_id, period = %item.period, revision = item.revision,
                code = %rejection.code, rules = ?rejection.violations.iter().map(|v| &v.rule_id).collect::<Vec<_>>(),
                "the hub rejected the report; see `sme-agent status`");
            if let Some(current) = rejection.current_revision {
                tracing::warn!(%report_id, period = %item.period, revision = item.revision,
                    hub_revision = current,
                    "the hub holds this revision of the period or a higher one; the period is rebuilt above it");
            }
            Attempt::Rejected {
                report_id,
                hub_revision: rejection.current_revision,
                detail_json: rejection.to_json(),
            }
        }
        Verdict::Retry { error, hint } => {
            report.retried += 1;
            let delay = settings
                .backoff
                .delay(item.attempts, hint, &mut rand::rng());
            report.last_failure = Some(error.clone());
            let next_attempt_at = clock.now() + delay;
            report.note_retry(next_attempt_at);
            Attempt::Retry {
                report_id,
                next_attempt_at,
                error,
            }
        }
        Verdict::Unauthenticated(message) => {
            report.retried += 1;
            let advice = auth_advice(&message);
            report.auth_error = Some(advice.clone());
            // Waiting longer than usual: nothing will change until someone acts.
            let delay = settings
                .backoff
                .delay(item.attempts.max(10), None, &mut rand::rng());
            let next_attempt_at = clock.now() + delay;
            report.note_retry(next_attempt_at);
            Attempt::Retry {
                report_id,
                next_attempt_at,
                error: advice,
            }
        }
    }
}

/// `OffsetDateTime` helper for callers that sleep until the next due report.
pub fn until(now: OffsetDateTime, at: OffsetDateTime) -> Duration {
    Duration::try_from(at - now).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_full_jitter_capped_and_honours_the_hint() {
        let b = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(3600),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempts in 0..30 {
            let ceiling = (10u64 << attempts.min(20)).min(3600);
            let mut seen_low = false;
            for _ in 0..200 {
                let d = b.delay(attempts, None, &mut rng);
                assert!(d >= Duration::from_secs(1));
                assert!(
                    d <= Duration::from_secs(ceiling.max(1)),
                    "{attempts}: {d:?}"
                );
                seen_low |= d < Duration::from_secs(ceiling / 2 + 1);
            }
            assert!(seen_low, "jitter reaches the lower half");
        }
        let d = b.delay(0, Some(Duration::from_secs(30)), &mut rng);
        assert!(
            d >= Duration::from_secs(31) && d <= Duration::from_secs(40),
            "{d:?}"
        );
    }
}
