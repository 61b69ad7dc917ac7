/*
 * scheduler-join: runs one exec's command inside a running container of the embedded cluster, as nsenter did, with
 * no managed code anywhere near the container (see docs/local-cluster.md, Exec).
 *
 *   scheduler-join --target PID --start-time TICKS --wd DIR [--user UID --group GID (--groups G1,G2 | --clear-groups)]
 *                  -- COMMAND [ARG...]
 *
 * It refuses a PID that is no longer the container's process (another process with the same pid: its start time, field
 * 22 of /proc/PID/stat, differs), joins that process's mount, pid and UTS namespaces, changes to DIR as root, then forks:
 * the child takes the container's user and groups, no-new-privileges and only stdin, stdout and stderr, and execs
 * COMMAND (found on PATH, with this process's environment); the parent waits and exits as the child did, dying of the
 * same signal when the child died of one.
 *
 * The container's loader variables (LD_PRELOAD, GCONV_PATH, ...: the job chooses them) come under the prefix
 * SCHEDULER_DEFERRED_ENV_, never by their names, so that no loader of a root process reads them (this program may be
 * linked dynamically). The child, as the container's user, sets each under its own name just before exec; every entry
 * with the prefix is the runtime's (a container's own such variable comes prefixed twice, and keeps one prefix).
 *
 * Exit codes of its own: 125 it could not join (the process is gone or is another one), 1 DIR cannot be entered (as
 * nsenter --wdns), 127 COMMAND not found, 126 COMMAND cannot be executed (as from a shell).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

enum { EXIT_NOT_JOINED = 125, EXIT_CANNOT_EXECUTE = 126, EXIT_NOT_FOUND = 127 };

/* Kubernetes' supplementalGroups has no limit; the kernel's is NGROUPS_MAX (65536). */
#define MAX_GROUPS 65536
static gid_t groups[MAX_GROUPS];

static void fail(int code, const char *what, const char *detail)
{
    fprintf(stderr, "scheduler-join: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(code);
}

static void fail_errno(int code, const char *what) { fail(code, what, strerror(errno)); }

/* A decimal number in [0, max]; anything else is a usage error. */
static unsigned long long number(const char *text, unsigned long long max, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value > max) fail(2, "invalid number for", what);
    return value;
}

/* "3000,4000" into groups[]; returns how many. */
static size_t parse_groups(char *list)
{
    size_t count = 0;
    for (char *word = strtok(list, ","); word; word = strtok(NULL, ",")) {
        if (count == MAX_GROUPS) fail(2, "too many groups", NULL);
        groups[count++] = (gid_t)number(word, 2147483647ULL, "--groups");
    }
    return count;
}

/* Field 22 of /proc/PID/stat (starttime, clock ticks after boot), read through the process's /proc directory. */
static unsigned long long start_time(int procfd)
{
    char stat[4096];
    int fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno(EXIT_NOT_JOINED, "cannot read the target's /proc/PID/stat");
    ssize_t length = read(fd, stat, sizeof stat - 1);
    if (length < 0) fail_errno(EXIT_NOT_JOINED, "cannot read the target's /proc/PID/stat");
    close(fd);
    stat[length] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields are counted from its last ')'. */
    char *field = strrchr(stat, ')');
    for (int index = 2; field && index < 22; index++) field = strchr(field + 1, ' ');
    if (!field) fail(EXIT_NOT_JOINED, "cannot parse the target's /proc/PID/stat", NULL);
    char *end;
    unsigned long long value = strtoull(field + 1, &end, 10);
    if (end == field + 1) fail(EXIT_NOT_JOINED, "cannot parse the target's /proc/PID/stat", NULL);
    return value;
}

/* Kernels before 5.8 take only namespace files in setns: those of the process whose /proc directory was checked. */
static void join_by_files(int procfd)
{
    static const struct { const char *path; int type; } spaces[] = {
        { "ns/uts", CLONE_NEWUTS }, { "ns/pid", CLONE_NEWPID }, { "ns/mnt", CLONE_NEWNS },
    };
    int fds[3];
    /* All opened before any is entered: the mount namespace changes what paths mean. */
    for (int i = 0; i < 3; i++) {
        fds[i] = openat(procfd, spaces[i].path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) fail_errno(EXIT_NOT_JOINED, "cannot open the container's namespaces");
    }
    for (int i = 0; i < 3; i++) {
        if (setns(fds[i], spaces[i].type) != 0) fail_errno(EXIT_NOT_JOINED, "cannot enter the container's namespaces");
        close(fds[i]);
    }
}

static const char deferred_prefix[] = "SCHEDULER_DEFERRED_ENV_";

/* The environment the command gets: each prefixed entry under its own name (the exact value, an empty one too). */
static void restore_deferred_environment(void)
{
    size_t count = 0;
    while (environ[count]) count++;
    char **restored = calloc(count + 1, sizeof *restored);
    if (!restored) fail_errno(EXIT_NOT_JOINED, "calloc");
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        char *entry = environ[i];
        if (strncmp(entry, deferred_prefix, sizeof deferred_prefix - 1) == 0) {
            entry += sizeof deferred_prefix - 1;
            if (entry[0] == '=' || !strchr(entry, '=')) continue; /* no name: nothing to set */
        }
        restored[kept++] = entry;
    }
    environ = restored;
}

/* The parent's end: exit as the command did. Unlike nsenter, a stopped command does not stop this program: an exec has
   no terminal's job control to wake it, and a command continued from inside the container (where this program cannot be
   seen) would leave it stopped for ever. */
