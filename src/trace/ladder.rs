//! A trace as a ladder (sequence) diagram: one column per device or node, time running down,
//! one row per transmission with a labelled arrow from sender to next hop, and the timers that
//! explain what happens (a device going on- or offline, Timer B, a retry). Rows follow event
//! order rather than a linear time scale, so that milliseconds of signalling and hours of
//! absence both stay readable: each row shows its virtual time at the left, and a pause of a
//! second or more is drawn as a dashed line saying how long it was.
//!
//! The same drawing goes to SVG or, for a file name ending in `.png`, to a bitmap.

use super::{Trace, TraceKind, TraceRecord, addr_name, timer_at};
use crate::engine::Time;
use crate::model::NodeKind;
use crate::nodes::{CfTimer, ClientTimer, PfTimer, RegistrarTimer, Timer};
use crate::plot::{FONT, register_fonts};
use crate::protocol::{Addr, Dialog, Invite, Method, Msg, Msrp, Packet, Role, Session, Sip, UserId};
use crate::trace::wire::{self, Wire};
use crate::units::SEC;
use crate::workload::World;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Rows beyond this are not drawn (the diagram says how many were left out).
pub const MAX_ROWS: usize = 1200;

const ROW_H: i32 = 26;
const TIME_W: i32 = 104;
const HEADER_Y: i32 = 58;
const HEADER_H: i32 = 40;
const FIRST_ROW_Y: i32 = HEADER_Y + HEADER_H + 26;
const MIN_COL_W: i32 = 150;
const LABEL_SIZE: f64 = 13.0;
/// A pause at least this long between two rows is drawn as its own row.
const PAUSE: Time = SEC;

const SIP_REQUEST: RGBColor = RGBColor(31, 90, 180);
const SIP_RESPONSE: RGBColor = RGBColor(30, 125, 60);
const SIP_ERROR: RGBColor = RGBColor(205, 105, 0);
const MSRP_SEND: RGBColor = RGBColor(125, 55, 160);
const MSRP_OK: RGBColor = RGBColor(160, 120, 190);
const FAILED: RGBColor = RGBColor(200, 30, 30);
const GREY: RGBColor = RGBColor(120, 120, 120);
const LIFELINE: RGBColor = RGBColor(185, 185, 185);
const NOTE_FILL: RGBColor = RGBColor(255, 246, 200);

/// What became of a transmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Arrived,
    Lost,
    Refused,
    /// Still on its way when the trace ends.
    Unknown,
}

/// A row before the columns are placed.
enum Draft {
    Arrow { from: Addr, to: Addr, label: String, color: RGBColor, outcome: Outcome },
    Note { at: Addr, text: String },
}

enum Row {
    Arrow { time: Time, from: usize, to: usize, label: String, color: RGBColor, outcome: Outcome },
    Note { time: Time, col: usize, text: String },
    Pause { text: String },
    Truncated { text: String },
}

/// What the diagram shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LadderSummary {
    pub columns: usize,
    pub arrows: usize,
    pub notes: usize,
    /// Rows left out beyond `MAX_ROWS`.
    pub omitted: usize,
    pub width: u32,
    pub height: u32,
}

struct Layout {
    title: String,
    columns: Vec<(String, String)>,
    rows: Vec<Row>,
    omitted: usize,
    col_w: i32,
    width: u32,
    height: u32,
}

fn packet_key(p: &Packet) -> u64 {
    let mut h = fnv::FnvHasher::default();
    p.hash(&mut h);
    h.finish()
}

fn font(size: f64) -> FontDesc<'static> {
    (FONT, size).into_font()
}

fn text_width(s: &str, size: f64) -> i32 {
    font(size).box_size(s).map(|(w, _)| w as i32).unwrap_or((s.len() as f64 * size * 0.6) as i32)
}

