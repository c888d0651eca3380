//! One conversation between two endpoints, and how it looks as a flow-log record or a firewall
//! session record.
//!
//! Baseline traffic and every chaos kind describe what happened as a [`Session`]; the render
//! functions turn it into records, so a flow and a firewall entry of the same conversation always
//! agree (addresses, ports, protocol, bytes each way, flags, latency). A flow record describes one
//! direction as seen by one ENI, as AWS writes them: the request direction (client → server) or
//! the response direction, logged at whichever end is one of our hosts.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use crate::records::{
    AppProto, EventId, Firewall, FirewallAction, FirewallDirection, FirewallTag, FlowAction, FlowDirection, Label, LogStatus,
    SessionEndReason, TcpFlags, Timestamp, TrafficType, TransportProtocol, VpcFlow, VpcFlowTag, protocol,
};

use super::topology::{Host, Topology};

/// Aggregation window of the flow logs we imitate (Nitro: 60 s).
pub const WINDOW_SECONDS: i64 = 60;

#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'t> {
    Host(&'t Host),
    External(Ipv4Addr),
}

impl Endpoint<'_> {
    pub fn address(&self) -> Ipv4Addr {
        match self {
            Endpoint::Host(host) => host.address,
            Endpoint::External(address) => *address,
        }
    }
}

/// How the session ended, as the firewall saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Refused by policy (security group / firewall deny).
    Denied,
    /// Silently dropped.
    Dropped,
    /// Torn down with a TCP RST.
    Reset,
}

/// Which direction a flow record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

#[derive(Debug, Clone)]
pub struct Session<'t> {
    pub client: Endpoint<'t>,
    pub client_port: u16,
    pub server: Endpoint<'t>,
    pub server_port: u16,
    /// IANA number: TCP, UDP or ICMP.
    pub protocol: u8,
    pub app_proto: AppProto,
    pub outcome: Outcome,
    pub packets_up: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub bytes_down: u64,
    /// TCP flags OR-ed over the window, client → server (ignored for non-TCP).
    pub flags_up: TcpFlags,
    /// TCP flags OR-ed over the window, server → client.
    pub flags_down: TcpFlags,
    pub duration_ms: u64,
    pub latency_ms: u32,
    pub http_status: Option<u16>,
    pub rule: &'static str,
    /// For a conversation longer than the aggregation window, the window a flow record of it
    /// covers; `None` when the whole conversation fits in one record (the usual case). The
    /// packets, bytes, flags and duration above are the whole conversation's either way (the
    /// firewall logs the whole session once, at its end).
    pub window: Option<WindowPart>,
}

/// One of the aggregation windows a long conversation spans: AWS writes a flow record of it in
/// every window, SYN in the first, no flag in the middle ones (ACK and PSH are not logged), FIN
/// in the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPart {
    /// 0 for the first window.
    pub index: u32,
    /// How many windows the conversation spans (at least 2).
    pub windows: u32,
}

impl WindowPart {
    /// How many windows a conversation of `duration_ms` spans: its first window holds what is
    /// left over, the others a whole window each.
    pub fn windows_for(duration_ms: u64) -> u32 {
        u32::try_from(duration_ms.div_ceil(WINDOW_MS).max(1)).unwrap_or(u32::MAX)
    }

    pub fn is_first(self) -> bool {
        self.index == 0
    }

    pub fn is_last(self) -> bool {
        self.index + 1 >= self.windows
    }
}

/// The aggregation window in milliseconds.
const WINDOW_MS: u64 = WINDOW_SECONDS as u64 * 1000;

/// What one flow record of a conversation carries in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTraffic {
    pub packets: u64,
    pub bytes: u64,
    pub flags: TcpFlags,
    /// The part of the conversation inside the window.
    pub duration_ms: u64,
}

impl<'t> Session<'t> {
    /// An allowed conversation from `client` to `server` (address and port each) over
    /// `protocol`, let through by `rule`, with nothing carried yet: no packets either way, no TCP
    /// flags, no duration, no latency, no HTTP status. The `with_*` methods fill those in.
    pub fn new(client: (Endpoint<'t>, u16), server: (Endpoint<'t>, u16), protocol: u8, app_proto: AppProto, rule: &'static str) -> Self {
        Session {
            client: client.0,
            client_port: client.1,
            server: server.0,
            server_port: server.1,
            protocol,
            app_proto,
            outcome: Outcome::Allowed,
            packets_up: 0,
            bytes_up: 0,
            packets_down: 0,
            bytes_down: 0,
            flags_up: TcpFlags::NONE,
            flags_down: TcpFlags::NONE,
            duration_ms: 0,
            latency_ms: 0,
            http_status: None,
            rule,
            window: None,
        }
    }

