/* SQLite backend: the SQL functions behind $filter's geometry and rounding functions,
 * registered on a reading connection by store_sta_init (PostgreSQL has the same functions
 * from its migration 3, pg_schema.c).
 *
 * Design note. Geometries are Points, LineStrings and Polygons (with holes), read either
 * from the GeoJSON the registry stores (a Location's location, a FeatureOfInterest's
 * feature: the first "type" and "coordinates" found, so a Feature works too) or from the
 * WKT of a geography'...' literal, which the API binds as text. Coordinates are taken as
 * plane coordinates in degrees, as the SensorThings examples do (geo.distance between two
 * Points is the Euclidean distance of their (lon, lat)); that is exact for the predicates
 * (point in polygon, segment crossings) and an approximation for distances.
 *
 *   tk_geo_distance(a, b)  smallest distance between the two geometries, 0 if they meet
 *   tk_geo_length(a)       length of a LineString (perimeter of a Polygon)
 *   tk_geo_rel(a, b, k)    1/0 for the relation k (enum rel below: st_* and geo.intersects)
 *   tk_floor(x), tk_ceil(x) (SQLite's own need a math-enabled build)
 *
 * Any argument that is NULL or not a geometry gives NULL, which a filter treats as false.
 * Point counts are capped (GEO_PTS_MAX), so one request cannot make a row cost unbounded
 * time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "store_sta.h"

#define GEO_PTS_MAX 8192
#define GEO_RINGS_MAX 64
#define GEO_EPS 1e-12

enum gtype { G_NONE = 0, G_POINT, G_LINE, G_POLYGON };

struct geom {
    enum gtype type;
    size_t n;                       /* points */
    double (*p)[2];                 /* owned */
    size_t nrings;                  /* polygons: rings; lines and points: 1 */
    size_t ring_end[GEO_RINGS_MAX]; /* index one past each ring's last point */
};

static void geom_free(struct geom *g)
{
    free(g->p);
    g->p = NULL;
}

static int add_pt(struct geom *g, double x, double y, size_t *cap)
{
    if (g->n == GEO_PTS_MAX)
        return 0;
    if (g->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        double(*np)[2] = realloc(g->p, nc * sizeof *np);
        if (!np)
            return 0;
        g->p = np;
        *cap = nc;
    }
    g->p[g->n][0] = x;
    g->p[g->n][1] = y;
    g->n++;
    return 1;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != b[i])
            return 0;
    }
    return 1;
}

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

static int read_num(const char **s, const char *end, double *out)
{
    char tmp[64];
    const char *p = *s;
    size_t k = 0;
    while (
        p < end && k < sizeof tmp - 1 &&
        ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E'))
        tmp[k++] = *p++;
    if (k == 0 || k == sizeof tmp - 1)
        return 0;
    tmp[k] = '\0';
    char *e;
    double d = strtod(tmp, &e);
    if (*e || !isfinite(d))
        return 0;
    *out = d;
    *s = p;
    return 1;
}

/* "POINT(x y)", "LINESTRING(x y, ...)", "POLYGON((x y, ...), (...))", case-insensitive. */
static int parse_wkt(const char *s, size_t len, struct geom *g)
{
    const char *end = s + len, *p = skip_ws(s, end);
    size_t cap = 0;
    int rings;
    if ((size_t)(end - p) >= 5 && ieq(p, "POINT", 5)) {
        g->type = G_POINT;
        p += 5;
        rings = 0;
    } else if ((size_t)(end - p) >= 10 && ieq(p, "LINESTRING", 10)) {
        g->type = G_LINE;
        p += 10;
        rings = 0;
    } else if ((size_t)(end - p) >= 7 && ieq(p, "POLYGON", 7)) {
        g->type = G_POLYGON;
        p += 7;
        rings = 1;
    } else {
        return 0;
    }
    p = skip_ws(p, end);
    if (p == end || *p++ != '(')
        return 0;
    for (;;) { /* one ring (or the point list) */
        p = skip_ws(p, end);
        if (rings) {
            if (p == end || *p++ != '(')
                return 0;
        }
        for (;;) {
            double x, y;
            p = skip_ws(p, end);
            if (!read_num(&p, end, &x))
                return 0;
            p = skip_ws(p, end);
            if (!read_num(&p, end, &y))
                return 0;
            if (!add_pt(g, x, y, &cap))
                return 0;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (p == end || *p++ != ')')
            return 0;
        if (g->nrings == GEO_RINGS_MAX)
            return 0;
        g->ring_end[g->nrings++] = g->n;
        if (!rings)
            break;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p == end || *p++ != ')')
            return 0;
        break;
    }
    p = skip_ws(p, end);
    if (p != end)
        return 0;
    return g->type == G_POINT ? g->n == 1 : g->n >= 2;
}

static const char *find(const char *s, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; s + n <= end; s++)
        if (memcmp(s, needle, n) == 0)
            return s;
    return NULL;
}

