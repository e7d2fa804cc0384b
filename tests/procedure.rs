//! The deferred-delivery procedure of seed section 8.3.2.9.1.2, step by step (DD-1..DD-17 of
//! DESIGN.md), tested on the Participating Function's sans-IO interface: each test builds a PF,
//! hands it inputs at chosen virtual times, and asserts on the actions it returns and on what
//! it counted. No engine, no network.

use ddsim::engine::Time;
use ddsim::metrics::Stats;
use ddsim::model::{Model, Override};
use ddsim::nodes::participating::{Delivery, Leg, ParticipatingFunction};
use ddsim::nodes::{Action, Ctx, Devices, NetworkFunction, PfTimer, Timer};
use ddsim::protocol::*;
use ddsim::trace::wire::Wire;
use ddsim::units::SEC;
use ddsim::workload::World;
use std::rc::Rc;

const REGISTRAR: Addr = Addr::Node(NodeId(1));
const PF: NodeId = NodeId(2);
const CF: Addr = Addr::Node(NodeId(3));

/// A PF serving three users who share one or two groups, and the inputs of a test.
struct Bench {
    world: World,
    pf: ParticipatingFunction,
    stats: Stats,
    out: Vec<Action>,
    devices: Devices,
    now: Time,
    msg: u32,
}

/// Three users in `groups` groups of all three; default policies with the given overrides.
fn bench(groups: u32, sets: &[&str]) -> Bench {
    let base = serde_json::json!({
        "population": [{"class": "mobile", "users": 3}],
        "groups": {"count": groups, "members": [{"class": "mobile", "count": {"dist": "const", "value": 3}}], "referred_share": 1.0},
        "policy": {"group_state_object": false, "retry": {"kind": "fixed", "interval": "1m", "max_attempts": 3}}
    });
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    let model = Model::from_value_with(&base, "bench.json", &o).unwrap();
    let world = World::build(&model, 1);
    let pf = ParticipatingFunction::new(PF, &world);
    Bench { pf, world, stats: Stats::new(), out: vec![], devices: Devices::new(3), now: 0, msg: 0 }
}

fn member(b: &Bench, u: u32, g: u32) -> MemberId {
    b.world.membership(UserId(u), GroupId(g)).unwrap()
}

impl Bench {
    /// Gives the PF one input at `now`; returns what it asked for.
    fn drive(&mut self, input: impl FnOnce(&mut ParticipatingFunction, &mut Ctx)) -> Vec<Action> {
        let mut ctx = Ctx::new(self.now, &self.world, &mut self.stats, &mut self.out, &mut self.devices);
        input(&mut self.pf, &mut ctx);
        std::mem::take(&mut self.out)
    }
    fn input(&mut self, src: Addr, msg: Msg) -> Vec<Action> {
        let p = Packet::new(src, Addr::Node(PF), msg).with_proxied(true);
        self.drive(|pf, ctx| pf.handle(ctx, p))
    }
    fn timer(&mut self, t: PfTimer) -> Vec<Action> {
        self.drive(|pf, ctx| pf.on_timer(ctx, t))
    }
    /// The focus invites the member's PF into the (re)started session (the leg becomes In).
    fn join(&mut self, m: MemberId, contribution_id: u32) -> Vec<Action> {
        let participants: Rc<Vec<UserId>> = Rc::from(vec![UserId(0), UserId(1), UserId(2)]);
        let dialog = Dialog { role: Role::Leg, id: m.0, generation: 1 };
        self.input(
            CF,
            Msg::Sip(Sip::Invite { dialog, invite: Invite::Join { member: m, contribution_id, participants } }),
        )
    }
    fn register(&mut self, u: u32, expires_s: u32, sip_instance: bool) -> Vec<Action> {
        self.input(
            REGISTRAR,
            Msg::Sip(Sip::ThirdPartyRegister { user: UserId(u), expires_s, sip_instance, generation: 1 }),
        )
    }
    /// A copy of a chat message (or notification) from the focus for membership `m`.
    fn copy(&mut self, m: MemberId, payload: Payload) -> Item {
        self.msg += 1;
        let mi = *self.world.member(m);
        let item = Item::new(payload, mi.group, UserId(9), UserId(9), self.msg, 100);
        self.input(CF, Msg::Msrp(Msrp::Send { session: Session::Leg(m), item, chunk: 1, chunks: 1, seq: 0 }));
        item
    }
    /// Something from the client of membership `m`.
    fn client_says(&mut self, m: MemberId, msg: Msg) -> Vec<Action> {
        let u = self.world.member(m).user;
        self.input(Addr::User(u), msg)
    }
    fn answer(&mut self, m: MemberId, generation: u32, status: u16) -> Vec<Action> {
        let dialog = Dialog { role: Role::Deferred, id: m.0, generation };
        self.client_says(m, Msg::Sip(Sip::Response { dialog, method: Method::Invite, status, retry_after_s: None }))
    }
    fn ack_all(&mut self, sends: &[(Session, Item, u16, u16, u32)]) -> Vec<Action> {
        let mut all = vec![];
        for &(session, item, chunk, chunks, seq) in sends {
            let Session::Deferred(m, _) = session else { continue };
            let received = Msrp::received_bits(self.now);
            all.extend(self.client_says(m, Msg::Msrp(Msrp::Ok { session, item, chunk, chunks, seq, received })));
        }
        all
    }
}

