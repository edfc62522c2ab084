//! A small builder for an ONNX graph: nodes with unique names, weight initializers and
//! the attribute helpers the layer mapping uses.

use std::collections::HashSet;

use super::proto::{
    AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, attribute_type, data_type,
};

#[derive(Default)]
pub(crate) struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Tensor names used so far (ONNX wants them unique in a graph).
    names: HashSet<String>,
    /// Node names used so far (their own namespace, also unique).
    node_names: HashSet<String>,
}

impl GraphBuilder {
    /// `base`, or `base_1`, `base_2`, ... if taken; reserved from now on.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        unique(&mut self.names, base)
    }

    /// Add a node named `name` (made unique) with one output per entry of `outputs`
    /// (each a base name, made unique); returns the output tensor names.
    pub(crate) fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> Vec<String> {
        let node_name = unique(&mut self.node_names, name);
        let output: Vec<String> = outputs.iter().map(|o| self.fresh(o)).collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            name: Some(node_name),
            op_type: Some(op_type.to_string()),
            attribute,
            domain: None,
        });
        output
    }

    /// A node with a single output named `name` (made unique); returns its name.
    pub(crate) fn op(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.node(op_type, name, inputs, &[name], attribute)
            .pop()
            .expect("one output")
    }

    /// A float32 weight tensor; returns its (unique) name.
    pub(crate) fn float_tensor(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let name = self.fresh(name);
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type::FLOAT),
            name: Some(name.clone()),
            raw_data: Some(raw),
        });
        name
    }

    /// An int64 constant tensor (axes, shapes, indices); `dims` empty for a scalar.
    pub(crate) fn int_tensor(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let name = self.fresh(name);
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type::INT64),
            name: Some(name.clone()),
            raw_data: Some(raw),
        });
        name
    }

    /// Make `tensor` (the last computed value) the graph output `name`: the node that
    /// produces it is renamed, or an Identity added when no node does (a model whose
    /// layers all export to nothing, e.g. only Dropout).
    pub(crate) fn rename_output(&mut self, tensor: &str, name: &str) {
        let producer = self
            .nodes
            .iter_mut()
            .flat_map(|n| n.output.iter_mut())
            .find(|o| o.as_str() == tensor);
        match producer {
            Some(o) if !self.names.contains(name) => {
                *o = name.to_string();
                self.names.insert(name.to_string());
            }
            _ => {
                let out = self.node("Identity", "output_identity", &[tensor], &[name], vec![]);
                debug_assert_eq!(out[0], name);
            }
        }
    }

    pub(crate) fn finish(
        self,
        name: &str,
        input: Vec<ValueInfoProto>,
        output: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: Some(name.to_string()),
            initializer: self.initializers,
            doc_string: None,
            input,
            output,
        }
    }
}

/// `base`, or `base_1`, `base_2`, ... if taken in `used`; reserved from now on.
fn unique(used: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while used.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

fn attr(name: &str, r#type: i32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(r#type),
        ..AttributeProto::default()
    }
}

pub(crate) fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: Some(v),
        ..attr(name, attribute_type::INT)
    }
}

pub(crate) fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: v.to_vec(),
        ..attr(name, attribute_type::INTS)
    }
}

pub(crate) fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: Some(v.as_bytes().to_vec()),
        ..attr(name, attribute_type::STRING)
    }
}

pub(crate) fn attr_strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attr(name, attribute_type::STRINGS)
    }
}
