//! ddsim — a discrete-event simulator of IMS deferred delivery: the OMA CPM procedure by which
//! a Participating Function stores the group-chat traffic a user missed while offline and, when
//! the user registers again, delivers it in a dedicated SIP/MSRP session (OMA CPM Conversation
//! Functions, section 8.3.2.9.1.2).
//!
//! The architecture, bottom up:
//!
//! - [`units`], [`dist`]: durations, sizes, rates and distributions of the model file.
//! - [`engine`]: virtual time (µs ticks), the pending-event set, seeded random streams.
//! - [`protocol`]: modelled SIP and MSRP messages, the headers of the seed as typed data.
//! - [`nodes`]: one sans-IO state machine per network function — client (UE), registrar
//!   (S-CSCF), participating function (PF), controlling function (CF).
//! - [`network`]: the topology graph, path delays, loss and outages.
//! - [`servers`]: workers, service times and bounded queues of the server nodes.
//! - [`policy`]: retry policies and deferred-store limits.
//! - [`model`]: the model file schema, defaults, `--set` overrides and validation.
//! - [`workload`]: users, groups, memberships and group traffic.
//! - [`metrics`]: counters, histograms, levels and the results document.
//! - [`sim`]: one run: drives the nodes with the engine and routes their messages.

pub mod dist;
pub mod engine;
pub mod experiment;
pub mod metrics;
pub mod model;
pub mod network;
pub mod nodes;
pub mod output;
pub mod plot;
pub mod policy;
pub mod protocol;
pub mod servers;
pub mod sim;
pub mod trace;
pub mod units;
pub mod workload;