/// The deferred-delivery INVITEs among `actions`, with their dialogs.
fn invites(actions: &[Action]) -> Vec<(Addr, Dialog, DeferredInvite)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => match &p.msg {
                Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(d) }) => {
                    Some((p.dst(), *dialog, (**d).clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn sends(actions: &[Action]) -> Vec<(Session, Item, u16, u16, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => match p.msg {
                Msg::Msrp(Msrp::Send { session, item, chunk, chunks, seq }) => {
                    Some((session, item, chunk, chunks, seq))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn sips(actions: &[Action]) -> Vec<(Addr, Sip)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => match &p.msg {
                Msg::Sip(s) => Some((p.dst(), s.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The SIP messages among `actions` as they go on the wire from the PF (RFC 3261 text).
fn wire_sips(b: &Bench, actions: &[Action]) -> Vec<String> {
    let mut wire = Wire::new(&b.world);
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p @ Packet { msg: Msg::Sip(_), .. }) => Some(wire.sent(b.now, Addr::Node(PF), p).text),
            _ => None,
        })
        .collect()
}

/// The value of header `name` in SIP message `text` (the first one).
fn header<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

fn timers(actions: &[Action]) -> Vec<(Time, PfTimer)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Timer(t, Timer::Pf(_, pt)) => Some((*t, *pt)),
            _ => None,
        })
        .collect()
}

/// User 0 offline with `n` stored chat messages in group 0 (joined), then registered again:
/// returns the INVITE's dialog.
fn stored_then_registered(b: &mut Bench, n: usize) -> Dialog {
    let m = member(b, 0, 0);
    b.join(m, 7);
    for _ in 0..n {
        b.copy(m, Payload::Chat);
    }
    assert_eq!(b.pf.pending(&b.world, m), n);
    b.now = 100 * SEC;
    b.devices.set_online(UserId(0), true);
    let acts = b.register(0, 3600, true);
    let inv = invites(&acts);
    assert_eq!(inv.len(), 1);
    inv[0].1
}

#[test]
fn dd1_registration_starts_delivery_of_every_group_session_with_pending_data() {
    let mut b = bench(2, &[]);
    let (m0, m1) = (member(&b, 0, 0), member(&b, 0, 1));
    b.join(m0, 1);
    b.join(m1, 1);
    // Offline user: copies are stored, nothing goes to the device.
    let acts = b.input(
        CF,
        Msg::Msrp(Msrp::Send {
            session: Session::Leg(m0),
            item: Item::new(Payload::Chat, GroupId(0), UserId(1), UserId(1), 1, 10),
            chunk: 1,
            chunks: 1,
            seq: 0,
        }),
    );
    assert!(sends(&acts).is_empty());
    assert_eq!(b.stats.deferred.offered, 1);
    // The 3rd-party REGISTER: 200 to the registrar and one INVITE, for group 0 only.
    let acts = b.register(0, 3600, true);
    assert!(sips(&acts).iter().any(|(to, s)| *to == REGISTRAR && matches!(s, Sip::Response { status: 200, .. })));
    let inv = invites(&acts);
    assert_eq!(inv.len(), 1, "only the group session with pending data");
    assert_eq!(inv[0].1.id, m0.0);
    assert_eq!(b.stats.sessions_started, 1);
    // The other group session had nothing pending: no delivery there.
    assert_eq!(b.pf.pending(&b.world, m1), 0);
    assert!(matches!(b.pf.delivery_state(&b.world, m1), Delivery::Idle));
    // The user goes away again and group 1 gets a copy; the next registration starts its
    // delivery, and not a second one of group 0, whose INVITE is still outstanding.
    b.input(
        REGISTRAR,
        Msg::Sip(Sip::ThirdPartyRegister { user: UserId(0), expires_s: 0, sip_instance: true, generation: 2 }),
    );
    b.copy(m1, Payload::Chat);
    let inv = invites(&b.register(0, 3600, true));
    assert_eq!(inv.iter().map(|i| i.1.id).collect::<Vec<_>>(), vec![m1.0]);
    assert_eq!(inv[0].2.conversation_id, GroupId(1));
    assert_eq!(b.stats.sessions_started, 2);
    assert!(matches!(b.pf.delivery_state(&b.world, m0), Delivery::Inviting(_)));
}

#[test]
fn dd2_one_invite_per_group_session_to_the_served_user() {
    let mut b = bench(2, &[]);
    for g in 0..2 {
        let m = member(&b, 1, g);
        b.join(m, 1);
        b.copy(m, Payload::Chat);
        b.copy(m, Payload::Chat);
    }
    let inv = invites(&b.register(1, 3600, false));
    assert_eq!(inv.len(), 2, "one session per group session, not per message");
    let groups: Vec<GroupId> = inv.iter().map(|i| i.2.conversation_id).collect();
    assert_eq!(groups, vec![GroupId(0), GroupId(1)]);
    for (dst, _, d) in &inv {
        assert_eq!(*dst, Addr::User(UserId(1)), "sent towards the served user");
        assert_eq!(d.request_uri, UserId(1), "Request-URI is the served user's address");
    }
}

#[test]
fn dd3_invite_carries_conversation_and_contribution_ids_and_latest_participants() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 42);
    // The PF is subscribed to the conference while the user is offline; a NOTIFY updates the list.
    let latest: Rc<Vec<UserId>> = Rc::from(vec![UserId(0), UserId(2)]);
    let dialog = Dialog { role: Role::Conference, id: m.0, generation: 0 };
    b.input(CF, Msg::Sip(Sip::ConfNotify { dialog, participants: latest.clone(), terminated: false }));
    b.copy(m, Payload::Chat);
    let inv = invites(&b.register(0, 3600, true));
    let d = &inv[0].2;
    assert_eq!(d.conversation_id, GroupId(0));
    assert_eq!(d.contribution_id, 42, "the original session's Contribution-ID");
    assert_eq!(&*d.participants, &*latest, "the latest participant list known to the PF");
}

#[test]
fn dd4_cpm_feature_tag_in_accept_contact_and_contact() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    b.copy(m, Payload::Chat);
    let acts = b.register(0, 3600, true);
    let texts = wire_sips(&b, &acts);
    let invite = texts.iter().find(|t| t.starts_with("INVITE ")).expect("the deferred INVITE");
    // The session ICSI, percent-encoded in the feature tag (TS 24.229 §7.2A.8), in both headers.
    let tag = r#"+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session""#;
    let accept = header(invite, "Accept-Contact").expect("Accept-Contact");
    let contact = header(invite, "Contact").expect("Contact");
    assert!(accept.contains(tag) && contact.contains(tag), "{accept}\n{contact}");
    // The CPM session tag, not the group service of P-Asserted-Service (DD-6).
    assert!(!accept.contains("cpm.session.group") && !contact.contains("cpm.session.group"));
}

