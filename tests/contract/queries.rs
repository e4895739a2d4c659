//! Queries: declared indexes, conditions, order, pages, sync state.

use outbox_sync::core::index::{IndexSpec, Shown};
use outbox_sync::core::query::{plan, Direction, QueryError, QueryOptions};
use outbox_sync::core::query_key::Key;
use outbox_sync::core::query_run::{run_query, QueryPage};
use outbox_sync::core::{EventState, NewEvent, Operation, OutboxStore, StoreConfig};
use outbox_sync_protocol::{Map, Value};

use super::{key, Fresh};

/// The indexes the query tests declare on `notes`.
pub fn note_indexes() -> Vec<IndexSpec> {
    [
        vec!["site"],
        vec!["site", "rank"],
        vec!["title"],
        vec!["rank"],
    ]
    .into_iter()
    .map(|fields| {
        IndexSpec::declared("notes", fields.into_iter().map(str::to_owned).collect()).unwrap()
    })
    .collect()
}

/// A put of `notes/<id>` with a site, a title and a rank.
fn note(id: &str, site: &str, title: &str, rank: f64) -> NewEvent {
    let fields: Map = [
        ("site".to_owned(), Value::from(site)),
        ("title".to_owned(), Value::from(title)),
        ("rank".to_owned(), Value::Number(rank)),
    ]
    .into();
    NewEvent {
        collection: "notes".into(),
        record_id: id.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    }
}

/// Ten notes: n0..n9 on sites A (even) and B (odd), rank = the number,
/// titles "pump 0".."pump 4" and "valve 5".."valve 9"; written at 0..9.
async fn ten_notes(outbox: &impl OutboxStore) {
    for i in 0..10 {
        let site = if i % 2 == 0 { "A" } else { "B" };
        let word = if i < 5 { "pump" } else { "valve" };
        let change = note(&format!("n{i}"), site, &format!("{word} {i}"), i as f64);
        outbox.enqueue(change, i).await.unwrap();
    }
}

fn options(conditions: &[(&str, Value)]) -> QueryOptions {
    QueryOptions {
        conditions: conditions
            .iter()
            .map(|(f, v)| ((*f).to_owned(), v.clone()))
            .collect(),
        ..QueryOptions::default()
    }
}

