//! The `recurrent` command: everything happens in `recurrent::run_cli` (parse the
//! arguments, run, print an error as one `error: ...` line). Exits with status 1 on
//! an error and 130 after Ctrl-C during training.

fn main() {
    std::process::exit(recurrent::run_cli());
}
