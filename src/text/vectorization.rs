//! `TextVectorization`: raw strings to integer token ids, as
//! `keras.layers.TextVectorization(output_mode="int", split="whitespace")`.
//!
//! Pipeline per text (checked against Keras 3 with TensorFlow, see
//! tests/fixtures/make_preprocessing.py):
//! 1. lowercase (`tf.strings.lower` lowercases ASCII letters only: "É" stays "É");
//! 2. **addition**: if `strip_html_breaks` (the default), every `<br />` becomes a space.
//!    Raw IMDB reviews use it as a line break; the Keras IMDB tutorial does the same in
//!    its `custom_standardization`, in this order (after lowercasing, before stripping
//!    punctuation). With `strip_html_breaks: false` the output is exactly Keras's
//!    built-in `"lower_and_strip_punctuation"`;
//! 3. strip punctuation: remove the 32 ASCII characters of Keras's regex
//!    ``[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']`` (non-ASCII punctuation is kept);
//! 4. split on runs of ASCII whitespace (space, \t, \n, \v, \f, \r; not U+00A0), as
//!    `tf.strings.split`.
//!
//! The vocabulary built by [`TextVectorization::adapt`] is Keras's: index 0 is the
//! padding token `""`, 1 the OOV token `"[UNK]"`, then tokens by decreasing count, ties
//! broken by *decreasing* byte-wise token order (Keras sorts with
//! `np.lexsort((tokens, counts))[::-1]`), cut to `max_tokens - 2` learned tokens.

use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::io::write_atomic;
use crate::{Error, Result};

/// The padding token (index 0).
pub const PAD_TOKEN: &str = "";
/// The out-of-vocabulary token (index 1).
pub const OOV_TOKEN: &str = "[UNK]";
/// Index of out-of-vocabulary tokens.
pub const OOV_INDEX: i32 = 1;
/// Largest accepted `output_sequence_length` (16M tokens per text): far beyond any
/// real use, and small enough that the output size can never overflow.
pub const MAX_SEQUENCE_LENGTH: usize = 1 << 24;

/// Keras's `standardize` argument (`None` is Keras's `standardize=None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standardize {
    #[default]
    LowerAndStripPunctuation,
    Lower,
    StripPunctuation,
    /// No standardization (Keras `standardize=None`; serialized as `"none"`).
    None,
}

impl Standardize {
    fn lower(self) -> bool {
        matches!(
            self,
            Standardize::Lower | Standardize::LowerAndStripPunctuation
        )
    }
    fn strip(self) -> bool {
        matches!(
            self,
            Standardize::StripPunctuation | Standardize::LowerAndStripPunctuation
        )
    }
}

/// Arguments of [`TextVectorization`], named as Keras's (plus `strip_html_breaks`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextVectorizationConfig {
    /// Vocabulary size including the 2 reserved entries (`""`, `"[UNK]"`); at least 2.
    pub max_tokens: Option<usize>,
    pub standardize: Standardize,
    /// Replace `<br />` with a space before stripping punctuation (not in Keras's
    /// built-in standardizations; see the module docs). Default `true`.
    pub strip_html_breaks: bool,
    /// Pad (with 0, at the end) or truncate (at the end) every output row to this length.
    pub output_sequence_length: Option<usize>,
}

impl Default for TextVectorizationConfig {
    fn default() -> Self {
        TextVectorizationConfig {
            max_tokens: None,
            standardize: Standardize::LowerAndStripPunctuation,
            strip_html_breaks: true,
            output_sequence_length: None,
        }
    }
}

impl TextVectorizationConfig {
    fn validate(&self) -> Result<()> {
        if let Some(m) = self.max_tokens
            && m < 2
        {
            return Err(Error::invalid_argument(
                "TextVectorization",
                "max_tokens",
                format!("must be at least 2 (it includes \"\" and \"[UNK]\"), got {m}"),
            ));
        }
        if let Some(len) = self.output_sequence_length
            && !(1..=MAX_SEQUENCE_LENGTH).contains(&len)
        {
            return Err(Error::invalid_argument(
                "TextVectorization",
                "output_sequence_length",
                format!("must be in 1..={MAX_SEQUENCE_LENGTH} (or None), got {len}"),
            ));
        }
        Ok(())
    }
}

