# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled twin of `_fixml_python` (SPEC §2.3): the FIXML reader's per-byte and per-report work.

Same API and results as `pipeline.ingest._fixml_python` (read that module first: it is the
statement of what this one does). Here the scanner runs over the bytes with memchr, and the
extractor reads lxml's libxml2 tree directly through lxml's public C API (`_Element._c_node`), so
no Python object is made per report or per value: each batch of rows comes out as Arrow buffers
(string_view columns, read by Polars without a copy). The tree is only read, between two feeds
of the parser, never changed.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy, memset, strcmp, strlen

from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Document, _Element, elementFactory, import_lxml__etree

import pyarrow as pa

import_lxml__etree()

cdef enum:
    N_STRINGS = 20
    VIEW = 16
    INLINE = 12

cdef enum:
    OUT = 0
    COMMENT = 1
    CDATA = 2
    PI = 3


# --- Buffers ------------------------------------------------------------------------------------

cdef struct StrCol:
    char* views
    Py_ssize_t views_cap
    char* data
    Py_ssize_t data_len
    Py_ssize_t data_cap
    uint8_t* valid
    Py_ssize_t valid_cap
    int64_t nulls


cdef int _grow(char** buf, Py_ssize_t* cap, Py_ssize_t need) except -1:
    cdef Py_ssize_t size = cap[0] if cap[0] else 4096
    cdef char* grown
    if need <= cap[0]:
        return 0
    while size < need:
        size *= 2
    grown = <char*>realloc(buf[0], size)
    if grown is NULL:
        raise MemoryError()
    buf[0] = grown
    cap[0] = size
    return 0


cdef struct I64Buf:
    int64_t* p
    Py_ssize_t n
    Py_ssize_t cap


cdef int _append(I64Buf* buf, int64_t value) except -1:
    cdef Py_ssize_t cap = buf.cap * sizeof(int64_t)
    if buf.n == buf.cap:
        _grow(<char**>&buf.p, &cap, (buf.n + 1) * sizeof(int64_t))
        buf.cap = cap // sizeof(int64_t)
    buf.p[buf.n] = value
    buf.n += 1
    return 0


# --- Scanner ------------------------------------------------------------------------------------

