//! Docker's log stream read straight off the socket. Through bollard every log line is one
//! HTTP chunk that hyper's connection task hands to the reading task through a channel: a
//! task switch and a wakeup per line, which was most of the CPU a logging firehose cost.
//! Here one task reads large blocks and undoes the HTTP chunking and Docker's 8-byte frame
//! headers itself ([`Decoder`], pure), so the cost per line is a few slice operations.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::CollectError;
use super::pump::{self, PACE, PACE_BELOW, Pump};
use crate::link::{ByteStream, Link};

/// Bytes of one read at most.
pub(super) const READ_BUF: usize = 256 * 1024;
/// The response head Docker sends is a few hundred bytes; more is not Docker.
const MAX_HEAD: usize = 16 * 1024;
/// Docker cuts log messages at 16 KiB; a frame far larger is a broken stream.
const MAX_FRAME: usize = 1024 * 1024;
/// Bytes of an error body kept for the message.
const MAX_ERROR_BODY: usize = 4096;
const HEAD_TIMEOUT: Duration = Duration::from_secs(20);

/// What to ask for: the last `tail` lines (None: all) of lines newer than `since` (Unix
/// seconds, 0: from the start), then every new line.
pub struct Request<'a> {
    pub container: &'a str,
    pub tail: Option<usize>,
    pub since: i64,
}

impl Request<'_> {
    fn to_http(&self) -> String {
        let tail = self.tail.map_or("all".to_owned(), |n| n.to_string());
        format!(
            "GET /containers/{}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since={}&tail={tail} HTTP/1.1\r\n\
             Host: docker\r\nUser-Agent: watchfloor\r\nConnection: close\r\n\r\n",
            path_escape(self.container),
            self.since,
        )
    }
}

/// An open log stream of one container.
pub struct LogStream {
    body: Body,
    decoder: Decoder,
    /// Bytes of the response body that came with the head.
    pending: Vec<u8>,
}

/// Opens the log stream of `req.container` through the Docker socket at `socket` on the
/// link's host. `tty`: the container has a terminal, so its stream has no frame headers
/// (asked of Docker beforehand; the response's Content-Type wins where the daemon sends one).
pub async fn open(
    link: &dyn Link,
    socket: &str,
    req: &Request<'_>,
    tty: bool,
) -> Result<LogStream, CollectError> {
    let host = link.host();
    let mut io = link.open_unix(socket).await?;
    let fail = |what: &str, e: std::io::Error| CollectError::Docker {
        message: format!("logs of {} on {host}: {what}: {e}", req.container),
    };
    io.write_all(req.to_http().as_bytes())
        .await
        .map_err(|e| fail("sending the request", e))?;
    let read_head = async {
        let mut head = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = find(&head, b"\r\n\r\n") {
                return Ok((head.split_off(end + 4), head));
            }
            if head.len() > MAX_HEAD {
                return Err(std::io::Error::other("response head too long"));
            }
            match io.read(&mut chunk).await? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => head.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let (body, head) = tokio::time::timeout(HEAD_TIMEOUT, read_head)
        .await
        .map_err(|_| CollectError::Docker {
            message: format!(
                "Docker on {host} did not answer the logs request within {}s (is dockerd hung?)",
                HEAD_TIMEOUT.as_secs()
            ),
        })?
        .map_err(|e| fail("reading the response", e))?;
    let head = Head::parse(&head).map_err(|m| CollectError::Docker {
        message: format!("logs of {} on {host}: {m}", req.container),
    })?;
    if head.status != 200 {
        return Err(CollectError::Docker {
            message: format!(
                "Docker on {host} refused the logs of {}: {}",
                req.container,
                error_body(&mut io, body, head.chunked, head.status).await
            ),
        });
    }
    Ok(LogStream {
        body: Pump::start(io).map_or_else(Body::task, Body::Thread),
        decoder: Decoder::new(head.chunked, head.multiplexed.unwrap_or(!tty)),
        pending: body,
    })
}

/// How the body is read (see the `pump` module).
enum Body {
    /// By the task, pausing after a small read.
    Task {
        io: ByteStream,
        buf: Vec<u8>,
        /// The last read was small: pause before the next.
        pace: bool,
        /// An error that came after bytes, for the next read.
        error: Option<std::io::Error>,
    },
    /// A local socket, by a thread of its own.
    Thread(Pump),
}

impl Body {
    fn task(io: ByteStream) -> Body {
        Body::Task {
            io,
            buf: vec![0; READ_BUF],
            pace: false,
            error: None,
        }
    }
}

impl LogStream {
    /// Reads what is there (waiting for at least one byte) and hands every complete frame to
    /// `frame(payload, stderr)`. Returns false at the end of the stream (the container
    /// stopped, or Docker closed it). Cancel-safe: no byte read is lost if the future is
    /// dropped while it waits.
    pub async fn read(&mut self, frame: &mut impl FnMut(&[u8], bool)) -> std::io::Result<bool> {
        let decoder = &mut self.decoder;
        let mut feed = |data: &[u8]| decoder.feed(data, frame).map_err(std::io::Error::other);
        let ended = if !self.pending.is_empty() {
            feed(&std::mem::take(&mut self.pending))?;
            false
        } else {
            match &mut self.body {
                Body::Task {
                    io,
                    buf,
                    pace,
                    error,
                } => {
                    if *pace {
                        tokio::time::sleep(PACE).await;
                    }
                    let n = pump::drain(io, buf, error).await?;
                    *pace = n < PACE_BELOW;
                    feed(&buf[..n])?;
                    n == 0
                }
                Body::Thread(pump) => match pump.recv().await.transpose()? {
                    Some(data) => {
                        feed(&data)?;
                        false
                    }
                    None => true,
                },
            }
        };
        if ended || self.decoder.done() {
            self.decoder.flush(frame);
            return Ok(false);
        }
        Ok(true)
    }
}

/// The message of an error response: Docker's JSON `{"message": …}` or the text. `data`: the
/// body's bytes that came with the head.
async fn error_body(io: &mut ByteStream, mut data: Vec<u8>, chunked: bool, status: u16) -> String {
    let mut body = Vec::new();
    let mut raw = Decoder::new(chunked, false);
    loop {
        let fed = raw.feed(&data, &mut |b: &[u8], _| body.extend_from_slice(b));
        if fed.is_err() || raw.done() || body.len() > MAX_ERROR_BODY {
            break;
        }
        data.resize(1024, 0);
        match tokio::time::timeout(HEAD_TIMEOUT, io.read(&mut data)).await {
            Ok(Ok(n)) if n > 0 => data.truncate(n),
            _ => break,
        }
    }
    // A TTY-style decoder holds a last line without "\n" back.
    body.extend_from_slice(&raw.frame);
    let body = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]).into_owned();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or(body);
    crate::sanitize::plain(&format!("HTTP {status}: {}", message.trim()))
}

