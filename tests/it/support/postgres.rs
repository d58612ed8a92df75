//! A private PostgreSQL cluster for one test: `initdb` + `pg_ctl start` in
//! a temp dir, listening on 127.0.0.1 at a free port (and a Unix socket in
//! the dir), password auth over TCP so the broker's `password-file` is
//! used for real, fsync off (a test's data need not survive a power cut;
//! commits stay synchronous, so they survive the server's crash, which
//! `stop` is). The bench's is durable (`start_durable`), fsync on: it is
//! compared with SQLite, which syncs.
//! The server refuses to run as root, and CI runs as root: then every
//! PostgreSQL program runs as `nobody` (`setpriv`), the dir chowned to it.
//! Stopped (`pg_ctl stop -m immediate`) on drop. Where PostgreSQL is not
//! installed the test fails saying so: it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    tls: bool,
    durable: bool,
    running: bool,
}

/// The superuser and its password.
pub const USER: &str = "kaccess";
const PASSWORD: &str = "test-password-not-secret";

/// The directory holding `initdb`, `pg_ctl` and `postgres`: from `PATH`,
/// else Debian's `/usr/lib/postgresql/<version>/bin` (newest first).
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("pg_ctl").is_file() && d.join("initdb").is_file())
    });
    if let Some(dir) = on_path {
        // Resolve Debian's /usr/local/bin symlinks: pg_ctl finds `postgres`
        // beside its real self.
        return std::fs::canonicalize(dir.join("pg_ctl"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no `pg_ctl`/`initdb` on PATH or in \
             /usr/lib/postgresql/*/bin): install the Debian package `postgresql` \
             (`apt-get install postgresql`); `scripts/test-deps` installs it as root"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(None, false)
    }

    /// With `fsync` on, as a production server runs.
    pub fn start_durable() -> Postgres {
        Postgres::start_with(None, true)
    }

    /// With TLS (`ssl=on`), serving `serving` (for 127.0.0.1).
    pub fn start_tls(serving: &super::pki::Issued) -> Postgres {
        Postgres::start_with(Some(serving), false)
    }

    fn start_with(serving: Option<&super::pki::Issued>, durable: bool) -> Postgres {
        super::failure_dump::install();
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            tls: serving.is_some(),
            durable,
            running: false,
        };
        std::fs::write(pg.dir.path().join("pwfile"), PASSWORD).unwrap();
        if let Some(serving) = serving {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(pg.dir.path().join("server.crt"), &serving.cert_pem).unwrap();
            let key = pg.dir.path().join("server.key");
            std::fs::write(&key, &serving.key_pem).unwrap();
            // The server refuses a key others can read.
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        if as_root() {
            chown_nobody(pg.dir.path());
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                &pg.path("pwfile"),
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
            ],
        );
        let mut pg = pg;
        pg.start_server();
        pg
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn data(&self) -> String {
        self.path("data")
    }

    /// Runs a PostgreSQL program (as `nobody` when we are root); panics
    /// with its output when it fails.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
        assert!(
            out.status.success(),
            "`{program} {}` failed: {}\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = if as_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.current_dir(self.dir.path()).env_remove("PGDATA");
        cmd
    }

    fn start_server(&mut self) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.dir.path().display()
        );
        if !self.durable {
            options.push_str(" -c fsync=off");
        }
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.path("server.crt"),
                self.path("server.key")
            ));
        }
        let log = self.path("server.log");
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "start", "-w", "-t", "30", "-D", &data, "-l", &log, "-o", &options,
            ],
        );
        self.running = true;
    }

    /// Starts the server again after [`Postgres::stop`], on the same data
    /// and port.
    pub fn start_again(&mut self) {
        self.start_server();
    }

    /// Stops the server at once (as a crash would).
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data();
            self.run("pg_ctl", &["stop", "-m", "immediate", "-w", "-D", &data]);
            self.running = false;
        }
    }

    /// Starts it again on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_server();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://kaccess@127.0.0.1:PORT/postgres` with `sslmode`.
    pub fn url(&self, sslmode: &str) -> String {
        format!(
            "postgresql://{USER}@127.0.0.1:{}/postgres?sslmode={sslmode}",
            self.port
        )
    }

    /// A file holding the password (with a trailing newline, as an
    /// operator's editor leaves it).
    pub fn password_file(&self) -> PathBuf {
        let p = self.dir.path().join("db-password");
        std::fs::write(&p, format!("{PASSWORD}\n")).unwrap();
        p
    }

    /// `state:` YAML for a broker on this database, with a 2 s staleness
    /// bound, and no audit file.
    pub fn state_yaml(&self) -> String {
        format!(
            "state: {{postgres: {{url: \"{}\", password-file: \"{}\", max-staleness: 2s}}}}\n\
             audit: {{stdout: false}}",
            self.url("disable"),
            self.password_file().display()
        )
    }

    /// Runs SQL through `psql` on the Unix socket; returns its unaligned
    /// output.
    pub fn psql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let dir = self.dir.path().display().to_string();
        let out = self.run(
            "psql",
            &[
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &dir,
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                "postgres",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A client of the test's own over TCP, to hold transactions and locks
    /// open while kaccess runs.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(USER)
            .password(PASSWORD)
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(connection);
        client
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-w", "-D", &data])
                .output();
        }
        if std::thread::panicking() {
            super::failure_dump::print("postgres log", &self.log());
        }
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_nobody(dir: &Path) {
    let out = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(dir)
        .output()
        .expect("chown");
    assert!(out.status.success(), "chown failed: {out:?}");
}
