//! The routing hint comment: `/* sqlmux:hostgroup=N */`.

use super::bytes::{find_either, is_space};

/// The hostgroup a comment's text (markers included) asks for, if it holds a valid hint.
/// The prefix is matched case-insensitively; spaces may surround `=`.
pub(crate) fn hostgroup(comment: &[u8]) -> Option<u32> {
    const PREFIX: &[u8] = b"sqlmux:";
    const KEY: &[u8] = b"hostgroup";
    // Cheap first: find the `:` of the prefix, 8 bytes at a time.
    let mut from = 0;
    let at = loop {
        let colon = from + find_either(comment.get(from..)?, b':', b':')?;
        let start = colon.checked_sub(PREFIX.len() - 1);
        if let Some(at) = start.filter(|&at| {
            comment
                .get(at..=colon)
                .is_some_and(|w| w.eq_ignore_ascii_case(PREFIX))
        }) {
            break at;
        }
        from = colon + 1;
    };
    let rest = trim(comment.get(at + PREFIX.len()..)?);
    if !rest.get(..KEY.len())?.eq_ignore_ascii_case(KEY) {
        return None;
    }
    let rest = trim(rest.get(KEY.len()..)?);
    let rest = trim(rest.strip_prefix(b"=")?);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0
        || rest
            .get(digits)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    rest.get(..digits)?.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let Some((&b, rest)) = s.split_first() {
        if !is_space(b) {
            break;
        }
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        for (c, want) in [
            (&b"/* sqlmux:hostgroup=2 */"[..], Some(2)),
            (b"/*sqlmux:hostgroup=10*/", Some(10)),
            (b"/* SQLMUX:HostGroup = 7 */", Some(7)),
            (b"/* sqlmux: hostgroup=3 */", Some(3)),
            (b"-- sqlmux:hostgroup=4", Some(4)),
            (b"/* app=x sqlmux:hostgroup=5 */", Some(5)),
            (b"/* sqlmux:hostgroup=4294967295 */", Some(u32::MAX)),
            (b"/* sqlmux:hostgroup=4294967296 */", None),
            (b"/* sqlmux:hostgroup= */", None),
            (b"/* sqlmux:hostgroup=1x */", None),
            (b"/* sqlmux:hostgroup=-1 */", None),
            (b"/* sqlmux:group=1 */", None),
            (b"/* sqlmux:hostgroup */", None),
            (b"/* hostgroup=1 */", None),
            (b"/* sqlmux:", None),
            (b"/* a:b x:sqlmux:hostgroup=9 */", Some(9)),
            (b"/* :sqlmux:hostgroup=8 */", Some(8)),
            (b"/*qlmux:hostgroup=1*/", None),
            (b"", None),
        ] {
            assert_eq!(hostgroup(c), want, "{}", String::from_utf8_lossy(c));
        }
    }
}
