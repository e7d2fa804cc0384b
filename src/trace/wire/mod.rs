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

mod msrp;
mod sip;

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
        Some(scscf) if !p.proxied() => Addr::Node(scscf),
        _ => p.dst(),
    };
    Hop { from: at, to, forward: p.proxied() && at != p.src() }
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
        let hop = hop(self.world, p.src(), p);
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
}
