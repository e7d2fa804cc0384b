//! Units of the model file: durations (`"500ms"`, `"2h"`), sizes (`"300B"`, `"2KiB"`) and
//! rates (`"6/h"`). Virtual time is an integer count of microsecond ticks, so every duration
//! is converted once, at load time, and never touches floating point in the event queue.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Ticks per unit of virtual time. One tick is one microsecond.
pub const US: u64 = 1;
pub const MS: u64 = 1_000;
pub const SEC: u64 = 1_000_000;
pub const MIN: u64 = 60 * SEC;
pub const HOUR: u64 = 60 * MIN;
pub const DAY: u64 = 24 * HOUR;

/// `v.round() as u64`, exactly (half away from zero; negative and NaN give 0, beyond `u64`
/// saturates), without the call to the C library's `round` that the baseline x86-64
/// instruction set needs: every sampled latency, service time and gap goes through it.
#[inline]
pub fn round_u64(v: f64) -> u64 {
    // From 2^52 on every f64 is a whole number.
    if v >= (1u64 << 52) as f64 {
        return v as u64;
    }
    let whole = v as u64; // truncates; 0 for negative and NaN
    // Exact: `whole` <= v < `whole` + 1 < 2^52, so the difference is representable.
    if v - whole as f64 >= 0.5 { whole + 1 } else { whole }
}

const DURATION_UNITS: [(&str, u64); 7] =
    [("us", US), ("µs", US), ("ms", MS), ("s", SEC), ("m", MIN), ("h", HOUR), ("d", DAY)];

/// A non-negative span of virtual time, in ticks (µs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Duration {
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / SEC as f64
    }
}

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == 'E' || *c == '-' || *c == '+'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    // `e` may start a unit name in other grammars; none of ours does, so it is part of the number.
    let (num, unit) = s.split_at(end);
    let v: f64 = num.parse().ok()?;
    Some((v, unit.trim()))
}

/// Parses `"500ms"`, `"32s"`, `"30m"`, `"2h"`, `"7d"`, `"1.5h"`, `"250us"`, and sums of
/// them written together, largest unit first: `"1h30m"`, `"2d12h"`, `"1m30.5s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let expected =
        || format!("expected a duration like \"500ms\", \"30s\", \"30m\", \"2h\", \"7d\" or \"1h30m\", got \"{s}\"");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(expected());
    }
    let (mut ticks, mut last_unit) = (0.0f64, u64::MAX);
    while !rest.is_empty() {
        let unit_at = rest.find(|c: char| c.is_alphabetic()).ok_or_else(expected)?;
        let unit_end = rest[unit_at..].find(|c: char| !c.is_alphabetic()).map_or(rest.len(), |i| unit_at + i);
        let (v, unit) = split_number(&rest[..unit_end]).ok_or_else(expected)?;
        let mult = DURATION_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, m)| *m).ok_or_else(expected)?;
        if !v.is_finite() {
            return Err(expected());
        }
        if v < 0.0 {
            return Err(format!("a duration cannot be negative, got \"{s}\""));
        }
        if mult >= last_unit {
            return Err(format!("{}: write the largest unit first, each once", expected()));
        }
        last_unit = mult;
        ticks += v * mult as f64;
        rest = rest[unit_end..].trim_start();
    }
    if ticks > 1e17 {
        return Err(format!("duration \"{s}\" is too long"));
    }
    Ok(Duration(ticks.round() as u64))
}

/// Renders a duration in the largest unit that represents it exactly: `1800000000` → `"30m"`.
pub fn format_duration(d: Duration) -> String {
    let t = d.0;
    if t == 0 {
        return "0s".into();
    }
    for (name, mult) in [("d", DAY), ("h", HOUR), ("m", MIN), ("s", SEC), ("ms", MS)] {
        if t.is_multiple_of(mult) {
            return format!("{}{}", t / mult, name);
        }
    }
    format!("{t}us")
}

