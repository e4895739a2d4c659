//! What an event does to a record under a conflict policy: pure logic, no
//! storage, so every rule is unit tested here.
//!
//! Each record keeps, beside its data, the version at which every field last
//! changed (removed fields included). That is what lets `merge` tell "the
//! server changed this field since you saw the record" from "the server
//! changed other fields".

use std::collections::BTreeMap;

use outbox_sync_protocol::{Event, Map, Op, Value};

use crate::config::Policy;

/// Field name to the version at which it last changed.
pub type FieldVersions = BTreeMap<String, u64>;

/// A record's state as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The version of the last change.
    pub version: u64,
    /// Whether the record is a tombstone.
    pub deleted: bool,
    /// The fields; empty for a tombstone.
    pub data: Map,
    /// When each field last changed.
    pub fields: FieldVersions,
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Store this new state (its version is the one passed in).
    Apply(State),
    /// Leave the record alone and report a conflict.
    Conflict {
        /// For `merge`, the fields both sides changed.
        fields: Vec<String>,
        /// A sentence saying what happened and what to do.
        message: String,
    },
}

/// Decides what `event` does to `current` (`None`: no such record) under
/// `policy`; an applied event gets `new_version`. The payload is assumed
/// validated: an object for `put` and `patch`.
pub fn decide(
    policy: Policy,
    current: Option<&State>,
    event: &Event,
    new_version: u64,
) -> Decision {
    if let Some(conflict) = check(policy, current, event) {
        return conflict;
    }
    let empty = Map::new();
    let payload = event.payload.as_object().unwrap_or(&empty);
    let (old_data, old_fields) = match current {
        Some(state) if !state.deleted => (&state.data, state.fields.clone()),
        _ => (&empty, FieldVersions::new()),
    };
    let state = match event.op {
        Op::Delete => State {
            version: new_version,
            deleted: true,
            data: Map::new(),
            fields: FieldVersions::new(),
        },
        Op::Put => {
            let mut fields = old_fields;
            for key in old_data.keys().chain(payload.keys()) {
                if old_data.get(key) != payload.get(key) {
                    fields.insert(key.clone(), new_version);
                }
            }
            State {
                version: new_version,
                deleted: false,
                data: payload.clone(),
                fields,
            }
        }
        Op::Patch => {
            let mut data = old_data.clone();
            let mut fields = old_fields;
            for (key, value) in payload {
                let changed = if value == &Value::Null {
                    data.remove(key).is_some()
                } else {
                    data.insert(key.clone(), value.clone()).as_ref() != Some(value)
                };
                if changed {
                    fields.insert(key.clone(), new_version);
                }
            }
            State {
                version: new_version,
                deleted: false,
                data,
                fields,
            }
        }
    };
    Decision::Apply(state)
}

/// The conflict `event` runs into, if any.
fn check(policy: Policy, current: Option<&State>, event: &Event) -> Option<Decision> {
    let current_version = current.map(|state| state.version);
    let base = event.base_version;
    match policy {
        Policy::Lww => {}
        Policy::Strict => {
            if base != current_version {
                return Some(conflict(
                    Vec::new(),
                    format!(
                        "The record is at {} but this change was based on {}; \
                         fetch the current record and decide which version to keep.",
                        describe(current_version),
                        describe(base),
                    ),
                ));
            }
        }
        Policy::Merge => {
            if let Some(state) = current {
                let seen = base.unwrap_or(0);
                if state.version > seen {
                    if state.deleted || event.op == Op::Delete {
                        return Some(conflict(
                            Vec::new(),
                            format!(
                                "The record changed on the server (now {}) since {}; \
                                 fetch it and decide whether to keep your change.",
                                describe(current_version),
                                describe(base),
                            ),
                        ));
                    }
                    let fields = overlapping(state, event, seen);
                    if !fields.is_empty() {
                        let message = format!(
                            "Both you and the server changed {} since {}; \
                             choose which values to keep.",
                            fields.join(", "),
                            describe(base),
                        );
                        return Some(conflict(fields, message));
                    }
                }
            }
        }
    }
    match current {
        Some(state) if state.deleted && event.op == Op::Patch => Some(conflict(
            Vec::new(),
            format!(
                "The record was deleted on the server ({}); send a put to recreate it \
                 or drop your change.",
                describe(current_version),
            ),
        )),
        _ => None,
    }
}

/// The fields the event changes to a value other than the server's, which
/// the server changed after version `seen`.
fn overlapping(state: &State, event: &Event, seen: u64) -> Vec<String> {
    let empty = Map::new();
    let payload = event.payload.as_object().unwrap_or(&empty);
    let changed_since = |key: &str| state.fields.get(key).is_some_and(|v| *v > seen);
    let differs = |key: &str, mine: Option<&Value>| {
        let mine = mine.filter(|v| **v != Value::Null);
        state.data.get(key) != mine
    };
    let mut fields: Vec<String> = match event.op {
        Op::Patch => payload
            .iter()
            .filter(|(key, value)| changed_since(key) && differs(key, Some(value)))
            .map(|(key, _)| key.clone())
            .collect(),
        _ => state
            .data
            .keys()
            .chain(payload.keys())
            .filter(|key| changed_since(key) && differs(key, payload.get(*key)))
            .cloned()
            .collect(),
    };
    fields.sort();
    fields.dedup();
    fields
}

fn conflict(fields: Vec<String>, message: String) -> Decision {
    Decision::Conflict { fields, message }
}

