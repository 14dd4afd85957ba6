//! The guide shows what the current code computes: every figure in docs/img/figures.txt
//! and every `<!-- dial ARGS -->` block in docs/knobs.md is regenerated here and compared
//! with the committed text. `scripts/docs` refreshes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dial(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dial {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn committed_figures_are_what_the_code_draws() {
    let list = std::fs::read_to_string(root().join("docs/img/figures.txt")).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for line in list.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap();
        let fresh = dir.join(name);
        let mut args: Vec<&str> = words.collect();
        args.extend(["-o", fresh.to_str().unwrap()]);
        dial(&args);
        let committed = std::fs::read(root().join("docs/img").join(name))
            .unwrap_or_else(|e| panic!("docs/img/{name}: {e}; run scripts/docs"));
        assert!(
            std::fs::read(&fresh).unwrap() == committed,
            "docs/img/{name} is stale: run scripts/docs"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} figures listed");
    // Every figure the guide shows is in the list, so none can go stale unchecked.
    let guide = std::fs::read_to_string(root().join("docs/knobs.md")).unwrap();
    for image in guide.split("](img/").skip(1) {
        let name = image.split(')').next().unwrap();
        assert!(
            list.contains(name),
            "docs/knobs.md shows {name}, not in figures.txt"
        );
    }
}

#[test]
fn command_output_in_the_docs_is_current() {
    let mut checked = 0;
    for doc in DOCS_WITH_OUTPUT {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        checked += check_blocks(doc, &text);
    }
    assert!(checked >= 6, "only {checked} blocks found");
}

/// Pages with `<!-- dial ARGS -->` blocks (kept in step with scripts/docs).
const DOCS_WITH_OUTPUT: [&str; 2] = ["docs/knobs.md", "docs/explain-json.md"];

fn check_blocks(doc: &str, guide: &str) -> usize {
    let mut checked = 0;
    for block in guide.split("<!-- dial ").skip(1) {
        // Mentions in prose are not followed by an output block.
        let Some((args, rest)) = block.split_once(" -->") else {
            continue;
        };
        let Some(rest) = rest.strip_prefix("\n```") else {
            continue;
        };
        // Past the fence's language tag.
        let Some((_, rest)) = rest.split_once('\n') else {
            continue;
        };
        let (shown, _) = rest.split_once("```").unwrap();
        let args: Vec<&str> = args.split_whitespace().collect();
        let fresh = String::from_utf8(dial(&args)).unwrap();
        assert_eq!(
            shown,
            fresh,
            "the output of `dial {}` in {doc} is stale: run scripts/docs",
            args.join(" ")
        );
        checked += 1;
    }
    checked
}
