/* activate: what a systemd socket unit with ReceiveBuffer= gives, for the
 * bench. Binds a TCP listener and a UDP socket on HOST, the UDP one with a
 * receive buffer of RCVBUF bytes (SO_RCVBUFFORCE: as root, over
 * net.core.rmem_max), and runs COMMAND with them as fds 3 and 4
 * (LISTEN_FDS=2, sd_listen_fds(3)).
 *
 *   activate RCVBUF HOST TCPPORT UDPPORT COMMAND [ARG...] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int bound(int type, const char *host, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET, type, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		perror("activate");
		exit(1);
	}
	return fd;
}

int main(int argc, char *argv[])
{
	char pid[32];
	int t, u, size;

	if (argc < 6)
		return fprintf(stderr, "usage: activate RCVBUF HOST TCPPORT UDPPORT COMMAND [ARG...]\n"), 2;
	size = atoi(argv[1]);
	t = bound(SOCK_STREAM, argv[2], argv[3]);
	u = bound(SOCK_DGRAM, argv[2], argv[4]);
	if (setsockopt(u, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		return perror("activate: SO_RCVBUFFORCE"), 1;
	if (dup2(t, 3) != 3 || dup2(u, 4) != 4)
		return perror("activate: dup2"), 1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	execvp(argv[5], argv + 5);
	perror(argv[5]);
	return 127;
}
