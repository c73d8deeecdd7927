//! The ministry's aggregation hub (部委汇聚中心) of SME Platform Reporting: authenticates each
//! platform by its client certificate, validates reports, stores them in ClickHouse, and serves
//! planners and coordinators.
#![forbid(unsafe_code)]

pub mod admin;
pub mod batching;
pub mod calendar;
pub mod clock;
pub mod completeness;
pub mod config;
pub mod context;
pub mod history;
pub mod http;
pub mod lookup;
pub mod periods;
pub mod pki;
pub mod registry;
pub mod server;
pub mod service;
pub mod store;
pub mod tables;
pub mod tls;
pub mod writer;
