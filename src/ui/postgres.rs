//! PostgreSQL pane: per cluster a header (version, role, uptime, connections against the
//! limit, sessions by state), alerts, the blocking-lock tree, the sessions that are not idle
//! (slow queries and long idle transactions highlighted), standbys and databases. Query
//! text is untrusted: it is sanitised and put on one line; Enter shows it whole.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::theme::Theme;
use super::widgets::{self, columns};
use crate::app::alerts::Severity;
use crate::app::hosts::{Cluster, HostState};
use crate::app::postgres::{self, Row};
use crate::app::{App, Pane};
use crate::collect::postgres::{Database, Session, Standby, State, TreeRow};

pub struct PostgresPane<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// PID, USER, DATABASE, APPLICATION, CLIENT, STATE, WAIT, TIME at most; each is as wide as
/// its content needs (not less than its header) and QUERY takes the rest, like pg_activity.
const WIDE: [u16; 8] = [12, 16, 16, 24, 21, 8, 18, 6];
const NARROW: [u16; 8] = [10, 8, 8, 10, 15, 8, 10, 5];
/// The query keeps at least this much; the flexible columns give way first.
const MIN_QUERY: u16 = 30;
const RIGHT: [usize; 1] = [7];

impl Widget for PostgresPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let hosts: Vec<&HostState> = app
            .visible_hosts()
            .into_iter()
            .filter(|h| !h.postgres.is_empty())
            .collect();
        let title = vec![Span::styled(" PostgreSQL ", theme.title())];
        let inner = super::pane_frame(app, theme, title, area, buf);
        let problems: Vec<(String, String)> = hosts
            .iter()
            .flat_map(|h| {
                h.postgres.iter().filter_map(|c| {
                    Some((
                        format!("{}/{}", h.name, c.name()),
                        c.observed.error()?.to_owned(),
                    ))
                })
            })
            .collect();
        let inner = super::notices(&problems, theme, inner, buf);
        if inner.height < 2 {
            return;
        }
        if hosts.is_empty() {
            let text = "No PostgreSQL cluster is configured: add [[host.postgres]] to a host \
                        (see config.example.toml).";
            Paragraph::new(text)
                .style(theme.muted())
                .wrap(Wrap { trim: true })
                .render(inner, buf);
            return;
        }
        let header = [
            "PID", "USER", "DATABASE", "APP", "CLIENT", "STATE", "WAIT", "TIME", "QUERY",
        ];
        let sessions: Vec<&Session> = hosts
            .iter()
            .flat_map(|h| &h.postgres)
            .filter_map(|c| c.observed.latest())
            .flat_map(|snap| &snap.sessions)
            .collect();
        let w = widgets::widths(inner.width, &column_widths(&sessions, &header, inner.width));
        let list = widgets::table_header(&header, &w, &RIGHT, inner, buf, theme);
        let rows = postgres::rows(
            &hosts,
            &app.filter_text(Pane::Postgres),
            app.panes.postgres.sort,
        );
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        let selected = (!keys.is_empty()).then(|| app.panes.postgres.selection.index(&keys));
        // Every row of a cluster whose data stopped arriving is dimmed: sessions that may have
        // ended must not look live.
        let mut stale = false;
        let lines = rows
            .iter()
            .map(|(_, r)| {
                if let Row::Cluster(_, c) = r {
                    stale = c.observed.stale_age(app.now).is_some();
                }
                let line = self.row(r, &w);
                if stale {
                    widgets::dimmed(line, theme)
                } else {
                    line
                }
            })
            .collect();
        widgets::render_list(lines, selected, list, buf, theme);
        if let Some((_, _, session)) = app
            .panes
            .postgres
            .detail
            .and_then(|d| app.postgres_session(d))
        {
            Detail { session, theme }.render(inner, buf);
        }
    }
}

