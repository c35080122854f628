//! Reading a busy log stream in bulk without stalling Docker.
//!
//! Docker writes each log line separately, so a reader that reads whenever bytes are there
//! wakes once per line: at a firehose's 60–70k lines/s that was most of what a log pane
//! cost. Pausing between reads makes each read bring many lines, but the pause must stay
//! short: each of Docker's writes takes one slot of the unix socket's buffer (about 270 in
//! all, 2–4 ms of a firehose), and a full buffer stalls Docker's follower (not the
//! container: the lines wait in its log file).
//!
//! In the async task a pause does not help much with a local socket: the runtime's epoll
//! still wakes on each write, while the task sleeps. So a local socket is read by a thread
//! of its own ([`Pump`]), whose blocking reads wake only when it asks; it pauses [`PACE`]
//! after a small read and hands the bytes over at most every [`HAND_OVER`]. Other streams
//! (SSH channels, whose messages the SSH session task receives anyway) are read by the task
//! with the same pause, draining what is there at each wakeup ([`drain`]).

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::link::ByteStream;

/// The pause after a read that left the socket's buffer far from full. What a line costs the
/// reader barely depends on the pause (the kernel's share, ~0.9 µs, is per line), so a
/// firehose costs in proportion to the rate it is read at. With a millisecond a firehose is
/// still read at least as fast as `docker logs -f` reads it, and a container logging ~50k
/// lines/s is read whole, at 1.4–1.5 µs a line against 1.7–1.9 with 250 µs
/// (`scripts/bench-logs.sh`). Reading a firehose faster only makes the pane's window, behind
/// the container either way, fall behind less quickly, and dockerd's follower spends about
/// as much again per line. The runtime's timer has millisecond steps: the task's pause for
/// other streams is the same.
pub const PACE: Duration = Duration::from_millis(1);
/// A read this large means lines come faster than the pace allows: read again at once.
pub const PACE_BELOW: usize = 16 * 1024;
/// Longest the thread holds bytes before handing them to the task.
const HAND_OVER: Duration = Duration::from_millis(10);
/// Held bytes handed over at once, whatever their age.
const HOLD_MAX: usize = 1024 * 1024;
/// Hand-overs in flight; when the task is this far behind, the thread (and Docker) wait.
const IN_FLIGHT: usize = 8;
const STACK: usize = 128 * 1024;

/// What the thread hands over: bytes, or the error that ended the stream.
type Handed = io::Result<Vec<u8>>;

/// A local socket's reader thread. Dropping it ends the thread.
pub struct Pump {
    rx: mpsc::Receiver<Handed>,
    /// The same socket, to end the thread's blocking read.
    socket: Option<UnixStream>,
    #[cfg(test)]
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pump {
    /// Moves `io` to a thread when it is a local unix socket; gives it back otherwise (or
    /// when no thread can be started).
    pub fn start(io: ByteStream) -> Result<Pump, ByteStream> {
        if !(&*io as &dyn std::any::Any).is::<tokio::net::UnixStream>() {
            return Err(io);
        }
        let any: Box<dyn std::any::Any + Send> = io;
        let Ok(tokio_socket) = any.downcast::<tokio::net::UnixStream>() else {
            unreachable!("the type was checked above");
        };
        // Leaves the runtime's epoll. Should that fail, the stream is lost: its reader says
        // why, and the follow opens another.
        let socket = match tokio_socket.into_std() {
            Ok(socket) => socket,
            Err(e) => return Ok(Pump::failed(e)),
        };
        match Self::spawn(&socket) {
            Ok((rx, _thread)) => Ok(Pump {
                rx,
                socket: Some(socket),
                #[cfg(test)]
                thread: Some(_thread),
            }),
            // No thread: the task reads it after all.
            Err(_) => match socket
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(socket))
            {
                Ok(s) => Err(Box::new(s)),
                Err(e) => Ok(Pump::failed(e)),
            },
        }
    }

