//! gRPC status details: field violations and retry hints in the gRPC richer error model.
//!
//! A rejection carries its violations twice in the `google.rpc.Status` details: as a standard
//! `google.rpc.BadRequest` (field = path, reason = rule id, description = English, localized
//! message in zh-CN), which any gRPC tool understands, and as an `Any` holding
//! [`v1::ValidationFailure`], which keeps both languages losslessly. [`violations`] prefers the
//! latter and falls back to the former.
//!
//! Status details travel in HTTP/2 trailers, and hyper clients refuse header lists above 16 KiB
//! by default. So [`rejection`] keeps the readable message (English only: Chinese would be
//! percent-encoded at nine bytes a character) under [`MAX_MESSAGE_BYTES`] and the encoded details
//! under [`MAX_DETAILS_BYTES`], dropping trailing violations and saying how many it dropped.
//! Violations are sorted by rule id, so what is dropped is usually a long tail of one record
//! rule; the agent's own pre-send check and `SyncReports` (whose receipts carry violations in
//! the message body) always have the full list.

use std::time::Duration;

use prost::Message;
use tonic_types::pb;

use crate::v1;

/// Type URL of [`v1::ValidationFailure`] in status details.
pub const VALIDATION_FAILURE_TYPE_URL: &str = "type.googleapis.com/sme.report.v1.ValidationFailure";
/// Type URL of `google.rpc.BadRequest`.
pub const BAD_REQUEST_TYPE_URL: &str = "type.googleapis.com/google.rpc.BadRequest";
/// Type URL of `google.rpc.RetryInfo`.
pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Budget for the encoded `google.rpc.Status` details (base64 in the trailer: × 4/3).
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;
/// Budget for the status message.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024;

/// Locale of the Chinese messages.
const LOCALE_ZH: &str = "zh-CN";

/// A rejection status listing `violations` readably in its message and machine-readably in its
/// details.
pub fn rejection(code: tonic::Code, violations: &[v1::FieldViolation]) -> tonic::Status {
    // The largest prefix of violations whose details fit the budget.
    // The details repeat the message, so its budget is reserved.
    let budget = MAX_DETAILS_BYTES - MAX_MESSAGE_BYTES - 16;
    let mut kept = violations.len();
    let mut details = encode_details(code, "", &violations[..kept]);
    while details.len() > budget && kept > 0 {
        // Shrink proportionally first, then one at a time.
        let estimate = kept * budget / details.len();
        kept = estimate.min(kept - 1);
        details = encode_details(code, "", &violations[..kept]);
    }
    let message = summary(violations, kept);
    let details = encode_details(code, &message, &violations[..kept]);
    tonic::Status::with_details(code, message, details.into())
}

fn encode_details(code: tonic::Code, message: &str, violations: &[v1::FieldViolation]) -> Vec<u8> {
    let bad_request = pb::BadRequest {
        field_violations: violations
            .iter()
            .map(|v| pb::bad_request::FieldViolation {
                field: v.field.clone(),
                description: v.message_en.clone(),
                reason: v.rule_id.clone(),
                localized_message: Some(pb::LocalizedMessage {
                    locale: LOCALE_ZH.to_owned(),
                    message: v.message_zh.clone(),
                }),
            })
            .collect(),
    };
    let failure = v1::ValidationFailure {
        violations: violations.to_vec(),
    };
    pb::Status {
        code: code as i32,
        message: message.to_owned(),
        details: vec![
            any(BAD_REQUEST_TYPE_URL, &bad_request),
            any(VALIDATION_FAILURE_TYPE_URL, &failure),
        ],
    }
    .encode_to_vec()
}

fn any(type_url: &str, message: &impl Message) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.to_owned(),
        value: message.encode_to_vec(),
    }
}

/// One line: "report rejected: 2 violations: E005 staff.professional_staff: …; E008 …".
fn summary(violations: &[v1::FieldViolation], kept: usize) -> String {
    let n = violations.len();
    let mut message = format!(
        "report rejected: {n} violation{}",
        if n == 1 { "" } else { "s" }
    );
    let mut shown = 0;
    for (i, v) in violations[..kept].iter().enumerate() {
        let item = format!("{} {}: {}", v.rule_id, field_label(&v.field), v.message_en);
        if wire_len(&message) + wire_len(&item) + 2 > MAX_MESSAGE_BYTES - 64 {
            break;
        }
        message.push_str(if i == 0 { ": " } else { "; " });
        message.push_str(&item);
        shown += 1;
    }
    if shown < n {
        message.push_str(&format!(
            " … and {} more ({} in the details)",
            n - shown,
            if kept == n {
                "all".to_owned()
            } else {
                format!("first {kept}")
            }
        ));
    }
    message
}

