//! The seam for stages that are not request knobs: a constraint masks first, and every
//! knob then acts on the model's distribution renormalised over the allowed tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_sampling::{
    Knobs, MinP, Mirostat, SampleError, Sampler, StageId, Temperature, TokenConstraint, TokenSet,
    TopK, TopP,
};

/// Allows a fixed set of tokens, then, after each accepted token, the tokens above it.
#[derive(Debug, Clone)]
struct Ascending {
    vocab: usize,
    floor: u32,
    mask: Option<TokenSet>,
    seen: Vec<(u32, Option<f64>)>,
}

impl Ascending {
    fn new(vocab: usize, floor: u32) -> Self {
        Ascending {
            vocab,
            floor,
            mask: None,
            seen: Vec::new(),
        }
    }
}

impl TokenConstraint for Ascending {
    fn stage(&self) -> StageId {
        StageId::Grammar
    }
    fn setting(&self) -> String {
        format!("ids ≥ {}", self.floor)
    }
    fn compute_mask(&mut self) -> Result<(), SampleError> {
        let mut set = TokenSet::new(self.vocab);
        for id in self.floor..self.vocab as u32 {
            set.insert(id);
        }
        self.mask = Some(set);
        Ok(())
    }
    fn mask(&self) -> Option<&TokenSet> {
        self.mask.as_ref()
    }
    fn accept(&mut self, token: u32, p: Option<f64>) -> Result<(), SampleError> {
        if token < self.floor {
            return Err(SampleError::Constraint {
                stage: StageId::Grammar,
                message: format!("{token} < {}", self.floor),
            });
        }
        self.seen.push((token, p));
        self.floor = token + 1;
        self.mask = None;
        Ok(())
    }
    fn is_complete(&self) -> bool {
        self.floor as usize + 1 >= self.vocab
    }
    fn cut_reason(&self, token: u32) -> String {
        format!("{token} is below {}", self.floor)
    }
    fn boxed_clone(&self) -> Box<dyn TokenConstraint> {
        Box::new(self.clone())
    }
}

const LOGITS: [f32; 8] = [3.0, 2.5, 2.0, 1.0, 0.5, 0.2, -0.5, -1.0];

/// The reference: softmax over the allowed ids `floor..`, in f64.
fn renormalised(floor: usize, t: f64) -> Vec<f64> {
    let e: Vec<f64> = LOGITS
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i >= floor {
                (f64::from(x) / t).exp()
            } else {
                0.0
            }
        })
        .collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

fn constrained(knobs: Knobs, floor: u32) -> Sampler {
    let mut sampler = Sampler::new(knobs, 9).unwrap();
    sampler.add_constraint(Box::new(Ascending::new(LOGITS.len(), floor)));
    sampler
}

#[test]
fn the_mask_comes_first_and_the_knobs_see_the_allowed_distribution() {
    // top_k = 2 on the allowed set {3..8}: ids 3 and 4, whatever the cut ids' logits.
    let knobs = Knobs {
        top_k: Some(TopK::new(2)),
        ..Knobs::default()
    };
    let mut sampler = constrained(knobs, 3);
    assert_eq!(sampler.stages()[0], StageId::Grammar);
    let explained = sampler.explain(&LOGITS).unwrap();
    assert_eq!(explained.kept_ids(), vec![3, 4]);
    let p = renormalised(3, 1.0);
    let z = p[3] + p[4];
    assert!((explained.probability(3) - p[3] / z).abs() < 1e-6);
    let grammar = &explained.trace[0];
    assert_eq!(grammar.stage, StageId::Grammar);
    assert_eq!((grammar.removed, grammar.remaining), (3, 5));
    let raw = renormalised(0, 1.0);
    assert!((grammar.mass_kept - raw[3..].iter().sum::<f64>()).abs() < 1e-6);
}

