//! The CPM client (UE): its presence process (online/offline, graceful or not), registration
//! with refresh and RFC 5626 recovery, its answers to deferred-delivery INVITEs (accept / 603 /
//! 486 / 480 after a delay), and its behaviour inside sessions (IMDNs, isComposing, leaving with
//! BYE cause=200). All clients live in one struct of arrays: they share the logic, and a
//! million of them must fit in memory.

use super::{Action, ClientTimer, Ctx, NetworkFunction, NodeDeadlines, Owner, Timer};
use crate::engine::Time;
use crate::engine::rng::{self, Rng, Stream};
use crate::protocol::{
    Addr, Dialog, Invite, Item, MemberId, Method, Msg, Msrp, Packet, Payload, Reason, Role, Session, Sip, UserId,
};
use crate::workload::World;
use crate::workload::prehistory::UserStart;
use rand::Rng as _;

/// A deferred-delivery session as the client sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct DeferredSession {
    member: MemberId,
    generation: u32,
    accepted: bool,
    /// Decided when accepting: leave (BYE cause=200) after the first item (DD-16).
    leave: bool,
    /// Decided when accepting: answer with isComposing on the first item (DD-15).
    reply: bool,
    items: u32,
}

/// What a client keeps and draws from at every presence flip, registration and answer: one
/// cache line per user, so that a user's burst of events costs one miss here rather than one
/// per array. The deferred sessions, touched less often, are apart.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct ClientUser {
    presence: Rng,
    behaviour: Rng,
    registration: Rng,
    /// Increments at each online/offline flip: timers of an earlier period are stale.
    period: u32,
    /// Generation of the current registration transaction.
    reg_generation: u32,
    /// Consecutive failed registrations (RFC 5626 §4.5 back-off exponent).
    reg_failures: u32,
}

pub struct Clients {
    users: Vec<ClientUser>,
    sessions: Vec<Vec<DeferredSession>>,
    /// Timer F of REGISTERs and registration refreshes: fixed durations, kept as FIFOs.
    deadlines: NodeDeadlines<(UserId, RegDeadline)>,
}

/// The clients' fixed-duration deadlines, small so that a million of them fit: a registration
/// refresh and Timer F of a REGISTER, each with its registration generation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegDeadline {
    Refresh(u32),
    Timeout(u32),
}

impl From<RegDeadline> for ClientTimer {
    fn from(d: RegDeadline) -> ClientTimer {
        match d {
            RegDeadline::Refresh(g) => ClientTimer::Refresh(g),
            RegDeadline::Timeout(g) => ClientTimer::RegisterTimeout(g),
        }
    }
}

/// Re-register 600 s before expiry when the expiry is over 1200 s, else at half of it
/// (3GPP TS 24.229 §5.1.1.4).
pub fn refresh_interval(expiry_s: u32) -> u64 {
    let e = expiry_s as u64 * crate::units::SEC;
    if expiry_s > 1200 { e - 600 * crate::units::SEC } else { e / 2 }
}

impl Clients {
    /// Starts loading user `u`'s record (see `engine::prefetch`).
    #[inline]
    pub fn prefetch(&self, u: UserId) {
        crate::engine::prefetch(&self.users[u.0 as usize]);
    }

    pub fn new(world: &World) -> Clients {
        let n = world.users.len();
        let s = world.seed;
        Clients {
            users: (0..n as u64)
                .map(|u| ClientUser {
                    presence: rng::stream(s, Stream::Presence, u),
                    behaviour: rng::stream(s, Stream::Behaviour, u),
                    registration: rng::stream(s, Stream::Registration, u),
                    period: 0,
                    reg_generation: 0,
                    reg_failures: 0,
                })
                .collect(),
            sessions: vec![Vec::new(); n],
            deadlines: NodeDeadlines::default(),
        }
    }

    fn addr(u: UserId) -> Addr {
        Addr::User(u)
    }