/// Text to token ids with a learned vocabulary. Serializes (serde) as
/// `{"config": {...}, "vocabulary": [...]}` so it can be saved beside a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "TextVectorizationState", into = "TextVectorizationState")]
pub struct TextVectorization {
    config: TextVectorizationConfig,
    vocabulary: Vec<String>,
    index: FxHashMap<String, i32>,
}

/// The serialized form of a [`TextVectorization`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextVectorizationState {
    pub config: TextVectorizationConfig,
    /// The full vocabulary, starting with `""` and `"[UNK]"`.
    pub vocabulary: Vec<String>,
}

impl From<TextVectorization> for TextVectorizationState {
    fn from(tv: TextVectorization) -> Self {
        TextVectorizationState {
            config: tv.config,
            vocabulary: tv.vocabulary,
        }
    }
}

impl TryFrom<TextVectorizationState> for TextVectorization {
    type Error = Error;
    fn try_from(state: TextVectorizationState) -> Result<Self> {
        TextVectorization::with_vocabulary(state.config, state.vocabulary)
    }
}

/// ASCII whitespace as `tf.strings.split` sees it (includes \v, unlike
/// `u8::is_ascii_whitespace`).
fn is_split_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Keras's punctuation class: all 32 ASCII punctuation characters.
fn is_stripped_punctuation(b: u8) -> bool {
    b.is_ascii_punctuation()
}

/// Whether `rest` starts with `<br />` once lowercased (if lowercasing is on).
fn html_break_at(rest: &[u8], lower: bool) -> bool {
    rest.len() >= HTML_BREAK.len()
        && rest.iter().zip(HTML_BREAK).all(|(&a, &b)| {
            if lower {
                a.to_ascii_lowercase() == b
            } else {
                a == b
            }
        })
}

/// Reusable buffers of one worker: the standardized text and its token spans.
#[derive(Default)]
struct Scratch {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl Scratch {
    fn tokens(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(a, b)| &self.text[a..b])
    }
}

const HTML_BREAK: &[u8] = b"<br />";

impl TextVectorization {
    /// A layer with the given config and an empty vocabulary (`["", "[UNK]"]`).
    pub fn new(config: TextVectorizationConfig) -> Result<Self> {
        Self::with_vocabulary(config, Vec::new())
    }

    /// A layer with a fixed vocabulary (Keras's `vocabulary=` / `set_vocabulary`).
    /// `vocabulary` may start with `"", "[UNK]"` or omit them (they are then added);
    /// duplicates, a misplaced reserved token, or more than `max_tokens` entries are
    /// errors naming the entry.
    pub fn with_vocabulary(
        config: TextVectorizationConfig,
        vocabulary: Vec<String>,
    ) -> Result<Self> {
        config.validate()?;
        let ctx = "TextVectorization vocabulary";
        let mut vocabulary = vocabulary;
        let has_reserved =
            vocabulary.len() >= 2 && vocabulary[0] == PAD_TOKEN && vocabulary[1] == OOV_TOKEN;
        if !has_reserved {
            vocabulary.splice(0..0, [PAD_TOKEN.to_string(), OOV_TOKEN.to_string()]);
        }
        if let Some(m) = config.max_tokens
            && vocabulary.len() > m
        {
            return Err(Error::invalid_argument(
                ctx,
                "vocabulary",
                format!(
                    "has {} entries (with \"\" and \"[UNK]\") but max_tokens is {m}",
                    vocabulary.len()
                ),
            ));
        }
        if vocabulary.len() > i32::MAX as usize {
            return Err(Error::invalid_argument(
                ctx,
                "vocabulary",
                "too large for i32 ids",
            ));
        }
        let mut index = FxHashMap::default();
        index.reserve(vocabulary.len());
        for (i, token) in vocabulary.iter().enumerate() {
            if i >= 2 && (token == PAD_TOKEN || token == OOV_TOKEN) {
                return Err(Error::invalid_argument(
                    ctx,
                    "vocabulary",
                    format!(
                        "reserved token {} found at index {i}; it may only be at index {}",
                        crate::budget::quote(token, crate::budget::QUOTE_CHARS),
                        if token == PAD_TOKEN { 0 } else { 1 }
                    ),
                ));
            }
            if let Some(prev) = index.insert(token.clone(), i as i32) {
                return Err(Error::invalid_argument(
                    ctx,
                    "vocabulary",
                    format!(
                        "token {} appears twice, at index {prev} and {i}",
                        crate::budget::quote(token, crate::budget::QUOTE_CHARS)
                    ),
                ));
            }
        }
        Ok(TextVectorization {
            config,
            vocabulary,
            index,
        })
    }

