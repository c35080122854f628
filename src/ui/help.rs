//! The help overlay, generated from the resolved keymap: what each action does and its keys.
//! Two columns (anywhere / in lists) when there is room, so it fits 80x24.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::theme::Theme;
use super::widgets;
use crate::app::App;
use crate::config::keymap::{Action, Context};

pub struct HelpOverlay<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

const KEYS_WIDTH: usize = 12;

impl HelpOverlay<'_> {
    fn column(&self, sections: &[(Context, &'static str)], width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for &(context, heading) in sections {
            lines.push(Line::from(Span::styled(heading, self.theme.header())));
            lines.extend(self.section(context, width));
        }
        lines
    }

    fn section(&self, context: Context, width: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for action in Action::ALL.iter().filter(|a| a.context() == context) {
            let keys: Vec<String> = self
                .app
                .keymap
                .keys(*action)
                .iter()
                .map(ToString::to_string)
                .collect();
            lines.push(Line::from(vec![
                Span::styled(
                    format!(
                        "{:<KEYS_WIDTH$}",
                        widgets::fit(&keys.join(" "), KEYS_WIDTH - 1)
                    ),
                    self.theme.accent(),
                ),
                Span::raw(widgets::fit(
                    action.desc(),
                    width.saturating_sub(KEYS_WIDTH),
                )),
            ]));
        }
        lines
    }
}

impl Widget for HelpOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let theme = self.theme;
        let two_columns = area.width >= 72;
        let popup_width = if two_columns {
            area.width.min(100)
        } else {
            area.width.min(60)
        };
        let inner = usize::from(popup_width.saturating_sub(4));
        let col = if two_columns { inner / 2 } else { inner };
        let global = self.column(
            &[
                (Context::Global, "Anywhere"),
                (Context::Containers, "Containers and their logs"),
            ],
            col,
        );
        let list = self.column(
            &[
                (Context::List, "In lists"),
                (Context::Logs, "In the log pane"),
                (Context::Postgres, "In the PostgreSQL pane"),
            ],
            col,
        );
        let mut lines: Vec<Line<'_>> = if two_columns {
            let blank = Line::default();
            (0..global.len().max(list.len()))
                .map(|i| {
                    let left = global.get(i).unwrap_or(&blank);
                    let pad = col.saturating_sub(left.width()) + 1;
                    let mut spans = left.spans.clone();
                    spans.push(Span::raw(" ".repeat(pad)));
                    spans.extend(list.get(i).map(|l| l.spans.clone()).unwrap_or_default());
                    Line::from(spans)
                })
                .collect()
        } else {
            global.into_iter().chain(list).collect()
        };
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "Filter/search: type, Enter keeps it, Esc clears it. Dialogs: y yes, n or Esc no.",
            theme.muted(),
        )));
        if self.app.read_only {
            lines.push(Line::from(Span::styled(
                "Read-only: actions that change hosts are disabled.",
                theme.warn(),
            )));
        }
        lines.push(Line::from(Span::styled(
            "Keys are remappable in the [keymap] table of the config file.",
            theme.muted(),
        )));
        let height = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .saturating_add(2);
        let popup = widgets::centered(area, popup_width, height);
        Clear.render(popup, buf);
        let block = Block::bordered()
            .border_style(theme.border_focused())
            .title(Span::styled(" Help · Esc closes ", theme.title()));
        Paragraph::new(lines)
            .style(theme.text())
            .block(block)
            .render(popup, buf);
    }
}
