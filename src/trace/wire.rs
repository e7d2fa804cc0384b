//! Wire rendering, for traces only: every modelled SIP message as RFC 3261 text and every MSRP
//! message as RFC 4975 text, with the identifiers a capture shows (Call-ID, CSeq, Via branch,
//! tags, MSRP transaction ids, Message-ID, Byte-Range). A normal run never comes here: the
//! simulation carries the typed messages of `protocol`, and `ddsim trace` renders the records
//! a trace captured after the run has finished.
//!
//! # Names and addresses
//!
//! | what | URI | IPv4 address |
//! |---|---|---|
//! | user (UE) `u` | `sip:+1555<u, 7 digits>@ims.ddsim.example` | `192.0.2.(u+1)` for u < 254, then `198.18.0.0/15` |
//! | node `n` named `name` | `sip:<name>.ddsim.example` | `198.51.100.(10+n)` |
//! | group `g` (the focus URI, CPM Group Session Identity) | `sip:group-<g>@<its CF's name>.ddsim.example` | the CF's |
//! | a PF acting for user `u` (B2BUA) | `sip:+1555<u>@<pf name>.ddsim.example` | the PF's |
//!
//! 192.0.2.0/24 (TEST-NET-1) and 198.51.100.0/24 (TEST-NET-2) are documentation ranges
//! (RFC 5737); a trace of more than 254 users continues in 198.18.0.0/15, reserved for
//! benchmarking and never routed (RFC 2544 §C.2.2), which holds 131,070 more.
//! `ddsim.example` is reserved for examples (RFC 2606).
//!
//! SIP runs over UDP port 5060 (RFC 3261 §18). MSRP runs over TCP (RFC 4975 §6): each server
//! listens on 2855, and one TCP connection joins each pair of ends, as the model's ordering
//! assumes; the UE opens its connection to its PF and the PF its connection to a CF, from port
//! 49152 (towards CF `n`: 49152 + n). SDP offers say `a=setup:actpass` and answers choose
//! accordingly (RFC 6135).
//!
//! # What is rendered
//!
//! - Call-ID per dialog; CSeq increasing per dialog and per side (RFC 3261 §12.2.1.1); one
//!   Via branch per transaction starting with `z9hG4bK` (§8.1.1.7); From and To tags.
//!   Registrations of one user share one Call-ID (§10.2.4).
//! - SIP between a UE and its PF goes through the user's S-CSCF: the first hop carries
//!   `Route: <sip:scscf...;lr>` (the Service-Route of the registration, RFC 3608); the S-CSCF's
//!   forward adds its own Via and removes the Route (RFC 3261 §16.6, §16.4), and responses
//!   come back with the Via it added, which it removes (§16.7).
//! - Bodies: SDP (RFC 4566, RFC 4975 §8.1 `m=message ... TCP/MSRP *` and `a=path`),
//!   `multipart/mixed` with the participant list as `application/resource-lists+xml`
//!   (RFC 4826, RFC 5366), conference (RFC 4575) and registration (RFC 3680) event bodies, and
//!   in MSRP `message/cpim` (RFC 3862) wrapping text, IMDN (RFC 5438), isComposing (RFC 3994)
//!   or the OMA CPM Group State Object.
//! - MSRP: To-Path and From-Path from the session and its ends, a transaction id per SEND
//!   that its 200 repeats, Message-ID per message, Byte-Range from the chunk index and
//!   `policy.msrp_chunk_size`, Failure-Report per `Msrp::failure_report`, and the end-line
//!   `-------<tid>$` (last chunk) or `+` (more to come) (RFC 4975 §7.1).
//! - An item's `size` is the size of its MSRP content (the whole CPIM message). A content
//!   whose CPIM envelope alone is larger than `size` is rendered at the envelope's size, and
//!   its last chunk carries the excess, so that the number of chunks is the model's.

use crate::engine::Time;
use crate::model::NodeKind;
use crate::network::Transport;
use crate::protocol::{
    Addr, DeferredInvite, Dialog, GroupId, ICSI_SESSION, ICSI_SESSION_GROUP, Invite, Item, MemberId, Method, Msg, Msrp,
    NodeId, Packet, Payload, Reason, Role, SdpOffer, Session, Sip, UserId,
};
use crate::workload::World;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

/// The home network domain of the users' public identities.
pub const HOME_DOMAIN: &str = "ims.ddsim.example";
/// The domain of the servers' host names.
pub const NODE_DOMAIN: &str = "ddsim.example";
pub const SIP_PORT: u16 = 5060;
pub const MSRP_PORT: u16 = 2855;
/// The first port of the TCP clients of MSRP connections.
pub const EPHEMERAL_PORT: u16 = 49152;
/// Nodes that get an address (198.51.100.10 to .254).
pub const MAX_NODES: usize = 245;
/// Users that get an address: 254 in 192.0.2.0/24, then 131,070 in 198.18.0.0/15.
pub const MAX_USERS: u32 = 254 + 131_070;

