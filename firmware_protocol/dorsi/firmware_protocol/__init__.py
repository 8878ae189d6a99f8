"""dorsi brace-sensor wire protocol (see ``firmware_protocol/SPEC.md``).

The codec is standard-library only: bytes in, frozen dataclasses out, no I/O.
"""
