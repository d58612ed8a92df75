//! What a failed test prints of its helpers' logs (brokers, PostgreSQL,
//! the identity provider) as they are dropped during the unwind.
//!
//! A load test's broker logs run to thousands of lines, and CI shows the
//! tail of a run's output: printed whole, they pushed the assertion that
//! failed out of sight. So each log prints its last [`TAIL`] lines (all of
//! them with `KACCESS_TEST_FULL_LOGS=1`), and each dump ends with the
//! panic that started the unwind, recorded by a hook on the panicking
//! thread, which is the thread the helpers are dropped on.

use std::cell::RefCell;
use std::sync::Once;

/// Lines of each log a failed test prints.
pub const TAIL: usize = 40;

thread_local! {
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook that records each thread's panic (once per process;
/// the default hook still prints it where it happens).
pub fn install() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            previous(info);
        }));
    });
}

/// `text`'s last lines, with a note of how many came before them.
pub fn tail(text: &str, full: bool) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if full || lines.len() <= TAIL {
        return text.to_owned();
    }
    let cut = lines.len() - TAIL;
    format!(
        "[{cut} earlier lines left out; KACCESS_TEST_FULL_LOGS=1 prints them]\n{}",
        lines[cut..].join("\n")
    )
}

/// Prints `what`'s log for a test that is failing, then the panic.
pub fn print(what: &str, text: &str) {
    let full = std::env::var_os("KACCESS_TEST_FULL_LOGS").is_some_and(|v| v == "1");
    eprintln!("--- {what} ---\n{}", tail(text, full));
    if let Some(panic) = PANIC.with(|p| p.borrow().clone()) {
        eprintln!("--- end of {what}; the test failed: {panic} ---");
    }
}

#[test]
fn a_long_log_prints_its_tail_and_says_how_much_it_left_out() {
    let log: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    let short = tail(&log, false);
    assert!(short.starts_with("[60 earlier lines left out;"), "{short}");
    assert!(short.ends_with("line 100"), "{short}");
    assert!(!short.contains("line 60\n"), "{short}");
    assert!(short.contains("line 61\n"), "{short}");
    assert_eq!(tail(&log, true), log);
    assert_eq!(tail("one\ntwo", false), "one\ntwo");
}

#[test]
fn the_hook_records_the_panic_on_the_thread_that_panicked() {
    install();
    let recorded = std::thread::spawn(|| {
        let _ = std::panic::catch_unwind(|| panic!("the marker 7f3a"));
        PANIC.with(|p| p.borrow().clone())
    })
    .join()
    .unwrap();
    assert!(
        recorded
            .as_deref()
            .is_some_and(|p| p.contains("the marker 7f3a")),
        "{recorded:?}"
    );
    assert_eq!(
        PANIC.with(|p| p.borrow().clone()),
        None,
        "not on this thread"
    );
}
