//! ddsim — a discrete-event simulator of IMS deferred delivery: the OMA CPM procedure by which
//! a Participating Function stores the group-chat traffic a user missed while offline and,
//! when the user registers again, delivers it in a dedicated SIP/MSRP session (OMA CPM
//! Conversation Functions, section 8.3.2.9.1.2).
//!
//! The modules, bottom up: each uses only modules listed before it (`tests/architecture.rs`
//! checks this order against the code; `reorder_modules = false` in `rustfmt.toml` keeps it).
//!
//! - [`units`], [`dist`]: durations, sizes, rates and distributions of the model file.
//! - [`engine`]: virtual time (µs ticks), the pending-event set, fixed-duration deadline
//!   lists, seeded random streams. Knows nothing of SIP.
//! - [`protocol`]: ids and the modelled SIP and MSRP messages, the seed's headers as typed data.
//! - [`output`]: output directories and atomic file writes.
//! - [`model`]: the model file: schema and defaults, dotted-path overrides, validation.
//! - [`policy`]: retry policies and deferred-store limits, as the nodes apply them.
//! - [`metrics`]: counters, histograms, time-weighted levels, the time series, warm-up and
//!   conservation: everything a run measures; and MSER-5, where a series' transient ends.
//! - [`network`]: the topology graph, routes, delays, loss, outages, TCP ordering.
//! - [`servers`]: workers, service times and bounded queues of the server nodes; 503s.
//! - [`workload`]: the world (users, groups, memberships, their placement on servers, the
//!   routing rules), the group traffic, and the clocks of daily profiles.
//! - [`nodes`]: one sans-IO state machine per network function — client (UE), registrar
//!   (S-CSCF), participating function (PF), controlling function (CF) — behind one interface.
//! - [`plot`]: drawing charts (plotters) with a bundled font, and small multiples with marks.
//! - [`trace`]: what a run captures of chosen users, and its exports: wire text, pcap, JSON
//!   lines, ladder diagrams.
//! - [`sim`]: one run: the event loop that drives the nodes and routes their messages.
//! - [`experiment`]: sweeps of many runs, their summaries, and the charts of results on disk;
//!   the warm-up study of one model (a pilot run and MSER-5 on its time series).
//! - [`plan`]: capacity plans: the least capacity that meets service targets, searched over
//!   candidates decided by sequential replications.
//! - [`report`]: `report.html`, the overview page of a sweep, plan or run directory: the main
//!   results, every chart and the model, readable offline.
//!
//! The command line (`src/cli/`, in the binary) sits on top of all of them.

pub mod units;
pub mod dist;
pub mod engine;
pub mod protocol;
pub mod output;
pub mod model;
pub mod policy;
pub mod metrics;
pub mod network;
pub mod servers;
pub mod workload;
pub mod nodes;
pub mod plot;
pub mod trace;
pub mod sim;
pub mod experiment;
pub mod plan;
pub mod report;
