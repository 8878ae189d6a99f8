/*
 * Byte-compatibility driver for include/dorsi_protocol.h, used by test_c_compat.py.
 *
 * Reads one command per stdin line, writes one answer line:
 *   ep SEQ T0 RATE ACC GYRO FLAGS N s0..s5 ...   encode packet (CLIPPED added if at full scale) -> hex
 *   es VER MAJ MIN PATCH RATE_HZ ACC GYRO SIDE STATE RING NEXTSEQ UPTIME  encode status -> hex
 *   er OP RID STATUS                               encode payload-less response -> hex
 *   ets RID HOST_US TICKS                          encode TIME_SYNC OK response -> hex
 *   ebf RID FIRST COUNT                            encode BACKFILL OK response -> hex
 *   dp HEX|-                                       decode packet -> "ok SEQ T0 RATE ACC GYRO FLAGS N s.." or "err CODE"
 *   dr HEX|-                                       decode request -> "STATUS OP RID PARAMS.."
 *   mtu ATT_MTU                                    -> samples per packet (0 = MTU_TOO_SMALL)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dorsi_protocol.h"

#define LINE_MAX_LEN 8192

static void print_hex(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        printf("%02x", data[i]);
    }
    printf("\n");
}

static size_t parse_hex(const char *hex, uint8_t *out, size_t cap) {
    if (strcmp(hex, "-") == 0) {
        return 0;
    }
    size_t n = strlen(hex) / 2;
    if (n > cap) {
        n = cap;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static char *next_tok(void) { return strtok(NULL, " \t\r\n"); }
static uint64_t next_u64(void) { return strtoull(next_tok(), NULL, 10); }
static long next_long(void) { return strtol(next_tok(), NULL, 10); }

static void cmd_encode_packet(void) {
    dorsi_packet_header_t h;
    dorsi_sample_t samples[DORSI_MAX_SAMPLES_PER_PACKET];
    h.protocol_version = DORSI_PROTOCOL_VERSION;
    h.stream_type = DORSI_STREAM_IMU_6AXIS;
    h.sequence = (uint16_t)next_u64();
    h.t0_ticks = next_u64();
    h.rate_code = (uint8_t)next_long();
    uint8_t acc = (uint8_t)next_long();
    uint8_t gyro = (uint8_t)next_long();
    h.range_code = DORSI_RANGE_CODE(acc, gyro);
    h.flags = (uint8_t)next_long();
    h.sample_count = (uint8_t)next_long();
    for (unsigned i = 0; i < h.sample_count && i < DORSI_MAX_SAMPLES_PER_PACKET; i++) {
        for (unsigned k = 0; k < 3u; k++) {
            samples[i].acc[k] = (int16_t)next_long();
        }
        for (unsigned k = 0; k < 3u; k++) {
            samples[i].gyr[k] = (int16_t)next_long();
        }
    }
    if (dorsi_samples_clipped(samples, h.sample_count)) {
        h.flags |= DORSI_FLAG_CLIPPED;
    }
    uint8_t out[DORSI_MAX_PACKET_SIZE];
    size_t len = dorsi_encode_packet(out, sizeof out, &h, samples);
    print_hex(out, len);
}

static void cmd_encode_status(void) {
    dorsi_status_t s;
    s.protocol_version = (uint8_t)next_long();
    s.fw_major = (uint8_t)next_long();
    s.fw_minor = (uint8_t)next_long();
    s.fw_patch = (uint8_t)next_long();
    s.sample_rate_hz = (uint16_t)next_long();
    s.acc_range_code = (uint8_t)next_long();
    s.gyro_range_code = (uint8_t)next_long();
    s.side = (uint8_t)next_long();
    s.state = (uint8_t)next_long();
    s.ring_capacity_packets = (uint16_t)next_long();
    s.next_sequence = (uint16_t)next_long();
    s.uptime_ticks = next_u64();
    uint8_t out[DORSI_STATUS_SIZE];
    print_hex(out, dorsi_encode_status(out, sizeof out, &s));
    /* the packed struct must hold the very same bytes on this little-endian host */
    if (memcmp(&s, out, sizeof out) != 0) {
        printf("struct-mismatch\n");
    }
}

