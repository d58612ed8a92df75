//! Reading the audit chain back out of the database, oldest first, in
//! pages (a chain may be far bigger than memory): for
//! `kaccess audit export` (the lines, as in the file) and
//! `kaccess audit verify --config` (the same lines, fed to the verifier).

use anyhow::{Context, Result};
use tokio_postgres::Client;

const PAGE: i64 = 5000;

/// Calls `each` with every stored line (no newline) in chain order; stops
/// early when it returns `false`.
pub async fn for_each_line(
    client: &Client,
    mut each: impl FnMut(&str) -> Result<bool>,
) -> Result<()> {
    let mut after: i64 = 0;
    loop {
        let rows = client
            .query(
                "SELECT seq, line FROM audit_chain WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &PAGE],
            )
            .await
            .context("cannot read the audit chain from the database")?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            after = row.get(0);
            if !each(row.get(1))? {
                return Ok(());
            }
        }
    }
}

/// A `Read` over pages sent from the async side, so the file verifier
/// runs unchanged on the database's chain.
pub struct PageReader {
    pages: std::sync::mpsc::Receiver<Vec<u8>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl PageReader {
    pub fn new(pages: std::sync::mpsc::Receiver<Vec<u8>>) -> PageReader {
        PageReader {
            pages,
            current: std::io::Cursor::new(Vec::new()),
        }
    }
}

impl std::io::Read for PageReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.pages.recv() {
                Ok(page) => self.current = std::io::Cursor::new(page),
                Err(_) => return Ok(0),
            }
        }
    }
}
