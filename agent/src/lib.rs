//! The platform agent (平台端采集代理) of SME Platform Reporting: takes in service records, keeps
//! them in SQLite, builds periodic reports and pushes them to the hub over mutual-TLS gRPC.
#![forbid(unsafe_code)]

pub mod builder;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod delivery;
pub mod identity;
pub mod intake;
pub mod renew;
pub mod schedule;
pub mod service;
pub mod shutdown;
pub mod status;
pub mod store;
pub mod submit;
pub mod template;
pub mod verdict;
