//! Webhooks: signed deliveries of events to subscribers' URLs.
//!
//! A delivery is persisted (status `pending`) before anything is sent; a
//! background dispatcher leases due deliveries atomically, sends each with a
//! 10 s timeout, records every attempt, and retries with exponential backoff
//! (base doubling up to 300 s) until 30 minutes after creation, when the
//! delivery is `abandoned`.
//!
//! SSRF guard (unless `SECURESCAN_WEBHOOK_ALLOW_PRIVATE`): URLs whose host is,
//! or resolves to, a loopback, private, link-local, metadata, CGNAT,
//! multicast or unspecified address are refused at creation/PATCH and again
//! at send time, after resolution (a filtering DNS resolver, so DNS
//! rebinding cannot slip through). Redirects are never followed.

use crate::clock::now_ms;
use crate::keys::now_rfc3339;
use crate::store::{AttemptOutcome, AttemptRecord, ClaimedDelivery, DynStore, NewDelivery};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Events a webhook can subscribe to.
pub const EVENTS: &[&str] = &[
    "scan.complete",
    "scan.failed",
    "scanner.failed",
    "webhook.test",
];
/// The detail of a refused destination.
pub const PRIVATE_URL: &str = "Webhook URL resolves to a private or loopback address";
/// Timeout of one delivery attempt.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest delay between two attempts.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// A delivery not delivered this long after its creation is abandoned.
pub const GIVE_UP_AFTER_MS: i64 = 30 * 60 * 1000;
/// How long a claim is held before another dispatcher may take it over.
const LEASE_MS: i64 = 60_000;
/// How often the dispatcher looks for due deliveries (besides wake-ups).
const POLL: Duration = Duration::from_millis(250);
/// Deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 16;
/// How many deliveries a listing returns.
pub const LIST_LIMIT: u32 = 100;

fn rfc3339_of_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(now_rfc3339)
}

/// A fresh signing secret: 32 CSPRNG bytes, hex.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The `X-SecureScan-Signature` value: `t=<t>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<body>")>`; the key is the secret exactly as returned at creation.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delay before the attempt after attempt number `attempt` (1-based):
/// `base * 2^(attempt-1)`, at most [`MAX_BACKOFF_MS`].
pub fn backoff_ms(base_ms: u64, attempt: i64) -> u64 {
    let shift = attempt.saturating_sub(1).clamp(0, 32) as u32;
    base_ms.saturating_mul(1u64 << shift).min(MAX_BACKOFF_MS)
}

// ------------------------------------------------------------- SSRF guard --

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()                                   // 127/8
        || ip.is_private()                             // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                          // 169.254/16 (metadata)
        || ip.is_unspecified()                         // 0.0.0.0
        || o[0] == 0                                   // 0/8 "this network"
        || ip.is_multicast()                           // 224/4
        || ip.is_broadcast()                           // 255.255.255.255
        || o[0] >= 240                                 // 240/4 reserved
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
}

fn v6_forbidden(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return true;
    }
    if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
        // fc00::/7 unique local, fe80::/10 link-local
        return true;
    }
    if (s[0] & 0xffc0) == 0xfec0 {
        // fec0::/10 deprecated site-local
        return true;
    }
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64
    // (64:ff9b::/96) forms carry an IPv4 address: judge that.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_forbidden(v4);
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] {
        return v4_forbidden(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return v4_forbidden(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    false
}

/// True when a webhook must not be sent to this address.
pub fn ip_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

/// Host names refused whatever they resolve to.
pub fn name_forbidden(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "metadata.google.internal"
        || h == "metadata"
}

/// The host of a URL as an IP address, when it is a literal.
fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    // The URL parser has already normalised IPv4 forms (`0x7f.1`, `2130706433`)
    // and brackets IPv6 literals.
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Checks a destination before it is stored: `Err(PRIVATE_URL)` when its
/// host is a forbidden name or literal, or resolves to a forbidden address.
/// A name that does not resolve now is accepted (checked again at send time).
pub async fn check_destination(url: &reqwest::Url) -> Result<(), &'static str> {
    if let Some(ip) = literal_ip(url) {
        return if ip_forbidden(ip) {
            Err(PRIVATE_URL)
        } else {
            Ok(())
        };
    }
    let Some(host) = url.host_str() else {
        return Err(PRIVATE_URL);
    };
    if name_forbidden(host) {
        return Err(PRIVATE_URL);
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let lookup = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host.to_string(), port)),
    )
    .await;
    if let Ok(Ok(addrs)) = lookup {
        for a in addrs {
            if ip_forbidden(a.ip()) {
                return Err(PRIVATE_URL);
            }
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Blocked;

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("destination resolves to a private or loopback address")
    }
}

