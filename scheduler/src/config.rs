//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`): the file shape,
//! upstream's v1 defaults, and resolution of each profile's plugins per extension
//! point (MultiPoint expansion, enable/disable, weights).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::framework::plugins::{self, DEFAULT_PLUGINS, DEFAULT_PREEMPTION};
use crate::framework::{FrameworkError, StaticLister};

/// The scheduler name of the default profile. Upstream's is `default-scheduler`;
/// capstan's own scheduler answers to `capstan-scheduler` so it can run beside
/// kube-scheduler (`capstan up` adds a `default-scheduler` profile).
pub const DEFAULT_SCHEDULER_NAME: &str = "capstan-scheduler";
/// Upstream's default scheduler name.
pub const UPSTREAM_DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Errors reading or resolving a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML/JSON could not be parsed.
    #[error("parsing KubeSchedulerConfiguration: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// A field has an invalid value.
    #[error("invalid KubeSchedulerConfiguration: {0}")]
    Invalid(String),
    /// A plugin problem.
    #[error(transparent)]
    Plugin(#[from] FrameworkError),
}

/// A plugin reference in a plugin set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    /// Plugin name (`*` in `disabled` means all defaults).
    pub name: String,
    /// Score weight (Score and MultiPoint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// Plugins enabled and disabled at one extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSet {
    /// Enabled plugins, in order.
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Disabled default plugins.
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// Plugin sets per extension point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    /// PreEnqueue.
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    /// QueueSort.
    #[serde(default)]
    pub queue_sort: PluginSet,
    /// PreFilter.
    #[serde(default)]
    pub pre_filter: PluginSet,
    /// Filter.
    #[serde(default)]
    pub filter: PluginSet,
    /// PostFilter.
    #[serde(default)]
    pub post_filter: PluginSet,
    /// PreScore.
    #[serde(default)]
    pub pre_score: PluginSet,
    /// Score.
    #[serde(default)]
    pub score: PluginSet,
    /// Reserve.
    #[serde(default)]
    pub reserve: PluginSet,
    /// Permit.
    #[serde(default)]
    pub permit: PluginSet,
    /// PreBind.
    #[serde(default)]
    pub pre_bind: PluginSet,
    /// Bind.
    #[serde(default)]
    pub bind: PluginSet,
    /// PostBind.
    #[serde(default)]
    pub post_bind: PluginSet,
    /// MultiPoint: plugins enabled at every point they implement.
    #[serde(default)]
    pub multi_point: PluginSet,
}

/// Arguments for one plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfig {
    /// Plugin name.
    pub name: String,
    /// Arguments (e.g. `NodeResourcesFitArgs`).
    #[serde(default)]
    pub args: serde_json::Value,
}

/// A scheduling profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerProfile {
    /// Pods with this `spec.schedulerName` use the profile.
    #[serde(default)]
    pub scheduler_name: Option<String>,
    /// Overrides the global percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugin sets, merged over the defaults.
    #[serde(default)]
    pub plugins: Option<Plugins>,
    /// Plugin arguments.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

/// Leader election settings (as `componentbaseconfig.LeaderElectionConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElectionConfiguration {
    /// Whether to elect a leader.
    #[serde(default = "yes")]
    pub leader_elect: bool,
    /// Lease duration (Go duration string).
    #[serde(default = "d15")]
    pub lease_duration: String,
    /// Renew deadline.
    #[serde(default = "d10")]
    pub renew_deadline: String,
    /// Retry period.
    #[serde(default = "d2")]
    pub retry_period: String,
    /// Lock kind.
    #[serde(default = "leases")]
    pub resource_lock: String,
    /// Lease name.
    #[serde(default = "lease_name")]
    pub resource_name: String,
    /// Lease namespace.
    #[serde(default = "kube_system")]
    pub resource_namespace: String,
}

fn yes() -> bool {
    true
}
fn d15() -> String {
    "15s".into()
}
fn d10() -> String {
    "10s".into()
}
fn d2() -> String {
    "2s".into()
}
fn leases() -> String {
    "leases".into()
}
fn lease_name() -> String {
    DEFAULT_SCHEDULER_NAME.into()
}
fn kube_system() -> String {
    "kube-system".into()
}

