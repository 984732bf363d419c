//! [`parse_set`]: the assignments of a SET statement, when all of them are literals the
//! proxy can track and replay; otherwise None and the caller pins the session.
//!
//! Scope follows MySQL: a `GLOBAL`/`PERSIST`/`SESSION`/`LOCAL` keyword applies to the
//! following assignments that name no scope themselves; `@@global.x` only to itself.

use super::classify::sys_var;
use super::keywords::{kw, Kw};
use super::lexer::{Lexer, Token, TokenKind};

/// One assignment of a SET statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetItem {
    /// `SET [SESSION|@@session.|@@|LOCAL] name = value` (name lower-cased, without scope).
    Session {
        /// Variable name, lower-cased.
        name: String,
        /// The value to replay.
        value: SetValue,
    },
    /// `SET GLOBAL ...` / `@@global.` / PERSIST: not session state.
    Global {
        /// Variable name, lower-cased (`transaction_isolation`/`transaction_read_only` for
        /// `SET GLOBAL TRANSACTION`).
        name: String,
    },
    /// `SET @x = value`.
    UserVar {
        /// Name without `@`, lower-cased; quoted names unquoted.
        name: String,
        /// The value to replay.
        value: SetValue,
    },
    /// `SET NAMES charset [COLLATE collation]` / `SET NAMES DEFAULT` (charset `"default"`).
    Names {
        /// Character set, unquoted, lower-cased.
        charset: String,
        /// Collation, unquoted, lower-cased; None also for `COLLATE DEFAULT`.
        collation: Option<String>,
    },
    /// `SET CHARACTER SET charset` / `SET CHARSET charset` (`"default"` for DEFAULT).
    CharacterSet {
        /// Character set, unquoted, lower-cased.
        charset: String,
    },
    /// `SET [SESSION] TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE`.
    Transaction {
        /// `"READ UNCOMMITTED"`, `"READ COMMITTED"`, `"REPEATABLE READ"` or `"SERIALIZABLE"`.
        isolation: Option<String>,
        /// `READ ONLY` -> true, `READ WRITE` -> false.
        read_only: Option<bool>,
        /// No SESSION keyword: applies to the next transaction only.
        next_only: bool,
    },
}

/// A SET value the proxy can replay verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetValue {
    /// Literal text exactly as it must be re-sent: a quoted string (quotes kept), a number,
    /// NULL, ON/OFF/TRUE/FALSE, or a bare word like `utf8mb4`, `SYSTEM`, `READ-COMMITTED`.
    Literal(String),
    /// DEFAULT.
    Default,
}

impl SetValue {
    /// The value as the server reads it: a quoted literal's content, any other literal as
    /// written; `None` for DEFAULT.
    pub fn text(&self) -> Option<String> {
        match self {
            SetValue::Literal(v) => Some(match unquote(v.as_bytes()) {
                Some(inner) => String::from_utf8_lossy(&inner).into_owned(),
                None => v.clone(),
            }),
            SetValue::Default => None,
        }
    }
}

/// Parses a whole SET statement (possibly several comma-separated assignments; `=` or `:=`);
/// None when any part is not a literal value (expressions, function calls, subqueries,
/// other variables), when the text holds more than one statement, and for SET forms that are
/// no variable assignment (PASSWORD, ROLE, DEFAULT ROLE, RESOURCE GROUP, STATEMENT ... FOR).
pub fn parse_set(sql: &[u8]) -> Option<Vec<SetItem>> {
    let mut p = Parser {
        lex: Lexer::new(sql),
        sql,
    };
    if p.next_kw()? != Kw::SET {
        return None;
    }
    let mut items = Vec::new();
    let mut scope = Scope::Default;
    loop {
        let mut t = p.next()?;
        match kw(sql, &t) {
            Some(Kw::GLOBAL | Kw::PERSIST | Kw::PERSIST_ONLY) => {
                scope = Scope::Global;
                t = p.next()?;
            }
            Some(Kw::SESSION | Kw::LOCAL) => {
                scope = Scope::Session;
                t = p.next()?;
            }
            _ => {}
        }
        match kw(sql, &t) {
            Some(Kw::TRANSACTION) if items.is_empty() => {
                transaction(&mut p, scope, &mut items)?;
                return p.end().then_some(items);
            }
            Some(Kw::NAMES) => items.push(names(&mut p)?),
            Some(Kw::CHARACTER) if p.next_kw()? == Kw::SET => items.push(charset(&mut p)?),
            Some(Kw::CHARSET) => items.push(charset(&mut p)?),
            _ => items.push(assignment(&mut p, &t, scope)?),
        }
        let Some(t) = p.next() else {
            return Some(items);
        };
        if t.kind == TokenKind::Semicolon {
            return p.end().then_some(items);
        }
        if !t.is_punct(sql, b",") {
            return None;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Default,
    Session,
    Global,
}

struct Parser<'a> {
    lex: Lexer<'a>,
    sql: &'a [u8],
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<Token> {
        self.lex.next_sig()
    }

    fn next_kw(&mut self) -> Option<Kw> {
        let t = self.next()?;
        kw(self.sql, &t)
    }

    fn peek(&self) -> Option<Token> {
        self.lex.peek_sig()
    }

    fn text(&self, t: &Token) -> &'a [u8] {
        t.text(self.sql)
    }

    /// Nothing but comments, whitespace and `;` remain.
    fn end(&mut self) -> bool {
        self.lex
            .all(|t| matches!(t.kind, TokenKind::Comment | TokenKind::Semicolon))
    }

    /// Whether the next token ends an item: `,`, `;` or the end.
    fn at_item_end(&self) -> bool {
        match self.peek() {
            None => true,
            Some(t) => t.kind == TokenKind::Semicolon || t.is_punct(self.sql, b","),
        }
    }
}

