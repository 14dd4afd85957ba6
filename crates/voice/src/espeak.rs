//! espeak-ng, loaded at run time with `libloading` (so building dial needs no system
//! library): text to IPA, clause by clause, grouped into sentences as Piper groups them.
//!
//! espeak-ng keeps global state, so one library is loaded per process and every call
//! goes through one mutex. espeak 1.52 has no `espeak_TextToPhonemesWithTerminator`, so
//! each clause's terminator is read back from the span of text espeak consumed (less the
//! one character of the next clause it reads ahead): `.`, `?` and `!` end a sentence;
//! `,`, `:` and `;` stay in it, followed by a space (Piper's rule).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

type Initialize = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetVoiceByName = unsafe extern "C" fn(*const c_char) -> c_int;
type TextToPhonemes = unsafe extern "C" fn(*mut *const c_void, c_int, c_int) -> *const c_char;

/// `AUDIO_OUTPUT_SYNCHRONOUS`: no audio thread; phonemes only.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakCHARS_UTF8`.
const CHARS_UTF8: c_int = 1;
/// `espeakPHONEMES_IPA`.
const PHONEMES_IPA: c_int = 0x02;

/// Why espeak-ng could not phonemise.
#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    /// The library is missing or is not espeak-ng.
    #[error("cannot load espeak-ng from {path}: {reason} (run `dial fetch --voice`)")]
    Load {
        /// The library path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// espeak-ng would not start with this data directory.
    #[error("espeak-ng cannot start with the data in {dir} (code {code})")]
    Initialize {
        /// The `espeak-ng-data` directory.
        dir: PathBuf,
        /// espeak's return value.
        code: i32,
    },
    /// A second library or data directory after the first was loaded.
    #[error("espeak-ng is already loaded from {loaded} in this process; cannot switch to {asked}")]
    AlreadyLoaded {
        /// What is loaded.
        loaded: PathBuf,
        /// What was asked for.
        asked: PathBuf,
    },
    /// espeak-ng has no such voice.
    #[error("espeak-ng has no voice `{0}`")]
    Voice(String),
    /// The text holds a NUL character.
    #[error("the text contains a NUL character")]
    Nul,
}

struct Loaded {
    lib_path: PathBuf,
    data_dir: PathBuf,
    set_voice: SetVoiceByName,
    text_to_phonemes: TextToPhonemes,
    voice: Option<String>,
    // Kept last and never dropped before the function pointers above.
    _lib: libloading::Library,
}

// SAFETY: the function pointers are only called with the global mutex held.
unsafe impl Send for Loaded {}

static ESPEAK: Mutex<Option<Loaded>> = Mutex::new(None);

/// One sentence's phonemes and where in the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Its IPA, one codepoint per phoneme, with its terminator.
    pub ipa: String,
    /// The byte range of the text it was read from (whitespace included).
    pub text: std::ops::Range<usize>,
}

/// Where espeak-ng's library and data are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Espeak {
    lib: PathBuf,
    data: PathBuf,
}

impl Espeak {
    /// espeak-ng from `lib` (`libespeak-ng.so.1.52.0`) with `data` (an `espeak-ng-data`
    /// directory). Nothing is loaded until the first call.
    pub fn new(lib: &Path, data: &Path) -> Self {
        Espeak {
            lib: lib.to_path_buf(),
            data: data.to_path_buf(),
        }
    }

