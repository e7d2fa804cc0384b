//! Wire text of the modelled messages (`protocol::wire`): the deferred-delivery INVITE carries
//! every header of seed 8.3.2.9.1.2 a) (DD-2..DD-8) in RFC 3261 syntax, the S-CSCF's forward
//! is a proper proxy hop, BYE carries its Reason (DD-10), MSRP chunks have RFC 4975 framing
//! (DD-12), and every message of a whole run of models/tiny.json is well formed and consistent
//! with the others (Content-Length, CSeq, Call-ID, branches, transaction ids, Byte-Range).

use ddsim::model::{Model, Override};
use ddsim::protocol::*;
use ddsim::sim::{RunOptions, run_model};
use ddsim::trace::wire::{self, Wire};
use ddsim::trace::{TraceFilter, TraceKind};
use ddsim::workload::World;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

const ICSI_REF: &str = "+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session\"";

fn tiny(sets: &[&str]) -> Model {
    let o: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    Model::load(Path::new("models/tiny.json"), &o).unwrap()
}

/// A SIP message split into its start line, headers (in order) and body.
struct Parsed {
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Parsed {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
    fn one(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [v] => v,
            other => panic!("{name}: expected one header, found {other:?}\n{}", self.start),
        }
    }
}

fn parse(text: &str) -> Parsed {
    assert!(!text.replace("\r\n", "").contains('\n'), "a bare LF: every line ends in CRLF\n{text}");
    let (head, body) = text.split_once("\r\n\r\n").expect("a blank line ends the headers");
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap_or_else(|| panic!("not a header line: {l:?}"));
            assert!(!n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "header name {n:?}");
            (n.to_string(), v.to_string())
        })
        .collect();
    Parsed { start, headers, body: body.to_string() }
}

/// A membership of the tiny world, its user, group, PF and dialog.
struct Setup {
    world: World,
    member: MemberId,
    user: UserId,
    group: GroupId,
    pf: NodeId,
}

fn setup() -> Setup {
    let model = tiny(&[]);
    let world = World::build(&model, model.seed);
    let member = MemberId(0);
    let mi = *world.member(member);
    let pf = world.user(mi.user).pf;
    Setup { member, user: mi.user, group: mi.group, pf, world }
}

fn deferred(s: &Setup, referred_by: Option<UserId>, instance: bool) -> DeferredInvite {
    let participants: Vec<UserId> = s.world.group_members(s.group).map(|m| s.world.member(m).user).collect();
    DeferredInvite {
        request_uri: s.user,
        conversation_id: s.group,
        contribution_id: 7,
        participants: Rc::from(participants),
        accept_contact_icsi: ICSI_SESSION,
        contact_icsi: ICSI_SESSION,
        contact_focus: s.group,
        contact_isfocus: true,
        contact_sip_instance: if instance { Some(s.user) } else { None },
        p_asserted_identity: s.group,
        p_asserted_service: ICSI_SESSION_GROUP,
        referred_by,
        sdp: SdpOffer::GROUP,
    }
}

fn invite_packet(s: &Setup, d: DeferredInvite) -> Packet {
    let dialog = Dialog { role: Role::Deferred, id: s.member.0, generation: 1 };
    Packet::new(
        Addr::Node(s.pf),
        Addr::User(s.user),
        Msg::Sip(Sip::Invite { dialog, invite: Invite::Deferred(Box::new(d)) }),
    )
}

/// The PF's deferred-delivery INVITE as it leaves the PF.
fn render_invite(s: &Setup, d: DeferredInvite) -> Parsed {
    let mut w = Wire::new(&s.world);
    let r = w.sent(0, Addr::Node(s.pf), &invite_packet(s, d));
    parse(&r.text)
}

fn focus(s: &Setup) -> String {
    Wire::new(&s.world).focus_uri(s.group)
}

