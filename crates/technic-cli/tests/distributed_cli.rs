//! Distributed scans with real processes on loopback: a `redis-server` of the test's own (AOF
//! on), `technic serve --distributed` replicas, `technic worker`s, and an in-process `technic
//! serve` for reference. Scans start on one replica and are followed on others over SSE and
//! WebSocket, resuming on a replica that had not seen them; the replica that planned a scan is
//! SIGKILLed mid-scan and another finishes it; twenty scans go through two replicas while a
//! worker and a replica are SIGKILLed; a scan is stopped through a replica that did not plan it;
//! Redis is killed and restarted mid-scan; finished scans' keys expire.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use technic_testkit::clients::{ended, get, post, result_symbols, seqs, sse, websocket};
use technic_testkit::processes::{
    Process, Technic, batches_pending_with, freeze_holding_a_batch, redis_command, redis_info,
    redis_on, redis_server_installed, start_redis,
};

fn technic() -> Technic {
    Technic::new(env!("CARGO_BIN_EXE_technic"))
}

/// A fresh home directory per process, under one temporary directory.
struct Homes(tempfile::TempDir);

impl Homes {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    fn get(&self, name: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::create_dir_all(&path).expect("home");
        path
    }
}

/// A scan's results page once it says the scan is complete (its outcome is recorded a moment
/// after its final message).
async fn final_results(client: &reqwest::Client, address: &str, scan_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = get(client, address, &format!("/scan/results/{scan_id}")).await;
        if page["complete"] == true {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "{scan_id} never complete: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A ranked result without what depends on when and in which order its symbol finished.
fn comparable(result: &Value) -> Value {
    let mut result = result.clone();
    if let Some(fields) = result.as_object_mut() {
        for field in [
            "priority_tier",
            "batch_number",
            "position",
            "total_processed",
            "total_remaining",
        ] {
            fields.remove(field);
        }
    }
    result
}

fn by_symbol(report: &Value) -> BTreeMap<String, Value> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["symbol"].as_str().expect("symbol").to_owned(),
                comparable(r),
            )
        })
        .collect()
}

/// Stops (SIGSTOP) every worker while `during` runs, so a kill lands mid-scan however fast the
/// workers are, and lets them go on after (SIGCONT).
fn with_workers_frozen<T>(workers: &[Process], during: impl FnOnce() -> T) -> T {
    for worker in workers {
        worker.signal("-STOP");
    }
    let value = during();
    for worker in workers {
        worker.signal("-CONT");
    }
    value
}

/// Every message of a scan is there once, in `seq` order with no gap, ending with `complete`,
/// and every symbol is a streamed result or a diagnostic of that `complete`, once. Returns the
/// final message.
fn assert_whole(scan_id: &str, messages: &[Value], symbols: usize) -> Value {
    let numbers = seqs(messages);
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "{scan_id}: seq gapless and without repeats"
    );
    let end = messages.last().expect("a final message").clone();
    assert_eq!(end["type"], "complete", "{scan_id}: {end}");
    assert_eq!(end["data"]["status"], "completed", "{scan_id}");
    let streamed = result_symbols(messages);
    let unique: BTreeSet<&String> = streamed.iter().collect();
    assert_eq!(unique.len(), streamed.len(), "{scan_id}: no result twice");
    let diagnostics = end["data"]["diagnostics"].as_array().expect("diagnostics");
    let diagnosed: BTreeSet<&str> = diagnostics
        .iter()
        .map(|d| d["symbol"].as_str().expect("symbol"))
        .collect();
    assert!(
        unique.iter().all(|s| !diagnosed.contains(s.as_str())),
        "{scan_id}: a symbol both a result and a diagnostic"
    );
    assert_eq!(
        streamed.len() + diagnostics.len(),
        symbols,
        "{scan_id}: every symbol once"
    );
    end
}

