//! The eviction rule: synced copies only, least recently used first, just
//! enough to fit the cap.

use super::*;

fn file(key: &str, size: u64, state: BlobState, used_at_ms: u64) -> CachedFile {
    CachedFile {
        sha256: key.into(),
        size,
        state,
        used_at_ms,
    }
}

#[test]
fn nothing_goes_while_the_files_fit() {
    let files = [
        file("a", 40, BlobState::Synced, 1),
        file("b", 60, BlobState::Synced, 2),
    ];
    assert!(files_to_evict(&files, 100).is_empty());
    assert!(files_to_evict(&[], 0).is_empty());
}

#[test]
fn the_least_recently_used_synced_copies_go_first_and_only_as_many_as_needed() {
    let files = [
        file("new", 30, BlobState::Synced, 300),
        file("old", 30, BlobState::Synced, 100),
        file("mid", 30, BlobState::Synced, 200),
    ];
    assert_eq!(files_to_evict(&files, 60), ["old"]);
    assert_eq!(files_to_evict(&files, 59), ["old", "mid"]);
    assert_eq!(files_to_evict(&files, 0), ["old", "mid", "new"]);
}

#[test]
fn a_file_not_yet_on_the_server_or_refused_by_it_is_never_removed() {
    let files = [
        file("queued", 50, BlobState::Queued, 1),
        file("uploading", 50, BlobState::Uploading, 2),
        file("failed", 50, BlobState::Failed, 3),
        file("synced", 50, BlobState::Synced, 4),
    ];
    // Over the cap by the pending files alone: every synced copy goes, nothing else.
    assert_eq!(files_to_evict(&files, 10), ["synced"]);
    assert_eq!(files_to_evict(&files, 150), ["synced"]);
    assert!(files_to_evict(&files, 200).is_empty());
}

#[test]
fn pending_files_count_towards_the_cap() {
    let files = [
        file("photo", 80, BlobState::Queued, 9),
        file("copy", 30, BlobState::Synced, 1),
    ];
    assert_eq!(files_to_evict(&files, 100), ["copy"]);
}

#[test]
fn the_choice_does_not_depend_on_the_order_given() {
    let mut files = vec![
        file("b", 10, BlobState::Synced, 5),
        file("a", 10, BlobState::Synced, 5),
        file("c", 10, BlobState::Synced, 1),
    ];
    let first = files_to_evict(&files, 10);
    files.reverse();
    assert_eq!(files_to_evict(&files, 10), first);
    assert_eq!(first, ["c", "a"]);
}
