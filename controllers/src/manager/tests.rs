//! The controller table: names, flags, informers and permissions agree with each other,
//! with upstream and with what each constructor really does.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// A client that is never used: building controllers makes no request until their
/// factory starts.
fn idle_client() -> Client {
    let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
    Client::try_from(config).expect("client")
}

#[test]
fn every_name_and_alias_is_unique() {
    let mut seen = BTreeSet::new();
    for c in CONTROLLERS {
        assert!(c.name.ends_with("-controller"), "{}", c.name);
        // Upstream's aliases are the names without `-controller` (some keep dashes:
        // `pvc-protection`, `ttl-after-finished`).
        assert!(
            !c.alias.is_empty() && !c.alias.ends_with("-controller"),
            "{}",
            c.alias
        );
        assert!(seen.insert(c.name), "{} twice", c.name);
        assert!(seen.insert(c.alias), "{} twice", c.alias);
        assert_eq!(lookup(c.name).map(|d| d.name), Some(c.name));
        assert_eq!(lookup(c.alias).map(|d| d.name), Some(c.name));
    }
}

/// kube-controller-manager's flag names and defaults.
#[test]
fn concurrent_syncs_flags_are_kube_controller_managers() {
    let flags: BTreeMap<&str, (&str, usize)> = CONTROLLERS
        .iter()
        .filter_map(|c| c.concurrent_syncs.map(|f| (c.name, (f.name, f.default))))
        .collect();
    assert_eq!(
        flags,
        BTreeMap::from([
            (DAEMONSET_CONTROLLER, ("concurrent-daemonset-syncs", 2)),
            (CRONJOB_CONTROLLER, ("concurrent-cron-job-syncs", 5)),
            (DEPLOYMENT_CONTROLLER, ("concurrent-deployment-syncs", 5)),
            (ENDPOINT_CONTROLLER, ("concurrent-endpoint-syncs", 5)),
            (
                ENDPOINT_SLICE_CONTROLLER,
                ("concurrent-service-endpoint-syncs", 5)
            ),
            (GARBAGE_COLLECTOR_CONTROLLER, ("concurrent-gc-syncs", 20)),
            (JOB_CONTROLLER, ("concurrent-job-syncs", 5)),
            (NAMESPACE_CONTROLLER, ("concurrent-namespace-syncs", 10)),
            (REPLICASET_CONTROLLER, ("concurrent-replicaset-syncs", 5)),
            (REPLICATIONCONTROLLER_CONTROLLER, ("concurrent-rc-syncs", 5)),
            (
                RESOURCEQUOTA_CONTROLLER,
                ("concurrent-resource-quota-syncs", 5)
            ),
            (
                TTL_AFTER_FINISHED_CONTROLLER,
                ("concurrent-ttl-after-finished-syncs", 5)
            ),
            (STATEFULSET_CONTROLLER, ("concurrent-statefulset-syncs", 5)),
        ])
    );
    let names: BTreeSet<&str> = flags.values().map(|f| f.0).collect();
    assert_eq!(names.len(), flags.len(), "one flag per controller");
    for c in CONTROLLERS {
        if let Some(f) = c.concurrent_syncs {
            assert!(
                f.name.starts_with("concurrent-") && f.name.ends_with("-syncs"),
                "{}",
                f.name
            );
            assert!(f.default > 0 && !f.help.is_empty(), "{}", f.name);
        }
    }
}

#[test]
fn workers_come_from_the_config_or_the_flags_default() {
    let rs = lookup(REPLICASET_CONTROLLER).expect("rs");
    let gc = lookup(GARBAGE_COLLECTOR_CONTROLLER).expect("gc");
    let mut config = ControllersConfig::default();
    assert_eq!(config.workers(rs), 5);
    assert_eq!(config.workers(gc), 20);
    config
        .concurrent_syncs
        .insert(REPLICASET_CONTROLLER.to_string(), 2);
    assert_eq!(config.workers(rs), 2);
    assert_eq!(config.workers(gc), 20);
}

/// Upstream's `ControllersDisabledByDefault`: `*` leaves only these off.
const UPSTREAM_DISABLED_BY_DEFAULT: &[&str] =
    &["bootstrap-signer-controller", "token-cleaner-controller"];

/// Controllers a real cluster already runs, which capstan beside it must not
/// duplicate: off by default in `capstan controller-manager`, on in `capstan up`.
const CLUSTER_OWNS: &[&str] = &[PV_BINDER_CONTROLLER];

