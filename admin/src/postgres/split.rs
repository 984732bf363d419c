//! A query string split into its statements.

/// Splits a query string into statements at top-level `;`, skipping blanks and comments
/// before each and dropping statements that are only comments. Quotes (`'`, `"`, `` ` ``),
/// `--` and (nested) `/* */` comments are honoured; an unterminated one runs to the end.
pub(super) fn split_statements(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' | b'"' | b'`' => {
                start.get_or_insert(i);
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b {
                        // A doubled quote is one quote inside the string.
                        if bytes.get(i + 1) == Some(&b) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b';' => {
                if let Some(s) = start.take() {
                    statements.push(text[s..i].trim_end());
                }
                i += 1;
            }
            _ => {
                if !b.is_ascii_whitespace() {
                    start.get_or_insert(i);
                }
                i += 1;
            }
        }
    }
    if let Some(s) = start {
        statements.push(text[s..].trim_end());
    }
    statements
}
