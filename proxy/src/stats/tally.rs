//! [`Tally`]: the statement counters of one CPU stripe (statements per hostgroup, latency,
//! relayed bytes, digests), and [`merge_digests`], which adds the stripes' digests up for
//! the admin table.

use super::{DigestStats, Statement};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What the statements counted on one CPU add up to.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Statements by destination hostgroup (a handful: a list beats a map).
    pub by_hostgroup: Vec<(u32, u64)>,
    /// Bytes relayed from backends to clients.
    pub bytes_relayed: u64,
    /// Statement latency, total microseconds.
    pub latency_us_total: u64,
    /// Statements timed.
    pub latency_count: u64,
    /// Digests seen on this stripe, by 64-bit hash.
    pub digests: HashMap<u64, DigestTally, foldhash::fast::RandomState>,
}

/// One digest's counters on one stripe.
#[derive(Debug)]
pub(super) struct DigestTally {
    stats: DigestStats,
    /// When its last execution here started: the newest stripe names hostgroup and user.
    last: Instant,
}

impl Tally {
    /// Counts `s`; `text` gives the normalized text of a digest this stripe has not seen.
    /// A new digest on a stripe holding `s.max_digests` first drops the least recently seen
    /// tenth of them; their hashes are returned (empty, without allocating, otherwise).
    pub fn count(&mut self, s: &Statement<'_>, text: impl FnOnce() -> Arc<str>) -> Vec<u64> {
        match self
            .by_hostgroup
            .iter_mut()
            .find(|(h, _)| *h == s.hostgroup)
        {
            Some((_, n)) => *n += 1,
            None => self.by_hostgroup.push((s.hostgroup, 1)),
        }
        self.latency_us_total += s.micros;
        self.latency_count += 1;
        let mut dropped = Vec::new();
        if self.digests.len() >= s.max_digests && !self.digests.contains_key(&s.digest) {
            dropped = self.drop_least_recent(s.max_digests);
        }
        let digest = self.digests.entry(s.digest).or_insert_with(|| DigestTally {
            stats: DigestStats {
                text: text(),
                hostgroup: s.hostgroup,
                user: s.user.clone(),
                count: 0,
                sum_us: 0,
                min_us: u64::MAX,
                max_us: 0,
                rows: 0,
            },
            last: s.started,
        });
        let d = &mut digest.stats;
        d.count += 1;
        d.sum_us += s.micros;
        d.min_us = d.min_us.min(s.micros);
        d.max_us = d.max_us.max(s.micros);
        d.rows += s.rows;
        d.hostgroup = s.hostgroup;
        if !Arc::ptr_eq(&d.user, s.user) && d.user != *s.user {
            d.user = s.user.clone();
        }
        digest.last = s.started;
        dropped
    }

    /// Drops the least recently seen digests so that a tenth of `max` is free again (one
    /// partial sort per that many new digests); returns their hashes.
    fn drop_least_recent(&mut self, max: usize) -> Vec<u64> {
        let keep = max - (max / 10).max(1);
        let n = self.digests.len().saturating_sub(keep);
        let mut by_age: Vec<(Instant, u64)> =
            self.digests.iter().map(|(&h, d)| (d.last, h)).collect();
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        by_age.truncate(n);
        let dropped: Vec<u64> = by_age.into_iter().map(|(_, h)| h).collect();
        for h in &dropped {
            self.digests.remove(h);
        }
        dropped
    }
}

/// Adds up one digest's stripes: counts and times summed, bounds combined, hostgroup and
/// user from the stripe whose last execution started last; the `max` most recently seen.
pub(super) fn merge_digests<'a>(
    tallies: impl Iterator<Item = &'a Tally>,
    max: usize,
) -> HashMap<u64, DigestStats> {
    let mut merged: HashMap<u64, (DigestStats, Instant)> = HashMap::new();
    for tally in tallies {
        for (&digest, t) in &tally.digests {
            let Some((m, last)) = merged.get_mut(&digest) else {
                merged.insert(digest, (t.stats.clone(), t.last));
                continue;
            };
            m.count += t.stats.count;
            m.sum_us += t.stats.sum_us;
            m.min_us = m.min_us.min(t.stats.min_us);
            m.max_us = m.max_us.max(t.stats.max_us);
            m.rows += t.stats.rows;
            if t.last > *last {
                *last = t.last;
                m.hostgroup = t.stats.hostgroup;
                m.user = t.stats.user.clone();
            }
        }
    }
    let mut merged: Vec<(u64, (DigestStats, Instant))> = merged.into_iter().collect();
    if merged.len() > max {
        // Newest first: the stripes together may hold more than one stripe's cap.
        merged.select_nth_unstable_by(max, |a, b| b.1 .1.cmp(&a.1 .1));
        merged.truncate(max);
    }
    merged.into_iter().map(|(k, (d, _))| (k, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn statement<'a>(
        user: &'a Arc<str>,
        hostgroup: u32,
        micros: u64,
        started: Instant,
    ) -> Statement<'a> {
        Statement {
            hostgroup,
            user,
            digest: 7,
            sql: b"SELECT 1",
            micros,
            rows: 1,
            started,
            digest_text: |_| String::new(),
            max_digests: 100,
        }
    }

    #[test]
    fn stripes_add_up_and_the_newest_names_hostgroup_and_user() {
        let (alice, bob): (Arc<str>, Arc<str>) = (Arc::from("alice"), Arc::from("bob"));
        let t0 = Instant::now();
        let text = || Arc::from("SELECT ?");
        let (mut a, mut b) = (Tally::default(), Tally::default());
        a.count(&statement(&alice, 30, 5, t0), text);
        a.count(
            &statement(&alice, 30, 9, t0 + Duration::from_millis(3)),
            text,
        );
        b.count(&statement(&bob, 40, 2, t0 + Duration::from_millis(2)), text);
        assert_eq!(a.by_hostgroup, vec![(30, 2)]);
        assert_eq!((a.latency_us_total, a.latency_count), (14, 2));
        let merged = merge_digests([&a, &b].into_iter(), 100);
        let d = &merged[&7];
        assert_eq!(
            (d.count, d.sum_us, d.min_us, d.max_us, d.rows),
            (3, 16, 2, 9, 3)
        );
        assert_eq!((d.hostgroup, &*d.user, &*d.text), (30, "alice", "SELECT ?"));
        // A later execution on the other stripe names its hostgroup and user.
        b.count(&statement(&bob, 40, 1, t0 + Duration::from_millis(4)), text);
        let d = &merge_digests([&a, &b].into_iter(), 100)[&7];
        assert_eq!(
            (d.count, d.min_us, d.hostgroup, &*d.user),
            (4, 1, 40, "bob")
        );
    }
}
