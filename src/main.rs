//! Thin entry point: parse, dispatch, report. All logic lives in the library.

fn main() -> std::process::ExitCode {
    kaccess::cmd::main()
}
