//! The reporting calendar (which periods are due, when) and period locks and reopenings.

pub mod calendar;
pub mod periods;
