//! Panes that list hosts, each followed by the items of one kind it has configured (backup
//! sources, restore drills): the rows, the selection, the open detail, and what Enter and Esc
//! do, written once. A kind says which items a host has, what the filter matches, and the
//! pane's key contexts and hints. Pure.

use std::marker::PhantomData;

use super::Filter;
use super::hosts::HostState;
use super::list::Selection;
use super::pane::{Ctx, Nav, PaneState};
use crate::config::keymap::{Action, Context};
use crate::event::HostId;

/// One kind of configured item.
pub trait HostItems: std::fmt::Debug {
    type Item: std::fmt::Debug;
    /// The pane's key contexts, beside the global ones.
    const CONTEXTS: &'static [Context];
    /// Key hints for the status bar.
    const HINTS: &'static [(Action, &'static str)];
    fn items(host: &HostState) -> &[Self::Item];
    /// Whether `item` matches `filter` (lowercase, not empty).
    fn matches(item: &Self::Item, filter: &str) -> bool;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemKey {
    Host(HostId),
    /// A host's `index`-th item.
    Item(HostId, usize),
}

#[derive(Debug)]
pub enum ItemRow<'a, T> {
    Host(&'a HostState),
    Item(&'a HostState, usize, &'a T),
}

#[derive(Debug)]
pub struct ItemsView<K> {
    pub selection: Selection<ItemKey>,
    pub filter: Filter,
    /// The item whose detail is open.
    pub detail: Option<(HostId, usize)>,
    kind: PhantomData<K>,
}

impl<K> Default for ItemsView<K> {
    fn default() -> Self {
        ItemsView {
            selection: Selection::default(),
            filter: Filter::default(),
            detail: None,
            kind: PhantomData,
        }
    }
}

impl<K: HostItems> ItemsView<K> {
    /// Host rows each followed by their items, in config order; hosts without items are left
    /// out, and so are hosts none of whose items match a filter.
    pub fn rows<'a>(hosts: &[&'a HostState], filter: &str) -> Vec<(ItemKey, ItemRow<'a, K::Item>)> {
        let filter = filter.to_lowercase();
        let mut out = Vec::new();
        for h in hosts.iter().filter(|h| !K::items(h).is_empty()) {
            let items: Vec<(usize, &K::Item)> = K::items(h)
                .iter()
                .enumerate()
                .filter(|(_, item)| filter.is_empty() || K::matches(item, &filter))
                .collect();
            if items.is_empty() && !filter.is_empty() {
                continue;
            }
            out.push((ItemKey::Host(h.id), ItemRow::Host(h)));
            out.extend(
                items
                    .into_iter()
                    .map(|(i, item)| (ItemKey::Item(h.id, i), ItemRow::Item(h, i, item))),
            );
        }
        out
    }

    /// The keys of [`ItemsView::rows`], for moving and selecting.
    pub fn keys(hosts: &[&HostState], filter: &str) -> Vec<ItemKey> {
        Self::rows(hosts, filter)
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    /// The selected item: the open detail's, or the cursor's.
    pub fn selected(&self, hosts: &[&HostState]) -> Option<(HostId, usize)> {
        if self.detail.is_some() {
            return self.detail;
        }
        let keys = Self::keys(hosts, &self.filter.text);
        match keys.get(self.selection.index(&keys))? {
            ItemKey::Item(h, i) => Some((*h, *i)),
            ItemKey::Host(_) => None,
        }
    }
}

impl<K: HostItems> PaneState for ItemsView<K> {
    super::pane::filter_field!();
    fn contexts(&self) -> &'static [Context] {
        K::CONTEXTS
    }
    fn move_by(&mut self, cx: &Ctx<'_>, delta: isize) {
        let keys = Self::keys(&cx.hosts, &self.filter.text);
        self.selection.move_by(&keys, delta);
    }
    /// An item opens its detail; a host row shows only that host.
    fn open(&mut self, cx: &Ctx<'_>) -> Option<Nav> {
        let keys = Self::keys(&cx.hosts, &self.filter.text);
        match keys.get(self.selection.index(&keys)) {
            Some(ItemKey::Item(h, i)) => self.detail = Some((*h, *i)),
            Some(ItemKey::Host(h)) => return Some(Nav::Scope(*h)),
            None => {}
        }
        None
    }
    fn back(&mut self) -> bool {
        self.detail.take().is_some()
    }
    fn hints(&self) -> &'static [(Action, &'static str)] {
        K::HINTS
    }
}
