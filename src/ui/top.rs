//! `rw top`: a uwsgitop work-alike. The frame layout is a pure function ([`render`]) of two
//! successive stats documents; the live view around it uses crossterm (alternate screen, raw
//! mode, always restored on exit and on panic).

use crate::stats::client::{self, Target};
use crate::stats::schema::{Core, Stats, Worker};
use std::io::Write;
use std::time::{Duration, Instant};

/// A sortable column of the worker table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Wid,
    Pct,
    Pid,
    Req,
    Rps,
    Exc,
    Sig,
    Status,
    Avg,
    Rss,
    Vsz,
    Tx,
    Respawn,
    Hc,
    RunT,
    LastSpawn,
    P50,
    P99,
    Busy,
}

/// Every column, in display order.
pub const COLUMNS: [Column; 19] = [
    Column::Wid,
    Column::Pct,
    Column::Pid,
    Column::Req,
    Column::Rps,
    Column::Exc,
    Column::Sig,
    Column::Status,
    Column::Avg,
    Column::Rss,
    Column::Vsz,
    Column::Tx,
    Column::Respawn,
    Column::Hc,
    Column::RunT,
    Column::LastSpawn,
    Column::P50,
    Column::P99,
    Column::Busy,
];

impl Column {
    pub fn title(self) -> &'static str {
        match self {
            Column::Wid => "WID",
            Column::Pct => "%",
            Column::Pid => "PID",
            Column::Req => "REQ",
            Column::Rps => "RPS",
            Column::Exc => "EXC",
            Column::Sig => "SIG",
            Column::Status => "STATUS",
            Column::Avg => "AVG",
            Column::Rss => "RSS",
            Column::Vsz => "VSZ",
            Column::Tx => "TX",
            Column::Respawn => "ReSpwn",
            Column::Hc => "HC",
            Column::RunT => "RunT",
            Column::LastSpawn => "LastSpwn",
            Column::P50 => "P50",
            Column::P99 => "P99",
            Column::Busy => "BUSY",
        }
    }

    /// The next column for the `s` key.
    pub fn next(self) -> Column {
        let i = COLUMNS.iter().position(|c| *c == self).unwrap_or(0);
        COLUMNS[(i + 1) % COLUMNS.len()]
    }

    /// Text-like columns sort ascending by default, figures descending (biggest first).
    fn ascending_by_default(self) -> bool {
        matches!(self, Column::Wid | Column::Pid | Column::Status)
    }

    fn left_aligned(self) -> bool {
        matches!(self, Column::Wid | Column::Status | Column::Busy)
    }
}

/// How to draw a frame.
#[derive(Debug, Clone)]
pub struct Opts {
    pub sort: Column,
    pub reverse: bool,
    /// Show one row per core under each worker.
    pub cores: bool,
    /// The `node:` name (TCP host or this machine's hostname).
    pub host: String,
    /// The time shown in the header (`time.ctime()` form).
    pub now: String,
    /// Truncate lines to this many characters (0: no limit).
    pub width: usize,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            sort: Column::Req,
            reverse: false,
            cores: false,
            host: String::new(),
            now: String::new(),
            width: 0,
        }
    }
}

/// How a frame line should be shown in the live view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    Plain,
    /// The column header.
    Header,
    Busy,
    Cheap,
    Signal,
    Pause,
}

/// A rendered frame: text lines and a style per line.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub lines: Vec<String>,
    pub styles: Vec<LineStyle>,
}

/// uwsgitop's human_size: 1024-based, one decimal from K up.
pub fn human_size(n: u64) -> String {
    const K: u64 = 1024;
    if n >= K * K * K {
        format!("{:.1}G", n as f64 / (K * K * K) as f64)
    } else if n >= K * K {
        format!("{:.1}M", n as f64 / (K * K) as f64)
    } else if n >= K {
        format!("{:.1}K", n as f64 / K as f64)
    } else {
        n.to_string()
    }
}

/// Python's `str(float)` for the values uwsgitop prints (shortest round-trip form).
fn py_float(x: f64) -> String {
    format!("{x:?}")
}

/// uwsgitop's RunT: `running_time / 1000` as a Python float, in minutes above 9 999 999.
pub fn run_time(running_time_us: u64) -> String {
    let ms = running_time_us as f64 / 1000.0;
    if ms > 9_999_999.0 {
        format!("{}m", py_float(ms / 60_000.0))
    } else {
        py_float(ms)
    }
}

