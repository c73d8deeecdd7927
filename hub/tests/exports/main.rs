//! The exports (issue E) against a real ClickHouse, with no mocks: see each module.

#[path = "../support/mod.rs"]
mod support;

mod data;
mod formats;
mod statistics;
