//! A minimal HTTP/1.1 client connection for the load generator's hot path: one request at a
//! time on a kept-alive TCP or TLS connection ([`Wire`]), the request head rendered by the
//! target, the answer parsed in place with httparse and its body read and dropped
//! (Content-Length, chunked, or up to the close). No allocation, no channel and no task per
//! request: one `write` and usually one `read`. `scripts/bench` measured it against hyper's
//! low-level and pooled clients and oha (`docs/benchmarks.md`).
//!
//! A SageMaker call also needs a little of the answer: [`Kept`] holds the invoked variant and,
//! for an error, the error type header and the start of the body, in buffers the connection
//! reuses.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::measure::stats::ErrorClass;

/// A response head longer than this is not an answer we can use.
const MAX_HEAD: usize = 64 * 1024;
/// Response headers accepted, as many as hyper's client accepts.
const MAX_HEADERS: usize = 100;
/// Bodies up to this size go out in the same `write` as the head.
const COPY_BODY: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Error bodies kept for classification and messages, at most.
const KEEP_BODY: usize = 16 * 1024;

/// The byte stream under a connection: plain TCP, or TLS over TCP.
pub enum Wire {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Wire {
    fn tcp(&self) -> &TcpStream {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Wire::Plain(s) => s.is_write_vectored(),
            Wire::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_flush(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Wire::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Wire::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What a SageMaker call keeps of an answer: the `x-amzn-invoked-production-variant` and
/// `x-amzn-errortype` headers and, for a status of 300 or more, up to [`KEEP_BODY`] bytes of
/// the body. Empty when the answer did not carry them.
#[derive(Default)]
pub struct Kept {
    pub variant: Option<Vec<u8>>,
    pub error_type: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

impl Kept {
    fn clear(&mut self) {
        self.variant = None;
        self.error_type = None;
        self.body.clear();
    }
}

/// One open connection and its buffers, reused for every request it carries.
pub struct H1Conn {
    stream: Wire,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Whether answers are read into `kept`.
    keep: bool,
    kept: Kept,
}

/// What came back: the status, and whether the connection may carry another request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub reusable: bool,
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

impl H1Conn {
    pub fn new(stream: Wire) -> H1Conn {
        H1Conn {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            out: Vec::with_capacity(1024),
            keep: false,
            kept: Kept::default(),
        }
    }

    /// Whether the TLS session of this connection was resumed rather than negotiated in full
    /// (`None` on plain TCP).
    pub fn tls_resumed(&self) -> Option<bool> {
        match &self.stream {
            Wire::Plain(_) => None,
            Wire::Tls(s) => {
                Some(s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
            }
        }
    }

    /// Like [`H1Conn::exchange`], and keeps what a SageMaker call reads of the answer.
    pub async fn exchange_keeping(
        &mut self,
        head: &[u8],
        body: &Bytes,
    ) -> Result<(Answer, &Kept), ErrorClass> {
        self.keep = true;
        self.kept.clear();
        let r = self.exchange(head, body).await;
        self.keep = false;
        r.map(|a| (a, &self.kept))
    }

    /// Whether the server closed (or wrote to) the connection while it was idle. Costs no
    /// system call: a read that came back short cleared tokio's readiness, so a readable
    /// socket here means the server sent something after the last answer, most often its FIN.
    pub async fn closed_while_idle(&self) -> bool {
        let tcp = self.stream.tcp();
        std::future::poll_fn(|cx| Poll::Ready(tcp.poll_read_ready(cx).is_ready())).await
    }

    /// Sends `head` (request line and headers, without Content-Length and the blank line)
    /// with `body`, and reads the whole answer.
    pub async fn exchange(&mut self, head: &[u8], body: &Bytes) -> Result<Answer, ErrorClass> {
        self.out.clear();
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(b"content-length: ");
        self.out
            .extend_from_slice(itoa_u64(body.len() as u64, &mut [0u8; 20]));
        self.out.extend_from_slice(b"\r\n\r\n");
        if body.len() <= COPY_BODY {
            self.out.extend_from_slice(body);
            self.stream.write_all(&self.out).await.map_err(io_class)?;
        } else {
            self.stream.write_all(&self.out).await.map_err(io_class)?;
            self.stream.write_all(body).await.map_err(io_class)?;
        }
        // TLS may hold the last record back until flushed; on TCP this costs nothing.
        self.stream.flush().await.map_err(io_class)?;
        self.buf.clear();
        loop {
            let (status, framing, keep) = self.read_head().await?;
            // 1xx answers (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let sink = self.keep && status >= 300;
            let reusable = match framing {
                Framing::Length(n) => {
                    self.skip(n, sink).await?;
                    keep
                }
                Framing::Chunked => {
                    self.skip_chunked(sink).await?;
                    keep
                }
                Framing::UntilClose => {
                    self.skip_to_close(sink).await?;
                    false
                }
            };
            // Bytes after the answer were never asked for: the connection is out of step.
            let reusable = reusable && self.buf.is_empty() && status != 101;
            return Ok(Answer { status, reusable });
        }
    }

    /// Reads more bytes into `buf`; the end of the stream here is an incomplete answer.
    async fn fill(&mut self) -> Result<(), ErrorClass> {
        self.buf.reserve(READ_CHUNK);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(ErrorClass::Connect),
            Ok(_) => Ok(()),
            Err(e) => Err(io_class(e)),
        }
    }

    async fn read_head(&mut self) -> Result<(u16, Framing, bool), ErrorClass> {
        loop {
            let kept = if self.keep {
                Some(&mut self.kept)
            } else {
                None
            };
            match parse_head(&self.buf, kept)? {
                Some((n, status, framing, keep)) => {
                    self.buf.drain(..n);
                    return Ok((status, framing, keep));
                }
                None if self.buf.len() < MAX_HEAD => self.fill().await?,
                // A head too large to be one: as hyper counts a parse error.
                None => return Err(ErrorClass::Other),
            }
        }
    }

    /// Consumes `n` body bytes; with `sink`, keeps their start in `kept.body`.
    async fn skip(&mut self, mut n: u64, sink: bool) -> Result<(), ErrorClass> {
        loop {
            let have = (self.buf.len() as u64).min(n);
            if sink {
                self.keep_body(have as usize);
            }
            self.buf.drain(..have as usize);
            n -= have;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    fn keep_body(&mut self, have: usize) {
        let room = KEEP_BODY.saturating_sub(self.kept.body.len());
        self.kept
            .body
            .extend_from_slice(&self.buf[..have.min(room)]);
    }

    /// Consumes a chunked body and its trailers.
    async fn skip_chunked(&mut self, sink: bool) -> Result<(), ErrorClass> {
        loop {
            let line = self.line().await?;
            let size = chunk_size(&self.buf[..line]).ok_or(ErrorClass::Other)?;
            self.buf.drain(..line + 2);
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let line = self.line().await?;
                    self.buf.drain(..line + 2);
                    if line == 0 {
                        return Ok(());
                    }
                }
            }
            self.skip(size, sink).await?;
            self.skip(2, false).await?;
        }
    }

    /// The length of the next line in `buf` (without its CRLF), reading until there is one.
    async fn line(&mut self) -> Result<usize, ErrorClass> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                return Ok(i);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ErrorClass::Other);
            }
            self.fill().await?;
        }
    }

