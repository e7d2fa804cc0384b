//! What the schema cannot check: references between sections, ranges, probabilities, group
//! sizes against the classes they draw from, and reachability. One function per section of
//! the model file, in the order of the file; the first failure is reported, as a field path
//! and what is expected.

use super::{
    EventSpec, Groups, MAX_EXPANDED_LINKS, MAX_EXPANDED_NODES, MAX_POOL, MessageRate, Model, ModelError, NodeKind,
    NodeSpec, Policy, RetryPolicy, Topology, UserClass,
};
use crate::dist::Dist;
use crate::protocol::MsgKind;
use crate::units::SEC;
use std::collections::{HashMap, HashSet};

/// A validation failure before it is given its file: the field path and what is wrong.
type Problem = (String, String);
type Checked = Result<(), Problem>;

fn fail(path: impl Into<String>, msg: impl Into<String>) -> Checked {
    Err((path.into(), msg.into()))
}

/// A distribution must compile; its error names the parameter, the path names the field.
fn compiles<Q: crate::dist::Quantity>(path: impl Into<String>, dist: &Dist<Q>) -> Checked {
    dist.compile().map(|_| ()).map_err(|e| (path.into(), e))
}

fn probability(path: impl Into<String>, v: f64) -> Checked {
    if (0.0..=1.0).contains(&v) { Ok(()) } else { fail(path, format!("must be a probability in [0, 1], got {v}")) }
}

fn positive_duration(path: &str, d: crate::units::Duration) -> Checked {
    if d.0 == 0 { fail(path, "must be longer than 0s") } else { Ok(()) }
}

pub fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Access => "access",
        NodeKind::Registrar => "registrar",
        NodeKind::Participating => "participating",
        NodeKind::Controlling => "controlling",
    }
}

impl Model {
    /// Checks what the schema cannot: references, ranges, probabilities, group sizes,
    /// reachability.
    pub fn validate(&self, file: &str) -> Result<(), ModelError> {
        self.check_top_level()
            .and_then(|()| self.check_topology())
            .and_then(|()| self.check_population())
            .and_then(|()| check_groups(&self.groups, &self.population))
            .and_then(|()| check_policy(&self.policy))
            .and_then(|()| self.check_events())
            .and_then(|()| self.check_reachability())
            .map_err(|(path, msg)| ModelError::new(file, path, msg))
    }

