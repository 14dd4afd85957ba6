//! A GGUF header read only as far as the tensor list: enough to name a tensor whose type
//! the full reader does not know, when it stops at the first one.

use std::io::Read;

/// ggml's type ids, by name (`ggml.h`'s `enum ggml_type`).
const TYPE_NAMES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (30, "BF16"),
    (34, "TQ1_0"),
    (35, "TQ2_0"),
    (39, "MXFP4"),
];

/// The types the GGUF reader (candle's) takes: F32, F16, BF16, the legacy 32-value formats
/// and the k-quants.
pub(crate) fn readable(id: u32) -> bool {
    matches!(id, 0..=3 | 6..=15 | 30)
}

/// A ggml type's name, or its number.
pub(crate) fn type_name(id: u32) -> String {
    TYPE_NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| format!("type {id}"), |(_, n)| (*n).to_string())
}

/// Reads little-endian values, refusing lengths no honest header has.
struct Reader<R> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).ok()?;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_le_bytes)
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink()).ok()?;
        (copied == n).then_some(())
    }

    fn string(&mut self) -> Option<String> {
        let len = self.u64()?;
        if len > 1 << 24 {
            return None;
        }
        let mut b = vec![0u8; len as usize];
        self.inner.read_exact(&mut b).ok()?;
        Some(String::from_utf8_lossy(&b).into_owned())
    }

    /// Skips one metadata value of GGUF type `ty`.
    fn skip_value(&mut self, ty: u32, depth: usize) -> Option<()> {
        let fixed = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => return self.string().map(drop),
            9 if depth == 0 => {
                let (inner, n) = (self.u32()?, self.u64()?);
                for _ in 0..n {
                    self.skip_value(inner, depth + 1)?;
                }
                return Some(());
            }
            _ => return None,
        };
        self.skip(fixed)
    }
}

/// Every tensor's name and ggml type id, in file order; `None` if the header is not one.
pub(crate) fn tensor_types(file: impl Read) -> Option<Vec<(String, u32)>> {
    let mut r = Reader { inner: file };
    if &r.bytes::<4>()? != b"GGUF" {
        return None;
    }
    let _version = r.u32()?;
    let (tensors, kvs) = (r.u64()?, r.u64()?);
    for _ in 0..kvs {
        r.string()?;
        let ty = r.u32()?;
        r.skip_value(ty, 0)?;
    }
    let mut out = Vec::new();
    for _ in 0..tensors.min(1 << 20) {
        let name = r.string()?;
        let dims = r.u32()?;
        if dims > 8 {
            return None;
        }
        r.skip(8 * u64::from(dims))?;
        let ty = r.u32()?;
        r.u64()?;
        out.push((name, ty));
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ggml_s_and_unknown_ids_say_their_number() {
        assert_eq!(type_name(20), "IQ4_NL");
        assert_eq!(type_name(30), "BF16");
        assert_eq!(type_name(99), "type 99");
        assert!(readable(12) && readable(30) && !readable(20) && !readable(4));
    }

    #[test]
    fn a_header_that_is_not_gguf_is_none() {
        assert_eq!(tensor_types(&b"GGUX\x03\0\0\0"[..]), None);
        assert_eq!(tensor_types(&b"GG"[..]), None);
    }
}
