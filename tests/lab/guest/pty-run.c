/* pty-run: runs a command on a new pseudo-terminal (its controlling terminal, stdin, stdout and stderr), answers
 * its prompts from a script of expect/send pairs, and keeps what the terminal showed: the raw byte stream and a
 * plain-text rendering (cursor moves, line clears and spinner redraws applied), for the lab's interactive
 * transcript. busybox has no `script`, and dialoguer/indicatif only act interactively on a real terminal.
 *
 *   pty-run -o RAW -r TEXT [-c COLS] [-t SECONDS] [-e EXPECT -s SEND]... -- command [args...]
 *
 * Each -e waits (in order) until EXPECT appears in the output after the previous match; the matching -s is then
 * typed after a short pause. SEND understands \r, \n, \e (escape), \s (space) and \\. Exit status: the command's,
 * 124 on timeout, 125 on a usage or system error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 16
#define MAX_ROWS 4000
#define MAX_COLS 400

/* --- a tiny screen, enough for dialoguer and indicatif: one UTF-8 character per cell --- */
static char (*screen)[MAX_COLS][5];
static int rows_used, row, col, screen_cols = 100;

static void put_cell(const char *ch, int len) {
	if (row >= MAX_ROWS) return;
	if (col >= screen_cols) { col = 0; row++; if (row >= MAX_ROWS) return; }
	memcpy(screen[row][col], ch, len);
	screen[row][col][len] = 0;
	col++;
	if (row + 1 > rows_used) rows_used = row + 1;
}

static void clear_cells(int r, int from, int to) {
	if (r < 0 || r >= MAX_ROWS) return;
	for (int c = from; c < to && c < MAX_COLS; c++) screen[r][c][0] = 0;
}

static void csi(char final, const int *p, int n) {
	int a = n > 0 && p[0] > 0 ? p[0] : 1;
	switch (final) {
	case 'A': row = row - a < 0 ? 0 : row - a; break;
	case 'B': row += a; break;
	case 'C': col += a; break;
	case 'D': col = col - a < 0 ? 0 : col - a; break;
	case 'G': col = a - 1; break;
	case 'K':
		if (n == 0 || p[0] == 0) clear_cells(row, col, MAX_COLS);
		else if (p[0] == 1) clear_cells(row, 0, col + 1);
		else clear_cells(row, 0, MAX_COLS);
		break;
	case 'J':
		if (n == 0 || p[0] == 0) {
			clear_cells(row, col, MAX_COLS);
			for (int r = row + 1; r < rows_used; r++) clear_cells(r, 0, MAX_COLS);
			rows_used = row + 1;
		}
		break;
	default: break; /* colours, cursor visibility, ... */
	}
	if (row + 1 > rows_used && row < MAX_ROWS) rows_used = row + 1;
}

/* Feeds terminal output through the screen model; keeps escape sequences split across reads. */
static void render(const unsigned char *b, size_t n) {
	static int state; /* 0 text, 1 after ESC, 2 in CSI */
	static int params[8], nparams, cur, have;
	static char utf[5];
	static int utf_len, utf_want;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];
		if (state == 1) {
			if (c == '[') { state = 2; nparams = 0; cur = 0; have = 0; }
			else state = 0;
			continue;
		}
		if (state == 2) {
			if (c >= '0' && c <= '9') { cur = cur * 10 + (c - '0'); have = 1; }
			else if (c == ';') { if (nparams < 8) params[nparams++] = cur; cur = 0; have = 0; }
			else if (c == '?' || c == '>' || c == '=') { }
			else { if (have && nparams < 8) params[nparams++] = cur; csi((char)c, params, nparams); state = 0; }
			continue;
		}
		if (utf_want) {
			utf[utf_len++] = (char)c;
			if (utf_len == utf_want) { put_cell(utf, utf_len); utf_want = 0; }
			continue;
		}
		if (c == 0x1b) state = 1;
		else if (c == '\r') col = 0;
		else if (c == '\n') { row++; col = 0; if (row + 1 > rows_used && row < MAX_ROWS) rows_used = row + 1; }
		else if (c == '\b') { if (col > 0) col--; }
		else if (c == '\t') { col = (col / 8 + 1) * 8; }
		else if (c >= 0xc0) { utf[0] = (char)c; utf_len = 1; utf_want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2; }
		else if (c >= 0x20 && c != 0x7f) { char ch = (char)c; put_cell(&ch, 1); }
	}
}

static int row_is_empty(int r) {
	for (int c = 0; c < MAX_COLS; c++)
		if (screen[r][c][0] && screen[r][c][0] != ' ') return 0;
	return 1;
}

