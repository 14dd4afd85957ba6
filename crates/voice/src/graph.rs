//! The voice's graph, rewritten at load so that dial, not ONNX Runtime's clock, owns the
//! noise.
//!
//! A Piper VITS graph draws its noise with two unseeded `RandomNormalLike` nodes: the
//! duration predictor's (`/dp/RandomNormalLike`, shape `[1, 2, N]` for `N` phoneme ids)
//! and the prior's (`/RandomNormalLike`, shape `[1, C, frames]`). Each becomes
//!
//! ```text
//! Slice(noise_input, starts = 0, ends = Shape(X), axes = 0..3)
//! ```
//!
//! where `X` is the tensor the node copied its shape from, so a noise input at least as
//! large as `X` serves any length, and one session serves every seed. The rewrite also
//! exposes the per-phoneme durations in frames (the output of the graph's one `Ceil`) and
//! the prior's shape, and cuts a second, much smaller graph that computes only the
//! durations, so a take's length is known before its audio is paid for.

use crate::proto::{self, Field, ProtoError};
use std::collections::HashSet;

/// The input that replaces the duration predictor's noise: `[1, 2, N]`, or larger.
pub const DURATION_NOISE: &str = "dial_duration_noise";
/// The input that replaces the prior's noise: `[1, C, frames]`, or larger.
pub const PRIOR_NOISE: &str = "dial_prior_noise";
/// The output with each phoneme id's duration in frames, `[1, 1, N]`.
pub const DURATIONS: &str = "dial_durations";
/// The output with the prior's shape, `[1, C, frames]` (int64).
pub const PRIOR_SHAPE: &str = "dial_prior_shape";

const DURATION_NOISE_SHAPE: &str = "dial/duration_noise_shape";
const ZEROS: &str = "dial/zeros";
const AXES: &str = "dial/axes";

/// Why a voice's graph cannot be made seedable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Not a protobuf, or not an ONNX model.
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// Not the VITS graph Piper exports.
    #[error("the voice's graph is not a Piper VITS graph dial can seed: {0}")]
    Shape(String),
}

/// The two graphs dial runs for a voice.
#[derive(Debug, Clone)]
pub struct SeedableGraph {
    /// The whole voice, with noise inputs and the durations and prior-shape outputs.
    pub full: Vec<u8>,
    /// Only what the durations need: the text encoder and the duration predictor.
    pub durations: Vec<u8>,
}

// ONNX field numbers (onnx.proto).
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_INPUT: u64 = 11;
const GRAPH_OUTPUT: u64 = 12;
const GRAPH_VALUE_INFO: u64 = 13;
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_NAME: u64 = 3;
const NODE_OP_TYPE: u64 = 4;
const NODE_ATTRIBUTE: u64 = 5;
const ATTRIBUTE_NAME: u64 = 1;
const ATTRIBUTE_INT: u64 = 3;
const TENSOR_NAME: u64 = 8;
const VALUE_INFO_NAME: u64 = 1;
const FLOAT: u64 = 1;
const INT64: u64 = 7;

#[derive(Debug)]
struct Node<'a> {
    name: &'a str,
    op_type: &'a str,
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    encoded: Vec<u8>,
}

fn parse_node<'a>(field: &Field<'a>) -> Result<Node<'a>, GraphError> {
    let body = field.bytes().ok_or(ProtoError("a node is not a message"))?;
    let mut node = Node {
        name: "",
        op_type: "",
        inputs: Vec::new(),
        outputs: Vec::new(),
        encoded: field.encoded.to_vec(),
    };
    let mut attributes = Vec::new();
    for f in proto::fields(body)? {
        let text = || f.text().ok_or(ProtoError("a node's name is not UTF-8"));
        match f.number {
            NODE_INPUT => node.inputs.push(text()?),
            NODE_OUTPUT => node.outputs.push(text()?),
            NODE_NAME => node.name = text()?,
            NODE_OP_TYPE => node.op_type = text()?,
            NODE_ATTRIBUTE => attributes.push(f.bytes().unwrap_or_default()),
            _ => {}
        }
    }
    if node.op_type == "RandomNormalLike" {
        for a in attributes {
            check_random_attribute(a)?;
        }
    }
    Ok(node)
}

