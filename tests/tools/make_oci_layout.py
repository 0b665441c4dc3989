#!/usr/bin/env python3
"""Writes an OCI image layout with small generated images, for tests and benchmarks.

usage: make_oci_layout.py DIR [--layers N] [--layer-size BYTES] [--tag TAG]
                              [--index] [--busybox PATH]

Each image has a config and N gzip'd tar layers of random bytes (the first layer holds
busybox when --busybox is given, so `docker run` works). With --index the tag points at
an OCI index of two images (linux/amd64 and linux/arm64).
"""
import argparse, gzip, hashlib, io, json, os, random, tarfile, time


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest, len(data)


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def image(layout, args, arch, rng):
    layers, diff_ids = [], []
    for i in range(args.layers):
        if i == 0 and args.busybox:
            with open(args.busybox, "rb") as f:
                files = [("bin/busybox", f.read(), 0o755)]
        else:
            files = [(f"data/{arch}-{i}.bin", rng.randbytes(args.layer_size), 0o644)]
        gz, diff_id = layer(files)
        d, size = blob(layout, gz)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size})
        diff_ids.append(diff_id)
    config = {
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "echo", "hello from registry-setup"]} if args.busybox else {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(0)),
    }
    cd, cs = blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": layers,
    }
    md, ms = blob(layout, json.dumps(manifest, sort_keys=True).encode())
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "platform": {"architecture": arch, "os": "linux"}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--layer-size", type=int, default=4096)
    p.add_argument("--tag", default="latest")
    p.add_argument("--index", action="store_true")
    p.add_argument("--busybox")
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(args.dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if args.index:
        children = [image(args.dir, args, a, rng) for a in ("amd64", "arm64")]
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}
        d, s = blob(args.dir, json.dumps(idx, sort_keys=True).encode())
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s}
    else:
        top = image(args.dir, args, "amd64", rng)
        top.pop("platform")
    top["annotations"] = {"org.opencontainers.image.ref.name": args.tag}
    index_path = os.path.join(args.dir, "index.json")
    existing = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            existing = json.load(f)
    existing["manifests"] = [m for m in existing["manifests"]
                             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != args.tag]
    existing["manifests"].append(top)
    with open(index_path, "w") as f:
        json.dump(existing, f)
    print(top["digest"])


if __name__ == "__main__":
    main()
