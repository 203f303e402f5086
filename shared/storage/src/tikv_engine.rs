//! The TiKV engine (cargo feature `tikv`): the same ordered key spaces, kept in a TiKV cluster
//! reached through its placement driver (PD).
//!
//! Every key is stored as `namespace ‖ space byte ‖ key`, so several stores (one per alpha, or
//! one per test) share one TiKV cluster without seeing each other. A batch is one optimistic
//! TiKV transaction, so it lands atomically and, once committed, durably (TiKV replicates it
//! through Raft before answering). A snapshot reads at a timestamp from PD, which gives the
//! same point-in-time view fjall's snapshots give.
//!
//! The engine trait is synchronous and the TiKV client is async: the engine owns a small tokio
//! runtime, and each call runs there while the caller's thread waits for the answer. That works
//! from plain threads and from inside another tokio runtime alike.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, Op, Replacement, Space};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tikv_client::{CheckLevel, Timestamp, TransactionClient, TransactionOptions};

/// How many entries one scan request fetches.
const PAGE: u32 = 512;
/// How long connecting to PD may take before the store refuses to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts for a batch whose commit meets a conflicting writer of the same keys.
const COMMIT_ATTEMPTS: usize = 5;

/// Keys and values, in key order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn err(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Engine(format!("tikv {what}: {e}"))
}

/// Runs futures on the engine's own runtime for synchronous callers.
struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    fn new() -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tikv-client")
            .enable_all()
            .build()
            .map_err(|e| err("runtime", e))?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the engine")
            .spawn(async move {
                let _ = tx.send(fut.await);
            });
        rx.recv()
            .expect("the engine's runtime finishes what it starts")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is refused inside another runtime: let it wind down
        // in the background instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) struct TikvEngine {
    client: Arc<TransactionClient>,
    namespace: Arc<[u8]>,
    bridge: Arc<Bridge>,
}

impl TikvEngine {
    /// Connects to the PD endpoints (`host:port`, comma separated in the caller's flag) and
    /// keeps this store's keys under `namespace`.
    pub(crate) fn open(pd_endpoints: &[String], namespace: &[u8]) -> Result<Self, StorageError> {
        if pd_endpoints.is_empty() {
            return Err(StorageError::Engine(
                "tikv: at least one PD endpoint is needed".into(),
            ));
        }
        if namespace.is_empty() {
            return Err(StorageError::Engine(
                "tikv: the key namespace must not be empty".into(),
            ));
        }
        let bridge = Bridge::new()?;
        let endpoints = pd_endpoints.to_vec();
        let client = bridge.run(async move {
            tokio::time::timeout(CONNECT_TIMEOUT, TransactionClient::new(endpoints)).await
        });
        let client = match client {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(err(&format!("connect to PD {}", pd_endpoints.join(",")), e));
            }
            Err(_) => {
                return Err(StorageError::Engine(format!(
                    "tikv: no answer from PD {} within {}s",
                    pd_endpoints.join(","),
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        let mut ns = namespace.to_vec();
        // Length-prefixed, so no namespace is a prefix of another's keys.
        ns.insert(0, u8::try_from(namespace.len()).unwrap_or(u8::MAX));
        Ok(TikvEngine {
            client: Arc::new(client),
            namespace: ns.into(),
            bridge: Arc::new(bridge),
        })
    }
}

fn space_prefix(namespace: &[u8], space: Space) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 1);
    k.extend_from_slice(namespace);
    k.push(match space {
        Space::Data => b'd',
        Space::Meta => b'm',
    });
    k
}

fn full_key(namespace: &[u8], space: Space, key: &[u8]) -> Vec<u8> {
    let mut k = space_prefix(namespace, space);
    k.extend_from_slice(key);
    k
}

/// Values carry a marker byte, so an empty value is never sent as an empty value and a value
/// this store did not write is recognised.
fn wrap(value: Vec<u8>) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 1);
    v.push(1);
    v.extend_from_slice(&value);
    v
}

fn unwrap_value(raw: Vec<u8>) -> Result<Vec<u8>, StorageError> {
    match raw.split_first() {
        Some((1, rest)) => Ok(rest.to_vec()),
        _ => Err(StorageError::Engine(
            "tikv: a value without this store's marker (is another program using the namespace?)"
                .into(),
        )),
    }
}

