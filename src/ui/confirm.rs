//! The confirmation dialog of an action, and the line that shows running actions and the last
//! outcome. The dialog names host, project, service and every container it will touch.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::theme::Theme;
use super::widgets;
use crate::actions::{Job, JobKind, JobOutcome, JobTarget, Pace};
use crate::app::App;
use crate::app::jobs::is_service_restart;

/// Containers listed by name before "and N more".
const LISTED: usize = 8;

pub struct ConfirmDialog<'a> {
    pub action: &'a Job,
    pub theme: &'a Theme,
}

impl Widget for ConfirmDialog<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (a, theme) = (self.action, self.theme);
        let field = |k: &'static str, v: String| {
            Line::from(vec![
                Span::styled(format!("{k:<11}"), theme.muted()),
                Span::styled(v, theme.text()),
            ])
        };
        let mut lines = vec![field("host", a.host_name.clone())];
        match &a.target {
            JobTarget::Container {
                project,
                service,
                container,
            } => members(
                &mut lines,
                &field,
                project,
                service.as_ref(),
                std::slice::from_ref(container),
            ),
            JobTarget::Service {
                project,
                service,
                containers,
            } => members(&mut lines, &field, project, Some(service), containers),
            JobTarget::Backend {
                cluster,
                pid,
                user,
                database,
                query,
                blocks,
                idle_in_transaction,
                ..
            } => {
                lines.push(field("cluster", cluster.clone()));
                lines.push(field("backend", pid.to_string()));
                let who = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_owned());
                lines.push(field("user", who(user)));
                lines.push(field("database", who(database)));
                lines.push(field("query", query.clone()));
                if *blocks > 0 {
                    lines.push(field("blocks", format!("{blocks} waiting sessions")));
                }
                if *idle_in_transaction && a.kind == JobKind::Cancel {
                    lines.push(Line::from(Span::styled(
                        "! idle in a transaction: a cancel cannot release its locks; terminate (T) can",
                        theme.warn(),
                    )));
                }
            }
            JobTarget::Backup {
                source, command, ..
            } => {
                lines.push(field("source", source.clone()));
                lines.push(field("command", crate::sanitize::plain(command)));
                lines.push(Line::from(Span::styled(
                    "runs in a session of its own on the host; X cancels it and stops all it started",
                    theme.muted(),
                )));
            }
            // Never asked: acknowledging and silencing take effect at once.
            JobTarget::Alert { what, .. } => {
                lines.push(field("alert", crate::sanitize::plain(what)))
            }
            JobTarget::Drill {
                drill,
                source,
                backup,
                target,
                ..
            } => {
                lines.push(field("drill", drill.clone()));
                lines.push(field("source", source.clone()));
                lines.push(field("backup", format!("the newest: {backup}")));
                lines.push(field("target", target.clone()));
                lines.push(Line::from(Span::styled(
                    "restores at nice 10 into the scratch target only; cleans up after pass, fail and cancel (X)",
                    theme.muted(),
                )));
            }
        }
        if let Some(age) = a.stale {
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                format!(
                    "! data {} old, not refreshing: the target may have changed",
                    widgets::age(age)
                ),
                theme.warn(),
            )));
        }
        if is_service_restart(a) {
            lines.push(Line::default());
            let choice = |pace: Pace, text: &'static str| {
                let mark = if a.pace == pace { "(•) " } else { "( ) " };
                Span::styled(
                    format!("{mark}{text}  "),
                    if a.pace == pace {
                        theme.accent()
                    } else {
                        theme.muted()
                    },
                )
            };
            lines.push(Line::from(vec![
                choice(Pace::OneByOne, "one by one, each waited for"),
                choice(Pace::AllAtOnce, "all at once"),
            ]));
        }
        lines.push(Line::default());
        let mut keys = vec![
            Span::styled(" y ", theme.tab_active()),
            Span::raw(format!(" {}   ", a.kind.button())),
            Span::styled(" n ", theme.tab()),
            Span::raw(" go back, change nothing"),
        ];
        if is_service_restart(a) {
            keys.push(Span::styled("   tab", theme.accent()));
            keys.push(Span::raw(" pace"));
        }
        lines.push(Line::from(keys));
        let verb = match a.kind {
            JobKind::Restart => "Restart",
            JobKind::Stop => "Stop",
            JobKind::Start => "Start",
            JobKind::Cancel => "Cancel the query of",
            JobKind::Terminate => "Terminate",
            JobKind::Backup => "Start a backup of",
            JobKind::Drill => "Run",
            JobKind::Acknowledge => "Acknowledge",
            JobKind::Silence => "Silence",
        };
        let title = format!(" {verb} {}? ", a.target.describe());
        let width = area.width.min(72);
        // Rows after wrapping (a long command takes several), so the y / n line is never cut:
        // word wrapping may need one row more than the width alone says.
        let inner = usize::from(width.saturating_sub(2)).max(1);
        let rows: usize = lines
            .iter()
            .map(|l| match l.width().div_ceil(inner) {
                0 | 1 => 1,
                n => n + 1,
            })
            .sum();
        let height = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2);
        let popup = widgets::centered(area, width, height.min(area.height));
        Clear.render(popup, buf);
        let block = Block::bordered()
            .border_style(if matches!(a.kind, JobKind::Stop | JobKind::Terminate) {
                theme.crit()
            } else {
                theme.border_focused()
            })
            .title(Span::styled(
                widgets::fit(&title, usize::from(width.saturating_sub(2))),
                theme.title(),
            ));
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .render(popup, buf);
    }
}

