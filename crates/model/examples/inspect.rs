//! Prints a GGUF file's metadata and tensor types: `cargo run -p dial-model --example inspect -- FILE`.
#![allow(clippy::unwrap_used)]
use candle_core::quantized::gguf_file;

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let c = gguf_file::Content::read(&mut f).unwrap();
    let mut keys: Vec<_> = c.metadata.keys().collect();
    keys.sort();
    for k in keys {
        let v = &c.metadata[k];
        let s = match v {
            gguf_file::Value::Array(a) => format!(
                "array[{}] first {:?}",
                a.len(),
                a.iter().take(3).collect::<Vec<_>>()
            ),
            other => format!("{other:?}"),
        };
        println!("{k} = {}", s.chars().take(160).collect::<String>());
    }
    let mut types = std::collections::BTreeMap::new();
    for (name, info) in &c.tensor_infos {
        *types
            .entry(format!("{:?}", info.ggml_dtype))
            .or_insert(0usize) += 1;
        if name.starts_with("blk.0.") || !name.starts_with("blk.") {
            println!("{name}: {:?} {:?}", info.ggml_dtype, info.shape);
        }
    }
    println!("{types:?}");
}
