//! Files written by `write` read back the same; every kind of damage is a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_gguf::{GgmlType, Gguf, GgufError, TensorData, Value, write};

fn sample_metadata() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(2)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("general.file_type", Value::I64(-3)),
        ("ratio", Value::F64(0.25)),
        ("flag", Value::Bool(true)),
        (
            "tokenizer.ggml.tokens",
            Value::Array(vec![Value::String("<s>".into()), Value::String("é".into())]),
        ),
        (
            "nested",
            Value::Array(vec![Value::Array(vec![Value::U8(1), Value::U8(2)])]),
        ),
        ("small", Value::Array(vec![Value::I16(-2), Value::I16(3)])),
    ]
}

fn sample_tensors() -> Vec<TensorData> {
    let q8: Vec<u8> = (0..2 * 34).map(|i| i as u8).collect();
    vec![
        TensorData::f32("norm.weight", &[3], &[1.0, -2.0, 0.5]).unwrap(),
        TensorData::new("blk.0.w", &[32, 2], GgmlType::Q8_0, q8).unwrap(),
        TensorData::f32("empty_dim", &[4, 1], &[0.0; 4]).unwrap(),
    ]
}

fn written(metadata: &[(&str, Value)], tensors: &[TensorData]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(&mut bytes, metadata, tensors).unwrap();
    bytes
}

#[test]
fn a_written_file_reads_back_the_same() {
    let (md, tensors) = (sample_metadata(), sample_tensors());
    let bytes = written(&md, &tensors);
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.metadata().len(), md.len());
    for (key, value) in &md {
        assert_eq!(g.get(key), Some(value), "{key}");
    }
    assert_eq!(g.tensors().len(), 3);
    let norm = g.tensor("norm.weight").unwrap();
    assert_eq!(norm.dims(), &[3]);
    assert_eq!(norm.ggml_type(), GgmlType::F32);
    assert_eq!(norm.data().start % 32, 0, "aligned");
    let floats: Vec<f32> = bytes[norm.data()]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [1.0, -2.0, 0.5]);
    let w = g.tensor("blk.0.w").unwrap();
    assert_eq!(w.matrix(), Some((2, 32)));
    assert_eq!(w.data().len(), 68);
    assert_eq!(bytes[w.data()], tensors[1].clone_bytes());
    assert_eq!(w.data().start % 32, 0);
    assert_eq!(g.tensors()[2].name(), "empty_dim", "file order is kept");
}

trait CloneBytes {
    fn clone_bytes(&self) -> Vec<u8>;
}

impl CloneBytes for TensorData {
    fn clone_bytes(&self) -> Vec<u8> {
        // Written alone, a tensor's bytes are the file's tail.
        let bytes = written(&[], std::slice::from_ref(self));
        let g = Gguf::parse(&bytes).unwrap();
        bytes[g.tensors()[0].data()].to_vec()
    }
}

#[test]
fn every_truncation_and_every_flipped_header_byte_is_an_error_or_a_file_never_a_panic() {
    let bytes = written(&sample_metadata(), &sample_tensors());
    // Cut anywhere before the last tensor's data ends (what follows is padding).
    let end = Gguf::parse(&bytes).unwrap().tensors()[2].data().end;
    for len in 0..end {
        assert!(Gguf::parse(&bytes[..len]).is_err(), "cut at {len}");
    }
    let header = Gguf::parse(&bytes).unwrap().tensors()[0].data().start;
    for at in 0..header {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            let _ = Gguf::parse(&damaged);
        }
    }
}

fn header(version: u32, tensors: u64, keys: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(tensors.to_le_bytes());
    b.extend(keys.to_le_bytes());
    b
}

fn string(b: &mut Vec<u8>, s: &[u8]) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s);
}

/// One tensor entry: name, dims, type id, offset.
fn tensor_entry(b: &mut Vec<u8>, name: &str, dims: &[u64], type_id: u32, offset: u64) {
    string(b, name.as_bytes());
    b.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        b.extend(d.to_le_bytes());
    }
    b.extend(type_id.to_le_bytes());
    b.extend(offset.to_le_bytes());
}