/// The project, service and container lines of a container action.
fn members<'a>(
    lines: &mut Vec<Line<'a>>,
    field: &impl Fn(&'static str, String) -> Line<'a>,
    project: &Option<String>,
    service: Option<&String>,
    members: &[crate::actions::Member],
) {
    if let Some(p) = project {
        lines.push(field("project", p.clone()));
    }
    if let Some(s) = service {
        lines.push(field("service", s.clone()));
    }
    let label = if members.len() == 1 {
        "container"
    } else {
        "containers"
    };
    for (i, m) in members.iter().take(LISTED).enumerate() {
        lines.push(field(if i == 0 { label } else { "" }, m.name.clone()));
    }
    if members.len() > LISTED {
        lines.push(field("", format!("and {} more", members.len() - LISTED)));
    }
}

/// Asks to cancel a running job, naming it in full.
pub struct CancelDialog<'a> {
    pub job: &'a crate::app::jobs::Running,
    pub theme: &'a Theme,
}

impl Widget for CancelDialog<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (run, theme) = (self.job, self.theme);
        let lines = vec![
            Line::from(Span::styled(run.action.describe(), theme.text())),
            Line::from(Span::styled(
                format!("now: {}", run.step.as_deref().unwrap_or("starting")),
                theme.muted(),
            )),
            Line::from(Span::styled(
                "It stops before its next step; what is done stays done.",
                theme.muted(),
            )),
            Line::default(),
            Line::from(vec![
                Span::styled(" y ", theme.tab_active()),
                Span::raw(" cancel the job   "),
                Span::styled(" n ", theme.tab()),
                Span::raw(" keep it running"),
            ]),
        ];
        let width = area.width.min(72);
        let popup = widgets::centered(area, width, 7.min(area.height));
        Clear.render(popup, buf);
        let title = format!(" Cancel job {}? ", run.id);
        let block = Block::bordered()
            .border_style(theme.crit())
            .title(Span::styled(title, theme.title()));
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .render(popup, buf);
    }
}

/// One line about jobs: those running (with their step and elapsed time), else the last
/// outcome. None when there is nothing to say.
pub fn actions_line<'a>(app: &'a App, theme: &Theme) -> Option<Line<'a>> {
    if let Some(run) = app.jobs.running.last() {
        let elapsed = crate::app::hosts::age(run.confirmed_at, app.now);
        let more = app.jobs.running.len() - 1;
        let mut text = format!(
            " ⟳ {} {}: {} · {}",
            run.id,
            run.action.describe(),
            if run.cancelling {
                "cancelling"
            } else {
                run.step.as_deref().unwrap_or("queued")
            },
            crate::text::live_age(elapsed)
        );
        if more > 0 {
            text.push_str(&format!(" (+{more} more)"));
        }
        text.push_str(" · X cancels");
        return Some(Line::from(Span::styled(text, theme.warn())));
    }
    let last = app.jobs.last.as_ref()?;
    let took = widgets::age(last.elapsed);
    Some(match &last.outcome {
        JobOutcome::Done(what) => Line::from(Span::styled(
            format!(" ✓ {} on {} ({took})", what, last.action.host_name),
            theme.ok(),
        )),
        JobOutcome::Cancelled { .. } => Line::from(Span::styled(
            format!(
                " ◼ {} {}: {} ({took})",
                last.id,
                last.action.describe(),
                last.outcome.text()
            ),
            theme.warn(),
        )),
        // Why first: on one row the reason matters more than the job's full name.
        other => Line::from(Span::styled(
            format!(
                " ✗ {} · {} failed after {took}",
                other.text(),
                last.action.describe()
            ),
            theme.crit(),
        )),
    })
}