impl std::error::Error for Blocked {}

/// The allowed addresses among `addrs`; `None` when none is.
fn allowed(addrs: impl Iterator<Item = SocketAddr>) -> Option<Vec<SocketAddr>> {
    let v: Vec<SocketAddr> = addrs.filter(|a| !ip_forbidden(a.ip())).collect();
    (!v.is_empty()).then_some(v)
}

/// A resolver that drops forbidden addresses (and forbidden names), so the
/// connection can only go where the guard allows, whatever DNS says later.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            if name_forbidden(&host) {
                return Err(Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs = allowed(tokio::net::lookup_host((host, 0)).await?)
                .ok_or_else(|| Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

// -------------------------------------------------------------- webhooks --

#[derive(Clone)]
pub struct Webhooks {
    store: DynStore,
    wake: Arc<Notify>,
    pub allow_private: bool,
    pub retry_base_ms: u64,
}

impl Webhooks {
    pub fn new(store: DynStore, allow_private: bool, retry_base_ms: u64) -> Self {
        Webhooks {
            store,
            wake: Arc::new(Notify::new()),
            allow_private,
            retry_base_ms,
        }
    }

    /// Persists a delivery of `event` to one webhook and wakes the dispatcher.
    pub async fn enqueue(
        &self,
        webhook_id: &str,
        event: &str,
        data: &Value,
    ) -> Result<String, crate::store::StoreError> {
        let d = NewDelivery {
            id: crate::ids::uuid_v4(),
            webhook_id: webhook_id.to_string(),
            event: event.to_string(),
            payload: data.to_string(),
            created_at: now_rfc3339(),
            created_ms: now_ms(),
        };
        self.store.insert_delivery(&d).await?;
        self.wake.notify_one();
        Ok(d.id)
    }

    /// Enqueues `event` for every webhook whose filter names it. Errors are
    /// logged: an event source never fails because of its subscribers.
    pub async fn publish(&self, event: &str, data: &Value) {
        let hooks = match self.store.list_webhooks().await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, event, "cannot list webhooks");
                return;
            }
        };
        for h in hooks
            .iter()
            .filter(|h| h.event_filter.iter().any(|e| e == event))
        {
            match self.enqueue(&h.id, event, data).await {
                Ok(delivery_id) => {
                    tracing::info!(webhook_id = %h.id, delivery_id = %delivery_id, event, "webhook delivery enqueued")
                }
                Err(e) => {
                    tracing::error!(webhook_id = %h.id, event, error = %e, "cannot enqueue webhook delivery")
                }
            }
        }
    }

    fn client(&self) -> reqwest::Result<reqwest::Client> {
        let b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(SEND_TIMEOUT)
            .connect_timeout(SEND_TIMEOUT)
            // A proxy would connect on our behalf, past the guard.
            .no_proxy()
            .user_agent(concat!("SecureScan-Webhooks/", env!("CARGO_PKG_VERSION")));
        if self.allow_private {
            b.build()
        } else {
            b.dns_resolver(Arc::new(GuardedResolver)).build()
        }
    }

    /// The dispatcher: runs until `stop` becomes true. Deliveries in flight
    /// when it stops keep their lease and are retried once it expires.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(critical = true, error = %e, "webhook HTTP client unavailable; no deliveries will be sent");
                return;
            }
        };
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while in_flight.try_join_next().is_some() {}
            let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len()) as u32;
            if room > 0 {
                match self.store.claim_deliveries(now_ms(), LEASE_MS, room).await {
                    Ok(batch) => {
                        for d in batch {
                            let this = self.clone();
                            let client = client.clone();
                            in_flight.spawn(async move { this.attempt(&client, d).await });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot claim webhook deliveries"),
                }
            }
            tokio::select! {
                r = stop.changed() => if r.is_err() { break },
                _ = self.wake.notified() => {},
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {},
                _ = tokio::time::sleep(POLL) => {},
            }
        }
        in_flight.shutdown().await;
    }

    /// One attempt at one claimed delivery, recorded with its outcome.
    async fn attempt(&self, client: &reqwest::Client, d: ClaimedDelivery) {
        let Ok(Some(hook)) = self.store.get_webhook(&d.webhook_id).await else {
            // Deleted meanwhile (its deliveries go with it) or unreadable:
            // the lease expires and a later pass decides again.
            return;
        };
        let data: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
        let body = serde_json::to_vec(&Envelope {
            event: &d.event,
            webhook_id: &hook.id,
            delivery_id: &d.id,
            created_at: &d.created_at,
            data: &data,
        })
        .expect("serializes");
        let number = d.attempts + 1;
        let sent = self
            .send(client, &hook.url, &hook.secret, &hook.id, &d.event, body)
            .await;
        let (status_code, error) = match &sent {
            Sent::Status(c) => (Some(*c), None),
            Sent::Error(e) | Sent::Refused(e) => (None, Some(e.clone())),
        };
        let now = now_ms();
        let outcome = match (&sent, status_code) {
            (_, Some(c)) if (200..300).contains(&c) => {
                AttemptOutcome::Delivered { at: now_rfc3339() }
            }
            // A destination that can never be allowed: no retries.
            (Sent::Refused(_), _) => AttemptOutcome::GiveUp { status: "failed" },
            _ => {
                let next = now + backoff_ms(self.retry_base_ms, number) as i64;
                if next - d.created_ms > GIVE_UP_AFTER_MS {
                    AttemptOutcome::GiveUp {
                        status: "abandoned",
                    }
                } else {
                    AttemptOutcome::Retry {
                        next_ms: next,
                        next_at: rfc3339_of_ms(next),
                    }
                }
            }
        };
        let record = AttemptRecord {
            attempt: number,
            status_code: status_code.map(i64::from),
            error,
            at: rfc3339_of_ms(now),
        };
        let result = match &outcome {
            AttemptOutcome::Delivered { .. } => "delivered",
            AttemptOutcome::Retry { .. } => "retrying",
            AttemptOutcome::GiveUp { status } => status,
        };
        tracing::info!(
            webhook_id = %hook.id,
            delivery_id = %d.id,
            event = %d.event,
            attempt = number,
            status_code = record.status_code,
            error = record.error.as_deref(),
            result,
            "webhook delivery attempt"
        );
        if let Err(e) = self.store.record_attempt(&d.id, &record, &outcome).await {
            tracing::error!(delivery_id = %d.id, error = %e, "cannot record webhook attempt");
        }
    }

    /// Sends one request. Errors carry no URL, secret or signature.
    async fn send(
        &self,
        client: &reqwest::Client,
        url: &str,
        secret: &str,
        webhook_id: &str,
        event: &str,
        body: Vec<u8>,
    ) -> Sent {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Sent::Refused("invalid URL".into());
        };
        if !self.allow_private {
            // IP literals never reach the resolver: check them here.
            if literal_ip(&parsed).is_some_and(ip_forbidden)
                || parsed.host_str().is_some_and(name_forbidden)
            {
                return Sent::Refused(Blocked.to_string());
            }
        }
        let t = now_ms() / 1000;
        let sig = signature(secret, t, &body);
        let resp = client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-SecureScan-Event", event)
            .header("X-SecureScan-Webhook-Id", webhook_id)
            .header("X-SecureScan-Signature", sig)
            .body(body)
            .send()
            .await;
        match resp {
            Ok(r) => Sent::Status(r.status().as_u16()),
            Err(e) => Sent::Error(describe(&e)),
        }
    }
}