/// Length of `s` in the `grpc-message` header, where non-ASCII bytes are percent-encoded.
fn wire_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b.is_ascii_graphic() || b == b' ' {
                1
            } else {
                3
            }
        })
        .sum()
}

fn field_label(field: &str) -> &str {
    if field.is_empty() {
        "(report)"
    } else {
        field
    }
}

fn rpc_status(status: &tonic::Status) -> Option<pb::Status> {
    if status.details().is_empty() {
        return None;
    }
    pb::Status::decode(status.details()).ok()
}

/// The violations carried by a status: from `ValidationFailure` when present, else from
/// `BadRequest`; empty when there are none or the details do not decode.
pub fn violations(status: &tonic::Status) -> Vec<v1::FieldViolation> {
    let Some(rpc) = rpc_status(status) else {
        return Vec::new();
    };
    let find = |url: &str| rpc.details.iter().find(|a| a.type_url == url);
    if let Some(failure) = find(VALIDATION_FAILURE_TYPE_URL)
        .and_then(|a| v1::ValidationFailure::decode(a.value.as_slice()).ok())
    {
        return failure.violations;
    }
    let Some(bad_request) =
        find(BAD_REQUEST_TYPE_URL).and_then(|a| pb::BadRequest::decode(a.value.as_slice()).ok())
    else {
        return Vec::new();
    };
    bad_request
        .field_violations
        .into_iter()
        .map(|fv| v1::FieldViolation {
            field: fv.field,
            rule_id: fv.reason,
            message_zh: fv.localized_message.map(|m| m.message).unwrap_or_default(),
            message_en: fv.description,
        })
        .collect()
}

/// A status asking the client to retry after `delay` (google.rpc.RetryInfo).
pub fn with_retry_after(
    code: tonic::Code,
    message: impl Into<String>,
    delay: Duration,
) -> tonic::Status {
    let message = message.into();
    let retry = pb::RetryInfo {
        retry_delay: Some(prost_types::Duration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: delay.subsec_nanos() as i32,
        }),
    };
    let details = pb::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![any(RETRY_INFO_TYPE_URL, &retry)],
    }
    .encode_to_vec();
    tonic::Status::with_details(code, message, details.into())
}

/// The retry delay a status carries, if any (negative or malformed delays are ignored).
pub fn retry_after(status: &tonic::Status) -> Option<Duration> {
    let rpc = rpc_status(status)?;
    let any = rpc
        .details
        .iter()
        .find(|a| a.type_url == RETRY_INFO_TYPE_URL)?;
    let d = pb::RetryInfo::decode(any.value.as_slice())
        .ok()?
        .retry_delay?;
    let seconds = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(seconds, nanos))
}

