//! The cost of distribution (docs/benchmarks.md): one S&P 500 scan in-process against 1, 2 and
//! 3 local `technic worker`s (time to first result, total, Redis commands per scan), 50
//! concurrent scans through 2 replicas, the time a dead worker's batch takes to be claimed, and
//! the time a scan whose planning replica was killed takes to go on on another. Real processes
//! on loopback and a `redis-server` of its own; `cargo bench -p technic-cli --bench distributed`
//! (or, with a release binary already built, `TECHNIC_BIN=target/release/technic cargo bench
//! --profile dev -p technic-cli --bench distributed`, which builds no second optimised binary).
//! `DISTRIBUTED_BENCH=reclaim,takeover` runs only those sections (of `overhead`, `concurrent`,
//! `reclaim`, `takeover`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use technic_testkit::clients::{post, seqs, websocket};
use technic_testkit::processes::{
    Technic, batches_pending_with, freeze_holding_a_batch, redis_command, redis_info, start_redis,
};

/// Scans per configuration; the first warms the caches and is not counted.
const RUNS: usize = 4;

fn commands_processed(url: &str) -> u64 {
    redis_info(url, "stats", "total_commands_processed")
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
    // TECHNIC_BIN: a release binary measured by a harness built without optimisation; a relative
    // path is the workspace's (cargo runs benches in the package's directory).
    let binary = std::env::var_os("TECHNIC_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_technic")),
        |path| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(path)
        },
    );
    let technic = Technic::new(binary);
    let (_redis, url) = start_redis(&home("redis"));
    let (_local, local) = technic.serve(&home("local"), None);
    let (_replica, replica) = technic.serve(&home("replica"), Some(&url));
    let (_second, second) = technic.serve(&home("second"), Some(&url));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    // DISTRIBUTED_BENCH: the sections to run (comma-separated), all by default.
    let sections = std::env::var("DISTRIBUTED_BENCH")
        .unwrap_or_else(|_| "overhead,concurrent,reclaim,takeover".to_owned());
    let wanted = |section: &str| sections.split(',').any(|s| s.trim() == section);
    if wanted("overhead") {
        println!("| setup | first result (s) | total (s) | Redis commands per scan |");
        println!("| --- | ---: | ---: | ---: |");
    }
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
    if wanted("overhead") {
        measure("in-process (MAX_WORKERS default)", &local, None);
    }
    let mut workers = Vec::new();
    for count in 1..=3 {
        workers.push(technic.worker(&home(&format!("w{count}")), &url, &[]));
        if wanted("overhead") {
            measure(
                &format!("distributed, {count} worker(s) × 1 thread"),
                &replica,
                Some(&url),
            );
        }
    }

    if wanted("concurrent") {
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
    }

    if wanted("reclaim") {
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
                freeze_holding_a_batch(&url, &victim, Duration::from_secs(20));
                let killed = Instant::now();
                let pid = victim.id();
                victim.kill();
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
                assert_eq!(batches_pending_with(&url, pid), 0, "the batch was claimed");
                workers.push(technic.worker(&home(&format!("r{i}")), &url, &[]));
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

    if wanted("takeover") {
        // Takeover: the replica that planned a scan killed mid-scan (workers frozen for the moment
        // of the kill, so it lands mid-scan); the time until another replica holds the scan, and
        // until a client following it elsewhere has its `complete`.
        let takeovers: Vec<(f64, f64)> = (0..3)
            .map(|i| {
                let (mut planner, address) = technic.serve(&home(&format!("p{i}")), Some(&url));
                let follower = second.clone();
                let (scan_id, first) = runtime.block_on(async {
                    let client = reqwest::Client::new();
                    let started = post(&client, &address, "/scan/start", &json!({})).await;
                    let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
                    let first = websocket(&follower, &scan_id, 0, 20).await;
                    (scan_id, first)
                });
                for worker in &workers {
                    worker.signal("-STOP");
                }
                let killed = Instant::now();
                planner.kill();
                for worker in &workers {
                    worker.signal("-CONT");
                }
                let dead = format!("-{}-", planner.id());
                let mut claimed = f64::NAN;
                while killed.elapsed() < Duration::from_secs(30) {
                    if planners(&url).iter().any(|owner| !owner.contains(&dead)) {
                        claimed = killed.elapsed().as_secs_f64();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                let last = *seqs(&first).last().expect("a message");
                let rest = runtime.block_on(websocket(&follower, &scan_id, last, usize::MAX));
                let complete = killed.elapsed().as_secs_f64();
                assert_eq!(
                    rest.last().expect("final")["type"],
                    "complete",
                    "the scan completed on another replica"
                );
                (claimed, complete)
            })
            .collect();
        println!(
            "\ntakeover after SIGKILL of the planning replica (SCAN_TAKEOVER_SECONDS=1): claimed by the other replica after {}; complete for its follower after {}",
            takeovers
                .iter()
                .map(|(claimed, _)| format!("{claimed:.2} s"))
                .collect::<Vec<_>>()
                .join(", "),
            takeovers
                .iter()
                .map(|(_, complete)| format!("{complete:.2} s"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The consumer holding each planners' entry: the replica planning each running scan.
fn planners(url: &str) -> Vec<String> {
    let redis::Value::Array(entries) = redis_command(
        url,
        &["XPENDING", "technic:plans", "planners", "-", "+", "100"],
    ) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(fields) => match fields.get(1) {
                Some(redis::Value::BulkString(name)) => {
                    Some(String::from_utf8_lossy(name).into_owned())
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
