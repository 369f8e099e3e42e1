//! The controller flags of `capstan up` and `capstan controller-manager`, named as
//! kube-controller-manager's: `--controllers` and one `--concurrent-*-syncs` flag per
//! controller of the table ([`CONTROLLERS`]). The flags are generated from the table,
//! so a new controller's flag is there as soon as its entry is.

use std::collections::BTreeMap;

use std::time::Duration;

use capstan_controllers::endpointslice::DEFAULT_MAX_ENDPOINTS_PER_SLICE;
use capstan_controllers::manager::{
    CONTROLLERS, ControllerSelection, ControllersConfig, ManagerError,
};
use capstan_controllers::nodelifecycle::NodeLifecycleConfig;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, value_parser};

/// `--max-endpoints-per-slice`'s bound (upstream's validation allows 1 to 1000).
const MAX_ENDPOINTS_PER_SLICE_LIMIT: i64 = 1000;
/// Its default as the flag writes it.
const DEFAULT_MAX_ENDPOINTS_PER_SLICE_TEXT: &str = "100";

/// The id and long name of `--controllers`.
const CONTROLLERS_FLAG: &str = "controllers";

/// The id and long name of `--max-endpoints-per-slice`.
const MAX_ENDPOINTS_PER_SLICE_FLAG: &str = "max-endpoints-per-slice";

/// The node lifecycle controller's flags: (name, default as written, help).
const NODE_LIFECYCLE_DURATION_FLAGS: [(&str, &str, &str); 3] = [
    (
        "node-monitor-period",
        "5s",
        "The period for syncing NodeStatus in NodeController.",
    ),
    (
        "node-monitor-grace-period",
        "50s",
        "Amount of time which we allow running Node to be unresponsive before marking it \
         unhealthy. Must be N times more than kubelet's nodeStatusUpdateFrequency, where N \
         means number of retries allowed for kubelet to post node status.",
    ),
    (
        "node-startup-grace-period",
        "1m0s",
        "Amount of time which we allow starting Node to be unresponsive before marking it \
         unhealthy.",
    ),
];
/// `--node-eviction-rate` and the other rate flags: (name, default, help).
const NODE_LIFECYCLE_RATE_FLAGS: [(&str, &str, &str); 3] = [
    (
        "node-eviction-rate",
        "0.1",
        "Number of nodes per second on which pods are deleted in case of node failure when \
         a zone is healthy (see --unhealthy-zone-threshold for definition of \
         healthy/unhealthy). Zone refers to entire cluster in non-multizone clusters.",
    ),
    (
        "secondary-node-eviction-rate",
        "0.01",
        "Number of nodes per second on which pods are deleted in case of node failure when \
         a zone is unhealthy (see --unhealthy-zone-threshold for definition of \
         healthy/unhealthy). Zone refers to entire cluster in non-multizone clusters. This \
         value is implicitly overridden to 0 if the cluster size is smaller than \
         --large-cluster-size-threshold.",
    ),
    (
        "unhealthy-zone-threshold",
        "0.55",
        "Fraction of Nodes in a zone which needs to be not Ready (minimum 3) for zone to be \
         treated as unhealthy.",
    ),
];
/// `--large-cluster-size-threshold`.
const LARGE_CLUSTER_SIZE_THRESHOLD_FLAG: &str = "large-cluster-size-threshold";

/// A Go duration flag value (`40s`, `1m0s`, `500ms`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    capstan_scheduler::config::parse_go_duration(s).map_err(|e| e.to_string())
}

/// A rate or fraction: a finite number, not negative.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("invalid value {s:?}: a number, 0 or more")),
    }
}

/// `--controllers` and the `--concurrent-*-syncs` flags, as given.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerFlags {
    /// The `--controllers` entries in order (comma lists and repeated flags joined).
    pub controllers: Vec<String>,
    /// The `--concurrent-*-syncs` values given, by controller name.
    pub concurrent_syncs: BTreeMap<String, usize>,
    /// `--max-endpoints-per-slice` (1 to 1000, as upstream validates it).
    pub max_endpoints_per_slice: usize,
    /// `--node-monitor-period`, `--node-monitor-grace-period`,
    /// `--node-startup-grace-period`, `--node-eviction-rate`,
    /// `--secondary-node-eviction-rate`, `--unhealthy-zone-threshold`,
    /// `--large-cluster-size-threshold`.
    pub node_lifecycle: NodeLifecycleConfig,
}

