/* motion.c — finds damage that is old content moved: a vertical scroll
 * inside a damaged rectangle (rows of the new picture equal rows of the
 * old one shifted, found by row hashes) or a block moved in two dimensions
 * (a dragged window, found from a few anchor segments searched for in the
 * old picture), each candidate offset then checked pixel by pixel. */
#include "motion.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MOTION_MIN_AREA    4096 /* changed boxes smaller than this go out as they are */
#define MOTION_MIN_MOVE    1024 /* pixels a move must cover to be worth a command */
#define MOTION_AMBIGUOUS   4    /* a row found more often than this in old says nothing (blank lines) */
#define MOTION_GRID        4    /* anchors: at most one per cell of a grid this many cells a side */
#define MOTION_SLOTS       64
#define MOTION_ANCHOR_PX   32  /* two or three characters of text: few places have the same */
#define MOTION_ANCHOR_ROWS 8   /* rows of a grid cell tried for its anchor */
#define MOTION_ANCHOR_HITS 32  /* an anchor found more often than this says nothing (repeated text) */
#define MOTION_MARGIN      64  /* moved blocks may come from this far outside the damage */
#define MOTION_REACH       160 /* rows above and below an anchor searched for it */
/* Room for every vote (two scroll offsets, each anchor's hits): a true
 * offset found late in the scan is never crowded out by chance matches. */
#define MOTION_CANDIDATES  (2 + MOTION_GRID * MOTION_GRID * MOTION_ANCHOR_HITS)
#define MOTION_TRIES       3 /* offsets tried pixel by pixel */
#define MOTION_MAX_SIDE    16384
#define MOTION_HINTS       4 /* offsets of recent moves, tried first: drags and scrolls keep their pace */
#define MOTION_NEAR        8 /* and offsets this near them, checked at the anchors */

struct motion_row {
	uint64_t hash;
	uint32_t y;
};

struct motion_offset {
	int32_t dx, dy;
	uint32_t votes;
};

struct motion {
	uint64_t (*hash)(const uint8_t *p, size_t n);
	uint64_t *new_hash, *old_hash; /* per row of the changed box, per row of the damage */
	struct motion_row *old_sorted;
	uint32_t *votes;           /* per vertical offset, 2 * rows + 1 */
	uint32_t *heights, *stack; /* per column, + 1 */
	uint32_t rows_cap, cols_cap;
	struct motion_offset hints[MOTION_HINTS]; /* the latest first; votes 0: empty */
};

/* A move was found at (dx, dy): first among the hints for the next frames. */
static void motion_hint(struct motion *m, int32_t dx, int32_t dy)
{
	uint32_t at = MOTION_HINTS - 1;
	for (uint32_t i = 0; i < MOTION_HINTS; i++)
		if (m->hints[i].votes && m->hints[i].dx == dx && m->hints[i].dy == dy) {
			at = i;
			break;
		}
	memmove(&m->hints[1], &m->hints[0], sizeof(m->hints[0]) * at);
	m->hints[0] = (struct motion_offset){dx, dy, 1};
}

static uint64_t motion_rotl(uint64_t v, int r)
{
	return v << r | v >> (64 - r);
}

static uint64_t motion_load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t motion_load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Four independent lanes so the multiplies overlap; a row of 1920 pixels
 * hashes in well under a microsecond. Not cryptographic: every match it
 * suggests is compared byte for byte before use. */
static uint64_t motion_hash_fast(const uint8_t *p, size_t n)
{
	const uint64_t k = 0x9e3779b97f4a7c15u;
	uint64_t a = k, b = k ^ 0x632be59bd9b4e019u, c = k ^ 0x85ebca6b2c9a1e51u, d = k ^ n;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a = motion_rotl((a ^ motion_load64(p + i)) * k, 31);
		b = motion_rotl((b ^ motion_load64(p + i + 8)) * k, 31);
		c = motion_rotl((c ^ motion_load64(p + i + 16)) * k, 31);
		d = motion_rotl((d ^ motion_load64(p + i + 24)) * k, 31);
	}
	for (; i + 8 <= n; i += 8)
		a = motion_rotl((a ^ motion_load64(p + i)) * k, 31);
	for (; i + 4 <= n; i += 4)
		b = motion_rotl((b ^ motion_load32(p + i)) * k, 31);
	uint64_t h = a ^ motion_rotl(b, 17) ^ motion_rotl(c, 31) ^ motion_rotl(d, 47);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	return h ^ h >> 33;
}

