//! Full-text search over the titles and bodies of the bulletins held here, and fuzzy
//! matching of the names in their entities (issue #15), with `tantivy`
//! (DECISIONS #68).
//!
//! The index lives in `search/` under the data directory and holds **no word of a
//! bulletin**: each word is folded (lower case, no diacritics) and replaced by a keyed
//! hash under the node's selector key (`SelectorKey::word_token`) before tantivy sees
//! it. Ranking (BM25) and matching work on the hashes exactly as on the words; only
//! prefix and wildcard queries are lost. Names are indexed a second way for fuzzy
//! matching: each name word with every form one deletion away (`selector::fuzzy_forms`),
//! so a name one edit off (a letter changed, added or dropped) shares a form.
//!
//! The index is derived from the log and follows it: [`catch_up`] indexes the entries
//! appended since the last commit (whose payload is the last sequence number indexed)
//! and removes the bulletins recalled or erased since, then commits. A search catches
//! up first, so it sees every bulletin stored before it; a lost or damaged index is
//! rebuilt from the log by deleting `search/`.

use std::path::PathBuf;
use std::sync::Mutex;

use liaison_core::selector::{self, SelectorKey};
use liaison_core::{BulletinContent, Entity};
use liaison_store::EntryKind;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, TantivyDocument, Term};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins;

/// The index's directory, under the data directory.
pub const SEARCH_DIR: &str = "search";

/// Most results a text search ranks (before the other filters and paging).
pub const MAX_HITS: usize = 10_000;

/// The indexing memory budget (tantivy's minimum per thread).
const WRITER_MEMORY: usize = 15_000_000;

/// Entries indexed between commits while catching up a long way.
const COMMIT_EVERY: u64 = 50_000;

/// Title words weigh this much more than body words.
const TITLE_BOOST: f32 = 2.0;

/// The full-text index of one node, opened on first use.
pub struct FullText {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    /// The last log entry indexed and its chain hash (hex), as the last commit recorded.
    indexed_through: Option<(u64, String)>,
}

#[derive(Clone, Copy)]
struct Fields {
    seq: Field,
    title: Field,
    body: Field,
    names: Field,
}

/// Keyed-hash words, space-separated, for tantivy's whitespace tokenizer.
fn hashed_text_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("whitespace")
            .set_index_option(IndexRecordOption::WithFreqs),
    )
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let fields = Fields {
        seq: builder.add_u64_field("seq", INDEXED | STORED),
        title: builder.add_text_field("title", hashed_text_options()),
        body: builder.add_text_field("body", hashed_text_options()),
        names: builder.add_text_field("names", hashed_text_options()),
    };
    (builder.build(), fields)
}

fn failed(what: &str) -> impl FnOnce(tantivy::TantivyError) -> Error + '_ {
    move |e| Error::Internal(format!("full-text index: {what}: {e}"))
}

impl FullText {
    /// Opens (or creates) the index in `dir` (a node's is `search/` under its data
    /// directory; [`catch_up`] and [`search`] open it for the node).
    ///
    /// Errors: the directory cannot be made or opened, or another writer holds it.
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(&dir).map_err(|e| {
            Error::Internal(format!("full-text index: open {}: {e}", dir.display()))
        })?;
        let index = Index::open_or_create(directory, schema).map_err(failed("open"))?;
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(failed("take the writer"))?;
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(failed("read"))?;
        let indexed_through = index
            .load_metas()
            .map_err(failed("read the last commit"))?
            .payload
            .and_then(|p| {
                let (seq, hash) = p.split_once(':')?;
                Some((seq.parse().ok()?, hash.to_owned()))
            });
        Ok(Self {
            writer,
            reader,
            fields,
            indexed_through,
        })
    }

    /// Indexes the bulletin of entry `seq` (visible after [`FullText::commit`]).
    ///
    /// Errors: tantivy refuses the document.
    pub fn add(&mut self, key: &SelectorKey, seq: u64, content: &BulletinContent) -> Result<()> {
        let hashed = |space: &str, text: &str| -> String {
            selector::words(text)
                .iter()
                .map(|w| key.word_token(space, w))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.fields.seq, seq);
        doc.add_text(self.fields.title, hashed("t", &content.title));
        doc.add_text(self.fields.body, hashed("t", &content.body));
        let names: Vec<String> = names_of(content)
            .iter()
            .flat_map(|name| selector::words(name))
            .flat_map(|word| selector::fuzzy_forms(&word))
            .map(|form| key.word_token("n", &form))
            .collect();
        doc.add_text(self.fields.names, names.join(" "));
        self.writer
            .add_document(doc)
            .map_err(failed("add a bulletin"))?;
        Ok(())
    }

    /// Takes entry `seq`'s bulletin out of the index.
    fn remove(&mut self, seq: u64) {
        self.writer
            .delete_term(Term::from_field_u64(self.fields.seq, seq));
    }

    /// Makes what was added and removed durable and visible, noting that the log is
    /// indexed through `seq`.
    ///
    /// Errors: the commit or the reload fails.
    pub fn commit(&mut self, seq: u64, hash: &[u8; 32]) -> Result<()> {
        let hash = data_encoding::HEXLOWER.encode(hash);
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(failed("prepare a commit"))?;
        prepared.set_payload(&format!("{seq}:{hash}"));
        prepared.commit().map_err(failed("commit"))?;
        self.reader.reload().map_err(failed("reload"))?;
        self.indexed_through = Some((seq, hash));
        Ok(())
    }

    /// Forgets everything indexed: the log it followed is not this one any more.
    fn clear(&mut self) -> Result<()> {
        self.writer
            .delete_all_documents()
            .map_err(failed("clear"))?;
        self.indexed_through = None;
        Ok(())
    }
}

