//! `/openapi/v2`: the minimal protobuf document old kubectl versions insist on.

/// The content type `/openapi/v2` answers with (what kube-apiserver sends for the
/// protobuf document; Go's MIME parser rejects the `@` form clients ask for).
pub const OPENAPI_V2_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` (and `/swagger-2.0.0.pb-v1`): a protobuf `openapi_v2.Document` (gnostic)
/// with `swagger: "2.0"`, `info` and no definitions. kubectl 1.27 and 1.28 download it
/// before every `create`/`apply`/`explain` and fail without it; with no definitions they
/// use the v3 documents for field validation and explain, and their compiled-in patch
/// metadata for client-side apply, which is what they should use.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, b"v1.33.0");
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    field(&mut doc, 8, &[]);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_v2_is_a_minimal_gnostic_document() {
        // Decode the protobuf by hand: (tag, bytes) pairs of length-delimited fields.
        fn fields(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
            let mut out = Vec::new();
            while !b.is_empty() {
                let tag = b[0];
                let len = b[1] as usize;
                out.push((tag, b[2..2 + len].to_vec()));
                b = &b[2 + len..];
            }
            out
        }
        let doc = fields(&openapi_v2_protobuf());
        assert_eq!(doc[0], (0x0a, b"2.0".to_vec()));
        assert_eq!(doc[1].0, 0x12);
        assert_eq!(
            fields(&doc[1].1),
            [(0x0a, b"Kubernetes".to_vec()), (0x12, b"v1.33.0".to_vec())]
        );
        assert_eq!(doc[2], (0x42, vec![]));
        assert!(!OPENAPI_V2_CONTENT_TYPE.contains('@'));
    }
}
