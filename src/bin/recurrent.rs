//! The `recurrent` command: parses arguments and hands over to `recurrent::cli`.
//! Errors print as one `error: ...` line and exit with status 1; Ctrl-C during
//! training exits with 130.

use clap::Parser;

fn main() {
    let cli = recurrent::cli::Cli::parse();
    match recurrent::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Errors are expected outcomes (bad config, missing file), not bugs: one
            // line, no backtrace. Panics still honour RUST_BACKTRACE.
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
