//! The one event loop of `sink --brokers`, and its commits.
//!
//! The loop is in one of three states. **Consuming**: messages go to the sink, batches age and
//! flush, stored batches are committed. **Waiting for room**: the store has not taken a batch for
//! [`PAUSE_AFTER`], so the assignment is paused and the loop keeps polling the consumer (serving
//! rebalances, committing what becomes durable, asking for watermarks for the lag metric) until
//! the sink has room again. **Draining**: shutting down, the open batches were flushed and the
//! assignment is paused until every write is durable; then the positions are committed
//! synchronously. Each state listens for its own events in one `select!`; each event has a named
//! handler.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::time::{Instant, Interval};

use crate::runtime::{Shutdown, publish_interval, sleep_until};
use crate::sink::{Sink, SinkError};

use super::failpoint::Failpoint;
use super::group::GroupContext;
use super::lag::WATERMARKS_WHILE_PAUSED;
use super::{ConsumeReport, ConsumerSettings, describe};

/// Messages taken from librdkafka's queue in one go, between two looks at the timers.
const BURST: usize = 1024;

/// How long the driver waits in place for room in the sink before it pauses consumption.
const PAUSE_AFTER: Duration = Duration::from_secs(2);

/// Drives a sink from a consumer-group member.
pub(super) struct Driver<'a> {
    pub(super) settings: &'a ConsumerSettings,
    pub(super) consumer: &'a StreamConsumer<GroupContext>,
    pub(super) report: ConsumeReport,
    /// The last offset committed per partition.
    pub(super) commit_marks: BTreeMap<u32, u64>,
    /// `Sink::batches_stored` at the last commit.
    batches_seen: u64,
    state: State,
    /// When a message last arrived or the store last took a batch after a wait (for
    /// `--idle-exit`); none before the first assignment.
    last_activity: Option<Instant>,
    first_message: Option<Instant>,
    failpoint: Option<Failpoint>,
}

/// What the loop is doing.
#[derive(Debug)]
enum State {
    Consuming,
    /// The assignment is paused until the sink has room again.
    WaitingForRoom(Pause),
    /// Shutting down: the assignment is paused until every write is durable.
    Draining(Pause),
}

/// A pause of the assignment.
#[derive(Debug)]
struct Pause {
    since: Instant,
    /// Asks the brokers for the high watermarks (the first tick at once).
    watermarks: Interval,
    /// Per partition, the first message that arrived anyway (and was dropped).
    rewind: BTreeMap<u32, u64>,
}

impl Pause {
    fn new() -> Self {
        Pause { since: Instant::now(), watermarks: tokio::time::interval(WATERMARKS_WHILE_PAUSED), rewind: BTreeMap::new() }
    }
}

/// What woke the loop.
enum Event<'m> {
    Shutdown,
    /// What the state waits for of the sink: a batch stored (consuming), room for another batch
    /// (waiting for room), every write durable (draining).
    Sink(Result<(), SinkError>),
    /// An open batch reached max age.
    Expired,
    /// No message for `--idle-exit`.
    Idle,
    /// Time to publish the metrics, even while no message comes.
    Publish,
    Rebalanced,
    /// Time to ask the brokers for the high watermarks (for the lag metric).
    Watermarks,
    Message(Result<BorrowedMessage<'m>, KafkaError>),
}

/// What the loop does after a handler.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Commit what was stored, then wait for the next event.
    Commit,
    /// Wait for the next event.
    Wait,
    /// Every write is durable after the shutdown: leave the loop.
    Done,
}

impl<'a> Driver<'a> {
    pub(super) fn new(settings: &'a ConsumerSettings, consumer: &'a StreamConsumer<GroupContext>) -> Self {
        Driver {
            settings,
            consumer,
            report: ConsumeReport::default(),
            commit_marks: BTreeMap::new(),
            batches_seen: 0,
            state: State::Consuming,
            last_activity: None,
            first_message: None,
            failpoint: Failpoint::from_env(),
        }
    }

    pub(super) fn into_report(self) -> ConsumeReport {
        self.report
    }

