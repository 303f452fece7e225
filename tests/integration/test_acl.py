#!/usr/bin/python3
"""Broker access control, end to end: the real Mosquitto loaded with broker-config/ and the
passwd/acl files takumi-admin generates, probed with the stock mosquitto_pub/mosquitto_sub.

A denied MQTT 5 publish is PUBACKed with reason 0x87 (mosquitto_pub prints "Not
authorized"); with MQTT 3.1.1 it is dropped silently, so several cases also check that a
subscriber allowed to see the topic receives nothing, next to a positive control that
proves the same subscriber would have seen an allowed message."""
import base64
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tkfix  # noqa: E402

S = None  # the shared stack
PW = {}
A, B, PF = "wl-a-0001", "wl-b-0001", "pf-c-0001"


def topic(kind, dev, leaf):
    return f"city/{kind}/{dev}/{leaf}"


def setup():
    global S
    S = tkfix.Stack("acl")
    S.start_broker()
    PW[A] = S.add_device("water_level", A, mount_height_m=3.2)
    PW[B] = S.add_device("water_level", B)
    PW[PF] = S.add_device("people_flow", PF)
    PW["ingest"] = S.secret("ingest")
    PW["dashboard"] = S.secret("dashboard")


def expect_denied(user, t, payload="{}", retain=False):
    r = S.pub(user, PW[user], t, payload, retain=retain, check=False)
    assert r.returncode == 0 and not r.refused, f"{user} could not even connect: {r.stderr}"
    assert r.denied, f"{user} publishing to {t} was not denied: {r.stderr!r}"


def expect_allowed(user, t, payload="{}", retain=False):
    r = S.pub(user, PW[user], t, payload, retain=retain, check=False)
    assert r.ok and not r.denied, f"{user} publishing to {t} was refused: {r.stderr!r}"


def ingest_watch(pattern, count, timeout=3):
    return S.sub_start("takumi-ingest", PW["ingest"], pattern, count=count, timeout=timeout)


# ---- tests ------------------------------------------------------------------------------

def test_anonymous_refused():
    r = S.pub(None, None, topic("water_level", A, "reading"), "{}", check=False)
    assert r.refused and not r.ok, f"anonymous publish was not refused: {r.stderr!r}"
    r = S.pub(None, None, topic("water_level", A, "reading"), "{}", check=False, version=311)
    assert r.refused and not r.ok, f"anonymous MQTT 3.1.1 publish was not refused: {r.stderr!r}"
    sub = S.sub_start(None, None, "#", timeout=2, wait_subscribed=False)
    sub.wait()
    assert sub.refused, "anonymous subscribe was not refused"


def test_wrong_password_refused():
    r = S.pub(A, "not-the-password", topic("water_level", A, "reading"), "{}", check=False)
    assert r.refused, f"wrong password accepted: {r.stderr!r}"
    # B's password does not open A's account
    r = S.pub(A, PW[B], topic("water_level", A, "reading"), "{}", check=False)
    assert r.refused, f"another device's password accepted: {r.stderr!r}"
    # and an empty password is no password
    r = S.pub(A, "", topic("water_level", A, "reading"), "{}", check=False)
    assert r.refused, f"empty password accepted: {r.stderr!r}"
    # positive control
    expect_allowed(A, topic("water_level", A, "status"), '{"state":"online"}', retain=True)


def test_device_cannot_write_for_another_device():
    watch = ingest_watch("city/+/+/+", count=10)
    expect_denied(A, topic("water_level", B, "reading"), '{"forged":1}')
    expect_denied(A, topic("water_level", B, "status"), '{"state":"offline"}', retain=True)
    expect_allowed(A, topic("water_level", A, "reading"), '{"own":1}')
    # MQTT 3.1.1: no reason code, so the proof is what arrives
    r = S.pub(A, PW[A], topic("water_level", B, "reading"), '{"forged311":1}', version=311,
              check=False)
    assert r.returncode == 0
    got = watch.wait()
    assert '{"own":1}' in got, f"control message missing, subscriber saw {got}"
    forged = [p for p in got if "forged" in p]
    assert not forged, f"forged messages reached ingest: {forged}"


def test_device_cannot_use_its_id_under_another_kind():
    for kind in ("people_flow", "wifi_ap"):
        expect_denied(A, topic(kind, A, "reading"), '{"v":1}')
        expect_denied(A, topic(kind, A, "status"), '{"state":"online"}')
    # nor write outside city/ or into alerts and observations
    expect_denied(A, "city/alerts/" + A, "{}")
    expect_denied(A, "v1.1/Datastreams(1)/Observations", "{}")
    # nor answer itself: acks and config come from the platform only
    expect_denied(A, topic("water_level", A, "ack"), '{"seq":4294967295}', retain=True)
    expect_denied(A, topic("water_level", A, "config"), "{}", retain=True)
    # and the people_flow device cannot write water_level
    expect_denied(PF, topic("water_level", PF, "reading"), "{}")
    expect_allowed(PF, topic("people_flow", PF, "reading"), "{}")


