// nng 1.5.2 close race, reduced to plain C (no Swift, no Tanba code).
//
// A REQ socket is closed while the REP's answer may be arriving. When the close lands
// between the transport reading a message's length header and its callback issuing the
// body read, the body read is started on an aio the close already stopped:
// nni_aio_begin() refuses it without a completion, the protocol's pipe receive is never
// finished, and nng's single reaper thread waits for it forever in the pipe's stop
// function. This nng_close, and every later close of a socket with connections, hangs.
//
//   cc -O1 -o repro repro.c -lnng -lpthread && ./repro 5000
//   ./repro 5000 server    -- the same with the REP socket closed while a request arrives
//
// Prints "completed N iterations" or, on the hang, "HANG at iteration I" after 10 s
// without progress (then waits, so gdb -p can take the stacks). On a loaded 2-core
// machine it hung within 8..153 iterations, 3 runs out of 3 (docs/operations.md).
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
static char url[64];
static volatile int progress = 0;
static void *server(void *arg) {
    nng_socket s = *(nng_socket *)arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(s, &m, 0) != 0) return NULL;
        if (rand() % 2) usleep(rand() % 300);
        if (nng_sendmsg(s, m, 0) != 0) nng_msg_free(m);
    }
}
static void *watchdog(void *arg) {
    int last = -1, same = 0;
    for (;;) { sleep(1); if (progress == last) { if (++same == 10) { fprintf(stderr, "HANG at iteration %d (in nng_close)\n", progress); fflush(stderr); pause(); } } else { same = 0; last = progress; } }
}
// Server side: a fresh REP socket per iteration is closed while a request is arriving.
static int server_mode(int n) {
    pthread_t w;
    pthread_create(&w, NULL, watchdog, NULL);
    for (int i = 0; i < n; i++) {
        nng_socket rep, req; nng_listener l; int port; char u[64];
        nng_rep0_open(&rep);
        if (nng_listen(rep, "tcp://127.0.0.1:0", &l, 0) != 0) return 2;
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
        snprintf(u, sizeof u, "tcp://127.0.0.1:%d", port);
        nng_req0_open(&req);
        if (nng_dial(req, u, NULL, 0) != 0) { fprintf(stderr, "dial failed\n"); return 2; }
        nng_msg *m; nng_msg_alloc(&m, 64);
        if (nng_sendmsg(req, m, 0) != 0) nng_msg_free(m);
        usleep(rand() % 400);
        nng_close(rep);   // the request may be arriving right now
        nng_close(req);
        progress = i + 1;
    }
    printf("completed %d iterations without a hang\n", n);
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (argc > 2 && argv[2][0] == 's') return server_mode(n);
    nng_socket rep; nng_listener l; pthread_t t, w;
    nng_rep0_open(&rep);
    if (nng_listen(rep, "tcp://127.0.0.1:0", &l, 0) != 0) return 2;
    int port; nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    pthread_create(&t, NULL, server, &rep);
    pthread_create(&w, NULL, watchdog, NULL);
    for (int i = 0; i < n; i++) {
        nng_socket req; nng_req0_open(&req);
        if (nng_dial(req, url, NULL, 0) != 0) { fprintf(stderr, "dial failed\n"); return 2; }
        nng_msg *m; nng_msg_alloc(&m, 64);
        if (nng_sendmsg(req, m, 0) != 0) nng_msg_free(m);
        usleep(rand() % 400);
        nng_close(req);   // the answer may be arriving right now
        progress = i + 1;
    }
    printf("completed %d iterations without a hang\n", n);
    return 0;
}
