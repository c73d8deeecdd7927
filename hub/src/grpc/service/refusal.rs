//! Why the hub did not store a report: the status of a unary answer, the receipt of a streamed
//! one, the audit outcome and the metrics — one refusal, told the same way everywhere.

use sme_proto::v1::{self, FieldViolation, Outcome, Receipt};
use tonic::{Code, Status};

use super::{violation, RETRY_AFTER_UNAVAILABLE};
use crate::ingest::writer::WriteError;
use crate::store::AuditOutcome;
use crate::web::Metrics;

/// A report the hub did not store, and why.
#[derive(Debug, Clone)]
pub(super) enum Refusal {
    Unauthenticated(String),
    PermissionDenied(Vec<FieldViolation>),
    Rejected {
        code: Code,
        violations: Vec<FieldViolation>,
    },
    /// The revision is held already, or a higher one is (`current`: the highest held).
    RevisionTaken {
        code: Code,
        message: String,
        current: u32,
    },
    Unavailable(String),
    /// The writer did not store it: intake full, ClickHouse down, shutting down.
    Write(WriteError),
}

impl Refusal {
    pub(super) fn status(&self) -> Status {
        match self {
            Refusal::Unauthenticated(msg) => Status::unauthenticated(msg.clone()),
            Refusal::PermissionDenied(v) => sme_proto::status::rejection(Code::PermissionDenied, v),
            Refusal::Rejected { code, violations } => {
                sme_proto::status::rejection(*code, violations)
            }
            // With a violation, like every refusal of the hub: an agent tells the hub's answer
            // from a proxy's by it (an ALREADY_EXISTS without one is retried).
            Refusal::RevisionTaken {
                code,
                message,
                current,
            } => sme_proto::status::revision_conflict(
                *code,
                violation("revision", "", message, message),
                *current,
            ),
            Refusal::Unavailable(msg) => sme_proto::status::with_retry_after(
                Code::Unavailable,
                msg.clone(),
                RETRY_AFTER_UNAVAILABLE,
            ),
            Refusal::Write(e) => {
                let code = match e {
                    WriteError::Busy { .. } | WriteError::PlatformBusy { .. } => {
                        Code::ResourceExhausted
                    }
                    WriteError::Unavailable { .. } | WriteError::ShuttingDown { .. } => {
                        Code::Unavailable
                    }
                    WriteError::Invalid(_) => Code::Internal,
                };
                match e.retry_after() {
                    Some(delay) => sme_proto::status::with_retry_after(code, e.to_string(), delay),
                    None => Status::new(code, e.to_string()),
                }
            }
        }
    }

    pub(super) fn audit_outcome(&self) -> AuditOutcome {
        match self {
            Refusal::Unauthenticated(_) => AuditOutcome::Unauthenticated,
            Refusal::PermissionDenied(_) => AuditOutcome::PermissionDenied,
            Refusal::Rejected { .. } | Refusal::RevisionTaken { .. } => AuditOutcome::Rejected,
            Refusal::Unavailable(_) => AuditOutcome::Deferred,
            Refusal::Write(WriteError::Invalid(_)) => AuditOutcome::Rejected,
            Refusal::Write(_) => AuditOutcome::Deferred,
        }
    }

    pub(super) fn rule_ids(&self) -> Vec<String> {
        match self {
            Refusal::PermissionDenied(v) | Refusal::Rejected { violations: v, .. } => {
                v.iter().map(|v| v.rule_id.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Counts the refusal in the metrics.
    pub(super) fn record(&self, metrics: &Metrics) {
        let count_rules = |v: &[FieldViolation]| {
            let rules: std::collections::BTreeSet<&str> =
                v.iter().map(|v| v.rule_id.as_str()).collect();
            for rule in rules {
                metrics.violations.inc(rule);
            }
        };
        match self {
            Refusal::Unauthenticated(_) => metrics.rejected.inc("unauthenticated"),
            Refusal::PermissionDenied(v) => {
                metrics.rejected.inc("permission_denied");
                count_rules(v);
            }
            Refusal::Rejected { violations, .. } => {
                metrics.rejected.inc("rejected");
                count_rules(violations);
            }
            Refusal::RevisionTaken { code, .. } if *code == Code::AlreadyExists => {
                metrics.rejected.inc("revision_taken")
            }
            Refusal::RevisionTaken { .. } => metrics.rejected.inc("revision_superseded"),
            Refusal::Unavailable(_) => metrics.deferred.inc("store_unavailable"),
            Refusal::Write(WriteError::Invalid(_)) => metrics.rejected.inc("unstorable"),
            Refusal::Write(e) => metrics.deferred.inc(e.metric_reason()),
        }
    }

    /// The same refusal as a streamed receipt.
    pub(super) fn receipt(&self, report: Option<&v1::Report>) -> Receipt {
        let status = self.status();
        let mut receipt = receipt_header(report);
        receipt.status_code = status.code() as i32;
        match self {
            Refusal::Unavailable(_) => {
                receipt.outcome = Outcome::Deferred as i32;
                receipt.retry_after = prost_types::Duration::try_from(RETRY_AFTER_UNAVAILABLE).ok();
            }
            Refusal::Write(e) if e.retry_after().is_some() => {
                receipt.outcome = Outcome::Deferred as i32;
                receipt.retry_after = e
                    .retry_after()
                    .and_then(|d| prost_types::Duration::try_from(d).ok());
            }
            Refusal::Write(e) => {
                receipt.outcome = Outcome::Rejected as i32;
                receipt.violations = vec![FieldViolation {
                    field: String::new(),
                    rule_id: String::new(),
                    message_zh: e.to_string(),
                    message_en: e.to_string(),
                }];
            }
            Refusal::PermissionDenied(v) | Refusal::Rejected { violations: v, .. } => {
                receipt.outcome = Outcome::Rejected as i32;
                receipt.violations = v.clone();
            }
            Refusal::RevisionTaken {
                message, current, ..
            } => {
                receipt.outcome = Outcome::Rejected as i32;
                receipt.current_revision = *current;
                receipt.violations = vec![violation("revision", "", message, message)];
            }
            Refusal::Unauthenticated(msg) => {
                receipt.outcome = Outcome::Rejected as i32;
                receipt.violations = vec![FieldViolation {
                    field: String::new(),
                    rule_id: String::new(),
                    message_zh: msg.clone(),
                    message_en: msg.clone(),
                }];
            }
        }
        receipt
    }
}

pub(super) fn receipt_header(report: Option<&v1::Report>) -> Receipt {
    Receipt {
        report_id: report.map(|r| r.report_id.clone()).unwrap_or_default(),
        platform_id: report.map(|r| r.platform_id.clone()).unwrap_or_default(),
        period: report.map(|r| r.period.clone()).unwrap_or_default(),
        revision: report.map(|r| r.revision).unwrap_or_default(),
        ..Default::default()
    }
}
