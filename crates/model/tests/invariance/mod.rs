//! The batch-invariance suite, for any model: what `batch_invariance.rs` runs on the default
//! model and `fixtures.rs` on every architecture and tensor type.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_model::{GenerateOptions, Generation, Model, Step, step_batch};
use dial_sampling::SamplingParams;

/// One request: a prompt, knobs in the API's spelling, a seed and a length.
struct Request {
    prompt: String,
    knobs: &'static [(&'static str, &'static str)],
    max_tokens: usize,
}

fn requests() -> Vec<Request> {
    let long = "The river ran past the old mill, and the miller's children counted the \
                boats that came down from the hills each spring. "
        .repeat(12);
    let knobs: [&[(&str, &str)]; 8] = [
        &[("temperature", "0")],
        &[("temperature", "1")],
        &[("temperature", "0.8"), ("top_p", "0.9")],
        &[("temperature", "1.2"), ("top_k", "40")],
        &[("temperature", "1"), ("min_p", "0.1")],
        &[("temperature", "1.5"), ("top_n_sigma", "1")],
        &[("temperature", "0.9"), ("typical_p", "0.95")],
        &[
            ("temperature", "1"),
            ("dry_multiplier", "0.8"),
            ("repetition_penalty", "1.1"),
        ],
    ];
    let prompts = [
        "Once upon a time",
        "The capital of France is",
        "def fibonacci(n):",
        "My favourite recipe for bread starts with",
        "In 1969, the first people to walk on the Moon",
        "Q: What is the boiling point of water?\nA:",
        "The three primary colours are",
        "Dear diary, today I",
        long.as_str(),
        "A haiku about autumn:\n",
        "The quick brown fox",
        "Here is a list of prime numbers: 2, 3, 5,",
        "She opened the door and saw",
        "The best way to learn a language is",
        "Chapter 1\n\nIt was a cold morning in",
        "import numpy as np\n",
    ];
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| Request {
            prompt: p.to_string(),
            knobs: knobs[i % knobs.len()],
            max_tokens: 6 + (i * 5) % 17,
        })
        .collect()
}

fn generation(model: &Model, i: usize, r: &Request) -> Generation {
    let mut params = SamplingParams::default();
    for (name, value) in r.knobs {
        params.set_text(name, value).unwrap();
    }
    let options = GenerateOptions {
        knobs: model.knobs(&params).unwrap(),
        seed: 1000 + i as u64,
        max_tokens: r.max_tokens,
        logprobs: true,
        top_logprobs: 3,
        ..GenerateOptions::default()
    };
    let prompt = model.tokenizer().encode(&r.prompt, true);
    Generation::new(model.session().unwrap(), &prompt, options).unwrap()
}

/// A token with every float as its bits.
#[derive(Debug, PartialEq, Eq)]
struct Bits {
    token: u32,
    logprob: u64,
    raw_logprob: Option<u64>,
    entropy: Option<u64>,
    top: Vec<(u32, u64)>,
}

fn bits(step: &Step) -> Bits {
    Bits {
        token: step.token,
        logprob: step.logprob.to_bits(),
        raw_logprob: step.raw_logprob.map(f64::to_bits),
        entropy: step.entropy.map(f64::to_bits),
        top: step
            .top
            .iter()
            .map(|a| (a.id, a.logprob.to_bits()))
            .collect(),
    }
}

fn alone(model: &Model, requests: &[Request]) -> Vec<Vec<Bits>> {
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| generation(model, i, r).map(|s| bits(&s.unwrap())).collect())
        .collect()
}

