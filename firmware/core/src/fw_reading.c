#include "fw_reading.h"

#include "fw_json.h"

const char *fw_kind_name(enum fw_kind kind)
{
    switch (kind) {
    case FW_KIND_WATER_LEVEL:
        return "water_level";
    case FW_KIND_PEOPLE_FLOW:
        return "people_flow";
    case FW_KIND_WIFI_AP:
        return "wifi_ap";
    }
    return "";
}

int fw_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') || n >= FW_ID_MAX)
            return 0;
    }
    return n >= 3;
}

enum fw_rc fw_reading_encode(const struct fw_reading *r, const char *id, char *buf, size_t cap,
                             size_t *len)
{
    struct fw_jw w;
    if (!fw_id_valid(id) || r->ts_ms < 0)
        return FW_EINVAL;
    fw_jw_init(&w, buf, cap);
    fw_jw_raw(&w, "{\"v\":1,\"id\":");
    fw_jw_str(&w, id);
    fw_jw_raw(&w, ",\"seq\":");
    fw_jw_u64(&w, r->seq);
    fw_jw_raw(&w, ",\"ts\":\"");
    fw_jw_ts(&w, r->ts_ms);
    fw_jw_raw(&w, "\"");
    switch (r->kind) {
    case FW_KIND_WATER_LEVEL:
        if (r->has & FW_R_LEVEL) {
            fw_jw_key(&w, "level_m");
            fw_jw_fixed(&w, r->level_mm, 3);
        }
        if (r->has & FW_R_DISTANCE) {
            fw_jw_key(&w, "distance_mm");
            fw_jw_i64(&w, r->distance_mm);
        }
        if (r->has & FW_R_PRESSURE) {
            fw_jw_key(&w, "pressure_kpa");
            fw_jw_fixed(&w, r->pressure_pa, 3);
        }
        if (r->has & FW_R_BATTERY) {
            fw_jw_key(&w, "battery_v");
            fw_jw_fixed(&w, r->battery_mv, 3);
        }
        if (r->has & FW_R_TEMP) {
            fw_jw_key(&w, "temp_c");
            fw_jw_fixed(&w, r->temp_cc, 2);
        }
        break;
    case FW_KIND_PEOPLE_FLOW:
        fw_jw_key(&w, "interval_s");
        fw_jw_u64(&w, r->interval_s);
        fw_jw_key(&w, "in");
        fw_jw_u64(&w, r->in);
        fw_jw_key(&w, "out");
        fw_jw_u64(&w, r->out);
        if (r->has & FW_R_CUM_IN) {
            fw_jw_key(&w, "cum_in");
            fw_jw_u64(&w, r->cum_in);
        }
        if (r->has & FW_R_CUM_OUT) {
            fw_jw_key(&w, "cum_out");
            fw_jw_u64(&w, r->cum_out);
        }
        break;
    case FW_KIND_WIFI_AP:
        fw_jw_key(&w, "interval_s");
        fw_jw_u64(&w, r->interval_s);
        fw_jw_key(&w, "unique_devices");
        fw_jw_u64(&w, r->unique_devices);
        fw_jw_key(&w, "associated");
        fw_jw_u64(&w, r->associated);
        if (r->has & FW_R_PROBE_ONLY) {
            fw_jw_key(&w, "probe_only");
            fw_jw_u64(&w, r->probe_only);
        }
        break;
    default:
        return FW_EINVAL;
    }
    fw_jw_raw(&w, "}");
    if (len)
        *len = w.len;
    return fw_jw_result(&w);
}

enum fw_rc fw_status_encode(const struct fw_status *s, char *buf, size_t cap, size_t *len)
{
    struct fw_jw w;
    fw_jw_init(&w, buf, cap);
    fw_jw_raw(&w, s->online ? "{\"state\":\"online\"" : "{\"state\":\"offline\"");
    fw_jw_key(&w, "fw");
    fw_jw_str(&w, s->fw);
    if (s->online) {
        if (s->battery_mv >= 0) {
            fw_jw_key(&w, "battery_v");
            fw_jw_fixed(&w, s->battery_mv, 3);
        }
        if (s->rssi_dbm <= 0 && s->rssi_dbm >= -150) {
            fw_jw_key(&w, "rssi_dbm");
            fw_jw_i64(&w, s->rssi_dbm);
        }
        fw_jw_key(&w, "buffered");
        fw_jw_u64(&w, s->buffered);
        fw_jw_key(&w, "dropped");
        fw_jw_u64(&w, s->dropped);
        fw_jw_key(&w, "config_version");
        fw_jw_u64(&w, s->config_version);
    }
    fw_jw_raw(&w, "}");
    if (len)
        *len = w.len;
    return fw_jw_result(&w);
}
