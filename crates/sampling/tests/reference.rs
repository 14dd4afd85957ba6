//! The newer truncations and reshapers against references written here in f64 from their
//! cited sources (HF's `EpsilonLogitsWarper`, `EtaLogitsWarper`, `TopHLogitsWarper`;
//! text-generation-webui's `TailFreeLogitsWarper`, `TopALogitsWarper`,
//! `QuadraticSamplingLogitsWarper`; llama.cpp's adaptive-p; the p-less paper), on random
//! rows, alone and after temperature. A token whose probability lies within 1e-5 of a bar
//! may fall either way (f32 logits); every other token must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_sampling::*;

mod common;
use common::*;

/// A row of `v` logits: normal with spread `sigma`, about `masked` of them `-inf`.
fn row(v: usize, sigma: f64, masked: f64, seed: u64) -> Vec<f32> {
    let mut rng = DialRng::new(seed);
    (0..v)
        .map(|_| {
            let u1 = 1.0 - rng.uniform();
            let u2 = rng.uniform();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            if rng.uniform() < masked {
                f32::NEG_INFINITY
            } else {
                (sigma * z) as f32
            }
        })
        .collect()
}

/// The kept set of a sampler with `knobs` (and temperature `t` ahead of them).
fn kept_by_dial(knobs: Knobs, x: &[f32]) -> Vec<bool> {
    let e = Sampler::new(knobs, 0).unwrap().explain(x).unwrap();
    let mut kept = vec![false; x.len()];
    for t in &e.tokens {
        kept[t.id as usize] = true;
    }
    kept
}

fn agree(label: &str, dial: &[bool], want: &Decision) {
    for (i, (&got, (&kept, &near))) in dial
        .iter()
        .zip(want.kept.iter().zip(&want.near))
        .enumerate()
    {
        assert!(
            got == kept || near,
            "{label}: token {i} dial kept {got} reference {kept}"
        );
    }
}

/// Rows of several shapes: sharp, flat, masked, tiny and large vocabularies.
fn rows() -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for (k, (v, sigma, masked)) in [
        (8, 1.0, 0.0),
        (50, 2.0, 0.0),
        (200, 1.0, 0.3),
        (300, 4.0, 0.0),
        (1000, 0.5, 0.5),
        (4096, 3.0, 0.1),
    ]
    .into_iter()
    .enumerate()
    {
        for seed in 0..6 {
            let s = (k * 100 + seed) as u64;
            out.push((
                format!("V={v} σ={sigma} masked={masked} seed={s}"),
                row(v, sigma, masked, s),
            ));
        }
    }
    out.push(("flat V=64".into(), vec![0.0; 64]));
    out.push(("one live".into(), {
        let mut x = vec![f32::NEG_INFINITY; 16];
        x[5] = 1.0;
        x
    }));
    out
}

/// Runs a truncation over every row, alone and after temperature 0.7, with min_keep 1 and 3.
fn check(
    name: &str,
    build: impl Fn(usize) -> Knobs,
    reference: impl Fn(&[f64], usize) -> Decision,
) {
    for (label, x) in rows() {
        for min_keep in [1, 3] {
            for t in [None, Some(0.7f32)] {
                let mut knobs = build(min_keep);
                let tt = t.map_or(1.0, f64::from);
                if let Some(t) = t {
                    knobs.temperature = Some(Temperature::new(t).unwrap());
                }
                let p = softmax(&x, tt);
                let want = reference(&p, min_keep);
                let got = kept_by_dial(knobs, &x);
                agree(
                    &format!("{name} {label} min_keep={min_keep} t={t:?}"),
                    &got,
                    &want,
                );
            }
        }
    }
}

#[test]
fn epsilon_cutoff_matches_hf() {
    for eps in [1e-4, 3e-3, 0.02, 0.2] {
        check(
            &format!("epsilon {eps}"),
            |m| Knobs {
                epsilon_cutoff: Some(EpsilonCutoff::with_min_keep(eps, m).unwrap()),
                ..Knobs::default()
            },
            |p, m| epsilon(p, eps, m),
        );
    }
}

#[test]
fn eta_cutoff_matches_hf() {
    for e in [3e-4, 2e-3, 0.05, 0.5] {
        check(
            &format!("eta {e}"),
            |m| Knobs {
                eta_cutoff: Some(EtaCutoff::with_min_keep(e, m).unwrap()),
                ..Knobs::default()
            },
            |p, m| eta(p, e, m),
        );
    }
}

