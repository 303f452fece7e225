#!/usr/bin/python3
"""SQL injection through every input of takumi-api changes nothing and leaks nothing, on
the stack of test_api.py (real broker, ingest, takumi-api) with the real curl:

- classic and SQLite-specific payloads (quote breaking, stacked queries, UNION SELECT from
  sqlite_master and api_keys, comments, ||, hex and blob literals, char(), LIKE wildcards,
  over-long strings, NUL bytes (a %00 in the path or a query argument is a 400, not cut short), UTF-8 oddities, percent-encoded forms) through $filter
  (string literals and property names), $orderby, $select, $expand, entity ids, navigation
  paths, the NGSI-v2 id/type parameters and /v2/entities/{id}, the aggregate from/to/fn
- each answer is a JSON error (400/404/413/414) or the right literal match: a string
  literal with a quote, % or _ matches only the Things whose names really contain it
- no 500, no text of SQLite's messages or of the schema in any body
- write bodies with SQL in names, descriptions and properties are stored as text and read
  back unchanged; PATCH with SQL touches only its own Thing
- afterwards every table has as many rows as before (plus the Things written) and
  the schema (sqlite_master, or PostgreSQL's catalogue: schemas, relations, columns,
  indexes, constraints, triggers, functions, roles, databases) is unchanged, and the API
  answers as before; under tests/pg/pgserver.py the same on PostgreSQL (api_injection_pg)
"""
import json
import os
import re
import shutil
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402
import test_api as ta  # noqa: E402

WRITE_KEY = None

PAYLOADS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    "'; DROP TABLE observations; --",
    "'); DELETE FROM things; --",
    "' UNION SELECT name, sql FROM sqlite_master --",
    "' UNION SELECT key_hash, scope FROM api_keys --",
    "1; ATTACH DATABASE '/tmp/x.db' AS x; --",
    "'/**/OR/**/1=1/*",
    "' || (SELECT sql FROM sqlite_master) || '",
    "X'27' OR 1=1",
    "char(39)||char(39)",
    "%' --",
    "_%",
    "\\' OR 1=1 --",
    "\u02bc OR 1=1 --",       # modifier letter apostrophe
    "\uff07 OR 1=1 --",       # fullwidth apostrophe
    "\u2019; DROP TABLE things; --",
    "%27 OR 1=1 --",          # percent-encoded quote, sent encoded once more
    "%2527%20OR%201=1",
    "x" * 5000,
    "é' OR 'a'='a",
    "' AND (SELECT load_extension('x')) --",
    "'; PRAGMA writable_schema=1; --",
]
# Text that must never appear in a body once the payload itself is taken out of it.
LEAKS = ["sqlite", "SQLITE", "SELECT", "syntax error", "near \"", "no such table",
         "no such column", "unrecognized token", "sqlite_master", "api_keys", "obs_staging",
         # PostgreSQL's messages and catalogue (the same suite runs on it)
         "ERROR:", "LINE 1", "relation \"", "pg_catalog", "information_schema", "PostgreSQL"]


def status_ok(r, allowed, what):
    assert r.status != 500 and r.status in allowed, "%s: %d %s" % (what, r.status, r.body[:400])
    assert "content-type" in r.headers and "json" in r.headers["content-type"], (what, r.headers)
    doc = r.json()  # every answer is JSON, errors included
    if r.status >= 400:  # NGSI-v2 answers errors in its own shape
        assert set(doc) >= {"code", "message"} or set(doc) >= {"error", "description"}, (what, doc)
    return doc


def no_leak(r, payloads, tables, what):
    text = r.body.decode("utf-8", "replace")
    for p in sorted(payloads, key=len, reverse=True):  # an error may quote the input
        for form in (p, json.dumps(p)[1:-1], json.dumps(p, ensure_ascii=False)[1:-1]):
            if form:
                text = text.replace(form, "")
        for k in range(min(len(p), 200), 7, -1):  # or its first characters, cut short
            if p[:k] in text:
                text = text.replace(p[:k], "")
                break
    # a message may also quote one token of it: 'sqlite_master' at position 0
    text = re.sub(r"'([^']*)'", lambda m: "" if any(m.group(1) in p for p in payloads) else m.group(0),
                  text)
    for word in LEAKS:
        assert word not in text, "%s: %r in %s" % (what, word, text[:600])
    for t in tables:
        if "_" in t:  # snake_case names are the schema's; entity names are CamelCase
            assert t not in text, "%s: table %r in %s" % (what, t, text[:600])