#[test]
fn top_p_and_min_p_measure_mass_within_the_allowed_set() {
    // Allowed {2..8} at T = 0.7: top_p = 0.8 keeps the smallest prefix reaching 0.8 of
    // the renormalised mass; min_p = 0.2 keeps p ≥ 0.2·p_max of it.
    let p = renormalised(2, 0.7);
    let mut cum = 0.0;
    let mut expected_top_p = Vec::new();
    for (i, &pi) in p.iter().enumerate().skip(2) {
        expected_top_p.push(i as u32);
        cum += pi;
        if cum >= 0.8 {
            break;
        }
    }
    let knobs = Knobs {
        temperature: Some(Temperature::new(0.7).unwrap()),
        top_p: Some(TopP::new(0.8).unwrap()),
        ..Knobs::default()
    };
    assert_eq!(
        constrained(knobs, 2).explain(&LOGITS).unwrap().kept_ids(),
        expected_top_p
    );
    let p_max = p[2];
    let expected_min_p: Vec<u32> = (2..8)
        .filter(|&i| p[i] >= 0.2 * p_max)
        .map(|i| i as u32)
        .collect();
    let knobs = Knobs {
        temperature: Some(Temperature::new(0.7).unwrap()),
        min_p: Some(MinP::new(0.2).unwrap()),
        ..Knobs::default()
    };
    assert_eq!(
        constrained(knobs, 2).explain(&LOGITS).unwrap().kept_ids(),
        expected_min_p
    );
}

#[test]
fn logprobs_are_the_distribution_drawn_from() {
    let mut sampler = constrained(Knobs::default(), 4);
    let draw = sampler.sample(&LOGITS).unwrap();
    let p = renormalised(4, 1.0);
    let raw = renormalised(0, 1.0);
    assert!(draw.token >= 4);
    assert!((draw.logprob - p[draw.token as usize].ln()).abs() < 1e-6);
    assert!((draw.raw_logprob - raw[draw.token as usize].ln()).abs() < 1e-6);
    assert!(
        draw.alternatives
            .iter()
            .all(|a| a.id >= 4 && a.logprob.is_finite())
    );
}

#[test]
fn accept_tells_the_constraint_the_token_and_its_probability() {
    let knobs = Knobs {
        mirostat: Some(Mirostat::new(5.0, 0.1).unwrap()),
        ..Knobs::default()
    };
    let mut sampler = constrained(knobs, 0);
    let draw = sampler.sample(&LOGITS).unwrap();
    // The next mask is above the drawn token: the constraint saw it.
    let next = sampler.explain(&LOGITS).unwrap();
    assert!(next.kept_ids().iter().all(|&id| id > draw.token));
    // A token the constraint refuses is an error, and nothing is recorded.
    let before = sampler.history().generated().len();
    let err = sampler.accept(draw.token).unwrap_err();
    assert!(matches!(err, SampleError::Constraint { .. }), "{err}");
    assert_eq!(sampler.history().generated().len(), before);
}

#[test]
fn reset_restarts_the_constraint_and_seeds_reproduce() {
    let mut sampler = constrained(Knobs::default(), 1);
    // Draws until the constraint allows nothing (an error) or four are drawn.
    let run = |sampler: &mut Sampler| -> Vec<Result<u32, SampleError>> {
        (0..4)
            .map(|_| sampler.sample(&LOGITS).map(|d| d.token))
            .collect()
    };
    let first = run(&mut sampler);
    sampler.reset(9);
    assert_eq!(first, run(&mut sampler));
    let tokens: Vec<u32> = first.iter().map_while(|r| r.clone().ok()).collect();
    assert!(
        !tokens.is_empty() && tokens.windows(2).all(|w| w[0] < w[1]),
        "{first:?}"
    );
}

#[test]
fn explain_names_the_stage_and_its_reason() {
    let mut sampler = constrained(Knobs::default(), 5);
    let report = sampler.explain_report(&LOGITS, 8).unwrap();
    assert_eq!(report.chain[0].stage, StageId::Grammar);
    assert_eq!(report.chain[0].setting, "ids ≥ 5");
    let cut = report
        .rows
        .iter()
        .find(|r| r.id == 0)
        .unwrap()
        .cut
        .clone()
        .unwrap();
    assert_eq!((cut.stage, cut.position), (StageId::Grammar, 0));
    assert_eq!(cut.reason, "0 is below 5");
    // Explaining changed nothing: the constraint still allows 5.
    assert!(sampler.sample(&LOGITS).unwrap().token >= 5);
}

#[test]
fn nothing_allowed_with_a_finite_logit_is_a_typed_error() {
    let mut logits = LOGITS;
    for x in &mut logits[6..] {
        *x = f32::NEG_INFINITY;
    }
    let err = constrained(Knobs::default(), 6)
        .sample(&logits)
        .unwrap_err();
    assert_eq!(err, SampleError::AllMasked { after: "grammar" });
}