/// A duration in whole units, largest first, as `parse_duration` reads it back: `19200` s →
/// `"5h20m"`, `9000` → `"2h30m"`, `90.5` → `"1m30.5s"`.
pub fn format_duration_parts(secs: f64) -> String {
    if !secs.is_finite() || secs <= 0.0 {
        return "0s".into();
    }
    let mut rest = secs;
    let mut out = String::new();
    for (unit, size) in [("d", 86400.0), ("h", 3600.0), ("m", 60.0)] {
        let n = (rest / size + 1e-9).floor();
        if n >= 1.0 {
            out.push_str(&format!("{n:.0}{unit}"));
            rest -= n * size;
        }
    }
    if rest > 1e-6 {
        out.push_str(&trimmed(rest, 3));
        out.push('s');
    }
    out
}

/// Human rendering for reports and chart ticks: `90s` → `"1.5m"`, rounding to 3 significant digits.
pub fn format_duration_short(secs: f64) -> String {
    let a = secs.abs();
    let (v, u) = if a >= 86400.0 {
        (secs / 86400.0, "d")
    } else if a >= 3600.0 {
        (secs / 3600.0, "h")
    } else if a >= 60.0 {
        (secs / 60.0, "m")
    } else if a >= 1.0 || a == 0.0 {
        (secs, "s")
    } else if a >= 1e-3 {
        (secs * 1e3, "ms")
    } else {
        (secs * 1e6, "us")
    };
    let s = if (v - v.round()).abs() < 1e-9 { format!("{}", v.round() as i64) } else { three_significant(v) };
    format!("{s}{u}")
}

/// `v` with three significant digits at most (for values under 1000 of their unit), trailing
/// zeros dropped: `1.94`, `19.4`, `194`, `1.5`.
fn three_significant(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else {
        2
    };
    trimmed(v, decimals)
}

/// `v` with `decimals` decimals, then without trailing zeros (and without a bare decimal point):
/// 2.50 reads 2.5, 3.00 reads 3, 100 stays 100.
pub fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(*self))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*self))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string like \"500ms\", \"30s\", \"30m\", \"2h\" or \"7d\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

const SIZE_UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1_000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
];

/// Parses `"300B"`, `"2KiB"`, `"1MiB"`, `"1.5KB"`.
pub fn parse_size(s: &str) -> Result<Size, String> {
    let expected = || format!("expected a size like \"300B\", \"2KiB\" or \"1MiB\", got \"{s}\"");
    let (v, unit) = split_number(s).ok_or_else(expected)?;
    let mult = SIZE_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, m)| *m).ok_or_else(expected)?;
    if !v.is_finite() {
        return Err(expected());
    }
    if v < 0.0 {
        return Err(format!("a size cannot be negative, got \"{s}\""));
    }
    Ok(Size((v * mult as f64).round() as u64))
}

pub fn format_size(b: Size) -> String {
    let v = b.0;
    if v != 0 {
        for (name, mult) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if v.is_multiple_of(mult) {
                return format!("{}{}", v / mult, name);
            }
        }
    }
    format!("{v}B")
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*self))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size string like \"300B\", \"2KiB\" or \"1MiB\", or a number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size).map_err(|_| E::custom(format!("a size cannot be negative, got {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An event rate, stored as events per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(pub f64);

/// Parses `"6/h"`, `"0.5/s"`, `"10/m"`, `"2/d"`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let expected = || format!("expected a rate like \"6/h\", \"10/m\" or \"0.5/s\", got \"{s}\"");
    let (num, unit) = s.split_once('/').ok_or_else(expected)?;
    let v: f64 = num.trim().parse().map_err(|_| expected())?;
    let per = match unit.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(expected()),
    };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("a rate must be a non-negative number, got \"{s}\""));
    }
    Ok(Rate(v / per))
}

impl Rate {
    pub fn per_hour(self) -> f64 {
        self.0 * 3600.0
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.per_hour();
        let txt = if (h - h.round()).abs() < 1e-9 { format!("{}/h", h.round()) } else { format!("{}/s", self.0) };
        s.serialize_str(&txt)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rate(&s).map_err(serde::de::Error::custom)
    }
}

