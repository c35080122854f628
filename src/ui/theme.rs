//! Themes: panes ask for a meaning (`theme.crit()`), never a colour. A theme file sets roles;
//! a user theme names only the roles it changes on top of `extends` (default "dark").
//! Choosing: `--theme`/`ui.theme` if given; else `mono` under NO_COLOR, `ansi16` when the
//! terminal does not announce 256 colours, `dark` otherwise.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use crate::app::alerts::Severity;
use crate::config::error::{ConfigError, Source, nearest};
use crate::config::{ThemeChoice, ThemeEnv};

const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

macro_rules! roles {
    ($($role:ident: $doc:literal),* $(,)?) => {
        /// Resolved styles, one per role.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            pub name: String,
            $(#[doc = $doc] $role: Style,)*
        }

        impl Theme {
            $(#[doc = $doc] pub fn $role(&self) -> Style { self.$role })*
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            extends: Option<Spanned<String>>,
            $($role: Option<Spanned<String>>,)*
        }

        impl ThemeFile {
            fn apply(&self, theme: &mut Theme, source: Source<'_>) -> Result<(), ConfigError> {
                $(if let Some(spec) = &self.$role {
                    theme.$role = parse_style(spec.get_ref()).map_err(|m| {
                        ConfigError::at(Some(source), spec.span(), m,
                            "write a style like \"red\", \"black on cyan bold\", \"#ff8800\" or \"244 italic\"")
                    })?;
                })*
                Ok(())
            }
        }

        const ROLE_NAMES: &[&str] = &["extends", $(stringify!($role)),*];

        fn empty(name: &str) -> Theme {
            Theme { name: name.to_owned(), $($role: Style::new(),)* }
        }
    };
}

roles! {
    text: "Ordinary text.",
    muted: "Secondary text: units, empty values, hints.",
    title: "Pane titles.",
    border: "Borders of panes without focus.",
    border_focused: "The border of the focused pane or dialog.",
    header: "Table headers.",
    selection: "The selected row.",
    ok: "Healthy, running, within limits.",
    warn: "Needs attention soon: degraded, starting, filling up.",
    crit: "Broken now: down, unhealthy, exited with an error, full.",
    stale: "Data older than it should be.",
    accent: "Group rows and highlights.",
    tab: "Pane tabs.",
    tab_active: "The current pane's tab.",
    status: "The status bar.",
    bar_empty: "The empty part of a usage bar.",
    found: "Search matches in the log pane.",
}

impl Theme {
    /// The style of a verdict decided in `app::alerts` and the domain modules.
    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Ok => self.ok,
            Severity::Warn => self.warn,
            Severity::Crit => self.crit,
        }
    }

    /// A verdict on data that is no longer current: never the ok colour (it may not be ok any
    /// more), and a problem stays visible but dimmed.
    pub fn verdict(&self, s: Severity, stale: bool) -> Style {
        match (s, stale) {
            (_, false) => self.severity(s),
            (Severity::Ok, true) => self.stale,
            (_, true) => self.severity(s).add_modifier(Modifier::DIM),
        }
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let source = Source {
            path: Path::new(name),
            text,
        };
        let mut theme = empty(name);
        let file: ThemeFile = toml::from_str(text).ok()?;
        file.apply(&mut theme, source).ok()?;
        Some(theme)
    }

    /// Parses a theme file on top of its `extends` theme (a built-in, default "dark").
    pub fn parse(path: &Path, text: &str) -> Result<Theme, ConfigError> {
        let source = Source { path, text };
        let file: ThemeFile =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e, ROLE_NAMES))?;
        let mut theme = match &file.extends {
            None => builtin_or_panic("dark"),
            Some(base) => Theme::builtin(base.get_ref()).ok_or_else(|| {
                ConfigError::at(
                    Some(source),
                    base.span(),
                    format!("unknown theme `{}` in extends", base.get_ref()),
                    builtin_help(base.get_ref()),
                )
            })?,
        };
        file.apply(&mut theme, source)?;
        theme.name = path
            .file_stem()
            .map_or_else(|| "custom".to_owned(), |s| s.to_string_lossy().into_owned());
        Ok(theme)
    }
}

fn builtin_or_panic(name: &str) -> Theme {
    Theme::builtin(name).expect("built-in themes are valid (checked by a test)")
}

fn builtin_help(asked: &str) -> String {
    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
    match nearest(asked, &names) {
        Some(n) => format!("did you mean `{n}`? Built-in themes: {}", names.join(", ")),
        None => format!(
            "built-in themes: {}; or give a path to a .toml theme file",
            names.join(", ")
        ),
    }
}

/// Picks the theme: an explicit name or path wins over the environment.
/// The theme `choice` asks for; an unknown name written in the config points at its line.
pub fn load(choice: &ThemeChoice) -> Result<Theme, ConfigError> {
    resolve(
        choice.name.as_deref(),
        choice.user_dir.as_deref(),
        &choice.env,
    )
    .map_err(|e| {
        match (&e.path, &choice.written_at) {
            // An error inside a theme file points there already.
            (None, Some(at)) => ConfigError::at(
                Some(at.source()),
                at.span.clone(),
                e.message,
                e.help.unwrap_or_default(),
            ),
            _ => e,
        }
    })
}

