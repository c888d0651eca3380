//! Recovery: where did a partition get to, according to the store, and which epoch writes it next?
//!
//! One listing of the source's data objects, DLQ objects and fences gives each partition's
//! [`Ledger`]: the objects that count tile the offsets up to its resume offset. Recovery then
//! takes the next epoch, stores its fence at the resume offset, and deletes every object that
//! does not count (void, past a gap, overlapping, orphaned DLQ), before anything new is written.
//! The full argument is in the module doc of [`crate::sink`].
//!
//! [`Recovery`] only reads and writes the store; the sink
//! ([`Sink::recover_all`](super::Sink::recover_all)) waits for its own writes first and then
//! takes what recovery found: each partition's resume offset and epoch, and what was removed.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;

use crate::runtime::Shutdown;

use super::keys::{self, Fence, ObjectKind, ParsedKey};
use super::layout::{self, BatchName};
use super::ledger::{self, Dead, Ledger};
use super::pieces::PieceTable;
use super::retry;
use super::{SinkError, SinkSettings, Storage};

/// How many epochs recovery tries when another writer takes the one it chose at the same moment.
const EPOCH_ATTEMPTS: usize = 16;

/// The store as recovery sees it: the source's objects and fences, retried like the writes.
#[derive(Debug)]
pub(super) struct Recovery<'a> {
    pub(super) storage: &'a Storage,
    /// The source's name and the retry policy.
    pub(super) settings: &'a SinkSettings,
    pub(super) abort: &'a Shutdown,
    pub(super) retries: &'a Counter,
}

/// Where a recovered partition resumes, and the epoch this sink now writes it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resumed {
    pub(super) offset: u64,
    pub(super) epoch: u64,
}

/// Objects recovery removed, counted as they go (an error part-way keeps what was counted).
#[derive(Debug, Default)]
pub(super) struct Removed {
    /// Data objects that do not count (void, past a hole, overlapping).
    pub(super) dead: u64,
    /// DLQ objects without their data object.
    pub(super) orphans: u64,
}

