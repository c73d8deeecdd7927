//! The gRPC side that platforms' agents talk to: `ReportingService` and `EnrollmentService`.

pub mod gate;
pub mod listener;
pub mod service;