/// `RandomNormalLike` must draw float N(0, 1): a `mean` or `scale` dial would not apply.
fn check_random_attribute(attribute: &[u8]) -> Result<(), GraphError> {
    let fields = proto::fields(attribute)?;
    let name = fields
        .iter()
        .find(|f| f.number == ATTRIBUTE_NAME)
        .and_then(Field::text);
    let int = fields.iter().find_map(|f| match f.payload {
        proto::Payload::Varint(v) if f.number == ATTRIBUTE_INT => Some(v),
        _ => None,
    });
    match (name, int) {
        (Some("mean" | "scale"), _) => Err(GraphError::Shape(
            "a RandomNormalLike node sets its own mean or scale".into(),
        )),
        (Some("dtype"), Some(dtype)) if dtype != FLOAT => Err(GraphError::Shape(
            "a RandomNormalLike node draws a type other than float".into(),
        )),
        _ => Ok(()),
    }
}

fn encode_node(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for i in inputs {
        proto::put_bytes(&mut body, NODE_INPUT, i.as_bytes());
    }
    for o in outputs {
        proto::put_bytes(&mut body, NODE_OUTPUT, o.as_bytes());
    }
    proto::put_bytes(&mut body, NODE_NAME, name.as_bytes());
    proto::put_bytes(&mut body, NODE_OP_TYPE, op_type.as_bytes());
    let mut out = Vec::new();
    proto::put_bytes(&mut out, GRAPH_NODE, &body);
    out
}

fn encode_int64_initializer(name: &str, values: &[i64]) -> Vec<u8> {
    let mut tensor = Vec::new();
    proto::put_packed(&mut tensor, 1, &[values.len() as i64]); // dims
    proto::put_int(&mut tensor, 2, INT64); // data_type
    proto::put_packed(&mut tensor, 7, values); // int64_data
    proto::put_bytes(&mut tensor, 8, name.as_bytes()); // name
    let mut out = Vec::new();
    proto::put_bytes(&mut out, GRAPH_INITIALIZER, &tensor);
    out
}

/// A graph input or output of `elem_type`, with one symbolic dimension per name in
/// `dims` (or a fixed size where the name parses as a number).
fn encode_value_info(field: u64, name: &str, elem_type: u64, dims: &[&str]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d.parse::<u64>() {
            Ok(v) => proto::put_int(&mut dim, 1, v),
            Err(_) => proto::put_bytes(&mut dim, 2, d.as_bytes()),
        }
        proto::put_bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    proto::put_int(&mut tensor, 1, elem_type);
    proto::put_bytes(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    proto::put_bytes(&mut ty, 1, &tensor);
    let mut info = Vec::new();
    proto::put_bytes(&mut info, 1, name.as_bytes());
    proto::put_bytes(&mut info, 2, &ty);
    let mut out = Vec::new();
    proto::put_bytes(&mut out, field, &info);
    out
}

/// The name a tensor, input or value-info field declares.
fn declared_name<'a>(field: &Field<'a>, name_field: u64) -> Option<&'a str> {
    proto::fields(field.bytes()?)
        .ok()?
        .into_iter()
        .find(|f| f.number == name_field)
        .and_then(|f| f.text())
}

fn one<'n, 'a>(nodes: &'n [Node<'a>], what: &str, found: Vec<usize>) -> Result<usize, GraphError> {
    match found.as_slice() {
        [i] if nodes[*i].inputs.len() == 1 && nodes[*i].outputs.len() == 1 => Ok(*i),
        [_] => Err(GraphError::Shape(format!("its {what} node is not unary"))),
        _ => Err(GraphError::Shape(format!(
            "it has {} {what} nodes, not one",
            found.len()
        ))),
    }
}

