/* Exports: $resultFormat=CSV on any collection and $resultFormat=GeoJSON on Things.
 *
 * CSV is streamed. The request is checked and its statement prepared while the client
 * can still get a JSON error; then the reply is a callback body: each time the
 * connection can take more, about EXPORT_CHUNK bytes of rows are read from a cursor
 * (store_sta_cursor: one SQLite statement kept open, so the export is one snapshot),
 * formatted (RFC 4180) and, for clients that accept gzip, pushed through one deflate
 * stream. Memory per export is a chunk or two, whatever the size of the result. An export
 * has its own store connection (the pooled ones serve short requests) and one of
 * --exports-max slots; it ends after --export-rows-max rows, and a result larger than
 * that without $top is cut short as a failed transfer rather than silently truncated.
 *
 * GeoJSON is a FeatureCollection, a page of Things (at most API_LATEST_MAX) with their
 * Location's geometry and the latest value of each Datastream (things.c), built in the
 * reply buffer like the JSON answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api.h"
#include "tk_log.h"

#define EXPORT_CHUNK 32768

/* ---- CSV ------------------------------------------------------------------------------ */

#define COL_DS (-1) /* Observations: the Datastream's @iot.id (past the properties) */

struct csv {
    struct api_stream base;
    struct api_live *live;
    struct store *st;
    struct store_sta_cursor *cur;
    enum store_sta_entity e;
    struct api_principal who;
    int cols[STORE_STA_PROPS_MAX + 1];
    size_t ncols;
    int64_t limit, rows;
    int has_top;  /* the client's $top is the limit */
    int cut;      /* more rows than --export-rows-max: fail the transfer */
    int done;     /* no more rows */
    int finished; /* and everything formatted is in out */
    int gzip, zinit;
    z_stream z;
    struct api_buf text; /* formatted rows not yet deflated */
    struct api_buf out;  /* bytes ready for the connection */
    size_t off;
};

/* One field, quoted when it holds a separator, a quote or a line break. */
static void csv_field(struct api_buf *b, const char *s, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        api_buf_put(b, s, n);
        return;
    }
    api_buf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            api_buf_put(b, s + run, i + 1 - run);
            api_buf_put(b, "\"", 1);
            run = i + 1;
        }
    api_buf_put(b, s + run, n - run);
    api_buf_put(b, "\"", 1);
}

static void csv_value(struct csv *c, const struct store_sta_value *row, size_t n, int col)
{
    struct api_buf *b = &c->text;
    if (col == COL_DS) {
        api_buf_i64(b, row[n].i);
        return;
    }
    const struct store_sta_value *v = &row[col];
    switch (v->type) {
    case STORE_STA_NULL:
        break;
    case STORE_STA_INT:
        api_buf_i64(b, v->i);
        break;
    case STORE_STA_REAL: /* a withheld result is NULL here (the query's withhold) */
        api_buf_num(b, v->d);
        break;
    case STORE_STA_TIME:
        api_buf_time(b, v->i);
        break;
    case STORE_STA_INTERVAL:
        api_buf_time(b, v->i);
        api_buf_put(b, "/", 1);
        api_buf_time(b, v->i2);
        break;
    default: /* text and JSON */
        csv_field(b, v->s, v->len);
        break;
    }
}

/* Format rows into text until a chunk is full or the rows end. */
static enum tk_rc csv_rows(struct csv *c)
{
    while (!c->done && c->text.len < EXPORT_CHUNK) {
        const struct store_sta_value *row;
        size_t n;
        enum tk_rc rc = store_sta_cursor_next(c->cur, &row, &n);
        if (rc == TK_ENOTFOUND) {
            c->done = 1;
            break;
        }
        if (rc)
            return rc;
        if (c->rows == c->limit) {
            c->cut = !c->has_top;
            c->done = 1;
            break;
        }
        c->rows++;
        for (size_t i = 0; i < c->ncols; i++) {
            if (i)
                api_buf_put(&c->text, ",", 1);
            csv_value(c, row, n, c->cols[i]);
        }
        api_buf_put(&c->text, "\r\n", 2);
    }
    return c->text.err;
}

