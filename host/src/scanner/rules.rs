//! The detection rules and the redaction of excerpts, over raw line bytes.
//!
//! Every pattern is ASCII, so the scanning runs on bytes (no regex, no UTF-8
//! decoding of lines without a hit); only the excerpt of a line with a
//! finding is decoded (lossily).

use std::ops::Range;

/// One built-in rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    SecureScanApiKey,
    AwsAccessKeyId,
    PrivateKey,
    GenericSecret,
}

impl RuleId {
    pub const ALL: [RuleId; 4] = [
        RuleId::SecureScanApiKey,
        RuleId::AwsAccessKeyId,
        RuleId::PrivateKey,
        RuleId::GenericSecret,
    ];

    /// The rule id shown in findings.
    pub fn name(self) -> &'static str {
        match self {
            RuleId::SecureScanApiKey => "securescan-api-key",
            RuleId::AwsAccessKeyId => "aws-access-key-id",
            RuleId::PrivateKey => "private-key",
            RuleId::GenericSecret => "generic-secret",
        }
    }

    /// `critical`, `high` or `medium`.
    pub fn severity(self) -> &'static str {
        match self {
            RuleId::SecureScanApiKey | RuleId::PrivateKey => "critical",
            RuleId::AwsAccessKeyId => "high",
            RuleId::GenericSecret => "medium",
        }
    }

    /// One line of documentation.
    pub fn description(self) -> &'static str {
        match self {
            RuleId::SecureScanApiKey => {
                "A SecureScan API key (ssk_<10>_<32>) whose checksum is valid"
            }
            RuleId::AwsAccessKeyId => "An AWS access key id (AKIA/ASIA + 16 chars)",
            RuleId::PrivateKey => "A PEM private key header (-----BEGIN ... PRIVATE KEY-----)",
            RuleId::GenericSecret => {
                "A password/secret/token/api_key assignment with a high-entropy value"
            }
        }
    }
}

/// Longest excerpt, in chars.
pub const MAX_EXCERPT_CHARS: usize = 200;
/// Shown instead of a removed secret.
pub const REDACTED: &str = "[REDACTED]";

const SSK_PREFIX: &[u8] = b"ssk_";
const SSK_ID_LEN: usize = 10;
const SSK_SECRET_LEN: usize = 32;
/// `ssk_` + id + `_` + secret.
const SSK_LEN: usize = 4 + SSK_ID_LEN + 1 + SSK_SECRET_LEN;
const AWS_BODY_LEN: usize = 16;
const AWS_LEN: usize = 4 + AWS_BODY_LEN;

const GENERIC_MIN_LEN: usize = 12;
const GENERIC_MIN_ENTROPY: f64 = 3.5;
/// Lower-case substrings of an assignment name that make it secret-bearing.
const SECRET_NAMES: [&str; 7] = [
    "password", "passwd", "secret", "token", "api_key", "apikey", "api-key",
];
/// Lower-case substrings of a value that mark it as a placeholder.
const PLACEHOLDERS: [&str; 10] = [
    "${",
    "<",
    "xxxx",
    "changeme",
    "example",
    "your_",
    "{{",
    "****",
    "placeholder",
    "redacted",
];
/// Longest assignment name looked at (longer names are cut from the left).
const MAX_NAME_LEN: usize = 128;

/// The rules that fired on one line, and its redacted excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineResult {
    /// At most one entry per rule, in the order of their first hit on the line.
    pub rules: Vec<RuleId>,
    pub excerpt: String,
}

/// A part of the line to replace in the excerpt.
#[derive(Debug, Clone)]
struct Span {
    range: Range<usize>,
    replacement: Vec<u8>,
}

/// A reported hit.
#[derive(Debug, Clone)]
struct Hit {
    rule: RuleId,
    /// Where the hit starts (for ordering and for centering the excerpt).
    at: usize,
    /// The bytes that must not be shown anywhere.
    secret: Range<usize>,
}

