//! The label selector table: every case the five former copies tested (the API
//! server's query parser and `validation.rs` matcher, the runtime's string parser, the
//! controllers' `LabelMatcher`, the scheduler's `Selector`), next to upstream's own
//! cases (apimachinery `labels/selector_test.go`, `LabelSelectorAsSelector`,
//! `ValidateLabelSelector`), with upstream's exact messages.

use std::collections::{BTreeMap, HashMap};

use capstan_labels::syntax::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
};
use capstan_labels::validation::{validate_label_selector, validate_labels};
use capstan_labels::{
    Error, Labels, Operator, Requirement, Selector, is_empty_label_selector, set_matches,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// `IsQualifiedName`'s message for a malformed name part.
const KEY_SYNTAX: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// `IsValidLabelValue`'s message for a malformed value.
const VALUE_SYNTAX: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
/// `IsQualifiedName`'s message for a key with more than one `/`.
const KEY_SLASHES: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
/// `IsDNS1123Subdomain`'s message for a malformed subdomain.
const SUBDOMAIN_SYNTAX: &str = r"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Label pairs as a table writes them.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    }
}

fn selector(
    match_labels: &[(&str, &str)],
    match_expressions: Vec<LabelSelectorRequirement>,
) -> LabelSelector {
    LabelSelector {
        match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
        match_expressions: (!match_expressions.is_empty()).then_some(match_expressions),
    }
}

