/*
 * The lab's stand-in for Grafana's program, bin/grafana: NOT Grafana.
 *
 * What it does is in grafana_standin.py, which the mirror packs beside it as
 * lib/grafana_standin.py (obslab/mirror.py). This launcher exists so that the process
 * holding Grafana's port is bin/grafana itself, as with Grafana, not a Python interpreter:
 * the deploy's preflight recognises our daemons by their executable.
 *
 *   grafana server --homepath=DIR --config=FILE
 *       asks the script for the address to listen on (it also creates the database at
 *       the first start), listens there, and hands each connection to the script on
 *       fd 3, inetd-style; the listening socket stays in this process alone.
 *   grafana anything else
 *       runs the script with the same arguments (--version, cli ...).
 *
 * Build: gcc -O2 -Wall -Werror -o grafana grafana_standin.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static char script[PATH_MAX];

static void die(const char *what) {
    fprintf(stderr, "grafana (lab stand-in): %s: %s\n", what, strerror(errno));
    exit(1);
}

static void find_script(void) {
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length < 0) die("readlink /proc/self/exe");
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) die("no directory in /proc/self/exe");
    *slash = '\0';
    if (snprintf(script, sizeof script, "%s/../lib/grafana_standin.py", self) >= (int)sizeof script) {
        errno = ENAMETOOLONG;
        die("script path");
    }
}

/* Exec the script with "mode" and the given arguments (argv[2:] of ours). */
static void exec_script(const char *mode, int argc, char **argv) {
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args) die("calloc");
    int n = 0;
    args[n++] = "python3";
    args[n++] = script;
    args[n++] = (char *)mode;
    for (int i = 2; i < argc; i++) args[n++] = argv[i];
    execv(PYTHON, args);
    die(PYTHON);
}

/* The script's "_prepare" answer: "ADDRESS PORT" on one line. */
static void listen_address(int argc, char **argv, char *host, size_t host_size,
                           char *port, size_t port_size) {
    int out[2];
    if (pipe(out) < 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        exec_script("_prepare", argc, argv);
    }
    close(out[1]);
    char line[256] = {0};
    ssize_t got = read(out[0], line, sizeof line - 1);
    close(out[0]);
    int status;
    if (waitpid(child, &status, 0) < 0) die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) exit(1);
    char format[32];
    snprintf(format, sizeof format, "%%%zus %%%zus", host_size - 1, port_size - 1);
    if (got <= 0 || sscanf(line, format, host, port) != 2) {
        fprintf(stderr, "grafana (lab stand-in): no listen address from the script\n");
        exit(1);
    }
}

static int listen_on(const char *host, const char *port) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *found;
    int error = getaddrinfo(host, port, &hints, &found);
    if (error) {
        fprintf(stderr, "grafana (lab stand-in): %s:%s: %s\n", host, port, gai_strerror(error));
        exit(1);
    }
    int server = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server < 0) die("socket");
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(server, found->ai_addr, found->ai_addrlen) < 0) die("bind");
    if (listen(server, 64) < 0) die("listen");
    freeaddrinfo(found);
    return server;
}

int main(int argc, char **argv) {
    find_script();
    if (argc < 2 || strcmp(argv[1], "server") != 0) exec_script(argc > 1 ? argv[1] : "", argc, argv);

    char host[128], port[16];
    listen_address(argc, argv, host, sizeof host, port, sizeof port);
    int server = listen_on(host, port);
    signal(SIGCHLD, SIG_IGN); /* connections' children are reaped by the kernel */
    printf("grafana (lab stand-in, not Grafana): listening on %s:%s\n", host, port);
    fflush(stdout);
    for (;;) {
        int connection = accept4(server, NULL, NULL, SOCK_CLOEXEC);
        if (connection < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            die("accept");
        }
        pid_t child = fork();
        if (child == 0) {
            /* dup2 clears close-on-exec, except when the connection is fd 3 already. */
            if (connection == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(connection, 3) < 0) {
                die("fd 3");
            }
            exec_script("_connection", argc, argv);
        }
        if (child < 0) perror("grafana (lab stand-in): fork");
        close(connection);
    }
}
