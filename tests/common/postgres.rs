//! A private PostgreSQL cluster per test: initdb into a temp dir under /tmp owned by the OS user
//! `postgres`, the postmaster run as that user as our own child (so it is reaped, never left a
//! zombie under a PID 1 that is not an init), listening on its own socket directory and on a
//! free 127.0.0.1 port. Roles: `postgres` and `root` (superusers, peer auth on the socket, so a
//! test running as root connects as role root the way an SSH login as root does) and `app`
//! (no privileges, password [`APP_PASSWORD`], scram on the socket and on TCP).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::{sh, wait_for};

/// The `app` role's password. The ':' and '\' make pgpass files need their escapes.
pub const APP_PASSWORD: &str = "s3cr:t\\pw";

/// A running cluster. Dropping it stops the postmaster (immediate shutdown) and removes the
/// directory.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    uid: u32,
    gid: u32,
    postmaster: Option<Child>,
}

impl Postgres {
    /// Creates and starts a cluster with the newest PostgreSQL under /usr/lib/postgresql.
    pub fn start() -> Postgres {
        let mut pg = Postgres::unstarted();
        let data = pg.data();
        sh(pg
            .as_postgres(pg.bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C"]));
        pg.configure("");
        // Peer for the superusers (PostgreSQL sees the uid of whoever opened the socket: root
        // for tests and for an sshd session logged in as root), scram for the app role. No
        // `trust`: a wrong identity must fail as it would on a real host.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all postgres peer\nlocal all root peer\nlocal all app scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\nlocal replication postgres peer\n",
        )
        .unwrap();
        pg.spawn();
        pg.psql(
            "postgres",
            &format!(
                "CREATE ROLE root SUPERUSER LOGIN; \
                 CREATE ROLE app LOGIN PASSWORD '{}'; \
                 CREATE DATABASE appdb OWNER app;",
                APP_PASSWORD.replace('\'', "''")
            ),
        );
        pg
    }

    /// A streaming standby of this cluster (pg_basebackup -R), with cluster_name `standby`,
    /// on its own port and socket directory.
    pub fn start_standby(&self) -> Postgres {
        let mut standby = Postgres::unstarted();
        sh(standby
            .as_postgres(standby.bin.join("pg_basebackup"))
            .arg("-D")
            .arg(standby.data())
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ]));
        // The copied postgresql.conf names the primary's port and socket: later lines win.
        standby.configure("cluster_name = 'standby'\n");
        standby.spawn();
        standby
    }

    fn unstarted() -> Postgres {
        let bin = newest_bin();
        let id = |flag: &str| -> u32 {
            sh(Command::new("id").args([flag, "postgres"]))
                .trim()
                .parse()
                .unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let dir = tempfile::Builder::new()
            .prefix("wfpg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Postgres {
            dir,
            bin,
            port,
            uid,
            gid,
            postmaster: None,
        }
    }

    fn configure(&self, extra: &str) {
        let conf = format!(
            "port = {port}\nunix_socket_directories = '{dir}'\nlisten_addresses = '127.0.0.1'\n\
             max_connections = 40\nshared_buffers = 16MB\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\npassword_encryption = 'scram-sha-256'\n\
             log_connections = on\nlog_line_prefix = '%m [%p] %q%u@%d %a '\n{extra}",
            port = self.port,
            dir = self.dir.path().display()
        );
        append(&self.data().join("postgresql.conf"), &conf);
    }

    /// The socket directory (also the cluster's temp dir).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's unix socket, `<dir>/.s.PGSQL.<port>`.
    pub fn socket_path(&self) -> String {
        format!("{}/.s.PGSQL.{}", self.dir.path().display(), self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command run as the OS user postgres (runuser without its extra fork: we keep the pid).
    pub fn as_postgres(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.uid(self.uid)
            .gid(self.gid)
            .current_dir("/")
            .env("HOME", self.dir.path())
            .env("LC_ALL", "C");
        c
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .unwrap();
        let child = self
            .as_postgres(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres must be installed (apt-get install postgresql)");
        self.postmaster = Some(child);
        wait_for(
            "postgres to accept connections",
            Duration::from_secs(30),
            || {
                if let Some(Ok(Some(status))) = self.postmaster.as_mut().map(Child::try_wait) {
                    panic!("postgres exited ({status}):\n{}", self.log());
                }
                self.try_psql("postgres", "postgres", "SELECT 1").ok()
            },
        );
    }

    /// Stops the postmaster with `signal` (INT: fast shutdown, QUIT: immediate) and reaps it.
    fn stop(&mut self, signal: &str) {
        let Some(mut child) = self.postmaster.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Appends `extra` to postgresql.conf and restarts, for settings that need a restart.
    #[allow(dead_code)] // not every test binary reconfigures
    pub fn reconfigure(&mut self, extra: &str) {
        self.configure(extra);
        self.restart();
    }

    /// A fast shutdown (every session is terminated) and a start on the same port and socket.
    pub fn restart(&mut self) {
        self.shutdown();
        self.start_again();
    }

    /// A fast shutdown; [`Postgres::start_again`] starts it on the same port and socket.
    pub fn shutdown(&mut self) {
        self.stop("INT");
    }

    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// The psql command for `role` in `db`: peer roles run as the OS user of their name, other
    /// roles get their password through PGPASSWORD.
    fn psql_command(&self, role: &str, db: &str) -> Command {
        let mut c = match role {
            "postgres" => self.as_postgres(self.bin.join("psql")),
            _ => Command::new(self.bin.join("psql")),
        };
        if role == "app" {
            c.env("PGPASSWORD", APP_PASSWORD);
        }
        c.env_remove("PGPASSFILE")
            .env("PGCONNECT_TIMEOUT", "10")
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", role, "-d", db, "-X", "-q", "-A", "-t"]);
        c
    }

    fn try_psql(&self, role: &str, db: &str, sql: &str) -> Result<String, String> {
        // Through stdin, not -c: each statement runs on its own (CREATE DATABASE may not run
        // in the implicit transaction of a multi-statement -c).
        let mut child = self
            .psql_command(role, db)
            .args(["-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        writeln!(stdin, "{sql}").map_err(|e| e.to_string())?;
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A `shop` database: 1000 orders, one a minute, the newest now.
    #[allow(dead_code)] // for the drill tests
    pub fn create_shop(&self) {
        self.psql("postgres", "CREATE DATABASE shop");
        self.psql_in(
            "postgres",
            "shop",
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric, created_at timestamptz); \
             INSERT INTO orders SELECT i, i * 1.5, now() - (1000 - i) * interval '1 minute' \
             FROM generate_series(1, 1000) i",
        );
    }

    /// A custom-format pg_dump of `db` into `file`, as role root over the socket.
    #[allow(dead_code)] // for the drill tests
    pub fn dump(&self, db: &str, file: &Path) {
        sh(Command::new("pg_dump")
            .args(["-Fc", "-h"])
            .arg(self.dir())
            .args(["-p", &self.port.to_string(), "-U", "root", "-f"])
            .arg(file)
            .arg(db));
    }

    /// A pgBackRest stanza `main` for this cluster (repository, logs and locks in its
    /// directory, WAL archived into it) with one full backup, taken as the OS user postgres.
    /// Returns the env file (PGBACKREST_CONFIG=...) a backup source reads it through.
    #[allow(dead_code)] // for the backup and drill tests
    pub fn pgbackrest_stanza(&mut self) -> PathBuf {
        let d = self.dir().display().to_string();
        let conf = format!("{d}/pgbackrest.conf");
        std::fs::write(
            &conf,
            format!(
                "[main]\npg1-path={}\npg1-port={}\npg1-socket-path={d}\n\n\
                 [global]\nrepo1-path={d}/repo\nlog-path={d}\nlock-path={d}\nspool-path={d}\n\
                 start-fast=y\nlog-level-console=warn\n",
                self.data().display(),
                self.port()
            ),
        )
        .unwrap();
        self.reconfigure(&format!(
            "archive_mode = on\nwal_level = replica\n\
             archive_command = 'pgbackrest --config={conf} --stanza=main archive-push %p'\n"
        ));
        for step in [&["stanza-create"][..], &["backup", "--type=full"]] {
            sh(self
                .as_postgres("pgbackrest")
                .arg(format!("--config={conf}"))
                .arg("--stanza=main")
                .args(step));
        }
        let env = self.dir().join("br.env");
        std::fs::write(&env, format!("PGBACKREST_CONFIG={conf}\n")).unwrap();
        env
    }

    /// Runs `sql` as `role` in database `postgres`, returns the unaligned output, trimmed.
    pub fn psql(&self, role: &str, sql: &str) -> String {
        self.psql_in(role, "postgres", sql)
    }

    pub fn psql_in(&self, role: &str, db: &str, sql: &str) -> String {
        self.try_psql(role, db, sql)
            .unwrap_or_else(|e| panic!("psql as {role} in {db}: {sql}\n{e}"))
    }

    /// A psql process that stays connected as `role` with application_name `app`: each
    /// [`Psql::send`] is executed as it arrives, so a test can hold a transaction or a lock
    /// open. An error does not end it (a cancelled query leaves its transaction aborted).
    /// Output and errors go to `<dir>/psql-<app>.log`.
    pub fn spawn_psql(&self, role: &str, app: &str) -> Psql {
        let log = std::fs::File::create(self.dir.path().join(format!("psql-{app}.log"))).unwrap();
        let mut child = self
            .psql_command(role, "postgres")
            .env("PGAPPNAME", app)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        Psql { child, stdin }
    }

    /// The pid of the backend whose application_name is `app`, once it has connected.
    pub fn pid_of(&self, app: &str) -> i32 {
        wait_for(
            &format!("a session named {app}"),
            Duration::from_secs(10),
            || {
                self.psql(
                    "postgres",
                    &format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{app}'"),
                )
                .parse()
                .ok()
            },
        )
    }

    /// Polls `sql` (run as postgres) until it prints `t`.
    pub fn wait_until(&self, what: &str, sql: &str) {
        wait_for(what, Duration::from_secs(15), || {
            (self.psql("postgres", sql) == "t").then_some(())
        });
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop("QUIT");
    }
}

/// A long-lived psql session (see [`Postgres::spawn_psql`]); killed on drop.
pub struct Psql {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Psql {
    /// Sends SQL text (a newline is added); psql runs each complete statement as it reads it.
    pub fn send(&mut self, sql: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
    }

    /// Whether psql has exited (its backend was terminated, or it was told to quit).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bin` of the newest PostgreSQL under /usr/lib/postgresql (Debian's layout).
fn newest_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL must be installed (apt-get install postgresql)")
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb")
        .1
}

fn append(file: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