/// Runs every rule on one line (without its `\n`/`\r\n`). `None` when no rule
/// fired.
pub fn analyze_line(line: &[u8], is_valid_ssk: &dyn Fn(&str) -> bool) -> Option<LineResult> {
    let mut hits: Vec<Hit> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();

    // securescan-api-key: every ssk-shaped token is redacted, only those the
    // caller accepts (checksum) are reported.
    for r in find_ssk(line) {
        let id_end = r.start + SSK_PREFIX.len() + SSK_ID_LEN + 1;
        let mut replacement = line[r.start..id_end].to_vec();
        replacement.extend_from_slice(b"****");
        spans.push(Span {
            range: r.clone(),
            replacement,
        });
        let right_bounded = line.get(r.end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if right_bounded {
            // ASCII by construction.
            let token = std::str::from_utf8(&line[r.clone()]).unwrap_or("");
            if is_valid_ssk(token) {
                hits.push(Hit {
                    rule: RuleId::SecureScanApiKey,
                    at: r.start,
                    secret: id_end..r.end,
                });
            }
        }
    }

    for r in find_aws(line) {
        let mut replacement = line[r.start..r.start + 4].to_vec();
        replacement.extend(std::iter::repeat_n(b'*', AWS_BODY_LEN));
        spans.push(Span {
            range: r.clone(),
            replacement,
        });
        hits.push(Hit {
            rule: RuleId::AwsAccessKeyId,
            at: r.start,
            secret: r,
        });
    }

    for (header_start, header_end) in find_private_key_headers(line) {
        // Whatever follows the header on its line (a one-line PEM in JSON,
        // say) is key material.
        let mut rest = header_end..line.len();
        if line[rest.clone()].iter().all(u8::is_ascii_whitespace) {
            rest = header_end..header_end;
        } else {
            spans.push(Span {
                range: rest.clone(),
                replacement: REDACTED.as_bytes().to_vec(),
            });
        }
        hits.push(Hit {
            rule: RuleId::PrivateKey,
            at: header_start,
            secret: rest,
        });
    }

    // generic-secret: every value of a secret-named assignment is redacted;
    // it is reported when it looks like a real secret and is not already
    // reported by a more specific rule.
    let blockers = Blockers::new(
        spans
            .iter()
            .map(|s| s.range.clone())
            .chain(hits.iter().map(|h| h.secret.clone()))
            .collect(),
    );
    for a in find_assignments(line) {
        if a.value.is_empty() {
            continue;
        }
        spans.push(Span {
            range: a.value.clone(),
            replacement: REDACTED.as_bytes().to_vec(),
        });
        let overlaps_specific = blockers.overlaps(&a.value);
        if !overlaps_specific && qualifies(&line[a.value.clone()], a.quoted) {
            hits.push(Hit {
                rule: RuleId::GenericSecret,
                at: a.name_start,
                secret: a.value.clone(),
            });
        }
    }

    if hits.is_empty() {
        return None;
    }

    // Any other copy of a reported secret on the same line goes too (a few
    // needles of bounded length, so a huge minified line stays linear-ish).
    let mut needles: Vec<&[u8]> = Vec::new();
    for h in &hits {
        let needle = &line[h.secret.clone()];
        if (8..=256).contains(&needle.len()) && !needles.contains(&needle) && needles.len() < 8 {
            needles.push(needle);
        }
    }
    for needle in needles {
        let mut from = 0;
        while let Some(p) = find(line, needle, from) {
            spans.push(Span {
                range: p..p + needle.len(),
                replacement: REDACTED.as_bytes().to_vec(),
            });
            from = p + needle.len();
        }
    }

    hits.sort_by_key(|h| h.at);
    let mut rules: Vec<RuleId> = Vec::new();
    for h in &hits {
        if !rules.contains(&h.rule) {
            rules.push(h.rule);
        }
    }
    let excerpt = build_excerpt(line, spans, hits[0].at);
    Some(LineResult { rules, excerpt })
}

/// The ranges of the specific rules' tokens (reported or not), for an
/// overlap query in O(log n).
struct Blockers {
    /// Sorted by start.
    ranges: Vec<Range<usize>>,
    /// `max_end[i]`: the largest end among `ranges[..=i]`.
    max_end: Vec<usize>,
}

impl Blockers {
    fn new(mut ranges: Vec<Range<usize>>) -> Self {
        ranges.retain(|r| !r.is_empty());
        ranges.sort_by_key(|r| r.start);
        let mut max_end = Vec::with_capacity(ranges.len());
        let mut m = 0;
        for r in &ranges {
            m = m.max(r.end);
            max_end.push(m);
        }
        Blockers { ranges, max_end }
    }

    /// Whether any range shares a byte with `v`.
    fn overlaps(&self, v: &Range<usize>) -> bool {
        let n = self.ranges.partition_point(|r| r.start < v.end);
        n > 0 && self.max_end[n - 1] > v.start
    }
}

/// First occurrence of `needle` in `hay[from..]`, as an index into `hay`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Every `ssk_<10 alnum>_<32 alnum>` (the left side is not bounded: a key
/// may follow `%3D` in a URL; the checksum weeds out look-alikes).
fn find_ssk(line: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(line, SSK_PREFIX, from) {
        let ok = line.len() >= p + SSK_LEN && {
            let id = &line[p + 4..p + 4 + SSK_ID_LEN];
            let sep = line[p + 4 + SSK_ID_LEN];
            let secret = &line[p + 5 + SSK_ID_LEN..p + SSK_LEN];
            id.iter().all(u8::is_ascii_alphanumeric)
                && sep == b'_'
                && secret.iter().all(u8::is_ascii_alphanumeric)
        };
        if ok {
            out.push(p..p + SSK_LEN);
            from = p + SSK_LEN;
        } else {
            from = p + 1;
        }
    }
    out
}

/// Every `AKIA`/`ASIA` + 16 `[A-Z0-9]`, not touching another `[A-Za-z0-9]`.
fn find_aws(line: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if line.len() < AWS_LEN {
        return out;
    }
    let mut i = 0;
    while i + AWS_LEN <= line.len() {
        let head = &line[i..i + 4];
        if (head == b"AKIA" || head == b"ASIA")
            && (i == 0 || !line[i - 1].is_ascii_alphanumeric())
            && line[i + 4..i + AWS_LEN]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && line
                .get(i + AWS_LEN)
                .is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            out.push(i..i + AWS_LEN);
            i += AWS_LEN;
        } else {
            i += 1;
        }
    }
    out
}

