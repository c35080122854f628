//! Streams forwarded over a real sshd leave nothing behind once dropped: the console opens a
//! channel for every Docker API request, for weeks. The heap is counted by this test
//! binary's own allocator (one test per binary, so no other test allocates meanwhile).
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::sshd::{Client, Sshd};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout.size()), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(size(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new) };
        if !p.is_null() {
            LIVE.fetch_add(size(new) - size(layout.size()), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Live heap once it has stopped falling: dropped channels are closed asynchronously.
async fn settled_heap() -> isize {
    let mut last = LIVE.load(Ordering::Relaxed);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = LIVE.load(Ordering::Relaxed);
        if now >= last {
            return now;
        }
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_forwarded_stream_leaves_nothing_in_the_session() {
    let client = Client::new();
    let server = Sshd::start(&client, "127.0.0.1", None);
    client.trust(&server);
    let link = common::sshd::link(&client, &server, "h").await;

    // A server like dockerd: answers each line and closes when the client is done.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = conn.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = w.write_all(format!("{line} ok\n").as_bytes()).await;
                }
            });
        }
    });
    let path = path.display().to_string();
    let request = |i: usize| {
        let (link, path) = (link.clone(), path.clone());
        async move {
            let stream = link.open_unix(&path).await.unwrap();
            let (r, mut w) = tokio::io::split(stream);
            w.write_all(format!("GET {i}\n").as_bytes()).await.unwrap();
            let answer = BufReader::new(r).lines().next_line().await.unwrap();
            assert_eq!(answer.as_deref(), Some(format!("GET {i} ok").as_str()));
        }
    };

    for i in 0..50 {
        request(i).await; // buffers and maps reach their working size
    }
    let before = settled_heap().await;
    const STREAMS: usize = 500;
    for i in 0..STREAMS {
        request(i).await;
    }
    let grown = settled_heap().await - before;
    // russh 0.65's own stream kept about 2.6 KiB a channel (1.3 MB here) for good.
    assert!(
        grown < size(STREAMS * 256),
        "{STREAMS} requests left {grown} bytes on the heap"
    );
}
