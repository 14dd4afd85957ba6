//! The request type: every knob's fields, flat, with the API's names, validated as they are
//! set. The CLI, the server and the playground all build this one type.

mod bias_key;
mod field;
mod sampling_params;
#[cfg(feature = "serde")]
mod serde_impl;
mod slider;
mod suggest;
mod value;
mod vocabulary;

pub use bias_key::BiasKey;
pub use field::{Field, FieldKind, Range};
pub use sampling_params::{ParamsError, SamplingParams};
pub use slider::Slider;
pub use suggest::nearest;
pub use value::Value;
pub use vocabulary::{Tokenize, Vocabulary};
