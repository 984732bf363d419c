//! The set operations and `Debug` of a statement flag set (`sql::Flags`, `pgsql::Flags`):
//! a `u32` newtype with associated flag constants and a `NAMES` table.

/// Implements `empty`, `is_empty`, `contains`, `intersects`, `insert`, `|`, `|=` and a
/// `Debug` that names the flags (from `$t::NAMES`) for the newtype `$t(pub u32)`.
macro_rules! impl_flag_set {
    ($t:ident) => {
        impl $t {
            /// No flags.
            pub const fn empty() -> $t {
                $t(0)
            }

            /// Whether no flag is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// Whether every flag of `other` is set.
            pub const fn contains(self, other: $t) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any flag of `other` is set.
            pub const fn intersects(self, other: $t) -> bool {
                self.0 & other.0 != 0
            }

            /// Sets the flags of `other`.
            pub fn insert(&mut self, other: $t) {
                self.0 |= other.0;
            }

            /// Asserts that every named flag is one bit of its own.
            #[cfg(test)]
            fn assert_distinct_bits() {
                let all = $t::NAMES.iter().fold(0u32, |acc, (f, _)| {
                    assert_eq!(acc & f.0, 0);
                    assert_eq!(f.0.count_ones(), 1);
                    acc | f.0
                });
                assert_eq!(all.count_ones() as usize, $t::NAMES.len());
            }
        }

        /// Every named flag is one bit of its own.
        #[cfg(test)]
        #[test]
        fn flags_are_distinct_bits() {
            $t::assert_distinct_bits();
        }

        impl std::ops::BitOr for $t {
            type Output = $t;

            fn bitor(self, rhs: $t) -> $t {
                $t(self.0 | rhs.0)
            }
        }

        impl std::ops::BitOrAssign for $t {
            fn bitor_assign(&mut self, rhs: $t) {
                self.0 |= rhs.0;
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut first = true;
                let mut rest = self.0;
                for (flag, name) in $t::NAMES {
                    if self.contains(flag) {
                        f.write_str(if first { "" } else { " | " })?;
                        f.write_str(name)?;
                        first = false;
                        rest &= !flag.0;
                    }
                }
                if rest != 0 || first {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{rest:#x}")?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_flag_set;

/// Declares a flag set: `pub struct $t(pub u32)` with one constant per flag (its doc, its
/// name, its bit), the `NAMES` table in declaration order and [`impl_flag_set`]'s operations.
macro_rules! flag_set {
    ($t:ident { $($(#[$doc:meta])* $name:ident = $bit:literal;)* }) => {
        /// A set of statement facts (a bitflags-like `u32` newtype).
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $t(pub u32);

        impl $t {
            $($(#[$doc])* pub const $name: $t = $t(1 << $bit);)*

            const NAMES: [($t, &'static str); <[&str]>::len(&[$(stringify!($name)),*])] =
                [$(($t::$name, stringify!($name))),*];
        }

        $crate::lex::flag_set::impl_flag_set!($t);

        /// Every flag prints under its name, in declaration order.
        #[cfg(test)]
        #[test]
        fn debug_names_in_declaration_order() {
            let mut all = $t::default();
            $(all |= $t::$name;)*
            assert_eq!(format!("{all:?}"), [$(stringify!($name)),*].join(" | "));
        }
    };
}

pub(crate) use flag_set;

#[cfg(test)]
mod tests {
    /// A flag set of three.
    #[derive(Clone, Copy, Default, PartialEq, Eq)]
    struct Three(u32);

    impl Three {
        const A: Three = Three(1);
        const B: Three = Three(1 << 1);
        const C: Three = Three(1 << 7);
        const NAMES: [(Three, &'static str); 3] =
            [(Three::A, "A"), (Three::B, "B"), (Three::C, "C")];
    }

    impl_flag_set!(Three);

    #[test]
    fn set_operations() {
        let mut f = Three::A | Three::B;
        assert!(f.contains(Three::A) && f.contains(Three::A | Three::B));
        assert!(!f.contains(Three::A | Three::C));
        assert!(f.intersects(Three::A | Three::C));
        f.insert(Three::C);
        assert_eq!(f.0, 1 | (1 << 1) | (1 << 7));
        f |= Three(1 << 3);
        assert_eq!(f.0, 1 | (1 << 1) | (1 << 3) | (1 << 7));
        assert!(Three::empty().is_empty() && Three::default().is_empty());
        assert!(f.contains(Three::empty()));
    }

    #[test]
    fn debug_names_flags_and_shows_the_rest() {
        assert_eq!(format!("{:?}", Three::C | Three::A), "A | C");
        assert_eq!(format!("{:?}", Three::empty()), "0x0");
        assert_eq!(format!("{:?}", Three(1 << 31)), "0x80000000");
        assert_eq!(format!("{:?}", Three::B | Three(1 << 31)), "B | 0x80000000");
    }
}