static void cmd_decode_packet(void) {
    uint8_t data[512];
    size_t len = parse_hex(next_tok(), data, sizeof data);
    dorsi_packet_header_t h;
    dorsi_sample_t samples[DORSI_MAX_SAMPLES_PER_PACKET];
    enum dorsi_packet_error err = dorsi_decode_packet(data, len, &h, samples);
    if (err != DORSI_PKT_OK) {
        printf("err %d\n", (int)err);
        return;
    }
    printf("ok %u %" PRIu64 " %u %u %u %u %u", (unsigned)h.sequence, h.t0_ticks,
           (unsigned)h.rate_code, (unsigned)(h.range_code & 0x0Fu), (unsigned)(h.range_code >> 4),
           (unsigned)h.flags, (unsigned)h.sample_count);
    for (unsigned i = 0; i < h.sample_count; i++) {
        printf(" %d %d %d %d %d %d", samples[i].acc[0], samples[i].acc[1], samples[i].acc[2],
               samples[i].gyr[0], samples[i].gyr[1], samples[i].gyr[2]);
    }
    printf("\n");
}

static void cmd_decode_request(void) {
    uint8_t data[64];
    size_t len = parse_hex(next_tok(), data, sizeof data);
    dorsi_request_t req;
    enum dorsi_status st = dorsi_decode_request(data, len, &req);
    printf("%d %u %u", (int)st, (unsigned)req.opcode, (unsigned)req.request_id);
    if (st == DORSI_STATUS_OK) {
        switch (req.opcode) {
        case DORSI_OP_SET_RATE:
            printf(" %u", (unsigned)req.params.rate_hz);
            break;
        case DORSI_OP_SET_RANGES:
            printf(" %u %u", (unsigned)req.params.ranges.acc_code,
                   (unsigned)req.params.ranges.gyro_code);
            break;
        case DORSI_OP_TIME_SYNC:
            printf(" %" PRIu64, req.params.host_time_us);
            break;
        case DORSI_OP_BACKFILL:
            printf(" %u %u", (unsigned)req.params.backfill.from_sequence,
                   (unsigned)req.params.backfill.count);
            break;
        case DORSI_OP_IDENTIFY:
            printf(" %u", (unsigned)req.params.identify_seconds);
            break;
        default:
            break;
        }
    }
    printf("\n");
}

int main(void) {
    static char line[LINE_MAX_LEN];
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *cmd = strtok(line, " \t\r\n");
        if (cmd == NULL) {
            continue;
        }
        uint8_t out[32];
        if (strcmp(cmd, "ep") == 0) {
            cmd_encode_packet();
        } else if (strcmp(cmd, "es") == 0) {
            cmd_encode_status();
        } else if (strcmp(cmd, "er") == 0) {
            uint8_t op = (uint8_t)next_long();
            uint8_t rid = (uint8_t)next_long();
            uint8_t st = (uint8_t)next_long();
            print_hex(out, dorsi_encode_response(out, sizeof out, op, rid, st));
        } else if (strcmp(cmd, "ets") == 0) {
            uint8_t rid = (uint8_t)next_long();
            uint64_t host = next_u64();
            uint64_t ticks = next_u64();
            print_hex(out, dorsi_encode_time_sync_response(out, sizeof out, rid, host, ticks));
        } else if (strcmp(cmd, "ebf") == 0) {
            uint8_t rid = (uint8_t)next_long();
            uint16_t first = (uint16_t)next_long();
            uint16_t count = (uint16_t)next_long();
            print_hex(out, dorsi_encode_backfill_response(out, sizeof out, rid, first, count));
        } else if (strcmp(cmd, "dp") == 0) {
            cmd_decode_packet();
        } else if (strcmp(cmd, "dr") == 0) {
            cmd_decode_request();
        } else if (strcmp(cmd, "mtu") == 0) {
            printf("%u\n", dorsi_max_samples_for_mtu((unsigned)next_long()));
        } else if (strcmp(cmd, "live") == 0) {
            unsigned rate = (unsigned)next_long();
            printf("%u\n", dorsi_samples_per_live_packet(rate, (unsigned)next_long()));
        } else {
            printf("unknown-command %s\n", cmd);
        }
    }
    return 0;
}
