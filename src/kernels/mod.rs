//! Hot loops: matrix products and fused gate activations. Layers call these; nothing
//! else in the crate should contain a performance-critical inner loop.

pub mod fast_math;
pub mod gru;
pub mod lstm;
pub mod matmul;
pub mod packed_gemm;
pub mod prefetch;
pub mod simple_rnn;
pub mod small_gemm;

pub use gru::{
    gru_backward_row, gru_forward_row, gru_reset_before_backward_output_row,
    gru_reset_before_backward_reset_row, gru_reset_before_gates_row, gru_reset_before_output_row,
};
pub use lstm::{lstm_backward_row, lstm_forward_row, lstm_forward_rows};
pub use matmul::{MatMut, MatRef, column_sums, matmul};
pub use simple_rnn::{RowActivation, rnn_backward_row, rnn_forward_row};
