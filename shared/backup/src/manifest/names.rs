//! Names in a backup location: `v2105` predicate names (`<hex ns>-<pred>`), the v2103 form they
//! upgrade from, folder names and group file names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// `v2105` name of a predicate of namespace 0: `0-<pred>`.
pub fn galaxy_name(pred: &str) -> String {
    namespaced_name(0, pred)
}

/// `v2105` name of a predicate: `<hex ns>-<pred>`.
pub fn namespaced_name(ns: u64, pred: &str) -> String {
    format!("{ns:x}-{pred}")
}

/// Splits a `v2105` name into namespace and predicate.
pub fn split_name(name: &str) -> Option<(u64, &str)> {
    let (ns, pred) = name.split_once('-')?;
    if ns.is_empty() || pred.is_empty() {
        return None;
    }
    Some((u64::from_str_radix(ns, 16).ok()?, pred))
}

/// The plain predicate name of a namespace-0 `v2105` name (`0-name` → `name`).
pub fn plain_name(name: &str) -> Option<&str> {
    match split_name(name)? {
        (0, pred) => Some(pred),
        _ => None,
    }
}

/// Our plain predicate names per group as a manifest's `groups` (namespace 0).
pub fn galaxy_groups<I, P, S>(groups: I) -> BTreeMap<u32, Vec<String>>
where
    I: IntoIterator<Item = (u32, P)>,
    P: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    groups
        .into_iter()
        .map(|(g, preds)| {
            let names = preds.into_iter().map(|p| galaxy_name(p.as_ref())).collect();
            (g, names)
        })
        .collect()
}

/// v2103 names are 8 big-endian namespace bytes followed by the predicate. Go's JSON keeps
/// bytes below 0x80 as characters; anything else was lost on writing, so it stays as it is.
pub(super) fn upgrade_2103_name(name: &str) -> String {
    let mut chars = name.chars();
    let mut ns: u64 = 0;
    for _ in 0..8 {
        match chars.next() {
            Some(c) if (c as u32) < 0x80 => ns = (ns << 8) | u64::from(c as u32),
            _ => return name.to_string(),
        }
    }
    let pred = chars.as_str();
    if pred.is_empty() {
        return name.to_string();
    }
    namespaced_name(ns, pred)
}

/// A backup's folder name: `dgraph.<UTC %Y%m%d.%H%M%S.millis>`, e.g. `dgraph.20210517.095641.969`.
pub fn folder_name(t: DateTime<Utc>) -> String {
    t.format("dgraph.%Y%m%d.%H%M%S%.3f").to_string()
}

/// When the backup in `folder` was taken, from its name (the inverse of [`folder_name`]):
/// `None` for a name of another shape.
pub fn folder_time(folder: &str) -> Option<DateTime<Utc>> {
    let stamp = folder.trim_matches('/').strip_prefix("dgraph.")?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d.%H%M%S%.3f")
        .ok()
        .map(|t| t.and_utc())
}

/// A group's backup file name: `r<read_ts>-g<group>.backup`.
pub fn file_name(read_ts: u64, group: u32) -> String {
    format!("r{read_ts}-g{group}.backup")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::new_backup_id;
    use chrono::TimeZone;

    #[test]
    fn names() {
        let t = Utc.with_ymd_and_hms(2021, 5, 17, 9, 56, 41).unwrap()
            + chrono::Duration::milliseconds(969);
        assert_eq!(folder_name(t), "dgraph.20210517.095641.969");
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(folder_name(t), "dgraph.20240102.030405.000");
        assert_eq!(folder_time("dgraph.20240102.030405.000"), Some(t));
        assert_eq!(folder_time("dgraph.20240102.030405.000/"), Some(t));
        let with_millis = Utc.with_ymd_and_hms(2021, 5, 17, 9, 56, 41).unwrap()
            + chrono::Duration::milliseconds(969);
        assert_eq!(folder_time("dgraph.20210517.095641.969"), Some(with_millis));
        for other in [
            "",
            "dgraph.",
            "dgraph.2024",
            "backup.20240102.030405.000",
            "dgraph.20241302.030405.000",
        ] {
            assert_eq!(folder_time(other), None, "{other}");
        }
        assert_eq!(file_name(1234, 2), "r1234-g2.backup");
        assert_eq!(galaxy_name("name"), "0-name");
        assert_eq!(namespaced_name(255, "name"), "ff-name");
        assert_eq!(split_name("ff-my-pred"), Some((255, "my-pred")));
        assert_eq!(split_name("name"), None);
        assert_eq!(split_name("zz-name"), None);
        assert_eq!(split_name("0-"), None);
        assert_eq!(plain_name("0-dgraph.type"), Some("dgraph.type"));
        assert_eq!(plain_name("1-name"), None);
        let groups = galaxy_groups([(1, vec!["a", "b"]), (2, vec![])]);
        assert_eq!(groups[&1], ["0-a", "0-b"]);
        assert!(groups[&2].is_empty());
        let id = new_backup_id();
        assert!(
            id.contains('_') && id.ends_with(|c: char| c.is_ascii_digit()),
            "{id}"
        );
    }
}
