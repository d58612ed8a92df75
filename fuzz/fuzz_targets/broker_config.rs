//! Broker `broker.yaml` parsing and validation (policy, durations,
//! cluster names, reserved groups): a config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = kaccess::broker::config::BrokerConfig::parse(text, std::path::Path::new("/fuzz"));
});
