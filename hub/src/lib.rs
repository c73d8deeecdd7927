//! The ministry's aggregation hub (部委汇聚中心) of SME Platform Reporting: authenticates each
//! platform by its client certificate, validates reports, stores them in ClickHouse, and serves
//! planners and coordinators.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod config;
pub mod pki;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
