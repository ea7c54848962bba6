/* The OTLP trace wire read straight into the `spans` table's Arrow column buffers.
 *
 * Why: the Python decode path (llmtrace_server.otlp_wire, llmtrace.store.rows, llmtrace.store.arrow)
 * builds a Python object per value (attribute dicts, strings, ints), maps them and then has
 * pyarrow read them back and check each one. This reads the protobuf bytes once and appends every
 * column value to a raw buffer (offsets, UTF-8 data, validity bitmaps): no Python object per value.
 *
 * It covers the common shape only (see llmtrace_server.cwire for the contract): the first field
 * name of each column's attribute (llmtrace's own and the OTel GenAI names) and the names llmtrace's
 * SDK sets (llmtrace.span.kind, .status, .tags, .ttft_ms, .input, ...), string, int, double and
 * bool attributes, resource service.name / deployment.environment.name, exception and first-token
 * events. Anything else, a span that
 * rows.py would reject or remap, and everything llmtrace_server.otlp_wire refuses, makes `decode`
 * return None: the caller then takes the Python path for the batch, whose results (and rejection
 * messages) are the reference. Pricing stays in Python: the caller's `price` callable is called for
 * each span that needs a price, with the span's service tier (OpenAI's flex or priority) if it has one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- growable byte buffers ------------------------------------------------------------------ */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *data, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* ---- columns ------------------------------------------------------------------------------- */

enum { COL_STR, COL_I64, COL_F64, COL_F64N, COL_U32, COL_LIST, COL_MAP };

#define NCOLS 36
static const int COL_KINDS[NCOLS] = {
    COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, /* project .. environment */
    COL_I64, COL_I64, COL_F64,                                             /* start, end, duration */
    COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, COL_STR, COL_STR,         /* status .. response_model */
    COL_U32, COL_U32, COL_U32, COL_U32, COL_U32,                           /* tokens */
    COL_STR, COL_F64N, COL_F64N,                                           /* usage_source, cost, ttft */
    COL_STR, COL_STR, COL_STR, COL_STR, COL_STR,                           /* finish .. session */
    COL_LIST, COL_STR, COL_STR, COL_U32, COL_MAP,                          /* tags .. attributes */
};
enum {
    C_PROJECT, C_TRACE, C_SPAN, C_PARENT, C_NAME, C_KIND, C_SERVICE, C_ENV, C_START, C_END, C_DURATION,
    C_STATUS, C_ERROR_TYPE, C_ERROR_MESSAGE, C_PROVIDER, C_OPERATION, C_REQ_MODEL, C_RESP_MODEL,
    C_IN_TOK, C_OUT_TOK, C_CACHED, C_CACHE_WRITE, C_REASONING, C_USAGE_SOURCE, C_COST, C_TTFT,
    C_FINISH, C_PROMPT_NAME, C_PROMPT_VERSION, C_USER, C_SESSION, C_TAGS, C_INPUT, C_OUTPUT,
    C_OUTPUT_CHARS, C_ATTRIBUTES
};

typedef struct {
    Buf data, offsets, validity;
} Column;

typedef struct {
    Column cols[NCOLS];
    Buf map_keys_off, map_keys, map_vals_off, map_vals; /* the attributes map's entries */
    int32_t map_count;
    Buf tag_offsets; /* the tags' strings' offsets (their bytes: the tags column's data) */
    int32_t tag_count;
    Py_ssize_t rows;
    Buf span_ids; /* uint64 per row: a span sent twice declines (the Python path de-duplicates) */
} Table;

static void table_free(Table *t) {
    for (int i = 0; i < NCOLS; i++) {
        PyMem_Free(t->cols[i].data.p);
        PyMem_Free(t->cols[i].offsets.p);
        PyMem_Free(t->cols[i].validity.p);
    }
    PyMem_Free(t->map_keys_off.p);
    PyMem_Free(t->map_keys.p);
    PyMem_Free(t->map_vals_off.p);
    PyMem_Free(t->map_vals.p);
    PyMem_Free(t->tag_offsets.p);
    PyMem_Free(t->span_ids.p);
}

static int put_offset(Buf *offsets, Py_ssize_t at) {
    if (at > INT32_MAX) return -1;
    int32_t v = (int32_t)at;
    return buf_put(offsets, &v, 4);
}

static int table_init(Table *t) {
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < NCOLS; i++)
        if ((COL_KINDS[i] == COL_STR || COL_KINDS[i] == COL_LIST || COL_KINDS[i] == COL_MAP) &&
            put_offset(&t->cols[i].offsets, 0) < 0)
            return -1;
    if (put_offset(&t->map_keys_off, 0) < 0 || put_offset(&t->map_vals_off, 0) < 0 ||
        put_offset(&t->tag_offsets, 0) < 0)
        return -1;
    return 0;
}

static int put_str(Table *t, int col, const char *p, Py_ssize_t n) {
    Column *c = &t->cols[col];
    if (buf_put(&c->data, p, n) < 0) return -1;
    return put_offset(&c->offsets, c->data.len);
}

static int put_cstr(Table *t, int col, const char *s) { return put_str(t, col, s, (Py_ssize_t)strlen(s)); }

static int put_hex(Table *t, int col, const char *p, Py_ssize_t n) {
    static const char digits[] = "0123456789abcdef";
    char out[64];
    for (Py_ssize_t i = 0; i < n; i++) {
        out[2 * i] = digits[((unsigned char)p[i]) >> 4];
        out[2 * i + 1] = digits[((unsigned char)p[i]) & 15];
    }
    return put_str(t, col, out, 2 * n);
}

static int put_i64(Table *t, int col, int64_t v) { return buf_put(&t->cols[col].data, &v, 8); }
static int put_u32(Table *t, int col, uint32_t v) { return buf_put(&t->cols[col].data, &v, 4); }

static int put_f64n(Table *t, int col, double v, int valid) {
    Column *c = &t->cols[col];
    Py_ssize_t row = t->rows;
    if (row % 8 == 0) {
        char zero = 0;
        if (buf_put(&c->validity, &zero, 1) < 0) return -1;
    }
    if (valid) c->validity.p[row / 8] |= (char)(1 << (row % 8));
    if (!valid) v = 0.0;
    return buf_put(&c->data, &v, 8);
}

/* ---- attribute names ------------------------------------------------------------------------ */

/* What a span attribute name feeds. Codes >= 0 are the fields read here; DECLINE: a name that
 * rows.py or dialects.py reads in a way this file does not reproduce. */
enum {
    F_OPERATION, F_PROVIDER, F_REQ_MODEL, F_RESP_MODEL, F_IN_TOK, F_OUT_TOK, F_CACHED, F_CACHE_WRITE,
    F_REASONING, F_ERROR_TYPE, F_COST, F_FINISH, F_INPUT, F_OUTPUT, F_PROMPT_NAME, F_PROMPT_VERSION,
    F_USER, F_SESSION, F_ENV, F_SPAN_KIND, F_USAGE_SOURCE, F_STATUS, F_TTFT_MS, F_TTFT_S, F_OUTPUT_CHARS,
    F_SYSTEM, F_TAGS, NFIELDS
};
#define DECLINE (-1)
#define OTHER (-2)

#define TABLE_SIZE 512
typedef struct {
    char *key;
    Py_ssize_t len;
    int code;
} Slot;
static Slot names[TABLE_SIZE];
static int configured = 0;
static char *prefixes[16];
static Py_ssize_t prefix_lens[16];
static int nprefixes = 0;
#define MAX_FINISH 64
static char *finish_from[MAX_FINISH], *finish_to[MAX_FINISH];
static Py_ssize_t finish_from_len[MAX_FINISH];
/* sc.PROVIDER_ALIASES' names (lowercase): a span whose provider, lowercased, is one declines
 * (rows.py writes the well-known name instead). */
#define MAX_ALIASES 64
static char *aliases[MAX_ALIASES];
static Py_ssize_t alias_lens[MAX_ALIASES], naliases;
static int nfinish = 0;