#[test]
fn dd2_request_uri_is_the_served_user() {
    let s = setup();
    let m = render_invite(&s, deferred(&s, None, true));
    assert_eq!(m.start, format!("INVITE {} SIP/2.0", wire::user_uri(s.user)));
    assert_eq!(m.one("To"), format!("<{}>", wire::user_uri(s.user)), "no To tag on an initial INVITE");
    assert_eq!(m.one("CSeq"), "1 INVITE");
    assert!(m.one("Via").starts_with("SIP/2.0/UDP 198.51.100.12:5060;branch=z9hG4bK"));
    assert_eq!(m.one("Max-Forwards"), "70");
    // Through the user's S-CSCF (RFC 3608 Service-Route).
    assert_eq!(m.one("Route"), "<sip:scscf.ddsim.example;lr>");
    assert!(m.one("From").starts_with(&format!("<{}>;tag=", focus(&s))));
}

#[test]
fn dd3_original_conversation_and_contribution_ids_and_latest_participant_list() {
    let s = setup();
    let d = deferred(&s, None, true);
    let participants = d.participants.clone();
    let m = render_invite(&s, d);
    assert_eq!(m.one("Conversation-ID"), wire::conversation_id(s.group));
    assert_eq!(m.one("Contribution-ID"), wire::contribution_id(s.group, 7));
    assert_eq!(m.one("Conversation-ID").len(), 36, "a UUID");
    let boundary =
        m.one("Content-Type").strip_prefix("multipart/mixed;boundary=").expect("multipart/mixed").to_string();
    let parts: Vec<&str> = m.body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "preamble, SDP, resource list, closing");
    assert_eq!(parts[3], "--\r\n", "the close delimiter ends the body");
    let list = parts[2];
    assert!(list.starts_with(
        "\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n"
    ));
    assert!(list.contains("<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">"));
    let entries: Vec<&str> = list.matches("<entry uri=\"").collect();
    assert_eq!(entries.len(), participants.len());
    for u in participants.iter() {
        assert!(list.contains(&format!("<entry uri=\"{}\"/>", wire::user_uri(*u))), "{u:?} in the list");
    }
}

#[test]
fn dd4_cpm_icsi_percent_encoded_in_accept_contact_and_contact() {
    assert_eq!(wire::percent_encode(ICSI_SESSION), "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.session");
    let s = setup();
    let m = render_invite(&s, deferred(&s, None, true));
    assert_eq!(m.one("Accept-Contact"), format!("*;{ICSI_REF}"));
    assert!(m.one("Contact").split(';').any(|p| p == ICSI_REF), "{}", m.one("Contact"));
}

#[test]
fn dd5_contact_is_the_focus_uri_with_isfocus_and_the_clients_sip_instance() {
    let s = setup();
    let with = render_invite(&s, deferred(&s, None, true));
    assert_eq!(
        with.one("Contact"),
        format!("<{}>;isfocus;{ICSI_REF};+sip.instance=\"{}\"", focus(&s), wire::sip_instance(s.user))
    );
    assert!(wire::sip_instance(s.user).starts_with("<urn:uuid:"));
    // Without a known instance, no +sip.instance.
    let without = render_invite(&s, deferred(&s, None, false));
    assert_eq!(without.one("Contact"), format!("<{}>;isfocus;{ICSI_REF}", focus(&s)));
}

#[test]
fn dd6_p_asserted_identity_is_the_focus_uri_and_service_the_group_icsi() {
    let s = setup();
    let m = render_invite(&s, deferred(&s, None, true));
    assert_eq!(m.one("P-Asserted-Identity"), format!("<{}>", focus(&s)));
    assert_eq!(focus(&s), format!("sip:group-{}@cf1.ddsim.example", s.group.0));
    assert_eq!(m.one("P-Asserted-Service"), "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session.group");
}

#[test]
fn dd7_referred_by_copied_only_when_the_original_invite_came_from_a_refer() {
    let s = setup();
    let referrer = UserId(s.user.0 + 1);
    let m = render_invite(&s, deferred(&s, Some(referrer), true));
    assert_eq!(m.one("Referred-By"), format!("<{}>", wire::user_uri(referrer)));
    let m = render_invite(&s, deferred(&s, None, true));
    assert!(m.all("Referred-By").is_empty());
}

#[test]
fn dd8_sdp_is_the_original_msrp_offer_with_sendrecv() {
    let s = setup();
    let m = render_invite(&s, deferred(&s, None, true));
    let boundary = m.one("Content-Type").strip_prefix("multipart/mixed;boundary=").unwrap().to_string();
    let sdp_part = m.body.split(&format!("--{boundary}")).nth(1).unwrap();
    let sdp = sdp_part.strip_prefix("\r\nContent-Type: application/sdp\r\n\r\n").expect("an SDP part");
    let lines: Vec<&str> = sdp.split("\r\n").collect();
    assert_eq!(lines[0], "v=0");
    assert!(lines.contains(&"c=IN IP4 198.51.100.12"));
    assert!(lines.contains(&"m=message 2855 TCP/MSRP *"));
    assert!(lines.contains(&"a=accept-types:message/cpim application/im-iscomposing+xml"));
    assert!(lines.contains(&"a=accept-wrapped-types:*"));
    assert!(lines.contains(&format!("a=path:msrp://198.51.100.12:2855/d{}g1p;tcp", s.member.0).as_str()));
    assert!(lines.contains(&"a=sendrecv"));
    // The session's MSRP traffic uses that path as its From-Path.
    let w = Wire::new(&s.world);
    assert_eq!(
        w.msrp_uri(Session::Deferred(s.member, 1), Addr::Node(s.pf), Addr::User(s.user)),
        format!("msrp://198.51.100.12:2855/d{}g1p;tcp", s.member.0)
    );
}

#[test]
fn deferred_invite_has_an_exact_content_length() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let r = w.sent(0, Addr::Node(s.pf), &invite_packet(&s, deferred(&s, Some(UserId(3)), true)));
    let m = parse(&r.text);
    assert_eq!(m.one("Content-Length").parse::<usize>().unwrap(), m.body.len());
    assert_eq!(r.ids.cseq.as_deref(), Some("1 INVITE"));
    assert_eq!(r.ids.call_id.as_deref(), Some(m.one("Call-ID")));
}

