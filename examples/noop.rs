//! A program that does nothing: the bench script's baseline for the cost of
//! starting a process, built in the same profile as `kaccess` (issue 6).

fn main() {}
