//! From an admitted report to rows in ClickHouse: the facts the rules need ([`context`],
//! [`history`]), replay lookups ([`lookup`]), the shared batch collector ([`batching`]) and the
//! group commit ([`writer`]).

pub mod batching;
pub mod context;
pub mod history;
pub mod lookup;
pub mod spill;
pub mod writer;
