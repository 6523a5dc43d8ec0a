//! Okta's filter expressions, as the fake evaluates the groups `search` and the apps `filter`:
//! `attribute op "value"` comparisons (`eq`, `sw`) joined by `and` and `or` (`and` binding
//! tighter), with parentheses, and string literals in which `\"` and `\\` are escapes
//! (<https://developer.okta.com/docs/api/#filter>). What it cannot parse, Okta refuses
//! (`400`, `E0000031`); so does the fake, so a malformed expression from autofed fails a test.

use serde_json::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attribute op "value"`.
    Compare {
        /// A dotted path into the object (`profile.name`).
        attribute: String,
        /// `eq` or `sw`.
        op: Op,
        /// The literal, unescaped.
        value: String,
    },
    /// Every one holds.
    And(Vec<Filter>),
    /// Any one holds.
    Or(Vec<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Starts with.
    Sw,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

fn tokens(expr: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => text.push(e),
                            other => return Err(format!("bad escape \\{other:?}")),
                        },
                        Some(c) => text.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(text));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if matches!(n, ' ' | '(' | ')' | '"') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// `operand (word operand)*`: one operand stands as itself, more are joined by `join`.
    fn joined(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> Result<Filter, String>,
        join: fn(Vec<Filter>) -> Filter,
    ) -> Result<Filter, String> {
        let mut parts = vec![operand(self)?];
        while self.peek_word(word) {
            self.at += 1;
            parts.push(operand(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            join(parts)
        })
    }

    fn or(&mut self) -> Result<Filter, String> {
        self.joined("or", Self::and, Filter::Or)
    }

    fn and(&mut self) -> Result<Filter, String> {
        self.joined("and", Self::primary, Filter::And)
    }

    fn primary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    other => Err(format!("expected ), found {other:?}")),
                }
            }
            Some(Token::Word(attribute)) => {
                let op = match self.next() {
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => Op::Eq,
                    Some(Token::Word(op)) if op.eq_ignore_ascii_case("sw") => Op::Sw,
                    other => return Err(format!("unsupported operator {other:?}")),
                };
                match self.next() {
                    Some(Token::Text(value)) => Ok(Filter::Compare {
                        attribute,
                        op,
                        value,
                    }),
                    other => Err(format!("expected a string, found {other:?}")),
                }
            }
            other => Err(format!("expected a comparison, found {other:?}")),
        }
    }
}

impl Filter {
    /// Parses `expr`, or says what is wrong with it.
    pub fn parse(expr: &str) -> Result<Filter, String> {
        let mut parser = Parser {
            tokens: tokens(expr)?,
            at: 0,
        };
        let filter = parser.or()?;
        match parser.next() {
            None => Ok(filter),
            Some(extra) => Err(format!("unexpected {extra:?}")),
        }
    }

    /// Whether `item` satisfies the expression.
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::Compare {
                attribute,
                op,
                value,
            } => {
                let have = attribute
                    .split('.')
                    .fold(item, |v, k| &v[k])
                    .as_str()
                    .unwrap_or_default();
                match op {
                    Op::Eq => have == value,
                    Op::Sw => have.starts_with(value.as_str()),
                }
            }
            Filter::And(all) => all.iter().all(|f| f.matches(item)),
            Filter::Or(any) => any.iter().any(|f| f.matches(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Filter;

    fn group(name: &str, description: &str) -> serde_json::Value {
        json!({ "type": "OKTA_GROUP", "profile": { "name": name, "description": description } })
    }

    #[test]
    fn or_and_parentheses_and_escapes_are_understood() {
        let f = Filter::parse(
            r#"profile.description sw "autofed:1" or profile.name eq "a \"b\" and c" or (type eq "APP_GROUP" and profile.name eq "x")"#,
        )
        .unwrap();
        assert!(f.matches(&group("any", "autofed:1,x")));
        assert!(f.matches(&group("a \"b\" and c", "")));
        assert!(!f.matches(&group("a", "")));
        assert!(!f.matches(&group("x", "")), "and binds the type");
        let and_first =
            Filter::parse(r#"profile.name eq "a" and type eq "APP_GROUP" or profile.name eq "b""#)
                .unwrap();
        assert!(and_first.matches(&group("b", "")));
        assert!(!and_first.matches(&group("a", "")));
    }

    #[test]
    fn what_okta_would_refuse_is_an_error() {
        for bad in [
            "",
            r#"profile.name eq"#,
            r#"profile.name eq "unterminated"#,
            r#"profile.name co "x""#,
            r#"profile.name eq "x" or"#,
            r#"(profile.name eq "x""#,
            r#"profile.name eq "x")"#,
            r#"profile.name eq "\x""#,
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
