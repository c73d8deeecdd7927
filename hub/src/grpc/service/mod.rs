//! The gRPC services: `ReportingService` (submit, sync, heartbeat) and `EnrollmentService`.
//!
//! A submission goes: authenticate the certificate → platform id must be the certificate's →
//! admission into the writer's bounded intake (else `RESOURCE_EXHAUSTED`) → replay check by
//! `report_id` and revision check, both batched ([`crate::ingest::lookup`]) → validation rules → one
//! accepted revision per (platform, period, revision) → group commit ([`crate::ingest::writer`]) →
//! receipt. The receipt is sent only after ClickHouse has the rows. Every outcome is written to
//! the audit table (through the writer, batched).
//!
//! The report's `report_id` lock and its (platform, period, revision) lock are held from before
//! the lookups until the writer acknowledged the batch, so within one hub process a concurrent
//! copy or a competing report of the same revision always sees the stored one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use sme_proto::rules::{self, CheckContext};
use sme_proto::v1::{self, FieldViolation, Outcome, Receipt};
use time::OffsetDateTime;
use tonic::{Code, Request, Status};
use uuid::Uuid;

use crate::ingest::lookup::Lookups;
use crate::ingest::writer::Writer;
use crate::pki::tls::{AuthError, Authenticator, PlatformIdentity};
use crate::pki::CertificateAuthority;
use crate::store::{AcceptedReport, AuditEntry, AuditOutcome, LookupKey, Store, StoredReceipt};
use crate::web::Metrics;

mod enrollment;
mod refusal;
mod reporting;

use refusal::{receipt_header, Refusal};

/// How long an agent should wait before retrying when the store is unavailable.
const RETRY_AFTER_UNAVAILABLE: Duration = crate::ingest::writer::RETRY_AFTER_UNAVAILABLE;
/// Reports of one `SyncReports` stream processed at the same time, unless configured
/// (`[writer] stream_concurrency`). A draining agent's reports only batch well when many are in
/// flight: each waits for a lookup and a flush, so a stream's throughput is about its
/// concurrency divided by that latency (docs/benchmarks.md, "Agent footprint").
pub const DEFAULT_STREAM_CONCURRENCY: usize = 256;

/// Settings the services need beyond the store and the CA.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub calendar: sme_proto::period::Calendar,
    pub max_report_bytes: usize,
    pub client_cert_validity: time::Duration,
    /// Name of this hub process in the audit trail.
    pub instance: String,
    /// "Now" for receipts, rules and heartbeats (tests use a manual clock).
    pub clock: crate::clock::Clock,
    /// Registry checks (E004).
    pub registry: crate::registry::RegistrySettings,
    /// Reports of one `SyncReports` stream worked on at the same time.
    pub stream_concurrency: usize,
}

use sme_proto::period::to_timestamp as timestamp;

// === impl Hub ===

/// State shared by all calls. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    store: Store,
    auth: Authenticator,
    ca: CertificateAuthority,
    settings: ServiceSettings,
    ingest: Ingest,
    /// Registry, lock and history lookups for the rules (E004, E012, W201).
    facts: crate::ingest::context::FactFinder,
    /// One lock per report_id, and one per (platform, period, revision), being processed, so
    /// concurrent copies of a report wait for the first and get its receipt instead of racing
    /// to insert, and two reports of one revision cannot both be accepted by this process.
    inflight: Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// The ingestion machinery the services hand reports to (see `server.rs`).
#[derive(Clone)]
pub struct Ingest {
    /// Group commit into ClickHouse, with the intake bound.
    pub writer: Writer,
    /// Batched replay and revision lookups.
    pub lookups: Lookups,
    /// The hub's metrics.
    pub metrics: Arc<Metrics>,
}

/// What an in-process lock serialises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Report(Uuid),
    Revision(String, String, u32),
}

