//! The CPM Controlling Function: the conference focus of each group session. It keeps each
//! member's leg (in, being invited, out), fans chat messages out to the participants' PFs,
//! routes IMDNs to the original sender, serves the conference event package (RFC 4575), tears
//! an idle session down, and restarts an inactive one when a participant's PF sends a re-join
//! INVITE (OMA CPM 8.2.2.7) by inviting every other member again.

use super::{Action, CfTimer, Ctx, NetworkFunction, NodeDeadlines, Owner, Timer};
use crate::engine::Time;
use crate::protocol::{
    Addr, Dialog, GroupId, Invite, Item, MemberId, Method, Msg, Msrp, NodeId, Packet, Payload, Reason, Role, Session,
    Sip, UserId,
};
use crate::workload::World;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    Out,
    Inviting,
    In,
}

/// A member's leg as the focus sees it, with the member's PF, so that a fan-out reads only the
/// group's own records (no look-up of the member's user: a cache miss per member at scale).
#[derive(Clone, Debug)]
struct CfMember {
    leg: Leg,
    generation: u32,
    subscribed: bool,
    pf: NodeId,
}

struct CfGroup {
    group: GroupId,
    active: bool,
    contribution: u32,
    last_chat: Time,
    idle_generation: u32,
    members: Vec<CfMember>,
    participants: Rc<Vec<UserId>>,
    dirty: bool,
}

pub struct ControllingFunction {
    pub id: NodeId,
    groups: Vec<CfGroup>,
    /// Timer B of join INVITEs (64·T1), kept as a FIFO.
    deadlines: NodeDeadlines<CfTimer>,
    /// Copies for members being invited, forwarded once their PF answers 200 (by membership).
    pending: fnv::FnvHashMap<u32, Vec<Item>>,
}

