//! A server under test on a loopback port, and the calls the server tests make to it.
//!
//! It runs whatever serve function it is given, so this dev-only crate need not depend on
//! `technic-server` (whose own tests use it): `LoopbackServer::start(|listener, shutdown|
//! technic_server::serve(listener, state, shutdown))`.

use std::borrow::Borrow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Resolves when the test stops the server.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long a server may take to stop, and a scan to complete, before the test fails.
const STOP_WITHIN: Duration = Duration::from_secs(15);
const COMPLETE_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct LoopbackServer {
    address: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LoopbackServer {
    /// Serves on a fresh port of 127.0.0.1.
    pub async fn start<Serve, Served>(serve: Serve) -> Self
    where
        Serve: FnOnce(TcpListener, Shutdown) -> Served,
        Served: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener, serve)
    }

    /// Serves on `listener` (one bound as the server binds its own, say).
    pub fn start_on<Serve, Served>(listener: TcpListener, serve: Serve) -> Self
    where
        Serve: FnOnce(TcpListener, Shutdown) -> Served,
        Served: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let address = listener.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async move {
            let _signal = rx.await;
        });
        let task = tokio::spawn(serve(listener, shutdown));
        Self {
            address,
            shutdown: Some(tx),
            task,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.address)
    }

    /// The status and the JSON body (`null` when the body is not JSON).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: impl Borrow<Value>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body.borrow().clone()))
            .await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The value of the unlabelled series `name` in `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    /// `POST /scan/start` with `body`; the new scan's id.
    pub async fn start_scan(&self, body: impl Borrow<Value>) -> String {
        let (status, started) = self.post("/scan/start", body).await;
        assert_eq!(status, 202, "{started}");
        started["scan_id"].as_str().expect("scan_id").to_owned()
    }

    /// `GET /scan/results/{id}` once it says `complete`.
    pub async fn results_when_complete(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + COMPLETE_WITHIN;
        loop {
            let (_, page) = self.get(&format!("/scan/results/{id}")).await;
            if page["complete"] == true {
                return page;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "scan {id} never complete: {page}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A connection to the server whose receive buffer holds a few kilobytes, for a client that
    /// stops reading.
    pub async fn tiny_receive_buffer_connection(&self) -> (tokio::net::TcpStream, SocketAddr) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        (
            socket.connect(self.address).await.expect("connects"),
            self.address,
        )
    }

    /// Asks the server to stop and waits until it has, which must be soon and without error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _sent = tx.send(());
        }
        tokio::time::timeout(STOP_WITHIN, &mut self.task)
            .await
            .expect("shuts down in time")
            .expect("task")
            .expect("serve");
    }
}
