//! Plain text helpers shared by state, export and rendering: widths, ages, sizes, and
//! durations as seconds in JSON. Pure, and free of ratatui, so `app/` and `export` need not
//! reach into `ui/`.

use std::time::Duration;

use unicode_width::UnicodeWidthStr;

/// `s` cut to `width` display cells, ending in "…" when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > width {
            break;
        }
        out.push(c);
        used += cw;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

// When the next frame must be drawn because a value computed from the clock changes its look
// (an age going from "3s" to "4s", data turning stale). Drawing code notes each such value as
// it draws it; the loop reads the soonest after the frame and sleeps until then, so a screen
// with nothing time-derived on it is never drawn again until something happens.
thread_local! {
    // The soonest change noted since the loop last took it.
    static SOONEST_CHANGE: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// Something drawn from the clock looks different `after` this long (from the frame's now).
pub fn changes_in(after: Duration) {
    SOONEST_CHANGE.with(|s| s.set(Some(s.get().map_or(after, |m| m.min(after)))));
}

/// The soonest [`changes_in`] since the last call, and a fresh start.
pub fn take_next_change() -> Option<Duration> {
    SOONEST_CHANGE.with(std::cell::Cell::take)
}

/// An age that grows with the clock, as [`age`] writes it, noting when its text changes.
pub fn live_age(d: Duration) -> String {
    growing(d, None)
}

/// [`age`] of a duration that grows with the clock, noting when its text changes (on the
/// grid when the clock is known).
fn growing(d: Duration, now: Option<jiff::Timestamp>) -> String {
    let (unit, into) = step(d);
    note(unit - into, unit, now);
    age(d)
}

/// `now - then`, never negative (a host's clock may run ahead of ours).
pub fn elapsed(then: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

/// Ages in minutes or coarser change at scattered seconds (thirty containers started a few
/// seconds apart): with the clock known, their changes are drawn together on a grid of this
/// many seconds, so a minute's changes are one frame, not one per container. Such an age is
/// at most this late; ages in seconds are never late.
const COARSE_GRID_SECS: i64 = 15;

/// [`changes_in`] for a value written in steps of `unit`, aligned to the grid when `now` is
/// known and the steps are minutes or longer.
fn note(after: Duration, unit: Duration, now: Option<jiff::Timestamp>) {
    let after = match now {
        Some(now) if unit >= Duration::from_secs(60) => {
            let grid = COARSE_GRID_SECS * 1000;
            let at =
                now.as_millisecond() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
            let aligned = (at + grid - 1).div_euclid(grid) * grid;
            Duration::from_millis(u64::try_from(aligned - now.as_millisecond()).unwrap_or(0))
        }
        _ => after,
    };
    changes_in(after);
}

/// The step in which [`age`] writes `d` (a second, a minute, an hour), and how far into the
/// current step `d` is.
fn step(d: Duration) -> (Duration, Duration) {
    let unit = match d.as_secs() {
        0..60 => 1,
        60..86_400 => 60,
        _ => 3600,
    };
    let into =
        Duration::from_secs(d.as_secs() % unit) + Duration::from_nanos(u64::from(d.subsec_nanos()));
    (Duration::from_secs(unit), into)
}

/// How long until `at` from `now` (never negative), as [`age`] writes it, noting when the
/// countdown's text changes (and when it reaches zero).
pub fn left(at: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let d = elapsed(now, at);
    if !d.is_zero() {
        let (unit, into) = step(d);
        note(if into.is_zero() { unit } else { into }, unit, Some(now));
    }
    age(d)
}

/// How long ago `then` was at `now` (never negative), as [`live_age`] writes it.
pub fn ago(then: jiff::Timestamp, now: jiff::Timestamp) -> String {
    growing(elapsed(then, now), Some(now))
}

/// "42s", "12m", "3h12m", "2d3h": two units at most, so it changes at most once a minute
/// after the first minute.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Binary sizes in at most 5 characters: "512B", "1.5K", "45.2G", "3.6T".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

/// A duration written as whole seconds (JSON exports and audit lines: `"uptime_s": 93784`).
pub fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// [`secs`] for an optional duration.
pub fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => secs(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_drawn_from_the_clock_say_when_their_text_changes() {
        let ms = Duration::from_millis;
        take_next_change();
        assert_eq!(take_next_change(), None, "nothing drawn, nothing due");
        assert_eq!(live_age(ms(3_400)), "3s");
        assert_eq!(take_next_change(), Some(ms(600)), "3s turns 4s");
        assert_eq!(live_age(ms(61_500)), "1m");
        live_age(ms(59_000));
        assert_eq!(
            take_next_change(),
            Some(ms(1_000)),
            "the soonest of the two"
        );
        assert_eq!(live_age(Duration::from_secs(2 * 86_400 + 1_800)), "2d0h");
        assert_eq!(
            take_next_change(),
            Some(ms(1_800_000)),
            "days and hours: at the hour"
        );
        // With the clock known, minute steps land on a 15 s grid (1_000_000 s is 10 s past
        // a grid line): scattered ages change in one frame.
        let now = jiff::Timestamp::from_second(1_000_000).unwrap();
        let at = now + jiff::SignedDuration::from_secs(90);
        assert_eq!(left(at, now), "1m");
        assert_eq!(
            take_next_change(),
            Some(ms(35_000)),
            "a countdown drops at its step"
        );
        let then = now - jiff::SignedDuration::from_millis(61_500);
        assert_eq!(ago(then, now), "1m");
        assert_eq!(
            take_next_change(),
            Some(ms(65_000)),
            "58.5 s, then the grid line"
        );
        let then = now - jiff::SignedDuration::from_millis(3_400);
        assert_eq!(ago(then, now), "3s");
        assert_eq!(take_next_change(), Some(ms(600)), "seconds are never late");
        assert_eq!(left(now, at), "0s");
        assert_eq!(take_next_change(), None, "a countdown at zero stays");
    }
}
