//! Files: atomic writes, the safetensors container, the model file layout and the
//! training history (JSON, CSV).

pub mod atomic;
pub mod model_file;
pub mod tensor_file;

pub use atomic::{write_atomic, write_atomic_with};
pub use model_file::{LoadedModel, SaveExtras, TrainingState, load_model, save_model};
pub use tensor_file::TensorFile;