impl Recovery<'_> {
    /// Recovers `wanted` with one listing of the store (and a second one once the fences are
    /// stored): takes each partition's next epoch, stores its fence, and removes what does not
    /// count before anything new is written.
    pub(super) async fn recover(&self, wanted: &[u32], removed: &mut Removed) -> Result<BTreeMap<u32, Resumed>, SinkError> {
        let mut ledgers = self.read_ledgers().await?;
        let mut resumed = BTreeMap::new();
        let mut handled = BTreeSet::new();
        for partition in wanted {
            let ledger = ledgers.remove(partition).unwrap_or_default();
            let epoch = self.take_epoch(*partition, &ledger).await?;
            self.remove_dead(*partition, &ledger, removed).await?;
            handled.extend(ledger.dead.iter().map(|((key, _), _)| key.clone()));
            tracing::info!(partition, resume_offset = ledger.resume, epoch, source = %self.settings.source, "partition recovered from the store");
            resumed.insert(*partition, Resumed { offset: ledger.resume, epoch });
        }
        // A second listing, now that the fences are stored: a writer that lost a partition may
        // have stored an object after the first listing and checked for fences before ours
        // existed; that object is void now, and shows here (its write was acknowledged before
        // our fence was). Anything it stores later meets our fence in its own check.
        let mut ledgers = self.read_ledgers().await?;
        for partition in wanted {
            let mut late = ledgers.remove(partition).unwrap_or_default();
            // A void batch's DLQ object and piece table are orphans beside it: they go with it.
            let void: BTreeSet<(u64, u64, u64)> = late
                .dead
                .iter()
                .filter(|((key, _), why)| matches!(why, Dead::Void { .. }) && !handled.contains(key))
                .map(|((_, parsed), _)| (parsed.first, parsed.last, parsed.epoch))
                .collect();
            late.dead.retain(|((key, parsed), why)| {
                !handled.contains(key)
                    && match why {
                        Dead::Void { .. } => true,
                        Dead::OrphanDlq => void.contains(&(parsed.first, parsed.last, parsed.epoch)),
                        _ => false,
                    }
            });
            self.remove_dead(*partition, &late, removed).await?;
        }
        Ok(resumed)
    }

    /// Where each partition of the source stands in the store (one past its chain), without
    /// recovering it.
    pub(super) async fn stored_positions(&self) -> Result<BTreeMap<u32, u64>, SinkError> {
        Ok(self.read_ledgers().await?.into_iter().map(|(partition, ledger)| (partition, ledger.resume)).collect())
    }

    /// Every partition's ledger, from one listing of each root.
    async fn read_ledgers(&self) -> Result<BTreeMap<u32, Ledger>, SinkError> {
        let data = self.list_parsed(ObjectKind::Data).await?;
        let mut dlq = self.list_parsed(ObjectKind::Dlq).await?;
        dlq.extend(self.list_parsed(ObjectKind::Pieces).await?);
        let fences = self.list_fences().await?;
        Ok(ledger::ledgers(data, dlq, &fences))
    }

    /// Stores the fence of a new epoch at the partition's resume offset and returns the epoch.
    /// A fence is created only where none exists, so two writers recovering at once (which the
    /// Kafka group rules out, and a second sink on the same store does not) cannot share one on
    /// a store that honours `If-None-Match`.
    async fn take_epoch(&self, partition: u32, ledger: &Ledger) -> Result<u64, SinkError> {
        for epoch in (ledger.max_epoch + 1..).take(EPOCH_ATTEMPTS) {
            let key = keys::fence_key(&self.settings.source, partition, epoch, ledger.resume);
            let body = Bytes::from(format!("{{\"epoch\":{epoch},\"start\":{}}}\n", ledger.resume));
            let storage = self.storage;
            let created =
                retry::retry("create", &key, self.settings.retry, self.abort, self.retries, || storage.put_new(&key, body.clone()))
                    .await
                    .map_err(|abandoned| SinkError::Abandoned { key: key.clone(), last_error: Box::new(abandoned.last_error) })?;
            if created {
                return Ok(epoch);
            }
            tracing::warn!(partition, epoch, "another writer took this epoch at the same moment; taking the next");
        }
        Err(SinkError::Task(format!("could not take an epoch for partition {partition}: {EPOCH_ATTEMPTS} were taken at once")))
    }

    /// Removes the partition's objects that do not count: their offsets are in the chain or at or
    /// past the resume offset, which is read again. Data objects past a hole or overlapping the
    /// chain are moved under `quarantine/` rather than deleted: by the argument their records
    /// are read again, but a store written by an older netchaos may have a hole that a Kafka
    /// log, past its retention, can no longer fill, and those records must not be destroyed.
    /// Void objects (superseded by a newer epoch) and orphaned DLQ objects are deleted.
    async fn remove_dead(&self, partition: u32, ledger: &Ledger, removed: &mut Removed) -> Result<(), SinkError> {
        for ((key, parsed), why) in &ledger.dead {
            let storage = self.storage;
            let policy = self.settings.retry;
            match why {
                Dead::PastGap | Dead::Overlap => {
                    tracing::warn!(
                        key,
                        partition,
                        first = parsed.first,
                        resume_offset = ledger.resume,
                        "moving a data object that does not count ({}) under {}/; its offsets are read again",
                        why.describe(),
                        keys::QUARANTINE_ROOT
                    );
                    // `quarantine/source=S/{file name}`: shorter than the key it came from, so it
                    // fits wherever that one did (s3s-fs, for one, caps key lengths).
                    let file = key.rsplit('/').next().unwrap_or(key);
                    let moved = format!("{}/source={}/{file}", keys::QUARANTINE_ROOT, parsed.source);
                    retry::retry("copy", key, policy, self.abort, self.retries, || storage.copy(key, &moved))
                        .await
                        .map_err(|abandoned| SinkError::Abandoned { key: key.clone(), last_error: Box::new(abandoned.last_error) })?;
                }
                Dead::Void { .. } | Dead::OrphanDlq => {
                    tracing::info!(key, partition, first = parsed.first, "deleting an object that does not count ({})", why.describe())
                }
            }
            if parsed.kind == ObjectKind::Pieces && !self.remove_pieces(key, parsed).await? {
                continue;
            }
            retry::retry("delete", key, policy, self.abort, self.retries, || storage.delete(key))
                .await
                .map_err(|abandoned| SinkError::Abandoned { key: key.clone(), last_error: Box::new(abandoned.last_error) })?;
            match why {
                Dead::OrphanDlq => removed.orphans += 1,
                _ => removed.dead += 1,
            }
        }
        Ok(())
    }

    /// Deletes the pieces an orphaned piece table lists (their records are read again), before
    /// the table itself; only pieces whose names its batch gives ([`layout::is_piece_of`]), so
    /// that a damaged table cannot delete what another batch stored. A table that cannot be read is moved under `quarantine/` instead, and
    /// `false` returned: the pieces it named, if any, are then what `verify` reports as claimed
    /// by no batch.
    async fn remove_pieces(&self, table_key: &str, parsed: &ParsedKey) -> Result<bool, SinkError> {
        let storage = self.storage;
        let policy = self.settings.retry;
        let abandon = |key: &str| {
            let key = key.to_owned();
            move |abandoned: retry::Abandoned| SinkError::Abandoned { key, last_error: Box::new(abandoned.last_error) }
        };
        let body = retry::retry("read", table_key, policy, self.abort, self.retries, || storage.get(table_key))
            .await
            .map_err(abandon(table_key))?;
        let table = PieceTable::parse(&body).filter(|table| {
            (table.source.as_str(), table.partition, table.first, table.last, table.epoch)
                == (parsed.source.as_str(), parsed.partition, parsed.first, parsed.last, parsed.epoch)
        });
        let Some(table) = table else {
            let file = table_key.rsplit('/').next().unwrap_or(table_key);
            let moved = format!("{}/source={}/unreadable-{file}", keys::QUARANTINE_ROOT, self.settings.source);
            tracing::warn!(
                key = table_key,
                moved,
                "a piece table that cannot be read: moving it aside; verify lists pieces no batch claims"
            );
            retry::retry("copy", table_key, policy, self.abort, self.retries, || storage.copy(table_key, &moved))
                .await
                .map_err(abandon(table_key))?;
            retry::retry("delete", table_key, policy, self.abort, self.retries, || storage.delete(table_key))
                .await
                .map_err(abandon(table_key))?;
            return Ok(false);
        };
        let batch = BatchName {
            source: &self.settings.source,
            partition: table.partition,
            first: table.first,
            last: table.last,
            epoch: table.epoch,
        };
        for piece in &table.pieces {
            if !layout::is_piece_of(&piece.key, batch) {
                tracing::warn!(
                    key = piece.key,
                    table = table_key,
                    "a piece table names an object its batch did not write: leaving that object alone"
                );
                continue;
            }
            tracing::info!(key = piece.key, table = table_key, "deleting a piece of a batch that does not count");
            retry::retry("delete", &piece.key, policy, self.abort, self.retries, || storage.delete(&piece.key))
                .await
                .map_err(abandon(&piece.key))?;
        }
        Ok(true)
    }

    /// This source's fences.
    async fn list_fences(&self) -> Result<Vec<Fence>, SinkError> {
        let prefix = keys::fence_prefix(&self.settings.source);
        let listing = self.list_prefix(&prefix).await?;
        Ok(listing.iter().filter_map(|(key, _)| keys::parse_fence_key(key)).collect())
    }

    async fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, u64)>, SinkError> {
        let storage = self.storage;
        retry::retry("list", prefix, self.settings.retry, self.abort, self.retries, || storage.list(prefix))
            .await
            .map_err(|abandoned| SinkError::Abandoned { key: prefix.to_owned(), last_error: Box::new(abandoned.last_error) })
    }

    /// This source's objects of one kind, with their parsed keys; keys that do not parse are
    /// logged and ignored.
    async fn list_parsed(&self, kind: ObjectKind) -> Result<Vec<(String, ParsedKey)>, SinkError> {
        let prefix = keys::source_prefix(kind, &self.settings.source);
        let listing = self.list_prefix(&prefix).await?;
        let mut parsed = Vec::with_capacity(listing.len());
        for (key, _size) in listing {
            match keys::parse_key(&key) {
                Some(object) if object.kind == kind && object.source == self.settings.source.as_str() => parsed.push((key, object)),
                _ => tracing::warn!(key, "ignoring an object whose key netchaos did not write"),
            }
        }
        Ok(parsed)
    }
}