/* The first "type" and "coordinates" of a GeoJSON text. */
static int parse_geojson(const char *s, size_t len, struct geom *g)
{
    const char *end = s + len;
    const char *t = find(s, end, "\"type\"");
    const char *c = find(s, end, "\"coordinates\"");
    if (!t || !c)
        return 0;
    /* the geometry's type: the "type" nearest before "coordinates" wins for Features */
    for (const char *t2 = t; t2 && t2 < c; t2 = find(t2 + 1, end, "\"type\""))
        t = t2;
    t = skip_ws(t + 6, end);
    if (t == end || *t++ != ':')
        return 0;
    t = skip_ws(t, end);
    int depth_pt; /* bracket depth at which a coordinate pair sits */
    if (find(t, t + 8 <= end ? t + 8 : end, "\"Point\""))
        g->type = G_POINT, depth_pt = 1;
    else if (find(t, t + 13 <= end ? t + 13 : end, "\"LineString\""))
        g->type = G_LINE, depth_pt = 2;
    else if (find(t, t + 10 <= end ? t + 10 : end, "\"Polygon\""))
        g->type = G_POLYGON, depth_pt = 3;
    else
        return 0;
    const char *p = skip_ws(c + 13, end);
    if (p == end || *p++ != ':')
        return 0;
    int depth = 0, idx = 0;
    size_t cap = 0;
    double pair[2];
    for (; p < end; p++) {
        char ch = *p;
        if (ch == '[') {
            depth++;
            idx = 0;
            if (depth > depth_pt)
                return 0;
        } else if (ch == ']') {
            if (depth == depth_pt) {
                if (idx < 2 || !add_pt(g, pair[0], pair[1], &cap))
                    return 0;
            } else if (depth == depth_pt - 1 && g->type != G_POINT) {
                if (g->nrings == GEO_RINGS_MAX)
                    return 0;
                if (g->type == G_POLYGON || g->nrings == 0)
                    g->ring_end[g->nrings++] = g->n;
            }
            if (--depth == 0)
                break;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            double d;
            if (depth != depth_pt || !read_num(&p, end, &d))
                return 0;
            if (idx < 2)
                pair[idx] = d;
            idx++;
            p--;
        } else if (ch != ',' && ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r') {
            return 0;
        }
    }
    if (depth != 0)
        return 0;
    if (g->type == G_POINT)
        g->ring_end[g->nrings++] = g->n;
    return g->type == G_POINT ? g->n == 1 : g->n >= 2 && g->nrings > 0;
}

static int geom_of(sqlite3_value *v, struct geom *g)
{
    memset(g, 0, sizeof *g);
    if (sqlite3_value_type(v) != SQLITE_TEXT)
        return 0;
    const char *s = (const char *)sqlite3_value_text(v);
    size_t len = (size_t)sqlite3_value_bytes(v);
    if (!s)
        return 0;
    const char *p = skip_ws(s, s + len);
    int ok = (p < s + len && *p == '{') ? parse_geojson(s, len, g) : parse_wkt(s, len, g);
    if (!ok)
        geom_free(g);
    return ok;
}

