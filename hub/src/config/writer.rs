//! `[writer]`: group commit and the intake bound.

use serde::Deserialize;

/// `[writer]`: group commit (see `writer.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Most reports in one ClickHouse insert.
    pub max_batch_reports: usize,
    /// Most encoded report bytes in one insert.
    pub max_batch_bytes: usize,
    /// Longest a report waits for companions before its batch is flushed, milliseconds.
    pub max_delay_ms: u64,
    /// Shortest time between the starts of two flushes, milliseconds (0: none).
    pub min_flush_interval_ms: u64,
    /// Most reports the hub holds at once; beyond, RESOURCE_EXHAUSTED with a retry hint.
    pub queue_capacity: usize,
    /// Most encoded report bytes the hub holds at once; beyond, RESOURCE_EXHAUSTED.
    pub queue_bytes: usize,
    /// Batches stored at the same time (1 keeps inserts strictly in order).
    pub flushes_in_flight: usize,
    /// Reports of one `SyncReports` stream the hub works on at the same time: how much of the
    /// intake one draining agent can take (an agent opens a few streams).
    pub stream_concurrency: usize,
    /// Most bytes of audit entries kept on disk (`<data_dir>/audit-spill`) while the memory
    /// queue is full or ClickHouse does not take them; beyond, entries are dropped (counted).
    pub audit_spill_max_bytes: u64,
    /// Most of `queue_capacity` one platform may hold at once, percent (1–100; 100: no
    /// limit of its own). Beyond, its reports get RESOURCE_EXHAUSTED while others get in.
    pub max_platform_share_percent: u8,
}

impl Default for WriterConfig {
    fn default() -> Self {
        let d = crate::ingest::writer::WriterSettings::default();
        Self {
            max_batch_reports: d.max_batch_reports,
            max_batch_bytes: d.max_batch_bytes,
            max_delay_ms: d.max_delay.as_millis() as u64,
            min_flush_interval_ms: d.min_flush_interval.as_millis() as u64,
            queue_capacity: d.queue_capacity,
            queue_bytes: d.queue_bytes,
            flushes_in_flight: d.flushes_in_flight,
            stream_concurrency: crate::grpc::service::DEFAULT_STREAM_CONCURRENCY,
            audit_spill_max_bytes: 1 << 30,
            max_platform_share_percent: d.max_platform_share_percent,
        }
    }
}

impl WriterConfig {
    /// The writer's settings.
    pub fn settings(&self) -> crate::ingest::writer::WriterSettings {
        crate::ingest::writer::WriterSettings {
            max_batch_reports: self.max_batch_reports,
            max_batch_bytes: self.max_batch_bytes,
            max_delay: std::time::Duration::from_millis(self.max_delay_ms),
            min_flush_interval: std::time::Duration::from_millis(self.min_flush_interval_ms),
            queue_capacity: self.queue_capacity,
            queue_bytes: self.queue_bytes,
            flushes_in_flight: self.flushes_in_flight,
            max_platform_share_percent: self.max_platform_share_percent,
        }
    }
}
