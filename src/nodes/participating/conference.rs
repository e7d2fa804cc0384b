//! The PF's leg in each group session, on the served user's behalf: joined by the focus's
//! INVITE, torn down by its BYE, re-joined (OMA CPM 8.2.2.7) when the client sends something
//! into a session the PF is no longer in, left with BYE cause=200 after a decline or a
//! client's BYE (DD-10, DD-16). While the user is away the PF subscribes to the conference
//! event package (RFC 4575) to keep the participant list that a deferred INVITE carries (DD-3).

use super::ParticipatingFunction;
use crate::nodes::{Ctx, Owner, PfTimer, Timer};
use crate::protocol::{Addr, Dialog, Invite, Item, MemberId, Method, Msg, Payload, Reason, Role, Session, Sip, UserId};
use std::rc::Rc;

/// The PF's leg towards the focus for one membership: its view of whether the group session
/// is active (it learns of a teardown by the focus's BYE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    Out,
    /// A re-join INVITE to the CF is outstanding (8.2.2.7); `tries` re-sends after 503 so far.
    Joining {
        tries: u8,
    },
    In,
}

/// Re-sends of a re-join INVITE answered 503 before the PF gives up on it.
const REJOIN_RETRIES: u8 = 3;

/// What the PF knows of a membership's group session.
#[derive(Debug)]
pub struct Conference {
    pub leg: Leg,
    /// Generation of the PF↔CF leg dialog: one per re-join INVITE (and per re-send).
    generation: u32,
    /// Subscribed to the conference event package.
    pub subscribed: bool,
    /// The session's Contribution-ID, as the focus's INVITE gave it (DD-3).
    pub contribution: u32,
    /// The latest participant list (DD-3): from the focus's INVITE, then its NOTIFYs.
    pub participants: Rc<Vec<UserId>>,
}

impl Conference {
    pub fn new(participants: Rc<Vec<UserId>>) -> Conference {
        Conference { leg: Leg::Out, generation: 0, subscribed: false, contribution: 0, participants }
    }
}

impl ParticipatingFunction {
    /// The focus (re)starts the session and invites this member: the PF, as B2BUA, answers for
    /// the user and stays in the session on its behalf.
    pub(super) fn invited_by_focus(
        &mut self,
        ctx: &mut Ctx,
        focus: Addr,
        dialog: Dialog,
        member: MemberId,
        contribution: u32,
        participants: &Rc<Vec<UserId>>,
    ) {
        let ml = Self::ml(ctx, member);
        let c = &mut self.members[ml].conference;
        c.leg = Leg::In;
        c.contribution = contribution;
        c.participants = participants.clone();
        let waiting = self.upstream.remove(&(ml as u32)).unwrap_or_default();
        ctx.send(
            Addr::Node(self.id),
            focus,
            Msg::Sip(Sip::Response { dialog, method: Method::Invite, status: 200, retry_after_s: None }),
        );
        self.joined(ctx, ml, waiting);
    }

    /// In the session: what the client sent meanwhile goes to the focus, and an absent user's
    /// PF subscribes to the conference.
    fn joined(&mut self, ctx: &mut Ctx, ml: usize, waiting: Vec<Item>) {
        for it in waiting {
            self.upstream(ctx, ml, it, false);
        }
        let ul = ctx.world.member(self.members[ml].id).user_pf_local as usize;
        if !self.users[ul].registered && !self.members[ml].conference.subscribed {
            self.subscribe(ctx, ml, 3600);
        }
    }

    /// The focus tore the session down: it is inactive now.
    pub(super) fn focus_left(&mut self, ml: usize) {
        let c = &mut self.members[ml].conference;
        c.leg = Leg::Out;
        c.subscribed = false;
    }

    /// A conference event NOTIFY: the latest participant list, or the end of the subscription.
    pub(super) fn conference_notify(&mut self, ml: usize, participants: &Rc<Vec<UserId>>, terminated: bool) {
        let c = &mut self.members[ml].conference;
        if terminated {
            c.subscribed = false;
        } else {
            c.participants = participants.clone();
        }
    }

    /// The focus's final response to a re-join INVITE.
    pub(super) fn rejoin_response(
        &mut self,
        ctx: &mut Ctx,
        focus: Addr,
        dialog: Dialog,
        status: u16,
        retry_after_s: Option<u32>,
    ) {
        let ml = Self::ml(ctx, MemberId(dialog.id));
        let c = &mut self.members[ml].conference;
        if !matches!(c.leg, Leg::Joining { .. }) || c.generation != dialog.generation {
            return;
        }
        if status == 200 {
            c.leg = Leg::In;
            ctx.send(Addr::Node(self.id), focus, Msg::Sip(Sip::Ack { dialog }));
            let waiting = self.upstream.remove(&(ml as u32)).unwrap_or_default();
            self.joined(ctx, ml, waiting);
        } else {
            self.rejoin_failed(ctx, ml, if status == 503 { Some(retry_after_s.unwrap_or(1)) } else { None });
        }
    }

