//! How `--harness auto` chooses a module's harness, from its source, without running it.
//!
//! The rule, in this order (only module-level lines count, see below;
//! text inside comments and inside string literals, triple-quoted ones included, is
//! ignored; a statement spread over several lines by brackets or backslashes is read
//! as one line):
//!
//! 1. A module with a `__main__` guard runs as a script (`python3 module.py`): an
//!    `if` comparing `__name__` with the string `"__main__"`, in either order, either
//!    quote, with or without spaces and parentheses (`if __name__ == "__main__":`,
//!    `if '__main__' == __name__:`, `if (__name__=='__main__'):`). It runs its own code.
//! 2. Otherwise, a module that defines pytest tests runs under pytest: a function whose
//!    name starts with `test` (`def test_x`, `async def test_x`; pytest's default
//!    `python_functions = test` prefix), a class whose name starts with `Test` that is
//!    not a TestCase, or a fixture (`@pytest.fixture`, with or without arguments). So
//!    does a module of TestCases that imports pytest. pytest runs TestCase classes
//!    too, so a module mixing both runs all its tests.
//! 3. Otherwise, a module that defines unittest test cases runs under unittest: a
//!    class whose bases name `TestCase` or `IsolatedAsyncioTestCase` (bare or dotted,
//!    such as `unittest.TestCase`), or a class of the module deriving from such a
//!    class; or a `load_tests` function (unittest's load_tests protocol).
//! 4. Otherwise it runs as a script.
//!
//! Lines count at any depth of the module's top-level statements (inside `if`,
//! `try` and `with` blocks), not inside functions, classes or the main guard.
//! In a pytest project (`discovery.rs`) none of this applies: every test file
//! runs under pytest, as the project's own `pytest` runs it.
//!
//! `defines_tests` says which framework's tests the module defines by rules 2 and 3,
//! whatever its guard: a script with a main guard that defines `test_helper` still
//! defines pytest tests, but runs as a script. The tests a module defines and will not
//! run itself are [`Detection::unrun_tests`].

use std::collections::HashSet;

pub use crate::model::inner::{Framework, Harness};

/// The harness `auto` picks, and the tests the module defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub harness: Harness,
    pub defines_tests: Option<Framework>,
}

impl Detection {
    /// The framework of tests the module defines but does not run itself (it has no
    /// main guard): run as a plain script, those tests would never run.
    pub fn unrun_tests(&self) -> Option<Framework> {
        match self.harness {
            Harness::Script => None,
            Harness::Unittest | Harness::Pytest => self.defines_tests,
        }
    }
}

/// Chooses the harness for a module from its source text (see the module docs).
/// Whether the module marks tests with pytest-memray's `limit_memory` or
/// `limit_leaks` (read from its text: `@pytest.mark.limit_memory(...)`,
/// `pytestmark = pytest.mark.limit_leaks(...)`, `mark.limit_memory` however imported).
pub fn uses_memray_markers(source: &str) -> bool {
    source.contains("mark.limit_memory") || source.contains("mark.limit_leaks")
}

pub fn detect(source: &str) -> Detection {
    let mut main_guard = false;
    let mut unittest = false;
    let mut pytest = false;
    let mut uses_pytest = false;
    let mut test_cases: HashSet<String> = HashSet::new();
    for line in module_level_lines(&logical_lines(source)) {
        let text = line.text.as_str();
        if is_main_guard(text) {
            main_guard = true;
        } else if let Some((name, bases)) = class_header(text) {
            if bases.iter().any(|base| is_test_case_base(base, &test_cases)) {
                unittest = true;
                test_cases.insert(name.to_string());
            } else if name.starts_with("Test") {
                pytest = true;
            }
        } else if let Some(name) = function_name(text) {
            if name == "load_tests" {
                unittest = true;
            } else if name.starts_with("test") {
                pytest = true;
            }
        } else if is_pytest_fixture(text) {
            pytest = true;
        } else if imports_pytest(text) {
            uses_pytest = true;
        }
    }
    // pytest runs TestCase classes too: a module that mixes them with plain
    // test functions, or whose TestCases use pytest (`pytest.raises`,
    // marks), needs pytest to run them all.
    let defines_tests = if pytest || (unittest && uses_pytest) {
        Some(Framework::Pytest)
    } else if unittest {
        Some(Framework::Unittest)
    } else {
        None
    };
    let harness = match (main_guard, defines_tests) {
        (true, _) | (false, None) => Harness::Script,
        (false, Some(Framework::Unittest)) => Harness::Unittest,
        (false, Some(Framework::Pytest)) => Harness::Pytest,
    };
    Detection { harness, defines_tests }
}