    fn check_top_level(&self) -> Checked {
        // `ddsim run` writes to output/<name>/: an empty name or one with a path in it would
        // write elsewhere (output/ itself, or outside it with "..").
        let n = self.name.as_str();
        if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\']) {
            return fail("name", format!("must be a plain name usable as a directory name, got \"{n}\""));
        }
        positive_duration("horizon", self.horizon)?;
        if self.warmup >= self.horizon {
            return fail("warmup", format!("must be shorter than horizon ({}), got {}", self.horizon, self.warmup));
        }
        positive_duration("sip.t1", self.sip.t1)?;
        positive_duration("sip.msrp_timeout", self.sip.msrp_timeout)?;
        // A 200 carries its receive time in 32 bits of ticks, told apart by the PF only within
        // 2^32 ticks (71 minutes) of the SEND it answers: see protocol::Msrp::Ok.
        if self.sip.msrp_timeout.0 > crate::units::HOUR {
            return fail("sip.msrp_timeout", format!("must be at most 1h, got {}", self.sip.msrp_timeout));
        }
        positive_duration("metrics.sample_interval", self.metrics.sample_interval)
    }

    fn check_topology(&self) -> Checked {
        let Topology { nodes, links } = &self.topology;
        let mut ids = HashSet::new();
        for (i, n) in nodes.iter().enumerate() {
            let p = format!("topology.nodes[{i}]");
            if n.id.is_empty() {
                return fail(format!("{p}.id"), "must not be empty");
            }
            if !ids.insert(n.id.as_str()) {
                return fail(format!("{p}.id"), format!("duplicate node id \"{}\"", n.id));
            }
            if !(1..=MAX_POOL).contains(&n.count) {
                return fail(format!("{p}.count"), format!("must be between 1 and {MAX_POOL}, got {}", n.count));
            }
            if n.kind == NodeKind::Access && n.count != 1 {
                return fail(
                    format!("{p}.count"),
                    "an access node cannot be a pool: only registrar, participating and controlling nodes take a \
                     count above 1",
                );
            }
            if n.kind != NodeKind::Access {
                check_server(&p, n)?;
            }
        }
        check_pools(nodes)?;
        for kind in [NodeKind::Access, NodeKind::Registrar, NodeKind::Participating, NodeKind::Controlling] {
            if !nodes.iter().any(|n| n.kind == kind) {
                return fail("topology.nodes", format!("needs at least one node of kind \"{}\"", kind_name(kind)));
            }
        }
        let mut expanded_links = 0u64;
        for (i, l) in links.iter().enumerate() {
            let p = format!("topology.links[{i}]");
            for (f, id) in [("from", &l.from), ("to", &l.to)] {
                if self.node_index(id).is_none() {
                    return fail(format!("{p}.{f}"), format!("unknown node \"{id}\""));
                }
            }
            if l.from == l.to {
                return fail(format!("{p}.to"), "a link must join two different nodes");
            }
            let count = |id: &str| self.node_index(id).map_or(1, |i| u64::from(nodes[i].count));
            expanded_links += count(&l.from) * count(&l.to);
            if expanded_links > MAX_EXPANDED_LINKS {
                return fail(
                    p,
                    format!(
                        "with the links before it, joins pools by more than {MAX_EXPANDED_LINKS} links (one per pair \
                         of members)"
                    ),
                );
            }
            if !(0.0..1.0).contains(&l.loss) {
                return fail(format!("{p}.loss"), format!("must be a probability in [0, 1), got {}", l.loss));
            }
            compiles(format!("{p}.latency"), &l.latency)?;
        }
        Ok(())
    }

    fn check_population(&self) -> Checked {
        if self.population.is_empty() {
            return fail("population", "needs at least one user class");
        }
        let access = self.topology.nodes.iter().filter(|n| n.kind == NodeKind::Access).count();
        let mut classes = HashSet::new();
        for (i, c) in self.population.iter().enumerate() {
            let p = format!("population[{i}]");
            if c.class.is_empty() {
                return fail(format!("{p}.class"), "must not be empty");
            }
            if !classes.insert(c.class.as_str()) {
                return fail(format!("{p}.class"), format!("duplicate class \"{}\"", c.class));
            }
            check_class(&p, c)?;
            match &c.access {
                Some(a) => match self.topology.nodes.iter().find(|n| &n.id == a) {
                    None => return fail(format!("{p}.access"), format!("unknown node \"{a}\"")),
                    Some(n) if n.kind != NodeKind::Access => {
                        return fail(format!("{p}.access"), format!("node \"{a}\" is not an access node"));
                    }
                    _ => {}
                },
                None if access > 1 => {
                    return fail(format!("{p}.access"), "required: the topology has more than one access node");
                }
                None => {}
            }
        }
        // A packet packs a user's id into 30 bits (protocol::Packet).
        let total: u64 = self.population.iter().map(|c| c.users as u64).sum();
        if total > crate::protocol::Packet::MAX_USERS {
            let (i, c) = self.population.iter().enumerate().next_back().expect("not empty");
            return fail(
                format!("population[{i}].users"),
                format!(
                    "the classes add up to {total} users, more than the {} a run can have (class \"{}\")",
                    crate::protocol::Packet::MAX_USERS,
                    c.class
                ),
            );
        }
        Ok(())
    }

    fn check_events(&self) -> Checked {
        for (i, e) in self.events.iter().enumerate() {
            let EventSpec::Outage { node, at, duration } = e;
            let p = format!("events[{i}]");
            if self.node_index(node).is_none() {
                return fail(format!("{p}.node"), format!("unknown node \"{node}\""));
            }
            if *at >= self.horizon {
                return fail(format!("{p}.at"), format!("must be before the horizon ({})", self.horizon));
            }
            positive_duration(&format!("{p}.duration"), *duration)?;
        }
        Ok(())
    }

    /// Every user class must reach its registrars and PFs, every registrar the PFs, and every
    /// PF the CFs. Links are undirected, so reaching is being in the same connected part of
    /// the topology; which route a message takes is the network's business.
    fn check_reachability(&self) -> Checked {
        let nodes = &self.topology.nodes;
        let mut parts = petgraph::unionfind::UnionFind::<usize>::new(nodes.len());
        for l in &self.topology.links {
            if let (Some(a), Some(b)) = (self.node_index(&l.from), self.node_index(&l.to)) {
                parts.union(a, b);
            }
        }
        let reach = |a: usize, b: usize| parts.equiv(a, b);
        let of_kind = |k: NodeKind| -> Vec<usize> {
            nodes.iter().enumerate().filter(|(_, n)| n.kind == k).map(|(i, _)| i).collect()
        };
        let (registrars, pfs, cfs) =
            (of_kind(NodeKind::Registrar), of_kind(NodeKind::Participating), of_kind(NodeKind::Controlling));
        let access = of_kind(NodeKind::Access);
        let name = |i: usize| nodes[i].id.as_str();
        for (ci, c) in self.population.iter().enumerate() {
            let a = match &c.access {
                Some(id) => match self.node_index(id) {
                    Some(i) => i,
                    None => continue,
                },
                None => access[0],
            };
            if let Some(&t) = registrars.iter().chain(pfs.iter()).find(|&&t| !reach(a, t)) {
                return fail(
                    format!("population[{ci}]"),
                    format!(
                        "users of class \"{}\" at access node \"{}\" cannot reach \"{}\": add a link",
                        c.class,
                        name(a),
                        name(t)
                    ),
                );
            }
        }
        for &r in &registrars {
            if let Some(&p) = pfs.iter().find(|&&p| !reach(r, p)) {
                return fail(
                    "topology.links",
                    format!("registrar \"{}\" cannot reach participating node \"{}\"", name(r), name(p)),
                );
            }
        }
        for &p in &pfs {
            if let Some(&c) = cfs.iter().find(|&&c| !reach(p, c)) {
                return fail(
                    "topology.links",
                    format!("participating node \"{}\" cannot reach controlling node \"{}\"", name(p), name(c)),
                );
            }
        }
        Ok(())
    }
}

