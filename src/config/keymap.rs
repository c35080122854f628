//! Key bindings: what each key press means. Defaults are compiled in from `keymap.toml`; the
//! user's `[keymap]` table replaces an action's keys. A key bound to two actions that can be
//! active at once is a config error, never a silent winner. The help screen is generated from
//! the resolved keymap and [`Action::desc`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};

const DEFAULTS: &str = include_str!("keymap.toml");

/// Everything a key can ask for. Names are the config's `snake_case` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    PaneOverview,
    PaneContainers,
    PaneDisks,
    PaneTunnels,
    PaneLogs,
    PanePostgres,
    PaneHealth,
    PaneBackups,
    PaneDrills,
    PaneAlerts,
    Filter,
    Back,
    Refresh,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Restart,
    Stop,
    Start,
    Logs,
    LogsEverywhere,
    SearchOlder,
    SearchNewer,
    OnlyMatching,
    ToggleRegex,
    ToggleCase,
    Timestamps,
    Wrap,
    Save,
    Cancel,
    Terminate,
    TriggerBackup,
    RunDrill,
    Acknowledge,
    Silence,
    CancelJob,
    Sort,
    SortReverse,
}

/// Where an action is active: for the help screen's grouping, and for dispatch. The log pane
/// has list, container and log actions all active at once, so every key is unique across
/// contexts (the dialog's y/n are fixed and not part of the keymap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    List,
    Containers,
    Logs,
    Postgres,
    Backups,
    Drills,
    Alerts,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Quit,
        Action::Help,
        Action::NextPane,
        Action::PrevPane,
        Action::PaneOverview,
        Action::PaneContainers,
        Action::PaneDisks,
        Action::PaneTunnels,
        Action::PaneLogs,
        Action::PanePostgres,
        Action::PaneHealth,
        Action::PaneBackups,
        Action::PaneDrills,
        Action::PaneAlerts,
        Action::Filter,
        Action::Back,
        Action::Refresh,
        Action::Up,
        Action::Down,
        Action::Top,
        Action::Bottom,
        Action::PageUp,
        Action::PageDown,
        Action::Open,
        Action::Restart,
        Action::Stop,
        Action::Start,
        Action::Logs,
        Action::LogsEverywhere,
        Action::SearchOlder,
        Action::SearchNewer,
        Action::OnlyMatching,
        Action::ToggleRegex,
        Action::ToggleCase,
        Action::Timestamps,
        Action::Wrap,
        Action::Save,
        Action::Cancel,
        Action::Terminate,
        Action::TriggerBackup,
        Action::RunDrill,
        Action::Acknowledge,
        Action::Silence,
        Action::CancelJob,
        Action::Sort,
        Action::SortReverse,
    ];

    pub fn context(self) -> Context {
        use Action::*;
        match self {
            Up | Down | Top | Bottom | PageUp | PageDown | Open | Sort | SortReverse => {
                Context::List
            }
            Restart | Stop | Start | Logs | LogsEverywhere => Context::Containers,
            SearchOlder | SearchNewer | OnlyMatching | ToggleRegex | ToggleCase | Timestamps
            | Wrap | Save => Context::Logs,
            Cancel | Terminate => Context::Postgres,
            TriggerBackup => Context::Backups,
            RunDrill => Context::Drills,
            Acknowledge | Silence => Context::Alerts,
            _ => Context::Global,
        }
    }

    /// The help screen's description.
    pub fn desc(self) -> &'static str {
        use Action::*;
        match self {
            Quit => "quit",
            Help => "show or hide this help",
            NextPane => "next pane",
            PrevPane => "previous pane",
            PaneOverview => "overview pane",
            PaneContainers => "containers pane",
            PaneDisks => "disks pane",
            PaneTunnels => "WireGuard pane",
            PaneLogs => "log pane",
            PanePostgres => "PostgreSQL pane",
            PaneHealth => "hosts pane (CPU, load, memory)",
            PaneBackups => "backups pane",
            PaneDrills => "restore drills pane",
            PaneAlerts => "alerts pane: everything wrong, worst first",
            Filter => "filter the list; search in logs",
            Back => "back, clear filter, close",
            Refresh => "refresh now",
            Up => "move up",
            Down => "move down",
            Top => "first row",
            Bottom => "last row",
            PageUp => "page up",
            PageDown => "page down",
            Open => "open, drill down, fold",
            Restart => "restart container or service (asks first)",
            Stop => "stop container or service (asks first)",
            Start => "start container or service (asks first)",
            Logs => "logs of the selected row",
            LogsEverywhere => "logs of the service on every host",
            SearchOlder => "older match",
            SearchNewer => "newer match",
            OnlyMatching => "show only matching lines",
            ToggleRegex => "search: plain text / regex",
            ToggleCase => "search: ignore case / match case",
            Timestamps => "timestamps on / off",
            Wrap => "wrap long lines on / off",
            Save => "save the buffer to a file",
            Cancel => "cancel the session's query (asks first)",
            Terminate => "terminate the selected session (asks first)",
            TriggerBackup => "back up the selected source now (asks first)",
            RunDrill => "run the selected drill now (asks first)",
            Acknowledge => "acknowledge the alert (again: take it back)",
            Silence => "silence the alert for a while (again: lift)",
            CancelJob => "cancel the newest running job (asks first)",
            Sort => "sort by the next column",
            SortReverse => "reverse the sort",
        }
    }

    pub fn name(self) -> &'static str {
        use Action::*;
        match self {
            Quit => "quit",
            Help => "help",
            NextPane => "next_pane",
            PrevPane => "prev_pane",
            PaneOverview => "pane_overview",
            PaneContainers => "pane_containers",
            PaneDisks => "pane_disks",
            PaneTunnels => "pane_tunnels",
            PaneLogs => "pane_logs",
            PanePostgres => "pane_postgres",
            PaneHealth => "pane_health",
            PaneBackups => "pane_backups",
            PaneDrills => "pane_drills",
            PaneAlerts => "pane_alerts",
            Filter => "filter",
            Back => "back",
            Refresh => "refresh",
            Up => "up",
            Down => "down",
            Top => "top",
            Bottom => "bottom",
            PageUp => "page_up",
            PageDown => "page_down",
            Open => "open",
            Restart => "restart",
            Stop => "stop",
            Start => "start",
            Logs => "logs",
            LogsEverywhere => "logs_everywhere",
            SearchOlder => "search_older",
            SearchNewer => "search_newer",
            OnlyMatching => "only_matching",
            ToggleRegex => "toggle_regex",
            ToggleCase => "toggle_case",
            Timestamps => "timestamps",
            Wrap => "wrap",
            Save => "save",
            Cancel => "cancel",
            Terminate => "terminate",
            TriggerBackup => "trigger_backup",
            RunDrill => "run_drill",
            Acknowledge => "acknowledge",
            Silence => "silence",
            CancelJob => "cancel_job",
            Sort => "sort",
            SortReverse => "sort_reverse",
        }
    }
}

