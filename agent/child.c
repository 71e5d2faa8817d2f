/*
 * child: see child.h.
 */
#include "child.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

void
child_enter(int wfd, pid_t parent)
{
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
        _exit(1);
    }
    if (wfd != CHILD_FD && dup2(wfd, CHILD_FD) < 0) {
        _exit(1);
    }
    if (close_range(CHILD_FD + 1, ~0u, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = CHILD_FD + 1; fd < (max > 0 && max < 65536 ? max : 65536);
             fd++) {
            close(fd);
        }
    }
}
