//! The hostile-input suite (issue 22): several hundred crafted inputs are not needed to
//! find the classes of failure, but every class needs a case that stays fixed. The
//! generator (`hostile_gen`) writes model files, configs, npz archives, CSV files,
//! text folders, histories and Keras-looking files crafted to be hostile or broken;
//! each case runs the real `recurrent` binary under an address-space limit and a
//! timeout, and must end with a clean `error:` message and exit code 1 (or succeed
//! where the input is odd but legal): no panic (exit 101), no signal (an abort on a
//! failed allocation is SIGABRT), no hang, and an error that quotes at most a few
//! KB of the input. The run prints one line per case and a summary with the largest
//! resident memory any case reached (from `wait4`'s rusage).
#![cfg(feature = "cli")]

#[cfg(target_os = "linux")]
#[path = "hostile_gen/mod.rs"]
mod hostile_gen;

#[cfg(target_os = "linux")]
mod run {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::hostile_gen::{self, Case, Expect};

    const BIN: &str = env!("CARGO_BIN_EXE_recurrent");
    /// Address space each case may map: far below what the abort cases used to
    /// claim (GBs to TBs), comfortably above a small run (threads, allocator arenas).
    const ADDRESS_SPACE: u64 = 3 << 30;
    /// Per case; generous for a shared 2-core machine (most cases end in ~10 ms).
    const TIMEOUT: Duration = Duration::from_secs(120);
    /// Longest stderr a failing case may print (a 10 MB line must not be echoed).
    const MAX_STDERR: usize = 4096;

    pub struct Outcome {
        pub name: String,
        pub problem: Option<String>,
        pub max_rss_kb: i64,
        pub took: Duration,
    }

    /// What one run of the binary gave.
    struct Run {
        status: std::process::ExitStatus,
        stdout: String,
        /// The first 64 KB of stderr, and its full length.
        stderr: String,
        stderr_len: usize,
        /// Peak resident memory in KB (`ru_maxrss`).
        max_rss_kb: i64,
        took: Duration,
        timed_out: bool,
    }

    /// Runs the binary on case `c`, limited to `ADDRESS_SPACE` bytes of address
    /// space, killed after `TIMEOUT`.
    fn run_limited(c: &Case) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
        let mut cmd = Command::new(BIN);
        cmd.args(&c.args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .env_remove("RECURRENT_MAX_PARAMS")
            .env_remove("RECURRENT_MAX_BYTES");
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        // SAFETY: the closure runs in the forked child before exec and only calls
        // setrlimit, which is async-signal-safe; it touches no memory of the parent
        // beyond reading the constant limit, and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: ADDRESS_SPACE as libc::rlim_t,
                    rlim_max: ADDRESS_SPACE as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let child = cmd.spawn().expect("spawn recurrent");
        let pid = child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let mut timed_out = false;
        loop {
            // SAFETY: `pid` is our own unreaped child (std never waits on it, as
            // `child` is not waited on and is forgotten below); `status` and `usage`
            // are valid, writable and outlive the call.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                break;
            }
            assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
            if start.elapsed() > TIMEOUT && !timed_out {
                timed_out = true;
                // SAFETY: sending a signal to our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = start.elapsed();
        // Reaped by wait4 above; dropping a Child never waits, so forgetting it only
        // skips closing pipes it does not have.
        std::mem::forget(child);
        // At most 64 KB of each stream is read (and the length taken from the file):
        // the harness's own memory is copied into the next child's peak RSS at fork.
        let read = |p: &std::path::Path| {
            use std::io::Read;
            let len = std::fs::metadata(p).unwrap().len() as usize;
            let mut head = Vec::new();
            std::fs::File::open(p)
                .unwrap()
                .take(64 << 10)
                .read_to_end(&mut head)
                .unwrap();
            let mut s = String::from_utf8_lossy(&head).into_owned();
            if len > head.len() {
                s.push_str(&format!("[... {len} bytes in all]"));
            }
            (s, len)
        };
        let (stdout, _) = read(&out_path);
        let (stderr, stderr_len) = read(&err_path);
        Run {
            status: std::process::ExitStatus::from_raw(status),
            stdout,
            stderr,
            stderr_len,
            max_rss_kb: usage.ru_maxrss,
            took,
            timed_out,
        }
    }

    pub fn check(c: &Case) -> Outcome {
        let Run {
            status,
            stdout,
            stderr,
            stderr_len,
            max_rss_kb: rss,
            took,
            timed_out,
        } = run_limited(c);
        let short = |s: &str| -> String {
            let s: String = s.chars().take(600).collect();
            s.replace('\n', " | ")
        };
        let problem = if timed_out {
            Some(format!("hang: killed after {TIMEOUT:?}"))
        } else if let Some(sig) = status.signal() {
            Some(format!(
                "killed by signal {sig}; stderr: {}",
                short(&stderr)
            ))
        } else if stderr.contains("panicked") || status.code() == Some(101) {
            Some(format!("panic: {}", short(&stderr)))
        } else {
            match &c.expect {
                Expect::Error(words) => {
                    let lower = stderr.to_lowercase();
                    if status.code() != Some(1) {
                        Some(format!(
                            "exit {:?}, expected 1; stderr: {}",
                            status.code(),
                            short(&stderr)
                        ))
                    } else if !stderr.starts_with("error:") && !stderr.contains("\nerror:") {
                        Some(format!("no `error:` line: {}", short(&stderr)))
                    } else if stderr.len() > MAX_STDERR {
                        Some(format!(
                            "stderr is {} bytes (over {MAX_STDERR}): {}",
                            stderr.len(),
                            short(&stderr)
                        ))
                    } else {
                        words
                            .iter()
                            .find(|w| !lower.contains(&w.to_lowercase()))
                            .map(|w| format!("error lacks {w:?}: {}", short(&stderr)))
                    }
                }
                Expect::Usage(words) => {
                    if status.code() != Some(2) || !stderr.starts_with("error:") {
                        Some(format!(
                            "exit {:?}, expected a usage error (2); stderr: {}",
                            status.code(),
                            short(&stderr)
                        ))
                    } else {
                        words
                            .iter()
                            .find(|w| !stderr.contains(*w))
                            .map(|w| format!("error lacks {w:?}: {}", short(&stderr)))
                    }
                }
                Expect::Clean => match status.code() {
                    Some(0) => None,
                    Some(1) if stderr.starts_with("error:") || stderr.contains("\nerror:") => {
                        (stderr_len > MAX_STDERR).then(|| format!("stderr is {stderr_len} bytes"))
                    }
                    other => Some(format!("exit {other:?}; stderr: {}", short(&stderr))),
                },
                Expect::Success(words) => {
                    let all = format!("{stdout}{stderr}");
                    if status.code() != Some(0) {
                        Some(format!(
                            "exit {:?}, expected 0; stderr: {}",
                            status.code(),
                            short(&stderr)
                        ))
                    } else {
                        words
                            .iter()
                            .find(|w| !all.contains(*w))
                            .map(|w| format!("output lacks {w:?}: {}", short(&all)))
                    }
                }
            }
        };
        Outcome {
            name: c.name.clone(),
            problem,
            max_rss_kb: rss,
            took,
        }
    }

    pub fn all_cases(dir: &std::path::Path) -> Vec<Case> {
        let mut cases = Vec::new();
        for (sub, make) in [
            (
                "model",
                hostile_gen::model_files as fn(&std::path::Path) -> Vec<Case>,
            ),
            ("config", hostile_gen::configs),
            ("npz", hostile_gen::npz_files),
            ("text", hostile_gen::text_files),
            ("history", hostile_gen::histories),
        ] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            cases.extend(make(&d));
        }
        cases
    }
}

