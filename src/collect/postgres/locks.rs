//! The blocking-lock tree: who holds up whom, from each session's pg_blocking_pids. Pure.

use std::cmp::Reverse;
use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use super::Session;

/// One line of the lock tree, in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeRow {
    /// Index into the sessions the tree was built from.
    pub index: usize,
    pub pid: i32,
    /// 0 for a root blocker; a waiter is one deeper than the session it waits for.
    pub depth: usize,
    /// A root that is itself waiting, for a backend not in the list: another role's session
    /// we may not see, autovacuum, or one that ended a moment ago.
    pub blocker_hidden: bool,
    /// Part of a wait cycle (a deadlock PostgreSQL has not broken yet, after
    /// deadlock_timeout). The cycle is shown from its member with the oldest transaction.
    pub in_cycle: bool,
    /// Sessions waiting on this one, directly or through others.
    pub blocks: usize,
}

/// The sessions involved in lock waits, as a forest: root blockers first, each waiter
/// indented under the first pid of its `blocked_by` that is in `sessions` (pg_blocking_pids
/// puts the lock holder first). Waiters are ordered by how long they have waited, longest
/// first; roots by how many sessions they block in all, most first, then by how long they
/// have waited (or, when not waiting, the age of their transaction). Sessions neither waiting
/// nor blocking are left out. Never loops: a cycle is cut at its oldest transaction.
pub fn lock_tree(sessions: &[Session]) -> Vec<TreeRow> {
    let n = sessions.len();
    let pos: HashMap<i32, usize> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.pid, i))
        .collect();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut hidden = vec![false; n];
    let mut involved = vec![false; n];
    for (i, s) in sessions.iter().enumerate() {
        if s.blocked_by.is_empty() {
            continue;
        }
        involved[i] = true;
        match s
            .blocked_by
            .iter()
            .find_map(|p| pos.get(p).copied().filter(|&j| j != i))
        {
            Some(j) => {
                parent[i] = Some(j);
                involved[j] = true;
            }
            None => hidden[i] = true,
        }
    }

    let in_cycle = break_cycles(sessions, &mut parent, &involved);

    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    let longest_wait_first =
        |&i: &usize| (later_is_none(sessions[i].wait_start()), sessions[i].pid);
    for c in &mut children {
        c.sort_by_key(longest_wait_first);
    }

    // Preorder over the (now acyclic) forest; sizes summed bottom-up in reverse preorder.
    let roots: Vec<usize> = (0..n)
        .filter(|&i| involved[i] && parent[i].is_none())
        .collect();
    let mut preorder = Vec::with_capacity(n);
    let mut stack = roots.clone();
    while let Some(i) = stack.pop() {
        preorder.push(i);
        stack.extend(children[i].iter().copied());
    }
    let mut blocks = vec![0usize; n];
    for &i in preorder.iter().rev() {
        if let Some(p) = parent[i] {
            blocks[p] += blocks[i] + 1;
        }
    }

    let mut roots = roots;
    roots.sort_by_key(|&i| {
        let s = &sessions[i];
        let since = s.wait_start().or(s.xact_start);
        (Reverse(blocks[i]), later_is_none(since), s.pid)
    });
    let mut rows = Vec::new();
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        rows.push(TreeRow {
            index: i,
            pid: sessions[i].pid,
            depth,
            blocker_hidden: hidden[i],
            in_cycle: in_cycle[i],
            blocks: blocks[i],
        });
        stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
    }
    rows
}

/// Sort key: earlier timestamps first, missing ones last.
fn later_is_none(t: Option<Timestamp>) -> (bool, Option<Timestamp>) {
    (t.is_none(), t)
}