/* Move text into out, through deflate when gzip. */
static enum tk_rc csv_flush(struct csv *c)
{
    api_buf_reset(&c->out);
    c->off = 0;
    if (!c->gzip) {
        struct api_buf t = c->out;
        c->out = c->text;
        c->text = t;
        api_buf_reset(&c->text);
        return TK_OK;
    }
    int flush = c->done ? Z_FINISH : Z_NO_FLUSH;
    c->z.next_in = (Bytef *)c->text.data;
    c->z.avail_in = (uInt)c->text.len;
    int zr;
    do {
        char tmp[16384];
        c->z.next_out = (Bytef *)tmp;
        c->z.avail_out = sizeof tmp;
        zr = deflate(&c->z, flush);
        if (zr == Z_STREAM_ERROR)
            return TK_EIO;
        api_buf_put(&c->out, tmp, sizeof tmp - c->z.avail_out);
    } while (c->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    api_buf_reset(&c->text);
    return c->out.err;
}

static long csv_read(struct api_stream *s, char *buf, size_t max)
{
    struct csv *c = (struct csv *)s;
    while (c->off == c->out.len) {
        if (c->finished)
            goto end;
        enum tk_rc rc = csv_rows(c);
        if (!rc)
            rc = csv_flush(c); /* after the last row: the deflate stream's end too */
        if (rc) {
            tk_log(TK_LOG_WARN, "CSV export failed after %lld rows: %s (%s)", (long long)c->rows,
                   tk_strerror(rc), store_errmsg(c->st));
            return API_STREAM_FAIL;
        }
        c->finished = c->done;
    }
    size_t k = c->out.len - c->off;
    if (k > max)
        k = max;
    memcpy(buf, c->out.data + c->off, k);
    c->off += k;
    return (long)k;
end:
    if (c->cut) {
        tk_log(TK_LOG_WARN,
               "CSV export of %s cut at %lld rows (--export-rows-max): the transfer is failed;"
               " the client should page with $top and $skip",
               api_set_name(c->e), (long long)c->rows);
        return API_STREAM_FAIL;
    }
    return API_STREAM_END;
}

static void csv_destroy(struct api_stream *s)
{
    struct csv *c = (struct csv *)s;
    if (!c)
        return;
    store_sta_cursor_close(c->cur);
    store_close(c->st);
    if (c->zinit)
        deflateEnd(&c->z);
    api_buf_free(&c->text);
    api_buf_free(&c->out);
    if (c->live)
        api_live_export_give(c->live);
    free(c);
}

/* The columns: $select's properties in its order, else every property (Observations
 * also get their Datastream's id). -1 with a message for a navigation property. */
static int csv_columns(struct csv *c, const struct api_query *q, char *msg, size_t size)
{
    size_t np;
    store_sta_props(c->e, &np);
    c->ncols = 0;
    if (!q->nselect) {
        for (size_t i = 0; i < np; i++)
            c->cols[c->ncols++] = (int)i;
        if (c->e == STORE_STA_OBSERVATION)
            c->cols[c->ncols++] = COL_DS;
        return 0;
    }
    for (size_t i = 0; i < q->nselect && c->ncols < STORE_STA_PROPS_MAX; i++) {
        int p = api_prop_find(c->e, q->select[i], strlen(q->select[i]));
        if (p < 0) {
            snprintf(msg, size, "$select: '%s' is a navigation property; CSV has properties only",
                     q->select[i]);
            return -1;
        }
        c->cols[c->ncols++] = p;
    }
    return 0;
}

void api_export_csv(const struct api_request *req, struct api_reply *rep, const struct api_query *q,
                    const struct store_sta_query *sq0)
{
    const struct api_config *cfg = req->cfg;
    char msg[256];
    if (q->has_top && q->top > cfg->export_rows_max) {
        api_reply_error(rep, API_E_BADREQ, "$top",
                        "$top: at most %lld rows in one CSV export; page with $top and $skip",
                        (long long)cfg->export_rows_max);
        return;
    }
    struct csv *c = calloc(1, sizeof *c);
    if (!c) {
        api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
        return;
    }
    c->base.read = csv_read;
    c->base.destroy = csv_destroy;
    c->e = sq0->entity;
    c->who = *req->who;
    api_buf_init(&c->text, 4 * EXPORT_CHUNK);
    api_buf_init(&c->out, 8 * EXPORT_CHUNK);
    if (csv_columns(c, q, msg, sizeof msg)) {
        csv_destroy(&c->base);
        api_reply_error(rep, API_E_BADREQ, "$select", "%s", msg);
        return;
    }
    if (!req->live || !api_live_export_take(req->live)) {
        csv_destroy(&c->base);
        api_reply_error(rep, API_E_BUSY, NULL,
                        "%lld CSV exports are running; try again when one has finished",
                        (long long)cfg->exports_max);
        return;
    }
    c->live = req->live;
    struct store_options opt = {.readonly = 1, .busy_timeout_ms = 2000, .cache_kib = 4096};
    enum tk_rc rc = store_open(cfg->db, &opt, &c->st);
    if (!rc)
        rc = store_sta_init(c->st);
    if (!rc)
        api_viewer_set(c->st, &c->who);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s",
                        c->st ? store_errmsg(c->st) : tk_strerror(rc));
        csv_destroy(&c->base);
        return;
    }
    struct store_sta_query sq = *sq0;
    c->has_top = q->has_top;
    c->limit = q->has_top ? q->top : cfg->export_rows_max;
    sq.top = c->limit + 1; /* the look-ahead row says the limit cut the result */
    sq.skip = q->has_skip ? q->skip : 0;
    rc = store_sta_cursor_open(c->st, &sq, &c->cur);
    if (rc) {
        api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(c->st));
        csv_destroy(&c->base);
        return;
    }
    size_t np;
    const struct store_sta_prop *props = store_sta_props(c->e, &np);
    for (size_t i = 0; i < c->ncols; i++) {
        const char *nm = c->cols[i] == COL_DS ? "Datastream@iot.id" : props[c->cols[i]].name;
        if (i)
            api_buf_put(&c->text, ",", 1);
        csv_field(&c->text, nm, strlen(nm));
    }
    api_buf_put(&c->text, "\r\n", 2);
    if (api_accepts_gzip(req->header(req, "Accept-Encoding"))) {
        if (deflateInit2(&c->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            api_reply_error(rep, API_E_INTERNAL, NULL, "out of memory");
            csv_destroy(&c->base);
            return;
        }
        c->zinit = c->gzip = 1;
        rep->gzipped = 1;
    }
    rep->status = 200;
    rep->content_type = "text/csv; charset=utf-8";
    api_reply_header(rep, "Takumi-Export-Rows-Max", "%lld", (long long)cfg->export_rows_max);
    rep->stream = &c->base;
}

