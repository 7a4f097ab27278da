//! Helpers shared by the fixed-record decoders: the few bytes of a record split across two
//! chunks, and a writer into a vector's spare capacity for the hot loops.

use std::mem::MaybeUninit;

use crate::events::Event;

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

/// Writes events into the spare capacity of a `Vec<Event>`: one predictable bounds check per
/// event, no reallocation, no length update until the end.
///
/// Create it with the most events the caller can write; dropping it makes the written ones part
/// of the vector.
pub(crate) struct SpareWriter<'a> {
    vec: &'a mut Vec<Event>,
    /// The first spare slot, `vec.as_mut_ptr() + vec.len()` at creation.
    spare: *mut Event,
    /// Spare slots reserved (at least `max_events`).
    room: usize,
    written: usize,
}

impl<'a> SpareWriter<'a> {
    pub fn new(vec: &'a mut Vec<Event>, max_events: usize) -> Self {
        let first = vec.capacity() == 0;
        vec.reserve(max_events);
        if first {
            advise_huge_pages(vec);
        }
        let room = vec.capacity() - vec.len();
        // SAFETY: `len <= capacity`, so the offset stays inside the allocation (or one past it).
        let spare = unsafe { vec.as_mut_ptr().add(vec.len()) };
        Self { vec, spare, room, written: 0 }
    }

    /// Appends one event. Panics only if more than the reserved events are written (a decoder bug).
    #[inline(always)]
    pub fn push(&mut self, event: Event) {
        self.push_packed_if(event.t, pack(event.x, event.y, event.p), true);
    }

    /// Appends the event with time `t` and [`pack`]ed `x`, `y`, `p` (`low`), which a decoder can
    /// keep ready in one register.
    #[inline(always)]
    pub fn push_packed(&mut self, t: u64, low: u64) {
        self.push_packed_if(t, low, true);
    }

    /// Writes the event into the next slot but keeps it only when `keep` (else the next write
    /// replaces it), so a hot loop can emit without a data-dependent branch; the slot must be
    /// reserved either way. Bits of `low` above `p` are ignored.
    #[inline(always)]
    pub fn push_packed_if(&mut self, t: u64, low: u64, keep: bool) {
        let low = low & PACKED_MASK;
        assert!(self.written < self.room, "SpareWriter: more events than reserved");
        // SAFETY: `written < room`, so the slot lies in the spare capacity reserved in `new`,
        // and the vector cannot reallocate while `self` borrows it mutably.
        let slot = unsafe { self.spare.add(self.written) };
        #[cfg(target_endian = "little")]
        // SAFETY: `slot` is valid for a 16-byte write and 8-aligned (it is an `Event` slot).
        // Two 8-byte stores (LLVM stores an `Event` field by field, because of its padding):
        // by the layout asserted below, `t` fills bytes 0..8 and `low` bytes 8..16 with x, y,
        // p and zero padding; `PACKED_MASK` leaves p 0 or 1, a valid `bool`.
        unsafe {
            slot.cast::<[u64; 2]>().write([t, low])
        };
        #[cfg(not(target_endian = "little"))]
        // SAFETY: as above, for a whole `Event`.
        unsafe {
            slot.write(Event { t, x: low as u16, y: (low >> 16) as u16, p: low >> 32 != 0 })
        };
        self.written += usize::from(keep);
    }

