//! The process's heap policy for long runs that allocate and free the same large buffers over
//! and over (training, evaluation).
//!
//! glibc serves a block above its mmap threshold (128 KiB, growing up to 32 MiB as blocks are
//! freed) with a fresh `mmap` and returns it with `munmap`, and trims the heap top above 128 KiB.
//! A training step allocates and frees hundreds of activation and gradient tensors of 0.1–10 MB,
//! so with the defaults every one of them costs page faults and the kernel's zeroing of each page
//! (`perf record` of a width/8 training run: 8.6 % of the samples in page faults, 1.6 % in
//! `munmap`/`brk`). Keeping freed blocks in the heap lets the next step reuse them. Peak resident
//! memory is unchanged (the blocks were live at the peak anyway); it is simply not handed back
//! between steps. Only the CLI does this: a library must not change its host's allocator.

/// Tell glibc to keep freed memory for reuse (no per-block mmap, no trimming). A no-op on other
/// C libraries and systems.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before the run's
    // worker threads start and takes plain integers.
    unsafe {
        // The largest value glibc accepts for the mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit).
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