/// `import pytest` or `from pytest import …` (a module that uses pytest's API).
fn imports_pytest(text: &str) -> bool {
    let words: Vec<&str> = text.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    match words.as_slice() {
        ["import", names @ ..] => names.iter().any(|n| *n == "pytest" || n.starts_with("pytest.")),
        ["from", module, "import", ..] => *module == "pytest" || module.starts_with("pytest."),
        _ => false,
    }
}

/// The lines that run when the module is imported, at any depth of its
/// top-level statements: inside `if`/`else`, `try`/`except`/`finally` and
/// `with` blocks too (tests defined under `if sys.version_info >= …` are
/// tests), but not inside functions, classes or the `__main__` guard.
fn module_level_lines(lines: &[LogicalLine]) -> Vec<&LogicalLine> {
    // The open blocks: their indent and whether lines inside them run at import.
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut kept = Vec::new();
    for line in lines {
        while open.last().is_some_and(|(indent, _)| *indent >= line.indent) {
            open.pop();
        }
        let at_module_level = open.iter().all(|(_, transparent)| *transparent);
        if at_module_level {
            kept.push(line);
        }
        if line.text.ends_with(':') {
            let word = line.text.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
            let transparent = matches!(word, "if" | "elif" | "else" | "try" | "except" | "finally" | "with")
                && !is_main_guard(&line.text);
            open.push((line.indent, at_module_level && transparent));
        }
    }
    kept
}

/// One logical line of Python: physical lines joined inside brackets and after a
/// backslash, comments removed, string literals kept whole.
#[derive(Debug, PartialEq, Eq)]
struct LogicalLine {
    indent: usize,
    text: String,
}

/// The source's logical lines, blank and comment-only ones left out.
fn logical_lines(source: &str) -> Vec<LogicalLine> {
    let chars: Vec<char> = source.chars().collect();
    let mut lines = Vec::new();
    let mut text = String::new();
    let mut indent = 0;
    let mut at_line_start = true;
    let mut depth = 0usize;
    let mut i = 0;
    let mut finish = |text: &mut String, indent: usize| {
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            lines.push(LogicalLine { indent, text: trimmed.to_string() });
        }
        text.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        if at_line_start {
            match c {
                ' ' | '\r' | '\x0c' => {
                    indent += 1;
                    i += 1;
                    continue;
                }
                '\t' => {
                    indent = (indent / 8 + 1) * 8;
                    i += 1;
                    continue;
                }
                _ => at_line_start = false,
            }
        }
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                text.push(' ');
                i += 2;
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\r') && chars.get(i + 2) == Some(&'\n') => {
                text.push(' ');
                i += 3;
                continue;
            }
            '\n' => {
                if depth > 0 {
                    text.push(' ');
                } else {
                    finish(&mut text, indent);
                    indent = 0;
                    at_line_start = true;
                }
                i += 1;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '\'' | '"' => {
                i = push_string(&chars, i, &mut text);
                continue;
            }
            _ => {}
        }
        text.push(c);
        i += 1;
    }
    finish(&mut text, indent);
    lines
}

