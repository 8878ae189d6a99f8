/*
 * dorsi brace-sensor protocol, version 1 — constants, packed wire structs, codec helpers.
 *
 * Normative text: firmware_protocol/SPEC.md. Header-only, C11, no allocation, no libc beyond
 * <stdint.h>/<stddef.h>/<stdbool.h>. All wire integers are little-endian; the packed structs
 * below mirror the wire layout byte for byte on little-endian targets (every Cortex-M, RISC-V,
 * x86). The dorsi_encode_* / dorsi_decode_* helpers write and read bytes explicitly and work on
 * any target.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef DORSI_PROTOCOL_H
#define DORSI_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions, clock, sizes ------------------------------------------------------------- */

#define DORSI_PROTOCOL_VERSION 1u
#define DORSI_TICK_HZ 32768u /* device tick rate; u64 ticks since boot, never wrap */
#define DORSI_STANDARD_GRAVITY_MPS2 9.80665
#define DORSI_RAW_FULL_SCALE 32768 /* SI = raw * full_scale / 32768 */

#define DORSI_HEADER_SIZE 16u
#define DORSI_SAMPLE_SIZE 12u
#define DORSI_MAX_SAMPLES_PER_PACKET 19u
#define DORSI_MAX_PACKET_SIZE (DORSI_HEADER_SIZE + DORSI_MAX_SAMPLES_PER_PACKET * DORSI_SAMPLE_SIZE)
#define DORSI_ATT_HEADER_SIZE 3u
#define DORSI_LIVE_PACKET_MAX_MS 100u /* a live packet spans at most 100 ms (SPEC §4.4) */
#define DORSI_MIN_ATT_MTU (DORSI_ATT_HEADER_SIZE + DORSI_HEADER_SIZE + DORSI_SAMPLE_SIZE) /* 31 */
#define DORSI_STATUS_SIZE 22u
#define DORSI_RESPONSE_MARKER 0x80u
#define DORSI_MAX_RING_PACKETS 32767u /* ring capacity MUST NOT exceed half the sequence space */

/* ---- GATT ------------------------------------------------------------------------------- */

#define DORSI_SERVICE_UUID_STR "d0510001-7b1c-4f5e-9a3d-2c6e8f4b1a00"
#define DORSI_DATA_CHAR_UUID_STR "d0510002-7b1c-4f5e-9a3d-2c6e8f4b1a00"
#define DORSI_CONTROL_CHAR_UUID_STR "d0510003-7b1c-4f5e-9a3d-2c6e8f4b1a00"
#define DORSI_STATUS_CHAR_UUID_STR "d0510004-7b1c-4f5e-9a3d-2c6e8f4b1a00"
/* 128-bit UUID bytes in little-endian (over-the-air) order, as BLE stacks take them;
 * `id16` is the varying first group: 0x0001 service, 0x0002 data, 0x0003 control, 0x0004 status. */
#define DORSI_UUID128_LE(id16)                                                                  \
    0x00, 0x1a, 0x4b, 0x8f, 0x6e, 0x2c, 0x3d, 0x9a, 0x5e, 0x4f, 0x1c, 0x7b, ((id16) & 0xFF),     \
        (((id16) >> 8) & 0xFF), 0x51, 0xd0
#define DORSI_SERVICE_ID16 0x0001u
#define DORSI_DATA_CHAR_ID16 0x0002u
#define DORSI_CONTROL_CHAR_ID16 0x0003u
#define DORSI_STATUS_CHAR_ID16 0x0004u

#define DORSI_BATTERY_SERVICE_UUID16 0x180Fu
#define DORSI_BATTERY_LEVEL_CHAR_UUID16 0x2A19u
#define DORSI_DEVICE_INFO_SERVICE_UUID16 0x180Au
#define DORSI_MANUFACTURER_NAME_CHAR_UUID16 0x2A29u
#define DORSI_MODEL_NUMBER_CHAR_UUID16 0x2A24u
#define DORSI_SERIAL_NUMBER_CHAR_UUID16 0x2A25u
#define DORSI_FIRMWARE_REVISION_CHAR_UUID16 0x2A26u
#define DORSI_HARDWARE_REVISION_CHAR_UUID16 0x2A27u
#define DORSI_DEVICE_NAME_PREFIX "dorsi-" /* + last 2 BD address bytes, upper-case hex */