#[test]
fn damaged_headers_are_typed_errors() {
    assert!(matches!(
        Gguf::parse(b"GGML\x03\0\0\0"),
        Err(GgufError::NotGguf(_))
    ));
    assert_eq!(
        Gguf::parse(&header(1, 0, 0)).unwrap_err(),
        GgufError::Version(1)
    );
    let swapped = Gguf::parse(&header(3u32.swap_bytes(), 0, 0)).unwrap_err();
    assert!(swapped.to_string().contains("big-endian"), "{swapped}");
    // Counts the file cannot hold are refused before anything is allocated for them.
    assert!(matches!(
        Gguf::parse(&header(3, u64::MAX, 0)),
        Err(GgufError::TooMany { .. })
    ));
    assert!(matches!(
        Gguf::parse(&header(3, 0, 1 << 60)),
        Err(GgufError::TooMany { .. })
    ));
    let mut huge_string = header(3, 0, 1);
    huge_string.extend(u64::MAX.to_le_bytes());
    huge_string.resize(huge_string.len() + 16, 0);
    assert!(matches!(
        Gguf::parse(&huge_string),
        Err(GgufError::Truncated { .. })
    ));
    let mut huge_array = header(3, 0, 1);
    string(&mut huge_array, b"tokens");
    huge_array.extend(9u32.to_le_bytes());
    huge_array.extend(8u32.to_le_bytes());
    huge_array.extend((1u64 << 40).to_le_bytes());
    huge_array.resize(huge_array.len() + 13, 0);
    assert!(matches!(
        Gguf::parse(&huge_array),
        Err(GgufError::TooMany { .. })
    ));
    let mut bad_type = header(3, 0, 1);
    string(&mut bad_type, b"k");
    bad_type.extend(13u32.to_le_bytes());
    bad_type.extend([0; 8]);
    assert_eq!(
        Gguf::parse(&bad_type).unwrap_err(),
        GgufError::ValueType {
            key: "k".into(),
            id: 13
        }
    );
    // Arrays of arrays of … deeper than any model file.
    let mut deep = header(3, 0, 1);
    string(&mut deep, b"deep");
    deep.extend(9u32.to_le_bytes());
    for _ in 0..6 {
        deep.extend(9u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    deep.resize(deep.len() + 64, 0);
    assert_eq!(
        Gguf::parse(&deep).unwrap_err(),
        GgufError::Nesting("deep".into())
    );
    let twice = written(&[], &[]);
    let mut dup = header(3, 0, 2);
    for _ in 0..2 {
        string(&mut dup, b"a");
        dup.extend(4u32.to_le_bytes());
        dup.extend(1u32.to_le_bytes());
    }
    assert_eq!(
        Gguf::parse(&dup).unwrap_err(),
        GgufError::DuplicateKey("a".into())
    );
    assert!(Gguf::parse(&twice).is_ok(), "an empty file is a file");
    let mut align = header(3, 0, 1);
    string(&mut align, b"general.alignment");
    align.extend(4u32.to_le_bytes());
    align.extend(24u32.to_le_bytes());
    assert_eq!(Gguf::parse(&align).unwrap_err(), GgufError::Alignment(24));
}

/// A file with one tensor entry and `data` bytes of tensor data.
fn one_tensor(dims: &[u64], type_id: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut b = header(3, 1, 0);
    tensor_entry(&mut b, "t", dims, type_id, offset);
    b.resize(b.len().next_multiple_of(32) + data, 0);
    b
}

fn tensor_reason(bytes: &[u8]) -> String {
    match Gguf::parse(bytes) {
        Err(GgufError::Tensor { name, reason }) => {
            assert_eq!(name, "t");
            reason
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_tensor_entries_are_typed_errors_naming_the_tensor() {
    assert!(Gguf::parse(&one_tensor(&[32, 2], 8, 0, 68)).is_ok());
    assert!(tensor_reason(&one_tensor(&[32, 2], 8, 0, 67)).contains("past the end"));
    assert!(tensor_reason(&one_tensor(&[32, 2], 8, u64::MAX - 3, 68)).contains("alignment"));
    assert!(tensor_reason(&one_tensor(&[32, 2], 8, u64::MAX - 31, 68)).contains("past the end"));
    assert!(tensor_reason(&one_tensor(&[30, 2], 8, 0, 68)).contains("whole Q8_0 blocks"));
    assert!(tensor_reason(&one_tensor(&[32, 2], 4, 0, 68)).contains("type 4 is not a ggml type"));
    assert!(tensor_reason(&one_tensor(&[1, 1, 1, 1, 1], 0, 0, 4)).contains("5 dimensions"));
    assert!(tensor_reason(&one_tensor(&[1 << 40, 1 << 40], 0, 0, 4)).contains("too large"));
    // A type dial has no kernel for still reads: the model loader names it.
    let iq4 = Gguf::parse(&one_tensor(&[32, 4], 20, 0, 72)).unwrap();
    assert_eq!(iq4.tensor("t").unwrap().ggml_type().name(), "IQ4_NL");
    let mut dup = header(3, 2, 0);
    tensor_entry(&mut dup, "t", &[1], 0, 0);
    tensor_entry(&mut dup, "t", &[1], 0, 32);
    dup.resize(dup.len().next_multiple_of(32) + 64, 0);
    assert_eq!(
        Gguf::parse(&dup).unwrap_err(),
        GgufError::DuplicateTensor("t".into())
    );
}

#[test]
fn strings_lose_trailing_nuls_and_keep_what_utf8_they_can() {
    let mut b = header(3, 0, 2);
    string(&mut b, b"a");
    b.extend(8u32.to_le_bytes());
    string(&mut b, b"x\0\0");
    string(&mut b, b"b");
    b.extend(8u32.to_le_bytes());
    string(&mut b, b"\xffok");
    let g = Gguf::parse(&b).unwrap();
    assert_eq!(g.get("a").and_then(Value::as_str), Some("x"));
    assert_eq!(g.get("b").and_then(Value::as_str), Some("\u{fffd}ok"));
}

#[test]
fn the_writer_refuses_what_it_cannot_write_truly() {
    assert!(matches!(
        TensorData::new("w", &[32, 2], GgmlType::Q8_0, vec![0; 67]),
        Err(GgufError::Tensor { .. })
    ));
    assert!(TensorData::new("w", &[30], GgmlType::Q8_0, vec![0; 34]).is_err());
    assert!(TensorData::new("w", &[], GgmlType::F32, vec![]).is_err());
    let mixed = [("m", Value::Array(vec![Value::U8(1), Value::I8(1)]))];
    assert!(matches!(
        write(&mut Vec::new(), &mixed, &[]),
        Err(GgufError::Write(_))
    ));
    let dup = [("k", Value::U8(1)), ("k", Value::U8(2))];
    assert_eq!(
        write(&mut Vec::new(), &dup, &[]).unwrap_err(),
        GgufError::DuplicateKey("k".into())
    );
    let t = TensorData::f32("t", &[1], &[1.0]).unwrap();
    assert_eq!(
        write(&mut Vec::new(), &[], &[t.clone(), t]).unwrap_err(),
        GgufError::DuplicateTensor("t".into())
    );
}

#[test]
fn a_wider_alignment_is_honoured_both_ways() {
    let md = [("general.alignment", Value::U32(64))];
    let tensors = [
        TensorData::f32("a", &[3], &[1.0; 3]).unwrap(),
        TensorData::f32("b", &[3], &[2.0; 3]).unwrap(),
    ];
    let bytes = written(&md, &tensors);
    let g = Gguf::parse(&bytes).unwrap();
    for t in g.tensors() {
        assert_eq!(t.data().start % 64, 0, "{}", t.name());
    }
}
