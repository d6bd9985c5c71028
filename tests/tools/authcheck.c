/* authcheck — drives auth/ from a script: reads "USER PASSWORD [ADDRESS]" lines on stdin and prints
 * each auth_check() result, so integration tests can run the real PAM stack (under pam_wrapper) and
 * the file backend through the same code the server uses. */
#include "../../auth/auth.h"
#include "../../common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t clock_offset;

/* The real clock plus what "!sleep N" lines added, so a script can pass a lockout in no time. */
static uint64_t script_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec + clock_offset;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: authcheck [--backend file|pam] [--service NAME] [--users FILE] [--attempts N]\n"
		"                 [--address-attempts N] [--window S] [--duration S] [--admins LIST] [--add USER:PASSWORD[:GROUPS]]...\n"
		"                 [--stats]\n"
		"stdin, one per line:\n"
		"  USER PASSWORD [ADDRESS]  prints RESULT USER [locked_for=N] (RESULT: OK DENIED LOCKED ERROR)\n"
		"  !sleep N                 moves the lockout clock N seconds on\n"
		"  !admin USER              prints admin USER or not-admin USER\n"
		"  !in USER LIST...         prints yes or no: is USER in the list of users, @groups and *\n"
		"--stats appends backend_calls=N lockouts=N to each result.\n");
}

static const char *result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		return "OK";
	case AUTH_DENIED:
		return "DENIED";
	case AUTH_LOCKED:
		return "LOCKED";
	default:
		return "ERROR";
	}
}

static unsigned parse_unsigned(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v > 100000000ul) {
		fprintf(stderr, "authcheck: bad number \"%s\"\n", s);
		exit(2);
	}
	return (unsigned)v;
}

static int add_user(struct auth *a, char *spec)
{
	char *pw = strchr(spec, ':');
	if (!pw)
		return -1;
	*pw++ = '\0';
	char *groups = strchr(pw, ':');
	if (groups)
		*groups++ = '\0';
	int rc = auth_user_add(a, spec, pw, groups);
	if (rc < 0)
		fprintf(stderr, "authcheck: adding %s: %s\n", spec, strerror(-rc));
	return rc;
}

static void run_line(struct auth *a, char *line, bool stats)
{
	char *save = NULL;
	char *first = strtok_r(line, " \t\n", &save);
	if (!first)
		return;
	if (!strcmp(first, "!sleep")) {
		char *n = strtok_r(NULL, " \t\n", &save);
		clock_offset += n ? parse_unsigned(n) : 0;
		return;
	}
	if (!strcmp(first, "!admin")) {
		char *user = strtok_r(NULL, " \t\n", &save);
		printf("%s %s\n", user && auth_is_admin(a, user) ? "admin" : "not-admin", user ? user : "");
		return;
	}
	if (!strcmp(first, "!in")) {
		char *user = strtok_r(NULL, " \t\n", &save);
		char *list = save ? save : "";
		list[strcspn(list, "\n")] = '\0';
		printf("%s\n", user && auth_in_list(a, user, list) ? "yes" : "no");
		return;
	}
	char *password = strtok_r(NULL, " \t\n", &save);
	char *address = strtok_r(NULL, " \t\n", &save);
	unsigned locked_for = 0;
	enum auth_result r = auth_check(a, first, password ? password : "", address, &locked_for);
	printf("%s %s", result_name(r), first);
	if (locked_for)
		printf(" locked_for=%u", locked_for);
	if (stats) {
		struct auth_stats st;
		auth_get_stats(a, &st);
		printf(" backend_calls=%llu lockouts=%llu", (unsigned long long)st.backend_calls,
		       (unsigned long long)st.lockouts);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	log_set_program("authcheck");
	log_init_from_env();
	struct auth_config cfg = {.backend = AUTH_BACKEND_FILE, .clock = script_clock};
	bool stats = false;
	char *adds[64];
	int nadds = 0;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(opt, "--stats")) {
			stats = true;
			continue;
		}
		if (!val) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(opt, "--backend") && (!strcmp(val, "file") || !strcmp(val, "pam")))
			cfg.backend = !strcmp(val, "pam") ? AUTH_BACKEND_PAM : AUTH_BACKEND_FILE;
		else if (!strcmp(opt, "--service"))
			cfg.pam_service = val;
		else if (!strcmp(opt, "--users"))
			cfg.users_file = val;
		else if (!strcmp(opt, "--attempts"))
			cfg.lockout_attempts = parse_unsigned(val);
		else if (!strcmp(opt, "--address-attempts"))
			cfg.lockout_address_attempts = parse_unsigned(val);
		else if (!strcmp(opt, "--window"))
			cfg.lockout_window_s = parse_unsigned(val);
		else if (!strcmp(opt, "--duration"))
			cfg.lockout_duration_s = parse_unsigned(val);
		else if (!strcmp(opt, "--admins"))
			cfg.admins = val;
		else if (!strcmp(opt, "--add") && nadds < 64)
			adds[nadds++] = argv[i];
		else {
			usage();
			return 2;
		}
	}
	char err[256];
	struct auth *a = auth_create(&cfg, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "authcheck: %s\n", err);
		return 1;
	}
	for (int i = 0; i < nadds; i++) {
		if (add_user(a, adds[i]) < 0) {
			auth_destroy(a);
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[4096];
	while (fgets(line, sizeof(line), stdin))
		run_line(a, line, stats);
	auth_destroy(a);
	return 0;
}
