//! The store door (the storage half of memcached.c: do_store_item,
//! do_add_delta, process_touch, process_delete, process_flush_all, and the
//! meta commands' semantics). Every logical change to the cache goes
//! through a function here, and each change leaves one record (change.rs)
//! saying what the item now is, or that it is gone, and why.

/// Outcome of a store (memcached's store_item_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreItemType {
    Stored,
    NotStored,
    Exists,
    NotFound,
    TooLarge,
    NoMemory,
}

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCmd {
    Add,
    Set,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// Outcome of incr/decr (memcached's delta_result_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaResult {
    Ok(u64),
    NonNumeric,
    Eom,
    NotFound,
    /// The meta C flag's CAS did not match.
    Exists,
}
