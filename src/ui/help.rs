//! The help overlay, generated from the resolved keymap: what each action does and its keys.
//! Two columns when every description fits beside another; else one, scrolled with the list
//! keys when the screen is shorter than the help (80x24).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::theme::Theme;
use super::widgets;
use crate::app::{App, help};
use crate::config::keymap::{Action, Context};

pub struct HelpOverlay<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

const KEYS_WIDTH: usize = help::KEYS_WIDTH as usize;

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
        let (popup_width, two_columns) = help::layout(area.width);
        let inner = usize::from(popup_width.saturating_sub(4));
        let col = if two_columns { (inner - 1) / 2 } else { inner };
        let left = self.column(help::LEFT, col);
        let right = self.column(help::RIGHT, col);
        let mut lines: Vec<Line<'_>> = if two_columns {
            let blank = Line::default();
            (0..left.len().max(right.len()))
                .map(|i| {
                    let l = left.get(i).unwrap_or(&blank);
                    let pad = col.saturating_sub(l.width()) + 1;
                    let mut spans = l.spans.clone();
                    spans.push(Span::raw(" ".repeat(pad)));
                    spans.extend(right.get(i).map(|l| l.spans.clone()).unwrap_or_default());
                    Line::from(spans)
                })
                .collect()
        } else {
            left.into_iter().chain(right).collect()
        };
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            widgets::fit(
                "Filter: type, Enter keeps, Esc clears. Dialogs: y / n.",
                inner,
            ),
            theme.muted(),
        )));
        if self.app.read_only {
            lines.push(Line::from(Span::styled(
                "Read-only: actions that change hosts are disabled.",
                theme.warn(),
            )));
        }
        lines.push(Line::from(Span::styled(
            widgets::fit(
                "Remap keys in the [keymap] table of the config file.",
                inner,
            ),
            theme.muted(),
        )));
        // Sized to its content, scrolled when the screen is shorter.
        let total = lines.len();
        let visible = usize::from(area.height.saturating_sub(2)).min(total);
        let first = self.app.help_scroll.min(help::max_scroll(
            (area.width, area.height),
            self.app.read_only,
        ));
        let title = if visible < total {
            format!(
                " Help · {}–{} of {total} · j/k PgDn/PgUp scroll · Esc closes ",
                first + 1,
                first + visible
            )
        } else {
            " Help · Esc closes ".to_owned()
        };
        let height = u16::try_from(visible + 2).unwrap_or(u16::MAX);
        let popup = widgets::centered(area, popup_width, height);
        Clear.render(popup, buf);
        let block = Block::bordered()
            .border_style(theme.border_focused())
            .title(Span::styled(title, theme.title()));
        let shown: Vec<Line<'_>> = lines.into_iter().skip(first).take(visible).collect();
        Paragraph::new(shown)
            .style(theme.text())
            .block(block)
            .render(popup, buf);
    }
}
