//! Limits on the numbers typed on the command line, in one place: every count, duration and
//! rate a command takes is checked here against a stated range, or against the memory it would
//! need, and refused with a message naming the flag, before anything is allocated or a
//! `Duration` overflows. Commands call these right after parsing.

use anyhow::bail;
use super::human;

/// An integer flag within `[min, max]`; `why` says what the number is, for the message.
pub fn count(flag: &str, value: u64, min: u64, max: u64, why: &str) -> anyhow::Result<()> {
    if value < min || value > max {
        bail!("{flag} {value} is out of range: give {min} to {max} ({why})");
    }
    Ok(())
}

/// A real-valued flag, finite and within `[min, max]`.
pub fn real(flag: &str, value: f64, min: f64, max: f64, why: &str) -> anyhow::Result<()> {
    if !value.is_finite() || value < min || value > max {
        bail!("{flag} {} is out of range: give {min} to {max} ({why})", show(value));
    }
    Ok(())
}

/// Refuses when `bytes` (what `flag` asks to allocate: `what`) exceed the memory budget.
pub fn memory(flag: &str, what: &str, bytes: u128) -> anyhow::Result<()> {
    let budget = memory_budget();
    if bytes > u128::from(budget) {
        bail!("{flag}: {what} would need {}, more than the limit of {} (this machine's memory); give a smaller value", human(bytes, false), human(budget.into(), false));
    }
    Ok(())
}

/// `a * b * …` without overflow (saturating at `u128::MAX`), for sizes computed from flags.
pub fn product(factors: &[u64]) -> u128 {
    factors.iter().fold(1u128, |acc, &f| acc.saturating_mul(u128::from(f)))
}

/// The physical memory of this machine (16 GiB where it cannot be read).
pub fn memory_budget() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads system configuration.
        let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        if pages > 0 && page > 0 {
            return (pages as u64).saturating_mul(page as u64);
        }
    }
    16 << 30
}

/// `4`, `0.5`, or `1e-300` for values a plain `{}` would spell out in hundreds of digits.
fn show(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e9).contains(&v.abs()) { format!("{v:e}") } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_flag_and_the_range() {
        let e = count("--queue", 1_000_000_000_000, 1, 4096, "frames queued").unwrap_err().to_string();
        assert!(e.contains("--queue") && e.contains("4096"), "{e}");
        assert!(real("--speed", 1e-300, 1e-3, 1e6, "replay speed").is_err());
        assert!(real("--speed", f64::NAN, 1e-3, 1e6, "replay speed").is_err());
        assert!(real("--speed", 4.0, 1e-3, 1e6, "replay speed").is_ok());
        let e = memory("--frames", "the frames", product(&[1_000_000_000, 2, 480, 640, 4])).unwrap_err().to_string();
        assert!(e.contains("--frames") && e.contains("PB") && e.contains("give a smaller value"), "{e}");
    }
}
