//! A loaded Piper voice: text → sentences of phoneme ids → seeded takes.
//!
//! Each sentence is one inference, as in Piper, in three steps:
//! 1. the zero-noise length `F₀` (the durations graph with `noise_w = 0`);
//! 2. the take's durations with its seeded duration noise (the durations graph again,
//!    about a tenth of the cost of the whole voice). A take longer than `1.5·F₀` frames
//!    has run away and is redrawn with the next seed, up to [`MAX_DRAWS`] times, then with
//!    the mean durations;
//! 3. the audio (the whole graph), with the same duration noise and the prior noise.
//!
//! Each sentence's audio is peak-normalised as Piper does and followed by Piper's
//! sentence silence (0.2 s).

use crate::config::VoiceConfig;
use crate::espeak::{Espeak, EspeakError};
use crate::graph::{self, GraphError, SeedableGraph};
use crate::noise::SentenceNoise;
use crate::phoneme_ids::{Encoded, Unmapped};
use crate::runtime::OnnxRuntime;
use crate::speed::Speed;
use crate::stability::{Noise, Stability};
use crate::wav;
use ort::session::Session;
use ort::value::Tensor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many seeds a sentence may try before it falls back to the mean durations.
pub const MAX_DRAWS: u32 = 8;
/// A take longer than this many times its zero-noise length has run away.
pub const RUNAWAY_RATIO: f64 = 1.5;
/// Piper's silence after each sentence, in seconds.
pub const SENTENCE_SILENCE_S: f64 = 0.2;
/// The most latent channels dial provides noise for.
const MAX_CHANNELS: usize = 1024;

/// Why a take could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The voice's files are missing or unreadable.
    #[error("cannot read the voice file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The voice's config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The graph cannot be made seedable.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// espeak-ng failed.
    #[error(transparent)]
    Espeak(#[from] EspeakError),
    /// ONNX Runtime failed to load the voice or to run it.
    #[error("ONNX Runtime: {0}")]
    Onnx(String),
    /// Nothing to say: the text has no phonemes.
    #[error("the text has nothing to speak")]
    EmptyText,
    /// A speaker the voice does not have.
    #[error("the voice has {speakers} speaker(s); speaker {asked} does not exist")]
    Speaker {
        /// Asked for.
        asked: u32,
        /// The voice's count.
        speakers: u32,
    },
    /// The caller stopped the take.
    #[error("cancelled")]
    Cancelled,
}

fn output<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
) -> Result<&'a ort::value::DynValue, VoiceError> {
    outputs
        .get(name)
        .ok_or_else(|| VoiceError::Onnx(format!("the voice has no output `{name}`")))
}

fn onnx(e: impl std::fmt::Display) -> VoiceError {
    VoiceError::Onnx(e.to_string())
}

/// What one take is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TakeSettings {
    /// How far the take may drift.
    pub stability: Stability,
    /// How fast it speaks.
    pub speed: Speed,
    /// The seed: the same seed, text and settings give the same samples.
    pub seed: u32,
    /// The speaker of a multi-speaker voice (0 otherwise).
    pub speaker: u32,
}

impl Default for TakeSettings {
    fn default() -> Self {
        TakeSettings {
            stability: Stability::NATURAL,
            speed: Speed::DEFAULT,
            seed: 0,
            speaker: 0,
        }
    }
}

/// One sentence ready to render.
#[derive(Debug, Clone)]
pub struct PlannedSentence {
    /// Its position in the text, which picks its noise stream.
    pub index: u32,
    /// The byte range of the text it came from.
    pub text: Range<usize>,
    /// Its IPA.
    pub ipa: String,
    /// Its ids and phoneme spans.
    pub encoded: Encoded,
}

/// One rendered sentence.
#[derive(Debug, Clone)]
pub struct RenderedSentence {
    /// Its plan.
    pub plan: PlannedSentence,
    /// 16-bit samples, peak-normalised, without the silence after it.
    pub samples: Vec<i16>,
    /// Each id's duration in frames.
    pub durations: Vec<f32>,
    /// Audio samples per frame.
    pub samples_per_frame: usize,
    /// The seed its noise was finally drawn with.
    pub seed_used: u32,
    /// The seeds that ran away before it, in order.
    pub runaway_seeds: Vec<u32>,
    /// Whether every seed ran away and the mean durations were used.
    pub mean_durations: bool,
    /// The zero-noise length in frames.
    pub zero_noise_frames: f32,
    /// This take's length in frames.
    pub frames: f32,
}

