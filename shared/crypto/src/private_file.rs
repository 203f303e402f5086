//! Reading secret files (keys, signing secrets, Vault credentials) only when other users cannot
//! get at them: the one check every secret file of the suite passes through.

use std::path::Path;

/// Why a secret file was not read. Names the file and its mode, never its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateFileError {
    /// The file could not be read at all.
    Unreadable { path: String, reason: String },
    /// Its mode grants one of the forbidden permission bits.
    TooOpen { path: String, mode: u32 },
}

/// Reads `path`, refusing it when its mode has any of the `forbidden` bits (`0o077`: group or
/// others may access it; `0o007`: others may).
pub fn read_private(path: &Path, forbidden: u32) -> Result<Vec<u8>, PrivateFileError> {
    let unreadable = |e: std::io::Error| PrivateFileError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & forbidden != 0 {
            return Err(PrivateFileError::TooOpen {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (meta, forbidden);
    std::fs::read(path).map_err(unreadable)
}
