//! Statement -> hostgroup: hints, ordered query rules, then the default read/write split.

use crate::topology::Topology;
use sqlmux_config::{Cluster, Runtime};
use sqlmux_protocol::dialect::mysql::{Classification, Flags, Kind};

/// Why a statement goes where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteReason {
    /// A `/* sqlmux:hostgroup=N */` comment.
    Hint,
    /// The query rule with this index.
    Rule(usize),
    /// A write, DDL, locking read or anything not known to be a plain read.
    Write,
    /// A plain read outside a transaction.
    Read,
    /// A read inside the session's read-your-writes window.
    ReadYourWrites,
    /// A plain read while no reader is ONLINE.
    NoReader,
}

/// Where a statement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination hostgroup.
    pub hostgroup: u32,
    /// Why.
    pub reason: RouteReason,
}

/// What the router needs to know about the session.
pub struct RouteContext<'a> {
    /// The session's cluster.
    pub cluster: &'a Cluster,
    /// Login name.
    pub user: &'a str,
    /// Current schema.
    pub schema: &'a str,
    /// The session wrote within its read-your-writes window.
    pub recent_write: bool,
}

/// Whether a statement only reads and may run on a replica.
pub fn is_plain_read(class: &Classification) -> bool {
    let read_kind = matches!(
        class.kind,
        Kind::Select | Kind::Show | Kind::Explain | Kind::Do
    );
    let writes = Flags(
        Flags::WRITE.0
            | Flags::LOCKING_READ.0
            | Flags::SELECT_INTO.0
            | Flags::USER_VAR_WRITE.0
            | Flags::GET_LOCK.0
            | Flags::RELEASE_LOCK.0
            | Flags::RELEASE_ALL_LOCKS.0
            | Flags::CALC_FOUND_ROWS.0
            | Flags::FOUND_ROWS.0
            | Flags::LAST_INSERT_ID_ARG.0,
    );
    read_kind && class.flags.0 & writes.0 == 0
}

/// What the router needs to know about a statement, whatever its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementFacts {
    /// A `/* sqlmux:hostgroup=N */` hint.
    pub hint_hostgroup: Option<u32>,
    /// The statement only reads and may run on a replica.
    pub plain_read: bool,
}

impl StatementFacts {
    /// The facts of a MySQL statement.
    pub fn mysql(class: &Classification) -> Self {
        Self {
            hint_hostgroup: class.hint_hostgroup,
            plain_read: is_plain_read(class),
        }
    }
}

/// Chooses the hostgroup of a statement that is not bound to a pinned backend.
pub fn route(
    runtime: &Runtime,
    topology: &Topology,
    ctx: &RouteContext<'_>,
    sql: &[u8],
    facts: StatementFacts,
) -> Route {
    let own = |hg: u32| hg == ctx.cluster.writer_hostgroup || hg == ctx.cluster.reader_hostgroup;
    if let Some(hg) = facts.hint_hostgroup.filter(|hg| own(*hg)) {
        return Route {
            hostgroup: hg,
            reason: RouteReason::Hint,
        };
    }
    if !runtime.rules.is_empty() {
        if let Ok(text) = std::str::from_utf8(sql) {
            for (i, rule) in runtime.rules.iter().enumerate() {
                let applies = own(rule.hostgroup)
                    && rule.user.as_deref().is_none_or(|u| u == ctx.user)
                    && rule.schema.as_deref().is_none_or(|s| s == ctx.schema);
                if applies && rule.pattern.is_match(text) {
                    return Route {
                        hostgroup: rule.hostgroup,
                        reason: RouteReason::Rule(i),
                    };
                }
            }
        }
    }
    let writer = ctx.cluster.writer_hostgroup;
    if !facts.plain_read {
        return Route {
            hostgroup: writer,
            reason: RouteReason::Write,
        };
    }
    if ctx.recent_write {
        return Route {
            hostgroup: writer,
            reason: RouteReason::ReadYourWrites,
        };
    }
    let reader = ctx.cluster.reader_hostgroup;
    if reader != writer && topology.online_in(reader).next().is_some() {
        Route {
            hostgroup: reader,
            reason: RouteReason::Read,
        }
    } else {
        Route {
            hostgroup: writer,
            reason: RouteReason::NoReader,
        }
    }
}
