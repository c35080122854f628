//! The terminal: raw mode and the alternate screen (restored on quit, error, panic, SIGTERM
//! and SIGHUP), and the one loop that owns the `App`. The loop never awaits the network: it
//! selects over terminal input, host events, a 1 Hz clock and the next frame deadline. A frame
//! is rendered when an event arrived (at most ~30 a second after keys, 10 for what hosts send),
//! when the clock changed a verdict, or when a value drawn from the clock changes its look (an
//! age on screen going from "3s" to "4s": the drawing notes when, see `text::changes_in`); it
//! is written only when it differs from what is shown (compared by hash), so an idle console
//! renders nothing and writes nothing. However the loop ends, jobs
//! still running are audited "abandoned" and get a few seconds to cancel and clean up.

use std::hash::BuildHasher;
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute, queue};
use futures_util::StreamExt;
use jiff::Timestamp;
use ratatui::Terminal;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

use crate::actions::{JobId, Progress};
use crate::app::{App, Effect};
use crate::config::Settings;
use crate::event::{AppEvent, HostCommand, HostEvent, HostId};
use crate::host::{self, HostHandle};
use crate::link::ssh::session::Options;
use crate::ui;

pub mod terminfo;
pub mod wire;
use wire::Wire;

/// After a key, at most ~30 frames a second; bursts of events in between become one frame.
const MIN_FRAME_GAP: Duration = Duration::from_millis(33);
/// What hosts send (log lines, link states, job progress) is drawn at most 10 times a second:
/// a log firehose would otherwise redraw the whole pane 30 times a second for nobody to read.
const DATA_FRAME_GAP: Duration = Duration::from_millis(100);
/// What hosts measure on a schedule (samples every 2–30 s, round trips) is drawn at most once
/// a second: fifty hosts send about ten such events a second, and each frame draws them all.
/// (Container stats flow only for the rows on screen, which the admin is looking at.)
const SAMPLE_FRAME_GAP: Duration = Duration::from_secs(1);
/// How long jobs abandoned at exit get to cancel and clean up (a drill drops its scratch
/// database then; the terminal is already restored, and a line says what is awaited).
const CLEANUP_GRACE: Duration = Duration::from_secs(60);
/// Events taken from the channel per wakeup.
const BATCH: usize = 256;
/// A frame is rendered (and written if it changed) at least this often while the clock runs:
/// a guard, should a value drawn from the clock not say when it changes.
const TIME_GUARD: Duration = Duration::from_secs(60);

type Term = Terminal<Wire<BufWriter<Stdout>>>;