#[test]
fn top_a_matches_text_generation_webui() {
    for a in [0.05, 0.2, 0.6, 1.0] {
        check(
            &format!("top_a {a}"),
            |m| Knobs {
                top_a: Some(TopA::with_min_keep(a, m).unwrap()),
                ..Knobs::default()
            },
            |p, m| top_a(p, a, m),
        );
    }
}

#[test]
fn tfs_matches_text_generation_webui() {
    for z in [0.0, 0.3, 0.9, 0.99] {
        check(
            &format!("tfs {z}"),
            |m| Knobs {
                tfs: Some(TailFree::with_min_keep(z, m).unwrap()),
                ..Knobs::default()
            },
            |p, m| tfs(p, z, m),
        );
    }
}

#[test]
fn top_h_matches_hf() {
    for h in [0.1, 0.4, 0.8, 1.0] {
        check(
            &format!("top_h {h}"),
            |m| Knobs {
                top_h: Some(TopH::with_min_keep(h, m).unwrap()),
                ..Knobs::default()
            },
            |p, m| top_h(p, h, m),
        );
    }
}

#[test]
fn p_less_and_its_normalised_variant_match_the_paper() {
    check(
        "p_less",
        |m| Knobs {
            p_less: Some(PLess::with_min_keep(m).unwrap()),
            ..Knobs::default()
        },
        p_less,
    );
    check(
        "p_less_norm",
        |m| Knobs {
            p_less_norm: Some(PLessNorm::with_min_keep(m).unwrap()),
            ..Knobs::default()
        },
        p_less_norm,
    );
}

/// Processed probabilities of a sampler, by id.
fn processed(knobs: Knobs, x: &[f32]) -> Vec<f64> {
    let e = Sampler::new(knobs, 0).unwrap().explain(x).unwrap();
    (0..x.len() as u32).map(|i| e.probability(i)).collect()
}

fn close(label: &str, got: &[f64], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() < 2e-5,
            "{label}: token {i}: dial {g}, reference {w}"
        );
    }
}

#[test]
fn smoothing_matches_text_generation_webui() {
    for (f, c) in [
        (0.1, 1.0),
        (0.5, 1.0),
        (1.5, 2.0),
        (0.3, 3.0),
        (0.2, 4.5),
        (4.0, 1.0),
    ] {
        for (label, x) in rows() {
            for t in [None, Some(0.8f32)] {
                let knobs = Knobs {
                    smoothing: Some(Smoothing::new(f, c).unwrap()),
                    temperature: t.map(|t| Temperature::new(t).unwrap()),
                    ..Knobs::default()
                };
                let tt = t.map_or(1.0, f64::from);
                let scaled: Vec<f64> = x.iter().map(|&v| v as f64 / tt).collect();
                let bent = bend(&scaled, f, c);
                close(
                    &format!("smoothing f={f} c={c} {label} t={t:?}"),
                    &processed(knobs, &x),
                    &softmax(&bent, 1.0),
                );
            }
        }
    }
}

/// llama.cpp's adaptive-p, step by step: the processed distribution before each draw, and
/// the running average fed with the drawn token's incoming probability.
#[test]
fn adaptive_p_matches_llama_cpp_over_a_run() {
    for (target, decay) in [(0.3, 0.9), (0.6, 0.5), (0.1, 0.0), (0.9, 0.99)] {
        for (label, x) in rows().into_iter().step_by(5) {
            let knobs = Knobs {
                adaptive_p: Some(AdaptiveP::new(target, decay).unwrap()),
                min_p: Some(MinP::new(0.01).unwrap()),
                ..Knobs::default()
            };
            let mut sampler = Sampler::new(knobs, 7).unwrap();
            let mut weighted = target / (1.0 - decay);
            let mut total = 1.0 / (1.0 - decay);
            for step in 0..12 {
                // min_p first, then the transform of the renormalised survivors.
                let p = softmax(&x, 1.0);
                let p_max = p.iter().copied().fold(0.0, f64::max);
                let kept: Vec<f64> = p
                    .iter()
                    .map(|&q| if q >= 0.01 * p_max { q } else { 0.0 })
                    .collect();
                let z: f64 = kept.iter().sum();
                let q: Vec<f64> = kept.iter().map(|v| v / z).collect();
                let aim = (2.0 * target - weighted / total).clamp(0.0, 1.0);
                let bent = adaptive_logits(&q, aim);
                let got = sampler.explain(&x).unwrap();
                let got: Vec<f64> = (0..x.len() as u32).map(|i| got.probability(i)).collect();
                close(
                    &format!("adaptive-p {label} step {step}"),
                    &got,
                    &softmax(&bent, 1.0),
                );
                let token = sampler.sample(&x).unwrap().token as usize;
                weighted = q[token] + decay * weighted;
                total = 1.0 + decay * total;
            }
        }
    }
}