impl RenderedSentence {
    /// Each mapped phoneme and its `[start, end)` time in seconds from the sentence's
    /// start, from the model's own durations.
    pub fn phoneme_times(&self, sample_rate: u32) -> Vec<(char, f64, f64)> {
        let frame_s = self.samples_per_frame as f64 / f64::from(sample_rate);
        let mut starts = Vec::with_capacity(self.durations.len() + 1);
        let mut t = 0.0;
        for d in &self.durations {
            starts.push(t);
            t += f64::from(*d) * frame_s;
        }
        starts.push(t);
        self.plan
            .encoded
            .phonemes
            .iter()
            .map(|(c, r)| (*c, starts[r.start], starts[r.end.min(self.durations.len())]))
            .collect()
    }
}

/// A whole take.
#[derive(Debug, Clone)]
pub struct Take {
    /// Samples per second.
    pub sample_rate: u32,
    /// The sentences, in order.
    pub sentences: Vec<RenderedSentence>,
    /// The phonemes the voice did not know, skipped.
    pub skipped: Vec<Unmapped>,
}

impl Take {
    /// Silence samples after each sentence.
    pub fn silence_samples(sample_rate: u32) -> usize {
        (SENTENCE_SILENCE_S * f64::from(sample_rate)).round() as usize
    }

    /// Every sentence's samples, each followed by the sentence silence.
    pub fn samples(&self) -> Vec<i16> {
        let silence = Self::silence_samples(self.sample_rate);
        let mut out = Vec::new();
        for s in &self.sentences {
            out.extend_from_slice(&s.samples);
            out.resize(out.len() + silence, 0);
        }
        out
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        let silence = Self::silence_samples(self.sample_rate);
        let n: usize = self
            .sentences
            .iter()
            .map(|s| s.samples.len() + silence)
            .sum();
        n as f64 / f64::from(self.sample_rate)
    }

    /// Every seed that ran away, by sentence index.
    pub fn runaways(&self) -> Vec<(u32, u32)> {
        self.sentences
            .iter()
            .flat_map(|s| s.runaway_seeds.iter().map(|seed| (s.plan.index, *seed)))
            .collect()
    }
}

/// Where a voice's files are.
#[derive(Debug, Clone)]
pub struct VoiceFiles {
    /// The `.onnx`.
    pub model: PathBuf,
    /// The `.onnx.json`.
    pub config: PathBuf,
}

impl VoiceFiles {
    /// `model` and `model` + `.json`, as Piper ships them.
    pub fn beside(model: &Path) -> Self {
        let mut config = model.as_os_str().to_owned();
        config.push(".json");
        VoiceFiles {
            model: model.to_path_buf(),
            config: PathBuf::from(config),
        }
    }

    /// The voice's id: the model's file name without `.onnx`.
    pub fn id(&self) -> String {
        let name = self
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.strip_suffix(".onnx").unwrap_or(&name).to_string()
    }
}

/// A loaded voice. Its sessions run one take at a time each.
#[derive(Debug)]
pub struct Voice {
    id: String,
    config: VoiceConfig,
    espeak: Espeak,
    full: Mutex<Session>,
    durations: Mutex<Session>,
    has_speaker_input: bool,
    channels: usize,
    samples_per_frame: usize,
}

/// The whole graph's audio, per-id durations and prior shape.
type FullOutputs = (Vec<f32>, Vec<f32>, [usize; 3]);

struct Inputs {
    ids: Vec<i64>,
    scales: [f32; 3],
    speaker: Option<i64>,
}

