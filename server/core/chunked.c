/*
 * server/chunked.c — see chunked.h for the grammar's states and limits.
 */
#include "server/core/chunked.h"

#include <string.h>

#include "common/error.h"

enum {
    ST_SIZE = 0, /* reading hex digits of chunk-size */
    ST_EXT,      /* after size: ";ext" or spaces until CR */
    ST_SIZE_LF,  /* CR seen after the size line */
    ST_DATA,     /* chunk payload */
    ST_DATA_CR,  /* CRLF after the payload */
    ST_DATA_LF,
    ST_TRAILER,     /* start of a trailer line (or the final blank line) */
    ST_TRAILER_TXT, /* inside a trailer line */
    ST_TRAILER_LF,  /* CR seen after a trailer line */
    ST_FINAL_LF,    /* CR seen on the blank line */
    ST_DONE,
};

void fl_chunked_init(fl_chunked_t *c)
{
    memset(c, 0, sizeof *c);
}

int fl_chunked_done(const fl_chunked_t *c)
{
    return c->state == ST_DONE;
}

int fl_chunked_decode(fl_chunked_t *c, fl_slice_t in, size_t *consumed, fl_slice_t *data)
{
    size_t i = 0;
    *data = fl_slice(NULL, 0);
    *consumed = 0;
    if (c->err)
        return c->err;
    int stop = 0; /* a payload slice is ready */
    /* an error ends the loop: c->err is set and the switch breaks out */
    while (i < in.n && c->state != ST_DONE && !c->err && !stop) {
        uint8_t ch = in.p[i];
        switch (c->state) {
        case ST_SIZE: {
            int h = fl_hex_digit(ch);
            if (h >= 0) {
                if (++c->digits > 16) {
                    c->err = FL_ELIMIT;
                    break;
                }
                c->size = c->size << 4 | (uint64_t)h;
                i++;
                break;
            }
            if (c->digits == 0) {
                c->err = FL_EMALFORMED;
                break;
            }
            if (c->size > FL_CHUNKED_MAX_CHUNK) {
                c->err = FL_ELIMIT;
                break;
            }
            if (ch == '\r') {
                c->state = ST_SIZE_LF;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = ST_EXT;
                c->line = 0;
            } else {
                {
                    c->err = FL_EMALFORMED;
                    break;
                }
            }
            i++;
            break;
        }
        case ST_EXT:
            if (ch == '\r')
                c->state = ST_SIZE_LF;
            else if (ch == '\n' || ++c->line > FL_CHUNKED_MAX_LINE) {
                c->err = ch == '\n' ? FL_EMALFORMED : FL_ELIMIT;
                break;
            }
            i++;
            break;
        case ST_SIZE_LF:
            if (ch != '\n') {
                c->err = FL_EMALFORMED;
                break;
            }
            i++;
            c->left = c->size;
            c->state = c->size ? ST_DATA : ST_TRAILER;
            c->size = 0;
            c->digits = 0;
            break;
        case ST_DATA: {
            /* the payload: returned in place, and we stop here so the
             * caller gets one contiguous slice per call */
            size_t n = in.n - i;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            *data = fl_slice(in.p + i, n);
            i += n;
            c->left -= n;
            c->decoded += n;
            if (c->left == 0)
                c->state = ST_DATA_CR;
            stop = 1;
            break;
        }
        case ST_DATA_CR:
            if (ch != '\r') {
                c->err = FL_EMALFORMED;
                break;
            }
            c->state = ST_DATA_LF;
            i++;
            break;
        case ST_DATA_LF:
            if (ch != '\n') {
                c->err = FL_EMALFORMED;
                break;
            }
            c->state = ST_SIZE;
            i++;
            break;
        case ST_TRAILER:
            if (ch == '\r') {
                c->state = ST_FINAL_LF;
            } else if (ch == '\n') {
                {
                    c->err = FL_EMALFORMED;
                    break;
                }
            } else {
                c->state = ST_TRAILER_TXT;
                c->line = 1;
            }
            i++;
            if (++c->trailers > FL_CHUNKED_MAX_TRAILERS) {
                c->err = FL_ELIMIT;
                break;
            }
            break;
        case ST_TRAILER_TXT:
            if (ch == '\r')
                c->state = ST_TRAILER_LF;
            else if (ch == '\n' || ++c->line > FL_CHUNKED_MAX_LINE) {
                c->err = ch == '\n' ? FL_EMALFORMED : FL_ELIMIT;
                break;
            }
            i++;
            if (++c->trailers > FL_CHUNKED_MAX_TRAILERS) {
                c->err = FL_ELIMIT;
                break;
            }
            break;
        case ST_TRAILER_LF:
            if (ch != '\n') {
                c->err = FL_EMALFORMED;
                break;
            }
            c->state = ST_TRAILER;
            i++;
            if (++c->trailers > FL_CHUNKED_MAX_TRAILERS) {
                c->err = FL_ELIMIT;
                break;
            }
            break;
        case ST_FINAL_LF:
            if (ch != '\n') {
                c->err = FL_EMALFORMED;
                break;
            }
            c->state = ST_DONE;
            i++;
            break;
        default: {
            c->err = FL_EMALFORMED;
            break;
        }
        }
    }
    c->offset += i;
    *consumed = i;
    return c->err;
}