/* ---- codes ------------------------------------------------------------------------------ */

enum dorsi_stream_type { DORSI_STREAM_IMU_6AXIS = 1 };

enum dorsi_flag {
    DORSI_FLAG_BACKFILL = 0x01,     /* resent from the ring buffer */
    DORSI_FLAG_CLIPPED = 0x02,      /* a count in the packet is -32768 or +32767 */
    DORSI_FLAG_STREAM_START = 0x04, /* first packet after START_STREAM or boot */
    DORSI_FLAG_TIME_SYNCED = 0x08,  /* a TIME_SYNC was received since boot */
};
#define DORSI_FLAGS_KNOWN_MASK 0x0Fu

enum dorsi_acc_range { DORSI_ACC_2G = 0, DORSI_ACC_4G = 1, DORSI_ACC_8G = 2, DORSI_ACC_16G = 3 };
#define DORSI_ACC_RANGE_MAX 3u
enum dorsi_gyro_range {
    DORSI_GYRO_250DPS = 0,
    DORSI_GYRO_500DPS = 1,
    DORSI_GYRO_1000DPS = 2,
    DORSI_GYRO_2000DPS = 3,
    DORSI_GYRO_4000DPS = 4,
};
#define DORSI_GYRO_RANGE_MAX 4u
/* full scale of a range code: acc (2 << code) g, gyro (250 << code) deg/s */
#define DORSI_ACC_FULL_SCALE_G(code) (2u << (code))
#define DORSI_GYRO_FULL_SCALE_DPS(code) (250u << (code))
#define DORSI_RANGE_CODE(acc, gyro) ((uint8_t)(((acc) & 0x0Fu) | (((gyro) & 0x0Fu) << 4)))

enum dorsi_rate { DORSI_RATE_26HZ = 0, DORSI_RATE_52HZ = 1, DORSI_RATE_104HZ = 2, DORSI_RATE_208HZ = 3 };
#define DORSI_RATE_CODE_MAX 3u

enum dorsi_side { DORSI_SIDE_UNKNOWN = 0, DORSI_SIDE_LEFT = 1, DORSI_SIDE_RIGHT = 2 };

enum dorsi_opcode {
    DORSI_OP_START_STREAM = 0x01,
    DORSI_OP_STOP_STREAM = 0x02,
    DORSI_OP_SET_RATE = 0x03,   /* u16 rate_hz */
    DORSI_OP_SET_RANGES = 0x04, /* u8 acc_code, u8 gyro_code */
    DORSI_OP_TIME_SYNC = 0x05,  /* u64 host_time_us -> u64 host_time_us, u64 device_ticks */
    DORSI_OP_BACKFILL = 0x06,   /* u16 from_sequence, u16 count -> u16 first_sequence, u16 count */
    DORSI_OP_IDENTIFY = 0x07,   /* u8 seconds */
};

enum dorsi_status {
    DORSI_STATUS_OK = 0,
    DORSI_STATUS_UNKNOWN_OPCODE = 1,
    DORSI_STATUS_INVALID_LENGTH = 2,
    DORSI_STATUS_INVALID_PARAMETER = 3,
    DORSI_STATUS_INVALID_STATE = 4,
    DORSI_STATUS_BACKFILL_UNAVAILABLE = 5,
    DORSI_STATUS_MTU_TOO_SMALL = 6,
    DORSI_STATUS_BUSY = 7,
    DORSI_STATUS_INTERNAL_ERROR = 8,
};

#define DORSI_STATE_STREAMING 0x01u
#define DORSI_STATE_TIME_SYNCED 0x02u

/* ---- packed wire structs (little-endian targets) ----------------------------------------- */

#pragma pack(push, 1)
typedef struct {
    uint8_t protocol_version; /* 0: DORSI_PROTOCOL_VERSION */
    uint8_t stream_type;      /* 1: DORSI_STREAM_IMU_6AXIS */
    uint8_t flags;            /* 2: enum dorsi_flag */
    uint8_t range_code;       /* 3: acc code low nibble, gyro code high nibble */
    uint16_t sequence;        /* 4: packet counter, wraps */
    uint8_t sample_count;     /* 6: 1..19 */
    uint8_t rate_code;        /* 7: enum dorsi_rate */
    uint64_t t0_ticks;        /* 8: tick of the first sample */
} dorsi_packet_header_t;