    /// Initial state at time 0, drawn from the stationary distribution so warm-up is short.
    /// Returns `Some(registered_at)` when the user starts online (already registered then), so
    /// the engine can pre-load the registrar and the PF with the same binding.
    /// With `given` (a steady-state start), the user is in the state its prehistory left:
    /// online or not, until its period in progress ends.
    pub fn start(&mut self, ctx: &mut Ctx, u: UserId, given: Option<UserStart>) -> Option<Time> {
        let class = ctx.world.class_of(u);
        let i = u.0 as usize;
        let r = &mut self.users[i].presence;
        let online = match given {
            Some(g) => g.online,
            None => class.always_online || r.random::<f64>() < class.share_online_at(ctx.now),
        };
        ctx.devices.set_online(u, online);
        if !class.always_online {
            let until = match given {
                Some(g) => g.until,
                None => {
                    let d = if online { class.online.sample_u64(r) } else { class.offline.sample_u64(r) };
                    class.period_end(ctx.now, d, online)
                }
            };
            ctx.timer(until, Timer::Client(u, ClientTimer::Presence));
        }
        if !online {
            return None;
        }
        // Registered some time in the last refresh interval.
        let refresh = refresh_interval(class.expiry_s);
        let ago = self.users[i].registration.random_range(0..refresh.max(1));
        let st = &mut self.users[i];
        st.reg_generation += 1;
        ctx.timer(ctx.now + refresh - ago, Timer::Client(u, ClientTimer::Refresh(st.reg_generation)));
        Some(ctx.now.saturating_sub(ago))
    }

    fn register(&mut self, ctx: &mut Ctx, u: UserId, expires_s: u32) {
        let st = &mut self.users[u.0 as usize];
        st.reg_generation += 1;
        let generation = st.reg_generation;
        let info = ctx.world.user(u);
        let sip_instance = ctx.world.classes[info.class as usize].sip_instance;
        ctx.send(
            Self::addr(u),
            Addr::Node(info.registrar),
            Msg::Sip(Sip::Register { user: u, expires_s, sip_instance, generation }),
        );
        if expires_s > 0 {
            // For `delivery.after_client_register_s`: when the UE last asked to be registered.
            ctx.devices.register_sent(u, ctx.now);
            self.deadlines.after(ctx, Owner::Clients, ctx.world.cfg.timer_b, (u, RegDeadline::Timeout(generation)));
        }
    }

    fn registration_failed(&mut self, ctx: &mut Ctx, u: UserId) {
        // RFC 5626 §4.5: wait W = min(max-time, base-time * 2^failures), then a uniform
        // fraction of it between 50% and 100%.
        let i = u.0 as usize;
        let st = &mut self.users[i];
        st.reg_failures += 1;
        let cfg = &ctx.world.cfg;
        let w = (cfg.register_retry_base as f64 * 2f64.powi(st.reg_failures.min(30) as i32 - 1))
            .min(cfg.register_retry_max as f64);
        let wait = (w * st.registration.random_range(0.5..=1.0)) as u64;
        ctx.stats.registrations_failed += 1;
        ctx.timer(ctx.now + wait.max(1), Timer::Client(u, ClientTimer::RegisterRetry(st.reg_generation)));
    }