    /// Something from the client towards the group: to the CF over the leg, re-joining first
    /// if the PF is not in the session (8.2.2.7).
    pub(super) fn upstream(&mut self, ctx: &mut Ctx, ml: usize, item: Item, in_deferred: bool) {
        let m = self.members[ml].id;
        match self.members[ml].conference.leg {
            Leg::In => {
                let cf = Addr::Node(ctx.world.group(item.group).cf);
                self.send_chunks(ctx, cf, Session::Leg(m), item, 0);
            }
            Leg::Joining { .. } => self.upstream.entry(ml as u32).or_default().push(item),
            Leg::Out => {
                // Live typing alone does not restart a session; in a deferred-delivery session
                // any IMDN, isComposing or message does (DD-15).
                if item.payload() == Payload::IsComposing && !in_deferred {
                    return;
                }
                self.upstream.entry(ml as u32).or_default().push(item);
                if in_deferred {
                    ctx.stats.delivery_restarts += 1;
                }
                self.rejoin(ctx, ml);
            }
        }
    }

    /// A re-join INVITE to the CF (8.2.2.7): the first, or a re-send after a 503.
    fn rejoin(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        let c = &mut pm.conference;
        let tries = match c.leg {
            Leg::Joining { tries } => tries,
            Leg::Out | Leg::In => 0,
        };
        c.leg = Leg::Joining { tries };
        c.generation += 1;
        let dialog = Dialog { role: Role::Leg, id: pm.id.0, generation: c.generation };
        let timeout = PfTimer::RejoinTimeout(pm.id, c.generation);
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Invite { dialog, invite: Invite::Rejoin { member: pm.id } }));
        self.deadlines.after(ctx, Owner::Node(self.id), ctx.world.cfg.timer_b, timeout);
    }

    /// A re-join failed: a 503 is re-sent after its Retry-After (RFC 3261 §21.5.4) a few times;
    /// otherwise the PF stays out and what the client sent is lost.
    fn rejoin_failed(&mut self, ctx: &mut Ctx, ml: usize, retry_after_s: Option<u32>) {
        let pm = &mut self.members[ml];
        let c = &mut pm.conference;
        if let (Some(ra), Leg::Joining { tries }) = (retry_after_s, c.leg)
            && tries < REJOIN_RETRIES
        {
            c.leg = Leg::Joining { tries: tries + 1 };
            c.generation += 1;
            let at = ctx.now + ra as u64 * crate::units::SEC;
            ctx.timer(at, Timer::Pf(self.id, PfTimer::RejoinRetry(pm.id, c.generation)));
            return;
        }
        c.leg = Leg::Out;
        ctx.stats.groups_upstream_lost += self.upstream.remove(&(ml as u32)).map_or(0, |v| v.len()) as u64;
    }

    /// Whether a re-join INVITE of this generation is outstanding.
    pub(super) fn rejoining(&self, ml: usize, generation: u32) -> bool {
        let c = &self.members[ml].conference;
        matches!(c.leg, Leg::Joining { .. }) && c.generation == generation
    }

    /// Timer B of a re-join INVITE.
    pub(super) fn rejoin_timeout(&mut self, ctx: &mut Ctx, ml: usize, generation: u32) {
        if self.rejoining(ml, generation) {
            ctx.stats.count_response(408);
            self.rejoin_failed(ctx, ml, None);
        }
    }

    /// The Retry-After of a 503 to a re-join INVITE has passed.
    pub(super) fn rejoin_retry(&mut self, ctx: &mut Ctx, ml: usize, generation: u32) {
        if self.rejoining(ml, generation) {
            self.rejoin(ctx, ml);
        }
    }

    /// BYE to the focus with Reason cause=200, release media, unsubscribe (DD-10, 8.2.2.3).
    pub(super) fn leave_conference(&mut self, ctx: &mut Ctx, ml: usize) {
        let pm = &mut self.members[ml];
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        let dialog = Dialog { role: Role::Leg, id: pm.id.0, generation: pm.conference.generation };
        pm.conference.leg = Leg::Out;
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Bye { dialog, reason: Reason::CallCompleted }));
        if pm.conference.subscribed {
            self.subscribe(ctx, ml, 0);
        }
    }

    /// SUBSCRIBE to the conference event package (`expires_s` 0: unsubscribe).
    pub(super) fn subscribe(&mut self, ctx: &mut Ctx, ml: usize, expires_s: u32) {
        let pm = &mut self.members[ml];
        pm.conference.subscribed = expires_s > 0;
        let dialog = Dialog { role: Role::Conference, id: pm.id.0, generation: 0 };
        let cf = Addr::Node(ctx.world.group(ctx.world.member(pm.id).group).cf);
        ctx.send(Addr::Node(self.id), cf, Msg::Sip(Sip::Subscribe { dialog, expires_s }));
    }

    /// De-registration (3rd-party REGISTER with Expires: 0, or a reg-event saying the binding
    /// expired): the PF stays in each active group session on the user's behalf, subscribed to
    /// the conference event package.
    pub(super) fn deregistered(&mut self, ctx: &mut Ctx, u: UserId) {
        self.users[Self::ul(ctx, u)].registered = false;
        for &m in ctx.world.memberships(u) {
            let ml = Self::ml(ctx, m);
            let c = &self.members[ml].conference;
            if c.leg == Leg::In && !c.subscribed {
                self.subscribe(ctx, ml, 3600);
            }
        }
    }
}
