//! MSRP SENDs, their 200s and REPORTs as RFC 4975 text, with CPIM contents (RFC 3862):
//! chat text, IMDN (RFC 5438), isComposing (RFC 3994) and the Group State Object.

use super::*;

impl<'w> Wire<'w> {
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

    /// The whole content of an item (message/cpim), at least `item.size()` bytes.
    pub fn content(&mut self, time: Time, item: &Item) -> String {
        let key = (item.msg, item.from.0, item.group.0, item.payload() as u8);
        let created = match item.payload() {
            Payload::Chat | Payload::Delivered | Payload::Displayed => *self.first_seen.entry(key).or_insert(time),
            Payload::IsComposing | Payload::GroupState => time,
        };
        let focus = self.focus_uri(item.group);
        let mut env = String::with_capacity(256);
        let from = if item.payload() == Payload::GroupState { focus.clone() } else { user_uri(item.from) };
        // A notification goes to the sender of the message it is about; the Group State Object
        // to the served user; messages and isComposing to the group.
        let to = match item.payload() {
            Payload::Delivered | Payload::Displayed | Payload::GroupState => user_uri(item.origin),
            Payload::Chat | Payload::IsComposing => focus.clone(),
        };
        let _ = write!(env, "From: <{from}>{CRLF}To: <{to}>{CRLF}DateTime: {}{CRLF}", datetime(created));
        let (mime, body): (String, String) = match item.payload() {
            Payload::Chat => {
                let _ = write!(
                    env,
                    "NS: imdn <urn:ietf:params:imdn>{CRLF}imdn.Message-ID: {}{CRLF}imdn.Disposition-Notification: positive-delivery, display{CRLF}",
                    Self::chat_id(item.msg, item.from)
                );
                ("Content-Type: text/plain;charset=UTF-8".into(), String::new())
            }
            Payload::Delivered | Payload::Displayed => {
                let (kind, status) = if item.payload() == Payload::Delivered {
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
        let size = item.size() as usize;
        if item.payload() == Payload::Chat {
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

    pub(super) fn msrp(&mut self, time: Time, hop: Hop, p: &Packet, m: &Msrp) -> Rendered {
        match *m {
            Msrp::Send { session, item, chunk, chunks, seq } => {
                let tid = Self::tid(session, &item, chunk, seq, p.src());
                let mid = Self::message_id(session, &item, p.src());
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
                    self.msrp_uri(session, p.dst(), p.src()),
                    self.msrp_uri(session, p.src(), p.dst()),
                    Msrp::failure_report(p.src(), p.dst())
                );
                s.push_str(&content[start..end]);
                let _ = write!(s, "{CRLF}-------{tid}{}{CRLF}", if chunk >= chunks { '$' } else { '+' });
                let what = payload_name(item.payload());
                let part = if chunks > 1 { format!(" [{chunk}/{chunks}]") } else { String::new() };
                Rendered {
                    hop,
                    transport: Transport::Tcp,
                    text: s,
                    label: format!("SEND {what} #{}{part}", item.msg),
                    summary: format!(
                        "MSRP SEND {what} #{} of group {}{part}, {} bytes",
                        item.msg,
                        item.group.0,
                        item.size()
                    ),
                    ids: Ids { tid: Some(tid), message_id: Some(mid), byte_range: Some(range), ..Ids::default() },
                }
            }
            Msrp::Ok { session, item, chunk, chunks, seq, .. } => {
                // The response to a SEND from p.dst: same transaction id, paths swapped.
                let tid = Self::tid(session, &item, chunk, seq, p.dst());
                let text = format!(
                    "MSRP {tid} 200 OK{CRLF}To-Path: {}{CRLF}From-Path: {}{CRLF}-------{tid}${CRLF}",
                    self.msrp_uri(session, p.dst(), p.src()),
                    self.msrp_uri(session, p.src(), p.dst())
                );
                let what = payload_name(item.payload());
                let part = if chunks > 1 { format!(" [{chunk}/{chunks}]") } else { String::new() };
                Rendered {
                    hop,
                    transport: Transport::Tcp,
                    text,
                    label: format!("200 SEND {what} #{}{part}", item.msg),
                    summary: format!("MSRP 200 OK to SEND {what} #{}{part}", item.msg),
                    ids: Ids {
                        tid: Some(tid),
                        message_id: Some(Self::message_id(session, &item, p.dst())),
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
        let tid = hex16(hash((session, &item, chunk, seq, send.dst(), "report")));
        Some(format!(
            "MSRP {tid} REPORT{CRLF}To-Path: {}{CRLF}From-Path: {}{CRLF}Message-ID: {}{CRLF}Byte-Range: 1-{len}/{len}{CRLF}Status: 000 200 OK{CRLF}-------{tid}${CRLF}",
            self.msrp_uri(session, send.src(), send.dst()),
            self.msrp_uri(session, send.dst(), send.src()),
            Self::message_id(session, &item, send.src())
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