/// Copies the string literal starting at `start` (its opening quote) into `text`;
/// returns the index after it. A one-quote literal ends at the end of its line at the
/// latest, as the tokenizer would give up there.
fn push_string(chars: &[char], start: usize, text: &mut String) -> usize {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let opener = if triple { 3 } else { 1 };
    let mut i = start + opener;
    text.extend(&chars[start..i]);
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            text.extend(chars[i..(i + 2).min(chars.len())].iter());
            i += 2;
            continue;
        }
        if c == '\n' && !triple {
            return i;
        }
        if c == quote && (!triple || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote))) {
            text.extend(&chars[i..i + opener]);
            return i + opener;
        }
        text.push(c);
        i += 1;
    }
    i
}

/// `if __name__ == "__main__":` in any quoting, order, spacing or parenthesizing.
fn is_main_guard(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("if") else {
        return false;
    };
    if !rest.starts_with(|c: char| c.is_whitespace() || c == '(') {
        return false;
    }
    let condition: String = rest
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .map(|c| if c == '\'' { '"' } else { c })
        .collect();
    condition.starts_with("__name__==\"__main__\"") || condition.starts_with("\"__main__\"==__name__")
}

/// The name and the base expressions of a `class` statement.
fn class_header(text: &str) -> Option<(&str, Vec<&str>)> {
    let rest = text.strip_prefix("class")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let name_end = rest.find(|c: char| !is_identifier_char(c)).unwrap_or(rest.len());
    let name = &rest[..name_end];
    if name.is_empty() {
        return None;
    }
    let after = rest[name_end..].trim_start();
    let Some(inside) = after.strip_prefix('(') else {
        return Some((name, Vec::new()));
    };
    let mut bases = Vec::new();
    let mut depth = 0usize;
    let mut begin = 0;
    for (index, c) in inside.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ')' => {
                bases.push(inside[begin..index].trim());
                break;
            }
            ',' if depth == 0 => {
                bases.push(inside[begin..index].trim());
                begin = index + 1;
            }
            _ => {}
        }
    }
    bases.retain(|base| !base.is_empty() && !base.contains('='));
    Some((name, bases))
}

/// A base naming unittest's TestCase (bare or dotted), or a test case class defined
/// earlier in the module.
fn is_test_case_base(base: &str, local_test_cases: &HashSet<String>) -> bool {
    let base = base.split('[').next().unwrap_or(base).trim();
    let last = base.rsplit('.').next().unwrap_or(base).trim();
    matches!(last, "TestCase" | "IsolatedAsyncioTestCase") || local_test_cases.contains(base)
}

