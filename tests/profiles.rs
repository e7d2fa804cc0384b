//! Daily profiles of traffic and presence: messages follow the traffic profile hour by hour,
//! the share of a class online follows its presence profile as the model predicts, and a
//! policy never changes the workload drawn, with a profile or without.

use ddsim::model::{Model, Override};
use ddsim::protocol::GroupId;
use ddsim::sim::{RunOptions, run_model};
use ddsim::units::{DAY, HOUR};
use ddsim::workload::{Traffic, World};
use serde_json::Value;
use std::path::Path;

/// An evening-peaked day: 21:00 is 2.1 times the daily mean, 03:00 0.15 of it.
const TRAFFIC: [f64; 24] = [
    0.3, 0.2, 0.15, 0.15, 0.2, 0.3, 0.5, 0.8, 1.0, 1.1, 1.1, 1.2, 1.3, 1.2, 1.1, 1.1, 1.2, 1.4, 1.6, 1.9, 2.1, 2.0,
    1.5, 0.8,
];

/// Online shares: 30% in the small hours, 90% in the evening.
const PRESENCE: [f64; 24] = [
    0.4, 0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.85, 0.9, 0.9, 0.9, 0.85,
    0.7, 0.5,
];

fn json_list(v: &[f64]) -> String {
    serde_json::to_string(v).unwrap()
}

