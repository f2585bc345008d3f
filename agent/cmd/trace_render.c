// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "cmd/trace_render.h"

void trace_pow2_bounds(double *out, int n)
{
	double b = 1;

	for (int i = 0; i < n; i++, b *= 2)
		out[i] = b;
}

static uint64_t total_of(const uint64_t *counts, int nbuckets)
{
	uint64_t total = 0;

	for (int i = 0; i < nbuckets; i++)
		total += counts[i];
	return total;
}

double trace_quantile(const uint64_t *counts, const double *bounds, int nbounds, double q)
{
	uint64_t total = total_of(counts, nbounds + 1), below = 0;
	double rank;

	if (!total || nbounds < 1)
		return -1;
	rank = q * (double)total;
	for (int i = 0; i <= nbounds; i++) {
		if (!counts[i] || (double)(below + counts[i]) < rank) {
			below += counts[i];
			continue;
		}
		if (i == nbounds)
			return bounds[nbounds -
				      1]; /* past the last bound: nothing better is known */
		double lower = i ? bounds[i - 1] : 0;

		return lower + (bounds[i] - lower) * (rank - (double)below) / (double)counts[i];
	}
	return bounds[nbounds - 1];
}

int trace_highest_bucket(const uint64_t *counts, int nbuckets)
{
	for (int i = nbuckets - 1; i >= 0; i--) {
		if (counts[i])
			return i;
	}
	return -1;
}

/*
 * A slow event carries the exact latency. The slowest one is the row's
 * maximum when it lies in the highest non-empty bucket: requests that sent
 * no event were faster than the threshold, so faster than it. Else the
 * bucket's upper bound is all that is known.
 */
double trace_row_max_us(const struct trace_method_row *r, const double *bounds, int nbounds,
			bool *exact)
{
	int top = trace_highest_bucket(r->buckets, nbounds + 1);
	double max_us = (double)r->max_ns / 1000.0;

	*exact = false;
	if (top < 0)
		return -1;
	double lower = top ? bounds[top - 1] : 0;
	double upper = top < nbounds ? bounds[top] : INFINITY;

	if (r->max_ns && max_us > lower && max_us <= upper) {
		*exact = true;
		return max_us;
	}
	return top < nbounds ? upper : lower;
}

void trace_row_add_status(struct trace_method_row *r, int status, uint64_t n)
{
	for (int i = 0; i < r->nstatus; i++) {
		if (r->status[i].status == status) {
			r->status[i].count += n;
			return;
		}
	}
	if (r->nstatus < TRACE_MAX_STATUS) {
		r->status[r->nstatus++] = (struct trace_status_count){status, n};
		return;
	}
	r->status[TRACE_MAX_STATUS - 1].count += n;
}

void trace_bar(char *out, size_t outlen, uint64_t count, uint64_t max, int width)
{
	int stars = max ? (int)((double)count * width / (double)max) : 0;
	int i;

	if (!outlen)
		return;
	for (i = 0; i < width && (size_t)i + 1 < outlen; i++)
		out[i] = i < stars ? '*' : ' ';
	out[i] = '\0';
}

static void format_bound(char *out, size_t outlen, double v)
{
	if (isinf(v))
		snprintf(out, outlen, "inf");
	else if (v < 1e15 && v == (double)(long long)v)
		snprintf(out, outlen, "%.0f", v);
	else
		snprintf(out, outlen, "%g", v);
}

void trace_print_hist(FILE *f, const char *unit, const uint64_t *counts, const double *bounds,
		      int nbounds)
{
	int last = trace_highest_bucket(counts, nbounds + 1), first = 0;
	uint64_t max = 0;
	char bar[TRACE_BAR_WIDTH + 1], lo[32], hi[32];

	if (last < 0)
		return;
	while (!counts[first])
		first++;
	for (int i = first; i <= last; i++)
		max = counts[i] > max ? counts[i] : max;
	fprintf(f, "%16s%-8s : count    distribution\n", unit, "");
	for (int i = first; i <= last; i++) {
		format_bound(lo, sizeof(lo), i ? bounds[i - 1] : 0);
		format_bound(hi, sizeof(hi), i < nbounds ? bounds[i] : INFINITY);
		trace_bar(bar, sizeof(bar), counts[i], max, TRACE_BAR_WIDTH);
		fprintf(f, "%10s -> %-10s : %-8" PRIu64 " |%s|\n", lo, hi, counts[i], bar);
	}
}

