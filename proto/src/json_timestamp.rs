//! `Report.generated_at` in the JSON report format: an RFC 3339 string, as in the protobuf JSON
//! mapping (`"2026-06-01T08:00:00Z"`, any offset), so a JSON report is valid from any client.

use prost_types::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Writes the time as RFC 3339 in UTC (absent stays absent: see the field's attribute).
pub fn serialize<S: Serializer>(value: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    let Some(t) = value else {
        return s.serialize_none();
    };
    let at = u32::try_from(t.nanos)
        .ok()
        .and_then(|n| {
            OffsetDateTime::from_unix_timestamp(t.seconds)
                .ok()?
                .replace_nanosecond(n)
                .ok()
        })
        .ok_or_else(|| serde::ser::Error::custom(format!("generated_at {t:?} is out of range")))?;
    let text = at.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

/// Reads an RFC 3339 time; `null` or absent is absent.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
        serde::de::Error::custom(format!(
            "generated_at {text:?} is not an RFC 3339 time such as \"2026-06-01T08:00:00+08:00\": {e}"
        ))
    })?;
    Ok(Some(Timestamp {
        seconds: at.unix_timestamp(),
        nanos: at.nanosecond() as i32,
    }))
}

#[cfg(test)]
mod tests {
    use crate::v1;

    #[test]
    fn generated_at_round_trips_as_rfc_3339() {
        let mut report =
            crate::fixtures::sample_report(&crate::fixtures::sample_platform_id(), "2026-M05");
        report.generated_at = Some(prost_types::Timestamp {
            seconds: 1_780_000_000,
            nanos: 5,
        });
        let json = serde_json::to_string(&report).unwrap();
        assert!(
            json.contains("\"generated_at\":\"2026-05-28T20:26:40.000000005Z\""),
            "{json}"
        );
        let back: v1::Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back.generated_at, report.generated_at);
        report.generated_at = None;
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("generated_at"), "{json}");
        let err = serde_json::from_str::<v1::Report>(&json.replacen(
            '{',
            "{\"generated_at\":\"yesterday\",",
            1,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