static void wait_and_exit_as(pid_t child)
{
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) fail_errno(EXIT_FAILURE, "waitpid");
    }
    if (WIFEXITED(status)) exit(WEXITSTATUS(status));
    int signal_number = WTERMSIG(status);
    /* Die of the same signal; with no core file of this program's own. */
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core);
    signal(signal_number, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), signal_number);
    exit(128 + signal_number); /* a signal whose default is not to terminate */
}

int main(int argc, char **argv)
{
    long long pid = -1;
    long long expected_start = -1;
    const char *workdir = NULL;
    long long uid = -1, gid = -1;
    char *group_list = NULL;
    int clear_groups = 0;
    int arg = 1;
    for (; arg < argc && strcmp(argv[arg], "--") != 0; arg++) {
        const char *option = argv[arg];
        if (strcmp(option, "--clear-groups") == 0) { clear_groups = 1; continue; }
        if (arg + 1 >= argc) fail(2, "missing value for", option);
        char *value = argv[++arg];
        if (strcmp(option, "--target") == 0) pid = (long long)number(value, 2147483647ULL, option);
        else if (strcmp(option, "--start-time") == 0) expected_start = (long long)number(value, 1ULL << 62, option);
        else if (strcmp(option, "--wd") == 0) workdir = value;
        else if (strcmp(option, "--user") == 0) uid = (long long)number(value, 2147483647ULL, option);
        else if (strcmp(option, "--group") == 0) gid = (long long)number(value, 2147483647ULL, option);
        else if (strcmp(option, "--groups") == 0) group_list = value;
        else fail(2, "unknown option", option);
    }
    if (pid <= 0 || expected_start < 0 || !workdir || arg + 1 >= argc) fail(2, "usage", "scheduler-join --target PID --start-time TICKS --wd DIR [--user UID --group GID (--groups LIST | --clear-groups)] -- COMMAND [ARG...]");
    int changes_identity = uid >= 0 || gid >= 0;
    if (changes_identity && (uid < 0 || gid < 0 || (group_list == NULL) == !clear_groups)) fail(2, "usage", "--user, --group and one of --groups or --clear-groups go together");
    size_t group_count = group_list ? parse_groups(group_list) : 0;
    char **command = argv + arg + 1;

    /* The pidfd holds the process that has PID now; its /proc directory is opened while the pidfd holds it. A kernel
       without pidfd_open (before 5.3), or a filter that refuses it, leaves the /proc directory alone to hold the process:
       once opened it never names a later process with the same pid (its files fail with ESRCH when the process is gone). */
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0 && errno == ESRCH) fail(EXIT_NOT_JOINED, "the container's process is gone", NULL);
    if (pidfd < 0 && errno != ENOSYS && errno != EPERM) fail_errno(EXIT_NOT_JOINED, "pidfd_open");
    char proc_path[32];
    snprintf(proc_path, sizeof proc_path, "/proc/%lld", pid);
    int procfd = open(proc_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) fail_errno(EXIT_NOT_JOINED, "the container's process is gone");
    unsigned long long actual_start = start_time(procfd);
    if (actual_start != (unsigned long long)expected_start) {
        fprintf(stderr, "scheduler-join: process %lld is not the container's (started at %llu, expected %lld): refusing to join it\n",
                pid, actual_start, expected_start);
        return EXIT_NOT_JOINED;
    }
    /* Still alive after the check: the pid was never given to another process since pidfd_open, so the pidfd and the
       /proc directory are the process whose start time was read. */
    if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) != 0) fail_errno(EXIT_NOT_JOINED, "the container's process is gone");

    if (pidfd < 0) {
        join_by_files(procfd);
    } else if (setns(pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS) != 0) {
        if (errno == ESRCH) fail(EXIT_NOT_JOINED, "the container's process is gone", NULL);
        if (errno != EINVAL) fail_errno(EXIT_NOT_JOINED, "cannot enter the container's namespaces");
        join_by_files(procfd);
    }
    if (pidfd >= 0) close(pidfd);
    close(procfd);
    /* As root, before the user changes: the container's user need not be able to search the path's parents. */
    if (chdir(workdir) != 0) {
        fprintf(stderr, "scheduler-join: cannot change directory to %s: %s\n", workdir, strerror(errno));
        return EXIT_FAILURE;
    }

    signal(SIGCHLD, SIG_DFL);
    /* The new pid namespace applies to children only: the command is this program's child. */
    pid_t child = fork();
    if (child < 0) fail_errno(EXIT_NOT_JOINED, "fork");
    if (child > 0) wait_and_exit_as(child);

    if (changes_identity) {
        if (setgroups(group_count, groups) != 0) fail_errno(EXIT_NOT_JOINED, "setgroups");
        if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) fail_errno(EXIT_NOT_JOINED, "setresgid");
        if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) fail_errno(EXIT_NOT_JOINED, "setresuid");
    }
    /* As the container's own processes (bubblewrap sets it for them): no exec gains privileges (setuid files,
       file capabilities). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_errno(EXIT_NOT_JOINED, "PR_SET_NO_NEW_PRIVS");
    /* Only stdin, stdout and stderr go into the container: any other descriptor the runtime left open stays outside. */
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (int fd = 3; fd < 65536; fd++) close(fd); /* before Linux 5.9 */
    }
    /* After the identity change: the command is the first program that sees the loader variables. */
    restore_deferred_environment();
    execvp(command[0], command);
    int error = errno;
    fprintf(stderr, "scheduler-join: failed to execute %s: %s\n", command[0], strerror(error));
    return error == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
}