/// Set while the terminal is in raw mode on the alternate screen, so restoring is idempotent
/// and the panic hook knows whether it has anything to undo.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Runs the console until the user quits, the terminal goes away or a signal arrives.
pub async fn run(settings: Settings, theme: ui::theme::Theme, options: Options) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<AppEvent>(1024);
    let workers: Vec<HostHandle> = settings
        .hosts
        .iter()
        .enumerate()
        .map(|(i, spec)| host::spawn(HostId(i), spec.clone(), options.clone(), tx.clone()))
        .collect();
    let local = LocalFiles {
        audit: crate::actions::audit::path(&settings.state_dir),
        drills: crate::actions::history::path(&settings.state_dir),
        mutes: mutes_path(&settings.state_dir),
        from: crate::actions::audit::ssh_client(),
    };
    drop(tx);

    let mut app = App::new(&settings, Timestamp::now());
    match load_mutes(&local.mutes) {
        Ok(m) => app.load_mutes(m),
        Err(e) => app.status = Some(e),
    }
    let mut history = settings
        .hosts
        .iter()
        .any(|h| !h.drills.is_empty())
        .then(|| HistoryWatch::new(local.drills.clone()));
    if let Some(runs) = history.as_mut().and_then(HistoryWatch::changed) {
        app.load_drill_history(&runs);
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    let mut terminal = enter()?;
    let _restore = Restore;
    let size = terminal.size()?;
    app.update(AppEvent::Resize {
        width: size.width,
        height: size.height,
    });

    let mut notifier = crate::notify::Notifier::new(settings.notify.clone());
    let (mut input, _input_task) = spawn_input();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut incoming = Vec::with_capacity(BATCH);
    let mut pending = Vec::new();
    let mut hosts_open = true;
    // When the next frame is due; None: nothing changed since the last.
    let mut due = Some(Instant::now());
    let mut last_frame = Instant::now();
    let mut shown = OnScreen::default();
    // When a value drawn from the clock looks different next (None: nothing on screen does).
    let mut time_changes: Option<Instant> = None;
    // A job whose start could not be handed to its host ends refused: fed back next round.
    let mut undelivered: Vec<(JobId, String)> = Vec::new();
    let mut failed = None;

    loop {
        tokio::select! {
            ev = input.recv() => match ev {
                Some(Ok(Event::Key(key))) => pending.push(AppEvent::Key(key)),
                Some(Ok(Event::Resize(width, height))) => pending.push(AppEvent::Resize { width, height }),
                Some(Ok(_)) => {}
                // The terminal is gone (a closed SSH session or tmux pane): nothing left to show.
                Some(Err(_)) | None => break,
            },
            n = rx.recv_many(&mut incoming, BATCH), if hosts_open => hosts_open = n > 0,
            _ = clock.tick() => {
                pending.push(AppEvent::Clock(Timestamp::now()));
                // A drill run from cron (or another console) lands in the file.
                if let Some(runs) = history.as_mut().and_then(HistoryWatch::changed) {
                    app.load_drill_history(&runs);
                    due = Some(Instant::now());
                }
            }
            () = sleep_until(due.unwrap_or(last_frame)), if due.is_some() => {
                // A write error means the terminal is gone: leave through the exit path.
                match draw(&mut terminal, &app, &theme, &mut shown) {
                    Ok(next) => time_changes = next.map(|d| Instant::now() + d.saturating_sub(clock_lag(&app))),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
                due = None;
                last_frame = Instant::now();
            }
            _ = sigterm.recv() => break,
            _ = sighup.recv() => break,
            _ = sigint.recv() => break,
        }
        for ev in pending.drain(..).chain(incoming.drain(..)) {
            let gap = match ev {
                AppEvent::Key(_) | AppEvent::Resize { .. } => Some(MIN_FRAME_GAP),
                AppEvent::Clock(_) => None,
                AppEvent::Host(_, HostEvent::Sample(_) | HostEvent::Rtt(_)) if app.settled() => {
                    Some(SAMPLE_FRAME_GAP)
                }
                _ => Some(DATA_FRAME_GAP),
            };
            let verdicts = gap.is_none().then(|| app.alerts.clone());
            apply(&mut app, ev, &workers, &local, &mut undelivered);
            let gap = gap.filter(|_| !app.take_unchanged());
            // The passing of time shows only through verdicts and through the values drawn
            // that said when they change.
            let now = Instant::now();
            let gap = gap.or_else(|| {
                (verdicts.is_some_and(|v| v != app.alerts)
                    || time_changes.is_some_and(|t| t <= now)
                    || now >= last_frame + TIME_GUARD)
                    .then_some(DATA_FRAME_GAP)
            });
            if let Some(gap) = gap {
                let at = last_frame + gap;
                due = Some(due.map_or(at, |d| d.min(at)));
            }
        }
        refuse_undelivered(&mut app, &mut undelivered, &workers, &local);
        let news = app.take_notices();
        let bytes = notifier.on_alerts(&news, app.active_counts());
        if let Some(why) = notifier.take_failure() {
            app.status = Some(why);
        }
        if !bytes.is_empty() {
            let w = terminal.backend_mut();
            if let Err(e) = w.write_all(&bytes).and_then(|()| w.flush()) {
                failed = Some(e);
                break;
            }
        }
        if app.should_quit() {
            break;
        }
    }
    // Every way out passes here: q, a signal, the terminal gone, a failed write. What hosts
    // already reported is taken in first, so a job that has ended is not called abandoned.
    while let Ok(ev) = rx.try_recv() {
        apply(&mut app, ev, &workers, &local, &mut undelivered);
    }
    refuse_undelivered(&mut app, &mut undelivered, &workers, &local);
    let mut abandoned = Vec::new();
    for effect in app.exit() {
        if let Effect::Send(_, HostCommand::CancelJob(id)) = &effect {
            abandoned.push(*id);
        }
        dispatch(effect, &workers, &local);
    }
    drop(_restore);
    // The title the terminal had, back (after the alternate screen is left).
    let _ = io::stdout()
        .write_all(notifier.finish())
        .and_then(|()| io::stdout().flush());
    let signals = [&mut sigterm, &mut sigint, &mut sighup];
    wait_for_cancels(&mut app, &mut rx, abandoned, &workers, &local, signals).await;
    drop(workers);
    failed.map_or(Ok(()), Err)
}

/// One event into the App, and its effects out.
fn apply(
    app: &mut App,
    ev: AppEvent,
    workers: &[HostHandle],
    local: &LocalFiles,
    undelivered: &mut Vec<(JobId, String)>,
) {
    for effect in app.update(ev) {
        let run = match &effect {
            Effect::Send(_, HostCommand::Run(req)) => Some(req.id),
            _ => None,
        };
        if let Some(msg) = dispatch(effect, workers, local) {
            match run {
                Some(id) => undelivered.push((id, msg)),
                None => app.status = Some(msg),
            }
        }
    }
}

/// Jobs whose start never reached their host end refused, audited as such (not "abandoned").
fn refuse_undelivered(
    app: &mut App,
    undelivered: &mut Vec<(JobId, String)>,
    workers: &[HostHandle],
    local: &LocalFiles,
) {
    for (id, why) in undelivered.drain(..) {
        for effect in app.job_undelivered(id, why) {
            dispatch(effect, workers, local);
        }
    }
}

/// Gives cancelled jobs up to [`CLEANUP_GRACE`] to end (and clean up) behind the restored
/// screen: the abandoned audit lines are written already, and each end that arrives meanwhile
/// gets its own line. A second SIGTERM, SIGINT or SIGHUP stops waiting.
async fn wait_for_cancels(
    app: &mut App,
    rx: &mut mpsc::Receiver<AppEvent>,
    mut jobs: Vec<JobId>,
    workers: &[HostHandle],
    local: &LocalFiles,
    [sigterm, sigint, sighup]: [&mut tokio::signal::unix::Signal; 3],
) {
    let deadline = Instant::now() + CLEANUP_GRACE;
    if !jobs.is_empty() {
        eprintln!(
            "watchfloor: waiting up to {}s for {} job(s) to cancel and clean up (Ctrl-C leaves now)",
            CLEANUP_GRACE.as_secs(),
            jobs.len()
        );
    }
    while !jobs.is_empty() {
        let ev = tokio::select! {
            r = tokio::time::timeout_at(deadline, rx.recv()) => match r {
                Ok(Some(ev)) => ev,
                Ok(None) | Err(_) => return,
            },
            _ = sigterm.recv() => return,
            _ = sigint.recv() => return,
            _ = sighup.recv() => return,
        };
        // A job's end, and a drill's record just before it (for the drill history).
        let AppEvent::Host(_, HostEvent::Action(id, progress)) = &ev else {
            continue;
        };
        match progress {
            Progress::Done { .. } => jobs.retain(|j| j != id),
            Progress::Drill(_) => {}
            _ => continue,
        }
        for effect in app.update(ev) {
            dispatch(effect, workers, local);
        }
    }
}

/// Terminal input, read by its own task. Polling crossterm's EventStream is not free (it
/// contends for the reader lock its background thread holds, spinning and yielding), and
/// `select!` polls every branch each time any event arrives: under a log firehose that was
/// a tenth of a core. A task of its own is polled only when a key or resize wakes it.
fn spawn_input() -> (mpsc::Receiver<io::Result<Event>>, crate::link::AbortOnDrop) {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut input = EventStream::new();
        while let Some(ev) = input.next().await {
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    (rx, crate::link::AbortOnDrop(task.abort_handle()))
}

/// Where local effects write.
struct LocalFiles {
    audit: std::path::PathBuf,
    drills: std::path::PathBuf,
    mutes: std::path::PathBuf,
    /// The admin's SSH client, recorded in each audit line.
    from: Option<String>,
}

/// Carries out an effect without waiting on the network; returns a message for the status bar.
/// Files are small local appends and writes, done here so they are on disk before quitting.
fn dispatch(effect: Effect, workers: &[HostHandle], local: &LocalFiles) -> Option<String> {
    match effect {
        Effect::Audit(mut record) => {
            record.from.clone_from(&local.from);
            crate::actions::audit::append(&local.audit, &record)
                .err()
                .map(|e| {
                    tracing::error!("audit log {}: {e}", local.audit.display());
                    format!(
                        "could not write the audit log {}: {e}",
                        local.audit.display()
                    )
                })
        }
        Effect::DrillRecord(run) => crate::actions::history::append(&local.drills, &run)
            .err()
            .map(|e| {
                tracing::error!("drill history {}: {e}", local.drills.display());
                format!(
                    "could not write the drill history {}: {e}",
                    local.drills.display()
                )
            }),
        Effect::SaveMutes(mutes) => {
            let text = serde_json::to_string_pretty(&mutes).unwrap_or_default();
            let tmp = local.mutes.with_extension("json.tmp");
            save(&tmp, &text)
                .and_then(|()| std::fs::rename(&tmp, &local.mutes))
                .err()
                .map(|e| format!("could not save {}: {e}", local.mutes.display()))
        }
        Effect::Save { path, text } => Some(match save(&path, &text) {
            Ok(()) => format!("saved {} lines to {}", text.lines().count(), path.display()),
            Err(e) => format!("could not save to {}: {e}", path.display()),
        }),
        Effect::Send(id, cmd) => {
            let worker = workers.iter().find(|w| w.id == id)?;
            match worker.commands.try_send(cmd) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Some(format!("host #{} is busy; try again in a moment", id.0 + 1))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    Some(format!("host #{} has stopped", id.0 + 1))
                }
            }
        }
    }
}