    /// How the session ended.
    pub fn with_outcome(self, outcome: Outcome) -> Self {
        Session { outcome, ..self }
    }

    /// Packets and bytes client → server.
    pub fn with_request(self, packets: u64, bytes: u64) -> Self {
        Session { packets_up: packets, bytes_up: bytes, ..self }
    }

    /// Packets and bytes server → client.
    pub fn with_response(self, packets: u64, bytes: u64) -> Self {
        Session { packets_down: packets, bytes_down: bytes, ..self }
    }

    /// TCP flags OR-ed over the window, each way.
    pub fn with_flags(self, up: TcpFlags, down: TcpFlags) -> Self {
        Session { flags_up: up, flags_down: down, ..self }
    }

    /// How long the conversation lasted and the latency its packets saw.
    pub fn with_timing(self, duration_ms: u64, latency_ms: u32) -> Self {
        Session { duration_ms, latency_ms, ..self }
    }

    /// The HTTP answer (kept only where the application protocol is HTTP).
    pub fn with_http_status(self, http_status: Option<u16>) -> Self {
        Session { http_status, ..self }
    }

    /// The same conversation, its flow records to cover the window `part`.
    pub fn in_window(self, part: WindowPart) -> Self {
        Session { window: Some(part), ..self }
    }

    /// What a flow record of `side` carries: the whole conversation, or, for a long one, the
    /// share of its window. Packets and bytes go by the time in each window (the first window
    /// holds the left-over part, the last one the rounding), at least one packet of 40 bytes per
    /// window; TCP flags are SYN (SYN-ACK back) in the first window, none in the middle ones, and
    /// the closing FIN or RST in the last.
    pub fn window_traffic(&self, side: Side) -> WindowTraffic {
        let (packets, bytes, flags) = match side {
            Side::Request => (self.packets_up, self.bytes_up, self.flags_up),
            Side::Response => (self.packets_down, self.bytes_down, self.flags_down),
        };
        let Some(part) = self.window else {
            return WindowTraffic { packets, bytes, flags, duration_ms: self.duration_ms };
        };
        let windows = u64::from(part.windows.max(1));
        let first_ms = self.duration_ms.saturating_sub(WINDOW_MS * (windows - 1)).max(1);
        let duration_ms = if part.is_first() { first_ms } else { WINDOW_MS };
        let total_ms = self.duration_ms.max(1) as f64;
        // The share of the conversation before this window's end, and before its start.
        let end_ms = (first_ms + WINDOW_MS * u64::from(part.index)).min(self.duration_ms.max(1));
        let start_ms = if part.is_first() { 0 } else { end_ms - duration_ms.min(end_ms) };
        let portion = |amount: u64, until_ms: u64| -> u64 {
            if until_ms >= self.duration_ms.max(1) { amount } else { (amount as f64 * until_ms as f64 / total_ms) as u64 }
        };
        let window_packets = (portion(packets, end_ms) - portion(packets, start_ms)).max(1);
        let window_bytes = (portion(bytes, end_ms) - portion(bytes, start_ms)).max(window_packets * 40);
        let kept = if part.is_first() {
            TcpFlags::SYN_ACK
        } else if part.is_last() {
            TcpFlags::FIN.union(TcpFlags::RST)
        } else {
            TcpFlags::NONE
        };
        let flags = TcpFlags::from_bits(flags.bits() & kept.bits());
        WindowTraffic { packets: window_packets, bytes: window_bytes, flags, duration_ms }
    }
}

/// What every record carries besides the conversation.
#[derive(Debug, Clone)]
pub struct RecordContext<'a> {
    pub event_id: EventId<'a>,
    /// Logical event time (end of the flow window / of the session), Unix milliseconds.
    pub time_ms: i64,
    pub label: Option<Label<'a>>,
}

