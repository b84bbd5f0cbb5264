/* libdpsdevice: the log sink. The library never prints; it hands one
 * formatted line at a time to a callback the application sets, and only
 * when the line's level is at or below the configured one (the level is
 * checked before anything is formatted). Secrets (keys, SAS tokens,
 * signatures) are never part of a message.
 *
 * Ownership: the message is valid only during the call; copy it to keep it.
 * The callback runs on the thread that called into the library. */
#ifndef DPS_DEVICE_LOG_H
#define DPS_DEVICE_LOG_H

typedef enum {
    DPS_DEVICE_LOG_ERROR = 0,
    DPS_DEVICE_LOG_WARN = 1,
    DPS_DEVICE_LOG_INFO = 2,
    DPS_DEVICE_LOG_DEBUG = 3,
} dps_device_log_level;

typedef void (*dps_device_log_fn)(void *ctx, dps_device_log_level level, const char *message);

/* Embedded in the option structs of both clients. fn == NULL: silent. */
typedef struct {
    dps_device_log_fn fn;
    void *ctx;
    dps_device_log_level level; /* lines above this level are not formatted */
} dps_device_logger;

/* Longest line handed to the callback (longer ones are cut, at a character
 * boundary is not promised: messages are ASCII in practice). */
#define DPS_DEVICE_LOG_LINE_MAX 512

#endif