/// A size for people, in binary units with three significant digits at most, trailing zeros
/// dropped: `512 B`, `1.5 KiB`, `740 MiB`, `1.94 GiB`. Every report, chart label and estimate
/// writes sizes this way.
pub fn format_bytes(v: f64) -> String {
    let (mut x, mut unit) = (v, "B");
    for u in ["KiB", "MiB", "GiB", "TiB"] {
        if x.abs() < 1024.0 {
            break;
        }
        x /= 1024.0;
        unit = u;
    }
    format!("{} {unit}", three_significant(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_u64_is_rounding_then_casting() {
        let mut cases = vec![0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -0.49, -1.5, 1e-300, f64::NAN, f64::INFINITY];
        cases.extend([f64::NEG_INFINITY, f64::MAX, 1e19, 2e19, u64::MAX as f64]);
        // Each half and its neighbours, where rounding turns, at every magnitude up to 2^54.
        for e in 0..55 {
            for base in [(1u64 << e) as f64, (1u64 << e) as f64 * 1.5] {
                for h in [base - 0.5, base, base + 0.5] {
                    cases.extend([h, h.next_down(), h.next_up()]);
                }
            }
        }
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random bit patterns of finite positive values below 2^60.
            let v = f64::from_bits(x >> 2);
            if v.is_finite() && v < 1e18 {
                cases.push(v);
            }
            cases.push((x >> 11) as f64 / 1024.0);
        }
        for v in cases {
            assert_eq!(round_u64(v), v.round() as u64, "{v:e}");
        }
    }

    #[test]
    fn durations_parse_to_microsecond_ticks() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration(500_000));
        assert_eq!(parse_duration("32s").unwrap(), Duration(32 * SEC));
        assert_eq!(parse_duration("30m").unwrap(), Duration(30 * MIN));
        assert_eq!(parse_duration("2h").unwrap(), Duration(2 * HOUR));
        assert_eq!(parse_duration("7d").unwrap(), Duration(7 * DAY));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration(90 * MIN));
        assert!(parse_duration("-3s").unwrap_err().contains("negative"));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn durations_print_in_parts_that_parse_back() {
        assert_eq!(format_duration_parts(19200.0), "5h20m");
        assert_eq!(format_duration_parts(9000.0), "2h30m");
        assert_eq!(format_duration_parts(90.5), "1m30.5s");
        assert_eq!(format_duration_parts(86400.0 + 7200.0), "1d2h");
        for s in [19200.0, 9000.0, 90.5, 93600.0] {
            assert_eq!(parse_duration(&format_duration_parts(s)).unwrap().secs_f64(), s);
        }
    }

    #[test]
    fn compound_durations_add_up_largest_unit_first() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration(90 * MIN));
        assert_eq!(parse_duration("2d12h").unwrap(), Duration(60 * HOUR));
        assert_eq!(parse_duration("1m30.5s").unwrap(), Duration(90 * SEC + 500 * MS));
        assert_eq!(parse_duration("1h 5m").unwrap(), Duration(65 * MIN));
        assert!(parse_duration("30m1h").unwrap_err().contains("largest unit first"));
        assert!(parse_duration("1h1h").is_err());
        assert!(parse_duration("1h30").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn durations_round_trip_through_text() {
        for s in ["0s", "500ms", "32s", "30m", "2h", "7d", "250us"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_duration_short(90.0), "1.5m");
        assert_eq!(format_duration_short(7200.0), "2h");
        assert_eq!(format_duration_short(0.25), "250ms");
    }

    #[test]
    fn sizes_and_rates_parse() {
        assert_eq!(parse_size("300B").unwrap(), Size(300));
        assert_eq!(parse_size("2KiB").unwrap(), Size(2048));
        assert_eq!(parse_size("1MiB").unwrap(), Size(1 << 20));
        assert!(parse_size("2 furlongs").is_err());
        assert!((parse_rate("6/h").unwrap().0 - 6.0 / 3600.0).abs() < 1e-15);
        assert!(parse_rate("6 per hour").is_err());
    }

    #[test]
    fn sizes_read_with_three_significant_digits_at_most() {
        let cases = [
            (0.0, "0 B"),
            (512.0, "512 B"),
            (1536.0, "1.5 KiB"),
            (2048.0, "2 KiB"),
            (740.0 * 1048576.0, "740 MiB"),
            (19.44 * 1048576.0, "19.4 MiB"),
            (1.944 * 1073741824.0, "1.94 GiB"),
            (118.4 * 1073741824.0, "118 GiB"),
            (2.5 * 1099511627776.0, "2.5 TiB"),
            (-3072.0, "-3 KiB"),
        ];
        for (v, s) in cases {
            assert_eq!(format_bytes(v), s, "{v}");
        }
    }
}