    /// Consumes until a shutdown is requested (or `--idle-exit` passes), then flushes, waits for
    /// the last writes and commits synchronously.
    pub(super) async fn run(&mut self, sink: &mut Sink, shutdown: &Shutdown) -> anyhow::Result<()> {
        let mut publish = publish_interval();
        loop {
            if matches!(self.state, State::Consuming) && !sink.has_room()? {
                self.wait_for_room(sink).await?;
            }
            let event = self.next_event(sink, shutdown, &mut publish).await;
            // Rebalances happen inside recv, before the message it returned: act on them first.
            // A partition revoked (and maybe assigned again) starts afresh from the group's offset
            // and the store: what arrived for it while paused no longer counts.
            let rebalanced = self.apply_changes(sink).await?;
            if rebalanced.assigned && self.last_activity.is_none() {
                self.last_activity = Some(Instant::now());
            }
            if let State::WaitingForRoom(pause) = &mut self.state {
                pause.rewind.retain(|partition, _| !rebalanced.touched.contains(partition));
            }
            let next = match event {
                Event::Shutdown => self.on_shutdown(sink).await?,
                Event::Sink(outcome) => self.on_sink(outcome).await?,
                Event::Expired => {
                    sink.flush_expired().await?;
                    Next::Commit
                }
                Event::Idle => self.on_idle(sink).await?,
                Event::Publish => {
                    sink.publish_metrics();
                    Next::Commit
                }
                Event::Rebalanced => Next::Commit,
                Event::Watermarks => {
                    self.refresh_watermarks();
                    Next::Commit
                }
                Event::Message(received) => self.on_message(sink, received).await?,
            };
            match next {
                Next::Commit => self.commit_if_stored(sink)?,
                Next::Wait => {}
                Next::Done => break,
            }
        }
        self.commit(sink, CommitMode::Sync)?;
        sink.publish_metrics();
        let owned = self.consumer.context().owned();
        self.report.committed = sink.committed().into_iter().filter(|(partition, _)| owned.contains(partition)).collect();
        Ok(())
    }

