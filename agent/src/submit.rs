//! Sending one report and explaining the answer to a person: `sme-agent send FILE`.
//!
//! The report file is JSON with the field names of `sme.report.v1.Report` (enums as numbers,
//! money in fen). Envelope fields the agent knows (`report_id`, `platform_id`, `form_version`,
//! `agent_version`, `generated_at`) are filled in when absent.
//!
//! The report goes through the outbox ([`send_through_outbox`]): it takes the period's next
//! revision (the file's, when higher), so it can neither collide with the agent's own builds
//! nor be shadowed by them, is kept until the hub answers, and a later build of the period
//! supersedes it as a newer revision.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sme_proto::v1::{self, reporting_service_client::ReportingServiceClient, Outcome, Receipt};
use tonic::Code;

use crate::clock::Clock;
use crate::connect::{self, ConnectError, HubAddress};
use crate::delivery::{self, DeliveryError, DeliverySettings, Rejection};
use crate::identity::Identity;
use crate::shutdown::Shutdown;
use crate::store::{BuildStamp, OutboxState, SharedStore, StoreError};

/// Errors reading a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReportFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// What became of one submission.
#[derive(Debug)]
pub enum SubmitOutcome {
    /// Stored by the hub.
    Accepted(Receipt),
    /// Refused for a reason that resending unchanged will not fix.
    Rejected {
        code: Code,
        message: String,
        violations: Vec<v1::FieldViolation>,
        /// How many violations the report has: more than `violations` when the hub's status
        /// had room for the first ones only.
        total: usize,
    },
    /// Not stored for a passing reason (hub down, busy): try again later.
    Retry {
        code: Code,
        message: String,
        retry_after: Option<std::time::Duration>,
    },
}

impl SubmitOutcome {
    /// Classifies a gRPC status: which codes are worth retrying unchanged.
    pub fn from_status(status: &tonic::Status) -> Self {
        use crate::verdict::{is_hub_refusal, read, Reading};
        match read(status.code(), is_hub_refusal(status)) {
            Reading::Refused => SubmitOutcome::Rejected {
                code: status.code(),
                message: status.message().to_owned(),
                violations: sme_proto::status::violations(status),
                total: sme_proto::status::violation_total(status),
            },
            Reading::Certificate => SubmitOutcome::Retry {
                code: status.code(),
                message: crate::delivery::auth_advice(status.message()),
                retry_after: None,
            },
            Reading::Passing => SubmitOutcome::Retry {
                code: status.code(),
                message: status.message().to_owned(),
                retry_after: sme_proto::status::retry_after(status),
            },
        }
    }

    /// A readable account for the operator.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match self {
            SubmitOutcome::Accepted(r) => {
                let when = r
                    .received_at
                    .as_ref()
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
                    .map(|t| {
                        t.to_offset(time::macros::offset!(+8))
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "accepted (已接收): report {} of platform {}, period {}, revision {}, received {when}{}",
                    r.report_id,
                    r.platform_id,
                    r.period,
                    r.revision,
                    if r.replay { " (already received earlier)" } else { "" }
                );
                if r.outcome != Outcome::Accepted as i32 {
                    let _ = writeln!(out, "  unexpected outcome {}", r.outcome);
                }
                if !r.flags.is_empty() {
                    let _ = writeln!(out, "flags (提示) — accepted, but please look at:");
                    out.push_str(&sme_proto::status::describe(&r.flags));
                }
            }
            SubmitOutcome::Rejected {
                code,
                message,
                violations,
                total,
            } => {
                let _ = writeln!(
                    out,
                    "rejected (被拒绝) by the hub ({code:?}): fix the report and send it again"
                );
                if violations.is_empty() {
                    let _ = writeln!(out, "  {message}");
                } else {
                    out.push_str(&sme_proto::status::describe(violations));
                    if *total > violations.len() {
                        let _ = writeln!(
                            out,
                            "… and {} more (共 {total} 项; the hub's answer holds the first {}): \
                             send without --skip-check to see them all in the local check",
                            total - violations.len(),
                            violations.len()
                        );
                    }
                }
            }
            SubmitOutcome::Retry {
                code,
                message,
                retry_after,
            } => {
                let _ = writeln!(out, "not delivered ({code:?}): {message}");
                if let Some(d) = retry_after {
                    let _ = writeln!(out, "  the hub asks to retry after {} s", d.as_secs());
                }
            }
        }
        out
    }
}

