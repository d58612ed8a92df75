//! `kaccess audit verify` on any file content: a report (intact or the
//! first broken line), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = kaccess::audit::verify::verify_reader(data)
        .expect("reading from memory does not fail");
    if let Some((line, _)) = &report.broken {
        assert!(*line >= 1 && *line <= report.lines);
    }
});