    fn timer(&mut self, ctx: &mut Ctx, u: UserId, t: ClientTimer) {
        let i = u.0 as usize;
        match t {
            ClientTimer::Presence => self.flip_presence(ctx, u),
            ClientTimer::Refresh(g) | ClientTimer::RegisterRetry(g) => {
                if ctx.devices.is_online(u) && g == self.users[i].reg_generation {
                    let e = ctx.world.class_of(u).expiry_s;
                    self.register(ctx, u, e);
                }
            }
            ClientTimer::RegisterTimeout(g) => {
                // Timer F: no final response to the REGISTER.
                if ctx.devices.is_online(u) && g == self.users[i].reg_generation {
                    ctx.stats.count_response(408);
                    self.registration_failed(ctx, u);
                }
            }
            ClientTimer::Reregister(period) => {
                if ctx.devices.is_online(u) && period == self.users[i].period {
                    let e = ctx.world.class_of(u).expiry_s;
                    self.register(ctx, u, e);
                }
            }
            ClientTimer::Answer { period, member, generation, status } => {
                if !ctx.devices.is_online(u) || period != self.users[i].period {
                    return;
                }
                let Some(s) = self.sessions[i].iter_mut().find(|s| s.member == member && s.generation == generation)
                else {
                    return;
                };
                let class = ctx.world.class_of(u);
                if status == 200 {
                    s.accepted = true;
                    let b = &mut self.users[i].behaviour;
                    s.leave = b.random::<f64>() < class.bye_during_delivery;
                    s.reply = b.random::<f64>() < class.reply_during_delivery;
                } else {
                    self.sessions[i].retain(|s| !(s.member == member && s.generation == generation));
                }
                let pf = ctx.world.user(u).pf;
                let dialog = Dialog { role: Role::Deferred, id: member.0, generation };
                ctx.send(
                    Self::addr(u),
                    Addr::Node(pf),
                    Msg::Sip(Sip::Response { dialog, method: Method::Invite, status, retry_after_s: None }),
                );
            }
            ClientTimer::Displayed { period, member, item, deferred_generation } => {
                if ctx.devices.is_online(u) && period == self.users[i].period {
                    let session = match deferred_generation {
                        Some(g) if self.sessions[i].iter().any(|s| s.member == member && s.generation == g) => {
                            Session::Deferred(member, g)
                        }
                        _ => Session::Live(member),
                    };
                    self.send_item(ctx, u, session, item);
                }
            }
        }
    }

