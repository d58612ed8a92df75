//! Client `config.yaml` parsing and validation: any text is either a
//! config or a `ConfigError`, never a panic or an unbounded expansion.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = kaccess::config::placeholders::find(text);
    let _ = kaccess::config::file::parse(std::path::Path::new("/fuzz/config.yaml"), text);
});