#[test]
fn dd5_contact_is_the_focus_with_isfocus_and_the_sip_instance_when_known() {
    for sip_instance in [true, false] {
        let mut b = bench(1, &[]);
        let m = member(&b, 0, 0);
        b.join(m, 1);
        b.copy(m, Payload::Chat);
        let d = invites(&b.register(0, 3600, sip_instance)).remove(0).2;
        assert_eq!(d.contact_focus, GroupId(0), "the group session identity (focus URI)");
        assert!(d.contact_isfocus);
        assert_eq!(d.contact_sip_instance, if sip_instance { Some(UserId(0)) } else { None });
    }
}

#[test]
fn dd6_asserted_identity_is_the_focus_and_service_is_the_group_icsi() {
    // User 2's delivery of group 1: the identity asserted is that group's focus, not the
    // user's, nor group 0's.
    let mut b = bench(2, &[]);
    let m = member(&b, 2, 1);
    b.join(m, 1);
    b.copy(m, Payload::Chat);
    let acts = b.register(2, 3600, true);
    assert_eq!(invites(&acts)[0].2.p_asserted_identity, GroupId(1));
    let texts = wire_sips(&b, &acts);
    let invite = texts.iter().find(|t| t.starts_with("INVITE ")).expect("the deferred INVITE");
    assert_eq!(header(invite, "P-Asserted-Identity"), Some("<sip:group-1@cf1.ddsim.example>"));
    assert_eq!(header(invite, "P-Asserted-Service"), Some("urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session.group"));
}

