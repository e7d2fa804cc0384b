//! Criterion benchmarks: the pending-event set on the hold model (as `holdbench`, for the same
//! machine and session) and on a ddsim-like mix of near and far events, and whole runs of the
//! reference models in events per second. See BENCHMARKS.md for how the figures are used.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ddsim::engine::queue::{EventQueue, HeapQueue, PendingEvents, QuaternaryHeapQueue, TwoHeapQueue};
use ddsim::model::{Model, Override};
use ddsim::sim::{Event, RunOptions, Sim};
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

/// Holds on one pending-event set: pop the earliest, push one `inc` later.
fn bench_hold<Q: PendingEvents<u32>>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    inc: fn(&mut rand_pcg::Pcg64Mcg) -> u64,
) {
    g.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
        let mut r = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let mut q = Q::default();
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

fn hold(c: &mut Criterion) {
    for (mix, inc) in [("exp", exp_increment as fn(&mut rand_pcg::Pcg64Mcg) -> u64), ("ddsim-mix", mixed_increment)] {
        let mut g = c.benchmark_group(format!("hold/{mix}"));
        g.throughput(Throughput::Elements(HOLDS));
        g.sample_size(10);
        for n in [1_000usize, 100_000, 1_000_000] {
            bench_hold::<EventQueue<u32>>(&mut g, "calendar", n, inc);
            bench_hold::<HeapQueue<u32>>(&mut g, "binary-heap", n, inc);
            bench_hold::<QuaternaryHeapQueue<u32>>(&mut g, "4-ary-heap", n, inc);
            bench_hold::<TwoHeapQueue<u32>>(&mut g, "two-heaps", n, inc);
        }
        g.finish();
    }
}

fn model(file: &str, sets: &[&str]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new(file), &o).unwrap()
}

/// One whole run of `m` with pending-event set `Q`: the figure that decides which set ddsim
/// uses, since it is measured on ddsim's own event stream.
fn bench_run<Q: PendingEvents<Event>>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    model: &str,
    queue: &str,
    m: &Model,
) {
    g.bench_function(BenchmarkId::new(model, queue), |b| {
        b.iter(|| black_box(Sim::<Q>::with_queue(m, m.seed, RunOptions::default()).run().unwrap()))
    });
}

fn runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    for (name, m) in [
        ("tiny", model("models/tiny.json", &[])),
        ("baseline-2h", model("models/baseline.json", &["horizon=2h", "warmup=0s"])),
        // A tenth of scale-1m for ten minutes: its pending-event set is large (about 300k).
        (
            "scale-100k-10m",
            model(
                "models/scale-1m.json",
                &[
                    "population[0].users=90000",
                    "population[1].users=10000",
                    "groups.count=20000",
                    "horizon=10m",
                    "warmup=0s",
                ],
            ),
        ),
    ] {
        let events = Sim::new(&m, m.seed, RunOptions::default()).run().unwrap().metrics["run.events"].as_u64().unwrap();
        g.throughput(Throughput::Elements(events));
        bench_run::<EventQueue<Event>>(&mut g, name, "calendar", &m);
        bench_run::<HeapQueue<Event>>(&mut g, name, "binary-heap", &m);
        bench_run::<QuaternaryHeapQueue<Event>>(&mut g, name, "4-ary-heap", &m);
        bench_run::<TwoHeapQueue<Event>>(&mut g, name, "two-heaps", &m);
    }
    g.finish();
}

// No plots: criterion's plotters backend looks for system fonts, which ddsim does not need.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = hold, runs
}
criterion_main!(benches);