/// The `[keymap]` table as written: action → keys.
pub type KeymapConfig = BTreeMap<Action, Spanned<Vec<Spanned<String>>>>;

/// A key press in a normalised form: shift folded into the character for printable keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(ev: KeyEvent) -> Self {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match ev.code {
            // Terminals report "G" as Char('G') with SHIFT; the character already says it.
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parses a key name as written in the config ("q", "ctrl-c", "pgdn", "shift-tab").
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = match () {
                _ if lower.starts_with("ctrl-") => (KeyModifiers::CONTROL, 5),
                _ if lower.starts_with("alt-") => (KeyModifiers::ALT, 4),
                _ if lower.starts_with("shift-") => (KeyModifiers::SHIFT, 6),
                _ => break,
            };
            if rest.len() == len {
                break; // "ctrl-" alone: fall through to an error below
            }
            mods |= m;
            rest = &rest[len..];
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            f if f.len() > 1
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => {
                        let c = if mods.contains(KeyModifiers::SHIFT) {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        };
                        mods.remove(KeyModifiers::SHIFT);
                        KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                            c.to_ascii_lowercase()
                        } else {
                            c
                        })
                    }
                    _ => return Err(format!("unknown key `{text}`")),
                }
            }
        };
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// The resolved bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// Each action's keys, in the order written (the first is shown in hints).
    bindings: BTreeMap<Action, Vec<Key>>,
}

impl Keymap {
    /// The compiled-in defaults.
    pub fn defaults() -> Keymap {
        let table: BTreeMap<Action, Vec<String>> =
            toml::from_str(DEFAULTS).expect("the built-in keymap.toml is valid");
        let bindings = table
            .into_iter()
            .map(|(a, keys)| {
                (
                    a,
                    keys.iter()
                        .map(|k| Key::parse(k).expect("built-in key names are valid"))
                        .collect(),
                )
            })
            .collect();
        Keymap { bindings }
    }