impl LeaderElectionConfiguration {
    /// `leaseDuration`, `renewDeadline` and `retryPeriod` as durations.
    pub fn durations(&self) -> Result<(Duration, Duration, Duration), ConfigError> {
        Ok((
            parse_go_duration(&self.lease_duration)?,
            parse_go_duration(&self.renew_deadline)?,
            parse_go_duration(&self.retry_period)?,
        ))
    }
}

/// Parses a Go `time.Duration` string as `metav1.Duration` holds it (`15s`,
/// `1m30s`, `1.5h`, `250ms`; units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; `0` alone).
/// Negative durations are rejected: no scheduler setting takes one.
pub fn parse_go_duration(s: &str) -> Result<Duration, ConfigError> {
    let invalid = || ConfigError::Invalid(format!("invalid duration {s:?}"));
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(invalid());
    }
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        if num_len == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

impl Default for LeaderElectionConfiguration {
    fn default() -> Self {
        LeaderElectionConfiguration {
            leader_elect: true,
            lease_duration: d15(),
            renew_deadline: d10(),
            retry_period: d2(),
            resource_lock: leases(),
            resource_name: lease_name(),
            resource_namespace: kube_system(),
        }
    }
}

/// The scheduler's configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerConfiguration {
    /// `kubescheduler.config.k8s.io/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `KubeSchedulerConfiguration`.
    #[serde(default = "kind")]
    pub kind: String,
    /// Parallelism of filter/score (default 16).
    #[serde(default = "parallelism")]
    pub parallelism: i32,
    /// Percentage of nodes to score; 0 means the adaptive default.
    #[serde(default)]
    pub percentage_of_nodes_to_score: i32,
    /// Initial backoff (default 1 s).
    #[serde(default = "one")]
    pub pod_initial_backoff_seconds: i64,
    /// Maximum backoff (default 10 s).
    #[serde(default = "ten")]
    pub pod_max_backoff_seconds: i64,
    /// Leader election.
    #[serde(default)]
    pub leader_election: LeaderElectionConfiguration,
    /// Profiles (default: one with the default plugins).
    #[serde(default)]
    pub profiles: Vec<KubeSchedulerProfile>,
}

fn api_version() -> String {
    "kubescheduler.config.k8s.io/v1".into()
}
fn kind() -> String {
    "KubeSchedulerConfiguration".into()
}
fn parallelism() -> i32 {
    16
}
fn one() -> i64 {
    1
}
fn ten() -> i64 {
    10
}

impl Default for KubeSchedulerConfiguration {
    fn default() -> Self {
        let mut c = KubeSchedulerConfiguration {
            api_version: api_version(),
            kind: kind(),
            parallelism: parallelism(),
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff_seconds: 1,
            pod_max_backoff_seconds: 10,
            leader_election: LeaderElectionConfiguration::default(),
            profiles: Vec::new(),
        };
        c.apply_defaults();
        c
    }
}

/// A profile's plugins per extension point, ready for [`crate::framework::Framework::new`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedProfile {
    /// Scheduler name.
    pub scheduler_name: String,
    /// Percentage override.
    pub percentage_of_nodes_to_score: Option<i32>,
    /// PreFilter plugins in order.
    pub pre_filter: Vec<String>,
    /// Filter plugins in order.
    pub filter: Vec<String>,
    /// PostFilter plugins in order.
    pub post_filter: Vec<String>,
    /// PreScore plugins in order.
    pub pre_score: Vec<String>,
    /// Score plugins and weights.
    pub score: Vec<(String, i32)>,
    /// Reserve plugins in order.
    pub reserve: Vec<String>,
    /// PreBind plugins in order.
    pub pre_bind: Vec<String>,
    /// Arguments by plugin name.
    pub plugin_args: HashMap<String, serde_json::Value>,
}

impl ResolvedProfile {
    /// The default profile (upstream v1 defaults) under a scheduler name.
    pub fn default_for(name: &str) -> Self {
        let p = KubeSchedulerProfile {
            scheduler_name: Some(name.into()),
            ..Default::default()
        };
        // Default plugins always resolve.
        resolve_profile(&p).unwrap_or_default()
    }
}

