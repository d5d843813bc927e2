//! `--pid-file PATH`: the serving process's pid, written whole (a temporary
//! file renamed over it, so a reader never sees half a number) and removed
//! at exit only by the process it names (after an upgrade it names the new
//! one).

use std::path::{Path, PathBuf};

/// The pid file this process wrote.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `path` (replacing what is there).
    pub(crate) fn write(path: &Path) -> std::io::Result<PidFile> {
        let pid = std::process::id();
        let tmp = path.with_extension(format!("tmp.{pid}"));
        std::fs::write(&tmp, format!("{pid}\n"))?;
        std::fs::rename(&tmp, path)?;
        Ok(PidFile { path: path.to_owned() })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