#[cfg(target_os = "linux")]
#[test]
fn hostile_inputs_give_clean_errors_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let cases = run::all_cases(dir.path());
    // The generator's large buffers are freed but glibc keeps the pages; each child
    // starts as a copy of this process, so give them back to keep the children's
    // measured peak their own.
    // SAFETY: malloc_trim only releases free heap memory; no allocation is in use
    // across the call that it could invalidate.
    unsafe {
        libc::malloc_trim(0);
    }
    // Two cases at a time: the machine has two cores and most cases are tiny.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = cases.get(i) else { break };
                    let o = run::check(c);
                    outcomes.lock().unwrap().push((i, o));
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    let mut failures = Vec::new();
    for (_, o) in &outcomes {
        eprintln!(
            "{:<4} {:<48} {:>7.2} s {:>8} KB{}",
            if o.problem.is_some() { "FAIL" } else { "ok" },
            o.name,
            o.took.as_secs_f64(),
            o.max_rss_kb,
            o.problem
                .as_deref()
                .map_or(String::new(), |p| format!("  {p}"))
        );
        if let Some(p) = &o.problem {
            failures.push(format!("{}: {p}", o.name));
        }
    }
    let (_, peak) = outcomes
        .iter()
        .max_by_key(|(_, o)| o.max_rss_kb)
        .expect("cases ran");
    let slowest = outcomes
        .iter()
        .map(|(_, o)| o.took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "hostile: {} cases, {} as expected, {} not; largest RSS {} MB ({}); slowest {:.2} s",
        outcomes.len(),
        outcomes.len() - failures.len(),
        failures.len(),
        peak.max_rss_kb / 1024,
        peak.name,
        slowest.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(outcomes.len() >= 100, "only {} cases", outcomes.len());
}

/// Issue 22's divergence case: SGD too fast for a SimpleRNN on the generated series
/// trains one good epoch, then the loss overflows. The run must exit non-zero, say it
/// diverged (not "invalid data"), and leave the last finite weights in their own file
/// next to the history, loadable and finite; no `model.safetensors` is written.
#[cfg(target_os = "linux")]
#[test]
fn divergence_saves_the_last_finite_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("diverge.toml");
    std::fs::write(
        &cfg,
        r#"[data]
source = "generated"
task = "series"
samples = 400
maxlen = 10

[model]
layers = [{ type = "simple_rnn", units = 8 }, { type = "dense", units = 1 }]

[compile]
optimizer = { type = "sgd", learning_rate = 0.6 }
loss = "mean_squared_error"
metrics = []

[fit]
epochs = 20
batch_size = 16
verbose = 2
"#,
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recurrent"))
        .args(["train", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("diverged") && stderr.contains("numerical error"),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid data"), "{stderr}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "history.csv",
            "history.json",
            "model.last-finite.safetensors"
        ],
        "{stderr}"
    );
    let loaded = recurrent::io::load_model(&out.join("model.last-finite.safetensors")).unwrap();
    assert!(
        loaded
            .model
            .get_weights()
            .iter()
            .all(|(_, w)| w.iter().all(|v| v.is_finite()))
    );
    let training = loaded.extras.training.unwrap();
    assert!(training.epoch >= 1, "one good epoch before the divergence");
    eprintln!(
        "divergence: {}; files {files:?}; last finite weights after {} epochs",
        stderr.lines().last().unwrap_or(""),
        training.epoch
    );
}