    pub fn config(&self) -> &TextVectorizationConfig {
        &self.config
    }

    /// The vocabulary, index = token id (Keras's `get_vocabulary()`).
    pub fn get_vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    /// Number of ids, including the 2 reserved ones (Keras's `vocabulary_size()`).
    pub fn vocabulary_size(&self) -> usize {
        self.vocabulary.len()
    }

    /// The id of an already standardized token (`1` if unknown).
    pub fn token_id(&self, token: &str) -> i32 {
        self.index.get(token).copied().unwrap_or(OOV_INDEX)
    }

    /// The standardized text (steps 1-3 of the module docs).
    pub fn standardize(&self, text: &str) -> String {
        let mut scratch = Scratch::default();
        self.tokenize_into(text, &mut scratch, usize::MAX);
        scratch.text
    }

    /// The tokens of `text` after standardization and splitting.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        let mut scratch = Scratch::default();
        self.tokenize_into(text, &mut scratch, usize::MAX);
        scratch.tokens().map(str::to_owned).collect()
    }

    /// Standardizes `text` into `scratch.text` and records the byte spans of its first
    /// `max_tokens` tokens, in one pass (this is the hot loop of adapt and vectorize).
    /// Only ASCII bytes are ever changed, dropped or split on, so non-ASCII runs are
    /// copied whole and every span lies on character boundaries.
    fn tokenize_into(&self, text: &str, scratch: &mut Scratch, max_tokens: usize) {
        let out = &mut scratch.text;
        let spans = &mut scratch.spans;
        out.clear();
        spans.clear();
        let lower = self.config.standardize.lower();
        let strip = self.config.standardize.strip();
        let breaks = self.config.strip_html_breaks;
        let bytes = text.as_bytes();
        let mut start: Option<usize> = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let is_space = if b.is_ascii() {
                is_split_byte(b) || (breaks && b == b'<' && html_break_at(&bytes[i..], lower))
            } else {
                false
            };
            if is_space {
                if let Some(s) = start.take() {
                    spans.push((s, out.len()));
                }
                out.push(' ');
                i += if b == b'<' { HTML_BREAK.len() } else { 1 };
                continue;
            }
            if strip && is_stripped_punctuation(b) {
                i += 1;
                continue;
            }
            if start.is_none() {
                if spans.len() == max_tokens {
                    return;
                }
                start = Some(out.len());
            }
            if b.is_ascii() {
                out.push(if lower { b.to_ascii_lowercase() } else { b } as char);
                i += 1;
            } else {
                // The run of non-ASCII characters up to the next ASCII byte; it ends on a
                // character boundary (UTF-8 continuation bytes are never ASCII).
                let end = bytes[i..]
                    .iter()
                    .position(u8::is_ascii)
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&text[i..end]);
                i = end;
            }
        }
        if let Some(s) = start {
            spans.push((s, out.len()));
        }
    }

    /// Builds the vocabulary from `texts` (replacing any previous one), as Keras's
    /// `adapt`. Counting runs in parallel; the result does not depend on thread count.
    pub fn adapt<S: AsRef<str> + Sync>(&mut self, texts: &[S]) {
        let counts = texts
            .par_iter()
            .fold(
                || (FxHashMap::<String, u64>::default(), Scratch::default()),
                |(mut counts, mut scratch), text| {
                    self.tokenize_into(text.as_ref(), &mut scratch, usize::MAX);
                    for tok in scratch.tokens() {
                        match counts.get_mut(tok) {
                            Some(c) => *c += 1,
                            None => {
                                counts.insert(tok.to_owned(), 1);
                            }
                        }
                    }
                    (counts, scratch)
                },
            )
            .map(|(counts, _)| counts)
            .reduce(FxHashMap::default, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                for (tok, c) in b {
                    *a.entry(tok).or_insert(0) += c;
                }
                a
            });
        let mut ranked: Vec<(String, u64)> = counts
            .into_iter()
            .filter(|(t, _)| t != PAD_TOKEN && t != OOV_TOKEN)
            .collect();
        // Keras: np.lexsort((tokens, counts))[::-1] = count desc, then token desc.
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
        if let Some(m) = self.config.max_tokens {
            ranked.truncate(m - 2);
        }
        let mut vocabulary = Vec::with_capacity(ranked.len() + 2);
        vocabulary.push(PAD_TOKEN.to_string());
        vocabulary.push(OOV_TOKEN.to_string());
        vocabulary.extend(ranked.into_iter().map(|(t, _)| t));
        let mut index = FxHashMap::default();
        index.reserve(vocabulary.len());
        for (i, t) in vocabulary.iter().enumerate() {
            index.insert(t.clone(), i as i32);
        }
        self.vocabulary = vocabulary;
        self.index = index;
    }

    fn ids_into(&self, text: &str, scratch: &mut Scratch, ids: &mut Vec<i32>) {
        let limit = self.config.output_sequence_length.unwrap_or(usize::MAX);
        self.tokenize_into(text, scratch, limit);
        ids.clear();
        ids.extend(scratch.tokens().map(|t| self.token_id(t)));
    }

    /// Number of tokens in each text, before any `output_sequence_length` truncation:
    /// feed it to [`crate::preprocessing::LengthStats`] to choose that length.
    pub fn sequence_lengths<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<usize> {
        texts
            .par_iter()
            .map_init(Scratch::default, |scratch, text| {
                self.tokenize_into(text.as_ref(), scratch, usize::MAX);
                scratch.spans.len()
            })
            .collect()
    }

    /// Token ids of each text, unpadded; truncated (at the end) to
    /// `output_sequence_length` if set (Keras's `ragged=True`).
    pub fn vectorize_ragged<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<i32>> {
        texts
            .par_iter()
            .map_init(Scratch::default, |scratch, text| {
                let mut ids = Vec::new();
                self.ids_into(text.as_ref(), scratch, &mut ids);
                ids
            })
            .collect()
    }

    /// Token ids as a dense `(texts.len(), width)` matrix padded with 0 at the end, as
    /// Keras's default output: `width` is `output_sequence_length`, or else the longest
    /// row of this batch.
    pub fn vectorize<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Array2<i32> {
        match self.config.output_sequence_length {
            Some(width) => {
                let mut flat = vec![0i32; texts.len() * width];
                flat.par_chunks_mut(width)
                    .zip(texts.par_iter())
                    .for_each_init(
                        || (Scratch::default(), Vec::new()),
                        |(scratch, ids), (row, text)| {
                            self.ids_into(text.as_ref(), scratch, ids);
                            row[..ids.len()].copy_from_slice(ids);
                        },
                    );
                Array2::from_shape_vec((texts.len(), width), flat)
                    .expect("flat buffer has texts.len() * width elements")
            }
            None => {
                let rows = self.vectorize_ragged(texts);
                let width = rows.iter().map(Vec::len).max().unwrap_or(0);
                let mut out = Array2::<i32>::zeros((rows.len(), width));
                for (mut dst, row) in out.rows_mut().into_iter().zip(&rows) {
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d = v;
                    }
                }
                out
            }
        }
    }

    /// JSON of config + vocabulary.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&TextVectorizationState {
            config: self.config.clone(),
            vocabulary: self.vocabulary.clone(),
        })
        .map_err(|e| Error::State(format!("TextVectorization to JSON: {e}")))
    }

    /// Inverse of [`TextVectorization::to_json`], validating the vocabulary.
    pub fn from_json(json: &str) -> Result<Self> {
        let state: TextVectorizationState = serde_json::from_str(json)
            .map_err(|e| Error::Data(format!("TextVectorization JSON: {e}")))?;
        Self::try_from(state)
    }

    /// Saves config + vocabulary as JSON to `path` (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), self.to_json()?.as_bytes())
    }

    /// Loads what [`TextVectorization::save`] wrote.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::io::read_input_to_string(path)?;
        let state: TextVectorizationState = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a TextVectorization JSON: {e}")))?;
        Self::try_from(state).map_err(|e| Error::format(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(config: TextVectorizationConfig) -> TextVectorization {
        TextVectorization::new(config).unwrap()
    }

    #[test]
    fn html_breaks_and_case() {
        let tv = layer(TextVectorizationConfig::default());
        assert_eq!(tv.standardize("Good.<br /><BR />Bad!"), "good  bad");
        let keras = layer(TextVectorizationConfig {
            strip_html_breaks: false,
            ..Default::default()
        });
        assert_eq!(keras.standardize("Good.<br />Bad!"), "goodbr bad");
        assert_eq!(tv.standardize("ÉCOLE «Été»"), "École «Été»");
        assert_eq!(tv.tokens(" a\x0bb\u{a0}c  "), vec!["a", "b\u{a0}c"]);
    }

    /// The definition, step by step on whole strings (as Keras/TF apply it).
    fn reference_tokens(text: &str, standardize: Standardize, breaks: bool) -> Vec<String> {
        let mut s = text.to_string();
        if standardize.lower() {
            s = s.to_ascii_lowercase();
        }
        if breaks {
            s = s.replace("<br />", " ");
        }
        if standardize.strip() {
            s.retain(|c| !c.is_ascii_punctuation());
        }
        s.split([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn single_pass_tokenizer_matches_the_step_by_step_definition() {
        const PIECES: [&str; 22] = [
            "<br />", "<BR />", "<Br />", "<br /", "<", "br", " />", " ", "\t", "\x0b", "\r\n",
            "é", "É", "A", "b", ".", "!'", "\u{a0}", "日本", "x", "[UNK]", "\u{2014}",
        ];
        let mut rng = crate::rng::SeededRng::new(5);
        let texts: Vec<String> = (0..400)
            .map(|_| {
                let n = rng.below(12);
                (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect()
            })
            .collect();
        for standardize in [
            Standardize::LowerAndStripPunctuation,
            Standardize::Lower,
            Standardize::StripPunctuation,
            Standardize::None,
        ] {
            for breaks in [true, false] {
                let mut tv = layer(TextVectorizationConfig {
                    standardize,
                    strip_html_breaks: breaks,
                    output_sequence_length: Some(3),
                    ..Default::default()
                });
                for t in &texts {
                    let want = reference_tokens(t, standardize, breaks);
                    assert_eq!(tv.tokens(t), want, "{t:?} {standardize:?} {breaks}");
                    assert_eq!(tv.sequence_lengths(&[t]), vec![want.len()]);
                }
                // Truncated ids agree with the reference tokens too.
                tv.adapt(&texts);
                let ids = tv.vectorize(&texts);
                for (row, t) in ids.rows().into_iter().zip(&texts) {
                    let want: Vec<i32> = reference_tokens(t, standardize, breaks)
                        .iter()
                        .take(3)
                        .map(|w| tv.token_id(w))
                        .chain(std::iter::repeat(0))
                        .take(3)
                        .collect();
                    assert_eq!(row.to_vec(), want, "{t:?}");
                }
            }
        }
    }

    #[test]
    fn adapt_does_not_depend_on_thread_count() {
        let mut rng = crate::rng::SeededRng::new(9);
        let texts: Vec<String> = (0..3000)
            .map(|_| {
                (0..20)
                    .map(|_| format!("w{} ", rng.below(500)))
                    .collect::<String>()
            })
            .collect();
        let vocab = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut tv = layer(TextVectorizationConfig {
                    max_tokens: Some(300),
                    ..Default::default()
                });
                tv.adapt(&texts);
                (tv.get_vocabulary().to_vec(), tv.vectorize(&texts))
            })
        };
        assert_eq!(vocab(1), vocab(3));
    }

    #[test]
    fn ties_are_broken_by_decreasing_token() {
        let mut tv = layer(TextVectorizationConfig::default());
        tv.adapt(&["b a c", "c"]);
        assert_eq!(tv.get_vocabulary(), ["", "[UNK]", "c", "b", "a"]);
        let out = tv.vectorize(&["a zzz c", "b"]);
        assert_eq!(out, ndarray::array![[4, 1, 2], [3, 0, 0]]);
        assert_eq!(tv.sequence_lengths(&["a zzz, c!", "", "b"]), vec![3, 0, 1]);
    }

    #[test]
    fn bad_configs_and_vocabularies_are_errors() {
        let bad = |c: TextVectorizationConfig| TextVectorization::new(c).unwrap_err().to_string();
        let e = bad(TextVectorizationConfig {
            max_tokens: Some(1),
            ..Default::default()
        });
        assert!(e.contains("max_tokens"), "{e}");
        let e = bad(TextVectorizationConfig {
            output_sequence_length: Some(0),
            ..Default::default()
        });
        assert!(e.contains("output_sequence_length"), "{e}");
        let v = |words: &[&str]| words.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = TextVectorization::with_vocabulary(Default::default(), v(&["a", "b", "a"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\"") && e.contains("index 2 and 4"), "{e}");
        let e = TextVectorization::with_vocabulary(Default::default(), v(&["a", "[UNK]"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[UNK]"), "{e}");
        let small = TextVectorizationConfig {
            max_tokens: Some(3),
            ..Default::default()
        };
        assert!(TextVectorization::with_vocabulary(small, v(&["a", "b"])).is_err());
        let ok =
            TextVectorization::with_vocabulary(Default::default(), v(&["", "[UNK]", "x"])).unwrap();
        assert_eq!(ok.token_id("x"), 2);
    }

    #[test]
    fn json_round_trip_and_save_load() {
        let mut tv = layer(TextVectorizationConfig {
            max_tokens: Some(10),
            output_sequence_length: Some(4),
            ..Default::default()
        });
        tv.adapt(&["one two two three three three"]);
        let back = TextVectorization::from_json(&tv.to_json().unwrap()).unwrap();
        assert_eq!(back.get_vocabulary(), tv.get_vocabulary());
        assert_eq!(back.config(), tv.config());
        assert_eq!(back.vectorize(&["three one"]), tv.vectorize(&["three one"]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        tv.save(&path).unwrap();
        let loaded = TextVectorization::load(&path).unwrap();
        assert_eq!(loaded.get_vocabulary(), tv.get_vocabulary());
        std::fs::write(
            &path,
            r#"{"config": {}, "vocabulary": ["", "[UNK]", "a", "a"]}"#,
        )
        .unwrap();
        let e = TextVectorization::load(&path).unwrap_err().to_string();
        assert!(e.contains("vocab.json") && e.contains("twice"), "{e}");
        assert!(
            TextVectorization::from_json("{\"config\": {\"bogus\": 1}, \"vocabulary\": []}")
                .is_err()
        );
    }
}
