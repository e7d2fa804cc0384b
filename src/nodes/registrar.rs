//! The S-CSCF with its registrar. It keeps one binding per served user, tells the user's PF
//! about every registration with a 3rd-party REGISTER (3GPP TS 24.229 §5.4.1.7) and about an
//! expired binding with a reg-event NOTIFY (RFC 3680), and proxies SIP between UEs and PFs:
//! a request for a user with no binding is answered 480 Temporarily Unavailable, as an S-CSCF
//! with no registered contact does (TS 24.229 §5.4.3.3).

use super::{Action, Ctx, NetworkFunction, NodeDeadlines, Owner, RegistrarTimer, Timer};
use crate::protocol::{Addr, Method, Msg, NodeId, Packet, Sip, UserId};
use crate::workload::World;

#[derive(Clone, Copy, Debug, Default)]
struct Binding {
    registered: bool,
    generation: u32,
    sip_instance: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct ThirdParty {
    generation: u32,
    /// 503-triggered re-sends so far for the current generation.
    retries: u32,
    expires_s: u32,
    pending: bool,
}

pub struct Registrar {
    pub id: NodeId,
    bindings: Vec<Binding>,
    third_party: Vec<ThirdParty>,
    /// 3rd-party Timer F and binding expiries: fixed durations, kept as FIFOs.
    deadlines: NodeDeadlines<RegistrarTimer>,
}

impl Registrar {
    pub fn new(id: NodeId, users: u32) -> Registrar {
        Registrar {
            id,
            bindings: vec![Binding::default(); users as usize],
            third_party: vec![ThirdParty::default(); users as usize],
            deadlines: NodeDeadlines::default(),
        }
    }

    fn local(ctx: &Ctx, u: UserId) -> usize {
        ctx.world.user(u).registrar_local as usize
    }

    /// Installs a binding that exists at time 0 (the user starts online), expiring at `expires_at`.
    pub fn preload(&mut self, ctx: &mut Ctx, u: UserId, expires_at: u64, sip_instance: bool) {
        let b = &mut self.bindings[Self::local(ctx, u)];
        b.registered = true;
        b.generation += 1;
        b.sip_instance = sip_instance;
        ctx.timer(expires_at, Timer::Registrar(self.id, RegistrarTimer::BindingExpiry(u, b.generation)));
    }

    fn third_party_register(&mut self, ctx: &mut Ctx, u: UserId, expires_s: u32) {
        let i = Self::local(ctx, u);
        let tp = &mut self.third_party[i];
        tp.generation += 1;
        tp.retries = 0;
        tp.expires_s = expires_s;
        tp.pending = true;
        self.send_third_party(ctx, u);
    }

    fn send_third_party(&mut self, ctx: &mut Ctx, u: UserId) {
        let i = Self::local(ctx, u);
        let tp = self.third_party[i];
        let sip_instance = self.bindings[i].sip_instance;
        let pf = ctx.world.user(u).pf;
        ctx.send(
            Addr::Node(self.id),
            Addr::Node(pf),
            Msg::Sip(Sip::ThirdPartyRegister {
                user: u,
                expires_s: tp.expires_s,
                sip_instance,
                generation: tp.generation,
            }),
        );
        let timeout = RegistrarTimer::ThirdPartyTimeout(u, tp.generation);
        self.deadlines.after(ctx, Owner::Node(self.id), ctx.world.cfg.timer_b, timeout);
    }

    /// S-CSCF proxying between a UE and its PF.
    fn proxy(&mut self, ctx: &mut Ctx, mut p: Packet) {
        if let (Addr::User(u), Msg::Sip(sip)) = (p.dst(), &p.msg)
            && !self.bindings[Self::local(ctx, u)].registered
        {
            // No registered contact: a request gets 480; an ACK or response has nowhere to go.
            if let Some(resp) = sip.response(480, None) {
                ctx.send(Addr::Node(self.id), p.src(), Msg::Sip(resp));
            } else {
                ctx.stats.lost_unregistered += 1;
            }
            return;
        }
        p.set_proxied(true);
        ctx.out.push(Action::Send(p));
    }
}

impl NetworkFunction for Registrar {
    type Timer = RegistrarTimer;
    type Deadline = RegistrarTimer;