#[test]
fn dd2_the_s_cscf_forward_adds_its_via_and_retargets_to_the_contact() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let mut p = invite_packet(&s, deferred(&s, None, true));
    let first = parse(&w.sent(0, Addr::Node(s.pf), &p).text);
    p.set_proxied(true);
    let scscf = s.world.user(s.user).registrar;
    let fwd = parse(&w.sent(2_000, Addr::Node(scscf), &p).text);
    assert_eq!(fwd.start, format!("INVITE sip:+1555{:07}@{}:5060 SIP/2.0", s.user.0, wire::user_ip(s.user).unwrap()));
    let vias = fwd.all("Via");
    assert_eq!(vias.len(), 2);
    assert!(vias[0].starts_with("SIP/2.0/UDP 198.51.100.11:5060;branch=z9hG4bK"));
    assert_eq!(vias[1], first.one("Via"));
    assert_eq!(fwd.one("Max-Forwards"), "69");
    assert!(fwd.all("Route").is_empty(), "the S-CSCF consumed its Route");
    for h in ["From", "To", "Call-ID", "CSeq", "Contact", "P-Asserted-Identity", "Conversation-ID"] {
        assert_eq!(fwd.one(h), first.one(h), "{h} unchanged by the proxy");
    }
    // The client's 200 goes back through the S-CSCF, which removes its Via.
    let dialog = Dialog { role: Role::Deferred, id: s.member.0, generation: 1 };
    let ok = Sip::Response { dialog, method: Method::Invite, status: 200, retry_after_s: None };
    let mut resp = Packet::new(Addr::User(s.user), Addr::Node(s.pf), Msg::Sip(ok));
    let r1 = parse(&w.sent(1_000_000, Addr::User(s.user), &resp).text);
    resp.set_proxied(true);
    let r2 = parse(&w.sent(1_040_000, Addr::Node(scscf), &resp).text);
    assert_eq!(r1.start, "SIP/2.0 200 OK");
    assert_eq!(r1.all("Via"), vias);
    assert_eq!(r2.all("Via"), vec![first.one("Via")]);
    assert_eq!(r1.one("CSeq"), "1 INVITE");
    assert_eq!(r1.one("Call-ID"), first.one("Call-ID"));
    assert!(r1.one("To").contains(";tag="), "the answer tags the dialog");
    let answer = r1.body.split("\r\n").collect::<Vec<_>>();
    assert!(answer.contains(&"a=setup:active") && answer.contains(&"a=sendrecv"));
    assert_eq!(r1.one("Content-Type"), "application/sdp");
}

