//! Probability distributions of the model file, typed by what they measure: a `Dist<Duration>`
//! takes `"30m"`, a `Dist<Size>` takes `"300B"`, a `Dist<Count>` takes plain numbers.
//! A spec is compiled once into a `Sampler` working in base units (ticks, bytes, counts).

use crate::units::{Duration, Size};
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Weibull};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A quantity a distribution can be written in.
pub trait Quantity: Copy + Serialize + DeserializeOwned + std::fmt::Debug {
    fn to_f64(self) -> f64;
}
impl Quantity for Duration {
    fn to_f64(self) -> f64 {
        self.0 as f64
    }
}
impl Quantity for Size {
    fn to_f64(self) -> f64 {
        self.0 as f64
    }
}
/// A plain count (group members, ...).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Count(pub f64);
impl Quantity for Count {
    fn to_f64(self) -> f64 {
        self.0
    }
}

/// The distribution as written in a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields, bound = "Q: Quantity")]
pub enum Dist<Q> {
    /// Exponential with the given mean.
    Exp { mean: Q },
    /// Log-normal with the given median (e^mu) and shape sigma.
    Lognormal { median: Q, sigma: f64 },
    /// Uniform on [min, max].
    Uniform { min: Q, max: Q },
    /// Always `value`.
    Const { value: Q },
    /// Weibull with scale and shape.
    Weibull { scale: Q, shape: f64 },
    /// Each listed point equally likely (an empirical distribution of observed values).
    Empirical { points: Vec<Q> },
}

/// A compiled distribution, in base units.
#[derive(Clone, Debug)]
pub enum Sampler {
    Exp(Exp<f64>, f64),
    /// The distribution, its mean and exp(sigma^2) (the length-biased shift).
    LogNormal(LogNormal<f64>, f64, f64),
    Uniform(f64, f64),
    Const(f64),
    /// The distribution, its scale and its shape.
    Weibull(Weibull<f64>, f64, f64),
    Empirical(Vec<f64>),
}

impl<Q: Quantity> Dist<Q> {
    /// Checks the parameters and builds the sampler. The error names the offending parameter.
    pub fn compile(&self) -> Result<Sampler, String> {
        let pos = |name: &str, v: f64| -> Result<f64, String> {
            if v.is_finite() && v > 0.0 { Ok(v) } else { Err(format!("`{name}` must be positive")) }
        };
        let nonneg = |name: &str, v: f64| -> Result<f64, String> {
            if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(format!("`{name}` must not be negative")) }
        };
        Ok(match self {
            Dist::Exp { mean } => {
                let m = pos("mean", mean.to_f64())?;
                Sampler::Exp(Exp::new(1.0 / m).map_err(|e| e.to_string())?, m)
            }
            Dist::Lognormal { median, sigma } => {
                let m = pos("median", median.to_f64())?;
                let s = nonneg("sigma", *sigma)?;
                Sampler::LogNormal(
                    LogNormal::new(m.ln(), s).map_err(|e| e.to_string())?,
                    m * (s * s / 2.0).exp(),
                    (s * s).exp(),
                )
            }
            Dist::Uniform { min, max } => {
                let lo = nonneg("min", min.to_f64())?;
                let hi = nonneg("max", max.to_f64())?;
                if hi < lo {
                    return Err("`max` must not be less than `min`".into());
                }
                Sampler::Uniform(lo, hi)
            }
            Dist::Const { value } => Sampler::Const(nonneg("value", value.to_f64())?),
            Dist::Weibull { scale, shape } => {
                let sc = pos("scale", scale.to_f64())?;
                let sh = pos("shape", *shape)?;
                Sampler::Weibull(Weibull::new(sc, sh).map_err(|e| e.to_string())?, sc, sh)
            }
            Dist::Empirical { points } => {
                if points.is_empty() {
                    return Err("`points` must not be empty".into());
                }
                let mut v = Vec::with_capacity(points.len());
                for p in points {
                    v.push(nonneg("points", p.to_f64())?);
                }
                Sampler::Empirical(v)
            }
        })
    }
}