/// The parts of the response head that matter.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    chunked: bool,
    /// From the Content-Type (API 1.42 and later say it): Some(true) multiplexed,
    /// Some(false) raw (a TTY); None when the daemon does not say.
    multiplexed: Option<bool>,
}

impl Head {
    fn parse(head: &[u8]) -> Result<Head, String> {
        let text = std::str::from_utf8(head).map_err(|_| "response head is not text")?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "not an HTTP response: {:?}",
                    crate::sanitize::plain(status_line)
                )
            })?;
        let (mut chunked, mut multiplexed) = (false, None);
        for (k, v) in lines.filter_map(|l| l.split_once(':')) {
            let (k, v) = (k.trim(), v.trim().to_ascii_lowercase());
            if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked |= v.contains("chunked");
            } else if k.eq_ignore_ascii_case("content-type") {
                multiplexed = match v.as_str() {
                    "application/vnd.docker.multiplexed-stream" => Some(true),
                    // Before 1.42 raw-stream was sent for both kinds: it says nothing.
                    _ => None,
                };
            }
        }
        Ok(Head {
            status,
            chunked,
            multiplexed,
        })
    }
}

/// Undoes HTTP chunked transfer coding (when the response uses it) and Docker's stream
/// multiplexing (8-byte header: stream, 0, 0, 0, big-endian length), delivering each
/// complete frame. Fed any split of the bytes, it delivers the same frames.
#[derive(Debug)]
pub struct Decoder {
    chunked: Option<Chunk>,
    /// None for a TTY stream: no headers, lines are the frames.
    mux: Option<Mux>,
    frame: Vec<u8>,
    done: bool,
}

#[derive(Debug)]
enum Chunk {
    /// Reading the size line (kept until its "\r\n").
    Size(Vec<u8>),
    Data(usize),
    /// The "\r\n" after a chunk's data: how many of its bytes are still to come.
    DataEnd(u8),
}

#[derive(Debug)]
enum Mux {
    Header { got: [u8; 8], len: usize },
    Payload { stderr: bool, left: usize },
}

impl Decoder {
    pub fn new(chunked: bool, multiplexed: bool) -> Decoder {
        Decoder {
            chunked: chunked.then(|| Chunk::Size(Vec::new())),
            mux: multiplexed.then_some(Mux::Header {
                got: [0; 8],
                len: 0,
            }),
            frame: Vec::new(),
            done: false,
        }
    }