/* ---- GeoJSON ----------------------------------------------------------------------------- */

struct geo {
    const struct api_request *req;
    struct api_buf *b;
    int64_t top, nrows;
    int more;
    enum tk_rc err;
};

static void geo_feature(struct geo *g, const struct api_thing_view *v)
{
    struct api_buf *b = g->b;
    const char *base = g->req->cfg->base_url;
    api_buf_puts(b, g->nrows ? ",{\"type\":\"Feature\",\"id\":" : "{\"type\":\"Feature\",\"id\":");
    api_buf_i64(b, v->id);
    api_buf_puts(b, ",\"geometry\":");
    api_buf_puts(b, v->geometry ? v->geometry : "null");
    api_buf_puts(b, ",\"properties\":{\"@iot.id\":");
    api_buf_i64(b, v->id);
    api_buf_puts(b, ",\"@iot.selfLink\":\"");
    api_buf_url(b, base, 0);
    api_buf_printf(b, "/v1.1/Things(%lld)\",\"name\":", (long long)v->id);
    api_buf_json_str(b, v->name, strlen(v->name));
    api_buf_puts(b, ",\"description\":");
    api_buf_json_str(b, v->description, strlen(v->description));
    if (v->properties) {
        api_buf_puts(b, ",\"properties\":");
        api_buf_puts(b, v->properties);
    }
    if (v->location_id) {
        api_buf_puts(b, ",\"Location@iot.id\":");
        api_buf_i64(b, v->location_id);
    }
    api_buf_puts(b, ",\"Datastreams\":[");
    for (size_t i = 0; i < v->nds; i++) {
        const struct api_thing_ds *d = &v->ds[i];
        api_buf_puts(b, i ? ",{\"@iot.id\":" : "{\"@iot.id\":");
        api_buf_i64(b, d->id);
        api_buf_puts(b, ",\"name\":");
        api_buf_json_str(b, d->name, strlen(d->name));
        api_buf_puts(b, ",\"observedProperty\":");
        api_buf_json_str(b, d->property, strlen(d->property));
        api_buf_puts(b, ",\"unitOfMeasurement\":");
        api_buf_puts(b, d->unit ? d->unit : "null");
        if (!d->found) {
            api_buf_puts(b, ",\"phenomenonTime\":null,\"result\":null}");
            continue;
        }
        api_buf_puts(b, ",\"Observation@iot.id\":");
        api_buf_i64(b, d->latest.id);
        api_buf_puts(b, ",\"phenomenonTime\":\"");
        api_buf_time(b, d->latest.t_us);
        if (d->latest.t_end_us > d->latest.t_us) {
            api_buf_put(b, "/", 1);
            api_buf_time(b, d->latest.t_end_us);
        }
        api_buf_puts(b, "\",\"result\":");
        if (!api_suppress_named(g->req->who, d->property, d->latest.result))
            api_buf_num(b, d->latest.result);
        else
            api_buf_puts(b, "null");
        api_buf_put(b, "}", 1);
    }
    api_buf_puts(b, "]}}");
}

