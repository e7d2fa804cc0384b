//! Modelled messages: SIP requests and responses (RFC 3261) with the headers the seed requires
//! carried as typed data, MSRP SEND and its transaction responses (RFC 4975), and the CPIM
//! payloads they carry (chat messages, IMDN disposition notifications, isComposing, the Group
//! State Object). Messages are small enums on the hot path, cheap to clone: the rare deferred
//! delivery INVITE carries its headers behind a `Box`, participant lists are shared behind an
//! `Rc` (of a `Vec`, a thin pointer where an `Rc` slice would take two words). A packet fits
//! in 56 bytes, so that an event carrying one fills one cache line (`sim::Event`); the hot
//! types' sizes are pinned by a test there. Rendering as wire text is for traces only and
//! lives in `trace::wire`.

use std::rc::Rc;

/// A user (one CPM client on one device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u32);
/// A group (one CPM Group Session identity, hosted by a Controlling Function).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);
/// A network node of the topology (access, registrar, PF, CF), by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u16);
/// A membership: one user in one group. The PF keeps a deferred store per membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u32);

/// Where a message is going or coming from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    Node(NodeId),
    User(UserId),
}

/// The CPM feature tag (ICSI) of a CPM session (OMA CPM Conv. Functions; 3GPP TS 24.229 §7.2A.8).
pub const ICSI_SESSION: &str = "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session";
/// The P-Asserted-Service of a CPM group session (seed 8.3.2.9.1.2 a) v.).
pub const ICSI_SESSION_GROUP: &str = "urn:urn-7:3gpp-service.ims.icsi.oma.cpm.session.group";

/// SIP methods and MSRP methods, for counters and per-kind service times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MsgKind {
    Register = 0,
    Invite,
    Ack,
    Bye,
    Subscribe,
    Notify,
    SipResponse,
    Send,
    MsrpResponse,
    Report,
}

impl MsgKind {
    pub const COUNT: usize = 10;
    pub const ALL: [MsgKind; 10] = [
        MsgKind::Register,
        MsgKind::Invite,
        MsgKind::Ack,
        MsgKind::Bye,
        MsgKind::Subscribe,
        MsgKind::Notify,
        MsgKind::SipResponse,
        MsgKind::Send,
        MsgKind::MsrpResponse,
        MsgKind::Report,
    ];
    /// Names accepted in `service_time_by_kind`.
    pub const NAMES: [&'static str; 10] =
        ["REGISTER", "INVITE", "ACK", "BYE", "SUBSCRIBE", "NOTIFY", "response", "SEND", "msrp_response", "REPORT"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
    pub fn from_name(s: &str) -> Option<MsgKind> {
        Self::NAMES.iter().position(|n| *n == s).map(|i| Self::ALL[i])
    }
}

/// SIP request methods (what a response answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Register,
    Invite,
    Bye,
    Subscribe,
    Notify,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Register => "REGISTER",
            Method::Invite => "INVITE",
            Method::Bye => "BYE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
        }
    }
}

/// Which dialog or transaction a SIP message belongs to. `id` is a user or a membership
/// depending on `role`; `generation` tells a stale answer from the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dialog {
    pub role: Role,
    pub id: u32,
    pub generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// UE ↔ registrar registration (id = user).
    Registration,
    /// Registrar → PF 3rd-party REGISTER and reg-event NOTIFY (id = user).
    ThirdParty,
    /// PF ↔ UE deferred-delivery session (id = membership).
    Deferred,
    /// PF ↔ CF leg of a live group session (id = membership).
    Leg,
    /// PF ↔ CF conference-event subscription (id = membership).
    Conference,
}

/// The Reason header of a BYE (RFC 3326).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No Reason header.
    None,
    /// `Reason: SIP;cause=200;text="Call completed"`: the participant leaves (seed c) 1) ii. a), d) v.).
    CallCompleted,
}

impl Reason {
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Reason::None => None,
            Reason::CallCompleted => Some("SIP;cause=200;text=\"Call completed\""),
        }
    }
}

/// SDP media direction (RFC 4566 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
}

impl Direction {
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "a=sendrecv",
            Direction::SendOnly => "a=sendonly",
            Direction::RecvOnly => "a=recvonly",
        }
    }
}

/// The SDP offer of a CPM group session (an MSRP `m=message` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SdpOffer {
    pub accept_types: &'static str,
    pub accept_wrapped_types: &'static str,
    pub direction: Direction,
}

