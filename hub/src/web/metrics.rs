//! The hub's Prometheus metrics, rendered in the text exposition format (version 0.0.4).
//!
//! Hand-rolled rather than taken from the `prometheus` or `metrics` crates: the hub needs a
//! dozen counters, two gauges and a few fixed-bucket histograms, all updated with one atomic
//! add on the hot path, and the text format is a page of code. That keeps a registry, global
//! state and a protobuf dependency out of the hub, and every series is declared in one place
//! ([`Metrics::render`]) where an operator can read what exists.
//!
//! | series | type | what |
//! |---|---|---|
//! | `sme_hub_reports_accepted_total` | counter | reports stored (receipt sent) |
//! | `sme_hub_reports_duplicate_total` | counter | replays answered with the original receipt |
//! | `sme_hub_reports_rejected_total{outcome}` | counter | refused reports: `rejected` (hard rules), `revision_taken`, `revision_superseded` (lower than the current one), `permission_denied`, `unauthenticated` |
//! | `sme_hub_report_violations_total{rule}` | counter | hard-rule violations of rejected reports, per rule id |
//! | `sme_hub_report_flags_total{rule}` | counter | soft-rule flags on accepted reports, per rule id |
//! | `sme_hub_reports_deferred_total{reason}` | counter | not stored, agent told to retry: `queue_full`, `platform_share` (the platform holds its share of the intake), `store_unavailable`, `shutting_down` |
//! | `sme_hub_writer_queue_reports` / `_bytes` | gauge | reports (and their encoded bytes) in the intake: admitted and not yet answered |
//! | `sme_hub_writer_pending_reports` | gauge | reports handed to the writer, waiting for their batch to be stored |
//! | `sme_hub_writer_batch_reports` / `_rows` | histogram | reports and table rows per flush |
//! | `sme_hub_writer_insert_seconds` | histogram | time to store one batch (all tables) |
//! | `sme_hub_writer_flush_failures_total` | counter | batches ClickHouse did not take |
//! | `sme_hub_audit_dropped_total` | counter | audit entries lost: only when the audit spill on disk is full (`[writer] audit_spill_max_bytes`) |
//! | `sme_hub_audit_spilled_bytes` | gauge | audit entries on disk waiting for ClickHouse (see `ingest/spill.rs`) |
//! | `sme_hub_grpc_refused_total{reason}` | counter | gRPC connections and calls refused before any decoding: `connections` (limit), `anonymous_connections` (limit), `unauthenticated` (report RPC without a valid client certificate), `revocations_unavailable` (the hub cannot check revocations: UNAVAILABLE) |
//! | `sme_hub_lookup_batch_reports`, `sme_hub_lookup_seconds` | histogram | batched replay/revision lookups |
//! | `sme_hub_rpc_seconds{method}` | histogram | handler latency of report RPCs |
//! | `sme_hub_server_certificate_expiry_seconds` | gauge | seconds until the TLS server certificate in use expires (`sme-hub cert server-renew`; see `pki/watcher.rs`) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets, seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Batch-size buckets, reports.
const REPORT_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];
/// Batch-size buckets, rows.
const ROW_BUCKETS: &[f64] = &[
    10.0, 100.0, 1_000.0, 10_000.0, 50_000.0, 100_000.0, 250_000.0, 500_000.0,
];

// === primitives ===

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters keyed by one label value (rule ids, outcomes: a small, closed set).
#[derive(Debug, Default)]
pub struct LabeledCounter(Mutex<BTreeMap<String, u64>>);

impl LabeledCounter {
    pub fn inc(&self, label: &str) {
        let mut map = self.0.lock().expect("metrics map poisoned");
        match map.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                map.insert(label.to_owned(), 1);
            }
        }
    }

    pub fn get(&self, label: &str) -> u64 {
        let map = self.0.lock().expect("metrics map poisoned");
        map.get(label).copied().unwrap_or(0)
    }

    fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().expect("metrics map poisoned");
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// A histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts; the last is `+Inf`.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum as `f64` bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum());
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

