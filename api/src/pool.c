/* A fixed pool of read-only store connections, one per HTTP worker thread: a request
 * takes one for its whole life (one SQLite snapshot) and gives it back. A connection is
 * only ever used by one thread at a time, as store.h requires.
 *
 * Writes (operators' POST, PATCH, PUT, DELETE) take the one writable connection instead,
 * opened at the first write: SQLite has one writer at a time anyway, so a second
 * connection would only wait on the lock; the ingest's writes interleave with these
 * through WAL and the busy timeout. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "api.h"
#include "tk_log.h"

struct api_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n, nfree;
    struct store **all;
    struct store **free_list;
    char uri[600];
    struct store *writer; /* NULL until the first write */
    int writer_busy;
    pthread_cond_t wcv;
};

enum tk_rc api_pool_create(const char *uri, size_t n, struct api_pool **out, char *errbuf,
                           size_t errsize)
{
    *out = NULL;
    if (n == 0)
        return TK_EINVAL;
    struct api_pool *p = calloc(1, sizeof *p);
    if (!p)
        return TK_ENOMEM;
    enum tk_rc rc = TK_OK;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_cond_init(&p->wcv, &ca);
    snprintf(p->uri, sizeof p->uri, "%s", uri);
    pthread_condattr_destroy(&ca);
    p->all = calloc(n, sizeof *p->all);
    p->free_list = calloc(n, sizeof *p->free_list);
    if (!p->all || !p->free_list) {
        rc = TK_ENOMEM;
        goto cleanup;
    }
    struct store_options opt = {.readonly = 1, .busy_timeout_ms = 2000, .cache_kib = 16384};
    for (size_t i = 0; i < n; i++) {
        struct store *st = NULL;
        rc = store_open(uri, &opt, &st);
        if (rc) {
            if (errbuf && rc == TK_ESCHEMA)
                snprintf(errbuf, errsize,
                         "its schema version is not this program's (a read-only"
                         " connection cannot migrate it: run takumi-admin init"
                         " or the ingest of this build first)");
            else if (errbuf)
                snprintf(errbuf, errsize, "%s (%s)", tk_strerror(rc), tk_rc_name(rc));
            store_close(st);
            goto cleanup;
        }
        rc = store_sta_init(st); /* the SQL functions $filter uses */
        if (rc) {
            if (errbuf)
                snprintf(errbuf, errsize, "registering filter functions: %s", store_errmsg(st));
            store_close(st);
            goto cleanup;
        }
        p->all[i] = st;
        p->free_list[i] = st;
        p->n++;
    }
    p->nfree = n;
cleanup:
    if (rc) {
        api_pool_destroy(p);
        return rc;
    }
    *out = p;
    return TK_OK;
}

void api_pool_destroy(struct api_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->all && i < p->n; i++)
        store_close(p->all[i]);
    store_close(p->writer);
    free(p->all);
    free(p->free_list);
    pthread_cond_destroy(&p->wcv);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static struct timespec deadline(int64_t wait_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)(wait_ms / 1000);
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

struct store *api_pool_take(struct api_pool *p, int64_t wait_ms)
{
    struct timespec dl = deadline(wait_ms);
    struct store *st = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (p->nfree)
        st = p->free_list[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    return st;
}

struct store *api_pool_take_writer(struct api_pool *p, int64_t wait_ms)
{
    struct timespec dl = deadline(wait_ms);
    struct store *st = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->writer_busy) {
        if (pthread_cond_timedwait(&p->wcv, &p->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (!p->writer_busy) {
        p->writer_busy = 1;
        st = p->writer;
    }
    int mine = p->writer_busy && !st;
    pthread_mutex_unlock(&p->mu);
    if (!mine)
        return st;
    /* first write: open it outside the lock (it may wait on the database) */
    struct store_options opt = {.busy_timeout_ms = 5000, .cache_kib = 16384};
    enum tk_rc rc = store_open(p->uri, &opt, &st);
    if (!rc)
        rc = store_sta_init(st);
    if (rc) {
        tk_log(TK_LOG_ERR, "opening the writable store connection: %s (%s)",
               st ? store_errmsg(st) : tk_strerror(rc), tk_rc_name(rc));
        store_close(st);
        st = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->writer = st;
    if (!st) {
        p->writer_busy = 0;
        pthread_cond_signal(&p->wcv);
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

void api_pool_give(struct api_pool *p, struct store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&p->mu);
    if (st == p->writer) {
        p->writer_busy = 0;
        pthread_cond_signal(&p->wcv);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (p->nfree < p->n)
        p->free_list[p->nfree++] = st;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
