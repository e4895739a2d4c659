//! One sort for every list ordered by a number.
//!
//! Each `sort_by_key` on a type of its own compiles the standard library's
//! whole sort again (about 3.5 KB of wasm apiece). Lists ordered by a `u64`
//! (a sequence number, a time, a count) are sorted here instead: their keys
//! and positions are sorted once, as `(u64, usize)` pairs, and the items
//! moved into that order, so the sort itself is compiled once for all.

/// Sorts `items` by `key`, keeping items with equal keys in their order (as
/// `sort_by_key`).
pub fn sort_by_number<T>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if items.len() < 2 {
        return;
    }
    let mut order: Vec<(u64, usize)> = items
        .iter()
        .enumerate()
        .map(|(at, item)| (key(item), at))
        .collect();
    // The position breaks ties, so unstable is stable here.
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.iter().filter_map(|&(_, at)| slots[at].take()));
}

/// `value` as a `u64` in the order of [`f64::total_cmp`], for
/// [`sort_by_number`].
pub fn f64_order(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_sort_by_key_does(items in proptest::collection::vec((0u64..8, any::<u32>()), 0..64)) {
            let mut ours = items.clone();
            sort_by_number(&mut ours, |item| item.0);
            let mut std = items;
            std.sort_by_key(|item| item.0);
            prop_assert_eq!(ours, std);
        }

        #[test]
        fn f64_order_is_total_cmp(a in any::<f64>(), b in any::<f64>()) {
            prop_assert_eq!(f64_order(a).cmp(&f64_order(b)), a.total_cmp(&b));
        }
    }

    #[test]
    fn f64_order_puts_negatives_zeroes_and_nan_where_total_cmp_does() {
        let values = [f64::NAN, 1.0, -0.0, 0.0, -1.0, f64::INFINITY, -f64::NAN];
        let mut ours = values.to_vec();
        ours.sort_by_key(|v| f64_order(*v));
        let mut std = values.to_vec();
        std.sort_by(f64::total_cmp);
        assert_eq!(
            ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            std.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
