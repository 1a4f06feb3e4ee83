//! Accounts as uWSGI configs name them (`uid`, `gid`, `chown-socket`): a number is an id, anything
//! else a name to look up in the user and group databases.

use anyhow::Context;
use nix::unistd::{Gid, Group, Uid, User};

/// A number as uWSGI's `is_a_number` takes it: digits only.
fn number(spec: &str) -> Option<u32> {
    (!spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()))
        .then(|| spec.parse().ok())
        .flatten()
}

/// The uid `spec` names, and that user's primary group (none for a uid without an entry).
pub fn user(spec: &str) -> anyhow::Result<(Uid, Option<Gid>)> {
    if let Some(n) = number(spec) {
        let uid = Uid::from_raw(n);
        return Ok((uid, User::from_uid(uid)?.map(|u| u.gid)));
    }
    let u = User::from_name(spec)?.with_context(|| format!("unable to find user {spec}"))?;
    Ok((u.uid, Some(u.gid)))
}

/// The gid `spec` names.
pub fn group(spec: &str) -> anyhow::Result<Gid> {
    if let Some(n) = number(spec) {
        return Ok(Gid::from_raw(n));
    }
    Ok(Group::from_name(spec)?
        .with_context(|| format!("unable to find group {spec}"))?
        .gid)
}

/// Whether a user of that name exists.
pub fn user_exists(name: &str) -> bool {
    User::from_name(name).ok().flatten().is_some()
}

/// Whether a group of that name exists.
pub fn group_exists(name: &str) -> bool {
    Group::from_name(name).ok().flatten().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_ids_and_names_are_looked_up() {
        assert_eq!(user("0").unwrap().0, Uid::from_raw(0));
        assert_eq!(
            user("root").unwrap(),
            (Uid::from_raw(0), Some(Gid::from_raw(0)))
        );
        assert_eq!(group("0").unwrap(), Gid::from_raw(0));
        assert_eq!(group("root").unwrap(), Gid::from_raw(0));
        let e = user("no-such-user-rw").unwrap_err();
        assert_eq!(e.to_string(), "unable to find user no-such-user-rw");
        assert!(group("no-such-group-rw").is_err());
        assert!(user_exists("root") && !user_exists("no-such-user-rw"));
        assert!(group_exists("root") && !group_exists("no-such-group-rw"));
    }
}
