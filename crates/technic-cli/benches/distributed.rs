//! The cost of distribution (docs/benchmarks.md): one S&P 500 scan in-process against 1, 2 and
//! 3 local `technic worker`s (time to first result, total, Redis commands per scan), and the time
//! a dead worker's batch takes to be claimed. Real processes on loopback and a `redis-server` of
//! its own; `cargo bench -p technic-cli --bench distributed` (or, with a release binary already
//! built, `TECHNIC_BIN=target/release/technic cargo bench --profile dev -p technic-cli --bench
//! distributed`, which builds no second optimised binary).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

/// Scans per configuration; the first warms the caches and is not counted.
const RUNS: usize = 4;

struct Process {
    child: Child,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(command: &mut Command) -> Self {
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

    fn wait_for(&self, text: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no line with {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

fn technic(home: &Path, redis_url: Option<&str>) -> Command {
    // TECHNIC_BIN: a release binary measured by a harness built without optimisation.
    let binary =
        std::env::var_os("TECHNIC_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_technic").into());
    let mut command = Command::new(binary);
    command
        .env("TECHNIC_HOME", home)
        .env("RUST_LOG", "warn")
        .env("WORKER_VISIBILITY_SECONDS", "1")
        .env_remove("DATABASE_URL")
        .env_remove("DISTRIBUTED")
        .env_remove("REDIS_URL");
    if let Some(url) = redis_url {
        command.env("REDIS_URL", url);
    }
    command
}

fn serve(home: &Path, redis_url: Option<&str>) -> (Process, String) {
    let data = technic_testkit::sp500();
    let mut command = technic(home, redis_url);
    command.args(["serve", "--port", "0", "--data"]).arg(&data);
    if redis_url.is_some() {
        command.arg("--distributed");
    }
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

fn worker(home: &Path, redis_url: &str) -> Process {
    let data = technic_testkit::sp500();
    let process = Process::spawn(
        technic(home, Some(redis_url))
            .args(["worker", "--data"])
            .arg(&data)
            .env("MAX_WORKERS", "1")
            .env("RUST_LOG", "info"),
    );
    process.wait_for("technic worker");
    process
}

/// Batches pending with the worker process `pid` (its one thread's consumer).
fn pending_with(url: &str, pid: u32) -> usize {
    let mut connection = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("Redis");
    let entries: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg("technic:work")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query(&mut connection)
        .unwrap_or_default();
    let suffix = format!("-{pid}-0");
    entries
        .iter()
        .filter(|entry| match entry {
            redis::Value::Array(fields) => matches!(
                fields.get(1),
                Some(redis::Value::BulkString(name)) if String::from_utf8_lossy(name).ends_with(&suffix)
            ),
            _ => false,
        })
        .count()
}

fn commands_processed(url: &str) -> u64 {
    let mut connection = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("Redis");
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut connection)
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed")
}

/// One scan of the whole directory: seconds to the first result and to the final message, as a
/// WebSocket client sees them.
async fn scan(client: &reqwest::Client, address: &str) -> (f64, f64) {
    let started = Instant::now();
    let response: Value = client
        .post(format!("http://{address}/scan/start"))
        .json(&json!({}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("JSON");
    let scan_id = response["scan_id"].as_str().expect("scan_id");
    let url = format!("ws://{address}/ws/results/{scan_id}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket");
    let mut first = None;
    while let Some(frame) = socket.next().await {
        let Ok(text) = frame.expect("frame").into_text() else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if message["type"] == "result" && first.is_none() {
            first = Some(started.elapsed().as_secs_f64());
        }
        if message["metadata"]["is_final"] == true {
            assert_eq!(message["type"], "complete", "{message}");
            break;
        }
    }
    (first.expect("a result"), started.elapsed().as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = |name: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).expect("home");
        path
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let _redis = Process::spawn(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--dir"])
            .arg(home("redis")),
    );
    let url = format!("redis://127.0.0.1:{port}");
    std::thread::sleep(Duration::from_millis(300));
    let (_local, local) = serve(&home("local"), None);
    let (_replica, replica) = serve(&home("replica"), Some(&url));
    let (_second, second) = serve(&home("second"), Some(&url));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    println!("| setup | first result (s) | total (s) | Redis commands per scan |");
    println!("| --- | ---: | ---: | ---: |");
    let measure = |label: &str, address: &str, redis: Option<&str>| {
        let mut firsts = Vec::new();
        let mut totals = Vec::new();
        let mut commands = Vec::new();
        for run in 0..RUNS {
            let before = redis.map(commands_processed);
            let (first, total) = runtime.block_on(scan(&client, address));
            let after = redis.map(commands_processed);
            if run > 0 {
                firsts.push(first);
                totals.push(total);
                if let (Some(before), Some(after)) = (before, after) {
                    commands.push((after - before) as f64);
                }
            }
        }
        let commands = if commands.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.0}", median(commands))
        };
        println!(
            "| {label} | {:.3} | {:.3} | {commands} |",
            median(firsts),
            median(totals)
        );
    };
    measure("in-process (MAX_WORKERS default)", &local, None);
    let mut workers = Vec::new();
    for count in 1..=3 {
        workers.push(worker(&home(&format!("w{count}")), &url));
        measure(
            &format!("distributed, {count} worker(s) × 1 thread"),
            &replica,
            Some(&url),
        );
    }

    // Throughput: 50 scans at once, half started on each replica, each followed where it started.
    let started = Instant::now();
    let totals: Vec<f64> = runtime.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let address = if i % 2 == 0 {
                    replica.clone()
                } else {
                    second.clone()
                };
                tokio::spawn(async move { scan(&reqwest::Client::new(), &address).await.1 })
            })
            .collect();
        let mut totals = Vec::new();
        for task in tasks {
            totals.push(task.await.expect("scan"));
        }
        totals
    });
    let wall = started.elapsed().as_secs_f64();
    let slowest = totals.iter().copied().fold(0.0, f64::max);
    println!(
        "\n50 concurrent S&P 500 scans through 2 replicas, 3 workers: {wall:.2} s in all ({:.1} scans/s, {:.0} symbols/s), per scan median {:.2} s, slowest {slowest:.2} s",
        50.0 / wall,
        50.0 * 506.0 / wall,
        median(totals.clone())
    );

    // Reclaim: a worker killed while it holds a batch; the time until another claims it.
    let reclaims: Vec<f64> = (0..3)
        .map(|i| {
            let scan = std::thread::spawn({
                let replica = replica.clone();
                move || {
                    tokio::runtime::Runtime::new()
                        .expect("runtime")
                        .block_on(scan(&reqwest::Client::new(), &replica))
                }
            });
            for w in &workers {
                let _old: Vec<String> = w.lines.try_iter().collect();
            }
            let mut victim = workers.remove(0);
            // Frozen until Redis shows it holding a batch, then killed.
            let signal = |name: &str| {
                let _sent = Command::new("kill")
                    .args([name, &victim.child.id().to_string()])
                    .status();
            };
            let frozen_by = Instant::now() + Duration::from_secs(20);
            while Instant::now() < frozen_by {
                signal("-STOP");
                if pending_with(&url, victim.child.id()) > 0 {
                    break;
                }
                signal("-CONT");
                std::thread::sleep(Duration::from_micros(500));
            }
            let killed = Instant::now();
            let _killed = victim.child.kill();
            let _reaped = victim.child.wait();
            let deadline = killed + Duration::from_secs(30);
            let mut claimed = None;
            while claimed.is_none() && Instant::now() < deadline {
                if workers
                    .iter()
                    .any(|w| w.lines.try_iter().any(|l| l.contains("claimed a batch")))
                {
                    claimed = Some(killed.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            scan.join().expect("scan");
            workers.push(worker(&home(&format!("r{i}")), &url));
            claimed.unwrap_or(f64::NAN)
        })
        .collect();
    println!(
        "\nreclaim after SIGKILL (WORKER_VISIBILITY_SECONDS=1): {}",
        reclaims
            .iter()
            .map(|s| format!("{s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
