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
