//! Reading server-sent event streams in tests: frames as a client would
//! dispatch them, every read bounded by [`STREAM_TIMEOUT`].

use super::*;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// The longest any event stream may take, from the request to its end.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(30);
pub const TERMINAL: [&str; 3] = ["scan.complete", "scan.failed", "scan.cancelled"];

/// One dispatched SSE event.
#[derive(Clone, Debug)]
pub struct Frame {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| {
            panic!(
                "event {:?} data is not JSON ({e}): {:?}",
                self.name(),
                self.data
            )
        })
    }

    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.name())
    }
}

/// A whole event stream as received, until the server closed it.
pub struct Stream {
    pub frames: Vec<Frame>,
    /// Everything received, verbatim.
    pub raw: String,
}

impl Stream {
    pub fn names(&self) -> Vec<&str> {
        self.frames.iter().map(Frame::name).collect()
    }

    pub fn ids(&self) -> Vec<Option<u64>> {
        self.frames.iter().map(|f| f.id).collect()
    }

    pub fn named(&self, name: &str) -> Vec<&Frame> {
        self.frames.iter().filter(|f| f.name() == name).collect()
    }

    pub fn last(&self) -> &Frame {
        self.frames.last().expect("the stream has no event")
    }
}

/// Parses one SSE block (the lines between blank lines). `None` for a block
/// of comments only (keep-alives).
pub fn parse_block(block: &str) -> Option<Frame> {
    let mut id = None;
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    let mut any = false;
    for line in block.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => {
                id = Some(
                    value
                        .parse::<u64>()
                        .unwrap_or_else(|_| panic!("non-numeric event id {value:?} in {block:?}")),
                );
                any = true;
            }
            "event" => {
                event = Some(value.to_string());
                any = true;
            }
            "data" => {
                data.push(value);
                any = true;
            }
            _ => {}
        }
    }
    any.then(|| Frame {
        id,
        event,
        data: data.join("\n"),
    })
}

/// The end of the first complete block in `buf`: (block length, separator length).
pub fn block_end(buf: &[u8]) -> Option<(usize, usize)> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\n\n") {
            Some((i, 2))
        } else if buf[i..].starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else if buf[i..].starts_with(b"\r\r") {
            Some((i, 2))
        } else {
            None
        }
    })
}

/// Reads the body of an event stream until the server closes it. Fails when
/// that takes longer than [`STREAM_TIMEOUT`] or the stream ends mid-event.
pub async fn read_stream(resp: Response, ctx: &str) -> Stream {
    let deadline = tokio::time::Instant::now() + STREAM_TIMEOUT;
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => panic!(
                "{ctx}: the event stream did not end within {STREAM_TIMEOUT:?}; events so far: {frames:#?}"
            ),
            Ok(None) => break,
            Ok(Some(Err(e))) if e.is_timeout() => panic!(
                "{ctx}: the event stream did not end within the client timeout ({STREAM_TIMEOUT:?}); events so far: {frames:#?}"
            ),
            Ok(Some(Err(e))) => {
                panic!("{ctx}: error reading the event stream: {e:?}; events so far: {frames:#?}")
            }
            Ok(Some(Ok(chunk))) => {
                raw.extend_from_slice(&chunk);
                buf.extend_from_slice(&chunk);
                while let Some((len, sep)) = block_end(&buf) {
                    let block = String::from_utf8(buf[..len].to_vec())
                        .unwrap_or_else(|_| panic!("{ctx}: the event stream is not UTF-8"));
                    buf.drain(..len + sep);
                    if let Some(f) = parse_block(&block) {
                        frames.push(f);
                    }
                }
            }
        }
    }
    let rest = String::from_utf8_lossy(&buf);
    assert!(
        rest.trim().is_empty(),
        "{ctx}: the stream ended in the middle of an event (never dispatched by a client): {rest:?}"
    );
    Stream {
        frames,
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// `GET /api/v1/scans/{id}/events` with the given credentials.
pub async fn open_events(
    app: &TestApp,
    scan: &str,
    token: Option<&str>,
    key: Option<&str>,
    last_event_id: Option<u64>,
) -> Response {
    open_events_at(
        app,
        &format!("/api/v1/scans/{scan}/events"),
        token,
        key,
        last_event_id,
    )
    .await
}

pub async fn open_events_at(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    last_event_id: Option<u64>,
) -> Response {
    let mut rb = app.request(Method::GET, path, key);
    if let Some(t) = token {
        rb = rb.query(&[("event_token", t)]);
    }
    if let Some(n) = last_event_id {
        rb = rb.header("Last-Event-ID", n.to_string());
    }
    tokio::time::timeout(STREAM_TIMEOUT, send(rb))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no response headers within {STREAM_TIMEOUT:?}"))
}

/// Asserts a 200 event stream with the SSE headers, and reads it to its end.
pub async fn expect_stream(resp: Response, ctx: &str) -> Stream {
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.text().await.unwrap_or_default();
        panic!("{ctx}: expected a 200 event stream, got {status} {body}");
    }
    let h = resp.headers().clone();
    let ct = header(&h, "content-type").unwrap_or_default();
    assert!(
        ct.starts_with("text/event-stream"),
        "{ctx}: Content-Type is {ct:?}, not text/event-stream"
    );
    assert_eq!(
        header(&h, "cache-control").as_deref(),
        Some("no-cache"),
        "{ctx}: Cache-Control of the event stream"
    );
    assert_eq!(
        header(&h, "x-accel-buffering").as_deref(),
        Some("no"),
        "{ctx}: X-Accel-Buffering of the event stream"
    );
    read_stream(resp, ctx).await
}

/// Ids `first, first+1, ...`, exactly one terminal event and it is the last.
pub fn check_sequence(s: &Stream, first: u64, ctx: &str) {
    assert!(!s.frames.is_empty(), "{ctx}: the stream carried no event");
    for (i, f) in s.frames.iter().enumerate() {
        assert_eq!(
            f.id,
            Some(first + i as u64),
            "{ctx}: event #{i} ({}) has id {:?}; ids must run {first}, {}, ... by 1: {:?} {:?}",
            f.name(),
            f.id,
            first + 1,
            s.ids(),
            s.names()
        );
    }
    let terminals: Vec<usize> = (0..s.frames.len())
        .filter(|&i| s.frames[i].is_terminal())
        .collect();
    assert_eq!(
        terminals,
        vec![s.frames.len() - 1],
        "{ctx}: exactly one terminal event, the last one: {:?}",
        s.names()
    );
}

pub fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}
