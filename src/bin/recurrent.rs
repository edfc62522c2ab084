//! The `recurrent` command: parses arguments and hands over to `recurrent::cli`.
//! Errors print as one `error: ...` line and exit with status 1; Ctrl-C during
//! training exits with 130.

use clap::Parser;

fn main() {
    let cli = recurrent::cli::Cli::parse();
    // The engine parallelises through rayon's global pool. With this thread as one of
    // its workers, each parallel step of a batch runs here and on the other workers
    // directly, instead of being handed to the pool and waited for (two thread
    // wake-ups per step: 1.2x on small models). Size: RAYON_NUM_THREADS, else one per
    // core. Failure only means the pool exists already, which is fine.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
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
