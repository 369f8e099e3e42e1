//! `discovery.k8s.io/v1` and `coordination.k8s.io/v1` tables (EndpointSlices, Leases).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::json::{array_at, at, str_at};
use crate::kinds::PrinterColumn;
use crate::kinds::descriptor::TablePrinter;

use super::columns::{age_column, col, name, name_column, obj_age};
use super::format::list_with_more;

pub(super) fn slice_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        col(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        col(
            "Endpoints",
            "string",
            "endpoints is a list of unique endpoints in this slice.",
        ),
        age_column(),
    ]
}

pub(super) fn slice_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let max = 3;
    let ports = array_at(o, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .take(max)
        .map(|p| match at(p, &["port"]).as_i64() {
            Some(num) => num.to_string(),
            None => match at(p, &["name"]).as_str() {
                Some(nm) => nm.to_string(),
                None => "*".into(),
            },
        })
        .collect();
    let addresses: Vec<&str> = array_at(o, &["endpoints"])
        .iter()
        .flat_map(|e| {
            array_at(e, &["addresses"])
                .iter()
                .filter_map(|a| a.as_str())
        })
        .collect();
    let addr_list: Vec<String> = addresses.iter().take(max).map(|a| a.to_string()).collect();
    vec![
        name(o),
        json!(str_at(o, &["addressType"])),
        json!(list_with_more(port_list, ports.len(), max)),
        json!(list_with_more(addr_list, addresses.len(), max)),
        obj_age(o, now),
    ]
}

pub(super) fn lease_columns() -> Vec<PrinterColumn> {
    vec![
        name_column(),
        col(
            "Holder",
            "string",
            "holderIdentity contains the identity of the holder of a current lease.",
        ),
        age_column(),
    ]
}

pub(super) fn lease_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(o),
        json!(str_at(o, &["spec", "holderIdentity"])),
        obj_age(o, now),
    ]
}

/// `kubectl get endpointslices`.
pub(crate) const ENDPOINT_SLICE: TablePrinter = TablePrinter {
    columns: slice_columns,
    cells: slice_cells,
    row_conditions: None,
};

/// `kubectl get leases`.
pub(crate) const LEASE: TablePrinter = TablePrinter {
    columns: lease_columns,
    cells: lease_cells,
    row_conditions: None,
};
