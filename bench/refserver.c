/* refserver: the physical limit, for comparison. The least a greeting
 * server can do: epoll, accept4, send, close over TCP; recvmmsg and
 * sendmmsg over UDP. No configuration, no logging, no timeouts.
 *
 *   refserver TCPPORT UDPPORT GREETING-FILE     (on 127.0.0.1) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char *argv[])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char greeting[65536];
	static struct mmsghdr in[BATCH], out[BATCH];
	static struct sockaddr_in names[BATCH];
	struct iovec iov;
	size_t size;
	int t, u, ep, one = 1;
	FILE *f;

	if (argc != 4 || !(f = fopen(argv[3], "r")))
		return fprintf(stderr, "usage: refserver TCPPORT UDPPORT GREETING-FILE\n"), 2;
	size = fread(greeting, 1, sizeof(greeting), f);
	fclose(f);
	iov = (struct iovec){ greeting, size };
	t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	if (bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(t, 4096) < 0)
		return perror("tcp"), 1;
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	if (bind(u, (struct sockaddr *)&a, sizeof(a)) < 0)
		return perror("udp"), 1;
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, t, &(struct epoll_event){ .events = EPOLLIN, .data.fd = t });
	epoll_ctl(ep, EPOLL_CTL_ADD, u, &(struct epoll_event){ .events = EPOLLIN, .data.fd = u });
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event ev[2];
		int k = epoll_wait(ep, ev, 2, -1);
		for (int i = 0; i < k; i++) {
			if (ev[i].data.fd == t) {
				int c;
				while ((c = accept4(t, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					(void)send(c, greeting, size, MSG_NOSIGNAL);
					close(c);
				}
				continue;
			}
			for (int j = 0; j < BATCH; j++) {
				in[j].msg_hdr = (struct msghdr){ .msg_name = &names[j], .msg_namelen = sizeof(names[j]) };
			}
			int n = recvmmsg(u, in, BATCH, MSG_DONTWAIT, NULL);
			for (int j = 0; j < n; j++)
				out[j].msg_hdr = (struct msghdr){ .msg_name = &names[j], .msg_namelen = in[j].msg_hdr.msg_namelen,
								  .msg_iov = &iov, .msg_iovlen = 1 };
			if (n > 0)
				(void)sendmmsg(u, out, (unsigned)n, 0);
		}
	}
}
