//! What the hub's answers mean for a report: delivered, rejected (never sent again unchanged),
//! retried later, or a refused certificate. One classification for `SubmitReport` statuses and
//! `SyncReports` receipts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sme_proto::v1::{self, Outcome};
use tonic::Code;

/// The hub's refusal of one report, as stored in the outbox (`violations` column, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// gRPC code name, e.g. `InvalidArgument`.
    pub code: String,
    /// The hub's message (may be empty when violations say it all).
    pub message: String,
    /// Field violations (rule id, field, zh, en).
    pub violations: Vec<v1::FieldViolation>,
    /// For a revision the hub holds already, or below the one it holds: the highest revision
    /// the hub holds of the period (the agent rebuilds the period above it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u32>,
}

// === impl Rejection ===

impl Rejection {
    /// Parses a stored rejection; older or foreign JSON becomes a message.
    pub fn from_json(json: &str) -> Rejection {
        serde_json::from_str(json)
            .or_else(|_| {
                serde_json::from_str::<Vec<v1::FieldViolation>>(json).map(|violations| Rejection {
                    code: String::new(),
                    message: String::new(),
                    violations,
                    current_revision: None,
                })
            })
            .unwrap_or_else(|_| Rejection {
                code: String::new(),
                message: json.to_owned(),
                violations: Vec::new(),
                current_revision: None,
            })
    }

    pub(crate) fn from_status(status: &tonic::Status) -> Rejection {
        Rejection {
            code: format!("{:?}", status.code()),
            message: status.message().to_owned(),
            violations: sme_proto::status::violations(status),
            current_revision: None,
        }
        .with_current_revision(status.code(), || {
            sme_proto::status::current_revision(status)
        })
    }

    pub(crate) fn from_receipt(receipt: &v1::Receipt) -> Rejection {
        // Refusals without a rule (ALREADY_EXISTS …) travel as a violation with no rule id.
        let (messages, violations): (Vec<_>, Vec<_>) = receipt
            .violations
            .iter()
            .cloned()
            .partition(|v| v.rule_id.is_empty() && v.field.is_empty());
        Rejection {
            code: format!("{:?}", Code::from(receipt.status_code)),
            message: messages
                .into_iter()
                .map(|v| v.message_en)
                .collect::<Vec<_>>()
                .join("; "),
            violations,
            current_revision: None,
        }
        .with_current_revision(Code::from(receipt.status_code), || {
            Some(receipt.current_revision)
        })
    }

    /// Keeps the hub's current revision for a refused revision: ALREADY_EXISTS or
    /// FAILED_PRECONDITION whose violation is on `revision` without a rule id (a lock, E012, is
    /// FAILED_PRECONDITION too, with its rule).
    fn with_current_revision(mut self, code: Code, current: impl FnOnce() -> Option<u32>) -> Self {
        let conflict = matches!(code, Code::AlreadyExists | Code::FailedPrecondition)
            && self
                .violations
                .iter()
                .any(|v| v.field == "revision" && v.rule_id.is_empty());
        if conflict {
            self.current_revision = current();
        }
        self
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("rejection serialises")
    }
}

/// What to do with one report after an answer or a failure.
pub(crate) enum Verdict {
    Delivered(v1::Receipt),
    Rejected(Rejection),
    Retry {
        error: String,
        hint: Option<Duration>,
    },
    /// The certificate was refused: keep the report, stop draining.
    Unauthenticated(String),
}

/// Codes the hub uses to refuse a report for a reason a resend cannot fix (rules, a locked
/// period, another platform's id, a revision already taken or superseded).
const REFUSALS: &[Code] = &[
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::PermissionDenied,
    Code::AlreadyExists,
    Code::OutOfRange,
];

/// How an answer's code is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The hub refused the report: never resend it unchanged.
    Refused,
    /// The hub (or something in front of it) refused this agent's certificate.
    Certificate,
    /// Anything else: try again later.
    Passing,
}

/// Reads `code`. A refusal code rejects a report only when the hub said it (`from_hub`): in a
/// receipt, or in a status carrying the hub's field violations. The same codes from a proxy or a
/// load balancer (tonic reads HTTP 403 as PERMISSION_DENIED, 404 as UNIMPLEMENTED, 400 as
/// INTERNAL) say nothing about the report, and neither does any code this agent does not know:
/// the report stays pending.
pub fn read(code: Code, from_hub: bool) -> Reading {
    match code {
        Code::Unauthenticated => Reading::Certificate,
        c if from_hub && REFUSALS.contains(&c) => Reading::Refused,
        _ => Reading::Passing,
    }
}

/// Whether a status is the hub's own refusal: it carries the hub's field violations.
pub fn is_hub_refusal(status: &tonic::Status) -> bool {
    !sme_proto::status::violations(status).is_empty()
}

/// What a gRPC status means for the report.
pub(crate) fn classify_status(status: &tonic::Status) -> Verdict {
    match read(status.code(), is_hub_refusal(status)) {
        Reading::Certificate => Verdict::Unauthenticated(status.message().to_owned()),
        Reading::Refused => Verdict::Rejected(Rejection::from_status(status)),
        Reading::Passing => Verdict::Retry {
            error: passing_error(status.code(), status.message()),
            hint: sme_proto::status::retry_after(status),
        },
    }
}

