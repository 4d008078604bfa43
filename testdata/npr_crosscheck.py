#!/usr/bin/env python3
"""Independent cross-check of EIP-8025 NewPayloadRequest SSZ test vectors.

Written for slotproof's test vectors. It uses only the Python 3 standard
library and shares no code with the Rust implementation. The checks are built
from the consensus-specs SSZ rules (mainnet preset):

  1. decode the SSZ bytes strictly: fixed parts, offsets, list bounds, no
     trailing bytes
  2. compare every decoded payload field with the block JSON
     (eth_getBlockByNumber(n, true)); also check each transaction's first
     byte against its JSON "type" and its keccak256 against its JSON "hash"
  3. compute hash_tree_root with its own merkleization (sha256, zero-hash
     padding from precomputed zero hashes per depth)

The encoding has no selector byte: it is the container of one fork variant.

Usage (run from the repository root):
  python3 testdata/npr_crosscheck.py --fork deneb --ssz /tmp/npr-19900000.ssz \
      --block testdata/blocks/19900000.json
  python3 testdata/npr_crosscheck.py --all /tmp 16000000:bellatrix 18000000:capella
      (reads DIR/npr-<n>.ssz and testdata/blocks/<n>.json for each N:FORK)

Prints "<number> <fork> <root 0x...>" for each block. Exits 1 if any check
fails.
"""
import argparse
import hashlib
import json
import os
import sys


class SSZError(Exception):
    pass


def sha(b):
    return hashlib.sha256(b).digest()


ZERO = [b"\x00" * 32]
for _ in range(64):
    ZERO.append(sha(ZERO[-1] + ZERO[-1]))


