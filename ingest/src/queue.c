/* A bounded FIFO of Paho messages between the MQTT receive thread and the writer.
 * A full queue blocks the receive thread, which stops reading the socket: the broker
 * then holds the backlog in the persistent session instead of this process's memory. */
#include <MQTTAsync.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ingest.h"

enum tk_rc ing_queue_init(struct ing_queue *q, size_t cap)
{
    q->items = calloc(cap, sizeof *q->items);
    if (!q->items)
        return TK_ENOMEM;
    q->cap = cap;
    q->head = q->len = 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return TK_OK;
}

void ing_msg_free(struct ing_msg *m)
{
    if (m->message) {
        MQTTAsync_message *pm = m->message;
        MQTTAsync_freeMessage(&pm);
    }
    if (m->topic)
        MQTTAsync_free(m->topic);
    m->message = NULL;
    m->topic = NULL;
}

const void *ing_msg_payload(const struct ing_msg *m, size_t *len)
{
    const MQTTAsync_message *pm = m->message;
    *len = pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0;
    return pm->payload;
}

void ing_queue_destroy(struct ing_queue *q)
{
    if (!q->items)
        return;
    while (q->len) {
        ing_msg_free(&q->items[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

void ing_queue_push(struct ing_queue *q, struct ing_msg m)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == q->cap && !q->closing)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closing) {
        pthread_mutex_unlock(&q->mu);
        ing_msg_free(&m);
        return;
    }
    q->items[(q->head + q->len) % q->cap] = m;
    q->len++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

void ing_queue_close(struct ing_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

size_t ing_queue_take(struct ing_queue *q, struct ing_msg *out, size_t max, int wait_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    if (q->len == 0 && wait_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        ts.tv_sec += wait_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (q->len == 0) {
            if (pthread_cond_timedwait(&q->not_empty, &q->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    while (n < max && q->len) {
        out[n++] = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    if (n)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}
