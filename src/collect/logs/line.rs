//! From Docker's log frames to display-ready lines: split lines reassembled, re-sent lines
//! dropped, text made safe (no escape sequence or control character reaches the screen), colour
//! codes, JSON and level words turned into styled runs. Pure: no I/O. Allocation-light, because
//! this runs for every line of a container logging as fast as it can (≥ 200k lines/s, see
//! `benches/log_pipeline.rs`).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

use crate::sanitize::{self, Piece};

/// Lines longer than this are cut, and the cut is marked.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Appended to a cut line's text.
pub const CUT_MARKER: &str = " …[cut]";

/// Tab stops every this many display columns, as in a terminal.
const TAB: usize = 8;
/// How far into a line a text level word is looked for: levels come before the message.
const LEVEL_SCAN_BYTES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// The uppercase word shown for the level: "INFO", "ERROR", ….
    pub fn label(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

/// A colour a line's own SGR codes ask for: one of the 16 named ones (0–7 normal, 8–15
/// bright, in SGR order: black, red, green, yellow, blue, magenta, cyan, white), one of the 256
/// indexed, or RGB. Plain data: `ui/logs.rs` maps it to the terminal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Named(u8),
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// What a line's SGR codes ask for, as plain data. `Sgr::default()` is "no style".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sgr {
    pub fg: Option<Colour>,
    pub bg: Option<Colour>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underlined: bool,
    pub reversed: bool,
}

/// How a byte range of [`LogLine::text`] is drawn. The UI maps `Dim` and `Level` through the
/// theme; `Sgr` is what the line's own colour codes asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Sgr(Sgr),
    /// JSON fields other than time, level and message.
    Dim,
    /// The level word (JSON level value or the text level token).
    Level(Level),
}

/// A styled byte range of the text; runs are sorted, non-overlapping and on char boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: u32,
    pub end: u32,
    pub kind: RunKind,
}

/// Text is bounded (MAX_LINE_BYTES of input, tabs expanded at most 8-fold), so offsets fit u32.
fn run(start: usize, end: usize, kind: RunKind) -> Run {
    Run {
        start: start as u32,
        end: end as u32,
        kind,
    }
}

/// One log line: as Docker sent it, and what it shows as, rendered on first use. A firehose
/// brings far more lines than anyone looks at, and rendering was most of what a line cost;
/// the ring keeps the raw bytes and only lines drawn, searched or saved are rendered (once).
/// Derefs to that rendered form, [`Shown`].
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Docker's timestamp of the line (of its first part, for a line Docker split).
    pub at: Timestamp,
    pub stderr: bool,
    /// The line was longer than MAX_LINE_BYTES: cut, its text ends with CUT_MARKER.
    pub cut: bool,
    /// The payload (without its "\n"), at most MAX_LINE_BYTES of it.
    raw: Box<[u8]>,
    shown: OnceCell<Shown>,
}

/// A line ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Printable characters only (no C0/C1 control, no escape sequence, no bidi override),
    /// tabs expanded, JSON lines rendered as "time level message k=v …".
    pub text: Box<str>,
    pub runs: Box<[Run]>,
    pub level: Option<Level>,
}

impl PartialEq for LogLine {
    fn eq(&self, other: &LogLine) -> bool {
        (self.at, self.stderr, self.cut, &self.raw)
            == (other.at, other.stderr, other.cut, &other.raw)
    }
}

impl std::ops::Deref for LogLine {
    type Target = Shown;

    fn deref(&self) -> &Shown {
        self.shown.get_or_init(|| shown(&self.raw, self.cut))
    }
}

impl LogLine {
    /// `cut`: the end of `raw` was already dropped (a long line the Assembler stopped keeping).
    fn new(at: Timestamp, stderr: bool, raw: &[u8], cut: bool) -> LogLine {
        let (raw, cut) = match raw.get(..MAX_LINE_BYTES) {
            Some(kept) if raw.len() > MAX_LINE_BYTES => (kept, true),
            _ => (raw, cut),
        };
        LogLine {
            at,
            stderr,
            cut,
            raw: raw.into(),
            shown: OnceCell::new(),
        }
    }
}

impl LogLine {
    /// Whether the shown text satisfies `test`, without keeping the rendering when the line
    /// has not been drawn (counting search matches must not render the whole buffer for good).
    pub fn test_text(&self, test: impl Fn(&str) -> bool) -> bool {
        match self.shown.get() {
            Some(s) => test(&s.text),
            None => test(&shown(&self.raw, self.cut).text),
        }
    }
}

/// The line whose payload (without its "\n") is `raw`. Invalid UTF-8 shows as U+FFFD; a
/// trailing "\r" is dropped and, like a terminal, only the text written after the last other
/// "\r" shows (progress bars).
pub fn render(at: Timestamp, stderr: bool, raw: &[u8]) -> LogLine {
    LogLine::new(at, stderr, raw, false)
}

fn shown(raw: &[u8], cut: bool) -> Shown {
    let raw = if cut { trim_split_char(raw) } else { raw };
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    // Valid UTF-8, the usual case, is checked faster than from_utf8_lossy goes.
    let s = match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let Rendered {
        mut text,
        runs,
        level,
    } = render_json(&s).unwrap_or_else(|| render_text(&s));
    if cut {
        text.push_str(CUT_MARKER);
    }
    Shown {
        text: text.into_boxed_str(),
        runs: runs.into_boxed_slice(),
        level,
    }
}

/// A cut at an arbitrary byte may split a UTF-8 sequence: drop its start rather than show U+FFFD.
fn trim_split_char(raw: &[u8]) -> &[u8] {
    let Some(back) = raw.iter().rev().take(4).position(|&b| b & 0xC0 != 0x80) else {
        return raw;
    };
    let lead = raw.len() - 1 - back;
    let len = match raw[lead] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    };
    if raw.len() - lead < len {
        &raw[..lead]
    } else {
        raw
    }
}

struct Rendered {
    text: String,
    runs: Vec<Run>,
    level: Option<Level>,
}

/// Nothing for `sanitize::scan` to remove. Printable ASCII, the common case, needs no decoding.
fn is_clean(s: &str) -> bool {
    match s.bytes().position(|b| !(b' '..=b'~').contains(&b)) {
        None => true,
        // `i` is a control byte or the lead byte of a multi-byte char: a char boundary.
        Some(i) => !s[i..].chars().any(sanitize::is_unsafe),
    }
}

