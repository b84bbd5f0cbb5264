/* The local CA and server certificate in a state directory, so that dpsd
 * and hubd serve TLS out of the box. Files are created once and reused;
 * only the server certificate is ever replaced, and only when it no longer
 * fits (missing host name, near expiry, not from this CA). The CA itself is
 * never replaced silently, since clients have been told to trust it. */
#include "pki/pki.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define DAY_S (24 * 60 * 60)
#define CA_DAYS 3650          /* 10 years */
#define SERVER_DAYS 730       /* ~2 years, under the 825 days Apple accepts */
#define RENEW_BEFORE_DAYS 30
#define BACKDATE_S (60 * 60)  /* tolerate clients whose clock runs behind */

static const char *const default_names[] = {"localhost", "127.0.0.1", "::1"};
#define NDEFAULT (sizeof default_names / sizeof default_names[0])

#define PATH_CAP sizeof(((dps_pki_paths *)NULL)->ca_cert)

static int set_path(char *dst, const char *dir, const char *file)
{
    int n = snprintf(dst, PATH_CAP, "%s/%s", dir, file);
    return n < 0 || (size_t)n >= PATH_CAP ? -1 : 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int ensure_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    struct stat st;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write to a temporary file in the same directory, then rename: readers
 * see the old content or the new, never a torn file. mkstemp creates the
 * file 0600, so a key is never readable by others even for a moment. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode,
                        char *err, size_t errlen)
{
    char tmp[PATH_CAP + 16];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Persist the renames themselves. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fsync(fd) != 0)
        log_warn("pki: fsync of %s failed: %s", dir, strerror(errno));
    close(fd);
}

static int write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        snprintf(err, errlen, "cannot encode private key for %s", path);
        return -1;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    int rc = -1;
    if (n <= 0) {
        snprintf(err, errlen, "cannot encode private key for %s", path);
    } else {
        rc = write_atomic(path, data, (size_t)n, 0600, err, errlen);
        /* The PEM text is the key: do not leave it in freed memory. */
        OPENSSL_cleanse(data, (size_t)n);
    }
    BIO_free(bio);
    return rc;
}

/* Writes one or two certificates (leaf, then chain) as PEM, mode 0644:
 * certificates are public and clients need to read ca.pem. */
static int write_certs(const char *path, X509 *first, X509 *second, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = -1;
    if (bio == NULL || PEM_write_bio_X509(bio, first) != 1 ||
        (second != NULL && PEM_write_bio_X509(bio, second) != 1)) {
        snprintf(err, errlen, "cannot encode certificate for %s", path);
        goto done;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0) {
        snprintf(err, errlen, "cannot encode certificate for %s", path);
        goto done;
    }
    rc = write_atomic(path, data, (size_t)n, 0644, err, errlen);
done:
    BIO_free(bio);
    return rc;
}

static X509 *read_cert(const char *path, char *err, size_t errlen)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (cert == NULL)
        snprintf(err, errlen, "cannot read certificate %s", path);
    return cert;
}

static EVP_PKEY *read_key(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        log_warn("pki: %s is readable by group or others; it should be mode 0600", path);
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL)
        snprintf(err, errlen, "cannot read private key %s", path);
    return key;
}

static int create_ca(const dps_pki_paths *p, const char *cn, X509 **ca, EVP_PKEY **key,
                     char *err, size_t errlen)
{
    int64_t now = dps_now_s();
    dps_cert_spec spec = {
        .common_name = cn,
        .not_before_s = now - BACKDATE_S,
        .not_after_s = now + (int64_t)CA_DAYS * DAY_S,
        .is_ca = true,
        .path_len = 0, /* it signs server certificates only, never other CAs */
    };
    EVP_PKEY *k = dps_pki_generate_p256();
    if (k == NULL) {
        snprintf(err, errlen, "cannot generate CA key");
        return -1;
    }
    X509 *c = dps_pki_issue_cert(&spec, k, NULL, k, err, errlen);
    /* Key first: a crash before ca.pem exists leaves a key nobody trusts,
     * which the next start simply replaces. */
    if (c == NULL || write_key(p->ca_key, k, err, errlen) != 0 ||
        write_certs(p->ca_cert, c, NULL, err, errlen) != 0) {
        X509_free(c);
        EVP_PKEY_free(k);
        return -1;
    }
    log_info("pki: created local CA %s", p->ca_cert);
    *ca = c;
    *key = k;
    return 0;
}

