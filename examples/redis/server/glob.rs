//! Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): `*`, `?`,
//! `[abc]`, `[^a-z]`, and `\` to escape.
//!
//! The two-cursor algorithm: on a mismatch, retry from the last `*` one
//! byte further on. It needs no recursion, and takes at most
//! O(pattern × text) steps, where Redis's recursive matcher could take
//! exponential time on patterns like `a*a*a*a*b` before 7.0's cap.

/// True when `text` matches `pattern` (`nocase`: ASCII letters fold).
pub(crate) fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last '*': (pattern after it, text position).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    // Consecutive stars are one star.
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    let (hit, next) = class(pattern, p, text[t], nocase);
                    if hit {
                        p = next;
                        t += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if eq(pattern[p + 1], text[t], nocase) {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, text[t], nocase) {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: let the last star swallow one more byte.
        match star {
            Some((sp, st)) => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    a == b || (nocase && a.eq_ignore_ascii_case(&b))
}

/// Matches `c` against the class opening at `pattern[open]`; returns
/// (matched, index after the class). As in Redis, a class that never
/// closes runs to the end of the pattern.
fn class(pattern: &[u8], open: usize, c: u8, nocase: bool) -> (bool, usize) {
    let len = pattern.len();
    let mut i = open + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    while i < len {
        if pattern[i] == b'\\' && len - i >= 2 {
            i += 1;
            hit |= pattern[i] == c;
        } else if pattern[i] == b']' {
            break;
        } else if len - i >= 3 && pattern[i + 1] == b'-' {
            let fold = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
            let (mut lo, mut hi, c) = (fold(pattern[i]), fold(pattern[i + 2]), fold(c));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&c);
            i += 2;
        } else {
            hit |= eq(pattern[i], c, nocase);
        }
        i += 1;
    }
    (hit != negate, (i + 1).min(len))
}

/// True when the pattern has no special character (an exact key).
pub(crate) fn is_literal(pattern: &[u8]) -> bool {
    !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_pattern_examples() {
        let yes = |p: &str, t: &str| assert!(matches(p.as_bytes(), t.as_bytes(), false), "{p} ~ {t}");
        let no = |p: &str, t: &str| assert!(!matches(p.as_bytes(), t.as_bytes(), false), "{p} !~ {t}");
        yes("h?llo", "hello");
        yes("h*llo", "hllo");
        yes("h*llo", "heeeello");
        yes("h[ae]llo", "hallo");
        no("h[ae]llo", "hillo");
        yes("h[^e]llo", "hallo");
        no("h[^e]llo", "hello");
        yes("h[a-b]llo", "hbllo");
        yes("h[b-a]llo", "hallo");
        yes("*", "");
        yes("a\\*b", "a*b");
        no("a\\*b", "axb");
        yes("key:*", "key:__rand_int__");
        no("key:*", "counter:1");
        yes("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaab");
        no("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        no("[", "[");
        yes("[a", "a");
        yes("[a-]x", "]");
        yes("*.txt", "a.b.txt");
        no("?", "");
        assert!(matches(b"HELLO", b"hello", true));
    }
}
