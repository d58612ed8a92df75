//! `kaccess-credential credential CLUSTER`: the exec plugin as the session
//! kubeconfig runs it. It answers a cache hit and hands everything else to
//! `kaccess` beside it (`kaccess::credential::hit`).

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    kaccess::credential::hit::main(&args)
}