    async fn skip_to_close(&mut self, sink: bool) -> Result<(), ErrorClass> {
        loop {
            if sink {
                self.keep_body(self.buf.len());
            }
            self.buf.clear();
            self.buf.reserve(READ_CHUNK);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(io_class(e)),
            }
        }
    }
}

/// Parses a response head at the start of `buf`: its length, status, framing and whether the
/// connection stays open; `None` while it is incomplete. Not HTTP (or more than
/// `MAX_HEADERS` headers) is `other`, as hyper counts a parse error. With `kept`, the
/// headers a SageMaker call reads are copied there.
fn parse_head(
    buf: &[u8],
    kept: Option<&mut Kept>,
) -> Result<Option<(usize, u16, Framing, bool)>, ErrorClass> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let status = resp.code.unwrap_or(0);
            if let Some(k) = kept {
                for h in resp.headers.iter() {
                    if h.name
                        .eq_ignore_ascii_case("x-amzn-invoked-production-variant")
                    {
                        k.variant = Some(h.value.to_vec());
                    } else if h.name.eq_ignore_ascii_case("x-amzn-errortype") {
                        k.error_type = Some(h.value.to_vec());
                    }
                }
            }
            let (framing, keep) = framing_of(status, resp.version, resp.headers)?;
            Ok(Some((n, status, framing, keep)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(ErrorClass::Other),
    }
}