def merkleize(chunks, limit=None):
    """Merkle root of the chunks, padded with zero chunks to next_pow2(limit)."""
    limit = len(chunks) if limit is None else limit
    if len(chunks) > limit:
        raise SSZError("more chunks than the limit")
    depth = max(limit - 1, 0).bit_length()
    if not chunks:
        return ZERO[depth]
    layer = list(chunks)
    for d in range(depth):
        if len(layer) % 2:
            layer.append(ZERO[d])
        layer = [sha(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def mix_in_length(root, n):
    return sha(root + n.to_bytes(32, "little"))


def pack(b):
    if len(b) % 32:
        b = b + b"\x00" * (32 - len(b) % 32)
    return [b[i:i + 32] for i in range(0, len(b), 32)]


# --- SSZ types: each has .size (None when variable), decode(bytes), root(value)

class UInt:
    def __init__(self, bits):
        self.size = bits // 8

    def decode(self, b):
        if len(b) != self.size:
            raise SSZError("bad uint length")
        return int.from_bytes(b, "little")

    def root(self, v):
        return v.to_bytes(self.size, "little").ljust(32, b"\x00")


class ByteVector:
    def __init__(self, n):
        self.size = n

    def decode(self, b):
        if len(b) != self.size:
            raise SSZError("bad ByteVector length")
        return bytes(b)

    def root(self, v):
        return merkleize(pack(v))


class ByteList:
    size = None

    def __init__(self, limit):
        self.limit = limit

    def decode(self, b):
        if len(b) > self.limit:
            raise SSZError("ByteList over its limit")
        return bytes(b)

    def root(self, v):
        return mix_in_length(merkleize(pack(v), (self.limit + 31) // 32), len(v))


class List:
    size = None

    def __init__(self, elem, limit):
        self.elem, self.limit = elem, limit

    def decode(self, b):
        es = self.elem.size
        if es is not None:
            if len(b) % es:
                raise SSZError("list length not a multiple of the element size")
            items = [b[i:i + es] for i in range(0, len(b), es)]
        elif not b:
            items = []
        else:
            if len(b) < 4:
                raise SSZError("truncated list offset")
            first = int.from_bytes(b[:4], "little")
            if first % 4 or first == 0 or first > len(b):
                raise SSZError("bad first offset in list")
            offs = [int.from_bytes(b[i:i + 4], "little") for i in range(0, first, 4)]
            offs.append(len(b))
            if any(offs[i] > offs[i + 1] for i in range(len(offs) - 1)):
                raise SSZError("list offsets not non-decreasing / out of range")
            items = [b[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]
        if len(items) > self.limit:
            raise SSZError("list over its limit")
        return [self.elem.decode(x) for x in items]

    def root(self, v):
        roots = [self.elem.root(x) for x in v]
        return mix_in_length(merkleize(roots, self.limit), len(v))


class Container:
    def __init__(self, *fields):
        self.fields = fields
        sizes = [t.size for _, t in fields]
        self.size = None if None in sizes else sum(sizes)
        self.fixed = sum(4 if s is None else s for s in sizes)

    def decode(self, b):
        if len(b) < self.fixed:
            raise SSZError("container shorter than its fixed part")
        pos, fixed, offs = 0, {}, []
        for name, t in self.fields:
            if t.size is None:
                offs.append((name, int.from_bytes(b[pos:pos + 4], "little")))
                pos += 4
            else:
                fixed[name] = b[pos:pos + t.size]
                pos += t.size
        if not offs and len(b) != self.fixed:
            raise SSZError("trailing bytes after fixed-size container")
        if offs and offs[0][1] != self.fixed:
            raise SSZError("first offset %d != fixed size %d" % (offs[0][1], self.fixed))
        ends = [o for _, o in offs[1:]] + [len(b)]
        for (name, start), end in zip(offs, ends):
            if start > end or end > len(b):
                raise SSZError("bad offset for " + name)
            fixed[name] = b[start:end]
        return {name: t.decode(fixed[name]) for name, t in self.fields}

    def root(self, v):
        return merkleize([t.root(v[name]) for name, t in self.fields])


U64, U256 = UInt(64), UInt(256)
B20, B32, B48, B96 = ByteVector(20), ByteVector(32), ByteVector(48), ByteVector(96)

BELLATRIX_FIELDS = [
    ("parent_hash", B32), ("fee_recipient", B20), ("state_root", B32),
    ("receipts_root", B32), ("logs_bloom", ByteVector(256)), ("prev_randao", B32),
    ("block_number", U64), ("gas_limit", U64), ("gas_used", U64),
    ("timestamp", U64), ("extra_data", ByteList(32)), ("base_fee_per_gas", U256),
    ("block_hash", B32), ("transactions", List(ByteList(2**30), 2**20)),
]
WITHDRAWAL = Container(("index", U64), ("validator_index", U64), ("address", B20), ("amount", U64))
CAPELLA_FIELDS = BELLATRIX_FIELDS + [("withdrawals", List(WITHDRAWAL, 16))]
DENEB_FIELDS = CAPELLA_FIELDS + [("blob_gas_used", U64), ("excess_blob_gas", U64)]
DENEB_TAIL = [("versioned_hashes", List(B32, 4096)), ("parent_beacon_block_root", B32)]
EXECUTION_REQUESTS = Container(
    ("deposits", List(Container(("pubkey", B48), ("withdrawal_credentials", B32),
                                ("amount", U64), ("signature", B96), ("index", U64)), 8192)),
    ("withdrawals", List(Container(("source_address", B20), ("validator_pubkey", B48),
                                   ("amount", U64)), 16)),
    ("consolidations", List(Container(("source_address", B20), ("source_pubkey", B48),
                                      ("target_pubkey", B48)), 2)),
)
REQUESTS = {
    "bellatrix": Container(("execution_payload", Container(*BELLATRIX_FIELDS))),
    "capella": Container(("execution_payload", Container(*CAPELLA_FIELDS))),
    "deneb": Container(("execution_payload", Container(*DENEB_FIELDS)), *DENEB_TAIL),
    "electra": Container(("execution_payload", Container(*DENEB_FIELDS)), *DENEB_TAIL,
                         ("execution_requests", EXECUTION_REQUESTS)),
}


# --- keccak256 (Ethereum's, not NIST SHA3), used only to check transaction hashes

def _keccak_tables():
    rot, (x, y) = [[0] * 5 for _ in range(5)], (1, 0)
    for t in range(24):
        rot[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    rc, r = [], 1
    for _ in range(24):
        c = 0
        for j in range(7):
            if r & 1:
                c |= 1 << ((1 << j) - 1)
            r = ((r << 1) ^ 0x71) & 0xFF if r & 0x80 else r << 1
        rc.append(c)
    return rot, rc


ROT, RC = _keccak_tables()
M64 = (1 << 64) - 1


def _keccak_f(s):
    for rnd in range(24):
        c = [s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & M64) for x in range(5)]
        s = [s[i] ^ d[i % 5] for i in range(25)]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                v, n = s[x + 5 * y], ROT[x][y]
                b[y + 5 * ((2 * x + 3 * y) % 5)] = ((v << n) | (v >> (64 - n))) & M64 if n else v
        s = [b[i] ^ (~b[(i + 1) % 5 + i - i % 5] & b[(i + 2) % 5 + i - i % 5]) for i in range(25)]
        s[0] ^= RC[rnd]
    return s


def keccak256(data):
    rate = 136
    p = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    p[-1] |= 0x80
    s = [0] * 25
    for off in range(0, len(p), rate):
        for i in range(rate // 8):
            s[i] ^= int.from_bytes(p[off + 8 * i:off + 8 * i + 8], "little")
        s = _keccak_f(s)
    return b"".join(x.to_bytes(8, "little") for x in s[:4])


assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


# --- comparison with the block JSON

def hx(s):
    s = s[2:] if s.startswith("0x") else s
    return bytes.fromhex(s)


def qty(s):
    return int(s, 16)


def check(fork, ssz, block):
    """Returns (root, list of problems)."""
    req = REQUESTS[fork].decode(ssz)  # raises SSZError on malformed input
    p, bad = req["execution_payload"], []

    def eq(what, got, want):
        if got != want:
            bad.append("%s: ssz %r != json %r" % (what, got, want))

    for f, k in [("parent_hash", "parentHash"), ("fee_recipient", "miner"),
                 ("state_root", "stateRoot"), ("receipts_root", "receiptsRoot"),
                 ("logs_bloom", "logsBloom"), ("prev_randao", "mixHash"),
                 ("extra_data", "extraData"), ("block_hash", "hash")]:
        eq(f, p[f].hex(), hx(block[k]).hex())
    for f, k in [("block_number", "number"), ("gas_limit", "gasLimit"), ("gas_used", "gasUsed"),
                 ("timestamp", "timestamp"), ("base_fee_per_gas", "baseFeePerGas")]:
        eq(f, p[f], qty(block[k]))
    txs, jtxs = p["transactions"], block["transactions"]
    eq("transaction count", len(txs), len(jtxs))
    for i, (raw, jt) in enumerate(zip(txs, jtxs)):
        t = qty(jt["type"])
        if not raw or (raw[0] != t if t else raw[0] < 0xC0):
            bad.append("tx %d: first byte does not match type %s" % (i, jt["type"]))
        eq("tx %d hash" % i, "0x" + keccak256(raw).hex(), jt["hash"].lower())
    if fork != "bellatrix":
        jw = block["withdrawals"]
        eq("withdrawal count", len(p["withdrawals"]), len(jw))
        for i, (w, j) in enumerate(zip(p["withdrawals"], jw)):
            eq("withdrawal %d" % i, (w["index"], w["validator_index"], w["address"].hex(), w["amount"]),
               (qty(j["index"]), qty(j["validatorIndex"]), hx(j["address"]).hex(), qty(j["amount"])))
    if fork in ("deneb", "electra"):
        eq("blob_gas_used", p["blob_gas_used"], qty(block["blobGasUsed"]))
        eq("excess_blob_gas", p["excess_blob_gas"], qty(block["excessBlobGas"]))
        eq("parent_beacon_block_root", req["parent_beacon_block_root"].hex(),
           hx(block["parentBeaconBlockRoot"]).hex())
        want = [hx(h).hex() for t in jtxs if qty(t["type"]) == 3 for h in t["blobVersionedHashes"]]
        eq("versioned_hashes", [h.hex() for h in req["versioned_hashes"]], want)
    # execution_requests (electra) are decoded and hashed but not compared:
    # the block JSON only carries requestsHash.
    return REQUESTS[fork].root(req), bad


def run_one(fork, ssz_path, block_path):
    with open(ssz_path, "rb") as f:
        ssz = f.read()
    with open(block_path) as f:
        block = json.load(f)
    block = block.get("result", block)
    number = qty(block["number"])
    try:
        root, bad = check(fork, ssz, block)
    except SSZError as e:
        print("%d %s FAIL: bad SSZ: %s" % (number, fork, e))
        return False
    for b in bad:
        print("%d %s FAIL: %s" % (number, fork, b))
    print("%d %s 0x%s" % (number, fork, root.hex()))
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fork", choices=sorted(REQUESTS))
    ap.add_argument("--ssz")
    ap.add_argument("--block")
    ap.add_argument("--all", metavar="DIR", help="read DIR/npr-<n>.ssz for each N:FORK")
    ap.add_argument("--blocks", default="testdata/blocks", help="block JSON folder (with --all)")
    ap.add_argument("pairs", nargs="*", metavar="N:FORK")
    a = ap.parse_args()
    ok = True
    if a.all:
        if not a.pairs:
            ap.error("--all needs at least one N:FORK")
        for pair in a.pairs:
            n, _, fork = pair.partition(":")
            if fork not in REQUESTS:
                ap.error("unknown fork in %r" % pair)
            ok &= run_one(fork, os.path.join(a.all, "npr-%s.ssz" % n),
                          os.path.join(a.blocks, "%s.json" % n))
    elif a.fork and a.ssz and a.block and not a.pairs:
        ok = run_one(a.fork, a.ssz, a.block)
    else:
        ap.error("give --fork, --ssz and --block, or --all DIR N:FORK ...")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