/// The replica that planned a scan is SIGKILLed mid-scan: another replica takes it over and
/// finishes it. A client that followed it on B resumes on C, which had not seen it, and gets
/// every symbol once with no gap in `seq`; every replica left gives the same report, equal to
/// an in-process scan's to the bit. Then a scan is stopped through a replica that does not plan
/// it.
#[test]
fn a_scan_outlives_its_planning_replica_and_equals_in_process() {
    let test = "a_scan_outlives_its_planning_replica_and_equals_in_process";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let (_redis, url) = start_redis(&homes.get("redis"));
    let technic = technic();
    let (mut planner, a) = technic.serve(&homes.get("a"), Some(&url));
    let (b_process, b) = technic.serve(&homes.get("b"), Some(&url));
    let (c_process, c) = technic.serve(&homes.get("c"), Some(&url));
    let (_local, local) = technic.serve(&homes.get("local"), None);
    let workers: Vec<Process> = (0..2)
        .map(|i| technic.worker(&homes.get(&format!("w{i}")), &url, &[]))
        .collect();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let request = json!({});
        let started = post(&client, &a, "/scan/start", &request).await;
        let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
        let first = sse(&client, &b, &scan_id, 0, 40).await;
        assert!(result_symbols(&first).len() >= 40, "B streamed A's scan");
        let killed_at = with_workers_frozen(&workers, || {
            planner.kill();
            Instant::now()
        });
        let last = *seqs(&first).last().expect("a message");
        let rest = sse(&client, &c, &scan_id, last, usize::MAX).await;
        let finished_after = killed_at.elapsed();
        let mut all = first.clone();
        all.extend(rest);
        let total = 506;
        let complete = assert_whole(&scan_id, &all, total);
        assert_eq!(
            complete["data"]["metrics"]["symbols_total"],
            total,
            "the whole S&P 500 directory"
        );
        let took_over = [&b_process, &c_process]
            .iter()
            .filter(|p| p.said("taking over a scan whose planner stopped"))
            .count();
        assert_eq!(took_over, 1, "one replica took the scan over");
        eprintln!(
            "scan of {total} symbols finished {:.2} s after its planning replica was killed (SCAN_TAKEOVER_SECONDS=1)",
            finished_after.as_secs_f64()
        );

        // The same scan over a WebSocket on B from the start, and resumed from the middle: the
        // very messages C relayed.
        let whole = websocket(&b, &scan_id, 0, usize::MAX).await;
        assert_eq!(whole, all, "B's WebSocket gives the messages C gave");
        let resumed = websocket(&b, &scan_id, 100, usize::MAX).await;
        assert_eq!(resumed[..], all[100..]);

        // Both replicas left give the same report, equal to an in-process scan's.
        let on_b = final_results(&client, &b, &scan_id).await;
        let on_c = final_results(&client, &c, &scan_id).await;
        assert_eq!(on_b["final"], on_c["final"], "one report on every replica");
        let reference = post(&client, &local, "/scan", &request).await;
        let distributed = by_symbol(&on_b["final"]);
        let in_process = by_symbol(&reference);
        assert_eq!(distributed.len(), in_process.len());
        assert_eq!(
            distributed, in_process,
            "the same ranking and numbers, to the bit"
        );
        let progress = get(&client, &b, &format!("/scan/progress/{scan_id}")).await;
        assert_eq!(progress["status"], "completed", "{progress}");

        // Stopped through B while C plans it: results after the stop are not streamed.
        let started = post(&client, &c, "/scan/start", &json!({})).await;
        let stopped_id = started["scan_id"].as_str().expect("scan_id").to_owned();
        let before = sse(&client, &b, &stopped_id, 0, 5).await;
        post(&client, &b, &format!("/scan/stop/{stopped_id}"), &json!({})).await;
        let after = sse(
            &client,
            &b,
            &stopped_id,
            *seqs(&before).last().expect("seq"),
            usize::MAX,
        )
        .await;
        let mut stopped = before;
        stopped.extend(after);
        let end = stopped.last().expect("final");
        assert_eq!(end["data"]["status"], "stopped", "{end}");
        let results = final_results(&client, &b, &stopped_id).await;
        let kept = results["final"]["results"]
            .as_array()
            .expect("results")
            .len();
        let streamed = result_symbols(&stopped).len();
        assert!(streamed < total, "the stop cut the scan short");
        assert_eq!(kept, streamed, "no result after the stop");
    });
}