typedef struct {
    int16_t acc[3]; /* raw sensor axes x, y, z */
    int16_t gyr[3];
} dorsi_sample_t;

typedef struct {
    dorsi_packet_header_t header;
    dorsi_sample_t samples[DORSI_MAX_SAMPLES_PER_PACKET]; /* only sample_count are sent */
} dorsi_packet_t;

typedef struct {
    uint8_t opcode;
    uint8_t request_id;
} dorsi_request_header_t;

typedef struct {
    dorsi_request_header_t hdr;
    uint16_t rate_hz;
} dorsi_request_set_rate_t;

typedef struct {
    dorsi_request_header_t hdr;
    uint8_t acc_code;
    uint8_t gyro_code;
} dorsi_request_set_ranges_t;

typedef struct {
    dorsi_request_header_t hdr;
    uint64_t host_time_us;
} dorsi_request_time_sync_t;

typedef struct {
    dorsi_request_header_t hdr;
    uint16_t from_sequence;
    uint16_t count;
} dorsi_request_backfill_t;

typedef struct {
    dorsi_request_header_t hdr;
    uint8_t seconds;
} dorsi_request_identify_t;

typedef struct {
    uint8_t marker; /* DORSI_RESPONSE_MARKER */
    uint8_t opcode;
    uint8_t request_id;
    uint8_t status;
} dorsi_response_header_t;

typedef struct {
    dorsi_response_header_t hdr;
    uint64_t host_time_us;
    uint64_t device_ticks;
} dorsi_response_time_sync_t;

typedef struct {
    dorsi_response_header_t hdr;
    uint16_t first_sequence;
    uint16_t count;
} dorsi_response_backfill_t;

typedef struct {
    uint8_t protocol_version;
    uint8_t fw_major;
    uint8_t fw_minor;
    uint8_t fw_patch;
    uint16_t sample_rate_hz;
    uint8_t acc_range_code;
    uint8_t gyro_range_code;
    uint8_t side;
    uint8_t state; /* DORSI_STATE_* bits */
    uint16_t ring_capacity_packets;
    uint16_t next_sequence;
    uint64_t uptime_ticks;
} dorsi_status_t;
#pragma pack(pop)

_Static_assert(sizeof(dorsi_packet_header_t) == DORSI_HEADER_SIZE, "header is 16 bytes");
_Static_assert(sizeof(dorsi_sample_t) == DORSI_SAMPLE_SIZE, "sample is 12 bytes");
_Static_assert(sizeof(dorsi_packet_t) == 244, "full packet is 244 bytes");
_Static_assert(sizeof(dorsi_request_header_t) == 2, "request header is 2 bytes");
_Static_assert(sizeof(dorsi_request_set_rate_t) == 4, "SET_RATE request is 4 bytes");
_Static_assert(sizeof(dorsi_request_set_ranges_t) == 4, "SET_RANGES request is 4 bytes");
_Static_assert(sizeof(dorsi_request_time_sync_t) == 10, "TIME_SYNC request is 10 bytes");
_Static_assert(sizeof(dorsi_request_backfill_t) == 6, "BACKFILL request is 6 bytes");
_Static_assert(sizeof(dorsi_request_identify_t) == 3, "IDENTIFY request is 3 bytes");
_Static_assert(sizeof(dorsi_response_header_t) == 4, "response header is 4 bytes");
_Static_assert(sizeof(dorsi_response_time_sync_t) == 20, "TIME_SYNC response is 20 bytes");
_Static_assert(sizeof(dorsi_response_backfill_t) == 8, "BACKFILL response is 8 bytes");
_Static_assert(sizeof(dorsi_status_t) == DORSI_STATUS_SIZE, "status is 22 bytes");
_Static_assert(offsetof(dorsi_packet_header_t, t0_ticks) == 8, "t0_ticks at offset 8");
_Static_assert(offsetof(dorsi_status_t, uptime_ticks) == 14, "uptime_ticks at offset 14");

/* ---- portable byte helpers ---------------------------------------------------------------- */

