#!/usr/bin/python3
"""A straightforward Python ingest (paho-mqtt + sqlite3): the comparison point for
takumi-ingest in ./takumi bench. It does the same work: subscribe at QoS 1 with a
persistent session, parse and check each reading, insert its observations and the
device's watermark in batched transactions, and publish the retained watermark ack
after each commit."""
import json
import sqlite3
import sys
import time

import paho.mqtt.client as mqtt

host, port, user, password, db_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

db = sqlite3.connect(db_path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS obs (ds TEXT, t INTEGER, result REAL, PRIMARY KEY (ds, t)) WITHOUT ROWID")
db.execute("CREATE TABLE IF NOT EXISTS watermark (device TEXT PRIMARY KEY, seq INTEGER)")

pending = []
watermarks = {}


def on_message(client, userdata, msg):
    pending.append((msg.topic, msg.payload))


def flush(client):
    global pending
    if not pending:
        return
    batch, pending = pending, []
    touched = {}
    db.execute("BEGIN")
    for topic, payload in batch:
        parts = topic.split("/")
        try:
            r = json.loads(payload)
            if r.get("v") != 1 or r.get("id") != parts[2] or not isinstance(r.get("seq"), int):
                continue
            t = int(r["ts"]) * 1000
            seq = r["seq"]
        except (ValueError, KeyError, TypeError):
            continue
        dev = parts[2]
        if seq <= watermarks.get(dev, 0):
            touched[dev] = parts[1]
            continue
        for q in ("level_m", "battery_v", "temp_c"):
            if q in r:
                db.execute("INSERT OR IGNORE INTO obs VALUES (?, ?, ?)", (dev + "/" + q, t, float(r[q])))
        if seq == watermarks.get(dev, seq - 1) + 1:
            watermarks[dev] = seq
        touched[dev] = parts[1]
    for dev in touched:
        db.execute("INSERT OR REPLACE INTO watermark VALUES (?, ?)", (dev, watermarks.get(dev, 0)))
    db.execute("COMMIT")
    for dev, kind in touched.items():
        client.publish("city/%s/%s/ack" % (kind, dev), json.dumps({"seq": watermarks.get(dev, 0)}), qos=0, retain=True)


client = mqtt.Client(client_id="py-ingest", clean_session=False)
client.username_pw_set(user, password)
client.on_message = on_message
client.on_connect = lambda c, u, f, rc: c.subscribe("city/+/+/reading", qos=1)
client.connect(host, port)
last = time.monotonic()
while True:
    client.loop(timeout=0.01)
    now = time.monotonic()
    if len(pending) >= 1000 or (pending and now - last > 0.02):
        flush(client)
        last = now