/// Follows a scan as a client behind a load balancer does: over WebSocket or SSE, a few results
/// at a time, each time on the next replica of `replicas` from the last `seq` it has, and on
/// to the next one when a replica goes away. Returns every message.
async fn follow_switching(
    client: &reqwest::Client,
    replicas: &[String],
    scan_id: &str,
    over_websocket: bool,
) -> Vec<Value> {
    let mut messages: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for turn in 0.. {
        assert!(Instant::now() < deadline, "{scan_id} never ended");
        let replica = &replicas[turn % replicas.len()];
        let last = seqs(&messages).last().copied().unwrap_or(0);
        let part = if (turn % 2 == 0) == over_websocket {
            websocket(replica, scan_id, last, 8).await
        } else {
            sse(client, replica, scan_id, last, 8).await
        };
        messages.extend(part);
        if ended(&messages) {
            break;
        }
        if turn > 0 && turn % replicas.len() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    messages
}

/// The deployment the product is built for, at test scale: 2 replicas, 3 workers, 20 scans
/// started through A and followed through B over WebSocket and SSE, each client switching
/// replicas as it resumes; a worker SIGKILLed holding a batch and replica A SIGKILLed while the
/// scans run. Every scan's messages come once, gapless, and its results equal an in-process
/// scan's.
#[test]
fn twenty_scans_through_two_replicas_outlive_a_killed_worker_and_a_killed_replica() {
    let test = "twenty_scans_through_two_replicas_outlive_a_killed_worker_and_a_killed_replica";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let (_redis, url) = start_redis(&homes.get("redis"));
    let technic = technic();
    let (mut a_process, a) = technic.serve(&homes.get("a"), Some(&url));
    let (b_process, b) = technic.serve(&homes.get("b"), Some(&url));
    let (_local, local) = technic.serve(&homes.get("local"), None);
    let mut workers: Vec<Process> = (0..3)
        .map(|i| technic.worker(&homes.get(&format!("w{i}")), &url, &[]))
        .collect();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let replicas = [b.clone(), a.clone()];
        let mut scans = Vec::new();
        for i in 0..20 {
            let request = json!({"max_symbols": 40 + 3 * i});
            let started = post(&client, &a, "/scan/start", &request).await;
            let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
            let (client, replicas, id) = (client.clone(), replicas.clone(), scan_id.clone());
            let follower =
                tokio::spawn(
                    async move { follow_switching(&client, &replicas, &id, i % 2 == 0).await },
                );
            scans.push((scan_id, request, follower));
        }
        // While the scans run: a worker killed holding a batch, then the replica that planned
        // every scan.
        freeze_holding_a_batch(&url, &workers[0], Duration::from_secs(30));
        let mut dead_worker = workers.remove(0);
        let pid = dead_worker.id();
        with_workers_frozen(&workers, || {
            dead_worker.kill();
            a_process.kill();
        });
        let reference = |request: Value| {
            let (client, local) = (client.clone(), local.clone());
            async move { post(&client, &local, "/scan", &request).await }
        };
        let mut ids = Vec::new();
        for (scan_id, request, follower) in scans {
            let messages = follower.await.expect("follower task");
            let symbols = request["max_symbols"].as_u64().expect("max_symbols") as usize;
            assert_whole(&scan_id, &messages, symbols);
            let on_b = final_results(&client, &b, &scan_id).await;
            let in_process = reference(request).await;
            assert_eq!(
                by_symbol(&on_b["final"]),
                by_symbol(&in_process),
                "{scan_id}: the same ranking and numbers as in-process, to the bit"
            );
            ids.push(scan_id);
        }
        let said: Vec<String> = b_process.lines.try_iter().collect();
        let taken_over = ids
            .iter()
            .filter(|id| {
                said.iter()
                    .any(|l| l.contains("taking over a scan") && l.contains(id.as_str()))
            })
            .count();
        assert!(
            taken_over > 0,
            "A died with scans running, and B took them over"
        );
        assert_eq!(
            batches_pending_with(&url, pid),
            0,
            "the dead worker's batch was claimed"
        );
        assert!(
            workers.iter().any(|w| w.said("claimed a batch")),
            "a worker claimed the dead one's batch"
        );
        eprintln!("{taken_over} of 20 scans were taken over by B");
    });
}