static inline void dorsi_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static inline void dorsi_put_u64(uint8_t *p, uint64_t v) {
    for (unsigned i = 0; i < 8u; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static inline uint16_t dorsi_get_u16(const uint8_t *p) {
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

/* two's complement without implementation-defined conversions */
static inline int16_t dorsi_get_i16(const uint8_t *p) {
    int32_t v = (int32_t)dorsi_get_u16(p);
    return (int16_t)(v >= 32768 ? v - 65536 : v);
}

static inline uint64_t dorsi_get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8u; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

/* Samples per packet at this ATT MTU; 0 means MTU_TOO_SMALL (MTU < 31). */
static inline unsigned dorsi_max_samples_for_mtu(unsigned att_mtu) {
    if (att_mtu < DORSI_MIN_ATT_MTU) {
        return 0u;
    }
    unsigned n = (att_mtu - DORSI_ATT_HEADER_SIZE - DORSI_HEADER_SIZE) / DORSI_SAMPLE_SIZE;
    return n < DORSI_MAX_SAMPLES_PER_PACKET ? n : DORSI_MAX_SAMPLES_PER_PACKET;
}

/* Samples per live packet at this rate and ATT MTU (SPEC §4.4): a live packet spans at most
 * DORSI_LIVE_PACKET_MAX_MS, so 19 at 208 Hz, 10 at 104 Hz, 5 at 52 Hz, 2 at 26 Hz.
 * 0 means MTU_TOO_SMALL. */
static inline unsigned dorsi_samples_per_live_packet(unsigned rate_hz, unsigned att_mtu) {
    unsigned by_mtu = dorsi_max_samples_for_mtu(att_mtu);
    unsigned by_latency = rate_hz * DORSI_LIVE_PACKET_MAX_MS / 1000u;
    if (by_latency < 1u) {
        by_latency = 1u;
    }
    return by_mtu < by_latency ? by_mtu : by_latency;
}

static inline bool dorsi_rate_hz_supported(uint16_t rate_hz) {
    return rate_hz == 26u || rate_hz == 52u || rate_hz == 104u || rate_hz == 208u;
}

static inline uint16_t dorsi_rate_hz(uint8_t rate_code) {
    static const uint16_t hz[] = {26u, 52u, 104u, 208u};
    return rate_code <= DORSI_RATE_CODE_MAX ? hz[rate_code] : 0u;
}

/* True if any count in the samples is at full scale (sets DORSI_FLAG_CLIPPED). */
static inline bool dorsi_samples_clipped(const dorsi_sample_t *samples, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
        for (unsigned k = 0; k < 3u; k++) {
            if (samples[i].acc[k] == INT16_MIN || samples[i].acc[k] == INT16_MAX ||
                samples[i].gyr[k] == INT16_MIN || samples[i].gyr[k] == INT16_MAX) {
                return true;
            }
        }
    }
    return false;
}

/* ---- encoders (device side). Return bytes written, 0 if `cap` is too small or invalid. ---- */

static inline size_t dorsi_encode_packet(uint8_t *out, size_t cap, const dorsi_packet_header_t *h,
                                         const dorsi_sample_t *samples) {
    unsigned n = h->sample_count;
    size_t len = DORSI_HEADER_SIZE + (size_t)n * DORSI_SAMPLE_SIZE;
    if (n == 0u || n > DORSI_MAX_SAMPLES_PER_PACKET || cap < len) {
        return 0u;
    }
    out[0] = h->protocol_version;
    out[1] = h->stream_type;
    out[2] = h->flags;
    out[3] = h->range_code;
    dorsi_put_u16(out + 4, h->sequence);
    out[6] = h->sample_count;
    out[7] = h->rate_code;
    dorsi_put_u64(out + 8, h->t0_ticks);
    uint8_t *p = out + DORSI_HEADER_SIZE;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned k = 0; k < 3u; k++, p += 2) {
            dorsi_put_u16(p, (uint16_t)samples[i].acc[k]);
        }
        for (unsigned k = 0; k < 3u; k++, p += 2) {
            dorsi_put_u16(p, (uint16_t)samples[i].gyr[k]);
        }
    }
    return len;
}

