//! Criterion benchmarks: the pending-event set on the hold model (as `holdbench`, for the same
//! machine and session) and on a ddsim-like mix of near and far events, and whole runs of the
//! reference models in events per second. See BENCHMARKS.md for how the figures are used.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ddsim::engine::queue::{EventQueue, HeapQueue, PendingEvents};
use ddsim::model::{Model, Override};
use ddsim::sim::{RunOptions, Sim};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::path::Path;

const HOLDS: u64 = 200_000;

/// Increment of the classic hold model: exponential, mean 1 s (as holdbench).
fn exp_increment(r: &mut rand_pcg::Pcg64Mcg) -> u64 {
    (-(r.random::<f64>().ln()) * 1e6) as u64
}

/// ddsim's own mix, roughly: most events due within milliseconds (network, service), some in
/// seconds to minutes (answers, IMDN timers, MSRP deadlines), a few hours ahead (presence,
/// registration refresh, TTL).
fn mixed_increment(r: &mut rand_pcg::Pcg64Mcg) -> u64 {
    match r.random_range(0..100) {
        0..=79 => r.random_range(0..60_000),
        80..=96 => r.random_range(0..120_000_000),
        _ => r.random_range(0..86_400_000_000),
    }
}

fn hold(c: &mut Criterion) {
    for (mix, inc) in [("exp", exp_increment as fn(&mut rand_pcg::Pcg64Mcg) -> u64), ("ddsim-mix", mixed_increment)] {
        let mut g = c.benchmark_group(format!("hold/{mix}"));
        g.throughput(Throughput::Elements(HOLDS));
        g.sample_size(10);
        for n in [1_000usize, 100_000] {
            g.bench_with_input(BenchmarkId::new("two-tier", n), &n, |b, &n| {
                let mut r = rand_pcg::Pcg64Mcg::seed_from_u64(1);
                let mut q = EventQueue::new();
                for i in 0..n {
                    q.push(inc(&mut r), i as u32);
                }
                b.iter(|| {
                    for _ in 0..HOLDS {
                        let (t, p) = q.pop().unwrap();
                        q.push(t + inc(&mut r), black_box(p));
                    }
                })
            });
            g.bench_with_input(BenchmarkId::new("binary-heap", n), &n, |b, &n| {
                let mut r = rand_pcg::Pcg64Mcg::seed_from_u64(1);
                let mut q = HeapQueue::default();
                for i in 0..n {
                    q.push(inc(&mut r), i as u32);
                }
                b.iter(|| {
                    for _ in 0..HOLDS {
                        let (t, p) = q.pop().unwrap();
                        q.push(t + inc(&mut r), black_box(p));
                    }
                })
            });
        }
        g.finish();
    }
}

fn model(file: &str, sets: &[&str]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new(file), &o).unwrap()
}

fn runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    for (name, m) in [
        ("tiny", model("models/tiny.json", &[])),
        ("baseline-2h", model("models/baseline.json", &["horizon=2h", "warmup=0s"])),
    ] {
        let events = Sim::new(&m, m.seed, RunOptions::default()).run().unwrap().metrics["run.events"].as_u64().unwrap();
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| black_box(Sim::new(&m, m.seed, RunOptions::default()).run().unwrap())));
    }
    g.finish();
}

criterion_group!(benches, hold, runs);
criterion_main!(benches);
