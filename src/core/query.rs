//! Queries over the records a device holds: what a query may ask, and the
//! plan that answers it from an index.
//!
//! [`plan`] is pure: it checks the query, picks the index that serves it and
//! turns its conditions into key ranges of that index. A query no index
//! serves is refused with the index to declare, unless it asks to `scan`.
//! [`run_query`](super::query_run::run_query) walks the plan on any store.

use std::fmt;

use outbox_sync_protocol::{Map, Value};

use super::event::EventState;
use super::index::{
    field_key, IndexRef, IndexSpec, Shown, ID_FIELD, STATE_FIELD, UPDATED_AT_FIELD,
};
use super::query_key::{compare, Bound, Key, KeyRange};

/// Records a query returns when it names no `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most records one page may hold.
pub const MAX_LIMIT: u32 = 10_000;
/// The most key ranges `in` conditions may expand to.
const MAX_RANGES: usize = 256;

/// Why a query or an index declaration was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryError {
    /// The query or declaration is malformed; the text says how to fix it.
    Invalid(String),
    /// No declared index serves the query: declare `fields` on `collection`.
    NeedsIndex {
        /// The collection queried.
        collection: String,
        /// The index that would serve the query, in order.
        fields: Vec<String>,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Invalid(text) => f.write_str(text),
            QueryError::NeedsIndex { collection, fields } => {
                let fields: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
                write!(
                    f,
                    "No index of \"{collection}\" serves this query. Declare it when opening: Outbox.open(name, {{ collections: {{ \"{collection}\": {{ indexes: [[{}]] }} }} }}), or pass scan: true to read every record of the collection.",
                    fields.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for QueryError {}

impl QueryError {
    /// The stable code a program can match on.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Invalid(_) => "invalid_query",
            QueryError::NeedsIndex { .. } => "index_needed",
        }
    }
}

fn invalid(text: impl Into<String>) -> QueryError {
    QueryError::Invalid(text.into())
}

/// The order results come in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// Lowest key first.
    #[default]
    Asc,
    /// Highest key first.
    Desc,
}

impl Direction {
    /// Reads `"asc"` or `"desc"`.
    pub fn parse(text: &str) -> Result<Direction, QueryError> {
        match text {
            "asc" => Ok(Direction::Asc),
            "desc" => Ok(Direction::Desc),
            other => Err(invalid(format!(
                "direction \"{other}\" is not known: use \"asc\" or \"desc\"."
            ))),
        }
    }
}

/// What one field must be for a record to match.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Equal to the key.
    Equals(Key),
    /// Equal to one of the keys (sorted, without repeats).
    OneOf(Vec<Key>),
    /// Between two optional bounds.
    Range(Option<Bound>, Option<Bound>),
    /// A string starting with the text.
    Prefix(String),
}

impl Condition {
    /// Reads a condition: a value (equality), or an object of `gt`, `gte`,
    /// `lt`, `lte`, `between`, `startsWith`, `in`.
    pub fn parse(field: &str, value: &Value) -> Result<Condition, QueryError> {
        match value {
            Value::Object(ops) => Self::parse_operators(field, ops),
            other => Ok(Condition::Equals(key_arg(field, other)?)),
        }
    }

