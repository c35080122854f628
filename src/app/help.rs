//! The help overlay's layout, decided once for the key handler (how far it may scroll) and the
//! renderer: which sections go in which column, how wide it is, how many rows it has. Pure.

use crate::config::keymap::{Action, Context};

/// Left column (or the first part of one column), then the right.
pub const LEFT: &[(Context, &str)] = &[
    (Context::Global, "Anywhere"),
    (Context::Containers, "Containers and their logs"),
];
pub const RIGHT: &[(Context, &str)] = &[
    (Context::List, "In lists"),
    (Context::Logs, "In the log pane"),
    (Context::Postgres, "In the PostgreSQL pane"),
    (Context::Backups, "In the backups pane"),
    (Context::Drills, "In the drills pane"),
    (Context::Alerts, "In the alerts pane"),
];
/// The keys column; descriptions take the rest.
pub const KEYS_WIDTH: u16 = 12;
/// The longest description, so no description is ever cut.
const DESC_WIDTH: u16 = 44;
/// Lines after the key lists: a blank, the filter hint, the keymap hint.
const FOOTER: usize = 3;

/// The popup's width and whether it has two columns, for a screen `width` wide.
pub fn layout(width: u16) -> (u16, bool) {
    let column = KEYS_WIDTH + DESC_WIDTH;
    // Borders and padding take 4; two columns a separating space.
    if width >= 2 * column + 5 {
        (2 * column + 5, true)
    } else {
        (width.min(column + 4), false)
    }
}

fn rows_of(sections: &[(Context, &str)]) -> usize {
    sections
        .iter()
        .map(|(c, _)| 1 + Action::ALL.iter().filter(|a| a.context() == *c).count())
        .sum()
}

/// How many lines the help has on a screen `width` wide.
pub fn lines(width: u16, read_only: bool) -> usize {
    let (left, right) = (rows_of(LEFT), rows_of(RIGHT));
    let body = if layout(width).1 {
        left.max(right)
    } else {
        left + right
    };
    body + FOOTER + usize::from(read_only)
}

/// The furthest it scrolls on a `screen` (width, height): the last line at the bottom.
pub fn max_scroll(screen: (u16, u16), read_only: bool) -> usize {
    let visible = usize::from(screen.1.saturating_sub(2));
    lines(screen.0, read_only).saturating_sub(visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_description_fits_its_column() {
        for a in Action::ALL {
            assert!(
                a.desc().chars().count() <= usize::from(DESC_WIDTH),
                "{a:?}: {:?} is longer than {DESC_WIDTH}",
                a.desc()
            );
        }
        assert_eq!(layout(120), (117, true));
        assert!(!layout(80).1);
        assert_eq!(max_scroll((120, 40), false), 0, "fits at 120x40");
        assert!(max_scroll((80, 24), false) > 0, "scrolls at 80x24");
    }
}