/// Renders one direction of `session` as seen by one of our ENIs. `prefer_destination` picks the
/// receiving ENI when both ends are our hosts. Refused sessions only have a request direction,
/// logged where it was refused (the destination).
pub fn render_flow<'t, 'a>(
    topology: &'t Topology,
    session: &Session<'t>,
    side: Side,
    prefer_destination: bool,
    context: RecordContext<'a>,
) -> VpcFlow<'a>
where
    't: 'a,
{
    let refused = matches!(session.outcome, Outcome::Denied | Outcome::Dropped);
    let side = if refused { Side::Request } else { side };
    let (source, source_port, destination, destination_port) = match side {
        Side::Request => (session.client, session.client_port, session.server, session.server_port),
        Side::Response => (session.server, session.server_port, session.client, session.client_port),
    };
    let WindowTraffic { packets, bytes, flags, duration_ms } = session.window_traffic(side);
    let (observer, direction) = match (source, destination) {
        (Endpoint::Host(_), Endpoint::Host(host)) if prefer_destination || refused => (host, FlowDirection::Ingress),
        (Endpoint::Host(host), _) => (host, FlowDirection::Egress),
        (Endpoint::External(_), Endpoint::Host(host)) => (host, FlowDirection::Ingress),
        (Endpoint::External(_), Endpoint::External(_)) => unreachable_external(topology),
    };
    let traffic_path = match (direction, destination) {
        (FlowDirection::Ingress, _) => None,
        (FlowDirection::Egress, Endpoint::Host(_)) => Some(1),
        // A host in a private subnet has no public address: it reaches the internet through a NAT
        // gateway, another resource of the same VPC (path 1); public subnets go through the IGW.
        (FlowDirection::Egress, Endpoint::External(_)) if !topology.subnet_of(observer).public => Some(1),
        (FlowDirection::Egress, Endpoint::External(_)) => Some(2),
    };
    let is_tcp = session.protocol == protocol::TCP;
    let action = if refused { FlowAction::Reject } else { FlowAction::Accept };
    VpcFlow {
        srcaddr: Some(IpAddr::V4(source.address())),
        dstaddr: Some(IpAddr::V4(destination.address())),
        srcport: Some(source_port),
        dstport: Some(destination_port),
        protocol: Some(session.protocol),
        packets: Some(packets),
        bytes: Some(bytes),
        action: Some(action),
        log_status: LogStatus::Ok,
        tcp_flags: is_tcp.then_some(flags.bits()),
        traffic_type: Some(TrafficType::IPv4),
        pkt_srcaddr: Some(IpAddr::V4(source.address())),
        pkt_dstaddr: Some(IpAddr::V4(destination.address())),
        flow_direction: Some(direction),
        traffic_path,
        latency_ms: Some(session.latency_ms),
        ..observed_window(topology, observer, flow_window(context.time_ms, duration_ms), context)
    }
}

/// The flow records a conversation makes, each as the direction it describes and whether it is
/// logged at the receiving ENI (`prefer_destination` of [`render_flow`]), in the order they are
/// written: each direction at each of our ENIs it touches (both ends of an east-west call, our
/// end of an internet one), a refused conversation only where it was refused.
pub fn flow_records(session: &Session<'_>) -> impl Iterator<Item = (Side, bool)> + use<> {
    let refused = matches!(session.outcome, Outcome::Denied | Outcome::Dropped);
    let at_client = !refused && matches!(session.client, Endpoint::Host(_));
    let at_server = !refused && matches!(session.server, Endpoint::Host(_));
    [
        refused.then_some((Side::Request, true)),
        at_client.then_some((Side::Request, false)),
        at_client.then_some((Side::Response, true)),
        at_server.then_some((Side::Request, true)),
        at_server.then_some((Side::Response, false)),
    ]
    .into_iter()
    .flatten()
}

/// The `(start, end)` Unix seconds of a flow record logged at `time_ms` for a conversation of
/// `duration_ms`: it ends at the event time and spans at most the aggregation window.
pub fn flow_window(time_ms: i64, duration_ms: u64) -> (i64, i64) {
    let end = time_ms.div_euclid(1000);
    let span = i64::try_from(duration_ms / 1000).unwrap_or(i64::MAX).min(WINDOW_SECONDS - 1);
    (end - span, end)
}

/// When a firewall session logged at `time_ms` (its end) began.
pub fn session_start_ms(time_ms: i64, duration_ms: u64) -> i64 {
    time_ms.saturating_sub(i64::try_from(duration_ms).unwrap_or(i64::MAX))
}

/// Sessions always have one of our hosts at one end; the generator never builds one without.
fn unreachable_external(topology: &Topology) -> (&Host, FlowDirection) {
    debug_assert!(false, "a session between two external endpoints");
    (&topology.hosts[0], FlowDirection::Ingress)
}

