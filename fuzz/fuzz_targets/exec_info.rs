//! `KUBERNETES_EXEC_INFO` as kubectl (or anyone who sets the variable)
//! hands it to `kaccess credential`: any bytes, UTF-8 or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::unix::ffi::OsStringExt;

fuzz_target!(|data: &[u8]| {
    let raw = std::ffi::OsString::from_vec(data.to_vec());
    if let Ok(info) = kaccess::credential::exec_info_from(Some(raw)) {
        // Only the versions kaccess can answer in get through.
        assert!(
            info.api_version == kaccess::credential::API_V1
                || info.api_version == kaccess::credential::API_V1BETA1,
            "accepted {:?}",
            info.api_version
        );
    }
});
