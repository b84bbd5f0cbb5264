/* dps-device x509 make-ca | issue: the certificates of an X.509 journey
 * made with our own tools (ECDSA P-256, SHA-256, lib/pki), and the
 * in-memory issuing that gives each device of a --count fleet its own
 * certificate under a CA. Keys are written with mode 0600; existing files
 * are kept unless --force. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/secret.h"
#include "common/strparse.h"
#include "pki/pki.h"
#include "x509_tool.h"

#define DAY_S 86400
#define MAX_DAYS 36500
#define SKEW_S 300 /* certificates start 5 minutes back: clocks differ */

static void x509_usage(FILE *f)
{
    fprintf(f,
"usage: dps-device x509 make-ca --cn NAME --out-cert FILE --out-key FILE\n"
"                               [--ca-cert FILE --ca-key FILE] [--path-len N] [options]\n"
"       dps-device x509 issue --ca-cert FILE --ca-key FILE --cn NAME\n"
"                             --out-cert FILE --out-key FILE [options]\n"
"\n"
"make-ca: a CA certificate and key: self-signed (a root), or signed by --ca-cert\n"
"and --ca-key (an intermediate).\n"
"issue: a device (leaf) certificate signed by a CA: CN = the registration ID,\n"
"clientAuth; also the proof-of-possession certificate of `dpsctl certificate\n"
"verify` (CN = the verification code).\n"
"\n"
"  --cn NAME              subject common name\n"
"  --ca-cert FILE         issuing CA certificate (PEM)\n"
"  --ca-key FILE          its private key (PEM, unencrypted)\n"
"  --out-cert FILE        where to write the certificate (PEM)\n"
"  --out-key FILE         where to write the new private key (PEM, mode 0600)\n"
"  --out-chain FILE       issue: also write certificate + issuing CA in one file\n"
"  --days N               validity in days, 1..%d (default: 365 for issue,\n"
"                         3650 for make-ca)\n"
"  --offset-days D        start D days from now, -%d..%d (default 0); with\n"
"                         --days makes expired (--offset-days -10 --days 5) or\n"
"                         not yet valid (--offset-days 5) certificates for tests\n"
"  --path-len N           make-ca: pathLenConstraint, 0..16 (default: none)\n"
"  --force                overwrite existing output files\n"
"  -h, --help\n",
            MAX_DAYS, MAX_DAYS, MAX_DAYS);
}

static int xbad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int xbad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dps-device: x509: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'dps-device x509 --help'.\n");
    va_end(ap);
    return 2;
}

static int xfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int xfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dps-device: x509: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- Loading and writing -------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Loads the issuing CA: certificate, key, and checks they belong together
 * and that the certificate may sign. 0 or -1 with the reason in err. */
static int load_issuer(const char *cert_path, const char *key_path, X509 **cert, EVP_PKEY **key,
                       char *err, size_t errlen)
{
    *cert = NULL;
    *key = NULL;
    FILE *f = fopen(cert_path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "--ca-cert %s: %s", cert_path, strerror(errno));
        return -1;
    }
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (*cert == NULL) {
        snprintf(err, errlen, "--ca-cert %s: no PEM certificate", cert_path);
        goto fail;
    }
    f = fopen(key_path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "--ca-key %s: %s", key_path, strerror(errno));
        goto fail;
    }
    *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (*key == NULL) {
        snprintf(err, errlen, "--ca-key %s: no unencrypted PEM private key", key_path);
        goto fail;
    }
    if (X509_check_private_key(*cert, *key) != 1) {
        snprintf(err, errlen, "--ca-key does not belong to --ca-cert");
        goto fail;
    }
    if (X509_check_ca(*cert) == 0) {
        snprintf(err, errlen, "--ca-cert %s is not a CA certificate (no CA:TRUE)", cert_path);
        goto fail;
    }
    ERR_clear_error();
    return 0;
fail:
    ERR_clear_error();
    X509_free(*cert);
    EVP_PKEY_free(*key);
    *cert = NULL;
    *key = NULL;
    return -1;
}

/* Opens path for writing: new (or replaced with --force), with mode. */
static FILE *open_out(const char *path, mode_t mode, bool force, char *err, size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (--force overwrites)" : "");
        return NULL;
    }
    if (force)
        (void)fchmod(fd, mode); /* a replaced key file must not stay readable */
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    return f;
}