/// A `NODATA` record: the ENI saw no traffic in the window.
pub fn render_no_data<'t, 'a>(topology: &'t Topology, host: &'t Host, context: RecordContext<'a>) -> VpcFlow<'a>
where
    't: 'a,
{
    observed_window(topology, host, flow_window(context.time_ms, u64::MAX), context)
}

/// A `SKIPDATA` record: the ENI's flow-log records for the window were skipped (AWS writes one when
/// an aggregation window overflows its capacity, as under a flood): every traffic field `-`, as in
/// a `NODATA` record.
pub fn render_skip_data<'t, 'a>(topology: &'t Topology, host: &'t Host, context: RecordContext<'a>) -> VpcFlow<'a>
where
    't: 'a,
{
    VpcFlow { log_status: LogStatus::Skipdata, ..render_no_data(topology, host, context) }
}

/// The record of `host`'s ENI for the window `(start, end)` with no traffic in it (`NODATA`,
/// every traffic field `-`): what every flow record of the ENI shares.
fn observed_window<'t, 'a>(topology: &'t Topology, host: &'t Host, (start, end): (i64, i64), context: RecordContext<'a>) -> VpcFlow<'a>
where
    't: 'a,
{
    let vpc = topology.vpc_of(host);
    let subnet = topology.subnet_of(host);
    VpcFlow {
        event_type: VpcFlowTag::VpcFlow,
        event_id: context.event_id,
        version: 5,
        account_id: Cow::Borrowed(&vpc.account_id),
        interface_id: Cow::Borrowed(&host.interface_id),
        srcaddr: None,
        dstaddr: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: None,
        bytes: None,
        start,
        end,
        action: None,
        log_status: LogStatus::Nodata,
        vpc_id: Cow::Borrowed(&vpc.vpc_id),
        subnet_id: Cow::Borrowed(&subnet.subnet_id),
        instance_id: host.instance_id.as_deref().map(Cow::Borrowed),
        tcp_flags: None,
        traffic_type: None,
        pkt_srcaddr: None,
        pkt_dstaddr: None,
        region: Cow::Borrowed(vpc.region),
        az_id: Cow::Borrowed(&subnet.az_id),
        sublocation_type: None,
        sublocation_id: None,
        pkt_src_aws_service: None,
        pkt_dst_aws_service: None,
        flow_direction: None,
        traffic_path: None,
        latency_ms: None,
        label: context.label,
    }
}

/// Renders `session` as the firewall's session log.
pub fn render_firewall<'t, 'a>(topology: &'t Topology, session: &Session<'t>, session_id: u64, context: RecordContext<'a>) -> Firewall<'a>
where
    't: 'a,
{
    let (direction, guarded) = match (session.client, session.server) {
        (Endpoint::External(_), Endpoint::Host(host)) => (FirewallDirection::Inbound, host),
        (Endpoint::Host(host), Endpoint::External(_)) => (FirewallDirection::Outbound, host),
        (Endpoint::Host(_), Endpoint::Host(host)) => (FirewallDirection::Internal, host),
        (Endpoint::External(_), Endpoint::External(_)) => (FirewallDirection::Inbound, unreachable_external(topology).0),
    };
    let transport = match session.protocol {
        protocol::TCP => TransportProtocol::Tcp,
        protocol::UDP => TransportProtocol::Udp,
        _ => TransportProtocol::Icmp,
    };
    let is_tcp = transport == TransportProtocol::Tcp;
    let (action, end_reason) = match session.outcome {
        Outcome::Allowed if is_tcp && session.flags_down.contains(TcpFlags::RST) => {
            (FirewallAction::Allow, SessionEndReason::TcpRstFromServer)
        }
        Outcome::Allowed if is_tcp && session.flags_up.contains(TcpFlags::RST) => {
            (FirewallAction::Allow, SessionEndReason::TcpRstFromClient)
        }
        Outcome::Allowed if is_tcp => (FirewallAction::Allow, SessionEndReason::TcpFin),
        Outcome::Allowed => (FirewallAction::Allow, SessionEndReason::AgedOut),
        Outcome::Denied => (FirewallAction::Deny, SessionEndReason::PolicyDeny),
        Outcome::Dropped => (FirewallAction::Drop, SessionEndReason::PolicyDeny),
        Outcome::Reset => (FirewallAction::Reset, SessionEndReason::TcpRstFromServer),
    };
    let refused = matches!(action, FirewallAction::Deny | FirewallAction::Drop);
    Firewall {
        event_type: FirewallTag::Firewall,
        event_id: context.event_id,
        timestamp: Timestamp::from_unix_millis(context.time_ms),
        firewall_name: Cow::Borrowed(&topology.vpc_of(guarded).firewall_name),
        availability_zone: Cow::Borrowed(&topology.subnet_of(guarded).availability_zone),
        session_id,
        src_ip: IpAddr::V4(session.client.address()),
        src_port: session.client_port,
        dest_ip: IpAddr::V4(session.server.address()),
        dest_port: session.server_port,
        protocol: transport,
        app_proto: session.app_proto,
        direction,
        action,
        rule: Cow::Borrowed(session.rule),
        bytes_sent: session.bytes_up,
        bytes_received: if refused { 0 } else { session.bytes_down },
        packets_sent: session.packets_up,
        packets_received: if refused { 0 } else { session.packets_down },
        duration_ms: session.duration_ms,
        tcp_flags: is_tcp.then_some((session.flags_up | session.flags_down).bits()),
        http_status: if session.app_proto == AppProto::Http { session.http_status } else { None },
        session_end_reason: end_reason,
        latency_ms: session.latency_ms,
        label: context.label,
    }
}
