//! Whole-binary tests of the commands that show what knobs do: explain, compare, plot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{dial, ok, one_line_error};

use resvg::tiny_skia::Pixmap;
use std::path::PathBuf;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dial-see-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn softmax(xs: &[f64]) -> Vec<f64> {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = xs.iter().map(|x| (x - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

const NOTE: [f64; 6] = [1.3, 2.5, 0.7, 3.2, 0.2, 1.0];

#[test]
fn explain_prints_every_stage_and_who_cut_what() {
    let out = ok(&dial(&[
        "explain",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
    ]));
    let hot = softmax(&NOTE.map(|x| x / 0.8));
    // "." is the first token past the nucleus {on, cat, The} at T = 0.8.
    let cum_dot = hot[3] + hot[1] + hot[0] + hot[5];
    assert!(
        out.contains(&format!("cut by top_p (cum {cum_dot:.2} > 0.9)")),
        "{out}"
    );
    let header = out.lines().find(|l| l.starts_with("token")).unwrap();
    for column in [
        "logit",
        "p(T=1)",
        "p temperature",
        "p top_p",
        "cum p",
        "status",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let on = out.lines().find(|l| l.starts_with("on ")).unwrap();
    assert!(on.contains(&format!("{:.4}", softmax(&NOTE)[3])), "{on}");
    assert!(on.ends_with("kept"));
    let raw = softmax(&NOTE);
    let bits = -raw.iter().map(|p| p * p.log2()).sum::<f64>();
    assert!(out.contains(&format!("entropy: {bits:.3} bits →")), "{out}");
    assert!(
        out.contains(&format!("{:.2} →", 2f64.powf(bits))),
        "perplexity"
    );
    assert!(out.contains("nucleus: 3 of 6 tokens"));
    assert!(out.contains("before") && out.contains("█"), "bar chart");
}

#[test]
fn explain_json_follows_the_documented_schema() {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&dial(&["explain", "--json", "--top-k", "2"]))).unwrap();
    for field in [
        "order",
        "chain",
        "vocab",
        "live",
        "rows",
        "rest",
        "entropy_bits_before",
        "entropy_bits_after",
        "perplexity_before",
        "perplexity_after",
        "nucleus_size",
        "kept_mass",
        "top_token",
        "top_p",
        "trace",
        "order_difference",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["text"], "on");
    assert_eq!(rows[2]["cut"]["stage"], "top_k");
    assert_eq!(rows[2]["cut"]["reason"], "rank 3 > k = 2");
    let total: f64 = rows.iter().map(|r| r["p"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let kept_mass = softmax(&NOTE)[3] + softmax(&NOTE)[1];
    assert!((v["kept_mass"].as_f64().unwrap() - kept_mass).abs() < 1e-6);
}

#[test]
fn explain_summarises_long_rows_and_warns_about_orders() {
    let dir = temp_dir("long");
    let logits: Vec<f64> = (0..100).map(|i| -f64::from(i) * 0.05).collect();
    let path = dir.join("row.json");
    std::fs::write(&path, serde_json::to_string(&logits).unwrap()).unwrap();
    let out = ok(&dial(&[
        "explain",
        "--logits",
        path.to_str().unwrap(),
        "--top",
        "5",
        "--top-k",
        "10",
    ]));
    assert!(out.contains("… 95 more tokens"), "{out}");
    assert!(out.contains("5 of them kept"), "{out}");

    let out = ok(&dial(&["explain", "--temperature", "2", "--top-p", "0.6"]));
    assert!(out.contains("warning: the two standard orders keep different tokens"));
    assert!(out.contains("temperature-first keeps") && out.contains("temperature-last  keeps"));
    let out = ok(&dial(&["explain", "--temperature", "0.8"]));
    assert!(!out.contains("warning"), "no truncation, no difference");
}

#[test]
fn compare_runs_every_combination() {
    let out = ok(&dial(&[
        "compare",
        "--grid",
        "temperature=0.2,0.7,1.0,1.5",
        "--grid",
        "top_p=0.5,0.9,1.0",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 12);
    assert!(lines[0].contains("entropy bits") && lines[0].contains("top 3"));
    // T = 1, top_p = 1: the plain softmax.
    let plain = lines
        .iter()
        .find(|l| l.starts_with("1.0  ") && l.contains(" 1.0 "))
        .unwrap();
    let raw = softmax(&NOTE);
    let bits = -raw.iter().map(|p| p * p.log2()).sum::<f64>();
    assert!(plain.contains(&format!("{bits:.3}")), "{plain}");
    assert!(plain.contains(&format!("on {:.3}", raw[3])), "{plain}");

    let v: serde_json::Value =
        serde_json::from_str(&ok(&dial(&["compare", "--json", "--grid", "top_k=1,2,6"]))).unwrap();
    let rows = v.as_array().unwrap();
    let nucleus: Vec<u64> = rows
        .iter()
        .map(|r| r["nucleus"].as_u64().unwrap())
        .collect();
    assert_eq!(nucleus, vec![1, 2, 6]);
    assert_eq!(rows[0]["settings"]["top_k"], 1.0);
    assert_eq!(rows[0]["top1_p"], 1.0);
    assert_eq!(rows[2]["top3"].as_array().unwrap().len(), 3);
}

fn svg_doc(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn labels(svg: &str, class: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .filter_map(|n| n.attribute("data-label").map(str::to_string))
        .collect()
}

#[test]
fn every_plot_kind_draws_what_it_promises() {
    let dir = temp_dir("plots");
    let out = |name: &str| dir.join(name);

    let p = out("temperatures.svg");
    ok(&dial(&["plot", "temperatures", "-o", p.to_str().unwrap()]));
    let svg = svg_doc(&p);
    assert_eq!(
        labels(&svg, "series"),
        vec![
            "T = 0.5 (cold: focused)",
            "T = 1 (standard)",
            "T = 2 (hot: spread out)"
        ]
    );
    assert_eq!(labels(&svg, "legend-entry").len(), 3);
    assert!(svg.contains(">probability<") && svg.contains(">token<"));

    let p = out("nucleus.svg");
    ok(&dial(&[
        "plot",
        "nucleus",
        "--top-p",
        "0.9",
        "-o",
        p.to_str().unwrap(),
    ]));
    let svg = svg_doc(&p);
    assert_eq!(
        labels(&svg, "series"),
        vec![
            "kept (the nucleus)",
            "cut by top_p",
            "cumulative probability"
        ]
    );
    assert!(labels(&svg, "legend-entry").contains(&"top_p = 0.9".to_string()));
    assert_eq!(labels(&svg, "shade"), vec!["outside the nucleus"]);

    let p = out("entropy.svg");
    ok(&dial(&[
        "plot",
        "entropy",
        "--top-p-values",
        "1,0.5",
        "-o",
        p.to_str().unwrap(),
    ]));
    let svg = svg_doc(&p);
    assert_eq!(
        labels(&svg, "series"),
        vec![
            "top_p = 1 (off)",
            "top_p = 0.5",
            "top_p = 1 (off)",
            "top_p = 0.5"
        ]
    );
    assert!(svg.contains(">entropy (bits)<") && svg.contains(">nucleus size (tokens)<"));

    let p = out("stages.svg");
    ok(&dial(&[
        "plot",
        "stages",
        "--temperature",
        "0.8",
        "--top-k",
        "4",
        "--top-p",
        "0.9",
        "-o",
        p.to_str().unwrap(),
    ]));
    let svg = svg_doc(&p);
    assert_eq!(
        labels(&svg, "series"),
        vec![
            "mass still in play",
            "mass removed by this stage",
            "tokens left"
        ]
    );
    for stage in [">input<", ">temperature<", ">top_k<", ">top_p<"] {
        assert!(svg.contains(stage), "{stage}");
    }
    // The newer stages draw like any other.
    let p = out("stages-newer.svg");
    ok(&dial(&[
        "plot",
        "stages",
        "--smoothing-factor",
        "0.5",
        "--epsilon-cutoff",
        "0.05",
        "--p-less-norm",
        "-o",
        p.to_str().unwrap(),
    ]));
    let svg = svg_doc(&p);
    for stage in [">smoothing<", ">epsilon_cutoff<", ">p_less_norm<"] {
        assert!(svg.contains(stage), "{stage}");
    }

    for (w, h) in [(900u32, 560u32), (640, 1000)] {
        let p = out(&format!("nucleus-{w}x{h}.png"));
        ok(&dial(&[
            "plot",
            "nucleus",
            "--width",
            &w.to_string(),
            "--height",
            &h.to_string(),
            "-o",
            p.to_str().unwrap(),
        ]));
        let png = Pixmap::decode_png(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!((png.width(), png.height()), (w, h));
    }
}

#[test]
fn bad_input_is_one_line_naming_the_problem() {
    let dir = temp_dir("bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let malformed = write("bad.json", "[1.0, 2.0");
    let mismatch = write(
        "mismatch.json",
        r#"{"tokens": ["a", "b"], "logits": [1.0]}"#,
    );
    let nan = write("nan.json", r#"[1.0, "NaN"]"#);
    one_line_error(
        &dial(&["explain", "--logits", &malformed]),
        "not valid JSON",
    );
    one_line_error(&dial(&["explain", "--logits", &mismatch]), "tokens");
    one_line_error(&dial(&["explain", "--logits", &nan]), "NaN");
    one_line_error(
        &dial(&["compare", "--logits", &nan, "--grid", "top_k=1"]),
        "NaN",
    );
    one_line_error(
        &dial(&["compare", "--grid", "bogus=1,2"]),
        "unknown knob in --grid",
    );
    one_line_error(&dial(&["compare", "--grid", "top_p=2"]), "top_p");
    one_line_error(&dial(&["compare", "--grid", "top_p"]), "KNOB=V1,V2");
    one_line_error(&dial(&["plot", "pie", "-o", "x.svg"]), "pie");
    one_line_error(
        &dial(&["plot", "nucleus", "-o", "/nonexistent/dir/x.svg"]),
        "/nonexistent/dir/x.svg",
    );
    one_line_error(&dial(&["plot", "nucleus", "-o", "x.gif"]), ".svg or .png");
    one_line_error(
        &dial(&["plot", "nucleus", "--width", "10", "-o", "x.svg"]),
        "size",
    );
    one_line_error(
        &dial(&["plot", "stages", "-o", "x.svg"]),
        "at least one knob",
    );
    one_line_error(
        &dial(&["plot", "nucleus", "--logits", &malformed, "-o", "x.svg"]),
        "JSON",
    );
}
