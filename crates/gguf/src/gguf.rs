//! A parsed GGUF file: its metadata and tensor table.

use crate::{GgmlType, GgufError, TensorInfo, Value};
use std::collections::{BTreeMap, HashMap};

/// ggml's default alignment of tensor data, when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// ggml's limit on a tensor's rank (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;

/// Arrays of arrays are legal GGUF; no model file nests deeper than this.
const MAX_NESTING: u32 = 4;

/// A GGUF file's header, read from the file's bytes (usually a memory map of it).
///
/// Every count, length and offset is checked against the file's size before anything is
/// allocated for it, so a damaged or hostile file gives an error, never a huge allocation
/// or a read past its end.
#[derive(Debug, Clone)]
pub struct Gguf {
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

impl Gguf {
    /// Reads the header of the GGUF file whose bytes are `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Gguf, GgufError> {
        let mut r = Cursor { bytes, at: 0 };
        let magic = r.take(4, "the magic number")?;
        if magic != b"GGUF" {
            return Err(GgufError::NotGguf(magic.to_vec()));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let tensor_count = r.u64("the tensor count")?;
        let key_count = r.u64("the metadata count")?;
        // A tensor entry takes at least 24 bytes, a key-value pair at least 13.
        r.fits(tensor_count, 24, "the tensor table")?;
        r.fits(key_count, 13, "the metadata")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..key_count {
            let key = r.string("a metadata key")?;
            let type_id = r.u32(&format!("the type of {key}"))?;
            let value = r.value(&key, type_id, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(GgufError::Alignment(v.as_u64().unwrap_or(0))),
            },
        };
        let mut entries = Vec::with_capacity(tensor_count as usize);
        for _ in 0..tensor_count {
            let name = r.string("a tensor name")?;
            let what = format!("tensor {name}");
            let rank = r.u32(&what)?;
            if rank > MAX_DIMS {
                return Err(tensor_error(
                    &name,
                    format!("{rank} dimensions; ggml has at most {MAX_DIMS}"),
                ));
            }
            let dims = (0..rank)
                .map(|_| r.u64(&what))
                .collect::<Result<Vec<_>, _>>()?;
            let type_id = r.u32(&what)?;
            let offset = r.u64(&what)?;
            let ggml_type = GgmlType::from_id(type_id)
                .ok_or_else(|| tensor_error(&name, format!("type {type_id} is not a ggml type")))?;
            entries.push((name, dims, ggml_type, offset));
        }
        let data_start = r.at.next_multiple_of(alignment);
        let file_len = bytes.len() as u64;
        let mut tensors = Vec::with_capacity(entries.len());
        let mut by_name = HashMap::with_capacity(entries.len());
        for (name, dims, ggml_type, offset) in entries {
            let elements = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
            let row = dims.first().copied().unwrap_or(1);
            if !row.is_multiple_of(ggml_type.block_values()) {
                return Err(tensor_error(
                    &name,
                    format!(
                        "rows of {row} values are not whole {ggml_type} blocks of {}",
                        ggml_type.block_values()
                    ),
                ));
            }
            let len = elements
                .and_then(|e| ggml_type.bytes_for(e))
                .ok_or_else(|| tensor_error(&name, format!("shape {dims:?} is too large")))?;
            if !offset.is_multiple_of(alignment) {
                return Err(tensor_error(
                    &name,
                    format!(
                        "its data offset {offset} is not a multiple of the alignment {alignment}"
                    ),
                ));
            }
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(len));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(tensor_error(
                    &name,
                    "its data runs past the end of the file".into(),
                ));
            };
            if end > file_len {
                return Err(tensor_error(
                    &name,
                    "its data runs past the end of the file".into(),
                ));
            }
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                // Both ends are at most the file's length, itself a usize.
                data: start as usize..end as usize,
            });
        }
        Ok(Gguf {
            version,
            metadata,
            tensors,
            by_name,
        })
    }

    /// The file's GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every metadata key and value, by key.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// Every tensor, in the file's order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }
}

fn tensor_error(name: &str, reason: String) -> GgufError {
    GgufError::Tensor {
        name: name.into(),
        reason,
    }
}

/// Little-endian reads from the file's bytes, each one bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> u64 {
        self.bytes.len() as u64 - self.at
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        if n > self.left() {
            return Err(GgufError::Truncated {
                what: what.into(),
                at: self.at,
                len: self.bytes.len() as u64,
            });
        }
        let start = self.at as usize;
        self.at += n;
        Ok(&self.bytes[start..start + n as usize])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Refuses `count` items of at least `size` bytes each that the file cannot hold.
    fn fits(&self, count: u64, size: u64, what: &str) -> Result<(), GgufError> {
        if count.saturating_mul(size) > self.left() {
            return Err(GgufError::TooMany {
                what: what.into(),
                count,
                left: self.left(),
            });
        }
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let mut bytes = self.take(len, what)?;
        // Some writers end strings with NULs, which GGUF does not define; and a few
        // vocabularies hold invalid UTF-8: keep what can be read, as llama.cpp does.
        while let [rest @ .., 0] = bytes {
            bytes = rest;
        }
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn value(&mut self, key: &str, type_id: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match type_id {
            0 => Value::U8(u8::from_le_bytes(self.array(key)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(key)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => Value::Bool(u8::from_le_bytes(self.array(key)?) != 0),
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(GgufError::Nesting(key.into()));
                }
                let item_type = self.u32(key)?;
                let count = self.u64(key)?;
                let size = match item_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    id => {
                        return Err(GgufError::ValueType {
                            key: key.into(),
                            id,
                        });
                    }
                };
                self.fits(count, size, key)?;
                let items = (0..count)
                    .map(|_| self.value(key, item_type, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            id => {
                return Err(GgufError::ValueType {
                    key: key.into(),
                    id,
                });
            }
        })
    }
}
