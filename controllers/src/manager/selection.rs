//! kube-controller-manager's `--controllers` list: which controllers of the table run.

use super::{CONTROLLERS, ControllerDescriptor, ManagerError};

/// Which controllers run, from kube-controller-manager's `--controllers` list:
/// `*` enables every controller that is on by default, `name` enables one,
/// `-name` disables one (and wins over `*`); names may be upstream names or aliases.
/// When a controller is named twice the first entry wins, as upstream's
/// `IsControllerEnabled` reads the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSelection {
    /// `*`, or an upstream name, `-` prefixed when disabled.
    entries: Vec<String>,
    /// Controllers off by default that `*` turns on here all the same (the embedded
    /// control plane's own defaults).
    star_also_enables: Vec<&'static str>,
}

impl Default for ControllerSelection {
    fn default() -> Self {
        Self {
            entries: vec!["*".to_string()],
            star_also_enables: Vec::new(),
        }
    }
}

/// The table entry for `name` (an upstream name or an alias), if known.
pub fn lookup(name: &str) -> Option<&'static ControllerDescriptor> {
    CONTROLLERS.iter().find(|c| c.is_named(name))
}

impl ControllerSelection {
    /// Parses the entries of `--controllers`, refusing unknown names.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ManagerError> {
        let mut out = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if e == "*" {
                out.push(e.to_string());
                continue;
            }
            let (neg, name) = match e.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, e),
            };
            let full = lookup(name)
                .ok_or_else(|| ManagerError::UnknownController(name.to_string()))?
                .name;
            out.push(if neg {
                format!("-{full}")
            } else {
                full.to_string()
            });
        }
        Ok(Self {
            entries: out,
            star_also_enables: Vec::new(),
        })
    }

    /// This selection where `*` also turns on `names` (upstream names of
    /// controllers off by default): how `capstan up` runs the controllers a real
    /// cluster has of its own (`persistentvolume-binder-controller`) unless
    /// `--controllers` names them with `-`.
    pub fn with_star_also_enabling(mut self, names: &[&'static str]) -> Self {
        for name in names {
            if !self.star_also_enables.contains(name) {
                self.star_also_enables.push(name);
            }
        }
        self
    }

    /// Whether the controller with upstream name `name` runs (false for a name not in
    /// the table).
    pub fn is_enabled(&self, name: &str) -> bool {
        lookup(name).is_some_and(|c| self.enables(c))
    }

    /// Whether `controller` runs: the first entry naming it decides, else `*` turns
    /// it on when it is on by default.
    pub fn enables(&self, controller: &ControllerDescriptor) -> bool {
        let mut star = false;
        for e in &self.entries {
            if *e == controller.name {
                return true;
            }
            if e.strip_prefix('-') == Some(controller.name) {
                return false;
            }
            if e == "*" {
                star = true;
            }
        }
        star && (controller.enabled_by_default || self.star_also_enables.contains(&controller.name))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DEPLOYMENT_CONTROLLER, REPLICASET_CONTROLLER};
    use super::*;

    #[test]
    fn star_enables_all_and_minus_disables() {
        let all = ControllerSelection::parse(&["*"]).unwrap();
        assert!(all.is_enabled(REPLICASET_CONTROLLER));
        let none = ControllerSelection::parse(&["*", "-replicaset-controller"]).unwrap();
        assert!(!none.is_enabled(REPLICASET_CONTROLLER));
        let alias = ControllerSelection::parse(&["-replicaset", "*"]).unwrap();
        assert!(!alias.is_enabled(REPLICASET_CONTROLLER));
        assert!(alias.is_enabled(DEPLOYMENT_CONTROLLER));
        let explicit = ControllerSelection::parse(&["replicaset"]).unwrap();
        assert!(explicit.is_enabled(REPLICASET_CONTROLLER));
        assert!(!explicit.is_enabled(DEPLOYMENT_CONTROLLER));
        let empty = ControllerSelection::parse::<&str>(&[]).unwrap();
        assert!(!empty.is_enabled(REPLICASET_CONTROLLER));
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = ControllerSelection::parse(&["*", "-nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"nope\" is not in the list of known controllers"
        );
    }

    /// Upstream's `IsControllerEnabled` returns at the first entry naming the
    /// controller, so `name,-name` enables it and `-name,name` does not.
    #[test]
    fn the_first_entry_naming_a_controller_wins() {
        let on = ControllerSelection::parse(&["replicaset", "-replicaset-controller"]).unwrap();
        assert!(on.is_enabled(REPLICASET_CONTROLLER));
        let off = ControllerSelection::parse(&["-replicaset", "*", "replicaset"]).unwrap();
        assert!(!off.is_enabled(REPLICASET_CONTROLLER));
        assert!(off.is_enabled(DEPLOYMENT_CONTROLLER));
    }

    /// Upstream's controllers disabled by default (`bootstrap-signer-controller`,
    /// `token-cleaner-controller`, …) run only when named.
    #[test]
    fn star_leaves_a_controller_that_is_off_by_default_off_unless_named() {
        let off = ControllerDescriptor {
            name: "token-cleaner-controller",
            alias: "tokencleaner",
            enabled_by_default: false,
            ..CONTROLLERS[0]
        };
        let select = |entries: &[&str]| ControllerSelection {
            entries: entries.iter().map(|e| e.to_string()).collect(),
            star_also_enables: Vec::new(),
        };
        assert!(!select(&["*"]).enables(&off));
        assert!(select(&["*", "token-cleaner-controller"]).enables(&off));
        assert!(!select(&["-token-cleaner-controller", "*"]).enables(&off));
        for c in CONTROLLERS {
            assert_eq!(
                select(&["*"]).enables(c),
                c.enabled_by_default,
                "{}",
                c.name
            );
        }
        assert!(!ControllerSelection::default().is_enabled("not-a-controller"));
    }

    /// `capstan up`'s selection: `*` also turns on the controllers it runs beyond
    /// upstream's defaults, and `-name` still turns them off.
    #[test]
    fn star_may_also_enable_controllers_off_by_default() {
        let off = ControllerDescriptor {
            name: "persistentvolume-binder-controller",
            alias: "persistentvolume-binder",
            enabled_by_default: false,
            ..CONTROLLERS[0]
        };
        let up = |entries: &[&str]| {
            ControllerSelection::parse(entries)
                .unwrap()
                .with_star_also_enabling(&[off.name])
        };
        assert!(up(&["*"]).enables(&off));
        assert!(!up(&["*", "-persistentvolume-binder-controller"]).enables(&off));
        assert!(!up(&["replicaset"]).enables(&off), "no star, not on");
        assert!(!ControllerSelection::parse(&["*"]).unwrap().enables(&off));
    }
}