/// The drill history file, read again when its size or mtime changes (one stat a second).
struct HistoryWatch {
    path: std::path::PathBuf,
    seen: Option<(u64, std::time::SystemTime)>,
    read_once: bool,
}

impl HistoryWatch {
    fn new(path: std::path::PathBuf) -> Self {
        HistoryWatch {
            path,
            seen: None,
            read_once: false,
        }
    }

    /// The whole history, if the file changed since the last call (or on the first call).
    fn changed(&mut self) -> Option<Vec<crate::actions::history::DrillRun>> {
        let now = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        if self.read_once && now == self.seen {
            return None;
        }
        self.read_once = true;
        self.seen = now;
        match crate::actions::history::load(&self.path) {
            Ok((runs, bad)) => {
                if bad > 0 {
                    tracing::warn!(
                        "{}: {bad} lines that are not drill runs",
                        self.path.display()
                    );
                }
                Some(runs)
            }
            Err(e) => {
                tracing::error!("drill history {}: {e}", self.path.display());
                None
            }
        }
    }
}

/// Acknowledged and silenced alerts, in the state directory.
pub fn mutes_path(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("alerts-muted.json")
}

/// The saved acknowledgements and silences; none when the file does not exist. A file that
/// does not parse is reported, and replaced at the next change.
pub fn load_mutes(file: &std::path::Path) -> Result<crate::app::mutes::Mutes, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: {e}; acknowledgements start empty", file.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn save(path: &std::path::Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// What is on the screen: the hash of the last frame written, and a buffer reused to render
/// the next one. Keeping and comparing a copy of every cell cost more than drawing did while a
/// log firehose asked for ten frames a second; a 64-bit hash says the same.
#[derive(Default)]
struct OnScreen {
    hash: Option<u64>,
    scratch: Buffer,
    hasher: foldhash::fast::RandomState,
}