const CRLF: &str = "\r\n";

/// A node's IPv4 address (None beyond `MAX_NODES`).
pub fn node_ip(n: NodeId) -> Option<Ipv4Addr> {
    (usize::from(n.0) < MAX_NODES).then(|| Ipv4Addr::new(198, 51, 100, 10 + n.0 as u8))
}

/// A UE's IPv4 address (None beyond `MAX_USERS`).
pub fn user_ip(u: UserId) -> Option<Ipv4Addr> {
    if u.0 < 254 {
        return Some(Ipv4Addr::new(192, 0, 2, u.0 as u8 + 1));
    }
    // Host numbers 1 ..= 2^17 - 2 of 198.18.0.0/15 (neither the network nor the broadcast address).
    let k = u.0 - 253;
    (k <= 131_070).then(|| Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + k))
}

/// The address of either kind of end.
///
/// # Panics
/// When the end has no address; `check_addressable` says so beforehand.
pub fn ip(a: Addr) -> Ipv4Addr {
    match a {
        Addr::Node(n) => node_ip(n),
        Addr::User(u) => user_ip(u),
    }
    .expect("checked by check_addressable")
}

/// Whether every node, and users `0..users` (all when None), get an address.
pub fn check_addressable(world: &World, users: Option<u32>) -> Result<(), String> {
    if world.node_names.len() > MAX_NODES {
        return Err(format!("a trace can address {MAX_NODES} nodes; the model has {}", world.node_names.len()));
    }
    let n = users.unwrap_or(world.users.len() as u32).min(world.users.len() as u32);
    if n > MAX_USERS {
        return Err(format!("a trace can address {MAX_USERS} users; trace fewer with --users"));
    }
    Ok(())
}

/// Percent-encodes a URN for a feature-tag value (TS 24.229 §7.2A.8: the ICSI in
/// `+g.3gpp.icsi-ref` is percent-encoded, so `:` becomes `%3A`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `+g.3gpp.icsi-ref="<percent-encoded ICSI>"` (RFC 3841 feature parameter, TS 24.229 §7.9.2).
pub fn icsi_ref(icsi: &str) -> String {
    format!("+g.3gpp.icsi-ref=\"{}\"", percent_encode(icsi))
}

/// A user's public identity.
pub fn user_uri(u: UserId) -> String {
    format!("sip:+1555{:07}@{HOME_DOMAIN}", u.0)
}

/// A user's device instance (RFC 5626 §4.1 `+sip.instance`, a URN in angle brackets).
pub fn sip_instance(u: UserId) -> String {
    format!("<urn:uuid:5e0d5e0d-0000-4000-8000-{:012x}>", u.0)
}

/// The Conversation-ID of a group's session (OMA CPM: a UUID, RFC 4122 form).
pub fn conversation_id(g: GroupId) -> String {
    format!("c0c0a000-0000-4000-8000-{:012x}", g.0)
}

/// The Contribution-ID of the `contribution`-th start of a group's session.
pub fn contribution_id(g: GroupId, contribution: u32) -> String {
    format!("c0b0{:04x}-{:04x}-4000-9000-{:012x}", contribution >> 16, contribution & 0xffff, g.0)
}

