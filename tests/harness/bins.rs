//! Where the workspace's binaries are. They belong to other packages, so Cargo does not
//! build them for these tests (`tests/run.sh` runs `cargo build --workspace --bins`
//! first) and gives no `CARGO_BIN_EXE_*` for them: they are found beside the test
//! executable (`<target>/<profile>/deps/..`), under `CARGO_TARGET_DIR`, or under the
//! workspace's `target/`.

use std::path::PathBuf;

/// The path of the built binary `name` (`processor`, `event-rule`); panics, saying how
/// to build it, when there is none.
pub fn binary(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <target>/<profile>/deps/<test>-<hash>
        if let Some(profile_dir) = exe.parent().and_then(|deps| deps.parent()) {
            candidates.push(profile_dir.join(name));
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join(name));
    }
    candidates.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(name),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "binary `{name}` not built (looked at {candidates:?}); \
                 run `cargo build --workspace --bins` (tests/run.sh does)"
            )
        })
}

/// `target/debug/processor` (or the same beside the test executable).
pub fn processor() -> PathBuf {
    binary("processor")
}

/// `target/debug/event-rule`.
pub fn event_rule() -> PathBuf {
    binary("event-rule")
}