cdef inline bint _name_char(unsigned char c) noexcept nogil:
    return (c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z') or (c >= b'0' and c <= b'9') \
        or c == b'_' or c == b'.' or c == b'-' or c >= 0x80


cdef inline bint _space(unsigned char c) noexcept nogil:
    return c == b' ' or c == b'\t' or c == b'\n' or c == b'\r'


cdef inline bint _report_tag(const unsigned char* d, Py_ssize_t j, Py_ssize_t n) noexcept nogil:
    """Whether `d[j]` (a `<`) opens a `PosRpt` start tag, with or without a prefix."""
    cdef Py_ssize_t k = j + 1
    cdef Py_ssize_t local = k
    while k < n and _name_char(d[k]):
        k += 1
    if k < n and d[k] == b':' and k > j + 1:
        k += 1
        local = k
        while k < n and _name_char(d[k]):
            k += 1
    if k - local != 6 or memcmp(d + local, b"PosRpt", 6) != 0 or k >= n:
        return False
    return _space(d[k]) or d[k] == b'/' or d[k] == b'>'


cdef inline Py_ssize_t _count_nl(const unsigned char* d, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    cdef Py_ssize_t count = 0
    cdef const unsigned char* p = d + a
    cdef const unsigned char* end = d + b
    while p < end:
        p = <const unsigned char*>memchr(p, b'\n', end - p)
        if p is NULL:
            break
        count += 1
        p += 1
    return count


cdef inline Py_ssize_t _find(
    const unsigned char* d, Py_ssize_t i, Py_ssize_t n, const char* s, Py_ssize_t m
) noexcept nogil:
    cdef const unsigned char* p
    while i + m <= n:
        p = <const unsigned char*>memchr(d + i, s[0], n - m + 1 - i)
        if p is NULL:
            return -1
        i = p - d
        if memcmp(p, s, m) == 0:
            return i
        i += 1
    return -1


cdef inline bint _starts_ci(const unsigned char* d, Py_ssize_t n, const char* low, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    cdef unsigned char c
    if n < m:
        return False
    for k in range(m):
        c = d[k]
        if c >= b'A' and c <= b'Z':
            c += 32
        if c != <unsigned char>low[k]:
            return False
    return True


cdef class Scanner:
    """See `_fixml_python.Scanner`."""

    cdef public int64_t line
    cdef public int64_t offset
    cdef public int64_t forbidden_at
    cdef public bytes forbidden_marker
    cdef public int64_t first_tag_at
    cdef public int64_t tags
    cdef public tuple forbidden
    cdef int mode
    cdef bytes tail
    cdef I64Buf out

    def __cinit__(self):
        memset(&self.out, 0, sizeof(I64Buf))

    def __dealloc__(self):
        free(self.out.p)

    def __init__(self, int64_t first_line=1, int64_t offset=0, tuple forbidden=()):
        self.line = first_line
        self.offset = offset
        self.forbidden = forbidden
        self.forbidden_at = -1
        self.forbidden_marker = b""
        self.first_tag_at = -1
        self.tags = 0
        self.mode = OUT
        self.tail = b""

    cdef void _check_forbidden(self, const unsigned char* d, Py_ssize_t n):
        cdef const unsigned char* p = d
        cdef const unsigned char* end = d + n
        cdef bytes marker
        while p < end:
            p = <const unsigned char*>memchr(p, b'<', end - p)
            if p is NULL:
                return
            if p + 1 < end and p[1] == b'!':
                for marker in self.forbidden:
                    if _starts_ci(p, end - p, PyBytes_AS_STRING(marker), PyBytes_GET_SIZE(marker)):
                        self.forbidden_at = self.offset + (p - d)
                        self.forbidden_marker = marker
                        return
            p += 1

    def scan(self, bytes data):
        """Scan the next bytes; return the lines of the report start tags in them (int64)."""
        cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t i = 0, j, at, counted = 0, m, keep
        cdef int64_t line = self.line
        cdef const unsigned char* p
        cdef const char* end
        cdef bytes joined
        if len(self.forbidden) and self.forbidden_at < 0:
            self._check_forbidden(d, n)
        while i < n:
            if self.mode == OUT:
                p = <const unsigned char*>memchr(d + i, b'<', n - i)
                if p is NULL:
                    break
                j = p - d
                if j + 3 < n and memcmp(p, b"<!--", 4) == 0:
                    self.mode = COMMENT
                    i = j + 4
                elif j + 8 < n and memcmp(p, b"<![CDATA[", 9) == 0:
                    self.mode = CDATA
                    i = j + 9
                elif j + 1 < n and p[1] == b'?':
                    self.mode = PI
                    i = j + 2
                elif _report_tag(d, j, n):
                    line += _count_nl(d, counted, j)
                    counted = j
                    _append(&self.out, line)
                    self.tags += 1
                    if self.first_tag_at < 0:
                        self.first_tag_at = self.offset + j
                    i = j + 7
                else:
                    i = j + 1
                continue
            if self.mode == COMMENT:
                end, m = b"-->", 3
            elif self.mode == CDATA:
                end, m = b"]]>", 3
            else:
                end, m = b"?>", 2
            if PyBytes_GET_SIZE(self.tail):
                # An end marker may straddle two reads: search from the previous read's tail.
                joined = self.tail + data[i:i + m - 1]
                keep = PyBytes_GET_SIZE(self.tail)
                at = _find(<const unsigned char*>PyBytes_AS_STRING(joined), 0,
                           PyBytes_GET_SIZE(joined), end, m)
                if at >= 0:
                    self.tail = b""
                    self.mode = OUT
                    i += at - keep + m
                    continue
            at = _find(d, i, n, end, m)
            if at < 0:
                if n - i >= m - 1:
                    self.tail = data[n - (m - 1):]
                else:
                    self.tail = (self.tail + data[i:])[-(m - 1):]
                break
            self.tail = b""
            self.mode = OUT
            i = at + m
        self.line = line + _count_nl(d, counted, n)
        self.offset += n
        found = PyBytes_FromStringAndSize(<char*>self.out.p, self.out.n * sizeof(int64_t))
        self.out.n = 0
        return found


# --- Extractor ----------------------------------------------------------------------------------

cdef int _reserve(StrCol* col, Py_ssize_t rows) except -1:
    """Room for `rows` values in a column's views and validity (data grows in `_push`)."""
    _grow(&col.views, &col.views_cap, rows * VIEW)
    _grow(<char**>&col.valid, &col.valid_cap, rows // 8 + 1)
    return 0


cdef inline int _push(StrCol* col, Py_ssize_t row, const char* s, Py_ssize_t length) except -1:
    """Set value `row` (NULL `s`: null) as an Arrow string_view; room was reserved."""
    cdef char* view
    cdef int32_t n32, offset
    if row % 8 == 0:
        col.valid[row // 8] = 0
    view = col.views + row * VIEW
    memset(view, 0, VIEW)
    if s is NULL:
        col.nulls += 1
        return 0
    col.valid[row // 8] |= <uint8_t>(1 << (row % 8))
    n32 = <int32_t>length
    memcpy(view, &n32, 4)
    if length <= INLINE:
        memcpy(view + 4, s, length)
        return 0
    _grow(&col.data, &col.data_cap, col.data_len + length)
    memcpy(col.data + col.data_len, s, length)
    memcpy(view + 4, s, 4)
    offset = <int32_t>col.data_len
    memcpy(view + 12, &offset, 4)
    col.data_len += length
    return 0


cdef inline bint _in_ns(tree.xmlNode* node, const char* ns) noexcept nogil:
    if ns is NULL:
        return node.ns is NULL
    return node.ns is not NULL and node.ns.href is not NULL \
        and strcmp(<const char*>node.ns.href, ns) == 0


cdef inline bint _is(tree.xmlNode* node, const char* name, const char* ns) noexcept nogil:
    return node.type == tree.XML_ELEMENT_NODE and strcmp(<const char*>node.name, name) == 0 \
        and _in_ns(node, ns)


cdef inline tree.xmlAttr* _attr(tree.xmlNode* node, const char* name) noexcept nogil:
    """The attribute without namespace called `name` (what lxml's `get(name)` reads), or NULL."""
    cdef tree.xmlAttr* a = node.properties
    while a is not NULL:
        if a.ns is NULL and strcmp(<const char*>a.name, name) == 0:
            return a
        a = a.next
    return NULL


cdef inline const char* _simple(tree.xmlAttr* a) noexcept nogil:
    """The value of an attribute held in one text node (libxml2's usual form), else NULL."""
    if a.children is NULL:
        return b""
    if a.children.type == tree.XML_TEXT_NODE and a.children.next is NULL \
            and a.children.content is not NULL:
        return <const char*>a.children.content
    return NULL


cdef str _value(_Document doc, tree.xmlNode* node, tree.xmlAttr* a):
    # Several nodes (not seen from libxml2 without a DTD, but allowed): let lxml join them.
    cdef _Element proxy = elementFactory(doc, node)
    return proxy.get((<bytes>a.name).decode())


cdef class Extractor:
    """See `_fixml_python.Extractor`."""

    cdef StrCol cols[N_STRINGS]
    # line (0 where unknown, see line_known), n_account_parties, n_fin_qty
    cdef I64Buf line, line_known, n_account, n_fin
    cdef Py_ssize_t nrows
    cdef bytes ns_bytes
    cdef const char* ns
    # start lines found by the scanner, consumed from `queue_next`
    cdef I64Buf queue
    cdef Py_ssize_t queue_next
    cdef public bint lines_short
    cdef tree.xmlNode* parent_ok
    cdef _Document doc
    # rows the column buffers have room for
    cdef Py_ssize_t room
    # the namespace declaration last found to be the root's (nodes share it: a pointer test)
    cdef tree.xmlNs* ns_seen

    def __cinit__(self):
        memset(self.cols, 0, sizeof(self.cols))
        memset(&self.line, 0, sizeof(I64Buf))
        memset(&self.line_known, 0, sizeof(I64Buf))
        memset(&self.n_account, 0, sizeof(I64Buf))
        memset(&self.n_fin, 0, sizeof(I64Buf))
        memset(&self.queue, 0, sizeof(I64Buf))

    def __init__(self):
        self.ns_bytes = None
        self.ns = NULL
        self.queue_next = 0
        self.lines_short = False
        self.room = 0
        self.ns_seen = NULL
        self._reset()

    def __dealloc__(self):
        cdef int k
        for k in range(N_STRINGS):
            free(self.cols[k].views)
            free(self.cols[k].data)
            free(self.cols[k].valid)
        free(self.line.p)
        free(self.line_known.p)
        free(self.n_account.p)
        free(self.n_fin.p)
        free(self.queue.p)

    cdef void _reset(self):
        cdef int k
        for k in range(N_STRINGS):
            self.cols[k].data_len = 0
            self.cols[k].nulls = 0
        self.line.n = self.line_known.n = self.n_account.n = self.n_fin.n = 0
        self.nrows = 0

    def set_namespace(self, ns):
        self.ns_bytes = None if not ns else ns.encode()
        self.ns = NULL if self.ns_bytes is None else PyBytes_AS_STRING(self.ns_bytes)
        self.ns_seen = NULL

    def queue_lines(self, bytes lines):
        cdef Py_ssize_t k, n = PyBytes_GET_SIZE(lines) // 8
        cdef const int64_t* values = <const int64_t*>PyBytes_AS_STRING(lines)
        for k in range(n):
            _append(&self.queue, values[k])

    @property
    def lines_left(self):
        return self.queue.n - self.queue_next

    @property
    def rows(self):
        return self.nrows

    cdef bint _placed(self, tree.xmlNode* parent):
        cdef tree.xmlNode* grand = parent.parent
        if parent is self.parent_ok:
            return True
        if grand is NULL or grand.type == tree.XML_DOCUMENT_NODE:
            self.parent_ok = parent
            return True
        if _is(parent, b"Batch", self.ns) and grand.parent is not NULL \
                and grand.parent.type == tree.XML_DOCUMENT_NODE:
            self.parent_ok = parent
            return True
        return False

    def add(self, list events):
        """See `_fixml_python.Extractor.add`."""
        cdef Py_ssize_t index, total = PyList_GET_SIZE(events)
        cdef int others = 0
        cdef _Element el
        cdef tree.xmlNode* node
        # Parents are checked once per call: a pointer from an earlier call may have been freed.
        self.parent_ok = NULL
        for index in range(total):
            el = <_Element>PyTuple_GET_ITEM(<tuple>PyList_GET_ITEM(events, index), 1)
            node = el._c_node
            if strcmp(<const char*>node.name, b"PosRpt") != 0:
                others += 1
                continue
            if not _in_ns(node, self.ns) or not self._placed(node.parent):
                return index, others
            self.doc = el._doc
            self._row(node)
        self.doc = None
        return -1, others

    cdef int _put(self, int k, tree.xmlNode* node, tree.xmlAttr* a) except -1:
        cdef const char* v
        cdef bytes encoded
        if a is NULL:
            return _push(&self.cols[k], self.nrows, NULL, 0)
        v = _simple(a)
        if v is NULL:
            encoded = _value(self.doc, node, a).encode()
            return _push(&self.cols[k], self.nrows, PyBytes_AS_STRING(encoded), len(encoded))
        return _push(&self.cols[k], self.nrows, v, strlen(v))

    cdef int _put_text(self, int k, const char* v) except -1:
        return _push(&self.cols[k], self.nrows, v, 0 if v is NULL else strlen(v))

    cdef int _row(self, tree.xmlNode* e) except -1:
        # One pass over each element's attributes (names compared once each), like the Python
        # twin's `get` calls: the first attribute of a name is the one lxml would return.
        cdef const char* ns = self.ns
        cdef tree.xmlNode* c = e.children
        cdef tree.xmlAttr* a
        cdef tree.xmlAttr* rpt[6]
        cdef tree.xmlAttr* ins[5]
        cdef tree.xmlAttr* role
        cdef tree.xmlAttr* ident
        cdef tree.xmlAttr* typ
        cdef tree.xmlAttr* lo
        cdef tree.xmlAttr* sh
        cdef tree.xmlAttr* acc24 = NULL
        cdef tree.xmlAttr* acc38 = NULL
        cdef tree.xmlAttr* firm = NULL
        cdef tree.xmlAttr* amt = NULL
        cdef tree.xmlAttr* ccy = NULL
        cdef tree.xmlNode* acc24_node = NULL
        cdef tree.xmlNode* acc38_node = NULL
        cdef tree.xmlNode* firm_node = NULL
        cdef tree.xmlNode* instrmt = NULL
        cdef tree.xmlNode* fmtm = NULL
        cdef tree.xmlNode* sod = NULL
        cdef tree.xmlNode* fin = NULL
        cdef tree.xmlAttr* sod_attrs[2]
        cdef tree.xmlAttr* fin_attrs[2]
        cdef int64_t n24 = 0, n38 = 0, n_fin = 0, n_account
        cdef bint has_firm = False
        cdef const char* name
        cdef int k
        for k in range(6):
            rpt[k] = NULL
        for k in range(5):
            ins[k] = NULL
        sod_attrs[0] = sod_attrs[1] = fin_attrs[0] = fin_attrs[1] = NULL
        a = e.properties
        while a is not NULL:
            if a.ns is NULL:
                name = <const char*>a.name
                k = -1
                if strcmp(name, b"RptID") == 0:
                    k = 0
                elif strcmp(name, b"BizDt") == 0:
                    k = 1
                elif strcmp(name, b"ReqTyp") == 0:
                    k = 2
                elif strcmp(name, b"SetSesID") == 0:
                    k = 3
                elif strcmp(name, b"SetPx") == 0:
                    k = 4
                elif strcmp(name, b"PriSetPx") == 0:
                    k = 5
                if k >= 0 and rpt[k] is NULL:
                    rpt[k] = a
            a = a.next
        if self.nrows + 1 > self.room:
            self.room = 2 * self.room if self.room else 4096
            for k in range(N_STRINGS):
                _reserve(&self.cols[k], self.room)
        while c is not NULL:
            if c.type == tree.XML_ELEMENT_NODE and (
                (c.ns is self.ns_seen and c.ns is not NULL) or self._ours(c)
            ):
                name = <const char*>c.name
                if strcmp(name, b"Pty") == 0:
                    role = ident = NULL
                    a = c.properties
                    while a is not NULL:
                        if a.ns is NULL:
                            if role is NULL and strcmp(<const char*>a.name, b"R") == 0:
                                role = a
                            elif ident is NULL and strcmp(<const char*>a.name, b"ID") == 0:
                                ident = a
                        a = a.next
                    if role is not NULL:
                        if self._value_is(c, role, b"24"):
                            n24 += 1
                            if n24 == 1:
                                acc24, acc24_node = ident, c
                        elif self._value_is(c, role, b"38"):
                            n38 += 1
                            if n38 == 1:
                                acc38, acc38_node = ident, c
                        elif not has_firm and self._value_is(c, role, b"4"):
                            has_firm = True
                            firm, firm_node = ident, c
                elif strcmp(name, b"Qty") == 0:
                    typ = lo = sh = NULL
                    a = c.properties
                    while a is not NULL:
                        if a.ns is NULL:
                            if typ is NULL and strcmp(<const char*>a.name, b"Typ") == 0:
                                typ = a
                            elif lo is NULL and strcmp(<const char*>a.name, b"Long") == 0:
                                lo = a
                            elif sh is NULL and strcmp(<const char*>a.name, b"Short") == 0:
                                sh = a
                        a = a.next
                    if typ is not NULL:
                        if self._value_is(c, typ, b"FIN"):
                            n_fin += 1
                            if n_fin == 1:
                                fin, fin_attrs[0], fin_attrs[1] = c, lo, sh
                        elif sod is NULL and self._value_is(c, typ, b"SOD"):
                            sod, sod_attrs[0], sod_attrs[1] = c, lo, sh
                elif strcmp(name, b"Instrmt") == 0:
                    if instrmt is NULL:
                        instrmt = c
                        a = c.properties
                        while a is not NULL:
                            if a.ns is NULL:
                                name = <const char*>a.name
                                k = -1
                                if strcmp(name, b"ID") == 0:
                                    k = 0
                                elif strcmp(name, b"Sym") == 0:
                                    k = 1
                                elif strcmp(name, b"SecTyp") == 0:
                                    k = 2
                                elif strcmp(name, b"MMY") == 0:
                                    k = 3
                                elif strcmp(name, b"Exch") == 0:
                                    k = 4
                                if k >= 0 and ins[k] is NULL:
                                    ins[k] = a
                            a = a.next
                elif strcmp(name, b"Amt") == 0:
                    if fmtm is NULL:
                        typ = lo = sh = NULL
                        a = c.properties
                        while a is not NULL:
                            if a.ns is NULL:
                                if typ is NULL and strcmp(<const char*>a.name, b"Typ") == 0:
                                    typ = a
                                elif lo is NULL and strcmp(<const char*>a.name, b"Amt") == 0:
                                    lo = a
                                elif sh is NULL and strcmp(<const char*>a.name, b"Ccy") == 0:
                                    sh = a
                            a = a.next
                        if typ is not NULL and self._value_is(c, typ, b"FMTM"):
                            fmtm, amt, ccy = c, lo, sh
            c = c.next
        if self.queue_next < self.queue.n:
            _append(&self.line, self.queue.p[self.queue_next])
            _append(&self.line_known, 1)
            self.queue_next += 1
        else:
            _append(&self.line, 0)
            _append(&self.line_known, 0)
            self.lines_short = True
        if n24:
            n_account = n24
        else:
            n_account = n38
        _append(&self.n_account, n_account)
        _append(&self.n_fin, n_fin)
        for k in range(6):
            self._put(k, e, rpt[k])
        if n24:
            self._put(6, acc24_node, acc24)
            self._put_text(7, b"24")
        elif n38:
            self._put(6, acc38_node, acc38)
            self._put_text(7, b"38")
        else:
            self._put(6, NULL, NULL)
            self._put_text(7, NULL)
        self._put(8, firm_node, firm)
        for k in range(5):
            self._put(9 + k, instrmt, ins[k])
        self._put_qty(14, sod, sod_attrs[0])
        self._put_qty(15, sod, sod_attrs[1])
        self._put_qty(16, fin, fin_attrs[0])
        self._put_qty(17, fin, fin_attrs[1])
        self._put(18, fmtm, amt)
        self._put(19, fmtm, ccy)
        self.nrows += 1
        return 0

    cdef inline bint _ours(self, tree.xmlNode* node):
        """Whether an element is in the root's namespace (remembering the declaration)."""
        if _in_ns(node, self.ns):
            if node.ns is not NULL:
                self.ns_seen = node.ns
            return True
        return False

    cdef inline bint _value_is(self, tree.xmlNode* node, tree.xmlAttr* a, const char* value) except -1:
        cdef const char* v = _simple(a)
        if v is NULL:
            return _value(self.doc, node, a) == (<bytes>value).decode()
        return strcmp(v, value) == 0

    cdef int _put_qty(self, int k, tree.xmlNode* qty, tree.xmlAttr* a) except -1:
        if qty is NULL:
            return _push(&self.cols[k], self.nrows, NULL, 0)
        if a is NULL:
            # FIX: an omitted quantity is zero (SPEC §2.3).
            return _push(&self.cols[k], self.nrows, b"0", 1)
        return self._put(k, qty, a)

    def others(self, _Element parent, _Element stop=None):
        """See `_fixml_python.Extractor.others`: (index of `stop`, tags of other messages)."""
        cdef tree.xmlNode* c = parent._c_node.children
        cdef tree.xmlNode* end = NULL if stop is None else stop._c_node
        cdef tree.xmlNode* grand = parent._c_node.parent
        cdef bint under_root = grand is NULL or grand.type == tree.XML_DOCUMENT_NODE
        cdef Py_ssize_t index = 0
        found = []
        while c is not NULL and c is not end:
            if c.type == tree.XML_ELEMENT_NODE:
                index += 1
                if not (
                    _is(c, b"PosRpt", self.ns) or _is(c, b"Hdr", self.ns)
                    or (under_root and _is(c, b"Batch", self.ns))
                ):
                    name = (<bytes>c.name).decode()
                    if not _in_ns(c, self.ns):
                        href = "" if c.ns is NULL or c.ns.href is NULL else (<bytes>c.ns.href).decode()
                        name = f"{{{href}}}{name}" if href else name
                    found.append(name)
            c = c.next
        return index, found

    def take(self):
        """See `_fixml_python.Extractor.take`."""
        cdef int k
        cdef Py_ssize_t n = self.nrows
        cdef StrCol* col
        cdef bytearray bitmap = bytearray((n + 7) // 8)
        cdef Py_ssize_t unknown = 0
        for k in range(n):
            if self.line_known.p[k]:
                bitmap[k // 8] |= 1 << (k % 8)
            else:
                unknown += 1
        arrays = [
            pa.Array.from_buffers(
                pa.int64(), n, [pa.py_buffer(bytes(bitmap)), _int64_buffer(&self.line)],
                null_count=unknown,
            ),
            pa.Array.from_buffers(pa.int64(), n, [None, _int64_buffer(&self.n_account)]),
            pa.Array.from_buffers(pa.int64(), n, [None, _int64_buffer(&self.n_fin)]),
        ]
        for k in range(N_STRINGS):
            col = &self.cols[k]
            arrays.append(pa.Array.from_buffers(
                pa.string_view(), n,
                [
                    pa.py_buffer(PyBytes_FromStringAndSize(<char*>col.valid, (n + 7) // 8)),
                    pa.py_buffer(PyBytes_FromStringAndSize(col.views, n * VIEW)),
                    pa.py_buffer(PyBytes_FromStringAndSize(col.data, col.data_len)),
                ],
                null_count=col.nulls,
            ))
        # Drop the consumed start lines; those of unfinished reports stay queued.
        memcpy(self.queue.p, self.queue.p + self.queue_next,
               (self.queue.n - self.queue_next) * sizeof(int64_t))
        self.queue.n -= self.queue_next
        self.queue_next = 0
        self._reset()
        return arrays


cdef object _int64_buffer(I64Buf* buf):
    return pa.py_buffer(PyBytes_FromStringAndSize(<char*>buf.p, buf.n * sizeof(int64_t)))


def shift(const signed char[:] values, Py_ssize_t offset, Py_ssize_t length, int64_t delta):
    """See `_fixml_python.shift`."""
    cdef const int64_t* src = <const int64_t*>&values[0] + offset if length else NULL
    cdef bytearray out = bytearray(length * sizeof(int64_t))
    cdef int64_t* dst = <int64_t*><char*>out
    cdef Py_ssize_t k
    for k in range(length):
        dst[k] = src[k] + delta
    return bytes(out)