struct motion *motion_new(void)
{
	struct motion *m = calloc(1, sizeof(*m));
	if (m)
		m->hash = motion_hash_fast;
	return m;
}

void motion_apply(uint8_t *pixels, size_t stride, const struct motion_move *mv)
{
	size_t bytes = (size_t)mv->src.width * 4;
	for (uint32_t j = 0; j < mv->src.height; j++) {
		uint32_t row = mv->dst_y > mv->src.y ? mv->src.height - 1 - j : j;
		memmove(pixels + (mv->dst_y + row) * stride + (size_t)mv->dst_x * 4,
			pixels + (mv->src.y + row) * stride + (size_t)mv->src.x * 4, bytes);
	}
}

void motion_free(struct motion *m)
{
	if (!m)
		return;
	free(m->new_hash);
	free(m->old_hash);
	free(m->old_sorted);
	free(m->votes);
	free(m->heights);
	free(m->stack);
	free(m);
}

void motion_set_hash(struct motion *m, uint64_t (*hash)(const uint8_t *p, size_t n))
{
	m->hash = hash ? hash : motion_hash_fast;
}

/* Scratch for pictures up to rows x cols (both at most MOTION_MAX_SIDE). */
static int motion_reserve(struct motion *m, uint32_t rows, uint32_t cols)
{
	if (rows > m->rows_cap) {
		free(m->new_hash);
		free(m->old_hash);
		free(m->old_sorted);
		free(m->votes);
		m->new_hash = malloc(sizeof(*m->new_hash) * rows);
		m->old_hash = malloc(sizeof(*m->old_hash) * rows);
		m->old_sorted = malloc(sizeof(*m->old_sorted) * rows);
		m->votes = malloc(sizeof(*m->votes) * (2 * (size_t)rows + 1));
		m->rows_cap = rows;
		if (!m->new_hash || !m->old_hash || !m->old_sorted || !m->votes) {
			m->rows_cap = 0;
			return -ENOMEM;
		}
	}
	if (cols > m->cols_cap) {
		free(m->heights);
		free(m->stack);
		m->heights = malloc(sizeof(*m->heights) * ((size_t)cols + 1));
		m->stack = malloc(sizeof(*m->stack) * ((size_t)cols + 1));
		m->cols_cap = cols;
		if (!m->heights || !m->stack) {
			m->cols_cap = 0;
			return -ENOMEM;
		}
	}
	return 0;
}

static const uint8_t *motion_old(const struct motion_frame *f, uint32_t x, uint32_t y)
{
	return f->old + (size_t)y * f->old_stride + (size_t)x * 4;
}

static const uint8_t *motion_new_px(const struct motion_frame *f, uint32_t x, uint32_t y)
{
	return f->new + (size_t)y * f->new_stride + (size_t)x * 4;
}

/* The bounding box of what differs between old and new inside r; false
 * when nothing does. */
static bool motion_changed_box(const struct motion_frame *f, const struct surface_rect *r, struct surface_rect *box)
{
	uint32_t x0 = UINT32_MAX, x1 = 0, y0 = UINT32_MAX, y1 = 0;
	for (uint32_t y = r->y; y < r->y + r->height; y++) {
		const uint8_t *o = motion_old(f, r->x, y), *n = motion_new_px(f, r->x, y);
		if (!memcmp(o, n, (size_t)r->width * 4))
			continue;
		uint32_t l = 0, h = r->width;
		while (motion_load32(o + (size_t)l * 4) == motion_load32(n + (size_t)l * 4))
			l++;
		while (motion_load32(o + (size_t)(h - 1) * 4) == motion_load32(n + (size_t)(h - 1) * 4))
			h--;
		x0 = r->x + l < x0 ? r->x + l : x0;
		x1 = r->x + h > x1 ? r->x + h : x1;
		y0 = y < y0 ? y : y0;
		y1 = y + 1;
	}
	if (y0 == UINT32_MAX)
		return false;
	*box = (struct surface_rect){x0, y0, x1 - x0, y1 - y0};
	return true;
}