impl KubeSchedulerConfiguration {
    /// Parses YAML or JSON and applies defaults.
    pub fn from_yaml(s: &str) -> Result<Self, ConfigError> {
        let mut c: KubeSchedulerConfiguration = serde_yaml::from_str(s)?;
        c.apply_defaults();
        c.validate()?;
        Ok(c)
    }

    /// Applies upstream's v1 defaults (one default profile, scheduler names).
    pub fn apply_defaults(&mut self) {
        if self.profiles.is_empty() {
            self.profiles.push(KubeSchedulerProfile::default());
        }
        for p in &mut self.profiles {
            if p.scheduler_name.as_deref().is_none_or(str::is_empty) {
                p.scheduler_name = Some(DEFAULT_SCHEDULER_NAME.into());
            }
        }
    }

    /// Validates value ranges and profile names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0..=100).contains(&self.percentage_of_nodes_to_score) {
            return Err(ConfigError::Invalid(
                "percentageOfNodesToScore: not in valid range [0-100]".into(),
            ));
        }
        if self.pod_initial_backoff_seconds <= 0
            || self.pod_max_backoff_seconds < self.pod_initial_backoff_seconds
        {
            return Err(ConfigError::Invalid(
                "podInitialBackoffSeconds must be > 0 and podMaxBackoffSeconds >= podInitialBackoffSeconds".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for p in &self.profiles {
            let n = p.scheduler_name.clone().unwrap_or_default();
            if !names.insert(n.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "profiles[].schedulerName: duplicate value {n:?}"
                )));
            }
            if let Some(pct) = p.percentage_of_nodes_to_score
                && !(0..=100).contains(&pct)
            {
                return Err(ConfigError::Invalid(format!(
                    "profile {n}: percentageOfNodesToScore not in [0-100]"
                )));
            }
        }
        Ok(())
    }

    /// Resolves every profile's plugins.
    pub fn resolve(&self) -> Result<Vec<ResolvedProfile>, ConfigError> {
        self.profiles.iter().map(resolve_profile).collect()
    }
}

/// Upstream `mergePluginSet`: defaults minus disabled (all with `*`), custom
/// entries replacing defaults in place, other custom entries appended.
fn merge_plugin_set(default: &PluginSet, custom: &PluginSet) -> PluginSet {
    let disabled: BTreeSet<&str> = custom.disabled.iter().map(|p| p.name.as_str()).collect();
    let mut replaced = BTreeSet::new();
    let mut enabled = Vec::new();
    if !disabled.contains("*") {
        for d in &default.enabled {
            if disabled.contains(d.name.as_str()) {
                continue;
            }
            match custom.enabled.iter().position(|c| c.name == d.name) {
                Some(i) => {
                    replaced.insert(i);
                    enabled.push(custom.enabled[i].clone());
                }
                None => enabled.push(d.clone()),
            }
        }
    }
    for (i, c) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(c.clone());
        }
    }
    PluginSet {
        enabled,
        disabled: custom.disabled.clone(),
    }
}

#[derive(Clone, Copy)]
enum Point {
    PreFilter,
    Filter,
    PostFilter,
    PreScore,
    Score,
    Reserve,
    PreBind,
}

fn implements(name: &str, point: Point) -> Result<bool, FrameworkError> {
    if name == DEFAULT_PREEMPTION {
        return Ok(matches!(point, Point::PostFilter));
    }
    if plugins::is_builtin_non_framework(name) {
        return Ok(false);
    }
    let p = plugins::new_plugin(name, None, Arc::new(StaticLister::default()))?;
    Ok(match point {
        Point::PreFilter => p.as_pre_filter().is_some(),
        Point::Filter => p.as_filter().is_some(),
        Point::PostFilter => false,
        Point::PreScore => p.as_pre_score().is_some(),
        Point::Score => p.as_score().is_some(),
        Point::Reserve => p.as_reserve().is_some(),
        Point::PreBind => p.as_pre_bind().is_some(),
    })
}