impl SdpOffer {
    /// The offer a CF makes when it invites participants into a group session.
    pub const GROUP: SdpOffer = SdpOffer {
        accept_types: "message/cpim application/im-iscomposing+xml",
        accept_wrapped_types: "*",
        direction: Direction::SendRecv,
    };
}

/// The deferred-delivery INVITE of seed 8.3.2.9.1.2, its headers as typed data.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct DeferredInvite {
    /// DD-2: Request-URI is the address of the served user.
    pub request_uri: UserId,
    /// DD-3: the original session's Conversation-ID and Contribution-ID.
    pub conversation_id: GroupId,
    pub contribution_id: u32,
    /// DD-3: the latest participant list known to the PF, sent as a resource-list body.
    pub participants: Rc<Vec<UserId>>,
    /// DD-4: the CPM feature tag, percent-encoded in `+g.3gpp.icsi-ref`, in Accept-Contact and Contact.
    pub accept_contact_icsi: &'static str,
    pub contact_icsi: &'static str,
    /// DD-5: Contact is the group session identity (focus URI) with `isfocus`...
    pub contact_focus: GroupId,
    pub contact_isfocus: bool,
    /// ...plus the client's `+sip.instance` when the PF knows it.
    pub contact_sip_instance: Option<UserId>,
    /// DD-6: P-Asserted-Identity is the focus URI; P-Asserted-Service the group ICSI.
    pub p_asserted_identity: GroupId,
    pub p_asserted_service: &'static str,
    /// DD-7: Referred-By copied from the REFER behind the original INVITE.
    pub referred_by: Option<UserId>,
    /// DD-8: SDP as the original offer, with a=sendrecv.
    pub sdp: SdpOffer,
}

/// What an INVITE is for.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Invite {
    /// PF → UE: deferred delivery (seed 8.3.2.9.1.2).
    Deferred(Box<DeferredInvite>),
    /// CF → PF: the focus invites a participant into an (re)started session. Carries the
    /// session's Contribution-ID and the participant list (resource-list body).
    Join { member: MemberId, contribution_id: u32, participants: Rc<Vec<UserId>> },
    /// PF → CF: re-join or restart the group session (8.2.2.7 "CPM Group Re-join Requests").
    Rejoin { member: MemberId },
}

/// A SIP message.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Sip {
    /// UE → registrar (expires 0 = de-REGISTER).
    Register {
        user: UserId,
        expires_s: u32,
        sip_instance: bool,
        generation: u32,
    },
    /// Registrar → PF: 3rd-party REGISTER (TS 24.229 §5.4.1.7).
    ThirdPartyRegister {
        user: UserId,
        expires_s: u32,
        sip_instance: bool,
        generation: u32,
    },
    /// Registrar → PF: reg-event NOTIFY (RFC 3680) saying a binding expired.
    RegNotifyExpired {
        user: UserId,
        generation: u32,
    },
    Invite {
        dialog: Dialog,
        invite: Invite,
    },
    Ack {
        dialog: Dialog,
    },
    Bye {
        dialog: Dialog,
        reason: Reason,
    },
    /// Conference event package (RFC 4575) subscription; expires 0 = unsubscribe.
    Subscribe {
        dialog: Dialog,
        expires_s: u32,
    },
    /// Conference event NOTIFY with the participant list; `terminated` ends the subscription.
    ConfNotify {
        dialog: Dialog,
        participants: Rc<Vec<UserId>>,
        terminated: bool,
    },
    Response {
        dialog: Dialog,
        method: Method,
        status: u16,
        retry_after_s: Option<u32>,
    },
}

impl Sip {
    pub fn kind(&self) -> MsgKind {
        match self {
            Sip::Register { .. } | Sip::ThirdPartyRegister { .. } => MsgKind::Register,
            Sip::RegNotifyExpired { .. } | Sip::ConfNotify { .. } => MsgKind::Notify,
            Sip::Invite { .. } => MsgKind::Invite,
            Sip::Ack { .. } => MsgKind::Ack,
            Sip::Bye { .. } => MsgKind::Bye,
            Sip::Subscribe { .. } => MsgKind::Subscribe,
            Sip::Response { .. } => MsgKind::SipResponse,
        }
    }
    pub fn is_request(&self) -> bool {
        !matches!(self, Sip::Response { .. } | Sip::Ack { .. })
    }

