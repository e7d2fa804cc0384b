//! Conservation over randomly generated small models: whatever the topology, workload,
//! policies, losses, outages and overload, every deferred message and notification that entered
//! a store is delivered, discarded, dropped, expired or still pending — exactly.

use ddsim::model::Model;
use ddsim::sim::{RunOptions, run_model};
use proptest::prelude::*;
use serde_json::{Value, json};

fn dur(s: f64) -> String {
    format!("{}ms", (s * 1000.0).round() as u64)
}

prop_compose! {
    fn retry()(kind in 0..3u8, interval in 5.0..600.0f64, attempts in 1..8u32, factor in 1.0..3.0f64,
               jitter in prop::sample::select(vec!["none", "full", "equal", "decorrelated"]),
               give_up in prop::option::of(60.0..7200.0f64)) -> Value {
        match kind {
            0 => json!({"kind": "none"}),
            1 => json!({"kind": "fixed", "interval": dur(interval), "max_attempts": attempts,
                        "give_up_after": give_up.map(dur)}),
            _ => json!({"kind": "exponential", "initial": dur(interval), "factor": factor,
                        "max_interval": dur(interval * 8.0), "max_attempts": attempts, "jitter": jitter,
                        "give_up_after": give_up.map(dur)}),
        }
    }
}

prop_compose! {
    fn store()(per_session in prop::option::of(1..40u32), per_user in prop::option::of(1..80u32),
               per_server in prop::option::of(1..200u64), session_bytes in prop::option::of(200..20_000u64),
               drop_oldest in any::<bool>(), ttl in prop::option::of(60.0..7200.0f64)) -> Value {
        json!({"per_session": per_session, "per_user": per_user, "per_server": per_server,
               "per_session_bytes": session_bytes.map(|b| format!("{b}B")),
               "overflow": if drop_oldest { "drop_oldest" } else { "drop_newest" }, "ttl": ttl.map(dur)})
    }
}

prop_compose! {
    fn model()(users in 1..14u32, desktops in 0..3u32, groups in 1..6u32, max_members in 1..7u32,
               online in 60.0..7200.0f64, offline in 30.0..3600.0f64, lognormal in any::<bool>(),
               ungraceful in 0.0..1.0f64, answer in (0.0..1.0f64, 0.0..1.0f64, 0.0..1.0f64),
               bye in 0.0..0.5f64, reply in 0.0..1.0f64, rate in 1..120u32, sigma in 0.0..2.5f64,
               imdn in (0.0..1.0f64, 0.0..1.0f64), idle in 30.0..3600.0f64,
               retry in retry(), store in store(), loss in 0.0..0.2f64,
               outage in prop::option::of((0u8..2, 60.0..3000.0f64, 10.0..1200.0f64)),
               workers in 1..4u32, queue in 1..60u32, window in 1..9u32, chunk in 64..4096u32,
               t1 in 100.0..2000.0f64, horizon in 1800.0..10800.0f64, warmup in 0.0..1.0f64,
               gso in any::<bool>(), unsub in any::<bool>(), expiry in 120.0..3600.0f64,
               seed in 0..1000u64, steady in any::<bool>()) -> Value {
        let sum = answer.0 + answer.1 + answer.2 + 1e-9;
        let (a, d) = (answer.0 / sum, answer.1 / sum);
        let offline_dist = if lognormal {
            json!({"dist": "lognormal", "median": dur(offline), "sigma": 1.2})
        } else {
            json!({"dist": "exp", "mean": dur(offline)})
        };
        let node = |id: &str, kind: &str| json!({"id": id, "kind": kind, "workers": workers,
            "service_time": {"dist": "exp", "mean": "2ms"}, "queue_limit": queue});
        let events = match outage {
            Some((which, at, len)) if at < horizon => vec![json!({"kind": "outage",
                "node": if which == 0 { "ran" } else { "pf1" }, "at": dur(at), "duration": dur(len)})],
            _ => vec![],
        };
        json!({
            "name": "prop", "horizon": dur(horizon), "warmup": dur(horizon * warmup * 0.5), "seed": seed,
            "start": if steady { "steady_state" } else { "empty" },
            "sip": {"t1": dur(t1 / 1000.0)},
            "topology": {
                "nodes": [{"id": "ran", "kind": "access"}, node("scscf", "registrar"),
                          node("pf1", "participating"), node("cf1", "controlling")],
                "links": [
                    {"from": "ran", "to": "scscf", "latency": {"dist": "lognormal", "median": "30ms", "sigma": 0.8}, "loss": loss},
                    {"from": "scscf", "to": "pf1", "latency": {"dist": "const", "value": "2ms"}},
                    {"from": "pf1", "to": "cf1", "latency": {"dist": "uniform", "min": "1ms", "max": "5ms"}}
                ]
            },
            "population": [
                {"class": "mobile", "users": users, "online": {"dist": "exp", "mean": dur(online)},
                 "offline": offline_dist, "ungraceful_offline": ungraceful,
                 "registration_expiry": dur(expiry),
                 "answer": {"accept": a, "decline": d, "unavailable": 1.0 - a - d,
                            "delay": {"dist": "uniform", "min": "100ms", "max": "5s"}},
                 "bye_during_delivery": bye, "reply_during_delivery": reply},
                {"class": "desktop", "users": desktops, "always_online": true}
            ],
            "groups": {"count": groups,
                       // Draws fit in their classes (the model is refused otherwise).
                       "members": [{"class": "mobile", "count": {"dist": "uniform", "min": 1, "max": max_members.min(users)}},
                                   {"class": "desktop", "count": {"dist": "uniform", "min": 0, "max": desktops.min(1)}}],
                       "message_rate": format!("{rate}/h"),
                       "message_size": {"dist": "lognormal", "median": "300B", "sigma": sigma},
                       "imdn": {"delivered": imdn.0, "displayed": imdn.1},
                       "idle_timeout": dur(idle), "referred_share": 0.3},
            "policy": {"retry": retry, "store": store, "group_state_object": gso,
                       "unsubscribe_on_rejoin": unsub, "msrp_chunk_size": format!("{chunk}B"), "msrp_window": window},
            "events": events
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn conservation_holds_in_random_small_models(v in model()) {
        let model = Model::from_value_with(&v, "generated.json", &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (doc, _) = run_model(&model, model.seed, Value::Null, RunOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{e}\nmodel: {v}")))?;
        for p in ["deferred", "notifications"] {
            let g = |f: &str| doc["metrics"][format!("{p}.{f}")].as_u64().unwrap();
            let inflow = g("pending_at_warmup") + g("offered") + g("queued_behind");
            let outflow = g("delivered") + g("discarded_decline") + g("discarded_bye") + g("dropped_overflow") + g("expired") + g("pending_at_end");
            prop_assert_eq!(inflow, outflow, "{}", p);
        }
    }
}
