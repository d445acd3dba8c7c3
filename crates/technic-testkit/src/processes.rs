//! Real processes on loopback for the distributed tests and benchmark: a `redis-server` of the
//! caller's own (AOF on, as the deployment files configure it), `technic serve` replicas and
//! `technic worker`s, each killed (SIGKILL) when dropped, and the Redis reads they check.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A process killed (SIGKILL) when dropped, with its stderr lines on a channel.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    pub lines: Receiver<String>,
}

impl Process {
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ignored = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// Waits up to 60 s for a stderr line containing `text` and returns it.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {text:?} within 60 s"));
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Whether a stderr line received so far (and not yet read) contains `text`.
    pub fn said(&self, text: &str) -> bool {
        self.lines.try_iter().any(|line| line.contains(text))
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-STOP`, `-CONT`, ...) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Under CI a missing `redis-server` fails the test; elsewhere the test says it skipped.
pub fn redis_server_installed(test: &str) -> bool {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: redis-server is not installed; scripts/test installs it"
        );
        eprintln!("SKIPPED {test}: redis-server is not installed; scripts/test installs it");
    }
    installed
}

/// `redis-server` on `port` with its files in `dir`, the AOF on as the deployment files have it;
/// returns once it answers.
pub fn redis_on(port: u16, dir: &Path) -> Process {
    let process = Process::spawn(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(dir),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pong = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if pong.is_ok() {
            return process;
        }
        assert!(Instant::now() < deadline, "redis-server did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` on a free port, and its URL.
pub fn start_redis(dir: &Path) -> (Process, String) {
    let port = free_port();
    (redis_on(port, dir), format!("redis://127.0.0.1:{port}"))
}

/// The `technic` binary and what its processes share: timeouts short enough for a test, every
/// status endpoint on a free port, and no setting inherited from the caller's environment.
#[derive(Debug, Clone)]
pub struct Technic {
    pub binary: PathBuf,
    /// The market data directory every process reads.
    pub data: PathBuf,
}

impl Technic {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            data: crate::sp500(),
        }
    }

    pub fn command(&self, home: &Path, redis_url: Option<&str>) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("TECHNIC_HOME", home)
            .env("RUST_LOG", "warn")
            .env("WORKER_VISIBILITY_SECONDS", "1")
            .env("SCAN_TAKEOVER_SECONDS", "1")
            // Every worker's status endpoint on a port of its own.
            .env("PORT", "0")
            .env_remove("DATABASE_URL")
            .env_remove("DISTRIBUTED")
            .env_remove("REDIS_URL");
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        command
    }

    /// `technic serve` on a free port (distributed with a Redis URL), and its address.
    pub fn serve(&self, home: &Path, redis_url: Option<&str>) -> (Process, String) {
        self.serve_with(home, redis_url, &[])
    }

    /// The same, with more environment.
    pub fn serve_with(
        &self,
        home: &Path,
        redis_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> (Process, String) {
        let mut command = self.command(home, redis_url);
        command
            .args(["serve", "--port", "0", "--data"])
            .arg(&self.data);
        if redis_url.is_some() {
            command.arg("--distributed");
        }
        command.envs(env.iter().copied());
        let process = Process::spawn(&mut command);
        let line = process.wait_for("serving on http://");
        let address = line
            .split("serving on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("address")
            .to_owned();
        (process, address)
    }

    /// `technic worker` with one thread, logging at `info` (claims are logged).
    pub fn worker(&self, home: &Path, redis_url: &str, env: &[(&str, &str)]) -> Process {
        let process = Process::spawn(
            self.command(home, Some(redis_url))
                .args(["worker", "--data"])
                .arg(&self.data)
                .env("MAX_WORKERS", "1")
                .env("RUST_LOG", "info")
                .envs(env.iter().copied()),
        );
        process.wait_for("technic worker");
        process
    }
}

pub fn redis_command(url: &str, args: &[&str]) -> redis::Value {
    let mut connection = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("Redis");
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query(&mut connection).expect("Redis command")
}

/// A field of `INFO`'s answer, as a number.
pub fn redis_info(url: &str, section: &str, field: &str) -> u64 {
    let redis::Value::BulkString(info) = redis_command(url, &["INFO", section]) else {
        panic!("INFO {section}");
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section}: {field}"))
}

/// Entries of `stream`'s group `group` pending with a consumer whose name ends with `suffix`.
pub fn pending_ending_with(url: &str, stream: &str, group: &str, suffix: &str) -> usize {
    let entries: Vec<redis::Value> = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .and_then(|mut c| {
            redis::cmd("XPENDING")
                .arg(stream)
                .arg(group)
                .arg("-")
                .arg("+")
                .arg(1000)
                .query(&mut c)
        })
        .unwrap_or_default();
    entries
        .iter()
        .filter(|entry| match entry {
            redis::Value::Array(fields) => matches!(
                fields.get(1),
                Some(redis::Value::BulkString(name)) if String::from_utf8_lossy(name).ends_with(suffix)
            ),
            _ => false,
        })
        .count()
}

/// Batches pending with the one-thread worker process `pid`.
pub fn batches_pending_with(url: &str, pid: u32) -> usize {
    pending_ending_with(url, "technic:work", "workers", &format!("-{pid}-0"))
}

/// Freezes `worker` (SIGSTOP) the moment Redis shows it holding a batch, within `within`:
/// killed then, its batch is pending with a consumer that will never acknowledge it.
pub fn freeze_holding_a_batch(url: &str, worker: &Process, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        worker.signal("-STOP");
        if batches_pending_with(url, worker.id()) > 0 {
            return;
        }
        worker.signal("-CONT");
        assert!(Instant::now() < deadline, "the worker never held a batch");
        std::thread::sleep(Duration::from_micros(500));
    }
}
