/* The one-line reason behind the last HUBD_INVALID / HUBD_ERROR of this
 * thread (registry.h's hubd_last_error), set by the model's functions. A
 * thread-local buffer keeps the result enums small and still lets the REST
 * side quote the exact rule that failed. */
#ifndef HUBD_MODEL_HUB_ERRORS_H
#define HUBD_MODEL_HUB_ERRORS_H

#define HUBD_ERROR_TEXT_MAX 320

/* Records the reason; returns nothing so it reads as a statement before a
 * `return HUBD_INVALID`. */
void hubd__set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hubd__clear_error(void);

#endif
