/*
 * errors.c - the error codes' messages, the monitor's last-error buffer, and
 * the on_error event.
 *
 * Every failing call goes through ipm_fail(), which records a specific
 * message (what went wrong and what to do) next to the code, as curl's
 * CURLOPT_ERRORBUFFER does. Errors that happen while events are dispatched
 * have no caller to return to, so they reach the application as on_error.
 */
#include "internal.h"

#include <stdio.h>

static const char *const messages[] = {
    [0] = "no error",
    [-IPM_E_INVALID_ARGUMENT] = "invalid argument",
    [-IPM_E_INDEX_OUT_OF_RANGE] = "adapter index out of range",
    [-IPM_E_ACTIVE] = "not allowed while the monitor is active",
    [-IPM_E_NOT_ACTIVE] = "the monitor is not active",
    [-IPM_E_ADAPTER_NOT_FOUND] = "adapter not found",
    [-IPM_E_BAD_FILTER] = "bad filter expression",
    [-IPM_E_PERMISSION] = "permission denied",
    [-IPM_E_CAPTURE] = "capture error",
    [-IPM_E_NO_MEMORY] = "out of memory",
    [-IPM_E_CONFIG] = "bad configuration setting",
    [-IPM_E_HANDLER] = "an event handler failed",
    [-IPM_E_UNSUPPORTED] = "not supported",
    [-IPM_E_ADAPTER_GONE] = "the adapter disappeared",
    [-IPM_E_FILE] = "capture file error",
    [-IPM_E_BUSY] = "not allowed from inside an event handler",
};

const char *ipm_strerror(int code)
{
    if (code > 0 || -code >= (int)(sizeof messages / sizeof messages[0]) || !messages[-code])
        return "unknown error";
    return messages[-code];
}

int ipm_fail(ipm_monitor *m, int code, const char *fmt, ...)
{
    if (m) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
        va_end(ap);
        m->last_error_code = code;
    }
    return code;
}

void ipm_clear_error(ipm_monitor *m)
{
    m->last_error_code = IPM_OK;
    m->last_error[0] = '\0';
}

const char *ipm_last_error(const ipm_monitor *m)
{
    return m ? m->last_error : "monitor is NULL";
}

int ipm_last_error_code(const ipm_monitor *m)
{
    return m ? m->last_error_code : IPM_E_INVALID_ARGUMENT;
}

void ipm_fire_error(ipm_monitor *m, int code, int handler_result, int adapter_index,
                    const char *adapter, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error_description, sizeof m->error_description, fmt, ap);
    va_end(ap);
    if (!m->on_error)
        return;
    ipm_error_event ev = {
        .error_code = code,
        .description = m->error_description,
        .handler_result = handler_result,
        .adapter_index = adapter_index,
        .adapter = adapter,
    };
    m->on_error(&ev, m->on_error_user);
}
