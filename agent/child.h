/*
 * child: what every child the agent daemon forks for long work (an
 * install, a drill's hook) does first. The daemon has libzmq's threads,
 * but glibc keeps malloc and stdio usable in the child of a threaded
 * process; the child touches no ZeroMQ, reports over one pipe, and
 * leaves by _exit (the daemon's atexit handlers, czmq's, are not its).
 */
#ifndef HOIST_CHILD_H
#define HOIST_CHILD_H

#include <sys/types.h>

#define CHILD_FD 3 /* the pipe's write end in the child */

/* In a child just forked by PARENT with the pipe's write end WFD:
 * default SIGTERM and SIGINT, ignore SIGPIPE, die with the daemon
 * (PR_SET_PDEATHSIG; a daemon already gone ends it at once), and keep
 * only stdio and the pipe, as CHILD_FD: the daemon's sockets and files
 * stay with the daemon. Exits the child (_exit(1)) on failure. */
void child_enter(int wfd, pid_t parent);

#endif