    /// The next event the state listens for. The branches are biased in this order, and each is
    /// cancel-safe: a branch not taken loses nothing.
    async fn next_event(&mut self, sink: &mut Sink, shutdown: &Shutdown, publish: &mut Interval) -> Event<'a> {
        let consumer = self.consumer;
        let consuming = matches!(self.state, State::Consuming);
        let deadline = if consuming { sink.next_deadline() } else { None };
        let idle_at = match (consuming, self.settings.idle_exit, self.last_activity) {
            (true, Some(idle), Some(last)) => Some(last + idle),
            _ => None,
        };
        let (listens_for_shutdown, waits_for, watermarks) = match &mut self.state {
            State::Consuming => (true, Goal::NextStored, None),
            State::WaitingForRoom(pause) => (true, Goal::Room, Some(&mut pause.watermarks)),
            State::Draining(pause) => (false, Goal::Idle, Some(&mut pause.watermarks)),
        };
        let paused = watermarks.is_some();
        tokio::select! {
            biased;
            () = shutdown.requested(), if listens_for_shutdown => Event::Shutdown,
            () = sleep_until(deadline), if consuming => Event::Expired,
            () = sleep_until(idle_at), if consuming => Event::Idle,
            _ = publish.tick(), if consuming => Event::Publish,
            () = consumer.context().changed.notified() => Event::Rebalanced,
            outcome = waits_for.wait(sink) => Event::Sink(outcome),
            _ = async { if let Some(watermarks) = watermarks { watermarks.tick().await; } }, if paused => Event::Watermarks,
            received = consumer.recv() => Event::Message(received),
        }
    }

    /// Stops consuming: flushes every open batch and, unless they are durable at once, pauses
    /// until they are ([`State::Draining`]). A pause for room ends first.
    async fn on_shutdown(&mut self, sink: &mut Sink) -> anyhow::Result<Next> {
        self.end_pause().await?;
        tracing::info!("shutdown requested: flushing and committing");
        self.drain(sink).await
    }

    async fn on_idle(&mut self, sink: &mut Sink) -> anyhow::Result<Next> {
        tracing::info!(idle = ?self.settings.idle_exit, "no message for the idle limit: stopping");
        self.drain(sink).await
    }

    /// The sink reached what the state waits for.
    async fn on_sink(&mut self, outcome: Result<(), SinkError>) -> anyhow::Result<Next> {
        outcome?;
        match self.state {
            // Committed right away, even when no message follows.
            State::Consuming => Ok(Next::Commit),
            State::WaitingForRoom(_) => {
                self.end_pause().await?;
                // Waiting for the store is not being idle.
                self.last_activity = Some(Instant::now());
                Ok(Next::Wait)
            }
            State::Draining(_) => {
                self.forget_watermarks();
                Ok(Next::Done)
            }
        }
    }

    /// Feeds a message to the sink, and what librdkafka has already fetched after it; while
    /// paused, notes where a message that arrived anyway belongs and drops it.
    async fn on_message(&mut self, sink: &mut Sink, received: Result<BorrowedMessage<'a>, KafkaError>) -> anyhow::Result<Next> {
        let consumer = self.consumer;
        if let State::WaitingForRoom(pause) | State::Draining(pause) = &mut self.state {
            match received {
                Ok(message) => {
                    if let (Ok(partition), Ok(offset)) = (u32::try_from(message.partition()), u64::try_from(message.offset()))
                        && consumer.context().owns(partition)
                    {
                        pause.rewind.entry(partition).or_insert(offset);
                    }
                }
                Err(error) => self.consumer_error(&error)?,
            }
            return Ok(Next::Commit);
        }
        self.receive(sink, received).await?;
        // Take what librdkafka has already fetched without going through the timers for each
        // message; they are looked at again after a burst.
        for _ in 0..BURST {
            if !sink.has_room()? {
                break;
            }
            let Some(received) = consumer.recv().now_or_never() else { break };
            self.apply_changes(sink).await?;
            self.receive(sink, received).await?;
        }
        let now = Instant::now();
        self.last_activity = Some(now);
        self.report.active = now - *self.first_message.get_or_insert(now);
        Ok(Next::Commit)
    }

    /// Feeds one received message to the sink (unless its partition is no longer owned), or
    /// reports a consumer error.
    async fn receive(&mut self, sink: &mut Sink, received: Result<BorrowedMessage<'_>, KafkaError>) -> anyhow::Result<()> {
        let message = match received {
            Ok(message) => message,
            Err(error) => return self.consumer_error(&error),
        };
        let (Ok(partition), Ok(offset)) = (u32::try_from(message.partition()), u64::try_from(message.offset())) else {
            return Ok(());
        };
        if !self.consumer.context().owns(partition) {
            return Ok(());
        }
        self.report.messages += 1;
        sink.push_slice(partition, offset, message.payload().unwrap_or_default()).await?;
        Ok(())
    }

    /// A consumer error: fatal ones end the run, others are librdkafka's to retry.
    fn consumer_error(&self, error: &KafkaError) -> anyhow::Result<()> {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            anyhow::bail!("the Kafka consumer failed for good: {code}: {reason}");
        }
        tracing::warn!(error = %describe(error), "Kafka consumer error; librdkafka retries");
        Ok(())
    }

    /// Waits until the sink has room for another batch. A short wait (the oldest write finishing)
    /// happens in place; past [`PAUSE_AFTER`] the store is failing or slow, and the assignment is
    /// paused ([`State::WaitingForRoom`]): the loop goes on polling, so that librdkafka's
    /// `max.poll.interval.ms` never sees a stalled member, which would be expelled from the group
    /// without a rebalance callback while its writes are still being retried.
    async fn wait_for_room(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        if let Ok(room) = tokio::time::timeout(PAUSE_AFTER, sink.wait_for_room()).await {
            room?;
            // Waiting for the store is not being idle.
            self.last_activity = Some(Instant::now());
            return Ok(());
        }
        self.report.pauses += 1;
        tracing::warn!(
            waited = ?PAUSE_AFTER,
            "the store has not taken a batch for a while (failing or slow): consumption paused, the consumer keeps polling"
        );
        self.consumer.context().metrics.paused.set(1);
        self.pause(State::WaitingForRoom(Pause::new()))
    }

    /// Flushes every open batch; pauses until they are durable unless they already are.
    async fn drain(&mut self, sink: &mut Sink) -> anyhow::Result<Next> {
        // Revocations seen in the last poll are applied first, so that nothing revoked is flushed.
        self.apply_changes(sink).await?;
        sink.flush_open().await?;
        if sink.is_idle()? {
            return Ok(Next::Done);
        }
        // The last writes may meet a store outage: keep polling meanwhile, as while running, so
        // that the group does not hand the partitions on while they are being written.
        self.pause(State::Draining(Pause::new()))?;
        Ok(Next::Wait)
    }

    /// Ends a pause for room (if one is under way) and resumes consumption.
    async fn end_pause(&mut self) -> anyhow::Result<()> {
        if !matches!(self.state, State::WaitingForRoom(_)) {
            return Ok(());
        }
        let State::WaitingForRoom(pause) = std::mem::replace(&mut self.state, State::Consuming) else { return Ok(()) };
        self.forget_watermarks();
        self.consumer.context().metrics.paused.set(0);
        // Defensive: pausing makes librdkafka discard what it had fetched and not yet handed over,
        // and resume from the last message it handed over, so nothing should have arrived.
        for (partition, offset) in &pause.rewind {
            tracing::warn!(partition, offset, "a message arrived while paused: moving back to it");
            self.seek(*partition, *offset).await?;
        }
        self.resume_all()?;
        self.report.paused += pause.since.elapsed();
        tracing::info!(paused = ?pause.since.elapsed(), "the store takes batches again: consumption resumed");
        Ok(())
    }

    /// Enters a paused `state` and pauses every partition currently assigned; partitions
    /// assigned later follow (see [`Driver::apply_changes`]): librdkafka keeps a partition paused
    /// across a rebalance.
    fn pause(&mut self, state: State) -> anyhow::Result<()> {
        self.state = state;
        self.pause_or_resume_assignment()
    }

    fn resume_all(&mut self) -> anyhow::Result<()> {
        self.state = State::Consuming;
        self.pause_or_resume_assignment()
    }

    fn pause_or_resume_assignment(&self) -> anyhow::Result<()> {
        let assignment = self.consumer.assignment().map_err(|error| anyhow::anyhow!("cannot read the assignment: {}", describe(&error)))?;
        self.pause_or_resume(&assignment)
    }

    /// Pauses `partitions` while the state is a pause, resumes them otherwise.
    pub(super) fn pause_or_resume(&self, partitions: &TopicPartitionList) -> anyhow::Result<()> {
        let paused = !matches!(self.state, State::Consuming);
        let outcome = if paused { self.consumer.pause(partitions) } else { self.consumer.resume(partitions) };
        outcome.map_err(|error| anyhow::anyhow!("cannot pause or resume consumption: {}", describe(&error)))
    }

    /// Commits when batches were stored since the last commit.
    fn commit_if_stored(&mut self, sink: &Sink) -> anyhow::Result<()> {
        if sink.batches_stored() == self.batches_seen {
            return Ok(());
        }
        if let Some(failpoint) = &self.failpoint {
            failpoint.before_commit(sink.batches_stored());
        }
        self.commit(sink, CommitMode::Async)
    }

    /// Commits the sink's position of every owned partition that moved since the last commit.
    pub(super) fn commit(&mut self, sink: &Sink, mode: CommitMode) -> anyhow::Result<()> {
        self.batches_seen = sink.batches_stored();
        let owned = self.consumer.context().owned();
        let mut list = TopicPartitionList::new();
        let mut moved = Vec::new();
        for (partition, position) in sink.committed() {
            // Position 0 means nothing stored: leave the group's offset alone.
            if position == 0 || !owned.contains(&partition) || self.commit_marks.get(&partition) == Some(&position) {
                continue;
            }
            list.add_partition_offset(&self.settings.topic, partition as i32, Offset::Offset(position as i64))
                .map_err(|error| anyhow::anyhow!("bad partition list: {}", describe(&error)))?;
            moved.push((partition, position));
        }
        if moved.is_empty() {
            return Ok(());
        }
        match self.consumer.commit(&list, mode) {
            Ok(()) => {
                self.report.commits += 1;
                self.commit_marks.extend(moved);
            }
            // The store holds the batches; the next commit or the next owner's recovery covers it.
            Err(error) => tracing::warn!(error = %describe(&error), "offset commit failed"),
        }
        Ok(())
    }
}

/// What a state waits for of the sink.
#[derive(Debug, Clone, Copy)]
enum Goal {
    NextStored,
    Room,
    Idle,
}

impl Goal {
    async fn wait(self, sink: &mut Sink) -> Result<(), SinkError> {
        match self {
            Goal::NextStored => sink.wait_for_next_stored().await,
            Goal::Room => sink.wait_for_room().await,
            Goal::Idle => sink.wait_for_idle().await,
        }
    }
}