#[test]
fn dd10_bye_to_the_focus_carries_reason_cause_200() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let cf = s.world.group(s.group).cf;
    let dialog = Dialog { role: Role::Leg, id: s.member.0, generation: 1 };
    let bye = Sip::Bye { dialog, reason: Reason::CallCompleted };
    let p = Packet::new(Addr::Node(s.pf), Addr::Node(cf), Msg::Sip(bye));
    let m = parse(&w.sent(0, Addr::Node(s.pf), &p).text);
    assert!(m.start.starts_with("BYE sip:group-"));
    assert_eq!(m.one("Reason"), "SIP;cause=200;text=\"Call completed\"");
    assert!(m.one("To").contains(";tag="), "in-dialog");
    assert!(m.all("Route").is_empty(), "PF to CF is not proxied");
}

#[test]
fn cseq_increases_within_a_dialog_and_a_terminated_subscription_starts_a_new_one() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let cf = Addr::Node(s.world.group(s.group).cf);
    let pf = Addr::Node(s.pf);
    let dialog = Dialog { role: Role::Conference, id: s.member.0, generation: 0 };
    let send = |w: &mut Wire, src: Addr, dst: Addr, sip: Sip| {
        parse(&w.sent(0, src, &Packet::new(src, dst, Msg::Sip(sip))).text)
    };
    let a = send(&mut w, pf, cf, Sip::Subscribe { dialog, expires_s: 3600 });
    let n1 = send(&mut w, cf, pf, Sip::ConfNotify { dialog, participants: Rc::from(vec![s.user]), terminated: false });
    let b = send(&mut w, pf, cf, Sip::Subscribe { dialog, expires_s: 0 });
    let n2 = send(&mut w, cf, pf, Sip::ConfNotify { dialog, participants: Rc::from(vec![]), terminated: true });
    let c = send(&mut w, pf, cf, Sip::Subscribe { dialog, expires_s: 3600 });
    assert_eq!((a.one("CSeq"), b.one("CSeq")), ("1 SUBSCRIBE", "2 SUBSCRIBE"));
    assert_eq!((n1.one("CSeq"), n2.one("CSeq")), ("1 NOTIFY", "2 NOTIFY"));
    assert_eq!(a.one("Call-ID"), b.one("Call-ID"));
    assert_eq!(a.one("Call-ID"), n2.one("Call-ID"));
    assert_eq!(n1.one("Event"), "conference");
    assert_eq!(n1.one("Subscription-State"), "active;expires=3600");
    assert_eq!(n1.one("Content-Type"), "application/conference-info+xml");
    assert_eq!(n2.one("Subscription-State"), "terminated;reason=timeout");
    assert_ne!(c.one("Call-ID"), a.one("Call-ID"), "a new subscription after a terminated one");
    assert_eq!(c.one("CSeq"), "1 SUBSCRIBE");
    assert!(!a.one("To").contains("tag="), "initial SUBSCRIBE");
    assert!(b.one("To").contains("tag="), "in-dialog SUBSCRIBE");
}

#[test]
fn registrations_of_a_user_share_a_call_id_with_increasing_cseq() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let ue = Addr::User(s.user);
    let reg = Addr::Node(s.world.user(s.user).registrar);
    let mut ids = vec![];
    for (g, e) in [(1, 600), (2, 600), (3, 0)] {
        let sip = Sip::Register { user: s.user, expires_s: e, sip_instance: true, generation: g };
        let m = parse(&w.sent(0, ue, &Packet::new(ue, reg, Msg::Sip(sip))).text);
        assert_eq!(m.start, "REGISTER sip:ims.ddsim.example SIP/2.0");
        assert_eq!(m.one("Expires"), e.to_string());
        ids.push((m.one("Call-ID").to_string(), m.one("CSeq").to_string()));
    }
    assert!(ids.iter().all(|(c, _)| *c == ids[0].0));
    assert_eq!(ids.iter().map(|(_, q)| q.as_str()).collect::<Vec<_>>(), ["1 REGISTER", "2 REGISTER", "3 REGISTER"]);
    // The registrar's 200 repeats the binding and gives the Service-Route.
    let dialog = Dialog { role: Role::Registration, id: s.user.0, generation: 3 };
    let ok = Sip::Response { dialog, method: Method::Register, status: 200, retry_after_s: None };
    let m = parse(&w.sent(0, reg, &Packet::new(reg, ue, Msg::Sip(ok))).text);
    assert_eq!(m.one("CSeq"), "3 REGISTER");
    assert!(m.one("Contact").ends_with(";expires=0"));
    assert!(m.all("Service-Route").is_empty(), "no route for a de-registration");
}