fn describe(version: Option<u64>) -> String {
    match version {
        Some(v) => format!("version {v}"),
        None => "no version (a new record)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn event(op: Op, base: Option<u64>, payload: Value) -> Event {
        Event {
            event_id: "e".into(),
            collection: "c".into(),
            record_id: "r".into(),
            op,
            base_version: base,
            payload,
        }
    }

    fn applied(decision: Decision) -> State {
        match decision {
            Decision::Apply(state) => state,
            other => panic!("expected apply, got {other:?}"),
        }
    }

    fn conflicting(decision: Decision) -> Vec<String> {
        match decision {
            Decision::Conflict { fields, .. } => fields,
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    /// A record created at 1 with {a, b}, then `b` changed at 5.
    fn record() -> State {
        let create = event(Op::Put, None, obj(&[("a", 1.0.into()), ("b", 1.0.into())]));
        let first = applied(decide(Policy::Lww, None, &create, 1));
        let change_b = event(Op::Patch, Some(1), obj(&[("b", 2.0.into())]));
        applied(decide(Policy::Lww, Some(&first), &change_b, 5))
    }

    #[test]
    fn field_versions_follow_changes() {
        let state = record();
        assert_eq!(state.fields["a"], 1);
        assert_eq!(state.fields["b"], 5);
        assert_eq!(state.version, 5);
    }

    #[test]
    fn patch_null_removes_a_field_and_records_when() {
        let remove = event(Op::Patch, Some(5), obj(&[("a", Value::Null)]));
        let state = applied(decide(Policy::Lww, Some(&record()), &remove, 9));
        assert!(!state.data.contains_key("a"));
        assert_eq!(state.fields["a"], 9);
    }

    #[test]
    fn lww_applies_stale_writes_in_arrival_order() {
        let stale = event(Op::Put, Some(1), obj(&[("a", 7.0.into())]));
        let state = applied(decide(Policy::Lww, Some(&record()), &stale, 6));
        assert_eq!(
            state.data,
            obj(&[("a", 7.0.into())]).as_object().unwrap().clone()
        );
    }

    #[test]
    fn strict_needs_the_current_version() {
        let stale = event(Op::Patch, Some(1), obj(&[("a", 7.0.into())]));
        assert!(conflicting(decide(Policy::Strict, Some(&record()), &stale, 6)).is_empty());
        let fresh = event(Op::Patch, Some(5), obj(&[("a", 7.0.into())]));
        applied(decide(Policy::Strict, Some(&record()), &fresh, 6));
        let create = event(Op::Put, None, obj(&[]));
        applied(decide(Policy::Strict, None, &create, 1));
        let claims_history = event(Op::Put, Some(3), obj(&[]));
        assert!(matches!(
            decide(Policy::Strict, None, &claims_history, 1),
            Decision::Conflict { .. }
        ));
    }

    #[test]
    fn merge_applies_fields_the_server_did_not_touch() {
        let edit_a = event(Op::Patch, Some(1), obj(&[("a", 3.0.into())]));
        let state = applied(decide(Policy::Merge, Some(&record()), &edit_a, 6));
        assert_eq!(state.data["a"], Value::Number(3.0));
        assert_eq!(state.data["b"], Value::Number(2.0));
    }

    #[test]
    fn merge_conflicts_on_fields_both_sides_changed() {
        let edit_b = event(
            Op::Patch,
            Some(1),
            obj(&[("a", 3.0.into()), ("b", 9.0.into())]),
        );
        let fields = conflicting(decide(Policy::Merge, Some(&record()), &edit_b, 6));
        assert_eq!(fields, vec!["b".to_string()]);
    }

    #[test]
    fn merge_accepts_the_same_value_on_both_sides() {
        let same_b = event(Op::Patch, Some(1), obj(&[("b", 2.0.into())]));
        applied(decide(Policy::Merge, Some(&record()), &same_b, 6));
    }

    #[test]
    fn merge_put_conflicts_when_it_would_undo_a_server_change() {
        let stale_put = event(
            Op::Put,
            Some(1),
            obj(&[("a", 4.0.into()), ("b", 1.0.into())]),
        );
        let fields = conflicting(decide(Policy::Merge, Some(&record()), &stale_put, 6));
        assert_eq!(fields, vec!["b".to_string()]);
        let keeps_b = event(
            Op::Put,
            Some(1),
            obj(&[("a", 4.0.into()), ("b", 2.0.into())]),
        );
        applied(decide(Policy::Merge, Some(&record()), &keeps_b, 6));
    }

    #[test]
    fn merge_delete_needs_the_current_version() {
        let stale = event(Op::Delete, Some(1), Value::Null);
        conflicting(decide(Policy::Merge, Some(&record()), &stale, 6));
        let fresh = event(Op::Delete, Some(5), Value::Null);
        assert!(applied(decide(Policy::Merge, Some(&record()), &fresh, 6)).deleted);
    }

    #[test]
    fn patching_a_tombstone_conflicts_under_every_policy() {
        let delete = event(Op::Delete, Some(5), Value::Null);
        let tombstone = applied(decide(Policy::Lww, Some(&record()), &delete, 6));
        for policy in [Policy::Lww, Policy::Merge, Policy::Strict] {
            let patch = event(Op::Patch, Some(6), obj(&[("a", 1.0.into())]));
            conflicting(decide(policy, Some(&tombstone), &patch, 7));
        }
        let recreate = event(Op::Put, Some(6), obj(&[("z", 1.0.into())]));
        let state = applied(decide(Policy::Strict, Some(&tombstone), &recreate, 7));
        assert_eq!(state.fields.len(), 1);
    }

    #[test]
    fn patch_creates_a_missing_record() {
        let patch = event(
            Op::Patch,
            None,
            obj(&[("a", 1.0.into()), ("b", Value::Null)]),
        );
        let state = applied(decide(Policy::Merge, None, &patch, 1));
        assert_eq!(state.data.len(), 1);
    }
}