    /// The dialog and method a response to this request carries (None for ACK and responses).
    pub fn transaction(&self) -> Option<(Dialog, Method)> {
        let reg = |role, user: &UserId, generation: &u32| Dialog { role, id: user.0, generation: *generation };
        Some(match self {
            Sip::Register { user, generation, .. } => (reg(Role::Registration, user, generation), Method::Register),
            Sip::ThirdPartyRegister { user, generation, .. } => {
                (reg(Role::ThirdParty, user, generation), Method::Register)
            }
            Sip::RegNotifyExpired { user, generation } => (reg(Role::ThirdParty, user, generation), Method::Notify),
            Sip::Invite { dialog, .. } => (*dialog, Method::Invite),
            Sip::Bye { dialog, .. } => (*dialog, Method::Bye),
            Sip::Subscribe { dialog, .. } => (*dialog, Method::Subscribe),
            Sip::ConfNotify { dialog, .. } => (*dialog, Method::Notify),
            Sip::Ack { .. } | Sip::Response { .. } => return None,
        })
    }

    /// A response with `status` to this request (None for ACK and responses).
    pub fn response(&self, status: u16, retry_after_s: Option<u32>) -> Option<Sip> {
        self.transaction().map(|(dialog, method)| Sip::Response { dialog, method, status, retry_after_s })
    }
}

/// What an MSRP SEND carries.
// No `repr`: the derived `Hash` writes the discriminant at its default width, which event
// fingerprints and trace identifiers depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    /// A CPM chat message (message/cpim) from `sender`, requesting IMDN.
    Chat,
    /// IMDN "delivered" for message `msg` originally sent by `origin`.
    Delivered,
    /// IMDN "displayed".
    Displayed,
    /// isComposing (RFC 3994); never stored for offline users.
    IsComposing,
    /// DD-13: interim participant information (Group State Object).
    GroupState,
}

impl Payload {
    const ALL: [Payload; 5] =
        [Payload::Chat, Payload::Delivered, Payload::Displayed, Payload::IsComposing, Payload::GroupState];
}

/// One item of group traffic: a chat message or a notification about one.
///
/// Twenty bytes: the payload kind shares a word with the size, which is at most
/// [`Item::MAX_SIZE`], so that an MSRP SEND or its 200 with the item fits an event of one
/// cache line (`sim::Event`, 64 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub group: GroupId,
    /// For a chat message its sender; for an IMDN the sender of the message it is about
    /// (the notification's destination).
    pub origin: UserId,
    /// For an IMDN, who sends the notification; for a chat message, its sender too.
    pub from: UserId,
    /// Run-unique message number (Message-ID / imdn.Message-ID).
    pub msg: u32,
    /// `size << PAYLOAD_BITS | payload`.
    size_payload: u32,
}

const PAYLOAD_BITS: u32 = 3;

impl Item {
    /// The largest item, in bytes (512 MiB less one); larger sizes drawn from a model's
    /// distributions are taken as this.
    pub const MAX_SIZE: u32 = u32::MAX >> PAYLOAD_BITS;

    /// An item of `size` bytes (at most [`Item::MAX_SIZE`]).
    #[inline]
    pub fn new(payload: Payload, group: GroupId, origin: UserId, from: UserId, msg: u32, size: u32) -> Item {
        debug_assert!(size <= Self::MAX_SIZE, "an item of {size} bytes");
        Item { group, origin, from, msg, size_payload: size << PAYLOAD_BITS | payload as u32 }
    }
    #[inline]
    pub fn payload(&self) -> Payload {
        Payload::ALL[(self.size_payload & ((1 << PAYLOAD_BITS) - 1)) as usize]
    }
    /// Size in bytes.
    #[inline]
    pub fn size(&self) -> u32 {
        self.size_payload >> PAYLOAD_BITS
    }
    /// The same message as another kind of item of another size (an isComposing about it).
    pub fn as_kind(self, payload: Payload, size: u32) -> Item {
        Item::new(payload, self.group, self.origin, self.from, self.msg, size)
    }
    pub fn is_stored_kind(&self) -> bool {
        matches!(self.payload(), Payload::Chat | Payload::Delivered | Payload::Displayed)
    }
    pub fn is_notification(&self) -> bool {
        matches!(self.payload(), Payload::Delivered | Payload::Displayed)
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("payload", &self.payload())
            .field("group", &self.group)
            .field("origin", &self.origin)
            .field("from", &self.from)
            .field("msg", &self.msg)
            .field("size", &self.size())
            .finish()
    }
}