/// Request `order[j]` joins at step `arrivals[j]`; everyone still running shares each
/// step. Returns each request's tokens and the widest step (in sequences).
fn together(
    model: &Model,
    requests: &[Request],
    order: &[usize],
    arrivals: &[usize],
    step_tokens: usize,
) -> (Vec<Vec<Bits>>, usize) {
    let mut out: Vec<Vec<Bits>> = requests.iter().map(|_| Vec::new()).collect();
    let mut waiting: Vec<(usize, usize)> = order
        .iter()
        .copied()
        .zip(arrivals.iter().copied())
        .collect();
    let mut active: Vec<(usize, Generation)> = Vec::new();
    let mut widest = 0;
    for step in 0.. {
        let (now, later): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|&(_, at)| at <= step);
        waiting = later;
        for (i, _) in now {
            active.push((i, generation(model, i, &requests[i])));
        }
        if active.is_empty() && waiting.is_empty() {
            break;
        }
        widest = widest.max(active.len());
        let mut generations: Vec<&mut Generation> = active.iter_mut().map(|(_, g)| g).collect();
        let batch = step_batch(model, &mut generations, step_tokens);
        for ((i, _), outcome) in active.iter().zip(batch.outcomes) {
            assert!(outcome.error.is_none(), "request {i}: {:?}", outcome.error);
            out[*i].extend(outcome.steps.iter().map(bits));
        }
        active.retain(|(_, g)| g.finish_reason().is_none());
    }
    (out, widest)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// 16 seeded generations with different prompts, lengths and knobs give the same tokens
/// and logprob bits alone and together, in three arrival orders, under two step budgets,
/// on 1 and 2 threads.
pub fn sixteen_seeded_generations_alone_and_together(model: &Model) {
    let requests = requests();
    let n = requests.len();
    let solo = pool(2).install(|| alone(model, &requests));
    for (i, tokens) in solo.iter().enumerate() {
        assert!(
            !tokens.is_empty() && tokens.len() <= requests[i].max_tokens,
            "request {i} drew {} tokens",
            tokens.len()
        );
    }
    let forward: Vec<usize> = (0..n).collect();
    let reversed: Vec<usize> = (0..n).rev().collect();
    // Odd requests first, joining two by two while the first ones already decode.
    let staggered: Vec<usize> = (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).step_by(2))
        .collect();
    let at_once = vec![0; n];
    let in_pairs: Vec<usize> = (0..n).map(|j| j / 2).collect();
    let runs: [(&str, &[usize], &[usize], usize); 3] = [
        ("all at once, in order", &forward, &at_once, 256),
        ("all at once, reversed", &reversed, &at_once, 256),
        ("staggered, small step budget", &staggered, &in_pairs, 48),
    ];
    for threads in [1, 2] {
        let pool = pool(threads);
        for (name, order, arrivals, step_tokens) in runs {
            let (crowd, widest) =
                pool.install(|| together(model, &requests, order, arrivals, step_tokens));
            assert!(
                widest >= 8,
                "{name}: at most {widest} sequences shared a step"
            );
            for i in 0..n {
                assert_eq!(
                    crowd[i], solo[i],
                    "request {i} differs {name} on {threads} thread(s)"
                );
            }
        }
    }
}

/// A prompt's logits are the same bits alone and in the middle of a batch of others, on 1
/// and 2 threads.
pub fn a_prompts_logits_alone_and_in_a_batch(model: &Model) {
    let prompt = model.tokenizer().encode("The weather today is", true);
    let alone = model.session().unwrap().next_logits(&prompt).unwrap();
    let others: Vec<Vec<u32>> = [
        "A",
        "Some other text that runs beside it",
        "1 2 3 4 5 6 7 8",
    ]
    .iter()
    .map(|t| model.tokenizer().encode(t, true))
    .collect();
    for threads in [1, 2] {
        let row = pool(threads).install(|| {
            let mut sessions: Vec<_> = (0..=others.len())
                .map(|_| model.session().unwrap())
                .collect();
            let (first, rest) = sessions.split_first_mut().unwrap();
            let mut inputs = vec![];
            for (s, t) in rest.iter_mut().zip(&others) {
                inputs.push(dial_model::StepInput {
                    session: s,
                    tokens: t,
                    want_logits: true,
                    scoring: None,
                });
            }
            // In the middle of the batch, not first.
            inputs.insert(
                1,
                dial_model::StepInput {
                    session: first,
                    tokens: &prompt,
                    want_logits: true,
                    scoring: None,
                },
            );
            model.step(&mut inputs).remove(1).unwrap().unwrap()
        });
        let same = row
            .iter()
            .zip(&alone)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{threads} thread(s): the logits moved with the batch");
    }
}