impl Engine for TikvEngine {
    fn apply(&self, ops: Vec<Op>, _durable: bool) -> Result<(), StorageError> {
        // Committed TiKV transactions are already replicated and durable.
        let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = ops
            .into_iter()
            .map(|op| {
                (
                    full_key(&self.namespace, op.space, &op.key),
                    op.value.map(wrap),
                )
            })
            .collect();
        let client = self.client.clone();
        self.bridge.run(async move {
            let mut last = None;
            for attempt in 0..COMMIT_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
                let options = TransactionOptions::new_optimistic().drop_check(CheckLevel::Warn);
                let mut txn = client
                    .begin_with_options(options)
                    .await
                    .map_err(|e| err("begin", e))?;
                let mut staged = Ok(());
                for (key, value) in &writes {
                    let r = match value {
                        Some(v) => txn.put(key.clone(), v.clone()).await,
                        None => txn.delete(key.clone()).await,
                    };
                    if let Err(e) = r {
                        staged = Err(e);
                        break;
                    }
                }
                let outcome = match staged {
                    Ok(()) => txn.commit().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        // Puts and deletes of whole values can be replayed as they are.
                        let _ = txn.rollback().await;
                        last = Some(e);
                    }
                }
            }
            Err(err(
                "write",
                last.map_or_else(|| "no attempt ran".to_string(), |e| e.to_string()),
            ))
        })
    }

    fn snapshot(&self) -> Arc<dyn EngineSnapshot> {
        let client = self.client.clone();
        let ts = self
            .bridge
            .run(async move { client.current_timestamp().await });
        Arc::new(TikvSnapshot {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            bridge: self.bridge.clone(),
            ts: ts.map_err(|e| err("timestamp", e)),
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "tikv"
    }

    fn begin_import(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        // One TiKV transaction cannot replace a whole namespace's data and meta spaces, and
        // replicas that install snapshots are not planned on TiKV.
        Err(StorageError::Engine(
            "tikv: importing a copy of another store (a snapshot install) is not supported, \
             since the data and meta spaces cannot be replaced in one atomic step on TiKV; \
             keep replicas that install snapshots on the fjall engine"
                .into(),
        ))
    }
}

struct TikvSnapshot {
    client: Arc<TransactionClient>,
    namespace: Arc<[u8]>,
    bridge: Arc<Bridge>,
    /// The read timestamp, or why PD could not give one (reported by every read).
    ts: Result<Timestamp, StorageError>,
}

impl TikvSnapshot {
    fn reader(&self) -> Result<tikv_client::Snapshot, StorageError> {
        let ts = self.ts.clone()?;
        let options = TransactionOptions::new_optimistic()
            .read_only()
            .drop_check(CheckLevel::None);
        Ok(self.client.snapshot(ts, options))
    }

    /// Up to [`PAGE`] entries with `start <= key < end`.
    fn page(&self, start: Vec<u8>, end: Vec<u8>) -> Result<Entries, StorageError> {
        let mut reader = self.reader()?;
        let pairs = self
            .bridge
            .run(async move {
                reader
                    .scan(start..end, PAGE)
                    .await
                    .map(|it| it.collect::<Vec<_>>())
            })
            .map_err(|e| err("scan", e))?;
        pairs
            .into_iter()
            .map(|p| Ok((Vec::<u8>::from(p.0), p.1)))
            .collect()
    }
}

impl EngineSnapshot for TikvSnapshot {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let mut reader = self.reader()?;
        let key = full_key(&self.namespace, space, key);
        let value = self
            .bridge
            .run(async move { reader.get(key).await })
            .map_err(|e| err("read", e))?;
        value.map(unwrap_value).transpose()
    }

    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_> {
        let prefix = space_prefix(&self.namespace, space);
        let end = match end {
            Some(end) => full_key(&self.namespace, space, end),
            None => {
                // The first key after every key of this space.
                let mut e = prefix.clone();
                if let Some(last) = e.last_mut() {
                    *last += 1;
                }
                e
            }
        };
        Box::new(Pages {
            snapshot: self,
            strip: prefix.len(),
            next: Some(full_key(&self.namespace, space, start)),
            end,
            buffer: VecDeque::new(),
        })
    }
}

/// A range read page by page as the caller consumes it.
struct Pages<'a> {
    snapshot: &'a TikvSnapshot,
    strip: usize,
    /// Where the next page starts; `None` once the range is exhausted.
    next: Option<Vec<u8>>,
    end: Vec<u8>,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl Iterator for Pages<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() {
            let start = self.next.take()?;
            if start >= self.end {
                return None;
            }
            match self.snapshot.page(start, self.end.clone()) {
                Ok(page) => {
                    if page.len() == PAGE as usize
                        && let Some((last, _)) = page.last()
                    {
                        // The smallest key after `last`.
                        let mut after = last.clone();
                        after.push(0);
                        self.next = Some(after);
                    }
                    self.buffer.extend(page);
                }
                Err(e) => return Some(Err(e)),
            }
        }
        let (key, value) = self.buffer.pop_front()?;
        Some(unwrap_value(value).map(|v| (key[self.strip..].to_vec(), v)))
    }
}