impl Hub {
    pub fn new(
        store: Store,
        ca: CertificateAuthority,
        settings: ServiceSettings,
        ingest: Ingest,
    ) -> Result<Self, crate::pki::tls::TlsError> {
        let auth = Authenticator::new(ca.cert_der())?.with_revocations(ca.revocations());
        let facts = crate::ingest::context::FactFinder::new(
            store.clone(),
            settings.calendar.clone(),
            settings.registry.clone(),
        );
        Ok(Self {
            inner: Arc::new(HubInner {
                store,
                auth,
                ca,
                settings,
                ingest,
                facts,
                inflight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The caller of a request: the identity the gate ([`crate::grpc::gate`]) established, or
    /// (a service used without the gate) the certificate verified here.
    fn identify<T>(&self, req: &Request<T>) -> Result<PlatformIdentity, AuthError> {
        if let Some(identity) = req.extensions().get::<PlatformIdentity>() {
            return Ok(identity.clone());
        }
        let certs = req.peer_certs();
        self.authenticate(certs.as_deref().map(|c| c.as_slice()))
    }

    /// Verifies a client certificate chain (CA, validity, revocation) and reads its platform.
    pub(crate) fn authenticate(
        &self,
        chain: Option<&[rustls_pki_types::CertificateDer<'static>]>,
    ) -> Result<PlatformIdentity, AuthError> {
        self.inner.auth.authenticate(chain)
    }

    /// Counts (and, for the report RPCs, audits) a call the gate refused for want of a valid
    /// client certificate; the answer to send. Never waits: the audit entry goes to memory or
    /// the spill. A hub that cannot check revocations answers UNAVAILABLE (audited `deferred`):
    /// the fault is the hub's, and the agent must keep its reports and retry.
    pub(crate) fn refuse_unauthenticated(
        &self,
        audited: bool,
        peer: String,
        error: &AuthError,
    ) -> Status {
        let metrics = &self.inner.ingest.metrics;
        let refusal = match error {
            AuthError::RevocationsUnavailable(_) => {
                metrics.grpc_refused.inc("revocations_unavailable");
                Refusal::Unavailable(error.to_string())
            }
            _ => {
                metrics.grpc_refused.inc("unauthenticated");
                Refusal::Unauthenticated(error.to_string())
            }
        };
        let status = refusal.status();
        if audited {
            refusal.record(metrics);
            self.inner.ingest.writer.audit(AuditEntry {
                received_at: self.inner.settings.clock.now(),
                platform_id: String::new(),
                cert_subject: String::new(),
                period: String::new(),
                report_id: String::new(),
                revision: 0,
                outcome: refusal.audit_outcome(),
                status_code: status.code() as i32,
                rule_ids: Vec::new(),
                peer,
                hub_instance: self.inner.settings.instance.clone(),
            });
        }
        status
    }

    /// Processes one report end to end and audits the outcome.
    async fn submit(
        &self,
        identity: Result<PlatformIdentity, AuthError>,
        peer: String,
        report: Option<v1::Report>,
    ) -> Result<Receipt, Refusal> {
        let received_at = self.inner.settings.clock.now();
        let who = identity.as_ref().ok();
        let mut audit = Some(AuditEntry {
            received_at,
            platform_id: who.map(|i| i.platform_id.clone()).unwrap_or_default(),
            cert_subject: who.map(|i| i.subject.clone()).unwrap_or_default(),
            period: report
                .as_ref()
                .map(|r| r.period.clone())
                .unwrap_or_default(),
            report_id: report
                .as_ref()
                .map(|r| r.report_id.clone())
                .unwrap_or_default(),
            revision: report.as_ref().map(|r| r.revision).unwrap_or_default(),
            outcome: AuditOutcome::Accepted,
            status_code: 0,
            rule_ids: Vec::new(),
            peer,
            hub_instance: self.inner.settings.instance.clone(),
        });
        let result = self
            .submit_inner(&identity, report.as_ref(), received_at, &mut audit)
            .await;
        let metrics = &self.inner.ingest.metrics;
        match &result {
            Ok((_, true)) => metrics.duplicates.inc(),
            Ok((r, false)) => {
                metrics.accepted.inc();
                for f in &r.flags {
                    metrics.flags.inc(&f.rule_id);
                }
            }
            Err(refusal) => refusal.record(metrics),
        }
        // An accepted report's entry went to the writer with the report.
        if let Some(mut entry) = audit {
            let writer = &self.inner.ingest.writer;
            match &result {
                Ok(_) => {
                    entry.outcome = AuditOutcome::Duplicate;
                    writer.audit(entry);
                }
                Err(refusal) => {
                    entry.outcome = refusal.audit_outcome();
                    entry.status_code = refusal.status().code() as i32;
                    entry.rule_ids = refusal.rule_ids();
                    // Never waits: a full audit queue spills to disk.
                    writer.audit(entry);
                }
            }
        }
        result.map(|(receipt, _)| receipt)
    }

    /// Returns the receipt and whether it is a replay.
    async fn submit_inner(
        &self,
        identity: &Result<PlatformIdentity, AuthError>,
        report: Option<&v1::Report>,
        received_at: OffsetDateTime,
        audit: &mut Option<AuditEntry>,
    ) -> Result<(Receipt, bool), Refusal> {
        let identity = identity
            .as_ref()
            .map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
        let Some(report) = report else {
            return Err(Refusal::Rejected {
                code: Code::InvalidArgument,
                violations: vec![violation(
                    "report",
                    "E010",
                    "请求中缺少报表",
                    "the request carries no report",
                )],
            });
        };
        // A malformed id is E001 (INVALID_ARGUMENT, from the rules below); a well-formed id of
        // another platform is refused outright.
        if report.platform_id != identity.platform_id
            && sme_proto::credit_code::validate(&report.platform_id).is_ok()
        {
            return Err(Refusal::PermissionDenied(vec![violation(
                "platform_id",
                "E002",
                &format!(
                    "报表中的平台代码 {} 与客户端证书中的平台 {} 不一致",
                    report.platform_id, identity.platform_id
                ),
                &format!(
                    "platform id {} differs from the client certificate's platform {}: a platform may only report for itself",
                    report.platform_id, identity.platform_id
                ),
            )]));
        }

        // The intake bound: refuse at once, before any lookup, when the hub holds enough.
        let encoded_len = report.encoded_len();
        let admission = self
            .inner
            .ingest
            .writer
            .admit(&identity.platform_id, encoded_len)
            .map_err(Refusal::Write)?;

        // Replays first: a report already accepted keeps its receipt even if the rules or the
        // calendar would judge it differently today. Both lookups go in one batched query; the
        // rule facts (E004 registry, E012 lock after reopenings, W201 previous period: see
        // context.rs) are looked up at the same time, so a report waits for one round trip.
        let settings = &self.inner.settings;
        let facts_of = || {
            self.inner
                .facts
                .facts(&identity.platform_id, &report.period, received_at)
        };
        let report_id = Uuid::parse_str(&report.report_id).ok();
        let mut _guards = Vec::new();
        let mut found = crate::ingest::lookup::Found::default();
        let facts = if let Some(id) = report_id {
            _guards.push(self.lock(LockKey::Report(id)).await);
            _guards.push(
                self.lock(LockKey::Revision(
                    identity.platform_id.clone(),
                    report.period.clone(),
                    report.revision,
                ))
                .await,
            );
            let lookup = self.inner.ingest.lookups.find(LookupKey {
                report_id: id,
                platform_id: identity.platform_id.clone(),
                period: report.period.clone(),
                revision: report.revision,
            });
            let (looked_up, facts) = tokio::join!(lookup, facts_of());
            found = looked_up.map_err(|e| unavailable(&*e))?;
            if let Some(stored) = found.receipt.take() {
                if stored.platform_id != identity.platform_id {
                    return Err(Refusal::PermissionDenied(vec![violation(
                        "report_id",
                        "E002",
                        "该报表编号属于其他平台",
                        "this report_id belongs to another platform; generate a new UUID",
                    )]));
                }
                return Ok((replay_receipt(stored), true));
            }
            facts
        } else {
            facts_of().await
        };
        let facts = facts.map_err(unavailable)?;
        let ctx = CheckContext {
            now: received_at,
            calendar: &settings.calendar,
            certificate_platform_id: Some(&identity.platform_id),
            encoded_len: report.encoded_len(),
            max_report_bytes: settings.max_report_bytes,
            platform_active: facts.platform_active,
            lock: facts.lock,
            previous_total_services: facts.previous_total_services,
        };
        let verdict = rules::check(report, &ctx);
        if !verdict.is_accepted() {
            return Err(Refusal::Rejected {
                code: verdict.status_code(),
                violations: verdict.errors,
            });
        }
        let report_id = report_id.expect("rules reject a report_id that is not a UUID");

        if found.revision_taken_by == Some(report_id) {
            // This very report was stored between the two halves of the lookup (a copy sent by
            // another hub process, or before a restart): it is a replay.
            return match self
                .inner
                .store
                .find_receipt(report_id)
                .await
                .map_err(unavailable)?
            {
                Some(stored) => Ok((replay_receipt(stored), true)),
                None => Err(unavailable(
                    "this report is being stored by another request right now",
                )),
            };
        }
        let current = found.current_revision.unwrap_or_default();
        if let Some(existing) = found.revision_taken_by {
            return Err(Refusal::RevisionTaken {
                code: Code::AlreadyExists,
                message: format!(
                    "revision {} of period {} was already accepted as report {existing}; to correct it, send revision {} with a new report_id",
                    report.revision,
                    report.period,
                    current.max(report.revision) + 1
                ),
                current: current.max(report.revision),
            });
        }
        if found.current_revision.is_some_and(|c| report.revision < c) {
            // A lower revision would be stored and never counted (the highest one is current):
            // refused, so the sender learns its revision is shadowed.
            return Err(Refusal::RevisionTaken {
                code: Code::FailedPrecondition,
                message: format!(
                    "revision {} of period {} is lower than revision {current}, the current one \
                     the hub holds; a correction must be revision {} or higher",
                    report.revision,
                    report.period,
                    current + 1
                ),
                current,
            });
        }

        let accepted = AcceptedReport {
            report: report.clone(),
            platform_id: identity.platform_id.clone(),
            region_code: facts.region_code.unwrap_or_else(|| {
                sme_proto::credit_code::region_code(&identity.platform_id).to_owned()
            }),
            received_at,
            // Rules have checked the period (E003), so it parses; the due time in force now is
            // what its timeliness is judged by later.
            due_at: report
                .period
                .parse::<sme_proto::period::Period>()
                .map(|p| settings.calendar.due_at(&p))
                .unwrap_or(received_at),
            flags: verdict.flags.clone(),
        };
        let mut entry = audit.take().expect("the audit entry is taken once");
        entry.rule_ids = verdict.flags.iter().map(|f| f.rule_id.clone()).collect();
        // The locks and the intake slot go with the report: should the caller give up (client
        // timeout), they are released only once the writer has stored it, so a resend waits
        // for it and gets its receipt instead of storing it a second time.
        self.inner
            .ingest
            .writer
            .store(accepted, entry, encoded_len, (admission, _guards))
            .await
            .map_err(Refusal::Write)?;
        let mut receipt = receipt_header(Some(report));
        receipt.report_id = report_id.to_string();
        receipt.outcome = Outcome::Accepted as i32;
        receipt.received_at = Some(timestamp(received_at));
        receipt.flags = verdict.flags;
        Ok((receipt, false))
    }

    /// Takes the in-process lock of `key`. Callers take a report lock before a revision lock,
    /// and hold at most one of each, so two callers never wait on each other in a cycle.
    async fn lock(&self, key: LockKey) -> ReportGuard {
        let lock = {
            let mut map = self.inner.inflight.lock().expect("inflight map poisoned");
            map.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        ReportGuard {
            hub: self.clone(),
            id: key,
            _guard: guard,
        }
    }
}

/// Holds a report_id's (or revision's) lock; forgets the map entry when the last holder leaves.
struct ReportGuard {
    hub: Hub,
    id: LockKey,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for ReportGuard {
    fn drop(&mut self) {
        let mut map = self
            .hub
            .inner
            .inflight
            .lock()
            .expect("inflight map poisoned");
        if let Some(lock) = map.get(&self.id) {
            // Two references: the map's and ours (inside `_guard`'s mutex Arc).
            if Arc::strong_count(lock) <= 2 {
                map.remove(&self.id);
            }
        }
    }
}

fn replay_receipt(stored: StoredReceipt) -> Receipt {
    Receipt {
        report_id: stored.report_id.to_string(),
        platform_id: stored.platform_id,
        period: stored.period,
        revision: stored.revision,
        outcome: Outcome::Accepted as i32,
        received_at: Some(timestamp(stored.received_at)),
        flags: stored.flags,
        violations: Vec::new(),
        replay: true,
        retry_after: None,
        status_code: 0,
        current_revision: 0,
    }
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "store unavailable; asking the agent to retry");
    Refusal::Unavailable(format!(
        "the hub cannot store reports right now ({e}); your report was not stored, retry later"
    ))
}

fn violation(field: &str, rule_id: &str, zh: &str, en: &str) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        rule_id: rule_id.into(),
        message_zh: zh.into(),
        message_en: en.into(),
    }
}

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr().map(|a| a.to_string()).unwrap_or_default()
}

impl Hub {
    /// Reconciliation (对账): a RESEND_PERIOD directive for each period the agent says the hub
    /// acknowledged but the hub no longer holds (or holds only at a lower revision), e.g. after
    /// a backup was restored or a shard lost. At most [`MAX_RECONCILED`] periods are looked at.
    async fn reconcile(
        &self,
        platform_id: &str,
        delivered: &[v1::DeliveredPeriod],
    ) -> Result<Vec<v1::Directive>, Status> {
        let delivered = &delivered[..delivered.len().min(MAX_RECONCILED)];
        let periods: Vec<String> = delivered.iter().map(|d| d.period.clone()).collect();
        let held = self
            .inner
            .store
            .held_revisions(platform_id, &periods)
            .await
            .map_err(|e| unavailable(e).status())?;
        let mut directives = Vec::new();
        for d in delivered {
            let reason = match held.get(&d.period) {
                None => format!(
                    "the hub holds no report of {} although it acknowledged revision {}; send \
                     the period again",
                    d.period, d.revision
                ),
                Some(&r) if r < d.revision => format!(
                    "the hub holds revision {r} of {}, below revision {} it acknowledged; send \
                     the period again",
                    d.period, d.revision
                ),
                Some(_) => continue,
            };
            tracing::warn!(platform = %platform_id, period = %d.period, revision = d.revision,
                "a period acknowledged earlier is missing from the store; asking the agent to resend it");
            directives.push(v1::Directive {
                kind: v1::DirectiveKind::ResendPeriod as i32,
                period: d.period.clone(),
                reason,
            });
        }
        Ok(directives)
    }
}

/// Periods of one heartbeat reconciled (the agent sends at most 200).
const MAX_RECONCILED: usize = 400;
