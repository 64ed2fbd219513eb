//! `-k EXPR`, pytest's keyword expressions: names joined by `and`, `or`,
//! `not` and parentheses; a name matches when it is a case-insensitive
//! substring of one of an item's keywords (its file name, folders, class,
//! test name). Checked here before anything starts; the harness evaluates
//! the same grammar over each unittest test, and pytest over its own items.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    Name(String),
    Not(Box<Expression>),
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
}

impl Expression {
    /// Parses pytest's grammar: `or` binds loosest, then `and`, then `not`.
    pub fn parse(text: &str) -> Result<Expression, String> {
        let tokens = tokens(text);
        if tokens.is_empty() {
            return Err("the expression is empty".into());
        }
        let mut parser = Parser { tokens, at: 0 };
        let expression = parser.or()?;
        match parser.tokens.get(parser.at) {
            None => Ok(expression),
            Some(token) => Err(format!("unexpected `{token}`")),
        }
    }

    /// Whether an item with these keywords is selected.
    pub fn matches(&self, keywords: &[&str]) -> bool {
        match self {
            Expression::Name(name) => {
                let name = name.to_lowercase();
                keywords.iter().any(|k| k.to_lowercase().contains(&name))
            }
            Expression::Not(inner) => !inner.matches(keywords),
            Expression::And(a, b) => a.matches(keywords) && b.matches(keywords),
            Expression::Or(a, b) => a.matches(keywords) || b.matches(keywords),
        }
    }
}

/// A module's own keywords, as pytest gives a module's items: its file
/// name and the folders it is in (relative to the test dir).
pub fn module_keywords(module: &str) -> Vec<&str> {
    module.split('/').filter(|part| !part.is_empty()).collect()
}

fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn or(&mut self) -> Result<Expression, String> {
        let mut left = self.and()?;
        while self.peek() == Some("or") {
            self.at += 1;
            left = Expression::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expression, String> {
        let mut left = self.not()?;
        while self.peek() == Some("and") {
            self.at += 1;
            left = Expression::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expression, String> {
        match self.peek() {
            Some("not") => {
                self.at += 1;
                Ok(Expression::Not(Box::new(self.not()?)))
            }
            Some("(") => {
                self.at += 1;
                let inner = self.or()?;
                if self.peek() != Some(")") {
                    return Err("a `(` is not closed".into());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(word @ (")" | "and" | "or")) => Err(format!("expected a name, found `{word}`")),
            Some(name) => {
                let name = name.to_string();
                self.at += 1;
                Ok(Expression::Name(name))
            }
            None => Err("the expression ends where a name was expected".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selects(expression: &str, keywords: &[&str]) -> bool {
        Expression::parse(expression).unwrap().matches(keywords)
    }

    #[test]
    fn names_match_as_case_insensitive_substrings() {
        assert!(selects("gc", &["test_gc_cycles.py"]));
        assert!(selects("GC", &["test_gc_cycles.py"]));
        assert!(!selects("rss", &["test_gc_cycles.py"]));
        assert!(selects("prop", &["property", "test_x.py"]));
    }

    #[test]
    fn operators_bind_as_in_pytest() {
        let keywords = ["test_a.py", "TestThing", "test_fast"];
        assert!(selects("thing and not slow", &keywords));
        assert!(!selects("not thing", &keywords));
        assert!(selects("slow or fast and thing", &keywords));
        assert!(!selects("(slow or fast) and other", &keywords));
        assert!(selects("not not fast", &keywords));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (text, said) in [
            ("", "empty"),
            ("a and", "ends where a name"),
            ("(a or b", "not closed"),
            ("a b", "unexpected `b`"),
            ("or a", "found `or`"),
        ] {
            let error = Expression::parse(text).unwrap_err();
            assert!(error.contains(said), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_module_is_known_by_its_file_and_folders() {
        assert_eq!(module_keywords("property/test_x.py"), ["property", "test_x.py"]);
    }
}