#[test]
fn dd12_msrp_chunks_carry_byte_ranges_end_lines_and_matching_200s() {
    let s = setup();
    let mut w = Wire::new(&s.world);
    let cs = s.world.cfg.chunk_size as usize;
    let item = Item::new(Payload::Chat, s.group, UserId(5), UserId(5), 42, 2 * cs as u32 + 100);
    let session = Session::Deferred(s.member, 3);
    let (pf, ue) = (Addr::Node(s.pf), Addr::User(s.user));
    let mut content = String::new();
    let mut total = None;
    for chunk in 1..=3u16 {
        let send = Msrp::Send { session, item, chunk, chunks: 3, seq: 10 + chunk as u32 };
        let r = w.sent(5, pf, &Packet::new(pf, ue, Msg::Msrp(send)));
        let text = &r.text;
        let tid = r.ids.tid.clone().unwrap();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(lines[0], format!("MSRP {tid} SEND"));
        assert_eq!(
            lines[1],
            format!("To-Path: msrp://{}:49152/d{}g3u;tcp", wire::user_ip(s.user).unwrap(), s.member.0)
        );
        assert_eq!(lines[2], format!("From-Path: msrp://198.51.100.12:2855/d{}g3p;tcp", s.member.0));
        assert!(lines[3].starts_with("Message-ID: "));
        let range = lines[4].strip_prefix("Byte-Range: ").unwrap();
        assert_eq!(lines[5], "Failure-Report: yes", "PF to UE (see Msrp::failure_report)");
        assert_eq!(*lines.last().unwrap(), "Content-Type: message/cpim", "Content-Type ends the headers");
        let end_line = format!("\r\n-------{tid}{}\r\n", if chunk == 3 { '$' } else { '+' });
        let data = rest.strip_suffix(&end_line).expect("the end-line closes the SEND");
        let (se, tot) = range.split_once('/').unwrap();
        let (start, end) = se.split_once('-').unwrap();
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        assert_eq!(start, (chunk as usize - 1) * cs + 1, "Byte-Range from the chunk index and msrp_chunk_size");
        assert_eq!(end - start + 1, data.len());
        total.get_or_insert(tot.to_string());
        assert_eq!(total.as_deref(), Some(tot));
        content.push_str(data);
        // The client's 200 repeats the transaction id with the paths swapped.
        let ok = Msrp::Ok { session, item, chunk, chunks: 3, seq: 10 + chunk as u32, received: 0 };
        let o = w.sent(9, ue, &Packet::new(ue, pf, Msg::Msrp(ok)));
        assert_eq!(
            o.text,
            format!(
                "MSRP {tid} 200 OK\r\nTo-Path: msrp://198.51.100.12:2855/d{m}g3p;tcp\r\nFrom-Path: msrp://{}:49152/d{m}g3u;tcp\r\n-------{tid}$\r\n",
                wire::user_ip(s.user).unwrap(),
                m = s.member.0
            )
        );
    }
    assert_eq!(content.len().to_string(), total.unwrap());
    assert_eq!(content.len(), item.size() as usize, "the content is the item's size");
    assert!(content.starts_with(&format!("From: <{}>\r\nTo: <{}>\r\n", wire::user_uri(UserId(5)), focus(&s))));
    assert!(content.contains("\r\nimdn.Message-ID: m0000002a000005\r\n"));
    assert!(content.contains("\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n"));
    // A UE's SEND asks only for failure reports; no REPORT is ever requested, but one renders.
    let up = Msrp::Send { session, item, chunk: 1, chunks: 1, seq: 0 };
    let p = Packet::new(ue, pf, Msg::Msrp(up));
    assert!(w.sent(10, ue, &p).text.contains("\r\nFailure-Report: partial\r\n"));
    let report = w.report(10, &p).unwrap();
    let tid = report.split(' ').nth(1).unwrap().to_string();
    assert!(report.starts_with(&format!("MSRP {tid} REPORT\r\nTo-Path: msrp://")));
    assert!(report.contains("\r\nStatus: 000 200 OK\r\n"));
    assert!(report.ends_with(&format!("\r\n-------{tid}$\r\n")));
}