/* Response without payload (every non-OK status, and OK for ops without payload): 4 bytes. */
static inline size_t dorsi_encode_response(uint8_t *out, size_t cap, uint8_t opcode,
                                           uint8_t request_id, uint8_t status) {
    if (cap < 4u) {
        return 0u;
    }
    out[0] = DORSI_RESPONSE_MARKER;
    out[1] = opcode;
    out[2] = request_id;
    out[3] = status;
    return 4u;
}

static inline size_t dorsi_encode_time_sync_response(uint8_t *out, size_t cap, uint8_t request_id,
                                                     uint64_t host_time_us, uint64_t device_ticks) {
    if (cap < 20u) {
        return 0u;
    }
    dorsi_encode_response(out, cap, DORSI_OP_TIME_SYNC, request_id, DORSI_STATUS_OK);
    dorsi_put_u64(out + 4, host_time_us);
    dorsi_put_u64(out + 12, device_ticks);
    return 20u;
}

static inline size_t dorsi_encode_backfill_response(uint8_t *out, size_t cap, uint8_t request_id,
                                                    uint16_t first_sequence, uint16_t count) {
    if (cap < 8u || count == 0u) {
        return 0u;
    }
    dorsi_encode_response(out, cap, DORSI_OP_BACKFILL, request_id, DORSI_STATUS_OK);
    dorsi_put_u16(out + 4, first_sequence);
    dorsi_put_u16(out + 6, count);
    return 8u;
}

static inline size_t dorsi_encode_status(uint8_t *out, size_t cap, const dorsi_status_t *s) {
    if (cap < DORSI_STATUS_SIZE) {
        return 0u;
    }
    out[0] = s->protocol_version;
    out[1] = s->fw_major;
    out[2] = s->fw_minor;
    out[3] = s->fw_patch;
    dorsi_put_u16(out + 4, s->sample_rate_hz);
    out[6] = s->acc_range_code;
    out[7] = s->gyro_range_code;
    out[8] = s->side;
    out[9] = s->state;
    dorsi_put_u16(out + 10, s->ring_capacity_packets);
    dorsi_put_u16(out + 12, s->next_sequence);
    dorsi_put_u64(out + 14, s->uptime_ticks);
    return DORSI_STATUS_SIZE;
}

/* ---- request decoder (device side) -------------------------------------------------------- */

typedef struct {
    uint8_t opcode;     /* raw byte to echo (0 if the write was empty) */
    uint8_t request_id; /* raw byte to echo (0 if the write was shorter than 2 bytes) */
    union {
        uint16_t rate_hz;
        struct {
            uint8_t acc_code;
            uint8_t gyro_code;
        } ranges;
        uint64_t host_time_us;
        struct {
            uint16_t from_sequence;
            uint16_t count;
        } backfill;
        uint8_t identify_seconds;
    } params;
} dorsi_request_t;

/* Parse a control-point write. Returns DORSI_STATUS_OK or the status to answer with
 * (UNKNOWN_OPCODE, INVALID_LENGTH, INVALID_PARAMETER); opcode/request_id are filled either way. */
static inline enum dorsi_status dorsi_decode_request(const uint8_t *data, size_t len,
                                                     dorsi_request_t *req) {
    static const uint8_t param_len[] = {0u, 0u, 0u, 2u, 2u, 8u, 4u, 1u}; /* by opcode */
    req->opcode = len >= 1u ? data[0] : 0u;
    req->request_id = len >= 2u ? data[1] : 0u;
    req->params.host_time_us = 0u;
    if (len < 2u) {
        return DORSI_STATUS_INVALID_LENGTH;
    }
    uint8_t op = data[0];
    if (op < DORSI_OP_START_STREAM || op > DORSI_OP_IDENTIFY) {
        return DORSI_STATUS_UNKNOWN_OPCODE;
    }
    if (len - 2u != param_len[op]) {
        return DORSI_STATUS_INVALID_LENGTH;
    }
    const uint8_t *p = data + 2;
    switch (op) {
    case DORSI_OP_SET_RATE:
        req->params.rate_hz = dorsi_get_u16(p);
        return dorsi_rate_hz_supported(req->params.rate_hz) ? DORSI_STATUS_OK
                                                             : DORSI_STATUS_INVALID_PARAMETER;
    case DORSI_OP_SET_RANGES:
        req->params.ranges.acc_code = p[0];
        req->params.ranges.gyro_code = p[1];
        return (p[0] <= DORSI_ACC_RANGE_MAX && p[1] <= DORSI_GYRO_RANGE_MAX)
                   ? DORSI_STATUS_OK
                   : DORSI_STATUS_INVALID_PARAMETER;
    case DORSI_OP_TIME_SYNC:
        req->params.host_time_us = dorsi_get_u64(p);
        return DORSI_STATUS_OK;
    case DORSI_OP_BACKFILL:
        req->params.backfill.from_sequence = dorsi_get_u16(p);
        req->params.backfill.count = dorsi_get_u16(p + 2);
        return req->params.backfill.count >= 1u ? DORSI_STATUS_OK : DORSI_STATUS_INVALID_PARAMETER;
    case DORSI_OP_IDENTIFY:
        req->params.identify_seconds = p[0];
        return DORSI_STATUS_OK;
    default: /* START_STREAM, STOP_STREAM: no parameters */
        return DORSI_STATUS_OK;
    }
}