fn used_memory(url: &str) -> u64 {
    redis_info(url, "memory", "used_memory")
}

#[test]
fn twenty_scans_outlive_a_redis_restart_and_are_trimmed_after_retention() {
    let test = "twenty_scans_outlive_a_redis_restart_and_are_trimmed_after_retention";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let redis_dir = homes.get("redis");
    let (mut redis, url) = start_redis(&redis_dir);
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let baseline = used_memory(&url);
    let technic = technic();
    let retention = [("SCAN_RETENTION_SECONDS", "3")];
    // The planners are not taken over while Redis is away: 5 s, the default.
    let replica_env = [
        ("SCAN_RETENTION_SECONDS", "3"),
        ("SCAN_TAKEOVER_SECONDS", "5"),
    ];
    let (_a, a) = technic.serve_with(&homes.get("a"), Some(&url), &replica_env);
    let (_b, b) = technic.serve_with(&homes.get("b"), Some(&url), &replica_env);
    let _workers: Vec<Process> = (0..2)
        .map(|i| technic.worker(&homes.get(&format!("w{i}")), &url, &retention))
        .collect();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut scans = Vec::new();
        for i in 0..20 {
            let max_symbols = 40 + i;
            let started = post(
                &client,
                &a,
                "/scan/start",
                &json!({"max_symbols": max_symbols}),
            )
            .await;
            let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
            // Each followed on B from its start, on a task of its own.
            let (b, id) = (b.clone(), scan_id.clone());
            let follower = tokio::spawn(async move { websocket(&b, &id, 0, usize::MAX).await });
            scans.push((scan_id, max_symbols, follower));
        }
        // Redis killed while the scans run, and restarted from its AOF a second later.
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.kill();
        tokio::time::sleep(Duration::from_secs(1)).await;
        redis = redis_on(port, &redis_dir);
        for (scan_id, max_symbols, follower) in scans {
            let messages = follower.await.expect("follower task");
            let numbers = seqs(&messages);
            assert_eq!(
                numbers,
                (1..=numbers.len() as u64).collect::<Vec<_>>(),
                "{scan_id}: seq gapless"
            );
            let end = messages.last().expect("final");
            assert_eq!(end["type"], "complete", "{scan_id}: {end}");
            assert_eq!(end["data"]["status"], "completed");
            let streamed = result_symbols(&messages);
            let unique: BTreeSet<&String> = streamed.iter().collect();
            assert_eq!(unique.len(), streamed.len(), "{scan_id}: no result twice");
            let diagnostics = end["data"]["diagnostics"].as_array().expect("diagnostics");
            assert_eq!(streamed.len() + diagnostics.len(), max_symbols, "{scan_id}");
            let on_a = final_results(&client, &a, &scan_id).await;
            let on_b = final_results(&client, &b, &scan_id).await;
            assert_eq!(on_a["final"], on_b["final"], "{scan_id}: one report");
        }
    });

    // Finished scans' keys expire after SCAN_RETENTION_SECONDS (3 s); what a Redis restart made
    // it forget to expire (the AOF's last second), at most 10 s after it was last written.
    let finished = used_memory(&url);
    let ended = Instant::now();
    loop {
        let redis::Value::Array(keys) = redis_command(&url, &["KEYS", "technic:scan:*"]) else {
            panic!("KEYS");
        };
        if keys.is_empty() {
            break;
        }
        assert!(
            ended.elapsed() < Duration::from_secs(15),
            "scan keys left after retention: {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let trimmed_after = ended.elapsed();
    assert_eq!(
        redis_command(&url, &["XLEN", "technic:work"]),
        redis::Value::Int(0)
    );
    let trimmed = used_memory(&url);
    eprintln!(
        "Redis used_memory: {baseline} B before, {finished} B after 20 scans, {trimmed} B once every scan key expired ({:.1} s after the last scan)",
        trimmed_after.as_secs_f64()
    );
    drop(redis);
}

/// A batch whose workers keep dying is not retried forever: past `WORKER_MAX_DELIVERIES` its
/// symbols become error diagnostics and the scan completes.
#[test]
fn a_batch_delivered_too_often_becomes_error_diagnostics() {
    let test = "a_batch_delivered_too_often_becomes_error_diagnostics";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let (_redis, url) = start_redis(&homes.get("redis"));
    let technic = technic();
    let (_a, a) = technic.serve(&homes.get("a"), Some(&url));
    let spawn_worker =
        |name: &str| technic.worker(&homes.get(name), &url, &[("WORKER_MAX_DELIVERIES", "1")]);
    let mut doomed = spawn_worker("doomed");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let started = post(&client, &a, "/scan/start", &json!({"max_symbols": 100})).await;
        let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
        // Its first batch in hand, the only worker is frozen and killed: delivered once.
        freeze_holding_a_batch(&url, &doomed, Duration::from_secs(30));
        doomed.kill();
        let _survivor = spawn_worker("survivor");
        let messages = websocket(&a, &scan_id, 0, usize::MAX).await;
        let end = messages.last().expect("final");
        assert_eq!(end["data"]["status"], "completed", "{end}");
        let diagnostics = end["data"]["diagnostics"].as_array().expect("diagnostics");
        let poisoned = diagnostics
            .iter()
            .filter(|d| {
                d["kind"] == "error"
                    && d["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("its batch was taken 2 times"))
            })
            .count();
        // The batch's symbols the killed worker had not yet written (it writes each outcome
        // as it is done; those it wrote stand), and no other.
        assert!(
            (1..=25).contains(&poisoned),
            "{poisoned} of one 25-symbol batch: {diagnostics:?}"
        );
        assert_eq!(result_symbols(&messages).len() + diagnostics.len(), 100);
    });
}