    /// The stream ended: a TTY line still waiting for its "\n" is a frame now.
    pub fn flush(&mut self, out: &mut impl FnMut(&[u8], bool)) {
        if self.mux.is_none() && !self.frame.is_empty() {
            out(&self.frame, false);
            self.frame.clear();
        }
    }

    /// The chunked body ended (the last, empty chunk came).
    pub fn done(&self) -> bool {
        self.done
    }

    pub fn feed(
        &mut self,
        mut data: &[u8],
        out: &mut impl FnMut(&[u8], bool),
    ) -> Result<(), String> {
        while !data.is_empty() && !self.done {
            let Some(chunk) = &mut self.chunked else {
                self.body(data, out)?;
                return Ok(());
            };
            match chunk {
                Chunk::Size(line) => {
                    let nl = memchr::memchr(b'\n', data);
                    let take = nl.map_or(data.len(), |i| i + 1);
                    line.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if line.len() > 1024 {
                        return Err("chunk size line too long".into());
                    }
                    if nl.is_some() {
                        let size = chunk_size(line)?;
                        if size == 0 {
                            self.done = true;
                        } else {
                            *chunk = Chunk::Data(size);
                        }
                    }
                }
                Chunk::Data(left) => {
                    let take = (*left).min(data.len());
                    *left -= take;
                    let (now, rest) = data.split_at(take);
                    data = rest;
                    if *left == 0 {
                        *chunk = Chunk::DataEnd(2);
                    }
                    self.body(now, out)?;
                }
                Chunk::DataEnd(left) => {
                    let take = usize::from(*left).min(data.len());
                    data = &data[take..];
                    // take ≤ left ≤ 2
                    *left -= take as u8;
                    if *left == 0 {
                        *chunk = Chunk::Size(Vec::new());
                    }
                }
            }
        }
        Ok(())
    }