impl PostgresPane<'_> {
    fn row(&self, row: &Row<'_>, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        match row {
            Row::Cluster(h, c) => self.cluster_row(h, c),
            Row::Note(level, text) => Line::from(Span::styled(
                format!("  ! {}", crate::sanitize::plain(text)),
                level_style(*level, theme),
            )),
            Row::Heading(name) => Line::from(Span::styled(format!("  {name}"), theme.header())),
            Row::Tree { session, tree, now } => self.tree_row(session, tree, *now, w),
            Row::Session {
                session,
                level,
                now,
            } => {
                let time = session
                    .query_duration(*now)
                    .or_else(|| session.idle_in_transaction_for(*now))
                    .map(duration)
                    .unwrap_or_default();
                let wait = match (&session.wait_event_type, &session.wait_event) {
                    (Some(t), Some(e)) => format!("{t}:{e}"),
                    _ => String::new(),
                };
                let style = level_style(*level, theme);
                session_line(session, "", wait, time, style, w, theme)
            }
            Row::Database { db, level } => database_row(db, *level, theme),
            Row::Standby(s) => standby_row(s, theme),
        }
    }

    fn cluster_row(&self, h: &HostState, c: &Cluster) -> Line<'static> {
        let theme = self.theme;
        let mut spans = vec![Span::styled(
            format!("▾ {} / {}  ", h.name, c.name()),
            theme.accent().add_modifier(Modifier::BOLD),
        )];
        let Some(snap) = c.observed.latest() else {
            spans.push(widgets::freshness(
                &c.observed.freshness(self.app.now),
                theme,
            ));
            return Line::from(spans);
        };
        let s = &snap.server;
        let version = s.short_version();
        let role = if s.in_recovery { "standby" } else { "primary" };
        spans.push(Span::styled(
            format!("PG {version} {role} · up {} · ", widgets::age(s.uptime())),
            theme.muted(),
        ));
        let usage = snap.usage_pct();
        let pool = theme.severity(postgres::pool_severity(c, usage));
        spans.push(Span::styled(
            format!(
                "{}/{} conns ({usage:.0}%)",
                snap.total_connections, s.max_connections
            ),
            pool,
        ));
        let n = snap.counts();
        spans.push(Span::styled(
            format!(
                " · {} active · {} idle · {} idle in tx · ",
                n.active, n.idle, n.idle_in_transaction
            ),
            theme.muted(),
        ));
        spans.push(Span::styled(
            format!("{} waiting", n.waiting),
            if n.waiting > 0 {
                theme.crit()
            } else {
                theme.muted()
            },
        ));
        if let Some((db, k)) = n.by_database.first() {
            spans.push(Span::styled(
                format!(" · most: {} ({k})", crate::sanitize::plain(db)),
                theme.muted(),
            ));
        }
        // Right after the name, where a narrow screen never cuts it.
        let freshness = c.observed.freshness(self.app.now);
        if matches!(freshness, crate::app::hosts::Freshness::Stale(_)) {
            spans.insert(1, widgets::freshness(&freshness, theme));
            spans.insert(2, Span::raw("  "));
        }
        Line::from(spans)
    }

    fn tree_row(&self, s: &Session, t: &TreeRow, now: jiff::Timestamp, w: &[u16]) -> Line<'static> {
        let theme = self.theme;
        let indent = "  ".repeat(t.depth);
        let mark = if t.depth == 0 { "●" } else { "└" };
        let time = s
            .wait_duration(now)
            .or_else(|| s.transaction_age(now))
            .map(duration)
            .unwrap_or_default();
        let style = if t.depth == 0 {
            theme.crit().add_modifier(Modifier::BOLD)
        } else {
            theme.warn()
        };
        // Instead of the wait event: what the waiter wants, or how many wait on the root.
        let what = match &s.waiting_for {
            Some(l) => format!(
                "{} {}",
                l.mode.trim_end_matches("Lock"),
                l.relation.as_deref().unwrap_or(&l.locktype)
            ),
            None if t.blocks > 0 => format!("blocks {}", t.blocks),
            None => String::new(),
        };
        let what = if t.blocker_hidden {
            format!("{what} (by a hidden session)")
        } else if t.in_cycle {
            format!("{what} (deadlock)")
        } else {
            what
        };
        session_line(s, &format!("{indent}{mark}"), what, time, style, w, theme)
    }
}