/// Expands MultiPoint into one extension point, as upstream's
/// `expandMultiPointPlugins`: overridden plugins first (specific order), then
/// MultiPoint plugins, then the remaining specific plugins.
fn expand(
    multi: &PluginSet,
    specific: &PluginSet,
    point: Point,
) -> Result<Vec<PluginRef>, FrameworkError> {
    let specific_names: Vec<&str> = specific.enabled.iter().map(|p| p.name.as_str()).collect();
    let disabled: BTreeSet<&str> = specific.disabled.iter().map(|p| p.name.as_str()).collect();
    if disabled.contains("*") {
        return Ok(specific.enabled.clone());
    }
    let mut overrides = BTreeSet::new();
    let mut multi_enabled: Vec<PluginRef> = Vec::new();
    for p in &multi.enabled {
        if !implements(&p.name, point)? || disabled.contains(p.name.as_str()) {
            continue;
        }
        if specific_names.contains(&p.name.as_str()) {
            overrides.insert(p.name.clone());
            continue;
        }
        if multi_enabled.iter().any(|m| m.name == p.name) {
            return Err(FrameworkError::InvalidArgs {
                plugin: p.name.clone(),
                message: "already registered via MultiPoint".into(),
            });
        }
        multi_enabled.push(p.clone());
    }
    let mut out: Vec<PluginRef> = specific
        .enabled
        .iter()
        .filter(|p| overrides.contains(&p.name))
        .cloned()
        .collect();
    out.extend(multi_enabled);
    out.extend(
        specific
            .enabled
            .iter()
            .filter(|p| !overrides.contains(&p.name))
            .cloned(),
    );
    Ok(out)
}