/// Operator-readable text, one block per violation:
///
/// ```text
/// E005 staff.professional_staff
///   专业服务人员（25人）多于从业人员总数（20人）；…
///   professional_staff (25) is greater than total_staff (20); …
/// ```
pub fn describe(violations: &[v1::FieldViolation]) -> String {
    let mut text = String::new();
    for v in violations {
        text.push_str(&format!(
            "{} {}\n  {}\n  {}\n",
            v.rule_id,
            field_label(&v.field),
            v.message_zh,
            v.message_en
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    fn v(field: &str, rule: &str, zh: &str, en: &str) -> v1::FieldViolation {
        v1::FieldViolation {
            field: field.into(),
            rule_id: rule.into(),
            message_zh: zh.into(),
            message_en: en.into(),
        }
    }

    fn sample() -> Vec<v1::FieldViolation> {
        vec![
            v(
                "staff.professional_staff",
                "E005",
                "专业服务人员（25人）多于从业人员总数（20人）",
                "professional_staff (25) is greater than total_staff (20)",
            ),
            v(
                "satisfaction.responses",
                "E008",
                "有效问卷数不等于合计",
                "responses differ from the sum",
            ),
            v("", "E013", "报表过大", "the report is too large"),
        ]
    }

    #[test]
    fn rejection_round_trips() {
        let status = rejection(tonic::Code::InvalidArgument, &sample());
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status
            .message()
            .starts_with("report rejected: 3 violations: "));
        assert!(status
            .message()
            .contains("E005 staff.professional_staff: professional_staff (25)"));
        assert!(status.message().contains("E013 (report): "));
        assert_eq!(violations(&status), sample());
    }

    #[test]
    fn rejection_survives_the_wire_encoding() {
        // What a client sees: the status rebuilt from its HTTP trailers.
        let status = rejection(tonic::Code::FailedPrecondition, &sample());
        let mut headers = http_headers(&status);
        let received = tonic::Status::from_header_map(&headers).expect("status in headers");
        assert_eq!(received.code(), tonic::Code::FailedPrecondition);
        assert_eq!(received.message(), status.message());
        assert_eq!(violations(&received), sample());
        headers.clear();
    }

    fn http_headers(status: &tonic::Status) -> tonic::codegen::http::HeaderMap {
        status.clone().into_http::<()>().headers().clone()
    }

    #[test]
    fn standard_bad_request_is_readable_by_generic_clients() {
        let status = rejection(tonic::Code::InvalidArgument, &sample());
        let details = status.get_error_details();
        let bad = details.bad_request().expect("BadRequest present");
        assert_eq!(bad.field_violations.len(), 3);
        let first = &bad.field_violations[0];
        assert_eq!(first.field, "staff.professional_staff");
        assert_eq!(first.reason, "E005");
        assert_eq!(first.description, sample()[0].message_en);
        let zh = first.localized_message.as_ref().unwrap();
        assert_eq!(zh.locale, "zh-CN");
        assert_eq!(zh.message, sample()[0].message_zh);
    }

    #[test]
    fn falls_back_to_bad_request() {
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation("period", "bad period");
        let status = tonic::Status::with_error_details(tonic::Code::InvalidArgument, "x", details);
        let got = violations(&status);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].field, "period");
        assert_eq!(got[0].message_en, "bad period");
        assert_eq!(got[0].message_zh, "");
    }

    #[test]
    fn no_details_no_violations() {
        assert!(violations(&tonic::Status::internal("boom")).is_empty());
        let garbage =
            tonic::Status::with_details(tonic::Code::Internal, "x", vec![0xff, 0xff].into());
        assert!(violations(&garbage).is_empty());
        assert_eq!(retry_after(&garbage), None);
    }

    #[test]
    fn many_violations_stay_within_header_budget() {
        let many: Vec<_> = (0..5000)
            .map(|i| {
                v(
                    &format!("service_records[{i}].date"),
                    "E011",
                    "服务日期不在报告期内；请将该记录报送到所属报告期。",
                    "date 2026-07-01 is outside period 2026-M06; report the record in its own period",
                )
            })
            .collect();
        let status = rejection(tonic::Code::InvalidArgument, &many);
        assert!(status.details().len() <= MAX_DETAILS_BYTES);
        assert!(wire_len(status.message()) <= MAX_MESSAGE_BYTES);
        assert!(status
            .message()
            .starts_with("report rejected: 5000 violations"));
        assert!(
            status.message().contains("more (first"),
            "{}",
            status.message()
        );
        let got = violations(&status);
        assert!(!got.is_empty() && got.len() < 5000);
        assert_eq!(got[..], many[..got.len()]);
        // The whole status fits a default 16 KiB header list.
        let size: usize = http_headers(&status)
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        assert!(size < 16 * 1024, "{size}");
    }

    #[test]
    fn retry_after_round_trips() {
        let status = with_retry_after(
            tonic::Code::Unavailable,
            "hub busy, retry later",
            Duration::from_millis(2500),
        );
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(status.message(), "hub busy, retry later");
        assert_eq!(retry_after(&status), Some(Duration::from_millis(2500)));
        let received = tonic::Status::from_header_map(&http_headers(&status)).unwrap();
        assert_eq!(retry_after(&received), Some(Duration::from_millis(2500)));
        assert_eq!(retry_after(&tonic::Status::unavailable("x")), None);
        assert_eq!(
            retry_after(&rejection(tonic::Code::InvalidArgument, &sample())),
            None
        );
        assert!(violations(&status).is_empty());
    }

    #[test]
    fn describe_lists_rule_field_and_both_languages() {
        let text = describe(&sample());
        assert!(text.starts_with("E005 staff.professional_staff\n  专业服务人员"));
        assert!(text.contains("\n  professional_staff (25) is greater than total_staff (20)\n"));
        assert!(text.contains("E013 (report)\n"));
        assert_eq!(text.lines().count(), 9);
        assert_eq!(describe(&[]), "");
    }
}
