//! Reading a logits row: JSON array, JSON object with token texts, NumPy `.npy`, or stdin.

use std::io::Read;
use std::path::Path;

/// Where the row comes from, and the seed of the random stream: shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct RowArgs {
    /// Logits: a JSON array, a JSON object {"tokens", "logits"}, a .npy file, or - for stdin.
    /// Default: the note's six-token example.
    #[arg(long)]
    pub logits: Option<String>,
    /// Seed of the random stream (the draws, and XTC's coin).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl RowArgs {
    /// Reads the row.
    pub fn load(&self) -> Result<LogitsInput, String> {
        LogitsInput::load(self.logits.as_deref())
    }
}

/// A row of logits and, when known, each token's text.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitsInput {
    pub logits: Vec<f32>,
    pub tokens: Option<Vec<String>>,
}

impl LogitsInput {
    /// The note's six-token example.
    pub fn note_example() -> Self {
        LogitsInput {
            logits: dial_sampling::NOTE_EXAMPLE_LOGITS.to_vec(),
            tokens: Some(
                dial_sampling::NOTE_EXAMPLE_TOKENS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        }
    }

    /// The text of token `id`, when known.
    pub fn text(&self, id: u32) -> Option<&str> {
        self.tokens.as_ref()?.get(id as usize).map(String::as_str)
    }

    /// Reads `path` (`-` = stdin); `None` gives the note's example.
    pub fn load(path: Option<&str>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self::note_example());
        };
        let bytes = if path == "-" {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read logits from stdin: {e}"))?;
            buf
        } else {
            std::fs::read(Path::new(path))
                .map_err(|e| format!("cannot read logits file {path}: {e}"))?
        };
        Self::parse(&bytes)
    }

    /// Parses `.npy` (by its magic) or JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.starts_with(b"\x93NUMPY") {
            return Ok(LogitsInput {
                logits: parse_npy(bytes)?,
                tokens: None,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("logits are not valid JSON: {e}"))?;
        match value {
            serde_json::Value::Array(items) => Ok(LogitsInput {
                logits: numbers(&items)?,
                tokens: None,
            }),
            serde_json::Value::Object(map) => {
                let logits = match map.get("logits") {
                    Some(serde_json::Value::Array(items)) => numbers(items)?,
                    _ => return Err("logits JSON object needs a \"logits\" array".into()),
                };
                let tokens = match map.get("tokens") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::Array(items)) => Some(
                        items
                            .iter()
                            .map(|t| match t {
                                serde_json::Value::String(s) => Ok(s.clone()),
                                other => Err(format!("token texts must be strings, found {other}")),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => return Err("\"tokens\" must be an array of strings".into()),
                };
                if let Some(t) = &tokens
                    && t.len() != logits.len()
                {
                    return Err(format!(
                        "token count mismatch: {} tokens but {} logits",
                        t.len(),
                        logits.len()
                    ));
                }
                Ok(LogitsInput { logits, tokens })
            }
            _ => Err(
                "logits JSON must be an array of numbers or an object {\"tokens\", \"logits\"}"
                    .into(),
            ),
        }
    }
}

fn numbers(items: &[serde_json::Value]) -> Result<Vec<f32>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            serde_json::Value::Number(n) => n
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| format!("logit at index {i} is not a number")),
            // JSON has no NaN/inf; accept the common spellings so they reach the typed errors.
            serde_json::Value::String(s) => match s.as_str() {
                "NaN" | "nan" => Ok(f32::NAN),
                "-Infinity" | "-inf" => Ok(f32::NEG_INFINITY),
                "Infinity" | "inf" | "+inf" => Ok(f32::INFINITY),
                _ => Err(format!("logit at index {i} is not a number: {s:?}")),
            },
            other => Err(format!("logit at index {i} is not a number: {other}")),
        })
        .collect()
}

/// A 1-D little-endian f32 or f16 `.npy` array (format 1.0–3.0).
fn parse_npy(bytes: &[u8]) -> Result<Vec<f32>, String> {
    let bad = |why: &str| format!("invalid .npy file: {why}");
    let major = *bytes.get(6).ok_or_else(|| bad("truncated header"))?;
    let (header_len, start) = match major {
        1 => (
            u16::from_le_bytes([
                *bytes.get(8).ok_or_else(|| bad("truncated"))?,
                *bytes.get(9).ok_or_else(|| bad("truncated"))?,
            ]) as usize,
            10,
        ),
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(|| bad("truncated"))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(&format!("unsupported version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = String::from_utf8_lossy(header);
    let data = &bytes[start + header_len..];
    if header.contains("'fortran_order': True") {
        return Err(bad("fortran order is not supported"));
    }
    let shape = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<&str> = shape
        .trim_start_matches([' ', '('])
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let count = match dims.as_slice() {
        [n] => n.parse::<usize>().map_err(|_| bad("shape"))?,
        [a, n] | [n, a] if *a == "1" => n.parse::<usize>().map_err(|_| bad("shape"))?,
        _ => return Err(bad(&format!("expected a 1-D array, got shape ({shape})"))),
    };
    if header.contains("'<f4'") {
        if data.len() < count * 4 {
            return Err(bad("data shorter than its shape"));
        }
        Ok(data
            .chunks_exact(4)
            .take(count)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    } else if header.contains("'<f2'") {
        if data.len() < count * 2 {
            return Err(bad("data shorter than its shape"));
        }
        Ok(data
            .chunks_exact(2)
            .take(count)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect())
    } else {
        Err(bad(
            "dtype must be little-endian float32 ('<f4') or float16 ('<f2')",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_every_format() {
        assert_eq!(
            LogitsInput::parse(b"[1, 2.5]").map(|l| l.logits),
            Ok(vec![1.0, 2.5])
        );
        let obj = LogitsInput::parse(br#"{"tokens": ["a", "b"], "logits": [0, 1]}"#);
        assert_eq!(
            obj.map(|l| l.tokens),
            Ok(Some(vec!["a".to_string(), "b".to_string()]))
        );
        let f32s: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            LogitsInput::parse(&npy("<f4", "(2,)", &f32s)).map(|l| l.logits),
            Ok(vec![1.5, -2.0])
        );
        let f16s: Vec<u8> = [half::f16::from_f32(0.5)]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(
            LogitsInput::parse(&npy("<f2", "(1,)", &f16s)).map(|l| l.logits),
            Ok(vec![0.5])
        );
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert!(LogitsInput::parse(b"[1,").is_err_and(|e| e.contains("not valid JSON")));
        assert!(
            LogitsInput::parse(br#"{"tokens": ["a"], "logits": [0, 1]}"#)
                .is_err_and(|e| e.contains("mismatch"))
        );
        assert!(
            LogitsInput::parse(&npy("<i4", "(1,)", &[0; 4])).is_err_and(|e| e.contains("dtype"))
        );
        assert!(
            LogitsInput::parse(&npy("<f4", "(2, 2)", &[0; 16])).is_err_and(|e| e.contains("1-D"))
        );
    }
}