static int motion_cmp_row(const void *a, const void *b)
{
	const struct motion_row *p = a, *q = b;
	if (p->hash != q->hash)
		return p->hash < q->hash ? -1 : 1;
	return p->y < q->y ? -1 : p->y > q->y;
}

static void motion_vote(struct motion_offset *cand, uint32_t *ncand, int32_t dx, int32_t dy, uint32_t votes)
{
	for (uint32_t i = 0; i < *ncand; i++)
		if (cand[i].dx == dx && cand[i].dy == dy) {
			cand[i].votes += votes;
			return;
		}
	if (*ncand < MOTION_CANDIDATES)
		cand[(*ncand)++] = (struct motion_offset){dx, dy, votes};
}

/* Vertical offsets: rows of the box (over its columns) whose hash is found
 * in a few rows of old within the damage vote for the offset between them.
 * Leaves the hashes in m->new_hash and m->old_hash for motion_band(). */
static void motion_scroll_candidates(struct motion *m, const struct motion_frame *f, const struct surface_rect *r,
				     const struct surface_rect *b, struct motion_offset *cand, uint32_t *ncand)
{
	size_t bytes = (size_t)b->width * 4;
	for (uint32_t i = 0; i < b->height; i++)
		m->new_hash[i] = m->hash(motion_new_px(f, b->x, b->y + i), bytes);
	for (uint32_t i = 0; i < r->height; i++) {
		m->old_hash[i] = m->hash(motion_old(f, b->x, r->y + i), bytes);
		m->old_sorted[i] = (struct motion_row){m->old_hash[i], r->y + i};
	}
	qsort(m->old_sorted, r->height, sizeof(*m->old_sorted), motion_cmp_row);
	memset(m->votes, 0, sizeof(*m->votes) * (2 * (size_t)r->height + 1));
	for (uint32_t i = 0; i < b->height; i++) {
		uint32_t lo = 0, hi = r->height;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (m->old_sorted[mid].hash < m->new_hash[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		uint32_t end = lo;
		while (end < r->height && m->old_sorted[end].hash == m->new_hash[i] && end - lo <= MOTION_AMBIGUOUS)
			end++;
		if (end == lo || end - lo > MOTION_AMBIGUOUS)
			continue;
		for (uint32_t j = lo; j < end; j++) {
			int64_t dy = (int64_t)(b->y + i) - m->old_sorted[j].y;
			if (dy)
				m->votes[dy + r->height]++;
		}
	}
	/* The best two offsets: a scroll has one, a second catches a tie. */
	for (int pick = 0; pick < 2; pick++) {
		uint32_t best = 0, at = 0;
		for (uint32_t k = 0; k < 2 * r->height + 1; k++)
			if (m->votes[k] > best) {
				best = m->votes[k];
				at = k;
			}
		if (!best)
			break;
		motion_vote(cand, ncand, 0, (int32_t)((int64_t)at - r->height), best);
		m->votes[at] = 0;
	}
}

/* For a vertical offset: the longest run of rows of the box that equal old
 * rows dy above (hashes first, then the bytes), over the box's columns. */
static uint64_t motion_band(const struct motion *m, const struct motion_frame *f, const struct surface_rect *r,
			    const struct surface_rect *b, int32_t dy, struct surface_rect *dst)
{
	size_t bytes = (size_t)b->width * 4;
	uint32_t best = 0, best_at = 0, run = 0;
	for (uint32_t i = 0; i < b->height; i++) {
		int64_t ys = (int64_t)b->y + i - dy;
		bool same = ys >= r->y && ys < (int64_t)r->y + r->height && m->new_hash[i] == m->old_hash[ys - r->y] &&
			    !memcmp(motion_new_px(f, b->x, b->y + i), motion_old(f, b->x, (uint32_t)ys), bytes);
		run = same ? run + 1 : 0;
		if (run > best) {
			best = run;
			best_at = i + 1 - run;
		}
	}
	*dst = (struct surface_rect){b->x, b->y + best_at, b->width, best};
	return (uint64_t)best * b->width;
}

/* Anchors: non-flat, changed segments of the box, one per cell of a grid
 * over it, whose places in old tell where the box's content came from. */
struct motion_anchor {
	uint64_t key; /* its first two pixels */
	const uint8_t *seg;
	uint32_t x, y, hits; /* hits past MOTION_ANCHOR_HITS: ambiguous, no vote */
	int32_t at[MOTION_ANCHOR_HITS][2];
};

struct motion_anchors {
	struct motion_anchor a[MOTION_GRID * MOTION_GRID];
	uint32_t n, ymin, ymax;
};

static void motion_pick_anchors(const struct motion_frame *f, const struct surface_rect *b, struct motion_anchors *an)
{
	an->n = 0;
	an->ymin = UINT32_MAX;
	an->ymax = 0;
	size_t seg_bytes = MOTION_ANCHOR_PX * 4;
	if (b->width < MOTION_ANCHOR_PX)
		return;
	for (uint32_t gy = 0; gy < MOTION_GRID; gy++) {
		for (uint32_t gx = 0; gx < MOTION_GRID; gx++) {
			uint32_t x0 = b->x + (uint32_t)((uint64_t)b->width * gx / MOTION_GRID);
			uint32_t x1 = b->x + (uint32_t)((uint64_t)b->width * (gx + 1) / MOTION_GRID);
			x1 = x1 + MOTION_ANCHOR_PX <= b->x + b->width ? x1 : b->x + b->width - MOTION_ANCHOR_PX + 1;
			/* Rows across the cell, its middle first: the middle of a
			 * cell of text may be the blank between two lines. */
			bool found = false;
			for (uint32_t t = 0; t < MOTION_ANCHOR_ROWS && !found; t++) {
				uint32_t ay =
				    b->y + (uint32_t)((uint64_t)b->height *
						      (2 * gy * MOTION_ANCHOR_ROWS +
						       2 * ((t + MOTION_ANCHOR_ROWS / 2) % MOTION_ANCHOR_ROWS) + 1) /
						      (2 * MOTION_GRID * MOTION_ANCHOR_ROWS));
				for (uint32_t x = x0; x < x1 && !found; x += 4) {
					const uint8_t *s = motion_new_px(f, x, ay);
					bool flat = true;
					for (uint32_t i = 1; i < MOTION_ANCHOR_PX && flat; i++)
						flat = motion_load32(s + (size_t)i * 4) == motion_load32(s);
					if (flat || !memcmp(s, motion_old(f, x, ay), seg_bytes))
						continue;
					an->a[an->n++] =
					    (struct motion_anchor){.key = motion_load64(s), .seg = s, .x = x, .y = ay};
					an->ymin = ay < an->ymin ? ay : an->ymin;
					an->ymax = ay > an->ymax ? ay : an->ymax;
					found = true;
				}
			}
		}
	}
}

/* Offsets near recent moves' (a drag speeding up or slowing down): each
 * that puts at least half the anchors (and two) on their own pixels in old
 * votes with their count. A few thousand short comparisons, not a scan. */
static void motion_near_candidates(const struct motion *m, const struct motion_frame *f,
				   const struct motion_anchors *an, struct motion_offset *cand, uint32_t *ncand)
{
	size_t seg_bytes = MOTION_ANCHOR_PX * 4;
	for (uint32_t h = 0; h < MOTION_HINTS && m->hints[h].votes; h++)
		for (int32_t ddy = -MOTION_NEAR; ddy <= MOTION_NEAR; ddy++)
			for (int32_t ddx = -MOTION_NEAR; ddx <= MOTION_NEAR; ddx++) {
				int32_t dx = m->hints[h].dx + ddx, dy = m->hints[h].dy + ddy;
				uint32_t hits = 0;
				for (uint32_t i = 0; i < an->n; i++) {
					const struct motion_anchor *a = &an->a[i];
					int64_t sx = (int64_t)a->x - dx, sy = (int64_t)a->y - dy;
					if (sx < 0 || sy < 0 || sx + MOTION_ANCHOR_PX > f->width || sy >= f->height)
						continue;
					const uint8_t *o = motion_old(f, (uint32_t)sx, (uint32_t)sy);
					hits += motion_load64(o) == a->key && !memcmp(o, a->seg, seg_bytes);
				}
				if (hits >= 2 && hits * 2 >= an->n)
					motion_vote(cand, ncand, dx, dy, hits);
			}
}

/* Offsets in two dimensions: the anchors looked up in old around the
 * damage in one pass; each place an anchor is found exactly votes for its
 * offset. */
static void motion_move_candidates(const struct motion_frame *f, const struct surface_rect *r,
				   struct motion_anchors *an, struct motion_offset *cand, uint32_t *ncand)
{
	struct motion_anchor *anchors = an->a;
	uint32_t n = an->n;
	uint8_t head[MOTION_SLOTS] = {0}, next[MOTION_GRID * MOTION_GRID];
	size_t seg_bytes = MOTION_ANCHOR_PX * 4;
	if (!n)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)((anchors[i].key * 0x9e3779b97f4a7c15u) >> 58);
		anchors[i].hits = 0;
		next[i] = head[slot];
		head[slot] = (uint8_t)(i + 1);
	}
	uint32_t sx0 = r->x > MOTION_MARGIN ? r->x - MOTION_MARGIN : 0;
	uint32_t sy0 = r->y > MOTION_MARGIN ? r->y - MOTION_MARGIN : 0;
	uint32_t sx1 = f->width - r->x - r->width > MOTION_MARGIN ? r->x + r->width + MOTION_MARGIN : f->width;
	uint32_t sy1 = f->height - r->y - r->height > MOTION_MARGIN ? r->y + r->height + MOTION_MARGIN : f->height;
	sy0 = an->ymin > sy0 + MOTION_REACH ? an->ymin - MOTION_REACH : sy0;
	sy1 = an->ymax + MOTION_REACH + 1 < sy1 ? an->ymax + MOTION_REACH + 1 : sy1;
	for (uint32_t y = sy0; y < sy1; y++) {
		const uint8_t *row = motion_old(f, 0, y);
		for (uint32_t x = sx0; x + MOTION_ANCHOR_PX <= sx1; x++) {
			const uint8_t *p = row + (size_t)x * 4;
			uint64_t key = motion_load64(p);
			for (uint32_t i = head[(key * 0x9e3779b97f4a7c15u) >> 58]; i; i = next[i - 1]) {
				struct motion_anchor *a = &anchors[i - 1];
				if (a->key != key || a->hits > MOTION_ANCHOR_HITS || y + MOTION_REACH < a->y ||
				    y > a->y + MOTION_REACH || memcmp(p, a->seg, seg_bytes))
					continue;
				if (a->hits < MOTION_ANCHOR_HITS) {
					a->at[a->hits][0] = (int32_t)a->x - (int32_t)x;
					a->at[a->hits][1] = (int32_t)a->y - (int32_t)y;
				}
				a->hits++;
			}
		}
	}
	/* Only anchors found in few places vote: text repeats, and an anchor
	 * that matches everywhere would crowd the true offset out. */
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t h = 0; anchors[i].hits <= MOTION_ANCHOR_HITS && h < anchors[i].hits; h++)
			motion_vote(cand, ncand, anchors[i].at[h][0], anchors[i].at[h][1], 1);
}