/// Pools (nodes with a `count` above 1): their members' ids (`<id>.1` ...) must be nobody
/// else's, and the members of all of them must fit in the simulator's node numbers.
fn check_pools(nodes: &[NodeSpec]) -> Checked {
    let mut names: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id.clone(), i)).collect();
    let mut total = 0u64;
    for (i, n) in nodes.iter().enumerate() {
        total += u64::from(n.count);
        if total > MAX_EXPANDED_NODES {
            return fail(
                format!("topology.nodes[{i}].count"),
                format!(
                    "with the nodes before it, makes more than {MAX_EXPANDED_NODES} nodes (each member of a pool is one)"
                ),
            );
        }
        if n.count < 2 {
            continue;
        }
        for m in n.member_ids() {
            if let Some(j) = names.insert(m.clone(), i) {
                return fail(
                    format!("topology.nodes[{i}].count"),
                    format!("member \"{m}\" of this pool would have the id of topology.nodes[{j}]: rename one of them"),
                );
            }
        }
    }
    Ok(())
}

/// A server node (registrar, PF, CF): workers and service times.
fn check_server(p: &str, n: &NodeSpec) -> Checked {
    if n.workers == 0 {
        return fail(format!("{p}.workers"), "must be at least 1");
    }
    compiles(format!("{p}.service_time"), &n.service_time)?;
    for (k, dist) in &n.service_time_by_kind {
        let path = format!("{p}.service_time_by_kind.{k}");
        if MsgKind::from_name(k).is_none() {
            return fail(path, format!("unknown message kind; expected one of {}", MsgKind::NAMES.join(", ")));
        }
        compiles(path, dist)?;
    }
    Ok(())
}

