//! `dial speak` as a user runs it, on the real default voice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn dial(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dial"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn speak_writes_a_seeded_wav_and_takes_report_their_spread() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-speak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.wav");
    let (ok, out, err) = dial(&[
        "speak",
        "Hello there.",
        "--seed",
        "9",
        "-o",
        a.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("seed 9") && out.contains("real-time factor"),
        "{out}"
    );
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert!(bytes.len() > 44 + 22050, "{} bytes", bytes.len());
    let b = dir.join("b.wav");
    dial(&[
        "speak",
        "Hello there.",
        "--seed",
        "9",
        "-o",
        b.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&b).unwrap(), bytes);

    let t = dir.join("t.wav");
    let (ok, out, err) = dial(&[
        "speak",
        "Hello there.",
        "--takes",
        "3",
        "--stability",
        "0.2",
        "--seed",
        "1",
        "--json",
        "-o",
        t.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["takes"].as_array().unwrap().len(), 3);
    assert!(report["log_mel_distance_between_takes"].as_f64().unwrap() > 0.0);
    assert!(report["f0_mean_hz"].as_f64().unwrap() > 60.0);
    for i in 1..=3 {
        assert!(dir.join(format!("t-{i}.wav")).is_file());
    }

    for (args, needle) in [
        (vec!["speak", "hi", "--stability", "1.5"], "stability"),
        (vec!["speak", "hi", "--speed", "2"], "speed"),
        (
            vec!["speak", "hi", "--format", "opus_48000_64"],
            "mp3_44100_128",
        ),
        (vec!["speak", " "], "empty"),
        (
            vec!["speak", "hi", "--speaker", "3"],
            "1 speaker(s): en_US-joe-medium",
        ),
        (
            vec![
                "speak",
                "hi",
                "--onnxruntime",
                "/nonexistent/libonnxruntime.so",
            ],
            "ONNX Runtime",
        ),
    ] {
        // Written only if the case wrongly succeeds; never into the working directory.
        let none = dir.join("none.wav");
        let mut args = args;
        args.extend(["-o", none.to_str().unwrap()]);
        let (ok, _, err) = dial(&args);
        assert!(!ok && err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn plot_stability_draws_variation_and_contours() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-plot-stability-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("s.svg");
    let (ok, _, err) = dial(&[
        "plot",
        "stability",
        "--takes-per-level",
        "3",
        "--stability-levels",
        "0,1",
        "--contours",
        "2",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&svg).unwrap();
    for label in [
        "log-mel DTW distance",
        "duration sd",
        "stability 0 seed 1",
        "stability 1 (every seed)",
    ] {
        assert!(
            text.contains(&format!(r#"data-label="{label}""#)),
            "{label}"
        );
    }
    let (ok, _, err) = dial(&[
        "plot",
        "stability",
        "--stability-levels",
        "2",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("stability"), "{err}");
}
