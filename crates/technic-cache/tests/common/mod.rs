//! Helpers shared by the cache tests: the real data, the Redis to test against, and Redis servers
//! of a test's own.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Under CI a missing service fails the test; elsewhere the test says it skipped and passes.
fn unavailable(test: &str, why: &str) {
    assert!(!under_ci(), "CI: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// Whether a Redis answers PING at `url` within a second.
pub fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    client
        .get_connection_with_timeout(Duration::from_secs(1))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok_and(|pong| pong == "PONG")
}

/// The shared Redis the tests use (`TECHNIC_TEST_REDIS_URL`, else the local default one), or
/// `None` after reporting the skip when it is not reachable.
pub fn test_redis(test: &str) -> Option<TestRedis> {
    let url = std::env::var("TECHNIC_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    if !answers(&url) {
        unavailable(
            test,
            &format!(
                "Redis is not reachable at {}; scripts/test starts it",
                technic_cache::redact_url(&url)
            ),
        );
        return None;
    }
    Some(TestRedis {
        prefix: format!("technic-test:{}:{test}:", std::process::id()),
        url,
    })
}

/// The shared Redis and a key prefix no other test (or parallel run) uses; its keys are deleted
/// when it is dropped.
#[derive(Debug)]
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub fn options(&self) -> technic_cache::RedisOptions {
        technic_cache::RedisOptions {
            key_prefix: self.prefix.clone(),
            ..Default::default()
        }
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .expect("url")
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("test Redis connects")
    }

    /// Keys under this test's prefix, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut connection = self.connection();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut connection)
            .expect("KEYS");
        keys.sort();
        keys
    }
}

impl Drop for TestRedis {
    /// Best effort, and never a panic: this also runs while a failed test unwinds.
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut connection);
        }
    }
}

/// A `redis-server` process of the test's own on a free port, killed when dropped.
#[derive(Debug)]
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one, or `None` after reporting the skip when `redis-server` is not installed.
    pub fn start(test: &str) -> Option<Self> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            unavailable(
                test,
                "redis-server is not on PATH; scripts/test installs it",
            );
            return None;
        }
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port (again) and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers(&self.url()) {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        // Errors ignored: this also runs while a failed test unwinds, and a child that already
        // exited is what we want anyway.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on at the moment of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
