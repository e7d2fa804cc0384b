//! The workload: who the users are (classes, presence processes, behaviour), which groups
//! exist and who is in them, and the group traffic. `World` is the static part, built once from
//! the model and the seed; `Traffic` generates each group's messages on its own random stream.
//!
//! Users are numbered class by class and spread round robin over the registrars and the
//! participating nodes; groups round robin over the controlling nodes (so adding a server moves
//! load predictably, DESIGN "The model"). A pool's members take their turns as if they had been
//! listed one by one in its place (`Topology::expanded`).

pub mod prehistory;
pub mod profile;

use crate::dist::Sampler;
use crate::engine::Time;
use crate::engine::rng::{self, Rng, Stream};
use crate::model::{MessageRate, Model, NodeKind, RetryPolicy};
use crate::policy::StoreLimits;
use crate::protocol::{Addr, GroupId, MemberId, Msg, NodeId, Packet, UserId};
use crate::units::SEC;
use profile::DailyClock;
use rand::Rng as _;

/// A user class, compiled.
pub struct Class {
    pub name: String,
    pub always_online: bool,
    pub online: Sampler,
    pub offline: Sampler,
    pub ungraceful: f64,
    pub expiry_s: u32,
    pub accept: f64,
    pub decline: f64,
    pub busy: f64,
    pub answer_delay: Sampler,
    pub bye_during_delivery: f64,
    pub reply_during_delivery: f64,
    pub reregister_delay: Sampler,
    pub sip_instance: bool,
    /// Stationary probability of being online (without a presence profile).
    pub p_online: f64,
    /// The presence profile, if the class has one.
    pub presence: Option<Box<PresenceProfile>>,
}

/// A class's presence profile: its online shares by local hour, and the clocks its online and
/// offline periods run on.
pub struct PresenceProfile {
    pub shares: [f64; 24],
    pub online: DailyClock,
    pub offline: DailyClock,
}

impl Class {
    /// When an online (or offline) period drawn as `d` ticks, starting at `now`, ends.
    #[inline]
    pub fn period_end(&self, now: Time, d: u64, online: bool) -> Time {
        let d = d.max(1);
        match &self.presence {
            None => now + d,
            Some(p) => if online { &p.online } else { &p.offline }.advance(now, d),
        }
    }

