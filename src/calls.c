/*
 * calls.c - the entry guard of every public call (see calls.h): the one
 * place that knows which calls may run inside callbacks, from other threads
 * and only while idle, and which clear the last error.
 */
#include "calls.h"
#include "source.h"

const unsigned ipm_call_rules[IPM_CALL_COUNT] = {
#define IPM_CALL_RULES(call, rules) [IPM_CALL_##call] = (rules),
    IPM_CALLS(IPM_CALL_RULES)
#undef IPM_CALL_RULES
};

const char *const ipm_call_names[IPM_CALL_COUNT] = {
#define IPM_CALL_NAME(call, rules) [IPM_CALL_##call] = #call,
    IPM_CALLS(IPM_CALL_NAME)
#undef IPM_CALL_NAME
};

int ipm_enter(const ipm_monitor *m, ipm_call call, const char *what)
{
    unsigned rules = ipm_call_rules[call];
    if (!m)
        return IPM_E_INVALID_ARGUMENT;
    if (!what)
        what = ipm_call_names[call];
    if (m->free_pending)
        return ipm_fail(m, IPM_E_BUSY,
                        "%s: the monitor was freed inside a callback; it goes away when "
                        "do_events returns and cannot be used any more", what);
    uintptr_t owner = atomic_load(&m->owner_thread);
    int own = owner == 0 || owner == ipm_this_thread();
    if (atomic_load(&m->dispatching)) {
        if (!own)
            /* Another thread runs do_events and owns the error record. */
            return (rules & IPM_RULE_OTHER_THREAD) ? IPM_OK : IPM_E_BUSY;
        if (!(rules & IPM_RULE_IN_CALLBACK))
            return ipm_fail(m, IPM_E_BUSY, "%s cannot be called from inside an event handler",
                            what);
    } else if (!own && (rules & IPM_RULE_OTHER_THREAD)) {
        /* A stop from another thread between two do_events of the owner,
         * which may be clearing or reading its error at this moment. */
        return IPM_OK;
    }
    if (rules & IPM_RULE_IDLE_ONLY) {
        switch (ipm_state_of(m)) {
        case IPM_STATE_ACTIVE:
            return ipm_fail(m, IPM_E_ACTIVE,
                            "%s is not allowed while the monitor is active (on \"%s\"): call "
                            "deactivate first", what, m->source_count ? m->sources[0]->name : "");
        case IPM_STATE_STOPPING:
            return ipm_fail(m, IPM_E_BUSY,
                            "%s is not allowed while the monitor is still stopping: call it "
                            "after do_events returns", what);
        case IPM_STATE_IDLE:
            break;
        }
    }
    if (rules & IPM_RULE_CLEARS_ERROR)
        ipm_clear_error(m);
    return IPM_OK;
}
