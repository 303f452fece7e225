/* libFuzzer target: the API's query-option parser (api_query_parse: $top, $skip, $count,
 * $select, $orderby, $expand with nested options, $filter, $resultFormat) as a request's
 * query string reaches it.
 *
 * Input: byte 0 picks the entity set for resolving a $filter; the rest is split like a
 * decoded query string: options at '&' (at most API_ARGS_MAX), key and value at the first
 * '=' (no '=': a NULL value, as "?$count"). Properties beyond "no crash": a refusal names
 * the option in err.path; what parses stays within its documented bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bounds(const struct api_query *q, int depth)
{
    if (depth > API_EXPAND_DEPTH_MAX + 1 || q->nselect > API_SELECT_MAX ||
        q->norder > API_ORDER_MAX || q->nexpand > API_EXPAND_MAX || (q->has_top && q->top < 0) ||
        (q->has_skip && q->skip < 0))
        abort();
    for (size_t i = 0; i < q->nexpand; i++) {
        if (!q->expand[i].name[0])
            abort();
        if (q->expand[i].q)
            check_bounds(q->expand[i].q, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum store_sta_entity e = (enum store_sta_entity)(data[0] % STORE_STA_N);
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    struct api_qarg args[API_ARGS_MAX];
    size_t n = 0;
    char *p = text;
    while (n < API_ARGS_MAX) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        args[n].key = p;
        args[n].value = eq ? eq + 1 : NULL;
        n++;
        if (!amp)
            break;
        p = amp + 1;
    }
    struct api_query q;
    memset(&q, 0, sizeof q);
    struct tk_error err = {0};
    enum tk_rc rc = api_query_parse(args, n, &q, &err);
    if (rc == TK_OK) {
        check_bounds(&q, 0);
        if (q.filter && api_filter_resolve(q.filter, e, &err) == TK_EINVAL &&
            strcmp(err.path, "$filter") != 0)
            abort();
    } else if (rc == TK_EINVAL && err.path[0] != '$') {
        abort();
    }
    api_query_free(&q);
    free(text);
    return 0;
}