/* For an offset: the largest rectangle of the box whose every pixel equals
 * old at (x - dx, y - dy), by the largest rectangle under the histogram of
 * matching runs, row by row. Exact: built from pixel comparisons. */
static uint64_t motion_max_rect(struct motion *m, const struct motion_frame *f, const struct surface_rect *b,
				int32_t dx, int32_t dy, struct surface_rect *dst)
{
	int64_t cx0 = (int64_t)b->x > dx ? (int64_t)b->x : dx, cy0 = (int64_t)b->y > dy ? (int64_t)b->y : dy;
	int64_t cx1 = (int64_t)b->x + b->width, cy1 = (int64_t)b->y + b->height;
	cx1 = cx1 < (int64_t)f->width + dx ? cx1 : (int64_t)f->width + dx;
	cy1 = cy1 < (int64_t)f->height + dy ? cy1 : (int64_t)f->height + dy;
	if (cx1 <= cx0 || cy1 <= cy0)
		return 0;
	uint32_t w = (uint32_t)(cx1 - cx0);
	uint64_t best = 0;
	uint32_t *h = m->heights, *stack = m->stack;
	memset(h, 0, sizeof(*h) * w);
	size_t bytes = (size_t)w * 4;
	bool whole_next = false;
	for (int64_t y = cy0; y < cy1; y++) {
		const uint8_t *n = motion_new_px(f, (uint32_t)cx0, (uint32_t)y);
		const uint8_t *o = motion_old(f, (uint32_t)(cx0 - dx), (uint32_t)(y - dy));
		bool whole = y == cy0 ? !memcmp(n, o, bytes) : whole_next;
		if (whole)
			for (uint32_t i = 0; i < w; i++)
				h[i]++;
		else
			for (uint32_t i = 0; i < w; i++)
				h[i] =
				    motion_load32(n + (size_t)i * 4) == motion_load32(o + (size_t)i * 4) ? h[i] + 1 : 0;
		/* A rectangle ending here grows into a next row that matches
		 * throughout: look for the largest only where that fails. */
		whole_next = y + 1 < cy1 && !memcmp(n + f->new_stride, o + f->old_stride, bytes);
		if (whole_next)
			continue;
		uint32_t top = 0;
		for (uint32_t i = 0; i <= w; i++) {
			uint32_t cur = i < w ? h[i] : 0;
			while (top && h[stack[top - 1]] >= cur) {
				uint32_t hh = h[stack[--top]];
				uint32_t left = top ? stack[top - 1] + 1 : 0;
				uint64_t area = (uint64_t)hh * (i - left);
				if (area > best) {
					best = area;
					*dst = (struct surface_rect){(uint32_t)cx0 + left, (uint32_t)y + 1 - hh,
								     i - left, hh};
				}
			}
			stack[top++] = i;
		}
	}
	return best;
}

