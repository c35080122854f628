//! Small pieces every pane uses: column layout of a line, scrolling, bars, and compact
//! formats for ages and sizes. Pure.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use crate::app::hosts::Freshness;
pub use crate::text::{age, bytes, fit};

/// A cell: its text and style.
pub type Cell<'a> = Span<'a>;

/// Lays cells out in columns of the given widths (the last column takes what is left), one
/// space apart; text longer than its column is cut with "…". Right-aligns columns in `right`.
pub fn columns<'a>(widths: &[u16], right: &[usize], cells: Vec<Cell<'a>>) -> Line<'a> {
    let mut spans = Vec::with_capacity(cells.len() * 2);
    for (i, cell) in cells.into_iter().enumerate() {
        let Some(&w) = widths.get(i) else { break };
        let w = usize::from(w);
        let text = fit(&cell.content, w);
        let pad = w.saturating_sub(text.width());
        let (left_pad, right_pad) = if right.contains(&i) {
            (pad, 0)
        } else {
            (0, pad)
        };
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        if left_pad > 0 {
            spans.push(Span::raw(" ".repeat(left_pad)));
        }
        spans.push(Span::styled(text, cell.style));
        if right_pad > 0 && i + 1 < widths.len() {
            spans.push(Span::raw(" ".repeat(right_pad)));
        }
    }
    Line::from(spans)
}

/// Draws a table's header of `names` in columns `widths` on the first row of `area`; returns
/// the rows below it, for the list.
pub fn table_header(
    names: &[&'static str],
    widths: &[u16],
    right: &[usize],
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) -> Rect {
    let cells = names
        .iter()
        .map(|h| Span::styled(*h, theme.header()))
        .collect();
    buf.set_line(area.x, area.y, &columns(widths, right, cells), area.width);
    Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    }
}

/// Widths for `fixed` columns plus a last one that takes the rest of `total` (at least 4).
pub fn widths(total: u16, fixed: &[u16]) -> Vec<u16> {
    let used: u16 = fixed.iter().sum::<u16>() + u16::try_from(fixed.len()).unwrap_or(0);
    let mut w = fixed.to_vec();
    w.push(total.saturating_sub(used).max(4));
    w
}

/// The first row to show so that `selected` is visible: it stays mid-screen while scrolling,
/// a pure function of the inputs so frames never jump.
pub fn scroll_offset(selected: usize, len: usize, height: usize) -> usize {
    if len <= height || height == 0 {
        return 0;
    }
    selected.saturating_sub(height / 2).min(len - height)
}

/// Renders `lines` into `area` from `offset`, painting the selected line with the selection style.
pub fn render_list(
    lines: Vec<Line<'_>>,
    selected: Option<usize>,
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
) {
    let height = usize::from(area.height);
    let offset = scroll_offset(selected.unwrap_or(0), lines.len(), height);
    for (i, line) in lines.into_iter().enumerate().skip(offset).take(height) {
        let y = area.y + u16::try_from(i - offset).unwrap_or(0);
        let row = Rect {
            y,
            height: 1,
            ..area
        };
        buf.set_line(row.x, row.y, &line, row.width);
        if Some(i) == selected {
            buf.set_style(row, theme.selection());
        }
    }
}

/// A usage bar of `width` cells, filled to `pct`, styled as the verdict on it.
pub fn bar(pct: f64, width: usize, style: Style, theme: &Theme) -> Vec<Span<'static>> {
    let filled = ((pct.clamp(0.0, 100.0) / 100.0) * width as f64).round() as usize;
    vec![
        Span::styled("█".repeat(filled), style),
        Span::styled("░".repeat(width - filled.min(width)), theme.bar_empty()),
    ]
}

/// How a freshness reads in a title or a cell, and its style.
pub fn freshness(f: &Freshness, theme: &Theme) -> Span<'static> {
    match f {
        Freshness::Waiting => Span::styled("waiting", theme.muted()),
        Freshness::Live => Span::styled("live", theme.ok()),
        Freshness::Fresh(d) => Span::styled(crate::text::live_age(*d), theme.muted()),
        Freshness::Stale(d) => Span::styled(
            format!("stale {}", crate::text::live_age(*d)),
            theme.stale(),
        ),
        Freshness::Failed => Span::styled("failed", theme.crit()),
    }
}

/// A centred rectangle of at most `width` x `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A job's output under a pane's detail: a line saying how it runs or ended, then as many of
/// its last lines as fit in `height` rows in all (counting what `lines` already holds).
pub fn transcript(
    t: &crate::app::jobs::Transcript,
    kind: &str,
    now: jiff::Timestamp,
    height: usize,
    theme: &Theme,
    lines: &mut Vec<Line<'static>>,
) {
    lines.push(Line::default());
    let state = match &t.end {
        None => format!("running for {}", crate::text::ago(t.started, now)),
        Some((outcome, took)) => format!(
            "{} after {}: {}",
            outcome.audit_name(),
            crate::text::age(*took),
            outcome.text()
        ),
    };
    let style = match &t.end {
        None => theme.accent(),
        Some((o, _)) if o.is_success() => theme.ok(),
        Some(_) => theme.warn(),
    };
    lines.push(Line::from(Span::styled(
        format!("{kind} job {}: {state}", t.id),
        style,
    )));
    if t.dropped > 0 && height > lines.len() {
        lines.push(Line::from(Span::styled(
            format!("… {} earlier lines", t.dropped),
            theme.muted(),
        )));
    }
    let room = height.saturating_sub(lines.len());
    let skip = t.lines.len().saturating_sub(room);
    for l in t.lines.iter().skip(skip) {
        lines.push(Line::from(Span::raw(l.clone())));
    }
}

/// A line of stale data: problems keep their colour but dimmed, and nothing stays in the ok
/// colour (it may not be ok any more).
pub fn dimmed<'a>(mut line: Line<'a>, theme: &Theme) -> Line<'a> {
    for span in &mut line.spans {
        span.style = if span.style.fg.is_some() && span.style.fg == theme.ok().fg {
            theme.stale()
        } else {
            span.style.add_modifier(ratatui::style::Modifier::DIM)
        };
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ages_use_two_units_at_most() {
        assert_eq!(age(Duration::from_secs(42)), "42s");
        assert_eq!(age(Duration::from_secs(754)), "12m");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 12 * 60 + 5)), "3h12m");
        assert_eq!(age(Duration::from_secs(2 * 86_400 + 3 * 3600 + 59)), "2d3h");
    }

    #[test]
    fn sizes_fit_five_characters() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(48_533_340_160), "45G");
        assert_eq!(bytes(4_000_000_000_000), "3.6T");
    }

    #[test]
    fn fit_cuts_with_an_ellipsis_by_display_width() {
        assert_eq!(fit("registry.example/api", 10), "registry.…");
        assert_eq!(fit("漢字漢字", 5), "漢字…");
        assert_eq!(fit("short", 10), "short");
    }

    #[test]
    fn scrolling_keeps_the_selection_visible() {
        assert_eq!(scroll_offset(0, 100, 10), 0);
        assert_eq!(scroll_offset(50, 100, 10), 45);
        assert_eq!(scroll_offset(99, 100, 10), 90);
        assert_eq!(scroll_offset(5, 8, 10), 0);
    }

    #[test]
    fn columns_pad_and_align() {
        let line = columns(
            &[5, 3, 4],
            &[1],
            vec![Span::raw("abcdefg"), Span::raw("7"), Span::raw("x")],
        );
        assert_eq!(line.to_string(), "abcd…   7 x");
    }
}