/// Every `-----BEGIN [WORDS ]PRIVATE KEY-----` (also `... KEY BLOCK-----`),
/// as (start of the header, end of the header).
fn find_private_key_headers(line: &[u8]) -> Vec<(usize, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const PK: &[u8] = b"PRIVATE KEY";
    /// Longest `RSA `, `ENCRYPTED `, `OPENSSH `, ... between the two.
    const MAX_KIND: usize = 32;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(line, BEGIN, from) {
        let kind_start = p + BEGIN.len();
        from = kind_start;
        let window_end = line.len().min(kind_start + MAX_KIND + PK.len());
        let Some(pk) = find(&line[..window_end], PK, kind_start) else {
            continue;
        };
        let kind = &line[kind_start..pk];
        if !kind
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' ')
            || !(kind.is_empty() || kind.ends_with(b" "))
        {
            continue;
        }
        let after = &line[pk + PK.len()..];
        let end = if after.starts_with(b"-----") {
            pk + PK.len() + 5
        } else if after.starts_with(b" BLOCK-----") {
            pk + PK.len() + 11
        } else {
            continue;
        };
        out.push((p, end));
        from = end;
    }
    out
}

/// A `name = value` / `name: value` whose name is secret-bearing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assignment {
    name_start: usize,
    value: Range<usize>,
    quoted: bool,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_secret_name(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES
        .iter()
        .any(|k| find(&lower, k.as_bytes(), 0).is_some())
}

