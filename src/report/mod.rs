//! `report.html`: one overview page of a sweep, plan or run directory, that a planner opens in a
//! browser: the answer first (the main metrics with their intervals), then every chart of
//! `charts/`, the comparison, and the model that ran, with links to the files that hold the
//! rest. The page is self-contained (inline CSS, a few lines of inline script) and fetches
//! nothing from the network: its Content-Security-Policy allows only images of its own
//! directory, so even a stray external address would be blocked, not fetched. The markup is
//! also well-formed XML, so that tools (and tests) can read it.

mod page;
mod plan;
mod run;
mod sweep;

pub use page::{escape, fmt_value};

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The file name of the overview page in a result directory.
pub const FILE: &str = "report.html";

/// Writes `dir/report.html` for a sweep (manifest.json of an experiment), a plan (plan.json) or
/// a run (results.json) directory, atomically. Returns its path.
pub fn write(dir: &Path) -> Result<PathBuf, String> {
    let manifest = dir.join("manifest.json");
    let manifest = if manifest.exists() { Some(read(&manifest)?) } else { None };
    let html = if manifest.as_ref().is_some_and(|m| m.get("plan").is_some()) && dir.join("plan.json").exists() {
        plan::page(dir)?
    } else if manifest.as_ref().is_some_and(|m| m.get("experiment").is_some()) {
        sweep::page(dir)?
    } else if dir.join("results.json").exists() {
        run::page(dir)?
    } else {
        return Err(format!(
            "{}: neither a sweep (manifest.json), a plan (plan.json) nor a run (results.json) directory",
            dir.display()
        ));
    };
    let path = dir.join(FILE);
    crate::output::write_atomic(&path, html.as_bytes())
        .map_err(|e| format!("{}: cannot write: {}", path.display(), crate::output::io_reason(&e)))?;
    Ok(path)
}

fn read(p: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("{}: cannot read: {}", p.display(), crate::output::io_reason(&e)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", p.display()))
}

/// When a file was last written, as `2026-12-04 22:18 UTC` (None if the system cannot say).
fn written_at(p: &Path) -> Option<String> {
    let t = std::fs::metadata(p).ok()?.modified().ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Some(format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_dates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"").unwrap();
        let when = written_at(&f).unwrap();
        assert!(when.ends_with(" UTC") && when.len() == 20, "{when}");
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        // 2024-02-29 12:34:56 UTC: a leap day.
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096)).unwrap();
        assert_eq!(written_at(&f).unwrap(), "2024-02-29 12:34 UTC");
    }
}
