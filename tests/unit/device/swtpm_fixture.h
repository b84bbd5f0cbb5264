/* A software TPM for the TPM tests: swtpm (Debian packages swtpm and
 * swtpm-tools, installed by scripts/setup.sh) on free loopback ports with a
 * fresh state directory, stopped by its PID and the directory removed.
 * Every wait is bounded. A missing swtpm FAILS the test (it is part of the
 * project's set-up; a skip would hide a broken machine). */
#ifndef DPS_TEST_SWTPM_FIXTURE_H
#define DPS_TEST_SWTPM_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    pid_t pid;
    int port; /* the TPM command port; port + 1 is the control port */
    char dir[64];
    char tcti[96];
} swtpm_fx;

static inline void swtpm_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A port P with P and P + 1 both free on 127.0.0.1 (as far as one can tell
 * without holding them), or 0. */
static inline int swtpm_free_port_pair(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        int port = 0;
        if (a >= 0 && b >= 0 && bind(a, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(a, (struct sockaddr *)&sa, &sl) == 0) {
            port = ntohs(sa.sin_port);
            sa.sin_port = htons((uint16_t)(port + 1));
            if (port >= 65535 || bind(b, (struct sockaddr *)&sa, sizeof sa) != 0)
                port = 0;
        }
        if (a >= 0)
            close(a);
        if (b >= 0)
            close(b);
        if (port != 0)
            return port;
    }
    return 0;
}

static inline int swtpm_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static inline bool swtpm_port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* Stops swtpm (SIGTERM, then SIGKILL after 3 s) and removes its state. */
static inline void swtpm_stop(swtpm_fx *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 30 && waitpid(f->pid, &status, WNOHANG) == 0; i++)
            swtpm_sleep_ms(100);
        if (waitpid(f->pid, &status, WNOHANG) == 0) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
        }
        f->pid = 0;
    }
    if (f->dir[0] != '\0') {
        nftw(f->dir, swtpm_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        f->dir[0] = '\0';
    }
}

/* Starts a fresh swtpm; fails the calling test when it cannot. */
static inline void swtpm_start(swtpm_fx *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/dps-swtpm-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = swtpm_free_port_pair();
        if (port == 0)
            fail_msg("no free loopback port pair for swtpm");
        char state[128], server[96], ctrl[96];
        snprintf(state, sizeof state, "dir=%s", f->dir);
        snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", port);
        snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
        char *argv[] = {"swtpm",  "socket", "--tpm2",   "--tpmstate", state,
                        "--server", server, "--ctrl", ctrl,         "--flags",
                        "not-need-init,startup-clear", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        pid_t pid = 0;
        int rc = posix_spawnp(&pid, "swtpm", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            swtpm_stop(f);
            fail_msg("cannot run swtpm (%s): install the swtpm and swtpm-tools packages "
                     "(scripts/setup.sh does)", strerror(rc));
        }
        f->pid = pid;
        /* Up within 5 s, or it died (a port taken meanwhile): try again. */
        bool up = false, died = false;
        for (int i = 0; i < 50 && !up && !died; i++) {
            int status = 0;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                died = true;
                f->pid = 0;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
                    swtpm_stop(f);
                    fail_msg("swtpm is not installed: install the swtpm and swtpm-tools "
                             "packages (scripts/setup.sh does)");
                }
                break;
            }
            up = swtpm_port_open(port);
            if (!up)
                swtpm_sleep_ms(100);
        }
        if (up) {
            f->port = port;
            snprintf(f->tcti, sizeof f->tcti, "swtpm:host=127.0.0.1,port=%d", port);
            return;
        }
        if (!died) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            f->pid = 0;
        }
    }
    swtpm_stop(f);
    fail_msg("swtpm did not come up on loopback after 3 attempts");
}

#endif