/// Appends `s` as plain text: sequences removed, tabs and line breaks as spaces.
fn push_plain(out: &mut String, s: &str) {
    if is_clean(s) {
        out.push_str(s);
        return;
    }
    sanitize::scan(s, |p| match p {
        Piece::Text(t) => out.push_str(t),
        Piece::Tab | Piece::Break(_) => out.push(' '),
        Piece::Sgr(_) => {}
    });
}

fn render_text(s: &str) -> Rendered {
    let (text, mut runs) = if is_clean(s) {
        (s.to_owned(), Vec::new())
    } else {
        let mut b = TextBuilder::new(s.len());
        sanitize::scan(s, |p| b.piece(p));
        b.finish()
    };
    let level = find_level(&text).map(|(start, end, level)| {
        // The line's own colours win over the theme's level colour.
        let i = runs.partition_point(|r| r.end as usize <= start);
        if runs.get(i).is_none_or(|r| r.start as usize >= end) {
            runs.insert(i, run(start, end, RunKind::Level(level)));
        }
        level
    });
    Rendered { text, runs, level }
}

/// Builds the shown text from scanned pieces: SGR codes become runs, tabs are expanded, and a
/// '\r' rewinds the line as a terminal would.
struct TextBuilder {
    text: String,
    runs: Vec<Run>,
    /// What the SGR codes so far ask for, and where in `text` that took effect.
    style: Sgr,
    style_from: usize,
    /// The display column at byte `col_at` of `text`; the width of what follows is only
    /// measured when a tab needs it.
    col: usize,
    col_at: usize,
    /// After a '\r': the length to go back to if nothing visible is written over the line, and
    /// where the text written over it starts.
    rewind: Option<(usize, usize)>,
}

impl TextBuilder {
    fn new(capacity: usize) -> TextBuilder {
        TextBuilder {
            text: String::with_capacity(capacity),
            runs: Vec::new(),
            style: Sgr::default(),
            style_from: 0,
            col: 0,
            col_at: 0,
            rewind: None,
        }
    }

    fn piece(&mut self, piece: Piece<'_>) {
        match piece {
            Piece::Text(t) => {
                if let Some((_, from)) = self.rewind
                    && t.chars().any(|c| !c.is_whitespace())
                {
                    self.drop_front(from);
                    self.rewind = None;
                }
                self.text.push_str(t);
            }
            Piece::Sgr(params) => {
                let style = apply_sgr(self.style, params);
                if style != self.style {
                    self.close_run();
                    self.style = style;
                    self.style_from = self.text.len();
                }
            }
            Piece::Tab => {
                let col = self.col + self.text[self.col_at..].width();
                let pad = TAB - col % TAB;
                self.text.extend(std::iter::repeat_n(' ', pad));
                self.col = col + pad;
                self.col_at = self.text.len();
            }
            Piece::Break('\r') => {
                let back_to = self.rewind.map_or(self.text.len(), |(back_to, _)| back_to);
                self.rewind = Some((back_to, self.text.len()));
                self.col = 0;
                self.col_at = self.text.len();
            }
            // `render` is given one line; a stray line break is a space.
            Piece::Break(_) => self.text.push(' '),
        }
    }

    /// The text written after a '\r' replaces what came before it.
    fn drop_front(&mut self, n: usize) {
        self.text.drain(..n);
        let n32 = n as u32;
        self.runs.retain_mut(|r| {
            r.start = r.start.saturating_sub(n32);
            r.end = r.end.saturating_sub(n32);
            r.start < r.end
        });
        self.style_from = self.style_from.saturating_sub(n);
        self.col_at = self.col_at.saturating_sub(n);
    }

    fn close_run(&mut self) {
        if self.style != Sgr::default() && self.style_from < self.text.len() {
            let kind = RunKind::Sgr(self.style);
            self.runs.push(run(self.style_from, self.text.len(), kind));
        }
    }

    fn finish(mut self) -> (String, Vec<Run>) {
        // Only blanks or sequences after the last '\r' (a progress bar's final "\r\x1b[K"):
        // they erase nothing worth losing the line for.
        if let Some((back_to, _)) = self.rewind {
            self.text.truncate(back_to);
            let end = back_to as u32;
            self.runs.retain_mut(|r| {
                r.end = r.end.min(end);
                r.start < r.end
            });
            self.style_from = self.style_from.min(back_to);
        }
        self.close_run();
        (self.text, self.runs)
    }
}

/// `style` after the SGR parameters `params` ("1;31", "38;5;208", "38:2::255:0:0"); unknown
/// codes are ignored. A reset style is `Sgr::default()` again.
fn apply_sgr(mut style: Sgr, params: &str) -> Sgr {
    let mut params = params.split(';');
    while let Some(param) = params.next() {
        let mut sub = param.split(':');
        let Some(code) = sub.next().and_then(sgr_number) else {
            continue;
        };
        // Extended colours take the next parameters ("38;5;n", "38;2;r;g;b") or, in the
        // ITU form, sub-parameters ("38:5:n", "38:2::r:g:b"). 58 (underline colour) is not
        // drawn, but its arguments must not be read as codes of their own.
        let extended = if matches!(code, 38 | 48 | 58) {
            if param.contains(':') {
                extended_colour(sub, true)
            } else {
                extended_colour(&mut params, false)
            }
        } else {
            None
        };
        // The code's offset from `base`: 0..=7 by the match arms below.
        let named =
            |base: u16, bright: u8| Colour::Named(u8::try_from(code - base).unwrap_or(0) + bright);
        match code {
            0 => style = Sgr::default(),
            1 => style.bold = true,
            2 => style.dim = true,
            3 => style.italic = true,
            4 => style.underlined = true,
            7 => style.reversed = true,
            22 => (style.bold, style.dim) = (false, false),
            23 => style.italic = false,
            24 => style.underlined = false,
            27 => style.reversed = false,
            30..=37 => style.fg = Some(named(30, 0)),
            38 => style.fg = extended.or(style.fg),
            39 => style.fg = None,
            40..=47 => style.bg = Some(named(40, 0)),
            48 => style.bg = extended.or(style.bg),
            49 => style.bg = None,
            90..=97 => style.fg = Some(named(90, 8)),
            100..=107 => style.bg = Some(named(100, 8)),
            _ => {}
        }
    }
    style
}

/// An SGR parameter; empty means 0.
fn sgr_number(s: &str) -> Option<u16> {
    if s.is_empty() {
        Some(0)
    } else {
        s.parse().ok()
    }
}