static enum tk_rc geo_row(void *ud, const struct store_sta_value *row, size_t n)
{
    struct geo *g = ud;
    if (g->nrows == g->top) {
        g->more = 1;
        return TK_OK;
    }
    struct api_thing_view v;
    enum tk_rc rc = api_thing_view_load(g->req->st, row, n, &v);
    if (!rc) {
        geo_feature(g, &v);
        g->nrows++;
    }
    api_thing_view_free(&v);
    if (rc)
        g->err = rc;
    return rc ? rc : g->b->err;
}

void api_export_geojson(const struct api_request *req, struct api_reply *rep,
                        const struct api_query *q, const struct store_sta_query *sq0)
{
    struct api_buf *b = &rep->body;
    struct store_sta_query sq = *sq0;
    struct geo g = {req, b, API_LATEST_MAX, 0, 0, TK_OK};
    if (q->has_top && q->top < g.top)
        g.top = q->top;
    int64_t skip = q->has_skip ? q->skip : 0;
    sq.top = g.top + 1;
    sq.skip = skip;
    rep->content_type = "application/geo+json";
    api_buf_puts(b, "{\"type\":\"FeatureCollection\",\"features\":[");
    enum tk_rc rc = store_sta_list(req->st, &sq, geo_row, &g);
    if (rc) {
        if (b->err && !g.err)
            api_reply_finish(rep);
        else
            api_reply_error(rep, api_err_of_rc(rc), NULL, "store: %s", store_errmsg(req->st));
        return;
    }
    api_buf_put(b, "]", 1);
    if (g.more)
        api_next_link(req, b, g.top, skip);
    api_buf_put(b, "}", 1);
}