static uint32_t hash_bytes(const char *p, Py_ssize_t n) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static int name_code(const char *p, Py_ssize_t n) {
    uint32_t at = hash_bytes(p, n) & (TABLE_SIZE - 1);
    while (names[at].key) {
        if (names[at].len == n && memcmp(names[at].key, p, n) == 0) return names[at].code;
        at = (at + 1) & (TABLE_SIZE - 1);
    }
    return OTHER;
}

static char *copy_bytes(PyObject *b, Py_ssize_t *n) {
    char *src;
    if (PyBytes_AsStringAndSize(b, &src, n) < 0) return NULL;
    char *p = PyMem_Malloc(*n + 1);
    if (!p) return (char *)PyErr_NoMemory();
    memcpy(p, src, *n);
    p[*n] = 0;
    return p;
}

/* configure(names: dict[bytes, int], prefixes: tuple[bytes, ...], finish: dict[bytes, bytes],
 *           aliased_providers: tuple[bytes, ...]) */
static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *table, *prefix_tuple, *finish, *alias_tuple;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyDict_Type, &table, &PyTuple_Type, &prefix_tuple, &PyDict_Type,
                          &finish, &PyTuple_Type, &alias_tuple))
        return NULL;
    if (configured) {
        PyErr_SetString(PyExc_RuntimeError, "already configured");
        return NULL;
    }
    if (PyDict_Size(table) > TABLE_SIZE / 2 || PyTuple_GET_SIZE(prefix_tuple) > 16 ||
        PyDict_Size(finish) > MAX_FINISH || PyTuple_GET_SIZE(alias_tuple) > MAX_ALIASES) {
        PyErr_SetString(PyExc_ValueError, "too many names");
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(table, &pos, &key, &value)) {
        Py_ssize_t n;
        char *p = copy_bytes(key, &n);
        if (!p) return NULL;
        long code = PyLong_AsLong(value);
        if (code == -1 && PyErr_Occurred()) return NULL;
        uint32_t at = hash_bytes(p, n) & (TABLE_SIZE - 1);
        while (names[at].key) at = (at + 1) & (TABLE_SIZE - 1);
        names[at].key = p;
        names[at].len = n;
        names[at].code = (int)code;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefix_tuple); i++) {
        prefixes[i] = copy_bytes(PyTuple_GET_ITEM(prefix_tuple, i), &prefix_lens[i]);
        if (!prefixes[i]) return NULL;
        nprefixes++;
    }
    pos = 0;
    while (PyDict_Next(finish, &pos, &key, &value)) {
        Py_ssize_t n;
        finish_from[nfinish] = copy_bytes(key, &finish_from_len[nfinish]);
        finish_to[nfinish] = copy_bytes(value, &n);
        if (!finish_from[nfinish] || !finish_to[nfinish]) return NULL;
        nfinish++;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(alias_tuple); i++) {
        aliases[i] = copy_bytes(PyTuple_GET_ITEM(alias_tuple, i), &alias_lens[i]);
        if (!aliases[i]) return NULL;
        naliases++;
    }
    configured = 1;
    Py_RETURN_NONE;
}

/* ---- the wire format (mirrors llmtrace_server.otlp_wire: every refusal there is one here) --- */

typedef struct {
    const unsigned char *buf;
} Reader;

/* Decline: the body holds something the Python path must read (every -1 below means that). */
#define FAIL(r) \
    do {            \
        (void)(r); \
        return -1; \
    } while (0)

static int varint(Reader *r, Py_ssize_t *pos, Py_ssize_t end, uint64_t *out) {
    uint64_t result = 0;
    int shift = 0;
    while (*pos < end) {
        unsigned char byte = r->buf[(*pos)++];
        if (shift == 63 && (byte & 0x7E)) FAIL(r); /* over 64 bits */
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = result;
            return 0;
        }
        shift += 7;
        if (shift >= 70) FAIL(r);
    }
    FAIL(r);
}

static int tag(Reader *r, Py_ssize_t *pos, Py_ssize_t end, uint32_t *out) {
    uint64_t t;
    if (varint(r, pos, end, &t) < 0) return -1;
    if (t > 0xFFFFFFFFu || t < 8) FAIL(r);
    *out = (uint32_t)t;
    return 0;
}

static int length(Reader *r, Py_ssize_t *pos, Py_ssize_t end, Py_ssize_t *start, Py_ssize_t *stop) {
    uint64_t size;
    if (varint(r, pos, end, &size) < 0) return -1;
    if (size > (uint64_t)(end - *pos)) FAIL(r);
    *start = *pos;
    *stop = *pos + (Py_ssize_t)size;
    *pos = *stop;
    return 0;
}

static int fixed64(Reader *r, Py_ssize_t *pos, Py_ssize_t end, uint64_t *out) {
    if (*pos + 8 > end) FAIL(r);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | r->buf[*pos + i];
    *out = v;
    *pos += 8;
    return 0;
}

static int skip(Reader *r, Py_ssize_t *pos, Py_ssize_t end, uint32_t t, uint64_t known) {
    uint32_t number = t >> 3;
    if (number < 64 && ((known >> number) & 1)) FAIL(r);
    Py_ssize_t a, b;
    uint64_t ignored;
    switch (t & 7) {
    case 0: return varint(r, pos, end, &ignored);
    case 2: return length(r, pos, end, &a, &b);
    case 1: *pos += 8; break;
    case 5: *pos += 4; break;
    default: FAIL(r);
    }
    if (*pos > end) FAIL(r);
    return 0;
}

/* Strict UTF-8 as Python's decoder: no overlongs, surrogates or code points over U+10FFFF. Sets
 * *chars to the number of code points. */