/// One user class's behaviour: its distributions and probabilities.
fn check_class(p: &str, c: &UserClass) -> Checked {
    for (f, dist) in [("online", &c.online), ("offline", &c.offline), ("reregister_delay", &c.reregister_delay)] {
        compiles(format!("{p}.{f}"), dist)?;
    }
    compiles(format!("{p}.answer.delay"), &c.answer.delay)?;
    for (f, v) in [
        ("ungraceful_offline", c.ungraceful_offline),
        ("bye_during_delivery", c.bye_during_delivery),
        ("reply_during_delivery", c.reply_during_delivery),
        ("answer.accept", c.answer.accept),
        ("answer.decline", c.answer.decline),
        ("answer.unavailable", c.answer.unavailable),
        ("answer.busy", c.answer.busy),
    ] {
        probability(format!("{p}.{f}"), v)?;
    }
    let sum = c.answer.accept + c.answer.decline + c.answer.unavailable + c.answer.busy;
    if (sum - 1.0).abs() > 1e-9 {
        return fail(format!("{p}.answer"), format!("accept + decline + unavailable + busy must sum to 1, got {sum}"));
    }
    if c.registration_expiry.0 < 2 * SEC {
        return fail(format!("{p}.registration_expiry"), "must be at least 2s");
    }
    if let Some(shares) = &c.presence_profile {
        let path = format!("{p}.presence_profile");
        hourly(&path, shares)?;
        if let Some(i) = shares.iter().position(|v| !(*v > 0.0 && *v < 1.0)) {
            return fail(format!("{path}[{i}]"), "an online share must be above 0 and below 1");
        }
        if c.always_online {
            return fail(path, "an always_online class has no presence to shape");
        }
    }
    if !(-12..=14).contains(&c.utc_offset_h) {
        return fail(format!("{p}.utc_offset_h"), "must be between -12 and 14 hours");
    }
    Ok(())
}

/// A daily profile: one finite, non-negative value per hour of the day.
fn hourly(path: &str, values: &[f64]) -> Checked {
    if values.len() != 24 {
        return fail(path, format!("needs 24 values, one per hour of the day, got {}", values.len()));
    }
    if let Some(i) = values.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return fail(format!("{path}[{i}]"), "must be a finite number, at least 0");
    }
    Ok(())
}

/// The groups and their traffic. Member draws must fit in their classes: a group never silently
/// has fewer members than the model asked for.
fn check_groups(g: &Groups, population: &[UserClass]) -> Checked {
    for (i, m) in g.members.iter().enumerate() {
        let p = format!("groups.members[{i}]");
        if !population.iter().any(|c| c.class == m.class) {
            return fail(format!("{p}.class"), format!("unknown user class \"{}\"", m.class));
        }
        compiles(format!("{p}.count"), &m.count)?;
    }
    if g.count > 0 && g.members.is_empty() {
        return fail("groups.members", "needs at least one entry when groups.count > 0");
    }
    if g.count > 0 {
        check_member_draws(g, population)?;
    }
    match &g.message_rate {
        MessageRate::Rate(r) if r.0 < 0.0 => return fail("groups.message_rate", "must not be negative"),
        MessageRate::Gaps(dist) => compiles("groups.message_rate", dist)?,
        _ => {}
    }
    if let Some(b) = &g.bursty {
        compiles("groups.bursty.on", &b.on)?;
        compiles("groups.bursty.off", &b.off)?;
    }
    if let Some(m) = &g.daily_profile {
        hourly("groups.daily_profile", m)?;
        if m.iter().sum::<f64>() <= 0.0 {
            return fail("groups.daily_profile", "needs at least one hour with traffic");
        }
    }
    compiles("groups.message_size", &g.message_size)?;
    compiles("groups.imdn.displayed_delay", &g.imdn.displayed_delay)?;
    probability("groups.imdn.delivered", g.imdn.delivered)?;
    probability("groups.imdn.displayed", g.imdn.displayed)?;
    probability("groups.is_composing", g.is_composing)?;
    probability("groups.referred_share", g.referred_share)?;
    positive_duration("groups.idle_timeout", g.idle_timeout)
}