static int motion_cmp_votes(const void *a, const void *b)
{
	const struct motion_offset *p = a, *q = b;
	return p->votes < q->votes ? 1 : p->votes > q->votes ? -1 : 0;
}

/* The candidates with the most votes, pixel by pixel, until one covers
 * nearly all of b; *best and the rest keep the largest found. */
static void motion_try(struct motion *m, const struct motion_frame *f, const struct surface_rect *b,
		       struct motion_offset *cand, uint32_t ncand, uint64_t *best, struct surface_rect *dst,
		       int32_t *bdx, int32_t *bdy)
{
	uint64_t area = (uint64_t)b->width * b->height;
	struct surface_rect d;
	qsort(cand, ncand, sizeof(*cand), motion_cmp_votes);
	for (uint32_t i = 0; i < ncand && i < MOTION_TRIES && *best * 8 < area * 7; i++) {
		uint64_t a = motion_max_rect(m, f, b, cand[i].dx, cand[i].dy, &d);
		if (a > *best) {
			*best = a;
			*dst = d;
			*bdx = cand[i].dx;
			*bdy = cand[i].dy;
		}
	}
}

/* The best move into the changed box b of damage r; false when none is
 * worth it. */
static bool motion_find(struct motion *m, const struct motion_frame *f, const struct surface_rect *r,
			const struct surface_rect *b, struct motion_move *move)
{
	struct motion_offset cand[MOTION_CANDIDATES];
	uint32_t ncand = 0;
	uint64_t area = (uint64_t)b->width * b->height, best = 0;
	struct surface_rect dst = {0}, d;
	int32_t bdx = 0, bdy = 0;
	/* Offsets near recent moves' first (a drag or a scroll going on at
	 * about its pace needs no search), checked at the anchors before any
	 * is compared pixel by pixel. */
	struct motion_anchors an;
	motion_pick_anchors(f, b, &an);
	motion_near_candidates(m, f, &an, cand, &ncand);
	motion_try(m, f, b, cand, ncand, &best, &dst, &bdx, &bdy);
	ncand = 0;
	if (best * 8 < area * 7)
		motion_scroll_candidates(m, f, r, b, cand, &ncand);
	for (uint32_t i = 0; i < ncand; i++) {
		uint64_t a = motion_band(m, f, r, b, cand[i].dy, &d);
		if (a > best) {
			best = a;
			dst = d;
			bdx = 0;
			bdy = cand[i].dy;
		}
	}
	/* Not a scroll of nearly the whole box: a moved block, or a scroll
	 * beside something else that changed, searched for around the damage. */
	if (best * 8 < area * 7) {
		ncand = 0;
		motion_move_candidates(f, r, &an, cand, &ncand);
		motion_try(m, f, b, cand, ncand, &best, &dst, &bdx, &bdy);
	}
	if (best < MOTION_MIN_MOVE)
		return false;
	motion_hint(m, bdx, bdy);
	move->src = (struct surface_rect){(uint32_t)((int64_t)dst.x - bdx), (uint32_t)((int64_t)dst.y - bdy), dst.width,
					  dst.height};
	move->dst_x = dst.x;
	move->dst_y = dst.y;
	return true;
}