impl Sampler {
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Sampler::Exp(d, _) => d.sample(rng),
            Sampler::LogNormal(d, ..) => d.sample(rng),
            Sampler::Uniform(lo, hi) => {
                if hi > lo {
                    rng.random_range(*lo..=*hi)
                } else {
                    *lo
                }
            }
            Sampler::Const(v) => *v,
            Sampler::Weibull(d, ..) => d.sample(rng),
            Sampler::Empirical(points) => points[rng.random_range(0..points.len())],
        }
    }

    /// A draw from the length-biased distribution, density x·f(x)/E[X]: the length of the
    /// period in progress at a time chosen independently of the process (renewal theory's
    /// inspection paradox). Its age is a uniform fraction of it. Closed forms: exponential
    /// gives Gamma(2, mean), log-normal shifts mu by sigma^2, Weibull(k) gives
    /// scale·Gamma(1 + 1/k)^(1/k), uniform inverts its cdf, an empirical list picks a point
    /// in proportion to its value.
    pub fn sample_length_biased<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Sampler::Exp(d, _) => d.sample(rng) + d.sample(rng),
            Sampler::LogNormal(d, _, shift) => d.sample(rng) * shift,
            Sampler::Uniform(lo, hi) => {
                let u: f64 = rng.random();
                (lo * lo + u * (hi * hi - lo * lo)).sqrt()
            }
            Sampler::Const(v) => *v,
            Sampler::Weibull(_, scale, shape) => {
                let g = rand_distr::Gamma::new(1.0 + 1.0 / shape, 1.0).expect("positive shape");
                scale * g.sample(rng).powf(1.0 / shape)
            }
            Sampler::Empirical(points) => {
                let total: f64 = points.iter().sum();
                if total <= 0.0 {
                    return 0.0;
                }
                let mut x = rng.random::<f64>() * total;
                for &p in points {
                    if x < p {
                        return p;
                    }
                    x -= p;
                }
                *points.iter().rev().find(|&&p| p > 0.0).expect("a positive point")
            }
        }
    }

    /// A sample rounded to whole ticks (or bytes, or members).
    #[inline]
    pub fn sample_u64<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let v = self.sample(rng);
        crate::units::round_u64(v)
    }

    /// The distribution's mean, for documentation and for tests that check sampled averages.
    pub fn mean(&self) -> f64 {
        match self {
            Sampler::Exp(_, m) => *m,
            // E[X] = median * exp(sigma^2 / 2)
            Sampler::LogNormal(_, m, _) => *m,
            Sampler::Uniform(lo, hi) => (lo + hi) / 2.0,
            Sampler::Const(v) => *v,
            // E[X] = scale * Gamma(1 + 1/shape)
            Sampler::Weibull(_, scale, shape) => scale * statrs::function::gamma::gamma(1.0 + 1.0 / shape),
            Sampler::Empirical(p) => p.iter().sum::<f64>() / p.len() as f64,
        }
    }

    /// The largest value `sample_u64` can return, or None for a distribution without an upper
    /// bound (exponential, log-normal, Weibull).
    pub fn max(&self) -> Option<u64> {
        let round = |v: f64| if v <= 0.0 { 0 } else { v.round() as u64 };
        match self {
            Sampler::Uniform(_, hi) => Some(round(*hi)),
            Sampler::Const(v) => Some(round(*v)),
            Sampler::Empirical(p) => Some(round(p.iter().copied().fold(0.0, f64::max))),
            Sampler::Exp(..) | Sampler::LogNormal(..) | Sampler::Weibull(..) => None,
        }
    }

    /// True if every sample is the same value (no randomness is consumed then).
    pub fn is_const(&self) -> bool {
        matches!(self, Sampler::Const(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{MIN, SEC};
    use rand::SeedableRng;

    fn parse(s: &str) -> Result<Dist<Duration>, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn specs_parse_with_units() {
        let d = parse(r#"{"dist":"exp","mean":"30m"}"#).unwrap();
        assert_eq!(d, Dist::Exp { mean: Duration(30 * MIN) });
        let d = parse(r#"{"dist":"uniform","min":"200ms","max":"3s"}"#).unwrap();
        assert!(matches!(d.compile().unwrap(), Sampler::Uniform(lo, hi) if lo == 200_000.0 && hi == 3.0 * SEC as f64));
        assert!(parse(r#"{"dist":"gamma","mean":"3s"}"#).unwrap_err().to_string().contains("unknown variant"));
        assert!(parse(r#"{"dist":"exp","mean":"3s","median":"2s"}"#).is_err());
        assert!(parse(r#"{"dist":"exp","mean":30}"#).is_err());
        let bad: Dist<Duration> = parse(r#"{"dist":"uniform","min":"3s","max":"1s"}"#).unwrap();
        assert!(bad.compile().unwrap_err().contains("max"));
    }

    #[test]
    fn exponential_sample_mean_within_statistical_tolerance() {
        // 20 000 draws of Exp(mean m): the standard error of the mean is m/sqrt(n) = 0.7% of m;
        // 5 standard errors is a bound that a correct sampler breaks with probability < 1e-6.
        let s = Dist::Exp { mean: Duration(10 * SEC) }.compile().unwrap();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / n as f64;
        let m = 10.0 * SEC as f64;
        assert!((mean - m).abs() < 5.0 * m / (n as f64).sqrt(), "mean {mean} vs {m}");
    }

    /// The length-biased mean is E[X^2]/E[X]. 40 000 draws of each closed form: the sample
    /// mean is within 5 standard errors (estimated from the draws) of the exact value.
    #[test]
    fn length_biased_draws_have_the_renewal_mean() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
        let dur = |s: &str| parse(s).unwrap().compile().unwrap();
        let m = MIN as f64;
        let cases = [
            // Exp(m): E[X^2]/E[X] = 2m.
            (dur(r#"{"dist":"exp","mean":"1m"}"#), 2.0 * m),
            // Log-normal(median, sigma): median·exp(3 sigma^2 / 2).
            (dur(r#"{"dist":"lognormal","median":"1m","sigma":0.5}"#), m * (1.5f64 * 0.25).exp()),
            // Uniform(a, b): (a^2 + ab + b^2) / (1.5 (a + b)).
            (dur(r#"{"dist":"uniform","min":"1m","max":"3m"}"#), m * (1.0 + 3.0 + 9.0) / (1.5 * 4.0)),
            // Weibull(scale, 2): scale·Gamma(2)/Gamma(1.5) = scale·2/sqrt(pi).
            (dur(r#"{"dist":"weibull","scale":"1m","shape":2}"#), m * 2.0 / std::f64::consts::PI.sqrt()),
            // Points 1 and 3 minutes: (1 + 9) / 4.
            (dur(r#"{"dist":"empirical","points":["1m","3m"]}"#), m * 10.0 / 4.0),
        ];
        for (s, exact) in cases {
            let n = 40_000;
            let v: Vec<f64> = (0..n).map(|_| s.sample_length_biased(&mut rng)).collect();
            let mean = v.iter().sum::<f64>() / n as f64;
            let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            assert!((mean - exact).abs() < 5.0 * sd / (n as f64).sqrt(), "{s:?}: {mean} vs {exact}");
        }
    }
}
