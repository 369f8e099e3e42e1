//! Flag-name normalisation as the Kubernetes components do it: their command lines go
//! through component-base's `WordSepNormalizeFunc`, so `--concurrent_rc_syncs` and
//! `--concurrent-rc-syncs` name the same flag. Manifests written for
//! kube-controller-manager use both spellings; capstan accepts both the same way.

use std::ffi::OsString;

/// The command line with every long flag's name written with dashes instead of
/// underscores (`--a_b=c_d` → `--a-b=c_d`). Values are left as they are, and nothing
/// after a bare `--` is touched, since that ends the flags.
pub fn normalize_flag_names<I>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = OsString>,
{
    let mut flags_ended = false;
    args.into_iter()
        .map(|arg| {
            if flags_ended {
                return arg;
            }
            if arg == "--" {
                flags_ended = true;
                return arg;
            }
            match arg.to_str() {
                Some(text) => normalize_one(text).map_or(arg, OsString::from),
                None => arg,
            }
        })
        .collect()
}

/// `text` with its flag name normalised, or `None` when it is not a long flag or its
/// name has no underscore.
fn normalize_one(text: &str) -> Option<String> {
    let name_and_value = text.strip_prefix("--")?;
    let (name, value) = match name_and_value.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (name_and_value, None),
    };
    if !name.contains('_') {
        return None;
    }
    let name = name.replace('_', "-");
    Some(match value {
        Some(value) => format!("--{name}={value}"),
        None => format!("--{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(args: &[&str]) -> Vec<String> {
        normalize_flag_names(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn underscores_in_flag_names_become_dashes() {
        assert_eq!(
            normalized(&[
                "capstan",
                "controller-manager",
                "--concurrent_rc_syncs=7",
                "--concurrent_deployment_syncs",
                "3",
            ]),
            [
                "capstan",
                "controller-manager",
                "--concurrent-rc-syncs=7",
                "--concurrent-deployment-syncs",
                "3",
            ]
        );
    }

    #[test]
    fn values_short_flags_and_arguments_after_the_end_of_flags_are_kept() {
        assert_eq!(
            normalized(&[
                "capstan",
                "--kubeconfig=/tmp/my_dir/config",
                "-v_x",
                "snake_case_value",
                "--",
                "--not_a_flag",
            ]),
            [
                "capstan",
                "--kubeconfig=/tmp/my_dir/config",
                "-v_x",
                "snake_case_value",
                "--",
                "--not_a_flag",
            ]
        );
    }
}
