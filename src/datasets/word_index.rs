//! Keras's word index files (`imdb_word_index.json`, `reuters_word_index.json`:
//! word -> rank, ranks from 1) and turning id sequences back into words the way the
//! tutorials' `decode_review` does.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};

use crate::{Error, Result};

/// A word -> index mapping, keeping the file's order (Python's dict order), so that
/// reversing it resolves duplicate indices exactly as Python does (last one wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WordIndex {
    entries: Vec<(String, i64)>,
    position: HashMap<String, usize>,
}

impl WordIndex {
    /// Parses the JSON object of a word index file; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<WordIndex> {
        let mut de = serde_json::Deserializer::from_str(text);
        let index = de
            .deserialize_map(EntriesVisitor)
            .and_then(|index| de.end().map(|()| index))
            .map_err(|e| {
                Error::format(
                    path,
                    format!("not a word index (a JSON object of word: int): {e}"),
                )
            })?;
        Ok(index)
    }

    /// Reads a word index file.
    pub fn read(path: &Path) -> Result<WordIndex> {
        let text = crate::io::read_input_to_string(path)?;
        WordIndex::from_json(&text, path)
    }

    fn insert(&mut self, word: String, index: i64) {
        // Like a Python dict: a repeated key keeps its first position, takes the last value.
        match self.position.get(&word) {
            Some(&i) => self.entries[i].1 = index,
            None => {
                self.position.insert(word.clone(), self.entries.len());
                self.entries.push((word, index));
            }
        }
    }

    /// The index of `word`, as in `word_index[word]`.
    pub fn get(&self, word: &str) -> Option<i64> {
        self.position.get(word).map(|&i| self.entries[i].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(word, index)` pairs in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.entries.iter().map(|(w, i)| (w.as_str(), *i))
    }

    /// `dict((i, w) for w, i in word_index.items())`, for decoding ids that were
    /// offset by `index_from` when loading (3 by default).
    pub fn reverse(&self, index_from: i32) -> ReverseWordIndex {
        let mut by_index = HashMap::with_capacity(self.entries.len());
        for (w, i) in &self.entries {
            by_index.insert(*i, w.clone());
        }
        ReverseWordIndex {
            by_index,
            index_from: i64::from(index_from),
        }
    }
}

/// Index -> word, with the loader's `index_from` offset.
#[derive(Clone, Debug)]
pub struct ReverseWordIndex {
    by_index: HashMap<i64, String>,
    index_from: i64,
}

/// What an id without a word decodes to (padding, start, out-of-vocabulary and
/// unknown ids), as in the tutorials' `reverse_word_index.get(i - 3, '?')`.
pub const UNKNOWN_WORD: &str = "?";

impl ReverseWordIndex {
    /// The word for a loaded id: `reverse_word_index.get(id - index_from)`.
    pub fn word(&self, id: i32) -> Option<&str> {
        self.by_index
            .get(&(i64::from(id) - self.index_from))
            .map(String::as_str)
    }

    /// `' '.join(reverse_word_index.get(i - index_from, '?') for i in ids)`: ids 0, 1
    /// and 2 (padding, start, out-of-vocabulary with the default `index_from=3`) and
    /// any id without a word become `?`.
    pub fn decode(&self, ids: &[i32]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .map(|&i| self.word(i).unwrap_or(UNKNOWN_WORD))
            .collect();
        words.join(" ")
    }
}

/// One-shot form of [`ReverseWordIndex::decode`] (the tutorials' `decode_review`).
pub fn decode_review(ids: &[i32], word_index: &WordIndex, index_from: i32) -> String {
    word_index.reverse(index_from).decode(ids)
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = WordIndex;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object mapping words to integer indices")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<WordIndex, A::Error> {
        let mut index = WordIndex::default();
        while let Some((word, i)) = map.next_entry::<String, i64>()? {
            index.insert(word, i);
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_the_tutorial() {
        let wi = WordIndex::from_json(r#"{"the": 1, "movie": 2, "great": 3}"#, Path::new("w.json"))
            .unwrap();
        assert_eq!(wi.get("movie"), Some(2));
        let rev = wi.reverse(3);
        // 1 = start, 2 = oov, 0 = padding; 4.. are words 1..
        assert_eq!(
            rev.decode(&[1, 4, 5, 2, 6, 0, 99]),
            "? the movie ? great ? ?"
        );
        assert_eq!(decode_review(&[3], &wi, 0), "great");
    }

    #[test]
    fn duplicates_follow_python_dict_semantics() {
        let wi = WordIndex::from_json(r#"{"a": 1, "b": 1, "a": 2}"#, Path::new("w.json")).unwrap();
        assert_eq!(wi.len(), 2);
        assert_eq!(wi.get("a"), Some(2));
        // Reverse: a->2 then b->1 (b overwrote a's old 1).
        let rev = wi.reverse(0);
        assert_eq!(rev.word(1), Some("b"));
        assert_eq!(rev.word(2), Some("a"));
    }

    #[test]
    fn bad_json_names_the_file() {
        for bad in [
            "[1, 2]",
            r#"{"a": "x"}"#,
            r#"{"a": 1"#,
            r#"{"a": 1} x"#,
            r#"{"a": 1.5}"#,
        ] {
            let err = WordIndex::from_json(bad, Path::new("idx.json"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("idx.json: not a word index"),
                "{bad}: {err}"
            );
        }
    }
}
