//! Helpers shared by the fixed-record decoders: the few bytes of a record split across two
//! chunks, and a writer into a vector's spare capacity for the hot loops.

use std::mem::MaybeUninit;

use super::Event;

/// The start of a record whose remaining bytes are in the next chunk (`N` = record size).
#[derive(Debug)]
pub(crate) struct Carry<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Carry<N> {
    fn default() -> Self {
        Self { buf: [0; N], len: 0 }
    }
}

impl<const N: usize> Carry<N> {
    /// Completes a pending record from the head of `chunk`. Returns the record, if one is now
    /// whole, and the rest of the chunk.
    pub fn complete<'a>(&mut self, chunk: &'a [u8]) -> (Option<[u8; N]>, &'a [u8]) {
        if self.len == 0 {
            return (None, chunk);
        }
        let take = (N - self.len).min(chunk.len());
        self.buf[self.len..self.len + take].copy_from_slice(&chunk[..take]);
        self.len += take;
        if self.len < N {
            return (None, &chunk[take..]);
        }
        self.len = 0;
        (Some(self.buf), &chunk[take..])
    }

    /// Splits `rest` into whole records and keeps the tail (shorter than a record) for later.
    /// A record still pending (the chunk was too short to complete it) leaves `rest` empty.
    pub fn split_whole<'a>(&mut self, rest: &'a [u8]) -> &'a [u8] {
        if self.len != 0 {
            return rest; // empty: `complete` used the whole chunk
        }
        let whole = rest.len() / N * N;
        let tail = &rest[whole..];
        self.buf[..tail.len()].copy_from_slice(tail);
        self.len = tail.len();
        &rest[..whole]
    }

    /// Bytes of an unfinished record held back.
    pub fn pending(&self) -> usize {
        self.len
    }
}

/// Writes events into the spare capacity of a `Vec<Event>` without a capacity check per event.
///
/// Create it with the most events the caller can write; dropping it makes the written ones part
/// of the vector.
pub(crate) struct SpareWriter<'a> {
    vec: &'a mut Vec<Event>,
    written: usize,
}

impl<'a> SpareWriter<'a> {
    pub fn new(vec: &'a mut Vec<Event>, max_events: usize) -> Self {
        vec.reserve(max_events);
        Self { vec, written: 0 }
    }

    /// Appends one event. Panics only if more than `max_events` are written (a decoder bug).
    #[inline(always)]
    pub fn push(&mut self, event: Event) {
        let spare: &mut [MaybeUninit<Event>] = self.vec.spare_capacity_mut();
        spare[self.written].write(event);
        self.written += 1;
    }
}

impl Drop for SpareWriter<'_> {
    fn drop(&mut self) {
        let len = self.vec.len() + self.written;
        // SAFETY: `push` initialised exactly the first `written` slots of the spare capacity,
        // in order, and nothing else touched the vector while `self` borrowed it.
        unsafe { self.vec.set_len(len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a record completed over three or more chunks lost its first bytes.
    #[test]
    fn record_split_over_many_one_byte_chunks_is_reassembled() {
        let mut carry = Carry::<5>::default();
        let input = [1u8, 2, 3, 4, 5, 6, 7];
        let mut records = Vec::new();
        for byte in input.chunks(1) {
            let (done, rest) = carry.complete(byte);
            records.extend(done);
            let whole = carry.split_whole(rest);
            records.extend(whole.chunks_exact(5).map(|r| <[u8; 5]>::try_from(r).unwrap()));
        }
        assert_eq!(records, [[1, 2, 3, 4, 5]]);
        assert_eq!(carry.pending(), 2);
    }
}