/// `1:02:03.456` (hours:minutes:seconds of virtual time).
pub fn clock(t: Time) -> String {
    let ms = t / 1000;
    let s = ms / 1000;
    format!("{}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, ms % 1000)
}

fn pause_text(d: Time) -> String {
    let s = d as f64 / SEC as f64;
    let v = if s >= 3600.0 {
        format!("{}h {:02}m", (s / 3600.0) as u64, (s / 60.0) as u64 % 60)
    } else if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, s as u64 % 60)
    } else {
        format!("{s:.1} s")
    };
    format!("… {v} later …")
}

fn column_order(a: Addr, world: &World) -> (u8, u32) {
    match a {
        Addr::User(u) => (0, u.0),
        Addr::Node(n) => {
            let k = match world.node_kinds[n.0 as usize] {
                NodeKind::Access => 4,
                NodeKind::Registrar => 1,
                NodeKind::Participating => 2,
                NodeKind::Controlling => 3,
            };
            (k, n.0 as u32)
        }
    }
}

fn column_title(a: Addr, world: &World) -> (String, String) {
    let name = addr_name(a, world);
    let role = match a {
        Addr::User(_) => "UE",
        Addr::Node(n) => match world.node_kinds[n.0 as usize] {
            NodeKind::Access => "access",
            NodeKind::Registrar => "S-CSCF",
            NodeKind::Participating => "PF",
            NodeKind::Controlling => "CF",
        },
    };
    (format!("{name} ({role})"), wire::ip(a).to_string())
}

fn build(trace: &Trace, world: &World, title: &str) -> Layout {
    let recs = &trace.records;
    // What became of each transmission: its next record about the same packet.
    let mut outcome = vec![Outcome::Unknown; recs.len()];
    let mut pending: HashMap<u64, VecDeque<usize>> = HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        let k = packet_key(&r.packet);
        match &r.kind {
            TraceKind::Sent => pending.entry(k).or_default().push_back(i),
            other => {
                if let Some(j) = pending.get_mut(&k).and_then(|q| q.pop_front()) {
                    outcome[j] = match other {
                        TraceKind::Received => Outcome::Arrived,
                        TraceKind::Lost => Outcome::Lost,
                        _ => Outcome::Refused,
                    };
                }
            }
        }
    }
    let mut story =
        Story { recs, world, sent_at: HashMap::new(), answered: HashSet::new(), unanswered: HashMap::new() };
    for (i, r) in recs.iter().enumerate() {
        if r.kind == TraceKind::Sent {
            story.sent_at.entry(r.time).or_default().push(i);
        }
    }
    let mut wire = Wire::new(world);
    let mut drafts: Vec<(Time, Draft)> = vec![];
    let (mut i, mut j) = (0, 0);
    while i < recs.len() || j < trace.timers.len() {
        let timer_first = j < trace.timers.len() && (i >= recs.len() || trace.timers[j].time <= recs[i].time);
        if timer_first {
            let t = &trace.timers[j];
            j += 1;
            if let Some(text) = story.note(&t.timer, t.time) {
                drafts.push((t.time, Draft::Note { at: timer_at(&t.timer), text }));
            }
            continue;
        }
        let r = &recs[i];
        let idx = i;
        i += 1;
        story.see(idx);
        if r.kind != TraceKind::Sent {
            continue;
        }
        let m = wire.sent(r.time, r.at, &r.packet);
        let color = match &r.packet.msg {
            Msg::Sip(Sip::Response { status, .. }) if *status >= 300 => SIP_ERROR,
            Msg::Sip(Sip::Response { .. }) => SIP_RESPONSE,
            Msg::Sip(_) => SIP_REQUEST,
            Msg::Msrp(Msrp::Send { .. }) => MSRP_SEND,
            Msg::Msrp(_) => MSRP_OK,
        };
        let outcome = outcome[idx];
        let label = match outcome {
            Outcome::Lost => format!("{} ✕ lost", m.label),
            Outcome::Refused => format!("{} ✕ refused", m.label),
            _ => m.label,
        };
        drafts.push((r.time, Draft::Arrow { from: m.hop.from, to: m.hop.to, label, color, outcome }));
    }
    // One column per end, devices first, then S-CSCFs, PFs and CFs.
    let mut cols: Vec<Addr> = vec![];
    for (_, d) in &drafts {
        let ends = match d {
            Draft::Arrow { from, to, .. } => [Some(*from), Some(*to)],
            Draft::Note { at, .. } => [Some(*at), None],
        };
        for a in ends.into_iter().flatten() {
            if !cols.contains(&a) {
                cols.push(a);
            }
        }
    }
    cols.sort_by_key(|a| column_order(*a, world));
    let index = |a: Addr| cols.iter().position(|c| *c == a).expect("every address has a column");
    let mut rows = vec![];
    let mut last: Option<Time> = None;
    let mut omitted = 0;
    for (t, d) in drafts {
        if rows.len() >= MAX_ROWS {
            omitted += 1;
            continue;
        }
        if let Some(l) = last
            && t >= l + PAUSE
        {
            rows.push(Row::Pause { text: pause_text(t - l) });
        }
        last = Some(t);
        rows.push(match d {
            Draft::Arrow { from, to, label, color, outcome } => {
                Row::Arrow { time: t, from: index(from), to: index(to), label, color, outcome }
            }
            Draft::Note { at, text } => Row::Note { time: t, col: index(at), text },
        });
    }
    if omitted > 0 {
        rows.push(Row::Truncated {
            text: format!("… {omitted} more events not drawn: narrow the trace with --users, --from and --to"),
        });
    }
    let columns: Vec<(String, String)> = cols.iter().map(|a| column_title(*a, world)).collect();
    // Columns wide enough for every label over the columns it spans, and for their titles.
    let mut col_w = MIN_COL_W;
    let mut note_w = 0;
    for (name, _) in &columns {
        col_w = col_w.max(text_width(name, 14.0) + 24);
    }
    for r in &rows {
        match r {
            Row::Arrow { from, to, label, .. } => {
                let span = (*from as i32 - *to as i32).abs().max(1);
                col_w = col_w.max((text_width(label, LABEL_SIZE) + 28 + span - 1) / span);
            }
            // A note has its row to itself: it may reach over the neighbouring columns.
            Row::Note { text, .. } => note_w = note_w.max(text_width(text, 12.0) + 24),
            _ => {}
        }
    }
    let mut width = TIME_W + 16 + col_w * columns.len().max(1) as i32 + 16;
    let title_w = text_width(title, 16.0) + 32;
    width = width.max(title_w).max(TIME_W + 16 + note_w + 22).max(620);
    let height = FIRST_ROW_Y + rows.len() as i32 * ROW_H + 24;
    Layout { title: title.to_string(), columns, rows, omitted, col_w, width: width as u32, height: height as u32 }
}