/// `1970-01-01T00:00:00.000Z` plus virtual time: the run starts at the Unix epoch, as the pcap
/// timestamps do.
pub fn datetime(t: Time) -> String {
    let ms = t / 1000;
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let r = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", r / 3600, r / 60 % 60, r % 60, ms % 1000)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A deterministic 64-bit identifier of `x`: FNV-1a, then the SplitMix64 finaliser, so that
/// related inputs give unrelated-looking ids.
fn hash<T: Hash>(x: T) -> u64 {
    let mut h = fnv::FnvHasher::default();
    x.hash(&mut h);
    let mut z = h.finish();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hex16(x: u64) -> String {
    format!("{x:016x}")
}

/// The reason phrase of a status code (RFC 3261 §21).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// One transmission on the wire: from the node or device that sends it to the next SIP or
/// MSRP hop (the S-CSCF for SIP between a UE and its PF, else the destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    pub from: Addr,
    pub to: Addr,
    /// This is the S-CSCF forwarding a message between a UE and its PF.
    pub forward: bool,
}

/// The hop a message takes when `at` sends it (`at` as in a `Sent` trace record).
pub fn hop(world: &World, at: Addr, p: &Packet) -> Hop {
    let to = match world.proxy_of(p) {
        Some(scscf) if !p.proxied => Addr::Node(scscf),
        _ => p.dst,
    };
    Hop { from: at, to, forward: p.proxied && at != p.src }
}

/// The TCP client of an MSRP connection between two ends: the UE towards a server, the PF
/// towards a CF, else the end with the lower node index.
pub fn msrp_client(world: &World, a: Addr, b: Addr) -> Addr {
    match (a, b) {
        (Addr::User(_), _) => a,
        (_, Addr::User(_)) => b,
        (Addr::Node(x), Addr::Node(y)) => {
            let pf = |n: NodeId| world.node_kinds[n.0 as usize] == NodeKind::Participating;
            if pf(x) && !pf(y) {
                a
            } else if pf(y) && !pf(x) {
                b
            } else if x.0 <= y.0 {
                a
            } else {
                b
            }
        }
    }
}

/// The TCP port of `end` on its MSRP connection with `peer`.
pub fn msrp_port(world: &World, end: Addr, peer: Addr) -> u16 {
    if msrp_client(world, end, peer) != end {
        return MSRP_PORT;
    }
    match peer {
        Addr::Node(n) if matches!(end, Addr::Node(_)) => EPHEMERAL_PORT + n.0,
        _ => EPHEMERAL_PORT,
    }
}

/// Identifiers of a rendered message, for JSON lines and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub call_id: Option<String>,
    pub cseq: Option<String>,
    pub branch: Option<String>,
    pub tid: Option<String>,
    pub message_id: Option<String>,
    pub byte_range: Option<String>,
}

/// A message as it is on the wire at one hop.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub hop: Hop,
    pub transport: Transport,
    /// The message text (CRLF line ends; bodies are ASCII).
    pub text: String,
    /// A short label for ladder arrows.
    pub label: String,
    /// A one-line description for event logs.
    pub summary: String,
    pub ids: Ids,
}

/// A SIP dialog (or registration) as the renderer tracks it. Each deferred-delivery INVITE,
/// join INVITE and re-join INVITE starts a dialog; a user's registrations share one;
/// conference subscriptions start a new one after a terminated one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum DKey {
    Reg(u32),
    ThirdParty(u32),
    RegEvent(u32),
    Deferred(u32, u32),
    Join(u32, u32),
    Rejoin(u32, u32),
    Conf(u32, u32),
}

#[derive(Clone, Debug)]
struct DialogState {
    call_id: String,
    tags: [String; 2],
    cseq: [u32; 2],
}

#[derive(Clone, Debug)]
struct Tx {
    cseq: u32,
    branch: String,
    /// Expires of a REGISTER or SUBSCRIBE, repeated in its 200.
    expires: Option<u32>,
}

/// One end of a dialog: who it is on the wire, its identity, and its remote target.
struct Party {
    addr: Addr,
    uri: String,
    target: String,
}

#[derive(Clone, Copy, Debug, Default)]
struct ConfState {
    epoch: u32,
    terminated: bool,
    unsubscribed: bool,
}

/// Renders trace records as wire text, keeping the per-dialog state (Call-IDs, CSeqs,
/// branches) that makes one message's text agree with the next's. Records must be given in
/// the order of the trace.
pub struct Wire<'w> {
    world: &'w World,
    hosts: Vec<String>,
    dialogs: HashMap<DKey, DialogState>,
    txs: HashMap<(DKey, &'static str, u8), Tx>,
    /// The current PF↔CF leg dialog of each membership (a BYE on a leg names the membership).
    legs: HashMap<u32, DKey>,
    confs: HashMap<u32, ConfState>,
    /// When an item was first rendered: the CPIM DateTime the original sender set.
    first_seen: HashMap<(u32, u32, u32, u8), Time>,
    /// The last REGISTER each user sent, carried in the 3rd-party REGISTER.
    last_register: HashMap<u32, String>,
}

fn host_label(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    if s.is_empty() { "node".into() } else { s }
}

/// A SIP message under construction.
struct SipText {
    start: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(String, String)>,
}