fn parse(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

// ---------------------------------------------------------------------------------------
// The string form: matching

#[test]
fn parsed_selectors_match_label_sets() {
    let web_front = &[("app", "web"), ("tier", "front")][..];
    let every_op = "app=web, tier!=db,env in (prod, staging),zone notin (x),team,!legacy";
    let every_op_ok = &[
        ("app", "web"),
        ("tier", "fe"),
        ("env", "prod"),
        ("zone", "y"),
        ("team", "a"),
    ][..];
    let foo_baz = &[("foo", "bar"), ("baz", "blah")][..];
    #[rustfmt::skip]
    let table: &[(&str, Pairs, bool)] = &[
        // apiserver/src/selector.rs: every operator against {app=web, tier=front}.
        ("app=web", web_front, true),
        ("app==web", web_front, true),
        ("app!=web", web_front, false),
        ("app in (web,db)", web_front, true),
        ("app notin (web)", web_front, false),
        ("missing notin (x)", web_front, true),
        ("tier", web_front, true),
        ("!tier", web_front, false),
        ("!missing", web_front, true),
        ("app=web,tier in (front)", web_front, true),
        ("app=web,tier=back", web_front, false),
        ("", web_front, true),
        // runtime/src/informer/selector.rs: one selector with every operator, and each
        // requirement broken in turn.
        (every_op, every_op_ok, true),
        (every_op, &[("app", "api"), ("tier", "fe"), ("env", "prod"), ("zone", "y"), ("team", "a")], false),
        (every_op, &[("app", "web"), ("tier", "db"), ("env", "prod"), ("zone", "y"), ("team", "a")], false),
        (every_op, &[("app", "web"), ("tier", "fe"), ("env", "dev"), ("zone", "y"), ("team", "a")], false),
        (every_op, &[("app", "web"), ("tier", "fe"), ("env", "prod"), ("zone", "x"), ("team", "a")], false),
        (every_op, &[("app", "web"), ("tier", "fe"), ("env", "prod"), ("zone", "y")], false),
        (every_op, &[("app", "web"), ("tier", "fe"), ("env", "prod"), ("zone", "y"), ("team", "a"), ("legacy", "")], false),
        ("a==b", &[("a", "b")], true),
        ("  ", &[("a", "b")], true),
        // upstream TestSelectorMatches.
        ("", &[("x", "y")], true),
        ("x=y", &[("x", "y")], true),
        ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
        ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
        ("notin=in", &[("notin", "in")], true),
        ("x", &[("x", "z")], true),
        ("!x", &[("y", "z")], true),
        ("x>1", &[("x", "2")], true),
        ("x<1", &[("x", "0")], true),
        ("x=z", &[], false),
        ("x=y", &[("x", "z")], false),
        ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
        ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
        ("x", &[("y", "z")], false),
        ("!x", &[("x", "z")], false),
        ("x>1", &[("x", "0")], false),
        ("x<1", &[("x", "2")], false),
        ("foo=bar", foo_baz, true),
        ("baz=blah", foo_baz, true),
        ("foo=bar,baz=blah", foo_baz, true),
        ("foo=blah", foo_baz, false),
        ("baz=bar", foo_baz, false),
        ("foo=bar,foobar=bar,baz=blah", foo_baz, false),
        // upstream TestRequirementSelectorMatching.
        ("x in (foo),y notin (alpha)", &[("x", "foo"), ("y", "baz")], true),
        ("x in (foo),y in (alpha)", &[("x", "foo"), ("y", "baz")], false),
        ("x notin (),y", &[("y", "")], true),
        ("!x,y", &[("y", "")], true),
        ("x notin (),!y", &[("y", "")], false),
        ("x in ()", &[("y", "baz")], false),
        ("z>1", &[("z", "2")], true),
        ("z>1", &[("z", "v2")], false),
        // Empty values, signs and absent keys.
        ("a=", &[("a", "")], true),
        ("a=", &[], false),
        ("a!=", &[], true),
        ("a in (,b)", &[("a", "")], true),
        ("x>1", &[("x", "+2")], true),
        ("x<1", &[("x", "-3")], true),
        ("x>1", &[], false),
        ("x<1", &[], false),
        ("x in (in)", &[("x", "in")], true),
    ];
    for (sel, set, want) in table {
        assert_eq!(
            parse(sel).matches(&labels(set)),
            *want,
            "{sel:?} on {set:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The string form: canonical `String()`

#[test]
fn parsed_selectors_print_in_canonical_form() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        // upstream TestSelectorParse: good strings print back without their spaces.
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        // TestDeterministicParse: requirements sorted by key.
        ("x=a,a=x", "a=x,x=a"),
        ("a=x,x=a", "a=x,x=a"),
        // TestSetSelectorParser: whitespace, prefixes, value sets.
        ("\rx", "x"),
        ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
        ("this-is-another-dns.domain.com/key-with-dash in (so,what)", "this-is-another-dns.domain.com/key-with-dash in (so,what)"),
        ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x  notin\t\t\t(abc,def)", "x notin (abc,def)"),
        ("x in (abc,def)", "x in (abc,def)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in ()", "x in ()"),
        ("x notin (abc,def),bar,z in (),w", "bar,w,x notin (abc,def),z in ()"),
        ("x,y in (a)", "x,y in (a)"),
        ("x=a", "x=a"),
        ("x<7", "x<7"),
        ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("a ", "a"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
        ("x,y", "x,y"),
        // Runtime copy: every operator, printed in key order.
        ("app=web, tier!=db,env in (prod, staging),zone notin (x),team,!legacy",
         "app=web,env in (prod,staging),!legacy,team,tier!=db,zone notin (x)"),
        // Sets are de-duplicated and sorted; `==` is kept; one key keeps its order.
        ("x in (b,a,b)", "x in (a,b)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in (,,)", "x in ()"),
        ("a==b", "a==b"),
        ("z!=a,z", "z!=a,z"),
        ("z,z!=a", "z,z!=a"),
        ("b,a", "a,b"),
    ];
    for (input, want) in table {
        assert_eq!(parse(input).to_string(), *want, "{input:?}");
        assert_eq!(
            input.parse::<Selector>().map(|s| s.to_string()).as_deref(),
            Ok(*want)
        );
    }
}

// ---------------------------------------------------------------------------------------
// The string form: errors

#[test]
fn malformed_strings_are_rejected_with_upstreams_messages() {
    let long_value = "x".repeat(64);
    let long_value_case = format!("a={long_value}");
    let long_value_msg = format!(
        "unable to parse requirement: values[0][a]: Invalid value: \"{long_value}\": must be no more than 63 characters"
    );
    let table: Vec<(&str, String)> = vec![
        // runtime/src/informer/selector.rs `rejects_malformed_selectors`.
        ("a=b,", "found '', expected: identifier after ','".into()),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'".into()),
        ("a in x", "unable to parse requirement: found 'x' expected: '('".into()),
        ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
        (
            "a foo (x)",
            "unable to parse requirement: found 'foo', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        (",", "found ',', expected: !, identifier, or 'end of string'".into()),
        ("=x", "found '=', expected: !, identifier, or 'end of string'".into()),
        // apiserver/src/selector.rs.
        ("a=b=c", "found '=', expected: ',' or 'end of string'".into()),
        ("a,,b", "found ',', expected: identifier after ','".into()),
        // upstream TestSelectorParse and TestSetSelectorParser.
        (
            "x=a||y=b",
            format!("unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {VALUE_SYNTAX}"),
        ),
        ("x==a==b", "found '==', expected: ',' or 'end of string'".into()),
        ("!x=a", "found '=', expected: ',' or 'end of string'".into()),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'".into()),
        (
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        ("a in (xyz),", "found '', expected: identifier after ','".into()),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'".into()),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'".into()),
        (
            "a notin(",
            "unable to parse requirement: found '', expected: ',', ')' or identifier".into(),
        ),
        (
            "a (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt".into(),
        ),
        ("(", "found '(', expected: !, identifier, or 'end of string'".into()),
        // Invalid keys (checked against upstream's nil field path) and values.
        ("-a", format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {KEY_SYNTAX}")),
        ("a/b/c=d", format!("unable to parse requirement: <nil>: Invalid value: \"a/b/c\": {KEY_SLASHES}")),
        (
            "Example.com/a",
            format!("unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part {SUBDOMAIN_SYNTAX}"),
        ),
        (
            "a in (b,-c)",
            format!("unable to parse requirement: values[0][a]: Invalid value: \"-c\": {VALUE_SYNTAX}"),
        ),
        (
            "a in (-b,-c)",
            format!(
                "unable to parse requirement: [values[0][a]: Invalid value: \"-b\": {VALUE_SYNTAX}, values[1][a]: Invalid value: \"-c\": {VALUE_SYNTAX}]"
            ),
        ),
        (&long_value_case, long_value_msg),
    ];
    for (input, want) in table {
        match Selector::parse(input) {
            Err(Error::Parse(got)) => assert_eq!(got, want, "{input:?}"),
            other => panic!("{input:?}: want a parse error, got {other:?}"),
        }
    }
}

/// The runtime's copy refused `a in ()`; upstream reads it as the set holding the empty
/// value (`labels.Parse` doc: `"x in (foo,,baz),y,z notin ()"` is valid).
#[test]
fn an_empty_value_set_holds_the_empty_value() {
    let s = parse("a in ()");
    assert!(s.matches(&labels(&[("a", "")])));
    assert!(!s.matches(&labels(&[("a", "x")])));
    assert!(!s.matches(&labels(&[])));
}

// ---------------------------------------------------------------------------------------
// metav1.LabelSelector

#[test]
fn a_nil_selector_matches_nothing_and_an_empty_one_everything() {
    // controllers/src/util/selector.rs and scheduler/src/labels.rs.
    let some = labels(&[("a", "b")]);
    let nothing = Selector::from_label_selector(None).unwrap();
    assert!(nothing.is_nothing());
    assert!(!nothing.is_empty());
    assert!(!nothing.matches(&some));
    assert!(!nothing.matches(&labels(&[])));
    assert_eq!(nothing.to_string(), "");
    for empty in [
        LabelSelector::default(),
        LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(Vec::new()),
        },
    ] {
        assert!(is_empty_label_selector(&empty));
        let all = Selector::from_label_selector(Some(&empty)).unwrap();
        assert!(all.is_empty(), "{empty:?}");
        assert!(!all.is_nothing());
        assert!(all.matches(&some));
        assert!(all.matches(&None::<&BTreeMap<String, String>>));
        assert_eq!(all.to_string(), "");
    }
    assert!(!is_empty_label_selector(&selector(&[("a", "b")], vec![])));
    assert!(!is_empty_label_selector(&selector(
        &[],
        vec![req("a", "Exists", &[])]
    )));
    assert_eq!(Selector::default(), Selector::everything());
}

#[test]
fn label_selectors_match_label_sets() {
    let web_b = &[("app", "web"), ("tier", "b")][..];
    let web_fe = &[("app", "web"), ("tier", "fe")][..];
    let combined = selector(
        &[("app", "web")],
        vec![
            req("tier", "In", &["fe", "be"]),
            req("canary", "DoesNotExist", &[]),
        ],
    );
    let every_op = selector(
        &[("app", "web")],
        vec![
            req("tier", "NotIn", &["db"]),
            req("env", "Exists", &[]),
            req("legacy", "DoesNotExist", &[]),
        ],
    );
    #[rustfmt::skip]
    let table: Vec<(LabelSelector, Pairs, bool)> = vec![
        // apiserver/src/selector.rs `label_selector_from_object`.
        (selector(&[("app", "web")], vec![req("tier", "In", &["a", "b"])]), web_b, true),
        (selector(&[("app", "web")], vec![req("tier", "In", &["a", "b"])]), &[("app", "web")], false),
        // controllers/src/util/selector.rs `labels_and_expressions_combine`.
        (combined.clone(), web_fe, true),
        (combined.clone(), &[("app", "web"), ("tier", "db")], false),
        (combined.clone(), &[("app", "web"), ("tier", "fe"), ("canary", "1")], false),
        (combined, &[("tier", "fe")], false),
        // scheduler/src/labels.rs `label_selector_operators`.
        (every_op.clone(), &[("app", "web"), ("env", "prod")], true),
        (every_op.clone(), &[("app", "web"), ("env", "prod"), ("tier", "db")], false),
        (every_op.clone(), &[("app", "web")], false),
        (every_op, &[("app", "web"), ("env", "x"), ("legacy", "1")], false),
        // apiserver/src/validation.rs `selector_matching`.
        (selector(&[("app", "web")], vec![]), web_fe, true),
        (selector(&[("app", "db")], vec![]), web_fe, false),
        (selector(&[], vec![req("tier", "In", &["fe", "be"])]), web_fe, true),
        (selector(&[], vec![req("x", "NotIn", &["a"])]), web_fe, true),
        (selector(&[], vec![req("app", "DoesNotExist", &[])]), web_fe, false),
        (selector(&[], vec![req("app", "Exists", &[])]), web_fe, true),
    ];
    for (sel, set, want) in table {
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert_eq!(s.matches(&labels(set)), want, "{sel:?} on {set:?}");
        assert!(!s.is_empty());
    }
}

#[test]
fn label_selectors_print_in_canonical_form() {
    // (selector, its String(), that string parsed and printed again: sets lose repeats)
    #[rustfmt::skip]
    let table: Vec<(LabelSelector, &str, &str)> = vec![
        // apiserver/src/selector.rs: `Scale.status.selector`.
        (selector(&[("app", "web")], vec![req("tier", "In", &["a", "b"])]), "app=web,tier in (a,b)", "app=web,tier in (a,b)"),
        // Sorted by key across matchLabels and matchExpressions; values sorted, not
        // de-duplicated (upstream keeps the values it is given).
        (selector(&[("z", "1")], vec![req("a", "Exists", &[])]), "a,z=1", "a,z=1"),
        (selector(&[], vec![req("x", "NotIn", &["b", "a"])]), "x notin (a,b)", "x notin (a,b)"),
        (selector(&[], vec![req("x", "In", &["a", "a"])]), "x in (a,a)", "x in (a)"),
        (selector(&[], vec![req("x", "DoesNotExist", &[])]), "!x", "!x"),
        (selector(&[("x", "1")], vec![req("x", "Exists", &[])]), "x=1,x", "x=1,x"),
    ];
    for (sel, want, reparsed) in table {
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert_eq!(s.to_string(), want, "{sel:?}");
        assert_eq!(parse(want).to_string(), reparsed);
    }
}

#[test]
fn malformed_label_selectors_are_rejected_with_upstreams_messages() {
    let empty_values = "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty";
    #[rustfmt::skip]
    let table: Vec<(LabelSelector, String)> = vec![
        // controllers/src/util/selector.rs `malformed_requirements_are_rejected`.
        (selector(&[], vec![req("a", "In", &[])]), empty_values.into()),
        (selector(&[], vec![req("a", "Exists", &["x"])]),
         "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist".into()),
        (selector(&[], vec![req("a", "Gt", &["1"])]), "\"Gt\" is not a valid label selector operator".into()),
        // runtime/src/ownership/tests.rs.
        (selector(&[], vec![req("app", "Near", &[])]), "\"Near\" is not a valid label selector operator".into()),
        // Operators are case-sensitive API values.
        (selector(&[], vec![req("a", "in", &["x"])]), "\"in\" is not a valid label selector operator".into()),
        (selector(&[], vec![req("a", "NotIn", &[])]), empty_values.into()),
        (selector(&[], vec![req("a", "DoesNotExist", &["x", "y"])]),
         "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists and does not exist".into()),
        // Keys and values are checked as `NewRequirement` checks them.
        (selector(&[("-a", "b")], vec![]), format!("key: Invalid value: \"-a\": {KEY_SYNTAX}")),
        (selector(&[("a", "b c")], vec![]), format!("values[0][a]: Invalid value: \"b c\": {VALUE_SYNTAX}")),
        (selector(&[], vec![req("a b", "In", &[])]),
         format!("[key: Invalid value: \"a b\": {KEY_SYNTAX}, {empty_values}]")),
    ];
    for (sel, want) in table {
        let err = Selector::from_label_selector(Some(&sel)).unwrap_err();
        assert_eq!(err.to_string(), want, "{sel:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Requirements and selectors built in code

#[test]
fn requirements_are_checked_as_new_requirement_checks_them() {
    let long_key = "a".repeat(254);
    #[rustfmt::skip]
    let table: Vec<(&str, Operator, &[&str], bool)> = vec![
        // upstream TestRequirementConstructor.
        ("x", Operator::In, &[], false),
        ("x", Operator::NotIn, &[], false),
        ("x", Operator::In, &["foo"], true),
        ("x", Operator::NotIn, &["foo"], true),
        ("x", Operator::Exists, &[], true),
        ("x", Operator::DoesNotExist, &[], true),
        ("1foo", Operator::In, &["bar"], true),
        ("1234", Operator::In, &["bar"], true),
        ("y", Operator::GreaterThan, &["1"], true),
        ("z", Operator::LessThan, &["6"], true),
        ("foo", Operator::GreaterThan, &["bar"], false),
        ("barz", Operator::LessThan, &["blah"], false),
        (&long_key, Operator::Exists, &[], false),
        // One value for exact matches, none for existence.
        ("x", Operator::Equals, &["a", "b"], false),
        ("x", Operator::NotEquals, &[], false),
        ("x", Operator::Exists, &["a"], false),
        ("x", Operator::GreaterThan, &["1", "2"], false),
    ];
    for (key, op, values, ok) in table {
        let values = values.iter().map(|v| v.to_string()).collect();
        let got = Requirement::new(key, op, values);
        assert_eq!(got.is_ok(), ok, "{key} {op:?}: {got:?}");
    }
    let err = Requirement::new("x", Operator::Equals, vec!["a".into(), "b".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "values: Invalid value: []string{\"a\", \"b\"}: exact-match compatibility requires one single value"
    );
    let err = Requirement::new(long_key.as_str(), Operator::Exists, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("key: Invalid value: \"{long_key}\": name part must be no more than 63 characters")
    );
}

#[test]
fn requirements_print_and_add_in_key_order() {
    let r = |k: &str, op, vs: &[&str]| {
        Requirement::new(k, op, vs.iter().map(|v| v.to_string()).collect()).unwrap()
    };
    // upstream TestToString.
    #[rustfmt::skip]
    let table: Vec<(Vec<Requirement>, &str)> = vec![
        (vec![r("x", Operator::In, &["abc", "def"]), r("y", Operator::NotIn, &["jkl"]), r("z", Operator::Exists, &[])],
         "x in (abc,def),y notin (jkl),z"),
        (vec![r("x", Operator::NotIn, &["abc", "def"]), r("y", Operator::NotEquals, &["jkl"]), r("z", Operator::DoesNotExist, &[])],
         "x notin (abc,def),y!=jkl,!z"),
        (vec![r("x", Operator::NotIn, &["abc"]), r("y", Operator::In, &["jkl", "mno"]), r("z", Operator::NotIn, &[""])],
         "x notin (abc),y in (jkl,mno),z notin ()"),
        (vec![r("x", Operator::Equals, &["abc"]), r("y", Operator::DoubleEquals, &["jkl"]), r("z", Operator::NotEquals, &["a"]), r("z", Operator::Exists, &[])],
         "x=abc,y==jkl,z!=a,z"),
        (vec![r("x", Operator::GreaterThan, &["2"]), r("y", Operator::LessThan, &["8"]), r("z", Operator::Exists, &[])],
         "x>2,y<8,z"),
        (vec![r("b", Operator::In, &["def", "abc"])], "b in (abc,def)"),
    ];
    for (reqs, want) in table {
        assert_eq!(Selector::from_requirements(reqs).to_string(), want);
    }
    // upstream TestAdd: requirements land in key order.
    let mut s = Selector::everything();
    s.add(r("key2", Operator::Equals, &["value2"]));
    s.add(r("key", Operator::In, &["value"]));
    assert_eq!(s.to_string(), "key in (value),key2=value2");
    let mut s = parse("b=1,d=2");
    s.add(r("c", Operator::Exists, &[]));
    s.add(r("b", Operator::Exists, &[]));
    assert_eq!(s.to_string(), "b=1,b,c,d=2");
    assert_eq!(s.requirements().map(<[Requirement]>::len), Some(4));
    // Nothing stays nothing.
    let mut nothing = Selector::nothing();
    nothing.add(r("a", Operator::Exists, &[]));
    assert!(nothing.is_nothing());
    assert_eq!(nothing.requirements(), None);
    assert!(!nothing.matches(&labels(&[("a", "b")])));
}

#[test]
fn a_label_set_selects_its_supersets() {
    // controllers/src/util/selector.rs `fully_labeled_means_every_template_label`, and
    // upstream TestSetMatches / TestSetIsEmpty.
    let template = labels(&[("app", "web"), ("v", "1")]);
    let fully = Selector::from_set(&template);
    for (set, want) in [
        (&[("app", "web"), ("v", "1"), ("x", "y")][..], true),
        (&[("app", "web")], false),
        (&[("app", "web"), ("v", "2")], false),
    ] {
        assert_eq!(fully.matches(&labels(set)), want, "{set:?}");
        assert_eq!(set_matches(&template, &labels(set)), want, "{set:?}");
    }
    assert_eq!(fully.to_string(), "app=web,v=1");
    assert!(set_matches(
        &BTreeMap::<String, String>::new(),
        &None::<&BTreeMap<String, String>>
    ));
    let none = Selector::from_set(BTreeMap::<String, String>::new());
    assert!(none.is_empty());
    assert!(none.matches(&None::<&BTreeMap<String, String>>));
    let foo_baz = labels(&[("foo", "bar"), ("baz", "blah")]);
    for set in [
        &[][..],
        &[("foo", "bar")],
        &[("baz", "blah")],
        &[("foo", "bar"), ("baz", "blah")],
    ] {
        assert!(
            set.iter().copied().collect::<Selector>().matches(&foo_baz),
            "{set:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// What a selector matches against

#[test]
fn every_kind_of_label_set_is_matched_alike() {
    let s = parse("app=web,!legacy,tier in (fe)");
    let map = labels(&[("app", "web"), ("tier", "fe")]);
    let hash: HashMap<String, String> = map.clone().into_iter().collect();
    let pairs: Vec<(String, String)> = map.clone().into_iter().collect();
    let strs = [("app", "web"), ("tier", "fe")];
    assert!(s.matches(&map));
    assert!(s.matches(&hash));
    assert!(s.matches(&pairs));
    assert!(s.matches(pairs.as_slice()));
    assert!(s.matches(&strs));
    assert!(s.matches(&Some(&map)));
    assert!(!s.matches(&None::<&BTreeMap<String, String>>));
    assert!(parse("!app").matches(&None::<&BTreeMap<String, String>>));
    assert_eq!(Labels::lookup(&strs[..], "tier"), Some("fe"));
    assert_eq!(Labels::lookup(&map, "nope"), None);
}

#[test]
fn operators_decide_on_one_value() {
    // The requirement semantics node selectors share (scheduler/src/labels.rs):
    // `Gt`/`Lt` want exactly one integer bound and an integer label.
    #[rustfmt::skip]
    let table: &[(Operator, &[&str], Option<&str>, bool)] = &[
        (Operator::GreaterThan, &["3"], Some("4"), true),
        (Operator::GreaterThan, &["4"], Some("4"), false),
        (Operator::LessThan, &["5"], Some("4"), true),
        (Operator::LessThan, &["5"], Some("a"), false),
        (Operator::GreaterThan, &["x"], Some("4"), false),
        (Operator::GreaterThan, &["1", "2"], Some("4"), false),
        (Operator::GreaterThan, &["1"], None, false),
        (Operator::In, &["a", "b"], Some("a"), true),
        (Operator::In, &["a", "b"], None, false),
        (Operator::NotIn, &["a"], None, true),
        (Operator::NotIn, &["a"], Some("a"), false),
        (Operator::Equals, &["a"], Some("a"), true),
        (Operator::NotEquals, &["a"], Some("b"), true),
        (Operator::Exists, &[], Some(""), true),
        (Operator::Exists, &[], None, false),
        (Operator::DoesNotExist, &[], None, true),
        (Operator::DoesNotExist, &[], Some("a"), false),
    ];
    for (op, values, value, want) in table {
        assert_eq!(
            op.matches(values, *value),
            *want,
            "{op:?} {values:?} {value:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Validation for the API server

#[test]
fn label_selectors_are_validated_as_the_api_server_validates_them() {
    let p = "spec.selector.matchExpressions[0]";
    #[rustfmt::skip]
    let table: Vec<(LabelSelector, Vec<String>)> = vec![
        (selector(&[("app", "web")], vec![req("tier", "In", &["a"]), req("x", "Exists", &[])]), vec![]),
        // apiserver/src/validation.rs (the DaemonSet case).
        (selector(&[], vec![req("app", "In", &[])]),
         vec![format!("{p}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
        (selector(&[], vec![req("app", "NotIn", &[])]),
         vec![format!("{p}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
        (selector(&[], vec![req("app", "Exists", &["x"])]),
         vec![format!("{p}.values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]),
        (selector(&[], vec![req("app", "Gt", &["1"])]),
         vec![format!("{p}.operator: Invalid value: \"Gt\": not a valid selector operator")]),
        (selector(&[], vec![req("", "Exists", &[])]),
         vec![format!("{p}.key: Invalid value: \"\": name part must be non-empty"),
              format!("{p}.key: Invalid value: \"\": {KEY_SYNTAX}")]),
        (selector(&[], vec![req("a", "In", &["ok", "b c"])]),
         vec![format!("{p}.values[1]: Invalid value: \"b c\": {VALUE_SYNTAX}")]),
        // matchLabels first, then each expression.
        (selector(&[("a/b/c", "x y")], vec![req("k", "Bogus", &[])]),
         vec![format!("spec.selector.matchLabels: Invalid value: \"a/b/c\": {KEY_SLASHES}"),
              format!("spec.selector.matchLabels: Invalid value: \"x y\": {VALUE_SYNTAX}"),
              format!("{p}.operator: Invalid value: \"Bogus\": not a valid selector operator")]),
    ];
    for (sel, want) in table {
        let got: Vec<String> = validate_label_selector(&sel, "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "{sel:?}");
    }
    let got: Vec<String> = validate_labels([("-k", "v"), ("k", "-v")], "metadata.labels")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            format!("metadata.labels: Invalid value: \"-k\": {KEY_SYNTAX}"),
            format!("metadata.labels: Invalid value: \"-v\": {VALUE_SYNTAX}"),
        ]
    );
}

#[test]
fn label_keys_and_values_follow_upstreams_syntax() {
    let long63 = "a".repeat(63);
    let long64 = "a".repeat(64);
    let prefix254 = format!("{}/a", "a".repeat(254));
    let long_name = format!("example.com/{long64}");
    #[rustfmt::skip]
    let keys: Vec<(&str, Vec<String>)> = vec![
        ("a", vec![]),
        ("A.b-c_d", vec![]),
        ("example.com/MyName", vec![]),
        (&long63, vec![]),
        (&long64, vec!["name part must be no more than 63 characters".into()]),
        (&long_name, vec!["name part must be no more than 63 characters".into()]),
        ("/a", vec!["prefix part must be non-empty".into()]),
        ("a/", vec!["name part must be non-empty".into(), KEY_SYNTAX.into()]),
        ("a/b/c", vec![KEY_SLASHES.into()]),
        ("-a", vec![KEY_SYNTAX.into()]),
        ("a_", vec![KEY_SYNTAX.into()]),
        ("Example.com/a", vec![format!("prefix part {SUBDOMAIN_SYNTAX}")]),
        (&prefix254, vec!["prefix part must be no more than 253 characters".into()]),
    ];
    for (key, want) in keys {
        assert_eq!(is_qualified_name(key), want, "{key:?}");
    }
    let value_max = "must be no more than 63 characters";
    #[rustfmt::skip]
    let values: Vec<(&str, Vec<String>)> = vec![
        ("", vec![]),
        ("MyValue", vec![]),
        ("my_value.1-2", vec![]),
        (&long63, vec![]),
        (&long64, vec![value_max.into()]),
        ("-a", vec![VALUE_SYNTAX.into()]),
        ("a b", vec![VALUE_SYNTAX.into()]),
        ("a/b", vec![VALUE_SYNTAX.into()]),
    ];
    for (value, want) in values {
        assert_eq!(is_valid_label_value(value), want, "{value:?}");
    }
    assert!(is_dns1123_subdomain("example.com").is_empty());
    assert_eq!(is_dns1123_subdomain("a..b"), [SUBDOMAIN_SYNTAX]);
    assert_eq!(is_dns1123_subdomain("a-.b"), [SUBDOMAIN_SYNTAX]);
    assert!(is_dns1123_label("my-name").is_empty());
    assert_eq!(is_dns1123_label("my.name").len(), 1);
    assert_eq!(is_dns1123_label(&long64)[0], value_max);
}
