/* settings.c — what vdi-client remembers between runs in ~/.config/vdi/client.ini: the last server and user
 * name, so the connect screen starts filled in. Never the password. */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int settings_path(char *out, size_t size, bool make_dir)
{
	const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char dir[4096];
	int n = config && *config ? snprintf(dir, sizeof(dir), "%s/vdi", config)
		: home && *home   ? snprintf(dir, sizeof(dir), "%s/.config/vdi", home)
				  : -1;
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENOENT;
	if (make_dir && !(config && *config)) {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s/.config", home);
		mkdir(parent, 0700);
	}
	if (make_dir && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return snprintf(out, size, "%s/client.ini", dir) < (int)size ? 0 : -ENAMETOOLONG;
}

void settings_load(struct client_opts *o)
{
	char path[4200], line[600];
	if (settings_path(path, sizeof(path), false) < 0)
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		/* The saved URL has no user: the one given on the command line stays. */
		if (!strncmp(line, "server = ", 9) && !strchr(line + 9, '@')) {
			client_parse_url(line + 9, o);
		} else if (!strncmp(line, "user = ", 7) && !o->user[0] && strlen(line + 7) < sizeof(o->user)) {
			strcpy(o->user, line + 7);
		}
	}
	fclose(f);
}

void settings_save(const struct client_opts *o)
{
	char path[4200];
	if (settings_path(path, sizeof(path), true) < 0)
		return;
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	char url[CLIENT_URL_MAX];
	client_format_url(o, url, sizeof(url));
	fprintf(f, "# vdi-client: the last server and user (never the password)\n[client]\n");
	fprintf(f, "server = %s\nuser = %s\n", url, o->user);
	fclose(f);
}