static int utf8(Reader *r, Py_ssize_t start, Py_ssize_t stop, Py_ssize_t *chars) {
    const unsigned char *s = r->buf;
    Py_ssize_t i = start, count = 0;
    while (i < stop) {
        if (i + 8 <= stop) { /* ASCII eight bytes at a time: most text is */
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (!(word & 0x8080808080808080ULL)) {
                i += 8;
                count += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            count++;
            continue;
        }
        int n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else FAIL(r);
        if (i + n >= stop) FAIL(r); /* truncated */
        for (int k = 1; k <= n; k++) {
            unsigned char d = s[i + k];
            if ((d & 0xC0) != 0x80) FAIL(r);
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            FAIL(r);
        i += n + 1;
        count++;
    }
    *chars = count;
    return 0;
}

static int check_text(Reader *r, Py_ssize_t start, Py_ssize_t stop) {
    Py_ssize_t chars;
    return utf8(r, start, stop, &chars);
}

#define BIT(n) ((uint64_t)1 << (n))
#define KV_FIELDS (BIT(1) | BIT(2) | BIT(3))
#define VALUES_FIELDS BIT(1)
#define MAX_DEPTH 16

static int check_key_value(Reader *r, Py_ssize_t pos, Py_ssize_t end, int depth);

/* Check an AnyValue (and what it nests) as otlp_wire reads it, storing nothing. */
static int check_any(Reader *r, Py_ssize_t pos, Py_ssize_t end, int depth) {
    if (pos == end) return 0;
    uint32_t t;
    Py_ssize_t a, b;
    uint64_t v;
    if (tag(r, &pos, end, &t) < 0) return -1;
    switch (t) {
    case (1 << 3 | 2):
        if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        break;
    case (3 << 3 | 0):
        if (varint(r, &pos, end, &v) < 0) return -1;
        break;
    case (4 << 3 | 1):
        if (pos + 8 > end) FAIL(r);
        pos += 8;
        break;
    case (2 << 3 | 0):
        if (varint(r, &pos, end, &v) < 0) return -1;
        if (v > 1) FAIL(r);
        break;
    case (5 << 3 | 2):
    case (6 << 3 | 2): {
        if (depth >= MAX_DEPTH) FAIL(r);
        if (length(r, &pos, end, &a, &b) < 0) return -1;
        Py_ssize_t p = a;
        while (p < b) {
            uint32_t it;
            Py_ssize_t s, e;
            if (tag(r, &p, b, &it) < 0) return -1;
            if (it == (1 << 3 | 2)) {
                if (length(r, &p, b, &s, &e) < 0) return -1;
                if (t == (5 << 3 | 2) ? check_any(r, s, e, depth + 1) < 0 : check_key_value(r, s, e, depth + 1) < 0)
                    return -1;
            } else if (skip(r, &p, b, it, VALUES_FIELDS) < 0)
                return -1;
        }
        break;
    }
    case (7 << 3 | 2):
        if (length(r, &pos, end, &a, &b) < 0) return -1;
        break;
    default: FAIL(r);
    }
    if (pos != end) FAIL(r);
    return 0;
}

static int check_key_value(Reader *r, Py_ssize_t pos, Py_ssize_t end, int depth) {
    int value_seen = 0;
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (1 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        } else if (t == (2 << 3 | 2)) {
            if (value_seen) FAIL(r);
            value_seen = 1;
            if (length(r, &pos, end, &a, &b) < 0 || check_any(r, a, b, depth) < 0) return -1;
        } else if (skip(r, &pos, end, t, KV_FIELDS) < 0)
            return -1;
    }
    return 0;
}

/* One attribute as read: the key's bytes and the value's kind and bytes / number. */
enum { V_NONE, V_STR, V_INT, V_DOUBLE, V_BOOL, V_FINISH, V_STRS, V_NESTED };
typedef struct {
    Py_ssize_t key, key_len;
    int kind;
    Py_ssize_t str, str_len; /* V_STR: the UTF-8 bytes; V_FINISH: the one string of an array */
    Py_ssize_t items, items_end; /* V_FINISH, V_STRS (an array of two or more strings): its items */
    Py_ssize_t items_bytes;      /* their strings' bytes */
    Py_ssize_t chars;
    int64_t i;
    double d;
} Attr;

/* A KeyValue at the top of a span's or the resource's attributes. Values other than the four
 * scalars (and, for V_FINISH, an array of one string) decline unless `validate_only`. */
static int read_key_value(Reader *r, Py_ssize_t pos, Py_ssize_t end, Attr *out, int nested_ok) {
    int value_seen = 0;
    out->key = out->key_len = 0;
    out->kind = V_NONE;
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (1 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
            out->key = a;
            out->key_len = b - a;
        } else if (t == (2 << 3 | 2)) {
            if (value_seen) FAIL(r);
            value_seen = 1;
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            out->kind = V_NONE;
            if (a == b) continue;
            Py_ssize_t p = a, s, e;
            uint32_t vt;
            uint64_t v;
            if (tag(r, &p, b, &vt) < 0) return -1;
            if (vt == (1 << 3 | 2)) {
                if (length(r, &p, b, &s, &e) < 0 || utf8(r, s, e, &out->chars) < 0) return -1;
                out->kind = V_STR;
                out->str = s;
                out->str_len = e - s;
            } else if (vt == (3 << 3 | 0)) {
                if (varint(r, &p, b, &v) < 0) return -1;
                out->kind = V_INT;
                out->i = (int64_t)v;
            } else if (vt == (4 << 3 | 1)) {
                uint64_t bits;
                if (fixed64(r, &p, b, &bits) < 0) return -1;
                out->kind = V_DOUBLE;
                memcpy(&out->d, &bits, 8);
            } else if (vt == (2 << 3 | 0)) {
                if (varint(r, &p, b, &v) < 0) return -1;
                if (v > 1) FAIL(r);
                out->kind = V_BOOL;
                out->i = (int64_t)v;
            } else if (vt == (5 << 3 | 2) && !nested_ok) {
                /* an array of one or more strings, each item a string AnyValue and nothing else */
                Py_ssize_t ia, ib, sa, sb, q;
                uint32_t it;
                int count = 0;
                if (length(r, &p, b, &ia, &ib) < 0) return -1;
                if (ia == ib) FAIL(r);
                out->items = ia;
                out->items_end = ib;
                out->items_bytes = 0;
                for (q = ia; q < ib; count++) {
                    if (tag(r, &q, ib, &it) < 0 || it != (1 << 3 | 2)) FAIL(r);
                    if (length(r, &q, ib, &sa, &sb) < 0) return -1;
                    Py_ssize_t w = sa;
                    if (w == sb || tag(r, &w, sb, &it) < 0 || it != (1 << 3 | 2)) FAIL(r);
                    if (length(r, &w, sb, &s, &e) < 0 || w != sb || check_text(r, s, e) < 0) FAIL(r);
                    out->str = s;
                    out->str_len = e - s;
                    out->items_bytes += e - s;
                }
                out->kind = count == 1 ? V_FINISH : V_STRS;
            } else if (nested_ok) {
                if (check_any(r, a, b, 0) < 0) return -1;
                out->kind = V_NESTED; /* checked, not read */
                continue;
            } else
                FAIL(r);
            if (p != b) FAIL(r);
        } else if (skip(r, &pos, end, t, KV_FIELDS) < 0)
            return -1;
    }
    return 0;
}

/* ---- the per-span mapping ------------------------------------------------------------------ */

#define MAX_ATTRS 64
#define MAX_ATTRIBUTE_BYTES (256 * 1024)

typedef struct {
    /* resource */
    Py_ssize_t service, service_len, env, env_len;
    int has_service, has_env;
} Resource;

/* The price call's str arguments (lowercased provider, response model, request model) of the
 * combinations met so far in one body: a batch holds few models, so a span's are usually here. */
#define PRICE_NAMES 16
typedef struct {
    const char *text[3];
    Py_ssize_t len[3];
    PyObject *str[3];
} PriceNames;

typedef struct {
    const char *project;
    Py_ssize_t project_len;
    int64_t now_ns, max_age_days, skew_ns;
    PyObject *price;
    PyObject *with_system; /* (system, input) -> the input column's text (dialects.with_system) */
    PriceNames names[PRICE_NAMES];
    int nnames;
} Options;

static void options_free(Options *o) {
    for (int i = 0; i < o->nnames; i++)
        for (int k = 0; k < 3; k++) Py_XDECREF(o->names[i].str[k]);
    o->nnames = 0;
}

/* The three str arguments of `texts` (borrowed from the cache), or NULL with a Python error. */
static PyObject **price_names(Options *o, const char *texts[3], const Py_ssize_t lens[3]) {
    for (int i = 0; i < o->nnames; i++) {
        PriceNames *n = &o->names[i];
        int same = 1;
        for (int k = 0; k < 3 && same; k++)
            same = n->len[k] == lens[k] && memcmp(n->text[k], texts[k], lens[k]) == 0;
        if (same) return n->str;
    }
    PriceNames fresh;
    for (int k = 0; k < 3; k++) {
        fresh.text[k] = texts[k];
        fresh.len[k] = lens[k];
        fresh.str[k] = PyUnicode_DecodeUTF8(texts[k], lens[k], "strict");
    }
    if (fresh.str[0]) Py_SETREF(fresh.str[0], PyObject_CallMethod(fresh.str[0], "lower", NULL)); /* as the column */
    if (!fresh.str[0] || !fresh.str[1] || !fresh.str[2]) {
        for (int k = 0; k < 3; k++) Py_XDECREF(fresh.str[k]);
        return NULL;
    }
    if (o->nnames == PRICE_NAMES) { /* full: the oldest entry goes */
        for (int k = 0; k < 3; k++) Py_DECREF(o->names[0].str[k]);
        memmove(&o->names[0], &o->names[1], sizeof(PriceNames) * (PRICE_NAMES - 1));
        o->nnames--;
    }
    o->names[o->nnames] = fresh;
    return o->names[o->nnames++].str;
}