// === impl Metrics ===

/// Every metric of the hub. One instance per hub process, shared by the gRPC services, the
/// writer and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    pub accepted: Counter,
    pub duplicates: Counter,
    /// Label: `rejected`, `revision_taken`, `revision_superseded`, `permission_denied`, `unauthenticated`.
    pub rejected: LabeledCounter,
    /// Label: rule id.
    pub violations: LabeledCounter,
    /// Label: rule id.
    pub flags: LabeledCounter,
    /// Label: `queue_full`, `platform_share`, `store_unavailable`, `shutting_down`.
    pub deferred: LabeledCounter,
    pub queue_reports: Gauge,
    pub queue_bytes: Gauge,
    pub pending_reports: Gauge,
    pub batch_reports: Histogram,
    pub batch_rows: Histogram,
    pub insert_seconds: Histogram,
    pub flush_failures: Counter,
    pub audit_dropped: Counter,
    pub audit_spilled_bytes: Gauge,
    /// Label: `connections`, `anonymous_connections`, `unauthenticated`,
    /// `revocations_unavailable`.
    pub grpc_refused: LabeledCounter,
    pub lookup_batch_reports: Histogram,
    pub lookup_seconds: Histogram,
    pub submit_seconds: Histogram,
    pub sync_seconds: Histogram,
    /// Expiry of the TLS server certificate in use, Unix seconds (0: not known yet).
    pub server_cert_not_after: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            accepted: Counter::default(),
            duplicates: Counter::default(),
            rejected: LabeledCounter::default(),
            violations: LabeledCounter::default(),
            flags: LabeledCounter::default(),
            deferred: LabeledCounter::default(),
            queue_reports: Gauge::default(),
            queue_bytes: Gauge::default(),
            pending_reports: Gauge::default(),
            batch_reports: Histogram::new(REPORT_BUCKETS),
            batch_rows: Histogram::new(ROW_BUCKETS),
            insert_seconds: Histogram::new(SECONDS_BUCKETS),
            flush_failures: Counter::default(),
            audit_dropped: Counter::default(),
            audit_spilled_bytes: Gauge::default(),
            grpc_refused: LabeledCounter::default(),
            lookup_batch_reports: Histogram::new(REPORT_BUCKETS),
            lookup_seconds: Histogram::new(SECONDS_BUCKETS),
            submit_seconds: Histogram::new(SECONDS_BUCKETS),
            sync_seconds: Histogram::new(SECONDS_BUCKETS),
            server_cert_not_after: Gauge::default(),
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let labeled =
            |out: &mut String, name: &str, help: &str, label: &str, c: &LabeledCounter| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for (value, n) in c.snapshot() {
                    let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(&value));
                }
            };
        let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let histogram = |out: &mut String, name: &str, help: &str, h: &Histogram| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(out, name, "");
        };

        counter(
            &mut out,
            "sme_hub_reports_accepted_total",
            "Reports stored in ClickHouse and acknowledged with a receipt.",
            self.accepted.get(),
        );
        counter(
            &mut out,
            "sme_hub_reports_duplicate_total",
            "Repeated report_ids answered with the original receipt.",
            self.duplicates.get(),
        );
        labeled(
            &mut out,
            "sme_hub_reports_rejected_total",
            "Reports refused, by outcome.",
            "outcome",
            &self.rejected,
        );
        labeled(
            &mut out,
            "sme_hub_report_violations_total",
            "Hard-rule violations of rejected reports, by rule id.",
            "rule",
            &self.violations,
        );
        labeled(
            &mut out,
            "sme_hub_report_flags_total",
            "Soft-rule flags raised on accepted reports, by rule id.",
            "rule",
            &self.flags,
        );
        labeled(
            &mut out,
            "sme_hub_reports_deferred_total",
            "Reports not stored because the hub was busy or ClickHouse unavailable; the agent retries.",
            "reason",
            &self.deferred,
        );
        gauge(
            &mut out,
            "sme_hub_writer_queue_reports",
            "Reports in the intake: admitted and not yet answered.",
            self.queue_reports.get(),
        );
        gauge(
            &mut out,
            "sme_hub_writer_pending_reports",
            "Reports handed to the writer, waiting for their batch to be stored.",
            self.pending_reports.get(),
        );
        gauge(
            &mut out,
            "sme_hub_writer_queue_bytes",
            "Encoded bytes of the reports in the intake.",
            self.queue_bytes.get(),
        );
        histogram(
            &mut out,
            "sme_hub_writer_batch_reports",
            "Reports per ClickHouse flush.",
            &self.batch_reports,
        );
        histogram(
            &mut out,
            "sme_hub_writer_batch_rows",
            "Table rows (reports, volumes, records) per ClickHouse flush.",
            &self.batch_rows,
        );
        histogram(
            &mut out,
            "sme_hub_writer_insert_seconds",
            "Time to store one batch in every table.",
            &self.insert_seconds,
        );
        counter(
            &mut out,
            "sme_hub_writer_flush_failures_total",
            "Batches ClickHouse did not take; their callers were told to retry.",
            self.flush_failures.get(),
        );
        counter(
            &mut out,
            "sme_hub_audit_dropped_total",
            "Audit entries that could not be stored and were dropped.",
            self.audit_dropped.get(),
        );
        gauge(
            &mut out,
            "sme_hub_audit_spilled_bytes",
            "Audit entries on disk waiting to be stored in ClickHouse, bytes.",
            self.audit_spilled_bytes.get(),
        );
        labeled(
            &mut out,
            "sme_hub_grpc_refused_total",
            "gRPC connections and calls refused before decoding anything, by reason.",
            "reason",
            &self.grpc_refused,
        );
        histogram(
            &mut out,
            "sme_hub_lookup_batch_reports",
            "Reports per batched replay/revision lookup.",
            &self.lookup_batch_reports,
        );
        histogram(
            &mut out,
            "sme_hub_lookup_seconds",
            "Time of one batched replay/revision lookup.",
            &self.lookup_seconds,
        );
        let _ = writeln!(
            out,
            "# HELP sme_hub_rpc_seconds Handler latency of report RPCs.\n# TYPE sme_hub_rpc_seconds histogram"
        );
        self.submit_seconds
            .render(&mut out, "sme_hub_rpc_seconds", "method=\"SubmitReport\"");
        self.sync_seconds.render(
            &mut out,
            "sme_hub_rpc_seconds",
            "method=\"SyncReports.report\"",
        );
        let not_after = self.server_cert_not_after.get();
        if not_after > 0 {
            gauge(
                &mut out,
                "sme_hub_server_certificate_expiry_seconds",
                "Seconds until the TLS server certificate in use expires.",
                not_after - time::OffsetDateTime::now_utc().unix_timestamp(),
            );
        }
        out
    }
}

/// Escapes a label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "m=\"a\"");
        assert!(out.contains("x_bucket{m=\"a\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum{m=\"a\"} 56.5\n"), "{out}");
        assert!(out.contains("x_count{m=\"a\"} 4\n"), "{out}");
    }

    #[test]
    fn renders_every_series_with_help_and_type() {
        let m = Metrics::default();
        m.accepted.add(3);
        m.violations.inc("E008");
        m.violations.inc("E008");
        m.deferred.inc("queue_full");
        m.queue_reports.add(2);
        m.batch_reports.observe(3.0);
        let text = m.render();
        assert!(
            text.contains("sme_hub_reports_accepted_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("sme_hub_report_violations_total{rule=\"E008\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("sme_hub_reports_deferred_total{reason=\"queue_full\"} 1\n"));
        assert!(text.contains("sme_hub_writer_queue_reports 2\n"));
        assert!(text.contains("sme_hub_writer_batch_reports_count 1\n"));
        // Every sample line belongs to a declared family.
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                families.iter().any(|f| name.starts_with(f)),
                "undeclared series {name}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