    /// The defaults with the user's table applied; `source` locates errors in the config file.
    pub fn with_overrides(
        user: &KeymapConfig,
        source: Option<Source<'_>>,
    ) -> Result<Keymap, ConfigError> {
        let mut map = Keymap::defaults();
        let mut spans = HashMap::new();
        for (action, keys) in user {
            let mut parsed = Vec::new();
            for k in keys.get_ref() {
                let key = Key::parse(k.get_ref()).map_err(|m| {
                    ConfigError::at(
                        source,
                        k.span(),
                        m,
                        "write keys like \"q\", \"ctrl-r\", \"enter\", \"pgdn\" or \"f5\"",
                    )
                })?;
                parsed.push(key);
                spans.insert((*action, key), k.span());
            }
            map.bindings.insert(*action, parsed);
        }
        // Every context is active in the log pane, so no two actions may share a key.
        let mut owner: HashMap<Key, Action> = HashMap::new();
        for (&action, keys) in &map.bindings {
            for &key in keys {
                if let Some(other) = owner.get(&key).copied() {
                    let span = spans
                        .get(&(action, key))
                        .or_else(|| spans.get(&(other, key)))
                        .cloned()
                        .unwrap_or(0..0);
                    return Err(ConfigError::at(
                        source,
                        span,
                        format!(
                            "key `{key}` is bound to both `{}` and `{}`",
                            other.name(),
                            action.name()
                        ),
                        format!(
                            "bind `{}` or `{}` to other keys in [keymap]",
                            other.name(),
                            action.name()
                        ),
                    ));
                }
                owner.insert(key, action);
            }
        }
        Ok(map)
    }

    /// The action `key` asks for, if it is active in one of `contexts` (global actions
    /// always are).
    pub fn action(&self, contexts: &[Context], ev: KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev);
        self.bindings
            .iter()
            .filter(|(a, _)| a.context() == Context::Global || contexts.contains(&a.context()))
            .find(|(_, keys)| keys.contains(&key))
            .map(|(a, _)| *a)
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.bindings.get(&action).map_or(&[], Vec::as_slice)
    }

    /// The first key of `action` for hints, e.g. "?" for help; "-" when unbound.
    pub fn hint(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map_or_else(|| "-".to_owned(), Key::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    fn load(text: &str) -> Result<Keymap, ConfigError> {
        let config = crate::config::parse(Path::new("k.toml"), text)?;
        Keymap::with_overrides(
            &config.keymap,
            Some(Source {
                path: Path::new("k.toml"),
                text,
            }),
        )
    }

    #[test]
    fn every_action_has_a_default_key() {
        let map = Keymap::defaults();
        for a in Action::ALL {
            assert!(!map.keys(*a).is_empty(), "{a:?} has no default key");
        }
    }

    #[test]
    fn defaults_resolve_with_shift_folded() {
        let map = Keymap::defaults();
        assert_eq!(
            map.action(
                &[Context::List],
                ev(KeyCode::Char('G'), KeyModifiers::SHIFT)
            ),
            Some(Action::Bottom)
        );
        assert_eq!(
            map.action(
                &[Context::List],
                ev(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(
                &[Context::Global],
                ev(KeyCode::Char('j'), KeyModifiers::NONE)
            ),
            None
        );
        assert_eq!(
            map.action(&[Context::List], ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
    }

    #[test]
    fn user_binding_replaces_the_default() {
        let map = load("[keymap]\nquit = [\"Q\"]\n").unwrap();
        assert_eq!(
            map.action(
                &[Context::List],
                ev(KeyCode::Char('Q'), KeyModifiers::SHIFT)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&[Context::List], ev(KeyCode::Char('q'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn a_clash_is_an_error_at_the_user_key() {
        let err = load("[keymap]\ndown = [\"q\"]\n").unwrap_err();
        assert!(err.message.contains("`q` is bound to both"), "{err}");
        assert_eq!((err.line, err.column), (Some(2), Some(9)));
    }

    #[test]
    fn unknown_action_and_key_names_are_errors() {
        let err = load("[keymap]\nquitt = [\"x\"]\n").unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `quit`?"));
        let err = load("[keymap]\nquit = [\"ctrl-\"]\n").unwrap_err();
        assert!(err.message.contains("unknown key"), "{err}");
    }

    #[test]
    fn key_names_round_trip() {
        for name in [
            "q",
            "G",
            "ctrl-c",
            "alt-x",
            "shift-tab",
            "pgdn",
            "f5",
            "space",
            "/",
        ] {
            assert_eq!(Key::parse(name).unwrap().to_string(), name);
        }
    }
}
