//! Where the built service binaries are, and running them once for CLI tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The service binaries a full cluster runs.
pub const SERVICE_BINARIES: [&str; 5] = ["zero", "alpha", "auth", "backup-worker", "gateway"];

/// The directory of the running executable: benchmarks run the service binaries built beside
/// them (a release benchmark with release services).
pub fn current_exe_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("{} has no parent directory", exe.display()))
}

/// The directory holding the built binaries: `$LODESTAR_BIN_DIR` when set, else
/// `$CARGO_TARGET_DIR/debug`, else `<workspace>/target/debug`.
pub fn bin_dir() -> PathBuf {
    bin_dir_from(
        std::env::var_os("LODESTAR_BIN_DIR"),
        std::env::var_os("CARGO_TARGET_DIR"),
        &workspace_root(),
    )
}

/// The workspace root: this crate lives in `<workspace>/shared/harness`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// [`bin_dir`] from explicit inputs: the override, `CARGO_TARGET_DIR`, and the workspace root.
/// Relative paths are taken from the workspace root.
pub fn bin_dir_from(
    bin_dir: Option<OsString>,
    cargo_target_dir: Option<OsString>,
    workspace: &Path,
) -> PathBuf {
    let absolute = |p: OsString| {
        let p = PathBuf::from(p);
        if p.is_relative() {
            workspace.join(p)
        } else {
            p
        }
    };
    if let Some(dir) = bin_dir.filter(|d| !d.is_empty()) {
        return absolute(dir);
    }
    let target = cargo_target_dir
        .filter(|d| !d.is_empty())
        .map(absolute)
        .unwrap_or_else(|| workspace.join("target"));
    target.join("debug")
}

/// The path of binary `name` in `dir`, or an error that says how to build it.
pub fn bin_path_in(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        anyhow::bail!(
            "the `{name}` binary is missing: {} does not exist; run `cargo build --workspace` first",
            path.display()
        )
    }
}

/// The path of binary `name` in [`bin_dir`]. Panics, saying how to build it, when it is missing.
pub fn bin_path(name: &str) -> PathBuf {
    match bin_path_in(&bin_dir(), name) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// A command for binary `name`, for tests that need to set env or stdin themselves.
pub fn bin_command(name: &str) -> Command {
    let mut cmd = Command::new(bin_path(name));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs binary `name` with `args` to completion and returns its status and output, for CLI tests
/// such as `zero license issue ...`.
pub fn run_bin<I, S>(name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = bin_command(name);
    cmd.args(args).stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run the `{name}` binary: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE: &str = "/ws";

    #[test]
    fn defaults_to_the_workspace_target_debug() {
        assert_eq!(
            bin_dir_from(None, None, Path::new(WORKSPACE)),
            PathBuf::from("/ws/target/debug")
        );
    }

    #[test]
    fn cargo_target_dir_wins_over_the_workspace() {
        assert_eq!(
            bin_dir_from(None, Some("/cache/tgt".into()), Path::new(WORKSPACE)),
            PathBuf::from("/cache/tgt/debug")
        );
        assert_eq!(
            bin_dir_from(None, Some("tgt".into()), Path::new(WORKSPACE)),
            PathBuf::from("/ws/tgt/debug"),
            "a relative CARGO_TARGET_DIR is taken from the workspace root"
        );
        assert_eq!(
            bin_dir_from(None, Some("".into()), Path::new(WORKSPACE)),
            PathBuf::from("/ws/target/debug"),
            "an empty CARGO_TARGET_DIR is ignored"
        );
    }

    #[test]
    fn the_override_wins_over_everything() {
        assert_eq!(
            bin_dir_from(
                Some("/opt/lodestar/bin".into()),
                Some("/cache/tgt".into()),
                Path::new(WORKSPACE)
            ),
            PathBuf::from("/opt/lodestar/bin")
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let err = bin_path_in(Path::new("/nonexistent-dir"), "zero").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("run `cargo build --workspace` first"), "{msg}");
        assert!(msg.contains("/nonexistent-dir/zero"), "{msg}");
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let root = workspace_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"), "{}", root.display());
    }
}