/// The name of a `def` or `async def` statement.
fn function_name(text: &str) -> Option<&str> {
    let rest = match text.strip_prefix("async") {
        Some(after) if after.starts_with(char::is_whitespace) => after.trim_start(),
        _ => text,
    };
    let rest = rest.strip_prefix("def")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest.find(|c: char| !is_identifier_char(c)).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// `@pytest.fixture`, with or without arguments.
fn is_pytest_fixture(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('@') else {
        return false;
    };
    let rest = rest.trim_start();
    match rest.strip_prefix("pytest.fixture") {
        Some(after) => after.is_empty() || after.starts_with(|c: char| c == '(' || c.is_whitespace()),
        None => false,
    }
}

fn is_identifier_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn harness(source: &str) -> Harness {
        detect(source).harness
    }

    const UNITTEST: &str = "import unittest\n\nclass TestMath(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(1 + 1, 2)\n";

    #[test]
    fn main_guard_in_every_spelling_makes_a_script() {
        for guard in [
            "if __name__ == \"__main__\":",
            "if __name__ == '__main__':",
            "if '__main__' == __name__:",
            "if \"__main__\"==__name__ :",
            "if (__name__ == '__main__'):",
            "if(__name__=='__main__'):",
            "if __name__ == \"__main__\":  # run the tests",
            "if __name__ == \"__main__\" and True:",
        ] {
            let source = format!("{UNITTEST}\n{guard}\n    unittest.main()\n");
            assert_eq!(
                detect(&source),
                Detection { harness: Harness::Script, defines_tests: Some(Framework::Unittest) },
                "{guard}"
            );
        }
        let one_line = format!("{UNITTEST}\nif __name__ == '__main__': unittest.main()\n");
        assert_eq!(harness(&one_line), Harness::Script);
    }

    #[test]
    fn a_guard_that_is_not_top_level_or_not_code_does_not_count() {
        for hidden in [
            "def main():\n    if __name__ == '__main__':\n        pass\n",
            "# if __name__ == '__main__':\n",
            "\"\"\"\nif __name__ == '__main__':\n    unittest.main()\n\"\"\"\n",
            "NOTE = '''\nif __name__ == \"__main__\":\n'''\n",
            "if __name__ == 'main':\n    pass\n",
            "if __name__ != '__main__':\n    pass\n",
        ] {
            let source = format!("{UNITTEST}{hidden}");
            assert_eq!(harness(&source), Harness::Unittest, "{hidden}");
        }
    }

    #[test]
    fn unittest_test_cases_without_guard_run_under_unittest() {
        for header in [
            "class TestMath(unittest.TestCase):",
            "class MathTests(TestCase):",
            "class Async(unittest.IsolatedAsyncioTestCase):",
            "class Async(IsolatedAsyncioTestCase):",
            "class Mixed(Helper, unittest.case.TestCase, metaclass=Meta):",
            "class Spread(\n    Helper,\n    unittest.TestCase,\n):",
        ] {
            let source = format!("import unittest\n{header}\n    def test_a(self):\n        pass\n");
            let detection = detect(&source);
            assert_eq!(detection.harness, Harness::Unittest, "{header}");
            assert_eq!(detection.defines_tests, Some(Framework::Unittest));
            assert_eq!(detection.unrun_tests(), Some(Framework::Unittest));
        }
    }

    #[test]
    fn a_subclass_of_a_local_test_case_counts() {
        let source = "import unittest\nclass Base(unittest.TestCase):\n    pass\nclass Checks(Base):\n    def test_a(self):\n        pass\n";
        assert_eq!(harness(source), Harness::Unittest);
    }

    #[test]
    fn load_tests_protocol_runs_under_unittest() {
        let source = "import doctest\ndef load_tests(loader, tests, ignore):\n    tests.addTests(doctest.DocTestSuite())\n    return tests\n";
        assert_eq!(harness(source), Harness::Unittest);
    }

    #[test]
    fn a_test_case_with_plain_test_functions_runs_under_pytest_which_runs_both() {
        let source = format!("{UNITTEST}\ndef test_helper():\n    pass\n");
        assert_eq!(detect(&source).defines_tests, Some(Framework::Pytest));
        assert_eq!(harness(&source), Harness::Pytest);
        let marked = format!("import pytest\n{UNITTEST}");
        assert_eq!(harness(&marked), Harness::Pytest, "its TestCases use pytest");
        assert_eq!(harness(UNITTEST), Harness::Unittest, "TestCases alone run under unittest");
    }

    #[test]
    fn pytest_style_tests_run_under_pytest() {
        for source in [
            "def test_fails():\n    assert 1 == 2\n",
            "async def test_later():\n    pass\n",
            "async  def  test_spaced():\n    pass\n",
            "def testaddition():\n    pass\n",
            "class TestThings:\n    def test_one(self):\n        pass\n",
            "class TestPlain(object):\n    pass\n",
            "import pytest\n\n@pytest.fixture\ndef data():\n    return 1\n",
            "import pytest\n\n@pytest.fixture(scope='module')\ndef data():\n    return 1\n",
        ] {
            let detection = detect(source);
            assert_eq!(detection.harness, Harness::Pytest, "{source}");
            assert_eq!(detection.defines_tests, Some(Framework::Pytest), "{source}");
            assert_eq!(detection.unrun_tests(), Some(Framework::Pytest));
        }
    }

    #[test]
    fn script_with_main_guard_and_a_test_named_helper_is_a_script() {
        let source = "import sys\n\ndef test_something(value):\n    return value > 0\n\nif __name__ == \"__main__\":\n    assert test_something(1)\n";
        let detection = detect(source);
        assert_eq!(detection.harness, Harness::Script);
        assert_eq!(detection.defines_tests, Some(Framework::Pytest));
        assert_eq!(detection.unrun_tests(), None);
    }

    #[test]
    fn plain_scripts_stay_scripts() {
        for source in [
            "",
            "print('hello')\n",
            "import gc\nx = [1, 2]\nassert gc.collect() >= 0\n",
            "def helper():\n    pass\nclass Thing:\n    pass\n",
            "def contest():\n    pass\nclass Helper:\n    pass\n",
            "import pytest\nimport unittest\n",
            "@pytest.fixtures_like\ndef x():\n    pass\n",
        ] {
            assert_eq!(
                detect(source),
                Detection { harness: Harness::Script, defines_tests: None },
                "{source}"
            );
        }
    }

    #[test]
    fn text_in_strings_docstrings_and_comments_is_ignored() {
        for source in [
            "\"\"\"Example:\n\ndef test_in_docstring():\n    pass\nclass TestDoc(unittest.TestCase):\n\"\"\"\nprint(1)\n",
            "r'''\ndef test_raw():\n'''\n",
            "# def test_commented():\nprint(1)\n",
            "X = (\n    'def test_in_parens'\n)\n",
            "HELP = \"\"\"escaped \\\"\"\" quote\ndef test_still_inside():\n\"\"\"\n",
            "CODE = 'def test_x(): pass'\n",
            "S = \"\\\"\"\nprint(S)\n",
        ] {
            assert_eq!(detect(source).defines_tests, None, "{source}");
        }
    }

    #[test]
    fn continued_lines_and_carriage_returns() {
        let source = "import unittest\r\nclass T(\\\r\n    unittest.TestCase):\r\n    def test_a(self):\r\n        pass\r\n";
        assert_eq!(harness(source), Harness::Unittest);
        let tabs = "def helper():\n\tdef test_inner():\n\t\tpass\n";
        assert_eq!(harness(tabs), Harness::Script);
    }

    #[test]
    fn the_project_modules_stay_scripts() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python_tests");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "py") {
                let source = std::fs::read_to_string(&path).unwrap();
                let expected = Detection { harness: Harness::Script, defines_tests: None };
                assert_eq!(detect(&source), expected, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen > 0, "no module in {}", dir.display());
    }

    #[test]
    fn logical_lines_join_brackets_and_drop_comments() {
        let lines = logical_lines("a = (1,\n     2)  # two\n\n  b = 'x#y'\n");
        assert_eq!(
            lines,
            vec![
                LogicalLine { indent: 0, text: "a = (1,      2)".to_string() },
                LogicalLine { indent: 2, text: "b = 'x#y'".to_string() },
            ]
        );
    }

    #[test]
    fn tests_defined_inside_an_if_or_a_try_are_tests() {
        let source = "import sys\nimport unittest\nif sys.version_info >= (3, 8):\n    class TestNew(unittest.TestCase):\n        def test_x(self):\n            pass\nelse:\n    pass\n";
        assert_eq!(detect(source).harness, Harness::Unittest);
        let pytest = "try:\n    import numpy\nexcept ImportError:\n    numpy = None\nelse:\n    def test_numpy():\n        assert numpy\n";
        assert_eq!(detect(pytest).harness, Harness::Pytest);
        let nested = "def helper():\n    def test_inner():\n        pass\n    return test_inner\n";
        assert_eq!(detect(nested).harness, Harness::Script, "a function's inner def is no test");
        let guarded =
            "if __name__ == '__main__':\n    def test_in_guard():\n        pass\n    test_in_guard()\n";
        assert_eq!(detect(guarded).defines_tests, None);
    }
}