    /// A pump whose only news is `e`.
    fn failed(e: io::Error) -> Pump {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(e));
        Pump {
            rx,
            socket: None,
            #[cfg(test)]
            thread: None,
        }
    }

    fn spawn(
        socket: &UnixStream,
    ) -> io::Result<(mpsc::Receiver<Handed>, std::thread::JoinHandle<()>)> {
        socket.set_nonblocking(false)?;
        let reader = socket.try_clone()?;
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("wf-logs".into())
            .stack_size(STACK)
            .spawn(move || run(reader, &tx))?;
        Ok((rx, thread))
    }

    /// The next bytes; None once the stream ended.
    pub async fn recv(&mut self) -> Option<Handed> {
        self.rx.recv().await
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        // The thread's read returns 0 and it ends.
        if let Some(socket) = &self.socket {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn run(mut socket: UnixStream, tx: &mpsc::Sender<Handed>) {
    let mut buf = vec![0; super::wire::READ_BUF];
    let mut held = Vec::new();
    let mut handed = Instant::now();
    let mut timeout = None;
    loop {
        // Held bytes wait at most HAND_OVER (twice that at worst) for more to come.
        let want = (!held.is_empty()).then_some(HAND_OVER);
        if want != timeout {
            if let Err(e) = socket.set_read_timeout(want) {
                if !held.is_empty() {
                    let _ = tx.blocking_send(Ok(held));
                }
                let _ = tx.blocking_send(Err(e));
                return;
            }
            timeout = want;
        }
        let end = match socket.read(&mut buf) {
            Ok(0) => Some(None),
            Ok(n) => {
                held.extend_from_slice(&buf[..n]);
                if n < PACE_BELOW {
                    std::thread::sleep(PACE);
                }
                None
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            Err(e) => Some(Some(e)),
        };
        if !held.is_empty()
            && (end.is_some() || handed.elapsed() >= HAND_OVER || held.len() >= HOLD_MAX)
        {
            // The next hand-over is likely as large: no regrowth (and copy) on the way.
            let next = Vec::with_capacity((held.len() + held.len() / 4).min(HOLD_MAX));
            if tx
                .blocking_send(Ok(std::mem::replace(&mut held, next)))
                .is_err()
            {
                return;
            }
            handed = Instant::now();
        }
        if let Some(error) = end {
            if let Some(e) = error {
                let _ = tx.blocking_send(Err(e));
            }
            return;
        }
    }
}

/// Reads into `buf` what `io` has: waits for the first bytes, then takes what else is there
/// without waiting (an SSH channel hands over one message per read). Returns the bytes read,
/// 0 at the end of the stream. An error after some bytes is kept in `error` and returned by
/// the next call (a socket reports an error once). Cancel-safe: only the first read waits.
pub async fn drain(
    io: &mut ByteStream,
    buf: &mut [u8],
    error: &mut Option<io::Error>,
) -> io::Result<usize> {
    if let Some(e) = error.take() {
        return Err(e);
    }
    let mut n = io.read(buf).await?;
    if n == 0 {
        return Ok(0);
    }
    while n < buf.len() {
        match io.read(&mut buf[n..]).now_or_never() {
            Some(Ok(0)) | None => break,
            Some(Ok(more)) => n += more,
            Some(Err(e)) => {
                *error = Some(e);
                break;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_socket_is_read_by_a_thread_in_batches_that_ends_with_the_stream() {
        let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
        let Ok(mut pump) = Pump::start(Box::new(ours)) else {
            panic!("a local socket goes to a thread");
        };
        let mut theirs = theirs.into_std().unwrap();
        theirs.set_nonblocking(false).unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            for i in 0..2_000 {
                theirs.write_all(format!("line {i}\n").as_bytes()).unwrap();
            }
            theirs
        });
        let mut got = Vec::new();
        let mut handovers = 0;
        while got.iter().filter(|&&b| b == b'\n').count() < 2_000 {
            got.extend(pump.recv().await.unwrap().unwrap());
            handovers += 1;
        }
        let expected: String = (0..2_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8(got).unwrap(), expected);
        assert!(
            handovers < 2_000 / 10,
            "{handovers} hand-overs for 2000 writes"
        );

        // Dropped while the peer is open and quiet: the thread, blocked in a read with no
        // timeout, still ends.
        let _peer = writer.join().unwrap();
        let thread = pump.thread.take().unwrap();
        drop(pump);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !thread.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            thread.is_finished(),
            "the reader thread outlived its stream"
        );
    }

    /// Like an SSH channel: one message per read, then waits (never ends).
    struct Messages(std::collections::VecDeque<&'static [u8]>);

    impl tokio::io::AsyncRead for Messages {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            match self.0.pop_front() {
                Some(m) => {
                    buf.put_slice(m);
                    std::task::Poll::Ready(Ok(()))
                }
                None => std::task::Poll::Pending,
            }
        }
    }

    impl tokio::io::AsyncWrite for Messages {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn other_streams_are_given_back_and_drained_in_one_read() {
        let messages = Messages([&b"one\n"[..], b"two\n", b"three\n"].into());
        let Err(mut io) = Pump::start(Box::new(messages)) else {
            panic!("only a local socket goes to a thread");
        };
        let mut buf = vec![0; 64];
        let mut error = None;
        let n = drain(&mut io, &mut buf, &mut error).await.unwrap();
        assert_eq!(&buf[..n], b"one\ntwo\nthree\n");
        let next = drain(&mut io, &mut buf, &mut error);
        let next = tokio::time::timeout(Duration::from_millis(50), next);
        assert!(next.await.is_err(), "nothing more: the next read waits");
    }
}
