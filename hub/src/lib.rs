//! The ministry's aggregation hub (部委汇聚中心) of SME Platform Reporting: authenticates each
//! platform by its client certificate, validates reports, stores them in ClickHouse, and serves
//! planners and coordinators.
//!
//! The folders follow what the code serves: [`grpc`] answers the platforms' agents, [`ingest`]
//! admits, checks and group-commits their reports, [`pki`] is the certificate authority and TLS,
//! [`reporting`] the calendar and period locks, [`registry`] the platforms and divisions,
//! [`store`] ClickHouse (migrations, the embedded server), [`analytics`] the published figures,
//! [`users`] web accounts and sessions, [`access`] what a signed-in user may read and do (scope
//! checks below the handlers), [`web`] the HTTP side (metrics, the JSON API), [`cli`] the
//! operators' commands; [`server`] puts them together.
#![forbid(unsafe_code)]

pub mod access;
pub mod analytics;
pub mod cli;
pub mod clock;
pub mod config;
pub mod export;
pub mod grpc;
pub mod ingest;
pub mod pki;
pub mod registry;
pub mod reporting;
pub mod server;
pub mod store;
pub mod users;
pub mod web;