/// `%H:%M:%S` in local time, or `--:--:--` for 0.
pub fn last_spawn(unix: u64) -> String {
    if unix == 0 {
        return "--:--:--".to_string();
    }
    match i64::try_from(unix)
        .ok()
        .and_then(crate::sys::clock::local_time)
    {
        Some(tm) => format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
        None => "--:--:--".to_string(),
    }
}

/// A latency in µs, short: `850us`, `12.3ms`, `1.50s`.
pub fn latency(us: Option<u64>) -> String {
    match us {
        None => "-".to_string(),
        Some(us) if us < 1000 => format!("{us}us"),
        Some(us) if us < 1_000_000 => format!("{:.1}ms", us as f64 / 1000.0),
        Some(us) => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// Requests per second between two readings (0 without a previous reading), as uwsgitop
/// rounds it (Python's `round`: ties to even).
fn rps(now: u64, before: Option<u64>, secs: f64) -> f64 {
    match before {
        Some(b) if secs > 0.0 => now.saturating_sub(b) as f64 / secs,
        _ => 0.0,
    }
}

fn percent(tot: u64, req: u64) -> f64 {
    if tot == 0 {
        0.0
    } else {
        100.0 * req as f64 / tot as f64
    }
}

/// Share of the worker's cores busy: the larger of (time spent in requests since the previous
/// reading) / (elapsed × cores) and (cores in a request now) / cores.
fn busy_share(w: &Worker, prev: Option<&Worker>, secs: f64) -> f64 {
    let cores = w.cores.len().max(1) as f64;
    let now = w.cores.iter().filter(|c| c.in_request != 0).count() as f64 / cores;
    let spent = match prev {
        Some(p) if secs > 0.0 && p.pid == w.pid => {
            w.running_time.saturating_sub(p.running_time) as f64 / (secs * 1e6 * cores)
        }
        _ => 0.0,
    };
    now.max(spent).clamp(0.0, 1.0)
}

fn bar(share: f64) -> String {
    let filled = (share * 10.0).round() as usize;
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        ".".repeat(10 - filled.min(10)),
        (share * 100.0).round() as u64
    )
}

/// One worker's figures, as sort keys and as cells.
struct Row<'a> {
    w: &'a Worker,
    pct: f64,
    rps: i64,
    busy: f64,
}

impl Row<'_> {
    fn cell(&self, c: Column) -> String {
        let w = self.w;
        match c {
            Column::Wid => w.id.to_string(),
            Column::Pct => format!("{:.1}", self.pct),
            Column::Pid => w.pid.to_string(),
            Column::Req => w.requests.to_string(),
            Column::Rps => self.rps.to_string(),
            Column::Exc => w.exceptions.to_string(),
            Column::Sig => w.signals.to_string(),
            Column::Status => w.status.clone(),
            Column::Avg => format!("{}ms", w.avg_rt / 1000),
            Column::Rss => human_size(w.rss),
            Column::Vsz => human_size(w.vsz),
            Column::Tx => human_size(w.tx),
            Column::Respawn => w.respawn_count.to_string(),
            Column::Hc => w.harakiri_count.to_string(),
            Column::RunT => run_time(w.running_time),
            Column::LastSpawn => last_spawn(w.last_spawn),
            Column::P50 => latency(w.latency_p50_us),
            Column::P99 => latency(w.latency_p99_us),
            Column::Busy => bar(self.busy),
        }
    }

    fn cmp(&self, other: &Row, c: Column) -> std::cmp::Ordering {
        let (a, b) = (self.w, other.w);
        let f = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
        match c {
            Column::Wid => a.id.cmp(&b.id),
            Column::Pct => f(self.pct, other.pct),
            Column::Pid => a.pid.cmp(&b.pid),
            Column::Req => a.requests.cmp(&b.requests),
            Column::Rps => self.rps.cmp(&other.rps),
            Column::Exc => a.exceptions.cmp(&b.exceptions),
            Column::Sig => a.signals.cmp(&b.signals),
            Column::Status => a.status.cmp(&b.status),
            Column::Avg => a.avg_rt.cmp(&b.avg_rt),
            Column::Rss => a.rss.cmp(&b.rss),
            Column::Vsz => a.vsz.cmp(&b.vsz),
            Column::Tx => a.tx.cmp(&b.tx),
            Column::Respawn => a.respawn_count.cmp(&b.respawn_count),
            Column::Hc => a.harakiri_count.cmp(&b.harakiri_count),
            Column::RunT => a.running_time.cmp(&b.running_time),
            Column::LastSpawn => a.last_spawn.cmp(&b.last_spawn),
            Column::P50 => a.latency_p50_us.cmp(&b.latency_p50_us),
            Column::P99 => a.latency_p99_us.cmp(&b.latency_p99_us),
            Column::Busy => f(self.busy, other.busy),
        }
    }
}