/// The fixed columns' widths for these sessions on a pane `width` wide: each as wide as its
/// longest value (its header at least, its cap at most); when the query would get less than
/// [`MIN_QUERY`], the widest of USER, DATABASE, APP and CLIENT give way, one column at a time.
fn column_widths(sessions: &[&Session], header: &[&str], width: u16) -> [u16; 8] {
    let caps = if width >= 120 { WIDE } else { NARROW };
    let len = |s: &str| u16::try_from(s.chars().count()).unwrap_or(u16::MAX);
    let longest = |f: &dyn Fn(&Session) -> u16| sessions.iter().map(|s| f(s)).max().unwrap_or(0);
    let opt = |v: &Option<String>| v.as_deref().map_or(1, len);
    // The PID column also holds the lock tree's indentation.
    let content = [
        longest(&|s| len(&s.pid.to_string()) + 6),
        longest(&|s| opt(&s.user)),
        longest(&|s| opt(&s.database)),
        longest(&|s| len(&s.application)),
        longest(&|s| opt(&s.client)),
        caps[5],
        caps[6],
        caps[7],
    ];
    let mut w = [0u16; 8];
    for i in 0..8 {
        w[i] = content[i].max(len(header[i])).min(caps[i]);
    }
    let flexible = [1, 2, 3, 4];
    let used = |w: &[u16; 8]| w.iter().sum::<u16>() + 8;
    while used(&w) + MIN_QUERY > width {
        let Some(&i) = flexible
            .iter()
            .filter(|&&i| w[i] > len(header[i]))
            .max_by_key(|&&i| w[i])
        else {
            break;
        };
        w[i] -= 1;
    }
    w
}

/// A session on one line: PID (with a tree prefix), USER, DATABASE, APP, CLIENT, STATE, WAIT,
/// TIME, QUERY (sanitised, whitespace folded).
fn session_line(
    s: &Session,
    prefix: &str,
    wait: String,
    time: String,
    style: Style,
    w: &[u16],
    theme: &Theme,
) -> Line<'static> {
    let text = |v: Option<&str>| crate::sanitize::plain(v.unwrap_or("-"));
    let query = crate::sanitize::folded(&s.query);
    columns(
        w,
        &RIGHT,
        vec![
            Span::styled(format!("{prefix}{}", s.pid), style),
            Span::styled(text(s.user.as_deref()), theme.text()),
            Span::styled(text(s.database.as_deref()), theme.text()),
            Span::styled(text(Some(&s.application)), theme.muted()),
            Span::styled(text(s.client.as_deref()), theme.muted()),
            Span::styled(short_state(&s.state).to_owned(), style),
            Span::styled(crate::sanitize::plain(&wait), theme.muted()),
            Span::styled(time, style),
            Span::styled(query, theme.text()),
        ],
    )
}

fn database_row(db: &Database, level: Severity, theme: &Theme) -> Line<'static> {
    let size = db.size_bytes.map_or("-".to_owned(), |b| {
        widgets::bytes(u64::try_from(b).unwrap_or(0))
    });
    Line::from(vec![
        Span::styled(
            format!(
                "    {:<24}",
                widgets::fit(&crate::sanitize::plain(&db.name), 24)
            ),
            theme.text(),
        ),
        Span::styled(format!("{size:>6}"), theme.muted()),
        Span::styled(
            format!(
                "   xid age {:>13} ({:.1}% of wraparound)",
                db.xid_age,
                db.xid_pct()
            ),
            level_style(level, theme),
        ),
    ])
}

fn standby_row(s: &Standby, theme: &Theme) -> Line<'static> {
    let lag = |d: Option<std::time::Duration>| d.map_or("-".to_owned(), duration);
    let name = s.name.as_deref().or(s.client.as_deref()).unwrap_or("?");
    Line::from(vec![
        Span::styled(
            format!(
                "    {:<24}",
                widgets::fit(&crate::sanitize::plain(name), 24)
            ),
            theme.text(),
        ),
        Span::styled(
            format!(
                "{} {}  write {} flush {} replay {}  behind {}",
                s.state.as_deref().unwrap_or("?"),
                s.sync_state.as_deref().unwrap_or(""),
                lag(s.write_lag),
                lag(s.flush_lag),
                lag(s.replay_lag),
                s.replay_lag_bytes
                    .map_or("-".to_owned(), |b| widgets::bytes(
                        u64::try_from(b).unwrap_or(0)
                    ))
            ),
            theme.muted(),
        ),
    ])
}