/// Reads a JSON report file and fills the envelope fields the agent knows.
pub fn load_report_file(
    path: &Path,
    identity: Option<&Identity>,
) -> Result<v1::Report, ReportFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut report: v1::Report =
        serde_json::from_str(&text).map_err(|e| ReportFileError::Json {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    fill_envelope(&mut report, identity);
    Ok(report)
}

/// Fills `report_id`, `platform_id`, `form_version`, `agent_version` and `generated_at` when
/// they are empty.
pub fn fill_envelope(report: &mut v1::Report, identity: Option<&Identity>) {
    if report.report_id.is_empty() {
        report.report_id = uuid::Uuid::new_v4().to_string();
    }
    if report.platform_id.is_empty() {
        if let Some(id) = identity {
            report.platform_id = id.info.platform_id.clone();
        }
    }
    if report.form_version.is_empty() {
        report.form_version = sme_proto::rules::FORM_VERSIONS[0].to_owned();
    }
    if report.agent_version.is_empty() {
        report.agent_version = concat!("sme-agent/", env!("CARGO_PKG_VERSION")).to_owned();
    }
    if report.generated_at.is_none() {
        let now = time::OffsetDateTime::now_utc();
        report.generated_at = Some(prost_types::Timestamp {
            seconds: now.unix_timestamp(),
            nanos: 0,
        });
    }
}

/// Sends one report with `SubmitReport`.
pub async fn submit_once(
    identity: &Identity,
    hub_url: &str,
    report: v1::Report,
) -> Result<SubmitOutcome, ConnectError> {
    let address = HubAddress::parse(hub_url)?;
    let channel = connect::channel(&address, &identity.trust())?;
    let mut client = ReportingServiceClient::new(channel);
    Ok(
        match client
            .submit_report(v1::SubmitReportRequest {
                report: Some(report),
            })
            .await
        {
            Ok(resp) => match resp.into_inner().receipt {
                Some(r) => SubmitOutcome::Accepted(r),
                None => SubmitOutcome::Retry {
                    code: Code::Internal,
                    message: "the hub answered without a receipt".into(),
                    retry_after: None,
                },
            },
            Err(status) => SubmitOutcome::from_status(&status),
        },
    )
}

/// Errors of [`send_through_outbox`].
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The report's period is not a period code.
    #[error("the report's period {period:?} is not valid: {message}")]
    Period { period: String, message: String },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub could not be reached at all (bad address, TLS setup).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Queues `report` in the outbox as the period's next revision (or the report's own, when
/// higher) and delivers the outbox; returns the revision it went out as and what became of it.
/// A `report_id` already in the outbox is not queued again: its answer is shown (a delivered
/// one as a replay), a pending one is sent again.
pub async fn send_through_outbox(
    store: &SharedStore,
    identity: &Identity,
    hub_url: &str,
    settings: &DeliverySettings,
    clock: &dyn Clock,
    mut report: v1::Report,
) -> Result<(u32, SubmitOutcome), SendError> {
    let period: sme_proto::period::Period =
        report
            .period
            .parse()
            .map_err(|e: sme_proto::period::PeriodError| SendError::Period {
                period: report.period.clone(),
                message: e.to_string(),
            })?;
    let report_id = report.report_id.clone();
    let known = {
        let id = report_id.clone();
        store.run(move |s| s.outbox_item(&id)).await?
    };
    match known {
        Some(item) if item.state == OutboxState::Delivered => {
            let mut receipt = item
                .receipt
                .as_deref()
                .and_then(crate::status::receipt)
                .unwrap_or_default();
            receipt.replay = true;
            return Ok((item.revision, SubmitOutcome::Accepted(receipt)));
        }
        Some(_) => {}
        None => {
            let state = store.run(move |s| s.period_state(&period)).await?;
            report.revision = report.revision.max(state.next_revision());
            let stamp = BuildStamp {
                content_hash: crate::builder::content_hash(&report),
                // Not built from the ledger: the period's own changes stay to be built.
                change_seq: 0,
            };
            let (id, revision, bytes) = (
                report_id.clone(),
                report.revision,
                prost::Message::encode_to_vec(&report),
            );
            store
                .run(move |s| s.enqueue(&id, &period, revision, &bytes, &stamp))
                .await?;
        }
    }
    delivery::drain(
        store,
        identity,
        hub_url,
        settings,
        clock,
        &Shutdown::never(),
    )
    .await?;
    let id = report_id.clone();
    let item = store
        .run(move |s| s.outbox_item(&id))
        .await?
        .ok_or_else(|| StoreError::UnknownReport(report_id.clone()))?;
    let outcome = match item.state {
        OutboxState::Delivered => SubmitOutcome::Accepted(
            item.receipt
                .as_deref()
                .and_then(crate::status::receipt)
                .unwrap_or_default(),
        ),
        OutboxState::Rejected => {
            let r = Rejection::from_json(item.violations.as_deref().unwrap_or("[]"));
            SubmitOutcome::Rejected {
                code: code_named(&r.code),
                total: r.violations.len(),
                message: r.message,
                violations: r.violations,
            }
        }
        OutboxState::Pending | OutboxState::Superseded => SubmitOutcome::Retry {
            code: Code::Unavailable,
            message: format!(
                "{}; the report (revision {}) stays in the outbox and the service sends it / \
                 报表保留在发送队列中，由后台服务稍后发送",
                item.last_error.as_deref().unwrap_or("not answered"),
                item.revision
            ),
            retry_after: None,
        },
    };
    Ok((item.revision, outcome))
}

/// The gRPC code of a stored name (`InvalidArgument`); UNKNOWN for names it does not know.
fn code_named(name: &str) -> Code {
    (0..=16)
        .map(Code::from)
        .find(|c| format!("{c:?}") == name)
        .unwrap_or(Code::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_rejection_says_how_many_more_there_are() {
        let many: Vec<_> = (0..40)
            .map(|i| v1::FieldViolation {
                field: format!("service_records[{i}].date"),
                rule_id: "E011".into(),
                message_zh: "服务日期不在报告期内；请将该记录报送到所属报告期。".into(),
                message_en: "date 2020-01-01 is outside period 2026-M06; report the record in its own period".into(),
            })
            .collect();
        let status = sme_proto::status::rejection(Code::InvalidArgument, &many);
        let outcome = SubmitOutcome::from_status(&status);
        let text = outcome.describe();
        assert!(text.contains("E011 service_records[0].date\n"), "{text}");
        let SubmitOutcome::Rejected { violations, .. } = &outcome else {
            panic!("{outcome:?}");
        };
        let more = format!(
            "… and {} more (共 40 项; the hub's answer holds the first {})",
            40 - violations.len(),
            violations.len()
        );
        assert!(text.contains(&more), "{text}");
    }

    #[test]
    fn json_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(
            &path,
            "{\n  \"period\": \"2026-M05\",\n  \"revison\": 1\n}\n",
        )
        .unwrap();
        let err = load_report_file(&path, None).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("revison"), "{err}");
    }

    #[test]
    fn envelope_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(
            &path,
            r#"{"period": "2026-M05", "volumes": [{"function": 3, "services": 4}]}"#,
        )
        .unwrap();
        let report = load_report_file(&path, None).unwrap();
        assert!(uuid::Uuid::parse_str(&report.report_id).is_ok());
        assert_eq!(report.volumes[0].services, 4);
        assert_eq!(report.form_version, sme_proto::rules::FORM_VERSIONS[0]);
    }

    #[test]
    fn retryable_codes_are_told_apart() {
        let s = tonic::Status::unavailable("down");
        assert!(matches!(
            SubmitOutcome::from_status(&s),
            SubmitOutcome::Retry { .. }
        ));
        let s = tonic::Status::invalid_argument("bad");
        assert!(matches!(
            SubmitOutcome::from_status(&s),
            SubmitOutcome::Retry { .. }
        ));
        let v = v1::FieldViolation {
            field: "period".into(),
            rule_id: "E003".into(),
            message_zh: "z".into(),
            message_en: "e".into(),
        };
        let s = sme_proto::status::rejection(Code::InvalidArgument, &[v]);
        assert!(matches!(
            SubmitOutcome::from_status(&s),
            SubmitOutcome::Rejected { .. }
        ));
    }
}