fn style_of(status: &str) -> LineStyle {
    match status {
        "busy" => LineStyle::Busy,
        "cheap" => LineStyle::Cheap,
        "pause" => LineStyle::Pause,
        s if s.starts_with("sig") => LineStyle::Signal,
        _ => LineStyle::Plain,
    }
}

/// What a busy core is doing: `GET /path (3s)`.
fn core_activity(c: &Core, now_unix: u64) -> String {
    if c.in_request == 0 {
        return String::new();
    }
    let method = c.var("REQUEST_METHOD").unwrap_or("");
    let uri = c.var("REQUEST_URI").or(c.var("PATH_INFO")).unwrap_or("");
    let mut s: String = format!("{method} {uri}")
        .chars()
        .map(|ch| if ch.is_control() { '?' } else { ch })
        .collect();
    if let Some(start) = c.req_info.request_start {
        s.push_str(&format!(" ({}s)", now_unix.saturating_sub(start)));
    }
    s
}

/// The frame for `stats`, with RPS from `prev` read `secs` seconds earlier.
/// The attached daemons and crons, one line each, under the workers.
fn jobs_lines(stats: &Stats) -> Vec<String> {
    let mut out = Vec::new();
    for d in &stats.daemons {
        let pid = if d.pid > 0 {
            d.pid.to_string()
        } else {
            "-".to_string()
        };
        out.push(format!(
            "daemon  pid: {pid}  respawns: {}  {}",
            d.respawns,
            crate::log::sanitize::escaped(d.cmd.as_bytes())
        ));
    }
    for c in &stats.crons {
        let running = if c.pid > 0 {
            format!("running (pid: {})", c.pid)
        } else {
            "idle".to_string()
        };
        out.push(format!(
            "cron  {} {} {} {} {}  {running}{}  {}",
            c.minute,
            c.hour,
            c.day,
            c.month,
            c.week,
            if c.unique != 0 { "  unique" } else { "" },
            crate::log::sanitize::escaped(c.command.as_bytes())
        ));
    }
    out
}

pub fn render(stats: &Stats, prev: Option<&Stats>, secs: f64, opts: &Opts) -> Vec<String> {
    render_frame(stats, prev, secs, opts).lines
}