/// States in a few letters for the STATE column; the detail view has PostgreSQL's words.
fn short_state(state: &State) -> &str {
    match state {
        State::IdleInTransaction => "idle tx",
        State::IdleInTransactionAborted => "idle tx!",
        State::FastpathFunctionCall => "fastpath",
        other => other.label(),
    }
}

/// "850ms", "12s", "3m", "2h05m": whole units, so a row changes at most once a second.
fn duration(d: std::time::Duration) -> String {
    if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        widgets::age(d)
    }
}

fn level_style(level: Severity, theme: &Theme) -> Style {
    match level {
        Severity::Ok => theme.text(), // most sessions are fine: plain text, not green
        _ => theme.severity(level),
    }
}

/// The selected session in full: who, since when, and the whole query, wrapped.
struct Detail<'a> {
    session: &'a Session,
    theme: &'a Theme,
}

impl Widget for Detail<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (s, theme) = (self.session, self.theme);
        let field = |k: &'static str, v: String| {
            Line::from(vec![
                Span::styled(format!("{k:<12}"), theme.muted()),
                Span::styled(crate::sanitize::plain(&v), theme.text()),
            ])
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let at = |t: Option<jiff::Timestamp>| t.map_or("-".to_owned(), |t| t.to_string());
        let mut lines = vec![
            field("user", opt(&s.user)),
            field("database", opt(&s.database)),
            field("application", s.application.clone()),
            field("client", opt(&s.client)),
            field("state", s.state.label().to_owned()),
            field("xact start", at(s.xact_start)),
            field("query start", at(s.query_start)),
        ];
        if !s.blocked_by.is_empty() {
            let pids: Vec<String> = s.blocked_by.iter().map(i32::to_string).collect();
            lines.push(field("waits for", pids.join(", ")));
        }
        lines.push(Line::default());
        // Line breaks of the query are kept (they are how it was written); every other
        // control character is dropped.
        for l in s.query.lines() {
            lines.push(Line::from(Span::styled(
                crate::sanitize::plain(l),
                theme.text(),
            )));
        }
        let popup = widgets::centered(
            area,
            area.width.saturating_sub(4),
            area.height.saturating_sub(2),
        );
        Clear.render(popup, buf);
        Paragraph::new(lines)
            .block(
                Block::bordered()
                    .border_style(theme.border_focused())
                    .title(Span::styled(
                        format!(" backend {} · Esc closes ", s.pid),
                        theme.title(),
                    )),
            )
            .wrap(Wrap { trim: false })
            .render(popup, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::{MIN_QUERY, column_widths};
    use crate::app::Pane;
    use crate::app::postgres::tests::pg_host;
    use crate::app::tests::fleet_app;
    use crate::ui::testing::render;

    fn app() -> crate::app::App {
        let mut app = fleet_app(1);
        app.hosts[0] = pg_host(include_str!(
            "../collect/postgres/testdata/snapshot-superuser.json"
        ));
        app.pane = Pane::Postgres;
        app
    }

    #[test]
    fn postgres_120x40() {
        insta::assert_snapshot!(render(&app(), 120, 40).backend());
    }

    #[test]
    fn columns_fit_their_content_and_the_query_takes_the_rest() {
        let app = app();
        let snap = app.hosts[0].postgres[0].observed.latest().unwrap().clone();
        let mut long = snap.sessions[0].clone();
        long.application = "billing-worker-reconciler-7".into();
        let mut sessions: Vec<&crate::collect::postgres::Session> = snap.sessions.iter().collect();
        sessions.push(&long);
        let header = [
            "PID", "USER", "DATABASE", "APP", "CLIENT", "STATE", "WAIT", "TIME", "QUERY",
        ];
        // Wide: APP as long as its longest name up to its cap; short columns stay short.
        let w = column_widths(&sessions, &header, 200);
        assert_eq!(w[3], 24, "capped");
        assert_eq!(w[2], 8, "\"postgres\" and \"DATABASE\" need 8");
        // At 120 the query keeps at least MIN_QUERY; APP gives way first.
        let w = column_widths(&sessions, &header, 120);
        let used: u16 = w.iter().sum::<u16>() + 8;
        assert!(120 - used >= MIN_QUERY, "{w:?}");
        assert!(w[3] < 24 && w[3] >= 3, "{w:?}");
    }

    #[test]
    fn postgres_80x24() {
        insta::assert_snapshot!(render(&app(), 80, 24).backend());
    }

    #[test]
    fn hostile_query_text_never_reaches_the_screen_raw() {
        let mut app = app();
        let json = include_str!("../collect/postgres/testdata/snapshot-superuser.json").replace(
            "select pg_sleep(120);",
            "select '\\u001b]0;owned\\u0007\\u001b[2J\\u009b1m\\u202e';",
        );
        app.hosts[0] = pg_host(&json);
        for detail in [false, true] {
            if detail {
                app.panes.postgres.detail = app.selected_postgres_row().and_then(|k| k.backend());
            }
            let term = render(&app, 120, 40);
            let buf = term.backend().buffer();
            for cell in buf.content() {
                assert!(
                    !cell.symbol().chars().any(crate::sanitize::is_unsafe),
                    "unsafe character on screen: {:?}",
                    cell.symbol()
                );
            }
        }
    }

    #[test]
    fn the_cancel_dialog_labels_each_button_whole_and_differently() {
        let mut app = app();
        let down = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('j'));
        for _ in 0..40 {
            if app
                .selected_postgres_row()
                .and_then(|k| k.backend())
                .is_some()
            {
                break;
            }
            app.update(crate::event::AppEvent::Key(down));
        }
        assert!(
            app.selected_postgres_row()
                .and_then(|k| k.backend())
                .is_some()
        );
        for (key, yes) in [
            ('C', " y  cancel the query "),
            ('T', " y  terminate the session "),
        ] {
            let k = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(key));
            app.update(crate::event::AppEvent::Key(k));
            let screen = crate::ui::testing::text(&render(&app, 120, 40));
            assert!(screen.contains(yes), "{screen}");
            assert!(screen.contains(" n  go back, change nothing"), "{screen}");
            let esc = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Esc);
            app.update(crate::event::AppEvent::Key(esc));
        }
    }

    #[test]
    fn a_cluster_that_stopped_answering_is_dimmed_and_marked_stale() {
        let mut app = app();
        let now = app.hosts[0].postgres[0].observed.observed_at().unwrap();
        app.now = now;
        let live = render(&app, 120, 40);
        let row_of = |term: &ratatui::Terminal<ratatui::backend::TestBackend>| {
            let text = crate::ui::testing::text(term);
            text.lines()
                .position(|l| l.contains("pg_sleep"))
                .expect("a session row")
        };
        let y = u16::try_from(row_of(&live)).unwrap();
        let dim = |term: &ratatui::Terminal<ratatui::backend::TestBackend>, y: u16| {
            let buf = term.backend().buffer();
            (0..120).all(|x| {
                let c = &buf[(x, y)];
                c.symbol() == " "
                    || c.modifier.contains(ratatui::style::Modifier::DIM)
                    || c.fg
                        == crate::ui::theme::Theme::builtin("dark")
                            .unwrap()
                            .stale()
                            .fg
                            .unwrap()
            })
        };
        assert!(!dim(&live, y), "live data is not dimmed");
        let err = crate::collect::CollectError::Docker {
            message: "connection refused".into(),
        };
        let later = now + jiff::SignedDuration::from_secs(8);
        app.hosts[0].postgres[0].observed.record(Err(err), later);
        app.now = later;
        let stale = render(&app, 120, 40);
        let text = crate::ui::testing::text(&stale);
        assert!(text.contains("stale 8s"), "{text}");
        let y = u16::try_from(row_of(&stale)).unwrap();
        assert!(dim(&stale, y), "{text}");
    }
}