/// How one send went.
enum Sent {
    /// The receiver answered (any status).
    Status(u16),
    /// Transport failure (timeout, connection, a name that resolved only to
    /// forbidden addresses): retried, since DNS and networks change.
    Error(String),
    /// A destination that can never be allowed (forbidden literal or name,
    /// unparsable URL): the delivery fails without retries.
    Refused(String),
}

#[derive(serde::Serialize)]
struct Envelope<'a> {
    event: &'a str,
    webhook_id: &'a str,
    delivery_id: &'a str,
    created_at: &'a str,
    data: &'a Value,
}

/// A transport error in words, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<Blocked>() {
            return Blocked.to_string();
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

/// The `data` of a `webhook.test` event.
pub fn test_data(webhook_id: &str) -> Value {
    json!({ "webhook_id": webhook_id, "message": "Test delivery from SecureScan" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn forbidden_ipv4_ranges() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.169.254",
            "169.254.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
        ] {
            assert!(ip_forbidden(v4(ip)), "{ip} must be refused");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "169.253.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "11.0.0.1",
            "93.184.216.34",
        ] {
            assert!(!ip_forbidden(v4(ip)), "{ip} must be allowed");
        }
    }

    #[test]
    fn forbidden_ipv6_ranges() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(ip_forbidden(v6(ip)), "{ip} must be refused");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "fe00::1",
            "64:ff9b::808:808",
        ] {
            assert!(!ip_forbidden(v6(ip)), "{ip} must be allowed");
        }
    }

    #[test]
    fn forbidden_names() {
        for n in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "metadata.google.internal",
            "Metadata.Google.Internal.",
        ] {
            assert!(name_forbidden(n), "{n}");
        }
        for n in ["example.com", "localhost.example.com", "google.internal"] {
            assert!(!name_forbidden(n), "{n}");
        }
    }

    #[tokio::test]
    async fn destinations_checked_before_storing() {
        for u in [
            "http://127.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.1.2.3/hook",
            "https://metadata.google.internal/",
            "http://0.0.0.0/",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert_eq!(check_destination(&url).await, Err(PRIVATE_URL), "{u}");
        }
        let ok = reqwest::Url::parse("https://93.184.216.34/hook").unwrap();
        assert_eq!(check_destination(&ok).await, Ok(()));
    }

    #[test]
    fn resolver_keeps_only_allowed_addresses() {
        let sa = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert_eq!(
            allowed([sa("127.0.0.1:0"), sa("[::1]:0")].into_iter()),
            None
        );
        assert_eq!(
            allowed([sa("10.0.0.1:0"), sa("93.184.216.34:0"), sa("[fe80::1]:0")].into_iter()),
            Some(vec![sa("93.184.216.34:0")])
        );
        assert_eq!(allowed(std::iter::empty()), None);
    }

    #[tokio::test]
    async fn guarded_client_refuses_forbidden_destinations() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store: DynStore = Arc::new(crate::store::SqliteStore::open(&url).await.unwrap());
        let hooks = Webhooks::new(store, false, 5000);
        let client = hooks.client().unwrap();
        for u in [
            "http://127.0.0.1:1/",
            "http://[::1]:1/",
            "http://localhost:1/",
            "http://169.254.169.254/",
        ] {
            match hooks
                .send(&client, u, "s", "w", "webhook.test", b"{}".to_vec())
                .await
            {
                Sent::Refused(e) => assert_eq!(e, Blocked.to_string(), "{u}"),
                _ => panic!("{u} was not refused"),
            }
        }
        // A name that resolves only to loopback is dropped by the resolver
        // (when this machine's hosts file has one besides `localhost`).
        for name in ["ip6-localhost", "ip6-loopback"] {
            let resolves = tokio::net::lookup_host((name, 1))
                .await
                .map(|mut a| a.all(|a| a.ip().is_loopback()))
                .unwrap_or(false);
            if resolves {
                match hooks
                    .send(
                        &client,
                        &format!("http://{name}:1/"),
                        "s",
                        "w",
                        "webhook.test",
                        b"{}".to_vec(),
                    )
                    .await
                {
                    Sent::Error(e) => assert_eq!(e, Blocked.to_string(), "{name}"),
                    _ => panic!("{name} was not blocked"),
                }
            }
        }
    }

    #[test]
    fn signature_format_and_value() {
        let sig = signature("secret", 1_700_000_000, br#"{"a":1}"#);
        let (t, v1) = sig.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        let hex_part = v1.strip_prefix("v1=").unwrap();
        assert_eq!(hex_part.len(), 64);
        assert!(hex_part
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(br#"1700000000.{"a":1}"#);
        assert_eq!(hex_part, hex::encode(mac.finalize().into_bytes()));
        // Any change to the body, time or secret changes it.
        assert_ne!(sig, signature("secret", 1_700_000_000, br#"{"a":2}"#));
        assert_ne!(sig, signature("secret", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(sig, signature("other", 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn secrets_are_32_random_bytes() {
        let a = new_secret();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_secret());
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        assert_eq!(backoff_ms(5000, 1), 5000);
        assert_eq!(backoff_ms(5000, 2), 10_000);
        assert_eq!(backoff_ms(5000, 3), 20_000);
        assert_eq!(backoff_ms(5000, 7), 300_000);
        assert_eq!(backoff_ms(5000, 1000), 300_000);
    }

    #[test]
    fn envelope_is_compact_and_ordered() {
        let body = serde_json::to_string(&Envelope {
            event: "scan.complete",
            webhook_id: "w",
            delivery_id: "d",
            created_at: "2026-01-01T00:00:00Z",
            data: &json!({"x": 1}),
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"event":"scan.complete","webhook_id":"w","delivery_id":"d","created_at":"2026-01-01T00:00:00Z","data":{"x":1}}"#
        );
    }
}