/// Every message a whole run sends, rendered in trace order: well formed, and consistent with
/// the messages before it.
#[test]
fn every_message_of_a_tiny_run_is_well_formed_and_consistent() {
    let model = tiny(&[]);
    let opts = RunOptions { trace: Some(TraceFilter::default()), ..Default::default() };
    let (_, out) = run_model(&model, model.seed, serde_json::Value::Null, opts).unwrap();
    let trace = out.trace.unwrap();
    let world = World::build(&model, model.seed);
    let mut w = Wire::new(&world);
    // (Call-ID, CSeq) of every request sent, and the last CSeq number per (Call-ID, From tag).
    let mut requests: HashSet<(String, String)> = HashSet::new();
    let mut last_cseq: HashMap<(String, String), u32> = HashMap::new();
    let mut sends: HashSet<String> = HashSet::new();
    let (mut sip, mut msrp, mut responses, mut oks) = (0, 0, 0, 0);
    for r in trace.records.iter().filter(|r| r.kind == TraceKind::Sent) {
        let m = w.sent(r.time, r.at, &r.packet);
        match &r.packet.msg {
            Msg::Sip(s) => {
                sip += 1;
                let p = parse(&m.text);
                assert_eq!(p.one("Content-Length").parse::<usize>().unwrap(), p.body.len(), "{}", m.text);
                let (call_id, cseq) = (p.one("Call-ID").to_string(), p.one("CSeq").to_string());
                assert!(p.all("Via").iter().all(|v| v.starts_with("SIP/2.0/UDP ") && v.contains(";branch=z9hG4bK")));
                assert!(p.one("From").contains(";tag="));
                if let Sip::Response { status, .. } = s {
                    responses += 1;
                    assert!(p.start.starts_with(&format!("SIP/2.0 {status} ")));
                    assert!(
                        requests.contains(&(call_id.clone(), cseq.clone())),
                        "a response to a request sent: {}",
                        m.text
                    );
                } else {
                    assert!(p.start.ends_with(" SIP/2.0"));
                    let method = p.start.split(' ').next().unwrap();
                    let (n, cm) = cseq.split_once(' ').unwrap();
                    assert_eq!(cm, method);
                    let n: u32 = n.parse().unwrap();
                    let tag = p.one("From").split(";tag=").nth(1).unwrap().to_string();
                    let forward = r.at != r.packet.src();
                    if method != "ACK" && !forward {
                        let prev = last_cseq.insert((call_id.clone(), tag), n);
                        assert!(prev.is_none_or(|q| q < n), "CSeq increases within a dialog: {prev:?} then {n}");
                    }
                    requests.insert((call_id, cseq));
                }
            }
            Msg::Msrp(x) => {
                msrp += 1;
                let tid = m.ids.tid.clone().unwrap();
                let first = m.text.split("\r\n").next().unwrap();
                match x {
                    Msrp::Send { chunk, chunks, .. } => {
                        assert_eq!(first, format!("MSRP {tid} SEND"));
                        let end = if chunk == chunks { '$' } else { '+' };
                        let data = m.text.split_once("\r\n\r\n").unwrap().1;
                        let data = data.strip_suffix(&format!("\r\n-------{tid}{end}\r\n")).unwrap();
                        let range = m.ids.byte_range.clone().unwrap();
                        let (a, b) = range.split_once('/').unwrap().0.split_once('-').unwrap();
                        assert_eq!(b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1, data.len());
                        sends.insert(tid);
                    }
                    Msrp::Ok { .. } => {
                        oks += 1;
                        assert_eq!(first, format!("MSRP {tid} 200 OK"));
                        assert!(sends.contains(&tid), "a 200 repeats the id of a SEND");
                    }
                }
            }
        }
    }
    assert!(sip > 1000 && msrp > 1000 && responses > 500 && oks > 100, "{sip} {msrp} {responses} {oks}");
}