/* ---- packet decoder (gateway side, tests) -------------------------------------------------- */

enum dorsi_packet_error {
    DORSI_PKT_OK = 0,
    DORSI_PKT_TRUNCATED = -1,
    DORSI_PKT_BAD_VERSION = -2,
    DORSI_PKT_BAD_STREAM_TYPE = -3,
    DORSI_PKT_RESERVED_FLAGS = -4,
    DORSI_PKT_BAD_RANGE = -5,
    DORSI_PKT_BAD_RATE = -6,
    DORSI_PKT_BAD_COUNT = -7,
    DORSI_PKT_LENGTH_MISMATCH = -8,
};

/* Decode a notification into `h` and up to 19 `samples`; same rules as the Python decoder. */
static inline enum dorsi_packet_error dorsi_decode_packet(const uint8_t *data, size_t len,
                                                          dorsi_packet_header_t *h,
                                                          dorsi_sample_t *samples) {
    if (len == 0u) {
        return DORSI_PKT_TRUNCATED;
    }
    if (data[0] != DORSI_PROTOCOL_VERSION) {
        return DORSI_PKT_BAD_VERSION;
    }
    if (len < DORSI_HEADER_SIZE) {
        return DORSI_PKT_TRUNCATED;
    }
    h->protocol_version = data[0];
    h->stream_type = data[1];
    h->flags = data[2];
    h->range_code = data[3];
    h->sequence = dorsi_get_u16(data + 4);
    h->sample_count = data[6];
    h->rate_code = data[7];
    h->t0_ticks = dorsi_get_u64(data + 8);
    if (h->stream_type != DORSI_STREAM_IMU_6AXIS) {
        return DORSI_PKT_BAD_STREAM_TYPE;
    }
    if (h->sample_count == 0u || h->sample_count > DORSI_MAX_SAMPLES_PER_PACKET) {
        return DORSI_PKT_BAD_COUNT;
    }
    if (len != DORSI_HEADER_SIZE + (size_t)h->sample_count * DORSI_SAMPLE_SIZE) {
        return DORSI_PKT_LENGTH_MISMATCH;
    }
    if ((h->flags & (uint8_t)~DORSI_FLAGS_KNOWN_MASK) != 0u) {
        return DORSI_PKT_RESERVED_FLAGS;
    }
    if ((h->range_code & 0x0Fu) > DORSI_ACC_RANGE_MAX || (h->range_code >> 4) > DORSI_GYRO_RANGE_MAX) {
        return DORSI_PKT_BAD_RANGE;
    }
    if (h->rate_code > DORSI_RATE_CODE_MAX) {
        return DORSI_PKT_BAD_RATE;
    }
    const uint8_t *p = data + DORSI_HEADER_SIZE;
    for (unsigned i = 0; i < h->sample_count; i++) {
        for (unsigned k = 0; k < 3u; k++, p += 2) {
            samples[i].acc[k] = dorsi_get_i16(p);
        }
        for (unsigned k = 0; k < 3u; k++, p += 2) {
            samples[i].gyr[k] = dorsi_get_i16(p);
        }
    }
    return DORSI_PKT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* DORSI_PROTOCOL_H */
