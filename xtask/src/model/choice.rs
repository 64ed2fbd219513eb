//! Enums a user names on the command line or in a module's declarations:
//! each says its values' names (and what each means) once, and the CLI
//! (`cli.rs`, the only user of clap) and the parsers below read them from here.

pub trait Choice: Sized + Copy + PartialEq + 'static {
    /// Every value, in the order help lists them.
    const ALL: &'static [Self];

    /// The name a user types.
    fn name(self) -> &'static str;

    /// One line of help for the value.
    fn help(self) -> &'static str {
        ""
    }

    /// The value a name means (exactly, as typed).
    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.name() == name)
    }

    /// `auto, script, unittest or pytest`, for error messages.
    fn names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
        match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Colour {
        Red,
        Green,
        Blue,
    }

    impl Choice for Colour {
        const ALL: &'static [Colour] = &[Colour::Red, Colour::Green, Colour::Blue];
        fn name(self) -> &'static str {
            match self {
                Colour::Red => "red",
                Colour::Green => "green",
                Colour::Blue => "blue",
            }
        }
    }

    #[test]
    fn names_read_back_and_list_for_errors() {
        assert_eq!(Colour::named("green"), Some(Colour::Green));
        assert_eq!(Colour::named("Green"), None);
        assert_eq!(Colour::names(), "red, green or blue");
    }
}