    fn owner(&self) -> Owner {
        Owner::Node(self.id)
    }
    #[inline]
    fn prefetch(&self, world: &World, p: &Packet) {
        if let Msg::Sip(Sip::Register { user, .. }) = p.msg {
            let i = world.user(user).registrar_local as usize;
            crate::engine::prefetch_at(&self.bindings, i);
            crate::engine::prefetch_at(&self.third_party, i);
        }
    }
    /// A message served by this node's workers.
    fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        let me = Addr::Node(self.id);
        // Anything not addressed to the registrar itself is SIP between a UE and its PF.
        if p.dst() != me {
            return self.proxy(ctx, p);
        }
        let src = p.src();
        let Msg::Sip(sip) = p.msg else { return };
        match sip {
            Sip::Register { user, expires_s, sip_instance, generation } => {
                let i = Self::local(ctx, user);
                let b = &mut self.bindings[i];
                b.generation += 1;
                b.registered = expires_s > 0;
                b.sip_instance = sip_instance;
                if expires_s > 0 {
                    let expiry = RegistrarTimer::BindingExpiry(user, b.generation);
                    self.deadlines.after(ctx, Owner::Node(self.id), expires_s as u64 * crate::units::SEC, expiry);
                    ctx.stats.registrations_ok += 1;
                }
                let resp =
                    Sip::Register { user, expires_s, sip_instance, generation }.response(200, None).expect("a request");
                ctx.send(me, src, Msg::Sip(resp));
                self.third_party_register(ctx, user, expires_s);
            }
            Sip::Response { dialog, method: Method::Register, status, retry_after_s } => {
                let u = UserId(dialog.id);
                let tp = &mut self.third_party[Self::local(ctx, u)];
                if !tp.pending || tp.generation != dialog.generation {
                    return;
                }
                if status == 200 {
                    tp.pending = false;
                } else if status == 503 && tp.retries < ctx.world.cfg.third_party_retries {
                    // RFC 3261 §21.5.4: retry after Retry-After (1 s when absent).
                    tp.retries += 1;
                    tp.generation += 1;
                    let wait = retry_after_s.unwrap_or(1) as u64 * crate::units::SEC;
                    let g = tp.generation;
                    ctx.timer(ctx.now + wait, Timer::Registrar(self.id, RegistrarTimer::ThirdPartyRetry(u, g)));
                } else {
                    tp.pending = false;
                    ctx.stats.third_party_failed += 1;
                }
            }
            // 200 to a reg-event NOTIFY and anything else addressed to the registrar itself.
            _ => {}
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx, t: RegistrarTimer) {
        match t {
            RegistrarTimer::BindingExpiry(u, g) => {
                let i = Self::local(ctx, u);
                let b = &mut self.bindings[i];
                if b.registered && b.generation == g {
                    b.registered = false;
                    b.generation += 1;
                    let pf = ctx.world.user(u).pf;
                    let tp = &mut self.third_party[i];
                    tp.generation += 1;
                    ctx.stats.registrations_expired += 1;
                    ctx.send(
                        Addr::Node(self.id),
                        Addr::Node(pf),
                        Msg::Sip(Sip::RegNotifyExpired { user: u, generation: tp.generation }),
                    );
                }
            }
            RegistrarTimer::ThirdPartyTimeout(u, g) => {
                let tp = &mut self.third_party[Self::local(ctx, u)];
                if tp.pending && tp.generation == g {
                    tp.pending = false;
                    ctx.stats.count_response(408);
                    ctx.stats.third_party_failed += 1;
                }
            }
            RegistrarTimer::ThirdPartyRetry(u, g) => {
                let tp = &self.third_party[Self::local(ctx, u)];
                if tp.pending && tp.generation == g {
                    ctx.stats.third_party_retries += 1;
                    self.send_third_party(ctx, u);
                }
            }
        }
    }
    fn deadlines(&mut self) -> &mut NodeDeadlines<RegistrarTimer> {
        &mut self.deadlines
    }
    /// A binding's expiry is stale once the binding was refreshed or removed, a 3rd-party
    /// REGISTER's Timer F once it was answered.
    fn is_live(&self, world: &World, t: &RegistrarTimer) -> bool {
        match *t {
            RegistrarTimer::BindingExpiry(u, g) => {
                let b = &self.bindings[world.user(u).registrar_local as usize];
                b.registered && b.generation == g
            }
            RegistrarTimer::ThirdPartyTimeout(u, g) => {
                let tp = &self.third_party[world.user(u).registrar_local as usize];
                tp.pending && tp.generation == g
            }
            RegistrarTimer::ThirdPartyRetry(..) => true,
        }
    }
    fn deadline_passed(&mut self, ctx: &mut Ctx, t: RegistrarTimer) {
        ctx.out.push(Action::Fired(Timer::Registrar(self.id, t)));
        self.on_timer(ctx, t);
    }
}