#[test]
fn dd7_referred_by_copied_only_when_the_original_invite_came_from_a_refer() {
    for (share, expect) in [("1.0", true), ("0.0", false)] {
        let mut b = bench(1, &[&format!("groups.referred_share={share}")]);
        let m = member(&b, 0, 0);
        b.join(m, 1);
        b.copy(m, Payload::Chat);
        let d = invites(&b.register(0, 3600, true)).remove(0).2;
        let referrer = b.world.referred_by(m);
        assert_eq!(referrer.is_some(), expect);
        assert_eq!(d.referred_by, referrer);
        if let Some(r) = referrer {
            assert_ne!(r, UserId(0), "the referrer is another participant");
        }
    }
}

#[test]
fn dd8_sdp_is_the_original_offer_with_sendrecv() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    b.copy(m, Payload::Chat);
    let acts = b.register(0, 3600, true);
    let d = invites(&acts).remove(0).2;
    assert_eq!(d.sdp.accept_types, SdpOffer::GROUP.accept_types, "the offer of the original session");
    let texts = wire_sips(&b, &acts);
    let invite = texts.iter().find(|t| t.starts_with("INVITE ")).expect("the deferred INVITE");
    let sdp: Vec<&str> =
        invite.lines().skip_while(|l| !l.starts_with("v=0")).take_while(|l| !l.starts_with("--")).collect();
    assert!(sdp.iter().any(|l| l.starts_with("m=message ") && l.contains("TCP/MSRP")), "{sdp:?}");
    let directions: Vec<&&str> =
        sdp.iter().filter(|l| ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains(l)).collect();
    assert_eq!(directions, vec![&"a=sendrecv"], "exactly one direction, sendrecv: {sdp:?}");
}

#[test]
fn dd9_decline_discards_all_deferred_messages_and_notifications() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    for p in [Payload::Chat, Payload::Delivered, Payload::Chat, Payload::Displayed, Payload::Chat] {
        b.copy(m, p);
    }
    let inv = invites(&b.register(0, 3600, true));
    b.answer(m, inv[0].1.generation, 603);
    assert_eq!(b.pf.pending(&b.world, m), 0);
    assert_eq!(b.stats.deferred.discarded_decline, 3);
    assert_eq!(b.stats.notifications.discarded_decline, 2);
    assert_eq!(b.stats.sessions_declined, 1);
    assert!(matches!(b.pf.delivery_state(&b.world, m), Delivery::Idle));
}