/* ---- plane geometry --------------------------------------------------------------------- */

static double cross(const double *o, const double *a, const double *b)
{
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

static int on_segment(const double *p, const double *a, const double *b)
{
    if (fabs(cross(a, b, p)) > GEO_EPS)
        return 0;
    return p[0] >= fmin(a[0], b[0]) - GEO_EPS && p[0] <= fmax(a[0], b[0]) + GEO_EPS &&
           p[1] >= fmin(a[1], b[1]) - GEO_EPS && p[1] <= fmax(a[1], b[1]) + GEO_EPS;
}

/* 0 apart, 1 touching (an end on the other), 2 crossing properly */
static int seg_meet(const double *a, const double *b, const double *c, const double *d)
{
    double d1 = cross(c, d, a), d2 = cross(c, d, b), d3 = cross(a, b, c), d4 = cross(a, b, d);
    if (((d1 > GEO_EPS && d2 < -GEO_EPS) || (d1 < -GEO_EPS && d2 > GEO_EPS)) &&
        ((d3 > GEO_EPS && d4 < -GEO_EPS) || (d3 < -GEO_EPS && d4 > GEO_EPS)))
        return 2;
    if (on_segment(a, c, d) || on_segment(b, c, d) || on_segment(c, a, b) || on_segment(d, a, b))
        return 1;
    return 0;
}

static double dist_pt_seg(const double *p, const double *a, const double *b)
{
    double dx = b[0] - a[0], dy = b[1] - a[1];
    double l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/* Segments of g: edge k of ring r runs from point i to i + 1 within the ring; a polygon's
 * ring is closed whether or not its last point repeats the first. */
struct segs {
    const struct geom *g;
    size_t ring, i;
};

static int next_seg(struct segs *it, const double **a, const double **b)
{
    const struct geom *g = it->g;
    if (g->type == G_POINT)
        return 0;
    while (it->ring < g->nrings) {
        size_t start = it->ring ? g->ring_end[it->ring - 1] : 0, end = g->ring_end[it->ring];
        size_t last = g->type == G_POLYGON ? end : end - 1; /* polygons wrap around */
        if (start + it->i < last && end > start) {
            size_t k = start + it->i++;
            *a = g->p[k];
            *b = g->p[k + 1 < end ? k + 1 : start];
            return 1;
        }
        it->ring++;
        it->i = 0;
    }
    return 0;
}

/* A point against g: 0 outside, 1 inside (the interior), 2 on the boundary. Points and
 * lines have no inside here: a point on them counts as boundary (2). */
static int locate(const double *p, const struct geom *g)
{
    if (g->type == G_POINT)
        return fabs(p[0] - g->p[0][0]) <= GEO_EPS && fabs(p[1] - g->p[0][1]) <= GEO_EPS ? 2 : 0;
    struct segs it = {g, 0, 0};
    const double *a, *b;
    int inside = 0;
    while (next_seg(&it, &a, &b)) {
        if (on_segment(p, a, b))
            return 2;
        if (g->type == G_POLYGON && ((a[1] > p[1]) != (b[1] > p[1])) &&
            p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0])
            inside = !inside;
    }
    return inside;
}

/* What the segments of a and b do: *touch any meeting, *cross any proper crossing. */
static void seg_pairs(const struct geom *a, const struct geom *b, int *touch, int *crossing)
{
    *touch = *crossing = 0;
    struct segs ia = {a, 0, 0};
    const double *a0, *a1, *b0, *b1;
    while (next_seg(&ia, &a0, &a1)) {
        struct segs ib = {b, 0, 0};
        while (next_seg(&ib, &b0, &b1)) {
            int m = seg_meet(a0, a1, b0, b1);
            if (m)
                *touch = 1;
            if (m == 2)
                *crossing = 1;
        }
    }
}

struct where {
    int in, out, on; /* some vertex of a lies inside, outside, on the boundary of b */
};

static struct where vertices_in(const struct geom *a, const struct geom *b)
{
    struct where w = {0, 0, 0};
    for (size_t i = 0; i < a->n; i++) {
        int l = locate(a->p[i], b);
        w.in |= l == 1;
        w.out |= l == 0;
        w.on |= l == 2;
    }
    return w;
}

static int intersects(const struct geom *a, const struct geom *b)
{
    struct where wa = vertices_in(a, b), wb = vertices_in(b, a);
    if (wa.in || wa.on || wb.in || wb.on)
        return 1;
    int touch, crossing;
    seg_pairs(a, b, &touch, &crossing);
    return touch;
}

/* a within b: no part of a outside b, and their interiors meet. */
static int within(const struct geom *a, const struct geom *b)
{
    if (b->type == G_POINT)
        return a->type == G_POINT && locate(a->p[0], b) == 2;
    struct where w = vertices_in(a, b);
    if (w.out)
        return 0;
    if (b->type != G_POLYGON) /* on a line: every vertex on it */
        return a->type != G_POLYGON;
    int touch, crossing;
    seg_pairs(a, b, &touch, &crossing);
    if (crossing)
        return 0;
    return a->type == G_POINT ? w.in : 1;
}

static int equals(const struct geom *a, const struct geom *b)
{
    if (a->type != b->type || a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (fabs(a->p[i][0] - b->p[i][0]) > GEO_EPS || fabs(a->p[i][1] - b->p[i][1]) > GEO_EPS)
            return 0;
    return 1;
}

/* interiors meet (for the dimensions this module knows) */
static int interiors_meet(const struct geom *a, const struct geom *b)
{
    struct where wa = vertices_in(a, b), wb = vertices_in(b, a);
    int touch, crossing;
    seg_pairs(a, b, &touch, &crossing);
    if (a->type == G_POLYGON && b->type == G_POLYGON)
        return wa.in || wb.in || crossing || equals(a, b);
    if (a->type == G_POINT || b->type == G_POINT) {
        const struct geom *pt = a->type == G_POINT ? a : b, *o = a->type == G_POINT ? b : a;
        if (o->type == G_POINT)
            return locate(pt->p[0], o) == 2;
        if (o->type == G_POLYGON)
            return locate(pt->p[0], o) == 1;
        /* a line's interior: anything but its two ends */
        size_t last = o->n - 1;
        return locate(pt->p[0], o) == 2 &&
               !(fabs(pt->p[0][0] - o->p[0][0]) <= GEO_EPS &&
                 fabs(pt->p[0][1] - o->p[0][1]) <= GEO_EPS) &&
               !(fabs(pt->p[0][0] - o->p[last][0]) <= GEO_EPS &&
                 fabs(pt->p[0][1] - o->p[last][1]) <= GEO_EPS);
    }
    return wa.in || wb.in || crossing;
}

enum rel {
    REL_EQUALS = 0,
    REL_DISJOINT,
    REL_TOUCHES,
    REL_WITHIN,
    REL_OVERLAPS,
    REL_CROSSES,
    REL_INTERSECTS,
    REL_CONTAINS,
};

static int relate(const struct geom *a, const struct geom *b, int k)
{
    switch (k) {
    case REL_EQUALS:
        return equals(a, b);
    case REL_DISJOINT:
        return !intersects(a, b);
    case REL_TOUCHES:
        if (a->type == G_POINT && b->type == G_POINT)
            return 0;
        return intersects(a, b) && !interiors_meet(a, b);
    case REL_WITHIN:
        return within(a, b);
    case REL_CONTAINS:
        return within(b, a);
    case REL_OVERLAPS:
        if (a->type != b->type || a->type == G_POINT)
            return 0;
        return interiors_meet(a, b) && !within(a, b) && !within(b, a);
    case REL_CROSSES: {
        if (a->type == G_POINT || b->type == G_POINT)
            return 0;
        if (a->type == G_POLYGON && b->type == G_POLYGON)
            return 0;
        const struct geom *line = a->type == G_LINE ? a : b, *o = line == a ? b : a;
        int touch, crossing;
        seg_pairs(line, o, &touch, &crossing);
        if (o->type == G_LINE)
            return crossing;
        struct where w = vertices_in(line, o);
        return (w.in || crossing) && (w.out || crossing) && !within(line, o);
    }
    case REL_INTERSECTS:
    default:
        return intersects(a, b);
    }
}

static double distance(const struct geom *a, const struct geom *b)
{
    if (intersects(a, b))
        return 0;
    double best = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        const struct geom *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->n; i++) {
            if (y->type == G_POINT) {
                best = fmin(best, hypot(x->p[i][0] - y->p[0][0], x->p[i][1] - y->p[0][1]));
                continue;
            }
            struct segs it = {y, 0, 0};
            const double *s0, *s1;
            while (next_seg(&it, &s0, &s1))
                best = fmin(best, dist_pt_seg(x->p[i], s0, s1));
        }
    }
    return best;
}

