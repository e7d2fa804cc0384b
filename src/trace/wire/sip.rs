//! SIP requests and responses as RFC 3261 text, with their SDP, resource-list, conference
//! and registration bodies.

use super::*;

/// A SIP message under construction.
pub(super) struct SipText {
    start: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(String, String)>,
}

impl SipText {
    pub(super) fn new(start: String) -> SipText {
        SipText { start, headers: Vec::with_capacity(16), body: None }
    }
    fn h(&mut self, name: &'static str, value: impl Into<String>) {
        self.headers.push((name, value.into()));
    }
    fn finish(self) -> String {
        let mut s = String::with_capacity(512);
        s.push_str(&self.start);
        s.push_str(CRLF);
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}{CRLF}");
        }
        match &self.body {
            Some((ct, b)) => {
                let _ = write!(s, "Content-Type: {ct}{CRLF}Content-Length: {}{CRLF}{CRLF}{b}", b.len());
            }
            None => {
                let _ = write!(s, "Content-Length: 0{CRLF}{CRLF}");
            }
        }
        s
    }
}

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, SUBSCRIBE, NOTIFY";
const BOUNDARY: &str = "ddsim-boundary-7Fa3";

impl<'w> Wire<'w> {
    pub(super) fn request(&mut self, hop: Hop, p: &Packet, sip: &Sip, assign: bool) -> Rendered {
        let key = self.request_key(sip, p.src(), assign);
        let parties = self.parties(key);
        let side: u8 = if p.src() == parties[0].addr { 0 } else { 1 };
        let (me, peer) = (&parties[side as usize], &parties[1 - side as usize]);
        let method = match sip {
            Sip::Register { .. } | Sip::ThirdPartyRegister { .. } => "REGISTER",
            Sip::RegNotifyExpired { .. } | Sip::ConfNotify { .. } => "NOTIFY",
            Sip::Invite { .. } => "INVITE",
            Sip::Ack { .. } => "ACK",
            Sip::Bye { .. } => "BYE",
            Sip::Subscribe { .. } => "SUBSCRIBE",
            Sip::Response { .. } => unreachable!("responses are rendered by `response`"),
        };
        let expires = match sip {
            Sip::Register { expires_s, .. }
            | Sip::ThirdPartyRegister { expires_s, .. }
            | Sip::Subscribe { expires_s, .. } => Some(*expires_s),
            _ => None,
        };
        let txk = (key, method, side);
        let tx = match self.txs.get(&txk) {
            Some(tx) if !assign => tx.clone(),
            _ => {
                // The ACK of a 2xx repeats the INVITE's CSeq number (RFC 3261 §13.2.2.4).
                let invite_cseq = self.txs.get(&(key, "INVITE", side)).map_or(1, |t| t.cseq);
                let d = self.dialog(key);
                let cseq = if method == "ACK" {
                    invite_cseq
                } else if assign {
                    d.cseq[side as usize] += 1;
                    d.cseq[side as usize]
                } else {
                    d.cseq[side as usize].max(1)
                };
                let call_id = d.call_id.clone();
                let tx =
                    Tx { cseq, branch: format!("z9hG4bK{}", hex16(hash((&call_id, cseq, method, side)))), expires };
                if assign {
                    self.txs.insert(txk, tx.clone());
                }
                tx
            }
        };
        let d = self.dialog(key).clone();
        let user = match (p.src(), p.dst()) {
            (Addr::User(u), _) | (_, Addr::User(u)) => Some(u),
            _ => None,
        };
        let proxied = self.world.proxy_of(p).is_some();
        let r_uri = match sip {
            Sip::Register { .. } => format!("sip:{HOME_DOMAIN}"),
            // The terminating S-CSCF retargets an initial request to the registered contact
            // (TS 24.229 §5.4.3.3); until then the Request-URI is the served user (DD-2).
            Sip::Invite { invite: Invite::Deferred(_), .. } if hop.forward => peer.target.clone(),
            Sip::Invite { invite: Invite::Deferred(di), .. } => user_uri(di.request_uri),
            Sip::Invite { invite: Invite::Join { member, .. }, .. } => user_uri(self.member_user(member.0)),
            _ => peer.target.clone(),
        };
        let mut t = SipText::new(format!("{method} {r_uri} SIP/2.0"));
        if hop.forward {
            t.h("Via", self.via(hop.from, &format!("z9hG4bK{}", hex16(hash((&tx.branch, "proxy"))))));
        }
        t.h("Via", self.via(p.src(), &tx.branch));
        t.h("Max-Forwards", if hop.forward { "69" } else { "70" });
        if proxied
            && !hop.forward
            && let Some(u) = user
        {
            t.h("Route", self.scscf_route(u));
        }
        t.h("From", format!("<{}>;tag={}", me.uri, d.tags[side as usize]));
        let to_tag = match sip {
            Sip::Register { .. } | Sip::ThirdPartyRegister { .. } | Sip::Invite { .. } => false,
            Sip::Subscribe { .. } => tx.cseq > 1,
            _ => true,
        };
        if to_tag {
            t.h("To", format!("<{}>;tag={}", peer.uri, d.tags[1 - side as usize]));
        } else {
            t.h("To", format!("<{}>", peer.uri));
        }
        t.h("Call-ID", d.call_id.clone());
        t.h("CSeq", format!("{} {method}", tx.cseq));
        let mut label;
        let summary;
        match sip {
            Sip::Register { user, expires_s, .. } => {
                t.h("Contact", self.ue_contact(*user, true));
                t.h("Expires", expires_s.to_string());
                t.h("Supported", "path, gruu");
                label = if *expires_s == 0 { "REGISTER (de-register)".to_string() } else { "REGISTER".to_string() };
                summary = format!("REGISTER {} expires {expires_s}", user_uri(*user));
            }
            Sip::ThirdPartyRegister { user, expires_s, .. } => {
                // TS 24.229 §5.4.1.7: From is the S-CSCF, To the registered identity, and the
                // incoming REGISTER may ride along as a message/sip body (it tells the PF the
                // client's +sip.instance).
                t.h("Contact", format!("<{}>", self.node_uri(self.registrar_of(*user))));
                t.h("Expires", expires_s.to_string());
                if let Some(reg) = self.last_register.get(&user.0) {
                    t.body = Some(("message/sip".into(), reg.clone()));
                }
                label = format!("REGISTER 3rd-party{}", if *expires_s == 0 { " (expires 0)" } else { "" });
                summary = format!("3rd-party REGISTER {} expires {expires_s}", user_uri(*user));
            }
            Sip::RegNotifyExpired { user, .. } => {
                t.h("Event", "reg");
                t.h("Subscription-State", "active;expires=3600");
                let aor = user_uri(*user);
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"{}\" state=\"partial\">{CRLF}<registration aor=\"{aor}\" id=\"r{}\" state=\"terminated\">{CRLF}<contact id=\"c{}\" state=\"terminated\" event=\"expired\"><uri>{}</uri></contact>{CRLF}</registration>{CRLF}</reginfo>{CRLF}",
                    tx.cseq - 1,
                    user.0,
                    user.0,
                    self.ue_contact_uri(*user)
                );
                t.body = Some(("application/reginfo+xml".into(), body));
                label = "NOTIFY reg (expired)".into();
                summary = format!("NOTIFY reg: binding of {aor} expired");
            }
            Sip::Invite { dialog, invite } => {
                t.h("Allow", ALLOW);
                match invite {
                    Invite::Deferred(di) => {
                        let parts = self.deferred_invite_headers(di);
                        for (n, v) in parts {
                            t.h(n, v);
                        }
                        let sdp = self.sdp(
                            di.sdp,
                            Session::Deferred(MemberId(dialog.id), dialog.generation),
                            p.src(),
                            p.dst(),
                            "actpass",
                        );
                        t.body = Some(multipart(&sdp, &resource_list(&di.participants)));
                        label = format!("INVITE deferred delivery (group {})", di.conversation_id.0);
                        summary = format!(
                            "INVITE {} deferred delivery of group {} (contribution {})",
                            user_uri(di.request_uri),
                            di.conversation_id.0,
                            di.contribution_id
                        );
                    }
                    Invite::Join { member, contribution_id: contribution, participants } => {
                        let g = self.member_group(member.0);
                        let focus = self.focus_uri(g);
                        t.h("Contact", self.focus_contact(g));
                        t.h("Accept-Contact", format!("*;{}", icsi_ref(ICSI_SESSION)));
                        t.h("P-Asserted-Identity", format!("<{focus}>"));
                        t.h("P-Asserted-Service", ICSI_SESSION_GROUP);
                        t.h("Conversation-ID", conversation_id(g));
                        t.h("Contribution-ID", contribution_id(g, *contribution));
                        let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(*member), p.src(), p.dst(), "actpass");
                        t.body = Some(multipart(&sdp, &resource_list(participants)));
                        label = format!("INVITE join (group {})", g.0);
                        summary = format!("INVITE {} join group {} (contribution {contribution})", r_uri, g.0);
                    }
                    Invite::Rejoin { member } => {
                        let (u, g) = (self.member_user(member.0), self.member_group(member.0));
                        t.h("Contact", format!("<{}>;{}", self.pf_for_user_uri(u), icsi_ref(ICSI_SESSION)));
                        t.h("Accept-Contact", format!("*;{}", icsi_ref(ICSI_SESSION)));
                        t.h("P-Asserted-Identity", format!("<{}>", user_uri(u)));
                        t.h("P-Asserted-Service", ICSI_SESSION_GROUP);
                        t.h("Conversation-ID", conversation_id(g));
                        let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(*member), p.src(), p.dst(), "actpass");
                        t.body = Some(("application/sdp".into(), sdp));
                        label = format!("INVITE re-join (group {})", g.0);
                        summary = format!("INVITE {} re-join group {} for {}", r_uri, g.0, user_uri(u));
                    }
                }
            }
            Sip::Ack { .. } => {
                label = "ACK".into();
                summary = format!("ACK {r_uri}");
            }
            Sip::Bye { reason, .. } => {
                if let Some(v) = reason.header_value() {
                    t.h("Reason", v);
                }
                label = match reason {
                    Reason::CallCompleted => "BYE (cause=200)".into(),
                    Reason::None => "BYE".into(),
                };
                summary =
                    format!("BYE {r_uri}{}", if *reason == Reason::CallCompleted { " Reason cause=200" } else { "" });
            }
            Sip::Subscribe { dialog, expires_s } => {
                let u = self.member_user(dialog.id);
                t.h("Contact", format!("<{}>", self.pf_for_user_uri(u)));
                t.h("Event", "conference");
                t.h("Expires", expires_s.to_string());
                t.h("Accept", "application/conference-info+xml");
                label = if *expires_s == 0 {
                    "SUBSCRIBE conference (expires 0)".into()
                } else {
                    "SUBSCRIBE conference".into()
                };
                summary = format!("SUBSCRIBE {r_uri} conference expires {expires_s}");
            }
            Sip::ConfNotify { dialog, participants, terminated } => {
                let g = self.member_group(dialog.id);
                t.h("Contact", self.focus_contact(g));
                t.h("Event", "conference");
                if *terminated {
                    // RFC 6665 §4.2.2: `timeout` after the subscriber's Expires: 0, `noresource`
                    // when the conference itself ended.
                    let why = if self.confs.get(&dialog.id).is_some_and(|c| c.unsubscribed) {
                        "timeout"
                    } else {
                        "noresource"
                    };
                    t.h("Subscription-State", format!("terminated;reason={why}"));
                    label = "NOTIFY conference (terminated)".into();
                    summary = format!("NOTIFY {r_uri} conference terminated ({why})");
                } else {
                    t.h("Subscription-State", "active;expires=3600");
                    t.body = Some((
                        "application/conference-info+xml".into(),
                        self.conference_info(g, participants, tx.cseq),
                    ));
                    label = format!("NOTIFY conference ({} users)", participants.len());
                    summary = format!("NOTIFY {r_uri} conference, {} participants", participants.len());
                }
            }
            Sip::Response { .. } => unreachable!(),
        }
        if hop.forward {
            label.push_str(" (fwd)");
        }
        let text = t.finish();
        if let (Sip::Register { user, .. }, true) = (sip, assign) {
            self.last_register.insert(user.0, text.clone());
        }
        let ids = Ids {
            call_id: Some(d.call_id),
            cseq: Some(format!("{} {method}", tx.cseq)),
            branch: Some(tx.branch),
            ..Ids::default()
        };
        Rendered { hop, transport: Transport::Udp, text, label, summary, ids }
    }

    /// The DD-3..DD-7 headers of a deferred-delivery INVITE, in order (seed 8.3.2.9.1.2 a)).
    fn deferred_invite_headers(&self, d: &DeferredInvite) -> Vec<(&'static str, String)> {
        let focus = self.focus_uri(d.contact_focus);
        let mut contact = format!("<{focus}>");
        if d.contact_isfocus {
            contact.push_str(";isfocus");
        }
        let _ = write!(contact, ";{}", icsi_ref(d.contact_icsi));
        if let Some(u) = d.contact_sip_instance {
            let _ = write!(contact, ";+sip.instance=\"{}\"", sip_instance(u));
        }
        let mut h = vec![
            ("Contact", contact),
            ("Accept-Contact", format!("*;{}", icsi_ref(d.accept_contact_icsi))),
            ("P-Asserted-Identity", format!("<{}>", self.focus_uri(d.p_asserted_identity))),
            ("P-Asserted-Service", d.p_asserted_service.to_string()),
            ("Conversation-ID", conversation_id(d.conversation_id)),
            ("Contribution-ID", contribution_id(d.conversation_id, d.contribution_id)),
        ];
        if let Some(r) = d.referred_by {
            h.push(("Referred-By", format!("<{}>", user_uri(r))));
        }
        h
    }

    /// An SDP offer or answer for an MSRP session (RFC 4566; RFC 4975 §8.1; RFC 6135 setup).
    fn sdp(&self, offer: SdpOffer, session: Session, end: Addr, peer: Addr, setup: &str) -> String {
        let a = ip(end);
        let port = msrp_port(self.world, end, peer);
        let id = hash((session, end, "sdp")) % 1_000_000_000;
        format!(
            "v=0{CRLF}o=- {id} {id} IN IP4 {a}{CRLF}s=-{CRLF}c=IN IP4 {a}{CRLF}t=0 0{CRLF}m=message {port} TCP/MSRP *{CRLF}a=accept-types:{}{CRLF}a=accept-wrapped-types:{}{CRLF}a=path:{}{CRLF}a=setup:{setup}{CRLF}{}{CRLF}",
            offer.accept_types,
            offer.accept_wrapped_types,
            self.msrp_uri(session, end, peer),
            offer.direction.attribute()
        )
    }

    fn conference_info(&self, g: GroupId, participants: &[UserId], version: u32) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"{}\" state=\"full\" version=\"{version}\">{CRLF}<users>{CRLF}",
            self.focus_uri(g)
        );
        for u in participants {
            let _ = write!(
                s,
                "<user entity=\"{}\" state=\"full\"><endpoint entity=\"{}\"><status>connected</status></endpoint></user>{CRLF}",
                user_uri(*u),
                self.pf_for_user_uri(*u)
            );
        }
        s.push_str("</users>");
        s.push_str(CRLF);
        s.push_str("</conference-info>");
        s.push_str(CRLF);
        s
    }

    pub(super) fn response(
        &mut self,
        hop: Hop,
        p: &Packet,
        dialog: Dialog,
        method: Method,
        status: u16,
        retry_after_s: Option<u32>,
    ) -> Rendered {
        let key = self.response_key(dialog, method, p.src());
        let parties = self.parties(key);
        let r: usize = if p.dst() == parties[0].addr { 0 } else { 1 };
        let (requester, responder) = (&parties[r], &parties[1 - r]);
        let m = method.name();
        let d = self.dialog(key).clone();
        let tx = match self.txs.get(&(key, m, r as u8)) {
            Some(tx) => tx.clone(),
            None => Tx {
                cseq: d.cseq[r].max(1),
                branch: format!("z9hG4bK{}", hex16(hash((&d.call_id, d.cseq[r].max(1), m, r as u8)))),
                expires: None,
            },
        };
        let by_end = p.src() == responder.addr;
        let mut t = SipText::new(format!("SIP/2.0 {status} {}", reason_phrase(status)));
        // The S-CSCF proxied the request: its Via is on top until it forwards the response.
        if let Some(scscf) = self.world.proxy_of(p)
            && by_end
            && !hop.forward
        {
            t.h("Via", self.via(Addr::Node(scscf), &format!("z9hG4bK{}", hex16(hash((&tx.branch, "proxy"))))));
        }
        t.h("Via", self.via(p.dst(), &tx.branch));
        t.h("From", format!("<{}>;tag={}", requester.uri, d.tags[r]));
        let to_tag = if by_end { d.tags[1 - r].clone() } else { format!("{:08x}", hash((&d.call_id, p.src())) as u32) };
        t.h("To", format!("<{}>;tag={to_tag}", responder.uri));
        t.h("Call-ID", d.call_id.clone());
        t.h("CSeq", format!("{} {m}", tx.cseq));
        if let Some(ra) = retry_after_s {
            t.h("Retry-After", ra.to_string());
        }
        if status == 200 {
            match key {
                DKey::Reg(u) => {
                    let u = UserId(u);
                    let e = tx.expires.unwrap_or(0);
                    t.h("Contact", format!("{};expires={e}", self.ue_contact(u, true)));
                    if e > 0 {
                        t.h("Service-Route", self.scscf_route(u));
                    }
                    t.h("P-Associated-URI", format!("<{}>", user_uri(u)));
                }
                DKey::Conf(mm, _) if method == Method::Subscribe => {
                    t.h("Contact", self.focus_contact(self.member_group(mm)));
                    t.h("Expires", tx.expires.unwrap_or(0).to_string());
                }
                DKey::Deferred(mm, g) if method == Method::Invite => {
                    let u = self.member_user(mm);
                    t.h("Contact", self.ue_contact(u, true));
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Deferred(MemberId(mm), g), p.src(), p.dst(), "active");
                    t.body = Some(("application/sdp".into(), sdp));
                }
                DKey::Join(mm, _) if method == Method::Invite => {
                    let u = self.member_user(mm);
                    t.h("Contact", format!("<{}>;{}", self.pf_for_user_uri(u), icsi_ref(ICSI_SESSION)));
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(MemberId(mm)), p.src(), p.dst(), "active");
                    t.body = Some(("application/sdp".into(), sdp));
                }
                DKey::Rejoin(mm, _) if method == Method::Invite => {
                    t.h("Contact", self.focus_contact(self.member_group(mm)));
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(MemberId(mm)), p.src(), p.dst(), "passive");
                    t.body = Some(("application/sdp".into(), sdp));
                }
                _ => {}
            }
        }
        let mut label = format!(
            "{status} {}",
            if status == 200 { m.to_string() } else { format!("{} ({m})", reason_phrase(status)) }
        );
        if hop.forward {
            label.push_str(" (fwd)");
        }
        let summary = format!("SIP/2.0 {status} {} to {m}", reason_phrase(status));
        let ids = Ids {
            call_id: Some(d.call_id),
            cseq: Some(format!("{} {m}", tx.cseq)),
            branch: Some(tx.branch),
            ..Ids::default()
        };
        Rendered { hop, transport: Transport::Udp, text: t.finish(), label, summary, ids }
    }
}

/// The participant list as a resource list (RFC 4826 §3; used as a URI list, RFC 5366).
fn resource_list(users: &[UserId]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">{CRLF}<list>{CRLF}"
    );
    for u in users {
        let _ = write!(s, "<entry uri=\"{}\"/>{CRLF}", user_uri(*u));
    }
    s.push_str("</list>");
    s.push_str(CRLF);
    s.push_str("</resource-lists>");
    s.push_str(CRLF);
    s
}

/// A multipart/mixed body (RFC 2046 §5.1) of an SDP offer and a participant list.
fn multipart(sdp: &str, list: &str) -> (String, String) {
    let body = format!(
        "--{BOUNDARY}{CRLF}Content-Type: application/sdp{CRLF}{CRLF}{sdp}{CRLF}--{BOUNDARY}{CRLF}Content-Type: application/resource-lists+xml{CRLF}Content-Disposition: recipient-list{CRLF}{CRLF}{list}{CRLF}--{BOUNDARY}--{CRLF}"
    );
    (format!("multipart/mixed;boundary={BOUNDARY}"), body)
}
