//! The two terminal capabilities the wire backend can save bytes with. Unknown is always
//! "no": the plain form of a frame is correct everywhere.

use std::path::PathBuf;

/// What the terminal does beyond plain cells and absolute moves.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Caps {
    /// EL fills with the current background colour: terminfo's boolean `bce`, read from the
    /// compiled entry where ncurses looks for it (term(5)).
    pub bce: bool,
    /// `CSI n b` repeats the last (ASCII) character printed. Not taken from terminfo: ncurses
    /// gave `xterm-256color` the `rep` string in 2017, and many terminals that call themselves
    /// xterm (PuTTY, older VTE and konsole, JetBrains' terminal) drop the repeats, leaving
    /// cells unwritten. Only tmux is known to repeat, and it says so in its environment.
    pub rep: bool,
}

/// `bce`'s place among terminfo's booleans (term.h: `back_color_erase`).
const BCE: usize = 28;

impl Caps {
    /// The capabilities of the terminal the console runs in: `term` is $TERM, `program`
    /// $TERM_PROGRAM. tmux 3.2 and later set TERM_PROGRAM and repeat ASCII characters; a TERM
    /// of tmux's own says that tmux is what reads the bytes (screen started inside tmux keeps
    /// the variable but sets TERM=screen).
    pub fn detect(term: &str, program: Option<&str>) -> Caps {
        let mut caps = Caps::of(term);
        if program == Some("tmux") && term.starts_with("tmux") {
            caps.rep = true;
        }
        caps
    }

    /// What the terminfo entry named `term` says.
    pub fn of(term: &str) -> Caps {
        Caps {
            bce: read(term).is_some_and(|entry| boolean(&entry, BCE)),
            rep: false,
        }
    }
}

fn read(term: &str) -> Option<Vec<u8>> {
    let first = term.chars().next()?;
    if term.contains('/') || term.starts_with('.') {
        return None; // a name, not a path
    }
    // Linux spells the subdirectory with the first letter, macOS with its hex code.
    let subs = [first.to_string(), format!("{:02x}", u32::from(first))];
    dirs().into_iter().find_map(|dir| {
        subs.iter()
            .find_map(|sub| std::fs::read(dir.join(sub).join(term)).ok())
    })
}

fn dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("TERMINFO") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".terminfo"));
    }
    let system = ["/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo"];
    match std::env::var("TERMINFO_DIRS") {
        // An empty entry stands for the system's directories.
        Ok(list) => {
            for d in list.split(':') {
                if d.is_empty() {
                    dirs.extend(system.iter().map(PathBuf::from));
                } else {
                    dirs.push(PathBuf::from(d));
                }
            }
        }
        Err(_) => dirs.extend(system.iter().map(PathBuf::from)),
    }
    dirs
}

/// The header's six little-endian shorts: magic, names' size, booleans, numbers, strings,
/// string table's size; None for what is not a compiled entry.
fn header(entry: &[u8]) -> Option<[usize; 6]> {
    let mut h = [0usize; 6];
    for (i, v) in h.iter_mut().enumerate() {
        let b = entry.get(2 * i..2 * i + 2)?;
        *v = usize::try_from(i16::from_le_bytes([b[0], b[1]])).ok()?;
    }
    // 0o432: 16-bit numbers; 0o1036: 32-bit numbers (ncurses 6.1+).
    (h[0] == 0o432 || h[0] == 0o1036).then_some(h)
}

fn boolean(entry: &[u8], index: usize) -> bool {
    header(entry).is_some_and(|[_, names, bools, ..]| {
        index < bools && entry.get(12 + names + index) == Some(&1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminfo_says_which_terminals_erase_in_colour() {
        // Entries Debian's ncurses-base always installs.
        let bce = |term| Caps::of(term).bce;
        assert!(bce("xterm-256color") && bce("linux"));
        assert!(!bce("tmux-256color") && !bce("screen"));
        assert!(!bce("no-such-terminal") && !bce("") && !bce("../x/xterm-256color"));
        assert!(!Caps::of("xterm-256color").rep, "its rep is not believed");
    }

    #[test]
    fn tmux_repeats_though_its_entry_does_not_say_so_but_screen_inside_it_does_not() {
        let tmux = Caps::detect("tmux-256color", Some("tmux"));
        assert_eq!(
            tmux,
            Caps {
                bce: false,
                rep: true
            }
        );
        assert_eq!(Caps::detect("screen", Some("tmux")), Caps::default());
        assert_eq!(Caps::detect("tmux-256color", None), Caps::default());
    }

    #[test]
    fn a_truncated_or_foreign_entry_has_no_capabilities() {
        assert!(!boolean(b"", BCE));
        assert!(!boolean(&[0x1a, 0x01, 5, 0], BCE));
        // Names "x\0", then 30 booleans.
        let mut entry = vec![0x1a, 0x01, 2, 0, 30, 0, 0, 0, 0, 0, 0, 0, b'x', 0];
        entry.extend(std::iter::repeat_n(0u8, 30));
        entry[12 + 2 + BCE] = 1;
        assert!(boolean(&entry, BCE));
        assert!(!boolean(&entry[..12 + 2 + BCE], BCE), "cut short");
        entry[0] = 0;
        assert!(!boolean(&entry, BCE), "not a terminfo entry");
    }
}