impl SipText {
    fn new(start: String) -> SipText {
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
    pub fn new(world: &'w World) -> Wire<'w> {
        let mut hosts: Vec<String> = vec![];
        for (i, n) in world.node_names.iter().enumerate() {
            let mut h = format!("{}.{NODE_DOMAIN}", host_label(n));
            if hosts.contains(&h) {
                h = format!("{}-{i}.{NODE_DOMAIN}", host_label(n));
            }
            hosts.push(h);
        }
        Wire {
            world,
            hosts,
            dialogs: HashMap::new(),
            txs: HashMap::new(),
            legs: HashMap::new(),
            confs: HashMap::new(),
            first_seen: HashMap::new(),
            last_register: HashMap::new(),
        }
    }

    // ----- names -----

    /// A node's host name.
    pub fn host(&self, n: NodeId) -> &str {
        &self.hosts[n.0 as usize]
    }
    pub fn node_uri(&self, n: NodeId) -> String {
        format!("sip:{}", self.host(n))
    }
    /// The focus URI of a group (its CPM Group Session Identity at its CF).
    pub fn focus_uri(&self, g: GroupId) -> String {
        format!("sip:group-{}@{}", g.0, self.host(self.world.group(g).cf))
    }
    fn member_user(&self, m: u32) -> UserId {
        self.world.member(MemberId(m)).user
    }
    fn member_group(&self, m: u32) -> GroupId {
        self.world.member(MemberId(m)).group
    }
    fn pf_of(&self, u: UserId) -> NodeId {
        self.world.user(u).pf
    }
    fn registrar_of(&self, u: UserId) -> NodeId {
        self.world.user(u).registrar
    }
    /// The URI of a PF acting for user `u` (its B2BUA side towards the focus).
    fn pf_for_user_uri(&self, u: UserId) -> String {
        format!("sip:+1555{:07}@{}", u.0, self.host(self.pf_of(u)))
    }
    fn ue_contact_uri(&self, u: UserId) -> String {
        format!("sip:+1555{:07}@{}:{SIP_PORT}", u.0, ip(Addr::User(u)))
    }
    fn ue_contact(&self, u: UserId, icsi: bool) -> String {
        let mut c = format!("<{}>", self.ue_contact_uri(u));
        if icsi {
            let _ = write!(c, ";{}", icsi_ref(ICSI_SESSION));
        }
        if self.world.class_of(u).sip_instance {
            let _ = write!(c, ";+sip.instance=\"{}\"", sip_instance(u));
        }
        c
    }
    fn focus_contact(&self, g: GroupId) -> String {
        format!("<{}>;isfocus;{}", self.focus_uri(g), icsi_ref(ICSI_SESSION))
    }
    fn via(&self, a: Addr, branch: &str) -> String {
        format!("SIP/2.0/UDP {}:{SIP_PORT};branch={branch}", ip(a))
    }
    fn scscf_route(&self, u: UserId) -> String {
        format!("<sip:{};lr>", self.host(self.registrar_of(u)))
    }

    /// The MSRP URI of `end` in `session` (RFC 4975 §6: the session id names the session at
    /// that end; `;tcp` the transport).
    pub fn msrp_uri(&self, session: Session, end: Addr, peer: Addr) -> String {
        let sid = match session {
            Session::Live(m) => format!("l{}", m.0),
            Session::Deferred(m, g) => format!("d{}g{}", m.0, g),
            Session::Leg(m) => format!("c{}", m.0),
        };
        let side = match end {
            Addr::User(_) => 'u',
            Addr::Node(n) => match self.world.node_kinds[n.0 as usize] {
                NodeKind::Participating => 'p',
                NodeKind::Controlling => 'f',
                _ => 'n',
            },
        };
        format!("msrp://{}:{}/{sid}{side};tcp", ip(end), msrp_port(self.world, end, peer))
    }

    // ----- dialogs -----

    /// The caller (index 0) and callee (1) of a dialog.
    fn parties(&self, k: DKey) -> [Party; 2] {
        match k {
            DKey::Reg(u) => {
                let u = UserId(u);
                let aor = user_uri(u);
                [
                    Party { addr: Addr::User(u), uri: aor.clone(), target: self.ue_contact_uri(u) },
                    Party { addr: Addr::Node(self.registrar_of(u)), uri: aor, target: format!("sip:{HOME_DOMAIN}") },
                ]
            }
            DKey::ThirdParty(u) => {
                let u = UserId(u);
                let (r, pf) = (self.registrar_of(u), self.pf_of(u));
                [
                    Party { addr: Addr::Node(r), uri: self.node_uri(r), target: self.node_uri(r) },
                    Party { addr: Addr::Node(pf), uri: user_uri(u), target: self.node_uri(pf) },
                ]
            }
            DKey::RegEvent(u) => {
                // The PF's subscription to the user's registration state (RFC 3680); the
                // S-CSCF notifies as the user's address of record.
                let u = UserId(u);
                let (r, pf) = (self.registrar_of(u), self.pf_of(u));
                [
                    Party { addr: Addr::Node(pf), uri: self.node_uri(pf), target: self.node_uri(pf) },
                    Party { addr: Addr::Node(r), uri: user_uri(u), target: self.node_uri(r) },
                ]
            }
            DKey::Deferred(m, _) => {
                let (u, g) = (self.member_user(m), self.member_group(m));
                [
                    Party { addr: Addr::Node(self.pf_of(u)), uri: self.focus_uri(g), target: self.focus_uri(g) },
                    Party { addr: Addr::User(u), uri: user_uri(u), target: self.ue_contact_uri(u) },
                ]
            }
            DKey::Join(m, _) => {
                let (u, g) = (self.member_user(m), self.member_group(m));
                [
                    Party {
                        addr: Addr::Node(self.world.group(g).cf),
                        uri: self.focus_uri(g),
                        target: self.focus_uri(g),
                    },
                    Party { addr: Addr::Node(self.pf_of(u)), uri: user_uri(u), target: self.pf_for_user_uri(u) },
                ]
            }
            DKey::Rejoin(m, _) | DKey::Conf(m, _) => {
                let (u, g) = (self.member_user(m), self.member_group(m));
                [
                    Party { addr: Addr::Node(self.pf_of(u)), uri: user_uri(u), target: self.pf_for_user_uri(u) },
                    Party {
                        addr: Addr::Node(self.world.group(g).cf),
                        uri: self.focus_uri(g),
                        target: self.focus_uri(g),
                    },
                ]
            }
        }
    }

    fn dialog(&mut self, k: DKey) -> &mut DialogState {
        if !self.dialogs.contains_key(&k) {
            let caller = self.parties(k)[0].addr;
            let host = match caller {
                Addr::Node(n) => self.host(n).to_string(),
                Addr::User(u) => ip(Addr::User(u)).to_string(),
            };
            let h = hash((k, "dialog"));
            let d = DialogState {
                call_id: format!("{}@{host}", hex16(h)),
                tags: [format!("{:08x}", hash((h, 0u8)) as u32), format!("{:08x}", hash((h, 1u8)) as u32)],
                cseq: [0, 0],
            };
            self.dialogs.insert(k, d);
        }
        self.dialogs.get_mut(&k).expect("inserted")
    }

    fn conf(&mut self, m: u32) -> &mut ConfState {
        self.confs.entry(m).or_default()
    }

    /// The dialog of a request; with `assign`, the request is being sent for the first time and
    /// may start a dialog.
    fn request_key(&mut self, sip: &Sip, src: Addr, assign: bool) -> DKey {
        let is_cf =
            |a: Addr, w: &World| matches!(a, Addr::Node(n) if w.node_kinds[n.0 as usize] == NodeKind::Controlling);
        match sip {
            Sip::Register { user, .. } => DKey::Reg(user.0),
            Sip::ThirdPartyRegister { user, .. } => DKey::ThirdParty(user.0),
            Sip::RegNotifyExpired { user, .. } => DKey::RegEvent(user.0),
            Sip::Invite { dialog, invite } => match invite {
                Invite::Deferred(_) => DKey::Deferred(dialog.id, dialog.generation),
                Invite::Join { member, .. } => {
                    let k = DKey::Join(member.0, dialog.generation);
                    if assign {
                        self.legs.insert(member.0, k);
                    }
                    k
                }
                Invite::Rejoin { member } => {
                    let k = DKey::Rejoin(member.0, dialog.generation);
                    if assign {
                        self.legs.insert(member.0, k);
                    }
                    k
                }
            },
            Sip::Ack { dialog } => match dialog.role {
                Role::Leg if is_cf(src, self.world) => DKey::Join(dialog.id, dialog.generation),
                Role::Leg => DKey::Rejoin(dialog.id, dialog.generation),
                _ => DKey::Deferred(dialog.id, dialog.generation),
            },
            Sip::Bye { dialog, .. } => self.in_dialog_key(*dialog),
            Sip::Subscribe { dialog, expires_s } => {
                let c = self.conf(dialog.id);
                if assign {
                    if *expires_s > 0 && c.terminated {
                        c.epoch += 1;
                        c.terminated = false;
                    }
                    c.unsubscribed = *expires_s == 0;
                }
                DKey::Conf(dialog.id, c.epoch)
            }
            Sip::ConfNotify { dialog, terminated, .. } => {
                let c = self.conf(dialog.id);
                let k = DKey::Conf(dialog.id, c.epoch);
                if assign && *terminated {
                    c.terminated = true;
                }
                k
            }
            Sip::Response { dialog, method, .. } => self.response_key(*dialog, *method, src),
        }
    }

    /// The dialog of a BYE or of a response to one.
    fn in_dialog_key(&mut self, d: Dialog) -> DKey {
        match d.role {
            Role::Leg => *self.legs.get(&d.id).unwrap_or(&DKey::Join(d.id, d.generation)),
            Role::Conference => DKey::Conf(d.id, self.conf(d.id).epoch),
            Role::Registration => DKey::Reg(d.id),
            Role::ThirdParty => DKey::ThirdParty(d.id),
            Role::Deferred => DKey::Deferred(d.id, d.generation),
        }
    }

    fn response_key(&mut self, d: Dialog, method: Method, responder: Addr) -> DKey {
        let pf =
            |a: Addr, w: &World| matches!(a, Addr::Node(n) if w.node_kinds[n.0 as usize] == NodeKind::Participating);
        match (d.role, method) {
            (Role::ThirdParty, Method::Notify) => DKey::RegEvent(d.id),
            // A join INVITE is answered by the PF; a re-join INVITE by the CF.
            (Role::Leg, Method::Invite) if pf(responder, self.world) => DKey::Join(d.id, d.generation),
            (Role::Leg, Method::Invite) => DKey::Rejoin(d.id, d.generation),
            _ => self.in_dialog_key(d),
        }
    }

    // ----- rendering -----

    /// Renders a message as `at` sends it (a `Sent` record): the sender's own transmission
    /// starts its transaction; the S-CSCF's forward repeats it with its own Via.
    pub fn sent(&mut self, time: Time, at: Addr, p: &Packet) -> Rendered {
        let hop = hop(self.world, at, p);
        self.render(time, hop, p, !hop.forward)
    }

    /// Renders a message seen elsewhere (received, lost, refused) as it was sent by its origin,
    /// without starting anything.
    pub fn observed(&mut self, time: Time, p: &Packet) -> Rendered {
        let hop = hop(self.world, p.src, p);
        self.render(time, hop, p, false)
    }

    fn render(&mut self, time: Time, hop: Hop, p: &Packet, assign: bool) -> Rendered {
        match &p.msg {
            Msg::Sip(Sip::Response { dialog, method, status, retry_after_s }) => {
                self.response(hop, p, *dialog, *method, *status, *retry_after_s)
            }
            Msg::Sip(sip) => self.request(hop, p, sip, assign),
            Msg::Msrp(m) => self.msrp(time, hop, p, m),
        }
    }

    fn request(&mut self, hop: Hop, p: &Packet, sip: &Sip, assign: bool) -> Rendered {
        let key = self.request_key(sip, p.src, assign);
        let parties = self.parties(key);
        let side: u8 = if p.src == parties[0].addr { 0 } else { 1 };
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
        let user = match (p.src, p.dst) {
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
        t.h("Via", self.via(p.src, &tx.branch));
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
                            p.src,
                            p.dst,
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
                        let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(*member), p.src, p.dst, "actpass");
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
                        let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(*member), p.src, p.dst, "actpass");
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

    fn response(
        &mut self,
        hop: Hop,
        p: &Packet,
        dialog: Dialog,
        method: Method,
        status: u16,
        retry_after_s: Option<u32>,
    ) -> Rendered {
        let key = self.response_key(dialog, method, p.src);
        let parties = self.parties(key);
        let r: usize = if p.dst == parties[0].addr { 0 } else { 1 };
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
        let by_end = p.src == responder.addr;
        let mut t = SipText::new(format!("SIP/2.0 {status} {}", reason_phrase(status)));
        // The S-CSCF proxied the request: its Via is on top until it forwards the response.
        if let Some(scscf) = self.world.proxy_of(p)
            && by_end
            && !hop.forward
        {
            t.h("Via", self.via(Addr::Node(scscf), &format!("z9hG4bK{}", hex16(hash((&tx.branch, "proxy"))))));
        }
        t.h("Via", self.via(p.dst, &tx.branch));
        t.h("From", format!("<{}>;tag={}", requester.uri, d.tags[r]));
        let to_tag = if by_end { d.tags[1 - r].clone() } else { format!("{:08x}", hash((&d.call_id, p.src)) as u32) };
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
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Deferred(MemberId(mm), g), p.src, p.dst, "active");
                    t.body = Some(("application/sdp".into(), sdp));
                }
                DKey::Join(mm, _) if method == Method::Invite => {
                    let u = self.member_user(mm);
                    t.h("Contact", format!("<{}>;{}", self.pf_for_user_uri(u), icsi_ref(ICSI_SESSION)));
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(MemberId(mm)), p.src, p.dst, "active");
                    t.body = Some(("application/sdp".into(), sdp));
                }
                DKey::Rejoin(mm, _) if method == Method::Invite => {
                    t.h("Contact", self.focus_contact(self.member_group(mm)));
                    let sdp = self.sdp(SdpOffer::GROUP, Session::Leg(MemberId(mm)), p.src, p.dst, "passive");
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

    // ----- MSRP -----

    fn tid(session: Session, item: &Item, chunk: u16, seq: u32, sender: Addr) -> String {
        // 16 lower-case hex digits: an `ident` of RFC 4975 §9.
        hex16(hash((session, item, chunk, seq, sender, "tid")))
    }

    fn message_id(session: Session, item: &Item, sender: Addr) -> String {
        hex16(hash((session, item, sender, "mid")))
    }

    /// The imdn.Message-ID of a chat message (RFC 5438 §6.3), also the `<message-id>` its
    /// notifications refer to.
    fn chat_id(msg: u32, sender: UserId) -> String {
        format!("m{msg:08x}{:06x}", sender.0)
    }

    /// The whole content of an item (message/cpim), at least `item.size` bytes.
    pub fn content(&mut self, time: Time, item: &Item) -> String {
        let key = (item.msg, item.from.0, item.group.0, item.payload as u8);
        let created = match item.payload {
            Payload::Chat | Payload::Delivered | Payload::Displayed => *self.first_seen.entry(key).or_insert(time),
            Payload::IsComposing | Payload::GroupState => time,
        };
        let focus = self.focus_uri(item.group);
        let mut env = String::with_capacity(256);
        let from = if item.payload == Payload::GroupState { focus.clone() } else { user_uri(item.from) };
        // A notification goes to the sender of the message it is about; the Group State Object
        // to the served user; messages and isComposing to the group.
        let to = match item.payload {
            Payload::Delivered | Payload::Displayed | Payload::GroupState => user_uri(item.origin),
            Payload::Chat | Payload::IsComposing => focus.clone(),
        };
        let _ = write!(env, "From: <{from}>{CRLF}To: <{to}>{CRLF}DateTime: {}{CRLF}", datetime(created));
        let (mime, body): (String, String) = match item.payload {
            Payload::Chat => {
                let _ = write!(
                    env,
                    "NS: imdn <urn:ietf:params:imdn>{CRLF}imdn.Message-ID: {}{CRLF}imdn.Disposition-Notification: positive-delivery, display{CRLF}",
                    Self::chat_id(item.msg, item.from)
                );
                ("Content-Type: text/plain;charset=UTF-8".into(), String::new())
            }
            Payload::Delivered | Payload::Displayed => {
                let (kind, status) = if item.payload == Payload::Delivered {
                    ("delivery", "delivered")
                } else {
                    ("display", "displayed")
                };
                let _ = write!(
                    env,
                    "NS: imdn <urn:ietf:params:imdn>{CRLF}imdn.Message-ID: n{:08x}{:06x}{}{CRLF}",
                    item.msg,
                    item.from.0,
                    &status[..2]
                );
                let original = self
                    .first_seen
                    .get(&(item.msg, item.origin.0, item.group.0, Payload::Chat as u8))
                    .copied()
                    .unwrap_or(created);
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">{CRLF}<message-id>{}</message-id>{CRLF}<datetime>{}</datetime>{CRLF}<{kind}-notification><status><{status}/></status></{kind}-notification>{CRLF}</imdn>{CRLF}",
                    Self::chat_id(item.msg, item.origin),
                    datetime(original)
                );
                ("Content-Type: message/imdn+xml\r\nContent-Disposition: notification".into(), xml)
            }
            Payload::IsComposing => (
                "Content-Type: application/im-iscomposing+xml".into(),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">{CRLF}<state>active</state>{CRLF}<contenttype>text/plain</contenttype>{CRLF}<refresh>60</refresh>{CRLF}</isComposing>{CRLF}"
                ),
            ),
            Payload::GroupState => {
                let mut xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{CRLF}<groupdata xmlns=\"urn:oma:xml:cpm:groupdata:1.0\">{CRLF}<group-state timestamp=\"{}\" lastfocussessionid=\"{focus}\" group-type=\"Closed\">{CRLF}",
                    datetime(created)
                );
                for m in self.world.group_members(item.group) {
                    let _ = write!(
                        xml,
                        "<participant name=\"\" comm-addr=\"{}\"/>{CRLF}",
                        user_uri(self.world.member(m).user)
                    );
                }
                xml.push_str("</group-state>");
                xml.push_str(CRLF);
                xml.push_str("</groupdata>");
                xml.push_str(CRLF);
                ("Content-Type: application/vnd.oma.cpm-groupdata+xml".into(), xml)
            }
        };
        let _ = write!(env, "{CRLF}{mime}{CRLF}{CRLF}");
        let mut content = env;
        let size = item.size as usize;
        if item.payload == Payload::Chat {
            // Text filling the message to its size (at least one character).
            let want = size.saturating_sub(content.len()).max(1);
            let mut text = format!("Message {} of group {} from {}. ", item.msg, item.group.0, user_uri(item.from));
            while text.len() < want {
                text.push_str("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ");
            }
            text.truncate(want);
            content.push_str(&text);
        } else {
            content.push_str(&body);
            // XML allows white space after the root element.
            while content.len() < size {
                content.push(' ');
            }
        }
        content
    }

    fn msrp(&mut self, time: Time, hop: Hop, p: &Packet, m: &Msrp) -> Rendered {
        match *m {
            Msrp::Send { session, item, chunk, chunks, seq } => {
                let tid = Self::tid(session, &item, chunk, seq, p.src);
                let mid = Self::message_id(session, &item, p.src);
                let content = self.content(time, &item);
                let cs = self.world.cfg.chunk_size.max(1) as usize;
                let start = (chunk as usize - 1) * cs;
                let end = if chunk >= chunks { content.len() } else { (chunk as usize * cs).min(content.len()) };
                let start = start.min(end);
                let range = format!("{}-{}/{}", start + 1, end, content.len());
                let mut s = String::with_capacity(end - start + 400);
                let _ = write!(
                    s,
                    "MSRP {tid} SEND{CRLF}To-Path: {}{CRLF}From-Path: {}{CRLF}Message-ID: {mid}{CRLF}Byte-Range: {range}{CRLF}Failure-Report: {}{CRLF}Content-Type: message/cpim{CRLF}{CRLF}",
                    self.msrp_uri(session, p.dst, p.src),
                    self.msrp_uri(session, p.src, p.dst),
                    Msrp::failure_report(p.src, p.dst)
                );
                s.push_str(&content[start..end]);
                let _ = write!(s, "{CRLF}-------{tid}{}{CRLF}", if chunk >= chunks { '$' } else { '+' });
                let what = payload_name(item.payload);
                let part = if chunks > 1 { format!(" [{chunk}/{chunks}]") } else { String::new() };
                Rendered {
                    hop,
                    transport: Transport::Tcp,
                    text: s,
                    label: format!("SEND {what} #{}{part}", item.msg),
                    summary: format!(
                        "MSRP SEND {what} #{} of group {}{part}, {} bytes",
                        item.msg, item.group.0, item.size
                    ),
                    ids: Ids { tid: Some(tid), message_id: Some(mid), byte_range: Some(range), ..Ids::default() },
                }
            }
            Msrp::Ok { session, item, chunk, chunks, seq, .. } => {
                // The response to a SEND from p.dst: same transaction id, paths swapped.
                let tid = Self::tid(session, &item, chunk, seq, p.dst);
                let text = format!(
                    "MSRP {tid} 200 OK{CRLF}To-Path: {}{CRLF}From-Path: {}{CRLF}-------{tid}${CRLF}",
                    self.msrp_uri(session, p.dst, p.src),
                    self.msrp_uri(session, p.src, p.dst)
                );
                let what = payload_name(item.payload);
                let part = if chunks > 1 { format!(" [{chunk}/{chunks}]") } else { String::new() };
                Rendered {
                    hop,
                    transport: Transport::Tcp,
                    text,
                    label: format!("200 SEND {what} #{}{part}", item.msg),
                    summary: format!("MSRP 200 OK to SEND {what} #{}{part}", item.msg),
                    ids: Ids {
                        tid: Some(tid),
                        message_id: Some(Self::message_id(session, &item, p.dst)),
                        ..Ids::default()
                    },
                }
            }
        }
    }

    /// The success REPORT (RFC 4975 §7.1.2) the receiver of a whole message would send to the
    /// sender of `send` had it asked with `Success-Report: yes`. ddsim's senders never ask (they
    /// send `Success-Report` absent, i.e. `no`), so no REPORT is ever on the wire of a run;
    /// this renders one for completeness of the MSRP text. None for anything but a SEND.
    pub fn report(&mut self, time: Time, send: &Packet) -> Option<String> {
        let Msg::Msrp(Msrp::Send { session, item, chunk, seq, .. }) = send.msg else {
            return None;
        };
        let len = self.content(time, &item).len();
        let tid = hex16(hash((session, &item, chunk, seq, send.dst, "report")));
        Some(format!(
            "MSRP {tid} REPORT{CRLF}To-Path: {}{CRLF}From-Path: {}{CRLF}Message-ID: {}{CRLF}Byte-Range: 1-{len}/{len}{CRLF}Status: 000 200 OK{CRLF}-------{tid}${CRLF}",
            self.msrp_uri(session, send.src, send.dst),
            self.msrp_uri(session, send.dst, send.src),
            Self::message_id(session, &item, send.src)
        ))
    }
}

fn payload_name(p: Payload) -> &'static str {
    match p {
        Payload::Chat => "chat",
        Payload::Delivered => "IMDN delivered",
        Payload::Displayed => "IMDN displayed",
        Payload::IsComposing => "isComposing",
        Payload::GroupState => "group state",
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