    fn flip_presence(&mut self, ctx: &mut Ctx, u: UserId) {
        let i = u.0 as usize;
        let class = ctx.world.class_of(u);
        self.users[i].period += 1;
        let r = &mut self.users[i].presence;
        if ctx.devices.is_online(u) {
            // Going offline. The draw is made whatever happens next, so the presence stream
            // advances identically under every policy.
            let ungraceful = r.random::<f64>() < class.ungraceful;
            let d = class.offline.sample_u64(r);
            ctx.timer(class.period_end(ctx.now, d, false), Timer::Client(u, ClientTimer::Presence));
            ctx.stats.workload_offline += 1;
            if ungraceful {
                ctx.stats.workload_offline_ungraceful += 1;
            } else {
                // Leave the deferred-delivery sessions, then de-REGISTER.
                let pf = ctx.world.user(u).pf;
                for s in std::mem::take(&mut self.sessions[i]) {
                    if s.accepted {
                        let dialog = Dialog { role: Role::Deferred, id: s.member.0, generation: s.generation };
                        ctx.send(Self::addr(u), Addr::Node(pf), Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
                    }
                }
                self.register(ctx, u, 0);
            }
            self.sessions[i].clear();
            ctx.devices.set_online(u, false);
        } else {
            let d = class.online.sample_u64(r);
            ctx.timer(class.period_end(ctx.now, d, true), Timer::Client(u, ClientTimer::Presence));
            ctx.stats.workload_online += 1;
            ctx.devices.set_online(u, true);
            self.users[i].reg_failures = 0;
            let e = class.expiry_s;
            self.register(ctx, u, e);
        }
    }

    /// The access network came back: re-register after the class's `reregister_delay`.
    pub fn access_recovered(&mut self, ctx: &mut Ctx, u: UserId) {
        let i = u.0 as usize;
        if !ctx.devices.is_online(u) {
            return;
        }
        let d = ctx.world.class_of(u).reregister_delay.sample_u64(&mut self.users[i].registration);
        ctx.timer(ctx.now + d, Timer::Client(u, ClientTimer::Reregister(self.users[i].period)));
    }

    /// The workload has this user send a chat message (and maybe isComposing first) in group
    /// `member`. It goes in the deferred-delivery session if one is up (DD-15), else in the live one.
    pub fn send_chat(&mut self, ctx: &mut Ctx, u: UserId, member: MemberId, item: Item, composing: bool) {
        let i = u.0 as usize;
        let session = match self.sessions[i].iter().find(|s| s.member == member && s.accepted) {
            Some(s) => Session::Deferred(member, s.generation),
            None => Session::Live(member),
        };
        if composing {
            let c = item.as_kind(Payload::IsComposing, 250);
            self.send_item(ctx, u, session, c);
        }
        self.send_item(ctx, u, session, item);
    }

    fn send_item(&mut self, ctx: &mut Ctx, u: UserId, session: Session, item: Item) {
        let pf = ctx.world.user(u).pf;
        let chunk = ctx.world.cfg.chunk_size;
        let chunks = item.size().div_ceil(chunk).max(1) as u16;
        for c in 1..=chunks {
            ctx.send(Self::addr(u), Addr::Node(pf), Msg::Msrp(Msrp::Send { session, item, chunk: c, chunks, seq: 0 }));
        }
    }

    /// A message reached the device (the engine has checked it is online).
    fn receive(&mut self, ctx: &mut Ctx, u: UserId, msg: Msg) {
        let i = u.0 as usize;
        let pf = ctx.world.user(u).pf;
        match msg {
            Msg::Sip(Sip::Response { dialog, method: Method::Register, status, .. }) => {
                let st = &mut self.users[i];
                if dialog.generation != st.reg_generation {
                    return;
                }
                // Invalidate Timer F of this transaction.
                st.reg_generation += 1;
                if status == 200 {
                    st.reg_failures = 0;
                    let e = ctx.world.class_of(u).expiry_s;
                    let refresh = (u, RegDeadline::Refresh(st.reg_generation));
                    self.deadlines.after(ctx, Owner::Clients, refresh_interval(e), refresh);
                } else {
                    self.registration_failed(ctx, u);
                }
            }
            Msg::Sip(Sip::Response { .. }) => {}
            Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(_) }) => {
                let member = MemberId(dialog.id);
                let class = ctx.world.class_of(u);
                let b = &mut self.users[i].behaviour;
                let x = b.random::<f64>();
                let status = if x < class.accept {
                    200
                } else if x < class.accept + class.decline {
                    603
                } else if x < class.accept + class.decline + class.busy {
                    486
                } else {
                    480
                };
                let delay = class.answer_delay.sample_u64(b);
                let sessions = &mut self.sessions[i];
                sessions.retain(|s| s.member != member);
                sessions.push(DeferredSession {
                    member,
                    generation: dialog.generation,
                    accepted: false,
                    leave: false,
                    reply: false,
                    items: 0,
                });
                let period = self.users[i].period;
                ctx.timer(
                    ctx.now + delay,
                    Timer::Client(u, ClientTimer::Answer { period, member, generation: dialog.generation, status }),
                );
            }
            Msg::Sip(Sip::Invite { .. }) => {}
            Msg::Sip(Sip::Ack { .. }) => {}
            Msg::Sip(Sip::Bye { dialog, .. }) => {
                self.sessions[i].retain(|s| !(s.member.0 == dialog.id && s.generation == dialog.generation));
                ctx.send(
                    Self::addr(u),
                    Addr::Node(pf),
                    Msg::Sip(Sip::Response { dialog, method: Method::Bye, status: 200, retry_after_s: None }),
                );
            }
            Msg::Sip(_) => {}
            Msg::Msrp(Msrp::Send { session, item, chunk, chunks, seq }) => {
                ctx.send(
                    Self::addr(u),
                    Addr::Node(pf),
                    Msg::Msrp(Msrp::Ok { session, item, chunk, chunks, seq, received: Msrp::received_bits(ctx.now) }),
                );
                if chunk == chunks {
                    self.received(ctx, u, session, item);
                }
            }
            Msg::Msrp(Msrp::Ok { .. }) => {}
        }
    }

    /// A whole item arrived: disposition notifications, and in a deferred session the
    /// behaviour decided at accept time (isComposing reply, leaving).
    fn received(&mut self, ctx: &mut Ctx, u: UserId, session: Session, item: Item) {
        let i = u.0 as usize;
        let member = match session {
            Session::Live(m) | Session::Deferred(m, _) | Session::Leg(m) => m,
        };
        let deferred_generation = match session {
            Session::Deferred(_, g) => Some(g),
            _ => None,
        };
        if item.payload() == Payload::Chat {
            let cfg = &ctx.world.cfg;
            let b = &mut self.users[i].behaviour;
            let delivered = b.random::<f64>() < cfg.imdn_delivered;
            let displayed = b.random::<f64>() < cfg.imdn_displayed;
            let imdn = |payload| Item::new(payload, item.group, item.from, u, item.msg, cfg.imdn_size);
            if displayed {
                let d = cfg.imdn_displayed_delay.sample_u64(b);
                let period = self.users[i].period;
                ctx.timer(
                    ctx.now + d,
                    Timer::Client(
                        u,
                        ClientTimer::Displayed { period, member, item: imdn(Payload::Displayed), deferred_generation },
                    ),
                );
            }
            if delivered {
                self.send_item(ctx, u, session, imdn(Payload::Delivered));
            }
        }
        let Some(g) = deferred_generation else { return };
        let Some(s) = self.sessions[i].iter_mut().find(|s| s.member == member && s.generation == g) else {
            return;
        };
        s.items += 1;
        if s.items != 1 {
            return;
        }
        let (reply, leave) = (s.reply, s.leave);
        if reply {
            let c = Item::new(Payload::IsComposing, item.group, u, u, 0, 250);
            self.send_item(ctx, u, session, c);
        }
        if leave {
            self.sessions[i].retain(|s| !(s.member == member && s.generation == g));
            let pf = ctx.world.user(u).pf;
            let dialog = Dialog { role: Role::Deferred, id: member.0, generation: g };
            ctx.send(Self::addr(u), Addr::Node(pf), Msg::Sip(Sip::Bye { dialog, reason: Reason::CallCompleted }));
        }
    }
}

