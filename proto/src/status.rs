//! gRPC status details: field violations and retry hints in the gRPC richer error model.
//!
//! A rejection carries its violations twice in the `google.rpc.Status` details: as a standard
//! `google.rpc.BadRequest` (field = path, reason = rule id, description = English, localized
//! message in zh-CN), which any gRPC tool understands, and as an `Any` holding
//! [`v1::ValidationFailure`], which keeps both languages losslessly. [`violations`] prefers the
//! latter and falls back to the former.
//!
//! Status details travel in HTTP/2 trailers, and gRPC's C core (the Python, Ruby, C++, PHP …
//! clients) refuses metadata above 8 KiB (it then reports RESOURCE_EXHAUSTED and the violations
//! are lost). So [`rejection`] keeps `grpc-status`, `grpc-message` and `grpc-status-details-bin`,
//! measured as they go on the wire (the message percent-encoded as tonic sends it, the details
//! base64), under [`MAX_STATUS_WIRE_BYTES`] all told: the message (English only: Chinese is
//! percent-encoded at nine bytes a character) names the first violations and the total, and the
//! details hold as many violations as fit plus the total (`ValidationFailure.total`).
//! Violations are sorted by rule id, so what is dropped is usually a long tail of one record
//! rule; the agent's own pre-send check and `SyncReports` (whose receipts carry every violation
//! in the message body) always have the full list.

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

/// Budget for a rejection's status on the wire: `grpc-status`, `grpc-message` (percent-encoded)
/// and `grpc-status-details-bin` (base64), each counted as HTTP/2 does (name + value + 32), so a
/// client with an 8 KiB metadata limit has room for the other headers.
pub const MAX_STATUS_WIRE_BYTES: usize = 7 * 1024;
/// Budget for the status message on the wire (percent-encoded).
pub const MAX_MESSAGE_WIRE_BYTES: usize = 1024;

/// Bytes tonic percent-encodes in `grpc-message`: tonic's own set (controls, space and
/// `"#%<>`?{}`); every non-ASCII byte is encoded too.
const MESSAGE_ENCODING: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// What HTTP/2 counts per header beside its name and value.
const HEADER_OVERHEAD: usize = 32;

/// Locale of the Chinese messages.
const LOCALE_ZH: &str = "zh-CN";

/// A rejection status listing `violations` readably in its message and machine-readably in its
/// details: all of them, or the first ones and the total when all would not fit
/// [`MAX_STATUS_WIRE_BYTES`].
pub fn rejection(code: tonic::Code, violations: &[v1::FieldViolation]) -> tonic::Status {
    rejection_at(code, violations, 0)
}

/// A revision refused because the hub holds it or a higher one: [`rejection`] with the highest
/// revision the hub holds in `ValidationFailure.current_revision` (see [`current_revision`]).
pub fn revision_conflict(
    code: tonic::Code,
    violation: v1::FieldViolation,
    current_revision: u32,
) -> tonic::Status {
    rejection_at(code, &[violation], current_revision)
}

/// `ValidationFailure.current_revision` of a refusal: for one made by [`revision_conflict`],
/// the highest revision the hub holds of the period (0 for other refusals); `None` without
/// details.
pub fn current_revision(status: &tonic::Status) -> Option<u32> {
    rpc_status(status)?
        .details
        .into_iter()
        .find(|a| a.type_url == VALIDATION_FAILURE_TYPE_URL)
        .and_then(|a| v1::ValidationFailure::decode(a.value.as_slice()).ok())
        .map(|f| f.current_revision)
}

fn rejection_at(
    code: tonic::Code,
    violations: &[v1::FieldViolation],
    current_revision: u32,
) -> tonic::Status {
    // The largest prefix of violations whose status fits the budget.
    let mut kept = violations.len();
    loop {
        let message = summary(violations, kept);
        let details = encode_details(code, &message, violations, kept, current_revision);
        let size = status_wire_len(code, &message, &details);
        if size <= MAX_STATUS_WIRE_BYTES || kept == 0 {
            return tonic::Status::with_details(code, message, details.into());
        }
        // Shrink proportionally first, then one at a time.
        kept = (kept * MAX_STATUS_WIRE_BYTES / size).min(kept - 1);
    }
}

