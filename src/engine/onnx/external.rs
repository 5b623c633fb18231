//! Which files an ONNX model's tensors name as external data (`TensorProto.external_data`'s
//! `location`), read with a partial protobuf schema before onnxruntime opens the model, so the
//! caller can keep them inside the model directory. Tensor contents are skipped unread.

use std::path::Path;

use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "25")]
    functions: Vec<FunctionProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "15")]
    sparse_initializer: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct FunctionProto {
    #[prost(message, repeated, tag = "7")]
    node: Vec<NodeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeProto {
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeProto {
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, optional, boxed, tag = "6")]
    g: Option<Box<GraphProto>>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    graphs: Vec<GraphProto>,
    #[prost(message, optional, tag = "22")]
    sparse_tensor: Option<SparseTensorProto>,
    #[prost(message, repeated, tag = "23")]
    sparse_tensors: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    indices: Option<TensorProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(string, tag = "8")]
    name: String,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<StringStringEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StringStringEntry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// One tensor's external data: the tensor's name and the file it names (as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalData {
    pub tensor: String,
    pub location: String,
}

/// Every external-data `location` in the ONNX model bytes `data` (graphs, subgraphs, node
/// attributes, sparse tensors and functions). Malformed bytes are an error; prost bounds the
/// message nesting.
pub fn external_data(data: &[u8]) -> Result<Vec<ExternalData>, String> {
    let model = ModelProto::decode(data).map_err(|e| format!("not a readable ONNX model: {e}"))?;
    let mut out = Vec::new();
    if let Some(g) = &model.graph {
        graph(g, &mut out);
    }
    for f in &model.functions {
        f.node.iter().for_each(|n| node(n, &mut out));
    }
    Ok(out)
}

/// [`external_data`] of a file.
pub fn external_data_file(path: &Path) -> Result<Vec<ExternalData>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    external_data(&data)
}

fn graph(g: &GraphProto, out: &mut Vec<ExternalData>) {
    g.initializer.iter().for_each(|t| tensor(t, out));
    g.sparse_initializer.iter().for_each(|s| sparse(s, out));
    g.node.iter().for_each(|n| node(n, out));
}

fn node(n: &NodeProto, out: &mut Vec<ExternalData>) {
    for a in &n.attribute {
        a.t.iter().chain(&a.tensors).for_each(|t| tensor(t, out));
        a.sparse_tensor
            .iter()
            .chain(&a.sparse_tensors)
            .for_each(|s| sparse(s, out));
        a.g.iter().for_each(|g| graph(g, out));
        a.graphs.iter().for_each(|g| graph(g, out));
    }
}

fn sparse(s: &SparseTensorProto, out: &mut Vec<ExternalData>) {
    s.values
        .iter()
        .chain(&s.indices)
        .for_each(|t| tensor(t, out));
}

fn tensor(t: &TensorProto, out: &mut Vec<ExternalData>) {
    for e in &t.external_data {
        if e.key == "location" {
            out.push(ExternalData {
                tensor: t.name.clone(),
                location: e.value.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_locations_in_graphs_subgraphs_and_functions() {
        let ext = |name: &str, loc: &str| TensorProto {
            name: name.into(),
            external_data: vec![
                StringStringEntry {
                    key: "location".into(),
                    value: loc.into(),
                },
                StringStringEntry {
                    key: "offset".into(),
                    value: "0".into(),
                },
            ],
        };
        let sub = GraphProto {
            initializer: vec![ext("inner", "../escape.bin")],
            ..Default::default()
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                initializer: vec![ext("w", "weights.bin"), TensorProto::default()],
                node: vec![NodeProto {
                    attribute: vec![AttributeProto {
                        g: Some(Box::new(sub)),
                        sparse_tensor: Some(SparseTensorProto {
                            values: Some(ext("sv", "/etc/passwd")),
                            indices: None,
                        }),
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            }),
            functions: vec![FunctionProto {
                node: vec![NodeProto {
                    attribute: vec![AttributeProto {
                        t: Some(ext("f", "fn.bin")),
                        ..Default::default()
                    }],
                }],
            }],
        };
        let found: Vec<_> = external_data(&model.encode_to_vec())
            .unwrap()
            .into_iter()
            .map(|e| (e.tensor, e.location))
            .collect();
        let want = [
            ("w", "weights.bin"),
            ("sv", "/etc/passwd"),
            ("inner", "../escape.bin"),
            ("f", "fn.bin"),
        ];
        assert_eq!(found, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert!(external_data(b"\xff\xff\xff").is_err());
        assert_eq!(external_data(b"").unwrap(), vec![]);
    }
}
