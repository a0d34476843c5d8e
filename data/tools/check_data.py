#!/usr/bin/env python3
"""Sanity checks for the sevtriage data files (standard library only).

    python data/tools/check_data.py

Checks: every line parses, required fields present with valid values, label
distribution per split and language, no core-statement (concept) overlap
between train and test, sample has >= 12 tickets per severity.
"""
import collections
import json
import os
import re
import sys

DATA = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = ["id", "subject", "body", "language", "plan", "created_at", "timezone", "country", "channel",
          "requester", "label"]
ISO = re.compile(r"^2026-11-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ZONE_COUNTRY = {"America/Mexico_City": "MX", "Europe/Madrid": "ES", "America/Bogota": "CO",
                "America/Santiago": "CL", "America/Lima": "PE", "America/Argentina/Buenos_Aires": "AR",
                "America/New_York": "US", "Europe/London": "GB", "Asia/Kolkata": "IN",
                "America/Los_Angeles": "US", "Asia/Singapore": "SG", "Europe/Dublin": "IE",
                "America/Toronto": "CA"}


def load(name):
    rows = []
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            d = json.loads(line)
            missing = [k for k in FIELDS if k not in d]
            assert not missing, (name, i, missing)
            assert d["label"] in ("P1", "P2", "P3", "P4"), (name, i)
            assert d["language"] in ("es", "en"), (name, i)
            assert d["plan"] in ("business_plus", "pro"), (name, i)
            assert d["channel"] in ("email", "widget", "api"), (name, i)
            assert ISO.match(d["created_at"]), (name, i, d["created_at"])
            assert ZONE_COUNTRY[d["timezone"]] == d["country"], (name, i)
            assert "@" in d["requester"] and d["body"].strip() and d["subject"].strip(), (name, i)
            rows.append(d)
    ids = [d["id"] for d in rows]
    assert len(ids) == len(set(ids)), name + ": duplicate ids"
    return rows


def report(name, rows):
    n = len(rows)
    lab = collections.Counter(d["label"] for d in rows)
    print("%-22s n=%d  %s" % (name, n, "  ".join("%s=%d (%.0f%%)" % (k, lab[k], 100.0 * lab[k] / n)
                                                    for k in sorted(lab))))
    for lang in ("en", "es"):
        sub = collections.Counter(d["label"] for d in rows if d["language"] == lang)
        print("%-22s   %s: %d  %s" % ("", lang, sum(sub.values()), " ".join("%s=%d" % (k, sub[k])
                                                                         for k in sorted(sub))))
    lens = sorted(len(d["body"]) for d in rows)
    print("%-22s   body chars min/median/max = %d/%d/%d" % ("", lens[0], lens[len(lens) // 2], lens[-1]))


def main():
    ok = True
    sample = load("sample-tickets.jsonl")
    report("sample-tickets.jsonl", sample)
    c = collections.Counter(d["label"] for d in sample)
    if len(sample) != 60 or min(c[k] for k in ("P1", "P2", "P3", "P4")) < 12:
        print("FAIL: sample must have 60 tickets and >= 12 per severity")
        ok = False
    train, test = load("train.jsonl"), load("test.jsonl")
    report("train.jsonl", train)
    report("test.jsonl", test)
    mtr = [json.loads(l) for l in open(os.path.join(DATA, "train.meta.jsonl"), encoding="utf-8")]
    mte = [json.loads(l) for l in open(os.path.join(DATA, "test.meta.jsonl"), encoding="utf-8")]
    assert [m["id"] for m in mtr] == [d["id"] for d in train]
    assert [m["id"] for m in mte] == [d["id"] for d in test]
    ctr, cte = {m["concept_id"] for m in mtr}, {m["concept_id"] for m in mte}
    overlap = ctr & cte
    print("concepts: train=%d test=%d overlap=%d" % (len(ctr), len(cte), len(overlap)))
    if overlap:
        ok = False
        print("FAIL: concept overlap", sorted(overlap)[:10])
    # label of every ticket must equal the severity of its concept
    for d, m in list(zip(train, mtr)) + list(zip(test, mte)):
        if d["label"] != m["concept_id"][:2]:
            ok = False
            print("FAIL: label mismatch", d["id"])
    # no test core text may appear verbatim in train bodies
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import generate_corpus as g
    concepts = {c["cid"]: c for c in g.load_concepts()}
    train_blob = "\n".join(d["body"] for d in train)
    leaked = [cid for cid in cte if concepts[cid]["en"] in train_blob or concepts[cid]["es"] in train_blob]
    print("test core statements found verbatim in train bodies: %d" % len(leaked))
    ok = ok and not leaked
    ids = {d["id"] for d in train} & {d["id"] for d in test}
    ok = ok and not ids
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
