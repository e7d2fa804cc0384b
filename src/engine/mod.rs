//! The engine: virtual time, the pending-event set and seeded random streams. It knows nothing
//! of SIP or of the network functions; `sim` drives the nodes with it.

pub mod deadlines;
pub mod queue;
pub mod rng;

pub use queue::EventQueue;

/// Virtual time in ticks of one microsecond since the start of the run.
pub type Time = u64;