pub fn resolve(
    choice: Option<&str>,
    user_dir: Option<&Path>,
    env: &ThemeEnv,
) -> Result<Theme, ConfigError> {
    let Some(choice) = choice else {
        let name = if env.no_color {
            "mono"
        } else if env.rich_colors {
            "dark"
        } else {
            "ansi16"
        };
        return Ok(builtin_or_panic(name));
    };
    let is_path = choice.contains('/') || choice.ends_with(".toml");
    if !is_path && let Some(t) = Theme::builtin(choice) {
        return Ok(t);
    }
    let path = if is_path {
        Path::new(choice).to_path_buf()
    } else {
        match user_dir
            .map(|d| d.join(format!("{choice}.toml")))
            .filter(|p| p.exists())
        {
            Some(p) => p,
            None => {
                return Err(ConfigError::plain(
                    None,
                    format!("unknown theme `{choice}`"),
                    Some(builtin_help(choice)),
                ));
            }
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::io(&path, &e))?;
    Theme::parse(&path, &text)
}

/// Parses "[fg] [on bg] [modifier ...]".
pub fn parse_style(spec: &str) -> Result<Style, String> {
    let mut style = Style::new();
    let mut words = spec.split_whitespace().peekable();
    let mut fg_done = false;
    while let Some(w) = words.next() {
        let lw = w.to_ascii_lowercase();
        let modifier = match lw.as_str() {
            "bold" => Some(Modifier::BOLD),
            "dim" => Some(Modifier::DIM),
            "italic" => Some(Modifier::ITALIC),
            "underlined" | "underline" => Some(Modifier::UNDERLINED),
            "reversed" | "reverse" => Some(Modifier::REVERSED),
            "crossed_out" => Some(Modifier::CROSSED_OUT),
            _ => None,
        };
        if let Some(m) = modifier {
            style = style.add_modifier(m);
        } else if lw == "on" {
            let bg = words
                .next()
                .ok_or("`on` must be followed by a background colour")?;
            style = style.bg(color(bg)?);
        } else if !fg_done {
            style = style.fg(color(w)?);
            fg_done = true;
        } else {
            return Err(format!("unexpected `{w}` in style {spec:?}"));
        }
    }
    Ok(style)
}

fn color(word: &str) -> Result<Color, String> {
    word.parse::<Color>()
        .map_err(|_| format!("unknown colour `{word}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_sets_every_role() {
        for (name, text) in BUILTIN {
            let file: ThemeFile = toml::from_str(text).unwrap();
            let mut t = empty(name);
            file.apply(
                &mut t,
                Source {
                    path: Path::new(name),
                    text,
                },
            )
            .unwrap();
            for role in &ROLE_NAMES[1..] {
                assert!(
                    text.lines().any(|l| l.starts_with(&format!("{role} ="))),
                    "{name} does not set {role}"
                );
            }
        }
    }

    #[test]
    fn ansi16_and_mono_use_only_what_they_promise() {
        let named = |c: Option<Color>| !matches!(c, Some(Color::Indexed(_) | Color::Rgb(..)));
        let t = Theme::builtin("ansi16").unwrap();
        let m = Theme::builtin("mono").unwrap();
        for s in [
            t.muted(),
            t.ok(),
            t.warn(),
            t.crit(),
            t.selection(),
            t.status(),
            t.tab_active(),
        ] {
            assert!(named(s.fg) && named(s.bg), "{s:?}");
        }
        for s in [
            m.muted(),
            m.ok(),
            m.warn(),
            m.crit(),
            m.selection(),
            m.status(),
            m.stale(),
            m.bar_empty(),
        ] {
            assert!(s.fg.is_none() && s.bg.is_none(), "{s:?}");
        }
    }

    #[test]
    fn environment_picks_the_default() {
        let pick = |no_color, rich_colors| {
            resolve(
                None,
                None,
                &ThemeEnv {
                    no_color,
                    rich_colors,
                },
            )
            .unwrap()
            .name
        };
        assert_eq!(pick(true, true), "mono");
        assert_eq!(pick(false, false), "ansi16");
        assert_eq!(pick(false, true), "dark");
        // An explicit choice beats NO_COLOR (no-color.org: user configuration overrides it).
        let env = ThemeEnv {
            no_color: true,
            rich_colors: true,
        };
        assert_eq!(resolve(Some("light"), None, &env).unwrap().name, "light");
    }

    #[test]
    fn user_theme_patches_its_base() {
        let t = Theme::parse(
            Path::new("/x/mine.toml"),
            "extends = \"light\"\ncrit = \"magenta\"\n",
        )
        .unwrap();
        let light = Theme::builtin("light").unwrap();
        assert_eq!(t.crit(), Style::new().fg(Color::Magenta));
        assert_eq!(t.ok(), light.ok());
        assert_eq!(t.name, "mine");
    }

    #[test]
    fn theme_errors_point_at_the_value_and_suggest() {
        let e = Theme::parse(Path::new("t.toml"), "ok = \"green\"\ncrti = \"red\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.help.as_deref()),
            (Some(2), Some("did you mean `crit`?"))
        );
        let e = Theme::parse(Path::new("t.toml"), "ok = \"greenish\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(1), Some(6)));
        assert!(e.message.contains("unknown colour `greenish`"));
        let e = resolve(Some("drak"), None, &ThemeEnv::default()).unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `dark`?"));
    }

    #[test]
    fn styles_parse() {
        assert_eq!(
            parse_style("black on cyan bold").unwrap(),
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        );
        assert_eq!(
            parse_style("on #102030").unwrap(),
            Style::new().bg(Color::Rgb(16, 32, 48))
        );
        assert!(parse_style("red blue").is_err());
        assert!(parse_style("red on").is_err());
    }
}