def test_device_cannot_read_another_devices_ack():
    S.pub("takumi-ingest", PW["ingest"], topic("water_level", A, "ack"), '{"seq":11}', retain=True)
    S.pub("takumi-ingest", PW["ingest"], topic("water_level", B, "ack"), '{"seq":22}', retain=True)
    # A asks for B's ack (exact topic and wildcard): nothing may arrive
    assert S.sub(A, PW[A], topic("water_level", B, "ack"), count=1, timeout=2) == []
    assert S.sub(A, PW[A], "city/water_level/+/ack", count=2, timeout=2) == ['{"seq":11}']
    assert S.sub(A, PW[A], "#", count=5, timeout=2) == ['{"seq":11}']
    # controls: each device reads its own
    assert S.sub(A, PW[A], topic("water_level", A, "ack"), count=1, timeout=5) == ['{"seq":11}']
    assert S.sub(B, PW[B], topic("water_level", B, "ack"), count=1, timeout=5) == ['{"seq":22}']
    # nor another device's readings (B's own retained ack may arrive on city/#)
    watch = S.sub_start(B, PW[B], "city/#", count=2, timeout=2)
    expect_allowed(A, topic("water_level", A, "reading"), '{"secret":1}')
    got = watch.wait()
    assert '{"secret":1}' not in got, f"B received A's reading: {got}"
    assert got == ['{"seq":22}'], got


def test_ingest_rights():
    # reads readings and status of every kind, through a shared subscription too
    watch = S.sub_start("takumi-ingest", PW["ingest"], "$share/ingest/city/+/+/reading", count=2,
                        timeout=5)
    expect_allowed(A, topic("water_level", A, "reading"), '{"n":1}')
    expect_allowed(PF, topic("people_flow", PF, "reading"), '{"n":2}')
    assert sorted(watch.wait()) == ['{"n":1}', '{"n":2}']
    # publishes acks, config, observations and alerts, but cannot forge a reading
    PW["takumi-ingest"] = PW["ingest"]
    expect_allowed("takumi-ingest", "v1.1/Datastreams(7)/Observations", '{"result":1.0}')
    expect_allowed("takumi-ingest", "city/alerts/" + A, '{"level":"warning"}')
    expect_allowed("takumi-ingest", topic("water_level", A, "config"), '{"interval_s":60}',
                   retain=True)
    expect_denied("takumi-ingest", topic("water_level", A, "reading"), '{"v":1}')


def test_dashboard_is_read_only():
    PW["takumi-dashboard"] = PW["dashboard"]
    S.pub("takumi-ingest", PW["ingest"], "v1.1/Datastreams(1)/Observations", '{"result":0.42}',
          retain=True)
    got = S.sub("takumi-dashboard", PW["dashboard"], "v1.1/#", count=1, timeout=5)
    assert got == ['{"result":0.42}'], got
    expect_denied("takumi-dashboard", topic("water_level", A, "reading"), '{"v":1}')
    expect_denied("takumi-dashboard", "v1.1/Datastreams(1)/Observations", '{"result":9}')
    expect_denied("takumi-dashboard", "city/alerts/x", "{}")
    # and it cannot read device traffic or acks
    watch = S.sub_start("takumi-dashboard", PW["dashboard"], "city/+/+/+", count=1, timeout=2)
    expect_allowed(A, topic("water_level", A, "reading"), '{"raw":1}')
    assert watch.wait() == [], "dashboard read a raw reading"


def test_gateway_publishes_for_its_devices_only():
    PW["gw-east"] = S.add_gateway("gw-east", devices=f"{A},{PF}")
    PW["gw-all"] = S.add_gateway("gw-all", devices="all")
    expect_allowed("gw-east", topic("water_level", A, "reading"), "{}")
    expect_allowed("gw-east", topic("people_flow", PF, "status"), "{}")
    expect_denied("gw-east", topic("water_level", B, "reading"), "{}")
    expect_denied("gw-east", topic("people_flow", A, "reading"), "{}")  # right id, wrong kind
    expect_denied("gw-east", topic("water_level", A, "ack"), "{}")
    expect_allowed("gw-all", topic("water_level", B, "reading"), "{}")
    # reads the acks of its devices, not of others
    S.pub("takumi-ingest", PW["ingest"], topic("water_level", A, "ack"), '{"seq":33}', retain=True)
    assert S.sub("gw-east", PW["gw-east"], topic("water_level", A, "ack"), timeout=5) == \
        ['{"seq":33}']
    assert S.sub("gw-east", PW["gw-east"], topic("water_level", B, "ack"), timeout=2) == []
    # a device registered later is covered by "all", not by an explicit list
    d = "wl-d-0001"
    PW[d] = S.add_device("water_level", d)
    expect_allowed("gw-all", topic("water_level", d, "reading"), "{}")
    expect_denied("gw-east", topic("water_level", d, "reading"), "{}")