impl NetworkFunction for Clients {
    type Timer = (UserId, ClientTimer);
    type Deadline = (UserId, RegDeadline);

    fn owner(&self) -> Owner {
        Owner::Clients
    }
    fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        if let Addr::User(u) = p.dst() {
            self.receive(ctx, u, p.msg);
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx, (u, t): (UserId, ClientTimer)) {
        self.timer(ctx, u, t);
    }
    fn deadlines(&mut self) -> &mut NodeDeadlines<(UserId, RegDeadline)> {
        &mut self.deadlines
    }
    /// A registration's deadlines are stale once its generation has moved on (a response, a
    /// new REGISTER); generations never come back.
    fn is_live(&self, _: &World, &(u, d): &(UserId, RegDeadline)) -> bool {
        match d {
            RegDeadline::Refresh(g) | RegDeadline::Timeout(g) => self.users[u.0 as usize].reg_generation == g,
        }
    }
    fn deadline_passed(&mut self, ctx: &mut Ctx, (u, d): (UserId, RegDeadline)) {
        let t = ClientTimer::from(d);
        ctx.out.push(Action::Fired(Timer::Client(u, t)));
        self.timer(ctx, u, t);
    }
}

#[cfg(test)]
mod tests {
    /// A user's presence flip, registration or answer reads its record once: one cache line.
    #[test]
    fn a_clients_hot_record_is_one_cache_line() {
        assert_eq!(size_of::<super::ClientUser>(), 64);
        assert_eq!(align_of::<super::ClientUser>(), 64);
    }
}
