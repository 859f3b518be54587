//! Service order: which services are involved, and in which waves they can be brought up.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Desired, PlanError};

/// The services to act on: `only` and everything it depends on (all when `only` is empty).
///
/// # Errors
/// A name that is not a declared service.
pub fn select(desired: &Desired, only: &[String]) -> Result<BTreeSet<String>, PlanError> {
    let known: BTreeMap<&str, &crate::ServiceSpec> = desired
        .services
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    if only.is_empty() {
        return Ok(known.keys().map(|k| (*k).to_owned()).collect());
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = only.to_vec();
    while let Some(name) = todo.pop() {
        let Some(spec) = known.get(name.as_str()) else {
            return Err(PlanError::UnknownService(name));
        };
        if out.insert(name.clone()) {
            todo.extend(
                spec.depends_on
                    .iter()
                    .filter(|d| known.contains_key(d.service.as_str()))
                    .map(|d| d.service.clone()),
            );
        }
    }
    Ok(out)
}

/// Groups the selected services into waves: every service comes after all it depends on;
/// services of one wave are independent and may start in parallel.
///
/// # Errors
/// A dependency cycle, or a required dependency that is not declared.
pub fn waves(
    desired: &Desired,
    selected: &BTreeSet<String>,
) -> Result<Vec<Vec<String>>, PlanError> {
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in desired
        .services
        .iter()
        .filter(|s| selected.contains(&s.name))
    {
        let mut set = BTreeSet::new();
        for d in &s.depends_on {
            if selected.contains(&d.service) {
                set.insert(d.service.as_str());
            } else if d.required && !desired.services.iter().any(|x| x.name == d.service) {
                return Err(PlanError::UnknownDependency {
                    service: s.name.clone(),
                    missing: d.service.clone(),
                });
            }
        }
        deps.insert(s.name.as_str(), set);
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while done.len() < deps.len() {
        let ready: Vec<&str> = deps
            .iter()
            .filter(|(n, d)| !done.contains(*n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let remaining: Vec<&str> = deps
                .keys()
                .filter(|n| !done.contains(*n))
                .copied()
                .collect();
            return Err(PlanError::Cycle(find_cycle(&deps, &remaining)));
        }
        done.extend(ready.iter().copied());
        out.push(ready.into_iter().map(str::to_owned).collect());
    }
    Ok(out)
}

fn find_cycle(deps: &BTreeMap<&str, BTreeSet<&str>>, remaining: &[&str]) -> Vec<String> {
    let Some(start) = remaining.first() else {
        return Vec::new();
    };
    let mut path = vec![*start];
    let mut current = *start;
    loop {
        let Some(next) = deps
            .get(current)
            .and_then(|d| d.iter().find(|x| remaining.contains(x)))
        else {
            return path.into_iter().map(str::to_owned).collect();
        };
        if let Some(pos) = path.iter().position(|p| p == next) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push((*next).to_owned());
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

/// The services in the order to stop them: the services of `instances` that are not declared
/// (orphans) first, then the declared ones dependants before what they depend on (the start
/// order reversed). A dependency cycle stops all declared services in one wave.
#[must_use]
pub fn stop_waves(desired: &Desired, instances: &[crate::Instance]) -> Vec<Vec<String>> {
    let declared: BTreeSet<String> = desired.services.iter().map(|s| s.name.clone()).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let orphans: BTreeSet<String> = instances
        .iter()
        .map(|i| i.service.clone())
        .filter(|s| !declared.contains(s))
        .collect();
    if !orphans.is_empty() {
        out.push(orphans.into_iter().collect());
    }
    match waves(desired, &declared) {
        Ok(mut up) => {
            up.reverse();
            out.extend(up);
        }
        Err(_) => out.push(declared.into_iter().collect()),
    }
    out
}