static void write_rendering(FILE *f) {
	while (rows_used > 0 && row_is_empty(rows_used - 1)) rows_used--;
	for (int r = 0; r < rows_used && r < MAX_ROWS; r++) {
		int last = -1;
		for (int c = 0; c < MAX_COLS; c++)
			if (screen[r][c][0] && screen[r][c][0] != ' ') last = c;
		for (int c = 0; c <= last; c++) fputs(screen[r][c][0] ? screen[r][c] : " ", f);
		fputc('\n', f);
	}
}

/* --- expect/send --- */
static const char *expects[MAX_PAIRS], *sends[MAX_PAIRS];
static int npairs, next_pair;
static char window[65536];
static size_t window_len;

static size_t unescape(const char *s, char *out) {
	size_t n = 0;
	for (; *s; s++) {
		if (*s != '\\' || !s[1]) { out[n++] = *s; continue; }
		s++;
		switch (*s) {
		case 'r': out[n++] = '\r'; break;
		case 'n': out[n++] = '\n'; break;
		case 'e': out[n++] = 0x1b; break;
		case 's': out[n++] = ' '; break;
		default: out[n++] = *s; break;
		}
	}
	return n;
}

static void sleep_ms(int ms) {
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static void answer(int master) {
	while (next_pair < npairs) {
		window[window_len] = 0;
		char *hit = memmem(window, window_len, expects[next_pair], strlen(expects[next_pair]));
		if (!hit) return;
		/* Let the prompt finish drawing and switch the terminal to raw mode before typing. */
		sleep_ms(400);
		char keys[256];
		size_t k = unescape(sends[next_pair], keys);
		for (size_t i = 0; i < k; i++) {
			if (write(master, &keys[i], 1) < 0) return;
			sleep_ms(150);
		}
		size_t used = (size_t)(hit - window) + strlen(expects[next_pair]);
		memmove(window, window + used, window_len - used);
		window_len -= used;
		next_pair++;
	}
}

static void usage(void) {
	fprintf(stderr, "usage: pty-run -o RAW -r TEXT [-c COLS] [-t SECONDS] [-e EXPECT -s SEND]... -- command [args...]\n");
	exit(125);
}

int main(int argc, char **argv) {
	const char *raw_path = NULL, *text_path = NULL;
	int timeout_s = 120, i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) { i++; break; }
		if (i + 1 >= argc) usage();
		if (!strcmp(argv[i], "-o")) raw_path = argv[++i];
		else if (!strcmp(argv[i], "-r")) text_path = argv[++i];
		else if (!strcmp(argv[i], "-c")) screen_cols = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-t")) timeout_s = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-e") && npairs < MAX_PAIRS) expects[npairs] = argv[++i];
		else if (!strcmp(argv[i], "-s") && npairs < MAX_PAIRS) sends[npairs++] = argv[++i];
		else usage();
	}
	if (i >= argc || !raw_path || !text_path) usage();
	if (screen_cols < 20 || screen_cols > MAX_COLS) screen_cols = 100;
	screen = calloc(MAX_ROWS, sizeof *screen);
	FILE *raw = fopen(raw_path, "w");
	if (!screen || !raw) { perror("pty-run"); return 125; }

	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) { perror("pty-run: posix_openpt"); return 125; }
	char *slave_name = ptsname(master);
	struct winsize ws = { .ws_row = 40, .ws_col = (unsigned short)screen_cols };
	pid_t pid = fork();
	if (pid < 0) { perror("pty-run: fork"); return 125; }
	if (pid == 0) {
		setsid();
		int slave = open(slave_name, O_RDWR);
		if (slave < 0) _exit(125);
		ioctl(slave, TIOCSCTTY, 0);
		ioctl(slave, TIOCSWINSZ, &ws);
		dup2(slave, 0); dup2(slave, 1); dup2(slave, 2);
		if (slave > 2) close(slave);
		close(master);
		setenv("TERM", "xterm-256color", 0);
		execvp(argv[i], argv + i);
		perror("pty-run: exec");
		_exit(127);
	}
	time_t deadline = time(NULL) + timeout_s;
	int status = 0, timed_out = 0;
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		int rc = poll(&p, 1, 200);
		if (rc > 0) {
			unsigned char buf[4096];
			ssize_t n = read(master, buf, sizeof buf);
			if (n <= 0) break; /* EIO: the last holder of the slave side is gone */
			fwrite(buf, 1, (size_t)n, raw);
			render(buf, (size_t)n);
			if (window_len + (size_t)n >= sizeof window) window_len = 0;
			memcpy(window + window_len, buf, (size_t)n);
			window_len += (size_t)n;
			answer(master);
		}
		if (time(NULL) > deadline) { timed_out = 1; kill(pid, SIGKILL); break; }
	}
	waitpid(pid, &status, 0);
	fclose(raw);
	FILE *text = fopen(text_path, "w");
	if (!text) { perror("pty-run"); return 125; }
	write_rendering(text);
	fclose(text);
	if (timed_out) return 124;
	if (next_pair < npairs) fprintf(stderr, "pty-run: never saw %s\n", expects[next_pair]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