#[test]
fn dynatemp_low_and_high_are_the_range_form() {
    let mut ends = SamplingParams::default();
    ends.set("dynatemp_low", Value::Number(0.5)).unwrap();
    ends.set("dynatemp_high", Value::Number(1.5)).unwrap();
    let mut range = SamplingParams::default();
    range.set("temperature", Value::Number(1.0)).unwrap();
    range.set("dynatemp_range", Value::Number(0.5)).unwrap();
    assert_eq!(ends.knobs().unwrap(), range.knobs().unwrap());
    // The centre may be restated; any other temperature is refused.
    ends.set("temperature", Value::Number(1.0)).unwrap();
    assert_eq!(ends.knobs().unwrap(), range.knobs().unwrap());
    ends.set("temperature", Value::Number(0.7)).unwrap();
    let err = ends.knobs().unwrap_err();
    assert_eq!(err.param(), "temperature", "{err}");
    // Equal ends, or the switch off: a fixed temperature.
    let mut off = SamplingParams::default();
    off.set("dynatemp_low", Value::Number(1.0)).unwrap();
    off.set("dynatemp_high", Value::Number(1.0)).unwrap();
    off.set("temperature", Value::Number(0.7)).unwrap();
    let knobs = off.knobs().unwrap();
    assert!(knobs.dynamic_temperature.is_none() && knobs.temperature.is_some());
    let mut one = SamplingParams::default();
    one.set("dynatemp_low", Value::Number(0.2)).unwrap();
    assert_eq!(one.knobs().unwrap_err().param(), "dynatemp_high");
}

#[test]
fn min_keep_is_one_request_field_every_truncation_reads() {
    let mut params = SamplingParams::default();
    params.set("min_tokens_to_keep", Value::Integer(4)).unwrap();
    params.set("epsilon_cutoff", Value::Number(0.9)).unwrap();
    let x = row(100, 1.0, 0.0, 3);
    let kept = params.sampler(0).unwrap().explain(&x).unwrap().tokens.len();
    assert_eq!(kept, 4);
    assert!(params.set("min_keep", Value::Integer(0)).is_err());
}

