#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "fdpass.h"
#include "macro.h"

typedef union {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
} fd_control;

int fd_send(int sock, int fd)
{
	fd_control control = {};
	struct iovec iov = { .iov_base = (char *)"c", .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			    .msg_controllen = sizeof(control) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	*cm = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? negative_errno() : 0;
}

int fd_receive(int sock)
{
	fd_control control;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			    .msg_controllen = sizeof(control) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int fd = -1;

	if (n < 0)
		return negative_errno();
	if (n == 0)
		return -ECONNRESET;
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	/* The buffer holds one fd: more would have been cut (MSG_CTRUNC) and closed by the kernel. */
	if (fd >= 0 && (m.msg_flags & MSG_CTRUNC))
		fd = safe_close(fd);
	return fd >= 0 ? fd : -EBADMSG;
}
