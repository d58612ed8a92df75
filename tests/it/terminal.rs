//! What kaccess does only when a person is looking: with stderr on a real
//! pseudo-terminal, the device flow draws its QR code (off a terminal it
//! prints the link alone; see login.rs).

use crate::support::world::{World, WorldOptions};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Runs `cmd` with stderr on a new pseudo-terminal; returns its status and
/// everything it wrote there.
fn on_terminal(mut cmd: Command) -> (ExitStatus, String) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty(3) only writes the two descriptors it opens.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // openpty(3) leaves both inheritable: without close-on-exec, kaccess's
    // detached reaper would keep the slave open for the whole session.
    for fd in [master, slave] {
        // SAFETY: fcntl(2) on descriptors we just opened.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("spawn on the terminal");
    // Dropping the command closes our slave: the child's is the only one
    // left, so the master reads end (EIO) once it exits.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().unwrap())
}

#[test]
fn the_device_flow_draws_its_qr_code_on_a_terminal() {
    let w = World::start(WorldOptions::default());
    let (status, seen) = on_terminal(w.kaccess(&[
        "login",
        "demo",
        "--flow",
        "device",
        "--reason",
        "INC-1",
        "--token-store",
        "file",
    ]));
    assert!(status.success(), "{seen}\nIdP:\n{}", w.idp.stderr());
    assert!(
        seen.contains("Or scan this QR code (opens ") && seen.contains('▀'),
        "{seen}"
    );
    assert!(!seen.contains("Or open: "), "{seen}");
}
