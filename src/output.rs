//! Writing results: output directories and atomic file writes (temp file + rename), so that an
//! interrupted run never leaves a truncated results file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A short reason for an I/O error, for one-line messages.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, synced, then renamed.
/// The temp file's name is unique (not only per process), so that processes on different
/// machines writing into one shared directory never share one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = temp_prefix(path);
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix);
    // As `File::create` would: readable by all, less what the umask takes away.
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut f = b.tempfile_in(dir)?;
    f.write_all(bytes)?;
    f.as_file().sync_all()?;
    f.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.tmp-")
}

/// A temporary entry lives for the milliseconds between its creation and its rename; one this
/// old was left by a process killed in between (SIGKILL, a node lost), and no writer, on this
/// machine or another sharing the directory, is still using it.
pub const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes from `dir` the temporary files and directories of `write_atomic` and `publish_dir`
/// last modified over `STALE_TEMP` ago. Returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('.') && name.contains(".tmp-")) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let old = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age > STALE_TEMP);
        if !old {
            continue;
        }
        let gone = if meta.is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
        removed += gone.is_ok() as usize;
    }
    removed
}

/// Removes the stale temporaries of an output directory of a sweep or plan: in it (its
/// manifest) and in its `runs/` (each run's directory).
pub fn remove_stale_output_temps(out: &Path) {
    remove_stale_temps(out);
    remove_stale_temps(&out.join("runs"));
}

/// Publishes a directory holding one file, atomically: `dir` appears complete or not at all
/// (the file is written into a temp directory beside it, which is then renamed). Returns false
/// when `dir` already held `file` (another process published it first: its copy is kept).
pub fn publish_dir(dir: &Path, file: &str, bytes: &[u8]) -> std::io::Result<bool> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new().prefix(&temp_prefix(dir)).tempdir_in(parent)?;
    {
        let mut f = std::fs::File::create(tmp.path().join(file))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    // rename(2) replaces an empty directory (left by an older version) but never a full one.
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok(true)
        }
        Err(_) if dir.join(file).is_file() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes pretty JSON atomically.
pub fn write_json(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    write_atomic(path, &json_bytes(v))
}

/// Pretty JSON with a final newline, as every JSON file is written.
pub fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s.into_bytes()
}

/// An output directory made ready before any work starts. If the run fails, `abandon` removes
/// what this call created (only if it is still empty), so a failed run leaves nothing behind.
pub struct OutDir {
    pub path: PathBuf,
    created: Vec<PathBuf>,
}

impl OutDir {
    /// Creates `dir` (and missing parents) and checks a file can be written in it.
    pub fn prepare(dir: &Path) -> Result<OutDir, String> {
        let mut created = vec![];
        let mut p = dir.to_path_buf();
        while !p.as_os_str().is_empty() && !p.exists() {
            created.push(p.clone());
            match p.parent() {
                Some(q) => p = q.to_path_buf(),
                None => break,
            }
        }
        if let Err(e) = std::fs::create_dir_all(dir) {
            return Err(format!("cannot create directory: {}", io_reason(&e)));
        }
        let probe = dir.join(format!(".ddsim-probe-{}", std::process::id()));
        let out = OutDir { path: dir.to_path_buf(), created };
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Ok(out)
            }
            Err(e) => {
                out.abandon();
                Err(format!("cannot write here: {}", io_reason(&e)))
            }
        }
    }

    /// Removes the directories `prepare` created, if they are empty.
    pub fn abandon(&self) {
        for d in &self.created {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn age(path: &Path, by: Duration) {
        let f = std::fs::File::open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    /// What a killed writer left (a temp file, a temp run directory) goes once it is old enough
    /// that no writer can still be using it; a fresh one, which a live writer may be about to
    /// rename, and every other entry stay.
    #[test]
    fn only_stale_temporaries_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let old_dir = d.path().join(".p0-r1.tmp-a1b2");
        std::fs::create_dir(&old_dir).unwrap();
        std::fs::write(old_dir.join("results.json"), b"{").unwrap();
        age(&old_dir, STALE_TEMP + Duration::from_secs(60));
        let old_file = d.path().join(".manifest.json.tmp-c3d4");
        std::fs::write(&old_file, b"{").unwrap();
        age(&old_file, STALE_TEMP + Duration::from_secs(60));
        let fresh = d.path().join(".p0-r2.tmp-e5f6");
        std::fs::create_dir(&fresh).unwrap();
        let run = d.path().join("p0-r0");
        std::fs::create_dir(&run).unwrap();
        age(&run, STALE_TEMP * 2);
        let hidden = d.path().join(".keep");
        std::fs::write(&hidden, b"").unwrap();
        age(&hidden, STALE_TEMP * 2);

        assert_eq!(remove_stale_temps(d.path()), 2);
        assert!(!old_dir.exists() && !old_file.exists());
        assert!(fresh.exists() && run.exists() && hidden.exists());
        assert_eq!(remove_stale_temps(&d.path().join("absent")), 0);
    }
}