/// How the body is delimited (RFC 9112 section 6.3) and whether the connection stays open.
fn framing_of(
    status: u16,
    version: Option<u8>,
    headers: &[httparse::Header<'_>],
) -> Result<(Framing, bool), ErrorClass> {
    let mut length = None;
    let mut chunked = false;
    let mut transfer_coded = false;
    let mut close = false;
    let mut keep_alive = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| ErrorClass::Other)?;
            let n: u64 = v.trim().parse().map_err(|_| ErrorClass::Other)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorClass::Other);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_coded = true;
            chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|b| *b == b',') {
                let t = t.trim_ascii();
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let mut keep = match version {
        Some(1) => !close,
        _ => keep_alive && !close,
    };
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if transfer_coded {
        // RFC 9112 section 6.3: a response whose final transfer coding is not chunked is
        // delimited by the close of the connection, whatever Content-Length says.
        keep = false;
        Framing::UntilClose
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok((framing, keep))
}

fn last_token(v: &[u8]) -> &[u8] {
    v.rsplit(|b| *b == b',').next().unwrap_or(v).trim_ascii()
}

/// The size on a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let hex = line.split(|b| *b == b';').next()?.trim_ascii();
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

fn io_class(e: std::io::Error) -> ErrorClass {
    super::classify::source_chain(&e)
}

/// `n` in decimal, without allocating.
fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a [u8]) -> httparse::Header<'a> {
        httparse::Header { name, value }
    }

    type Case<'a> = (u16, Option<u8>, Vec<httparse::Header<'a>>, &'a str, bool);

    #[test]
    fn a_transfer_coding_not_ending_in_chunked_is_read_until_close() {
        for headers in [
            vec![h("Transfer-Encoding", b"gzip")],
            vec![
                h("content-length", b"5"),
                h("transfer-encoding", b"chunked, gzip"),
            ],
        ] {
            let (f, keep) = framing_of(200, Some(1), &headers).unwrap();
            assert!(matches!(f, Framing::UntilClose), "{headers:?}");
            assert!(
                !keep,
                "a close-delimited body ends the connection: {headers:?}"
            );
        }
    }

    #[test]
    fn a_response_with_100_headers_is_accepted() {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
        for i in 0..99 {
            head.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\nok");
        let (n, status, f, keep) = parse_head(&head, None).unwrap().unwrap();
        assert_eq!((status, keep), (200, true));
        assert!(matches!(f, Framing::Length(2)));
        assert_eq!(&head[n..], b"ok");
        // 101 is over the limit: a parse error, as in hyper.
        let mut more = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..101 {
            more.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        more.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&more, None).err(), Some(ErrorClass::Other));
    }

    #[test]
    fn bodies_are_delimited_as_rfc_9112_says() {
        let cases: Vec<Case> = vec![
            (
                200,
                Some(1),
                vec![h("Content-Length", b"12")],
                "len 12",
                true,
            ),
            (
                200,
                Some(1),
                vec![h("transfer-encoding", b"gzip, chunked")],
                "chunked",
                true,
            ),
            // Chunked wins over a Content-Length sent beside it.
            (
                200,
                Some(1),
                vec![
                    h("content-length", b"5"),
                    h("Transfer-Encoding", b"chunked"),
                ],
                "chunked",
                true,
            ),
            (200, Some(1), vec![], "close", true),
            (204, Some(1), vec![h("content-length", b"9")], "len 0", true),
            (304, Some(1), vec![], "len 0", true),
            (
                200,
                Some(1),
                vec![h("connection", b"Close"), h("content-length", b"1")],
                "len 1",
                false,
            ),
            (
                200,
                Some(0),
                vec![h("content-length", b"1")],
                "len 1",
                false,
            ),
            (
                200,
                Some(0),
                vec![h("connection", b"keep-alive"), h("content-length", b"1")],
                "len 1",
                true,
            ),
        ];
        for (status, version, headers, want, want_keep) in cases {
            let (f, keep) = framing_of(status, version, &headers).unwrap();
            let got = match f {
                Framing::Length(n) => format!("len {n}"),
                Framing::Chunked => "chunked".into(),
                Framing::UntilClose => "close".into(),
            };
            assert_eq!(
                (got.as_str(), keep),
                (want, want_keep),
                "{status} {headers:?}"
            );
        }
    }

    #[test]
    fn conflicting_or_invalid_lengths_are_refused() {
        for headers in [
            vec![h("content-length", b"1"), h("content-length", b"2")],
            vec![h("content-length", b"-1")],
            vec![h("content-length", b"ten")],
        ] {
            assert!(framing_of(200, Some(1), &headers).is_err(), "{headers:?}");
        }
        // The same length twice is one length.
        let same = [h("content-length", b"3"), h("content-length", b"3")];
        assert!(matches!(
            framing_of(200, Some(1), &same),
            Ok((Framing::Length(3), true))
        ));
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"FF;name=value"), Some(255));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"xyz"), None);
        assert_eq!(chunk_size(b"1234567890abcdef0"), None);
    }

    #[test]
    fn decimal_lengths_render_without_allocating() {
        for n in [0u64, 7, 10, 1234567, u64::MAX] {
            assert_eq!(itoa_u64(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
