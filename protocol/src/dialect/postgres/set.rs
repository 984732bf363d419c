//! [`parse_set`]: what a SET or RESET statement does to the session, when the proxy can
//! track and replay it; otherwise None and the caller pins the session.

use super::keywords::{kw, Kw};
use super::kind::Reader;
use super::lexer::{is_space, Lexer, Token, TokenKind};
use super::names::ident;

/// A SET or RESET statement the proxy understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetCommand {
    /// `SET [SESSION | LOCAL] name { TO | = } value [, ...] | DEFAULT`; also `SET TIME ZONE`
    /// (name `timezone`), `SET NAMES 'x'` (`client_encoding`), `SET SCHEMA 'x'`
    /// (`search_path`), `SET XML OPTION` (`xmloption`).
    Set {
        /// `SET LOCAL`: only until the end of the current transaction.
        local: bool,
        /// Lower-cased unless quoted; dotted custom names (`myapp.foo`) kept whole.
        name: String,
        /// The value.
        value: SetValue,
    },
    /// `RESET name` (`RESET TIME ZONE` -> `timezone`, `RESET TRANSACTION ISOLATION LEVEL` ->
    /// `transaction_isolation`).
    Reset {
        /// Lower-cased unless quoted.
        name: String,
    },
    /// `RESET ALL`.
    ResetAll,
    /// `SET [SESSION | LOCAL] TRANSACTION ...` and `SET CONSTRAINTS ...`: the current
    /// transaction only.
    Transaction,
}

/// The value of a [`SetCommand::Set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// `DEFAULT` (also `SET TIME ZONE LOCAL`, `SET NAMES` without a value).
    Default,
    /// The value text exactly as written after TO/= (comments stripped, original quoting
    /// kept), to be re-sent verbatim as `SET name TO <text>`.
    Text(String),
}

/// Parses one SET/RESET statement (a trailing `;`, whitespace and comments allowed); None
/// when it is not a SET/RESET the proxy can track: SET ROLE, SET SESSION AUTHORIZATION,
/// SET SESSION CHARACTERISTICS, `SET TIME ZONE INTERVAL ...`, values that are no literals,
/// more than one statement.
pub fn parse_set(sql: &[u8]) -> Option<SetCommand> {
    let mut p = Parser {
        r: Reader::new(Lexer::new(sql)),
        sql,
    };
    let cmd = match p.next_kw()? {
        Kw::SET => set(&mut p)?,
        Kw::RESET => reset(&mut p)?,
        _ => return None,
    };
    p.end().then_some(cmd)
}

struct Parser<'a> {
    r: Reader<'a>,
    sql: &'a [u8],
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        self.r.next().map(|(t, _)| t)
    }

    fn next_kw(&mut self) -> Option<Kw> {
        self.r.next_kw()
    }

    fn peek(&self) -> Option<Token> {
        self.r.peek()
    }

    fn peek_kw(&self) -> Option<Kw> {
        kw(self.sql, &self.peek()?)
    }

    /// Whether the statement ends next (`;` or the end of the text).
    fn at_end(&self) -> bool {
        match self.peek() {
            None => true,
            Some(t) => t.kind == TokenKind::Semicolon,
        }
    }

    /// Moves to the end of the statement.
    fn skip_statement(&mut self) {
        while !self.at_end() {
            self.next();
        }
    }

    /// Nothing but comments, whitespace and `;` remain.
    fn end(&mut self) -> bool {
        self.r
            .lex
            .all(|t| matches!(t.kind, TokenKind::Comment | TokenKind::Semicolon))
    }

    /// A possibly dotted name starting with `t`.
    fn name(&mut self, t: &Token) -> Option<String> {
        let mut name = ident(self.sql, t)?;
        while self.peek().is_some_and(|d| d.is_punct(self.sql, b".")) {
            self.next();
            let part = self.next()?;
            name.push('.');
            name.push_str(&ident(self.sql, &part)?);
        }
        Some(name)
    }

    /// `value [, value ...]` up to the end of the statement, as written: `(text, count)`.
    /// A value is a string, a word, a quoted name or an optionally signed number.
    fn values(&mut self) -> Option<(String, usize)> {
        let mut out = Vec::new();
        let mut prev_end: Option<usize> = None;
        let mut count = 0;
        loop {
            let mut item = self.next()?;
            let mut parts = [Some(item), None];
            if item.is_punct(self.sql, b"-") || item.is_punct(self.sql, b"+") {
                item = self.next()?;
                if item.kind != TokenKind::Number {
                    return None;
                }
                parts[1] = Some(item);
            } else if !matches!(
                item.kind,
                TokenKind::String | TokenKind::Number | TokenKind::Word | TokenKind::QuotedIdent
            ) || !item.closed
            {
                return None;
            }
            count += 1;
            for t in parts.into_iter().flatten() {
                self.push(&mut out, &mut prev_end, &t);
            }
            if self.at_end() {
                break;
            }
            let comma = self.next()?;
            if !comma.is_punct(self.sql, b",") {
                return None;
            }
            self.push(&mut out, &mut prev_end, &comma);
        }
        Some((String::from_utf8_lossy(&out).into_owned(), count))
    }

    /// Appends `t` and what separates it from the previous token: whitespace as written,
    /// a separator with comments as one space (a newline if it held one).
    fn push(&self, out: &mut Vec<u8>, prev_end: &mut Option<usize>, t: &Token) {
        if let Some(from) = *prev_end {
            let gap = self.sql.get(from..t.start()).unwrap_or_default();
            if gap.iter().all(|&b| is_space(b)) {
                out.extend_from_slice(gap);
            } else if gap.contains(&b'\n') {
                out.push(b'\n');
            } else {
                out.push(b' ');
            }
        }
        out.extend_from_slice(t.text(self.sql));
        *prev_end = Some(t.end());
    }

    /// One string literal up to the end of the statement.
    fn string(&mut self) -> Option<SetValue> {
        let t = self.next()?;
        (t.kind == TokenKind::String && t.closed && self.at_end())
            .then(|| SetValue::Text(String::from_utf8_lossy(t.text(self.sql)).into_owned()))
    }
}