    fn parse_operators(field: &str, ops: &Map) -> Result<Condition, QueryError> {
        let mut lower = None;
        let mut upper = None;
        let mut only = None;
        for (op, value) in ops {
            let single = match op.as_str() {
                "gt" => set(&mut lower, Bound::open(key_arg(field, value)?)),
                "gte" => set(&mut lower, Bound::closed(key_arg(field, value)?)),
                "lt" => set(&mut upper, Bound::open(key_arg(field, value)?)),
                "lte" => set(&mut upper, Bound::closed(key_arg(field, value)?)),
                "between" => match value {
                    Value::Array(ends) if ends.len() == 2 => {
                        set(&mut lower, Bound::closed(key_arg(field, &ends[0])?))
                            && set(&mut upper, Bound::closed(key_arg(field, &ends[1])?))
                    }
                    _ => {
                        return Err(invalid(format!(
                            "{field}: between takes two values, [lowest, highest]."
                        )))
                    }
                },
                "startsWith" => match value {
                    Value::String(text) => set(&mut only, Condition::Prefix(text.clone())),
                    _ => return Err(invalid(format!("{field}: startsWith takes a string."))),
                },
                "in" => match value {
                    Value::Array(items) if !items.is_empty() => {
                        let mut keys = items
                            .iter()
                            .map(|item| key_arg(field, item))
                            .collect::<Result<Vec<_>, _>>()?;
                        keys.sort_by(compare);
                        keys.dedup();
                        set(&mut only, Condition::OneOf(keys))
                    }
                    _ => return Err(invalid(format!("{field}: in takes a non-empty array of values."))),
                },
                other => {
                    return Err(invalid(format!(
                        "{field}: \"{other}\" is not a condition: use gt, gte, lt, lte, between, startsWith or in."
                    )))
                }
            };
            if !single {
                return Err(invalid(format!(
                    "{field}: give each bound once (between sets both gte and lte)."
                )));
            }
        }
        match (only, lower.is_some() || upper.is_some()) {
            (Some(_), true) => Err(invalid(format!(
                "{field}: startsWith and in cannot be combined with a range."
            ))),
            (Some(condition), false) => Ok(condition),
            (None, true) => Ok(Condition::Range(lower, upper)),
            (None, false) => Err(invalid(format!("{field}: the condition is empty."))),
        }
    }

    /// Whether a record whose field has `key` matches.
    pub fn matches(&self, key: &Key) -> bool {
        match self {
            Condition::Equals(wanted) => compare(key, wanted).is_eq(),
            Condition::OneOf(wanted) => wanted.iter().any(|w| compare(key, w).is_eq()),
            Condition::Prefix(text) => matches!(key, Key::Str(s) if s.starts_with(text.as_str())),
            Condition::Range(lower, upper) => {
                let above = lower.as_ref().is_none_or(|b| {
                    let order = compare(key, &b.key);
                    order.is_gt() || (order.is_eq() && !b.open)
                });
                let below = upper.as_ref().is_none_or(|b| {
                    let order = compare(key, &b.key);
                    order.is_lt() || (order.is_eq() && !b.open)
                });
                above && below
            }
        }
    }

    fn is_interval(&self) -> bool {
        matches!(self, Condition::Range(..) | Condition::Prefix(_))
    }
}

fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    let was_empty = slot.is_none();
    *slot = Some(value);
    was_empty
}

fn key_arg(field: &str, value: &Value) -> Result<Key, QueryError> {
    match value {
        Value::Array(_) => Err(invalid(format!(
            "{field}: to match one of several values, use {{ in: [...] }}."
        ))),
        Value::Bool(_) | Value::Null | Value::Object(_) => Err(invalid(format!(
            "{field}: {} cannot be indexed or compared; query strings or numbers (store a flag as 0 or 1).",
            value.kind()
        ))),
        other => Key::from_value(other)
            .ok_or_else(|| invalid(format!("{field}: the number must be finite."))),
    }
}

/// A query as the app asked it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    /// Field → condition; `$id` and `$state` are reserved fields.
    pub conditions: Vec<(String, Value)>,
    /// The field results are ordered by: `$id` (the default with no
    /// conditions), `$updatedAt` or an indexed field.
    pub order_by: Option<String>,
    /// Lowest first or highest first.
    pub direction: Direction,
    /// At most this many records (100 by default).
    pub limit: Option<u32>,
    /// Resume after this key (a page's `next`).
    pub after: Option<Key>,
    /// Allow conditions no index serves: reads the whole collection.
    pub scan: bool,
}

/// How a query is answered: which index to walk, where, and what to check.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// The collection queried.
    pub collection: String,
    /// The index walked.
    pub index: IndexRef,
    /// The parts of the index to walk, ascending and disjoint.
    pub ranges: Vec<KeyRange>,
    /// Walk from the highest key down.
    pub backwards: bool,
    /// The most records returned.
    pub limit: u32,
    /// Conditions checked on each record walked (the index does not serve them).
    pub filters: Vec<(String, Condition)>,
    /// When set, a record matches only in one of these sync states.
    pub states: Option<Vec<EventState>>,
    /// Read every record in the ranges and sort them by `order` (the few
    /// records with unsent changes, or a scan by an unindexed field).
    pub sort_in_memory: bool,
    /// The index whose keys order the results; cursors are its keys.
    pub order: IndexRef,
    /// Resume after this key of `order`.
    pub after: Option<Key>,
}

