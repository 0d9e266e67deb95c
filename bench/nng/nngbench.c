/*
 * nngbench: the nng side of spwire's benchmarks (bench/run.mjs builds it with
 * `cc -O2 nngbench.c -lnng` against Debian's libnng-dev and runs it).
 *
 * Each mode is one process; it talks to the bench runner in lines:
 * "ready" on stdout once it listens or is connected, one JSON line with its
 * figures at the end, and (pub) "go" on stdin to start sending. Times t0 and
 * t1 are seconds on CLOCK_MONOTONIC, the clock Node's process.hrtime reads,
 * so the runner can pair a sender's start with a receiver's end.
 *
 *   nngbench version
 *   nngbench pull <url> <count>               listen; say when message `count` came (t1)
 *   nngbench push <url> <size> <count>        dial; send count messages of size bytes (t0: the first)
 *   nngbench rep <url>                        listen; echo every request until stdin closes
 *   nngbench req <url> <size> <count> <warm>  dial; warm round trips, then count timed ones (ns)
 *   nngbench pub <url> <size> <count>         listen; on "go", send count messages; stay until stdin closes
 *
 * Messages are built with nng_msg_alloc and moved with nng_sendmsg /
 * nng_recvmsg (no extra copy); queues are set to their largest (8192
 * messages) so nng is measured at its best, not at its defaults.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#define QUEUE 8192

static void die(const char *what, int rv) {
	fprintf(stderr, "nngbench: %s: %s\n", what, nng_strerror(rv));
	exit(1);
}

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void say(const char *line) {
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static void set_queues(nng_socket s) {
	/* Not every protocol has both; an error here only means "not applicable". */
	nng_socket_set_int(s, NNG_OPT_SENDBUF, QUEUE);
	nng_socket_set_int(s, NNG_OPT_RECVBUF, QUEUE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
}

static void listen_on(nng_socket s, const char *url) {
	int rv = nng_listen(s, url, NULL, 0);
	if (rv != 0) die("listen", rv);
}

/* Dial, retrying for up to 10 s while the listener is not up yet. */
static void dial_to(nng_socket s, const char *url) {
	for (int i = 0; i < 1000; i++) {
		int rv = nng_dial(s, url, NULL, 0);
		if (rv == 0) return;
		if (rv != NNG_ECONNREFUSED) die("dial", rv);
		nng_msleep(10);
	}
	die("dial", NNG_ETIMEDOUT);
}

/* For modes that never read stdin: exit when it closes, so a runner that dies takes us along. */
static void watch_stdin(void *arg) {
	(void) arg;
	char buf[256];
	while (fread(buf, 1, sizeof buf, stdin) > 0) {
	}
	_exit(0);
}

static void exit_with_stdin(void) {
	nng_thread *t;
	int rv = nng_thread_create(&t, watch_stdin, NULL);
	if (rv != 0) die("thread_create", rv);
}

/* Block until stdin closes (the runner ends us that way) or says "quit". */
static void wait_stdin_end(void) {
	char line[64];
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (strncmp(line, "quit", 4) == 0) break;
	}
}

static int mode_pull(const char *url, long count) {
	nng_socket s;
	int rv;
	exit_with_stdin();
	if ((rv = nng_pull0_open(&s)) != 0) die("pull0_open", rv);
	set_queues(s);
	listen_on(s, url);
	say("ready");
	long bytes = 0;
	for (long n = 1; n <= count; n++) {
		nng_msg *m;
		if ((rv = nng_recvmsg(s, &m, 0)) != 0) die("recvmsg", rv);
		bytes += (long) nng_msg_len(m);
		nng_msg_free(m);
	}
	printf("{\"count\":%ld,\"t1\":%.9f,\"bytes\":%ld}\n", count, now_s(), bytes);
	fflush(stdout);
	nng_close(s);
	return 0;
}

