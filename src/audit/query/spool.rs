//! Rendered rows of one section, kept until the section is printed: a
//! report prints its per-session table (known only at the end) before the
//! rows, which stream in while the chain is read. Small spools stay in
//! memory; past [`IN_MEMORY`] they go to an unlinked 0600 file in the temp
//! dir, so memory stays flat however many rows a chain yields.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

pub const IN_MEMORY: usize = 256 << 10;

#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<io::BufWriter<File>>,
    rows: u64,
}

impl Spool {
    pub fn new() -> Spool {
        Spool::default()
    }

    /// Rows written, as counted by [`Spool::row`].
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Counts one row; its text goes through `Write`.
    pub fn row(&mut self) {
        self.rows += 1;
    }

    /// Copies everything written, in order, to `out`.
    pub fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self.file {
            None => out.write_all(&self.memory),
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.write_all(&self.memory)?;
                f.seek(SeekFrom::Start(0))?;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    out.write_all(&buf[..n])?;
                }
            }
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(io::BufWriter::with_capacity(1 << 20, unlinked_file()?));
        }
        let w = self.file.as_mut().expect("just opened");
        w.write_all(&self.memory)?;
        self.memory.clear();
        Ok(())
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.memory.extend_from_slice(buf);
        if self.memory.len() >= IN_MEMORY {
            self.spill()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A new file only this process can open, removed from the directory at
/// once: it holds audit data and vanishes when the process ends.
fn unlinked_file() -> io::Result<File> {
    use rand::RngCore;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        ".kaccess-audit-{}-{:016x}",
        std::process::id(),
        rand::rngs::OsRng.next_u64()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot make a spool file in `{}`: {e}", dir.display()),
            )
        })?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_gives_back_what_it_took_in_order_across_the_spill() {
        let mut s = Spool::new();
        let chunk = vec![b'x'; 1 << 20];
        let mut want = Vec::new();
        for i in 0..6u8 {
            s.write_all(&[i]).unwrap();
            s.write_all(&chunk).unwrap();
            want.push(i);
            want.extend_from_slice(&chunk);
        }
        assert!(s.file.is_some(), "6 MiB must have spilled to a file");
        let mut out = Vec::new();
        s.copy_to(&mut out).unwrap();
        assert_eq!(out.len(), want.len());
        assert!(out == want);
    }
}
