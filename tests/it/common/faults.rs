//! Small raw-TCP servers that misbehave on purpose, for the fault tests. Each speaks just enough
//! HTTP/1.1 to answer its first `good_first` requests properly (200, keep-alive), then commits
//! its fault on every request after that. Loopback only; everything stops when dropped.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the server does wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Answers headers and part of the body, then resets the connection (RST).
    ResetMidResponse,
    /// Reads the request, then closes the connection without a byte (FIN).
    CloseWithoutAnswer,
    /// Reads the request and never answers.
    NeverAnswer,
    /// Answers the headers and the first bytes of the body, then stalls.
    StallBody,
    /// Answers bytes that are not HTTP.
    InvalidHttp,
    /// Answers this status on every request.
    Status(u16),
    /// Answers 200 with `connection: close`, then closes the connection (FIN).
    CloseAfterAnswer,
    /// Not a fault: a 103 Early Hints, then 200 with a chunked body (three chunks, a chunk
    /// extension and a trailer), keep-alive, written in small pieces.
    Chunked,
    /// Not a fault: 200 with neither length nor chunking; the body ends with the connection.
    BodyUntilClose,
}

pub struct FaultServer {
    pub addr: SocketAddr,
    /// Requests read so far (good and faulted).
    pub requests: Arc<AtomicUsize>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl FaultServer {
    pub async fn start(fault: Fault, good_first: usize) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, r, c) = (stop.clone(), requests.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                    _ = s.cancelled() => return,
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = serve(stream, fault, good_first, r) => {}
                        _ = s.cancelled() => {}
                    }
                });
            }
        });
        FaultServer {
            addr,
            requests,
            connections,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/invocations", self.addr)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Reads one request (headers and a Content-Length body); false at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..total);
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

async fn hold_forever() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

async fn serve(mut stream: TcpStream, fault: Fault, good_first: usize, count: Arc<AtomicUsize>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        if !read_request(&mut stream, &mut buf).await {
            return;
        }
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n < good_first {
            if stream.write_all(OK).await.is_err() {
                return;
            }
            continue;
        }
        match fault {
            Fault::ResetMidResponse => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"partial\":")
                    .await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = stream.set_zero_linger();
                return; // dropped with SO_LINGER 0: the kernel sends RST
            }
            Fault::CloseWithoutAnswer => return,
            Fault::Chunked => {
                let pieces: [&[u8]; 5] = [
                    b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n",
                    b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    b"1;ext=1\r\n,\r\n10\r\n0123456789abcdef\r\n",
                    b"0\r\nx-trailer: 1\r\n",
                    b"\r\n",
                ];
                for p in pieces {
                    if stream.write_all(p).await.is_err() {
                        return;
                    }
                    let _ = stream.flush().await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Fault::BodyUntilClose => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\n{\"until\":\"close\"}")
                    .await;
                let _ = stream.shutdown().await;
                return;
            }
            Fault::CloseAfterAnswer => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
                    )
                    .await;
                let _ = stream.shutdown().await;
                return;
            }
            Fault::NeverAnswer => {
                hold_forever().await;
                return;
            }
            Fault::StallBody => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"slow\":")
                    .await;
                hold_forever().await;
                return;
            }
            Fault::InvalidHttp => {
                let _ = stream.write_all(b"SURPRISE this is not HTTP\r\n\r\n").await;
                hold_forever().await;
                return;
            }
            Fault::Status(code) => {
                let resp = format!("HTTP/1.1 {code} Fault\r\ncontent-length: 5\r\n\r\nfault");
                if stream.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub async fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}