impl ControllingFunction {
    pub fn new(id: NodeId, world: &World) -> ControllingFunction {
        let groups = world
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.cf == id)
            .map(|(i, g)| CfGroup {
                group: GroupId(i as u32),
                active: false,
                contribution: 0,
                last_chat: 0,
                idle_generation: 0,
                members: (g.first..g.first + g.count)
                    .map(|m| CfMember {
                        leg: Leg::Out,
                        generation: 0,
                        subscribed: false,
                        pf: world.user(world.member(MemberId(m)).user).pf,
                    })
                    .collect(),
                participants: Rc::from(Vec::new()),
                dirty: true,
            })
            .collect();
        ControllingFunction { id, groups, deadlines: NodeDeadlines::default(), pending: Default::default() }
    }

    /// Where membership `m` is kept here: its group's index among this focus's groups, and its
    /// position in the group's member list.
    fn place(world: &World, m: MemberId) -> (usize, usize) {
        let gi = world.group(world.member(m).group);
        (gi.cf_local as usize, (m.0 - gi.first) as usize)
    }

    fn local(ctx: &Ctx, g: GroupId) -> usize {
        ctx.world.group(g).cf_local as usize
    }

    /// The member's leg state.
    pub fn leg(&self, world: &World, m: MemberId) -> Leg {
        let (gl, at) = Self::place(world, m);
        self.groups[gl].members[at].leg
    }

    fn participants(&mut self, ctx: &Ctx, gl: usize) -> Rc<Vec<UserId>> {
        let g = &mut self.groups[gl];
        if g.dirty {
            let first = ctx.world.group(g.group).first;
            let list: Vec<UserId> = g
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.leg != Leg::Out)
                .map(|(i, _)| ctx.world.member(MemberId(first + i as u32)).user)
                .collect();
            g.participants = Rc::from(list);
            g.dirty = false;
        }
        g.participants.clone()
    }

    fn pf_of(mm: &CfMember) -> Addr {
        Addr::Node(mm.pf)
    }

    fn member_id(ctx: &Ctx, g: &CfGroup, pos: usize) -> MemberId {
        MemberId(ctx.world.group(g.group).first + pos as u32)
    }

    /// Restart an inactive group session: invite every member that is not in it (8.2.2.7).
    fn activate(&mut self, ctx: &mut Ctx, gl: usize) {
        let g = &mut self.groups[gl];
        g.active = true;
        g.contribution += 1;
        g.last_chat = ctx.now;
        g.idle_generation += 1;
        let (group, ig) = (g.group, g.idle_generation);
        ctx.stats.groups_restarts += 1;
        ctx.timer(ctx.now + ctx.world.cfg.idle_timeout, Timer::Cf(self.id, CfTimer::Idle(group, ig)));
        for pos in 0..self.groups[gl].members.len() {
            if self.groups[gl].members[pos].leg == Leg::Out {
                self.groups[gl].members[pos].leg = Leg::Inviting;
                self.groups[gl].dirty = true;
            }
        }
        let participants = self.participants(ctx, gl);
        let g = &mut self.groups[gl];
        for pos in 0..g.members.len() {
            if g.members[pos].leg != Leg::Inviting {
                continue;
            }
            let m = Self::member_id(ctx, g, pos);
            let mm = &mut g.members[pos];
            mm.generation += 1;
            let dialog = Dialog { role: Role::Leg, id: m.0, generation: mm.generation };
            let invite =
                Invite::Join { member: m, contribution_id: g.contribution, participants: participants.clone() };
            ctx.send(Addr::Node(self.id), Self::pf_of(mm), Msg::Sip(Sip::Invite { dialog, invite }));
            let timeout = CfTimer::JoinTimeout(m, mm.generation);
            self.deadlines.after(ctx, Owner::Node(self.id), ctx.world.cfg.timer_b, timeout);
        }
    }

    fn teardown(&mut self, ctx: &mut Ctx, gl: usize) {
        let me = Addr::Node(self.id);
        let g = &mut self.groups[gl];
        g.active = false;
        g.dirty = true;
        for pos in 0..g.members.len() {
            let m = Self::member_id(ctx, g, pos);
            let mm = &mut g.members[pos];
            if mm.leg != Leg::Out {
                let dialog = Dialog { role: Role::Leg, id: m.0, generation: mm.generation };
                ctx.send(me, Self::pf_of(mm), Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
                mm.leg = Leg::Out;
                ctx.stats.groups_copies_lost += self.pending.remove(&m.0).map_or(0, |v| v.len()) as u64;
            }
            if mm.subscribed {
                mm.subscribed = false;
                let dialog = Dialog { role: Role::Conference, id: m.0, generation: 0 };
                ctx.send(
                    me,
                    Self::pf_of(mm),
                    Msg::Sip(Sip::ConfNotify { dialog, participants: Rc::from(Vec::new()), terminated: true }),
                );
            }
        }
    }

    fn notify_subscribers(&mut self, ctx: &mut Ctx, gl: usize) {
        let participants = self.participants(ctx, gl);
        let g = &self.groups[gl];
        for pos in 0..g.members.len() {
            if g.members[pos].subscribed {
                let m = Self::member_id(ctx, g, pos);
                let dialog = Dialog { role: Role::Conference, id: m.0, generation: 0 };
                let n = Sip::ConfNotify { dialog, participants: participants.clone(), terminated: false };
                ctx.send(Addr::Node(self.id), Self::pf_of(&g.members[pos]), Msg::Sip(n));
            }
        }
    }

    fn send_item(&self, ctx: &mut Ctx, m: MemberId, to: Addr, item: Item) {
        let chunks = item.size().div_ceil(ctx.world.cfg.chunk_size).max(1) as u16;
        for c in 1..=chunks {
            ctx.send(
                Addr::Node(self.id),
                to,
                Msg::Msrp(Msrp::Send { session: Session::Leg(m), item, chunk: c, chunks, seq: 0 }),
            );
        }
    }

    /// Deliver a copy to member `pos` according to its leg.
    fn forward(&mut self, ctx: &mut Ctx, gl: usize, pos: usize, item: Item) {
        let m = Self::member_id(ctx, &self.groups[gl], pos);
        match self.groups[gl].members[pos].leg {
            Leg::In => self.send_item(ctx, m, Self::pf_of(&self.groups[gl].members[pos]), item),
            Leg::Inviting => self.pending.entry(m.0).or_default().push(item),
            Leg::Out => {
                if item.is_notification() {
                    ctx.stats.imdn_undeliverable += 1;
                }
            }
        }
    }
}