fn lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

/// The content of a quoted string or name when it holds no escapes: `'utf8mb4'` -> `utf8mb4`.
fn simple_unquote(t: &Token, text: &[u8]) -> Option<Vec<u8>> {
    let inner = text.get(1..text.len().checked_sub(1)?)?;
    let quote = *text.first()?;
    if !t.closed || inner.iter().any(|&b| b == quote || b == b'\\') {
        return None;
    }
    Some(inner.to_vec())
}

/// A name: a word, or a quoted string or identifier without escapes.
fn name_of(p: &Parser<'_>, t: &Token) -> Option<String> {
    match t.kind {
        TokenKind::Word => Some(lower(p.text(t))),
        TokenKind::String | TokenKind::DoubleQuoted | TokenKind::QuotedIdent
            if matches!(p.text(t).first(), Some(b'\'' | b'"' | b'`')) =>
        {
            simple_unquote(t, p.text(t)).map(|n| lower(&n))
        }
        _ => None,
    }
}

/// `NAMES {charset | DEFAULT} [COLLATE {collation | DEFAULT}]`.
fn names(p: &mut Parser<'_>) -> Option<SetItem> {
    let t = p.next()?;
    let charset = name_of(p, &t)?;
    let mut collation = None;
    if p.peek().and_then(|t| kw(p.sql, &t)) == Some(Kw::COLLATE) {
        p.next();
        let t = p.next()?;
        if kw(p.sql, &t) != Some(Kw::DEFAULT) {
            collation = Some(name_of(p, &t)?);
        }
    }
    p.at_item_end()
        .then_some(SetItem::Names { charset, collation })
}

/// `CHARACTER SET {charset | DEFAULT}` / `CHARSET ...`.
fn charset(p: &mut Parser<'_>) -> Option<SetItem> {
    let t = p.next()?;
    let charset = name_of(p, &t)?;
    p.at_item_end().then_some(SetItem::CharacterSet { charset })
}

/// `TRANSACTION characteristic [, characteristic]`.
fn transaction(p: &mut Parser<'_>, scope: Scope, items: &mut Vec<SetItem>) -> Option<()> {
    let mut isolation = None;
    let mut read_only = None;
    loop {
        match p.next_kw()? {
            Kw::ISOLATION => {
                if p.next_kw()? != Kw::LEVEL {
                    return None;
                }
                isolation = Some(match (p.next_kw()?, p.peek().and_then(|t| kw(p.sql, &t))) {
                    (Kw::READ, Some(Kw::UNCOMMITTED)) => "READ UNCOMMITTED",
                    (Kw::READ, Some(Kw::COMMITTED)) => "READ COMMITTED",
                    (Kw::REPEATABLE, Some(Kw::READ)) => "REPEATABLE READ",
                    (Kw::SERIALIZABLE, _) => "SERIALIZABLE",
                    _ => return None,
                });
                if isolation != Some("SERIALIZABLE") {
                    p.next();
                }
            }
            Kw::READ => {
                read_only = Some(match p.next_kw()? {
                    Kw::ONLY => true,
                    Kw::WRITE => false,
                    _ => return None,
                });
            }
            _ => return None,
        }
        match p.peek() {
            Some(t) if t.is_punct(p.sql, b",") => {
                p.next();
            }
            _ => break,
        }
    }
    if scope == Scope::Global {
        if isolation.is_some() {
            items.push(SetItem::Global {
                name: "transaction_isolation".into(),
            });
        }
        if read_only.is_some() {
            items.push(SetItem::Global {
                name: "transaction_read_only".into(),
            });
        }
    } else {
        items.push(SetItem::Transaction {
            isolation: isolation.map(String::from),
            read_only,
            next_only: scope == Scope::Default,
        });
    }
    Some(())
}