/// An MSRP SEND, as its 200 names it.
type SendKey = (Session, u32, u32, u16, u32);

fn send_key(m: &Msrp) -> SendKey {
    match *m {
        Msrp::Send { session, item, chunk, seq, .. } | Msrp::Ok { session, item, chunk, seq, .. } => {
            (session, item.msg, item.from.0, chunk, seq)
        }
    }
}

/// What the timers' notes need to know of the story so far.
struct Story<'a> {
    recs: &'a [TraceRecord],
    world: &'a World,
    /// Sends at each instant, for the timers that explain them.
    sent_at: HashMap<Time, Vec<usize>>,
    /// Deferred-delivery INVITEs answered at the PF, for telling a Timer B that fired in vain.
    answered: HashSet<(u32, u32)>,
    /// SENDs from a PF to a device still waiting for their 200 (Failure-Report: yes).
    unanswered: HashMap<SendKey, (Time, UserId)>,
}

impl Story<'_> {
    /// Follows the record at `i` (in trace order).
    fn see(&mut self, i: usize) {
        let r = &self.recs[i];
        match (&r.kind, &r.packet.msg) {
            (
                TraceKind::Received,
                Msg::Sip(Sip::Response {
                    dialog: Dialog { role: Role::Deferred, id, generation },
                    method: Method::Invite,
                    ..
                }),
            ) if r.at == r.packet.dst() => {
                self.answered.insert((*id, *generation));
            }
            (TraceKind::Sent, Msg::Msrp(m @ Msrp::Send { .. })) if r.at == r.packet.src() => {
                if let (Addr::Node(_), Addr::User(u)) = (r.packet.src(), r.packet.dst()) {
                    self.unanswered.insert(send_key(m), (r.time, u));
                }
            }
            (TraceKind::Received, Msg::Msrp(m @ Msrp::Ok { .. })) => {
                self.unanswered.remove(&send_key(m));
            }
            _ => {}
        }
    }

    fn sends(&self, time: Time) -> impl Iterator<Item = &TraceRecord> {
        self.sent_at.get(&time).into_iter().flatten().map(|i| &self.recs[*i])
    }

    fn registers(&self, time: Time, u: UserId) -> Option<u32> {
        self.sends(time).find_map(|r| match &r.packet.msg {
            Msg::Sip(Sip::Register { user, expires_s, .. }) if *user == u && r.at == Addr::User(u) => Some(*expires_s),
            _ => None,
        })
    }

    /// SENDs to `u` (in `session`, or live ones) whose 200 is overdue: the PF gives up on them.
    fn overdue(&mut self, time: Time, u: UserId, session: Option<Session>) -> bool {
        let timeout = self.world.cfg.msrp_timeout;
        let before = self.unanswered.len();
        self.unanswered.retain(|k, (sent, to)| {
            let due = *to == u && *sent + timeout <= time;
            let here = match session {
                Some(s) => k.0 == s,
                None => matches!(k.0, Session::Live(_)),
            };
            !(due && here)
        });
        self.unanswered.len() < before
    }

    /// The note a timer deserves in the story, if it changed anything visible.
    fn note(&mut self, timer: &Timer, time: Time) -> Option<String> {
        match timer {
            Timer::Client(u, ClientTimer::Presence) => {
                // The device acts at once: REGISTER when it comes online, BYEs and a
                // de-REGISTER when it leaves gracefully, nothing when it vanishes.
                Some(match self.registers(time, *u) {
                    Some(0) => "goes offline (de-REGISTER)".into(),
                    Some(_) => "comes online".into(),
                    None => "goes offline (vanishes, no de-REGISTER)".into(),
                })
            }
            Timer::Client(u, ClientTimer::Reregister(_)) => {
                self.registers(time, *u).map(|_| "access network back: registers again".into())
            }
            Timer::Client(u, ClientTimer::RegisterRetry(_)) => {
                self.registers(time, *u).map(|_| "registration retry (RFC 5626 §4.5)".into())
            }
            Timer::Pf(_, PfTimer::InviteTimeout(m, g)) => {
                (!self.answered.contains(&(m.0, *g))).then(|| "Timer B fired: 408, INVITE unanswered".into())
            }
            Timer::Pf(_, PfTimer::Retry(m, _)) => self
                .sends(time)
                .any(|r| {
                    matches!(&r.packet.msg, Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(_) })
                        if dialog.id == m.0)
                })
                .then(|| "retry timer (DD-11)".into()),
            Timer::Pf(_, PfTimer::LiveDeadline(u, _)) => self
                .overdue(time, *u, None)
                .then(|| "no MSRP 200 in time: device unreachable, PF keeps the messages".into()),
            Timer::Pf(_, PfTimer::SessionDeadline(m, g)) => {
                let u = self.world.member(*m).user;
                self.overdue(time, u, Some(Session::Deferred(*m, *g)))
                    .then(|| "no MSRP 200 in time: delivery failed (DD-11)".into())
            }
            Timer::Registrar(_, RegistrarTimer::BindingExpiry(u, _)) => self
                .sends(time)
                .any(|r| matches!(&r.packet.msg, Msg::Sip(Sip::RegNotifyExpired { user, .. }) if user == u))
                .then(|| format!("binding of {} expired", addr_name(Addr::User(*u), self.world))),
            Timer::Cf(_, CfTimer::Idle(..)) => self
                .sends(time)
                .any(|r| {
                    matches!(
                        &r.packet.msg,
                        Msg::Sip(Sip::Bye { .. }) | Msg::Sip(Sip::ConfNotify { terminated: true, .. })
                    )
                })
                .then(|| "group session idle: the focus ends it".into()),
            _ => None,
        }
    }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing failed: {e:?}")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, l: &Layout) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let anchor = |h, v| Pos::new(h, v);
    let style = |size: f64, c: &RGBColor, h, v| font(size).color(c).pos(anchor(h, v));
    root.draw(&Text::new(l.title.clone(), (16, 12), style(16.0, &BLACK, HPos::Left, VPos::Top).clone()))
        .map_err(err)?;
    // Legend.
    let mut x = 16;
    for (name, c, dashed) in [
        ("SIP request", SIP_REQUEST, false),
        ("SIP 2xx", SIP_RESPONSE, false),
        ("SIP error", SIP_ERROR, false),
        ("MSRP SEND", MSRP_SEND, false),
        ("MSRP 200", MSRP_OK, false),
        ("lost or refused", FAILED, true),
        ("(fwd): forwarded by the S-CSCF", GREY, false),
    ] {
        if c != GREY {
            if dashed {
                root.draw(&DashedPathElement::new(vec![(x, 40), (x + 26, 40)], 5, 3, c.stroke_width(2)))
                    .map_err(err)?;
            } else {
                root.draw(&PathElement::new(vec![(x, 40), (x + 26, 40)], c.stroke_width(2))).map_err(err)?;
            }
            x += 32;
        }
        root.draw(&Text::new(name.to_string(), (x, 40), style(12.0, &c, HPos::Left, VPos::Center))).map_err(err)?;
        x += text_width(name, 12.0) + 20;
    }
    let cx = |c: usize| TIME_W + 16 + l.col_w * c as i32 + l.col_w / 2;
    let bottom = l.height as i32 - 12;
    // Column titles and lifelines.
    for (c, (name, ip)) in l.columns.iter().enumerate() {
        let x = cx(c);
        let half = (l.col_w - 16) / 2;
        root.draw(&Rectangle::new(
            [(x - half, HEADER_Y), (x + half, HEADER_Y + HEADER_H)],
            RGBColor(238, 242, 250).filled(),
        ))
        .map_err(err)?;
        root.draw(&Rectangle::new([(x - half, HEADER_Y), (x + half, HEADER_Y + HEADER_H)], GREY.stroke_width(1)))
            .map_err(err)?;
        root.draw(&Text::new(name.clone(), (x, HEADER_Y + 5), style(14.0, &BLACK, HPos::Center, VPos::Top)))
            .map_err(err)?;
        root.draw(&Text::new(ip.clone(), (x, HEADER_Y + 23), style(11.0, &GREY, HPos::Center, VPos::Top)))
            .map_err(err)?;
        root.draw(&DashedPathElement::new(vec![(x, HEADER_Y + HEADER_H), (x, bottom)], 4, 4, LIFELINE.stroke_width(1)))
            .map_err(err)?;
    }
    root.draw(&Text::new("virtual time", (12, HEADER_Y + HEADER_H - 2), style(11.0, &GREY, HPos::Left, VPos::Bottom)))
        .map_err(err)?;
    let label_bg =
        |x: i32, y: i32, w: i32| Rectangle::new([(x - w / 2 - 3, y - 15), (x + w / 2 + 3, y - 1)], WHITE.filled());
    for (k, row) in l.rows.iter().enumerate() {
        let y = FIRST_ROW_Y + k as i32 * ROW_H;
        match row {
            Row::Arrow { time, from, to, label, color, outcome } => {
                root.draw(&Text::new(clock(*time), (12, y), style(12.0, &GREY, HPos::Left, VPos::Center)))
                    .map_err(err)?;
                let (x0, x1) = (cx(*from), cx(*to));
                let dir = if x1 >= x0 { 1 } else { -1 };
                let failed = matches!(outcome, Outcome::Lost | Outcome::Refused);
                let c = if failed { FAILED } else { *color };
                let tip = x1 - dir * 2;
                if failed {
                    root.draw(&DashedPathElement::new(vec![(x0, y), (tip, y)], 6, 4, c.stroke_width(2)))
                        .map_err(err)?;
                    for (a, b) in [((-5, -5), (5, 5)), ((-5, 5), (5, -5))] {
                        root.draw(&PathElement::new(
                            vec![(tip + a.0, y + a.1), (tip + b.0, y + b.1)],
                            c.stroke_width(2),
                        ))
                        .map_err(err)?;
                    }
                } else {
                    root.draw(&PathElement::new(vec![(x0, y), (tip - dir * 8, y)], c.stroke_width(2))).map_err(err)?;
                    root.draw(&Polygon::new(
                        vec![(tip, y), (tip - dir * 10, y - 5), (tip - dir * 10, y + 5)],
                        c.filled(),
                    ))
                    .map_err(err)?;
                }
                let mid = (x0 + x1) / 2;
                let w = text_width(label, LABEL_SIZE);
                root.draw(&label_bg(mid, y - 2, w)).map_err(err)?;
                root.draw(&Text::new(label.clone(), (mid, y - 3), style(LABEL_SIZE, &c, HPos::Center, VPos::Bottom)))
                    .map_err(err)?;
            }
            Row::Note { time, col, text } => {
                root.draw(&Text::new(clock(*time), (12, y), style(12.0, &GREY, HPos::Left, VPos::Center)))
                    .map_err(err)?;
                // Centred on the lifeline, kept inside the drawing.
                let half = text_width(text, 12.0) / 2 + 8;
                let x = cx(*col).clamp(TIME_W + 8 + half, l.width as i32 - 14 - half);
                let w = text_width(text, 12.0);
                let r = [(x - w / 2 - 8, y - 9), (x + w / 2 + 8, y + 9)];
                root.draw(&Rectangle::new(r, NOTE_FILL.filled())).map_err(err)?;
                root.draw(&Rectangle::new(r, RGBColor(200, 170, 60).stroke_width(1))).map_err(err)?;
                root.draw(&Text::new(text.clone(), (x, y), style(12.0, &BLACK, HPos::Center, VPos::Center)))
                    .map_err(err)?;
            }
            Row::Pause { text } | Row::Truncated { text } => {
                let right = l.width as i32 - 12;
                root.draw(&DashedPathElement::new(vec![(12, y), (right, y)], 3, 5, GREY.stroke_width(1)))
                    .map_err(err)?;
                let x = (TIME_W + right) / 2;
                let w = text_width(text, 12.0);
                root.draw(&Rectangle::new([(x - w / 2 - 6, y - 9), (x + w / 2 + 6, y + 9)], WHITE.filled()))
                    .map_err(err)?;
                root.draw(&Text::new(text.clone(), (x, y), style(12.0, &GREY, HPos::Center, VPos::Center)))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)
}

/// Draws the ladder of a trace to `path` (SVG, or PNG when the name ends in `.png`).
pub fn write_ladder(path: &Path, trace: &Trace, world: &World, title: &str) -> Result<LadderSummary, String> {
    register_fonts();
    let l = build(trace, world, title);
    let size = (l.width, l.height);
    let png = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if png {
        draw(&BitMapBackend::new(path, size).into_drawing_area(), &l)?;
    } else {
        draw(&SVGBackend::new(path, size).into_drawing_area(), &l)?;
    }
    let mut s = LadderSummary {
        columns: l.columns.len(),
        omitted: l.omitted,
        width: l.width,
        height: l.height,
        ..Default::default()
    };
    for r in &l.rows {
        match r {
            Row::Arrow { .. } => s.arrows += 1,
            Row::Note { .. } => s.notes += 1,
            Row::Pause { .. } | Row::Truncated { .. } => {}
        }
    }
    Ok(s)
}
