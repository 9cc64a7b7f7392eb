/* One fd over a unix socket (SCM_RIGHTS), with a one-byte message: how the
 * reading child hands a configuration back, and the first process hands it
 * on to the workers. */
#pragma once

/* Sends fd over sock. 0, or -errno. */
int fd_send(int sock, int fd);

/* Receives one without waiting: the fd (close-on-exec), -EAGAIN or -EINTR
 * if nothing is there yet, -ECONNRESET at the end of the stream, -EBADMSG
 * for a message without exactly one fd (any that came are closed). */
int fd_receive(int sock);