/// The names and aliases of the persons in `content`.
fn names_of(content: &BulletinContent) -> Vec<&str> {
    content
        .entities
        .iter()
        .flat_map(|e| match e {
            Entity::Person {
                full_name, aliases, ..
            } => std::iter::once(full_name.as_str())
                .chain(aliases.iter().map(String::as_str))
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

/// The node's full-text index, opened on first use.
pub(crate) type Slot = std::sync::OnceLock<Mutex<FullText>>;

fn open(state: &NodeState) -> Result<&Mutex<FullText>> {
    if let Some(index) = state.fulltext.get() {
        return Ok(index);
    }
    let opened = FullText::open(state.node().dir().join(SEARCH_DIR))?;
    Ok(state.fulltext.get_or_init(|| Mutex::new(opened)))
}

/// Whether the index has been opened (by a search) in this process.
pub fn is_open(state: &NodeState) -> bool {
    state.fulltext.get().is_some()
}

/// Brings the index up to the log's head: indexes the bulletins appended since the last
/// commit and removes those recalled or erased since. Returns the entries read.
///
/// Errors: the log cannot be read, the index cannot be written.
pub fn catch_up(state: &NodeState) -> Result<u64> {
    let mut index = open(state)?.lock().unwrap_or_else(|p| p.into_inner());
    let head = state.log.head();
    // The log the index followed must still be this one: a log restored from a backup
    // (or rebuilt) no longer has the entry last indexed, or has another there.
    let start = match index.indexed_through.clone() {
        None => 0,
        Some((seq, hash)) => {
            let same = state
                .log
                .get(seq)?
                .is_some_and(|e| data_encoding::HEXLOWER.encode(&e.hash) == hash);
            if same {
                seq
            } else {
                tracing::warn!(
                    indexed_through = seq,
                    "the log is not the one the full-text index followed (restored?): rebuilding it"
                );
                index.clear()?;
                0
            }
        }
    };
    let head_seq = head.seq;
    if head_seq <= start {
        return Ok(0);
    }
    let key = state.selector_key()?;
    for seq in start + 1..=head_seq {
        let Some(entry) = state.log.get(seq)? else {
            continue;
        };
        let hash = entry.hash;
        match entry.kind {
            EntryKind::Published | EntryKind::Received => {
                if let Some(stored) = bulletins::load(state, entry)?
                    && let Ok(content) = &stored.content
                {
                    index.add(&key, seq, content)?;
                }
            }
            // A recall, sent or received: the bulletin leaves search (its body may
            // stay at the originator, but it no longer stands).
            EntryKind::Recall => {
                if let Some(id) = entry.bulletin_id {
                    for earlier in state.log.entries_for_bulletin(&id)? {
                        index.remove(earlier.seq);
                    }
                }
            }
            EntryKind::NodeEvent => {
                if let Some(LogEvent::RetentionErased { entries }) =
                    state.log.body(&entry)?.and_then(|b| LogEvent::parse(&b))
                {
                    for erased in entries {
                        index.remove(erased);
                    }
                }
            }
            _ => {}
        }
        if seq % COMMIT_EVERY == 0 {
            index.commit(seq, &hash)?;
        }
    }
    index.commit(head_seq, &head.hash)?;
    Ok(head_seq - start)
}

/// What to look for: words (all of them, ranked), and names (each word within one
/// edit).
#[derive(Debug, Clone, Default)]
pub struct TextQuery {
    /// Words that must all appear in the title or body.
    pub words: String,
    /// A name whose words must each be within one edit of a name word in an entity.
    pub fuzzy_name: Option<String>,
}

/// The entries of the bulletins matching `query`, best first, with their scores, at
/// most [`MAX_HITS`]; catches the index up first.
///
/// Errors: nothing to look for, the log or the index fails.
pub fn search(state: &NodeState, query: &TextQuery) -> Result<Vec<(u64, f32)>> {
    catch_up(state)?;
    let key = state.selector_key()?;
    let index = open(state)?.lock().unwrap_or_else(|p| p.into_inner());
    index.search(&key, query)
}

impl FullText {
    /// The entries matching `query` in what was committed, best first, at most
    /// [`MAX_HITS`].
    ///
    /// Errors: nothing to look for, or tantivy fails.
    pub fn search(&self, key: &SelectorKey, query: &TextQuery) -> Result<Vec<(u64, f32)>> {
        let fields = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in selector::words(&query.words) {
            let token = key.word_token("t", &word);
            let term = |field| -> Box<dyn Query> {
                Box::new(TermQuery::new(
                    Term::from_field_text(field, &token),
                    IndexRecordOption::WithFreqs,
                ))
            };
            let either: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(term(fields.title), TITLE_BOOST)),
                ),
                (Occur::Should, term(fields.body)),
            ]));
            clauses.push((Occur::Must, either));
        }
        for word in query
            .fuzzy_name
            .as_deref()
            .map(selector::words)
            .unwrap_or_default()
        {
            let forms: Vec<(Occur, Box<dyn Query>)> = selector::fuzzy_forms(&word)
                .iter()
                .map(|form| -> (Occur, Box<dyn Query>) {
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(
                            Term::from_field_text(fields.names, &key.word_token("n", form)),
                            IndexRecordOption::Basic,
                        )),
                    )
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(forms))));
        }
        if clauses.is_empty() {
            return Err(Error::InvalidRequest(
                "give words to look for (--text) or a name (--fuzzy-person)".into(),
            ));
        }
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(MAX_HITS).order_by_score(),
            )
            .map_err(failed("search"))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(failed("read a hit"))?;
            if let Some(seq) = doc.get_first(fields.seq).and_then(|v| v.as_u64()) {
                hits.push((seq, score));
            }
        }
        Ok(hits)
    }
}