impl QueryPlan {
    /// Whether `record` matches the conditions the index does not serve
    /// (its sync state is checked apart). A deleted record never matches.
    pub fn keeps(&self, record: &impl Shown) -> bool {
        !record.is_deleted()
            && self.filters.iter().all(|(field, condition)| {
                field_key(record, field).is_some_and(|key| condition.matches(&key))
            })
    }
}

/// Plans `options` on `collection`, which has the `declared` indexes.
pub fn plan(
    collection: &str,
    options: &QueryOptions,
    declared: &[IndexSpec],
) -> Result<QueryPlan, QueryError> {
    let limit = options.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}; read more with the next page's cursor."
        )));
    }
    let mut states = None;
    let mut conditions = Vec::new();
    for (field, value) in &options.conditions {
        if field == STATE_FIELD {
            states = Some(parse_states(value)?);
        } else {
            check_field(field)?;
            conditions.push((field.clone(), Condition::parse(field, value)?));
        }
    }
    if let Some(order_by) = &options.order_by {
        if order_by == STATE_FIELD {
            return Err(invalid("Results cannot be ordered by $state: order by $id, $updatedAt or an indexed field."));
        }
        check_field(order_by)?;
    }
    let mut plan = QueryPlan {
        collection: collection.to_owned(),
        index: IndexRef::Primary,
        ranges: vec![whole(collection)],
        backwards: options.direction == Direction::Desc,
        limit,
        filters: Vec::new(),
        states: states.clone(),
        sort_in_memory: false,
        order: IndexRef::Primary,
        after: None,
    };
    let only_unsent = states
        .as_ref()
        .is_some_and(|s| !s.contains(&EventState::Synced));
    if only_unsent {
        // Few records have unsent changes: read them all, check the rest here.
        plan.index = IndexRef::Pending;
        plan.ranges = vec![KeyRange {
            lower: Bound::closed(Key::Array(vec![Key::Str(collection.into()), Key::Num(1.0)])),
            upper: Bound::closed(Key::after_all(vec![Key::Str(collection.into())])),
        }];
        plan.filters = conditions;
        plan.sort_in_memory = true;
        plan.order = sort_index(collection, options.order_by.as_deref());
    } else if let Some((index, ranges, rest)) = serve(
        collection,
        &conditions,
        options.order_by.as_deref(),
        declared,
    )? {
        plan.order = index.clone();
        plan.index = index;
        plan.ranges = ranges;
        plan.filters = rest;
    } else if options.scan {
        plan.filters = conditions;
        plan.order = sort_index(collection, options.order_by.as_deref());
        match order_index(collection, options.order_by.as_deref(), declared) {
            Some(index) => plan.index = index,
            None => plan.sort_in_memory = true,
        }
        if !plan.sort_in_memory {
            plan.order = plan.index.clone();
        }
    } else {
        return Err(QueryError::NeedsIndex {
            collection: collection.to_owned(),
            fields: suggested_index(&conditions, options.order_by.as_deref()),
        });
    }
    if let Some(after) = &options.after {
        match after {
            Key::Array(parts) if parts.first() == Some(&Key::Str(collection.to_owned())) => {}
            _ => return Err(invalid(
                "after is not a cursor of this collection: pass the next value of the page before.",
            )),
        }
        plan.after = Some(after.clone());
    }
    Ok(plan)
}

fn check_field(field: &str) -> Result<(), QueryError> {
    let plain = !field.is_empty()
        && !field.starts_with('$')
        && IndexSpec::declared("c", vec![field.to_owned()]).is_ok();
    if plain || field == ID_FIELD || field == UPDATED_AT_FIELD {
        Ok(())
    } else {
        Err(invalid(format!(
            "\"{field}\" cannot be queried: use a top-level field name (letters, digits, _), $id, $updatedAt or $state."
        )))
    }
}

fn parse_states(value: &Value) -> Result<Vec<EventState>, QueryError> {
    let names: Vec<&Value> = match value {
        Value::Object(ops) if ops.len() == 1 && ops.contains_key("in") => match &ops["in"] {
            Value::Array(items) if !items.is_empty() => items.iter().collect(),
            _ => return Err(invalid("$state: in takes a non-empty array of states.")),
        },
        other => vec![other],
    };
    names
        .into_iter()
        .map(|name| {
            name.as_str()
                .and_then(EventState::parse)
                .ok_or_else(|| {
                    invalid("$state must be \"synced\", \"queued\", \"syncing\", \"failed\" or \"conflict\", or { in: [...] } of them.")
                })
        })
        .collect()
}

