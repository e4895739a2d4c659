//! Reading a `Range` request header against a blob's size (RFC 9110
//! §14.2): one byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n`.

/// What part of a blob to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The whole blob (`200`): no `Range`, one the server ignores (not
    /// bytes, malformed, several ranges), or an `If-Range` that differs.
    Whole,
    /// Bytes `start..=end` (`206` with `Content-Range`).
    Part {
        /// The first byte.
        start: u64,
        /// The last byte, included.
        end: u64,
    },
    /// No byte of the range exists (`416` with `Content-Range: bytes */size`).
    Unsatisfiable,
}

/// The part of a `size`-byte blob that the `Range` header `header` asks for.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        // Several ranges would need multipart/byteranges; sending the
        // whole blob is allowed and simpler for every client.
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |text: &str| -> Option<Option<u64>> {
        let text = text.trim();
        if text.is_empty() {
            return Some(None);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // An end past u64 is past any blob: read it as the largest.
        Some(Some(text.parse().unwrap_or(u64::MAX)))
    };
    let (Some(first), Some(last)) = (number(first), number(last)) else {
        return Wanted::Whole;
    };
    match (first, last) {
        (Some(start), _) if start >= size => Wanted::Unsatisfiable,
        (Some(start), Some(end)) if end < start => Wanted::Whole,
        (Some(start), end) => Wanted::Part {
            start,
            end: end.unwrap_or(u64::MAX).min(size - 1),
        },
        (None, Some(0)) => Wanted::Unsatisfiable,
        (None, Some(_)) if size == 0 => Wanted::Unsatisfiable,
        (None, Some(suffix)) => Wanted::Part {
            start: size.saturating_sub(suffix),
            end: size - 1,
        },
        (None, None) => Wanted::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_read_and_clamped() {
        let part = |start, end| Wanted::Part { start, end };
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-3"), 10), part(0, 3));
        assert_eq!(wanted(Some("bytes=4-"), 10), part(4, 9));
        assert_eq!(wanted(Some("bytes=4-100"), 10), part(4, 9));
        assert_eq!(wanted(Some("bytes=-3"), 10), part(7, 9));
        assert_eq!(wanted(Some("bytes=-30"), 10), part(0, 9));
        assert_eq!(
            wanted(Some("bytes=9-99999999999999999999999"), 10),
            part(9, 9)
        );
    }

    #[test]
    fn impossible_ranges_are_unsatisfiable_and_odd_ones_ignored() {
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "bytes=",
            "bytes=-",
        ] {
            assert_eq!(wanted(Some(ignored), 10), Wanted::Whole, "{ignored}");
        }
    }
}