/// [`render`] with a style per line.
pub fn render_frame(stats: &Stats, prev: Option<&Stats>, secs: f64, opts: &Opts) -> Frame {
    let now_unix = crate::sys::clock::unix_secs();
    let tot = stats.total_requests();
    let prev_worker = |id: u64| prev.and_then(|p| p.workers.iter().find(|w| w.id == id));
    let mut rows: Vec<Row> = stats
        .workers
        .iter()
        .map(|w| {
            let pw = prev_worker(w.id);
            Row {
                w,
                pct: percent(tot, w.requests),
                rps: rps(w.requests, pw.map(|p| p.requests), secs).round_ties_even() as i64,
                busy: busy_share(w, pw, secs),
            }
        })
        .collect();
    let total_rps: f64 = stats
        .workers
        .iter()
        .map(|w| rps(w.requests, prev_worker(w.id).map(|p| p.requests), secs))
        .sum();
    let ascending = opts.sort.ascending_by_default() != opts.reverse;
    rows.sort_by(|a, b| {
        let o = a.cmp(b, opts.sort);
        let o = if ascending { o } else { o.reverse() };
        // Ties: by worker id, always ascending.
        o.then(a.w.id.cmp(&b.w.id))
    });

    let tx: u64 = stats.workers.iter().map(|w| w.tx).sum();
    let name = match (&stats.rw_version, stats.version.is_empty()) {
        (Some(rw), false) => format!("rw-{rw} (uwsgi {})", stats.version),
        (Some(rw), true) => format!("rw-{rw}"),
        (None, false) => format!("uwsgi-{}", stats.version),
        (None, true) => "uwsgi".to_string(),
    };
    let mut frame = Frame::default();
    let push = |f: &mut Frame, line: String, style: LineStyle| {
        f.lines.push(line);
        f.styles.push(style);
    };
    push(
        &mut frame,
        format!(
            "{name} - {} - req: {tot} - RPS: {} - lq: {} - tx: {}",
            opts.now,
            total_rps.round_ties_even() as i64,
            stats.listen_queue,
            human_size(tx)
        ),
        LineStyle::Plain,
    );
    push(
        &mut frame,
        format!(
            "node: {} - cwd: {} - uid: {} - gid: {} - masterpid: {}{}",
            opts.host,
            stats.cwd,
            stats.uid,
            stats.gid,
            stats.pid,
            stats.cheaper.as_ref().map_or(String::new(), |c| format!(
                " - cheaper: {} {} of {}..{} workers",
                c.algo, c.target, c.min, c.max
            ))
        ),
        LineStyle::Plain,
    );

    // Cells: worker rows, each followed by its core rows when asked.
    let mut table: Vec<(Vec<String>, String, LineStyle)> = Vec::new();
    for r in &rows {
        let cells = COLUMNS.iter().map(|c| r.cell(*c)).collect();
        table.push((cells, String::new(), style_of(&r.w.status)));
        if !opts.cores {
            continue;
        }
        let pw = prev_worker(r.w.id);
        for c in &r.w.cores {
            let before = pw
                .and_then(|p| p.cores.iter().find(|pc| pc.id == c.id))
                .map(|pc| pc.requests);
            let status = if c.in_request != 0 { "busy" } else { "idle" };
            let cells = COLUMNS
                .iter()
                .map(|col| match col {
                    Column::Wid => format!(" {}:{}", r.w.id, c.id),
                    Column::Pct => format!("{:.1}", percent(tot, c.requests)),
                    Column::Req => c.requests.to_string(),
                    Column::Rps => {
                        (rps(c.requests, before, secs).round_ties_even() as i64).to_string()
                    }
                    Column::Status => status.to_string(),
                    _ => "-".to_string(),
                })
                .collect();
            let style = if c.in_request != 0 {
                LineStyle::Busy
            } else {
                LineStyle::Plain
            };
            table.push((cells, core_activity(c, now_unix), style));
        }
    }
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            table
                .iter()
                .map(|(cells, _, _)| cells[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(c.title().len())
        })
        .collect();
    let join = |cells: &[String]| -> String {
        let mut line = String::new();
        for (i, (c, cell)) in COLUMNS.iter().zip(cells).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let w = widths[i];
            if c.left_aligned() {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(&format!("{cell:>w$}"));
            }
        }
        line.trim_end().to_string()
    };
    let titles: Vec<String> = COLUMNS.iter().map(|c| c.title().to_string()).collect();
    push(&mut frame, join(&titles), LineStyle::Header);
    for (cells, extra, style) in &table {
        let mut line = join(cells);
        if !extra.is_empty() {
            line.push_str("  ");
            line.push_str(extra);
        }
        push(&mut frame, line, *style);
    }
    for line in jobs_lines(stats) {
        push(&mut frame, line, LineStyle::Plain);
    }
    if opts.width > 0 {
        for l in &mut frame.lines {
            if l.chars().count() > opts.width {
                *l = l.chars().take(opts.width).collect();
            }
        }
    }
    frame
}

/// Timeout for one stats read.
pub fn read_timeout(interval: f64) -> Duration {
    Duration::from_secs_f64(interval.clamp(1.0, 5.0))
}