/// What deploy/ reads of a worker: `/health`, `/ready` (Redis answering), the three metrics of
/// the alert rules and the dashboard, which count what it did, and its process's resources.
#[test]
fn a_worker_serves_health_readiness_and_its_metrics() {
    let test = "a_worker_serves_health_readiness_and_its_metrics";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let (_redis, url) = start_redis(&homes.get("redis"));
    let technic = technic();
    let (_a, a) = technic.serve(&homes.get("a"), Some(&url));
    let worker = Process::spawn(
        technic
            .command(&homes.get("w"), Some(&url))
            .args(["worker", "--data"])
            .arg(&technic.data)
            .env("MAX_WORKERS", "1")
            .env("RUST_LOG", "info"),
    );
    let line = worker.wait_for("/metrics on http://");
    let status = line
        .split("/metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("status address")
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let text = |path: &'static str| {
            let (client, status) = (client.clone(), status.clone());
            async move {
                let response = client
                    .get(format!("http://{status}{path}"))
                    .send()
                    .await
                    .expect("request");
                (
                    response.status().as_u16(),
                    response.text().await.expect("body"),
                )
            }
        };
        assert_eq!(text("/health").await, (200, "ok".to_owned()));
        assert_eq!(text("/ready").await.0, 200);
        let metric = |body: &str, name: &str| -> f64 {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {body}"))
                .parse()
                .expect("a number")
        };
        let before = text("/metrics").await.1;
        assert_eq!(
            metric(&before, "technic_worker_symbols_processed_total"),
            0.0
        );
        assert_eq!(metric(&before, "technic_worker_in_flight_batches"), 0.0);
        assert_eq!(metric(&before, "technic_worker_backlog"), 0.0);
        let started = post(&client, &a, "/scan/start", &json!({"max_symbols": 60})).await;
        let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
        let messages = websocket(&a, &scan_id, 0, usize::MAX).await;
        assert_eq!(
            messages.last().expect("final")["data"]["status"],
            "completed"
        );
        let after = text("/metrics").await.1;
        assert_eq!(
            metric(&after, "technic_worker_symbols_processed_total"),
            60.0,
            "{after}"
        );
        assert_eq!(metric(&after, "technic_worker_in_flight_batches"), 0.0);
        assert_eq!(metric(&after, "technic_worker_backlog"), 0.0);
        // The memory alert and the resources panels read these of every process.
        assert!(
            metric(&after, "process_resident_memory_bytes") > 1e6,
            "{after}"
        );
        assert!(
            metric(&after, "process_cpu_seconds_total") >= 0.0,
            "{after}"
        );
        assert!(
            metric(&after, "technic_memory_limit_bytes") >= 0.0,
            "{after}"
        );
    });
}

