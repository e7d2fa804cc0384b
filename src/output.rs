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
