//! Wire contract of SME Platform Reporting (中小企业公共服务平台数据直报), package `sme.report.v1`.
//!
//! The generated code is checked in under `src/gen/` (see `tests/bootstrap.rs`).
#![forbid(unsafe_code)]

/// Generated messages, clients and servers of `sme.report.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!("gen/sme.report.v1.rs");

    /// Encoded `FileDescriptorSet` of the package, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/sme_report_v1_descriptor.bin");
}

pub mod credit_code;
pub mod fixtures;
pub mod json_timestamp;
pub mod period;
pub mod pseudonym;
pub mod rules;
pub mod status;
pub mod tabular;
