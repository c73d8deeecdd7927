//! The figures planners and coordinators see (domain §7), computed once from ClickHouse for the
//! CLI, the web API and the exports alike.

pub mod completeness;