    /// The probability that a user of the class is online at time `t`: the profile's share in
    /// that local hour, or the stationary share.
    pub fn share_online_at(&self, t: Time) -> f64 {
        match &self.presence {
            Some(p) => p.shares[p.online.hour(t)],
            None => self.p_online,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct UserInfo {
    pub class: u16,
    pub access: NodeId,
    pub registrar: NodeId,
    pub registrar_local: u32,
    pub pf: NodeId,
    pub pf_local: u32,
    /// This user's memberships: `world.user_members[first..first + count]`.
    pub first_member: u32,
    pub member_count: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct GroupInfo {
    pub cf: NodeId,
    pub cf_local: u32,
    /// Members are `MemberId(first .. first + count)`.
    pub first: u32,
    pub count: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct MemberInfo {
    pub user: UserId,
    pub group: GroupId,
    /// Index among the memberships served by the user's PF.
    pub pf_local: u32,
    /// The user's index among the users of its PF (its `UserInfo::pf_local`), so that the PF
    /// finds a membership's user state from the membership alone.
    pub user_pf_local: u32,
}

/// Run-wide parameters the nodes need, in ticks and plain numbers.
pub struct Config {
    pub timer_b: u64,
    pub msrp_timeout: u64,
    pub register_retry_base: u64,
    pub register_retry_max: u64,
    pub third_party_retries: u32,
    pub chunk_size: u32,
    pub msrp_window: u32,
    pub retry: RetryPolicy,
    pub store: StoreLimits,
    pub group_state_object: bool,
    pub unsubscribe_on_rejoin: bool,
    pub imdn_delivered: f64,
    pub imdn_displayed: f64,
    pub imdn_displayed_delay: Sampler,
    pub imdn_size: u32,
    pub is_composing: f64,
    pub idle_timeout: u64,
    pub message_size: Sampler,
}

pub struct World {
    pub seed: u64,
    pub horizon: Time,
    pub warmup: Time,
    pub cfg: Config,
    pub classes: Vec<Class>,
    pub users: Vec<UserInfo>,
    pub user_members: Vec<MemberId>,
    pub groups: Vec<GroupInfo>,
    pub members: Vec<MemberInfo>,
    /// DD-7: by membership, whether its original INVITE came from a REFER carrying Referred-By
    /// (the referrer). Apart from `members`, where it would make every entry half as large
    /// again for a header of the rare deferred-delivery INVITE.
    referred_by: Vec<Option<UserId>>,
    pub node_names: Vec<String>,
    pub node_kinds: Vec<NodeKind>,
    /// Per node, how many users / memberships it serves.
    pub pf_users: Vec<u32>,
    pub pf_members: Vec<u32>,
    pub registrar_users: Vec<u32>,
    /// The S-CSCFs, over which `build` deals the users round robin by id, and the access node
    /// of every user when they all share one (as in most models): routing a message to or
    /// from a device needs these, and finds them without reading the user's record, a cache
    /// miss at scale (see `access_of`, `registrar_of`).
    registrars: Vec<NodeId>,
    one_access: Option<NodeId>,
}

impl World {
    #[inline]
    pub fn user(&self, u: UserId) -> &UserInfo {
        &self.users[u.0 as usize]
    }
    #[inline]
    pub fn member(&self, m: MemberId) -> &MemberInfo {
        &self.members[m.0 as usize]
    }
    /// DD-7: who referred membership `m`'s user into the group, if anyone did.
    pub fn referred_by(&self, m: MemberId) -> Option<UserId> {
        self.referred_by[m.0 as usize]
    }
    #[inline]
    pub fn group(&self, g: GroupId) -> &GroupInfo {
        &self.groups[g.0 as usize]
    }
    /// `user(u).access`, mostly without reading the user's record.
    #[inline]
    pub fn access_of(&self, u: UserId) -> NodeId {
        match self.one_access {
            Some(a) => a,
            None => self.user(u).access,
        }
    }
    /// `user(u).registrar`, without reading the user's record.
    #[inline]
    pub fn registrar_of(&self, u: UserId) -> NodeId {
        dealt(&self.registrars, u.0 as usize)
    }
    #[inline]
    pub fn class_of(&self, u: UserId) -> &Class {
        &self.classes[self.users[u.0 as usize].class as usize]
    }
    pub fn memberships(&self, u: UserId) -> &[MemberId] {
        let i = &self.users[u.0 as usize];
        &self.user_members[i.first_member as usize..(i.first_member + i.member_count) as usize]
    }
    pub fn group_members(&self, g: GroupId) -> impl Iterator<Item = MemberId> + '_ {
        let gi = &self.groups[g.0 as usize];
        (gi.first..gi.first + gi.count).map(MemberId)
    }
    /// The membership of `u` in `g`, if any.
    pub fn membership(&self, u: UserId, g: GroupId) -> Option<MemberId> {
        self.memberships(u).iter().copied().find(|m| self.members[m.0 as usize].group == g)
    }

    /// The S-CSCF that proxies `p`, when it is SIP between a UE and a PF: such requests and
    /// responses go through the user's S-CSCF (3GPP TS 24.229 §5.4.3), which holds the
    /// registration binding.
    #[inline]
    pub fn proxy_of(&self, p: &Packet) -> Option<NodeId> {
        if !matches!(p.msg, Msg::Sip(_)) {
            return None;
        }
        match (p.src(), p.dst()) {
            (Addr::User(u), Addr::Node(n)) | (Addr::Node(n), Addr::User(u))
                if self.node_kinds[n.0 as usize] == NodeKind::Participating =>
            {
                Some(self.registrar_of(u))
            }
            _ => None,
        }
    }

    /// The node a packet goes to next, and whether that is its S-CSCF proxying it: the S-CSCF
    /// for SIP between a UE and its PF not yet proxied, else the destination (for a device,
    /// its access node).
    #[inline]
    pub fn next_hop(&self, p: &Packet) -> (NodeId, bool) {
        if !p.proxied()
            && let Some(scscf) = self.proxy_of(p)
        {
            return (scscf, true);
        }
        match p.dst() {
            Addr::Node(n) => (n, false),
            Addr::User(u) => (self.access_of(u), false),
        }
    }

    /// Builds the static world from a validated model.
    pub fn build(model: &Model, seed: u64) -> World {
        // Pools are spread over as their members, exactly as if they had been listed one by one.
        let topology = model.topology.expanded();
        let nodes = &topology.nodes;
        let of = |k: NodeKind| -> Vec<NodeId> {
            nodes.iter().enumerate().filter(|(_, n)| n.spec.kind == k).map(|(i, _)| NodeId(i as u16)).collect()
        };
        let (registrars, pfs, cfs, access) =
            (of(NodeKind::Registrar), of(NodeKind::Participating), of(NodeKind::Controlling), of(NodeKind::Access));
        let mut classes = vec![];
        for c in &model.population {
            let online = c.online.compile().expect("validated");
            let offline = c.offline.compile().expect("validated");
            let mean = |s: &Sampler, id: u64| {
                let m = s.mean();
                if m.is_finite() {
                    m
                } else {
                    let mut r = rng::stream(seed, Stream::Setup, u64::MAX - id);
                    (0..4096).map(|_| s.sample(&mut r)).sum::<f64>() / 4096.0
                }
            };
            let (on, off) = (mean(&online, 1), mean(&offline, 2));
            let p_online = if c.always_online || on + off <= 0.0 { 1.0 } else { on / (on + off) };
            classes.push(Class {
                name: c.class.clone(),
                always_online: c.always_online,
                p_online,
                presence: c.presence_profile.as_ref().map(|s| {
                    let (online, offline) = DailyClock::presence(s, p_online, c.utc_offset_h);
                    Box::new(PresenceProfile { shares: std::array::from_fn(|h| s[h]), online, offline })
                }),
                online,
                offline,
                ungraceful: c.ungraceful_offline,
                expiry_s: (c.registration_expiry.0 / SEC) as u32,
                accept: c.answer.accept,
                decline: c.answer.decline,
                busy: c.answer.busy,
                answer_delay: c.answer.delay.compile().expect("validated"),
                bye_during_delivery: c.bye_during_delivery,
                reply_during_delivery: c.reply_during_delivery,
                reregister_delay: c.reregister_delay.compile().expect("validated"),
                sip_instance: c.sip_instance,
            });
        }
        // Users, class by class.
        // The large arrays are sized up front (exactly, or the memberships by their expected
        // number): grown by doubling, each step is a copy into fresh memory (issue 15).
        let mut users = Vec::with_capacity(model.population.iter().map(|c| c.users as usize).sum());
        let mut class_ranges = vec![];
        let (mut pf_users, mut reg_users) = (vec![0u32; nodes.len()], vec![0u32; nodes.len()]);
        for (ci, c) in model.population.iter().enumerate() {
            let acc = match &c.access {
                Some(a) => NodeId(topology.members_of(a).expect("validated").start as u16),
                None => access[0],
            };
            let start = users.len() as u32;
            for _ in 0..c.users {
                let u = users.len();
                let (pf, reg) = (dealt(&pfs, u), dealt(&registrars, u));
                users.push(UserInfo {
                    class: ci as u16,
                    access: acc,
                    registrar: reg,
                    registrar_local: reg_users[reg.0 as usize],
                    pf,
                    pf_local: pf_users[pf.0 as usize],
                    first_member: 0,
                    member_count: 0,
                });
                pf_users[pf.0 as usize] += 1;
                reg_users[reg.0 as usize] += 1;
            }
            class_ranges.push((c.class.clone(), start, users.len() as u32));
        }
        // Groups and their members, each group from its own set-up stream.
        let mut groups = Vec::with_capacity(model.groups.count as usize);
        let mut cf_groups = vec![0u32; nodes.len()];
        let counts: Vec<Sampler> = model.groups.members.iter().map(|m| m.count.compile().expect("validated")).collect();
        // Draws are capped by their class's size, so this is a little more than will be used;
        // more than that, and the vectors grow as they would have.
        let per_group: f64 = counts.iter().map(|c| c.mean()).filter(|m| m.is_finite()).sum();
        let expected = (per_group * model.groups.count as f64 * 1.02) as usize + 1024;
        let mut members: Vec<MemberInfo> = Vec::with_capacity(expected);
        let mut referred_by: Vec<Option<UserId>> = Vec::with_capacity(expected);
        for g in 0..model.groups.count {
            let mut r = rng::stream(seed, Stream::Setup, g as u64);
            let first = members.len() as u32;
            let mut chosen: Vec<u32> = vec![];
            for (mi, spec) in model.groups.members.iter().enumerate() {
                let (_, lo, hi) = class_ranges.iter().find(|(n, _, _)| *n == spec.class).expect("validated").clone();
                let size = (hi - lo) as usize;
                let k = (counts[mi].sample_u64(&mut r) as usize).min(size);
                for i in rand::seq::index::sample(&mut r, size, k).into_iter() {
                    let u = lo + i as u32;
                    if !chosen.contains(&u) {
                        chosen.push(u);
                    }
                }
            }
            chosen.sort_unstable();
            for (pos, &u) in chosen.iter().enumerate() {
                // DD-7: some members were invited by a REFER from another participant.
                let referred = r.random::<f64>() < model.groups.referred_share && chosen.len() > 1;
                let referrer = if referred {
                    let mut j = r.random_range(0..chosen.len() - 1);
                    if j >= pos {
                        j += 1;
                    }
                    Some(UserId(chosen[j]))
                } else {
                    None
                };
                members.push(MemberInfo { user: UserId(u), group: GroupId(g), pf_local: 0, user_pf_local: 0 });
                referred_by.push(referrer);
            }
            let cf = cfs[g as usize % cfs.len()];
            groups.push(GroupInfo { cf, cf_local: cf_groups[cf.0 as usize], first, count: chosen.len() as u32 });
            cf_groups[cf.0 as usize] += 1;
        }
        // Per-user membership lists (CSR) and PF-local membership indices.
        let mut per_user = vec![0u32; users.len()];
        for m in &members {
            per_user[m.user.0 as usize] += 1;
        }
        let mut acc = 0;
        for (u, n) in users.iter_mut().zip(&per_user) {
            u.first_member = acc;
            u.member_count = 0;
            acc += n;
        }
        let mut user_members = vec![MemberId(0); members.len()];
        let mut pf_members = vec![0u32; nodes.len()];
        for (i, m) in members.iter_mut().enumerate() {
            let u = &mut users[m.user.0 as usize];
            user_members[(u.first_member + u.member_count) as usize] = MemberId(i as u32);
            u.member_count += 1;
            m.pf_local = pf_members[u.pf.0 as usize];
            m.user_pf_local = u.pf_local;
            pf_members[u.pf.0 as usize] += 1;
        }
        let g = &model.groups;
        let one_access = users.first().map(|f| f.access).filter(|&a| users.iter().all(|x| x.access == a));
        World {
            seed,
            horizon: model.horizon.0,
            warmup: model.warmup.0,
            cfg: Config {
                timer_b: 64 * model.sip.t1.0,
                msrp_timeout: model.sip.msrp_timeout.0,
                register_retry_base: model.sip.register_retry_base.0,
                register_retry_max: model.sip.register_retry_max.0,
                third_party_retries: model.sip.third_party_retries,
                chunk_size: model.policy.msrp_chunk_size.0.min(u32::MAX as u64) as u32,
                msrp_window: model.policy.msrp_window,
                retry: model.policy.retry.clone(),
                store: StoreLimits::from(&model.policy.store),
                group_state_object: model.policy.group_state_object,
                unsubscribe_on_rejoin: model.policy.unsubscribe_on_rejoin,
                imdn_delivered: g.imdn.delivered,
                imdn_displayed: g.imdn.displayed,
                imdn_displayed_delay: g.imdn.displayed_delay.compile().expect("validated"),
                imdn_size: g.imdn.size.0.min(crate::protocol::Item::MAX_SIZE as u64) as u32,
                is_composing: g.is_composing,
                idle_timeout: g.idle_timeout.0,
                message_size: g.message_size.compile().expect("validated"),
            },
            classes,
            users,
            user_members,
            groups,
            members,
            referred_by,
            node_names: nodes.iter().map(|n| n.id.clone()).collect(),
            node_kinds: nodes.iter().map(|n| n.spec.kind).collect(),
            pf_users,
            pf_members,
            registrar_users: reg_users,
            one_access,
            registrars,
        }
    }
}

/// The node of `nodes` that user `u` is dealt to: round robin by user id. `World::build` places
/// users on their PF and S-CSCF by it, and `World::registrar_of` finds the S-CSCF by it again.
#[inline]
fn dealt(nodes: &[NodeId], u: usize) -> NodeId {
    nodes[u % nodes.len()]
}

/// Each group's message process: Poisson (or the given gaps), optionally modulated on/off.
pub struct Traffic {
    groups: Vec<GroupTraffic>,
    gaps: Sampler,
    bursty: Option<(Sampler, Sampler)>,
    /// The daily profile: gaps are drawn in its operational time.
    clock: Option<DailyClock>,
}

struct GroupTraffic {
    rng: Rng,
    /// In an "on" period (always true without bursty traffic).
    on: bool,
    /// Generation of the scheduled message timer (a burst toggle re-schedules it).
    generation: u32,
}

/// What the group traffic process decided at a message instant.
pub struct MessageDraw {
    /// Uniform [0,1) used to pick the sender among the online members.
    pub pick: f64,
    pub size: u32,
    pub composing: bool,
    /// When this group's next message is due.
    pub next: Option<Time>,
}

impl Traffic {
    pub fn new(model: &Model, seed: u64) -> Traffic {
        Traffic::with_stream(model, seed, Stream::Traffic)
    }

    /// The same processes on other random streams (the steady-state start's prehistory).
    pub fn with_stream(model: &Model, seed: u64, stream: Stream) -> Traffic {
        let gaps = match &model.groups.message_rate {
            MessageRate::Rate(r) => {
                if r.0 > 0.0 {
                    crate::dist::Dist::Exp { mean: crate::units::Duration((SEC as f64 / r.0).round().max(1.0) as u64) }
                        .compile()
                        .expect("positive mean")
                } else {
                    Sampler::Const(f64::INFINITY)
                }
            }
            MessageRate::Gaps(d) => d.compile().expect("validated"),
        };
        let bursty = model
            .groups
            .bursty
            .as_ref()
            .map(|b| (b.on.compile().expect("validated"), b.off.compile().expect("validated")));
        let groups = (0..model.groups.count)
            .map(|g| GroupTraffic { rng: rng::stream(seed, stream, g as u64), on: true, generation: 0 })
            .collect();
        let clock = model.groups.daily_profile.as_deref().map(DailyClock::traffic);
        Traffic { groups, gaps, bursty, clock }
    }

    /// When the message after one at `now` is due: a gap drawn from the group's stream, in
    /// the profile's operational time when there is one.
    fn next(&mut self, g: usize, now: Time) -> Option<Time> {
        let v = self.gaps.sample(&mut self.groups[g].rng);
        if !v.is_finite() {
            return None;
        }
        let gap = crate::units::round_u64(v).max(1);
        Some(match &self.clock {
            None => now + gap,
            Some(c) => c.advance(now, gap),
        })
    }

    /// First events of group `g`: its first message, and its first burst toggle.
    pub fn start(&mut self, g: GroupId, now: Time) -> (Option<Time>, Option<Time>) {
        let gi = g.0 as usize;
        let toggle = match &self.bursty {
            Some((on, off)) => {
                let t = &mut self.groups[gi];
                // Start "on" with the stationary probability.
                let (m_on, m_off) = (on.mean(), off.mean());
                let p_on = if m_on.is_finite() && m_off.is_finite() && m_on + m_off > 0.0 {
                    m_on / (m_on + m_off)
                } else {
                    0.5
                };
                t.on = t.rng.random::<f64>() < p_on;
                let d = if t.on { on.sample_u64(&mut t.rng) } else { off.sample_u64(&mut t.rng) };
                Some(now + d.max(1))
            }
            None => None,
        };
        let first = if self.groups[gi].on { self.next(gi, now) } else { None };
        (first, toggle)
    }

    pub fn generation(&self, g: GroupId) -> u32 {
        self.groups[g.0 as usize].generation
    }

    /// A burst toggle fired: returns (next toggle, next message if the burst just started).
    pub fn toggle(&mut self, g: GroupId, now: Time) -> (Time, Option<Time>) {
        let gi = g.0 as usize;
        let (on, off) = self.bursty.as_ref().expect("only bursty groups toggle");
        let t = &mut self.groups[gi];
        t.on = !t.on;
        t.generation += 1;
        let d = if t.on { on.sample_u64(&mut t.rng) } else { off.sample_u64(&mut t.rng) };
        let next_msg = if self.groups[gi].on { self.next(gi, now) } else { None };
        (now + d.max(1), next_msg)
    }

    /// A message instant of group `g`: draws the sender pick, size, isComposing and next gap.
    /// Exactly the same draws happen whatever the state of the network, so the workload does
    /// not depend on the policies under study.
    pub fn message(&mut self, g: GroupId, now: Time, cfg: &Config) -> MessageDraw {
        let gi = g.0 as usize;
        let t = &mut self.groups[gi];
        let pick = t.rng.random::<f64>();
        let size = cfg.message_size.sample_u64(&mut t.rng).clamp(1, crate::protocol::Item::MAX_SIZE as u64) as u32;
        let composing = t.rng.random::<f64>() < cfg.is_composing;
        let next = if self.groups[gi].on { self.next(gi, now) } else { None };
        MessageDraw { pick, size, composing, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routing reads a user's access node and S-CSCF without the user's record: they must be
    /// the record's, with one access node for all (tiny) and with one per class (storm).
    #[test]
    fn routing_finds_each_users_nodes_without_the_record() {
        for name in ["tiny", "storm"] {
            let path = format!("{}/models/{name}.json", env!("CARGO_MANIFEST_DIR"));
            let model = crate::model::Model::load(std::path::Path::new(&path), &[]).expect("a shipped model");
            let w = World::build(&model, 1);
            assert_eq!(w.one_access.is_some(), name == "tiny", "{name}: one access node for all");
            for (i, info) in w.users.iter().enumerate() {
                let u = UserId(i as u32);
                assert_eq!((w.access_of(u), w.registrar_of(u)), (info.access, info.registrar), "{name}: user {i}");
            }
        }
    }
}