impl ControllerFlags {
    /// The controllers' settings, their events reported from `instance`; an unknown
    /// name in `--controllers` is an error, as kube-controller-manager's.
    pub fn config(&self, instance: &str) -> Result<ControllersConfig, ManagerError> {
        Ok(ControllersConfig {
            selection: ControllerSelection::parse(&self.controllers)?,
            concurrent_syncs: self.concurrent_syncs.clone(),
            instance: instance.to_string(),
            max_endpoints_per_slice: self.max_endpoints_per_slice,
            node_lifecycle: self.node_lifecycle,
            ..ControllersConfig::default()
        })
    }
}

/// The `--controllers` help: every name and alias the table knows.
fn controllers_help() -> String {
    let names: Vec<String> = CONTROLLERS
        .iter()
        .map(|c| format!("{} ({})", c.name, c.alias))
        .collect();
    format!(
        "A list of controllers to enable. '*' enables all on-by-default controllers, \
         'foo' enables the controller named 'foo', '-foo' disables the controller named \
         'foo'. Comma-separated, repeatable. Controllers (alias): {}",
        names.join(", ")
    )
}

impl Args for ControllerFlags {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd
            .arg(
                Arg::new(CONTROLLERS_FLAG)
                    .long(CONTROLLERS_FLAG)
                    .value_name("NAMES")
                    .value_delimiter(',')
                    // `--controllers -foo` as pflag reads it: the next argument is the value.
                    .allow_hyphen_values(true)
                    .action(ArgAction::Append)
                    .default_value("*")
                    .help(controllers_help()),
            )
            .arg(
                Arg::new(MAX_ENDPOINTS_PER_SLICE_FLAG)
                    .long(MAX_ENDPOINTS_PER_SLICE_FLAG)
                    .value_name("N")
                    .value_parser(value_parser!(u16).range(1..=MAX_ENDPOINTS_PER_SLICE_LIMIT))
                    .action(ArgAction::Set)
                    .default_value(DEFAULT_MAX_ENDPOINTS_PER_SLICE_TEXT)
                    .help(
                        "The maximum number of endpoints that will be added to an EndpointSlice. \
                     More endpoints per slice will result in less endpoint slices, but larger \
                     resources.",
                    ),
            );
        let cmd = NODE_LIFECYCLE_DURATION_FLAGS
            .iter()
            .fold(cmd, |cmd, (name, default, help)| {
                cmd.arg(
                    Arg::new(*name)
                        .long(*name)
                        .value_name("DURATION")
                        .value_parser(parse_duration)
                        .action(ArgAction::Set)
                        .default_value(*default)
                        .help(*help),
                )
            });
        let cmd = NODE_LIFECYCLE_RATE_FLAGS
            .iter()
            .fold(cmd, |cmd, (name, default, help)| {
                cmd.arg(
                    Arg::new(*name)
                        .long(*name)
                        .value_name("N")
                        .value_parser(parse_rate)
                        .action(ArgAction::Set)
                        .default_value(*default)
                        .help(*help),
                )
            })
            .arg(
                Arg::new(LARGE_CLUSTER_SIZE_THRESHOLD_FLAG)
                    .long(LARGE_CLUSTER_SIZE_THRESHOLD_FLAG)
                    .value_name("N")
                    .value_parser(value_parser!(usize))
                    .action(ArgAction::Set)
                    .default_value("50")
                    .help(
                        "Number of nodes from which node-lifecycle-controller treats the \
                         cluster as large for the eviction logic purposes. \
                         --secondary-node-eviction-rate is implicitly overridden to 0 for \
                         clusters this size or smaller.",
                    ),
            );
        CONTROLLERS
            .iter()
            .filter_map(|c| c.concurrent_syncs)
            .fold(cmd, |cmd, flag| {
                cmd.arg(
                    Arg::new(flag.name)
                        .long(flag.name)
                        .value_name("N")
                        .value_parser(value_parser!(usize))
                        .action(ArgAction::Set)
                        .help(format!("{} [default: {}]", flag.help, flag.default)),
                )
            })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ControllerFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let controllers = matches
            .get_many::<String>(CONTROLLERS_FLAG)
            .map(|values| values.cloned().collect())
            .unwrap_or_default();
        let concurrent_syncs = CONTROLLERS
            .iter()
            .filter_map(|c| {
                let flag = c.concurrent_syncs?;
                let value = matches.get_one::<usize>(flag.name)?;
                Some((c.name.to_string(), *value))
            })
            .collect();
        let max_endpoints_per_slice = matches
            .get_one::<u16>(MAX_ENDPOINTS_PER_SLICE_FLAG)
            .map_or(DEFAULT_MAX_ENDPOINTS_PER_SLICE, |n| usize::from(*n));
        let defaults = NodeLifecycleConfig::default();
        let duration = |name: &str, default: Duration| {
            matches
                .get_one::<Duration>(name)
                .copied()
                .unwrap_or(default)
        };
        let rate =
            |name: &str, default: f64| matches.get_one::<f64>(name).copied().unwrap_or(default);
        let node_lifecycle = NodeLifecycleConfig {
            node_monitor_period: duration("node-monitor-period", defaults.node_monitor_period),
            node_monitor_grace_period: duration(
                "node-monitor-grace-period",
                defaults.node_monitor_grace_period,
            ),
            node_startup_grace_period: duration(
                "node-startup-grace-period",
                defaults.node_startup_grace_period,
            ),
            node_eviction_rate: rate("node-eviction-rate", defaults.node_eviction_rate),
            secondary_node_eviction_rate: rate(
                "secondary-node-eviction-rate",
                defaults.secondary_node_eviction_rate,
            ),
            unhealthy_zone_threshold: rate(
                "unhealthy-zone-threshold",
                defaults.unhealthy_zone_threshold,
            ),
            large_cluster_size_threshold: matches
                .get_one::<usize>(LARGE_CLUSTER_SIZE_THRESHOLD_FLAG)
                .copied()
                .unwrap_or(defaults.large_cluster_size_threshold),
        };
        Ok(Self {
            controllers,
            concurrent_syncs,
            max_endpoints_per_slice,
            node_lifecycle,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use capstan_controllers::manager::{
        DEPLOYMENT_CONTROLLER, GARBAGE_COLLECTOR_CONTROLLER, NAMESPACE_CONTROLLER,
        REPLICASET_CONTROLLER,
    };

    use super::*;

    fn parse(args: &[&str]) -> Result<ControllerFlags, clap::Error> {
        let cmd = ControllerFlags::augment_args(Command::new("capstan").args_override_self(true));
        let matches =
            cmd.try_get_matches_from(std::iter::once("capstan").chain(args.iter().copied()))?;
        ControllerFlags::from_arg_matches(&matches)
    }

    fn workers(flags: &ControllerFlags, name: &str) -> usize {
        let config = flags.config("test").expect("config");
        let controller = capstan_controllers::manager::lookup(name).expect("known");
        config.workers(controller)
    }

    /// No flag: `*` and kube-controller-manager's defaults.
    #[test]
    fn defaults_are_kube_controller_managers() {
        let flags = parse(&[]).expect("parses");
        assert_eq!(flags.controllers, ["*"]);
        assert!(flags.concurrent_syncs.is_empty());
        assert_eq!(workers(&flags, REPLICASET_CONTROLLER), 5);
        assert_eq!(workers(&flags, DEPLOYMENT_CONTROLLER), 5);
        assert_eq!(workers(&flags, NAMESPACE_CONTROLLER), 10);
        assert_eq!(workers(&flags, GARBAGE_COLLECTOR_CONTROLLER), 20);
        let config = flags.config("test").expect("config");
        for c in CONTROLLERS {
            assert_eq!(
                config.selection.enables(c),
                c.enabled_by_default,
                "{}",
                c.name
            );
        }
    }

    /// Every controller of the table with a flag upstream has it, and it reaches
    /// that controller's workers.
    #[test]
    fn every_tables_flag_parses_and_reaches_its_controller() {
        for (i, c) in CONTROLLERS.iter().enumerate() {
            let Some(flag) = c.concurrent_syncs else {
                continue;
            };
            let value = 100 + i;
            let flags = parse(&[&format!("--{}={value}", flag.name)])
                .unwrap_or_else(|e| panic!("--{}: {e}", flag.name));
            assert_eq!(workers(&flags, c.name), value, "{}", flag.name);
            for other in CONTROLLERS.iter().filter(|o| o.name != c.name) {
                let default = other.concurrent_syncs.map_or(1, |f| f.default);
                assert_eq!(workers(&flags, other.name), default, "{}", other.name);
            }
        }
        assert!(parse(&["--concurrent-gc-syncs=many"]).is_err());
    }

    /// Comma lists and repeated flags add up, as pflag's string slices do; a
    /// repeated count takes its last value.
    #[test]
    fn controllers_lists_join_and_counts_take_the_last_value() {
        let flags = parse(&[
            "--controllers=*,-deployment-controller",
            "--controllers",
            "-namespace",
            "--concurrent-replicaset-syncs=2",
            "--concurrent-replicaset-syncs=3",
        ])
        .expect("parses");
        assert_eq!(
            flags.controllers,
            ["*", "-deployment-controller", "-namespace"]
        );
        let config = flags.config("test").expect("config");
        assert!(config.selection.is_enabled(REPLICASET_CONTROLLER));
        assert!(config.selection.is_enabled(GARBAGE_COLLECTOR_CONTROLLER));
        assert!(!config.selection.is_enabled(DEPLOYMENT_CONTROLLER));
        assert!(!config.selection.is_enabled(NAMESPACE_CONTROLLER));
        assert_eq!(workers(&flags, REPLICASET_CONTROLLER), 3);
    }

    #[test]
    fn max_endpoints_per_slice_defaults_to_100_and_is_bounded_by_1000() {
        let config = |args: &[&str]| parse(args).map(|f| f.config("t").expect("config"));
        let default = config(&[]).expect("parses");
        assert_eq!(
            default.max_endpoints_per_slice,
            DEFAULT_MAX_ENDPOINTS_PER_SLICE
        );
        assert_eq!(
            DEFAULT_MAX_ENDPOINTS_PER_SLICE_TEXT,
            DEFAULT_MAX_ENDPOINTS_PER_SLICE.to_string()
        );
        let set = config(&["--max-endpoints-per-slice=1000"]).expect("parses");
        assert_eq!(set.max_endpoints_per_slice, 1000);
        assert!(parse(&["--max-endpoints-per-slice=1001"]).is_err());
        assert!(parse(&["--max-endpoints-per-slice=0"]).is_err());
    }

    #[test]
    fn node_lifecycle_flags_default_to_upstreams_and_parse_go_durations() {
        let config = |args: &[&str]| parse(args).map(|f| f.config("t").expect("config"));
        let default = config(&[]).expect("parses").node_lifecycle;
        assert_eq!(default, NodeLifecycleConfig::default());
        assert_eq!(default.node_monitor_period, Duration::from_secs(5));
        assert_eq!(default.node_monitor_grace_period, Duration::from_secs(50));
        assert_eq!(default.node_startup_grace_period, Duration::from_secs(60));
        assert_eq!(default.node_eviction_rate, 0.1);
        assert_eq!(default.secondary_node_eviction_rate, 0.01);
        assert_eq!(default.unhealthy_zone_threshold, 0.55);
        assert_eq!(default.large_cluster_size_threshold, 50);
        let set = config(&[
            "--node-monitor-period=250ms",
            "--node-monitor-grace-period=3s",
            "--node-startup-grace-period=1m30s",
            "--node-eviction-rate=10",
            "--secondary-node-eviction-rate=0",
            "--unhealthy-zone-threshold=0.4",
            "--large-cluster-size-threshold=5000",
        ])
        .expect("parses")
        .node_lifecycle;
        assert_eq!(set.node_monitor_period, Duration::from_millis(250));
        assert_eq!(set.node_monitor_grace_period, Duration::from_secs(3));
        assert_eq!(set.node_startup_grace_period, Duration::from_secs(90));
        assert_eq!(set.node_eviction_rate, 10.0);
        assert_eq!(set.secondary_node_eviction_rate, 0.0);
        assert_eq!(set.unhealthy_zone_threshold, 0.4);
        assert_eq!(set.large_cluster_size_threshold, 5000);
        assert!(
            parse(&["--node-monitor-grace-period=40"]).is_err(),
            "unit needed"
        );
        assert!(parse(&["--node-eviction-rate=-1"]).is_err());
        assert!(parse(&["--unhealthy-zone-threshold=x"]).is_err());
    }

    #[test]
    fn an_unknown_controller_is_refused_with_upstreams_message() {
        let flags = parse(&["--controllers=*,-bogus-controller"]).expect("parses");
        let err = flags.config("test").expect_err("unknown name");
        assert_eq!(
            err.to_string(),
            "\"bogus-controller\" is not in the list of known controllers"
        );
    }

    /// The README's flags paragraph and its list of controllers to disable in
    /// kube-controller-manager name every controller and flag of the table.
    #[test]
    fn the_readme_names_every_controller_and_flag_with_its_default() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md");
        for c in CONTROLLERS {
            assert!(
                readme.contains(&format!("`{}`", c.name)),
                "README: {}",
                c.name
            );
            if let Some(flag) = c.concurrent_syncs {
                let with_default = [
                    format!("`--{}` ({})", flag.name, flag.default),
                    format!("`--{}` (default {})", flag.name, flag.default),
                ];
                assert!(
                    with_default.iter().any(|t| readme.contains(t.as_str())),
                    "README: {with_default:?}"
                );
            }
        }
    }

    #[test]
    fn the_help_names_every_controller_and_flag() {
        let help = ControllerFlags::augment_args(Command::new("capstan"))
            .render_long_help()
            .to_string();
        for c in CONTROLLERS {
            assert!(help.contains(c.name), "{}: {help}", c.name);
            if let Some(flag) = c.concurrent_syncs {
                assert!(help.contains(&format!("--{}", flag.name)), "{help}");
                assert!(
                    help.contains(&format!("[default: {}]", flag.default)),
                    "{help}"
                );
            }
        }
    }
}