static int read_resource(Reader *r, Py_ssize_t pos, Py_ssize_t end, Resource *res) {
    memset(res, 0, sizeof(*res));
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        uint64_t v;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (1 << 3 | 2)) {
            Attr at;
            if (length(r, &pos, end, &a, &b) < 0 || read_key_value(r, a, b, &at, 1) < 0) return -1;
            const char *key = (const char *)r->buf + at.key;
            if (at.key_len == 12 && memcmp(key, "service.name", 12) == 0) {
                if (res->has_service || at.kind != V_STR) FAIL(r);
                res->has_service = 1;
                res->service = at.str;
                res->service_len = at.str_len;
            } else if (at.key_len == 27 && memcmp(key, "deployment.environment.name", 27) == 0) {
                if (res->has_env || at.kind != V_STR) FAIL(r);
                res->has_env = 1;
                res->env = at.str;
                res->env_len = at.str_len;
            } else if ((at.key_len == 22 && memcmp(key, "deployment.environment", 22) == 0) ||
                       (at.key_len == 16 && memcmp(key, "llmtrace.project", 16) == 0))
                FAIL(r); /* read by rows.py in ways not reproduced here */
        } else if (t == (2 << 3 | 0)) {
            if (varint(r, &pos, end, &v) < 0) return -1;
        } else if (t == (3 << 3 | 2)) { /* entity refs: string fields 1..4 */
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            Py_ssize_t p = a;
            while (p < b) {
                uint32_t et;
                Py_ssize_t s, e;
                if (tag(r, &p, b, &et) < 0) return -1;
                uint32_t number = et >> 3;
                if ((et & 7) == 2 && number >= 1 && number <= 4) {
                    if (length(r, &p, b, &s, &e) < 0 || check_text(r, s, e) < 0) return -1;
                } else if (skip(r, &p, b, et, BIT(1) | BIT(2) | BIT(3) | BIT(4)) < 0)
                    return -1;
            }
        } else if (skip(r, &pos, end, t, BIT(1) | BIT(2) | BIT(3)) < 0)
            return -1;
    }
    return 0;
}

static int check_scope(Reader *r, Py_ssize_t pos, Py_ssize_t end) {
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        uint64_t v;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (1 << 3 | 2) || t == (2 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        } else if (t == (3 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_key_value(r, a, b, 0) < 0) return -1;
        } else if (t == (4 << 3 | 0)) {
            if (varint(r, &pos, end, &v) < 0) return -1;
        } else if (skip(r, &pos, end, t, BIT(1) | BIT(2) | BIT(3) | BIT(4)) < 0)
            return -1;
    }
    return 0;
}

static int check_link(Reader *r, Py_ssize_t pos, Py_ssize_t end) {
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        uint64_t v;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (1 << 3 | 2) || t == (2 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0) return -1;
        } else if (t == (3 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        } else if (t == (4 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_key_value(r, a, b, 0) < 0) return -1;
        } else if (t == (5 << 3 | 0)) {
            if (varint(r, &pos, end, &v) < 0) return -1;
        } else if (t == (6 << 3 | 5)) {
            if (pos + 4 > end) FAIL(r);
            pos += 4;
        } else if (skip(r, &pos, end, t, 0x7E) < 0)
            return -1;
    }
    return 0;
}

static int read_status(Reader *r, Py_ssize_t pos, Py_ssize_t end, uint64_t *code, Py_ssize_t *msg,
                       Py_ssize_t *msg_len) {
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (3 << 3 | 0)) {
            if (varint(r, &pos, end, code) < 0) return -1;
            if (*code > 0x7FFFFFFF) FAIL(r);
        } else if (t == (2 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
            *msg = a;
            *msg_len = b - a;
        } else if (skip(r, &pos, end, t, BIT(2) | BIT(3)) < 0)
            return -1;
    }
    return 0;
}

static int is_zero(const unsigned char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* The attribute text of an unread attribute (rows._attribute_text). */
static int put_attribute_text(Table *t, Reader *r, Attr *a) {
    char tmp[32];
    Buf *vals = &t->map_vals;
    int rc = 0;
    switch (a->kind) {
    case V_STR: rc = buf_put(vals, r->buf + a->str, a->str_len); break;
    case V_BOOL: rc = buf_put(vals, a->i ? "true" : "false", a->i ? 4 : 5); break;
    case V_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)a->i);
        rc = buf_put(vals, tmp, (Py_ssize_t)strlen(tmp));
        break;
    case V_DOUBLE: {
        char *text = PyOS_double_to_string(a->d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!text) return -1;
        rc = buf_put(vals, text, (Py_ssize_t)strlen(text));
        PyMem_Free(text);
        break;
    }
    default: break; /* V_NONE: rows._text(None) is "" */
    }
    if (rc < 0) return -1;
    return put_offset(&t->map_vals_off, vals->len);
}

static int starts_with_prefix(const char *key, Py_ssize_t n) {
    for (int i = 0; i < nprefixes; i++)
        if (n >= prefix_lens[i] && memcmp(key, prefixes[i], prefix_lens[i]) == 0) return 1;
    return 0;
}

static int bytes_eq(Reader *r, Py_ssize_t at, Py_ssize_t n, const char *s) {
    return (Py_ssize_t)strlen(s) == n && memcmp(r->buf + at, s, n) == 0;
}

/* 1 when a text field holds one of `options` (NULL-terminated). */
static int text_in(Reader *r, Attr *a, const char *const *options) {
    for (; *options; options++)
        if (bytes_eq(r, a->str, a->str_len, *options)) return 1;
    return 0;
}

static const char *const LLM_OPERATIONS[] = {"chat", "text_completion", "generate_content", "completion", "responses", NULL};
static const char *const EMBEDDING_OPERATIONS[] = {"embeddings", "embedding", NULL};
static const char *const ALIASED_OPERATIONS[] = {"completion", "embedding", NULL};
static const char *const USAGE_SOURCES[] = {"reported", "estimated", "none", NULL};
/* rows.SERVICE_TIER_NAMES in order: the first holding a non-empty string is the tier priced. */
#define NTIER_NAMES 4
#define NAME(s) {s, sizeof(s) - 1}
static const struct {
    const char *text;
    Py_ssize_t len;
} SERVICE_TIER_NAMES[NTIER_NAMES] = {NAME("openai.response.service_tier"), NAME("gen_ai.openai.response.service_tier"),
                                     NAME("openai.request.service_tier"), NAME("gen_ai.openai.request.service_tier")};
/* sc.USAGE_TOTAL_TOKENS_NAMES: a span whose total exceeds its input and output tokens declines
 * (rows._with_unreported_thoughts adds the difference to a Gemini call's output). */
#define NTOTAL_NAMES 3
static const struct {
    const char *text;
    Py_ssize_t len;
} TOTAL_TOKENS_NAMES[NTOTAL_NAMES] = {NAME("gen_ai.usage.total_tokens"), NAME("llm.usage.total_tokens"),
                                      NAME("llm.token_count.total")};
#undef NAME

/* What the mapping reads of a span's events (rows._status, dialects.first_token_ms). */
typedef struct {
    Py_ssize_t type, type_len, message, message_len; /* of the first exception event that has one */
    int has_type, has_message;
    int has_first_token;
    uint64_t first_token_ns; /* the first first-token event at or after the span's start */
    uint64_t *times;         /* each first-token event's time, read in order */
} Events;

/* One Event: its attributes are checked as otlp_wire reads them; an exception event's
 * exception.type / exception.message (strings, or absent) are kept as rows._status reads them. */