/* ---- the SQL functions ------------------------------------------------------------------ */

static void f_distance(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    struct geom a, b;
    (void)argc;
    if (!geom_of(argv[0], &a)) {
        sqlite3_result_null(cx);
        return;
    }
    if (geom_of(argv[1], &b)) {
        sqlite3_result_double(cx, distance(&a, &b));
        geom_free(&b);
    } else {
        sqlite3_result_null(cx);
    }
    geom_free(&a);
}

static void f_length(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    struct geom a;
    (void)argc;
    if (!geom_of(argv[0], &a)) {
        sqlite3_result_null(cx);
        return;
    }
    if (a.type == G_POINT) {
        geom_free(&a);
        sqlite3_result_null(cx);
        return;
    }
    double len = 0;
    struct segs it = {&a, 0, 0};
    const double *s0, *s1;
    while (next_seg(&it, &s0, &s1))
        len += hypot(s1[0] - s0[0], s1[1] - s0[1]);
    sqlite3_result_double(cx, len);
    geom_free(&a);
}

static void f_rel(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    struct geom a, b;
    (void)argc;
    int k = sqlite3_value_int(argv[2]);
    if (!geom_of(argv[0], &a)) {
        sqlite3_result_null(cx);
        return;
    }
    if (geom_of(argv[1], &b)) {
        sqlite3_result_int(cx, relate(&a, &b, k));
        geom_free(&b);
    } else {
        sqlite3_result_null(cx);
    }
    geom_free(&a);
}

static void f_round(sqlite3_context *cx, sqlite3_value **argv, double (*fn)(double))
{
    switch (sqlite3_value_numeric_type(argv[0])) {
    case SQLITE_INTEGER:
        sqlite3_result_int64(cx, sqlite3_value_int64(argv[0]));
        break;
    case SQLITE_FLOAT:
        sqlite3_result_double(cx, fn(sqlite3_value_double(argv[0])));
        break;
    default:
        sqlite3_result_null(cx);
        break;
    }
}

static void f_floor(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    f_round(cx, argv, floor);
}

static void f_ceil(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    f_round(cx, argv, ceil);
}

enum tk_rc store_sqlite__geo_init(struct sq_store *sq)
{
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {{"tk_geo_distance", 2, f_distance},
               {"tk_geo_length", 1, f_length},
               {"tk_geo_rel", 3, f_rel},
               {"tk_floor", 1, f_floor},
               {"tk_ceil", 1, f_ceil}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        int src = sqlite3_create_function_v2(sq->db, fns[i].name, fns[i].nargs,
                                             SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fns[i].fn,
                                             NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return store_sqlite__err(sq, src, "registering the filter functions");
    }
    return TK_OK;
}