impl SeedableGraph {
    /// Rewrites a Piper voice's `.onnx` bytes.
    pub fn rewrite(model: &[u8]) -> Result<Self, GraphError> {
        let model_fields = proto::fields(model)?;
        let graph_field = model_fields
            .iter()
            .find(|f| f.number == MODEL_GRAPH)
            .ok_or(ProtoError("the model has no graph"))?;
        let graph = proto::fields(
            graph_field
                .bytes()
                .ok_or(ProtoError("the graph is not a message"))?,
        )?;
        let mut nodes: Vec<Node<'_>> = graph
            .iter()
            .filter(|f| f.number == GRAPH_NODE)
            .map(parse_node)
            .collect::<Result<_, _>>()?;

        let random: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].op_type == "RandomNormalLike")
            .collect();
        let (dp, prior): (Vec<usize>, Vec<usize>) = random
            .into_iter()
            .partition(|&i| nodes[i].name.starts_with("/dp/"));
        let dp = one(&nodes, "duration-noise RandomNormalLike (/dp/…)", dp)?;
        let prior = one(&nodes, "prior-noise RandomNormalLike", prior)?;
        let ceil: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].op_type == "Ceil")
            .collect();
        let ceil = one(&nodes, "Ceil (durations)", ceil)?;

        for (i, noise, shape) in [
            (dp, DURATION_NOISE, DURATION_NOISE_SHAPE),
            (prior, PRIOR_NOISE, PRIOR_SHAPE),
        ] {
            let like = nodes[i].inputs[0];
            let out = nodes[i].outputs[0];
            let shape_node = encode_node("Shape", &format!("{shape}/Shape"), &[like], &[shape]);
            let slice_node = encode_node(
                "Slice",
                &format!("{noise}/Slice"),
                &[noise, ZEROS, shape, AXES],
                &[out],
            );
            nodes[i] = Node {
                name: "",
                op_type: "Slice",
                inputs: vec![like, noise, ZEROS, AXES],
                outputs: vec![out, shape],
                encoded: [shape_node, slice_node].concat(),
            };
        }
        let durations_node = encode_node(
            "Identity",
            &format!("{DURATIONS}/Identity"),
            &[nodes[ceil].outputs[0]],
            &[DURATIONS],
        );
        let ceil_output = nodes[ceil].outputs[0];
        nodes.push(Node {
            name: "",
            op_type: "Identity",
            inputs: vec![ceil_output],
            outputs: vec![DURATIONS],
            encoded: durations_node,
        });

        let added_initializers = [
            encode_int64_initializer(ZEROS, &[0, 0, 0]),
            encode_int64_initializer(AXES, &[0, 1, 2]),
        ]
        .concat();
        let duration_noise_input =
            encode_value_info(GRAPH_INPUT, DURATION_NOISE, FLOAT, &["1", "2", "dial_n"]);
        let prior_noise_input =
            encode_value_info(GRAPH_INPUT, PRIOR_NOISE, FLOAT, &["1", "dial_c", "dial_f"]);
        let durations_output =
            encode_value_info(GRAPH_OUTPUT, DURATIONS, FLOAT, &["1", "1", "dial_n"]);
        let prior_shape_output = encode_value_info(GRAPH_OUTPUT, PRIOR_SHAPE, INT64, &["3"]);

        // The whole graph: every field kept, the nodes as rewritten, the new ends added.
        let mut full = Vec::new();
        for f in &graph {
            if f.number != GRAPH_NODE {
                full.extend_from_slice(f.encoded);
            }
        }
        for n in &nodes {
            full.extend_from_slice(&n.encoded);
        }
        full.extend_from_slice(&added_initializers);
        full.extend_from_slice(&duration_noise_input);
        full.extend_from_slice(&prior_noise_input);
        full.extend_from_slice(&durations_output);
        full.extend_from_slice(&prior_shape_output);

        // The durations graph: the nodes the durations depend on (nodes are in topological
        // order, so one backward pass finds them), and the inputs and weights they read.
        let mut needed: HashSet<&str> = HashSet::from([DURATIONS]);
        let mut keep = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| needed.contains(o)) {
                keep[i] = true;
                needed.extend(n.inputs.iter().copied());
            }
        }
        let produced: HashSet<&str> = nodes
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .flat_map(|(n, _)| n.outputs.iter().copied())
            .collect();
        let mut durations = Vec::new();
        for f in &graph {
            let kept = match f.number {
                GRAPH_NODE | GRAPH_OUTPUT => false,
                GRAPH_INITIALIZER | GRAPH_INPUT => {
                    let name_field = if f.number == GRAPH_INITIALIZER {
                        TENSOR_NAME
                    } else {
                        VALUE_INFO_NAME
                    };
                    declared_name(f, name_field).is_some_and(|n| needed.contains(n))
                }
                GRAPH_VALUE_INFO => {
                    declared_name(f, VALUE_INFO_NAME).is_some_and(|n| produced.contains(n))
                }
                _ => true,
            };
            if kept {
                durations.extend_from_slice(f.encoded);
            }
        }
        for (n, _) in nodes.iter().zip(&keep).filter(|(_, k)| **k) {
            durations.extend_from_slice(&n.encoded);
        }
        durations.extend_from_slice(&added_initializers);
        durations.extend_from_slice(&duration_noise_input);
        durations.extend_from_slice(&durations_output);
        if needed.contains(PRIOR_NOISE) {
            return Err(GraphError::Shape(
                "its durations depend on the prior noise".into(),
            ));
        }

        let wrap = |graph_bytes: &[u8]| {
            let mut out = Vec::with_capacity(model.len() + 1024);
            for f in &model_fields {
                if f.number == MODEL_GRAPH {
                    proto::put_bytes(&mut out, MODEL_GRAPH, graph_bytes);
                } else {
                    out.extend_from_slice(f.encoded);
                }
            }
            out
        };
        Ok(SeedableGraph {
            full: wrap(&full),
            durations: wrap(&durations),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A graph with Piper's pattern: duration noise, a `Ceil`, prior noise after it.
    fn tiny(with_ceil: bool) -> Vec<u8> {
        let ceil = if with_ceil { "Ceil" } else { "Floor" };
        let mut graph = [
            encode_node("RandomNormalLike", "/dp/RandomNormalLike", &["x"], &["dpn"]),
            encode_node("Add", "add1", &["x", "dpn"], &["y"]),
            encode_node(ceil, "/Ceil", &["y"], &["c"]),
            encode_node("RandomNormalLike", "/RandomNormalLike", &["c"], &["pn"]),
            encode_node("Add", "add2", &["c", "pn"], &["output"]),
        ]
        .concat();
        proto::put_bytes(&mut graph, 2, b"tiny");
        graph.extend(encode_value_info(GRAPH_INPUT, "x", FLOAT, &["1", "2", "n"]));
        graph.extend(encode_value_info(
            GRAPH_OUTPUT,
            "output",
            FLOAT,
            &["1", "2", "n"],
        ));
        let mut opset = Vec::new();
        proto::put_bytes(&mut opset, 1, b"");
        proto::put_int(&mut opset, 2, 15);
        let mut model = Vec::new();
        proto::put_int(&mut model, 1, 8);
        proto::put_bytes(&mut model, 8, &opset);
        proto::put_bytes(&mut model, MODEL_GRAPH, &graph);
        model
    }

    /// (op types, input names, output names) of a rewritten model.
    fn summary(model: &[u8]) -> (Vec<String>, Vec<String>, Vec<String>) {
        let fields = proto::fields(model).unwrap();
        let graph = fields.iter().find(|f| f.number == MODEL_GRAPH).unwrap();
        let mut ops = Vec::new();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for f in proto::fields(graph.bytes().unwrap()).unwrap() {
            match f.number {
                GRAPH_NODE => ops.push(parse_node(&f).unwrap().op_type.to_string()),
                GRAPH_INPUT => inputs.push(declared_name(&f, VALUE_INFO_NAME).unwrap().into()),
                GRAPH_OUTPUT => outputs.push(declared_name(&f, VALUE_INFO_NAME).unwrap().into()),
                _ => {}
            }
        }
        (ops, inputs, outputs)
    }

    #[test]
    fn both_noise_nodes_become_slices_of_inputs_and_the_durations_graph_is_cut() {
        let g = SeedableGraph::rewrite(&tiny(true)).unwrap();
        let (ops, inputs, outputs) = summary(&g.full);
        assert!(!ops.iter().any(|o| o == "RandomNormalLike"), "{ops:?}");
        assert_eq!(ops.iter().filter(|o| *o == "Slice").count(), 2);
        assert_eq!(ops.iter().filter(|o| *o == "Shape").count(), 2);
        assert_eq!(inputs, ["x", DURATION_NOISE, PRIOR_NOISE]);
        assert_eq!(outputs, ["output", DURATIONS, PRIOR_SHAPE]);
        // The durations graph stops at the Ceil: no prior noise, no audio.
        let (ops, inputs, outputs) = summary(&g.durations);
        assert_eq!(ops, ["Shape", "Slice", "Add", "Ceil", "Identity"]);
        assert_eq!(inputs, ["x", DURATION_NOISE]);
        assert_eq!(outputs, [DURATIONS]);
    }

    #[test]
    fn a_graph_that_is_not_piper_s_is_a_clear_error() {
        assert!(matches!(
            SeedableGraph::rewrite(&tiny(false)),
            Err(GraphError::Shape(m)) if m.contains("Ceil")
        ));
        assert!(matches!(
            SeedableGraph::rewrite(b"not a model"),
            Err(GraphError::Proto(_))
        ));
        assert!(SeedableGraph::rewrite(&[]).is_err());
    }
}
