//! `/metrics` (Prometheus text), `/healthz` and `/readyz` on a plain HTTP listener.
//!
//! Three fixed GET routes need no web framework: a request is read up to its header end
//! (at most 8 KiB, 5 s), answered, and the connection closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::Metrics;

/// Whether the operator is ready: set once the plugins are loaded and the controller runs.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves until the listener fails; each connection is handled on its own task.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, ready: Arc<Readiness>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let (metrics, ready) = (metrics.clone(), ready.clone());
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &metrics, &ready).await {
                        tracing::debug!(error = %e, "http connection");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, metrics: &Metrics, ready: &Readiness) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") && buffer.len() < 8192 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        Ok::<(), std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(5), read).await.is_err() {
        return Ok(());
    }
    let request_line = buffer.split(|b| *b == b'\n').next().map(String::from_utf8_lossy).unwrap_or_default();
    let (status, content_type, body) = respond(&request_line, metrics, ready);
    let response =
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn respond(request_line: &str, metrics: &Metrics, ready: &Readiness) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    const TEXT: &str = "text/plain; charset=utf-8";
    match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.prometheus_text()),
        ("GET", "/healthz") => ("200 OK", TEXT, "ok\n".to_owned()),
        ("GET", "/readyz") if ready.get() => ("200 OK", TEXT, "ok\n".to_owned()),
        ("GET", "/readyz") => ("503 Service Unavailable", TEXT, "not ready\n".to_owned()),
        ("GET", _) => ("404 Not Found", TEXT, "not found\n".to_owned()),
        _ => ("405 Method Not Allowed", TEXT, "method not allowed\n".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let (metrics, ready) = (Metrics::default(), Readiness::default());
        assert_eq!(respond("GET /healthz HTTP/1.1\r", &metrics, &ready).0, "200 OK");
        assert_eq!(respond("GET /readyz HTTP/1.1\r", &metrics, &ready).0, "503 Service Unavailable");
        ready.set(true);
        assert_eq!(respond("GET /readyz HTTP/1.1\r", &metrics, &ready).0, "200 OK");
        assert!(respond("GET /metrics HTTP/1.1\r", &metrics, &ready).2.contains("berth_reconciles_total"));
        assert_eq!(respond("POST /metrics HTTP/1.1\r", &metrics, &ready).0, "405 Method Not Allowed");
        assert_eq!(respond("GET /nope HTTP/1.1\r", &metrics, &ready).0, "404 Not Found");
    }
}
