//! Peers that misbehave below HTTP: a raw TCP server that hangs or cuts connections, and an
//! address where nothing listens.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback address where nothing listens: bound, read, then closed, so connecting to it
/// is refused.
pub fn closed_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// How a [`RawServer`] treats each connection.
#[derive(Debug, Clone, Copy)]
pub enum RawMode {
    /// Reads everything, forever; never answers.
    Hung,
    /// Alternates: reads part of the request then closes (a reset when unread bytes are
    /// left), or answers `Content-Length: 1000` with 7 bytes of body, then closes.
    Resetting,
    /// Reads the request head, writes these bytes as they are (a malformed answer, say),
    /// then reads on until the peer closes.
    Answers(&'static [u8]),
}

/// A raw TCP server on 127.0.0.1 port 0; dropping it aborts it and its connections.
pub struct RawServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(mode: RawMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            let mut n = 0u64;
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                n += 1;
                let cut_early = n % 2 == 0;
                connections.spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    match mode {
                        RawMode::Hung => {
                            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                        }
                        RawMode::Resetting if cut_early => {
                            let _ = stream.read(&mut buf[..64]).await;
                        }
                        RawMode::Answers(answer) => {
                            let mut head = Vec::new();
                            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                                match stream.read(&mut buf).await {
                                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                                    _ => return,
                                }
                            }
                            let _ = stream.write_all(answer).await;
                            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                        }
                        RawMode::Resetting => {
                            let _ = stream.read(&mut buf).await;
                            let _ = stream
                                .write_all(
                                    b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial",
                                )
                                .await;
                        }
                    }
                });
                // Keep finished connections from piling up in the set.
                while connections.try_join_next().is_some() {}
            }
        });
        Self { url, task }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