void trace_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void trace_format_duration(char *out, size_t outlen, double us)
{
	if (us < 0)
		snprintf(out, outlen, "-");
	else if (us < 1000)
		snprintf(out, outlen, "%.0fus", us);
	else if (us < 1e6)
		snprintf(out, outlen, "%.2fms", us / 1e3);
	else
		snprintf(out, outlen, "%.2fs", us / 1e6);
}

static void format_clock(char *out, size_t outlen, double wall_s)
{
	time_t t = (time_t)wall_s;
	struct tm tm;
	char hms[16];

	localtime_r(&t, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%03d", hms, (int)((wall_s - (double)t) * 1000) % 1000);
}

/* Quantiles never exceed the slowest request, when that one is known exactly. */
struct row_summary {
	double p50, p90, p99, max, avg;
	bool max_exact;
};

static void summarize(const struct trace_method_row *r, const struct trace_interval *iv,
		      struct row_summary *s)
{
	s->p50 = trace_quantile(r->buckets, iv->bounds_us, iv->nbounds, 0.5);
	s->p90 = trace_quantile(r->buckets, iv->bounds_us, iv->nbounds, 0.9);
	s->p99 = trace_quantile(r->buckets, iv->bounds_us, iv->nbounds, 0.99);
	s->max = trace_row_max_us(r, iv->bounds_us, iv->nbounds, &s->max_exact);
	s->avg = r->count ? (double)r->sum_ns / 1000.0 / (double)r->count : -1;
	s->p50 = s->p50 < s->max ? s->p50 : s->max;
	s->p90 = s->p90 < s->max ? s->p90 : s->max;
	s->p99 = s->p99 < s->max ? s->p99 : s->max;
}

static void text_row(FILE *f, const struct trace_method_row *r, const struct trace_interval *iv)
{
	struct row_summary s;
	char p50[24], p90[24], p99[24], max[24], avg[24];

	summarize(r, iv, &s);
	trace_format_duration(p50, sizeof(p50), s.p50);
	trace_format_duration(p90, sizeof(p90), s.p90);
	trace_format_duration(p99, sizeof(p99), s.p99);
	trace_format_duration(max, sizeof(max), s.max);
	trace_format_duration(avg, sizeof(avg), s.avg);
	fprintf(f, "\n%s %s: count %" PRIu64 " (status", r->target, r->method, r->count);
	for (int i = 0; i < r->nstatus; i++)
		fprintf(f, " %d:%" PRIu64, r->status[i].status, r->status[i].count);
	fprintf(f, ")  p50 %s  p90 %s  p99 %s  max %s%s  avg %s", p50, p90, p99,
		s.max_exact ? "" : "<=", max, avg);
	if (r->sum_ns)
		fprintf(f, "  in disk syncs %.0f%%",
			100.0 * (double)r->disk_ns / (double)r->sum_ns);
	fputc('\n', f);
	trace_print_hist(f, "usecs", r->buckets, iv->bounds_us, iv->nbounds);
}

static void text_disk(FILE *f, const struct trace_disk_row *d)
{
	static const double bounds_ns[KVS_DISK_BUCKETS] = KVS_DISK_BOUNDS_NS;
	double bounds_us[KVS_DISK_BUCKETS];
	char p99[24], avg[24];

	for (int i = 0; i < KVS_DISK_BUCKETS; i++)
		bounds_us[i] = bounds_ns[i] / 1000.0;
	trace_format_duration(p99, sizeof(p99),
			      trace_quantile(d->buckets, bounds_us, KVS_DISK_BUCKETS, 0.99));
	trace_format_duration(avg, sizeof(avg),
			      d->count ? (double)d->sum_ns / 1000.0 / (double)d->count : -1);
	fprintf(f, "  %-20s %-16s %-6s count %-8" PRIu64 " p99 %-10s avg %s\n", d->target,
		d->syscall, d->class, d->count, p99, avg);
}

void trace_render_interval_text(FILE *f, const struct trace_interval *iv)
{
	char clock[32];

	format_clock(clock, sizeof(clock), iv->wall_s);
	fprintf(f, "\n%s  interval %.2fs\n", clock, iv->length_s);
	if (!iv->nmethods)
		fprintf(f, "no requests\n");
	for (int i = 0; i < iv->nmethods; i++)
		text_row(f, &iv->methods[i], iv);
	if (!iv->ndisks)
		return;
	fprintf(f, "\ndisk syncs:\n");
	for (int i = 0; i < iv->ndisks; i++)
		text_disk(f, &iv->disks[i]);
}

static void json_num(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	if (v < 0 || isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

static void json_row(FILE *f, const struct trace_method_row *r, const struct trace_interval *iv)
{
	struct row_summary s;
	bool first = true;

	summarize(r, iv, &s);
	fputs("{\"target\":", f);
	trace_json_string(f, r->target);
	fputs(",\"method\":", f);
	trace_json_string(f, r->method);
	fprintf(f, ",\"count\":%" PRIu64 ",\"status\":{", r->count);
	for (int i = 0; i < r->nstatus; i++)
		fprintf(f, "%s\"%d\":%" PRIu64, i ? "," : "", r->status[i].status,
			r->status[i].count);
	fputc('}', f);
	json_num(f, "sum_us", (double)r->sum_ns / 1000.0);
	json_num(f, "disk_us", (double)r->disk_ns / 1000.0);
	json_num(f, "p50_us", s.p50);
	json_num(f, "p90_us", s.p90);
	json_num(f, "p99_us", s.p99);
	json_num(f, "max_us", s.max);
	fprintf(f, ",\"max_exact\":%s,\"buckets\":[", s.max_exact ? "true" : "false");
	for (int i = 0; i <= iv->nbounds; i++) {
		if (!r->buckets[i])
			continue;
		fprintf(f, "%s{\"le_us\":", first ? "" : ",");
		if (i < iv->nbounds)
			fprintf(f, "%g", iv->bounds_us[i]);
		else
			fputs("\"+Inf\"", f);
		fprintf(f, ",\"count\":%" PRIu64 "}", r->buckets[i]);
		first = false;
	}
	fputs("]}", f);
}

static void json_disk(FILE *f, const struct trace_disk_row *d)
{
	static const double bounds_ns[KVS_DISK_BUCKETS] = KVS_DISK_BOUNDS_NS;
	double bounds_us[KVS_DISK_BUCKETS];

	for (int i = 0; i < KVS_DISK_BUCKETS; i++)
		bounds_us[i] = bounds_ns[i] / 1000.0;
	fputs("{\"target\":", f);
	trace_json_string(f, d->target);
	fputs(",\"syscall\":", f);
	trace_json_string(f, d->syscall);
	fputs(",\"class\":", f);
	trace_json_string(f, d->class);
	fprintf(f, ",\"count\":%" PRIu64, d->count);
	json_num(f, "sum_us", (double)d->sum_ns / 1000.0);
	json_num(f, "p99_us", trace_quantile(d->buckets, bounds_us, KVS_DISK_BUCKETS, 0.99));
	fputc('}', f);
}

void trace_render_interval_json(FILE *f, const struct trace_interval *iv)
{
	fprintf(f, "{\"type\":\"interval\",\"time\":%.3f,\"interval_s\":%.3f,\"methods\":[",
		iv->wall_s, iv->length_s);
	for (int i = 0; i < iv->nmethods; i++) {
		if (i)
			fputc(',', f);
		json_row(f, &iv->methods[i], iv);
	}
	fputs("],\"disk\":[", f);
	for (int i = 0; i < iv->ndisks; i++) {
		if (i)
			fputc(',', f);
		json_disk(f, &iv->disks[i]);
	}
	fputs("]}\n", f);
}

void trace_render_slow_header(FILE *f)
{
	fprintf(f, "%-12s %-20s %-7s %-12s %6s %10s %10s %10s\n", "TIME", "TARGET", "PID", "METHOD",
		"STATUS", "LATENCY", "DISK", "OFFCPU");
}

void trace_render_slow_text(FILE *f, const struct trace_slow *s)
{
	char clock[32], lat[24], disk[24], off[24];

	format_clock(clock, sizeof(clock), s->wall_s);
	trace_format_duration(lat, sizeof(lat), (double)s->latency_ns / 1000.0);
	trace_format_duration(disk, sizeof(disk), (double)s->disk_ns / 1000.0);
	trace_format_duration(off, sizeof(off),
			      s->offcpu_known ? (double)s->offcpu_ns / 1000.0 : -1);
	fprintf(f, "%-12s %-20s %-7d %-12s %6d %10s %10s %10s\n", clock, s->target, s->pid,
		s->method, s->status, lat, disk, off);
}

void trace_render_slow_json(FILE *f, const struct trace_slow *s)
{
	fprintf(f, "{\"type\":\"slow\",\"time\":%.6f,\"target\":", s->wall_s);
	trace_json_string(f, s->target);
	fprintf(f, ",\"pid\":%d,\"method\":", s->pid);
	trace_json_string(f, s->method);
	fprintf(f, ",\"status\":%d", s->status);
	json_num(f, "latency_us", (double)s->latency_ns / 1000.0);
	json_num(f, "disk_us", (double)s->disk_ns / 1000.0);
	json_num(f, "offcpu_us", s->offcpu_known ? (double)s->offcpu_ns / 1000.0 : -1);
	fputs("}\n", f);
}