fn resolve_profile(p: &KubeSchedulerProfile) -> Result<ResolvedProfile, ConfigError> {
    let defaults = PluginSet {
        enabled: DEFAULT_PLUGINS
            .iter()
            .map(|(n, w)| PluginRef {
                name: n.to_string(),
                weight: (*w > 0).then_some(*w),
            })
            .collect(),
        disabled: Vec::new(),
    };
    let custom = p.plugins.clone().unwrap_or_default();
    let multi = merge_plugin_set(&defaults, &custom.multi_point);
    let empty = PluginSet::default();
    let spec = |s: &PluginSet| merge_plugin_set(&empty, s);
    let names = |v: Vec<PluginRef>| v.into_iter().map(|p| p.name).collect::<Vec<_>>();
    for set in [
        &custom.pre_filter,
        &custom.filter,
        &custom.pre_score,
        &custom.score,
        &custom.reserve,
        &custom.pre_bind,
        &custom.multi_point,
    ] {
        for r in &set.enabled {
            if !plugins::is_builtin_non_framework(&r.name) {
                plugins::new_plugin(&r.name, None, Arc::new(StaticLister::default()))?;
            }
        }
    }
    let score_refs = expand(&multi, &spec(&custom.score), Point::Score)?;
    let score = score_refs
        .into_iter()
        .map(|r| {
            let w = r
                .weight
                .or_else(|| {
                    multi
                        .enabled
                        .iter()
                        .find(|m| m.name == r.name)
                        .and_then(|m| m.weight)
                })
                .unwrap_or(1);
            (r.name, if w == 0 { 1 } else { w })
        })
        .collect();
    let mut plugin_args = HashMap::new();
    for pc in &p.plugin_config {
        plugins::new_plugin(&pc.name, Some(&pc.args), Arc::new(StaticLister::default()))?;
        plugin_args.insert(pc.name.clone(), pc.args.clone());
    }
    Ok(ResolvedProfile {
        scheduler_name: p
            .scheduler_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into()),
        percentage_of_nodes_to_score: p.percentage_of_nodes_to_score,
        pre_filter: names(expand(&multi, &spec(&custom.pre_filter), Point::PreFilter)?),
        filter: names(expand(&multi, &spec(&custom.filter), Point::Filter)?),
        post_filter: names(expand(
            &multi,
            &spec(&custom.post_filter),
            Point::PostFilter,
        )?),
        pre_score: names(expand(&multi, &spec(&custom.pre_score), Point::PreScore)?),
        score,
        reserve: names(expand(&multi, &spec(&custom.reserve), Point::Reserve)?),
        pre_bind: names(expand(&multi, &spec(&custom.pre_bind), Point::PreBind)?),
        plugin_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_metav1_duration() {
        assert_eq!(parse_go_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "15", "s", "-1s", "1d", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} must be rejected");
        }
        let le = LeaderElectionConfiguration::default();
        assert_eq!(
            le.durations().unwrap(),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
    }
    use crate::framework::Framework;

    #[test]
    fn defaults_match_upstream_v1() {
        let c = KubeSchedulerConfiguration::default();
        assert_eq!(c.parallelism, 16);
        assert_eq!(
            (c.pod_initial_backoff_seconds, c.pod_max_backoff_seconds),
            (1, 10)
        );
        let p = &c.resolve().unwrap()[0];
        assert_eq!(p.scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert_eq!(
            p.filter,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            p.score,
            [
                ("TaintToleration".to_string(), 3),
                ("NodeAffinity".to_string(), 2),
                ("NodeResourcesFit".to_string(), 1),
                ("PodTopologySpread".to_string(), 2),
                ("InterPodAffinity".to_string(), 2),
                ("NodeResourcesBalancedAllocation".to_string(), 1),
                ("ImageLocality".to_string(), 1),
            ]
        );
        assert_eq!(p.post_filter, ["DefaultPreemption"]);
        let fw = Framework::new(p, Arc::new(StaticLister::default())).unwrap();
        assert!(fw.preemption_enabled());
    }

    #[test]
    fn yaml_profiles_disable_enable_reweight_and_configure() {
        let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: packer
  plugins:
    multiPoint:
      disabled:
      - name: ImageLocality
    score:
      enabled:
      - name: NodeResourcesFit
        weight: 5
      disabled:
      - name: NodeResourcesBalancedAllocation
    postFilter:
      disabled:
      - name: "*"
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - name: cpu
          weight: 1
- {}
"#;
        let c = KubeSchedulerConfiguration::from_yaml(yaml).unwrap();
        assert_eq!(c.percentage_of_nodes_to_score, 30);
        let r = c.resolve().unwrap();
        let p = &r[0];
        assert_eq!(p.scheduler_name, "packer");
        assert!(p.score.contains(&("NodeResourcesFit".to_string(), 5)));
        assert_eq!(p.score[0].0, "NodeResourcesFit", "overrides come first");
        assert!(
            !p.score
                .iter()
                .any(|(n, _)| n == "ImageLocality" || n == "NodeResourcesBalancedAllocation")
        );
        assert!(p.post_filter.is_empty());
        assert!(p.plugin_args.contains_key("NodeResourcesFit"));
        assert_eq!(r[1].scheduler_name, DEFAULT_SCHEDULER_NAME);
        let fw = Framework::new(p, Arc::new(StaticLister::default())).unwrap();
        assert!(!fw.preemption_enabled());
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        assert!(KubeSchedulerConfiguration::from_yaml("percentageOfNodesToScore: 101").is_err());
        let dup = "profiles:\n- schedulerName: a\n- schedulerName: a\n";
        assert!(KubeSchedulerConfiguration::from_yaml(dup).is_err());
        let unknown = "profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: Nope\n";
        let c = KubeSchedulerConfiguration::from_yaml(unknown).unwrap();
        assert!(matches!(
            c.resolve(),
            Err(ConfigError::Plugin(FrameworkError::UnknownPlugin(_)))
        ));
        let bad_args = "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Nope\n";
        let c = KubeSchedulerConfiguration::from_yaml(bad_args).unwrap();
        assert!(matches!(
            c.resolve(),
            Err(ConfigError::Plugin(FrameworkError::InvalidArgs { .. }))
        ));
    }

    #[test]
    fn multi_point_weights_and_specific_overrides() {
        let yaml = r#"
profiles:
- schedulerName: s
  plugins:
    multiPoint:
      enabled:
      - name: TaintToleration
        weight: 7
      - name: ImageLocality
        weight: 0
    filter:
      disabled:
      - name: "*"
      enabled:
      - name: NodeName
"#;
        let p = &KubeSchedulerConfiguration::from_yaml(yaml)
            .unwrap()
            .resolve()
            .unwrap()[0];
        assert!(p.score.contains(&("TaintToleration".to_string(), 7)));
        assert!(
            p.score.contains(&("ImageLocality".to_string(), 1)),
            "weight 0 means 1"
        );
        assert_eq!(p.filter, ["NodeName"]);
        // PreFilter still comes from MultiPoint.
        assert!(p.pre_filter.contains(&"NodeResourcesFit".to_string()));
    }
}
