//! The log pane's model: one or more followed streams (a container, a service's replicas, every
//! container of a host, or a service on every host), each a bounded ring, merged in time order;
//! search, filter, follow/pause. Pure: lines arrive as `LogBatch` events.

use std::collections::VecDeque;

use jiff::Timestamp;
use regex::{Regex, RegexBuilder};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Effect;
use crate::collect::containers::Container;
use crate::collect::logs::line::LogLine;
use crate::config::keymap::Action;
use crate::event::{Follow, HostCommand, HostId, LogBatch};

/// What a log view follows; also its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogScope {
    Container {
        host: HostId,
        name: String,
    },
    Service {
        host: HostId,
        project: Option<String>,
        service: String,
    },
    Project {
        host: HostId,
        project: Option<String>,
    },
    Host(HostId),
    /// The same compose service on every host that runs it.
    Everywhere {
        project: Option<String>,
        service: String,
    },
}

/// One followed container.
#[derive(Debug)]
pub struct LogStream {
    pub host: HostId,
    pub container: String,
    /// Shown before each line when the view merges several streams ("api-2", "web:api-2").
    pub tag: String,
    lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`; a line's seq never changes while it is kept.
    first_seq: u64,
    /// Lines pushed out of the ring.
    pub dropped: u64,
    /// Lines Docker re-sent (log rotation) and that were dropped.
    pub duplicates: u64,
    /// Why the stream is not flowing, if it is not.
    pub paused: Option<String>,
}

impl LogStream {
    pub fn new(host: HostId, container: String, tag: String) -> LogStream {
        LogStream {
            host,
            container,
            tag,
            lines: VecDeque::new(),
            first_seq: 0,
            dropped: 0,
            duplicates: 0,
            paused: None,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn get(&self, seq: u64) -> Option<&LogLine> {
        let i = seq.checked_sub(self.first_seq)?;
        self.lines.get(usize::try_from(i).ok()?)
    }
}

/// A line's place in the merged order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    at: Timestamp,
    stream: u16,
    seq: u64,
}

/// The entry's line is still in its stream's ring.
fn is_live(streams: &[LogStream], e: &Entry) -> bool {
    streams
        .get(usize::from(e.stream))
        .is_some_and(|s| e.seq >= s.first_seq)
}

/// The search: typed after `/`, highlighted, `n`/`N` jump, `&` shows only matching lines.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub text: String,
    pub editing: bool,
    pub regex: bool,
    pub case_sensitive: bool,
    /// Show only lines that match.
    pub only_matching: bool,
    compiled: Option<Regex>,
    /// The pattern does not compile: why.
    pub error: Option<String>,
}

impl Search {
    /// Recompiles after the text or a toggle changed. Plain text is matched literally.
    pub fn compile(&mut self) {
        self.error = None;
        self.compiled = None;
        if self.text.is_empty() {
            return;
        }
        let pattern = if self.regex {
            self.text.clone()
        } else {
            regex::escape(&self.text)
        };
        match RegexBuilder::new(&pattern)
            .case_insensitive(!self.case_sensitive)
            .size_limit(1 << 20)
            .build()
        {
            Ok(r) => self.compiled = Some(r),
            Err(e) => {
                self.error = Some(
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("invalid pattern")
                        .to_owned(),
                )
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.compiled.is_some()
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.as_ref().is_some_and(|r| r.is_match(text))
    }

    /// Byte ranges of the matches in `text`, for highlighting.
    pub fn find_all(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        self.compiled.as_ref().map_or_else(Vec::new, |r| {
            r.find_iter(text)
                .filter(|m| !m.is_empty())
                .map(|m| m.range())
                .collect()
        })
    }
}

#[derive(Debug)]
pub struct LogView {
    /// Distinguishes this view's batches from those of a view closed before.
    pub id: u64,
    pub scope: LogScope,
    pub title: String,
    pub streams: Vec<LogStream>,
    merged: VecDeque<Entry>,
    /// Entries in `merged` whose line has left its ring.
    stale: usize,
    /// Lines kept per stream.
    cap: usize,
    /// Showing the newest lines as they come; false once scrolled up.
    pub follow: bool,
    /// When paused: the line shown at the bottom.
    anchor: Option<Entry>,
    pub search: Search,
    pub timestamps: bool,
    pub wrap: bool,
    /// Lines received since the view opened.
    pub received: u64,
    /// When the view opened and when lines last arrived (this machine's clock): a view that
    /// gets nothing says for how long, so a starved link does not look like a quiet service.
    pub opened_at: Option<jiff::Timestamp>,
    pub last_arrival: Option<jiff::Timestamp>,
    /// How far behind the newest line arrived (arrival minus its Docker timestamp), beyond the
    /// smallest such delay seen (which absorbs the host's clock offset); None until live lines.
    pub behind: Option<std::time::Duration>,
    least_delay: Option<i64>,
    /// Lines kept that match the search, and which of them is at the bottom after n / N
    /// (1 = the oldest): the search line's "3/41".
    pub match_total: usize,
    pub match_at: Option<usize>,
}

impl LogView {
    pub fn new(
        id: u64,
        scope: LogScope,
        title: String,
        streams: Vec<LogStream>,
        cap: usize,
    ) -> Self {
        LogView {
            id,
            scope,
            title,
            streams,
            merged: VecDeque::new(),
            stale: 0,
            cap: cap.max(1),
            follow: true,
            anchor: None,
            search: Search::default(),
            timestamps: false,
            wrap: false,
            received: 0,
            opened_at: None,
            last_arrival: None,
            behind: None,
            least_delay: None,
            match_total: 0,
            match_at: None,
        }
    }

    /// Recompiles the search and counts its matches among the kept lines.
    pub fn research(&mut self) {
        self.search.compile();
        self.match_at = None;
        self.match_total = if self.search.is_active() {
            self.merged.iter().filter(|e| self.entry_matches(e)).count()
        } else {
            0
        };
    }

    fn entry_matches(&self, e: &Entry) -> bool {
        self.line(e)
            .is_some_and(|(_, l)| l.test_text(|t| self.search.is_match(t)))
    }

    /// [`push`](Self::push) at `now`: notes when lines arrive and how late. The first batch
    /// of a stream is its tail (old lines), so only later ones measure delay.
    pub fn push_at(&mut self, batch: LogBatch, now: jiff::Timestamp) {
        let newest = batch.lines.last().map(|l| l.at);
        let live = self
            .streams
            .get(usize::from(batch.stream))
            .is_some_and(|s| !s.lines.is_empty() || s.dropped > 0);
        self.push(batch);
        let Some(at) = newest else {
            return;
        };
        self.last_arrival = Some(now);
        if live {
            let delay = now.as_millisecond() - at.as_millisecond();
            let least = *self.least_delay.get_or_insert(delay);
            self.least_delay = Some(least.min(delay));
            self.behind = u64::try_from(delay - least.min(delay))
                .ok()
                .map(std::time::Duration::from_millis);
        }
    }

    /// Several streams: lines carry their stream's tag.
    pub fn is_merged(&self) -> bool {
        self.streams.len() > 1
    }

    pub fn dropped(&self) -> u64 {
        self.streams.iter().map(|s| s.dropped).sum()
    }

    pub fn duplicates(&self) -> u64 {
        self.streams.iter().map(|s| s.duplicates).sum()
    }

    pub fn buffered(&self) -> usize {
        self.streams.iter().map(LogStream::len).sum()
    }

    /// Adds a batch: each line goes into its stream's ring and into the merged order by time.
    pub fn push(&mut self, batch: LogBatch) {
        let Some(stream) = self.streams.get_mut(usize::from(batch.stream)) else {
            return;
        };
        stream.duplicates += batch.duplicates;
        stream.paused = batch.paused;
        self.received += batch.lines.len() as u64;
        let search = self.search.is_active().then_some(&self.search);
        let hit = |l: &LogLine| search.is_some_and(|s| l.test_text(|t| s.is_match(t)));
        for line in batch.lines {
            if hit(&line) {
                self.match_total += 1;
            }
            let entry = Entry {
                at: line.at,
                stream: batch.stream,
                seq: stream.first_seq + stream.lines.len() as u64,
            };
            stream.lines.push_back(line);
            if stream.lines.len() > self.cap {
                if stream.lines.pop_front().is_some_and(|l| hit(&l)) {
                    self.match_total = self.match_total.saturating_sub(1);
                    self.match_at = self
                        .match_at
                        .and_then(|i| i.checked_sub(1))
                        .filter(|i| *i > 0);
                }
                stream.first_seq += 1;
                stream.dropped += 1;
                self.stale += 1;
            }
            // Usually in order; the first tails of several streams and stdout/stderr races
            // are not, and go to their place by time.
            if self.merged.back().is_none_or(|last| last.at <= entry.at) {
                self.merged.push_back(entry);
            } else {
                let at = self.merged.partition_point(|e| e.at <= entry.at);
                self.merged.insert(at, entry);
            }
        }
        self.compact();
    }

    fn is_live(&self, e: &Entry) -> bool {
        is_live(&self.streams, e)
    }

    /// Forgets merged entries whose lines were pushed out: at the front at once, elsewhere
    /// when they are many.
    fn compact(&mut self) {
        while self.stale > 0 {
            match self.merged.front() {
                Some(e) if !self.is_live(e) => {
                    self.merged.pop_front();
                    self.stale -= 1;
                }
                _ => break,
            }
        }
        if self.stale > self.merged.len() / 4 {
            let streams = &self.streams;
            self.merged.retain(|e| is_live(streams, e));
            self.stale = 0;
        }
    }

    fn line(&self, e: &Entry) -> Option<(&LogStream, &LogLine)> {
        let s = self.streams.get(usize::from(e.stream))?;
        Some((s, s.get(e.seq)?))
    }

    /// The line at merged index `i` if it is kept and passes the filter.
    fn shown(&self, i: usize) -> Option<(&LogStream, &LogLine)> {
        let (s, l) = self.line(self.merged.get(i)?)?;
        (!self.search.only_matching || !self.search.is_active() || self.search.is_match(&l.text))
            .then_some((s, l))
    }

    /// Merged index of the bottom line: the newest, or the anchor when paused.
    fn bottom(&self) -> Option<usize> {
        let Some(anchor) = self.anchor.filter(|_| !self.follow) else {
            return self.newest();
        };
        let start = self.merged.partition_point(|e| e.at < anchor.at);
        let exact = (start..self.merged.len())
            .take_while(|&i| self.merged[i].at == anchor.at)
            .find(|&i| self.merged[i] == anchor);
        // The anchor line left the ring (or the filter hides it): the nearest shown line.
        let i = exact.unwrap_or(start.min(self.merged.len().saturating_sub(1)));
        self.shown_from(i).or_else(|| self.shown_before(i))
    }

    /// The first shown line at or after merged index `i`.
    fn shown_from(&self, i: usize) -> Option<usize> {
        (i..self.merged.len()).find(|&j| self.shown(j).is_some())
    }

    /// The last shown line before merged index `i`.
    fn shown_before(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|&j| self.shown(j).is_some())
    }

    fn newest(&self) -> Option<usize> {
        self.shown_before(self.merged.len())
    }

    /// The lines that fill `rows` screen rows, oldest first, ending at the bottom line.
    /// `height` says how many rows a line takes (more than one when wrapping).
    pub fn window(
        &self,
        rows: usize,
        height: impl Fn(&LogStream, &LogLine) -> usize,
    ) -> Vec<(&LogStream, &LogLine)> {
        let mut out = Vec::new();
        let Some(bottom) = self.bottom() else {
            return out;
        };
        let mut used = 0;
        for i in (0..=bottom).rev() {
            if used >= rows {
                break;
            }
            if let Some((s, l)) = self.shown(i) {
                used += height(s, l).max(1);
                out.push((s, l));
            }
        }
        out.reverse();
        out
    }

    /// Scrolls by `delta` shown lines (negative: older). Scrolling up pauses the follow;
    /// coming back down to the newest line resumes it.
    pub fn scroll(&mut self, delta: isize) {
        let Some(from) = self.bottom() else {
            return;
        };
        let mut i = from;
        let mut left = delta.unsigned_abs();
        while left > 0 {
            let next = if delta < 0 {
                self.shown_before(i)
            } else {
                self.shown_from(i + 1)
            };
            match next {
                Some(j) => i = j,
                None => break,
            }
            left -= 1;
        }
        if delta > 0 && Some(i) == self.newest() {
            self.resume();
        } else {
            self.pause_at(i);
        }
    }

    fn pause_at(&mut self, i: usize) {
        self.follow = false;
        self.anchor = self.merged.get(i).copied();
    }

    /// End / G: back to the newest line, following.
    pub fn resume(&mut self) {
        self.follow = true;
        self.anchor = None;
        self.match_at = None;
    }

    /// Home / g: the oldest line kept.
    pub fn top(&mut self) {
        if let Some(i) = self.shown_from(0) {
            self.pause_at(i);
        }
    }

    /// Jumps to the nearest matching line older (`older`) or newer than the bottom line, or
    /// (`inclusive`) the bottom line itself when it matches. False when there is none.
    pub fn jump_to_match(&mut self, older: bool, inclusive: bool) -> bool {
        if !self.search.is_active() {
            return false;
        }
        let Some(from) = self.bottom() else {
            return false;
        };
        let hit = |i: &usize| {
            self.line(&self.merged[*i])
                .is_some_and(|(_, l)| self.search.is_match(&l.text))
        };
        let found = if older {
            let end = if inclusive { from + 1 } else { from };
            (0..end).rev().find(hit)
        } else {
            (from + 1..self.merged.len()).find(hit)
        };
        match found {
            Some(i) => {
                self.pause_at(i);
                let before = self
                    .merged
                    .range(..=i)
                    .filter(|e| self.entry_matches(e))
                    .count();
                self.match_at = Some(before);
                true
            }
            None => false,
        }
    }

    /// Every kept line in time order, as text, for saving.
    pub fn export(&self) -> String {
        let mut out = String::new();
        for e in &self.merged {
            let Some((s, l)) = self.line(e) else { continue };
            out.push_str(&l.at.to_string());
            out.push(' ');
            if self.is_merged() {
                out.push_str(&s.tag);
                out.push_str(" | ");
            }
            out.push_str(&l.text);
            out.push('\n');
        }
        out
    }
}

/// The log pane's tab. The open log view itself lives on `App` (it follows in the background
/// while other panes are shown); its keys are handled there.
#[derive(Debug, Clone, Default)]
pub struct LogsPane {
    pub filter: super::Filter,
}

impl super::pane::PaneState for LogsPane {
    super::pane::filter_field!();
    fn contexts(&self) -> &'static [crate::config::keymap::Context] {
        use crate::config::keymap::Context;
        &[Context::List, Context::Containers, Context::Logs]
    }
}

impl super::App {
    /// l / L: opens a log view on the selected row: a container, a service's replicas, a
    /// project, or every container of a host; with `everywhere`, the selected service on every
    /// host that runs it. The previous view stops following.
    pub(super) fn open_logs(&mut self, everywhere: bool) -> Vec<Effect> {
        use super::containers::RowKey;
        let Some(key) = (self.pane == super::Pane::Containers)
            .then(|| self.selected_container_row())
            .flatten()
        else {
            self.status =
                Some("select a container, a service or a host in the containers pane".into());
            return Vec::new();
        };
        let containers_of = |host: HostId| {
            self.hosts
                .get(host.0)
                .and_then(|h| h.containers.as_ref())
                .and_then(|o| o.latest())
                .map_or(&[][..], |s| &s.containers[..])
        };
        let name_of = |host: HostId| self.hosts.get(host.0).map_or("?", |h| h.name.as_str());
        let service_of = |host: HostId, id: &str| {
            containers_of(host)
                .iter()
                .find(|c| c.id == id)
                .and_then(|c| Some((c.project.clone(), c.service.clone()?)))
        };
        if !everywhere {
            let (scope, title, members) = match key {
                RowKey::Container(h, id) => {
                    let Some(c) = containers_of(h).iter().find(|c| c.id == id) else {
                        return Vec::new();
                    };
                    let scope = LogScope::Container {
                        host: h,
                        name: c.name.clone(),
                    };
                    (scope, format!("{} on {}", c.name, name_of(h)), vec![(h, c)])
                }
                RowKey::Service(h, project, service) => {
                    let members = containers_of(h)
                        .iter()
                        .filter(|c| c.project == project && c.service.as_deref() == Some(&service))
                        .map(|c| (h, c))
                        .collect();
                    let title = format!("{}{service} on {}", prefix(&project), name_of(h));
                    let scope = LogScope::Service {
                        host: h,
                        project,
                        service,
                    };
                    (scope, title, members)
                }
                RowKey::Project(h, project) => {
                    let members = containers_of(h)
                        .iter()
                        .filter(|c| c.project == project)
                        .map(|c| (h, c))
                        .collect();
                    let title = format!(
                        "{} on {}",
                        project.as_deref().unwrap_or("containers without a project"),
                        name_of(h)
                    );
                    (LogScope::Project { host: h, project }, title, members)
                }
                RowKey::Host(h) => {
                    let members = containers_of(h).iter().map(|c| (h, c)).collect();
                    let title = format!("every container on {}", name_of(h));
                    (LogScope::Host(h), title, members)
                }
            };
            let members = members.into_iter().map(|(h, c)| (h, c.clone())).collect();
            return self.start_view(scope, title, members);
        }
        let (project, service) = match key {
            RowKey::Service(_, project, service) => (project, service),
            RowKey::Container(h, id) => match service_of(h, &id) {
                Some(ps) => ps,
                None => {
                    self.status = Some("this container is not part of a compose service".into());
                    return Vec::new();
                }
            },
            _ => {
                self.status = Some("select a service or one of its containers".into());
                return Vec::new();
            }
        };
        // The same service on every host.
        let members: Vec<(HostId, &Container)> = self
            .hosts
            .iter()
            .filter(|h| !h.tunnels_only)
            .flat_map(|h| containers_of(h.id).iter().map(move |c| (h.id, c)))
            .filter(|(_, c)| c.service.as_deref() == Some(&service))
            .collect();
        let hosts: std::collections::BTreeSet<HostId> = members.iter().map(|(h, _)| *h).collect();
        let title = format!(
            "{service} on {} host{}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        );
        let scope = LogScope::Everywhere { project, service };
        let members = members.into_iter().map(|(h, c)| (h, c.clone())).collect();
        self.start_view(scope, title, members)
    }

    fn start_view(
        &mut self,
        scope: LogScope,
        title: String,
        mut members: Vec<(HostId, Container)>,
    ) -> Vec<Effect> {
        if members.is_empty() {
            self.status = Some("no containers to follow there".into());
            return Vec::new();
        }
        members.sort_by_key(|(h, c)| {
            (
                *h,
                c.project.clone(),
                c.service.clone(),
                c.replica,
                c.name.clone(),
            )
        });
        let several_hosts = members.iter().any(|(h, _)| *h != members[0].0);
        let streams: Vec<LogStream> = members
            .iter()
            .map(|(h, c)| {
                let short = match (&c.service, c.replica) {
                    (Some(s), Some(r)) if !c.oneoff => format!("{s}-{r}"),
                    _ => c.name.clone(),
                };
                let tag = if several_hosts {
                    format!(
                        "{}:{short}",
                        self.hosts.get(h.0).map_or("?", |x| x.name.as_str())
                    )
                } else {
                    short
                };
                LogStream::new(*h, c.id.clone(), tag)
            })
            .collect();
        let mut effects = self.close_logs();
        self.next_view += 1;
        let id = self.next_view;
        let mut by_host: std::collections::BTreeMap<HostId, Vec<Follow>> = Default::default();
        for (i, s) in streams.iter().enumerate() {
            by_host.entry(s.host).or_default().push(Follow {
                stream: u16::try_from(i).unwrap_or(u16::MAX),
                container: s.container.clone(),
            });
        }
        let tail = self.log_settings.tail;
        effects.extend(by_host.into_iter().map(|(host, follows)| {
            Effect::Send(
                host,
                HostCommand::FollowLogs {
                    view: id,
                    follows,
                    tail,
                },
            )
        }));
        let mut view = LogView::new(id, scope, title, streams, self.log_settings.buffer);
        view.opened_at = Some(self.now);
        self.logs = Some(view);
        self.pane = super::Pane::Logs;
        effects
    }

    /// Stops the open view's follows.
    fn close_logs(&mut self) -> Vec<Effect> {
        let Some(view) = self.logs.take() else {
            return Vec::new();
        };
        let hosts: std::collections::BTreeSet<HostId> =
            view.streams.iter().map(|s| s.host).collect();
        hosts
            .into_iter()
            .map(|h| Effect::Send(h, HostCommand::StopLogs { view: view.id }))
            .collect()
    }

    /// An action in the log pane; None when it is not the log pane's to handle.
    pub(super) fn on_log_action(&mut self, action: Action) -> Option<Vec<Effect>> {
        let page = self.page();
        let view = self.logs.as_mut()?;
        match action {
            Action::Up => view.scroll(-1),
            Action::Down => view.scroll(1),
            Action::PageUp => view.scroll(-page),
            Action::PageDown => view.scroll(page),
            Action::Top => view.top(),
            Action::Bottom => view.resume(),
            Action::Filter => {
                view.search.editing = true;
                view.search.text.clear();
                view.research();
            }
            Action::SearchOlder | Action::SearchNewer => {
                let older = action == Action::SearchOlder;
                if !view.search.is_active() {
                    self.status = Some("no search: press / and type".into());
                } else if !view.jump_to_match(older, false) {
                    self.status = Some(format!(
                        "no {} match for “{}”",
                        if older { "older" } else { "newer" },
                        crate::sanitize::plain(&view.search.text)
                    ));
                }
            }
            Action::OnlyMatching => view.search.only_matching = !view.search.only_matching,
            Action::ToggleRegex => {
                view.search.regex = !view.search.regex;
                view.research();
            }
            Action::ToggleCase => {
                view.search.case_sensitive = !view.search.case_sensitive;
                view.research();
            }
            Action::Timestamps => view.timestamps = !view.timestamps,
            Action::Wrap => view.wrap = !view.wrap,
            Action::Save => {
                let stamp = self.now.strftime("%Y%m%d-%H%M%S");
                let name: String = view
                    .title
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let path = self
                    .state_dir
                    .join("logs")
                    .join(format!("{name}-{stamp}.log"));
                return Some(vec![Effect::Save {
                    path,
                    text: view.export(),
                }]);
            }
            Action::Back => {
                if view.search.is_active() || !view.search.text.is_empty() {
                    view.search = Search::default();
                } else {
                    let effects = self.close_logs();
                    self.pane = super::Pane::Containers;
                    return Some(effects);
                }
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Typing a search: live highlight, Enter jumps to the newest match, Esc cancels.
    pub(super) fn on_search_key(&mut self, key: KeyEvent) {
        let Some(view) = self.logs.as_mut() else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                view.search.text.push(c);
                view.research();
            }
            KeyCode::Backspace => {
                view.search.text.pop();
                view.research();
            }
            KeyCode::Enter => {
                view.search.editing = false;
                if view.search.is_active() && !view.jump_to_match(true, true) {
                    self.status = Some(format!(
                        "no match for “{}”",
                        crate::sanitize::plain(&view.search.text)
                    ));
                }
            }
            KeyCode::Esc => view.search = Search::default(),
            _ => {}
        }
    }
}

fn prefix(project: &Option<String>) -> String {
    project
        .as_deref()
        .map(|p| format!("{p}/"))
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collect::logs::line::render;

    pub fn line(sec: i64, text: &str) -> LogLine {
        render(Timestamp::from_second(sec).unwrap(), false, text.as_bytes())
    }

    fn batch(stream: u16, lines: Vec<LogLine>) -> LogBatch {
        LogBatch {
            view: 1,
            stream,
            lines,
            duplicates: 0,
            paused: None,
        }
    }

    pub fn view(streams: usize, cap: usize) -> LogView {
        let streams = (0..streams)
            .map(|i| LogStream::new(HostId(0), format!("c{i}"), format!("api-{}", i + 1)))
            .collect();
        LogView::new(1, LogScope::Host(HostId(0)), "test".into(), streams, cap)
    }

    fn texts(v: &LogView, rows: usize) -> Vec<String> {
        v.window(rows, |_, _| 1)
            .into_iter()
            .map(|(s, l)| format!("{}:{}", s.tag, l.text))
            .collect()
    }

    #[test]
    fn the_search_counts_its_matches_and_where_n_stopped() {
        let mut v = view(1, 4);
        v.push(batch(
            0,
            vec![
                line(1, "ok"),
                line(2, "ERROR a"),
                line(3, "ok"),
                line(4, "ERROR b"),
            ],
        ));
        v.search.text = "error".into();
        v.research();
        assert_eq!((v.match_total, v.match_at), (2, None));
        assert!(v.jump_to_match(true, true));
        assert_eq!(v.match_at, Some(2), "the newest of two");
        assert!(v.jump_to_match(true, false));
        assert_eq!(v.match_at, Some(1));
        // New lines count as they come; one that leaves the ring is counted out.
        v.push(batch(0, vec![line(5, "ERROR c"), line(6, "ok")]));
        assert_eq!(v.match_total, 2, "ERROR a left the ring, ERROR c came");
        v.resume();
        assert_eq!(v.match_at, None);
    }

    #[test]
    fn late_lines_are_measured_against_the_least_delay_seen_and_the_tail_does_not_count() {
        let mut v = view(1, 100);
        let t = |sec: i64| Timestamp::from_second(sec).unwrap();
        // The tail: old lines, arriving now; not a delay.
        v.push_at(batch(0, vec![line(0, "old"), line(10, "older")]), t(1000));
        assert_eq!((v.behind, v.last_arrival), (None, Some(t(1000))));
        // Live lines 2 s after they were written (the host's clock may be off by that much).
        v.push_at(batch(0, vec![line(1008, "a")]), t(1010));
        assert_eq!(v.behind, Some(std::time::Duration::ZERO));
        // A starved link: written at 1020, arriving at 1060: 40 s late beyond those 2 s.
        v.push_at(batch(0, vec![line(1020, "b")]), t(1060));
        assert_eq!(v.behind, Some(std::time::Duration::from_secs(38)));
        // An empty batch (a pause notice) is not an arrival.
        v.push_at(batch(0, Vec::new()), t(2000));
        assert_eq!(v.last_arrival, Some(t(1060)));
    }

    #[test]
    fn streams_merge_in_time_order_whatever_the_arrival_order() {
        let mut v = view(2, 100);
        v.push(batch(0, vec![line(10, "a1"), line(30, "a3")]));
        v.push(batch(
            1,
            vec![line(5, "b0"), line(20, "b2"), line(40, "b4")],
        ));
        assert_eq!(
            texts(&v, 10),
            ["api-2:b0", "api-1:a1", "api-2:b2", "api-1:a3", "api-2:b4"]
        );
    }

    #[test]
    fn each_stream_is_a_bounded_ring_and_drops_are_counted() {
        let mut v = view(2, 3);
        v.push(batch(1, vec![line(1, "quiet")]));
        v.push(batch(
            0,
            (0..10).map(|i| line(10 + i, &format!("x{i}"))).collect(),
        ));
        assert_eq!(v.streams[0].len(), 3);
        assert_eq!(v.streams[0].dropped, 7);
        assert_eq!(v.dropped(), 7);
        // The quiet stream's line is not pushed out by the busy one.
        assert_eq!(
            texts(&v, 10),
            ["api-2:quiet", "api-1:x7", "api-1:x8", "api-1:x9"]
        );
        assert!(v.merged.len() <= 4 + v.stale);
    }

    #[test]
    fn scrolling_up_pauses_and_new_lines_do_not_move_the_view() {
        let mut v = view(1, 100);
        v.push(batch(
            0,
            (0..10).map(|i| line(i, &format!("l{i}"))).collect(),
        ));
        v.scroll(-3);
        assert!(!v.follow);
        assert_eq!(texts(&v, 2), ["api-1:l5", "api-1:l6"]);
        v.push(batch(0, vec![line(100, "new")]));
        assert_eq!(texts(&v, 2), ["api-1:l5", "api-1:l6"]);
        v.scroll(100);
        assert!(v.follow, "back at the newest line: following again");
        assert_eq!(texts(&v, 1), ["api-1:new"]);
    }

    #[test]
    fn search_jumps_between_matches_and_filter_shows_only_them() {
        let mut v = view(1, 100);
        let lines = ["ok 1", "ERROR disk", "ok 2", "error net", "ok 3"];
        v.push(batch(
            0,
            lines
                .iter()
                .enumerate()
                .map(|(i, t)| line(i as i64, t))
                .collect(),
        ));
        v.search.text = "error".into();
        v.search.compile();
        assert!(v.jump_to_match(true, true));
        assert_eq!(texts(&v, 1), ["api-1:error net"]);
        assert!(v.jump_to_match(true, false));
        assert_eq!(texts(&v, 1), ["api-1:ERROR disk"]);
        assert!(!v.jump_to_match(true, false), "no older match");
        v.search.case_sensitive = true;
        v.search.compile();
        v.resume();
        v.search.only_matching = true;
        assert_eq!(texts(&v, 10), ["api-1:error net"]);
        v.search.text = "ok [13]".into();
        v.search.regex = true;
        v.search.compile();
        assert_eq!(texts(&v, 10), ["api-1:ok 1", "api-1:ok 3"]);
        assert_eq!(v.search.find_all("xx ok 3 ok 1"), [3..7, 8..12]);
        v.search.text = "(".into();
        v.search.compile();
        assert!(v.search.error.is_some());
    }

    #[test]
    fn wrapped_lines_take_their_rows() {
        let mut v = view(1, 100);
        v.push(batch(
            0,
            (0..5).map(|i| line(i, &format!("l{i}"))).collect(),
        ));
        let shown = v.window(5, |_, l| if l.text.as_ref() == "l4" { 3 } else { 1 });
        assert_eq!(shown.len(), 3, "l2, l3 and l4 over three rows");
    }

    #[test]
    fn export_holds_every_kept_line_with_time_and_tag() {
        let mut v = view(2, 100);
        v.push(batch(0, vec![line(10, "a")]));
        v.push(batch(1, vec![line(5, "b")]));
        let text = v.export();
        assert_eq!(
            text,
            "1970-01-01T00:00:05Z api-2 | b\n1970-01-01T00:00:10Z api-1 | a\n"
        );
    }
}