/// Hashes the fields in the order and form of the plain struct the item was (payload first),
/// so that fingerprints and trace identifiers do not depend on how the item is packed.
impl std::hash::Hash for Item {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.payload().hash(h);
        self.group.hash(h);
        self.origin.hash(h);
        self.from.hash(h);
        self.msg.hash(h);
        self.size().hash(h);
    }
}

/// Which MSRP session a SEND travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Session {
    /// UE ↔ PF session of a live group session (membership).
    Live(MemberId),
    /// UE ↔ PF deferred-delivery session (membership, generation).
    Deferred(MemberId, u32),
    /// PF ↔ CF leg (membership).
    Leg(MemberId),
}

/// An MSRP message.
///
/// Transaction responses follow the `Failure-Report` header of each SEND (RFC 4975 §7.1.2).
/// A PF sends towards a UE with `Failure-Report: yes`, because a missing 200 is how it learns
/// that a device has vanished; UEs and servers among themselves send with
/// `Failure-Report: partial`, so only failures would be answered — and none are modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msrp {
    /// One chunk (`chunk` of `chunks`, 1-based) of an item. Byte-Range follows from the
    /// chunk size; the last chunk ends with `$`, the others with `+`.
    Send { session: Session, item: Item, chunk: u16, chunks: u16, seq: u32 },
    /// The transaction response to a SEND. `received` is when the receiver got the chunk, in
    /// its low 32 bits (a measurement carried back, not a header): the PF, whose SEND it
    /// answers, knows the time to within the MSRP timeout, which model validation keeps
    /// under 2^32 ticks (see [`Msrp::received_at`]).
    Ok { session: Session, item: Item, chunk: u16, chunks: u16, seq: u32, received: u32 },
}

impl Msrp {
    /// The Failure-Report value of a SEND, by direction (see the type's documentation).
    pub fn failure_report(src: Addr, dst: Addr) -> &'static str {
        match (src, dst) {
            (Addr::Node(_), Addr::User(_)) => "yes",
            _ => "partial",
        }
    }

    #[inline]
    pub fn session(&self) -> Session {
        match *self {
            Msrp::Send { session, .. } | Msrp::Ok { session, .. } => session,
        }
    }

    /// The low 32 bits of a receive time, as a 200 carries it.
    #[inline]
    pub fn received_bits(at: u64) -> u32 {
        at as u32
    }

    /// The receive time a 200 carries (`received`), told by its sender from the time `sent` at
    /// which the answered SEND went out: exact while it came less than 2^32 ticks (71
    /// minutes) later.
    #[inline]
    pub fn received_at(received: u32, sent: u64) -> u64 {
        sent + received.wrapping_sub(sent as u32) as u64
    }

    pub fn kind(&self) -> MsgKind {
        match self {
            Msrp::Send { .. } => MsgKind::Send,
            Msrp::Ok { .. } => MsgKind::MsrpResponse,
        }
    }
}

/// Any modelled message.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Msg {
    Sip(Sip),
    Msrp(Msrp),
}

impl Msg {
    #[inline]
    pub fn kind(&self) -> MsgKind {
        match self {
            Msg::Sip(s) => s.kind(),
            Msg::Msrp(m) => m.kind(),
        }
    }
    /// A new request, as opposed to a response or ACK: what a full server queue may refuse.
    pub fn is_sip_request(&self) -> bool {
        matches!(self, Msg::Sip(s) if s.is_request())
    }
}

/// A message on its way from `src` to `dst`.
/// Whom a message is about: the user or the membership whose state handling it reads first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    User(UserId),
    Member(MemberId),
}

impl Dialog {
    /// A registration's dialog is a user's; every other is a membership's.
    #[inline]
    pub fn subject(&self) -> Subject {
        match self.role {
            Role::Registration | Role::ThirdParty => Subject::User(UserId(self.id)),
            Role::Deferred | Role::Leg | Role::Conference => Subject::Member(MemberId(self.id)),
        }
    }
}

impl Session {
    #[inline]
    pub fn member(&self) -> MemberId {
        match *self {
            Session::Live(m) | Session::Deferred(m, _) | Session::Leg(m) => m,
        }
    }
}