/// `[@@scope.]name = value`, `@user = value`.
fn assignment(p: &mut Parser<'_>, t: &Token, scope: Scope) -> Option<SetItem> {
    let text = p.text(t);
    enum Target {
        Sys(bool, String),
        User(String),
    }
    let target = match t.kind {
        TokenKind::SysVar => {
            let (explicit, name) = sys_var(text);
            if name.is_empty() {
                return None;
            }
            // An explicit `@@scope.` wins over a scope keyword.
            let global = explicit.unwrap_or(scope == Scope::Global);
            Target::Sys(global, lower(name))
        }
        TokenKind::UserVar => {
            let name = text.get(1..)?;
            let name = match name.first() {
                Some(b'\'' | b'"' | b'`') => unquote(name)?,
                _ => name.to_vec(),
            };
            Target::User(lower(&name))
        }
        TokenKind::Word | TokenKind::QuotedIdent => {
            let mut name = name_of(p, t)?;
            if matches!(
                name.as_str(),
                "password" | "role" | "default" | "statement" | "resource"
            ) {
                return None;
            }
            // Structured or component variables: `validate_password.length`.
            if p.peek().is_some_and(|d| d.is_punct(p.sql, b".")) {
                p.next();
                let part = p.next()?;
                name.push('.');
                name.push_str(&name_of(p, &part)?);
            }
            Target::Sys(scope == Scope::Global, name)
        }
        _ => return None,
    };
    let eq = p.next()?;
    if !eq.is_punct(p.sql, b"=") && !eq.is_punct(p.sql, b":=") {
        return None;
    }
    let user = matches!(target, Target::User(_));
    let value = value(p, user)?;
    Some(match target {
        Target::Sys(true, name) => SetItem::Global { name },
        Target::Sys(false, name) => SetItem::Session { name, value },
        Target::User(name) => SetItem::UserVar { name, value },
    })
}

/// A quoted string or name's content: doubled quotes and backslash escapes resolved.
pub(crate) fn unquote(text: &[u8]) -> Option<Vec<u8>> {
    let quote = *text.first()?;
    if text.len() < 2 || text.last() != Some(&quote) {
        return None;
    }
    let inner = text.get(1..text.len() - 1)?;
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        if b == b'\\' && quote != b'`' {
            let e = *inner.get(i + 1)?;
            out.push(match e {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'0' => 0,
                b'b' => 8,
                b'Z' => 26,
                _ => e,
            });
            i += 2;
        } else if b == quote {
            // Only doubled quotes can be inside a well-lexed quoted token.
            if inner.get(i + 1) != Some(&quote) {
                return None;
            }
            out.push(quote);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// A literal value followed by the end of the item.
fn value(p: &mut Parser<'_>, user: bool) -> Option<SetValue> {
    let t = p.next()?;
    let text = p.text(&t);
    let literal = |s: &[u8]| Some(SetValue::Literal(String::from_utf8_lossy(s).into_owned()));
    let v = match t.kind {
        TokenKind::String | TokenKind::DoubleQuoted | TokenKind::Number if t.closed => {
            literal(text)?
        }
        TokenKind::Punct if text == b"-" || text == b"+" => {
            let n = p.next()?;
            if n.kind != TokenKind::Number {
                return None;
            }
            let mut s = text.to_vec();
            s.extend_from_slice(p.text(&n));
            literal(&s)?
        }
        TokenKind::Word => match kw(p.sql, &t) {
            Some(Kw::DEFAULT) if !user => SetValue::Default,
            Some(Kw::NULL | Kw::TRUE | Kw::FALSE) => literal(text)?,
            _ if user => return None,
            _ => {
                // A bare word, or words joined by `-` without spaces (READ-COMMITTED).
                let mut end = t.end();
                loop {
                    let mut ahead = p.lex.clone();
                    match (ahead.next_sig(), ahead.next_sig()) {
                        (Some(d), Some(w))
                            if d.is_punct(p.sql, b"-")
                                && !d.space_before
                                && w.kind == TokenKind::Word
                                && !w.space_before =>
                        {
                            end = w.end();
                            p.lex = ahead;
                        }
                        _ => break,
                    }
                }
                literal(p.sql.get(t.start()..end)?)?
            }
        },
        _ => return None,
    };
    p.at_item_end().then_some(v)
}

#[cfg(test)]
mod tests;