    /// Body bytes (chunking undone) into frames.
    fn body(&mut self, mut data: &[u8], out: &mut impl FnMut(&[u8], bool)) -> Result<(), String> {
        let Some(mux) = &mut self.mux else {
            // TTY: a frame per line; a line longer than MAX_FRAME goes out in pieces.
            while let Some(nl) = memchr::memchr(b'\n', data) {
                let (line, rest) = data.split_at(nl + 1);
                data = rest;
                if self.frame.is_empty() {
                    out(line, false);
                } else {
                    self.frame.extend_from_slice(line);
                    out(&self.frame, false);
                    self.frame.clear();
                }
            }
            self.frame.extend_from_slice(data);
            if self.frame.len() >= MAX_FRAME {
                out(&self.frame, false);
                self.frame.clear();
            }
            return Ok(());
        };
        while !data.is_empty() {
            match mux {
                Mux::Header { got, len } => {
                    let take = (8 - *len).min(data.len());
                    got[*len..*len + take].copy_from_slice(&data[..take]);
                    *len += take;
                    data = &data[take..];
                    if *len == 8 {
                        let size = u32::from_be_bytes([got[4], got[5], got[6], got[7]]) as usize;
                        if size > MAX_FRAME {
                            return Err(format!(
                                "log frame of {size} bytes: not a Docker log stream"
                            ));
                        }
                        // 0 stdin, 1 stdout, 2 stderr; stdin never comes in logs.
                        *mux = Mux::Payload {
                            stderr: got[0] == 2,
                            left: size,
                        };
                    }
                }
                Mux::Payload { stderr, left } => {
                    let take = (*left).min(data.len());
                    let (now, rest) = data.split_at(take);
                    data = rest;
                    *left -= take;
                    // Most frames arrive whole within one read: no copy then.
                    if *left == 0 && self.frame.is_empty() {
                        out(now, *stderr);
                    } else {
                        self.frame.extend_from_slice(now);
                        if *left == 0 {
                            out(&self.frame, *stderr);
                            self.frame.clear();
                        }
                    }
                    if *left == 0 {
                        *mux = Mux::Header {
                            got: [0; 8],
                            len: 0,
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

fn chunk_size(line: &[u8]) -> Result<usize, String> {
    // "1a2b;extension\r\n". Read byte by byte: this runs for every line of a busy log.
    let line = line.trim_ascii();
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (hex, rest) = line.split_at(digits);
    if !(1..=15).contains(&digits)
        || !(rest.is_empty() || rest.trim_ascii_start().starts_with(b";"))
    {
        return Err(format!(
            "bad chunk size {:?}",
            String::from_utf8_lossy(line.split(|&b| b == b';').next().unwrap_or_default())
        ));
    }
    let value = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        _ => (b | 0x20) - b'a' + 10,
    };
    Ok(hex.iter().fold(0, |n, &b| n * 16 + usize::from(value(b))))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Container names and ids are [A-Za-z0-9_.-]; anything else is escaped.
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mux(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut v = format!("{:x}\r\n", data.len()).into_bytes();
        v.extend_from_slice(data);
        v.extend_from_slice(b"\r\n");
        v
    }

    fn decode(dec: &mut Decoder, pieces: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut got = Vec::new();
        for p in pieces {
            dec.feed(p, &mut |f: &[u8], e| got.push((f.to_vec(), e)))
                .unwrap();
        }
        got
    }

    #[test]
    fn chunk_sizes_are_read_with_extensions_and_bad_ones_refused() {
        for (line, size) in [
            (&b"0"[..], 0),
            (b"1a", 26),
            (b"1A;name=value", 26),
            (b"  ff \r", 255),
            (b"ffff ;x", 65_535),
        ] {
            assert_eq!(chunk_size(line), Ok(size), "{line:?}");
        }
        // 16 hex digits could overflow: more than any chunk needs.
        let long = b"7fffffffffffffff";
        for bad in [
            &b""[..],
            b"zz",
            b"1a x",
            b";1a",
            b"-1",
            b"\xff\x1b[2J",
            long,
        ] {
            let e = chunk_size(bad).unwrap_err();
            assert!(
                e.starts_with("bad chunk size") && !e.contains('\x1b'),
                "{e}"
            );
        }
    }

    #[test]
    fn any_split_of_a_chunked_multiplexed_body_gives_the_same_frames() {
        let frames: Vec<(Vec<u8>, bool)> = vec![
            (b"2026-11-23T10:00:00.1Z one\n".to_vec(), false),
            (b"2026-11-23T10:00:00.2Z two\n".to_vec(), true),
            (vec![b'x'; 40_000], false),
            (Vec::new(), false),
            (b"2026-11-23T10:00:00.3Z \x1b[31mthree\n".to_vec(), false),
        ];
        let mut body = Vec::new();
        for (f, e) in &frames {
            body.extend(mux(if *e { 2 } else { 1 }, f));
        }
        // Chunk boundaries that cut headers and payloads, then the last chunk.
        let mut wire = Vec::new();
        for part in body.chunks(7).collect::<Vec<_>>().chunks(3) {
            wire.extend(chunk(&part.concat()));
        }
        wire.extend(b"0\r\n\r\n");
        let want: Vec<_> = frames.into_iter().filter(|(f, _)| !f.is_empty()).collect();
        for step in [1, 2, 3, 5, 8, 13, 1000, wire.len()] {
            let mut dec = Decoder::new(true, true);
            let pieces: Vec<&[u8]> = wire.chunks(step).collect();
            let got: Vec<_> = decode(&mut dec, &pieces)
                .into_iter()
                .filter(|(f, _)| !f.is_empty())
                .collect();
            assert_eq!(got, want, "split every {step} bytes");
            assert!(dec.done(), "the last chunk ends the body (split {step})");
        }
    }

    #[test]
    fn a_tty_stream_is_split_into_lines() {
        let mut dec = Decoder::new(false, false);
        let got = decode(&mut dec, &[b"ts a\nts b", b"c\nts d\n", b"ts e"]);
        let lines: Vec<_> = got.iter().map(|(f, _)| f.as_slice()).collect();
        assert_eq!(lines, [&b"ts a\n"[..], b"ts bc\n", b"ts d\n"]);
        assert!(
            !dec.done(),
            "a stream without chunking ends with the connection"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_huge_allocation() {
        let mut dec = Decoder::new(false, true);
        let err = dec
            .feed(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], &mut |_: &[u8], _| {})
            .unwrap_err();
        assert!(err.contains("not a Docker log stream"), "{err}");
        let mut dec = Decoder::new(true, true);
        assert!(dec.feed(b"zz\r\n", &mut |_: &[u8], _| {}).is_err());
    }

    #[test]
    fn the_response_head_gives_status_and_coding() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            Head::parse(head),
            Ok(Head {
                status: 200,
                chunked: true,
                multiplexed: None,
            })
        );
        assert_eq!(
            Head::parse(b"HTTP/1.0 404 Not Found\r\n\r\n"),
            Ok(Head {
                status: 404,
                chunked: false,
                multiplexed: None,
            })
        );
        assert!(Head::parse(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        let newer =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n";
        assert_eq!(Head::parse(newer).unwrap().multiplexed, Some(true));
    }

    #[test]
    fn the_request_escapes_the_container_and_asks_for_timestamps() {
        let req = Request {
            container: "web/1 x",
            tail: Some(500),
            since: 0,
        };
        let http = req.to_http();
        assert!(http.starts_with(
            "GET /containers/web%2F1%20x/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=0&tail=500 HTTP/1.1\r\n"
        ));
        assert!(http.ends_with("\r\n\r\n"));
    }
}