fn extended_colour<'a>(mut args: impl Iterator<Item = &'a str>, itu: bool) -> Option<Colour> {
    let byte = |s: &str| sgr_number(s).and_then(|n| u8::try_from(n).ok());
    match sgr_number(args.next()?)? {
        5 => Some(Colour::Indexed(byte(args.next()?)?)),
        2 => {
            let mut rgb = [args.next()?, args.next()?, args.next()?];
            // ITU T.416 puts a colour space id before r, g, b; often left empty.
            if itu && let Some(b) = args.next() {
                rgb = [rgb[1], rgb[2], b];
            }
            Some(Colour::Rgb(byte(rgb[0])?, byte(rgb[1])?, byte(rgb[2])?))
        }
        _ => None,
    }
}

/// Level names as values (JSON, logfmt, "[error]"), any case.
fn level_named(s: &str) -> Option<Level> {
    const NAMES: [(&str, Level); 15] = [
        ("trace", Level::Trace),
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("information", Level::Info),
        ("notice", Level::Info),
        ("warn", Level::Warn),
        ("warning", Level::Warn),
        ("error", Level::Error),
        ("err", Level::Error),
        ("fatal", Level::Fatal),
        ("critical", Level::Fatal),
        ("crit", Level::Fatal),
        ("panic", Level::Fatal),
        ("emerg", Level::Fatal),
        ("alert", Level::Fatal),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, level)| level)
}

/// Bare words taken for a level in text: uppercase only, as "Error" or "alert" are as likely
/// to be part of the message.
const LEVEL_WORDS: [&str; 11] = [
    "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT",
    "PANIC",
];

/// Bytes that make up a word. Non-ASCII counts as a letter, so a level never matches inside
/// "ÉRROR"-like words.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The first level token among the first LEVEL_SCAN_BYTES of `text`: a whole uppercase word
/// ("ERROR"), a bracketed one in any case ("[error]"), or a logfmt value ("level=warn").
/// Returns its byte range and level.
fn find_level(text: &str) -> Option<(usize, usize, Level)> {
    let b = text.as_bytes();
    let word_end = |from: usize| from + b[from..].iter().take_while(|&&c| is_word_byte(c)).count();
    let mut i = 0;
    while i < b.len().min(LEVEL_SCAN_BYTES) {
        if !is_word_byte(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i = word_end(start);
        // Word bounds are ASCII bytes or the ends of `text`: char boundaries.
        let word = &text[start..i];
        let before = start.checked_sub(1).map(|j| b[j]);
        let after = b.get(i).copied();
        if LEVEL_WORDS.contains(&word) {
            return level_named(word).map(|level| (start, i, level));
        }
        if before == Some(b'[')
            && after == Some(b']')
            && let Some(level) = level_named(word)
        {
            return Some((start, i, level));
        }
        if (word == "level" || word == "lvl") && after == Some(b'=') {
            let from = if b.get(i + 1) == Some(&b'"') {
                i + 2
            } else {
                i + 1
            };
            let end = word_end(from);
            if let Some(level) = level_named(&text[from..end]) {
                return Some((from, end, level));
            }
        }
    }
    None
}

/// A JSON value as logged; strings borrowed from the line when they have no escapes.
enum Val<'a> {
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
    Null,
    Nested(Value),
}

impl fmt::Display for Val<'_> {
    /// Strings as they are, the rest as compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Str(s) => f.write_str(s),
            Val::Num(n) => n.fmt(f),
            Val::Bool(b) => b.fmt(f),
            Val::Null => f.write_str("null"),
            Val::Nested(v) => v.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::Num(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(Val::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Val<'de>, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Val::Null, Val::Num))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Val<'de>, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Val::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Val<'de>, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Val::Nested)
    }
}

/// A JSON object's fields in the order logged (a `serde_json::Map` would sort them).
struct Fields<'a>(Vec<(Cow<'a, str>, Val<'a>)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Vec::with_capacity(8);
        while let Some((key, value)) = map.next_entry::<Val, Val>()? {
            // JSON keys are strings.
            let Val::Str(key) = key else {
                return Err(de::Error::custom("key is not a string"));
            };
            fields.push((key, value));
        }
        Ok(Fields(fields))
    }
}

/// Removes and returns the value of the first of `keys` present with a value `accept`s.
fn take_field<'a>(
    fields: &mut Vec<(Cow<'a, str>, Val<'a>)>,
    keys: &[&str],
    accept: impl Fn(&Val<'a>) -> bool,
) -> Option<Val<'a>> {
    keys.iter().find_map(|key| {
        let i = fields.iter().position(|(k, v)| k == key && accept(v))?;
        Some(fields.remove(i).1)
    })
}

fn json_level(v: &Val<'_>) -> Option<Level> {
    match v {
        Val::Str(s) => level_named(s),
        // pino and bunyan log levels as numbers.
        Val::Num(n) => match n.as_u64()? {
            10 => Some(Level::Trace),
            20 => Some(Level::Debug),
            30 => Some(Level::Info),
            40 => Some(Level::Warn),
            50 => Some(Level::Error),
            60 => Some(Level::Fatal),
            _ => None,
        },
        _ => None,
    }
}

/// Renders a JSON object line as "time LEVEL message k=v …"; None if `s` is not one.
fn render_json(s: &str) -> Option<Rendered> {
    let body = s.trim();
    if !body.starts_with('{') {
        return None;
    }
    let Fields(mut fields) = serde_json::from_str(body).ok()?;
    if fields.is_empty() {
        return None;
    }
    let time = take_field(
        &mut fields,
        &["time", "ts", "timestamp", "@timestamp", "t"],
        |v| matches!(v, Val::Str(_) | Val::Num(_)),
    );
    let level = take_field(
        &mut fields,
        &["level", "lvl", "severity", "log.level"],
        |v| json_level(v).is_some(),
    )
    .as_ref()
    .and_then(json_level);
    let message = take_field(&mut fields, &["msg", "message", "error"], |v| {
        !matches!(v, Val::Null)
    });

    let mut text = String::with_capacity(body.len());
    let mut runs = Vec::new();
    let mut buf = String::new();
    let mut push_val = |text: &mut String, v: &Val<'_>| match v {
        Val::Str(s) => push_plain(text, s),
        Val::Nested(_) => {
            // serde_json escapes controls in nested strings but not bidi overrides.
            buf.clear();
            let _ = write!(buf, "{v}");
            push_plain(text, &buf);
        }
        _ => {
            let _ = write!(text, "{v}");
        }
    };
    if let Some(time) = &time {
        push_val(&mut text, time);
        text.push(' ');
    }
    if let Some(level) = level {
        let start = text.len();
        text.push_str(level.label());
        runs.push(run(start, text.len(), RunKind::Level(level)));
        // Padded to the longest label, so that messages line up.
        text.extend(std::iter::repeat_n(' ', 6 - level.label().len()));
    }
    if let Some(message) = &message {
        push_val(&mut text, message);
        text.push(' ');
    }
    let tail = text.len();
    for (key, value) in &fields {
        push_plain(&mut text, key);
        text.push('=');
        match value {
            Val::Str(s) if needs_quotes(s) => push_quoted(&mut text, s),
            _ => push_val(&mut text, value),
        }
        text.push(' ');
    }
    text.truncate(text.trim_end().len());
    if tail < text.len() {
        runs.push(run(tail, text.len(), RunKind::Dim));
    }
    Some(Rendered { text, runs, level })
}

