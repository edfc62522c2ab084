//! Files: atomic writes, the safetensors container, the model file layout and the
//! training history (JSON, CSV).

pub mod atomic;
pub mod history_files;
pub mod input;
pub mod model_file;
pub mod tensor_file;

pub use atomic::{write_atomic, write_atomic_with};
pub use history_files::{read_history_json, write_history_csv, write_history_json};
pub use input::{check_input_file, read_input, read_input_to_string, read_text_input};
pub use model_file::{
    LoadedModel, SaveExtras, TrainingState, load_model, load_model_bytes, save_model,
};
pub use tensor_file::TensorFile;