static bool motion_overlap(const struct surface_rect *a, uint32_t bx, uint32_t by, uint32_t bw, uint32_t bh)
{
	return a->x < bx + bw && bx < a->x + a->width && a->y < by + bh && by < a->y + a->height;
}

/* The client holds old exactly under src: no tile of it lossy, and no
 * earlier move of this frame wrote there. */
static bool motion_source_ok(const struct motion_frame *f, const struct motion_result *out,
			     const struct surface_rect *src)
{
	for (uint32_t i = 0; i < out->nmoves; i++) {
		const struct motion_move *mv = &out->moves[i];
		if (motion_overlap(src, mv->dst_x, mv->dst_y, mv->src.width, mv->src.height))
			return false;
	}
	if (!f->lossy || !f->tile)
		return true;
	for (uint32_t ty = src->y / f->tile; ty <= (src->y + src->height - 1) / f->tile; ty++)
		for (uint32_t tx = src->x / f->tile; tx <= (src->x + src->width - 1) / f->tile; tx++)
			if (f->lossy[(size_t)ty * f->cols + tx])
				return false;
	return true;
}

static void motion_residual(struct motion_result *out, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	if (w && h)
		out->residual[out->nresidual++] = (struct surface_rect){x, y, w, h};
}

int motion_detect(struct motion *m, const struct motion_frame *f, const struct surface_rect *damage, uint32_t n,
		  struct motion_result *out)
{
	out->nmoves = 0;
	out->nresidual = 0;
	if (n > SURFACE_MAX_RECTS || !f->old || !f->new || f->width > MOTION_MAX_SIDE || f->height > MOTION_MAX_SIDE ||
	    f->old_stride / 4 < f->width || f->new_stride / 4 < f->width || (f->lossy && !f->tile))
		return -EINVAL;
	if (!f->width || !f->height)
		return 0;
	if (motion_reserve(m, f->height, f->width) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct surface_rect r = damage[i], b;
		if (r.x >= f->width || r.y >= f->height || !r.width || !r.height)
			continue;
		r.width = r.width < f->width - r.x ? r.width : f->width - r.x;
		r.height = r.height < f->height - r.y ? r.height : f->height - r.y;
		if (!motion_changed_box(f, &r, &b))
			continue;
		struct motion_move mv;
		if ((uint64_t)b.width * b.height < MOTION_MIN_AREA || !motion_find(m, f, &r, &b, &mv) ||
		    !motion_source_ok(f, out, &mv.src)) {
			motion_residual(out, b.x, b.y, b.width, b.height);
			continue;
		}
		out->moves[out->nmoves++] = mv;
		/* b less the destination: the bands above and below it, and
		 * beside it the rows it spans. */
		uint32_t dx1 = mv.dst_x + mv.src.width, dy1 = mv.dst_y + mv.src.height;
		motion_residual(out, b.x, b.y, b.width, mv.dst_y - b.y);
		motion_residual(out, b.x, mv.dst_y, mv.dst_x - b.x, mv.src.height);
		motion_residual(out, dx1, mv.dst_y, b.x + b.width - dx1, mv.src.height);
		motion_residual(out, b.x, dy1, b.width, b.y + b.height - dy1);
	}
	return 0;
}