/// Every key of `collection` in any index.
fn whole(collection: &str) -> KeyRange {
    let prefix = vec![Key::Str(collection.to_owned())];
    KeyRange {
        lower: Bound::closed(Key::Array(prefix.clone())),
        upper: Bound::closed(Key::after_all(prefix)),
    }
}

/// The index whose keys order a sort in memory by `order_by`.
fn sort_index(collection: &str, order_by: Option<&str>) -> IndexRef {
    match order_by {
        None | Some(ID_FIELD) => IndexRef::Primary,
        Some(UPDATED_AT_FIELD) => IndexRef::UpdatedAt,
        Some(field) => IndexRef::Declared(IndexSpec {
            collection: collection.to_owned(),
            fields: vec![field.to_owned()],
        }),
    }
}

/// An index that walks the whole collection in `order_by` order.
fn order_index(
    collection: &str,
    order_by: Option<&str>,
    declared: &[IndexSpec],
) -> Option<IndexRef> {
    match order_by {
        None | Some(ID_FIELD) => Some(IndexRef::Primary),
        Some(UPDATED_AT_FIELD) => Some(IndexRef::UpdatedAt),
        Some(field) => declared
            .iter()
            .filter(|spec| spec.collection == collection && spec.fields[0] == field)
            .min_by_key(|spec| spec.fields.len())
            .cloned()
            .map(IndexRef::Declared),
    }
}

type Served = (IndexRef, Vec<KeyRange>, Vec<(String, Condition)>);

/// The index, ranges and remaining filters that answer `conditions` in
/// `order_by` order, if a built-in or declared index can.
fn serve(
    collection: &str,
    conditions: &[(String, Condition)],
    order_by: Option<&str>,
    declared: &[IndexSpec],
) -> Result<Option<Served>, QueryError> {
    let (id_conditions, data): (Vec<_>, Vec<_>) = conditions
        .iter()
        .cloned()
        .partition(|(field, _)| field == ID_FIELD);
    if data.is_empty() {
        let Some(index) = order_index(collection, order_by, declared) else {
            return Ok(None);
        };
        return Ok(Some(match (id_conditions.first(), &index) {
            (Some((_, condition)), IndexRef::Primary) => {
                (index, id_ranges(collection, condition), Vec::new())
            }
            _ => (index, vec![whole(collection)], id_conditions),
        }));
    }
    let mut candidates: Vec<&IndexSpec> = declared
        .iter()
        .filter(|s| s.collection == collection)
        .collect();
    super::order::sort_by_number(&mut candidates, |spec| spec.fields.len() as u64);
    for spec in candidates {
        if let Some(ranges) = walk(collection, spec, &data, order_by)? {
            return Ok(Some((
                IndexRef::Declared(spec.clone()),
                ranges,
                id_conditions,
            )));
        }
    }
    Ok(None)
}

