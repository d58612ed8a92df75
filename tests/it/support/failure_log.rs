//! Output of a helper process a test starts (the test browser, a daemon):
//! kept in a file in the test's own temp dir, out of the test run's output,
//! and printed only when the test fails while the log is alive.

use std::path::PathBuf;
use std::process::Stdio;

pub struct FailureLog {
    _dir: tempfile::TempDir,
    path: PathBuf,
    what: &'static str,
}

impl FailureLog {
    /// `what` names the helper in the printed log (`test browser`).
    pub fn new(what: &'static str) -> FailureLog {
        super::failure_dump::install();
        let dir = tempfile::tempdir().expect("tempdir for a log");
        let path = dir.path().join("output.log");
        FailureLog {
            _dir: dir,
            path,
            what,
        }
    }

    /// A handle for a child's stdout or stderr; every handle appends.
    pub fn stdio(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .expect("open the log")
            .into()
    }

    pub fn contents(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }
}

impl Drop for FailureLog {
    fn drop(&mut self) {
        if std::thread::panicking() {
            super::failure_dump::print(&format!("{} output", self.what), &self.contents());
        }
    }
}
