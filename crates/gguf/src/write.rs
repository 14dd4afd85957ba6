//! Writing a GGUF file.

use crate::{DEFAULT_ALIGNMENT, GgufError, TensorData, Value};
use std::collections::HashSet;
use std::io::Write;

/// Writes a GGUF 3 file of `metadata` (in the given order) and `tensors`, each tensor's
/// data aligned to `general.alignment` when the metadata sets it, else to 32 bytes.
pub fn write(
    out: &mut impl Write,
    metadata: &[(&str, Value)],
    tensors: &[TensorData],
) -> Result<(), GgufError> {
    let mut keys = HashSet::new();
    for (key, _) in metadata {
        if !keys.insert(*key) {
            return Err(GgufError::DuplicateKey((*key).into()));
        }
    }
    let mut names = HashSet::new();
    for t in tensors {
        if !names.insert(t.name.as_str()) {
            return Err(GgufError::DuplicateTensor(t.name.clone()));
        }
    }
    let alignment = match metadata.iter().find(|(k, _)| *k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            Some(a) if a.is_power_of_two() => a,
            _ => return Err(GgufError::Alignment(v.as_u64().unwrap_or(0))),
        },
    };
    let mut header = Vec::new();
    header.extend(b"GGUF");
    header.extend(3u32.to_le_bytes());
    header.extend((tensors.len() as u64).to_le_bytes());
    header.extend((metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut header, key);
        header.extend(value.type_id().to_le_bytes());
        put_value(&mut header, key, value)?;
    }
    let mut offset = 0u64;
    for t in tensors {
        put_string(&mut header, &t.name);
        header.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            header.extend(d.to_le_bytes());
        }
        header.extend(t.ggml_type.id().to_le_bytes());
        header.extend(offset.to_le_bytes());
        offset = (offset + t.bytes.len() as u64).next_multiple_of(alignment);
    }
    let padded = (header.len() as u64).next_multiple_of(alignment);
    header.resize(padded as usize, 0);
    let io = |e: std::io::Error| GgufError::Write(e.to_string());
    out.write_all(&header).map_err(io)?;
    for t in tensors {
        out.write_all(&t.bytes).map_err(io)?;
        let pad = (t.bytes.len() as u64).next_multiple_of(alignment) - t.bytes.len() as u64;
        out.write_all(&vec![0; pad as usize]).map_err(io)?;
    }
    out.flush().map_err(io)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, key: &str, value: &Value) -> Result<(), GgufError> {
    match value {
        Value::U8(v) => out.extend(v.to_le_bytes()),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(items) => {
            // GGUF stores one item type per array; an empty array's is arbitrary.
            let item_type = items.first().map_or(0, Value::type_id);
            if items.iter().any(|i| i.type_id() != item_type) {
                return Err(GgufError::Write(format!(
                    "metadata {key}: an array's items must share one type"
                )));
            }
            out.extend(item_type.to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, key, item)?;
            }
        }
    }
    Ok(())
}
