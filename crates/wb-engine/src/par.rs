//! Two pieces of CPU work at once, for the places that handle a whole
//! manifest twice (8 MB at 100k rows): hashing it while signing or
//! parsing it, rebuilding one manifest while parsing another.

/// Runs `first` on a thread of its own and `second` on this one, and
/// returns both results. A panic in `first` is raised again here, as if
/// both had run on this thread.
pub fn side_by_side<A, B>(first: impl FnOnce() -> A + Send, second: impl FnOnce() -> B) -> (A, B)
where
    A: Send,
{
    std::thread::scope(|scope| {
        let first = scope.spawn(first);
        let second = second();
        let first = first
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (first, second)
    })
}

#[cfg(test)]
mod tests {
    use super::side_by_side;

    #[test]
    fn both_results_come_back_in_order() {
        let data = [1_u64, 2, 3];
        let (sum, len) = side_by_side(|| data.iter().sum::<u64>(), || data.len());
        assert_eq!((sum, len), (6, 3));
    }

    #[test]
    fn a_panic_of_the_first_is_raised_again() {
        let caught = std::panic::catch_unwind(|| side_by_side(|| panic!("first"), || 2));
        assert!(caught.is_err());
    }
}
