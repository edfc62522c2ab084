//! Where the built-in callbacks' verbose messages go ("Epoch 3: early stopping"):
//! stdout, or a writer set for the calling thread by [`with_output`] while `fit` runs
//! on it. The Python package sends them to Python's `sys.stdout` this way, so Jupyter
//! and a redirected `sys.stdout` see them, in order with the progress bar; a thread
//! local (not a field of each callback) keeps the callbacks' builders and `Debug` as
//! they are, and `fit` runs its callbacks on the thread that called it.

use std::cell::RefCell;
use std::io::Write;

thread_local! {
    static SINK: RefCell<Option<Box<dyn Write>>> = const { RefCell::new(None) };
}

/// Run `f` with the built-in callbacks' messages of this thread going to `out`; the
/// previous destination is restored afterwards, also if `f` panics.
pub fn with_output<R>(out: Box<dyn Write>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Box<dyn Write>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SINK.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SINK.with(|s| s.borrow_mut().replace(out));
    let _restore = Restore(previous);
    f()
}

/// Write one message line (as `println!` would) to this thread's destination. A
/// message that cannot be written is dropped, as `println!` to a closed stdout would
/// be; training goes on.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let written = SINK.with(|s| match s.try_borrow_mut() {
        Ok(mut sink) => match sink.as_mut() {
            Some(w) => {
                let _ = writeln!(w, "{args}").and_then(|()| w.flush());
                true
            }
            None => false,
        },
        // A message from inside the writer itself: plain stdout.
        Err(_) => false,
    });
    if !written {
        println!("{args}");
    }
}

/// `println!` for callback messages: see [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::callbacks::messages::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn messages_go_to_the_writer_set_for_the_thread_then_back() {
        let out = Shared::default();
        let r = with_output(Box::new(out.clone()), || {
            say!("Epoch {}: early stopping", 3);
            let inner = Shared::default();
            with_output(Box::new(inner.clone()), || say!("inner"));
            assert_eq!(inner.0.lock().unwrap().as_slice(), b"inner\n");
            say!("after");
            7
        });
        assert_eq!(r, 7);
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            "Epoch 3: early stopping\nafter\n"
        );
        SINK.with(|s| assert!(s.borrow().is_none()));
    }

    #[test]
    fn the_destination_is_restored_after_a_panic() {
        let out = Shared::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_output(Box::new(out.clone()), || panic!("boom"))
        }));
        assert!(r.is_err());
        SINK.with(|s| assert!(s.borrow().is_none()));
    }
}