#[test]
fn on_by_default_unless_upstream_has_it_off() {
    for c in CONTROLLERS {
        assert_eq!(
            c.enabled_by_default,
            !UPSTREAM_DISABLED_BY_DEFAULT.contains(&c.name) && !CLUSTER_OWNS.contains(&c.name),
            "{}",
            c.name
        );
    }
}

/// An informer lists and watches its resource: the permissions say so.
#[test]
fn every_informer_is_covered_by_list_and_watch() {
    for c in CONTROLLERS {
        for i in c.informers {
            for verb in ["list", "watch"] {
                assert!(
                    c.permissions
                        .iter()
                        .any(|p| p.allows(verb, i.group, i.resource)),
                    "{} may not {verb} {}/{}",
                    c.name,
                    i.group,
                    i.resource
                );
            }
        }
    }
}

/// No controller needs RBAC escalation; only discovery-driven ones get wildcards (the
/// disruption controller's on `scale` alone).
#[test]
fn permissions_use_plain_verbs_and_wildcards_only_where_discovery_drives() {
    let verbs = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    for c in CONTROLLERS {
        for p in c.permissions {
            for v in p.verbs {
                assert!(verbs.contains(v), "{}: {v}", c.name);
            }
            // The disruption controller reads the scale of whatever kind owns pods
            // (upstream's `*/scale` get), and nothing else of any kind.
            let any_scale = c.name == DISRUPTION_CONTROLLER
                && p.subresource == Some("scale")
                && p.verbs == ["get"];
            if p.group == ANY || p.resource == ANY {
                assert!(
                    any_scale
                        || [
                            GARBAGE_COLLECTOR_CONTROLLER,
                            NAMESPACE_CONTROLLER,
                            RESOURCEQUOTA_CONTROLLER
                        ]
                        .contains(&c.name),
                    "{}: {p:?}",
                    c.name
                );
            }
        }
    }
}

/// What a constructor takes from the shared factory is what its entry declares.
#[tokio::test]
async fn each_constructor_takes_exactly_the_informers_its_entry_declares() {
    let client = idle_client();
    let config = ControllersConfig::default();
    for c in CONTROLLERS {
        let factory = SharedInformerFactory::new(client.clone(), None);
        let cx = BuildContext {
            factory: &factory,
            client: &client,
            config: &config,
            workers: config.workers(c),
        };
        let built = (c.build)(&cx).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut declared: Vec<&str> = c.informers.iter().map(|i| i.kind).collect();
        declared.sort();
        assert_eq!(factory.informer_names(), declared, "{}", c.name);
        assert_eq!(
            built.synced_check().is_some(),
            !c.informers.is_empty(),
            "{}: a cache check exactly when it has informers",
            c.name
        );
    }
}

#[tokio::test]
async fn the_manager_builds_the_selected_controllers_in_table_order() {
    let config = ControllersConfig {
        selection: ControllerSelection::parse(&["*", "-deployment-controller"]).expect("parse"),
        ..ControllersConfig::default()
    };
    let manager = ControllerManager::new(idle_client(), &config).expect("manager");
    assert_eq!(
        manager.enabled(),
        [
            REPLICASET_CONTROLLER,
            REPLICATIONCONTROLLER_CONTROLLER,
            DAEMONSET_CONTROLLER,
            JOB_CONTROLLER,
            CRONJOB_CONTROLLER,
            TTL_AFTER_FINISHED_CONTROLLER,
            STATEFULSET_CONTROLLER,
            GARBAGE_COLLECTOR_CONTROLLER,
            NAMESPACE_CONTROLLER,
            PVC_PROTECTION_CONTROLLER,
            PV_PROTECTION_CONTROLLER,
            RESOURCEQUOTA_CONTROLLER,
            ENDPOINT_CONTROLLER,
            ENDPOINT_SLICE_CONTROLLER,
            SERVICE_ACCOUNT_CONTROLLER,
            TAINT_EVICTION_CONTROLLER,
            NODE_LIFECYCLE_CONTROLLER,
            DISRUPTION_CONTROLLER
        ]
    );
    assert!(!manager.synced_check()(), "nothing synced before it runs");
    let none = ControllersConfig {
        selection: ControllerSelection::parse::<&str>(&[]).expect("parse"),
        ..ControllersConfig::default()
    };
    let manager = ControllerManager::new(idle_client(), &none).expect("manager");
    assert!(manager.enabled().is_empty());
}