/// A saved screen chained to another, named by a distributed scan: the worker, which has no
/// store of its own, compiles it from the texts the request carries, and the report equals an
/// in-process scan of the same filter written out.
#[test]
fn a_chained_saved_screen_runs_through_the_workers() {
    let test = "a_chained_saved_screen_runs_through_the_workers";
    if !redis_server_installed(test) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = |name: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).expect("home");
        path
    };
    let (_redis, url) = start_redis(&home("redis"));
    let technic = technic();
    let (_a, a) = technic.serve(&home("a"), Some(&url));
    let (_local, local) = technic.serve(&home("local"), None);
    let _worker = technic.worker(&home("w"), &url, &[]);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        post(
            &client,
            &a,
            "/screens",
            &json!({ "name": "uptrend", "where": "close > sma_200 and sma_50 > sma_200" }),
        )
        .await;
        post(
            &client,
            &a,
            "/screens",
            &json!({ "name": "calm-uptrend", "where": "screen('uptrend') and rsi_14 < 60", "rank_by": "-rsi_14" }),
        )
        .await;
        let started = post(&client, &a, "/scan/start", &json!({ "screen": "calm-uptrend" })).await;
        let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
        // One worker scans the whole directory: longer than `final_results` waits on a busy
        // machine, so the scan is awaited first.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let progress = get(&client, &a, &format!("/scan/progress/{scan_id}")).await;
            if !["pending", "running"].contains(&progress["status"].as_str().unwrap_or_default()) {
                assert_eq!(progress["status"], "completed", "{progress}");
                break;
            }
            assert!(Instant::now() < deadline, "{scan_id} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let distributed = final_results(&client, &a, &scan_id).await;
        let reference = post(
            &client,
            &local,
            "/scan",
            &json!({
                "where": "close > sma_200 and sma_50 > sma_200 and rsi_14 < 60",
                "rank_by": "-rsi_14",
            }),
        )
        .await;
        let results = by_symbol(&distributed["final"]);
        assert!(results.len() > 20, "{}", results.len());
        assert_eq!(results, by_symbol(&reference), "the same results, to the bit");
        let order = |report: &Value| -> Vec<Value> {
            report["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["symbol"].clone())
                .collect()
        };
        assert_eq!(order(&distributed["final"]), order(&reference), "ranked by -rsi_14");
    });
}

/// Three workers start three batches at once, so a low tier's symbol can come back before the
/// high tier's; the planner holds it until every higher-tier symbol is in, so the stream keeps
/// the product's promise (the likeliest first), as it does in process.
#[test]
fn a_distributed_scan_streams_each_tier_before_the_next() {
    let test = "a_distributed_scan_streams_each_tier_before_the_next";
    if !redis_server_installed(test) {
        return;
    }
    let homes = Homes::new();
    let (_redis, url) = start_redis(&homes.get("redis"));
    let technic = technic();
    let (_replica, address) = technic.serve(&homes.get("a"), Some(&url));
    let _workers: Vec<Process> = (0..3)
        .map(|i| technic.worker(&homes.get(&format!("w{i}")), &url, &[]))
        .collect();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let started = post(&client, &address, "/scan/start", &json!({})).await;
            let scan_id = started["scan_id"].as_str().expect("scan_id").to_owned();
            let messages = websocket(&address, &scan_id, 0, usize::MAX).await;
            assert!(ended(&messages), "the scan ran to its end");
            let rank = |tier: &Value| match tier.as_str() {
                Some("high") => 0,
                Some("medium") => 1,
                Some("low") => 2,
                other => panic!("a prioritised result without a tier: {other:?}"),
            };
            let tiers: Vec<u8> = messages
                .iter()
                .filter(|m| m["type"] == "result")
                .map(|m| rank(&m["data"]["priority_tier"]))
                .collect();
            assert!(tiers.len() > 100, "results streamed: {}", tiers.len());
            assert!(
                tiers.contains(&0) && tiers.contains(&2),
                "several tiers: {tiers:?}"
            );
            assert!(
                tiers.windows(2).all(|pair| pair[0] <= pair[1]),
                "every tier streams before the next: {tiers:?}"
            );
        }
    });
}