static int load_or_create_ca(const dps_pki_paths *p, const char *cn, X509 **ca, EVP_PKEY **key,
                             char *err, size_t errlen)
{
    bool have_cert = file_exists(p->ca_cert);
    if (!have_cert)
        return create_ca(p, cn, ca, key, err, errlen);
    if (!file_exists(p->ca_key)) {
        snprintf(err, errlen, "%s exists but %s is missing; restore it or remove both",
                 p->ca_cert, p->ca_key);
        return -1;
    }
    X509 *c = read_cert(p->ca_cert, err, errlen);
    EVP_PKEY *k = c != NULL ? read_key(p->ca_key, err, errlen) : NULL;
    if (c == NULL || k == NULL) {
        X509_free(c);
        return -1;
    }
    if (X509_check_private_key(c, k) != 1) {
        snprintf(err, errlen, "%s does not belong to %s", p->ca_key, p->ca_cert);
        goto fail;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
        snprintf(err, errlen, "local CA %s has expired; remove the CA files to create a new one",
                 p->ca_cert);
        goto fail;
    }
    time_t soon = (time_t)(dps_now_s() + (int64_t)RENEW_BEFORE_DAYS * DAY_S);
    if (X509_cmp_time(X509_get0_notAfter(c), &soon) <= 0)
        log_warn("pki: local CA %s expires within %d days; plan its replacement", p->ca_cert,
                 RENEW_BEFORE_DAYS);
    *ca = c;
    *key = k;
    return 0;
fail:
    X509_free(c);
    EVP_PKEY_free(k);
    return -1;
}

/* server.pem: the leaf and the CA copy that follows it (NULL if absent). */
static X509 *read_server_chain(const char *path, X509 **chain_ca)
{
    *chain_ca = NULL;
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL)
        return NULL;
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (leaf != NULL)
        *chain_ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return leaf;
}

/* Why the server certificate on disk cannot be kept, or NULL when it can. */
static const char *server_unfit(const dps_pki_paths *p, X509 *ca,
                                const char *const *names, size_t nnames)
{
    char ignored[256];
    if (!file_exists(p->server_cert) || !file_exists(p->server_key))
        return "missing";
    X509 *chain_ca = NULL;
    X509 *cert = read_server_chain(p->server_cert, &chain_ca);
    EVP_PKEY *key = cert != NULL ? read_key(p->server_key, ignored, sizeof ignored) : NULL;
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
    time_t renew_at = (time_t)(dps_now_s() + (int64_t)RENEW_BEFORE_DAYS * DAY_S);
    const char *why = NULL;
    if (cert == NULL || key == NULL)
        why = "unreadable";
    else if (X509_check_private_key(cert, key) != 1)
        why = "key mismatch";
    else if (X509_check_issued(ca, cert) != X509_V_OK || ca_pub == NULL ||
             X509_verify(cert, ca_pub) != 1)
        why = "not issued by the local CA";
    else if (chain_ca == NULL || X509_cmp(chain_ca, ca) != 0)
        why = "chain does not carry the current CA certificate";
    else if (X509_cmp_time(X509_get0_notAfter(cert), &renew_at) <= 0)
        why = "expires within 30 days";
    else if (ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca)) > 0)
        why = "outlives the CA";
    for (size_t i = 0; why == NULL && i < nnames; i++)
        if (!dps_x509_has_san(cert, names[i]))
            why = "a requested host name is missing";
    X509_free(cert);
    X509_free(chain_ca);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return why;
}

