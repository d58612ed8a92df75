//! The broker's CSR check (PEM, DER, key policy, self-signature). Half the
//! inputs are taken as PEM text; the other half are wrapped in a PEM
//! envelope first so the fuzzer spends its time in the DER parser.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let pem = if first & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(rest)
        )
    };
    let _ = kaccess::broker::ca::check_csr(&pem);
});