/// The ranges of `spec` that answer `data` in `order_by` order, if it can.
fn walk(
    collection: &str,
    spec: &IndexSpec,
    data: &[(String, Condition)],
    order_by: Option<&str>,
) -> Result<Option<Vec<KeyRange>>, QueryError> {
    let condition_of = |field: &str| data.iter().find(|(f, _)| f == field).map(|(_, c)| c);
    let mut used: Vec<&Condition> = Vec::new();
    for field in &spec.fields {
        match condition_of(field) {
            Some(condition) => {
                used.push(condition);
                if condition.is_interval() {
                    break;
                }
            }
            None => break,
        }
    }
    if used.len() < data.len() {
        return Ok(None);
    }
    let last_is_interval = used.last().is_some_and(|c| c.is_interval());
    let has_one_of = used.iter().any(|c| matches!(c, Condition::OneOf(_)));
    let fixed = |field: &str| matches!(condition_of(field), Some(Condition::Equals(_)));
    let ordered = match order_by {
        None => true,
        Some(field) if fixed(field) => true,
        Some(ID_FIELD) => !last_is_interval && !has_one_of && used.len() == spec.fields.len(),
        Some(field) if last_is_interval => spec.fields[used.len() - 1] == field && !has_one_of,
        Some(field) => {
            if has_one_of {
                // One range per value: in order only when ordered by that field.
                used.len() == 1 && spec.fields[0] == field
            } else {
                spec.fields
                    .get(used.len())
                    .is_some_and(|next| next == field)
            }
        }
    };
    if !ordered {
        return Ok(None);
    }
    // The ranges: one per combination of `in` values, each ending in the last
    // condition's interval (or the whole rest of the key).
    let mut prefixes: Vec<Vec<Key>> = vec![vec![Key::Str(collection.to_owned())]];
    let (points, interval) = match used.split_last() {
        Some((last, before)) if last.is_interval() => (before, Some(*last)),
        _ => (&used[..], None),
    };
    for condition in points {
        let values = match condition {
            Condition::Equals(key) => vec![key.clone()],
            Condition::OneOf(keys) => keys.clone(),
            _ => unreachable!("only the last condition is an interval"),
        };
        prefixes = prefixes
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push(value.clone());
                    next
                })
            })
            .collect();
        if prefixes.len() > MAX_RANGES {
            return Err(invalid(format!(
                "The in conditions ask for more than {MAX_RANGES} combinations: split the query."
            )));
        }
    }
    let mut ranges = Vec::with_capacity(prefixes.len());
    for prefix in prefixes {
        match interval {
            Some(condition) => ranges.extend(interval_range(prefix, condition)),
            None => ranges.push(KeyRange {
                lower: Bound::closed(Key::Array(prefix.clone())),
                upper: Bound::closed(Key::after_all(prefix)),
            }),
        }
    }
    Ok(Some(ranges))
}

/// The ranges of the primary key `[collection, id]` matching an `$id` condition.
fn id_ranges(collection: &str, condition: &Condition) -> Vec<KeyRange> {
    let base = vec![Key::Str(collection.to_owned())];
    let point = |key: &Key| {
        let mut parts = base.clone();
        parts.push(key.clone());
        let only = Key::Array(parts);
        KeyRange {
            lower: Bound::closed(only.clone()),
            upper: Bound::closed(only),
        }
    };
    match condition {
        Condition::Equals(key) => vec![point(key)],
        Condition::OneOf(keys) => keys.iter().map(point).collect(),
        interval => interval_range(base, interval).into_iter().collect(),
    }
}

/// The keys `[prefix..., k, ...]` with `k` matching a range or prefix
/// condition; `None` when none can.
fn interval_range(prefix: Vec<Key>, condition: &Condition) -> Option<KeyRange> {
    let with = |key: &Key| {
        let mut parts = prefix.clone();
        parts.push(key.clone());
        parts
    };
    let range = match condition {
        Condition::Prefix(text) => KeyRange {
            lower: Bound::closed(Key::Array(with(&Key::Str(text.clone())))),
            upper: Bound::closed(Key::after_all(with(&Key::Str(format!("{text}\u{FFFF}"))))),
        },
        Condition::Range(lower, upper) => KeyRange {
            // Keys continue after the field (the record id), so "after k"
            // starts past every key `[..., k, ...]`, and "before k" ends at `[..., k]`.
            lower: match lower {
                None => Bound::closed(Key::Array(prefix.clone())),
                Some(b) if b.open => Bound::closed(Key::after_all(with(&b.key))),
                Some(b) => Bound::closed(Key::Array(with(&b.key))),
            },
            upper: match upper {
                None => Bound::closed(Key::after_all(prefix.clone())),
                Some(b) if b.open => Bound::open(Key::Array(with(&b.key))),
                Some(b) => Bound::closed(Key::after_all(with(&b.key))),
            },
        },
        _ => return None,
    };
    (!range.is_empty()).then_some(range)
}

/// The index to declare for a query no index serves: its equalities, then
/// its range, then the order.
fn suggested_index(conditions: &[(String, Condition)], order_by: Option<&str>) -> Vec<String> {
    let mut fields: Vec<String> = conditions
        .iter()
        .filter(|(f, c)| f != ID_FIELD && !c.is_interval())
        .map(|(f, _)| f.clone())
        .collect();
    fields.extend(
        conditions
            .iter()
            .filter(|(f, c)| f != ID_FIELD && c.is_interval())
            .map(|(f, _)| f.clone()),
    );
    if let Some(order) = order_by.filter(|o| *o != ID_FIELD && !fields.iter().any(|f| f == o)) {
        fields.push(order.to_owned());
    }
    fields.truncate(4);
    fields
}