/// A value that would not read back as one logfmt value unquoted (or would hide characters).
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || sanitize::is_unsafe(c))
}

/// Appends `s` as a JSON string. Controls and bidi overrides show as `\u…` escapes.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if sanitize::is_unsafe(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reassembles lines from Docker log frames (requested with `timestamps=true`) and drops the
/// duplicates Docker re-sends when it rotates a json-file log during a follow.
pub struct Assembler {
    /// The line being assembled on stdout (0) and on stderr (1): Docker interleaves the two
    /// streams' messages, each may be split.
    partial: [Partial; 2],
    /// For a message without a timestamp of its own.
    last_at: Timestamp,
    minute: Minute,
    seen: Seen,
}

/// A line Docker delivered a first part of.
#[derive(Default)]
struct Partial {
    /// The first part's timestamp; None when no line is pending.
    at: Option<Timestamp>,
    /// At most MAX_LINE_BYTES: what comes after is dropped, and `over` says so.
    buf: Vec<u8>,
    over: bool,
}

impl Partial {
    fn append(&mut self, data: &[u8]) {
        let room = MAX_LINE_BYTES - self.buf.len();
        self.over |= data.len() > room;
        let data = &data[..data.len().min(room)];
        if self.buf.capacity() - self.buf.len() < data.len() {
            // Grow by doubling, as Vec would, but never past the cap.
            let want = (self.buf.len() * 2)
                .max(self.buf.len() + data.len())
                .min(MAX_LINE_BYTES);
            self.buf.reserve_exact(want - self.buf.len());
        }
        self.buf.extend_from_slice(data);
    }
}

/// The recent lines, to recognise re-sent ones.
struct Seen {
    window: usize,
    /// Keys of the last `window` lines let through, in time order: re-sent lines are never
    /// newer than the newest, so only those are looked up (by time, then payload).
    recent: VecDeque<LineKey>,
    /// The same keys in the order they came, to forget the oldest arrival (after a clock
    /// step back that is not the oldest time).
    arrivals: VecDeque<LineKey>,
    hasher: RandomState,
    dropped: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct LineKey {
    at: Timestamp,
    stderr: bool,
    payload: u64,
}

impl Seen {
    /// Keeps the line in `out` unless it is a re-sent one. `cut` says the end of `raw` was
    /// dropped already.
    fn emit(&mut self, at: Timestamp, stderr: bool, raw: &[u8], cut: bool, out: &mut Vec<LogLine>) {
        let line = LogLine::new(at, stderr, raw, cut);
        if self.window > 0 {
            let key = LineKey {
                at,
                stderr,
                payload: self.hasher.hash_one((&line.raw, line.cut)),
            };
            if self.recent.back().is_none_or(|newest| newest.at < at) {
                self.recent.push_back(key);
            } else {
                // Identical lines in the same nanosecond on the same stream count as one.
                let from = self.recent.partition_point(|k| k.at < at);
                let mut same_instant = self.recent.range(from..).take_while(|k| k.at == at);
                if same_instant.any(|k| *k == key) {
                    self.dropped += 1;
                    return;
                }
                // Out of order (stdout and stderr race): to its place in time.
                self.recent.insert(from, key);
            }
            self.arrivals.push_back(key);
            if self.arrivals.len() > self.window
                && let Some(old) = self.arrivals.pop_front()
            {
                self.forget(&old);
            }
        }
        out.push(line);
    }

    fn forget(&mut self, old: &LineKey) {
        // Lines in order, the usual case: the oldest arrival is the oldest time.
        if self.recent.front() == Some(old) {
            self.recent.pop_front();
            return;
        }
        let from = self.recent.partition_point(|k| k.at < old.at);
        let mut same_instant =
            (from..self.recent.len()).take_while(|&i| self.recent[i].at == old.at);
        if let Some(i) = same_instant.find(|&i| self.recent[i] == *old) {
            self.recent.remove(i);
        }
    }
}

impl Assembler {
    /// `dedup_window`: how many recent lines are remembered to recognise re-sent ones (0: none).
    pub fn new(dedup_window: usize) -> Assembler {
        Assembler {
            partial: Default::default(),
            last_at: Timestamp::UNIX_EPOCH,
            minute: None,
            seen: Seen {
                window: dedup_window,
                recent: VecDeque::with_capacity(dedup_window.min(4096)),
                arrivals: VecDeque::with_capacity(dedup_window.min(4096)),
                hasher: RandomState::default(),
                dropped: 0,
            },
        }
    }

    /// Feeds one frame's bytes; complete lines are appended to `out`.
    ///
    /// A frame holds messages, each "<RFC 3339 timestamp> <payload>". A payload ending in "\n"
    /// completes a line; one that does not is the first part of a line the next message on
    /// the same stream continues (its timestamp is ignored). Lines within one payload (TTY)
    /// share its timestamp; a frame without a timestamp takes the last one seen.
    pub fn push(&mut self, frame: &[u8], stderr: bool, out: &mut Vec<LogLine>) {
        let mut rest = frame;
        let mut at = self.last_at;
        while !rest.is_empty() {
            if let Some((ts, payload)) = split_timestamp(rest, &mut self.minute) {
                at = ts;
                self.last_at = ts;
                rest = payload;
            }
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                let partial = &mut self.partial[usize::from(stderr)];
                partial.at.get_or_insert(at);
                partial.append(rest);
                return;
            };
            let partial = &mut self.partial[usize::from(stderr)];
            match partial.at.take() {
                None => self.seen.emit(at, stderr, &rest[..nl], false, out),
                Some(first) => {
                    partial.append(&rest[..nl]);
                    self.seen
                        .emit(first, stderr, &partial.buf, partial.over, out);
                    partial.buf.clear();
                    partial.over = false;
                }
            }
            rest = &rest[nl + 1..];
        }
    }