fn load(file: &str, sets: &[String]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new(file), &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(model: &Model, seed: u64) -> Value {
    run_model(model, seed, Value::Null, RunOptions::default()).unwrap_or_else(|e| panic!("{e}")).0
}

#[test]
fn hourly_message_counts_follow_the_traffic_profile() {
    // 500 groups at 12 messages an hour for 5 days: about 720,000 message instants, binned by
    // hour of day. Counts in disjoint hours of a Poisson process are independent Poisson, so
    // sum (O - E)^2 / E over the 24 hours is chi-square with 24 degrees of freedom.
    let model = load(
        "models/tiny.json",
        &[
            "groups.count=500".into(),
            "groups.message_rate=\"12/h\"".into(),
            format!("groups.daily_profile={}", json_list(&TRAFFIC)),
        ],
    );
    let world = World::build(&model, 3);
    let mut traffic = Traffic::new(&model, 3);
    let days = 5;
    let mut counts = [0u64; 24];
    for g in 0..500 {
        let g = GroupId(g);
        let (mut next, _) = traffic.start(g, 0);
        while let Some(t) = next.filter(|&t| t < days * DAY) {
            counts[((t % DAY) / HOUR) as usize] += 1;
            next = traffic.message(g, t, &world.cfg).next;
        }
    }
    let mean: f64 = TRAFFIC.iter().sum::<f64>() / 24.0;
    let per_hour = 500.0 * days as f64 * 12.0; // messages per hour of day at multiplier 1
    let chi2: f64 = (0..24)
        .map(|h| {
            let e = per_hour * TRAFFIC[h] / mean;
            (counts[h] as f64 - e).powi(2) / e
        })
        .sum();
    // 51.18 is the 99.9% quantile of chi-square with 24 degrees of freedom.
    assert!(chi2 < 51.18, "hourly counts do not follow the profile: chi2 = {chi2:.1}, counts {counts:?}");
    // The daily mean stays the configured rate: the total is Poisson with mean 24 * per_hour.
    let (total, expected) = (counts.iter().sum::<u64>() as f64, 24.0 * per_hour);
    assert!((total - expected).abs() < 4.0 * expected.sqrt(), "total {total} against {expected}");
    // And the shape is really there: the evening peak hour against the quietest.
    assert!(counts[20] as f64 > 10.0 * counts[2] as f64, "{counts:?}");
}

#[test]
fn the_share_online_follows_the_presence_profile_as_predicted() {
    // 3,000 mobiles with exponential online and offline periods of 20 minutes (stationary
    // share 0.5). With the profile, a user goes offline at rate a(t)/20min and online at rate
    // b(t)/20min, where a and b are the speeds of the two presence clocks: the expected share
    // online p(t) solves p' = (1 - p) b / m_off - p a / m_on. Integrate it and compare with the
    // run's snapshots of the devices online, hour of day by hour of day, over days 2-4.
    let m_on = 20.0 * 60.0;
    let sets = vec![
        "population[0].users=3000".to_string(),
        r#"population[0].online={"dist":"exp","mean":"20m"}"#.into(),
        r#"population[0].offline={"dist":"exp","mean":"20m"}"#.into(),
        format!("population[0].presence_profile={}", json_list(&PRESENCE)),
        "population[0].utc_offset_h=0".into(),
        "groups.count=0".into(),
        "horizon=4d".into(),
        "warmup=1d".into(),
        "metrics.sample_interval=\"10m\"".into(),
    ];
    let doc = run(&load("models/tiny.json", &sets), 5);
    let ts = &doc["timeseries"];
    let t: Vec<f64> = serde_json::from_value(ts["t_s"].clone()).unwrap();
    let online: Vec<f64> = serde_json::from_value(ts["workload.online_users"].clone()).unwrap();
    // The prediction, by Euler steps of one second from the share of hour 0 at time 0.
    let odds = |p: f64| p / (1.0 - p);
    let speed = |ts: f64| {
        let rho = odds(PRESENCE[((ts as u64 % 86_400) / 3600) as usize]) / odds(0.5);
        (rho.sqrt().recip(), rho.sqrt())
    };
    let mut p = PRESENCE[0];
    let mut predicted = vec![];
    let mut k = 0;
    for step in 0..=(4 * 86_400) {
        let now = step as f64;
        while k < t.len() && t[k] <= now {
            predicted.push(p);
            k += 1;
        }
        let (a, b) = speed(now);
        p += (1.0 - p) * b / m_on - p * a / m_on;
    }
    let (mut sim, mut pred, mut n) = ([0.0; 24], [0.0; 24], [0.0; 24]);
    for i in 0..t.len() {
        if t[i] <= 86_400.0 {
            continue;
        }
        let h = ((t[i] as u64 % 86_400) / 3600) as usize;
        sim[h] += (online[i] - 2.0) / 3000.0; // the two desktops are always online
        pred[h] += predicted[i];
        n[h] += 1.0;
    }
    for h in 0..24 {
        let (s, q) = (sim[h] / n[h], pred[h] / n[h]);
        // Each snapshot's share has sd at most sqrt(0.25 / 3000) = 0.009; the three days are
        // independent, so the hour's mean has sd at most 0.0053: 0.025 is over 4.5 sd.
        assert!((s - q).abs() < 0.025, "hour {h}: share online {s:.3}, predicted {q:.3}");
        // With 20-minute periods the prediction itself follows the profile closely.
        assert!((q - PRESENCE[h]).abs() < 0.12, "hour {h}: predicted {q:.3} against the profile's {}", PRESENCE[h]);
    }
    assert!(sim[3] / n[3] < 0.4 && sim[20] / n[20] > 0.8, "night {:.2}, evening {:.2}", sim[3] / n[3], sim[20] / n[20]);
}

#[test]
fn a_policy_never_changes_the_workload_drawn_with_or_without_a_profile() {
    // Every feedback path on (declines, BYEs, replies, IMDNs, ungraceful exits, overload in
    // storm): what happens to the messages differs between policies, the workload may not, and
    // neither may the demand on the stores; from empty stores or from a steady-state start.
    let profile = [
        format!("groups.daily_profile={}", json_list(&TRAFFIC)),
        format!("population[0].presence_profile={}", json_list(&PRESENCE)),
        "population[0].utc_offset_h=2".into(),
    ];
    let policies = [
        r#"policy.retry={"kind":"none"}"#,
        r#"policy.retry={"kind":"fixed","interval":"20s","max_attempts":10}"#,
        r#"policy.store={"per_session":3,"overflow":"drop_newest","ttl":"10m"}"#,
    ];
    let cases: [(&str, &[&str], &[u64]); 2] =
        [("models/tiny.json", &[], &[1, 2, 3, 11]), ("models/storm.json", &["horizon=4h"], &[1])];
    for (file, base, seeds) in cases {
        for (with_profile, start) in
            [(false, "empty"), (true, "empty"), (false, "steady_state"), (true, "steady_state")]
        {
            let mut sets: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            sets.push(format!("start={start}"));
            if with_profile {
                sets.extend(profile.iter().cloned());
            }
            for &seed in seeds {
                let reference = run(&load(file, &sets), seed);
                let workload = |doc: &Value| -> Vec<(String, Value)> {
                    doc["metrics"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, _)| k.starts_with("workload."))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                let mut moved = false;
                for p in policies {
                    let doc = run(&load(file, &[sets.clone(), vec![p.to_string()]].concat()), seed);
                    assert_eq!(
                        workload(&doc),
                        workload(&reference),
                        "{file} seed {seed} profile {with_profile} {start}: {p}"
                    );
                    moved |= doc["metrics"]["deferred.delivered"] != reference["metrics"]["deferred.delivered"];
                }
                assert!(moved, "{file} seed {seed}: no policy changed what happened (the test would prove nothing)");
            }
        }
    }
}

#[test]
fn national_day_has_its_busy_hour_in_the_evening_and_it_loads_the_pf_more_than_the_day() {
    // models/national-day.json at a tenth of its size: the README's busy-hour study rests on
    // the busy hour being the evening peak of the profile and on the PF being busier then than
    // on average. At this size an hour of day holds about 1,000 to 3,000 messages over the two
    // days, so Poisson noise (a few percent) cannot move the peak away from 19:00-22:00.
    let sets: Vec<String> = ["population[0].users=900", "population[1].users=100", "groups.count=200"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let doc = run(&load("models/national-day.json", &sets), 4);
    let metric = |k: &str| doc["metrics"][k].as_f64().unwrap_or_else(|| panic!("no metric {k}"));
    let hour = metric("busy_hour.hour_of_day");
    assert!((19.0..=22.0).contains(&hour), "busy hour {hour}");
    let (busy, day) = (metric("busy_hour.servers.pf1.utilisation"), metric("servers.pf1.utilisation"));
    assert!(busy > 1.2 * day, "PF utilisation {busy} in the busy hour against {day} over the day");
    // Hour by hour (mean over the days the window holds that hour), the evening carries about
    // 2.5 times the traffic of the small hours, as the profile says: at least twice.
    let hourly = &doc["hourly"];
    let by_hour = |h: f64| -> f64 {
        let hod = hourly["hour_of_day"].as_array().unwrap();
        let msgs = hourly["workload.messages"].as_array().unwrap();
        let v: Vec<f64> =
            hod.iter().zip(msgs).filter(|(x, _)| x.as_f64() == Some(h)).map(|(_, m)| m.as_f64().unwrap()).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(by_hour(21.0) > 2.0 * by_hour(4.0), "21:00 {} against 04:00 {}", by_hour(21.0), by_hour(4.0));
}
