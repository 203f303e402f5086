//! What the suite's tests share that is not part of any product crate: real peers to test
//! against (SeaweedFS for S3 and MinIO, fake-gcs-server for GCS), command-line tools to
//! compare with (openssl, gunzip), hosts of their own in network namespaces (partitions), and
//! one rule for when a peer is missing.
//!
//! **The rule.** Under the project's test script (`LODESTAR_REQUIRE_PEERS=1`, which
//! `integration-tests/run-tests.sh` sets after installing the peers) or any CI (`CI=true`), a
//! missing peer FAILS the test that needs it, naming what is missing and how to install it.
//! Only a bare `cargo test` on a developer's machine without the peers skips such a test, and
//! says so on stderr.

pub mod fakegcs;
pub mod netns;
pub mod seaweed;

use std::path::PathBuf;
use std::process::Command;

/// Whether a missing peer fails the test (the project's test script, or CI) or skips it.
pub fn peers_required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
            .unwrap_or(false)
    };
    set("LODESTAR_REQUIRE_PEERS") || set("CI")
}

/// A peer is missing: panics when peers are required ([`peers_required`]), else says on stderr
/// that the test is skipped. Returns `None` for the caller to return on.
#[track_caller]
pub fn missing<T>(peer: &str, why: &str) -> Option<T> {
    missing_when(peers_required(), peer, why)
}

#[track_caller]
fn missing_when<T>(required: bool, peer: &str, why: &str) -> Option<T> {
    if required {
        panic!(
            "{peer} is required by this test and is missing: {why} (LODESTAR_REQUIRE_PEERS or CI is set, so a missing peer fails instead of skipping)"
        );
    }
    eprintln!("skipped: {peer} is missing: {why}");
    None
}

/// The command-line tool `name` if it runs (`name --version` starts), else [`missing`].
#[track_caller]
pub fn tool(name: &str) -> Option<PathBuf> {
    // Only whether it starts matters, not the exit status of this probe.
    match Command::new(name).arg("--version").output() {
        Ok(_) => Some(PathBuf::from(name)),
        Err(e) => missing(
            &format!("`{name}`"),
            &format!("it does not start ({e}); install it (Debian's package of that name)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_that_exists_is_found() {
        assert!(tool("sh").is_some());
    }

    /// With peers required, a missing peer is a failure, never a quiet pass.
    #[test]
    fn a_missing_peer_fails_when_peers_are_required_and_skips_otherwise() {
        assert!(missing_when::<()>(false, "weed", "not installed").is_none());
        let outcome =
            std::panic::catch_unwind(|| missing_when::<()>(true, "weed", "not installed"));
        let message = *outcome.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.contains("weed is required") && message.contains("not installed"),
            "{message}"
        );
    }

    /// The test script runs this crate's tests with peers required.
    #[test]
    fn a_missing_tool_is_a_missing_peer() {
        let outcome = std::panic::catch_unwind(|| tool("lodestar-no-such-tool"));
        match outcome {
            Ok(found) => assert!(!peers_required() && found.is_none()),
            Err(panic) => {
                assert!(peers_required());
                let message = *panic.downcast::<String>().unwrap();
                assert!(message.contains("lodestar-no-such-tool"), "{message}");
            }
        }
    }
}
