//! Hot loops: matrix products and fused gate activations. Layers call these; nothing
//! else in the crate should contain a performance-critical inner loop.
