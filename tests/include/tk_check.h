/* A tiny check header for unit tests: each CHECK reports file:line and the
 * expression, counts failures, and the test's main returns tk_check_result(). */
#ifndef TK_CHECK_H
#define TK_CHECK_H

#include <stdio.h>
#include <string.h>

static int tk_check_failures;
static int tk_check_count;

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        tk_check_count++;                                                                          \
        if (!(expr)) {                                                                             \
            tk_check_failures++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        tk_check_count++;                                                                          \
        if (va_ != vb_) {                                                                          \
            tk_check_failures++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
                    #a, #b, va_, vb_);                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        tk_check_count++;                                                                          \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                               \
            tk_check_failures++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__,       \
                    __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                 \
        }                                                                                          \
    } while (0)

static inline int tk_check_result(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, tk_check_count, tk_check_failures);
    return tk_check_failures ? 1 : 0;
}

#endif