/// How far the app's clock is behind the wall clock (it moves once a second): a change noted
/// "in 1 s" from the app's now is due that much sooner.
fn clock_lag(app: &App) -> Duration {
    crate::text::elapsed(app.now, Timestamp::now())
}

/// Renders off-screen first and writes only if the frame differs from what is shown, inside a
/// synchronized update so slow links never show half a frame. Returns when a value drawn from
/// the clock changes its look next.
fn draw(
    terminal: &mut Term,
    app: &App,
    theme: &ui::theme::Theme,
    shown: &mut OnScreen,
) -> io::Result<Option<Duration>> {
    let size = terminal.size()?;
    let area = Rect::new(0, 0, size.width, size.height);
    if shown.scratch.area == area {
        shown.scratch.reset();
    } else {
        shown.scratch = Buffer::empty(area);
    }
    crate::text::take_next_change();
    ui::draw(app, theme, area, &mut shown.scratch);
    let next = crate::text::take_next_change();
    let hash = shown.hasher.hash_one(&shown.scratch);
    if shown.hash == Some(hash) {
        return Ok(next);
    }
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    let mut drawn = Some(hash);
    terminal.draw(|f| {
        if f.area() == area {
            // Ratatui's buffer (reset after its last flush) becomes the next scratch.
            std::mem::swap(f.buffer_mut(), &mut shown.scratch);
        } else {
            ui::draw(app, theme, f.area(), f.buffer_mut()); // resized in between: draw afresh
            drawn = None;
        }
    })?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    shown.hash = drawn;
    Ok(next)
}

fn enter() -> io::Result<Term> {
    crossterm::terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout());
    execute!(out, EnterAlternateScreen, cursor::Hide)?;
    let term = std::env::var("TERM").unwrap_or_default();
    let program = std::env::var("TERM_PROGRAM").ok();
    let caps = terminfo::Caps::detect(&term, program.as_deref());
    Terminal::new(Wire::new(out, caps))
}

/// Leaves the alternate screen and raw mode. Safe to call more than once, and from the panic
/// hook; errors are ignored because the terminal may already be gone (SIGHUP).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(
            out,
            EndSynchronizedUpdate,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = out.flush();
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Restores the terminal when the loop ends, however it ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// Makes panics restore the terminal before the report is printed.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