/// Each group draws its members class by class, distinct users: the largest draw of every
/// entry naming a class, added up, must not exceed the class's users. A distribution without an
/// upper bound could always ask for more, so member counts are bounded distributions.
fn check_member_draws(g: &Groups, population: &[UserClass]) -> Checked {
    let mut asked: Vec<(usize, u64, Vec<usize>)> = vec![];
    for (i, m) in g.members.iter().enumerate() {
        let path = format!("groups.members[{i}].count");
        let Some(max) = m.count.compile().map_err(|e| (path.clone(), e))?.max() else {
            return fail(
                path,
                format!(
                    "must be bounded (uniform, const or empirical) so that every draw fits in class \"{}\"",
                    m.class
                ),
            );
        };
        let ci = population.iter().position(|c| c.class == m.class).expect("checked by the caller");
        match asked.iter_mut().find(|(c, _, _)| *c == ci) {
            Some((_, total, entries)) => {
                *total += max;
                entries.push(i);
            }
            None => asked.push((ci, max, vec![i])),
        }
    }
    for (ci, total, entries) in asked {
        let class = &population[ci];
        if total > class.users as u64 {
            let who = match entries.as_slice() {
                [_] => format!("draws up to {total} members"),
                many => format!(
                    "with {} draws up to {total} members",
                    many.iter().map(|i| format!("groups.members[{i}].count")).collect::<Vec<_>>().join(" and ")
                ),
            };
            let last = *entries.last().expect("at least one entry");
            return fail(
                format!("groups.members[{last}].count"),
                format!("{who} of class \"{}\", which has {} users (population[{ci}].users)", class.class, class.users),
            );
        }
    }
    Ok(())
}

/// Retry and store policies, MSRP chunking.
fn check_policy(policy: &Policy) -> Checked {
    let at_least_one_attempt = |n: u32| {
        if n == 0 {
            fail("policy.retry.max_attempts", "must be at least 1 (it counts the first INVITE)")
        } else {
            Ok(())
        }
    };
    match &policy.retry {
        RetryPolicy::None {} => {}
        RetryPolicy::Fixed { interval, max_attempts, .. } => {
            positive_duration("policy.retry.interval", *interval)?;
            at_least_one_attempt(*max_attempts)?;
        }
        RetryPolicy::Exponential { initial, factor, max_interval, max_attempts, .. } => {
            positive_duration("policy.retry.initial", *initial)?;
            if !(factor.is_finite() && *factor >= 1.0) {
                return fail("policy.retry.factor", format!("must be at least 1, got {factor}"));
            }
            if let Some(mx) = max_interval
                && mx < initial
            {
                return fail("policy.retry.max_interval", "must not be shorter than initial");
            }
            at_least_one_attempt(*max_attempts)?;
        }
    }
    let s = &policy.store;
    for (f, v) in [
        ("per_session", s.per_session.map(u64::from)),
        ("per_user", s.per_user.map(u64::from)),
        ("per_server", s.per_server),
    ] {
        if v == Some(0) {
            return fail(format!("policy.store.{f}"), "must be at least 1 (use null for unlimited)");
        }
    }
    if s.ttl == Some(crate::units::Duration(0)) {
        return fail("policy.store.ttl", "must be longer than 0s (use null for no expiry)");
    }
    if policy.msrp_chunk_size.0 < 64 {
        return fail("policy.msrp_chunk_size", "must be at least 64B");
    }
    if policy.msrp_window == 0 {
        return fail("policy.msrp_window", "must be at least 1");
    }
    Ok(())
}
