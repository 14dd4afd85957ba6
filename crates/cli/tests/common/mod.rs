//! Running the built `dial` in tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};

/// Runs `dial` with `args` and no stdin.
pub fn dial(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Its stdout, after checking it succeeded.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "dial failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A clean failure: exit code 2, one line on stderr naming `needle`, no panic, no output.
pub fn one_line_error(o: &Output, needle: &str) {
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("dial: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} should name {needle:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    assert!(o.stdout.is_empty());
}
