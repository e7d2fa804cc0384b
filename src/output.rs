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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Writes pretty JSON atomically.
pub fn write_json(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    write_atomic(path, s.as_bytes())
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