impl NetworkFunction for ControllingFunction {
    type Timer = CfTimer;
    type Deadline = CfTimer;

    fn owner(&self) -> Owner {
        Owner::Node(self.id)
    }
    #[inline]
    fn prefetch(&self, world: &World, p: &Packet) {
        // Only what `handle` acts on: the focus ignores most responses (to its NOTIFYs).
        let m = match p.msg {
            Msg::Sip(Sip::Invite { invite: Invite::Rejoin { member }, .. }) => member,
            Msg::Sip(Sip::Response { dialog, method: Method::Invite, .. }) if dialog.role == Role::Leg => {
                MemberId(dialog.id)
            }
            Msg::Sip(Sip::Bye { dialog, .. } | Sip::Subscribe { dialog, .. }) => MemberId(dialog.id),
            Msg::Msrp(Msrp::Send { session: Session::Leg(m), chunk, chunks, .. }) if chunk == chunks => m,
            _ => return,
        };
        crate::engine::prefetch_at(&self.groups, Self::place(world, m).0);
    }
    fn handle(&mut self, ctx: &mut Ctx, p: Packet) {
        let me = Addr::Node(self.id);
        match p.msg {
            Msg::Sip(Sip::Invite { dialog, invite: Invite::Rejoin { member } }) => {
                let (gl, at) = Self::place(ctx.world, member);
                let was_active = self.groups[gl].active;
                self.groups[gl].members[at].leg = Leg::In;
                self.groups[gl].dirty = true;
                if !was_active {
                    self.activate(ctx, gl);
                } else {
                    self.notify_subscribers(ctx, gl);
                }
                let pending = self.pending.remove(&member.0).unwrap_or_default();
                ctx.send(
                    me,
                    p.src(),
                    Msg::Sip(Sip::Response { dialog, method: Method::Invite, status: 200, retry_after_s: None }),
                );
                let to = Self::pf_of(&self.groups[gl].members[at]);
                for it in pending {
                    self.send_item(ctx, member, to, it);
                }
            }
            Msg::Sip(Sip::Response { dialog, method: Method::Invite, status, .. }) if dialog.role == Role::Leg => {
                let m = MemberId(dialog.id);
                let (gl, at) = Self::place(ctx.world, m);
                let mm = &mut self.groups[gl].members[at];
                if mm.leg != Leg::Inviting || mm.generation != dialog.generation {
                    return;
                }
                if status == 200 {
                    mm.leg = Leg::In;
                    let pending = self.pending.remove(&m.0).unwrap_or_default();
                    ctx.send(me, p.src(), Msg::Sip(Sip::Ack { dialog }));
                    let to = Self::pf_of(mm);
                    for it in pending {
                        self.send_item(ctx, m, to, it);
                    }
                } else {
                    mm.leg = Leg::Out;
                    ctx.stats.groups_copies_lost += self.pending.remove(&m.0).map_or(0, |v| v.len()) as u64;
                    self.groups[gl].dirty = true;
                }
            }
            Msg::Sip(Sip::Bye { dialog, .. }) => {
                let m = MemberId(dialog.id);
                let (gl, at) = Self::place(ctx.world, m);
                let mm = &mut self.groups[gl].members[at];
                ctx.send(
                    me,
                    p.src(),
                    Msg::Sip(Sip::Response { dialog, method: Method::Bye, status: 200, retry_after_s: None }),
                );
                if mm.leg != Leg::Out {
                    mm.leg = Leg::Out;
                    ctx.stats.groups_copies_lost += self.pending.remove(&m.0).map_or(0, |v| v.len()) as u64;
                    self.groups[gl].dirty = true;
                    self.notify_subscribers(ctx, gl);
                }
            }
            Msg::Sip(Sip::Subscribe { dialog, expires_s }) => {
                let m = MemberId(dialog.id);
                let (gl, at) = Self::place(ctx.world, m);
                ctx.send(
                    me,
                    p.src(),
                    Msg::Sip(Sip::Response { dialog, method: Method::Subscribe, status: 200, retry_after_s: None }),
                );
                let active = self.groups[gl].active;
                let subscribe = expires_s > 0 && active;
                self.groups[gl].members[at].subscribed = subscribe;
                let participants = if subscribe { self.participants(ctx, gl) } else { Rc::from(Vec::new()) };
                // RFC 6665 §4.2.1: the notifier sends a NOTIFY at once; for an unsubscribe (or a
                // session that ended) it carries Subscription-State: terminated.
                ctx.send(me, p.src(), Msg::Sip(Sip::ConfNotify { dialog, participants, terminated: !subscribe }));
            }
            Msg::Sip(_) => {}
            Msg::Msrp(Msrp::Send { session: Session::Leg(m), item, chunk, chunks, .. }) => {
                // Legs between servers use Failure-Report: partial: no 200 (see `protocol::Msrp`).
                if chunk != chunks {
                    return;
                }
                let (gl, at) = Self::place(ctx.world, m);
                if !self.groups[gl].active {
                    // The PF sent on a leg the focus had just torn down (the BYE is still on its
                    // way): restart rather than lose the message.
                    self.groups[gl].members[at].leg = Leg::In;
                    self.activate(ctx, gl);
                }
                match item.payload() {
                    Payload::Chat | Payload::IsComposing => {
                        if item.payload() == Payload::Chat {
                            self.groups[gl].last_chat = ctx.now;
                        }
                        for pos in 0..self.groups[gl].members.len() {
                            if pos == at {
                                continue;
                            }
                            if item.payload() == Payload::IsComposing && self.groups[gl].members[pos].leg != Leg::In {
                                continue;
                            }
                            self.forward(ctx, gl, pos, item);
                        }
                    }
                    Payload::Delivered | Payload::Displayed => {
                        match ctx.world.membership(item.origin, ctx.world.member(m).group) {
                            Some(target) => {
                                let (_, pos) = Self::place(ctx.world, target);
                                self.forward(ctx, gl, pos, item);
                            }
                            None => ctx.stats.imdn_undeliverable += 1,
                        }
                    }
                    Payload::GroupState => {}
                }
            }
            Msg::Msrp(_) => {}
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx, t: CfTimer) {
        match t {
            CfTimer::Idle(g, ig) => {
                let gl = Self::local(ctx, g);
                let grp = &mut self.groups[gl];
                if !grp.active || grp.idle_generation != ig {
                    return;
                }
                let due = grp.last_chat + ctx.world.cfg.idle_timeout;
                if ctx.now >= due {
                    self.teardown(ctx, gl);
                } else {
                    grp.idle_generation += 1;
                    ctx.timer(due, Timer::Cf(self.id, CfTimer::Idle(g, grp.idle_generation)));
                }
            }
            CfTimer::JoinTimeout(m, generation) => {
                let (gl, at) = Self::place(ctx.world, m);
                let mm = &mut self.groups[gl].members[at];
                if mm.leg == Leg::Inviting && mm.generation == generation {
                    mm.leg = Leg::Out;
                    ctx.stats.count_response(408);
                    ctx.stats.groups_copies_lost += self.pending.remove(&m.0).map_or(0, |v| v.len()) as u64;
                    self.groups[gl].dirty = true;
                }
            }
        }
    }
    fn deadlines(&mut self) -> &mut NodeDeadlines<CfTimer> {
        &mut self.deadlines
    }
    /// A join INVITE's Timer B is stale once its member is no longer being invited in that
    /// generation (answered, or invited anew).
    fn is_live(&self, world: &World, t: &CfTimer) -> bool {
        match *t {
            CfTimer::JoinTimeout(m, generation) => {
                let (gl, at) = Self::place(world, m);
                let mm = &self.groups[gl].members[at];
                mm.leg == Leg::Inviting && mm.generation == generation
            }
            CfTimer::Idle(..) => true,
        }
    }
    fn deadline_passed(&mut self, ctx: &mut Ctx, t: CfTimer) {
        ctx.out.push(Action::Fired(Timer::Cf(self.id, t)));
        self.on_timer(ctx, t);
    }
}

#[cfg(test)]
mod tests {
    /// A fan-out reads one of these per member: the PF is kept in what was padding.
    #[test]
    fn a_focus_member_record_stays_eight_bytes() {
        assert_eq!(size_of::<super::CfMember>(), 8);
    }
}