    /// Appends one event per item, `f` giving its `t` and [`pack`]ed `x`, `y`, `p`. One bounds
    /// check for all, so a simple `f` vectorises.
    #[inline(always)]
    pub fn push_all<T: Copy>(&mut self, items: &[T], f: impl Fn(T) -> (u64, u64)) {
        assert!(items.len() <= self.room - self.written, "SpareWriter: more events than reserved");
        // SAFETY: the `items.len()` slots from `written` lie in the reserved spare capacity
        // (checked above), which `self` borrows exclusively; `[u64; 2]` has the size and
        // alignment of `Event` (asserted below), and `MaybeUninit` needs no initialisation.
        let slots = unsafe { std::slice::from_raw_parts_mut(self.spare.add(self.written).cast::<MaybeUninit<[u64; 2]>>(), items.len()) };
        for (slot, &item) in slots.iter_mut().zip(items) {
            let (t, low) = f(item);
            // `[t, low]` is a valid `Event`, as in `push_packed_if`.
            #[cfg(target_endian = "little")]
            slot.write([t, low & PACKED_MASK]);
            #[cfg(not(target_endian = "little"))]
            // SAFETY: an `Event` slot, as above.
            unsafe {
                slot.as_mut_ptr().cast::<Event>().write(Event { t, x: low as u16, y: (low >> 16) as u16, p: low >> 32 & 1 != 0 })
            };
        }
        self.written += items.len();
    }
}

/// Asks Linux to back a newly allocated large buffer with 2 MiB pages: a fresh `Vec` of many
/// events otherwise costs one page fault per 4 KiB on first write (256 per MiB), which costs
/// more than decoding into it. NumPy does the same for arrays of 4 MiB and more.
pub(crate) fn advise_huge_pages(vec: &mut Vec<Event>) {
    const MIN_BYTES: usize = 4 << 20;
    #[cfg(target_os = "linux")]
    {
        let bytes = vec.capacity() * size_of::<Event>();
        if bytes < MIN_BYTES {
            return;
        }
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        let start = (vec.as_mut_ptr() as usize).next_multiple_of(page);
        let end = (vec.as_mut_ptr() as usize + bytes) / page * page;
        if end > start {
            // SAFETY: madvise only gives the kernel a hint about whole pages inside this
            // vector's own allocation; it changes no memory contents. A refusal is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (vec, MIN_BYTES);
}

/// `x | y << 16 | p << 32`: bytes 8..16 of an [`Event`] in memory (on little-endian targets).
#[inline(always)]
pub(crate) const fn pack(x: u16, y: u16, p: bool) -> u64 {
    x as u64 | (y as u64) << 16 | (p as u64) << 32
}

const PACKED_MASK: u64 = (1 << 33) - 1;

// The `Event` layout `SpareWriter::push_packed_if` relies on.
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Event>() == 16 && align_of::<Event>() == 8);
    assert!(offset_of!(Event, t) == 0 && offset_of!(Event, x) == 8 && offset_of!(Event, y) == 10);
    assert!(offset_of!(Event, p) == 12);
};

impl Drop for SpareWriter<'_> {
    fn drop(&mut self) {
        let len = self.vec.len() + self.written;
        // SAFETY: `written` grows by at most one, and only right after a write to slot
        // `written`, so the first `written` spare slots are initialised, in order;
        // `written <= room` keeps `len` within the capacity; nothing else touched the vector
        // while `self` borrowed it.
        unsafe { self.vec.set_len(len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_pushes_equal_event_pushes_and_discarded_candidates_vanish() {
        let events = [Event::new(1, 2, 3, true), Event::new(u64::MAX, u16::MAX, u16::MAX, false), Event::new(7, 0, 9, true)];
        let mut out = vec![Event::new(5, 5, 5, false)];
        {
            let mut w = SpareWriter::new(&mut out, 8);
            w.push(events[0]);
            w.push_packed_if(99, pack(1, 1, true), false);
            let e = events[1];
            // Bits above p are ignored.
            w.push_packed_if(e.t, pack(e.x, e.y, e.p) | 0xFF << 40, true);
            w.push_all(&events[2..], |e: Event| (e.t, pack(e.x, e.y, e.p)));
        }
        assert_eq!(out, [Event::new(5, 5, 5, false), events[0], events[1], events[2]]);
    }

    #[test]
    #[should_panic(expected = "more events than reserved")]
    fn writing_past_the_reservation_panics() {
        let mut out = Vec::new();
        let mut w = SpareWriter::new(&mut out, 2);
        for _ in 0..=w.room {
            w.push(Event::default());
        }
    }

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
