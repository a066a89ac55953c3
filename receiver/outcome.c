/* outcome.c - what became of each live VM, kept where a source guard can
 * ask for it after the sender died (doc/PROTOCOL.md, "Commit and rollback").
 * One file per stream in the state directory, STATE/.outcome-SESSION-VM,
 * holding "NAME STATE" where STATE is started, committed or rolled-back;
 * replaced whole (temporary file, fsync, rename), never appended. */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "receiver_int.h"

#define PRUNE_S (7 * 86400)      /* rolled-back outcomes older than a week are nobody's question;
				  * a committed one is kept: without it the answer would be
				  * "rolled back", and a source resumed on it would run twice */

static void file_name(char *out, size_t len, uint64_t session, uint32_t vm)
{
	snprintf(out, len, ".outcome-%016llx-%u", (unsigned long long)session, vm);
}

int rc_outcome_write(int state_fd, uint64_t session, uint32_t vm, const char *name, const char *state)
{
	char final[64], tmp[80], line[128];
	file_name(final, sizeof(final), session, vm);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", final, (int)getpid());
	int n = snprintf(line, sizeof(line), "%s %s\n", name, state);
	int fd = openat(state_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600), r = 0;
	if (fd < 0)
		return -errno;
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && renameat(state_fd, tmp, state_fd, final) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(state_fd, tmp, 0);
	return r;
}

void rc_outcome_prune(int state_fd)
{
	int fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;
	time_t old = time(NULL) - PRUNE_S;
	char buf[160];
	while (d && (e = readdir(d))) {
		const char *sp;
		if (strncmp(e->d_name, ".outcome-", 9) == 0 &&
		    fstatat(state_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_mtime < old && rc_read_small(state_fd, e->d_name, buf, sizeof(buf)) > 0 &&
		    (sp = strchr(buf, ' ')) && strcmp(sp + 1, "rolled-back\n") == 0)
			unlinkat(state_fd, e->d_name, 0);
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
}

/* The journal's NAME and STATE: 0, or -ENOENT / -EBADMSG. */
static int journal_read(int state_fd, uint64_t session, uint32_t vm, char *name, char *state, size_t len)
{
	char file[64], buf[160];
	file_name(file, sizeof(file), session, vm);
	ssize_t got = rc_read_small(state_fd, file, buf, sizeof(buf));
	if (got < 0)
		return (int)got;
	char *sp = strchr(buf, ' '), *nl = strchr(buf, '\n');
	if (!sp || !nl || nl < sp || (size_t)(sp - buf) >= len || (size_t)(nl - sp - 1) >= len)
		return -EBADMSG;
	*sp = *nl = '\0';
	if (!vms_name_valid(buf, strlen(buf), VMS_WIRE_NAME_MAX))
		return -EBADMSG;
	if (vms_strlcpy_n(name, len, buf, strlen(buf)) < 0 || vms_strlcpy_n(state, len, sp + 1, strlen(sp + 1)) < 0)
		return -EBADMSG;
	return 0;
}

enum vms_outcome rc_outcome(int state_fd, const char *state_dir, uint64_t session, uint32_t vm)
{
	char name[VMS_WIRE_NAME_MAX], state[VMS_WIRE_NAME_MAX];
	int r = journal_read(state_fd, session, vm, name, state, sizeof(name));
	if (r == -ENOENT)
		return VMS_OUTCOME_ROLLED_BACK;     /* no stream of it ever started here */
	if (r < 0)
		return VMS_OUTCOME_PENDING;         /* unreadable: nothing guesses */
	if (strcmp(state, "committed") == 0)
		return VMS_OUTCOME_COMMITTED;
	if (strcmp(state, "rolled-back") == 0)
		return VMS_OUTCOME_ROLLED_BACK;
	/* "started": settled from its STATE/NAME/ once its stream process is
	 * gone and its target guard can no longer act (files.c) */
	enum vms_outcome oc = rc_vmdir_settle(state_fd, state_dir, name, session, vm);
	if (oc != VMS_OUTCOME_PENDING)
		rc_outcome_write(state_fd, session, vm, name, oc == VMS_OUTCOME_COMMITTED ? "committed" : "rolled-back");
	return oc;
}