/// Every assignment on the line whose name contains a secret word:
/// `name = v`, `name: v`, `name := v`, `name => v`, with the name optionally
/// quoted and the value optionally quoted (`"`, `'`, `` ` ``).
fn find_assignments(line: &[u8]) -> Vec<Assignment> {
    let mut out = Vec::new();
    let len = line.len();
    let mut i = 0;
    while i < len {
        let b = line[i];
        if b != b'=' && b != b':' {
            i += 1;
            continue;
        }
        let prev = if i > 0 { line[i - 1] } else { 0 };
        let next = line.get(i + 1).copied().unwrap_or(0);
        let op_end = if b == b':' {
            if next == b':' || prev == b':' || next == b'/' {
                i += 1; // `::` paths, `scheme://`
                continue;
            }
            if next == b'=' {
                i + 2
            } else {
                i + 1
            }
        } else {
            if next == b'=' || matches!(prev, b'=' | b'!' | b'<' | b'>' | b':') {
                i += 1; // `==`, `!=`, `<=`, `>=`, the `=` of `:=`
                continue;
            }
            if next == b'>' {
                i + 2
            } else {
                i + 1
            }
        };

        // The name, right to left.
        let mut j = i;
        while j > 0 && matches!(line[j - 1], b' ' | b'\t') {
            j -= 1;
        }
        if j > 0 && matches!(line[j - 1], b'"' | b'\'') {
            j -= 1;
        }
        let name_end = j;
        while j > 0 && is_name_byte(line[j - 1]) && name_end - j < MAX_NAME_LEN {
            j -= 1;
        }
        let name = &line[j..name_end];
        if name.is_empty() || !is_secret_name(name) {
            i = op_end;
            continue;
        }
        let name_start = if j > 0 && matches!(line[j - 1], b'"' | b'\'') {
            j - 1
        } else {
            j
        };

        // The value, left to right.
        let mut k = op_end;
        while k < len && matches!(line[k], b' ' | b'\t') {
            k += 1;
        }
        // Python-style string prefixes: b"..", r"..", f"..", u"..".
        if k + 1 < len
            && matches!(
                line[k],
                b'b' | b'r' | b'f' | b'u' | b'B' | b'R' | b'F' | b'U'
            )
            && matches!(line[k + 1], b'"' | b'\'')
        {
            k += 1;
        }
        if k >= len {
            i = op_end;
            continue;
        }
        let q = line[k];
        let (value, quoted) = if matches!(q, b'"' | b'\'' | b'`') {
            let start = k + 1;
            let mut m = start;
            while m < len && line[m] != q {
                if line[m] == b'\\' {
                    m += 1;
                }
                m += 1;
            }
            (start..m.min(len), true)
        } else {
            let mut m = k;
            while m < len
                && !line[m].is_ascii_whitespace()
                && !matches!(
                    line[m],
                    b',' | b';' | b')' | b']' | b'}' | b'&' | b'"' | b'\'' | b'`'
                )
            {
                m += 1;
            }
            (k..m, false)
        };
        // Go on after the value: each byte is read by at most one value,
        // so `token=token=token=...` stays linear.
        i = op_end.max(value.end);
        out.push(Assignment {
            name_start,
            value,
            quoted,
        });
    }
    out
}

/// Shannon entropy of the bytes, in bits per byte.
pub fn shannon_entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in v {
        counts[b as usize] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn is_placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    PLACEHOLDERS
        .iter()
        .any(|p| find(&lower, p.as_bytes(), 0).is_some())
        || v.iter().all(|&b| b == v[0])
}

/// An unquoted value that is an expression rather than a literal: a call,
/// a `$VAR`/`@attr` reference, a bare identifier, a dotted member path.
fn looks_like_code(v: &[u8]) -> bool {
    if v.contains(&b'(') || matches!(v[0], b'$' | b'@' | b'&' | b'*') {
        return true;
    }
    if v.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_') {
        return true;
    }
    v.contains(&b'.')
        && v.split(|b| *b == b'.').all(|seg| {
            !seg.is_empty()
                && (seg[0].is_ascii_alphabetic() || seg[0] == b'_')
                && seg.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        })
}

/// Whether an assignment's value looks like a real secret.
fn qualifies(v: &[u8], quoted: bool) -> bool {
    v.len() >= GENERIC_MIN_LEN
        && !is_placeholder(v)
        && (quoted || !looks_like_code(v))
        && shannon_entropy(v) >= GENERIC_MIN_ENTROPY
}

/// Applies the spans (overlapping ones merge into one `[REDACTED]`), decodes,
/// trims and cuts to [`MAX_EXCERPT_CHARS`], keeping `focus` (a byte index of
/// the line) in view.
fn build_excerpt(line: &[u8], mut spans: Vec<Span>, focus: usize) -> String {
    spans.sort_by_key(|s| (s.range.start, std::cmp::Reverse(s.range.end)));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if s.range.is_empty() {
            continue;
        }
        match merged.last_mut() {
            // Overlapping: a span inside the previous one is already covered
            // by its replacement; one reaching past it widens it.
            Some(last) if s.range.start < last.range.end => {
                if s.range.end > last.range.end {
                    last.range.end = s.range.end;
                    last.replacement = REDACTED.as_bytes().to_vec();
                }
            }
            _ => merged.push(s),
        }
    }

    let mut out: Vec<u8> = Vec::with_capacity(line.len());
    let mut pos = 0;
    let mut focus_out = None;
    for s in &merged {
        if focus_out.is_none() && focus < s.range.start {
            focus_out = Some(out.len() + (focus - pos));
        }
        out.extend_from_slice(&line[pos..s.range.start]);
        if focus_out.is_none() && focus < s.range.end {
            focus_out = Some(out.len());
        }
        out.extend_from_slice(&s.replacement);
        pos = s.range.end;
    }
    if focus_out.is_none() {
        focus_out = Some(out.len() + focus.saturating_sub(pos));
    }
    out.extend_from_slice(&line[pos..]);
    let focus_out = focus_out.unwrap_or(0).min(out.len());

    let text = String::from_utf8_lossy(&out);
    let focus_char = String::from_utf8_lossy(&out[..focus_out]).chars().count();
    window(&text, focus_char)
}