static int mode_push(const char *url, size_t size, long count) {
	nng_socket s;
	int rv;
	if ((rv = nng_push0_open(&s)) != 0) die("push0_open", rv);
	set_queues(s);
	dial_to(s, url);
	say("ready");
	double t0 = now_s();
	for (long n = 0; n < count; n++) {
		nng_msg *m;
		if ((rv = nng_msg_alloc(&m, size)) != 0) die("msg_alloc", rv);
		memset(nng_msg_body(m), 'x', size);
		if ((rv = nng_sendmsg(s, m, 0)) != 0) die("sendmsg", rv);
	}
	printf("{\"sent\":true,\"t0\":%.9f}\n", t0);
	fflush(stdout);
	/* Let the queued messages leave before the socket goes: nng_close drops them. */
	wait_stdin_end();
	nng_close(s);
	return 0;
}

static int mode_rep(const char *url) {
	nng_socket s;
	int rv;
	exit_with_stdin();
	if ((rv = nng_rep0_open(&s)) != 0) die("rep0_open", rv);
	set_queues(s);
	listen_on(s, url);
	say("ready");
	for (;;) {
		nng_msg *m;
		if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
			if (rv == NNG_ECLOSED) break;
			die("recvmsg", rv);
		}
		if ((rv = nng_sendmsg(s, m, 0)) != 0) die("sendmsg", rv);
	}
	return 0;
}

static int mode_req(const char *url, size_t size, long count, long warm) {
	nng_socket s;
	int rv;
	exit_with_stdin();
	if ((rv = nng_req0_open(&s)) != 0) die("req0_open", rv);
	set_queues(s);
	dial_to(s, url);
	uint64_t *lat = calloc((size_t) count, sizeof *lat);
	if (lat == NULL) die("calloc", NNG_ENOMEM);
	for (long n = -warm; n < count; n++) {
		nng_msg *m;
		if ((rv = nng_msg_alloc(&m, size)) != 0) die("msg_alloc", rv);
		memset(nng_msg_body(m), 'x', size);
		uint64_t t = now_ns();
		if ((rv = nng_sendmsg(s, m, 0)) != 0) die("sendmsg", rv);
		if ((rv = nng_recvmsg(s, &m, 0)) != 0) die("recvmsg", rv);
		uint64_t d = now_ns() - t;
		nng_msg_free(m);
		if (n >= 0) lat[n] = d;
	}
	fputs("{\"ns\":[", stdout);
	for (long n = 0; n < count; n++) printf(n == 0 ? "%llu" : ",%llu", (unsigned long long) lat[n]);
	fputs("]}\n", stdout);
	fflush(stdout);
	free(lat);
	nng_close(s);
	return 0;
}

static int mode_pub(const char *url, size_t size, long count) {
	nng_socket s;
	int rv;
	char line[64];
	if ((rv = nng_pub0_open(&s)) != 0) die("pub0_open", rv);
	set_queues(s);
	listen_on(s, url);
	say("ready");
	if (fgets(line, sizeof line, stdin) == NULL) return 0;
	double t0 = now_s();
	for (long n = 0; n < count; n++) {
		nng_msg *m;
		if ((rv = nng_msg_alloc(&m, size)) != 0) die("msg_alloc", rv);
		memset(nng_msg_body(m), 'x', size);
		if ((rv = nng_sendmsg(s, m, 0)) != 0) die("sendmsg", rv);
	}
	printf("{\"sent\":true,\"t0\":%.9f,\"count\":%ld}\n", t0, count);
	fflush(stdout);
	wait_stdin_end();
	nng_close(s);
	return 0;
}

static long num(const char *s) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		fprintf(stderr, "nngbench: not a count: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "version") == 0) {
		printf("%s\n", nng_version());
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "pull") == 0) return mode_pull(argv[2], num(argv[3]));
	if (argc == 5 && strcmp(argv[1], "push") == 0) return mode_push(argv[2], (size_t) num(argv[3]), num(argv[4]));
	if (argc == 3 && strcmp(argv[1], "rep") == 0) return mode_rep(argv[2]);
	if (argc == 6 && strcmp(argv[1], "req") == 0) return mode_req(argv[2], (size_t) num(argv[3]), num(argv[4]), num(argv[5]));
	if (argc == 5 && strcmp(argv[1], "pub") == 0) return mode_pub(argv[2], (size_t) num(argv[3]), num(argv[4]));
	fprintf(stderr, "usage: nngbench version | pull URL COUNT | push URL SIZE COUNT | rep URL | req URL SIZE COUNT WARM | pub URL SIZE COUNT\n");
	return 2;
}
