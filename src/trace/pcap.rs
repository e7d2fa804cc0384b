//! A trace as a capture file (libpcap format, link type RAW: each packet starts with its IPv4
//! header), for Wireshark and tshark.
//!
//! What a packet is: each `Sent` record is one transmission, captured as the sender puts it on
//! the wire, at the virtual time it was sent (the run starts at the Unix epoch). SIP between a
//! UE and its PF therefore appears twice, UE → S-CSCF and S-CSCF → PF (or the other way): the
//! sender's transmission, which the run's counters count, and the S-CSCF's forward, which they
//! do not. Transmissions that the network then loses are captured all the same (the sender
//! did send them). Addresses and ports are those of `protocol::wire`.
//!
//! - SIP is one UDP datagram per message (port 5060). A message too large for one datagram
//!   (over 65,507 bytes) goes over TCP to port 5060 instead (RFC 3261 §18.1.1).
//! - MSRP runs over one TCP connection per pair of ends. A connection is opened with a
//!   three-way handshake just before its first message; sequence numbers count the bytes each
//!   side has sent; a segment acknowledges what its sender has received so far, and the
//!   receiver of a message acknowledges it with a pure ACK when the trace says it was received.
//! - Each message is one TCP segment, however large (up to 64,000 bytes per segment), as on a
//!   host with segmentation offload, where captures show segments larger than the MTU. This
//!   keeps one MSRP message per frame, which Wireshark's MSRP dissector needs (it does not
//!   reassemble TCP streams).
//! - IPv4, UDP and TCP checksums are computed (RFC 791, RFC 768, RFC 9293 §3.1).

use super::{Trace, TraceKind};
use crate::network::Transport;
use crate::protocol::{Msg, Packet};
use crate::trace::wire::{self, Wire};
use crate::workload::World;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

/// What a capture holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcapSummary {
    /// Every frame written.
    pub frames: u64,
    /// Frames carrying a SIP message (UDP, or TCP for the largest).
    pub sip: u64,
    /// Frames carrying an MSRP message.
    pub msrp: u64,
    /// TCP handshakes (3 frames each) and pure ACKs.
    pub tcp_handshakes: u64,
    pub tcp_acks: u64,
}

const MAX_UDP_PAYLOAD: usize = 65_507;
const MAX_SEGMENT: usize = 64_000;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// A TCP connection: `[client, server]` ends and what each side has sent and received.
struct Conn {
    ends: [(Ipv4Addr, u16); 2],
    next_seq: [u32; 2],
    /// The highest sequence number of the other side each side has received (its ACK).
    rcv: [u32; 2],
    /// The ACK each side last sent.
    acked: [u32; 2],
}

type ConnKey = (Ipv4Addr, u16, Ipv4Addr, u16);

/// Writes the capture of a trace. Records are taken in trace order.
pub fn write_pcap<W: Write>(trace: &Trace, world: &World, out: W) -> Result<PcapSummary, String> {
    let header = PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: 65_535,
        datalink: DataLink::RAW,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::native(),
    };
    let mut w = PcapWriter::with_header(out, header).map_err(|e| e.to_string())?;
    let mut st =
        State { wire: Wire::new(world), conns: HashMap::new(), ip_id: HashMap::new(), unacked: HashMap::new() };
    let mut sum = PcapSummary::default();
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(8);
    for r in &trace.records {
        frames.clear();
        match r.kind {
            TraceKind::Sent => {
                let m = st.wire.sent(r.time, r.at, &r.packet);
                let (src, dst) = (wire::ip(m.hop.from), wire::ip(m.hop.to));
                let bytes = m.text.as_bytes();
                let is_sip = matches!(r.packet.msg, Msg::Sip(_));
                if m.transport == Transport::Udp && bytes.len() <= MAX_UDP_PAYLOAD {
                    let id = st.next_id(src);
                    frames.push(ipv4(src, dst, 17, id, false, &udp(src, dst, wire::SIP_PORT, wire::SIP_PORT, bytes)));
                    sum.sip += 1;
                } else {
                    let (client, server) = if is_sip {
                        // A SIP client's connection to the next hop's port 5060.
                        ((src, wire::EPHEMERAL_PORT), (dst, wire::SIP_PORT))
                    } else {
                        let c = wire::msrp_client(world, m.hop.from, m.hop.to);
                        let (ca, sa) = if c == m.hop.from { (m.hop.from, m.hop.to) } else { (m.hop.to, m.hop.from) };
                        ((wire::ip(ca), wire::msrp_port(world, ca, sa)), (wire::ip(sa), wire::msrp_port(world, sa, ca)))
                    };
                    let key = (client.0, client.1, server.0, server.1);
                    if !st.conns.contains_key(&key) {
                        st.open(key, &mut frames);
                        sum.tcp_handshakes += 1;
                    }
                    // The SIP sender opened its own connection; an MSRP sender is either end.
                    let side = usize::from(!is_sip && wire::msrp_client(world, m.hop.from, m.hop.to) != m.hop.from);
                    let mut end = 0;
                    for seg in bytes.chunks(MAX_SEGMENT) {
                        end = st.segment(key, side, TCP_PSH | TCP_ACK, seg, &mut frames);
                    }
                    st.unacked.entry(packet_key(&r.packet)).or_default().push_back((key, 1 - side, end));
                    if is_sip {
                        sum.sip += 1;
                    } else {
                        sum.msrp += 1;
                    }
                }
            }
            TraceKind::Received => {
                // The receiver's TCP acknowledges what arrived.
                let Some(q) = st.unacked.get_mut(&packet_key(&r.packet)) else { continue };
                let Some((key, side, end)) = q.pop_front() else { continue };
                let c = st.conns.get_mut(&key).expect("opened before use");
                if seq_after(end, c.rcv[side]) {
                    c.rcv[side] = end;
                }
                if seq_after(c.rcv[side], c.acked[side]) {
                    st.segment(key, side, TCP_ACK, &[], &mut frames);
                    sum.tcp_acks += 1;
                }
            }
            TraceKind::Lost | TraceKind::Rejected => {
                if let Some(q) = st.unacked.get_mut(&packet_key(&r.packet)) {
                    q.pop_front();
                }
            }
        }
        let ts = Duration::from_micros(r.time);
        for f in &frames {
            w.write_packet(&PcapPacket::new(ts, f.len() as u32, f)).map_err(|e| e.to_string())?;
            sum.frames += 1;
        }
    }
    w.into_writer().flush().map_err(|e| e.to_string())?;
    Ok(sum)
}