def test_removed_device_is_refused():
    e = "wl-e-0001"
    PW[e] = S.add_device("water_level", e)
    expect_allowed(e, topic("water_level", e, "reading"), "{}")
    S.remove_device(e)
    r = S.pub(e, PW[e], topic("water_level", e, "reading"), "{}", check=False)
    assert r.refused, f"removed device could still connect: {r.stderr!r}"
    with open(os.path.join(S.dir, "broker", "acl")) as f:
        assert e not in f.read(), "removed device still in the ACL"
    with open(os.path.join(S.dir, "broker", "passwd")) as f:
        assert not any(ln.startswith(e + ":") for ln in f), "removed device still in passwd"


BAD_IDS = ["a/b", "A-1", "ab", "a" * 49, "a+b", "#", "+", "wl_naka_1", "wl naka", "wl-1/#",
           "", "wl-\u00e9t\u00e9", "../../x"]


def test_bad_ids_refused_with_the_rule():
    files = [os.path.join(S.dir, "broker", n) for n in ("credentials", "passwd", "acl")]

    def snapshot():
        out = []
        for p in files:
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    before = snapshot()
    list_before = S.admin("device", "list").stdout
    for bad in BAD_IDS:
        r = S.admin("device", "add", "--kind", "water_level", "--id", bad, "--lat", "34.39",
                    "--lon", "132.45", check=False)
        assert r.returncode == 2, f"id {bad!r}: exit {r.returncode}, stderr {r.stderr!r}"
        assert "[a-z0-9-]{3,48}" in r.stderr, f"id {bad!r}: rule not named: {r.stderr!r}"
        assert "mqtt password" not in r.stdout
        r = S.admin("gateway", "add", "--id", bad, check=False)
        assert r.returncode == 2, f"gateway id {bad!r}: exit {r.returncode}"
    r = S.admin("gateway", "add", "--id", "gw-bad", "--devices", f"{A},a/b", check=False)
    assert r.returncode == 2, f"gateway with a bad device id: exit {r.returncode}"
    assert snapshot() == before, "a refused id changed the broker files"
    assert S.admin("device", "list").stdout == list_before, "a refused id reached the registry"
    # the ids really are refused by the broker too (no leftover login)
    r = S.pub("a/b", "x", "city/water_level/a/b/reading", "{}", check=False)
    assert r.refused


def _ws_mqtt_connack(port, user=None, password=None, timeout=5):
    """CONNECT (MQTT 3.1.1) over a WebSocket; returns the CONNACK return code, or None
    if the broker closed the connection instead."""
    s = socket.create_connection((tkfix.HOST, port), timeout=timeout)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /mqtt HTTP/1.1\r\nHost: {tkfix.HOST}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise AssertionError(f"websocket handshake: connection closed after {head!r}")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), f"websocket handshake refused: {head[:80]!r}"
        rest = head.split(b"\r\n\r\n", 1)[1]

        def field(b):
            return struct.pack("!H", len(b)) + b
        flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
        body = field(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + field(b"tk-ws-test")
        if user is not None:
            body += field(user.encode())
        if password is not None:
            body += field(password.encode())
        pkt = bytes([0x10, len(body)]) + body
        mask = os.urandom(4)
        s.sendall(bytes([0x82, 0x80 | len(pkt)]) + mask +
                  bytes(b ^ mask[i % 4] for i, b in enumerate(pkt)))
        data = rest
        while len(data) < 6:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        assert data[0] & 0x0F == 0x2, f"expected a binary frame, got {data[:6]!r}"
        payload = data[2:2 + (data[1] & 0x7F)]
        assert payload[0] == 0x20, f"expected CONNACK, got {payload!r}"
        return payload[3]
    finally:
        s.close()


def test_websockets_listener_same_rules():
    assert S.ws_port, "no websockets port"
    assert _ws_mqtt_connack(S.ws_port, "takumi-dashboard", PW["dashboard"]) == 0
    assert _ws_mqtt_connack(S.ws_port) not in (0,), "anonymous login over websockets accepted"
    assert _ws_mqtt_connack(S.ws_port, "takumi-dashboard", "wrong") not in (0,), \
        "wrong password accepted over websockets"


def main():
    setup()
    try:
        return tkfix.main([
            test_anonymous_refused,
            test_wrong_password_refused,
            test_device_cannot_write_for_another_device,
            test_device_cannot_use_its_id_under_another_kind,
            test_device_cannot_read_another_devices_ack,
            test_ingest_rights,
            test_dashboard_is_read_only,
            test_gateway_publishes_for_its_devices_only,
            test_removed_device_is_refused,
            test_bad_ids_refused_with_the_rule,
            test_websockets_listener_same_rules,
        ])
    finally:
        S.close()


if __name__ == "__main__":
    sys.exit(main())