/// Finds every cycle of `parent` links and cuts each at its member with the oldest
/// transaction (lowest pid on a tie), which becomes a root. Returns the cycle members.
fn break_cycles(
    sessions: &[Session],
    parent: &mut [Option<usize>],
    involved: &[bool],
) -> Vec<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let n = sessions.len();
    let mut mark = vec![Mark::New; n];
    let mut in_cycle = vec![false; n];
    for start in (0..n).filter(|&i| involved[i]) {
        let mut path = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match mark[i] {
                Mark::Done => break,
                Mark::OnPath => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    let cycle = &path[from..];
                    for &c in cycle {
                        in_cycle[c] = true;
                    }
                    if let Some(&oldest) = cycle.iter().min_by_key(|&&c| {
                        let s: &Session = &sessions[c];
                        (later_is_none(s.xact_start), s.pid)
                    }) {
                        parent[oldest] = None;
                    }
                    break;
                }
                Mark::New => {
                    mark[i] = Mark::OnPath;
                    path.push(i);
                    cur = parent[i];
                }
            }
        }
        for p in path {
            mark[p] = Mark::Done;
        }
    }
    in_cycle
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::postgres::{LockWait, State};

    /// A session that started its transaction and (if it waits) its wait at `t` seconds.
    fn s(pid: i32, blocked_by: &[i32], t: i64) -> Session {
        let at = Timestamp::from_second(1_000_000 + t).unwrap();
        Session {
            pid,
            user: Some("app".into()),
            database: Some("shop".into()),
            application: String::new(),
            client: Some("local".into()),
            state: State::Active,
            wait_event_type: (!blocked_by.is_empty()).then(|| "Lock".to_owned()),
            wait_event: None,
            backend_start: Some(at),
            xact_start: Some(at),
            query_start: Some(at),
            state_change: Some(at),
            query: String::new(),
            blocked_by: blocked_by.to_vec(),
            waiting_for: (!blocked_by.is_empty()).then(|| LockWait {
                mode: "ShareLock".into(),
                locktype: "transactionid".into(),
                relation: None,
                since: Some(at),
            }),
        }
    }

    fn shape(rows: &[TreeRow]) -> Vec<(i32, usize)> {
        rows.iter().map(|r| (r.pid, r.depth)).collect()
    }

    #[test]
    fn a_chain_is_indented_level_by_level() {
        let sessions = [s(3, &[2], 30), s(1, &[], 0), s(2, &[1], 10), s(9, &[], 0)];
        let rows = lock_tree(&sessions);
        assert_eq!(shape(&rows), [(1, 0), (2, 1), (3, 2)]);
        assert_eq!(rows[0].blocks, 2);
        assert_eq!(rows[1].blocks, 1);
        assert_eq!(rows[0].index, 1);
        assert!(rows.iter().all(|r| !r.blocker_hidden && !r.in_cycle));
    }

    #[test]
    fn fan_out_lists_the_longest_waiter_first_and_the_biggest_root_first() {
        let sessions = [
            s(10, &[], 0),
            s(11, &[10], 50),
            s(12, &[10], 20),
            s(13, &[10], 40),
            s(20, &[], 5),
            s(21, &[20], 6),
        ];
        let rows = lock_tree(&sessions);
        assert_eq!(
            shape(&rows),
            [(10, 0), (12, 1), (13, 1), (11, 1), (20, 0), (21, 1)]
        );
        assert_eq!(rows[0].blocks, 3);
    }

    #[test]
    fn a_waiter_with_several_blockers_goes_under_the_first_present_one() {
        // 4 waits for 99 (not listed), then 2, then 1: it belongs under 2.
        let sessions = [s(1, &[], 0), s(2, &[], 1), s(4, &[99, 2, 1], 5)];
        let rows = lock_tree(&sessions);
        assert_eq!(shape(&rows), [(2, 0), (4, 1)]);
        assert!(!rows[1].blocker_hidden);
    }

    #[test]
    fn a_waiter_whose_blockers_are_all_hidden_is_a_marked_root() {
        let sessions = [s(5, &[77], 3), s(6, &[5], 4), s(7, &[], 0), s(8, &[7], 1)];
        let rows = lock_tree(&sessions);
        // Both roots block one session; 5 waits since t=3, 7's transaction began at t=0.
        assert_eq!(shape(&rows), [(7, 0), (8, 1), (5, 0), (6, 1)]);
        assert!(rows[2].blocker_hidden);
        assert!(!rows[0].blocker_hidden);
    }

    #[test]
    fn a_cycle_is_cut_at_its_oldest_transaction_and_never_loops() {
        // 1 → 2 → 3 → 1, with 4 waiting on 3; 2 has the oldest transaction.
        let sessions = [
            s(1, &[2], 10),
            s(2, &[3], 5),
            s(3, &[1], 20),
            s(4, &[3], 30),
        ];
        let rows = lock_tree(&sessions);
        assert_eq!(shape(&rows), [(2, 0), (1, 1), (3, 2), (4, 3)]);
        assert!(rows[..3].iter().all(|r| r.in_cycle));
        assert!(!rows[3].in_cycle);
        assert_eq!(rows[0].blocks, 3);

        // Two sessions blocking each other, and one blocking itself (ignored as a blocker).
        let rows = lock_tree(&[s(1, &[2], 1), s(2, &[1], 2), s(3, &[3], 0)]);
        assert_eq!(shape(&rows), [(1, 0), (2, 1), (3, 0)]);
        assert!(rows[2].blocker_hidden);
    }

    #[test]
    fn no_waits_no_tree() {
        assert!(lock_tree(&[s(1, &[], 0), s(2, &[], 0)]).is_empty());
        assert!(lock_tree(&[]).is_empty());
    }
}