/// Bytes the status headers of a rejection take on the wire. An empty message is not sent.
fn status_wire_len(code: tonic::Code, message: &str, details: &[u8]) -> usize {
    let header = |name: &str, value_len: usize| name.len() + value_len + HEADER_OVERHEAD;
    header("grpc-status", (code as i32).to_string().len())
        + if message.is_empty() { 0 } else { header("grpc-message", wire_len(message)) }
        // Base64 without padding.
        + header("grpc-status-details-bin", (details.len() * 4).div_ceil(3))
}

fn encode_details(
    code: tonic::Code,
    message: &str,
    violations: &[v1::FieldViolation],
    kept: usize,
    current_revision: u32,
) -> Vec<u8> {
    let bad_request = pb::BadRequest {
        field_violations: violations[..kept]
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
        violations: violations[..kept].to_vec(),
        total: u32::try_from(violations.len()).unwrap_or(u32::MAX),
        current_revision,
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

/// One line: "report rejected: 2 violations: E005 staff.professional_staff: …; E008 …", with
/// the first `kept` violations at most (those the details hold).
fn summary(violations: &[v1::FieldViolation], kept: usize) -> String {
    let n = violations.len();
    let mut message = format!(
        "report rejected: {n} violation{}",
        if n == 1 { "" } else { "s" }
    );
    // Room for the tail below.
    let budget = MAX_MESSAGE_WIRE_BYTES - 200;
    let mut shown = 0;
    for (i, v) in violations[..kept].iter().enumerate() {
        let item = format!("{} {}: {}", v.rule_id, field_label(&v.field), v.message_en);
        if wire_len(&message) + wire_len(&item) + 2 > budget {
            break;
        }
        message.push_str(if i == 0 { ": " } else { "; " });
        message.push_str(&item);
        shown += 1;
    }
    if shown < n {
        message.push_str(&format!(" … and {} more", n - shown));
        if kept == n {
            message.push_str(" (all in the status details)");
        } else {
            message.push_str(&format!(
                " (the first {kept} in the status details; send the report through SyncReports \
                 for all {n} in its receipt)"
            ));
        }
    }
    message
}

/// Length of `s` in the `grpc-message` header as tonic sends it, percent-encoded.
pub fn wire_len(s: &str) -> usize {
    percent_encoding::utf8_percent_encode(s, MESSAGE_ENCODING)
        .map(str::len)
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

/// How many violations the rejected report has in all: `ValidationFailure.total`, or the number
/// of violations carried when the hub did not say (or there are none).
pub fn violation_total(status: &tonic::Status) -> usize {
    let carried = violations(status).len();
    rpc_status(status)
        .and_then(|rpc| {
            rpc.details
                .into_iter()
                .find(|a| a.type_url == VALIDATION_FAILURE_TYPE_URL)
        })
        .and_then(|a| v1::ValidationFailure::decode(a.value.as_slice()).ok())
        .map_or(carried, |f| (f.total as usize).max(carried))
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

    /// Bytes of the status headers as tonic sends them, counted as HTTP/2 does.
    fn status_headers_len(status: &tonic::Status) -> usize {
        http_headers(status)
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("grpc-"))
            .map(|(k, v)| k.as_str().len() + v.len() + HEADER_OVERHEAD)
            .sum()
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
        let size = status_headers_len(&status);
        assert!(size <= MAX_STATUS_WIRE_BYTES, "{size}");
        assert!(wire_len(status.message()) <= MAX_MESSAGE_WIRE_BYTES);
        assert!(status
            .message()
            .starts_with("report rejected: 5000 violations: E011 service_records[0].date"));
        assert!(
            status.message().contains("SyncReports for all 5000"),
            "{}",
            status.message()
        );
        let got = violations(&status);
        assert!(!got.is_empty() && got.len() < 5000);
        assert_eq!(got[..], many[..got.len()]);
        assert_eq!(violation_total(&status), 5000);
    }

    #[test]
    fn wire_len_is_what_tonic_sends() {
        for message in [
            "report rejected: 1 violation: E005 a: 50% of \"x\" {y} <z> `w` #1?",
            "报表过大 — too large\ttab",
            "",
        ] {
            let status = tonic::Status::invalid_argument(message);
            let sent = http_headers(&status)
                .get("grpc-message")
                .map_or(0, |v| v.len());
            assert_eq!(wire_len(message), sent, "{message}");
        }
        let small = rejection(tonic::Code::InvalidArgument, &sample());
        assert_eq!(
            status_wire_len(small.code(), small.message(), small.details()),
            status_headers_len(&small)
        );
        assert_eq!(violation_total(&small), 3);
        assert_eq!(violation_total(&tonic::Status::internal("x")), 0);
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