/// HF's `_get_ngrams` and `_get_generated_ngrams`, over random short-alphabet contexts.
#[test]
fn no_repeat_ngram_matches_hf() {
    use std::collections::HashMap;
    let mut rng = DialRng::new(11);
    for n in 1..=4usize {
        for _ in 0..200 {
            let len = (rng.next_u64() % 24) as usize;
            let context: Vec<u32> = (0..len).map(|_| (rng.next_u64() % 6) as u32).collect();
            let mut ngrams: HashMap<Vec<u32>, Vec<u32>> = HashMap::new();
            if len + 1 >= n {
                for i in 0..(len + 1).saturating_sub(n) {
                    if i + n <= len {
                        ngrams
                            .entry(context[i..i + n - 1].to_vec())
                            .or_default()
                            .push(context[i + n - 1]);
                    }
                }
            }
            let want: Vec<u32> = if len + 1 < n {
                Vec::new()
            } else {
                let prefix = context[len + 1 - n..].to_vec();
                let mut b = ngrams.get(&prefix).cloned().unwrap_or_default();
                b.sort_unstable();
                b.dedup();
                b
            };
            let knobs = Knobs {
                no_repeat_ngram: Some(NoRepeatNgram::new(n)),
                ..Knobs::default()
            };
            let mut sampler = Sampler::new(knobs, 0).unwrap();
            sampler.set_prompt(&context);
            let logits = [0.0f32; 6];
            match sampler.explain(&logits) {
                Ok(e) => {
                    let cut: Vec<u32> = (0..6).filter(|i| !e.kept_ids().contains(i)).collect();
                    assert_eq!(cut, want, "n={n} context={context:?}");
                }
                Err(SampleError::AllMasked { .. }) => assert_eq!(want.len(), 6),
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// `min_tokens` counts generated tokens only, `ignore_eos` never lets an end through,
/// and a mask that leaves only an end makes them yield.
#[test]
fn end_of_generation_masks_until_min_tokens_and_yields_to_a_lone_end() {
    let eos = 2u32;
    let logits = [0.0f32, 0.5, 3.0, 0.2];
    let knobs = Knobs {
        end_of_generation: Some(EndOfGeneration::new(3, false, vec![3], vec![eos])),
        ..Knobs::default()
    };
    let mut sampler = Sampler::new(knobs, 4).unwrap();
    sampler.set_prompt(&[1, 1, 1, 1, 1]);
    for step in 0..3 {
        let e = sampler.explain(&logits).unwrap();
        assert_eq!(e.probability(eos), 0.0, "step {step}");
        assert_eq!(e.probability(3), 0.0, "step {step}: stop ids wait too");
        let d = sampler.sample(&logits).unwrap();
        assert!(d.token != eos && d.token != 3);
    }
    let e = sampler.explain(&logits).unwrap();
    assert!(e.probability(eos) > 0.5 && e.probability(3) > 0.0);
    assert!(sampler.yields().is_empty());

    let knobs = Knobs {
        allowed_tokens: Some(AllowedTokens::new(vec![eos])),
        end_of_generation: Some(EndOfGeneration::new(0, true, vec![], vec![eos])),
        ..Knobs::default()
    };
    let mut sampler = Sampler::new(knobs, 4).unwrap();
    assert_eq!(sampler.sample(&logits).unwrap().token, eos);
    assert_eq!(sampler.yields(), vec![(KnobKind::EndOfGeneration, 1)]);
    let mut params = SamplingParams::default();
    params.set("ignore_eos", Value::Bool(true)).unwrap();
    assert_eq!(params.knobs().unwrap_err().param(), "ignore_eos");
}

/// HF's `SequenceBiasLogitsProcessor`: a sequence's last token is biased when the context
/// (prompt and generated) ends with the rest; one-token sequences always; biases add.
#[test]
fn sequence_bias_matches_hf() {
    let mut rng = DialRng::new(21);
    for _ in 0..300 {
        let len = (rng.next_u64() % 10) as usize;
        let context: Vec<u32> = (0..len).map(|_| (rng.next_u64() % 4) as u32).collect();
        let biases: Vec<(Vec<u32>, f32)> = (0..3)
            .map(|_| {
                let n = 1 + (rng.next_u64() % 3) as usize;
                let seq = (0..n).map(|_| (rng.next_u64() % 4) as u32).collect();
                (seq, (rng.uniform() * 8.0 - 4.0) as f32)
            })
            .collect();
        let mut want = [0.0f64; 4];
        for (seq, b) in &biases {
            let n = seq.len();
            let matches = n == 1
                || (context.len() >= n - 1 && context[context.len() - (n - 1)..] == seq[..n - 1]);
            if matches {
                want[seq[n - 1] as usize] += f64::from(*b);
            }
        }
        let knobs = Knobs {
            sequence_bias: Some(SequenceBias::new(biases.clone()).unwrap()),
            ..Knobs::default()
        };
        let mut sampler = Sampler::new(knobs, 0).unwrap();
        sampler.set_prompt(&context);
        let got = sampler.explain(&[0.0f32; 4]).unwrap();
        let z: f64 = want.iter().map(|b| b.exp()).sum();
        for (id, b) in want.iter().enumerate() {
            let p = b.exp() / z;
            assert!(
                (got.probability(id as u32) - p).abs() < 1e-5,
                "context {context:?} biases {biases:?}: token {id}"
            );
        }
    }
}

/// vLLM's `bad_words`: each word as written and, when it makes a new first token of the
/// same length, with a leading space; prefixes match the generated tokens only.
#[test]
fn bad_words_follow_vllm() {
    // A toy vocabulary: whole words with and without a leading space.
    let vocabulary = |text: &str| -> Vec<u32> {
        match text {
            "cat" => vec![5],
            " cat" => vec![6],
            "big cat" => vec![7, 3],
            " big cat" => vec![8, 3],
            "dog" => vec![9],
            " dog" => vec![9, 9],
            _ => vec![],
        }
    };
    let words = vec![
        "cat".to_string(),
        "big cat".to_string(),
        "  dog".to_string(),
    ];
    let bad = BadWords::from_words(&words, &vocabulary).unwrap();
    // " dog" tokenizes longer than "dog", so only the bare form is kept.
    assert_eq!(
        bad.sequences(),
        &[vec![5], vec![6], vec![7, 3], vec![8, 3], vec![9]]
    );
    assert_eq!(bad.banned(&[]), vec![5, 6, 9]);
    assert_eq!(bad.banned(&[1, 8]), vec![3, 5, 6, 9]);
    let knobs = Knobs {
        bad_words: Some(bad),
        ..Knobs::default()
    };
    let mut sampler = Sampler::new(knobs, 0).unwrap();
    // The prompt does not count: "big" at its end does not ban token 3.
    sampler.set_prompt(&[7]);
    let flat = [0.0f32; 10];
    assert_eq!(
        sampler.explain(&flat).unwrap().kept_ids(),
        vec![0, 1, 2, 3, 4, 7, 8]
    );
    // Once "big" is generated, it does.
    let mut push_big = [0.0f32; 10];
    push_big[7] = 50.0;
    assert_eq!(sampler.sample(&push_big).unwrap().token, 7);
    assert_eq!(
        sampler.explain(&flat).unwrap().kept_ids(),
        vec![0, 1, 2, 4, 7, 8]
    );
    let mut params = SamplingParams::default();
    params
        .set("bad_words", Value::Strings(vec!["x".into()]))
        .unwrap();
    assert_eq!(params.knobs().unwrap_err().param(), "bad_words");
    let empty = BadWords::from_words(&["zzz".to_string()], &vocabulary).unwrap_err();
    assert_eq!(empty.parameter, "bad_words");
}

/// `logprobs_of` right after a draw agrees with the draw to the bit, dense and sparse, and
/// gives −∞ for a token the chain cut.
#[test]
fn named_logprobs_agree_with_the_draw() {
    let x = row(300, 2.0, 0.1, 5);
    for knobs in [
        Knobs {
            temperature: Some(Temperature::new(0.7).unwrap()),
            ..Knobs::default()
        },
        Knobs {
            temperature: Some(Temperature::new(0.7).unwrap()),
            top_k: Some(TopK::new(5)),
            ..Knobs::default()
        },
    ] {
        let mut sampler = Sampler::new(knobs, 3).unwrap();
        for _ in 0..20 {
            let draw = sampler.sample(&x).unwrap();
            let weakest = (0..x.len() as u32)
                .filter(|&i| x[i as usize].is_finite())
                .min_by(|&a, &b| x[a as usize].total_cmp(&x[b as usize]))
                .unwrap();
            let named = sampler.logprobs_of(&x, &[draw.token, weakest]).unwrap();
            assert_eq!(named[0].logprob, draw.logprob);
            assert_eq!(named[0].raw_logprob, draw.raw_logprob);
            assert!(named[1].raw_logprob.is_finite());
            let finite = x.iter().filter(|v| v.is_finite()).count();
            if draw.kept < finite {
                assert_eq!(named[1].logprob, f64::NEG_INFINITY);
            } else {
                assert!(named[1].logprob.is_finite());
            }
        }
    }
    let mut sampler = Sampler::new(Knobs::default(), 0).unwrap();
    sampler.sample(&x).unwrap();
    assert!(sampler.logprobs_of(&x, &[300]).is_err());
}

/// HF's `UnbatchedClassifierFreeGuidanceLogitsProcessor`, in f64: log-softmax both rows,
/// `u + s·(ℓ − u)`, then the softmax the draw uses.
#[test]
fn guidance_matches_hf() {
    let log_softmax = |x: &[f32]| -> Vec<f64> {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
        x.iter().map(|&v| v as f64 - max - z.ln()).collect()
    };
    for (label, x) in rows() {
        let y = row(x.len(), 2.0, 0.0, 99);
        for s in [0.0f32, 0.5, 1.0, 1.5, 3.0] {
            let mut sampler = Sampler::new(
                Knobs {
                    guidance: Some(Guidance::new(s, None).unwrap()),
                    ..Knobs::default()
                },
                0,
            )
            .unwrap();
            sampler.set_unconditional(&y);
            let e = sampler.explain(&x).unwrap();
            let got: Vec<f64> = (0..x.len() as u32).map(|i| e.probability(i)).collect();
            let (l, u) = (log_softmax(&x), log_softmax(&y));
            let guided: Vec<f64> = l
                .iter()
                .zip(&u)
                .map(|(&l, &u)| {
                    if l.is_finite() {
                        u + s as f64 * (l - u)
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect();
            let max = guided.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = guided.iter().map(|g| (g - max).exp()).sum();
            let want: Vec<f64> = guided.iter().map(|g| (g - max).exp() / z).collect();
            close(&format!("guidance s={s} {label}"), &got, &want);
        }
        // Scale 1 leaves the row alone, bit for bit; without a row, another scale fails.
        let plain = processed(Knobs::default(), &x);
        let one = processed(
            Knobs {
                guidance: Some(Guidance::new(1.0, None).unwrap()),
                ..Knobs::default()
            },
            &x,
        );
        assert_eq!(plain, one, "{label}");
        let orphan = Sampler::new(
            Knobs {
                guidance: Some(Guidance::new(2.0, None).unwrap()),
                ..Knobs::default()
            },
            0,
        )
        .unwrap()
        .explain(&x);
        assert!(
            matches!(orphan, Err(SampleError::NoUnconditional(_))),
            "{orphan:?}"
        );
    }
    assert!(Guidance::new(-0.5, None).is_err() && Guidance::new(f32::NAN, None).is_err());
}