/// What a streamed receipt means for the report.
pub(crate) fn classify_receipt(receipt: v1::Receipt) -> Verdict {
    match Outcome::try_from(receipt.outcome) {
        Ok(Outcome::Accepted) => Verdict::Delivered(receipt),
        Ok(Outcome::Rejected) => {
            let code = Code::from(receipt.status_code);
            let rejection = Rejection::from_receipt(&receipt);
            match read(code, true) {
                Reading::Certificate => Verdict::Unauthenticated(rejection.message),
                Reading::Refused => Verdict::Rejected(rejection),
                Reading::Passing => Verdict::Retry {
                    error: passing_error(code, &rejection.message),
                    hint: receipt.retry_after.and_then(|d| Duration::try_from(d).ok()),
                },
            }
        }
        Ok(Outcome::Deferred) => Verdict::Retry {
            error: "the hub deferred the report (busy or its store is down)".into(),
            hint: receipt.retry_after.and_then(|d| Duration::try_from(d).ok()),
        },
        Ok(Outcome::Unspecified) | Err(_) => Verdict::Retry {
            error: format!("receipt with unknown outcome {}", receipt.outcome),
            hint: None,
        },
    }
}

/// The error kept with a report that is retried.
fn passing_error(code: Code, message: &str) -> String {
    match code {
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded => {
            format!("{code:?}: {message}")
        }
        _ => format!(
            "{code:?}: {message} (not an answer of the hub about this report: a proxy or load \
             balancer in front of it, or a hub fault; the report stays queued and is sent again \
             later / 非汇聚中心对报表的答复，报表保留在队列中稍后重发)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let retry = tonic::Status::unavailable("down");
        assert!(matches!(classify_status(&retry), Verdict::Retry { .. }));
        let busy = sme_proto::status::with_retry_after(
            Code::ResourceExhausted,
            "busy",
            Duration::from_secs(30),
        );
        match classify_status(&busy) {
            Verdict::Retry { hint, .. } => assert_eq!(hint, Some(Duration::from_secs(30))),
            _ => panic!("busy is retried"),
        }
        let hub_violation = v1::FieldViolation {
            field: "staff".into(),
            rule_id: "E005".into(),
            message_zh: "z".into(),
            message_en: "e".into(),
        };
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::PermissionDenied,
            Code::AlreadyExists,
        ] {
            // The hub's refusal carries its field violations: rejected.
            let s = sme_proto::status::rejection(code, std::slice::from_ref(&hub_violation));
            match classify_status(&s) {
                Verdict::Rejected(r) => assert_eq!(r.code, format!("{code:?}")),
                _ => panic!("{code:?} is rejected"),
            }
            // The same code without them (a proxy's 403, a load balancer): retried.
            let s = tonic::Status::new(code, "no");
            assert!(
                matches!(classify_status(&s), Verdict::Retry { .. }),
                "{code:?} without violations is retried"
            );
        }
        for code in [
            Code::Unimplemented,
            Code::NotFound,
            Code::Internal,
            Code::Ok,
        ] {
            let s = sme_proto::status::rejection(code, std::slice::from_ref(&hub_violation));
            assert!(
                matches!(classify_status(&s), Verdict::Retry { .. }),
                "{code:?} is retried"
            );
        }
        assert!(matches!(
            classify_status(&tonic::Status::unauthenticated("expired")),
            Verdict::Unauthenticated(_)
        ));
    }

    #[test]
    fn receipts_are_classified() {
        let receipt = |outcome: Outcome, code: Code| v1::Receipt {
            report_id: "r".into(),
            outcome: outcome as i32,
            status_code: code as i32,
            violations: vec![v1::FieldViolation {
                field: String::new(),
                rule_id: String::new(),
                message_zh: "已存在".into(),
                message_en: "revision 0 already accepted".into(),
            }],
            ..Default::default()
        };
        assert!(matches!(
            classify_receipt(receipt(Outcome::Accepted, Code::Ok)),
            Verdict::Delivered(_)
        ));
        match classify_receipt(receipt(Outcome::Rejected, Code::AlreadyExists)) {
            Verdict::Rejected(r) => {
                assert_eq!(r.code, "AlreadyExists");
                assert_eq!(r.message, "revision 0 already accepted");
                assert!(r.violations.is_empty());
            }
            _ => panic!("rejected"),
        }
        assert!(matches!(
            classify_receipt(receipt(Outcome::Deferred, Code::Unavailable)),
            Verdict::Retry { .. }
        ));
        // One classification with SubmitReport: INTERNAL and unknown codes are retried.
        for code in [Code::Internal, Code::Unimplemented, Code::NotFound] {
            assert!(
                matches!(
                    classify_receipt(receipt(Outcome::Rejected, code)),
                    Verdict::Retry { .. }
                ),
                "{code:?}"
            );
        }
        assert!(matches!(
            classify_receipt(receipt(Outcome::Rejected, Code::Unauthenticated)),
            Verdict::Unauthenticated(_)
        ));
    }

    #[test]
    fn stored_rejections_parse_in_every_shape() {
        let r = Rejection {
            current_revision: None,
            code: "InvalidArgument".into(),
            message: String::new(),
            violations: vec![v1::FieldViolation {
                field: "staff".into(),
                rule_id: "E005".into(),
                message_zh: "z".into(),
                message_en: "e".into(),
            }],
        };
        assert_eq!(Rejection::from_json(&r.to_json()), r);
        let bare = serde_json::to_string(&r.violations).unwrap();
        assert_eq!(Rejection::from_json(&bare).violations, r.violations);
        assert_eq!(Rejection::from_json("garbage").message, "garbage");
    }
}
