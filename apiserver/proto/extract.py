#!/usr/bin/env python3
"""Regenerates the vendored Kubernetes .proto files under apiserver/proto/.

Every Go program that links k8s.io/api registers each group-version's compiled
`generated.proto` as a gzip-compressed FileDescriptorProto. This script finds those in
Go binaries (e.g. kubectl 1.33, then Helm for apiextensions-apiserver, which kubectl does
not link: `extract.py /usr/lib/google-cloud-sdk/bin/kubectl.1.33 ~/.local/bin/helm`; a
file is taken from the first binary that has it), keeps the files the API server decodes
or writes (and their imports), and renders each as proto2
text: the upstream IDL without its comments, plus go-to-protobuf's
`(gogoproto.nullable) = false` on fields Go holds by value (the one gogo option the
decoder needs: it tells a pointer field, where zero is a value, from a value field,
where zero means unset). Standard library only, so it runs anywhere Python 3 does.
"""
import os
import re
import sys
import zlib

# Group-versions whose kinds the server serves (plus autoscaling/v1 for Scale and
# authentication/v1 for TokenRequest), then those only `src/wire` reads, for the key
# order of the JSON it writes (CRDs and aggregated discovery).
WANTED = [
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/authentication/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/batch/v1/generated.proto",
    "k8s.io/api/certificates/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/events/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/api/rbac/v1/generated.proto",
    "k8s.io/api/scheduling/v1/generated.proto",
    "k8s.io/api/storage/v1/generated.proto",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto",
    "k8s.io/api/apidiscovery/v2/generated.proto",
    "k8s.io/api/apidiscovery/v2beta1/generated.proto",
]
GOGO = "github.com/gogo/protobuf/gogoproto/gogo.proto"
NULLABLE = 65001

SCALARS = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64",
    7: "fixed32", 8: "bool", 9: "string", 12: "bytes", 13: "uint32",
    15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}
LABELS = {1: "optional", 2: "required", 3: "repeated"}


def varint(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {w}")
        yield f, v


def group(b):
    d = {}
    for f, v in fields(b):
        d.setdefault(f, []).append(v)
    return d


def one(d, f, default=None):
    return d.get(f, [default])[0]


def descriptors(binary):
    """name -> FileDescriptorProto bytes, for every gzip stream that holds one."""
    data = open(binary, "rb").read()
    out = {}
    for m in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", data):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[m.start():m.start() + (4 << 20)])
        except zlib.error:
            continue
        if len(raw) > 2 and raw[0] == 0x0A:
            try:
                name = one(group(raw), 1).decode()
            except (ValueError, IndexError, UnicodeDecodeError):
                continue
            if name.endswith(".proto"):
                out[name] = raw
    return out


def render_message(msg, indent, maps):
    d = group(msg)
    name = one(d, 1).decode()
    pad = "  " * indent
    lines = [f"{pad}message {name} {{"]
    nested = {}
    for n in d.get(3, []):
        nd = group(n)
        opts = group(one(nd, 7, b""))
        if one(opts, 7, 0):  # map_entry
            nested[one(nd, 1).decode()] = nd
        else:
            lines += render_message(n, indent + 1, maps)
    for fb in d.get(2, []):
        f = group(fb)
        fname = one(f, 1).decode()
        number = one(f, 3)
        label = one(f, 4, 1)
        typ = one(f, 5)
        type_name = one(f, 6, b"").decode()
        opts = dict(fields(one(f, 8, b"")))
        entry = nested.get(type_name.rsplit(".", 1)[-1]) if typ == 11 else None
        if entry is not None and label == 3:
            kv = {one(group(x), 1).decode(): group(x) for x in entry[2]}
            key, val = kv["key"], kv["value"]
            ktype = SCALARS[one(key, 5)]
            vtype = SCALARS.get(one(val, 5)) or one(val, 6).decode()
            decl = f"map<{ktype}, {vtype}> {fname} = {number}"
        else:
            t = SCALARS.get(typ) or type_name
            decl = f"{LABELS[label]} {t} {fname} = {number}"
        if opts.get(NULLABLE) == 0:
            decl += " [(gogoproto.nullable) = false]"
        lines.append(f"{pad}  {decl};")
    lines.append(f"{pad}}}")
    lines.append("")
    return lines


def render(fd):
    d = group(fd)
    name = one(d, 1).decode()
    lines = [
        f"// {name}, rendered by apiserver/proto/extract.py from the compiled descriptor.",
        "// Upstream: Kubernetes (Apache-2.0). Do not edit; regenerate.",
        "",
        'syntax = "proto2";',
        "",
        f"package {one(d, 2).decode()};",
        "",
    ]
    deps = [x.decode() for x in d.get(3, [])]
    for dep in deps:
        lines.append(f'import "{dep}";')
    lines.append("")
    go_package = one(group(one(d, 8, b"")), 11)
    if go_package:
        lines += [f'option go_package = "{go_package.decode()}";', ""]
    for m in d.get(4, []):
        lines += render_message(m, 0, {})
    if d.get(5):
        raise ValueError(f"{name}: enums are not rendered")
    return name, deps, "\n".join(lines).rstrip() + "\n"


def main():
    binaries = sys.argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    found = {}
    for binary in binaries:
        for name, raw in descriptors(binary).items():
            found.setdefault(name, raw)
    todo, done = list(WANTED), set()
    while todo:
        name = todo.pop()
        if name in done or name == GOGO:
            continue
        done.add(name)
        if name not in found:
            sys.exit(f"{name} is in none of {binaries}")
        _, deps, text = render(found[name])
        todo += deps
        path = os.path.join(here, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        print(path)


if __name__ == "__main__":
    main()