struct State<'w> {
    wire: Wire<'w>,
    conns: HashMap<ConnKey, Conn>,
    ip_id: HashMap<Ipv4Addr, u16>,
    /// Transmissions over TCP not yet received: (connection, receiving side, end sequence).
    unacked: HashMap<u64, VecDeque<(ConnKey, usize, u32)>>,
}

/// `a` is after `b` in sequence space (RFC 9293 §3.4).
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Identifies a transmission between its `Sent` and its `Received` records (the S-CSCF's
/// forward differs from the original by `proxied`).
fn packet_key(p: &Packet) -> u64 {
    let mut h = fnv::FnvHasher::default();
    p.hash(&mut h);
    h.finish()
}

impl State<'_> {
    fn next_id(&mut self, src: Ipv4Addr) -> u16 {
        let id = self.ip_id.entry(src).or_insert(0);
        *id = id.wrapping_add(1);
        *id
    }

    /// The three-way handshake of a new connection (RFC 9293 §3.5).
    fn open(&mut self, key: ConnKey, frames: &mut Vec<Vec<u8>>) {
        let mut h = fnv::FnvHasher::default();
        key.hash(&mut h);
        let isn = h.finish();
        let (ic, is) = (isn as u32, (isn >> 32) as u32);
        let ends = [(key.0, key.1), (key.2, key.3)];
        for (from, seq, ack, flags) in [
            (0, ic, 0, TCP_SYN),
            (1, is, ic.wrapping_add(1), TCP_SYN | TCP_ACK),
            (0, ic.wrapping_add(1), is.wrapping_add(1), TCP_ACK),
        ] {
            let (s, d) = (ends[from], ends[1 - from]);
            let id = self.next_id(s.0);
            frames.push(ipv4(s.0, d.0, 6, id, true, &tcp(s.0, d.0, s.1, d.1, seq, ack, flags, &[])));
        }
        let (c1, s1) = (ic.wrapping_add(1), is.wrapping_add(1));
        self.conns.insert(key, Conn { ends, next_seq: [c1, s1], rcv: [s1, c1], acked: [s1, c1] });
    }

    /// A segment from `side` (0: client, 1: server); returns the sequence number after it.
    fn segment(&mut self, key: ConnKey, side: usize, flags: u8, data: &[u8], frames: &mut Vec<Vec<u8>>) -> u32 {
        let c = self.conns.get_mut(&key).expect("opened before use");
        let (s, d) = (c.ends[side], c.ends[1 - side]);
        let seq = c.next_seq[side];
        let ack = c.rcv[side];
        c.next_seq[side] = seq.wrapping_add(data.len() as u32);
        c.acked[side] = ack;
        let end = c.next_seq[side];
        let id = self.next_id(s.0);
        frames.push(ipv4(s.0, d.0, 6, id, true, &tcp(s.0, d.0, s.1, d.1, seq, ack, flags, data)));
        end
    }
}

/// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
fn checksum(data: &[u8], mut sum: u32) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768).
fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let (s, d) = (src.octets(), dst.octets());
    [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
    ]
    .iter()
    .map(|x| u32::from(*x))
    .sum::<u32>()
        + u32::from(proto)
        + len as u32
}

/// An IPv4 packet (RFC 791): no options, TTL 64, Don't Fragment for TCP.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, df: bool, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&(if df { 0x4000u16 } else { 0 }).to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum(&p[..20], 0);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    // A computed zero is sent as all ones: zero means "no checksum" (RFC 768).
    let c = match checksum(&u, pseudo_sum(src, dst, 17, len)) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

#[allow(clippy::too_many_arguments)]
fn tcp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = 20 + payload.len();
    let mut t = Vec::with_capacity(len);
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[5 << 4, flags]);
    t.extend_from_slice(&65_535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = checksum(&t, pseudo_sum(src, dst, 6, len));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0), !0xddf2);
    }

    #[test]
    fn a_packet_with_its_checksum_sums_to_zero() {
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 11));
        let p = ipv4(a, b, 17, 7, false, &udp(a, b, 5060, 5060, b"OPTIONS sip:x SIP/2.0\r\n\r\n"));
        assert_eq!(checksum(&p[..20], 0), 0);
        let u = &p[20..];
        assert_eq!(checksum(u, pseudo_sum(a, b, 17, u.len())), 0);
        let t = tcp(a, b, 49152, 2855, 1, 2, TCP_ACK, b"odd");
        assert_eq!(checksum(&t, pseudo_sum(a, b, 6, t.len())), 0);
    }
}