# PostgreSQL's catalogue as rows: every schema, relation, column, index, constraint,
# trigger, function (its definition's hash), role and database
PG_SCHEMA = """
SELECT 'schema', nspname, '', '' FROM pg_namespace
 WHERE nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
UNION ALL SELECT 'rel', n.nspname || '.' || c.relname, c.relkind::text, ''
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL SELECT 'column', table_schema || '.' || table_name, column_name,
 data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
 FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL SELECT 'index', indexname, tablename, indexdef FROM pg_indexes
 WHERE schemaname = 'public'
UNION ALL SELECT 'constraint', conname, conrelid::regclass::text, pg_get_constraintdef(oid)
 FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL SELECT 'trigger', tgname, tgrelid::regclass::text, pg_get_triggerdef(oid)
 FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'function', oid::regprocedure::text, prokind::text,
 CASE WHEN prokind IN ('f', 'p') THEN md5(pg_get_functiondef(oid)) ELSE '' END
 FROM pg_proc WHERE pronamespace = 'public'::regnamespace
UNION ALL SELECT 'role', rolname, rolsuper::text, rolcanlogin::text FROM pg_roles
UNION ALL SELECT 'database', datname, '', '' FROM pg_database
"""


def snapshot():
    """The schema (sqlite_master, or PostgreSQL's catalogue) and every table's row count."""
    S = ta.S
    if S.store:
        master = S.sql_rows(PG_SCHEMA)
        tables = [r[0] for r in S.sql_rows(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind IN ('r', 'p')")]
        counts = dict(S.sql_rows(" UNION ALL ".join(
            "SELECT '%s', count(*) FROM public.\"%s\"" % (t.replace("'", "''"), t.replace('"', '""'))
            for t in tables)))
    else:
        master = S.sql_rows("SELECT type, name, tbl_name, sql FROM sqlite_master")
        tables = [r[0] for r in S.sql_rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {t: S.sql_value('SELECT count(*) FROM "%s"' % t.replace('"', '""')) for t in tables}
    return sorted(master, key=lambda r: tuple(str(x) for x in r)), counts


def stable_snapshot():
    """Two equal snapshots in a row (the ingest may still be moving staged readings)."""
    last = [None]

    def same():
        s = snapshot()
        ok = s == last[0]
        last[0] = s
        return ok
    tkfix.wait_for(same, 20, "the database to be still", interval=0.5)
    return last[0]


def rest(doc):
    """The entities of a first page and of every page after it (@iot.nextLink)."""
    out = list(doc["value"])
    while "@iot.nextLink" in doc:
        doc = ta.get(None, full_url=doc["@iot.nextLink"])
        out += doc["value"]
    return out


def things():
    return {t["@iot.id"]: t["name"] for t in rest(ta.get("/v1.1/Things"))}


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def write(method, path, body):
    extra = ["-X", method, "-H", "Authorization: Bearer " + WRITE_KEY]
    if body is not None:
        extra += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    return ta.curl(urllib.parse.quote(path, safe="/()$,="), extra=extra)


def stack():
    global WRITE_KEY
    ta.stack()
    if WRITE_KEY is None:
        # a second takumi-api on the same store whose anonymous rate the battery stays under
        ta.BASE = ta.S.start_api("--page-max", ta.PAGE, "--threads", 2, "--log-level", 3,
                                 "--anon-rate", 100000, name="api_inj")[1]
        WRITE_KEY = ta.S.add_apikey("injection tests", "write", rate=100000)[1]
        # Things whose names hold a quote and the LIKE wildcards, to prove literals are bound
        for name in ("O'Brien's gauge", "50%_off", "it''s"):
            r = write("POST", "/v1.1/Things", {"name": name, "description": "literal"})
            assert r.status == 201, r.body
    return ta.S


def test_read_inputs():
    stack()
    master0, counts0 = stable_snapshot()
    tables = list(counts0)
    names = things()
    ds = ta.datastream_of(ta.thing_id("wl-api-1"), "water_level")["@iot.id"]
    sent = list(PAYLOADS)
    n = 0

    def check(r, allowed, what, extra_payloads=()):
        nonlocal n
        n += 1
        doc = status_ok(r, allowed, what)
        no_leak(r, sent + list(extra_payloads), tables, what)
        return doc

    # $filter: string literals, bound as values
    for p in PAYLOADS + ["O'Brien's gauge", "it''s", "50%_off"]:
        for f, pred in (("name eq %s", lambda nm, p=p: nm == p),
                        ("substringof(%s, name)", lambda nm, p=p: p in nm),
                        ("startswith(name, %s)", lambda nm, p=p: nm.startswith(p)),
                        ("endswith(name, %s)", lambda nm, p=p: nm.endswith(p)),
                        ("name ne %s and tolower(name) eq tolower(%s)", None)):
            flt = f.replace("%s", lit(p))
            r = ta.curl("/v1.1/Things", [("$filter", flt)])
            doc = check(r, (200, 400, 414), "$filter=" + flt[:80], [flt])
            if r.status == 200 and pred is not None:
                got = sorted(t["@iot.id"] for t in rest(doc))
                assert got == sorted(i for i, nm in names.items() if pred(nm)), (flt[:80], got)
            if r.status == 200 and pred is None:
                assert doc["value"] == [], (flt[:80], doc)
            if len(p) < 100 and r.status != 200:
                raise AssertionError("a well-formed literal was refused: %s %s" % (flt, r.body))
    # the literals that must match something did
    quote = [i for i, nm in names.items() if nm == "O'Brien's gauge"]
    assert len(quote) == 1
    doc = ta.get("/v1.1/Things", [("$filter", "name eq 'O''Brien''s gauge'")])
    assert [t["@iot.id"] for t in doc["value"]] == quote, doc
    doc = ta.get("/v1.1/Things", [("$filter", "substringof('%', name)")])
    assert [t["name"] for t in doc["value"]] == ["50%_off"], doc
    doc = ta.get("/v1.1/Things", [("$filter", "substringof('_', name)")])
    assert sorted(t["name"] for t in rest(doc)) == sorted(nm for nm in names.values() if "_" in nm)
    doc = ta.get("/v1.1/Things", [("$filter", "startswith(name, '%')")])
    assert doc["value"] == [], doc

    # $filter pasted without quoting, property names, functions SQLite has and OData has not
    raw_filters = [
        "name eq '' OR 1=1 --'", "name eq 'x' OR '1'='1'", "name eq 'x'; DROP TABLE things; --",
        "name eq 'x' -- '", "name eq 'x' /* */", "1=1", "name = 'x'", "name eq X'41'",
        "name eq x'41'", "name eq 0x41", "name eq char(65)", "name eq 'a' || 'b'",
        "name eq (SELECT name FROM sqlite_master)", "name in (SELECT key_hash FROM api_keys)",
        "name eq 'a' UNION SELECT sql FROM sqlite_master", "name like '%'", "name glob '*'",
        "sqlite_version() eq '3'", "name eq 'x'' OR 1=1 --", "rowid gt 0", "oid gt 0",
        "\"name\" eq 'x'", "[name] eq 'x'", "`name` eq 'x'", "name; DROP TABLE things eq 1",
        "sqlite_master/sql eq 'x'", "api_keys/scope eq 'admin'", "Datastreams/sqlite_master eq 1",
        "name eq 'x' collate nocase", "name eq 'x%00' or name eq 'y'",
        "load_extension('x') eq 1", "name eq 'unterminated", "'a' eq 'a' --",
        "substringof('a', name) or 1", "random() gt 0", "name eq 1e999999",
        "result eq 99999999999999999999999999999", "@iot.id eq 1 or @iot.id eq (select 1)",
    ]
    for flt in raw_filters:
        r = ta.curl("/v1.1/Things", [("$filter", flt)])
        doc = check(r, (200, 400), "$filter=" + flt, [flt])
        if r.status == 200:  # only the filters that are valid OData: they match nothing
            assert doc["value"] == [], (flt, doc)

    # $orderby, $select, $expand
    opts = [
        ("$orderby", "name; DROP TABLE things"), ("$orderby", "name desc --"),
        ("$orderby", "(SELECT sql FROM sqlite_master)"), ("$orderby", "1"),
        ("$orderby", "name, 1=1"), ("$orderby", "name collate nocase"), ("$orderby", "rowid"),
        ("$orderby", "CASE WHEN 1 THEN name END"), ("$orderby", "name asc, id' --"),
        ("$orderby", "random()"), ("$orderby", "name/**/desc"),
        ("$select", "name,(select sql from sqlite_master)"), ("$select", "*"),
        ("$select", "name FROM api_keys --"), ("$select", "key_hash"), ("$select", "name;--"),
        ("$select", "sqlite_master"), ("$select", "name' --"),
        ("$expand", "Datastreams;DROP TABLE things"), ("$expand", "api_keys"),
        ("$expand", "Datastreams($filter=name eq '' or 1=1 --)"),
        ("$expand", "Datastreams($orderby=(SELECT 1))"), ("$expand", "Datastreams($select=key_hash)"),
        ("$expand", "Datastreams/sqlite_master"), ("$expand", "Locations' --"),
        ("$top", "1; DROP TABLE things"), ("$top", "1 OR 1=1"), ("$skip", "0 UNION SELECT 1"),
        ("$top", "-1"), ("$count", "true; --"), ("$resultFormat", "CSV' --"),
    ]
    for k, v in opts:
        r = ta.curl("/v1.1/Things", [(k, v)])
        check(r, (400,), "%s=%s" % (k, v), [v])

    # ids and navigation paths (sent percent-encoded, as a client would)
    paths = [
        "/v1.1/Things(1 OR 1=1)", "/v1.1/Things('1')", "/v1.1/Things(1;DROP TABLE things)",
        "/v1.1/Things(1)--", "/v1.1/Things(0x1)", "/v1.1/Things(X'01')", "/v1.1/Things(-1)",
        "/v1.1/Things(99999999999999999999999)", "/v1.1/Things(1 UNION SELECT 1)",
        "/v1.1/Things(char(49))", "/v1.1/Things(1)/Datastreams(1 or 1=1)/Observations",
        "/v1.1/Things(1)/sqlite_master", "/v1.1/Things(1)/name' --",
        "/v1.1/Things(1)/name;DROP TABLE things", "/v1.1/api_keys", "/v1.1/sqlite_master",
        "/v1.1/Things(1)/Datastreams/$ref' --", "/v1.1/Things(1)/Locations(1')",
        "/v1.1/Datastreams(%d)/Observations(1 or 1=1)" % ds, "/v1.1/Things(%27 OR 1=1 --)",
        "/v1.1/Things(1)/properties/x' OR '1'='1", "/v1.1/Things(1)/name/$value' --",
    ]
    for p in paths:
        url = urllib.parse.quote(p, safe="/()$,=%")
        r = ta.curl(url)
        check(r, (400, 404), p, [p, url, urllib.parse.unquote(p)])
    # raw bytes no client library would send: NUL, invalid and overlong UTF-8, double encoding
    raw = [
        "/v1.1/Things?$filter=name%20eq%20%27a%00%27", "/v1.1/Things(1%00)",
        "/v1.1/Things?$filter=name%20eq%20%27%FF%FE%27", "/v1.1/Things?$filter=name%20eq%20%27%C0%A7%20OR%201=1%20--%27",
        "/v1.1/Things?$filter=name%20eq%20%27%C0%A7%27", "/v1.1/Things(%2527)",
        "/v1.1/Things?$orderby=name%00;DROP%20TABLE%20things", "/v1.1/Things?$filter=%27%27%27",
        "/v1.1/Things?$filter=name%20eq%20%27%E2%80%AE%27",
        "/v2/entities?id=%27%00%20OR%201=1", "/v2/entities/%00", "/v2/entities/%C0%A7",
    ]
    for p in raw:
        r = ta.curl(None, full_url=ta.BASE + p)
        nul = "%00" in p  # never cut short at the NUL: refused
        doc = check(r, (400,) if nul else (200, 400, 404), p, [urllib.parse.unquote(p)])
        if r.status == 200:
            assert doc == [] or (isinstance(doc, dict) and doc.get("value") == []), (p, doc)

    # NGSI-v2
    for p in PAYLOADS:
        for k in ("id", "type", "idPattern", "q", "attrs", "orderBy"):
            r = ta.curl("/v2/entities", [(k, p)])
            doc = check(r, (200, 400, 414), "/v2/entities?%s=%s" % (k, p[:60]))
            if r.status == 200 and k == "attrs":  # no attribute of that name: id and type only
                assert isinstance(doc, list) and all(set(e) == {"id", "type"} for e in doc), doc
            elif r.status == 200:
                assert isinstance(doc, list) and doc == [], (k, p[:60], doc)
        r = ta.curl("/v2/entities/" + urllib.parse.quote(p, safe=""))
        check(r, (400, 404, 414), "/v2/entities/" + p[:60], [urllib.parse.quote(p, safe="")])

    # the aggregate extension
    agg = "/v1.1/Datastreams(%d)/Observations/aggregate" % ds
    good = {"interval": "hour", "from": "2026-11-26T00:00:00Z", "to": "2026-11-27T00:00:00Z"}
    for p in PAYLOADS[:-1] + ["avg); DROP TABLE observations; --", "avg,count FROM api_keys",
                              "2026-11-26T00:00:00Z' OR 1=1 --", "hour; DROP TABLE observations"]:
        for k in ("interval", "from", "to", "fn"):
            q = dict(good, **{k: p})
            r = ta.curl(agg, list(q.items()))
            check(r, (400, 414), "aggregate %s=%s" % (k, p[:60]), [p])
    for p in ("1 or 1=1", "1; DROP TABLE observations", "(SELECT 1)"):
        r = ta.curl("/v1.1/Datastreams/latest", [("ids", p)])
        check(r, (400,), "latest ids=" + p, [p])

    print("%d requests, every one refused with a JSON error or answered exactly" % n)
    master1, counts1 = snapshot()
    assert master1 == master0, "the schema changed"
    assert counts1 == counts0, {t: (counts0[t], counts1.get(t)) for t in counts0 if counts0[t] != counts1.get(t)}
    assert things() == names


def test_write_bodies():
    stack()
    master0, counts0 = stable_snapshot()
    names0 = things()
    made = []
    for p in PAYLOADS[:-1]:
        body = {"name": p, "description": "SQL: " + p,
                "properties": {p: p, "note": "'); UPDATE things SET name = 'pwned'; --"}}
        r = write("POST", "/v1.1/Things", body)
        assert r.status == 201, (p, r.status, r.body[:400])
        e = r.json()
        made.append(e["@iot.id"])
        back = ta.get("/v1.1/Things(%d)" % e["@iot.id"])
        assert back["name"] == p and back["description"] == "SQL: " + p, back
        assert back["properties"] == body["properties"], back
    # PATCH with SQL: only that Thing changes
    t = made[0]
    r = write("PATCH", "/v1.1/Things(%d)" % t,
              {"description": "x' WHERE 1=1; UPDATE things SET description = 'pwned' --"})
    assert r.status in (200, 204), r.body
    assert ta.get("/v1.1/Things(%d)" % t)["description"].startswith("x' WHERE 1=1;")
    # SQL in a write that the API refuses is refused as JSON, leaking nothing
    tables = list(counts0)
    for body, what in (({"name": "x", "description": "y", "@iot.id": "1 OR 1=1"}, "@iot.id"),
                       ({"name": "x", "description": "y", "Locations": [{"@iot.id": "1; DROP TABLE things"}]}, "Location ref"),
                       ({"name'; DROP TABLE things; --": "x"}, "property name")):
        r = write("POST", "/v1.1/Things", body)
        status_ok(r, (400, 404), what)
        no_leak(r, list(json.dumps(body).split('"')), tables, what)
    r = write("PATCH", "/v1.1/Things(1 OR 1=1)", {"description": "pwned"})
    status_ok(r, (400, 404), "PATCH Things(1 OR 1=1)")
    r = write("DELETE", "/v1.1/Things(1 OR 1=1)", None)
    status_ok(r, (400, 404), "DELETE Things(1 OR 1=1)")

    names1 = things()
    assert {i: nm for i, nm in names1.items() if i not in made} == names0, "other Things changed"
    assert not [t for t in rest(ta.get("/v1.1/Things"))
                if "pwned" in (t["name"], t["description"])], "an UPDATE ran"
    master1, counts1 = snapshot()
    assert master1 == master0, "the schema changed"
    diff = {t: counts1[t] - counts0[t] for t in counts0 if counts1.get(t) != counts0[t]}
    # each Thing made, and its owner row (sta_owners: who created it through the API)
    assert diff == {"things": len(made), "sta_owners": len(made)}, diff


def test_still_answers():
    stack()
    assert len(ta.get("/v1.1/Things(%d)/Datastreams" % ta.thing_id("wl-api-1"))["value"]) >= 1
    ds = ta.datastream_of(ta.thing_id("wl-api-1"), "water_level")["@iot.id"]
    doc = ta.get("/v1.1/Datastreams(%d)/Observations" % ds, [("$count", "true")])
    assert doc["@iot.count"] == ta.N_WL, doc
    log = ta.S.log("api_inj")
    assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    rc = tkfix.main([test_read_inputs, test_write_bodies, test_still_answers])
    if ta.S is not None:
        ta.S.close()
        if rc == 0 and os.environ.get("TAKUMI_KEEP") != "1":
            shutil.rmtree(ta.S.dir, ignore_errors=True)
        else:
            print("stack directory kept:", ta.S.dir)
    sys.exit(rc)