fn object(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

async fn query<S: OutboxStore>(outbox: &S, options: &QueryOptions) -> QueryPage<S::Row> {
    let plan = plan("notes", options, &outbox.declared_indexes()).expect("a valid query");
    run_query(outbox, &plan).await.unwrap()
}

async fn ids(outbox: &impl OutboxStore, options: &QueryOptions) -> Vec<String> {
    ids_of(&query(outbox, options).await)
}

fn ids_of<R: Shown>(page: &QueryPage<R>) -> Vec<String> {
    page.records
        .iter()
        .map(|(r, _)| r.record_id().to_owned())
        .collect()
}

pub async fn queries_select_by_equality_range_prefix_and_in(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    ten_notes(&outbox).await;
    assert_eq!(
        ids(&outbox, &options(&[("site", Value::from("B"))])).await,
        ["n1", "n3", "n5", "n7", "n9"],
        "equality, then by id"
    );
    let rank = |ops: &[(&str, Value)]| options(&[("rank", object(ops))]);
    assert_eq!(
        ids(&outbox, &rank(&[("gt", Value::Number(6.0))])).await,
        ["n7", "n8", "n9"]
    );
    assert_eq!(
        ids(
            &outbox,
            &rank(&[("gte", Value::Number(2.0)), ("lt", Value::Number(4.0))])
        )
        .await,
        ["n2", "n3"]
    );
    assert_eq!(
        ids(&outbox, &rank(&[("lte", Value::Number(1.0))])).await,
        ["n0", "n1"]
    );
    assert_eq!(
        ids(
            &outbox,
            &rank(&[(
                "between",
                Value::Array(vec![Value::Number(4.0), Value::Number(5.0)])
            )])
        )
        .await,
        ["n4", "n5"]
    );
    assert_eq!(
        ids(
            &outbox,
            &options(&[("title", object(&[("startsWith", Value::from("valve"))]))])
        )
        .await,
        ["n5", "n6", "n7", "n8", "n9"]
    );
    let one_of = Value::Array(vec![
        Value::Number(9.0),
        Value::Number(3.0),
        Value::Number(3.0),
    ]);
    assert_eq!(
        ids(&outbox, &rank(&[("in", one_of)])).await,
        ["n3", "n9"],
        "in, in index order, once each"
    );
    assert_eq!(
        ids(
            &outbox,
            &options(&[
                ("site", Value::from("A")),
                ("rank", object(&[("gt", Value::Number(3.0))]))
            ])
        )
        .await,
        ["n4", "n6", "n8"],
        "equality then range on a compound index"
    );
    assert!(ids(&outbox, &options(&[("site", Value::from("C"))]))
        .await
        .is_empty());
}

pub async fn queries_order_and_page_without_gaps_or_repeats(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    ten_notes(&outbox).await;
    for direction in [Direction::Asc, Direction::Desc] {
        let mut asked = QueryOptions {
            order_by: Some("rank".into()),
            direction,
            limit: Some(3),
            ..QueryOptions::default()
        };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let page = query(&outbox, &asked).await;
            pages += 1;
            seen.extend(ids_of(&page));
            match page.next {
                Some(next) => asked.after = Some(next),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        if direction == Direction::Desc {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{direction:?}");
        assert_eq!(pages, 4, "3 + 3 + 3 + 1, and no empty last page");
    }
    // Equal values page by id, both ways.
    let by_site = QueryOptions {
        conditions: vec![("site".into(), Value::from("A"))],
        order_by: Some("rank".into()),
        direction: Direction::Desc,
        limit: Some(2),
        ..QueryOptions::default()
    };
    let first = query(&outbox, &by_site).await;
    assert_eq!(ids_of(&first), ["n8", "n6"]);
    let second = query(
        &outbox,
        &QueryOptions {
            after: first.next.clone(),
            ..by_site.clone()
        },
    )
    .await;
    assert_eq!(ids_of(&second), ["n4", "n2"]);
    let by_change = QueryOptions {
        order_by: Some("$updatedAt".into()),
        direction: Direction::Desc,
        limit: Some(2),
        ..QueryOptions::default()
    };
    assert_eq!(
        ids(&outbox, &by_change).await,
        ["n9", "n8"],
        "last changed first"
    );
    let by_id = QueryOptions {
        conditions: vec![("$id".into(), object(&[("gte", Value::from("n7"))]))],
        ..QueryOptions::default()
    };
    assert_eq!(ids(&outbox, &by_id).await, ["n7", "n8", "n9"]);
}

pub async fn queries_by_sync_state_find_unsent_and_needing_attention(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    ten_notes(&outbox).await;
    // n0 synced, n1 failed, n2 in conflict, n3 syncing, the rest queued.
    let batch = outbox.take_batch(100, 4).await.unwrap();
    assert_eq!(batch.len(), 4);
    outbox
        .complete(batch[0].event_id, Some(1), 101)
        .await
        .unwrap();
    outbox.fail(batch[1].event_id, "refused").await.unwrap();
    outbox
        .mark_conflict(batch[2].event_id, "newer")
        .await
        .unwrap();
    let state = |name: &str| options(&[("$state", Value::from(name))]);
    assert_eq!(ids(&outbox, &state("synced")).await, ["n0"]);
    assert_eq!(ids(&outbox, &state("failed")).await, ["n1"]);
    assert_eq!(ids(&outbox, &state("syncing")).await, ["n3"]);
    let needs_me = options(&[(
        "$state",
        object(&[(
            "in",
            Value::Array(vec![Value::from("failed"), Value::from("conflict")]),
        )]),
    )]);
    let page = query(&outbox, &needs_me).await;
    assert_eq!(ids_of(&page), ["n1", "n2"]);
    assert_eq!(
        page.records.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [EventState::Failed, EventState::Conflict],
        "each record comes with its state"
    );
    // Unsent, on one site, last changed first, in pages.
    let unsent_on_b = QueryOptions {
        conditions: vec![
            (
                "$state".into(),
                object(&[(
                    "in",
                    Value::Array(
                        ["queued", "syncing", "failed", "conflict"]
                            .map(Value::from)
                            .to_vec(),
                    ),
                )]),
            ),
            ("site".into(), Value::from("B")),
        ],
        order_by: Some("$updatedAt".into()),
        direction: Direction::Desc,
        limit: Some(3),
        ..QueryOptions::default()
    };
    let first = query(&outbox, &unsent_on_b).await;
    assert_eq!(ids_of(&first), ["n9", "n7", "n5"]);
    let rest = query(
        &outbox,
        &QueryOptions {
            after: first.next.clone(),
            ..unsent_on_b
        },
    )
    .await;
    assert_eq!(ids_of(&rest), ["n3", "n1"]);
    assert_eq!(rest.next, None);
    // Synced on site A: the index serves the site, the state is checked.
    let synced_a = options(&[
        ("site", Value::from("A")),
        ("$state", Value::from("synced")),
    ]);
    assert_eq!(ids(&outbox, &synced_a).await, ["n0"]);
}

/// States read with the records (IndexedDB reads only the changes not
/// queued, and each record's changes once there are many of those) are the
/// ones each record's own changes give.
pub async fn query_states_match_each_records_changes(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    // 300 notes, every one being sent: more than the store reads by state at once.
    let many: Vec<NewEvent> = (0..300)
        .map(|i| note(&format!("m{i:03}"), "A", "pump", f64::from(i)))
        .collect();
    outbox.enqueue_batch(many, 1).await.unwrap();
    assert_eq!(outbox.take_batch(2, 300).await.unwrap().len(), 300);
    // n1 queued, n2 being sent with a newer change queued behind it, n3 refused.
    for id in ["n1", "n2", "n3"] {
        outbox
            .enqueue(note(id, "B", "valve", 1.0), 3)
            .await
            .unwrap();
    }
    let batch = outbox.take_batch(4, 2).await.unwrap();
    let sent: Vec<&str> = batch.iter().map(|e| e.record_id.as_str()).collect();
    assert_eq!(sent, ["n1", "n2"], "the oldest first");
    outbox.fail(batch[0].event_id, "refused").await.unwrap();
    outbox
        .enqueue(note("n2", "B", "valve 2", 2.0), 5)
        .await
        .unwrap();
    let on_b = QueryOptions {
        limit: Some(10),
        ..options(&[("site", Value::from("B"))])
    };
    let page = query(&outbox, &on_b).await;
    let shown: Vec<(String, EventState)> = page
        .records
        .iter()
        .map(|(record, state)| (record.record_id().to_owned(), *state))
        .collect();
    let want = [
        ("n1", EventState::Failed),
        ("n2", EventState::Syncing),
        ("n3", EventState::Queued),
    ]
    .map(|(id, state)| (id.to_owned(), state));
    assert_eq!(shown, want);
    let on_a = QueryOptions {
        limit: Some(500),
        ..options(&[("site", Value::from("A"))])
    };
    let page = query(&outbox, &on_a).await;
    assert_eq!(page.records.len(), 300);
    assert!(
        page.records
            .iter()
            .all(|(_, state)| *state == EventState::Syncing),
        "many changes being sent: each record's own are read"
    );
}

pub async fn queries_show_what_the_device_shows(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    ten_notes(&outbox).await;
    // A pending change moves a record in and out of a query's results...
    let mut moved = note("n1", "A", "pump 1", 1.0);
    moved.op = Operation::Patch;
    moved.payload = object(&[("site", Value::from("A"))]);
    outbox.enqueue(moved, 20).await.unwrap();
    let on_a = options(&[("site", Value::from("A"))]);
    assert_eq!(
        ids(&outbox, &on_a).await,
        ["n0", "n1", "n2", "n4", "n6", "n8"]
    );
    // ...a deleted record is in none...
    let delete = NewEvent {
        collection: "notes".into(),
        record_id: "n0".into(),
        op: Operation::Delete,
        payload: Value::Null,
    };
    outbox.enqueue(delete, 21).await.unwrap();
    assert!(
        outbox.record(&key("n0")).await.unwrap().is_some(),
        "kept until synced"
    );
    assert_eq!(ids(&outbox, &on_a).await, ["n1", "n2", "n4", "n6", "n8"]);
    let everything = QueryOptions {
        limit: Some(100),
        ..QueryOptions::default()
    };
    assert_eq!(ids(&outbox, &everything).await.len(), 9);
    // ...and a field that cannot be a key (a boolean) leaves it out of that index only.
    let mut flagged = note("n2", "A", "pump 2", 2.0);
    flagged.op = Operation::Patch;
    flagged.payload = object(&[("rank", Value::Bool(true))]);
    outbox.enqueue(flagged, 22).await.unwrap();
    let ranked = QueryOptions {
        order_by: Some("rank".into()),
        ..QueryOptions::default()
    };
    assert!(!ids(&outbox, &ranked).await.contains(&"n2".to_owned()));
    assert!(ids(&outbox, &on_a).await.contains(&"n2".to_owned()));
}

pub async fn a_query_no_index_serves_is_refused_unless_it_scans(fresh: impl Fresh) {
    let outbox = fresh
        .open_indexed(StoreConfig::default(), note_indexes())
        .await;
    ten_notes(&outbox).await;
    let declared = outbox.declared_indexes();
    let by_title_and_site =
        options(&[("title", Value::from("pump 2")), ("site", Value::from("A"))]);
    let refused = plan("notes", &by_title_and_site, &declared).unwrap_err();
    assert!(
        matches!(refused, QueryError::NeedsIndex { .. }),
        "{refused:?}"
    );
    let text = refused.to_string();
    assert!(
        text.contains("\"title\", \"site\"") && text.contains("scan: true"),
        "{text}"
    );
    let order_elsewhere = QueryOptions {
        conditions: vec![("title".into(), Value::from("pump 2"))],
        order_by: Some("rank".into()),
        ..QueryOptions::default()
    };
    assert!(plan("notes", &order_elsewhere, &declared).is_err());
    let scanning = QueryOptions {
        scan: true,
        ..by_title_and_site
    };
    assert_eq!(ids(&outbox, &scanning).await, ["n2"]);
    let scan_ordered = QueryOptions {
        scan: true,
        order_by: Some("title".into()),
        direction: Direction::Desc,
        limit: Some(2),
        conditions: vec![("site".into(), Value::from("B"))],
        ..QueryOptions::default()
    };
    assert_eq!(ids(&outbox, &scan_ordered).await, ["n9", "n7"]);
    for bad in [
        options(&[("site", Value::Bool(true))]),
        options(&[("site", object(&[("near", Value::from("A"))]))]),
        options(&[("$state", Value::from("lost"))]),
        options(&[("a.b", Value::from("x"))]),
        QueryOptions {
            limit: Some(0),
            ..QueryOptions::default()
        },
        QueryOptions {
            after: Some(Key::Str("elsewhere".into())),
            ..QueryOptions::default()
        },
    ] {
        let error = plan("notes", &bad, &declared).unwrap_err();
        assert!(
            matches!(error, QueryError::Invalid(_)),
            "{bad:?}: {error:?}"
        );
    }
}