    fn load(&self) -> Result<Loaded, EspeakError> {
        let load_error = |reason: String| EspeakError::Load {
            path: self.lib.clone(),
            reason,
        };
        // SAFETY: loading runs the library's initialisers; espeak-ng's are plain C.
        let lib = unsafe { libloading::Library::new(&self.lib) }
            .map_err(|e| load_error(e.to_string()))?;
        // SAFETY: the signatures are espeak-ng's (speak_lib.h).
        let (initialize, set_voice, text_to_phonemes) = unsafe {
            let init: Initialize = *lib
                .get::<Initialize>(b"espeak_Initialize\0")
                .map_err(|e| load_error(e.to_string()))?;
            let voice: SetVoiceByName = *lib
                .get::<SetVoiceByName>(b"espeak_SetVoiceByName\0")
                .map_err(|e| load_error(e.to_string()))?;
            let ttp: TextToPhonemes = *lib
                .get::<TextToPhonemes>(b"espeak_TextToPhonemes\0")
                .map_err(|e| load_error(e.to_string()))?;
            (init, voice, ttp)
        };
        // espeak wants the directory that holds `espeak-ng-data`.
        let parent = self.data.parent().unwrap_or(Path::new("."));
        let init_error = |code| EspeakError::Initialize {
            dir: self.data.clone(),
            code,
        };
        if !self.data.join("phontab").is_file() {
            return Err(init_error(-1));
        }
        let c_parent =
            CString::new(parent.as_os_str().as_encoded_bytes()).map_err(|_| EspeakError::Nul)?;
        // SAFETY: a valid C string; synchronous mode starts no thread.
        let rate = unsafe { initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, c_parent.as_ptr(), 0) };
        if rate <= 0 {
            return Err(init_error(rate));
        }
        Ok(Loaded {
            lib_path: self.lib.clone(),
            data_dir: self.data.clone(),
            set_voice,
            text_to_phonemes,
            voice: None,
            _lib: lib,
        })
    }

    /// The IPA of `text` in `voice` (`en-us`), one string per sentence, each ending with
    /// its terminator when it had one. Language-switch marks such as `(fr)` are removed.
    pub fn phonemize(&self, voice: &str, text: &str) -> Result<Vec<String>, EspeakError> {
        Ok(self
            .sentences(voice, text)?
            .into_iter()
            .map(|s| s.ipa)
            .collect())
    }

    /// As [`Espeak::phonemize`], with the span of `text` each sentence came from.
    pub fn sentences(&self, voice: &str, text: &str) -> Result<Vec<Sentence>, EspeakError> {
        let mut guard = ESPEAK.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.load()?);
        }
        let Some(loaded) = guard.as_mut() else {
            return Err(EspeakError::Nul);
        };
        if loaded.lib_path != self.lib || loaded.data_dir != self.data {
            return Err(EspeakError::AlreadyLoaded {
                loaded: loaded.lib_path.clone(),
                asked: self.lib.clone(),
            });
        }
        if loaded.voice.as_deref() != Some(voice) {
            let c_voice = CString::new(voice).map_err(|_| EspeakError::Nul)?;
            // SAFETY: a valid C string; the mutex is held.
            if unsafe { (loaded.set_voice)(c_voice.as_ptr()) } != 0 {
                return Err(EspeakError::Voice(voice.to_string()));
            }
            loaded.voice = Some(voice.to_string());
        }
        let c_text = CString::new(text).map_err(|_| EspeakError::Nul)?;
        let bytes = c_text.as_bytes();
        let start = c_text.as_ptr() as usize;
        let mut at: *const c_void = c_text.as_ptr().cast();
        let mut sentences = Vec::new();
        let mut current = String::new();
        let mut sentence_start = 0;
        while !at.is_null() {
            let before = (at as usize).saturating_sub(start).min(bytes.len());
            // SAFETY: `at` points into `c_text`, which outlives the loop; espeak moves it
            // to the next clause or sets it to null at the end. The mutex is held.
            let out = unsafe { (loaded.text_to_phonemes)(&mut at, CHARS_UTF8, PHONEMES_IPA) };
            let after = if at.is_null() {
                bytes.len()
            } else {
                (at as usize).saturating_sub(start).min(bytes.len())
            };
            if !out.is_null() {
                // SAFETY: espeak returns a NUL-terminated string valid until its next call.
                let phonemes = unsafe { CStr::from_ptr(out) }.to_string_lossy();
                current.push_str(&strip_language_flags(&phonemes));
            }
            // Mid-text, espeak has already read the first character of the next clause.
            let mut end = after.max(before);
            if !at.is_null()
                && let Some(read) = text.get(..end)
            {
                end = read
                    .char_indices()
                    .next_back()
                    .map_or(end, |(i, _)| i.max(before));
            }
            match terminator(&bytes[before..end]) {
                Some(t @ (b'.' | b'?' | b'!')) => {
                    current.push(t as char);
                    sentences.push(Sentence {
                        ipa: std::mem::take(&mut current),
                        text: sentence_start..end,
                    });
                    sentence_start = end;
                }
                Some(t) => {
                    current.push(t as char);
                    current.push(' ');
                }
                None => {}
            }
            if after <= before && !at.is_null() {
                break; // no progress: never loop forever on odd input
            }
        }
        if !current.trim().is_empty() {
            sentences.push(Sentence {
                ipa: current.trim_end().to_string(),
                text: sentence_start..bytes.len(),
            });
        }
        Ok(sentences)
    }
}

/// The clause punctuation that ended a consumed span, if any.
fn terminator(span: &[u8]) -> Option<u8> {
    span.iter()
        .rev()
        .copied()
        .find(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b')' | b']'))
        .filter(|b| matches!(b, b'.' | b',' | b'?' | b'!' | b';' | b':'))
}

/// Removes espeak's language-switch marks: `(en)`, `(fr)`.
fn strip_language_flags(ipa: &str) -> String {
    let mut out = String::with_capacity(ipa.len());
    let mut depth = 0usize;
    for c in ipa.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_and_language_flags() {
        assert_eq!(terminator(b"world. "), Some(b'.'));
        assert_eq!(terminator(b"one, "), Some(b','));
        assert_eq!(terminator(b"he said \"no!\" "), Some(b'!'));
        assert_eq!(terminator(b"end"), None);
        assert_eq!(strip_language_flags("(en)hˈɛloʊ(fr)bɔ̃"), "hˈɛloʊbɔ̃");
    }
}
