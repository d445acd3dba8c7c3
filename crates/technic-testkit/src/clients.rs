//! A server's clients as the distributed tests and benchmark drive them: REST calls, and a
//! scan's messages over SSE and WebSocket, each message as its JSON.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

/// How long a stream may stay silent before the caller fails: far longer than any scan here.
const QUIET_LIMIT: Duration = Duration::from_secs(60);

pub async fn post(client: &reqwest::Client, address: &str, path: &str, body: &Value) -> Value {
    let response = client
        .post(format!("http://{address}{path}"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

pub async fn get(client: &reqwest::Client, address: &str, path: &str) -> Value {
    let response = client
        .get(format!("http://{address}{path}"))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Messages of a scan's SSE stream after `last_event_id`, until the final one or until `until`
/// results have come (then the connection is dropped, as a client that goes away). A server
/// that cannot be reached, or whose stream breaks, ends it early: the caller, as a client
/// behind a load balancer, resumes elsewhere from the last `seq`.
pub async fn sse(
    client: &reqwest::Client,
    address: &str,
    scan_id: &str,
    last_event_id: u64,
    until: usize,
) -> Vec<Value> {
    let response = client
        .get(format!("http://{address}/events/results/{scan_id}"))
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", last_event_id.to_string())
        .send()
        .await;
    let mut messages = Vec::new();
    let Ok(response) = response else {
        return messages;
    };
    assert!(response.status().is_success(), "SSE: {}", response.status());
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut results = 0;
    while let Some(chunk) = tokio::time::timeout(QUIET_LIMIT, body.next())
        .await
        .expect("SSE went quiet")
    {
        let Ok(chunk) = chunk else {
            return messages;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            let Ok(message) = serde_json::from_str::<Value>(&data) else {
                continue; // keep-alives, and events that are not messages
            };
            if message["metadata"]["seq"].is_null() {
                continue;
            }
            let is_final = message["metadata"]["is_final"] == true;
            results += usize::from(message["type"] == "result");
            messages.push(message);
            if is_final || results >= until {
                return messages;
            }
        }
    }
    messages
}

/// Messages of a scan's results WebSocket after `from_seq`, until the final one or until
/// `until` results have come (then the socket is dropped). Ends early as `sse` does.
pub async fn websocket(address: &str, scan_id: &str, from_seq: u64, until: usize) -> Vec<Value> {
    let url = format!("ws://{address}/ws/results/{scan_id}?from_seq={from_seq}");
    let mut messages = Vec::new();
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
        return messages;
    };
    let mut results = 0;
    while let Some(frame) = tokio::time::timeout(QUIET_LIMIT, socket.next())
        .await
        .expect("WebSocket went quiet")
    {
        let Ok(frame) = frame else {
            return messages;
        };
        let Ok(text) = frame.to_text() else { continue };
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let is_final = message["metadata"]["is_final"] == true;
        results += usize::from(message["type"] == "result");
        messages.push(message);
        if is_final || results >= until {
            break;
        }
    }
    messages
}

/// Whether the last message is the scan's final one.
pub fn ended(messages: &[Value]) -> bool {
    messages
        .last()
        .is_some_and(|m| m["metadata"]["is_final"] == true)
}

/// Each message's `seq`.
pub fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["metadata"]["seq"].as_u64().expect("seq"))
        .collect()
}

/// The symbols of the `result` messages, in order.
pub fn result_symbols(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["type"] == "result")
        .map(|m| m["data"]["symbol"].as_str().expect("symbol").to_owned())
        .collect()
}
