//! A selection that survives rows appearing and disappearing under it. Pure.

/// Remembers the selected row by key, so a container appearing above it does not move the
/// cursor to another row; falls back to the last index when the row is gone.
#[derive(Debug, Clone)]
pub struct Selection<K> {
    key: Option<K>,
    index: usize,
}

impl<K> Default for Selection<K> {
    fn default() -> Self {
        Selection {
            key: None,
            index: 0,
        }
    }
}

impl<K: PartialEq + Clone> Selection<K> {
    /// The selected index in `keys` (0 for an empty list).
    pub fn index(&self, keys: &[K]) -> usize {
        self.key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x == k))
            .unwrap_or(self.index.min(keys.len().saturating_sub(1)))
    }

    pub fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// Selects the row with this key, wherever it is listed.
    pub fn select_key(&mut self, key: K) {
        self.key = Some(key);
    }

    pub fn select(&mut self, keys: &[K], index: usize) {
        self.index = index.min(keys.len().saturating_sub(1));
        self.key = keys.get(self.index).cloned();
    }

    /// Moves by `delta` rows, stopping at the ends.
    pub fn move_by(&mut self, keys: &[K], delta: isize) {
        let from = self.index(keys);
        self.select(keys, from.saturating_add_signed(delta));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_its_row_when_rows_are_inserted_above() {
        let mut s = Selection::default();
        s.select(&["a", "b", "c"], 1);
        assert_eq!(s.index(&["new", "a", "b", "c"]), 2);
    }

    #[test]
    fn selection_falls_back_to_its_index_when_the_row_is_gone() {
        let mut s = Selection::default();
        s.select(&["a", "b", "c"], 2);
        assert_eq!(s.index(&["a", "b"]), 1);
        assert_eq!(s.index(&[] as &[&str]), 0);
    }

    #[test]
    fn moving_stops_at_the_ends() {
        let keys = ["a", "b", "c"];
        let mut s = Selection::default();
        s.move_by(&keys, -5);
        assert_eq!(s.index(&keys), 0);
        s.move_by(&keys, 10);
        assert_eq!(s.index(&keys), 2);
    }
}