static int issue_server(const dps_pki_paths *p, X509 *ca, EVP_PKEY *ca_key,
                        const char *const *names, size_t nnames, char *err, size_t errlen)
{
    int64_t now = dps_now_s();
    dps_cert_spec spec = {
        /* The first explicitly configured name is the one people look for. */
        .common_name = names[nnames > NDEFAULT ? NDEFAULT : 0],
        .not_before_s = now - BACKDATE_S,
        .not_after_s = now + (int64_t)SERVER_DAYS * DAY_S,
        .server_auth = true,
        .path_len = -1,
        .san = names,
        .nsan = nnames,
    };
    /* Never outlive the CA: a client would reject the chain from then on.
     * The difference is taken from the same `now` as the other dates (not
     * the clock again), so the end matches the CA's to the second. */
    int days = 0, secs = 0;
    ASN1_TIME *from = ASN1_TIME_set(NULL, (time_t)now);
    if (from != NULL && ASN1_TIME_diff(&days, &secs, from, X509_get0_notAfter(ca)) == 1) {
        int64_t ca_end = now + (int64_t)days * DAY_S + secs;
        if (ca_end < spec.not_after_s)
            spec.not_after_s = ca_end;
    }
    ASN1_TIME_free(from);
    EVP_PKEY *k = dps_pki_generate_p256();
    if (k == NULL) {
        snprintf(err, errlen, "cannot generate server key");
        return -1;
    }
    X509 *c = dps_pki_issue_cert(&spec, k, ca, ca_key, err, errlen);
    /* Key before certificate: after a crash in between, the pair no longer
     * matches and the next start reissues. */
    int rc = -1;
    if (c != NULL && write_key(p->server_key, k, err, errlen) == 0 &&
        write_certs(p->server_cert, c, ca, err, errlen) == 0)
        rc = 0;
    X509_free(c);
    EVP_PKEY_free(k);
    return rc;
}

int dps_pki_ensure_local_ca(const char *dir, const char *ca_common_name,
                            const char *const *hostnames, size_t nhostnames,
                            dps_pki_paths *out, char *err, size_t errlen)
{
    if (dir == NULL || dir[0] == '\0' || ca_common_name == NULL || ca_common_name[0] == '\0' ||
        (nhostnames > 0 && hostnames == NULL)) {
        snprintf(err, errlen, "local CA: directory and CA name are required");
        return -1;
    }
    if (nhostnames > DPS_PKI_MAX_SAN - NDEFAULT) {
        snprintf(err, errlen, "local CA: too many host names (at most %zu)",
                 (size_t)DPS_PKI_MAX_SAN - NDEFAULT);
        return -1;
    }
    /* Defaults first, then the configured names; checked before any file
     * is touched. */
    const char *names[DPS_PKI_MAX_SAN];
    size_t nnames = 0;
    for (size_t i = 0; i < NDEFAULT; i++)
        names[nnames++] = default_names[i];
    for (size_t i = 0; i < nhostnames; i++) {
        if (!dps_pki_san_name_valid(hostnames[i])) {
            snprintf(err, errlen, "local CA: invalid host name \"%.64s\"",
                     hostnames[i] == NULL ? "(null)" : hostnames[i]);
            return -1;
        }
        names[nnames++] = hostnames[i];
    }

    dps_pki_paths p;
    if (set_path(p.ca_cert, dir, "ca.pem") != 0 || set_path(p.ca_key, dir, "ca.key") != 0 ||
        set_path(p.server_cert, dir, "server.pem") != 0 ||
        set_path(p.server_key, dir, "server.key") != 0) {
        snprintf(err, errlen, "local CA: directory path too long");
        return -1;
    }
    if (ensure_dir(dir, err, errlen) != 0)
        return -1;

    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    if (load_or_create_ca(&p, ca_common_name, &ca, &ca_key, err, errlen) != 0) {
        ERR_clear_error();
        return -1;
    }
    int rc = 0;
    const char *why = server_unfit(&p, ca, names, nnames);
    if (why != NULL) {
        rc = issue_server(&p, ca, ca_key, names, nnames, err, errlen);
        if (rc == 0)
            log_info("pki: issued server certificate %s (previous one: %s)", p.server_cert,
                     why);
    }
    sync_dir(dir);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    ERR_clear_error();
    if (rc == 0)
        *out = p;
    return rc;
}