#[test]
fn dd10_decline_while_active_leaves_the_conference_with_call_completed_and_unsubscribes() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    // The focus starts the session while the user is offline: the PF joins on the user's
    // behalf and subscribes to the conference event package.
    let acts = b.join(m, 1);
    assert!(sips(&acts).iter().any(|(to, s)| *to == CF && matches!(s, Sip::Subscribe { expires_s: 3600, .. })));
    assert!(b.pf.subscribed(&b.world, m));
    b.copy(m, Payload::Chat);
    b.copy(m, Payload::Chat);
    let inv = invites(&b.register(0, 3600, true));
    let acts = b.answer(m, inv[0].1.generation, 603);
    let to_cf = sips(&acts).into_iter().filter(|(to, _)| *to == CF).map(|(_, s)| s).collect::<Vec<_>>();
    let bye = to_cf.iter().find_map(|s| match s {
        Sip::Bye { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(bye, Some(Reason::CallCompleted), "BYE to the focus with a Reason");
    let texts = wire_sips(&b, &acts);
    let bye = texts.iter().find(|t| t.starts_with("BYE ")).expect("the BYE on the wire");
    assert_eq!(header(bye, "Reason"), Some(r#"SIP;cause=200;text="Call completed""#));
    assert!(to_cf.iter().any(|s| matches!(s, Sip::Subscribe { expires_s: 0, .. })), "unsubscribe");
    assert_eq!(b.pf.leg(&b.world, m), Leg::Out, "media released: the PF is no longer in the session");
    assert!(!b.pf.subscribed(&b.world, m));
    assert_eq!(b.stats.deferred.discarded_decline, 2);

    // Inactive session (the focus tore it down): a 603 discards but sends nothing to the focus.
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    b.copy(m, Payload::Chat);
    let dialog = Dialog { role: Role::Leg, id: m.0, generation: 1 };
    b.input(CF, Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
    let inv = invites(&b.register(0, 3600, true));
    let acts = b.answer(m, inv[0].1.generation, 603);
    assert!(sips(&acts).iter().all(|(to, _)| *to != CF));
    assert_eq!(b.stats.deferred.discarded_decline, 1);
}

#[test]
fn dd11_other_errors_and_timer_b_are_retried_per_policy_and_giving_up_is_counted() {
    // Fixed interval 1m, at most 3 attempts (the first INVITE counts).
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    let d = stored_then_registered(&mut b, 2);
    let t0 = b.now;
    // 480 from the client: a retry one interval later.
    let acts = b.answer(m, d.generation, 480);
    let retry = timers(&acts);
    assert_eq!(retry, vec![(t0 + 60 * SEC, PfTimer::Retry(m, d.generation))]);
    assert!(matches!(b.pf.delivery_state(&b.world, m), Delivery::WaitingRetry(_)));
    b.now = t0 + 60 * SEC;
    let inv = invites(&b.timer(PfTimer::Retry(m, d.generation)));
    assert_eq!(inv.len(), 1, "the second attempt");
    let d2 = inv[0].1;
    // 503 from an overloaded server on the way: retried too.
    let retry = timers(&b.answer(m, d2.generation, 503));
    assert_eq!(retry.len(), 1);
    b.now = retry[0].0;
    let inv = invites(&b.timer(retry[0].1));
    let d3 = inv[0].1;
    // Third attempt: no answer until Timer B (64*T1); that is the last attempt allowed.
    b.now += 64 * 500_000;
    let acts = b.timer(PfTimer::InviteTimeout(m, d3.generation));
    assert!(timers(&acts).is_empty(), "max_attempts reached: no more retries");
    assert_eq!(b.stats.invite_timeouts, 1);
    assert_eq!(b.stats.sessions_gave_up, 1);
    assert_eq!(b.stats.attempts_max, 3);
    // What the policy gave up on is still held and counted, not lost.
    assert_eq!(b.pf.pending(&b.world, m), 2);
    // A new registration re-arms the policy.
    assert_eq!(invites(&b.register(0, 3600, true)).len(), 1);
}

#[test]
fn dd11_busy_here_is_retried_and_discards_nothing() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    let d = stored_then_registered(&mut b, 2);
    let t0 = b.now;
    // 486 Busy Here: another error response, so a retry one interval later (fixed 1m).
    let acts = b.answer(m, d.generation, 486);
    assert_eq!(timers(&acts), vec![(t0 + 60 * SEC, PfTimer::Retry(m, d.generation))]);
    assert!(matches!(b.pf.delivery_state(&b.world, m), Delivery::WaitingRetry(_)));
    // Only a 603 discards (DD-9): the stored items wait for the retry.
    assert_eq!(b.pf.pending(&b.world, m), 2);
    assert_eq!(b.stats.deferred.discarded_decline, 0);
}

#[test]
fn dd12_ack_then_messages_and_notifications_in_stored_order() {
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    let mut stored = vec![];
    for p in [Payload::Chat, Payload::Delivered, Payload::Chat, Payload::Displayed] {
        stored.push(b.copy(m, p));
    }
    b.devices.set_online(UserId(0), true);
    let d = invites(&b.register(0, 3600, true))[0].1;
    let acts = b.answer(m, d.generation, 200);
    let s = sips(&acts);
    assert!(matches!(s[0], (Addr::User(UserId(0)), Sip::Ack { .. })), "ACK first");
    let sent = sends(&acts);
    let items: Vec<Item> = sent.iter().map(|s| s.1).collect();
    assert_eq!(items, stored, "delivered in stored order");
    assert!(sent.iter().all(|s| s.0 == Session::Deferred(m, d.generation)));
    b.ack_all(&sent);
    assert_eq!(b.stats.deferred.delivered, 2);
    assert_eq!(b.stats.notifications.delivered, 2);
    assert_eq!(b.stats.sessions_succeeded, 1);
    assert_eq!(b.pf.pending(&b.world, m), 0);
}

#[test]
fn dd13_group_state_object_sent_first_only_when_the_policy_says_so() {
    for gso in [true, false] {
        let mut b = bench(1, &[&format!("policy.group_state_object={gso}")]);
        let m = member(&b, 0, 0);
        let d = stored_then_registered(&mut b, 1);
        let sent = sends(&b.answer(m, d.generation, 200));
        assert_eq!(sent[0].1.payload() == Payload::GroupState, gso);
        assert_eq!(sent.len(), if gso { 2 } else { 1 });
        assert_eq!(b.stats.gso_sent, gso as u64);
    }
}

#[test]
fn dd14_active_session_rejoins_after_delivery_and_unsubscribes_by_policy() {
    for unsubscribe in [true, false] {
        let mut b = bench(1, &[&format!("policy.unsubscribe_on_rejoin={unsubscribe}")]);
        let m = member(&b, 0, 0);
        b.join(m, 1);
        b.input(
            REGISTRAR,
            Msg::Sip(Sip::ThirdPartyRegister { user: UserId(0), expires_s: 0, sip_instance: true, generation: 1 }),
        );
        assert!(b.pf.subscribed(&b.world, m));
        b.copy(m, Payload::Chat);
        let d = invites(&b.register(0, 3600, true))[0].1;
        let sent = sends(&b.answer(m, d.generation, 200));
        let acts = b.ack_all(&sent);
        assert_eq!(b.stats.groups_rejoins, 1, "re-joined to the ongoing conference");
        let unsub = sips(&acts).iter().any(|(to, s)| *to == CF && matches!(s, Sip::Subscribe { expires_s: 0, .. }));
        assert_eq!(unsub, unsubscribe);
        assert!(sips(&acts).iter().all(|(_, s)| !matches!(s, Sip::Bye { .. })), "the session stays up");
        assert_eq!(b.pf.leg(&b.world, m), Leg::In);
        // Live traffic now flows straight to the client.
        b.copy(m, Payload::Chat);
        assert_eq!(b.stats.live_sent, 1);
    }
}

#[test]
fn dd15_inactive_session_closes_after_delivery_unless_the_client_engages() {
    // No reply: BYE to the client after the last item, no INVITE to the CF.
    let mut b = bench(1, &[]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    b.copy(m, Payload::Chat);
    let dialog = Dialog { role: Role::Leg, id: m.0, generation: 1 };
    b.input(CF, Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
    assert_eq!(b.pf.leg(&b.world, m), Leg::Out, "the focus tore the session down: inactive");
    let d = invites(&b.register(0, 3600, true))[0].1;
    let sent = sends(&b.answer(m, d.generation, 200));
    let acts = b.ack_all(&sent);
    let s = sips(&acts);
    assert!(s.iter().any(|(to, x)| *to == Addr::User(UserId(0)) && matches!(x, Sip::Bye { .. })));
    assert!(s.iter().all(|(to, _)| *to != CF));
    assert_eq!(b.stats.delivery_closed_inactive, 1);

    // For each kind of engagement — IMDN, isComposing, a message — a re-join INVITE to the CF
    // (8.2.2.7), and no BYE to the client.
    for payload in [Payload::Delivered, Payload::IsComposing, Payload::Chat] {
        let mut b = bench(1, &[]);
        let m = member(&b, 0, 0);
        b.join(m, 1);
        b.copy(m, Payload::Chat);
        b.copy(m, Payload::Chat);
        b.input(CF, Msg::Sip(Sip::Bye { dialog, reason: Reason::None }));
        let d = invites(&b.register(0, 3600, true))[0].1;
        let sent = sends(&b.answer(m, d.generation, 200));
        let reply = Item::new(payload, GroupId(0), UserId(9), UserId(0), 1, 100);
        let session = Session::Deferred(m, d.generation);
        let acts = b.client_says(m, Msg::Msrp(Msrp::Send { session, item: reply, chunk: 1, chunks: 1, seq: 0 }));
        let rejoin = sips(&acts)
            .into_iter()
            .any(|(to, s)| to == CF && matches!(s, Sip::Invite { invite: Invite::Rejoin { .. }, .. }));
        assert!(rejoin, "{payload:?} restarts the inactive session");
        assert_eq!(b.stats.delivery_restarts, 1);
        let acts = b.ack_all(&sent);
        assert!(
            sips(&acts).iter().all(|(_, s)| !matches!(s, Sip::Bye { .. })),
            "not closed: it becomes the live session"
        );
    }
}

#[test]
fn dd16_client_bye_with_cause_200_discards_the_rest_of_the_group_session() {
    let mut b = bench(1, &["policy.msrp_window=1"]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    for p in [Payload::Chat, Payload::Chat, Payload::Delivered, Payload::Chat] {
        b.copy(m, p);
    }
    let d = invites(&b.register(0, 3600, true))[0].1;
    let sent = sends(&b.answer(m, d.generation, 200));
    assert_eq!(sent.len(), 1, "window of one");
    b.ack_all(&sent);
    assert_eq!(b.stats.deferred.delivered, 1);
    let dialog = Dialog { role: Role::Deferred, id: m.0, generation: d.generation };
    let acts = b.client_says(m, Msg::Sip(Sip::Bye { dialog, reason: Reason::CallCompleted }));
    let s = sips(&acts);
    assert!(
        s.iter().any(|(to, x)| *to == Addr::User(UserId(0))
            && matches!(x, Sip::Response { status: 200, method: Method::Bye, .. }))
    );
    // 8.2.2.3: the participant leaves the group session.
    assert!(s.iter().any(|(to, x)| *to == CF && matches!(x, Sip::Bye { reason: Reason::CallCompleted, .. })));
    assert_eq!(b.pf.pending(&b.world, m), 0);
    assert_eq!(b.stats.deferred.discarded_bye, 2);
    assert_eq!(b.stats.notifications.discarded_bye, 1);
    assert_eq!(b.stats.sessions_interrupted, 1);
}

#[test]
fn dd17_traffic_arriving_during_delivery_is_neither_lost_nor_reordered() {
    let mut b = bench(1, &["policy.msrp_window=1"]);
    let m = member(&b, 0, 0);
    b.join(m, 1);
    let mut expected = vec![b.copy(m, Payload::Chat), b.copy(m, Payload::Chat)];
    b.devices.set_online(UserId(0), true);
    let d = invites(&b.register(0, 3600, true))[0].1;
    // While the INVITE is outstanding and during the transfer, new copies arrive.
    expected.push(b.copy(m, Payload::Chat));
    let mut sent = sends(&b.answer(m, d.generation, 200));
    expected.push(b.copy(m, Payload::Delivered));
    let mut delivered = vec![];
    while let Some(s) = sent.first().copied() {
        delivered.push(s.1);
        sent = sends(&b.ack_all(&[s]));
        if delivered.len() == 2 {
            expected.push(b.copy(m, Payload::Chat));
        }
    }
    assert_eq!(delivered, expected, "every copy, in arrival order");
    assert_eq!(b.stats.live_sent, 0, "nothing overtook the deferred data on a live path");
    assert_eq!(b.stats.deferred.queued_behind + b.stats.deferred.offered, 4);
    assert_eq!(b.stats.deferred.delivered, 4);
    assert_eq!(b.stats.notifications.delivered, 1);
}