static int write_certs(const char *path, X509 *const *certs, size_t n, bool force, char *err,
                       size_t errlen)
{
    FILE *f = open_out(path, 0644, force, err, errlen);
    if (f == NULL)
        return -1;
    int ok = 1;
    for (size_t i = 0; i < n && ok == 1; i++)
        ok = PEM_write_X509(f, certs[i]);
    if (fclose(f) != 0 || ok != 1) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

static int write_key(const char *path, EVP_PKEY *key, bool force, char *err, size_t errlen)
{
    FILE *f = open_out(path, 0600, force, err, errlen);
    if (f == NULL)
        return -1;
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || ok != 1) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

static X509 *mint(const char *cn, bool ca, int path_len, int64_t offset_days, int64_t days,
                  EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, char *err, size_t errlen)
{
    int64_t start = (int64_t)time(NULL) + offset_days * DAY_S - SKEW_S;
    dps_cert_spec spec = {
        .common_name = cn,
        .not_before_s = start,
        .not_after_s = start + SKEW_S + days * DAY_S,
        .is_ca = ca,
        .path_len = ca ? path_len : -1,
        .client_auth = !ca,
    };
    return dps_pki_issue_cert(&spec, key, issuer, issuer != NULL ? issuer_key : key, err, errlen);
}

static void print_cert(const char *what, X509 *cert, const char *path)
{
    char sha1[41], sha256[65], subject[256], issuer[256];
    dps_x509_thumbprint_sha1(cert, sha1);
    dps_x509_thumbprint_sha256(cert, sha256);
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    char until[64] = "?";
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
        strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s %s: subject %s, issuer %s, valid until %s\n", what, path, subject, issuer, until);
    printf("  sha1 thumbprint %s\n  sha256 thumbprint %s\n", sha1, sha256);
}

/* ---- The command ---------------------------------------------------------------- */

enum {
    X_CN = 256,
    X_CA_CERT,
    X_CA_KEY,
    X_OUT_CERT,
    X_OUT_KEY,
    X_OUT_CHAIN,
    X_DAYS,
    X_OFFSET_DAYS,
    X_PATH_LEN,
    X_FORCE,
};

static const struct option x509_opts[] = {
    {"cn", required_argument, NULL, X_CN},
    {"ca-cert", required_argument, NULL, X_CA_CERT},
    {"ca-key", required_argument, NULL, X_CA_KEY},
    {"out-cert", required_argument, NULL, X_OUT_CERT},
    {"out-key", required_argument, NULL, X_OUT_KEY},
    {"out-chain", required_argument, NULL, X_OUT_CHAIN},
    {"days", required_argument, NULL, X_DAYS},
    {"offset-days", required_argument, NULL, X_OFFSET_DAYS},
    {"path-len", required_argument, NULL, X_PATH_LEN},
    {"force", no_argument, NULL, X_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int num(const char *name, const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (dps_parse_int64(s, strlen(s), min, max, out) != 0)
        return xbad("--%s: '%s' is not a number in %lld..%lld", name, s, (long long)min,
                    (long long)max);
    return 0;
}

int sim_x509_main(int argc, char **argv)
{
    if (argc >= 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        x509_usage(stdout);
        return 0;
    }
    if (argc < 3 || (strcmp(argv[2], "issue") != 0 && strcmp(argv[2], "make-ca") != 0)) {
        fprintf(stderr, "dps-device: x509: %s\n",
                argc < 3 ? "a command is required (make-ca or issue)" : "unknown command");
        x509_usage(stderr);
        return 2;
    }
    bool issue = strcmp(argv[2], "issue") == 0;
    const char *cn = NULL, *ca_cert = NULL, *ca_key = NULL, *out_cert = NULL, *out_key = NULL,
               *out_chain = NULL;
    int64_t days = issue ? 365 : 3650, offset = 0, path_len = -1;
    bool force = false;
    optind = 3;
    opterr = 0;
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":h", x509_opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case X_CN: cn = a; break;
        case X_CA_CERT: ca_cert = a; break;
        case X_CA_KEY: ca_key = a; break;
        case X_OUT_CERT: out_cert = a; break;
        case X_OUT_KEY: out_key = a; break;
        case X_OUT_CHAIN: out_chain = a; break;
        case X_DAYS: rc = num("days", a, 1, MAX_DAYS, &days); break;
        case X_OFFSET_DAYS: rc = num("offset-days", a, -MAX_DAYS, MAX_DAYS, &offset); break;
        case X_PATH_LEN: rc = num("path-len", a, 0, 16, &path_len); break;
        case X_FORCE: force = true; break;
        case 'h': x509_usage(stdout); return 0;
        case ':': rc = xbad("option %s needs a value", argv[optind - 1]); break;
        default: rc = xbad("unknown option %s", argv[optind - 1]); break;
        }
    }
    if (rc != 0)
        return rc;
    if (optind < argc)
        return xbad("unexpected argument '%s'", argv[optind]);
    if (cn == NULL || cn[0] == '\0' || strlen(cn) > 64)
        return xbad("--cn is required (1..64 characters)");
    if (out_cert == NULL || out_key == NULL)
        return xbad("--out-cert and --out-key are required");
    if ((ca_cert == NULL) != (ca_key == NULL))
        return xbad("--ca-cert and --ca-key go together");
    if (issue && ca_cert == NULL)
        return xbad("issue: --ca-cert and --ca-key are required");
    if (!issue && out_chain != NULL)
        return xbad("--out-chain applies to issue only");
    if (issue && path_len >= 0)
        return xbad("--path-len applies to make-ca only");

    char err[512];
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    if (ca_cert != NULL && load_issuer(ca_cert, ca_key, &issuer, &issuer_key, err, sizeof err) != 0)
        return xfail("%s", err);
    EVP_PKEY *key = dps_pki_generate_p256();
    X509 *cert = key != NULL ? mint(cn, !issue, (int)path_len, offset, days, key, issuer,
                                    issuer_key, err, sizeof err)
                             : NULL;
    rc = 0;
    if (cert == NULL)
        rc = xfail("cannot issue the certificate: %s", key != NULL ? err : "no key");
    /* the key first: a certificate without its key is of no use */
    if (rc == 0 && write_key(out_key, key, force, err, sizeof err) != 0)
        rc = xfail("%s", err);
    if (rc == 0 && write_certs(out_cert, &cert, 1, force, err, sizeof err) != 0)
        rc = xfail("%s", err);
    X509 *both[2] = {cert, issuer};
    if (rc == 0 && out_chain != NULL && write_certs(out_chain, both, 2, force, err, sizeof err) != 0)
        rc = xfail("%s", err);
    if (rc == 0) {
        print_cert(issue ? "certificate" : issuer != NULL ? "intermediate CA" : "root CA", cert,
                   out_cert);
        printf("  key %s\n", out_key);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return rc;
}

/* ---- Certificates for a fleet ------------------------------------------------- */

void sim_x509_free_pem(char *pem, size_t len)
{
    if (pem != NULL) {
        dps_wipe(pem, len);
        free(pem);
    }
}

/* Appends a memory BIO's text to a growing buffer. 0 or -1. */
static int append_bio(char **buf, size_t *len, BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n < 0)
        return -1;
    char *grown = realloc(*buf, *len + (size_t)n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + *len, p, (size_t)n);
    *len += (size_t)n;
    grown[*len] = '\0';
    *buf = grown;
    return 0;
}

int sim_x509_issue_pem(const char *ca_cert, const char *ca_key, const char *chain_file,
                       const char *cn, uint32_t days, char **cert_pem, size_t *cert_len,
                       char **key_pem, size_t *key_len, char *err, size_t errlen)
{
    *cert_pem = *key_pem = NULL;
    *cert_len = *key_len = 0;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    if (load_issuer(ca_cert, ca_key, &issuer, &issuer_key, err, errlen) != 0)
        return -1;
    int rc = -1;
    EVP_PKEY *key = dps_pki_generate_p256();
    X509 *cert = NULL;
    /* the key's PEM lives in the secure heap, cleared when freed */
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_secmem()), *chain = NULL;
    if (chain_file != NULL && (chain = BIO_new_file(chain_file, "r")) == NULL) {
        snprintf(err, errlen, "--x509-chain %s: %s", chain_file, strerror(errno));
    } else if (key == NULL || cb == NULL || kb == NULL) {
        snprintf(err, errlen, "out of memory");
    } else if ((cert = mint(cn, false, -1, 0, days, key, issuer, issuer_key, err, errlen)) ==
               NULL) {
        /* err says why */
    } else if (PEM_write_bio_X509(cb, cert) != 1 || PEM_write_bio_X509(cb, issuer) != 1 ||
               PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1) {
        snprintf(err, errlen, "cannot encode the device certificate");
    } else {
        /* the device's file form: leaf, issuing CA, then the --x509-chain certificates */
        X509 *c;
        rc = 0;
        while (rc == 0 && chain != NULL && (c = PEM_read_bio_X509(chain, NULL, NULL, NULL)) != NULL) {
            rc = PEM_write_bio_X509(cb, c) == 1 ? 0 : -1;
            X509_free(c);
        }
        ERR_clear_error();
        if (rc == 0 && (append_bio(cert_pem, cert_len, cb) != 0 ||
                        append_bio(key_pem, key_len, kb) != 0))
            rc = -1;
        if (rc != 0) {
            snprintf(err, errlen, "out of memory");
            sim_x509_free_pem(*cert_pem, *cert_len);
            sim_x509_free_pem(*key_pem, *key_len);
            *cert_pem = *key_pem = NULL;
        }
    }
    BIO_free(chain);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return rc;
}
