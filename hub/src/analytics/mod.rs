//! The figures planners and coordinators see (domain §7), computed once from ClickHouse for the
//! CLI, the web API and the exports alike. Every function takes a [`Scope`].

pub mod completeness;
pub mod scope;

pub use scope::{Role, Scope, ScopeError};
