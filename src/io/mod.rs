//! Files: atomic writes, the safetensors container, the model file layout and the
//! training history (JSON, CSV).

pub mod atomic;
pub mod tensor_file;

pub use atomic::{write_atomic, write_atomic_with};
pub use tensor_file::TensorFile;
