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

/* Generated from IPM_ERROR_MAP, so every code has its message by
 * construction; as a switch (not an array indexed by -code) the compiler
 * rejects two codes with one value and no value needs to be dense. */
const char *ipm_strerror(int code)
{
    switch ((ipm_error)code) {
#define IPM_ERROR_MESSAGE(name, value, message) case IPM_##name: return message;
        IPM_ERROR_MAP(IPM_ERROR_MESSAGE)
#undef IPM_ERROR_MESSAGE
    }
    return "unknown error";
}

const char *ipm_error_name(int code)
{
    switch ((ipm_error)code) {
#define IPM_ERROR_NAME(name, value, message) case IPM_##name: return #name;
        IPM_ERROR_MAP(IPM_ERROR_NAME)
#undef IPM_ERROR_NAME
    }
    return NULL;
}

int ipm_fail(const ipm_monitor *m, int code, const char *fmt, ...)
{
    if (m) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->error->message, sizeof m->error->message, fmt, ap);
        va_end(ap);
        m->error->code = code;
    }
    return code;
}

void ipm_clear_error(const ipm_monitor *m)
{
    m->error->code = IPM_OK;
    m->error->message[0] = '\0';
}

const char *ipm_last_error(const ipm_monitor *m)
{
    return m ? m->error->message : "monitor is NULL";
}

int ipm_last_error_code(const ipm_monitor *m)
{
    return m ? m->error->code : IPM_E_INVALID_ARGUMENT;
}

void ipm_fire_error(ipm_monitor *m, int code, int handler_result, int adapter_index,
                    const char *adapter, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error->description, sizeof m->error->description, fmt, ap);
    va_end(ap);
    if (!m->on_error)
        return;
    ipm_error_event ev = {
        .error_code = code,
        .description = m->error->description,
        .handler_result = handler_result,
        .adapter_index = adapter_index,
        .adapter = adapter,
    };
    m->on_error(&ev, m->on_error_user);
}