/// Not a terminal: print a frame every interval (as `top -b`), until killed.
pub fn batch(target: &Target, addr: &str, interval: f64, mut opts: Opts) -> anyhow::Result<u8> {
    let mut prev: Option<(Stats, Instant)> = None;
    let mut out = std::io::stdout();
    loop {
        match client::fetch(target, read_timeout(interval)) {
            Ok((stats, _)) => {
                opts.now = crate::log::date::ctime_now();
                let secs = prev
                    .as_ref()
                    .map_or(0.0, |(_, t)| t.elapsed().as_secs_f64());
                for l in render(&stats, prev.as_ref().map(|(s, _)| s), secs, &opts) {
                    writeln!(out, "{l}")?;
                }
                writeln!(out)?;
                prev = Some((stats, Instant::now()));
            }
            Err(e) => writeln!(out, "cannot read stats from {addr}: {e:#}\n")?,
        }
        out.flush()?;
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

/// Leaves raw mode and the alternate screen (safe to call more than once).
fn restore_terminal() {
    use crossterm::{cursor, execute, terminal};
    let _ = execute!(
        std::io::stdout(),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> anyhow::Result<TerminalGuard> {
        use crossterm::{cursor, execute, terminal};
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn draw(frame: &Frame, status: &str) -> std::io::Result<()> {
    use crossterm::style::{Attribute, Color, Print, SetAttribute, SetForegroundColor};
    use crossterm::{cursor::MoveTo, queue, terminal};
    let (cols, rows) = terminal::size().unwrap_or((80, 24));
    let (cols, rows) = (cols as usize, rows as usize);
    let mut out = std::io::stdout().lock();
    let body = rows.saturating_sub(1);
    for (i, (line, style)) in frame.lines.iter().zip(&frame.styles).take(body).enumerate() {
        let text: String = line.chars().take(cols).collect();
        queue!(out, MoveTo(0, i as u16))?;
        match style {
            LineStyle::Header => queue!(out, SetAttribute(Attribute::Reverse))?,
            LineStyle::Busy => queue!(out, SetForegroundColor(Color::Green))?,
            // uwsgitop's magenta, dimmed: a cheap slot has no process.
            LineStyle::Cheap => queue!(
                out,
                SetForegroundColor(Color::Magenta),
                SetAttribute(Attribute::Dim)
            )?,
            LineStyle::Signal => queue!(out, SetForegroundColor(Color::Yellow))?,
            LineStyle::Pause => queue!(out, SetForegroundColor(Color::Blue))?,
            LineStyle::Plain => {}
        }
        if *style == LineStyle::Header {
            queue!(out, Print(format!("{text:<cols$}")))?;
        } else {
            queue!(out, Print(text))?;
        }
        queue!(
            out,
            SetAttribute(Attribute::Reset),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
    }
    let shown = frame.lines.len().min(body);
    queue!(
        out,
        MoveTo(0, shown as u16),
        terminal::Clear(terminal::ClearType::FromCursorDown),
        MoveTo(0, rows.saturating_sub(1) as u16),
        SetAttribute(Attribute::Dim),
        Print(status.chars().take(cols).collect::<String>()),
        SetAttribute(Attribute::Reset)
    )?;
    out.flush()
}

/// The full-screen view.
pub fn live(target: &Target, addr: &str, interval: f64, mut opts: Opts) -> anyhow::Result<u8> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let _guard = TerminalGuard::enter()?;
    // (latest, previous, seconds between them)
    let mut shown: Option<(Stats, Option<Stats>, f64)> = None;
    let mut last_read: Option<Instant> = None;
    let mut error: Option<String>;
    loop {
        match client::fetch(target, read_timeout(interval)) {
            Ok((stats, _)) => {
                let secs = last_read.map_or(0.0, |t| t.elapsed().as_secs_f64());
                let prev = shown.take().map(|(s, _, _)| s);
                shown = Some((stats, prev, secs));
                last_read = Some(Instant::now());
                error = None;
            }
            Err(e) => {
                error = Some(format!(
                    "cannot read stats from {addr}: {e:#}; retrying every {interval}s"
                ));
            }
        }
        let next = Instant::now() + Duration::from_secs_f64(interval);
        let mut redraw = true;
        loop {
            if redraw {
                opts.now = crate::log::date::ctime_now();
                opts.width = 0;
                let frame = match &shown {
                    Some((s, p, secs)) => render_frame(s, p.as_ref(), *secs, &opts),
                    None => Frame::default(),
                };
                let status = error.clone().unwrap_or_else(|| {
                    format!(
                        "sort: {} {} | s: sort column  r: reverse  c: cores {}  q: quit",
                        opts.sort.title(),
                        if opts.sort.ascending_by_default() != opts.reverse {
                            "asc"
                        } else {
                            "desc"
                        },
                        if opts.cores { "on" } else { "off" }
                    )
                });
                draw(&frame, &status)?;
                redraw = false;
            }
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() || !event::poll(left)? {
                break;
            }
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => match k.code {
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(0)
                    }
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(0),
                    KeyCode::Char('s') => {
                        opts.sort = opts.sort.next();
                        redraw = true;
                    }
                    KeyCode::Char('r') => {
                        opts.reverse = !opts.reverse;
                        redraw = true;
                    }
                    KeyCode::Char('c') => {
                        opts.cores = !opts.cores;
                        redraw = true;
                    }
                    _ => {}
                },
                Event::Resize(..) => redraw = true,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::schema::ReqInfo;

    fn worker(id: u64, pid: i64, requests: u64) -> Worker {
        Worker {
            id,
            pid,
            requests,
            status: "idle".into(),
            avg_rt: 1999,
            rss: 10_625_024,
            vsz: 95_363_072,
            tx: 65,
            running_time: 4175,
            respawn_count: 1,
            cores: vec![
                Core::default(),
                Core {
                    id: 1,
                    ..Core::default()
                },
            ],
            ..Worker::default()
        }
    }

    fn stats(reqs: &[u64]) -> Stats {
        Stats {
            version: "2.0.30".into(),
            rw_version: Some("0.1.0".into()),
            pid: 100,
            cwd: "/srv".into(),
            listen_queue: 3,
            workers: reqs
                .iter()
                .enumerate()
                .map(|(i, r)| worker(i as u64 + 1, 1000 + i as i64, *r))
                .collect(),
            ..Stats::default()
        }
    }

    fn opts() -> Opts {
        Opts {
            host: "node1".into(),
            now: "Mon Jan  1 00:00:00 2024".into(),
            ..Opts::default()
        }
    }

    fn cells(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn uwsgitop_formulas() {
        assert_eq!(human_size(1023), "1023");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(10_625_024), "10.1M");
        assert_eq!(human_size(3 << 30), "3.0G");
        assert_eq!(run_time(296), "0.296");
        assert_eq!(run_time(0), "0.0");
        assert_eq!(run_time(4_005_051), "4005.051");
        assert_eq!(run_time(12_000_000_000), "200.0m");
        assert_eq!(last_spawn(0), "--:--:--");
        assert_eq!(last_spawn(1_795_934_538).len(), 8);
        assert_eq!(latency(Some(850)), "850us");
        assert_eq!(latency(Some(12_345)), "12.3ms");
        assert_eq!(latency(None), "-");
    }

    #[test]
    fn header_and_rows_like_uwsgitop() {
        let s = stats(&[1, 21]);
        let lines = render(&s, None, 0.0, &opts());
        assert_eq!(
            lines[0],
            "rw-0.1.0 (uwsgi 2.0.30) - Mon Jan  1 00:00:00 2024 - req: 22 - RPS: 0 - lq: 3 - tx: 130"
        );
        assert_eq!(
            lines[1],
            "node: node1 - cwd: /srv - uid: 0 - gid: 0 - masterpid: 100"
        );
        assert_eq!(
            cells(&lines[2]),
            vec![
                "WID", "%", "PID", "REQ", "RPS", "EXC", "SIG", "STATUS", "AVG", "RSS", "VSZ", "TX",
                "ReSpwn", "HC", "RunT", "LastSpwn", "P50", "P99", "BUSY"
            ]
        );
        // Sorted by requests, descending, as uwsgitop.
        let row = cells(&lines[3]);
        assert_eq!(
            &row[..16],
            &[
                "2", "95.5", "1001", "21", "0", "0", "0", "idle", "1ms", "10.1M", "90.9M", "65",
                "1", "0", "4.175", "--:--:--"
            ]
        );
        assert_eq!(cells(&lines[4])[0], "1");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn rps_comes_from_the_previous_reading() {
        let before = stats(&[10, 10]);
        let now = stats(&[15, 40]);
        let lines = render(&now, Some(&before), 2.0, &opts());
        assert!(lines[0].contains(" - RPS: 18 - "), "{}", lines[0]);
        let rows: Vec<Vec<&str>> = lines[3..].iter().map(|l| cells(l)).collect();
        assert_eq!((rows[0][0], rows[0][4]), ("2", "15"));
        // 2.5 rounds to even, as Python's round().
        assert_eq!((rows[1][0], rows[1][4]), ("1", "2"));
    }

    #[test]
    fn sort_cycles_and_reverses() {
        let s = stats(&[5, 1, 9]);
        let mut o = opts();
        o.sort = Column::Wid;
        let ids = |o: &Opts| -> Vec<String> {
            render(&s, None, 0.0, o)[3..]
                .iter()
                .map(|l| cells(l)[0].to_string())
                .collect()
        };
        assert_eq!(ids(&o), ["1", "2", "3"]);
        o.reverse = true;
        assert_eq!(ids(&o), ["3", "2", "1"]);
        o.reverse = false;
        o.sort = Column::Req;
        assert_eq!(ids(&o), ["3", "1", "2"]);
        let mut c = Column::Wid;
        for _ in 0..COLUMNS.len() {
            c = c.next();
        }
        assert_eq!(c, Column::Wid);
    }

    #[test]
    fn core_rows_show_what_busy_cores_do() {
        let mut s = stats(&[3]);
        s.workers[0].status = "busy".into();
        s.workers[0].cores[1] = Core {
            id: 1,
            requests: 2,
            in_request: 1,
            vars: vec![
                "REQUEST_METHOD=GET".into(),
                "REQUEST_URI=/sleep\u{1b}[2J".into(),
                String::new(),
            ],
            req_info: ReqInfo {
                request_start: Some(1),
            },
            ..Core::default()
        };
        let mut o = opts();
        o.cores = true;
        let f = render_frame(&s, None, 0.0, &o);
        assert_eq!(f.lines.len(), 6);
        assert_eq!(f.styles[3], LineStyle::Busy);
        assert_eq!(f.styles[2], LineStyle::Header);
        assert!(cells(&f.lines[4]).starts_with(&["1:0", "0.0", "-", "0"]));
        assert!(f.lines[5].contains("busy"));
        assert!(f.lines[5].contains("GET /sleep?[2J ("), "{}", f.lines[5]);
        assert!(!f.lines.iter().any(|l| l.contains('\u{1b}')));
        // Worker bar: one of two cores busy.
        assert!(f.lines[3].contains("[#####.....]  50%"), "{}", f.lines[3]);
    }

    #[test]
    fn cheap_slots_are_styled_and_the_header_names_the_cheaper() {
        let mut s = stats(&[3, 0]);
        s.workers[1].status = "cheap".into();
        s.cheaper = Some(crate::stats::schema::Cheaper {
            algo: "spare".into(),
            min: 1,
            max: 2,
            target: 1,
            ..Default::default()
        });
        let f = render_frame(&s, None, 0.0, &opts());
        assert_eq!(f.styles[4], LineStyle::Cheap);
        assert!(f.lines[4].contains("cheap"), "{}", f.lines[4]);
        assert!(
            f.lines[1].ends_with(" - cheaper: spare 1 of 1..2 workers"),
            "{}",
            f.lines[1]
        );
    }

    #[test]
    fn daemons_and_crons_are_listed_under_the_workers() {
        let mut s = stats(&[1]);
        s.daemons = vec![crate::stats::schema::Daemon {
            cmd: "celery worker\x1b[2J".into(),
            pid: 42,
            respawns: 3,
            pidfile: None,
        }];
        s.crons = vec![crate::stats::schema::Cron {
            minute: -5,
            hour: -1,
            day: -1,
            month: -1,
            week: -1,
            command: "backup".into(),
            unique: 1,
            pid: -1,
            ..Default::default()
        }];
        let lines = render(&s, None, 1.0, &opts());
        let n = lines.len();
        assert_eq!(
            lines[n - 2],
            "daemon  pid: 42  respawns: 3  celery worker\\x1b[2J"
        );
        assert_eq!(lines[n - 1], "cron  -5 -1 -1 -1 -1  idle  unique  backup");
    }

    #[test]
    fn a_real_uwsgi_document_renders_and_width_truncates() {
        let s = Stats::from_json(include_bytes!("../../tests/fixtures/stats-sample.json")).unwrap();
        let mut o = opts();
        o.width = 40;
        let lines = render(&s, None, 0.0, &o);
        assert!(lines[0].starts_with("uwsgi-2.0.30 - "));
        assert!(lines.iter().all(|l| l.chars().count() <= 40));
        assert_eq!(cells(&lines[3])[2], "14006");
    }
}