impl Msg {
    /// Whom the message is about (see [`Subject`]).
    #[inline]
    pub fn subject(&self) -> Subject {
        match self {
            Msg::Sip(
                Sip::Register { user, .. } | Sip::ThirdPartyRegister { user, .. } | Sip::RegNotifyExpired { user, .. },
            ) => Subject::User(*user),
            Msg::Sip(Sip::Invite { invite: Invite::Join { member, .. } | Invite::Rejoin { member }, .. }) => {
                Subject::Member(*member)
            }
            Msg::Sip(
                Sip::Invite { dialog, .. }
                | Sip::Ack { dialog }
                | Sip::Bye { dialog, .. }
                | Sip::Subscribe { dialog, .. }
                | Sip::ConfNotify { dialog, .. }
                | Sip::Response { dialog, .. },
            ) => dialog.subject(),
            Msg::Msrp(Msrp::Send { session, .. } | Msrp::Ok { session, .. }) => Subject::Member(session.member()),
        }
    }
}

/// A message on its way from `src` to `dst`.
///
/// Each end is packed into a word (a user's id, or a node's with the top bit set), and the
/// proxied flag into the destination's, so that a packet takes 56 bytes: read them with
/// [`Packet::src`], [`Packet::dst`] and [`Packet::proxied`]. User ids are under 2^30 (model
/// validation bounds the population).
#[derive(Clone, PartialEq)]
pub struct Packet {
    src: u32,
    dst: u32,
    pub msg: Msg,
}

const NODE_BIT: u32 = 1 << 31;
const PROXIED_BIT: u32 = 1 << 30;
const ID_BITS: u32 = PROXIED_BIT - 1;

impl Packet {
    /// The most users a run can have: user ids must leave the packing's two flag bits free.
    pub const MAX_USERS: u64 = PROXIED_BIT as u64;

    /// A message from `src` to `dst`, not proxied yet.
    #[inline]
    pub fn new(src: Addr, dst: Addr, msg: Msg) -> Packet {
        Packet { src: Self::pack(src), dst: Self::pack(dst), msg }
    }
    /// The same packet, with the proxied flag set as given.
    #[inline]
    pub fn with_proxied(mut self, proxied: bool) -> Packet {
        self.set_proxied(proxied);
        self
    }
    #[inline]
    fn pack(a: Addr) -> u32 {
        match a {
            Addr::Node(n) => NODE_BIT | n.0 as u32,
            Addr::User(u) => {
                debug_assert!(u.0 <= ID_BITS, "user id {} out of range", u.0);
                u.0
            }
        }
    }
    #[inline]
    fn unpack(w: u32) -> Addr {
        if w & NODE_BIT != 0 { Addr::Node(NodeId(w as u16)) } else { Addr::User(UserId(w & ID_BITS)) }
    }
    #[inline]
    pub fn src(&self) -> Addr {
        Self::unpack(self.src)
    }
    #[inline]
    pub fn dst(&self) -> Addr {
        Self::unpack(self.dst)
    }
    /// A SIP message between a UE and a PF is proxied by the UE's S-CSCF; this says whether
    /// that hop has been taken already.
    #[inline]
    pub fn proxied(&self) -> bool {
        self.dst & PROXIED_BIT != 0
    }
    #[inline]
    pub fn set_proxied(&mut self, proxied: bool) {
        self.dst = if proxied { self.dst | PROXIED_BIT } else { self.dst & !PROXIED_BIT };
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("src", &self.src())
            .field("dst", &self.dst())
            .field("msg", &self.msg)
            .field("proxied", &self.proxied())
            .finish()
    }
}

/// Hashes the ends as addresses (as the plain struct did), not as packed words.
impl std::hash::Hash for Packet {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.src().hash(h);
        self.dst().hash(h);
        self.msg.hash(h);
        self.proxied().hash(h);
    }
}

/// Counters index for SIP response codes (`sip.responses.<code>`).
pub const STATUS_CODES: [u16; 9] = [200, 202, 408, 480, 481, 486, 500, 503, 603];

/// Index into a counter array of `STATUS_CODES.len() + 1` entries; the last counts any other code.
pub fn status_index(code: u16) -> usize {
    STATUS_CODES.iter().position(|c| *c == code).unwrap_or(STATUS_CODES.len())
}