    /// The stream ended: a pending partial line becomes a line.
    pub fn finish(&mut self, out: &mut Vec<LogLine>) {
        let mut streams = [false, true];
        streams.sort_by_key(|&stderr| self.partial[usize::from(stderr)].at);
        for stderr in streams {
            let partial = &mut self.partial[usize::from(stderr)];
            if let Some(at) = partial.at.take() {
                self.seen.emit(at, stderr, &partial.buf, partial.over, out);
                partial.buf.clear();
                partial.over = false;
            }
        }
    }

    /// Re-sent lines dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.seen.dropped
    }

    /// Bytes held for partial lines.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.partial.iter().map(|p| p.buf.capacity()).sum()
    }
}

/// Splits the "<RFC 3339 timestamp> " Docker puts before each message.
fn split_timestamp<'a>(b: &'a [u8], minute: &mut Minute) -> Option<(Timestamp, &'a [u8])> {
    let end = b.iter().take(40).position(|&c| c == b' ')?;
    let s = &b[..end];
    // Only what looks like a date goes further: TTY payload lines come here too, and jiff's
    // errors allocate.
    if s.len() < 20 || s[4] != b'-' || !s[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ts = match docker_time(s, minute) {
        Some(ts) => ts,
        None => std::str::from_utf8(s).ok()?.parse().ok()?,
    };
    Some((ts, &b[end + 1..]))
}

/// The minute of the last Docker timestamp read ("2026-11-23T16:00", validated) and its Unix
/// seconds: the next lines, mostly of the same minute, only read their seconds and fraction.
type Minute = Option<([u8; 16], i64)>;

/// Docker's own format, "2026-11-23T16:00:04.12345678Z" (UTC, the fraction without trailing
/// zeros, no fraction at all on a whole second), read by hand: jiff's general parser was a
/// tenth of what a firehose cost. None for anything else, which jiff then reads.
fn docker_time(s: &[u8], minute: &mut Minute) -> Option<Timestamp> {
    let num = |from: usize, len: usize| {
        s.get(from..from + len)?.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let prefix: [u8; 16] = s.get(..16)?.try_into().ok()?;
    let base = match *minute {
        Some((m, base)) if m == prefix => base,
        _ => {
            if s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' {
                return None;
            }
            let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
            let (hour, min) = (num(11, 2)?, num(14, 2)?);
            if hour > 23 || min > 59 {
                return None;
            }
            // Checks the day against the month.
            jiff::civil::Date::new(year as i16, month as i8, day as i8).ok()?;
            let base = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + min * 60;
            *minute = Some((prefix, base));
            base
        }
    };
    if s.get(16) != Some(&b':') {
        return None;
    }
    // A leap second (60) is left to jiff.
    let second = num(17, 2).filter(|second| (0..=59).contains(second))?;
    let (nanos, rest) = match s[19..].strip_prefix(b".") {
        Some(frac) => {
            let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            let n = num(20, digits)? * 10_i64.pow(9 - digits as u32);
            (n, &frac[digits..])
        }
        None => (0, &s[19..]),
    };
    if rest != b"Z" {
        return None;
    }
    Timestamp::new(base + second, nanos as i32).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::new(1_795_000_000 + second, 186_637_873).unwrap()
    }

    /// A Docker message: "<timestamp> <payload>".
    fn msg(second: i64, payload: &str) -> Vec<u8> {
        format!("{:.9} {payload}", at(second)).into_bytes()
    }

    fn line(raw: &str) -> LogLine {
        render(Timestamp::UNIX_EPOCH, false, raw.as_bytes())
    }

    fn feed(asm: &mut Assembler, frames: &[(Vec<u8>, bool)]) -> Vec<LogLine> {
        let mut out = Vec::new();
        for (frame, stderr) in frames {
            asm.push(frame, *stderr, &mut out);
        }
        out
    }

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| &*l.text).collect()
    }

    const RED: Colour = Colour::Named(1);

    fn sgr(style: Sgr, start: u32, end: u32) -> Run {
        Run {
            start,
            end,
            kind: RunKind::Sgr(style),
        }
    }

    /// What every line must satisfy, whatever the input.
    fn assert_invariants(l: &LogLine) {
        let text = &*l.text;
        assert!(!text.chars().any(sanitize::is_unsafe), "{text:?}");
        assert!(!text.contains('\t'), "{text:?}");
        let mut prev_end = 0;
        for r in &l.runs {
            let (start, end) = (r.start as usize, r.end as usize);
            assert!(
                prev_end <= start && start < end && end <= text.len(),
                "{l:?}"
            );
            assert!(
                text.is_char_boundary(start) && text.is_char_boundary(end),
                "{l:?}"
            );
            prev_end = end;
        }
        assert_eq!(l.cut, text.ends_with(CUT_MARKER), "{l:?}");
    }

    #[test]
    fn sgr_colours_become_runs_until_reset() {
        let l = line(
            "\u{1b}[1;31mred\u{1b}[0m plain \u{1b}[38;5;208morange\u{1b}[39m \u{1b}[48;2;1;2;3mbg\u{1b}[m",
        );
        assert_eq!(&*l.text, "red plain orange bg");
        assert_eq!(
            &*l.runs,
            [
                sgr(
                    Sgr {
                        fg: Some(RED),
                        bold: true,
                        ..Sgr::default()
                    },
                    0,
                    3
                ),
                sgr(
                    Sgr {
                        fg: Some(Colour::Indexed(208)),
                        ..Sgr::default()
                    },
                    10,
                    16
                ),
                sgr(
                    Sgr {
                        bg: Some(Colour::Rgb(1, 2, 3)),
                        ..Sgr::default()
                    },
                    17,
                    19
                ),
            ]
        );
        assert_invariants(&l);
    }

    #[test]
    fn sgr_codes_map_to_plain_styles() {
        let s = |params| apply_sgr(Sgr::default(), params);
        let fg = |c| Sgr {
            fg: Some(c),
            ..Sgr::default()
        };
        assert_eq!(s("37;90"), fg(Colour::Named(8)));
        assert_eq!(
            s("30;47"),
            Sgr {
                fg: Some(Colour::Named(0)),
                bg: Some(Colour::Named(7)),
                ..Sgr::default()
            }
        );
        assert_eq!(
            s("97;104"),
            Sgr {
                fg: Some(Colour::Named(15)),
                bg: Some(Colour::Named(12)),
                ..Sgr::default()
            }
        );
        assert_eq!(s("1;2;3;4;7;22;23;24;27"), Sgr::default());
        assert_eq!(s("31;39;41;49"), Sgr::default());
        assert_eq!(s("38:2::10:20:30"), fg(Colour::Rgb(10, 20, 30)));
        assert_eq!(s("38:2:10:20:30"), fg(Colour::Rgb(10, 20, 30)));
        assert_eq!(
            s("48:5:17"),
            Sgr {
                bg: Some(Colour::Indexed(17)),
                ..Sgr::default()
            }
        );
        // The arguments of colours are not codes: no bold, no underline here.
        assert_eq!(s("58;5;1;38;5;4"), fg(Colour::Indexed(4)));
        assert_eq!(
            s("38;5;300;3"),
            Sgr {
                italic: true,
                ..Sgr::default()
            }
        );
        let red_bold = Sgr {
            fg: Some(RED),
            bold: true,
            ..Sgr::default()
        };
        assert_eq!(apply_sgr(red_bold, ""), Sgr::default());
    }

    #[test]
    fn hostile_input_gives_clean_text() {
        let l = line(
            "a\u{1b}[2Jb\u{1b}]0;title\u{7}c\u{1b}]8;;http://x\u{1b}\\d\u{1b}P+q\u{1b}\\e\u{7}f\u{8}g\0h\u{202e}i\u{2066}j\u{7f}k\u{9b}2Jl",
        );
        assert_eq!(&*l.text, "abcdefghijkl");
        assert!(l.runs.is_empty());
        assert_invariants(&l);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let l = render(Timestamp::UNIX_EPOCH, false, b"ok \xff\xfe done \xc3");
        assert_eq!(&*l.text, "ok \u{fffd}\u{fffd} done \u{fffd}");
    }

    #[test]
    fn carriage_returns_keep_what_a_terminal_shows() {
        assert_eq!(&*line("done\r").text, "done");
        assert_eq!(&*line("10%\r50%\r100%").text, "100%");
        assert_eq!(&*line("fetching 10%\r\u{1b}[K").text, "fetching 10%");
        assert_eq!(&*line("fetching 10%\r   \r").text, "fetching 10%");
        assert_eq!(&*line("xxxxxxxx\r\tb").text, "        b");
        // Colours carry over a '\r', as on a terminal.
        let l = line("\u{1b}[32mok 1\rok 2\u{1b}[0m");
        assert_eq!(&*l.text, "ok 2");
        assert_eq!(
            &*l.runs,
            [sgr(
                Sgr {
                    fg: Some(Colour::Named(2)),
                    ..Sgr::default()
                },
                0,
                4
            )]
        );
    }

    #[test]
    fn tabs_expand_to_the_next_stop() {
        assert_eq!(&*line("a\tb").text, "a       b");
        assert_eq!(&*line("\t").text, " ".repeat(8));
        assert_eq!(&*line("12345678\tx").text, "12345678        x");
        assert_eq!(&*line("漢\tx").text, "漢      x");
        let l = line("\u{1b}[1mab\u{1b}[0m\tc");
        assert_eq!(&*l.text, "ab      c");
        assert_eq!(
            &*l.runs,
            [sgr(
                Sgr {
                    bold: true,
                    ..Sgr::default()
                },
                0,
                2
            )]
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary_and_marked() {
        let l = render(Timestamp::UNIX_EPOCH, false, "é".repeat(10_000).as_bytes());
        assert!(l.cut);
        assert_eq!(&*l.text, "é".repeat(MAX_LINE_BYTES / 2) + CUT_MARKER);
        let l = render(
            Timestamp::UNIX_EPOCH,
            false,
            "x".repeat(MAX_LINE_BYTES).as_bytes(),
        );
        assert!(!l.cut);
        assert_invariants(&l);
    }

    #[test]
    fn megabyte_line_in_partial_messages_is_cut_with_bounded_memory() {
        let mut asm = Assembler::new(16);
        let mut out = Vec::new();
        let chunk = "y".repeat(16 * 1024);
        for i in 0..64 {
            let end = if i == 63 { "\n" } else { "" };
            let frame = msg(i, &format!("{chunk}{end}"));
            asm.push(&frame, false, &mut out);
            assert!(asm.buffered() <= MAX_LINE_BYTES, "{}", asm.buffered());
        }
        asm.push(&msg(64, "next\n"), false, &mut out);
        assert_eq!(
            texts(&out),
            ["y".repeat(MAX_LINE_BYTES) + CUT_MARKER, "next".into()]
        );
        assert!(out[0].cut && !out[1].cut);
        assert_eq!(out[0].at, at(0));
    }

    #[test]
    fn json_lines_read_as_time_level_message_fields() {
        let l = line(
            r#"{"time":"2026-11-22T14:37:00Z","level":"warn","msg":"disk almost full","mount":"/var","used":0.93,"ok":false,"host":{"name":"a"},"note":"two words","empty":""}"#,
        );
        let expected = r#"2026-11-22T14:37:00Z WARN  disk almost full mount=/var used=0.93 ok=false host={"name":"a"} note="two words" empty="""#;
        assert_eq!(&*l.text, expected);
        assert_eq!(l.level, Some(Level::Warn));
        let tail = expected.find("mount").unwrap() as u32;
        let level = RunKind::Level(Level::Warn);
        assert_eq!(
            &*l.runs,
            [
                Run {
                    start: 21,
                    end: 25,
                    kind: level
                },
                Run {
                    start: tail,
                    end: expected.len() as u32,
                    kind: RunKind::Dim
                },
            ]
        );
    }

    #[test]
    fn json_levels_messages_and_absent_parts() {
        let level = |json: &str| line(json).level;
        assert_eq!(level(r#"{"level":"information"}"#), Some(Level::Info));
        assert_eq!(level(r#"{"lvl":"notice"}"#), Some(Level::Info));
        assert_eq!(level(r#"{"severity":"CRITICAL"}"#), Some(Level::Fatal));
        assert_eq!(level(r#"{"log.level":"emerg"}"#), Some(Level::Fatal));
        assert_eq!(level(r#"{"level":"alert"}"#), Some(Level::Fatal));
        assert_eq!(level(r#"{"level":50}"#), Some(Level::Error));
        assert_eq!(level(r#"{"level":"TRACE"}"#), Some(Level::Trace));

        assert_eq!(
            &*line(r#"{"level":"verbose","msg":"x"}"#).text,
            "x level=verbose"
        );
        assert_eq!(&*line(r#"{"msg":"hi"}"#).text, "hi");
        assert!(line(r#"{"msg":"hi"}"#).runs.is_empty());
        assert_eq!(
            &*line(r#"{"ts":1732286220.5,"level":"error"}"#).text,
            "1732286220.5 ERROR"
        );
        assert_eq!(&*line(r#"{"message":"m","error":"e"}"#).text, "m error=e");
        assert_eq!(&*line(r#"{"error":"no such file"}"#).text, "no such file");
        let l = line(r#" {"a":1,"b":[1,2]} "#);
        assert_eq!(&*l.text, "a=1 b=[1,2]");
        assert_eq!(
            &*l.runs,
            [Run {
                start: 0,
                end: 11,
                kind: RunKind::Dim
            }]
        );
    }

    #[test]
    fn escape_sequences_inside_json_strings_are_neutralised() {
        let l = line(
            r#"{"msg":"\u001b[2J\u001b]0;pwned\u0007boom\u202e","k":"a\u001b[31mb","n":["\u202ex"],"\u0007key":1}"#,
        );
        assert_eq!(&*l.text, r#"boom k="a\u001b[31mb" n=["x"] key=1"#);
        assert_invariants(&l);
    }

    #[test]
    fn what_is_not_a_json_object_is_text() {
        for s in [
            "{not json",
            r#"{"a":1} trailing"#,
            "{}",
            "[1,2]",
            r#"{"a":"#,
        ] {
            assert_eq!(&*line(s).text, s);
        }
    }

    #[test]
    fn text_levels_are_found_as_whole_words() {
        let found = |s: &str| {
            let l = line(s);
            let runs: Vec<_> = l
                .runs
                .iter()
                .map(|r| &l.text[r.start as usize..r.end as usize])
                .collect();
            (l.level, runs.concat())
        };
        assert_eq!(
            found("2026-11-22 14:37:00 INFO started"),
            (Some(Level::Info), "INFO".into())
        );
        assert_eq!(found("[error] boom"), (Some(Level::Error), "error".into()));
        assert_eq!(found("[WARN] x"), (Some(Level::Warn), "WARN".into()));
        assert_eq!(
            found("t=1 level=warn msg=x"),
            (Some(Level::Warn), "warn".into())
        );
        assert_eq!(
            found(r#"lvl="error" x"#),
            (Some(Level::Error), "error".into())
        );
        assert_eq!(found("npm ERR! code 1"), (Some(Level::Error), "ERR".into()));
        assert_eq!(found("FATAL: x"), (Some(Level::Fatal), "FATAL".into()));
        assert_eq!(
            found("x CRITICAL y"),
            (Some(Level::Fatal), "CRITICAL".into())
        );
        assert_eq!(
            found("WARNING: ERROR later"),
            (Some(Level::Warn), "WARNING".into())
        );
        for s in [
            "ERRORS happened",
            "a terror",
            "INFORMATION",
            "Error: bare words in other cases are message",
            "my_ERROR",
            "ERROR2",
            "loglevel=error",
            "[errors]",
            "ÉERROR",
        ] {
            assert_eq!(found(s), (None, String::new()), "{s}");
        }
        let far = format!("{}ERROR", " ".repeat(LEVEL_SCAN_BYTES));
        assert_eq!(found(&far).0, None);
        // Coloured by the line itself: the level is known, the colour stays.
        let l = line("\u{1b}[31mERROR\u{1b}[0m x");
        assert_eq!(l.level, Some(Level::Error));
        assert_eq!(
            &*l.runs,
            [sgr(
                Sgr {
                    fg: Some(RED),
                    ..Sgr::default()
                },
                0,
                5
            )]
        );
    }

    #[test]
    fn partial_messages_are_joined_with_the_first_timestamp() {
        let mut asm = Assembler::new(16);
        let out = feed(
            &mut asm,
            &[
                (msg(1, "hello "), false),
                (msg(2, "world\n"), false),
                ([msg(3, "a\n"), msg(4, "b\n")].concat(), false),
                (msg(5, "one\ntwo\nthr"), false),
                (msg(6, "ee\n"), false),
            ],
        );
        assert_eq!(
            texts(&out),
            ["hello world", "a", "b", "one", "two", "three"]
        );
        let ats: Vec<_> = out.iter().map(|l| l.at).collect();
        assert_eq!(ats, [at(1), at(3), at(4), at(5), at(5), at(5)]);
    }

    #[test]
    fn stdout_and_stderr_partials_do_not_mix() {
        let mut asm = Assembler::new(16);
        let out = feed(
            &mut asm,
            &[
                (msg(1, "out-"), false),
                (msg(2, "err-"), true),
                (msg(3, "1\n"), false),
                (msg(4, "2\n"), true),
            ],
        );
        assert_eq!(texts(&out), ["out-1", "err-2"]);
        assert_eq!((out[0].stderr, out[0].at), (false, at(1)));
        assert_eq!((out[1].stderr, out[1].at), (true, at(2)));
    }

    #[test]
    fn frames_without_timestamp_take_the_last_one() {
        let mut asm = Assembler::new(16);
        let out = feed(
            &mut asm,
            &[
                (b"no timestamp\n".to_vec(), false),
                (msg(1, "x\n"), false),
                (b"later\n".to_vec(), false),
                (b"2026-11-22T14:37:00+01:00 offset\n".to_vec(), false),
            ],
        );
        assert_eq!(texts(&out), ["no timestamp", "x", "later", "offset"]);
        let ats: Vec<_> = out.iter().map(|l| l.at).collect();
        let offset: Timestamp = "2026-11-22T13:37:00Z".parse().unwrap();
        assert_eq!(ats, [Timestamp::UNIX_EPOCH, at(1), at(1), offset]);
    }

    #[test]
    fn finish_flushes_pending_partials_oldest_first() {
        let mut asm = Assembler::new(16);
        let mut out = feed(&mut asm, &[(msg(2, "out"), false), (msg(1, "err"), true)]);
        assert!(out.is_empty());
        asm.finish(&mut out);
        assert_eq!(texts(&out), ["err", "out"]);
        asm.finish(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn lines_resent_after_a_rotation_are_dropped() {
        let mut asm = Assembler::new(16);
        let first: Vec<_> = (1..=5)
            .map(|i| (msg(i, &format!("line {i}\n")), false))
            .collect();
        assert_eq!(feed(&mut asm, &first).len(), 5);
        // Rotation: Docker starts the new file over, from line 3.
        let mut again: Vec<_> = first[2..].to_vec();
        again.push((msg(6, "line 6\n"), false));
        assert_eq!(texts(&feed(&mut asm, &again)), ["line 6"]);
        assert_eq!(asm.duplicates(), 3);
    }

    #[test]
    fn equal_timestamps_with_other_payload_or_stream_are_kept() {
        let mut asm = Assembler::new(16);
        let frames = [
            (msg(1, "a\n"), false),
            (msg(1, "b\n"), false),
            (msg(1, "a\n"), true),
            (msg(1, "a\n"), false),
        ];
        assert_eq!(texts(&feed(&mut asm, &frames)), ["a", "b", "a"]);
        assert_eq!(asm.duplicates(), 1);
    }

    #[test]
    fn a_line_out_of_order_is_kept_and_its_resend_recognised() {
        let mut asm = Assembler::new(16);
        // stderr's line 2 comes after stdout's line 3 (the streams race).
        let first = [
            (msg(1, "one\n"), false),
            (msg(3, "three\n"), false),
            (msg(2, "two\n"), true),
            (msg(4, "four\n"), false),
        ];
        assert_eq!(
            texts(&feed(&mut asm, &first)),
            ["one", "three", "two", "four"]
        );
        // After a rotation Docker sends them again, in time order, then a new line.
        let again = [
            (msg(1, "one\n"), false),
            (msg(2, "two\n"), true),
            (msg(3, "three\n"), false),
            (msg(4, "four\n"), false),
            (msg(5, "five\n"), false),
        ];
        assert_eq!(texts(&feed(&mut asm, &again)), ["five"]);
        assert_eq!(asm.duplicates(), 4);
    }

    #[test]
    fn after_a_clock_step_back_new_lines_are_still_remembered() {
        let mut asm = Assembler::new(4);
        let before: Vec<_> = (10..14)
            .map(|i| (msg(i, &format!("{i}\n")), false))
            .collect();
        feed(&mut asm, &before);
        // The host's clock went back: these are older than everything remembered.
        let after = [(msg(1, "one\n"), false), (msg(2, "two\n"), false)];
        assert_eq!(texts(&feed(&mut asm, &after)), ["one", "two"]);
        assert_eq!(
            texts(&feed(&mut asm, &after)),
            [] as [&str; 0],
            "re-sent after the step"
        );
        assert_eq!(asm.duplicates(), 2);
    }

    #[test]
    fn dedup_window_is_bounded() {
        let mut asm = Assembler::new(2);
        let frames: Vec<_> = (1..=5)
            .map(|i| (msg(i, &format!("{i}\n")), false))
            .collect();
        feed(&mut asm, &frames);
        assert_eq!((asm.seen.recent.len(), asm.seen.arrivals.len()), (2, 2));
        // Older than the window: no longer recognised.
        assert_eq!(feed(&mut asm, &frames[..1]).len(), 1);
        assert_eq!(feed(&mut asm, &frames[4..]).len(), 0);
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_hostile_input_always_gives_safe_lines() {
        const ALPHABET: &[&[u8]] = &[
            b"\x1b",
            b"\x1b",
            b"\x1b[",
            b"[",
            b"]",
            b"P",
            b"\\",
            b"\x07",
            "\u{9b}".as_bytes(),
            "\u{9c}".as_bytes(),
            b"\x9c",
            b"\r",
            b"\r",
            b"\n",
            b"\t",
            b"\t",
            b"\x08",
            b"\0",
            b"\x7f",
            b"\xff",
            b"\xc3",
            b"{",
            b"\"",
            b"1",
            b"3",
            b"8",
            b"5",
            b";",
            b";",
            b":",
            b"m",
            b"m",
            b"a",
            b"Z",
            b" ",
            b"ERROR",
            b"level=",
            b"\"msg\":",
            b"\\u001b",
            b"}",
            "\u{202e}".as_bytes(),
            "漢".as_bytes(),
            "é".as_bytes(),
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut asm = Assembler::new(64);
        let mut out = Vec::new();
        for i in 0..20_000 {
            // Now and then a long one, to be cut.
            let pieces = if rng.next().is_multiple_of(100) {
                8_000
            } else {
                rng.next() % 48
            };
            let mut payload = Vec::new();
            for _ in 0..pieces {
                payload.extend_from_slice(ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize]);
            }
            assert_invariants(&render(Timestamp::UNIX_EPOCH, false, &payload));

            let mut frame = match rng.next() % 4 {
                0 => Vec::new(),
                _ => msg((rng.next() % 1_000) as i64 - i64::from(i % 2) * 500, ""),
            };
            frame.extend_from_slice(&payload);
            if !rng.next().is_multiple_of(3) {
                frame.push(b'\n');
            }
            asm.push(&frame, rng.next().is_multiple_of(2), &mut out);
            assert!(asm.buffered() <= MAX_LINE_BYTES);
            out.iter().for_each(assert_invariants);
            out.clear();
        }
        asm.finish(&mut out);
        out.iter().for_each(assert_invariants);
    }

    #[test]
    fn docker_times_are_read_as_jiff_reads_them() {
        // Seconds across four centuries (leap years, 1900, 2000, 2100) and every fraction
        // length Docker's trimmed format produces.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let second = (x % 12_622_780_800) as i64 - 2_208_988_800; // 1900..2300
            let nanos = match i % 4 {
                0 => 0,
                1 => ((x >> 40) % 1_000) as i32 * 1_000_000,
                _ => ((x >> 32) % 1_000_000_000) as i32,
            };
            let t = Timestamp::new(second, nanos).unwrap();
            // jiff's Display of a Timestamp trims zeros as Go's RFC3339Nano does.
            let text = t.to_string();
            assert_eq!(docker_time(text.as_bytes(), &mut None), Some(t), "{text}");
            // The next line, often of the same minute: read with the minute remembered.
            let next = t + jiff::SignedDuration::from_secs((x >> 20) as i64 % 90);
            let mut minute = None;
            docker_time(text.as_bytes(), &mut minute);
            let text = next.to_string();
            assert_eq!(
                docker_time(text.as_bytes(), &mut minute),
                Some(next),
                "{text}"
            );
        }
        for bad in [
            "2026-02-30T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00.1234567890Z",
            "2026-11-23T10:00:00+01:00",
            "2026-11-23T10:00:00",
            "2026-11-23 10:00:00Z",
            "2026-1a-23T10:00:00Z",
        ] {
            assert_eq!(docker_time(bad.as_bytes(), &mut None), None, "{bad}");
            // Nor with a good time of the same minute remembered.
            let mut minute = None;
            let good = format!("{}00Z", &bad[..17]);
            if docker_time(good.as_bytes(), &mut minute).is_some() {
                assert_eq!(docker_time(bad.as_bytes(), &mut minute), None, "{bad}");
            }
        }
        // What the hand parser leaves, jiff still reads.
        let (at, rest) = split_timestamp(b"2026-11-23T11:00:00.5+01:00 x", &mut None).unwrap();
        assert_eq!(
            (at.to_string().as_str(), rest),
            ("2026-11-23T10:00:00.5Z", &b"x"[..])
        );
    }
}
