//! Throughput of the log line pipeline, frame to stored line, as the log worker runs it:
//! `Assembler::push`, then into a ring of the most recent lines. Lines are rendered (made
//! safe, styled) on first use; "rendered" renders every line as if all were shown, "stored"
//! is what a line nobody looks at costs. The goal is ≥ 200k lines/s rendered for every kind
//! of line on a small (2-core) server. Run: `cargo bench --bench log_pipeline`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use watchfloor::collect::logs::line::{Assembler, LogLine};

const FRAMES: usize = 200_000;
/// Lines kept, as the log view keeps them.
const RING: usize = 10_000;
/// As the log worker uses it.
const DEDUP_WINDOW: usize = 4096;

fn plain(i: usize) -> String {
    format!(
        "2026-11-22 14:37:00,186 INFO  [http-nio-8080-exec-{}] c.e.shop.api.OrderController - order {} placed in {} ms",
        i % 16,
        84_213 + i,
        i % 97
    )
}

fn ansi(i: usize) -> String {
    format!(
        "\x1b[2m2026-11-22T14:37:00.186637Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mshop_api::orders\x1b[0m: order placed \x1b[3morder_id\x1b[0m\x1b[2m=\x1b[0m{} \x1b[3mms\x1b[0m\x1b[2m=\x1b[0m{}",
        84_213 + i,
        i % 97
    )
}

fn json(i: usize) -> String {
    format!(
        r#"{{"time":"2026-11-22T14:37:00.186Z","level":"{}","msg":"order placed","order_id":{},"user":"u-{}","duration_ms":{}.5}}"#,
        ["info", "warn", "error", "debug"][i % 4],
        84_213 + i,
        i % 1_000,
        i % 97
    )
}

/// Docker frames, one message each: "<timestamp> <line>\n", a microsecond apart.
fn frames(line: impl Fn(usize) -> String) -> Vec<Vec<u8>> {
    let start: Timestamp = "2026-11-22T14:37:00.186637873Z".parse().expect("timestamp");
    (0..FRAMES)
        .map(|i| {
            let at = start + SignedDuration::from_micros(i as i64);
            format!("{at:.9} {}\n", line(i)).into_bytes()
        })
        .collect()
}

fn run(name: &str, frames: &[Vec<u8>], render: bool) {
    let mut asm = Assembler::new(DEDUP_WINDOW);
    let mut ring: VecDeque<LogLine> = VecDeque::with_capacity(RING);
    let mut out = Vec::new();
    let mut lines = 0;
    let started = Instant::now();
    for frame in frames {
        asm.push(black_box(frame), false, &mut out);
        lines += out.len();
        for line in out.drain(..) {
            if render {
                black_box(line.text.len());
            }
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(line);
        }
    }
    let elapsed = started.elapsed();
    black_box(&ring);
    assert_eq!(lines, frames.len(), "{name}: every frame is one line");
    let rate = lines as f64 / elapsed.as_secs_f64();
    let how = if render { "rendered" } else { "stored" };
    println!("{name:>6} {how:>8}: {:>5.0}k lines/s", rate / 1_000.0);
}

/// Makes the i-th line of a kind.
type MakeLine = fn(usize) -> String;
const KINDS: [(&str, MakeLine); 3] = [("plain", plain), ("ansi", ansi), ("json", json)];

fn main() {
    let mixed: MakeLine = |i| KINDS[i % KINDS.len()].1(i);
    for (name, line) in KINDS.into_iter().chain([("mixed", mixed)]) {
        let frames = frames(line);
        run(name, &frames, true);
        run(name, &frames, false);
    }
}
