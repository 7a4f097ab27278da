//! The bounded frame queue between framer and engine, with its overload policy: `block` (the
//! framer waits, which in turn slows the source) or `drop-oldest` (the newest frame always gets
//! in; the oldest queued one is discarded and counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, SendError, Sender, TrySendError, bounded};

/// What the framer does when the engine falls behind and the frame queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// Wait for room (nothing is dropped; latency grows, the source is slowed).
    Block,
    /// Discard the oldest queued frame to make room (latency stays bounded; drops are counted).
    DropOldest,
}

impl Overload {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "block" => Some(Self::Block),
            "drop-oldest" | "drop_oldest" => Some(Self::DropOldest),
            _ => None,
        }
    }
}

/// The sending side of the queue.
pub struct PolicySender<T> {
    tx: Sender<T>,
    /// Held only with `DropOldest`, to take the oldest item out. With `Block` the framer must not
    /// hold a receiver, so the engine leaving disconnects the queue and unblocks the framer.
    oldest: Option<Receiver<T>>,
    dropped: Arc<AtomicU64>,
    /// Cleared when the [`PolicyReceiver`] drops (our own receiver keeps the channel open).
    listening: Arc<AtomicBool>,
}

/// The receiving side; dropping it tells the sender that nobody listens any more.
pub struct PolicyReceiver<T> {
    rx: Receiver<T>,
    listening: Arc<AtomicBool>,
}

impl<T> std::ops::Deref for PolicyReceiver<T> {
    type Target = Receiver<T>;
    fn deref(&self) -> &Receiver<T> {
        &self.rx
    }
}

impl<T> Drop for PolicyReceiver<T> {
    fn drop(&mut self) {
        // Draining here would give a blocked sender room and let its send succeed: the channel
        // frees what is queued once both sides are gone.
        self.listening.store(false, Ordering::SeqCst);
    }
}

/// A queue of `capacity` items (at least 1) with the given policy; `dropped` counts discards.
pub fn queue<T>(capacity: usize, policy: Overload, dropped: Arc<AtomicU64>) -> (PolicySender<T>, PolicyReceiver<T>) {
    let (tx, rx) = bounded(capacity.max(1));
    let oldest = (policy == Overload::DropOldest).then(|| rx.clone());
    let listening = Arc::new(AtomicBool::new(true));
    (PolicySender { tx, oldest, dropped, listening: Arc::clone(&listening) }, PolicyReceiver { rx, listening })
}

impl<T> PolicySender<T> {
    /// Sends under the policy; `Err` when the receiving side is gone.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let Some(oldest) = &self.oldest else { return self.tx.send(item) };
        // Our own receiver keeps the channel alive, so check that the engine still listens.
        if self.disconnected() {
            return Err(SendError(item));
        }
        let mut item = item;
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => {
                    item = back;
                    if oldest.try_recv().is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    /// Whether the consumer is gone.
    pub fn disconnected(&self) -> bool {
        !self.listening.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_drops() {
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = queue(2, Overload::DropOldest, dropped.clone());
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        drop(rx);
        assert!(tx.send(9).is_err(), "a gone consumer ends the queue");
    }

    #[test]
    fn block_never_drops_and_unblocks_when_the_consumer_leaves() {
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = queue(1, Overload::Block, dropped.clone());
        tx.send(1).unwrap();
        let t = std::thread::spawn(move || tx.send(2));
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(rx);
        assert!(t.join().unwrap().is_err());
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }
}
