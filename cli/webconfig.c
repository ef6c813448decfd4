/*
 * webconfig.c - the exporter-toolkit web configuration file of `ipmon
 * exporter --web.config.file` (see webconfig.h): parsed with libyaml's
 * document loader, checked strictly (an unknown key is an error, as in
 * exporter-toolkit, so a typo never silently turns TLS or auth off), the
 * certificate and key read into memory for libmicrohttpd, and basic auth
 * checked with crypt(3) against bcrypt hashes.
 */
#include "webconfig.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* A whole file into a NUL-terminated string, or NULL (errno set). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len < cap - 1) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                buf = NULL;
                errno = e ? e : EIO;
            }
            break;
        }
        char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = p;
        cap *= 2;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

typedef struct loader {
    yaml_document_t doc;
    char *err;
    size_t errcap;
    int status;
    const char *dir; /* the config file's folder, with its '/', or "" */
} loader;

static int fail(loader *l, int status, yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(loader *l, int status, yaml_node_t *at, const char *fmt, ...)
{
    int n = 0;
    if (at)
        n = snprintf(l->err, l->errcap, "line %lu: ", (unsigned long)at->start_mark.line + 1);
    if (n < 0 || (size_t)n >= l->errcap)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err + n, l->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    l->status = status;
    return -1;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A file named by the config, relative to its folder: its contents. */
static int load_named_file(loader *l, yaml_node_t *v, const char *key, char **out)
{
    const char *name = scalar(v);
    if (!name || !*name)
        return fail(l, 2, v, "%s must be a file name", key);
    char path[4096];
    snprintf(path, sizeof path, "%s%s", name[0] == '/' ? "" : l->dir, name);
    free(*out);
    *out = read_file(path);
    if (!*out)
        return fail(l, 1, NULL, "%s %s: %s", key, path, strerror(errno));
    return 0;
}

static int load_tls(loader *l, yaml_node_t *map, web_config *wc)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(l, 2, map, "tls_server_config must be a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
        const char *key = scalar(k);
        if (key && strcmp(key, "cert_file") == 0) {
            if (load_named_file(l, v, "cert_file", &wc->cert_pem) < 0)
                return -1;
        } else if (key && strcmp(key, "key_file") == 0) {
            if (load_named_file(l, v, "key_file", &wc->key_pem) < 0)
                return -1;
        } else {
            return fail(l, 2, k, "tls_server_config: '%s' is not supported (only cert_file and key_file)",
                        key ? key : "?");
        }
    }
    if (!wc->cert_pem || !wc->key_pem)
        return fail(l, 2, map, "tls_server_config needs both cert_file and key_file");
    return 0;
}

static int load_users(loader *l, yaml_node_t *map, web_config *wc)
{
    if (map->type == YAML_SCALAR_NODE && !*scalar(map))
        return 0; /* "basic_auth_users:" with nothing: no users */
    if (map->type != YAML_MAPPING_NODE)
        return fail(l, 2, map, "basic_auth_users must be a mapping of user: bcrypt-hash");
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    wc->users = calloc(n ? n : 1, sizeof *wc->users);
    if (!wc->users)
        return fail(l, 1, NULL, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&l->doc, p->value);
        const char *user = scalar(k), *hash = scalar(v);
        if (!user || !*user)
            return fail(l, 2, k, "basic_auth_users: a user name must be a string");
        if (strchr(user, ':'))
            return fail(l, 2, k, "basic_auth_users: user name '%s' holds ':'", user);
        if (!hash || !(strncmp(hash, "$2a$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 ||
                       strncmp(hash, "$2y$", 4) == 0) ||
            crypt_checksalt(hash) != CRYPT_SALT_OK)
            return fail(l, 2, v, "basic_auth_users: the password of '%s' is not a bcrypt hash "
                                 "($2b$..., as 'htpasswd -nBC 10 %s' makes)", user, user);
        for (int i = 0; i < wc->user_count; i++)
            if (strcmp(wc->users[i].name, user) == 0)
                return fail(l, 2, k, "basic_auth_users: user '%s' is listed twice", user);
        web_user *u = &wc->users[wc->user_count];
        u->name = strdup(user);
        u->hash = strdup(hash);
        if (!u->name || !u->hash) {
            free(u->name);
            free(u->hash);
            return fail(l, 1, NULL, "out of memory");
        }
        wc->user_count++;
    }
    return 0;
}

int web_config_load(const char *path, web_config *wc, char *err, size_t errcap, int *status)
{
    memset(wc, 0, sizeof *wc);
    loader l = {.err = err, .errcap = errcap, .status = 0};
    char dir[4096] = "";
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path);
    l.dir = dir;

    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s", strerror(errno));
        *status = 1;
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &l.doc);
    if (!ok) {
        if (ferror(f))
            snprintf(err, errcap, "%s", strerror(errno ? errno : EIO));
        else
            snprintf(err, errcap, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not YAML");
        *status = ferror(f) ? 1 : 2;
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    if (!root) {
        /* an empty file: no TLS, no auth (exporter-toolkit accepts it too) */
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = fail(&l, 2, root, "the file must be a mapping (tls_server_config:, basic_auth_users:)");
    } else {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             rc == 0 && p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&l.doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&l.doc, p->value);
            const char *key = scalar(k);
            if (key && strcmp(key, "tls_server_config") == 0)
                rc = load_tls(&l, v, wc);
            else if (key && strcmp(key, "basic_auth_users") == 0)
                rc = load_users(&l, v, wc);
            else
                rc = fail(&l, 2, k, "'%s' is not supported (only tls_server_config and basic_auth_users)",
                          key ? key : "?");
        }
    }
    yaml_document_delete(&l.doc);
    if (rc != 0) {
        *status = l.status;
        web_config_free(wc);
    }
    return rc;
}

void web_config_free(web_config *wc)
{
    free(wc->cert_pem);
    free(wc->key_pem);
    for (int i = 0; i < wc->user_count; i++) {
        free(wc->users[i].name);
        free(wc->users[i].hash);
        free(wc->users[i].last_accepted);
    }
    free(wc->users);
    memset(wc, 0, sizeof *wc);
}

/* Equal strings, in a time that depends only on the lengths. */
static int same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int web_config_check_user(web_config *wc, const char *user, const char *password)
{
    web_user *u = NULL;
    for (int i = 0; i < wc->user_count; i++)
        if (strcmp(wc->users[i].name, user) == 0)
            u = &wc->users[i];
    if (!u)
        return 0;
    /* bcrypt costs tens of milliseconds on purpose; a scraper sends the
     * same password every few seconds: remember the last good one. */
    if (u->last_accepted && same(u->last_accepted, password))
        return 1;
    static struct crypt_data data; /* 32 kB: one thread uses it */
    memset(&data, 0, sizeof data);
    const char *h = crypt_rn(password, u->hash, &data, (int)sizeof data);
    int ok = h && same(h, u->hash);
    if (ok) {
        free(u->last_accepted);
        u->last_accepted = strdup(password);
    }
    return ok;
}
