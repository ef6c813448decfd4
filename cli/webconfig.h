/*
 * webconfig.h - `ipmon exporter --web.config.file`: the Prometheus
 * exporter-toolkit web configuration (YAML, read with libyaml): TLS
 * (tls_server_config: cert_file, key_file) and basic_auth_users (bcrypt
 * hashes, checked with crypt(3) from libxcrypt). Implemented in webconfig.c.
 */
#ifndef IPMON_WEBCONFIG_H
#define IPMON_WEBCONFIG_H

#include <stddef.h>

typedef struct web_user {
    char *name;
    char *hash;          /* "$2b$..." / "$2y$..." / "$2a$..." */
    char *last_accepted; /* the password last checked good (crypt is slow on purpose) */
} web_user;

typedef struct web_config {
    char *cert_pem, *key_pem; /* the files' contents, read at start (before -Z) */
    web_user *users;
    int user_count;
} web_config;

/* Read and check `path`. On error returns -1 with a one-line reason in
 * err ("line 3: ...", "cert_file: No such file or directory") and the
 * exit status to use in *status (1: the file or a file it names cannot be
 * read; 2: the file is malformed or has values the exporter does not
 * support). On success everything is loaded into wc (free with
 * web_config_free). Relative cert_file / key_file paths are taken from
 * the config file's folder, as exporter-toolkit does. */
int web_config_load(const char *path, web_config *wc, char *err, size_t errcap, int *status);
void web_config_free(web_config *wc);

/* Whether basic auth is on (any users). */
static inline int web_config_has_auth(const web_config *wc)
{
    return wc->user_count > 0;
}

/* 1 if user/password match a basic_auth_users entry, else 0. Not thread
 * safe: called from the HTTP server's one thread only. */
int web_config_check_user(web_config *wc, const char *user, const char *password);

#endif
