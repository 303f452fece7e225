#!/usr/bin/python3
"""Retention end to end: takumi-ingest with --retention-days 7 and
--quarantine-retention-days 1 against the real broker.

- readings 30 days old are stored and acknowledged, then their raw rows disappear within a
  few periodic turns, while the rollups (rollup_hour, rollup_day, rollup_minute_slots)
  still hold their counts and sums
- recent readings stay, the stream's latest value stays
- a quarantined message older than a day goes, a fresh one stays
- the ingest keeps acknowledging throughout, old readings published afterwards included
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

DEV = "wl-ret"
KIND = "water_level"
TOPIC = "city/%s/%s/reading" % (KIND, DEV)
HOUR_US = 3600 * 1000000
DAY_US = 24 * HOUR_US


def ack_of(st, dev):
    got = st.sub(dev, st.passwords[dev], "city/%s/%s/ack" % (KIND, dev), count=1, timeout=5)
    return json.loads(got[0])["seq"] if got else None


def wait_ack(st, seq, timeout=20):
    tkfix.wait_for(lambda: (ack_of(st, DEV) or -1) >= seq, timeout, "ack %d of %s" % (seq, DEV))


def query(st, sql, args=()):
    c = st.db()
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def ds_id(st):
    """The device's datastream that has observations (only level_m is sent)."""
    rows = query(st, "SELECT DISTINCT o.ds_id FROM all_observations o JOIN datastreams d"
                     " ON d.id = o.ds_id JOIN things t ON t.id = d.thing_id"
                     " WHERE t.device_id = ?", (DEV,))
    assert len(rows) == 1, rows
    return rows[0][0]


def raw_count(st, ds, lo, hi):
    return query(st, "SELECT count(*) FROM all_observations WHERE ds_id = ? AND t_us >= ?"
                     " AND t_us < ?", (ds, lo, hi))[0][0]


def rollup(st, table, ds, lo, hi):
    return query(st, "SELECT coalesce(sum(n), 0), coalesce(sum(total), 0) FROM %s"
                     " WHERE ds_id = ? AND bucket_us >= ? AND bucket_us < ?" % table,
                 (ds, lo, hi))[0]


def publish(st, readings):
    st.pub(DEV, st.passwords[DEV], TOPIC, json.dumps(readings))


def reading(seq, t_us, level):
    return {"v": 1, "id": DEV, "seq": seq, "ts": t_us // 1000, "level_m": level}


def test_old_raw_rows_go_rollups_stay():
    with tkfix.Stack("retention") as st:
        st.start_broker()
        st.add_device(KIND, DEV)
        st.start_ingest("--retention-days", "7", "--quarantine-retention-days", "1",
                        "--stats-interval-s", "1", "--log-level", "3")
        now = int(time.time()) * 1000000
        old_hour = (now - 30 * DAY_US) // HOUR_US * HOUR_US
        old = [reading(1 + i, old_hour + i * 60 * 1000000, 1.0 + i) for i in range(20)]
        publish(st, old)
        wait_ack(st, 20)
        ds = ds_id(st)
        want_n, want_total = 20, sum(1.0 + i for i in range(20))

        recent = [reading(21 + i, now - (10 - i) * 60 * 1000000, 0.5) for i in range(10)]
        publish(st, recent)
        wait_ack(st, 30)

        # an old quarantined message (written as the ingest would have, 3 days ago) and a
        # fresh one from a malformed reading
        c = st.db()
        c.execute("INSERT INTO quarantine (received_us, topic, payload, device_id, code,"
                  " code_text, path, reason) VALUES (?, ?, ?, ?, 6, 'EPROTO', '', 'old')",
                  (now - 3 * DAY_US, TOPIC, b"{", DEV))
        c.commit()
        c.close()
        st.pub(DEV, st.passwords[DEV], TOPIC, "{not json")
        tkfix.wait_for(lambda: query(st, "SELECT count(*) FROM quarantine")[0][0] == 2, 15,
                       "the malformed reading to be quarantined")

        cut = now - 7 * DAY_US
        tkfix.wait_for(lambda: raw_count(st, ds, 0, cut) == 0, 30, "old raw rows to go")
        tkfix.wait_for(lambda: query(st, "SELECT count(*) FROM quarantine")[0][0] == 1, 30,
                       "the old quarantined message to go")
        rows = query(st, "SELECT reason FROM quarantine")
        assert rows[0][0] != "old", rows

        # the rollups still answer for the old hour
        for table in ("rollup_hour", "rollup_day"):
            n, total = rollup(st, table, ds, old_hour - DAY_US, old_hour + DAY_US)
            assert n == want_n and abs(total - want_total) < 1e-9, (table, n, total)
        slots = query(st, "SELECT count(*) FROM rollup_minute_slots WHERE ds_id = ?"
                          " AND hour_us = ?", (ds, old_hour))[0][0]
        assert slots == 1, slots
        assert raw_count(st, ds, cut, now + DAY_US) == 10

        # the ingest still acknowledges, an old reading too, which then goes as well
        publish(st, [reading(31, now, 0.6), reading(32, old_hour + 30 * 60 * 1000000, 9.0)])
        wait_ack(st, 32)
        tkfix.wait_for(lambda: raw_count(st, ds, 0, cut) == 0, 30, "the late old row to go")
        n, total = rollup(st, "rollup_hour", ds, old_hour, old_hour + HOUR_US)
        assert n == want_n + 1 and abs(total - want_total - 9.0) < 1e-9, (n, total)
        assert raw_count(st, ds, cut, now + DAY_US) == 11
        # the latest value is the newest reading
        latest = query(st, "SELECT max(t_us) FROM all_observations WHERE ds_id = ?", (ds,))[0][0]
        assert latest == now, (latest, now)
        assert "retention: removed" in st.log("ingest")


if __name__ == "__main__":
    sys.exit(tkfix.main([test_old_raw_rows_go_rollups_stay]))