/// Trims `text` and cuts it to at most [`MAX_EXCERPT_CHARS`] chars around
/// the char index `focus`, marking cuts with `…`.
fn window(text: &str, focus: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut s = 0;
    while s < chars.len() && chars[s].is_whitespace() {
        s += 1;
    }
    let mut e = chars.len();
    while e > s && chars[e - 1].is_whitespace() {
        e -= 1;
    }
    if e - s <= MAX_EXCERPT_CHARS {
        return chars[s..e].iter().collect();
    }
    let focus = focus.clamp(s, e);
    let start = focus.saturating_sub(60).max(s);
    let mut out = String::with_capacity(MAX_EXCERPT_CHARS * 2);
    if e - start < MAX_EXCERPT_CHARS {
        // The tail fits after a leading ellipsis.
        out.push('…');
        out.extend(&chars[e - (MAX_EXCERPT_CHARS - 1)..e]);
    } else if start == s {
        out.extend(&chars[s..s + MAX_EXCERPT_CHARS - 1]);
        out.push('…');
    } else {
        out.push('…');
        out.extend(&chars[start..start + MAX_EXCERPT_CHARS - 2]);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssk_AbCdEfGhIj_0123456789abcdefghijABCDEFGHIJkl";

    fn only_key(k: &str) -> bool {
        k == KEY
    }

    fn run(line: &str) -> Option<LineResult> {
        analyze_line(line.as_bytes(), &only_key)
    }

    fn rules_of(line: &str) -> Vec<&'static str> {
        run(line)
            .map(|r| r.rules.iter().map(|r| r.name()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn ssk_key_is_found_and_masked() {
        let r = run(&format!("connect(endpoint, \"{KEY}\");")).unwrap();
        assert_eq!(r.rules, vec![RuleId::SecureScanApiKey]);
        assert_eq!(r.excerpt, "connect(endpoint, \"ssk_AbCdEfGhIj_****\");");
    }

    #[test]
    fn ssk_key_needs_valid_checksum_and_exact_shape() {
        let bad = KEY.replace("kl", "km");
        assert!(run(&format!("old value was {bad}")).is_none());
        assert!(run(&format!("{KEY}x")).is_none(), "33-char secret");
        assert!(run(&KEY[..KEY.len() - 1]).is_none(), "31-char secret");
        assert_eq!(
            rules_of(&format!("?k=%3D{KEY}&x=1")),
            ["securescan-api-key"]
        );
    }

    #[test]
    fn ssk_key_in_secret_assignment_is_reported_once() {
        let r = run(&format!("api_key = \"{KEY}\"")).unwrap();
        assert_eq!(r.rules, vec![RuleId::SecureScanApiKey]);
        assert!(!r.excerpt.contains(&KEY[15..]));
    }

    #[test]
    fn aws_key_boundaries() {
        let k = "AKIAQ3EGRTYU7HKL2M4P";
        let r = run(&format!("let k = \"{k}\";")).unwrap();
        assert_eq!(r.rules, vec![RuleId::AwsAccessKeyId]);
        assert_eq!(r.excerpt, "let k = \"AKIA****************\";");
        assert_eq!(rules_of("ASIAQ3EGRTYU7HKL2M4P"), ["aws-access-key-id"]);
        assert!(run(&format!("X{k}")).is_none());
        assert!(run(&format!("{k}Z")).is_none());
        assert!(run(&format!("{k}a")).is_none());
        assert!(run("AKIAQ3EGRTYU7HKL2M4").is_none());
        assert!(run("AKIAq3egrtyu7hkl2m4p").is_none());
        assert!(run("AKIDQ3EGRTYU7HKL2M4P").is_none());
        assert_eq!(rules_of(&format!("id_{k}")), ["aws-access-key-id"]);
    }

    #[test]
    fn private_key_headers() {
        for kind in ["RSA ", "EC ", "OPENSSH ", "DSA ", "", "ENCRYPTED "] {
            let line = format!("-----BEGIN {kind}PRIVATE KEY-----");
            let r = run(&line).unwrap();
            assert_eq!(r.rules, vec![RuleId::PrivateKey], "{line}");
            assert_eq!(r.excerpt, line);
        }
        assert_eq!(
            run("    x         -----BEGIN EC PRIVATE KEY-----          ")
                .unwrap()
                .excerpt,
            "x         -----BEGIN EC PRIVATE KEY-----"
        );
        assert_eq!(
            rules_of("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
            ["private-key"]
        );
        assert!(run("-----BEGIN PUBLIC KEY-----").is_none());
        assert!(run("-----BEGIN CERTIFICATE-----").is_none());
        assert!(run("-----BEGIN rsa PRIVATE KEY-----").is_none());
        assert!(run("-----END RSA PRIVATE KEY-----").is_none());
    }

    #[test]
    fn private_key_on_one_line_hides_the_body() {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        let line = format!(
            "  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n\","
        );
        let r = run(&line).unwrap();
        assert_eq!(r.rules, vec![RuleId::PrivateKey]);
        assert!(!r.excerpt.contains(body), "{}", r.excerpt);
        assert_eq!(
            r.excerpt,
            "\"private_key\": \"-----BEGIN PRIVATE KEY-----[REDACTED]"
        );
    }

    #[test]
    fn generic_secret_shapes() {
        for (line, value) in [
            ("password = \"Zx9$kLm2#Qp7Rt4w\"", "Zx9$kLm2#Qp7Rt4w"),
            ("  \"api_token\": \"tK8mN3pQ9rS2vX5z\",", "tK8mN3pQ9rS2vX5z"),
            ("SECRET_KEY=h7Gk2LmP9qRs4TvW", "h7Gk2LmP9qRs4TvW"),
            ("db_password: Fq8Lp3Zm9Xc2Vb7N", "Fq8Lp3Zm9Xc2Vb7N"),
            (
                "export GITHUB_TOKEN=ghp_9fK2mQ7xL4pR8sT1",
                "ghp_9fK2mQ7xL4pR8sT1",
            ),
            ("cfg.ApiKey := \"Q2w9E8r7T6y5U4i3\"", "Q2w9E8r7T6y5U4i3"),
            ("'passwd' => 'Zx9$kLm2#Qp7Rt4w',", "Zx9$kLm2#Qp7Rt4w"),
            ("apikey: 'Zx9$kLm2#Qp7Rt4w' # prod", "Zx9$kLm2#Qp7Rt4w"),
            (
                "url = \"https://h/?password=Zx9kLm2Qp7Rt4w&x=1\"",
                "Zx9kLm2Qp7Rt4w",
            ),
            ("SECRET = b\"Zx9$kLm2#Qp7Rt4w\"", "Zx9$kLm2#Qp7Rt4w"),
        ] {
            let r = run(line).unwrap_or_else(|| panic!("no finding: {line}"));
            assert_eq!(r.rules, vec![RuleId::GenericSecret], "{line}");
            assert!(!r.excerpt.contains(value), "{line} -> {}", r.excerpt);
            assert!(r.excerpt.contains(REDACTED), "{line} -> {}", r.excerpt);
        }
        assert_eq!(
            run("password = \"Zx9$kLm2#Qp7Rt4w\"").unwrap().excerpt,
            "password = \"[REDACTED]\""
        );
    }

    #[test]
    fn generic_secret_placeholders_and_noise() {
        for line in [
            "password = \"${DB_PASSWORD}\"",
            "api_token: \"<your-token-here>\"",
            "secret = \"xxxxxxxxxxxxxxxx\"",
            "password=\"changeme12345!Q\"",
            "token = \"example-token-Q9z8\"",
            "SECRET=your_secret_here_123",
            "password = \"aaaaaaaaaaaaaaaa\"",
            "password = \"abababababababab\"",
            "password = \"Ab1!\"",
            "token = \"{{ csrf_token }}\"",
            "password = os.environ.get(\"DB_PASSWORD\")",
            "token = request.headers.authorization",
            "let api_token: String = load();",
            "{ token: accessTokenFromRequest }",
            "if password == \"Zx9$kLm2#Qp7Rt4w\" {",
            "if password != \"Zx9$kLm2#Qp7Rt4w\" {",
            "SECRET=$SOME_OTHER_VARIABLE_9",
            "std::token::Kind",
            "endpoint = \"https://scanner.internal.example/api/v1\"",
            "DEBUG = False",
            "password =",
            "password = \"\"",
        ] {
            assert!(
                run(line).is_none(),
                "unexpected finding for {line}: {:?}",
                run(line)
            );
        }
    }

    #[test]
    fn one_finding_per_rule_per_line_and_all_redacted() {
        let a = "AKIAQ3EGRTYU7HKL2M4P";
        let b = "ASIAZZZZYYYYXXXX1234";
        let line = format!(
            "{a} {b} password=\"Zx9$kLm2#Qp7Rt4w\" token=\"tK8mN3pQ9rS2vX5z\" {KEY} again Zx9$kLm2#Qp7Rt4w"
        );
        let r = run(&line).unwrap();
        assert_eq!(
            r.rules,
            vec![
                RuleId::AwsAccessKeyId,
                RuleId::GenericSecret,
                RuleId::SecureScanApiKey
            ]
        );
        for s in [a, b, "Zx9$kLm2#Qp7Rt4w", "tK8mN3pQ9rS2vX5z", &KEY[15..]] {
            assert!(!r.excerpt.contains(s), "{s} in {}", r.excerpt);
        }
    }

    #[test]
    fn unreported_secret_values_are_redacted_on_a_finding_line() {
        let bad = KEY.replace("kl", "km");
        let line = format!("AKIAQ3EGRTYU7HKL2M4P password=hunter2 other={bad}");
        let r = run(&line).unwrap();
        assert_eq!(r.rules, vec![RuleId::AwsAccessKeyId]);
        assert!(!r.excerpt.contains("hunter2"), "{}", r.excerpt);
        assert!(!r.excerpt.contains(&bad[15..]), "{}", r.excerpt);
    }

    #[test]
    fn long_lines_are_cut_around_the_finding() {
        let k = "AKIAQ3EGRTYU7HKL2M4P";
        let line = format!("{}{k}{}", "a ".repeat(300), " b".repeat(300));
        let r = run(&line).unwrap();
        assert!(r.excerpt.chars().count() <= MAX_EXCERPT_CHARS);
        assert!(r.excerpt.contains("AKIA****************"), "{}", r.excerpt);
        assert!(r.excerpt.starts_with('…') && r.excerpt.ends_with('…'));

        let line = format!("{k}{}", " é".repeat(400));
        let r = run(&line).unwrap();
        assert_eq!(r.excerpt.chars().count(), MAX_EXCERPT_CHARS);
        assert!(r.excerpt.starts_with("AKIA****************"));

        let line = format!("{}password = \"Zx9$kLm2#Qp7Rt4w\"", "é".repeat(500));
        let r = run(&line).unwrap();
        assert!(r.excerpt.chars().count() <= MAX_EXCERPT_CHARS);
        assert!(
            r.excerpt.ends_with("password = \"[REDACTED]\""),
            "{}",
            r.excerpt
        );
    }

    #[test]
    fn invalid_utf8_is_tolerated() {
        let mut line = b"\xff\xfe key AKIAQ3EGRTYU7HKL2M4P \xc3".to_vec();
        line.extend_from_slice(b" end");
        let r = analyze_line(&line, &only_key).unwrap();
        assert_eq!(r.rules, vec![RuleId::AwsAccessKeyId]);
        assert!(r.excerpt.contains("AKIA****************"));
    }

    #[test]
    fn pathological_lines_stay_fast() {
        let n = 1 << 20;
        let t = std::time::Instant::now();
        for unit in [
            "token=",
            "token=\"",
            "password: x ",
            "a=",
            ":=",
            "ssk_",
            "AKIAQ3EGRTYU7HKL2M4P ",
            "token=AKIAQ3EGRTYU7HKL2M4P ",
            "-----BEGIN ",
            "x",
        ] {
            let line = unit.repeat(n / unit.len());
            let r = analyze_line(line.as_bytes(), &only_key);
            if let Some(r) = r {
                assert!(r.excerpt.chars().count() <= MAX_EXCERPT_CHARS);
            }
        }
        // Generous (debug build, busy machine): quadratic behaviour would
        // take minutes.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn entropy() {
        assert_eq!(shannon_entropy(b""), 0.0);
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abababab") - 1.0).abs() < 1e-9);
        assert!((shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9);
    }
}