impl Voice {
    /// Loads a voice with ONNX Runtime on `threads` threads.
    pub fn load(
        runtime: &OnnxRuntime,
        files: &VoiceFiles,
        espeak: Espeak,
        threads: usize,
    ) -> Result<Self, VoiceError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| VoiceError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let config_text =
            String::from_utf8(read(&files.config)?).map_err(|e| VoiceError::Read {
                path: files.config.clone(),
                reason: e.to_string(),
            })?;
        let config = VoiceConfig::from_json(&config_text)?;
        let graph = SeedableGraph::rewrite(&read(&files.model)?)?;
        let session = |bytes: &[u8]| -> Result<Session, VoiceError> {
            Session::builder(&runtime.environment)
                .map_err(onnx)?
                .with_intra_threads(threads.max(1))
                .map_err(onnx)?
                .with_inter_threads(1)
                .map_err(onnx)?
                .with_intra_op_spinning(false)
                .map_err(onnx)?
                .with_log_level(ort::logging::LogLevel::Error)
                .map_err(onnx)?
                .commit_from_memory(bytes)
                .map_err(onnx)
        };
        let full = session(&graph.full)?;
        let durations = session(&graph.durations)?;
        let has_speaker_input = full.inputs().iter().any(|i| i.name() == "sid");
        let mut voice = Voice {
            id: files.id(),
            config,
            espeak,
            full: Mutex::new(full),
            durations: Mutex::new(durations),
            has_speaker_input,
            channels: MAX_CHANNELS,
            samples_per_frame: 1,
        };
        voice.calibrate()?;
        Ok(voice)
    }

    /// One silent-noise sentence, to learn the prior's channels and the frame size (and
    /// to pay ONNX Runtime's first-run costs at load, not on the first request).
    fn calibrate(&mut self) -> Result<(), VoiceError> {
        let plan = self.plan("Hello.")?;
        let first = plan.first().ok_or(VoiceError::EmptyText)?;
        let inputs = Inputs {
            ids: first.encoded.ids.clone(),
            scales: [0.0, 1.0, 0.0],
            speaker: self.has_speaker_input.then_some(0),
        };
        let n = inputs.ids.len();
        let durations = self.run_durations(&inputs, vec![0.0; 2 * n])?;
        let frames = durations.iter().sum::<f32>() as usize + n;
        let prior = vec![0.0; MAX_CHANNELS * frames];
        let (audio, _, shape) = self.run_full(&inputs, vec![0.0; 2 * n], prior, frames)?;
        let [_, channels, used_frames] = shape;
        if channels == 0 || channels > MAX_CHANNELS || used_frames == 0 {
            return Err(VoiceError::Onnx(format!(
                "the voice's prior has shape {shape:?}; dial supports up to {MAX_CHANNELS} channels"
            )));
        }
        self.channels = channels;
        self.samples_per_frame = audio.len() / used_frames;
        Ok(())
    }

    /// The voice's id (its file name without `.onnx`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its config.
    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// A speaker by name or number (see [`VoiceConfig::speaker`]).
    pub fn speaker(&self, name_or_number: &str) -> Option<u32> {
        self.config.speaker(name_or_number)
    }

    /// The voice ids it answers to (see [`VoiceConfig::voice_ids`]).
    pub fn voice_ids(&self) -> Vec<(String, u32)> {
        self.config.voice_ids(&self.id)
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    /// Splits `text` into sentences of phoneme ids.
    pub fn plan(&self, text: &str) -> Result<Vec<PlannedSentence>, VoiceError> {
        let sentences = self.espeak.sentences(&self.config.espeak_voice, text)?;
        Ok(sentences
            .into_iter()
            .filter(|s| !s.ipa.trim().is_empty())
            .enumerate()
            .map(|(index, s)| PlannedSentence {
                index: index as u32,
                encoded: self.config.phoneme_ids.encode_aligned(&s.ipa),
                text: s.text,
                ipa: s.ipa,
            })
            .collect())
    }

    /// A whole take of `text`; `cancelled` is asked between steps.
    pub fn speak(
        &self,
        text: &str,
        settings: &TakeSettings,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Take, VoiceError> {
        let plan = self.plan(text)?;
        if plan.is_empty() {
            return Err(VoiceError::EmptyText);
        }
        let mut skipped: Vec<Unmapped> = Vec::new();
        for p in &plan {
            for u in &p.encoded.skipped {
                match skipped.iter_mut().find(|s| s.phoneme == u.phoneme) {
                    Some(s) => s.count += u.count,
                    None => skipped.push(u.clone()),
                }
            }
        }
        let mut sentences = Vec::with_capacity(plan.len());
        for p in plan {
            sentences.push(self.render(p, settings, cancelled)?);
        }
        Ok(Take {
            sample_rate: self.sample_rate(),
            sentences,
            skipped,
        })
    }

    /// Renders one sentence.
    pub fn render(
        &self,
        plan: PlannedSentence,
        settings: &TakeSettings,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<RenderedSentence, VoiceError> {
        if settings.speaker >= self.config.num_speakers {
            return Err(VoiceError::Speaker {
                asked: settings.speaker,
                speakers: self.config.num_speakers,
            });
        }
        let Noise {
            noise_scale,
            noise_w,
        } = settings.stability.noise(&self.config.inference);
        let length_scale = settings
            .speed
            .length_scale(self.config.inference.length_scale);
        let n = plan.encoded.ids.len();
        let speaker = self
            .has_speaker_input
            .then_some(i64::from(settings.speaker));
        let mut inputs = Inputs {
            ids: plan.encoded.ids.clone(),
            scales: [noise_scale, length_scale, 0.0],
            speaker,
        };
        let check = || {
            if cancelled() {
                Err(VoiceError::Cancelled)
            } else {
                Ok(())
            }
        };
        check()?;
        let zero_noise_frames: f32 = self.run_durations(&inputs, vec![0.0; 2 * n])?.iter().sum();
        inputs.scales[2] = noise_w;

        let mut runaway_seeds = Vec::new();
        let mut chosen = None;
        for attempt in 0..MAX_DRAWS {
            let seed = settings.seed.wrapping_add(attempt);
            let mut noise = SentenceNoise::new(seed, plan.index);
            let duration_noise = noise.duration_noise(n);
            let frames = if noise_w == 0.0 {
                zero_noise_frames
            } else {
                check()?;
                self.run_durations(&inputs, duration_noise.clone())?
                    .iter()
                    .sum()
            };
            if f64::from(frames) <= RUNAWAY_RATIO * f64::from(zero_noise_frames) {
                chosen = Some((seed, noise, duration_noise, frames));
                break;
            }
            runaway_seeds.push(seed);
        }
        let mean_durations = chosen.is_none();
        let (seed_used, mut noise, duration_noise, frames) = match chosen {
            Some(c) => c,
            None => {
                // Every seed ran away: keep the last seed's prior noise, no duration noise.
                let seed = settings.seed.wrapping_add(MAX_DRAWS - 1);
                let mut noise = SentenceNoise::new(seed, plan.index);
                noise.duration_noise(n);
                inputs.scales[2] = 0.0;
                (seed, noise, vec![0.0; 2 * n], zero_noise_frames)
            }
        };
        // One frame of slack per id: a duration that rounds the other way still fits.
        let prior_frames = frames as usize + n;
        let prior = if noise_scale == 0.0 {
            vec![0.0; self.channels * prior_frames]
        } else {
            noise.prior_noise(self.channels, prior_frames)
        };
        check()?;
        let (audio, durations, _) = self.run_full(&inputs, duration_noise, prior, prior_frames)?;
        Ok(RenderedSentence {
            plan,
            samples: wav::normalize_peak(&audio),
            durations,
            samples_per_frame: self.samples_per_frame,
            seed_used,
            runaway_seeds,
            mean_durations,
            zero_noise_frames,
            frames,
        })
    }

    fn feed(
        &self,
        inputs: &Inputs,
        duration_noise: Vec<f32>,
    ) -> Result<Vec<(&'static str, ort::value::DynValue)>, VoiceError> {
        let n = inputs.ids.len();
        let mut feed = vec![
            (
                "input",
                Tensor::from_array(([1usize, n], inputs.ids.clone()))
                    .map_err(onnx)?
                    .into_dyn(),
            ),
            (
                "input_lengths",
                Tensor::from_array(([1usize], vec![n as i64]))
                    .map_err(onnx)?
                    .into_dyn(),
            ),
            (
                "scales",
                Tensor::from_array(([3usize], inputs.scales.to_vec()))
                    .map_err(onnx)?
                    .into_dyn(),
            ),
            (
                graph::DURATION_NOISE,
                Tensor::from_array(([1usize, 2, n], duration_noise))
                    .map_err(onnx)?
                    .into_dyn(),
            ),
        ];
        if let Some(sid) = inputs.speaker {
            feed.push((
                "sid",
                Tensor::from_array(([1usize], vec![sid]))
                    .map_err(onnx)?
                    .into_dyn(),
            ));
        }
        Ok(feed)
    }

    fn run_durations(
        &self,
        inputs: &Inputs,
        duration_noise: Vec<f32>,
    ) -> Result<Vec<f32>, VoiceError> {
        let feed = self.feed(inputs, duration_noise)?;
        let mut session = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let out = session.run(feed).map_err(onnx)?;
        let (_, d) = output(&out, graph::DURATIONS)?
            .try_extract_tensor::<f32>()
            .map_err(onnx)?;
        Ok(d.to_vec())
    }

    /// The audio, the durations and the prior's shape.
    fn run_full(
        &self,
        inputs: &Inputs,
        duration_noise: Vec<f32>,
        prior: Vec<f32>,
        prior_frames: usize,
    ) -> Result<FullOutputs, VoiceError> {
        let mut feed = self.feed(inputs, duration_noise)?;
        let channels = prior.len() / prior_frames.max(1);
        feed.push((
            graph::PRIOR_NOISE,
            Tensor::from_array(([1usize, channels, prior_frames], prior))
                .map_err(onnx)?
                .into_dyn(),
        ));
        let mut session = self.full.lock().unwrap_or_else(|e| e.into_inner());
        let out = session.run(feed).map_err(onnx)?;
        let (_, audio) = output(&out, "output")?
            .try_extract_tensor::<f32>()
            .map_err(onnx)?;
        let (_, durations) = output(&out, graph::DURATIONS)?
            .try_extract_tensor::<f32>()
            .map_err(onnx)?;
        let (_, shape) = output(&out, graph::PRIOR_SHAPE)?
            .try_extract_tensor::<i64>()
            .map_err(onnx)?;
        let dim = |i: usize| shape.get(i).map_or(0, |&d| usize::try_from(d).unwrap_or(0));
        Ok((audio.to_vec(), durations.to_vec(), [dim(0), dim(1), dim(2)]))
    }
}