static int read_event(Reader *r, Py_ssize_t pos, Py_ssize_t end, Events *ev, uint64_t *time_ns, int *first_token) {
    Py_ssize_t name = 0, name_len = 0, attrs_at[MAX_ATTRS][2];
    int nattrs = 0;
    *time_ns = 0;
    while (pos < end) {
        uint32_t t;
        Py_ssize_t a, b;
        uint64_t v;
        if (tag(r, &pos, end, &t) < 0) return -1;
        if (t == (3 << 3 | 2)) {
            if (nattrs == MAX_ATTRS) FAIL(r);
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            attrs_at[nattrs][0] = a;
            attrs_at[nattrs++][1] = b;
        } else if (t == (2 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
            name = a;
            name_len = b - a;
        } else if (t == (1 << 3 | 1)) {
            if (fixed64(r, &pos, end, time_ns) < 0) return -1;
        } else if (t == (4 << 3 | 0)) {
            if (varint(r, &pos, end, &v) < 0) return -1;
        } else if (skip(r, &pos, end, t, BIT(1) | BIT(2) | BIT(3) | BIT(4)) < 0)
            return -1;
    }
    int exception = name_len == 9 && memcmp(r->buf + name, "exception", 9) == 0;
    *first_token = name_len == 24 && memcmp(r->buf + name, "First Token Stream Event", 24) == 0;
    Py_ssize_t type = -1, type_len = 0, message = -1, message_len = 0;
    for (int i = 0; i < nattrs; i++) {
        Attr at;
        if (read_key_value(r, attrs_at[i][0], attrs_at[i][1], &at, 1) < 0) return -1;
        if (!exception) continue;
        const char *key = (const char *)r->buf + at.key;
        int is_type = at.key_len == 14 && memcmp(key, "exception.type", 14) == 0;
        int is_message = at.key_len == 17 && memcmp(key, "exception.message", 17) == 0;
        if (!is_type && !is_message) continue;
        if (at.kind != V_STR && at.kind != V_NONE) FAIL(r); /* rows._text of another kind */
        Py_ssize_t at_str = at.kind == V_STR ? at.str : 0, at_len = at.kind == V_STR ? at.str_len : 0;
        if (is_type) { /* a dict: the last value of a name wins */
            type = at_str;
            type_len = at_len;
        } else {
            message = at_str;
            message_len = at_len;
        }
    }
    /* rows._status: the first non-empty exception.type, and the first non-empty message */
    if (type >= 0 && type_len && !ev->has_type) {
        ev->has_type = 1;
        ev->type = type;
        ev->type_len = type_len;
    }
    if (message >= 0 && message_len && !ev->has_message) {
        ev->has_message = 1;
        ev->message = message;
        ev->message_len = message_len;
    }
    return 0;
}

/* Map one span into the table's next row; -1: decline. */
static int map_span(Table *t, Reader *r, Py_ssize_t pos, Py_ssize_t end, Resource *res, Options *o) {
    Py_ssize_t trace = -1, trace_len = 0, span = -1, span_len = 0, parent = -1, parent_len = 0;
    Py_ssize_t name = 0, name_len = 0, msg = 0, msg_len = 0;
    uint64_t start_ns = 0, end_ns = 0, code = 0, v;
    int status_seen = 0, nattrs = 0;
    Events ev;
    memset(&ev, 0, sizeof ev);
    uint64_t first_token_times[MAX_ATTRS];
    int nfirst = 0;
    Attr attrs[MAX_ATTRS];
    Attr *field[NFIELDS];
    memset(field, 0, sizeof field);

    while (pos < end) {
        uint32_t tg;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &tg) < 0) return -1;
        switch (tg) {
        case (9 << 3 | 2):
            if (nattrs == MAX_ATTRS) FAIL(r);
            if (length(r, &pos, end, &a, &b) < 0 || read_key_value(r, a, b, &attrs[nattrs], 0) < 0) return -1;
            nattrs++;
            break;
        case (1 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            trace = a;
            trace_len = b - a;
            break;
        case (2 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            span = a;
            span_len = b - a;
            break;
        case (4 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            parent = a;
            parent_len = b - a;
            break;
        case (5 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
            name = a;
            name_len = b - a;
            break;
        case (7 << 3 | 1):
            if (fixed64(r, &pos, end, &start_ns) < 0) return -1;
            break;
        case (8 << 3 | 1):
            if (fixed64(r, &pos, end, &end_ns) < 0) return -1;
            break;
        case (15 << 3 | 2):
            if (status_seen) FAIL(r);
            status_seen = 1;
            code = 0;
            msg = msg_len = 0;
            if (length(r, &pos, end, &a, &b) < 0 || read_status(r, a, b, &code, &msg, &msg_len) < 0) return -1;
            break;
        case (11 << 3 | 2): {
            uint64_t at_ns;
            int first_token;
            if (length(r, &pos, end, &a, &b) < 0 || read_event(r, a, b, &ev, &at_ns, &first_token) < 0) return -1;
            if (first_token) {
                if (nfirst == MAX_ATTRS) FAIL(r);
                first_token_times[nfirst++] = at_ns;
            }
            break;
        }
        case (6 << 3 | 0):
        case (10 << 3 | 0):
        case (12 << 3 | 0):
        case (14 << 3 | 0):
            if (varint(r, &pos, end, &v) < 0) return -1;
            break;
        case (3 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
            break;
        case (13 << 3 | 2):
            if (length(r, &pos, end, &a, &b) < 0 || check_link(r, a, b) < 0) return -1;
            break;
        case (16 << 3 | 5):
            if (pos + 4 > end) FAIL(r);
            pos += 4;
            break;
        default:
            if (skip(r, &pos, end, tg, ((uint64_t)1 << 17) - 2) < 0) return -1;
        }
    }

    /* rows._check_ids / _check_times: a span rows.py rejects is left to it (and its message) */
    const unsigned char *buf = r->buf;
    if (trace < 0 || trace_len != 16 || is_zero(buf + trace, 16)) FAIL(r);
    if (span < 0 || span_len != 8 || is_zero(buf + span, 8)) FAIL(r);
    if (parent >= 0 && parent_len != 0 && parent_len != 8) FAIL(r);
    if (start_ns == 0 || end_ns < start_ns || end_ns >= ((uint64_t)1 << 63)) FAIL(r);
    if ((int64_t)start_ns > o->now_ns + o->skew_ns) FAIL(r);
    if (o->max_age_days && (int64_t)start_ns < o->now_ns - o->max_age_days * 86400LL * 1000000000LL) FAIL(r);
    if (start_ns < 1000000000000000ULL) FAIL(r);
    if (name_len > 1024) FAIL(r);  /* rows.py cuts at 1024 characters */

    /* attributes: each read name to its field; others are kept, in order, for `attributes` */
    int others[MAX_ATTRS], nothers = 0;
    Attr *tier = NULL; /* the service tier priced (kept in `attributes` too) */
    int tier_rank = NTIER_NAMES;
    Attr *total = NULL; /* the call's total tokens, under the first of TOTAL_TOKENS_NAMES sent */
    int total_rank = NTOTAL_NAMES;
    for (int i = 0; i < nattrs; i++) {
        Attr *a = &attrs[i];
        const char *key = (const char *)buf + a->key;
        for (int j = 0; j < i; j++) /* a name sent twice: the dict keeps the last value */
            if (attrs[j].key_len == a->key_len && memcmp(buf + attrs[j].key, key, a->key_len) == 0) FAIL(r);
        if (a->kind == V_STR && a->str_len > MAX_ATTRIBUTE_BYTES) FAIL(r);
        if ((a->kind == V_FINISH || a->kind == V_STRS) && a->items_bytes > MAX_ATTRIBUTE_BYTES) FAIL(r);
        int code_ = name_code(key, a->key_len);
        if (code_ == DECLINE) FAIL(r);
        if (code_ == OTHER) {
            if (a->key_len == 0 || a->key_len > 1024 || starts_with_prefix(key, a->key_len)) FAIL(r);
            if (a->kind == V_FINISH || a->kind == V_STRS) FAIL(r); /* an array: rows.py writes it as JSON */
            others[nothers++] = i;
            if (a->kind == V_STR && a->str_len > 0)
                for (int k = 0; k < tier_rank; k++)
                    if (a->key_len == SERVICE_TIER_NAMES[k].len &&
                        memcmp(key, SERVICE_TIER_NAMES[k].text, a->key_len) == 0) {
                        tier = a;
                        tier_rank = k;
                        break;
                    }
            for (int k = 0; k < total_rank && a->kind != V_NONE; k++) /* (None: rows.py reads on) */
                if (a->key_len == TOTAL_TOKENS_NAMES[k].len && memcmp(key, TOTAL_TOKENS_NAMES[k].text, a->key_len) == 0) {
                    total = a;
                    total_rank = k;
                    break;
                }
            continue;
        }
        if (a->kind == V_NONE || (a->kind == V_STR && a->str_len == 0)) FAIL(r); /* no value: shadowed */
        if (field[code_]) FAIL(r); /* two names of one field (llmtrace.input and gen_ai.input.messages) */
        field[code_] = a;
    }
    /* the kinds each field is read as here; other kinds are rows.py's to convert or reject */
    for (int f = 0; f < NFIELDS; f++) {
        Attr *a = field[f];
        if (!a) continue;
        switch (f) {
        case F_IN_TOK: case F_OUT_TOK: case F_CACHED: case F_CACHE_WRITE: case F_REASONING:
            if (a->kind != V_INT || a->i < 0 || a->i > 0xFFFFFFFFLL) FAIL(r);
            break;
        case F_COST: /* at most rows.MAX_COST_USD (cwire's _C_LITERALS checks the two agree) */
            if (a->kind != V_DOUBLE || !(a->d >= 0.0) || a->d > 1e9) FAIL(r);
            break;
        case F_TTFT_MS: case F_TTFT_S: /* rows._non_negative of an int or a double */
            if (a->kind == V_INT) {
                if (a->i < 0) FAIL(r);
            } else if (a->kind != V_DOUBLE || !(a->d >= 0.0) || a->d > 1.7976931348623157e308 ||
                       (f == F_TTFT_S && a->d * 1000.0 > 1.7976931348623157e308))
                FAIL(r);
            break;
        case F_TAGS: /* a string: one tag; an array of strings: each */
            if (a->kind != V_STR && a->kind != V_FINISH && a->kind != V_STRS) FAIL(r);
            break;
        case F_OUTPUT_CHARS: /* a non-negative int is taken; another int, a double or a bool: the length */
            if (a->kind != V_INT && a->kind != V_DOUBLE && a->kind != V_BOOL) FAIL(r);
            break;
        case F_FINISH:
            if (a->kind != V_FINISH) FAIL(r);
            break;
        default:
            if (a->kind != V_STR) FAIL(r);
        }
    }
    /* tokens the total holds beyond input and output (a Gemini call's thoughts): rows.py's to add */
    if (total && total->kind == V_INT && field[F_IN_TOK] && field[F_OUT_TOK] &&
        total->i - field[F_IN_TOK]->i - field[F_OUT_TOK]->i > 0)
        FAIL(r);
    Attr *op = field[F_OPERATION];
    if (op && text_in(r, op, ALIASED_OPERATIONS)) FAIL(r);
    Attr *provider = field[F_PROVIDER];
    if (provider) {
        for (Py_ssize_t i = 0; i < provider->str_len; i++)
            if (buf[provider->str + i] >= 0x80) FAIL(r); /* str.lower() beyond ASCII */
        for (Py_ssize_t k = 0; k < naliases; k++) { /* another name of a well-known provider */
            if (alias_lens[k] != provider->str_len) continue;
            Py_ssize_t i = 0;
            for (; i < provider->str_len; i++) {
                unsigned char ch = buf[provider->str + i];
                if ((ch >= 'A' && ch <= 'Z' ? ch + 32 : ch) != (unsigned char)aliases[k][i]) break;
            }
            if (i == provider->str_len) FAIL(r);
        }
    }
    Attr *explicit_kind = field[F_SPAN_KIND];
    if (explicit_kind)
        for (Py_ssize_t i = 0; i < explicit_kind->str_len; i++)
            if (buf[explicit_kind->str + i] >= 0x80) FAIL(r); /* str.lower() beyond ASCII */
    const char *finish = "";
    if (field[F_FINISH]) {
        Attr *a = field[F_FINISH];
        int found = -1;
        for (int i = 0; i < nfinish; i++)
            if (finish_from_len[i] == a->str_len && memcmp(finish_from[i], buf + a->str, a->str_len) == 0) found = i;
        if (found < 0) FAIL(r);
        finish = finish_to[found];
    }
    /* rows._status: llmtrace.status "cancelled" wins over the OTel status; "error" is an error */
    Attr *explicit_status = field[F_STATUS];
    int cancelled = explicit_status && bytes_eq(r, explicit_status->str, explicit_status->str_len, "cancelled");
    int error = !cancelled && (code == 2 || (explicit_status && bytes_eq(r, explicit_status->str,
                                                                         explicit_status->str_len, "error")));
    /* rows._status: the error type from the attribute, else the first exception event's; the
     * message from the first exception event, else the status */
    const char *error_type = NULL, *error_message = (const char *)buf + msg;
    Py_ssize_t error_type_len = 0, error_message_len = msg_len;
    if (field[F_ERROR_TYPE]) {
        error_type = (const char *)buf + field[F_ERROR_TYPE]->str;
        error_type_len = field[F_ERROR_TYPE]->str_len;
    } else if (ev.has_type) {
        error_type = (const char *)buf + ev.type;
        error_type_len = ev.type_len;
    }
    if (ev.has_message) {
        error_message = (const char *)buf + ev.message;
        error_message_len = ev.message_len;
    }
    if ((error || cancelled) && error_type) { /* dialects.error_type_name: only names it keeps as they are */
        if (memchr(error_type, '.', error_type_len) || (error_type_len >= 8 && memcmp(error_type, "<class '", 8) == 0))
            FAIL(r);
    }
    if ((error || cancelled) && error_message_len > 8192) FAIL(r); /* rows.py cuts at 8192 characters */
    /* dialects.first_token_ms: the first first-token event at or after the start */
    for (int i = 0; i < nfirst && !ev.has_first_token; i++)
        if (first_token_times[i] >= start_ns) {
            ev.has_first_token = 1;
            ev.first_token_ns = first_token_times[i];
        }
    if (!o->project_len) FAIL(r);

    /* the row */
    Attr *req = field[F_REQ_MODEL], *resp = field[F_RESP_MODEL];
    Attr *request_model = req ? req : resp;
    const char *kind;
    if (explicit_kind) kind = NULL; /* llmtrace.span.kind, lowercased below */
    else if (op && text_in(r, op, EMBEDDING_OPERATIONS)) kind = "embedding";
    else if (op && text_in(r, op, LLM_OPERATIONS)) kind = "llm";
    else if (op && bytes_eq(r, op->str, op->str_len, "execute_tool")) kind = "tool";
    else if (request_model) kind = "llm";
    else kind = "span";

    uint64_t span_id;
    memcpy(&span_id, buf + span, 8);
    if (buf_put(&t->span_ids, &span_id, 8) < 0) return -1;
    if (put_str(t, C_PROJECT, o->project, o->project_len) < 0 || put_hex(t, C_TRACE, (const char *)buf + trace, 16) < 0 ||
        put_hex(t, C_SPAN, (const char *)buf + span, 8) < 0 ||
        put_hex(t, C_PARENT, (const char *)buf + parent, parent >= 0 ? parent_len : 0) < 0 ||
        put_str(t, C_NAME, (const char *)buf + name, name_len) < 0)
        return -1;
    int priced;
    if (kind) {
        if (put_cstr(t, C_KIND, kind) < 0) return -1;
        priced = kind[0] == 'l' || kind[0] == 'e';
    } else { /* str(explicit).lower(), ASCII only (checked above); priced when llm or embedding */
        Column *c = &t->cols[C_KIND];
        Py_ssize_t n = explicit_kind->str_len, at = c->data.len;
        if (buf_reserve(&c->data, n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            char ch = (char)buf[explicit_kind->str + i];
            c->data.p[c->data.len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        if (put_offset(&c->offsets, c->data.len) < 0) return -1;
        priced = (n == 3 && memcmp(c->data.p + at, "llm", 3) == 0) || (n == 9 && memcmp(c->data.p + at, "embedding", 9) == 0);
    }
    if (res->has_service && res->service_len) {
        if (put_str(t, C_SERVICE, (const char *)buf + res->service, res->service_len) < 0) return -1;
    } else if (put_cstr(t, C_SERVICE, "unknown_service") < 0)
        return -1;
    Attr *env = field[F_ENV];
    if (env) {
        if (put_str(t, C_ENV, (const char *)buf + env->str, env->str_len) < 0) return -1;
    } else if (put_str(t, C_ENV, (const char *)buf + res->env, res->has_env ? res->env_len : 0) < 0)
        return -1;
    if (put_i64(t, C_START, (int64_t)(start_ns / 1000)) < 0 || put_i64(t, C_END, (int64_t)(end_ns / 1000)) < 0)
        return -1;
    double duration = (double)(int64_t)(end_ns - start_ns) / 1e6;
    if (buf_put(&t->cols[C_DURATION].data, &duration, 8) < 0) return -1;
    if (cancelled) { /* no "_OTHER" default for a cancelled span's error type */
        if (put_cstr(t, C_STATUS, "cancelled") < 0 ||
            put_str(t, C_ERROR_TYPE, error_type ? error_type : "", error_type ? error_type_len : 0) < 0 ||
            put_str(t, C_ERROR_MESSAGE, error_message, error_message_len) < 0)
            return -1;
    } else if (error) {
        if (put_cstr(t, C_STATUS, "error") < 0) return -1;
        if (error_type ? put_str(t, C_ERROR_TYPE, error_type, error_type_len) < 0
                       : put_cstr(t, C_ERROR_TYPE, "_OTHER") < 0)
            return -1;
        if (put_str(t, C_ERROR_MESSAGE, error_message, error_message_len) < 0) return -1;
    } else if (put_cstr(t, C_STATUS, "ok") < 0 || put_cstr(t, C_ERROR_TYPE, "") < 0 || put_cstr(t, C_ERROR_MESSAGE, "") < 0)
        return -1;
    /* provider, lowercased (ASCII only: checked above) */
    {
        Column *c = &t->cols[C_PROVIDER];
        Py_ssize_t n = provider ? provider->str_len : 0;
        if (buf_reserve(&c->data, n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            char ch = (char)buf[provider->str + i];
            c->data.p[c->data.len++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        if (put_offset(&c->offsets, c->data.len) < 0) return -1;
    }
#define PUT_FIELD(col, f) \
    (field[f] ? put_str(t, col, (const char *)buf + field[f]->str, field[f]->str_len) : put_str(t, col, "", 0))
    if (PUT_FIELD(C_OPERATION, F_OPERATION) < 0) return -1;
    if (request_model ? put_str(t, C_REQ_MODEL, (const char *)buf + request_model->str, request_model->str_len) < 0
                      : put_str(t, C_REQ_MODEL, "", 0) < 0)
        return -1;
    if (PUT_FIELD(C_RESP_MODEL, F_RESP_MODEL) < 0) return -1;
    int64_t tokens[5];
    for (int i = 0; i < 5; i++) {
        Attr *a = field[F_IN_TOK + i];
        tokens[i] = a ? a->i : 0;
        if (put_u32(t, C_IN_TOK + i, (uint32_t)tokens[i]) < 0) return -1;
    }
    /* llmtrace.usage.source when it is one of the three values, else from the token counts */
    Attr *source = field[F_USAGE_SOURCE];
    if (source && (text_in(r, source, USAGE_SOURCES))) {
        if (put_str(t, C_USAGE_SOURCE, (const char *)buf + source->str, source->str_len) < 0) return -1;
    } else if (put_cstr(t, C_USAGE_SOURCE, field[F_IN_TOK] || field[F_OUT_TOK] ? "reported" : "none") < 0)
        return -1;
    /* cost: the span's own, else the price book's (Python) */
    if (field[F_COST]) {
        if (put_f64n(t, C_COST, field[F_COST]->d, 1) < 0) return -1;
    } else if (priced && (tokens[0] || tokens[1])) {
        const char *texts[3] = {provider ? (const char *)buf + provider->str : "",
                                resp ? (const char *)buf + resp->str : "",
                                request_model ? (const char *)buf + request_model->str : ""};
        const Py_ssize_t lens[3] = {provider ? provider->str_len : 0, resp ? resp->str_len : 0,
                                    request_model ? request_model->str_len : 0};
        PyObject **strs = price_names(o, texts, lens), *cost = NULL;
        if (strs) {
            PyObject *args[10] = {strs[0], strs[1], strs[2], NULL, NULL, NULL, NULL, NULL, NULL, NULL};
            int ok = 1;
            for (int i = 0; i < 5 && ok; i++) ok = (args[3 + i] = PyLong_FromLongLong(tokens[i])) != NULL;
            if (ok) ok = (args[8] = PyLong_FromUnsignedLongLong(start_ns)) != NULL;
            if (ok)
                ok = (args[9] = tier ? PyUnicode_DecodeUTF8((const char *)buf + tier->str, tier->str_len, "strict")
                                     : Py_NewRef(Py_None)) != NULL;
            if (ok) cost = PyObject_Vectorcall(o->price, args, 10, NULL);
            for (int i = 3; i < 10; i++) Py_XDECREF(args[i]);
        }
        if (!cost) { /* the Python path rejects this span alone ("a mapping bug ..."): decline */
            PyErr_Clear();
            FAIL(r);
        }
        int valid = cost != Py_None;
        double d = valid ? PyFloat_AsDouble(cost) : 0.0;
        Py_DECREF(cost);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            FAIL(r);
        }
        if (put_f64n(t, C_COST, d, valid) < 0) return -1;
    } else if (put_f64n(t, C_COST, 0.0, 0) < 0)
        return -1;
    /* llmtrace.ttft_ms, else gen_ai.response.time_to_first_chunk (s), else the first-token event */
    Attr *ttft_ms = field[F_TTFT_MS], *ttft_s = field[F_TTFT_S];
    if (ttft_ms || ttft_s) {
        Attr *a = ttft_ms ? ttft_ms : ttft_s;
        double value = a->kind == V_INT ? (double)a->i : a->d;
        if (put_f64n(t, C_TTFT, ttft_ms ? value : value * 1000.0, 1) < 0) return -1;
    } else if (put_f64n(t, C_TTFT, ev.has_first_token ? (double)(ev.first_token_ns - start_ns) / 1e6 : 0.0,
                        ev.has_first_token) < 0)
        return -1;
    if (put_cstr(t, C_FINISH, finish) < 0) return -1;
    if (PUT_FIELD(C_PROMPT_NAME, F_PROMPT_NAME) < 0 || PUT_FIELD(C_PROMPT_VERSION, F_PROMPT_VERSION) < 0 ||
        PUT_FIELD(C_USER, F_USER) < 0 || PUT_FIELD(C_SESSION, F_SESSION) < 0)
        return -1;
    Attr *tags = field[F_TAGS];
    if (tags) { /* each tag's bytes into the column's data, its end into tag_offsets */
        Column *c = &t->cols[C_TAGS];
        if (tags->kind == V_STR) {
            if (buf_put(&c->data, buf + tags->str, tags->str_len) < 0 || put_offset(&t->tag_offsets, c->data.len) < 0)
                return -1;
            t->tag_count++;
        } else
            for (Py_ssize_t q = tags->items; q < tags->items_end; t->tag_count++) { /* checked when read */
                Py_ssize_t sa, sb, s, e, w;
                uint32_t it;
                if (tag(r, &q, tags->items_end, &it) < 0 || length(r, &q, tags->items_end, &sa, &sb) < 0) return -1;
                w = sa;
                if (tag(r, &w, sb, &it) < 0 || length(r, &w, sb, &s, &e) < 0) return -1;
                if (buf_put(&c->data, buf + s, e - s) < 0 || put_offset(&t->tag_offsets, c->data.len) < 0) return -1;
            }
    }
    if (put_offset(&t->cols[C_TAGS].offsets, t->tag_count) < 0) return -1;
    if (field[F_SYSTEM]) { /* gen_ai.system_instructions joins the input: JSON work, left to Python */
        Attr *system = field[F_SYSTEM], *input = field[F_INPUT];
        PyObject *args[2] = {PyUnicode_DecodeUTF8((const char *)buf + system->str, system->str_len, "strict"),
                             input ? PyUnicode_DecodeUTF8((const char *)buf + input->str, input->str_len, "strict")
                                   : PyUnicode_FromStringAndSize("", 0)};
        PyObject *text = args[0] && args[1] ? PyObject_Vectorcall(o->with_system, args, 2, NULL) : NULL;
        Py_XDECREF(args[0]);
        Py_XDECREF(args[1]);
        Py_ssize_t n;
        const char *utf8_text = text && PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &n) : NULL;
        if (!utf8_text) { /* the Python path rejects this span alone: decline */
            Py_XDECREF(text);
            PyErr_Clear();
            FAIL(r);
        }
        int rc = put_str(t, C_INPUT, utf8_text, n);
        Py_DECREF(text);
        if (rc < 0) return -1;
    } else if (PUT_FIELD(C_INPUT, F_INPUT) < 0)
        return -1;
    if (PUT_FIELD(C_OUTPUT, F_OUTPUT) < 0) return -1;
    Attr *chars = field[F_OUTPUT_CHARS]; /* llmtrace.output.chars: a non-negative int, capped at 2**32 - 1 */
    uint32_t output_chars = field[F_OUTPUT] ? (uint32_t)field[F_OUTPUT]->chars : 0;
    if (chars && chars->kind == V_INT && chars->i >= 0)
        output_chars = chars->i > 0xFFFFFFFFLL ? 0xFFFFFFFFu : (uint32_t)chars->i;
    if (put_u32(t, C_OUTPUT_CHARS, output_chars) < 0) return -1;
    for (int k = 0; k < nothers; k++) {
        Attr *a = &attrs[others[k]];
        if (buf_put(&t->map_keys, buf + a->key, a->key_len) < 0 || put_offset(&t->map_keys_off, t->map_keys.len) < 0 ||
            put_attribute_text(t, r, a) < 0)
            return -1;
    }
    t->map_count += nothers;
    if (put_offset(&t->cols[C_ATTRIBUTES].offsets, t->map_count) < 0) return -1;
    t->rows++;
    return 0;
}

static int read_scope_spans(Reader *r, Table *t, Py_ssize_t pos, Py_ssize_t end, Resource *res, Options *o) {
    while (pos < end) {
        uint32_t tg;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &tg) < 0) return -1;
        if (tg == (2 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || map_span(t, r, a, b, res, o) < 0) return -1;
        } else if (tg == (1 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_scope(r, a, b) < 0) return -1;
        } else if (tg == (3 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        } else if (skip(r, &pos, end, tg, BIT(1) | BIT(2) | BIT(3)) < 0)
            return -1;
    }
    return 0;
}

#define MAX_SCOPES 256

static int read_resource_spans(Reader *r, Table *t, Py_ssize_t pos, Py_ssize_t end, Options *o) {
    Py_ssize_t res_start = -1, res_end = -1, scopes[MAX_SCOPES][2];
    int nscopes = 0;
    while (pos < end) {
        uint32_t tg;
        Py_ssize_t a, b;
        if (tag(r, &pos, end, &tg) < 0) return -1;
        if (tg == (2 << 3 | 2)) {
            if (nscopes == MAX_SCOPES) FAIL(r);
            if (length(r, &pos, end, &a, &b) < 0) return -1;
            scopes[nscopes][0] = a;
            scopes[nscopes++][1] = b;
        } else if (tg == (1 << 3 | 2)) {
            if (res_start >= 0) FAIL(r);
            if (length(r, &pos, end, &res_start, &res_end) < 0) return -1;
        } else if (tg == (3 << 3 | 2)) {
            if (length(r, &pos, end, &a, &b) < 0 || check_text(r, a, b) < 0) return -1;
        } else if (skip(r, &pos, end, tg, BIT(1) | BIT(2) | BIT(3)) < 0)
            return -1;
    }
    Resource res;
    memset(&res, 0, sizeof res);
    if (res_start >= 0 && read_resource(r, res_start, res_end, &res) < 0) return -1;
    for (int i = 0; i < nscopes; i++)
        if (read_scope_spans(r, t, scopes[i][0], scopes[i][1], &res, o) < 0) return -1;
    return 0;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", b->len); }

/* The columns as Python bytes, in SPAN_COLUMNS order: (offsets, data) for strings, (data,) for
 * numbers, (validity, data) for nullable doubles, (offsets, string offsets, data) for tags, and for attributes
 * (offsets, key offsets, key data, value offsets, value data). */
static PyObject *table_result(Table *t) {
    PyObject *columns = PyTuple_New(NCOLS);
    if (!columns) return NULL;
    for (int i = 0; i < NCOLS; i++) {
        Column *c = &t->cols[i];
        PyObject *item;
        switch (COL_KINDS[i]) {
        case COL_STR: item = Py_BuildValue("(NN)", bytes_of(&c->offsets), bytes_of(&c->data)); break;
        case COL_F64N: item = Py_BuildValue("(NN)", bytes_of(&c->validity), bytes_of(&c->data)); break;
        case COL_LIST:
            item = Py_BuildValue("(NNN)", bytes_of(&c->offsets), bytes_of(&t->tag_offsets), bytes_of(&c->data));
            break;
        case COL_MAP:
            item = Py_BuildValue("(NNNNN)", bytes_of(&c->offsets), bytes_of(&t->map_keys_off), bytes_of(&t->map_keys),
                                 bytes_of(&t->map_vals_off), bytes_of(&t->map_vals));
            break;
        default: item = Py_BuildValue("(N)", bytes_of(&c->data));
        }
        if (!item) {
            Py_DECREF(columns);
            return NULL;
        }
        PyTuple_SET_ITEM(columns, i, item);
    }
    return Py_BuildValue("(nN)", t->rows, columns);
}

/* decode(body, project, now_ns, max_age_days, max_future_skew_ns, price, with_system)
 *   -> (rows, columns) | None */
static PyObject *decode(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer body;
    Options o;
    o.nnames = 0;
    if (!PyArg_ParseTuple(args, "y*s#LLLOO", &body, &o.project, &o.project_len, &o.now_ns, &o.max_age_days,
                          &o.skew_ns, &o.price, &o.with_system))
        return NULL;
    if (!configured) {
        PyBuffer_Release(&body);
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    Reader r = {(const unsigned char *)body.buf};
    Table t;
    PyObject *result = NULL;
    if (table_init(&t) < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t pos = 0, end = body.len;
    int rc = 0;
    while (pos < end && rc == 0) {
        uint32_t tg;
        Py_ssize_t a, b;
        rc = tag(&r, &pos, end, &tg);
        if (rc < 0) break;
        if (tg == (1 << 3 | 2)) {
            rc = length(&r, &pos, end, &a, &b);
            if (rc == 0) rc = read_resource_spans(&r, &t, a, b, &o);
        } else
            rc = skip(&r, &pos, end, tg, BIT(1));
    }
    if (rc == 0 && t.rows > 1) { /* a span id sent twice: the Python path keeps the last copy */
        uint64_t *ids = (uint64_t *)t.span_ids.p;
        qsort(ids, t.rows, 8, compare_u64);
        for (Py_ssize_t i = 1; i < t.rows; i++)
            if (ids[i] == ids[i - 1]) rc = -1;
    }
    if (rc < 0) { /* declined, or out of memory / over 2 GiB in a column: the Python path decides */
        if (!PyErr_Occurred()) result = Py_NewRef(Py_None);
        goto done;
    }
    result = table_result(&t);
done:
    options_free(&o);
    table_free(&t);
    PyBuffer_Release(&body);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "Set the attribute names read and declined (once)."},
    {"decode", decode, METH_VARARGS, "An OTLP trace body as `spans` column buffers, or None: decline."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cwire", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__cwire(void) { return PyModule_Create(&module); }