fn set(p: &mut Parser<'_>) -> Option<SetCommand> {
    let mut local = false;
    let mut t = p.next()?;
    match kw(p.sql, &t) {
        Some(Kw::SESSION) => {
            if matches!(p.peek_kw(), Some(Kw::AUTHORIZATION | Kw::CHARACTERISTICS)) {
                return None;
            }
            t = p.next()?;
        }
        Some(Kw::LOCAL) => {
            local = true;
            t = p.next()?;
        }
        _ => {}
    }
    let (name, value) = match kw(p.sql, &t) {
        Some(Kw::TRANSACTION | Kw::CONSTRAINTS) => {
            p.skip_statement();
            return Some(SetCommand::Transaction);
        }
        Some(Kw::TIME) if p.peek_kw() == Some(Kw::ZONE) => {
            p.next();
            let value = match p.peek_kw() {
                Some(Kw::LOCAL | Kw::DEFAULT) => {
                    p.next();
                    SetValue::Default
                }
                Some(Kw::INTERVAL) => return None,
                _ => match p.values()? {
                    (text, 1) => SetValue::Text(text),
                    _ => return None,
                },
            };
            ("timezone".to_owned(), value)
        }
        Some(Kw::NAMES) => {
            let value = match p.peek_kw() {
                _ if p.at_end() => SetValue::Default,
                Some(Kw::DEFAULT) => {
                    p.next();
                    SetValue::Default
                }
                _ => p.string()?,
            };
            ("client_encoding".to_owned(), value)
        }
        Some(Kw::SCHEMA) => ("search_path".to_owned(), p.string()?),
        Some(Kw::XML) if p.peek_kw() == Some(Kw::OPTION) => {
            p.next();
            let v = p.next()?;
            let word = v.text(p.sql);
            if !(word.eq_ignore_ascii_case(b"document") || word.eq_ignore_ascii_case(b"content"))
                || v.kind != TokenKind::Word
            {
                return None;
            }
            let text = String::from_utf8_lossy(word).into_owned();
            ("xmloption".to_owned(), SetValue::Text(text))
        }
        Some(Kw::ROLE | Kw::SESSION | Kw::CATALOG) => return None,
        _ => {
            let name = p.name(&t)?;
            if name.eq_ignore_ascii_case("role")
                || name.eq_ignore_ascii_case("session_authorization")
            {
                return None;
            }
            let eq = p.next()?;
            if !(eq.is_punct(p.sql, b"=") || kw(p.sql, &eq) == Some(Kw::TO)) {
                return None;
            }
            let mut after = p.r.lex.clone();
            let default = after.next_sig().and_then(|d| kw(p.sql, &d)) == Some(Kw::DEFAULT)
                && !after
                    .peek_sig()
                    .is_some_and(|n| n.kind != TokenKind::Semicolon);
            let value = if default {
                p.next();
                SetValue::Default
            } else {
                SetValue::Text(p.values()?.0)
            };
            (name, value)
        }
    };
    Some(SetCommand::Set { local, name, value })
}

