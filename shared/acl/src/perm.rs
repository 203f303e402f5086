//! Permission bits of a predicate rule, as Dgraph defines them.

/// A rule's permission: any combination of [`Perm::READ`], [`Perm::WRITE`] and
/// [`Perm::MODIFY`], so 0 through 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perm(u8);

/// A permission outside 0–7; the text is Dgraph's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Value for this predicate should be between 0 and 7")]
pub struct PermOutOfRange;

impl Perm {
    pub const NONE: Perm = Perm(0);
    pub const MODIFY: Perm = Perm(1);
    pub const WRITE: Perm = Perm(2);
    pub const READ: Perm = Perm(4);
    pub const ALL: Perm = Perm(7);

    /// The permission stored in `dgraph.rule.permission`.
    pub fn from_value(v: i64) -> Result<Perm, PermOutOfRange> {
        u8::try_from(v)
            .ok()
            .filter(|b| *b <= 7)
            .map(Perm)
            .ok_or(PermOutOfRange)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `needed` is granted.
    pub fn allows(self, needed: Perm) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// The union of two grants (a user's permission is the OR across its groups).
    pub fn union(self, other: Perm) -> Perm {
        Perm(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_zero_to_seven_are_refused_with_dgraphs_message() {
        for v in [-1, 8, 255, i64::MAX] {
            assert_eq!(
                Perm::from_value(v).unwrap_err().to_string(),
                "Value for this predicate should be between 0 and 7"
            );
        }
        assert_eq!(Perm::from_value(0).unwrap(), Perm::NONE);
        assert_eq!(Perm::from_value(7).unwrap(), Perm::ALL);
    }

    #[test]
    fn grants_combine_by_or_and_check_every_needed_bit() {
        let rw = Perm::READ.union(Perm::WRITE);
        assert_eq!(rw.bits(), 6);
        assert!(rw.allows(Perm::READ) && rw.allows(Perm::WRITE));
        assert!(!rw.allows(Perm::MODIFY));
        assert!(
            !Perm::READ.allows(rw),
            "READ alone does not cover READ|WRITE"
        );
        assert!(Perm::ALL.allows(rw.union(Perm::MODIFY)));
        assert!(Perm::NONE.allows(Perm::NONE));
    }
}
