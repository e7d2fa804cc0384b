//! A trace as JSON lines: one object per event, in time order (a timer before the messages it
//! causes at the same instant).
//!
//! Every line has `t` (virtual seconds), `t_us` (virtual microseconds), `node` (where it
//! happened: a node id of the model, or `ue<u>` for a user's device), `dir` (`sent`,
//! `received`, `lost`, `rejected` or `timer`), `kind` and `summary`. Messages add `peer` (the
//! other end of the hop), `proto` (`SIP` or `MSRP`), `status` for responses, `user` (the user
//! the message is about), `forwarded` (the S-CSCF forwarding it), and `ids`: `call_id`,
//! `cseq` and `branch` for SIP, `tid`, `message_id` and `byte_range` for MSRP, the same in
//! every line about one message. Timers add `user` when they concern one.

use super::{Trace, TraceKind, addr_name, packet_users, timer_at, timer_name, timer_user};
use crate::protocol::{Addr, Msg, Sip};
use crate::trace::wire::{Ids, Wire};
use crate::workload::World;
use serde_json::{Map, Value, json};
use std::io::Write;

/// Writes the trace as JSON lines; returns the number of lines.
pub fn write_jsonl<W: Write>(trace: &Trace, world: &World, mut out: W) -> std::io::Result<u64> {
    let mut wire = Wire::new(world);
    let mut lines = 0u64;
    let (mut i, mut j) = (0, 0);
    let (recs, timers) = (&trace.records, &trace.timers);
    while i < recs.len() || j < timers.len() {
        let timer_first = j < timers.len() && (i >= recs.len() || timers[j].time <= recs[i].time);
        let line = if timer_first {
            let t = &timers[j];
            j += 1;
            let (name, what) = timer_name(&t.timer);
            let mut o = base(t.time, &addr_name(timer_at(&t.timer), world), "timer", name);
            if let Some(u) = timer_user(&t.timer, world) {
                o.insert("user".into(), json!(u.0));
            }
            o.insert("summary".into(), json!(format!("{what}: {:?}", t.timer)));
            o
        } else {
            let r = &recs[i];
            i += 1;
            let p = &r.packet;
            let (dir, rendered) = match r.kind {
                TraceKind::Sent => ("sent", wire.sent(r.time, r.at, p)),
                TraceKind::Received => ("received", wire.observed(r.time, p)),
                TraceKind::Lost => ("lost", wire.observed(r.time, p)),
                TraceKind::Rejected => ("rejected", wire.observed(r.time, p)),
            };
            let peer = match (&r.kind, world.proxy_of(p)) {
                (TraceKind::Sent, _) => rendered.hop.to,
                // What arrives after the S-CSCF's forward came from the S-CSCF.
                (_, Some(scscf)) if p.proxied() && r.at == p.dst() => Addr::Node(scscf),
                _ => p.src(),
            };
            let mut o = base(r.time, &addr_name(r.at, world), dir, p.msg.kind().name());
            o.insert("peer".into(), json!(addr_name(peer, world)));
            o.insert("proto".into(), json!(if matches!(p.msg, Msg::Sip(_)) { "SIP" } else { "MSRP" }));
            if let Msg::Sip(Sip::Response { status, .. }) = &p.msg {
                o.insert("status".into(), json!(status));
            }
            if let Some(u) = packet_users(p, world)[2] {
                o.insert("user".into(), json!(u.0));
            }
            if r.kind == TraceKind::Sent && rendered.hop.forward {
                o.insert("forwarded".into(), json!(true));
            }
            o.insert("ids".into(), ids(&rendered.ids));
            o.insert("summary".into(), json!(rendered.summary));
            o
        };
        serde_json::to_writer(&mut out, &Value::Object(line))?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}

fn base(t: u64, node: &str, dir: &str, kind: &str) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("t".into(), json!(t as f64 / 1e6));
    o.insert("t_us".into(), json!(t));
    o.insert("node".into(), json!(node));
    o.insert("dir".into(), json!(dir));
    o.insert("kind".into(), json!(kind));
    o
}

fn ids(i: &Ids) -> Value {
    let mut o = Map::new();
    for (k, v) in [
        ("call_id", &i.call_id),
        ("cseq", &i.cseq),
        ("branch", &i.branch),
        ("tid", &i.tid),
        ("message_id", &i.message_id),
        ("byte_range", &i.byte_range),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    Value::Object(o)
}