fn reset(p: &mut Parser<'_>) -> Option<SetCommand> {
    let t = p.next()?;
    let name = match kw(p.sql, &t) {
        Some(Kw::ALL) => return Some(SetCommand::ResetAll),
        Some(Kw::TIME) if p.peek_kw() == Some(Kw::ZONE) => {
            p.next();
            "timezone".to_owned()
        }
        Some(Kw::TRANSACTION) => {
            if p.next_kw()? != Kw::ISOLATION || p.next_kw()? != Kw::LEVEL {
                return None;
            }
            "transaction_isolation".to_owned()
        }
        Some(Kw::SESSION) => return None,
        _ => p.name(&t)?,
    };
    Some(SetCommand::Reset { name })
}

/// Whether a boolean setting's value text (as written: `off`, `'false'`, `0`, ...) is off.
pub fn setting_is_off(text: &str) -> bool {
    let v = text
        .trim()
        .trim_matches(|c| c == '\'' || c == '"')
        .to_ascii_lowercase();
    matches!(
        v.as_str(),
        "of" | "off" | "f" | "fa" | "fal" | "fals" | "false" | "n" | "no" | "0"
    )
}

/// Whether `sql` (one statement or several) may turn `standard_conforming_strings` off: a
/// SET of it to off, or a `set_config` naming it. The lexers read strings as the server does
/// with it on (a backslash is no escape in `'...'`); with it off, text the lexer takes for a
/// string could hide statements from tracking, so such a statement is refused.
pub fn turns_off_standard_strings(sql: &[u8]) -> bool {
    const NAME: &[u8] = b"standard_conforming_strings";
    if !sql
        .windows(NAME.len())
        .any(|w| w.eq_ignore_ascii_case(NAME))
    {
        return false;
    }
    let lower = sql.to_ascii_lowercase();
    if lower.windows(10).any(|w| w == b"set_config") {
        return true;
    }
    crate::dialect::postgres::statements(sql)
        .into_iter()
        .any(|(_, range)| {
            matches!(
                parse_set(&sql[range]),
                Some(SetCommand::Set { name, value: SetValue::Text(v), .. })
                    if name == "standard_conforming_strings" && setting_is_off(&v)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turning_standard_strings_off_is_seen() {
        for sql in [
            "SET standard_conforming_strings = off",
            "set standard_conforming_strings to 'false'",
            "SET SESSION standard_conforming_strings = 0",
            "SET LOCAL standard_conforming_strings TO off",
            "SELECT 1; SET standard_conforming_strings = off",
            "SELECT set_config('standard_conforming_strings', 'off', false)",
        ] {
            assert!(turns_off_standard_strings(sql.as_bytes()), "{sql}");
        }
        for sql in [
            "SET standard_conforming_strings = on",
            "RESET standard_conforming_strings",
            "SET standard_conforming_strings TO DEFAULT",
            "SELECT 'standard_conforming_strings'",
            "SET search_path = off",
        ] {
            assert!(!turns_off_standard_strings(sql.as_bytes()), "{sql}");
        }
    }

    fn set(local: bool, name: &str, value: &str) -> Option<SetCommand> {
        Some(SetCommand::Set {
            local,
            name: name.into(),
            value: SetValue::Text(value.into()),
        })
    }

    fn set_default(name: &str) -> Option<SetCommand> {
        Some(SetCommand::Set {
            local: false,
            name: name.into(),
            value: SetValue::Default,
        })
    }

    fn p(sql: &str) -> Option<SetCommand> {
        parse_set(sql.as_bytes())
    }

    #[test]
    fn assignments() {
        assert_eq!(
            p("SET search_path TO public"),
            set(false, "search_path", "public")
        );
        assert_eq!(
            p("set Search_Path = \"$user\",  public ;"),
            set(false, "search_path", "\"$user\",  public")
        );
        assert_eq!(
            p("SET SESSION work_mem = '64MB' -- c"),
            set(false, "work_mem", "'64MB'")
        );
        assert_eq!(
            p("SET LOCAL statement_timeout TO 0"),
            set(true, "statement_timeout", "0")
        );
        assert_eq!(
            p("SET myapp.User_Id = /* c */ 42"),
            set(false, "myapp.user_id", "42")
        );
        assert_eq!(
            p("SET \"MyApp\".x = 'a' /* c */, 'b'"),
            set(false, "MyApp.x", "'a' , 'b'")
        );
        assert_eq!(
            p("SET extra_float_digits = -3"),
            set(false, "extra_float_digits", "-3")
        );
        assert_eq!(p("SET x=-1.5e3"), set(false, "x", "-1.5e3"));
        assert_eq!(p("SET x = on"), set(false, "x", "on"));
        assert_eq!(p("SET x = E'a\\'b'"), set(false, "x", "E'a\\'b'"));
        assert_eq!(p("SET x = $$a$$"), set(false, "x", "$$a$$"));
        assert_eq!(p("SET x TO DEFAULT;"), set_default("x"));
        assert_eq!(p("SET x = default"), set_default("x"));
        assert_eq!(p("SET x = 'default'"), set(false, "x", "'default'"));
    }

    #[test]
    fn special_forms() {
        assert_eq!(p("SET TIME ZONE 'UTC'"), set(false, "timezone", "'UTC'"));
        assert_eq!(p("SET LOCAL TIME ZONE -7"), set(true, "timezone", "-7"));
        assert_eq!(p("SET TIME ZONE LOCAL"), set_default("timezone"));
        assert_eq!(p("SET TIME ZONE DEFAULT"), set_default("timezone"));
        assert_eq!(p("SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE"), None);
        assert_eq!(p("SET TIME ZONE 'a', 'b'"), None);
        assert_eq!(
            p("SET NAMES 'UTF8'"),
            set(false, "client_encoding", "'UTF8'")
        );
        assert_eq!(p("SET NAMES"), set_default("client_encoding"));
        assert_eq!(p("SET NAMES DEFAULT"), set_default("client_encoding"));
        assert_eq!(p("SET NAMES utf8"), None);
        assert_eq!(p("SET SCHEMA 'app'"), set(false, "search_path", "'app'"));
        assert_eq!(
            p("SET XML OPTION DOCUMENT"),
            set(false, "xmloption", "DOCUMENT")
        );
        assert_eq!(p("SET XML OPTION x"), None);
        assert_eq!(
            p("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            Some(SetCommand::Transaction)
        );
        assert_eq!(
            p("SET SESSION TRANSACTION READ ONLY;"),
            Some(SetCommand::Transaction)
        );
        assert_eq!(
            p("SET LOCAL TRANSACTION SNAPSHOT '0001'"),
            Some(SetCommand::Transaction)
        );
        assert_eq!(
            p("SET CONSTRAINTS ALL DEFERRED"),
            Some(SetCommand::Transaction)
        );
    }

    #[test]
    fn untrackable() {
        for sql in [
            "SET ROLE admin",
            "SET LOCAL ROLE admin",
            "SET role = admin",
            "SET \"ROLE\" = admin",
            "SET SESSION AUTHORIZATION bob",
            "SET SESSION SESSION AUTHORIZATION bob",
            "SET session_authorization = bob",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "SET CATALOG 'x'",
            "SET x = 1 + 1",
            "SET x = (1)",
            "SET x = $1",
            "SET x = f()",
            "SET x",
            "SET x =",
            "SET x = 'open",
            "SET x = 1; SELECT 1",
            "SET x FROM CURRENT",
            "SET x = - 'a'",
            "SET",
            "SELECT 1",
            "",
            "RESET",
            "RESET SESSION AUTHORIZATION",
            "RESET TRANSACTION x",
        ] {
            assert_eq!(p(sql), None, "{sql}");
        }
    }

    #[test]
    fn resets() {
        assert_eq!(p("RESET ALL;"), Some(SetCommand::ResetAll));
        assert_eq!(
            p("reset Work_Mem"),
            Some(SetCommand::Reset {
                name: "work_mem".into()
            })
        );
        assert_eq!(
            p("RESET \"MyApp\".Foo"),
            Some(SetCommand::Reset {
                name: "MyApp.foo".into()
            })
        );
        assert_eq!(
            p("RESET TIME ZONE"),
            Some(SetCommand::Reset {
                name: "timezone".into()
            })
        );
        assert_eq!(
            p("RESET TRANSACTION ISOLATION LEVEL"),
            Some(SetCommand::Reset {
                name: "transaction_isolation".into()
            })
        );
        assert_eq!(p("RESET ALL; RESET x"), None);
    }

    #[test]
    fn string_continuation_keeps_its_newline() {
        assert_eq!(p("SET x = 'a'\n'b'"), None);
        assert_eq!(p("SET x = 'a', -- c\n'b'"), set(false, "x", "'a',\n'b'"));
    }
}
